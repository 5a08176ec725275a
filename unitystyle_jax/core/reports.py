"""The reports `make demo` and `make compare` write: stamped with the date and machine they come from, as
JSON (for scripts) and Markdown (for people), each written atomically: an interrupted write leaves the old one."""

import datetime
import json
import os
import platform

import jax

from unitystyle_jax.core import files


def stamp(report: dict) -> dict:
    """Adds the date and the machine (architecture, cores, jax version and platform) to `report`."""
    report["date"] = datetime.date.today().isoformat()
    report["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__} on {jax.devices()[0].platform}"
    )
    return report


def write(results: str, name: str, report: dict, markdown: str) -> None:
    """RESULTS/NAME.json and RESULTS/NAME.md (process 0 only), and the Markdown on stdout, then where they are."""
    if jax.process_index() != 0:
        return
    os.makedirs(results, exist_ok=True)
    paths = [os.path.join(results, f"{name}.{suffix}") for suffix in ("md", "json")]
    files.write_text(paths[1], json.dumps(report, indent=2) + "\n")
    files.write_text(paths[0], markdown)
    print(markdown)
    print(f"written to {paths[0]} and {paths[1]}")
