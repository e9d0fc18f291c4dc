"""The task list: every dm_control suite task offered or explained, paper tasks first."""

import pytest
from dm_control import suite

import envs


def test_every_dm_control_task_is_offered_or_explained():
    offered, missing = set(envs.names()), envs.unsupported()
    for domain, task in suite.ALL_TASKS:
        name = f"{domain}_{task}"
        assert (name in offered) != (name in missing), name  # exactly one of the two
        if name in missing:
            assert len(missing[name]) > 20, name  # a reason, not a placeholder
    assert len(envs.names()) == len(set(envs.names()))


def test_paper_tasks_come_first():
    assert tuple(envs.names()[: len(envs.PAPER_TASKS)]) == envs.PAPER_TASKS
    rest = envs.names()[len(envs.PAPER_TASKS) :]
    assert rest == sorted(rest)


def test_unknown_task_names_the_closest():
    with pytest.raises(ValueError, match="cheetah_run"):
        envs.load("cheetah_rnu")


def test_model_overrides_reach_the_mjx_model():
    """The solver and mass-matrix overrides change the model MJX steps; bad values are refused."""
    from mujoco import mjx

    env = envs.load("cartpole_balance", jacobian="sparse", solver_iterations=3)
    assert env.mjx_model.opt.jacobian == mjx.JacobianType.SPARSE and mjx.is_sparse(env.mjx_model)
    assert env.mj_model.opt.iterations == 3
    with pytest.raises(ValueError, match="jacobian must be one of"):
        envs.load("cartpole_balance", jacobian="banded")
    with pytest.raises(ValueError, match="unknown override"):
        envs.load("cartpole_balance", jacobain="dense")
