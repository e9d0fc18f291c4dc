"""Help text of the CLI's setting flags: each dataclass field's doc comment and preset values.

The comments above (or beside) a field in flowrl_mjx/algorithm/config.py and train.py are where a
setting is explained, so `--helpfull` reads them from the source instead of keeping a second copy
that would drift. Each help ends with the value every preset (flowrl_mjx.algorithm.presets) gives
the field at that preset's own env count, e.g. "Transitions per gradient update. (paper: 256, cpu:
128, ...)".
"""

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize

# Tool directives, not documentation.
_PRAGMAS = ("fmt:", "noqa", "type:", "pylint:")


def field_docs(cls) -> dict:
    """{field name: doc} of a dataclass: the comment lines right above each field, then a comment
    on the field's own line(s), joined into one line. {} when the source cannot be read (the
    flags then fall back to the field's name)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments = _comments(source)
    lines = source.splitlines()
    docs = {}
    for node in ast.parse(source).body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above, n = [], node.lineno - 1
        while n in comments and lines[n - 1].lstrip().startswith("#"):  # a full-line comment
            above.insert(0, comments[n])
            n -= 1
        beside = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
        docs[node.target.id] = " ".join(c for c in above + beside if c)
    return docs


def _comments(source: str) -> dict:
    """{line number (1-based): comment text without '#'}, read by the tokenizer so a '#' inside a
    string is not taken for a comment; directives such as '# fmt: skip' are left out."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            text = tok.string.lstrip("#").strip()
            out[tok.start[0]] = "" if text.startswith(_PRAGMAS) else text
    return out


def preset_values() -> dict:
    """{preset: {field: value}} of every Config and LoopConfig field, at the preset's num_envs."""
    from flowrl_mjx.algorithm import presets

    values = {}
    for name in presets.PRESETS:
        cfg, loop = presets.build(name)
        values[name] = {**dataclasses.asdict(cfg), **dataclasses.asdict(loop)}
    return values


def show(value) -> str:
    """A value as it is typed on the command line (lists comma-separated)."""
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def field_help(name: str, doc: str, by_preset: dict) -> str:
    """A field flag's help: its doc (or its name) and its value in each preset."""
    shown = ", ".join(f"{preset}: {show(v)}" for preset, v in by_preset.items())
    return f"{doc or name} ({shown})"


def helps(classes) -> dict:
    """{field name: help} for every field of the given dataclasses."""
    values = preset_values()
    out = {}
    for cls in classes:
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            by_preset = {preset: v[f.name] for preset, v in values.items()}
            out[f.name] = field_help(f.name, docs.get(f.name, ""), by_preset)
    return out
