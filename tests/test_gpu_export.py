"""GPU readiness without a GPU: the fused training epoch exports for CUDA on a CPU-only machine.

jax.export lowers a jitted function for a platform that is not present, so this checks, before
anyone rents a GPU, that the program training runs (mjx_backend.programs: one jitted, donating
epoch; vmapped over seeds for --num_seeds) lowers for CUDA, keeps every step on the device (no host
callback or transfer anywhere in it), is still one loop (the lax.scan over iterations), and
donates its whole TrainState. (With jax 0.8.2 and mujoco-mjx 3.17 the only custom call in it is
cusolver_potrf_ffi, a cuSOLVER Cholesky on the device: MJX's mass-matrix factorisation and
Newton solver.)
"""

import functools
import re

import jax
import pytest

from flowrl_mjx.algorithm import seeds, train
from flowrl_mjx.runtime import mjx_backend
from tests.tiny import CFG, LOOP, env

# Python callbacks (io_callback, pure_callback, jax.debug) lower to custom calls with these names
# (legacy and FFI forms); any other custom call naming a callback is treated the same way.
HOST_CALLBACKS = ("xla_python_cpu_callback", "xla_python_gpu_callback",
                  "xla_ffi_python_cpu_callback", "xla_ffi_python_gpu_callback")  # fmt: skip
# Ops that move data between device and host.
HOST_TRANSFERS = ("stablehlo.send", "stablehlo.recv", "stablehlo.outfeed", "stablehlo.infeed")


@functools.cache
def _single_state() -> train.TrainState:
    venv = mjx_backend.programs(CFG, LOOP, env())[0]
    return jax.eval_shape(lambda k: train.init(k, CFG, LOOP, venv), jax.random.PRNGKey(0))


def _abstract_state(num_seeds: int) -> train.TrainState:
    """The epoch's argument as shapes only (nothing is computed or compiled); the shared
    counters stay unbatched across seeds (seeds.axes)."""
    ts = _single_state()
    if num_seeds == 1:
        return ts
    batched = lambda a, x: x if a is None else jax.ShapeDtypeStruct((num_seeds, *x.shape), x.dtype)
    return jax.tree.map(batched, seeds.axes(ts), ts, is_leaf=lambda x: x is None)


def _custom_call_targets(text: str) -> set:
    pretty = re.findall(r"stablehlo\.custom_call @([\w.$-]+)", text)
    generic = re.findall(r'call_target_name = "([^"]+)"', text)
    return set(pretty) | set(generic)


def _main_args(text: str) -> list:
    """The argument declarations of the exported module's entry function."""
    main = next(line for line in text.splitlines() if "func.func public @main(" in line)
    signature = main.split("@main(", 1)[1].split(") -> ", 1)[0]
    return re.split(r", (?=%arg\d+:)", signature)


# The 2-seed export adds ~25 s to the default suite; it runs with -m slow.
@pytest.mark.parametrize("num_seeds", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_epoch_exports_for_cuda_without_host_callbacks(num_seeds):
    epoch = mjx_backend.programs(CFG, LOOP, env(), num_seeds)[1]
    ts = _abstract_state(num_seeds)
    exported = jax.export.export(epoch, platforms=["cuda"])(ts)
    assert exported.platforms == ("cuda",)
    text = exported.mlir_module()

    targets = _custom_call_targets(text)
    assert not targets & set(HOST_CALLBACKS), targets
    assert not [t for t in targets if "callback" in t.lower() or "host" in t.lower()], targets
    for op in HOST_TRANSFERS:
        assert op not in text, f"{op} inside the epoch"

    assert "stablehlo.while" in text  # the scan over iterations stays a device loop
    args = _main_args(text)
    assert len(args) == len(jax.tree.leaves(ts))
    donated = [a for a in args if "tf.aliasing_output" in a or "jax.buffer_donor" in a]
    assert len(donated) == len(args), f"{len(args) - len(donated)} state leaves not donated"
