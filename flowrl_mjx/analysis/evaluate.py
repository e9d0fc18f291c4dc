"""python -m flowrl_mjx.evaluate --run_dir R [--backend both] [--episodes 10] [--video out.mp4]

Evaluates a run's policy (flowrl_mjx.load_policy) in real dm_control and in our MJX task, with
the same act function, and reports mean +- std episode returns per backend and the gap
(MJX minus dm_control: the transfer measure), for stochastic actions (a0 ~ N(0, I), the official
FlowRL code's evaluation protocol) and deterministic ones (a0 = 0), each row naming its protocol.
Writes R/eval_transfer.json. Episodes are 1000 control steps (dm_control's time limit) unless
--episode_length says otherwise. Bad input: one line, exit code 2.

--video renders one deterministic dm_control episode headless to MP4 (see
flowrl_mjx.analysis.video).
"""

import functools
import json
import os
import sys

import numpy as np
from absl import flags

import flowrl_mjx
from flowrl_mjx.runtime import cli_flags

BACKENDS = ("dm_control", "mjx")
# Stochastic first: it is the official FlowRL code's protocol, the one published FlowRL curves use.
MODES = ("stochastic", "deterministic")
# Table row labels: how each mode acts.
MODE_LABELS = {
    "stochastic": "stochastic (a0 ~ N(0, I), official protocol)",
    "deterministic": "deterministic (a0 = 0)",
}


def _stats(returns, nonfinite: int) -> dict:
    r = np.asarray(returns, np.float64)
    return dict(mean=float(r.mean()), std=float(r.std()), returns=r.tolist(), nonfinite=nonfinite)


def eval_dm_control(task: str, act, episodes: int, seed: int, episode_length: int) -> dict:
    """{"returns": one per episode, ...} of `act` on `episodes` dm_control envs (task seeds from
    host_env.env_seeds(seed, episodes, EVALUATE)), one episode each, stepped in one pool."""
    from flowrl_mjx.dmc_backend import host_env

    with host_env.HostEnvPool(task, episodes, seed, episode_length,
                              stream=host_env.EVALUATE) as pool:  # fmt: skip
        returns, bad = host_env.run_episodes(pool, act, episode_length)
    return _stats(returns, bad)


@functools.lru_cache(maxsize=2)
def _mjx_programs(task: str, episode_length: int, episodes: int):
    """Jitted batch reset and step of our MJX task, compiled once for both action modes."""
    import jax

    import envs
    from envs.jax_setup import jit_env

    env = envs.load(task, episode_length=episode_length)
    return jit_env(jax.vmap(env.reset), episodes, env), jit_env(jax.vmap(env.step), episodes, env)


def eval_mjx(task: str, act, episodes: int, seed: int, episode_length: int) -> dict:
    """The same on our MJX task (envs.load), jitted batch reset/step, `act` on the host."""
    import jax
    import jax.numpy as jnp

    reset, step = _mjx_programs(task, episode_length, episodes)
    state = reset(jax.random.split(jax.random.PRNGKey(seed), episodes))
    total = np.zeros(episodes)
    alive, bad = np.ones(episodes, bool), np.zeros(episodes, bool)
    for _ in range(episode_length):
        state = step(state, jnp.asarray(act(np.asarray(state.obs))))
        reward, obs = np.asarray(state.reward, np.float64), np.asarray(state.obs)
        finite = np.isfinite(reward) & np.all(np.isfinite(obs), axis=-1)
        total += np.where(alive & finite, reward, 0.0)
        bad |= alive & ~finite
        alive &= finite & (np.asarray(state.done) == 0)
        if not alive.any():
            break
    return _stats(total, int(bad.sum()))


EVALUATORS = {"dm_control": eval_dm_control, "mjx": eval_mjx}


