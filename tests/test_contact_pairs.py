"""The dog's contact pair lists (data/contact_pairs/dog.json, dog_neighbours.json) and the patch
that applies them."""

import functools
import json

import mujoco
import numpy as np
import pytest
from mujoco.mjx._src import collision_driver

from envs import dog, model_io
from launch import contact_pairs


@functools.cache
def _models(cls=dog.DogRun):
    """(model without the pair patch, model with it), both otherwise as the task builds it."""
    patches = cls.patches
    without = tuple(p for p in patches if p is not dog.SELF_CONTACT_PAIRS)
    xml = cls.model_xml()
    return model_io.build_model(*xml, without), model_io.build_model(*xml, patches)


def _candidates(m) -> set:
    """MJX's candidate pairs, as sorted geom name pairs."""
    name = lambda g: mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, int(g))
    return {tuple(sorted((name(a), name(b)))) for a, b, _ in collision_driver.geom_pairs(m)}


def _is_self(m, pair) -> bool:
    on_dog = dog.dog_geoms(m)
    return all(on_dog[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, g)] for g in pair)


def test_data_file_loads():
    with open(dog.SELF_PAIRS_FILE) as f:
        data = json.load(f)
    for key in ("command", "date", "list", "heldout", "pairs"):
        assert key in data
    assert data["list"]["seeds"] and data["heldout"]["seeds"]
    pairs = dog.self_contact_pairs()
    assert pairs and list(pairs) == sorted(pairs) and len(set(pairs)) == len(pairs)
    assert all(a < b for a, b in pairs)
    m, _ = _models()
    assert all(_is_self(m, p) for p in pairs)
    touched = set(dog.self_contact_pairs((dog.SELF_PAIRS_FILE,)))
    neighbours = set(dog.self_contact_pairs((dog.NEIGHBOUR_PAIRS_FILE,)))
    assert touched and neighbours and not touched & neighbours
    assert touched | neighbours == set(pairs)


def test_neighbour_file_is_what_the_script_derives_from_the_list():
    """dog_neighbours.json is the list's body neighbours among MuJoCo's candidates, no more: an
    edited list or a changed rule shows here until `--neighbours_only` rewrites the file."""
    m, _ = _models()
    listed = contact_pairs.listed_mask(dog.SELF_PAIRS_FILE, m)
    derived = contact_pairs.neighbour_records(listed, m, contact_pairs.self_mask(m))
    with open(dog.NEIGHBOUR_PAIRS_FILE) as f:
        assert json.load(f)["pairs"] == derived


@pytest.mark.parametrize("cls", [dog.DogRun, dog.DogFetch])
def test_patch_keeps_listed_self_pairs_and_every_other_pair(cls):
    before, after = (_candidates(m) for m in _models(cls))
    m, _ = _models(cls)
    listed = set(dog.self_contact_pairs())
    assert listed <= before  # the list names only pairs MuJoCo's filters let collide
    assert after == listed | {p for p in before if not _is_self(m, p)}
    assert any("floor" in p for p in after)


def _contacts(m, d) -> list:
    """Sorted (geom ids, dim, friction, solref, solimp, includemargin, dist) per contact."""
    c, n = d.contact, d.ncon
    rows = zip(np.sort(c.geom[:n], axis=1).tolist(), c.dim[:n].tolist(), c.friction[:n].tolist(),
               c.solref[:n].tolist(), c.solimp[:n].tolist(), c.includemargin[:n].tolist(),
               np.round(c.dist[:n], 9).tolist(), strict=True)  # fmt: skip
    return sorted(map(repr, rows))


