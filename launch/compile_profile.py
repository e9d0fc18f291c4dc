"""Where a task's env step spends its compile (and run) time: the vmapped control step, its parts.

    python -m launch.compile_profile --task dog_run --batch_sizes 1,64 --out results/compile_profile
    python -m launch.compile_profile --task cartpole_balance --batch_sizes 1,2 --max_compile_s 300

For each batch size, each program below is jitted (`jax_setup.jit_env`, the options bench_envs and
evaluation use: one env without XLA:CPU's fusion emitters) over a vmapped batch, and timed:
trace + lower (`jax.jit(f).lower(...)`), XLA compile (`.compile()`), the size of the lowered
StableHLO text (chars; ops = lines with ` = `) and of the compiled, optimized HLO
(`compiled.as_text()`: chars, instructions, `fusion` ops, `while` loops), XLA's cost analysis
(flops, bytes accessed) and temp buffer size, then one call's run time (ms per call of the whole
batch, a warm-up call first). `--jacobian dense|sparse` overrides the mass matrix's layout (MJX
reads MuJoCo's opt.jacobian; the dm_control models leave it to auto: sparse from nv 60 on, e.g.
dog's nv 79), to compare the two layouts' compile and run time.

The programs (`STAGES`): the batched `reset` (whose state every other program starts from), the
stages of one MJX physics substep (`mjx.step`) called one at a time through mujoco.mjx's public
functions, the whole substep, the position/velocity sync that ends a control step
(envs/physics.py), and the control step as bench_envs compiles it (`jit_env(vmap(env.step))`).
Each stage runs on the reset state's Data: mjx.forward left every field consistent with qpos and
qvel, so each stage's input is what the stage before it would have produced (the stages are not
chained: compile time and HLO size do not depend on the values).

Every program compiles in a worker process (this module with `--worker`, one at a time): a phase
(setup, lower, compile, run) that takes over --max_compile_s kills the worker; the row records
`timed_out`, the phase and its elapsed time, and the next program starts a new worker. Without a
reset state (`reset` not selected, or it timed out) the others compile from shapes alone, and do not
run. Writes OUT/<task>.json (machine_info, command, rows) and OUT/<task>.md, rewritten after
every row (a stopped run keeps its rows); `--save_hlo` also keeps each program's StableHLO and
optimized HLO, gzipped, in OUT/hlo/. The persistent compilation cache is off in the workers.
"""

import functools
import gzip
import json
import os
import pickle
import re
import shutil
import tempfile
import time

from absl import app, flags

from launch import worker

FLAGS = flags.FLAGS

# Program name -> what it holds. The substep's stages follow mjx.forward then mjx.step, in order;
# together they are one `mjx.step`.
STAGES = {
    "reset": "vmapped env.reset: episode initialisation + mjx.forward (the state every other "
    "program starts from)",
    "smooth": "smooth.kinematics, com_pos, camlight, tendon, crb, tendon_armature, factor_m "
    "(fwd_position before collision)",
    "collision": "collision_driver.collision: narrow phase of every candidate geom pair (no "
    "broad phase; `max_geom_pairs` culls by bounding sphere where a model sets it)",
    "make_constraint": "constraint.make_constraint: the efc rows (Jacobians, residuals, "
    "impedances) of equalities, friction loss, joint limits and contacts",
    "transmission_sensor_pos": "smooth.transmission + sensor.sensor_pos (the rest of "
    "fwd_position; position sensors)",
    "velocity": "forward.fwd_velocity (actuator/tendon velocity, com_vel, passive, rne, "
    "tendon_bias) + sensor.sensor_vel",
    "actuation_acceleration": "forward.fwd_actuation + fwd_acceleration (qacc_smooth)",
    "solver": "solver.solve (warm start, then the CG/Newton while loop with its line search) "
    "+ sensor.sensor_acc",
    "integrate": "the model's integrator (forward.euler, rungekutta4 or implicit)",
    "mjx_step": "one whole physics substep: mjx.step (all the stages above)",
    "sync": "envs.physics.sync_position_velocity, after the substeps: fwd_position (smooth, "
    "collision, make_constraint, transmission), sensor_pos, fwd_velocity, sensor_vel",
    "env_step": "the control step as bench_envs compiles it, jit_env(vmap(env.step)): "
    "n substeps (a fori_loop of mjx.step), sync, observation, reward",
}
# The split stages of one substep (the summary compares these).
SUBSTEP_STAGES = tuple(STAGES)[1:9]
# The mujoco.mjx functions each stage calls (checked to exist in the installed version).
STAGE_FUNCTIONS = {
    "smooth": "kinematics com_pos camlight tendon crb tendon_armature factor_m".split(),
    "collision": ["collision"],
    "make_constraint": ["make_constraint"],
    "transmission_sensor_pos": ["transmission", "sensor_pos"],
    "velocity": ["fwd_velocity", "sensor_vel"],
    "actuation_acceleration": ["fwd_actuation", "fwd_acceleration"],
    "solver": ["solve", "sensor_acc"],
    "mjx_step": ["step"],
}
_INTEGRATORS = {"EULER": "euler", "RK4": "rungekutta4", "IMPLICITFAST": "implicit"}


