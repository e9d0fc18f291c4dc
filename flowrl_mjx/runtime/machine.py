"""What a run or benchmark records about where it ran: machine, device, versions, date, command
(config.json's `machine`, the results/ JSON files)."""

import datetime
import importlib.metadata
import os
import platform
import sys

import jax


def machine_info() -> dict:
    dev = jax.devices()[0]
    versions = {}
    for pkg in ("jax", "jaxlib", "mujoco", "mujoco-mjx", "flax", "optax", "brax", "dm_control"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m " + _module_name()] + sys.argv[1:]),
        "platform": dev.platform,
        "device": getattr(dev, "device_kind", str(dev)),
        "cpu": platform.processor() or platform.machine(),
        "cpu_cores": os.cpu_count(),
        "versions": versions,
    }


def _module_name() -> str:
    main = sys.modules["__main__"]
    spec = getattr(main, "__spec__", None)
    return spec.name if spec else os.path.basename(sys.argv[0])