def test_listed_pairs_collide_with_dynamic_contact_parameters():
    """In states along a native bang-bang rollout, the patched model's contacts (explicit pairs
    included) are the unpatched model's, parameters and all, less the pruned self pairs."""
    m0, m1 = _models()
    d0, d1 = mujoco.MjData(m0), mujoco.MjData(m1)
    on_dog = dog.dog_geoms(m0)
    name = lambda g: mujoco.mj_id2name(m0, mujoco.mjtObj.mjOBJ_GEOM, int(g))
    listed = set(dog.self_contact_pairs())
    pruned = lambda g1, g2: (
        on_dog[g1] and on_dog[g2] and tuple(sorted((name(g1), name(g2)))) not in listed
    )
    actions = contact_pairs.pattern_actions(
        "bang_bang", np.random.default_rng(0), m0.nu, 300, 0.015
    )
    self_contacts = 0
    for a in actions:
        d0.ctrl[:] = a
        mujoco.mj_step(m0, d0, 3)
        d1.qpos[:] = d0.qpos
        for m, d in ((m0, d0), (m1, d1)):
            mujoco.mj_kinematics(m, d)
            mujoco.mj_collision(m, d)
        geom = d0.contact.geom[: d0.ncon]
        if any(pruned(*g) for g in geom):
            continue  # a pruned pair touches: the lists differ by design
        assert _contacts(m1, d1) == _contacts(m0, d0)
        self_contacts += int(sum(on_dog[g1] and on_dog[g2] for g1, g2 in geom))
    assert self_contacts > 50  # self contacts were compared, not only floor contacts


@pytest.mark.parametrize("pattern", sorted(contact_pairs.PATTERNS))
def test_pattern_actions_in_bounds(pattern):
    a = contact_pairs.pattern_actions(pattern, np.random.default_rng(0), 38, 500, 0.015)
    assert a.shape == (500, 38) and np.all(np.abs(a) <= 1)


def test_parse_seeds():
    assert contact_pairs.parse_seeds("0-3,9") == [0, 1, 2, 3, 9]


def test_misses_counts_only_pruned_self_pairs():
    is_self = np.array([False, True, True, True])  # code 0: a floor pair
    keep = np.array([False, True, False, False])
    rows = (np.zeros(5, np.int8), np.array([0, 1, 2, 3, 7]), np.array([0, 1, 2, 2, 3]),
            np.array([-1.0, -1.0, -1.0, -1.0, 0.5]))  # fmt: skip
    out = contact_pairs.misses(rows, keep, is_self, 3, 0.0)
    assert out == {"control_steps": 2, "pairs": {(0, 2): 2}}  # substeps 2 and 3: steps 0 and 1


def test_cull_figures_rank_touching_pairs():
    """Three free spheres (r 0.1) at x = 0, 0.15, 1: only the first two touch."""
    bodies = "".join(
        f'<body pos="{x} 0 1"><freejoint/><geom type="sphere" size="0.1"/></body>'
        for x in (0, 0.15, 1)
    )
    m = mujoco.MjModel.from_xml_string(f"<mujoco><worldbody>{bodies}</worldbody></mujoco>")
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    mujoco.mj_collision(m, d)
    groups = contact_pairs.cull_groups(m)
    assert list(groups) == ["sphere-sphere condim 3"]
    out = {}
    contact_pairs.cull_figures(m, d, groups, out)
    assert out == {"sphere-sphere condim 3": [1, 1, 1]}  # overlapping, worst rank, touching


def test_neighbour_pairs_add_the_next_segment_and_stay_on_the_dog():
    m = _models()[0]
    gid = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n)
    code = lambda a, b: contact_pairs.pair_code(gid(a), gid(b), m.ngeom)
    is_self = contact_pairs.self_mask(m)
    keep = np.zeros(m.ngeom * m.ngeom, bool)
    keep[code("Ca_19_collision", "upper_leg_R0_collision")] = True
    out = contact_pairs.neighbour_pairs(keep, m, is_self)
    assert out[code("Ca_19_collision", "upper_leg_R0_collision")]
    assert out[code("Ca_20_collision", "upper_leg_R0_collision")]  # Ca_19's child segment
    assert out[code("Ca_18_collision", "upper_leg_R0_collision")]  # its parent
    assert not out[code("Ca_5_collision", "upper_leg_R0_collision")]  # far along the tail
    assert not (out & ~is_self).any()
    sources = contact_pairs.neighbour_sources(keep, m, is_self)
    assert set(sources.values()) == {code("Ca_19_collision", "upper_leg_R0_collision")}
    assert not keep[list(sources)].any()


def test_policy_pattern_steps_closed_loop_in_the_policy_task():
    seen, substeps = [], []

    def act(obs):
        seen.append(obs["joint_angles"].copy())
        return np.zeros(38)

    done, n_sub = contact_pairs.run_episode(
        0, "policy", 4, lambda qpos, i: substeps.append(i), ("stand", act)
    )
    assert (done, n_sub) == (4, 3)
    assert substeps == list(range(12))
    assert len(seen) == 4 and not np.array_equal(seen[0], seen[-1])  # it saw each new state
