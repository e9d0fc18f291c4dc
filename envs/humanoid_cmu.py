"""Humanoid_CMU (dm_control.suite.humanoid_CMU): the 56-actuator CMU mocap humanoid.

Same task as envs/humanoid.py (stand, walk, run with the same reward terms and random
collision-free start) on a different body: the reference body is the thorax, whose *y* axis points
up when standing (the model is built with a 90 degree roll), and the control step is 20 ms.
"""

from envs import humanoid, model_io

_XMAT_ZY = 7  # row-major xmat entry R[2, 1]: world-z component of the thorax y-axis ('zy')

# 1,118 candidate pairs, all condim 3. Its bounding-sphere cull (max_geom_pairs) is not used: the
# reset's random poses overlap far more pairs than the rollouts, where a touching pair ranked at
# worst 95th of 675 capsule pairs.
CONTACT_CAPS = model_io.measured_contact_caps(
    "humanoid_CMU",
    64,
    "at most 21 contacts (all condim 3) were active at once: 1,157 -> 64 contact slots",
)


class _HumanoidCMU(humanoid.HumanoidBase):
    domain = "humanoid_CMU"
    control_timestep = 0.02  # dm_control's _CONTROL_TIMESTEP: 10 physics steps of 2 ms
    patches = (humanoid.keep_only_sensors("thorax_subtreelinvel"), CONTACT_CAPS)
    torso_body = "thorax"
    extremity_bodies = ("lhand", "lfoot", "rhand", "rfoot")  # dm_control's order: l, r x hand, foot
    com_velocity_sensor = "thorax_subtreelinvel"
    upright_index = _XMAT_ZY
    # TODO(measure)
    step_tolerance = 1e-3
    # Off: XLA:CPU's fusion emitters slow this model's batched step down (figures:
    # results/perf_changes.md, results/bench_envs_cpu{,_emitters_off}.md).
    cpu_fusion_emitters = False


class HumanoidCMUStand(_HumanoidCMU):
    task, move_speed = "stand", 0.0


class HumanoidCMUWalk(_HumanoidCMU):
    task, move_speed = "walk", humanoid.WALK_SPEED


class HumanoidCMURun(_HumanoidCMU):
    task, move_speed = "run", humanoid.RUN_SPEED


TASKS = {"stand": HumanoidCMUStand, "walk": HumanoidCMUWalk, "run": HumanoidCMURun}
