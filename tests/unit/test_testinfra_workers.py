# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drift run's testinfra checks in one process (the default) or in pytest-xdist workers
(soc2audit_testinfra_workers, docs/scale.md): the command line and the installed plugin."""

from __future__ import annotations

import importlib.util

from soc2audit.testinfra_run import pytest_argv


def test_one_process_by_default_and_workers_on_request() -> None:
    serial = pytest_argv("python3", "hosts.yml", "out.jsonl")
    assert "-n" not in serial
    parallel = pytest_argv("python3", "hosts.yml", "out.jsonl", workers=3)
    assert parallel[parallel.index("-n") + 1] == "3"
    assert parallel[: len(serial)] == serial


def test_xdist_is_installed_where_the_checks_run() -> None:
    # `-n` is an option of pytest-xdist: without it pytest would stop with a usage error.
    assert importlib.util.find_spec("xdist") is not None
