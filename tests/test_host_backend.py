"""--backend dm_control: the host env pool against plain dm_control, the learner's inserts at a
time-limit truncation, and a tiny training run through the runner and the CLI."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest
from dm_control.rl.control import PhysicsError

import flowrl_mjx
from envs import dmc
from envs.dmc import flat_obs
from flowrl_mjx.algorithm import learner, normalizer, train
from flowrl_mjx.algorithm.replay import Transition
from flowrl_mjx.dmc_backend import host_env, host_group, host_train
from flowrl_mjx.runtime import checkpoint, run_dir, runner
from flowrl_mjx.runtime.run_config import RunConfig
from tests.tiny import CFG, CFG_OBS_NORM, TASK
from tests.tiny import env as tiny_env

LENGTH = 10  # a short time limit, so a few steps cross episode ends


def _reference(seeds, actions):
    """A hand-written dm_control loop: per step (obs to act on, reward, discount, next_obs)."""
    dm_envs = [dmc.load("cartpole", "balance", s) for s in seeds]
    obs = [flat_obs(e.reset().observation) for e in dm_envs]
    out, count = [], 0
    for a in actions:
        count += 1
        rows = []
        for i, e in enumerate(dm_envs):
            ts = e.step(a[i])
            nxt = flat_obs(ts.observation)
            obs[i] = flat_obs(e.reset().observation) if count == LENGTH or ts.last() else nxt
            rows.append((obs[i], ts.reward, ts.discount, nxt))
        count = 0 if count == LENGTH else count
        out.append([np.array(c) for c in zip(*rows, strict=True)])
    return out


@pytest.mark.parametrize("workers", [0, 2])
def test_pool_matches_dm_control(workers):
    seeds = host_env.env_seeds(7, 3)
    actions = np.random.default_rng(0).uniform(-1, 1, (2 * LENGTH + 3, 3, 1)).astype(np.float32)
    want = _reference(seeds, actions)
    with host_env.HostEnvPool(TASK, 3, 7, LENGTH, num_workers=workers) as pool:
        assert pool.num_workers == workers
        first = pool.reset()
        fresh = [flat_obs(dmc.load("cartpole", "balance", s).reset().observation) for s in seeds]
        np.testing.assert_array_equal(first, np.float32(fresh))
        for t, a in enumerate(actions):
            got = pool.step(a)
            obs, reward, discount, nxt = want[t]
            np.testing.assert_array_equal(got.obs, obs.astype(np.float32))
            np.testing.assert_array_equal(got.next_obs, nxt.astype(np.float32))
            np.testing.assert_array_equal(got.reward, reward)
            np.testing.assert_array_equal(got.discount, discount)
            assert np.all(got.valid == 1)
            truncation = (t + 1) % LENGTH == 0
            assert np.all(got.ended == truncation)
            if truncation:  # bootstrap: discount 1, next_obs is the final obs, not the reset one
                assert np.all(got.discount == 1) and not np.allclose(got.obs, got.next_obs)


@dataclasses.dataclass
class _TimeStep:
    observation: dict
    reward: float
    discount: float
    is_last: bool

    def last(self):
        return self.is_last


class _FakeEnv:
    """A dm_control-like env that terminates (discount 0) or diverges on a given step."""

    def __init__(self, end_at, diverge):
        self.end_at, self.diverge, self.t = end_at, diverge, 0

    def reset(self):
        self.t = 0
        return _TimeStep({"x": np.array([-1.0])}, None, None, False)

    def step(self, action):
        self.t += 1
        if self.diverge and self.t == self.end_at:
            raise PhysicsError("diverged")
        end = self.t == self.end_at
        return _TimeStep({"x": np.array([float(self.t)])}, 1.0, 0.0 if end else 1.0, end)


def test_termination_and_divergence_bookkeeping():
    group = host_group.EnvGroup(TASK, [0, 1], episode_length=100)
    group.envs = [_FakeEnv(2, diverge=False), _FakeEnv(2, diverge=True)]
    group.obs_size = 1
    group.reset()
    a = np.zeros((2, 1), np.float32)
    group.step(a)
    s = group.step(a)
    assert s.ended.tolist() == [True, True]
    assert s.discount[0] == 0 and s.next_obs[0, 0] == 2 and s.obs[0, 0] == -1  # terminated
    assert s.episode_return[0] == 2 and s.valid[0] == 1
    assert s.valid[1] == 0 and s.reward[1] == 0 and np.isnan(s.episode_return[1])  # diverged
    assert s.obs[1, 0] == -1  # reset after the divergence


def test_learner_stores_truncation_with_bootstrap():
    with host_env.HostEnvPool(TASK, 2, 1, LENGTH, num_workers=0) as pool:
        prog = host_train.programs(CFG, 2, pool.obs_size, pool.action_size)
        state = host_train.init(jax.random.PRNGKey(0), CFG, pool.obs_size, pool.action_size)
        obs = pool.reset()
        state, action = prog.start(state, obs)
        for _ in range(LENGTH):
            step = pool.step(np.asarray(action))
            batch = Transition(obs=obs, action=action, reward=step.reward, discount=step.discount,
                               next_obs=step.next_obs, valid=step.valid)  # fmt: skip
            state, action, _ = prog.learn_and_act(state, batch, step.obs)
            obs = step.obs
    assert step.ended.all() and int(state.env_steps) == 2 * LENGTH
    last = slice(2 * LENGTH - 2, 2 * LENGTH)  # the ring slots of the final (truncated) steps
    np.testing.assert_array_equal(state.replay.data.discount[last], [1.0, 1.0])
    np.testing.assert_array_equal(state.replay.data.next_obs[last], step.next_obs)
    assert not np.allclose(state.replay.data.next_obs[last], step.obs)
    assert np.all(np.abs(np.asarray(action)) <= 1)


def test_learner_merges_stepped_observations_under_obs_norm():
    """learn_and_act merges each step's new observations (valid rows), warm-up included, and
    the evaluation act normalises with the statistics it is given."""
    cfg, seen = CFG_OBS_NORM, []
    with host_env.HostEnvPool(TASK, 2, 1, LENGTH, num_workers=0) as pool:
        prog = host_train.programs(cfg, 2, pool.obs_size, pool.action_size)
        state = host_train.init(jax.random.PRNGKey(0), cfg, pool.obs_size, pool.action_size)
        obs = pool.reset()
        state, action = prog.start(state, obs)
        for _ in range(LENGTH):  # warm-up is 8 env steps: 4 iterations, then learning
            step = pool.step(np.asarray(action))
            batch = Transition(obs=obs, action=action, reward=step.reward, discount=step.discount,
                               next_obs=step.next_obs, valid=step.valid)  # fmt: skip
            state, action, _ = prog.learn_and_act(state, batch, step.obs)
            seen.append(step.obs[step.valid > 0])
            obs = step.obs
    stats, rows = state.agent.obs_norm, np.concatenate(seen).astype(np.float64)
    assert float(stats.count) == len(rows) == 2 * LENGTH
    np.testing.assert_allclose(stats.mean, rows.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats.var, rows.var(0), rtol=1e-4, atol=1e-7)
    actor, key = state.agent.params.actor, jax.random.PRNGKey(2)
    act = learner.build(cfg, pool.obs_size, pool.action_size).act
    want = act(actor, normalizer.normalize(stats, obs), key, deterministic=True)
    np.testing.assert_allclose(prog.act(actor, stats, obs, key, True), want, rtol=1e-5, atol=1e-6)


def _run(loop, steps, out, resume):
    env = tiny_env()
    run = RunConfig(task=TASK, config=CFG, loop=loop, seed=3, preset="test", backend="dm_control",
                    total_env_steps=steps, eval_every=1, checkpoint_every=1,
                    obs_size=env.observation_size, action_size=env.action_size)  # fmt: skip
    return runner.run(run, env, out, resume)


def _update_metric_keys():
    """The learner's metric names, as the MJX epoch reports them too."""
    return set(learner.build(CFG, 5, 1).no_metrics)


