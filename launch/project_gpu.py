"""GPU cost projection of one training recipe: projected, not measured.

    python -m launch.project_gpu --task cheetah_run --num_envs 4096 --batch_size 4096 \
        --updates_per_iter 8 --actor_hidden 512,512 --critic_hidden 512,512 \
        --value_hidden 512,512 --target_env_steps 10000000

One fused iteration runs (a) one env step of num_envs envs, (b) K = updates_per_iter FlowRL
updates at batch_size and (c) the flow policy's action sampling for num_envs observations. Each
is compiled here, on the CPU, as one jitted program with abstract inputs (nothing is allocated or
run), and XLA's cost analysis of it (flops, bytes accessed) goes through a roofline cost model
(`roofline`) with the H100 SXM peaks below and assumed efficiencies (flags). XLA's cost analysis
counts the body of a while loop once, so single iterations are compiled, never scans. The env
step also gets a second estimate from a published MJX throughput (`PUBLISHED_MJX`).
Writes results/gpu_projection.json and results/gpu_projection.md.
"""

import json
import os
import time

import jax
import jax.numpy as jnp
from absl import app, flags

import envs
from envs import jax_setup
from flowrl_mjx.algorithm import agent, learner, replay
from flowrl_mjx.algorithm.config import Config
from launch.common import machine_info

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Only when run as a script: tests import this module beside other launch scripts whose
    flags share names (task, out)."""
    flags.DEFINE_string("task", "cheetah_run", "task name")
    flags.DEFINE_integer("num_envs", 4096, "parallel training envs")
    flags.DEFINE_integer(
        "env_compile_envs",
        None,
        "compile the env step at this many envs and scale its flops and "
        "bytes linearly to num_envs (default: num_envs)",
    )
    flags.DEFINE_integer("batch_size", 4096, "update batch size")
    flags.DEFINE_integer("updates_per_iter", 8, "updates per iteration (K)")
    flags.DEFINE_list("actor_hidden", ["512", "512"], "velocity-field hidden widths")
    flags.DEFINE_list("critic_hidden", ["512", "512"], "Q / Q_buffer hidden widths")
    flags.DEFINE_list("value_hidden", ["512", "512"], "V hidden widths")
    flags.DEFINE_integer("replay_size", 1_000_000, "replay capacity (abstract: never allocated)")
    flags.DEFINE_integer(
        "target_env_steps", 10_000_000, "env steps the wall-clock projection is for"
    )
    flags.DEFINE_float("flops_efficiency", 0.3, "assumed fraction of peak FLOP/s reached")
    flags.DEFINE_float(
        "bandwidth_efficiency", 0.5, "assumed fraction of peak HBM bandwidth reached"
    )
    flags.DEFINE_string("out", "results", "output folder")


# NVIDIA H100 Tensor Core GPU datasheet, SXM5 column (nvidia.com/en-us/data-center/h100/):
# FP32 67 TFLOP/s on the CUDA cores; TF32 Tensor Core 989 TFLOP/s with 2:4 sparsity, i.e. about
# 495 dense; HBM3 3.35 TB/s.
H100_SXM = {"fp32_flops": 67e12, "tf32_flops": 495e12, "hbm_bytes_per_s": 3.35e12}
H100_SOURCE = "NVIDIA H100 Tensor Core GPU datasheet, SXM5 (nvidia.com/en-us/data-center/h100/)"
# float32 matmuls at jax's default precision run as TF32 on A100/H100 (jax-ml/jax issue 18934), so
# the networks get the TF32 peak; MJX physics is mostly small, elementwise work: the FP32 peak.
PEAK_OF = {"env_step": "fp32_flops", "policy_act": "tf32_flops", "update": "tf32_flops"}

# MuJoCo documentation, "MJX-JAX - The Sharp Bits" (mujoco.readthedocs.io/en/stable/mjx.html):
# MJX-JAX on one NVIDIA A100 at batch 8192 runs one humanoid at 950K physics steps/s. That model
# (mjx/test_data/humanoid in the mujoco repository) uses Newton with 1 iteration, 4 line-search
# iterations and floor-only contacts.
PUBLISHED_MJX = {
    "physics_steps_per_s": 950e3,
    "device": "NVIDIA A100",
    "batch": 8192,
    "model": "MJX test humanoid (Newton, iterations 1, ls_iterations 4)",
    "source": "MuJoCo docs, MJX-JAX - The Sharp Bits (mujoco.readthedocs.io/en/stable/mjx.html)",
}

# Raw uint32 keys, as training uses (jax.random.PRNGKey).
KEY = jax.ShapeDtypeStruct((2,), jnp.uint32)


def roofline(
    flops: float,
    nbytes: float,
    peak_flops: float,
    peak_bytes_per_s: float,
    flops_eff: float,
    bw_eff: float,
) -> dict:
    """Seconds of one program: the slower of its compute time and its memory time."""
    compute = flops / (peak_flops * flops_eff)
    memory = nbytes / (peak_bytes_per_s * bw_eff)
    return {
        "seconds": max(compute, memory),
        "compute_s": compute,
        "memory_s": memory,
        "bound": "compute" if compute >= memory else "memory",
    }


def iteration(
    env_s: float, act_s: float, update_s: float, num_envs: int, k: int, target_env_steps: int
) -> dict:
    """Per-iteration figures when the programs run one after another (as in the fused scan)."""
    seconds = env_s + act_s + k * update_s
    return {
        "iteration_s": seconds,
        "env_steps_per_s": num_envs / seconds,
        "updates_per_s": k / seconds,
        "seconds_to_target": target_env_steps / num_envs * seconds,
    }


def _cost(jitted, *args) -> dict:
    t0 = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return {
        "flops": float(cost["flops"]),
        "bytes": float(cost["bytes accessed"]),
        "compile_s": time.perf_counter() - t0,
    }


def env_step_cost(env, n: int) -> dict:
    """(a) One control step of n envs: the task's step (physics, obs, reward), vmapped. The
    VecEnv's auto-reset is left out: it runs once per episode, but cost analysis would count its
    branch of the lax.cond at every step."""
    keys = jax.ShapeDtypeStruct((n, *KEY.shape), KEY.dtype)
    state = jax.eval_shape(jax.vmap(env.reset), keys)
    action = jax.ShapeDtypeStruct((n, env.action_size), jnp.float32)
    return _cost(jax_setup.jit_env(jax.vmap(env.step), n, env), state, action)


def update_cost(cfg: Config, obs_size: int, action_size: int) -> dict:
    """(b) One FlowRL update (critic, Q_buffer, V, actor, targets) on one sampled batch."""
    one = Config(**{**cfg.__dict__, "updates_per_iter": 1})
    learn = learner.build(one, obs_size, action_size).update
    state = jax.eval_shape(lambda k: agent.init(k, one, obs_size, action_size), KEY)
    buf = jax.eval_shape(lambda: replay.init(one.replay_size, obs_size, action_size))
    return _cost(jax.jit(learn), state, buf, KEY)


def act_cost(cfg: Config, obs_size: int, action_size: int, n: int) -> dict:
    """(c) Flow-policy action sampling (the ODE through the velocity field) for n observations."""
    act = learner.build(cfg, obs_size, action_size).act
    params = jax.eval_shape(lambda k: agent.init(k, cfg, obs_size, action_size), KEY)
    obs = jax.ShapeDtypeStruct((n, obs_size), jnp.float32)
    return _cost(jax.jit(act), params.params.actor, obs, KEY)


def _scaled(cost: dict, factor: float) -> dict:
    return {**cost, "flops": cost["flops"] * factor, "bytes": cost["bytes"] * factor}


def project(programs: dict, recipe: dict, published_env_s: float) -> dict:
    """Per-program roofline seconds and the iteration estimates named in ESTIMATES (pure)."""
    effs = recipe["flops_efficiency"], recipe["bandwidth_efficiency"]
    bandwidth = H100_SXM["hbm_bytes_per_s"]
    timed = {
        name: roofline(cost["flops"], cost["bytes"], H100_SXM[PEAK_OF[name]], bandwidth, *effs)
        for name, cost in programs.items()
    }
    n, k, target = recipe["num_envs"], recipe["updates_per_iter"], recipe["target_env_steps"]
    env_s, act_s, update_s = (timed[p]["seconds"] for p in ("env_step", "policy_act", "update"))
    floor = (timed[p]["compute_s"] for p in ("env_step", "policy_act", "update"))
    return {
        "programs": timed,
        "cost_model": iteration(env_s, act_s, update_s, n, k, target),
        "published_env_rate": iteration(published_env_s, act_s, update_s, n, k, target),
        "compute_floor": iteration(*floor, n, k, target),
    }


ESTIMATES = {
    "cost_model": "cost model (all three programs from XLA's cost analysis)",
    "published_env_rate": "env step at the published MJX rate, networks from the cost model",
    "compute_floor": "floor: compute times only (no memory traffic)",
}
CAVEATS = (
    "XLA:CPU cost analysis counts a while loop's body once and a lax.cond's costlier branch "
    "(checked on this jax). MJX's Newton solver and its line search are while loops, so the env "
    "step is counted as one solver iteration and one line-search iteration. The tasks keep "
    "dm_control's solver settings (cheetah: Newton, up to 100 iterations, tolerance 1e-8) and a "
    "batch iterates until its slowest env converges, so the real GPU step can cost several times "
    "the counted one. The published rate is for a model tuned for MJX (1 Newton iteration) on an "
    "A100: neither estimate includes extra solver iterations.",
    "The update's actor step is a lax.cond taken every policy_delay-th update; cost analysis "
    "counts it in every update (an overcount).",
    "Bytes accessed are XLA:CPU's, after CPU fusion; XLA:GPU fuses differently (elementwise "
    "work such as LayerNorm and GELU into the neighbouring kernels), so the memory times can be "
    "off either way; the compute-only floor bounds the gain. Kernel-launch overhead, the replay "
    "insert, the warm-up's uniform actions and auto-resets (cheetah_run settles 200 physics "
    "steps per 1000-step episode: +20% physics) are not counted.",
)


def _program_table(programs: dict, timed: dict) -> list:
    lines = [
        "| program | GFLOP | GB accessed | peak used | compute ms | memory ms | bound | ms |",
        "|---|---:|---:|---|---:|---:|---|---:|",
    ]
    for name, cost in programs.items():
        t = timed[name]
        lines.append(
            f"| {name} | {cost['flops'] / 1e9:,.2f} | {cost['bytes'] / 1e9:,.3f} | "
            f"{PEAK_OF[name].split('_')[0].upper()} | {1e3 * t['compute_s']:.3f} | "
            f"{1e3 * t['memory_s']:.3f} | {t['bound']} | {1e3 * t['seconds']:.3f} |"
        )
    return lines


def _iteration_table(out: dict, target: int) -> list:
    lines = [
        f"| estimate | ms / iteration | env steps / s | updates / s | minutes to {target:,} "
        "env steps |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in ESTIMATES.items():
        it = out[key]
        lines.append(
            f"| {label} | {1e3 * it['iteration_s']:.2f} | {it['env_steps_per_s']:,.0f} | "
            f"{it['updates_per_s']:,.1f} | {it['seconds_to_target'] / 60:.1f} |"
        )
    return lines


def _markdown(info: dict, r: dict, programs: dict, out: dict) -> str:
    pub, peaks = PUBLISHED_MJX, {k: v / 1e12 for k, v in H100_SXM.items()}
    caveats = list(CAVEATS)
    if r["env_compile_envs"] != r["num_envs"]:
        caveats.append(
            f"The env step was compiled at {r['env_compile_envs']:,} envs and its flops and "
            f"bytes scaled linearly to {r['num_envs']:,}."
        )
    lines = [
        "# GPU cost projection (projected, not measured)\n",
        "**Projected, not measured: no GPU ran any of this.** XLA:CPU cost analysis of programs "
        f"compiled on {info['device']} ({info['cpu_cores']} cores), {info['date']}, through a "
        f"roofline model of one H100 SXM. Command: `{info['command']}`.\n",
        f"Recipe: {r['task']}, {r['num_envs']:,} envs, batch {r['batch_size']:,}, "
        f"K = {r['updates_per_iter']} updates per iteration, hidden widths actor "
        f"{r['actor_hidden']}, critic {r['critic_hidden']}, value {r['value_hidden']}; "
        f"{r['n_substeps']} physics step(s) per env step.\n",
        "Cost model, per program: seconds = max(flops / (peak FLOP/s x "
        f"{r['flops_efficiency']}), bytes / (peak bandwidth x {r['bandwidth_efficiency']})); "
        "the efficiencies are assumptions (`--flops_efficiency`, `--bandwidth_efficiency`). "
        f"H100 SXM peaks ({H100_SOURCE}): FP32 {peaks['fp32_flops']:.0f} TFLOP/s, TF32 tensor "
        f"{peaks['tf32_flops']:.0f} TFLOP/s dense, HBM3 {peaks['hbm_bytes_per_s']:.2f} TB/s. "
        "The networks get the TF32 peak (jax's default float32 matmul precision is TF32 on "
        "A100/H100, jax-ml/jax issue 18934; at full float32 their compute time is 7.4x longer), "
        "the env step the FP32 peak. One iteration = env step + action sampling + K updates, "
        "one after another.\n",
        *_program_table(programs, out["programs"]),
        "",
        f"Published MJX rate: {pub['physics_steps_per_s']:,.0f} physics steps/s ({pub['model']}, "
        f"{pub['device']}, batch {pub['batch']:,}; {pub['source']}): "
        f"{1e3 * out['published_env_s']:.2f} ms per env step of {r['num_envs']:,} envs.\n",
        *_iteration_table(out, r["target_env_steps"]),
        "",
        "Caveats:",
        *(f"- {c}" for c in caveats),
    ]
    return "\n".join(lines) + "\n"


def main(_):
    widths = ("actor_hidden", "critic_hidden", "value_hidden")
    hidden = {k: tuple(int(h) for h in getattr(FLAGS, k)) for k in widths}
    replay_size = max(FLAGS.replay_size, FLAGS.batch_size)
    cfg = Config(
        batch_size=FLAGS.batch_size,
        updates_per_iter=FLAGS.updates_per_iter,
        replay_size=replay_size,
        **hidden,
    ).validate()
    env = envs.load(FLAGS.task)
    o, a, n = env.observation_size, env.action_size, FLAGS.num_envs
    compile_envs = FLAGS.env_compile_envs or n
    programs = {
        "env_step": _scaled(env_step_cost(env, compile_envs), n / compile_envs),
        "policy_act": act_cost(cfg, o, a, n),
        "update": update_cost(cfg, o, a),
    }
    recipe = {
        "task": FLAGS.task,
        "num_envs": n,
        "env_compile_envs": compile_envs,
        "batch_size": FLAGS.batch_size,
        "updates_per_iter": FLAGS.updates_per_iter,
        "target_env_steps": FLAGS.target_env_steps,
        "n_substeps": env.n_substeps,
        "flops_efficiency": FLAGS.flops_efficiency,
        "bandwidth_efficiency": FLAGS.bandwidth_efficiency,
        **{k: "x".join(map(str, v)) for k, v in hidden.items()},
    }
    published_env_s = n * env.n_substeps / PUBLISHED_MJX["physics_steps_per_s"]
    out = {**project(programs, recipe, published_env_s), "published_env_s": published_env_s}
    info = machine_info()
    record = {
        "label": "projected, not measured",
        "machine": info,
        "recipe": recipe,
        "config": cfg.__dict__,
        "h100_sxm": {**H100_SXM, "source": H100_SOURCE},
        "published_mjx": PUBLISHED_MJX,
        "cost_analysis": programs,
        **out,
    }
    os.makedirs(FLAGS.out, exist_ok=True)
    with open(os.path.join(FLAGS.out, "gpu_projection.json"), "w") as f:
        json.dump(record, f, indent=1)
    with open(os.path.join(FLAGS.out, "gpu_projection.md"), "w") as f:
        f.write(_markdown(info, recipe, programs, out))
    print(json.dumps({k: out[k] for k in ESTIMATES}, indent=1))


if __name__ == "__main__":
    define_flags()
    app.run(main)
