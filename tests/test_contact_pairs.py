"""The dog's contact pair lists (data/contact_pairs/dog.json, dog_neighbours.json) and the patch
that applies them; the same patch (envs/self_pairs.py) on another agent, the humanoid, with a list
written here; the pieces of launch/contact_pairs.py and of the modules it runs (pair_rollouts,
pair_checks, mjx_caps_check)."""

import functools
import json
from itertools import combinations

import mujoco
import numpy as np
import pytest
from mujoco.mjx._src import collision_driver

from envs import dmc, dog, humanoid, model_io, self_pairs
from launch import mjx_caps_check, pair_checks, pair_rollouts


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


def _is_self(m, pair, on_agent=None) -> bool:
    on_agent = dog.dog_geoms(m) if on_agent is None else on_agent
    return all(on_agent[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, g)] for g in pair)


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
    listed = pair_checks.listed_mask(dog.SELF_PAIRS_FILE, m)
    derived = pair_checks.neighbour_records(listed, m, pair_rollouts.self_mask(m))
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


def _contacts(m, d, drop=frozenset()) -> list:
    """Sorted (geom ids, dim, friction, solref, solimp, includemargin, dist) per contact, less the
    contacts of the (sorted) geom id pairs in `drop`."""
    c, n = d.contact, d.ncon
    rows = zip(np.sort(c.geom[:n], axis=1).tolist(), c.dim[:n].tolist(), c.friction[:n].tolist(),
               c.solref[:n].tolist(), c.solimp[:n].tolist(), c.includemargin[:n].tolist(),
               np.round(c.dist[:n], 9).tolist(), strict=True)  # fmt: skip
    return sorted(repr(r) for r in rows if tuple(r[0]) not in drop)


def _rollout(m, pattern: str, steps: int, n_sub: int):
    """The data of a native rollout of `m` under an action pattern (seed 0), collided after each
    control step (one MjData, updated in place)."""
    d = mujoco.MjData(m)
    for a in pair_rollouts.pattern_actions(pattern, np.random.default_rng(0), m.nu, steps, 0.015):
        d.ctrl[:] = a
        mujoco.mj_step(m, d, n_sub)
        mujoco.mj_kinematics(m, d)  # mj_step leaves the poses of the step's start
        mujoco.mj_collision(m, d)
        yield d


def _name_pair(m, g1, g2) -> tuple:
    name = lambda g: mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, int(g))
    return tuple(sorted((name(g1), name(g2))))


def _same_contacts_but_pruned(m0, m1, states, on_agent, listed) -> int:
    """Asserts that in each of `states` (collided data of m0) m1's contacts, explicit pairs
    included, are m0's, parameters and all, less those of the self pairs not in `listed`;
    returns how many contacts of listed self pairs were compared."""
    d1 = mujoco.MjData(m1)
    compared = 0
    for d0 in states:
        d1.qpos[:] = d0.qpos
        mujoco.mj_kinematics(m1, d1)
        mujoco.mj_collision(m1, d1)
        geom = np.sort(d0.contact.geom[: d0.ncon], axis=1)
        is_self = on_agent[geom].all(axis=1)
        kept = ~is_self | np.array([_name_pair(m0, *g) in listed for g in geom], bool)
        pruned = {tuple(g) for g in geom[~kept].tolist()}
        assert _contacts(m1, d1) == _contacts(m0, d0, pruned)
        compared += int((is_self & kept).sum())
    return compared


def test_listed_pairs_collide_with_dynamic_contact_parameters():
    """In states along a native bang-bang rollout, the patched model's contacts (explicit pairs
    included) are the unpatched model's, parameters and all, less the pruned self pairs."""
    m0, m1 = _models()
    states = _rollout(m0, "bang_bang", 300, 3)
    compared = _same_contacts_but_pruned(
        m0, m1, states, dog.dog_geoms(m0), set(dog.self_contact_pairs())
    )
    assert compared > 50  # self contacts were compared, not only floor contacts


# ----- the same patch on the humanoid (envs/self_pairs.py), its list written here -----
HUMANOID, HUMANOID_SUBSTEPS = humanoid.HumanoidRun, 5  # 25 ms control step, 5 ms physics


def _humanoid_rollout(m):
    """From the default pose, bang-bang actions bring limbs together (uniform, held, sinusoid do
    too; one-bound actions do not)."""
    return _rollout(m, "bang_bang", 300, HUMANOID_SUBSTEPS)


