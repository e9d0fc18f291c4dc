"""What every benchmark records beside its figures: machine, device, versions, date, command."""

from flowrl_mjx.runtime.machine import machine_info  # noqa: F401  (launch scripts import it from here)


def header(info: dict) -> str:
    return (f"Measured {info['date']} on {info['device']} ({info['platform']}, "
            f"{info['cpu_cores']} CPU cores), command `{info['command']}`.\n")  # fmt: skip