def test_host_run_writes_the_mjx_outputs_and_resumes(tmp_path, capsys):
    loop = train.LoopConfig(num_envs=2, iters_per_epoch=12, num_eval_envs=2)
    out = run_dir.prepare(str(tmp_path / "run"), TASK, 3, False)
    assert _run(loop, 48, out, False) == ("finished")
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    train_keys = {"train/reward", "train/nan_resets", "train/episode_return", "train/learning"}
    mjx_keys = _update_metric_keys() | train_keys | {"env_steps", "wall_time", "perf/sps"}
    modes = ("deterministic", "stochastic")
    mjx_keys |= {f"eval/return_{m}{s}" for m in modes for s in ("", "_std")}
    assert set(rows[0]) == mjx_keys | {"eval/nonfinite_episodes", "perf/host_env_fraction"}
    assert [r["env_steps"] for r in rows] == [24, 48]
    assert np.isnan(rows[0]["train/episode_return"])  # 12 steps per env: no episode ended yet
    assert 0 < rows[1]["train/episode_return"] <= 20  # tiny env: 20-step episodes, reward <= 1
    assert 0 < rows[1]["eval/return_deterministic"] <= 20
    config = json.load(open(os.path.join(out, "config.json")))
    assert config["backend"] == "dm_control" and config["host_workers"] == 0
    assert json.load(open(os.path.join(out, "summary.json")))["status"] == "finished"
    assert os.path.exists(os.path.join(out, "model.mjb"))
    act = flowrl_mjx.load_policy(out)
    assert act(np.zeros(5)).shape == (1,)
    capsys.readouterr()
    _run(loop, 72, out, True)
    assert f"resumed {out} from its checkpoint at env step 48 (epoch 2)" in capsys.readouterr().out
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["env_steps"] for r in rows] == [24, 48, 72]

    class StopAtSixthIteration:  # SIGTERM arriving during the 6th iteration of an epoch
        reads = 0

        @property
        def signal(self):
            self.reads += 1
            return "SIGTERM" if self.reads >= 6 else None

        def restore(self):
            pass

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "StopFlag", StopAtSixthIteration)
        status = _run(loop, 120, out, True)
    assert status.startswith("interrupted by SIGTERM")  # after 6 of the epoch's 12 iterations
    assert checkpoint.Checkpoints(out).steps()[-1] == 84
    _run(loop, 120, out, True)
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    # the resume finished the stopped epoch: one row for it, as without the stop
    assert [r["env_steps"] for r in rows] == [24, 48, 72, 96, 120]
    shutil.rmtree(os.path.join(out, "checkpoints"))  # as if stopped before its first checkpoint
    _run(loop, 24, out, True)
    assert run_dir.restart_line(out) in capsys.readouterr().out
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["env_steps"] for r in rows] == [24]