def _write_list(path, pairs) -> str:
    """A pair list file as launch/contact_pairs.py writes it (the patch reads only `pairs`)."""
    path.write_text(json.dumps({"pairs": [{"geoms": list(p)} for p in pairs]}))
    return str(path)


@pytest.fixture(scope="module")
def humanoid_models(tmp_path_factory):
    """(unpatched, patched, listed pairs): the humanoid task's model, and that model with a
    self-pair patch listing two in three of the self pairs touched in a short native rollout and
    every other untouched candidate self pair (so it keeps and prunes pairs of both kinds)."""
    xml = HUMANOID.model_xml()
    m0 = model_io.build_model(*xml, HUMANOID.patches)
    on_agent = self_pairs.agent_geoms(m0, "torso")
    touched = {
        _name_pair(m0, *g)
        for d in _humanoid_rollout(m0)
        for g in d.contact.geom[: d.ncon]
        if on_agent[g].all()
    }
    self_candidates = {p for p in _candidates(m0) if _is_self(m0, p, on_agent)}
    listed = (touched - set(sorted(touched)[::3])) | set(sorted(self_candidates - touched)[::2])
    path = _write_list(tmp_path_factory.mktemp("pairs") / "humanoid.json", listed)
    patch = self_pairs.self_pairs_patch("humanoid_self_contact_pairs", "torso", (path,), "test")
    return m0, model_io.build_model(*xml, HUMANOID.patches + (patch,)), listed


def test_generic_patch_keeps_listed_self_pairs_and_every_other_pair(humanoid_models):
    m0, m1, listed = humanoid_models
    before, after = _candidates(m0), _candidates(m1)
    on_agent = self_pairs.agent_geoms(m0, "torso")
    self_before = {p for p in before if _is_self(m0, p, on_agent)}
    assert listed < self_before  # some pruned
    assert after == listed | {p for p in before if not _is_self(m0, p, on_agent)}
    assert any("floor" in p for p in after)


def test_generic_patch_collides_listed_pairs_with_dynamic_contact_parameters(humanoid_models):
    m0, m1, listed = humanoid_models
    on_agent = self_pairs.agent_geoms(m0, "torso")
    assert _same_contacts_but_pruned(m0, m1, _humanoid_rollout(m0), on_agent, listed) > 200


def test_dynamic_contact_params_mix_geoms_as_mujoco_does(tmp_path):
    """Four overlapping spheres on sibling bodies of one agent, whose contact parameters differ
    (priority, solmix, condim, friction, direct solref, margin, gap): every listed pair's contact
    is MuJoCo's dynamic one, and the unlisted pair does not collide."""
    spheres = [
        'priority="0" solmix="1" condim="3" friction="0.5 0.005 0.0001"',
        'priority="0" solmix="3" condim="6" friction="1 0.01 0.001" solref="0.05 0.5" '
        'margin="0.01"',
        'priority="1" condim="1" friction="0.3 0.003 0.0003" solimp="0.8 0.9 0.01 0.5 2"',
        'priority="0" solmix="0" condim="4" solref="-1000 -10" gap="0.005" margin="0.02"',
    ]
    bodies = "".join(
        f'<body name="b{i}" pos="{0.05 * i} 0 0"><joint type="hinge"/>'
        f'<geom name="s{i}" type="sphere" size="0.1" {attrs}/></body>'
        for i, attrs in enumerate(spheres)
    )
    xml = (
        '<mujoco><worldbody><geom name="floor" type="plane" size="1 1 0.1"/>'
        '<body name="agent" pos="0 0 0.05"><freejoint/>'
        f'<inertial pos="0 0 0" mass="1" diaginertia="0.01 0.01 0.01"/>{bodies}</body>'
        "</worldbody></mujoco>"
    )
    listed = set(combinations(["s0", "s1", "s2", "s3"], 2)) - {("s2", "s3")}
    patch = self_pairs.self_pairs_patch(
        "test_pairs", "agent", (_write_list(tmp_path / "pairs.json", listed),), "test"
    )
    m0, m1 = model_io.build_model(xml, {}), model_io.build_model(xml, {}, (patch,))
    d0 = mujoco.MjData(m0)
    mujoco.mj_forward(m0, d0)
    on_agent = self_pairs.agent_geoms(m0, "agent")
    assert m1.npair == len(listed) and on_agent.sum() == 4
    touching = {_name_pair(m0, *g) for g in d0.contact.geom[: d0.ncon]}
    assert ("s2", "s3") in touching and listed < touching  # every self pair touches
    assert _same_contacts_but_pruned(m0, m1, [d0], on_agent, listed) == len(listed)


