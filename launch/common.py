"""What every benchmark records beside its figures: machine, device, versions, date, command."""

import json
import os

from flowrl_mjx.runtime.machine import machine_info  # noqa: F401  (launch scripts import it from here)


def header(info: dict) -> str:
    return (f"Measured {info['date']} on {info['device']} ({info['platform']}, "
            f"{info['cpu_cores']} CPU cores), command `{info['command']}`.\n")  # fmt: skip


def write_json_md(base: str, doc: dict, markdown: str) -> None:
    """`base`.json (the figures, indented) and `base`.md (their table); makes the folder."""
    os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
    with open(base + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write(markdown)
