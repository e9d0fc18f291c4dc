"""Peer learning curve: brax SAC on MuJoCo Playground's CheetahRun (MJX), on this machine.

Setup (once, in the project venv; it leaves the jax/mujoco/brax pins as they are):

    pip install -e ".[peer]"        # playground==0.2.0 (Playground's JAX/MJX release)

Run:

    python -m launch.peer_brax_sac --seed 0 [--num_timesteps N] [--num_evals E] [--out results/peer]

The defaults are Playground's: 10M env steps (about 1,600 env steps/s on 2 quiet CPU cores, so
roughly 2 hours) and 10 evaluations, i.e. one curve point per ~1.1M steps. For a finer curve and
first-crossing time use more evaluations, e.g. `--num_timesteps 1000000 --num_evals 21` (a point
every ~50k steps); each eval is 128 full episodes (~3-5 s warm here), which the wall clock
includes (`wall_s_no_eval` leaves it out). num_evals also sets brax's epoch length and so its
random-key sequence: curves with different num_evals differ like different seeds.

What it trains: `brax.training.agents.sac.train` on `registry.load("CheetahRun")` with Playground's
own DM Control Suite SAC config (`dm_control_suite_params.brax_sac_config("CheetahRun")`: 128 envs,
batch 512, 8 updates per actor step, replay 4M, min replay 8192, lr 1e-3, discount 0.99, Q-network
layer norm, obs normalisation) and Playground's brax wrapper. The env config's `impl` is set to
"jax" (MJX's JAX implementation; Playground 0.2.0 defaults to "warp"). Keys of the config that
brax 0.14.2's SAC does not take (`num_resets_per_eval`, a PPO option) are dropped and listed in
the JSON.

What it records, at every progress callback (brax calls it once before training, at step 0, and
after each of num_evals - 1 training epochs): env steps, wall seconds since the clock started and
the mean eval return. The clock starts just before the environment is built, so wall_s includes
every compile (env reset, replay prefill, training epoch, evaluator) and the evaluations
themselves, as our runner's wall_time includes its compile. Eval: brax's `Evaluator`, 128 envs,
one full 1000-step episode each; brax SAC's `deterministic_eval` defaults to False, so the return
is of the stochastic policy (sampled tanh-Gaussian actions) unless --deterministic_eval is given
(then the tanh of the mean). Writes OUT/brax_sac_cheetah_run_s<seed>.json (machine, date,
versions, command, config, curve; rewritten after each callback so a stopped run keeps its curve)
and prints when the return first reached --threshold (500).
"""

import functools
import importlib.metadata
import inspect
import json
import os
import shlex
import statistics
import sys
import time
import types

from absl import flags

from flowrl_mjx.runtime import cli_flags

ENV_NAME = "CheetahRun"
NUM_EVAL_ENVS = 128  # brax SAC's default; Playground's config does not set it
EXTRA_PACKAGES = ("playground", "warp-lang", "ml_collections")


# Its own FlagValues (not absl's global FLAGS), so it imports beside other entry points that
# define --seed and --out too (flowrl_mjx.runtime.cli_flags).
FLAGS = cli_flags.flag_values(__doc__)
flags.DEFINE_integer("seed", 0, "random seed of brax's SAC", flag_values=FLAGS)
flags.DEFINE_integer("num_timesteps", None, "default: the config's (10M)", flag_values=FLAGS)
flags.DEFINE_integer(
    "num_evals",
    None,
    "progress callbacks incl. the one at step 0 (default: the config's, 10)",
    flag_values=FLAGS,
)
flags.DEFINE_bool(
    "deterministic_eval",
    False,
    "evaluate the mean action (default: stochastic, as Playground's config)",
    flag_values=FLAGS,
)
flags.DEFINE_float("threshold", 500.0, "return whose first pass is printed", flag_values=FLAGS)
flags.DEFINE_string("out", os.path.join("results", "peer"), "output folder", flag_values=FLAGS)


def parse(argv=None):
    """The settings of `argv` (None: the command line's) as attributes, with the command as
    typed; bad input: one line, exit code 2."""
    cli_flags.parse_argv(FLAGS, argv)
    args = types.SimpleNamespace(**cli_flags.values(FLAGS))
    typed = sys.argv[1:] if argv is None else argv
    args.command = "python -m launch.peer_brax_sac " + shlex.join(typed)
    return args