# ----- HLO text statistics -----
def stablehlo_stats(text: str) -> dict:
    """Size of a lowered program's StableHLO text: characters, and ops (lines with ` = `)."""
    return dict(
        stablehlo_chars=len(text), stablehlo_ops=sum(" = " in ln for ln in text.splitlines())
    )


_HLO_INSTRUCTION = re.compile(r"^\s+(ROOT )?%?[\w.\-]+ = ")
_HLO_COMPUTATION = re.compile(r"^(ENTRY )?%?[\w.\-]+ \(.*\) -> .*\{\s*$")


def hlo_stats(text: str) -> dict:
    """Size of a compiled program's optimized HLO text (`compiled.as_text()`): characters,
    computations, instructions, `fusion` instructions (each calls its own fused computation) and
    `while` loops."""
    lines = text.splitlines()
    instructions = [ln for ln in lines if _HLO_INSTRUCTION.match(ln)]
    return dict(
        hlo_chars=len(text),
        hlo_computations=sum(bool(_HLO_COMPUTATION.match(ln)) for ln in lines),
        hlo_instructions=len(instructions),
        hlo_fusions=sum(" fusion(" in ln for ln in instructions),
        hlo_whiles=sum(" while(" in ln for ln in instructions),
    )


# ----- the worker: builds one program, lowers, compiles and runs it -----
class _NotProfiled(Exception):
    """The stage is absent from this model or cannot be separated in this MJX version."""

    def __init__(self, status: str, note: str):
        super().__init__(note)
        self.status, self.note = status, note


def integrator_note(kind: str) -> str:
    """What the `integrate` stage holds besides the update of qpos and qvel."""
    if kind == "RK4":
        return (
            "integrator RK4: rungekutta4 runs mjx.forward at 3 more points (an unrolled "
            "scan), so this stage holds every stage above 3 times"
        )
    if kind == "EULER":
        return "integrator EULER: with dof damping, euler factors and solves M again"
    return f"integrator {kind}"


def _stage_fn(env, stage: str, data):
    """fn(d) -> d for one substep stage (or sync / mjx_step) on one env's mjx.Data."""
    from mujoco import mjx

    from envs import physics

    missing = [f for f in STAGE_FUNCTIONS.get(stage, ()) if not hasattr(mjx, f)]
    if missing:
        raise _NotProfiled("not_separable", f"mujoco.mjx has no {', '.join(missing)}")
    m = env.mjx_model
    if stage == "sync":
        return lambda d: physics.sync_position_velocity(m, d)
    if stage == "integrate":
        kind = mjx.IntegratorType(int(m.opt.integrator)).name
        if kind not in _INTEGRATORS or not hasattr(mjx, _INTEGRATORS[kind]):
            raise _NotProfiled("not_separable", f"integrator {kind}: no mjx function for it")
        fn = getattr(mjx, _INTEGRATORS[kind])
        return lambda d: fn(m, d)
    if stage == "solver" and data._impl.efc_J.size == 0:
        raise _NotProfiled(
            "absent",
            "no constraint rows (efc_J empty): mjx.forward skips the solver (qacc = qacc_smooth)",
        )
    names = STAGE_FUNCTIONS[stage]

    def fn(d):
        for name in names:
            d = getattr(mjx, name)(m, d)
        return d

    return fn


