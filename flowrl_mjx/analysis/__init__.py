"""Tools that read finished runs: evaluate.py (returns in MJX and dm_control, the transfer gap),
plot.py (curves beside published references, reference.py), video.py (rollout videos)."""
