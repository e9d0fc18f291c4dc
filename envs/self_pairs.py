"""An agent's self-contact pairs as a model patch: of the pairs with both geoms on the agent, only
listed ones collide; every pair with another geom (floor, walls, props, terrain) stays.

MJX has no broad phase: it runs narrow phase on every candidate geom pair at every step and gives
each candidate its contact slots in a fixed-size constraint system, whether it touches or not.
Most pairs of an agent's own geoms never touch. launch/contact_pairs.py lists those that do (or
come close) in real dm_control rollouts; `self_pairs_patch` keeps only those:
- the listed pairs become explicit <pair>s whose contact parameters are the ones MuJoCo gives the
  same pair as a dynamic contact (an explicit pair does not derive them from its geoms);
- the agent's contype/conaffinity bits move so that agent-agent pairs fail the filter, while
  agent-other and other-other pairs pass exactly as before.
The agent is the subtree of one body (`root_body`), so the rule reads the same for a free-floating
body (dog, humanoid) and an arm mounted on the world (manipulator, stacker).
"""

import functools
import json
import os
import xml.etree.ElementTree as ET

import mujoco
import numpy as np

from envs import model_io

BITS_SHIFT = 16  # collision bits at and above this hold the moved bits (no_dynamic_self_pairs)
PAIRS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "contact_pairs"
)


def list_files(task: str) -> tuple[str, str]:
    """contact_pairs' two lists for `--task task`: the pairs that touched, their body neighbours."""
    return (
        os.path.join(PAIRS_DIR, f"{task}.json"),
        os.path.join(PAIRS_DIR, f"{task}_neighbours.json"),
    )


def agent_geoms(m: mujoco.MjModel, root_body: str) -> np.ndarray:
    """Bool per geom: on `root_body` or a body below it (the agent), not the world or a prop."""
    root = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, root_body)
    if root < 0:
        raise ValueError(f"the model has no body {root_body!r}")
    inside = np.zeros(m.nbody, bool)
    inside[root] = True
    for b in range(root + 1, m.nbody):  # MuJoCo numbers every body after its parent
        inside[b] = inside[m.body_parentid[b]]
    return inside[m.geom_bodyid]


def _read_pairs(path: str) -> list[tuple[str, str]]:
    try:
        with open(path) as f:
            pairs = json.load(f)["pairs"]
    except FileNotFoundError as e:
        raise RuntimeError(f"the contact pair list {path} is missing (it is committed data; "
                           "python -m launch.contact_pairs remakes it)") from e  # fmt: skip
    return [(p["geoms"][0], p["geoms"][1]) for p in pairs]


def listed_pairs(files: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(geom name, geom name) of every pair listed in `files` (contact_pairs' JSON), sorted."""
    return tuple(sorted(p for path in files for p in _read_pairs(path)))


def add_pairs(root: ET.Element, files: tuple[str, ...]) -> None:
    """Explicit <pair>s for the listed pairs; `set_pair_params` gives them their parameters on the
    compiled model, which sets every pair: a model with its own pairs would lose theirs."""
    if next(root.iter("pair"), None) is not None:
        raise ValueError("expected a model without explicit <pair>s")
    contact = root.find("contact")
    if contact is None:
        contact = ET.SubElement(root, "contact")
    for g1, g2 in listed_pairs(files):
        ET.SubElement(contact, "pair", geom1=g1, geom2=g2)


def dynamic_contact_params(m: mujoco.MjModel, g1: int, g2: int) -> dict:
    """The contact parameters MuJoCo (and MJX) give a dynamic contact of geoms g1 and g2.

    An explicit <pair> does not derive them from its geoms: unset attributes take the pair
    defaults (condim 3, friction 1, solref 0.02), so they are written from this.
    """
    if m.geom_priority[g1] != m.geom_priority[g2]:  # the higher priority geom's own values
        g = g1 if m.geom_priority[g1] > m.geom_priority[g2] else g2
        dim, friction = m.geom_condim[g], m.geom_friction[g]
        solref, solimp = m.geom_solref[g], m.geom_solimp[g]
    else:  # condim and friction: max; solref and solimp: mixed by solmix
        dim = max(m.geom_condim[g1], m.geom_condim[g2])
        friction = np.maximum(m.geom_friction[g1], m.geom_friction[g2])
        s1, s2, eps = m.geom_solmix[g1], m.geom_solmix[g2], mujoco.mjMINVAL
        if s1 < eps and s2 < eps:
            mix = 0.5
        else:
            mix = 0.0 if s1 < eps else 1.0 if s2 < eps else s1 / (s1 + s2)
        r1, r2 = m.geom_solref[g1], m.geom_solref[g2]
        standard = r1[0] > 0 and r2[0] > 0  # time constant and damping ratio: mixed
        solref = mix * r1 + (1 - mix) * r2 if standard else np.minimum(r1, r2)
        solimp = mix * m.geom_solimp[g1] + (1 - mix) * m.geom_solimp[g2]
    return {
        "dim": int(dim),
        "friction": friction[[0, 0, 1, 2, 2]],  # sliding x2, torsional, rolling x2
        "solref": solref,
        "solreffriction": np.zeros(mujoco.mjNREF),  # 0: dynamic contacts use solref
        "solimp": solimp,
        # Summed, not max'ed: MuJoCo 3.17's collision driver and MJX's add the geoms' margins
        # (gap likewise; MJX ignores it).
        "margin": m.geom_margin[g1] + m.geom_margin[g2],
        "gap": m.geom_gap[g1] + m.geom_gap[g2],
    }


def set_pair_params(m: mujoco.MjModel) -> None:
    """Every explicit pair gets its geoms' dynamic contact parameters."""
    for i in range(m.npair):
        for field, value in dynamic_contact_params(m, m.pair_geom1[i], m.pair_geom2[i]).items():
            getattr(m, f"pair_{field}")[i] = value


def no_dynamic_self_pairs(m: mujoco.MjModel, on_agent: np.ndarray) -> None:
    """Agent-agent pairs stop passing the contype/conaffinity filter; every other pair still does.

    Agent geom: contype t | a << 16, conaffinity 0; other geoms: conaffinity a | t << 16. Then an
    agent-agent pair has no common bit, an agent-other pair matches iff (t_agent & a_other) or
    (t_other & a_agent) did, and other-other pairs are unchanged (their low bits are as before).
    """
    con, aff = m.geom_contype.copy(), m.geom_conaffinity.copy()
    if max(con.max(), aff.max()) >= 1 << BITS_SHIFT:
        raise ValueError(f"expected collision bits below 1 << {BITS_SHIFT}")
    m.geom_contype[on_agent] = con[on_agent] | (aff[on_agent] << BITS_SHIFT)
    m.geom_conaffinity[on_agent] = 0
    m.geom_conaffinity[~on_agent] = aff[~on_agent] | (con[~on_agent] << BITS_SHIFT)


def only_listed_self_pairs(m: mujoco.MjModel, root_body: str) -> None:
    """The compiled-model half of the patch (the XML half is `add_pairs`)."""
    set_pair_params(m)
    no_dynamic_self_pairs(m, agent_geoms(m, root_body))


def self_pairs_patch(
    name: str, root_body: str, files: tuple[str, ...], reason: str
) -> model_io.Patch:
    """The patch keeping, of the pairs of `root_body`'s subtree, only those listed in `files`
    (read when a model is built, so importing a task needs no list)."""
    return model_io.Patch(
        name,
        reason,
        xml=functools.partial(add_pairs, files=tuple(files)),
        model=functools.partial(only_listed_self_pairs, root_body=root_body),
        changes_dynamics=True,
    )
