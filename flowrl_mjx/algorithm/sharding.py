"""Several devices (`--num_devices D`): the training envs and the replay split across devices.

The program is the single-device one, compiled by XLA's SPMD partitioner (jit with shardings), so
D devices compute what one device would (up to the order of float reductions): each device steps
num_envs / D envs and holds replay_size / D ring slots; parameters, optimiser states, keys and
counters are replicated; the batch-mean losses over a batch drawn from the whole replay make XLA
all-reduce the gradients. Multi-host: `jax.distributed.initialize` (see `initialize`) before any
other jax call gives a global device list; the same layout then spans the hosts (not tested here:
one host only).
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from envs import jax_setup
from flowrl_mjx.algorithm import replay, train

AXIS = "devices"


def initialize(coordinator_address, num_processes, process_id) -> None:
    """Joins a multi-host job when a coordinator is given (one process per host)."""
    if coordinator_address:
        jax.distributed.initialize(coordinator_address, num_processes, process_id)


def make_mesh(num_devices: int) -> Mesh:
    """A 1-D mesh of the first num_devices devices (0: all of them); ValueError if too few."""
    devices = jax.devices()
    n = len(devices) if num_devices == 0 else num_devices
    if n > len(devices):
        raise ValueError(f"num_devices={n} but only {len(devices)} {jax.default_backend()} "
                         f"device(s) are visible")  # fmt: skip
    return Mesh(np.array(devices[:n]), (AXIS,))


def check_divisible(mesh: Mesh, num_envs: int, replay_size: int) -> None:
    d = mesh.size
    for name, value in (("num_envs", num_envs), ("replay_size", replay_size)):
        if value % d:
            raise ValueError(f"{name}={value} must be a multiple of the {d} devices")


def state_shardings(abstract: train.TrainState, mesh: Mesh, num_envs: int):
    """NamedShardings for a TrainState: env leaves split on their env axis, replay data on its
    capacity axis, everything else replicated."""
    split, whole = NamedSharding(mesh, PartitionSpec(AXIS)), NamedSharding(mesh, PartitionSpec())
    env = jax.tree.map(lambda x: split if x.ndim and x.shape[0] == num_envs else whole,
                       abstract.env)  # fmt: skip
    everything = jax.tree.map(lambda _: whole, abstract)
    return everything.replace(
        env=env, replay=everything.replay.replace(data=jax.tree.map(lambda _: split,
                                                                    abstract.replay.data))
    )  # fmt: skip


class Layout:
    """Where a TrainState lives on the mesh, and the epoch compiled for that layout."""

    def __init__(self, mesh: Mesh, abstract: train.TrainState, num_envs: int):
        self.mesh = mesh
        self.shardings = state_shardings(abstract, mesh, num_envs)
        self.replicated = NamedSharding(mesh, PartitionSpec())

    def put(self, ts: train.TrainState) -> train.TrainState:
        return jax.device_put(ts, self.shardings)

    def make_epoch(self, cfg, loop, venv):
        """The epoch as one jitted, donating call with the state kept in this layout. The replay
        insert is the scatter: partitioned locally, where window writes at a dynamic offset of
        the split capacity axis make XLA all-gather the whole buffer (seen in the compiled HLO)."""
        epoch_fn = train.make_epoch_fn(cfg, loop, venv, insert=replay.insert_scatter)
        return jax_setup.jit_task(epoch_fn, venv.env, in_shardings=(self.shardings,),
                       out_shardings=(self.shardings, self.replicated),
                       donate_argnums=0)  # fmt: skip
