"""absl flags parsing shared by the command lines (the training CLI `python -m flowrl_mjx.launch`,
`python -m flowrl_mjx.evaluate`, `python -m flowrl_mjx.plot`, launch/compare_dmc.py,
launch/peer_brax_sac.py): usage errors as one line.

absl on its own prints a usage error as two lines and exits 1, and exits 1 after printing
--help/--helpfull, which asked for nothing wrong. Here a usage error (an unknown flag, a
malformed or out-of-choice value, a missing required flag or argument) is one stderr line
starting 'error:' with exit code 2 (a shell's and argparse's usage-error code), and help exits 0.

The training CLI (flowrl_mjx.runtime.cli) keeps absl's global FLAGS, parsed under absl.app.run.
Every other entry point defines its flags on a FlagValues of its own, made by `flag_values`, so
several of them can be imported into one process without duplicate-flag errors (many share
--seed, --out, --run_dir), and its `main(argv)` can parse again with other argv: `parse_argv`
resets every flag to its default first.
"""

import sys

from absl import flags


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


def usage_exit(message) -> None:
    """Bad input's one stderr line and exit code 2 (a shell's and argparse's usage-error code)."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr, flush=True)
    sys.exit(2)


class _HelpFlag(flags.BooleanFlag):
    """--help / --helpfull of an entry point's own FlagValues: prints its help, exits 0."""

    def __init__(self, name, short_name, flag_values, doc):
        super().__init__(name, False, "show this help and exit", short_name=short_name)
        self._flag_values, self._doc = flag_values, doc

    def parse(self, argument):
        super().parse(argument)
        if self.value:  # not --nohelp
            print(help_text(self._flag_values, self._doc), flush=True)
            sys.exit(0)


HELP_FLAGS = ("help", "helpfull")


def flag_values(doc: str) -> flags.FlagValues:
    """A new FlagValues for one entry point's flags (DEFINE_*(..., flag_values=it)), holding
    --help (-h) and --helpfull: both print `doc` (the module docstring: its usage line and
    description) and every flag with its help and default, and exit 0."""
    fv = flags.FlagValues()
    for name, short in zip(HELP_FLAGS, ("h", None), strict=True):
        flags.DEFINE_flag(_HelpFlag(name, short, fv, doc), flag_values=fv)
    return fv


def help_text(fv: flags.FlagValues, doc: str) -> str:
    """`doc`, then the flags of `fv` as absl describes them (without its per-module titles), then
    one line for the help flags."""
    lines = []
    for module in fv.flags_by_module_dict():
        if module != __name__:  # the help flags, defined here: one line below
            lines += [line for line in fv.module_help(module).splitlines() if line.startswith(" ")]
    lines.append("  -h,--help,--helpfull: show this help and exit")
    return f"{doc.strip()}\n\nflags:\n" + "\n".join(lines)


def values(fv: flags.FlagValues) -> dict:
    """{name: value} of a parsed FlagValues' flags, its help flags left out."""
    named = {name: fv[name] for name in fv}  # short names (-h) too: left out below
    return {k: f.value for k, f in named.items() if k == f.name and k not in HELP_FLAGS}


def parse_flags(argv, fv=None, positional=None) -> list:
    """Parses argv (absl's: argv[0] is the program) into `fv` (default: absl's global FLAGS),
    every flag reset to its default first; returns argv[0] and the positional arguments, as
    absl.app.run's flags_parser does. Bad input: usage_exit. `positional`: None when the program
    takes no positional arguments, else the name (argparse's metavar) of the one or more it needs.
    """
    fv = flags.FLAGS if fv is None else fv
    for name in list(fv):  # a fresh parse: no value of an earlier (or failed) one is kept
        fv[name].unparse()
    try:
        rest = fv(list(argv))
    except (flags.Error, ValueError) as e:  # ValueError: a value given to --noname
        usage_exit(e)
    except SystemExit:  # only help flags exit while parsing, after printing the help
        sys.exit(0)
    if positional is None and len(rest) > 1:
        usage_exit(f"unexpected argument(s) {' '.join(rest[1:])}; settings are flags: --name value")
    if positional is not None and len(rest) < 2:
        usage_exit(f"the following arguments are required: {positional}")
    return rest


def parse_argv(fv: flags.FlagValues, argv=None, positional=None) -> list:
    """parse_flags for an entry point's `main(argv=None)`: argv without the program name (None:
    the command line's, sys.argv[1:]); returns the positional arguments."""
    args = sys.argv[1:] if argv is None else list(argv)
    return parse_flags([sys.argv[0] or "python", *args], fv, positional)[1:]