def out_path(out_dir: str, seed: int) -> str:
    return os.path.join(out_dir, f"brax_sac_cheetah_run_s{seed}.json")


def split_config(rl_config: dict, accepted: set) -> tuple[dict, dict]:
    """(kwargs brax's train takes, the keys it does not take): the config is Playground's, shared
    with its PPO runs, so it may carry options that SAC's signature lacks."""
    kwargs = {k: v for k, v in rl_config.items() if k in accepted}
    dropped = {k: v for k, v in rl_config.items() if k not in accepted}
    return kwargs, dropped


def curve_point(step: int, wall_s: float, metrics: dict) -> dict:
    """One row of the curve from brax's progress metrics (plain floats, so it is JSON)."""
    point = dict(
        env_steps=int(step),
        wall_s=round(wall_s, 3),
        eval_return=float(metrics["eval/episode_reward"]),
        eval_return_std=float(metrics.get("eval/episode_reward_std", float("nan"))),
        eval_s=float(metrics.get("eval/epoch_eval_time", float("nan"))),
    )
    # The evals' share of the wall clock depends on --num_evals (each is 128 full episodes):
    # the wall without them compares runs evaluated at different intervals.
    if "eval/walltime" in metrics:
        point["wall_s_no_eval"] = round(wall_s - float(metrics["eval/walltime"]), 3)
    # brax's cumulative training time (prefill + epochs, no eval) and its epoch rate; absent at
    # step 0, where no training has run yet.
    if "training/walltime" in metrics:
        point["train_walltime_s"] = float(metrics["training/walltime"])
        point["train_sps"] = float(metrics["training/sps"])
    return point


def first_crossing(curve: list[dict], threshold: float) -> dict | None:
    """The first evaluation whose return is at or above threshold (None if none is).

    brax evaluates only between epochs, so the true crossing lies between this point and the
    previous one: the figure is an upper bound at the curve's resolution."""
    for point in curve:
        if point["eval_return"] >= threshold:
            return dict(
                threshold=threshold,
                env_steps=point["env_steps"],
                wall_s=point["wall_s"],
                eval_return=point["eval_return"],
            )
    return None


def timing_summary(curve: list[dict]) -> dict:
    """Steady rates and what compiling cost, from the curve's brax timings.

    setup_s: wall before the first eval started (env build, network init, the env reset
    programs' compile). Epochs and evals that took over twice their steady (median after the
    first) time count as compiling: the first epoch (prefill and training programs) and, with
    brax 0.14.2 here, the first two evals (the evaluator compiles again once it gets trained
    params). compile_s, their sum, slightly overstates the compile: it holds the prefill's run and
    the env init too."""
    if not curve:
        return {}
    last = curve[-1]
    out = dict(
        total_wall_s=last["wall_s"],
        env_steps=last["env_steps"],
        # None when no wall time passed (a stand-in trainer in the tests).
        env_steps_per_s_overall=(
            round(last["env_steps"] / last["wall_s"], 1) if last["wall_s"] > 0 else None
        ),
        setup_s=round(curve[0]["wall_s"] - curve[0]["eval_s"], 2),
    )
    trained = [p for p in curve if "train_walltime_s" in p]
    epoch_s = _diffs([p["train_walltime_s"] for p in trained])
    eval_s = [p["eval_s"] for p in curve]
    if len(epoch_s) >= 2:
        out["train_sps_steady"] = round(statistics.median(p["train_sps"] for p in trained[1:]), 1)
        out["train_compile_s"] = round(slow_extra(epoch_s), 2)
    if len(eval_s) >= 2:
        out["eval_s_steady"] = round(statistics.median(eval_s[1:]), 2)
        out["eval_compile_s"] = round(slow_extra(eval_s), 2)
    if "train_compile_s" in out and "eval_compile_s" in out:
        out["compile_s"] = round(out["setup_s"] + out["train_compile_s"] + out["eval_compile_s"], 2)
    return out


def slow_extra(durations: list[float]) -> float:
    """Time beyond the steady duration (the median after the first) of the calls that took over
    twice it: the compiling calls' extra cost; warm calls' jitter is left out."""
    steady = statistics.median(durations[1:])
    return sum(d - steady for d in durations if d > 2 * steady)


