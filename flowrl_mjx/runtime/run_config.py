"""`RunConfig`: what a run is, beside the agent's Config and the loop's LoopConfig, as one typed
value: the task, its seeds, where it runs (backend, devices), its budget and its cadence.

The CLI and the Python API build one (api.resolve / api.resumed), the runner and both backends
read its fields, and config.json stores it (`to_json`; `from_json` reads it back, runs written
before this type existed included). Nothing else carries run settings.
"""

import dataclasses
import json
import os
from typing import Optional

from flowrl_mjx.algorithm.config import Config
from flowrl_mjx.algorithm.train import LoopConfig


@dataclasses.dataclass(frozen=True)
class Wandb:
    """Weights & Biases logging of a run (--wandb_project, --wandb_entity, --wandb_group)."""

    project: str
    entity: Optional[str] = None
    group: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class RunConfig:
    task: str
    config: Config
    loop: LoopConfig
    seed: int = 0  # the first seed; a multi-seed run's members are seed .. seed + num_seeds - 1
    preset: str = ""  # the preset the numbers came from (the recipe line names it)
    backend: str = "mjx"  # mjx: envs inside the jitted program; dm_control: envs on the host
    num_seeds: int = 1  # seeds vmapped in one program (mjx only)
    num_devices: int = 1  # devices the envs and replay are split across (mjx only)
    total_env_steps: int = 1_000_000  # the budget: env steps over all envs of one seed
    eval_every: int = 1  # epochs between evaluations (and the last epoch)
    checkpoint_every: int = 10  # epochs between checkpoints (and the last, and a stop)
    wandb: Optional[Wandb] = None
    obs_size: int = 0  # the task's sizes, filled in when its env is loaded (api.setup)
    action_size: int = 0

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def member(self, i: int, wandb: Optional[Wandb]) -> "RunConfig":
        """Seed i of a multi-seed run as the single-seed run it is (its own run dir)."""
        return self.replace(seed=self.seed + i, num_seeds=1, wandb=wandb)

    def to_json(self) -> dict:
        """config.json's payload (the layout runs have always stored, plus the cadence)."""
        out = dataclasses.asdict(self)
        out["wandb"] = None if self.wandb is None else dataclasses.asdict(self.wandb)
        return out

    @classmethod
    def from_json(cls, stored: dict) -> "RunConfig":
        """A stored config.json's run. Runs from before a field existed get its old meaning
        (backend mjx, one seed, one device, no W&B); unknown keys (machine, host_workers) are
        the record's, not the run's. Raises ValueError with one line when it cannot be read."""
        try:
            cfg = Config(**{k: _tuple(v) for k, v in stored["config"].items()})
            loop = LoopConfig(**stored["loop"])
            names = {f.name for f in dataclasses.fields(cls)} - {"config", "loop", "wandb"}
            plain = {k: v for k, v in stored.items() if k in names and v is not None}
            wandb = stored.get("wandb")
            return cls(config=cfg, loop=loop, wandb=Wandb(**wandb) if wandb else None, **plain)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"cannot read the run's settings ({type(e).__name__}: {e})") from None


def load(path) -> RunConfig:
    """The RunConfig stored in `path`/config.json; ValueError (one line) if there is none."""
    try:
        with open(os.path.join(path, "config.json")) as f:
            stored = json.load(f)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {path}/config.json ({e})") from None
    try:
        return RunConfig.from_json(stored)
    except ValueError as e:
        raise ValueError(f"{path}/config.json: {e}") from None


def _tuple(v):
    return tuple(v) if isinstance(v, list) else v
