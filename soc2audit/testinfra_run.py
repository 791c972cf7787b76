# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The command line that runs the controls/ testinfra checks through soc2audit.pytest_plugin,
owned here for the drift run (plugins/action/soc2audit_testinfra.py) and the benchmark
(bench/run.py). Standard library only: the action imports it in every Ansible worker."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONTROLS = REPO / "controls"


def pytest_argv(
    python: str,
    inventory: str | Path,
    results: str | Path,
    limit: str = "all",
    target: str = "",
    workers: int = 0,
) -> list[str]:
    """``python -m pytest`` over ``target`` (default: all of controls/) against the hosts of
    ``inventory`` matching ``limit``, writing one result line per (host, check) to ``results``;
    with ``workers``, in that many pytest-xdist workers (soc2audit.pytest_plugin writes the
    results from the controller)."""
    parallel = ["-n", str(workers)] if workers > 0 else []
    return [
        python,
        "-m",
        "pytest",
        "-q",
        "-p",
        "soc2audit.pytest_plugin",
        "-p",
        "no:cacheprovider",
        target or str(CONTROLS),
        f"--hosts=ansible://{limit or 'all'}",
        f"--ansible-inventory={inventory}",
        f"--soc2audit-results={results}",
        *parallel,
    ]
