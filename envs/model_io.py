"""dm_control MJCF -> patched MjModel, and MJB export so training can run without dm_control.

Every MJX patch is a named `Patch` with the reason it exists; `docs/patches.md` is generated from
these records (`python -m launch.parity_report` writes it beside the parity table).
"""

import dataclasses
import functools
import importlib
import xml.etree.ElementTree as ET
from typing import Callable, Optional

import mujoco


@dataclasses.dataclass(frozen=True)
class Patch:
    """One change to a dm_control model so that MJX 3.17 accepts it (or runs it faster)."""

    name: str
    reason: str
    xml: Optional[Callable[[ET.Element], None]] = None  # edits the MJCF tree in place
    model: Optional[Callable[[mujoco.MjModel], None]] = None  # edits the compiled model
    changes_dynamics: bool = False  # if True the parity report measures its effect


def add_mjx_caps(root: ET.Element, max_geom_pairs=None, max_contact_points=None) -> None:
    """MJX's own contact limits, as the custom numerics it reads (unset: no limit). max_geom_pairs
    keeps the pairs per collision group nearest by bounding sphere; max_contact_points the
    deepest contacts per condim. Native MuJoCo ignores both."""
    custom = root.find("custom")
    if custom is None:
        custom = ET.SubElement(root, "custom")
    for name, value in (
        ("max_geom_pairs", max_geom_pairs),
        ("max_contact_points", max_contact_points),
    ):
        if value is not None:
            ET.SubElement(custom, "numeric", name=name, data=str(value))


def mjx_caps_patch(domain: str, reason: str, max_geom_pairs=None, max_contact_points=None) -> Patch:
    """`<domain>_mjx_contact_caps`: MJX's own contact limits (`add_mjx_caps`). They change what
    MJX collides, so the reason must say where they were measured to be exact."""
    return Patch(
        f"{domain}_mjx_contact_caps",
        reason,
        xml=functools.partial(
            add_mjx_caps, max_geom_pairs=max_geom_pairs, max_contact_points=max_contact_points
        ),
        changes_dynamics=True,
    )


def measured_contact_caps(domain: str, max_contact_points: int, seen: str) -> Patch:
    """max_contact_points from launch/contact_pairs.py's `--cull_check` (data/contact_pairs/
    <domain>_cull.json): `seen` says how many contacts were ever active at once there."""
    return mjx_caps_patch(
        domain,
        "MJX gives every candidate pair its contact slots in the constraint system, active or "
        f"not. Over every substep of 14k held-out dm_control control steps (seeds 1000-1001, 7 "
        f"action patterns; launch/contact_pairs.py --cull_check, data/contact_pairs/"
        f"{domain}_cull.json) {seen}; MJX's own limit keeps the {max_contact_points} deepest "
        "contacts per condim, so exact while no more are active (the reset's collision-free "
        "check needs only the deepest). Native MuJoCo ignores it.",
        max_contact_points=max_contact_points,
    )


def _drop_energy(m: mujoco.MjModel) -> None:
    m.opt.enableflags &= ~int(mujoco.mjtEnableBit.mjENBL_ENERGY)


DROP_ENERGY = Patch(
    "drop_energy_flag",
    "MJX 3.17 rejects the `energy` enable flag; no suite observation or reward reads data.energy.",
    model=_drop_energy,
)


def dm_control_xml(domain: str, *args, **kwargs) -> tuple[str, dict]:
    """(xml string, assets) of a suite domain, from the installed dm_control package."""
    try:
        module = importlib.import_module(f"dm_control.suite.{domain}")
    except ImportError as e:
        raise RuntimeError(
            f"building the {domain!r} model needs dm_control (pip install dm_control==1.0.50), "
            "or pass model_file=<exported .mjb>"
        ) from e
    return module.get_model_and_assets(*args, **kwargs)


def build_model(xml: str, assets: dict, patches=()) -> mujoco.MjModel:
    """Compiles the MJCF with every patch applied (to the XML tree, then to the model)."""
    xml_patches = [p.xml for p in patches if p.xml is not None]
    if xml_patches:
        root = ET.fromstring(xml)
        for apply in xml_patches:
            apply(root)
        xml = ET.tostring(root, encoding="unicode")
    model = mujoco.MjModel.from_xml_string(xml, assets)
    for patch in patches:
        if patch.model is not None:
            patch.model(model)
    return model


def load_mjb(path: str) -> mujoco.MjModel:
    """Loads a compiled model written by `save_mjb` (clear error when missing or corrupt)."""
    try:
        return mujoco.MjModel.from_binary_path(str(path))
    except Exception as e:  # mujoco raises ValueError with a long message
        raise ValueError(f"cannot load model file {path}: {str(e).splitlines()[0]}") from e


def save_mjb(model: mujoco.MjModel, path: str) -> None:
    mujoco.mj_saveModel(model, str(path), None)
