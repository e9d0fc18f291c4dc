"""The runtime around the fused program: the host loop (runner.py), run dirs and logs
(run_dir.py), checkpoints (checkpoint.py), the CLI (cli.py, run as `python -m
flowrl_mjx.launch`), the Python API (api.py), flag help, machine description and trained-policy
loading (policy_io.py)."""