def _reset_state(env, n: int, state_dir: str, ctx: dict):
    """(shapes, state, real) of the batched reset state: the arrays the `reset` program saved,
    else its shapes (cached in `ctx` for the last batch size)."""
    import jax

    path = os.path.join(state_dir, f"reset_{n}.pkl")
    real = os.path.exists(path)
    if ctx.get("state_key") != (n, real):
        keys = jax.random.split(jax.random.PRNGKey(0), n)
        shapes = ctx.get("shapes") if ctx.get("state_key", (None,))[0] == n else None
        if shapes is None:
            shapes = jax.eval_shape(jax.vmap(env.reset), keys)
        state = shapes
        if real:
            with open(path, "rb") as f:
                state = jax.tree.unflatten(jax.tree.structure(shapes), pickle.load(f))
        ctx.update(state_key=(n, real), shapes=shapes, state=state)
    return ctx["shapes"], ctx["state"], real


def _program(env, n: int, stage: str, state_dir: str, ctx: dict):
    """(fn, args, real, note): the batched program and its arguments (arrays when the reset state
    is on disk, else shapes only)."""
    import jax
    from mujoco import mjx

    if stage == "reset":
        return jax.vmap(env.reset), (jax.random.split(jax.random.PRNGKey(0), n),), True, ""
    shapes, state, real = _reset_state(env, n, state_dir, ctx)
    note = (
        ""
        if real
        else "no reset state (its program was not run or did not finish): compiled from shapes, "
        "not run"
    )
    if stage == "env_step":
        action = jax.random.uniform(
            jax.random.PRNGKey(1), (n, env.action_size), minval=-1, maxval=1
        )
        return jax.vmap(env.step), (state, action), real, note
    data = state.pipeline_state
    # one env's shapes, for static checks
    one = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), shapes.pipeline_state)
    extra = ""
    if stage == "collision" and one._impl.ncon == 0:
        extra = "no candidate contacts (ncon 0): a no-op"
    if stage == "integrate":
        extra = integrator_note(mjx.IntegratorType(int(env.mjx_model.opt.integrator)).name)
    note = "; ".join(filter(None, [note, extra]))
    return jax.vmap(_stage_fn(env, stage, one)), (data,), real, note


def _time_calls(fn, args, seconds: float, limit_s: float) -> dict:
    import jax

    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))  # warm-up
    first = time.perf_counter() - t0
    if first > min(limit_s, 10 * seconds):  # too slow to repeat: the warm-up call is the figure
        return dict(run_ms=first * 1e3, run_calls=1), out
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or calls < 2:
        out = fn(*args)
        calls += 1
    jax.block_until_ready(out)
    return dict(run_ms=(time.perf_counter() - t0) / calls * 1e3, run_calls=calls), out


def _run_job(job: dict, ctx: dict) -> dict:
    import jax

    import envs
    from envs.jax_setup import jit_env, without_fusion_emitters

    emitters = {"auto": None, "on": True, "off": False}[job["fusion_emitters"]]
    worker.send("phase", phase="setup")
    if "env" not in ctx:
        jacobian = job.get("jacobian", "model")
        ctx["env"] = envs.load(
            job["task"], **({} if jacobian == "model" else {"jacobian": jacobian})
        )
    env, n, stage = ctx["env"], job["batch"], job["stage"]
    from mujoco import mjx

    row = dict(
        no_fusion_emitters=without_fusion_emitters(n, env, emitters),
        substeps=env.n_substeps,
        mass_matrix="sparse" if mjx.is_sparse(env.mjx_model) else "dense",
    )
    try:
        fn, args, real, note = _program(env, n, stage, job["state_dir"], ctx)
    except _NotProfiled as e:
        return dict(row, status=e.status, note=e.note)
    row["note"] = note
    worker.send("phase", phase="lower", data=row)
    t0 = time.perf_counter()
    lowered = jit_env(fn, n, env, emitters=emitters).lower(*args)
    row["lower_s"] = time.perf_counter() - t0
    text = lowered.as_text()
    row.update(stablehlo_stats(text))
    worker.send("phase", phase="compile", data=row)
    t0 = time.perf_counter()
    compiled = lowered.compile()
    row["compile_s"] = time.perf_counter() - t0
    hlo = compiled.as_text()
    row.update(hlo_stats(hlo))
    row.update(_costs(compiled))
    if job.get("hlo_dir"):
        os.makedirs(job["hlo_dir"], exist_ok=True)
        stem = os.path.join(job["hlo_dir"], f"{job['task']}_{n}_{stage}")
        for suffix, body in ((".stablehlo.txt.gz", text), (".hlo.txt.gz", hlo)):
            with gzip.open(stem + suffix, "wt") as f:
                f.write(body)
    del text, hlo, lowered
    if real:
        worker.send("phase", phase="run", data=row)
        timing, out = _time_calls(compiled, args, job["seconds"], job["max_compile_s"])
        row.update(timing)
        if stage == "reset":
            path = os.path.join(job["state_dir"], f"reset_{n}.pkl")
            with open(path + ".tmp", "wb") as f:
                pickle.dump(jax.device_get(jax.tree.leaves(out)), f)
            os.replace(path + ".tmp", path)
    return dict(row, status="ok")


