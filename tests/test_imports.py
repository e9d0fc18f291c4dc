"""Imports run one way (WORKSPACE.md, docs/design.md s1), read from the source (no import runs).

- envs/ imports nothing of flowrl_mjx; flowrl_mjx imports nothing of launch/ or the parity harness;
- flowrl_mjx/algorithm/ imports no other wing; runtime/ loads dmc_backend/ only inside a function
  (when a run asks for that backend), never at module level, and never analysis/;
- no module of ours reads another module's private names (`module._name`).
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OURS = ("envs", "flowrl_mjx", "launch")


def _sources(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: pathlib.Path, top_level_only: bool = False) -> list:
    """(module imported, line) for every import statement (module level only if asked)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.module, node.lineno)]
            out += [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return out


def _violations(folder: str, banned: tuple, top_level_only: bool = False) -> list:
    return [f"{p.relative_to(ROOT)}:{line} imports {name}"
            for p in _sources(folder) for name, line in _imports(p, top_level_only)
            if name.startswith(banned)]  # fmt: skip


def test_envs_import_nothing_of_flowrl_mjx():
    assert _violations("envs", ("flowrl_mjx",)) == []


def test_flowrl_mjx_imports_no_launch_script_nor_the_parity_harness():
    assert _violations("flowrl_mjx", ("launch", "envs.parity")) == []


def test_the_algorithm_imports_no_other_wing():
    other = ("flowrl_mjx.runtime", "flowrl_mjx.dmc_backend", "flowrl_mjx.analysis")
    assert _violations("flowrl_mjx/algorithm", other) == []


def test_the_runtime_loads_the_dm_control_backend_only_on_demand():
    assert _violations("flowrl_mjx/runtime", ("flowrl_mjx.analysis",)) == []
    on_import = _violations("flowrl_mjx/runtime", ("flowrl_mjx.dmc_backend",), top_level_only=True)
    assert on_import == []


def _our_modules() -> set:
    names = set()
    for folder in OURS:
        for p in _sources(folder):
            names.add(p.stem if p.stem != "__init__" else p.parent.name)
    return names


def test_no_module_reads_another_modules_private_names():
    """`x._name` where x is one of our modules imported by name (self._name is the class's own;
    third-party internals such as mjx's Data._impl are not ours to rename)."""
    ours, found = _our_modules(), []
    for folder in OURS:
        for p in _sources(folder):
            tree = ast.parse(p.read_text())
            imported = {
                (a.asname or a.name).split(".")[-1]
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module
                and node.module.startswith(OURS)
                for a in node.names
            } | {
                (a.asname or a.name).split(".")[-1]
                for node in ast.walk(tree)
                if isinstance(node, ast.Import)
                for a in node.names
                if a.name.startswith(OURS)
            }  # fmt: skip
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr.startswith("_")
                    and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name)
                    and node.value.id in imported & ours
                ):
                    found.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}")
    assert found == []