@pytest.mark.parametrize("pattern", sorted(pair_rollouts.PATTERNS))
def test_pattern_actions_in_bounds(pattern):
    a = pair_rollouts.pattern_actions(pattern, np.random.default_rng(0), 38, 500, 0.015)
    assert a.shape == (500, 38) and np.all(np.abs(a) <= 1)


def test_parse_seeds():
    assert pair_rollouts.parse_seeds("0-3,9") == [0, 1, 2, 3, 9]


def test_misses_counts_only_pruned_self_pairs():
    is_self = np.array([False, True, True, True])  # code 0: a floor pair
    keep = np.array([False, True, False, False])
    rows = (np.zeros(5, np.int8), np.array([0, 1, 2, 3, 7]), np.array([0, 1, 2, 2, 3]),
            np.array([-1.0, -1.0, -1.0, -1.0, 0.5]))  # fmt: skip
    out = pair_checks.misses(rows, keep, is_self, 3, 0.0)
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
    groups = mjx_caps_check.cull_groups(m)
    assert list(groups) == ["sphere-sphere condim 3"]
    out = {}
    mjx_caps_check.cull_figures(m, d, groups, out)
    assert out == {"sphere-sphere condim 3": [1, 1, 1]}  # overlapping, worst rank, touching
    contacts = {"condim 3": 0, "condim 6": 2}
    mjx_caps_check.contact_figures(d, contacts)
    assert contacts == {"condim 3": 1, "condim 6": 2}  # maxima: one contact now, two seen before


def test_neighbour_pairs_add_the_next_segment_and_stay_on_the_dog():
    m = _models()[0]
    gid = lambda n: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n)
    code = lambda a, b: pair_rollouts.pair_code(gid(a), gid(b), m.ngeom)
    is_self = pair_rollouts.self_mask(m)
    keep = np.zeros(m.ngeom * m.ngeom, bool)
    keep[code("Ca_19_collision", "upper_leg_R0_collision")] = True
    out = pair_checks.neighbour_pairs(keep, m, is_self)
    assert out[code("Ca_19_collision", "upper_leg_R0_collision")]
    assert out[code("Ca_20_collision", "upper_leg_R0_collision")]  # Ca_19's child segment
    assert out[code("Ca_18_collision", "upper_leg_R0_collision")]  # its parent
    assert not out[code("Ca_5_collision", "upper_leg_R0_collision")]  # far along the tail
    assert not (out & ~is_self).any()
    sources = pair_checks.neighbour_sources(keep, m, is_self)
    assert set(sources.values()) == {code("Ca_19_collision", "upper_leg_R0_collision")}
    assert not keep[list(sources)].any()


def test_policy_pattern_steps_closed_loop_in_the_policy_task():
    seen, substeps = [], []

    def act(obs):
        seen.append(obs["joint_angles"].copy())
        return np.zeros(38)

    done, n_sub = pair_rollouts.run_episode(
        0, "policy", 4, lambda qpos, i: substeps.append(i), ("stand", act)
    )
    assert (done, n_sub) == (4, 3)
    assert substeps == list(range(12))
    assert len(seen) == 4 and not np.array_equal(seen[0], seen[-1])  # it saw each new state


def test_recording_models_collide_the_episodes_terrain():
    """quadruped_escape draws its terrain at each reset: the recording models get the episode's."""
    domain = pair_rollouts.DOMAINS["quadruped_escape"]
    models = pair_rollouts.recording_models(0.02, domain)
    assert list(models) == ["dm", "ours"]
    _, done, _ = pair_rollouts.recorded_episode(0, "zero", 1, models, domain=domain)
    env = dmc.load("quadruped", "escape", 0)
    env.reset()  # the same first terrain
    terrain = env.physics.model.hfield_data
    assert done == 1 and np.ptp(terrain) > 0
    for m in models.values():
        np.testing.assert_array_equal(m.hfield_data, terrain)