def _diffs(cumulative: list[float]) -> list[float]:
    return [b - a for a, b in zip([0.0] + cumulative[:-1], cumulative, strict=True)]


def versions() -> dict:
    found = {}
    for pkg in EXTRA_PACKAGES:
        try:
            found[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            found[pkg] = None
    return found


def write(path: str, record: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(tmp, path)  # a reader never sees half a file


def run(args) -> dict:
    # Imported here: the pure helpers above (and their tests) must not need playground.
    from brax.training.agents.sac import networks as sac_networks
    from brax.training.agents.sac import train as sac_train
    from mujoco_playground import registry, wrapper
    from mujoco_playground.config import dm_control_suite_params

    from launch.common import machine_info

    info = machine_info()
    info["versions"].update(versions())
    info["command"] = args.command
    info["loadavg_1min_start"] = os.getloadavg()[0]  # the CPU may be shared: say how busy

    env_cfg = registry.get_default_config(ENV_NAME)
    env_cfg.impl = "jax"  # MJX's JAX implementation (Playground 0.2's default is warp)
    rl_cfg = dm_control_suite_params.brax_sac_config(ENV_NAME).to_dict()
    if args.num_timesteps is not None:
        rl_cfg["num_timesteps"] = args.num_timesteps
    if args.num_evals is not None:
        rl_cfg["num_evals"] = args.num_evals
    net_kwargs = rl_cfg.pop("network_factory", {})
    kwargs, dropped = split_config(rl_cfg, set(inspect.signature(sac_train.train).parameters))

    path = out_path(args.out, args.seed)
    record = dict(
        what=f"brax SAC on MuJoCo Playground {ENV_NAME} (MJX impl=jax), Playground's DMC config",
        machine=info,
        seed=args.seed,
        env=ENV_NAME,
        env_config=env_cfg.to_dict(),
        sac_config=dict(kwargs, network_factory=net_kwargs),
        dropped_config_keys=dropped,
        eval=dict(
            deterministic=args.deterministic_eval,
            num_eval_envs=NUM_EVAL_ENVS,
            episodes_per_eval=NUM_EVAL_ENVS,
            episode_length=kwargs["episode_length"],
        ),
        wall_clock="seconds since just before the env was built: every compile and every eval "
        "included",
        threshold=args.threshold,
        curve=[],
        complete=False,
    )

    start = time.monotonic()
    env = registry.load(ENV_NAME, config=env_cfg)
    record["env_build_s"] = round(time.monotonic() - start, 2)

    def progress(step, metrics):
        point = curve_point(step, time.monotonic() - start, metrics)
        record["curve"].append(point)
        write(path, record)
        print(
            f"env steps {point['env_steps']:>9,}  wall {point['wall_s']:8.1f} s  "
            f"return {point['eval_return']:7.1f}",
            flush=True,
        )

    sac_train.train(
        environment=env,
        **kwargs,
        seed=args.seed,
        num_eval_envs=NUM_EVAL_ENVS,
        deterministic_eval=args.deterministic_eval,
        network_factory=functools.partial(sac_networks.make_sac_networks, **net_kwargs),
        wrap_env_fn=wrapper.wrap_for_brax_training,
        progress_fn=progress,
    )

    info["loadavg_1min_end"] = os.getloadavg()[0]
    record.update(
        first_crossing=first_crossing(record["curve"], args.threshold),
        timing=timing_summary(record["curve"]),
        complete=True,
    )
    write(path, record)
    return record


def report(record: dict, path: str) -> str:
    hit, t = record["first_crossing"], record["timing"]
    lines = [f"wrote {path}"]
    if hit:
        lines.append(
            f"return {hit['threshold']:g} first passed at {hit['env_steps']:,} env steps, "
            f"{hit['wall_s']:.1f} s wall (return {hit['eval_return']:.1f})"
        )
    else:
        lines.append(
            f"return {record['threshold']:g} not reached "
            f"(best {max(p['eval_return'] for p in record['curve']):.1f})"
        )
    lines.append("timing: " + ", ".join(f"{k} {v}" for k, v in t.items()))
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse(argv)
    record = run(args)
    print(report(record, out_path(args.out, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