def _costs(compiled) -> dict:
    out = {}
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        out.update(flops=cost.get("flops"), bytes_accessed=cost.get("bytes accessed"))
    except Exception:  # noqa: BLE001 (optional: not every backend reports it)
        pass
    try:
        out["temp_bytes"] = int(compiled.memory_analysis().temp_size_in_bytes)
    except Exception:  # noqa: BLE001
        pass
    return out


def worker_loop() -> None:
    """Jobs (JSON lines) on stdin, one row per job on stdout; exits at end of input."""
    import jax

    import envs  # noqa: F401  (jax_setup.configure: synchronous dispatch on CPU)

    jax.config.update("jax_enable_compilation_cache", False)
    worker.serve(functools.partial(_run_job, ctx={}))


# The parent's worker process: one at a time, a limit on each phase (`run(job, limit_s)`).
Worker = functools.partial(worker.Worker, "launch.compile_profile")


def selected_stages(names) -> list:
    if list(names) == ["all"]:
        return list(STAGES)
    unknown = sorted(set(names) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; valid: {list(STAGES)}")
    return [s for s in STAGES if s in names]  # in program order (reset first)


# ----- output -----
def _fmt(v, spec: str) -> str:
    return "" if v is None else format(v, spec)


def _cell(r: dict, key: str, phase: str, scale: float = 1.0) -> str:
    """A phase's time (`key`): a timed-out phase shows '> its elapsed time (timed out)'."""
    if r.get("status") == "timed_out" and r.get("phase") == phase:
        return f"> {r['phase_s'] * scale:.0f} (timed out)"
    return _fmt(r.get(key), ".2f")


def _row_md(r: dict) -> str:
    status = r.get("status", "")
    note = r.get("note") or ""
    if status == "timed_out":
        note = f"timed out in {r.get('phase')} after {r.get('phase_s', 0):.0f} s" + (
            f"; {note}" if note else ""
        )
    elif status not in ("ok", ""):
        note = f"{status}: {note}"
    mark = "†" if r.get("no_fusion_emitters") else ""
    cells = [
        f"{r['stage']}{mark}",
        _cell(r, "lower_s", "lower"),
        _cell(r, "compile_s", "compile"),
        _fmt(r.get("stablehlo_ops"), ","),
        _fmt(r.get("stablehlo_chars"), ","),
        _fmt(r.get("hlo_instructions"), ","),
        _fmt(r.get("hlo_chars"), ","),
        _fmt(r.get("hlo_fusions"), ","),
        _fmt(r.get("hlo_whiles"), ","),
        _cell(r, "run_ms", "run", scale=1e3),
        note.replace("|", "/"),
    ]
    return "| " + " | ".join(cells) + " |"


def summary(rows: list) -> str:
    """One line: the substep stage with the largest compile time, and with the largest HLO."""
    parts = [r for r in rows if r["stage"] in SUBSTEP_STAGES]
    if not parts:
        return "No substep stage measured."

    def compile_s(r):  # a timed-out compile took at least its elapsed time
        if r.get("status") == "timed_out" and r.get("phase") == "compile":
            return r["phase_s"]
        return r.get("compile_s") or 0.0

    total = sum(compile_s(r) for r in parts)
    slow = max(parts, key=compile_s)
    if compile_s(slow) == 0:
        return "No substep stage compiled."
    timed_out = " (timed out: at least)" if slow.get("status") == "timed_out" else ""
    text = (
        f"Of the substep's stages, **{slow['stage']}** compiles longest: "
        f"{compile_s(slow):.1f} s{timed_out}, {compile_s(slow) / max(total, 1e-9):.0%} of "
        f"the stages' {total:.1f} s"
    )
    sized = [r for r in parts if r.get("hlo_chars")]
    if sized:
        big = max(sized, key=lambda r: r["hlo_chars"])
        hlo_total = sum(r["hlo_chars"] for r in sized)
        text += (
            f"; **{big['stage']}** has the largest optimized HLO: {big['hlo_chars']:,} "
            f"chars ({big['hlo_chars'] / hlo_total:.0%} of the compiled stages'), "
            f"{big['hlo_fusions']:,} fusions, {big['hlo_whiles']} while loops"
        )
    whole = {r["stage"]: r for r in rows if r.get("compile_s") is not None}
    if "mjx_step" in whole or "env_step" in whole:
        text += "; compile of " + ", ".join(
            f"{k} {whole[k]['compile_s']:.1f} s"
            for k in ("mjx_step", "sync", "env_step")
            if k in whole
        )
    ran = [r for r in parts if r.get("run_ms") is not None]
    if ran:
        slowest = max(ran, key=lambda r: r["run_ms"])
        text += f"; **{slowest['stage']}** runs longest ({slowest['run_ms']:.2f} ms per call)"
    return text + "."


def _layouts(rows: list) -> str:
    """The mass-matrix layouts of the rows ('-': a row from before the layout was recorded)."""
    return ", ".join(sorted({r.get("mass_matrix", "-") for r in rows}))


def write_markdown(path: str, task: str, info: dict, rows: list, max_compile_s: float) -> None:
    from launch.common import header

    lines = [
        f"# Compile profile: {task}\n",
        header(info),
        "Each program is jitted over a vmapped batch as `jax_setup.jit_env` compiles env "
        "programs (†: without XLA:CPU's fusion emitters, the rule for one env) and compiled in a "
        f"worker process; a phase over {max_compile_s:g} s is stopped (timed out). "
        "lower s: trace + lower; compile s: XLA compile; StableHLO ops: lines with ` = ` in the "
        "lowered text; HLO: the compiled, optimized module (`compiled.as_text()`): instructions, "
        "chars, `fusion` instructions, `while` loops; run ms: one call of the batch after a "
        "warm-up call (it includes the per-call cost of passing the whole Data: compare a no-op). "
        f"Mass matrix (MJX's layout, `--jacobian`): {_layouts(rows)}. "
        "The stages run on the reset state's Data (each on its own, not chained); the summary "
        "under each table compares the substep's split stages (smooth to integrate).\n",
        "Programs:\n",
    ]
    lines += [f"- `{name}`: {desc}" for name, desc in STAGES.items()]
    commands = list(dict.fromkeys(r["command"] for r in rows if "command" in r))
    if commands != [info["command"]] and commands:
        lines.append("\nRows by command (`--append` keeps earlier rows):\n")
        for c in commands:
            sizes = sorted({r["batch"] for r in rows if r.get("command") == c})
            lines.append(f"- batch {', '.join(map(str, sizes))}: `{c}`")
    batches = sorted({r["batch"] for r in rows})
    for n in batches:
        sub = [r for r in rows if r["batch"] == n]
        lines += [
            f"\n## {n} env{'s' if n != 1 else ''}\n",
            "| program | lower s | compile s | StableHLO ops | StableHLO chars | HLO instr "
            "| HLO chars | fusions | whiles | run ms | notes |",
            "|---|" + "---:|" * 9 + "---|",
        ]
        lines += [_row_md(r) for r in sub]
        lines += ["", summary(sub)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write(out: str, task: str, info: dict, rows: list, meta: dict) -> None:
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, task)
    with open(stem + ".json.tmp", "w") as f:
        json.dump(dict(machine=info, command=info["command"], **meta, rows=rows), f, indent=1)
    os.replace(stem + ".json.tmp", stem + ".json")
    write_markdown(stem + ".md", task, info, rows, meta["max_compile_s"])


def _saved_rows(out: str, task: str) -> list:
    path = os.path.join(out, task + ".json")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f)["rows"]