def evaluate_run(run_dir: str, backends, episodes: int, seed: int, episode_length: int) -> dict:
    """The report written to eval_transfer.json; ValueError on a missing or malformed run."""
    settings = _settings(run_dir)
    task = settings["task"]
    report = dict(run_dir=os.path.basename(os.path.normpath(run_dir)), task=task,
                  trained_on=settings.get("backend", "mjx"), episodes=episodes, seed=seed,
                  episode_length=episode_length)  # fmt: skip
    for backend in backends:
        report[backend] = {}
        for mode in MODES:
            act = flowrl_mjx.load_policy(run_dir, deterministic=mode == "deterministic", seed=seed)
            fn = EVALUATORS[backend]
            report[backend][mode] = fn(task, act, episodes, seed, episode_length)
    if all(b in report for b in BACKENDS):
        report["gap_mjx_minus_dm_control"] = {
            m: report["mjx"][m]["mean"] - report["dm_control"][m]["mean"] for m in MODES
        }
    return report


def _settings(run_dir: str) -> dict:
    path = os.path.join(run_dir, "config.json")
    try:
        with open(path) as f:
            settings = json.load(f)
    except OSError as e:
        raise ValueError(f"{run_dir} is not a run dir: cannot read {path} ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"malformed {path}: {e.msg} at line {e.lineno}") from None
    if not isinstance(settings, dict) or "task" not in settings:
        raise ValueError(f"malformed {path}: no 'task' field")
    return settings


def table(report: dict) -> str:
    """Markdown: one row per mode, mean +- std per backend, and the gap."""
    backends = [b for b in BACKENDS if b in report]
    gap = report.get("gap_mjx_minus_dm_control")
    head = ["eval protocol", *backends] + (["gap (mjx - dm_control)"] if gap else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for m in MODES:
        cells = [f"{report[b][m]['mean']:.1f} ± {report[b][m]['std']:.1f}" for b in backends]
        cells += [f"{gap[m]:+.1f}"] if gap else []
        lines.append("| " + " | ".join([MODE_LABELS[m], *cells]) + " |")
    return "\n".join(lines)


# Its own FlagValues (not absl's global FLAGS): it is imported beside other entry points that
# define --run_dir and --seed too (flowrl_mjx.runtime.cli_flags).
FLAGS = cli_flags.flag_values(__doc__)
flags.DEFINE_string("run_dir", None, "a run directory (config.json, policy.msgpack)",
                    required=True, flag_values=FLAGS)  # fmt: skip
flags.DEFINE_enum("backend", "both", [*BACKENDS, "both"],
                  "where to evaluate: dm_control, mjx or both", flag_values=FLAGS)  # fmt: skip
flags.DEFINE_integer("episodes", 10, "episodes per backend and mode", flag_values=FLAGS)
flags.DEFINE_integer("seed", 0, "seed of the eval envs and policy noise", flag_values=FLAGS)
flags.DEFINE_integer("episode_length", 1000, "control steps per episode", flag_values=FLAGS)
flags.DEFINE_string("video", None, "write one deterministic dm_control episode here",
                    flag_values=FLAGS)  # fmt: skip


def parse(argv=None):
    """The flags of `argv` (None: the command line's) in FLAGS; bad input: one line, exit 2."""
    cli_flags.parse_argv(FLAGS, argv)
    if FLAGS.episodes < 1 or FLAGS.episode_length < 1:
        cli_flags.usage_exit("--episodes and --episode_length must be positive")
    return FLAGS


def main(argv=None) -> int:
    args = parse(argv)
    try:
        if args.video:
            from flowrl_mjx.analysis import video

            video.check_writer()
            video.choose_gl()  # before anything imports MuJoCo
        backends = BACKENDS if args.backend == "both" else (args.backend,)
        report = evaluate_run(args.run_dir, backends, args.episodes, args.seed,
                              args.episode_length)  # fmt: skip
        if args.video:
            act = flowrl_mjx.load_policy(args.run_dir, deterministic=True, seed=args.seed)
            n = video.record(report["task"], act, args.video, args.seed, args.episode_length)
            report["video"] = dict(path=os.path.basename(args.video), frames=n,
                                   protocol="deterministic")  # fmt: skip
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from flowrl_mjx.runtime.machine import machine_info

    report["machine"] = machine_info()
    with open(os.path.join(args.run_dir, "eval_transfer.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(f"{report['task']} ({report['episodes']} episodes per cell, trained on "
          f"{report['trained_on']}), mean ± std episode return:\n{table(report)}")  # fmt: skip
    if args.video:
        print(f"video: one deterministic (a0 = 0) dm_control episode, {args.video}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