def test_launch_cli_backend_dm_control_and_sigint_exit_code(tmp_path):
    out = tmp_path / "cli"
    flags = ("--backend dm_control --task cartpole_balance --num_envs 2 --iters_per_epoch 4 "
             "--num_eval_envs 1 --total_env_steps 8000 --actor_hidden 8 --critic_hidden 8 "
             "--value_hidden 8 --batch_size 4 --replay_size 64 --recent_window 8 --warmup_steps 4 "
             f"--updates_per_iter 2 --preset cpu --run_dir {out}").split()  # fmt: skip
    env = dict(os.environ, JAX_PLATFORMS="cpu", MUJOCO_GL="disable")
    with open(tmp_path / "stderr", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "flowrl_mjx.launch", *flags], env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)  # fmt: skip
        stdout = []
        for line in proc.stdout:  # the first progress line: training runs, then Ctrl-C
            stdout.append(line)
            if line.startswith("steps "):
                proc.send_signal(signal.SIGINT)
                break
        stdout += proc.communicate(timeout=300)[0].splitlines(keepends=True)
    stdout = "".join(stdout)
    # interrupted: checkpoint and summary written, then exit 128 + SIGINT
    assert proc.returncode == 130, (stdout[-2000:], (tmp_path / "stderr").read_text()[-2000:])
    summary = json.load(open(out / "summary.json"))
    assert summary["status"].startswith("interrupted by SIGINT"), summary
    assert os.listdir(out / "checkpoints") and os.path.exists(out / "policy.msgpack")
    assert json.load(open(out / "config.json"))["backend"] == "dm_control"
    assert (
        stdout.startswith("device: cpu (cpu) x 1, ")
        and "envs: dm_control on the host" in (stdout.splitlines()[0])
    )  # the first line: where it computes
    recipe = [line for line in stdout.splitlines() if line.startswith("recipe:")]
    assert recipe == [recipe[0]] and "envs=2 batch=4 K=2 " in recipe[0], stdout[-2000:]
    row = json.loads(open(out / "metrics.jsonl").readline())
    assert row["env_steps"] == 8 and np.isfinite(row["eval/return_deterministic"])