def _ordered(rows: list) -> list:
    order = {s: i for i, s in enumerate(STAGES)}
    return sorted(rows, key=lambda r: (r["batch"], order.get(r["stage"], len(order))))


def main(_):
    if FLAGS.worker:
        return worker_loop()
    import envs  # noqa: F401  (jax_setup.configure)
    from launch.common import machine_info

    info = machine_info()
    sizes = [int(b) for b in FLAGS.batch_sizes]
    stages = selected_stages(FLAGS.stages)
    meta = dict(
        task=FLAGS.task,
        batch_sizes=sizes,
        stages=stages,
        max_compile_s=FLAGS.max_compile_s,
        fusion_emitters=FLAGS.fusion_emitters,
        jacobian=FLAGS.jacobian,
        descriptions=STAGES,
    )
    measuring = {(n, s) for n in sizes for s in stages}
    saved = _saved_rows(FLAGS.out, FLAGS.task) if FLAGS.append else []
    rows = [r for r in saved if (r["batch"], r["stage"]) not in measuring]
    state_dir = tempfile.mkdtemp(prefix="compile_profile_")
    child = None
    try:
        for n in sizes:
            for stage in stages:
                if child is None or not child.alive:
                    child = Worker()
                job = dict(
                    task=FLAGS.task,
                    batch=n,
                    stage=stage,
                    state_dir=state_dir,
                    fusion_emitters=FLAGS.fusion_emitters,
                    jacobian=FLAGS.jacobian,
                    seconds=FLAGS.seconds,
                    max_compile_s=FLAGS.max_compile_s,
                    hlo_dir=os.path.join(FLAGS.out, "hlo") if FLAGS.save_hlo else None,
                )
                row = dict(task=FLAGS.task, batch=n, stage=stage)
                row.update(child.run(job, FLAGS.max_compile_s))
                row["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                row["command"] = info["command"]  # rows kept by --append keep their own
                rows = _ordered(rows + [row])
                print(json.dumps(row), flush=True)
                write(FLAGS.out, FLAGS.task, info, rows, meta)
    finally:
        if child is not None:
            child.close()
        shutil.rmtree(state_dir, ignore_errors=True)


def define_flags() -> None:
    """Only when run as a script: tests import this module beside other launch scripts whose
    flags share names (out, seconds, batch_sizes)."""
    flags.DEFINE_string("task", "cartpole_balance", "task name (envs.names())")
    flags.DEFINE_list("batch_sizes", ["1", "64"], "env counts (the vmapped batch)")
    flags.DEFINE_list("stages", ["all"], "programs to profile (names in STAGES, or 'all')")
    flags.DEFINE_string("out", "results/compile_profile", "output folder")
    flags.DEFINE_float(
        "max_compile_s",
        900.0,
        "limit of each phase (setup, lower, compile, run) "
        "of one program; past it the worker is killed and the row marked timed_out",
    )
    flags.DEFINE_float("seconds", 1.0, "time spent timing calls of each compiled program")
    flags.DEFINE_enum(
        "fusion_emitters",
        "auto",
        ["auto", "on", "off"],
        "XLA:CPU fusion emitters: "
        "auto = jax_setup.jit_env's rule (off for one env on CPU), on / off at every "
        "batch size",
    )
    flags.DEFINE_enum(
        "jacobian",
        "model",
        ["model", "dense", "sparse", "auto"],
        "the mass matrix's layout MJX uses (MuJoCo's opt.jacobian): model = the dm_control "
        "model's (auto: sparse from nv 60 on), or the envs' `jacobian` override",
    )
    flags.DEFINE_bool(
        "append",
        False,
        "keep the rows of the output JSON whose (batch, stage) this "
        "run does not measure (e.g. batch 1 measured by an earlier run)",
    )
    flags.DEFINE_bool(
        "save_hlo",
        False,
        "also write each program's StableHLO and optimized HLO text (gzipped) to OUT/hlo/",
    )
    flags.DEFINE_bool("worker", False, "internal: run as the compile worker (jobs on stdin)")


if __name__ == "__main__":
    define_flags()
    app.run(main)
