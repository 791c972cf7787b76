# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A toy control family for tests/unit/test_toy_family.py, written by following the recipe in
docs/architecture.md ("Adding a control family"). Never shipped: it lives only in tests/.

TOY-01: the file O(path) exists. TOY-02: it holds at least O(min_size) bytes.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.module_utils.soc2_results import make_check

FAMILY = "TOY"
CHECK_IDS: tuple[str, ...] = ("TOY-01", "TOY-02")

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "path": {"type": "path", "required": True},
    "min_size": {"type": "int", "default": 0},
}


def validate(params: dict[str, Any]) -> list[str]:
    """Parameter problems that need no host."""
    problems = []
    if not params["path"].startswith("/"):
        problems.append("path must be absolute")
    if params["min_size"] < 0:
        problems.append("min_size must not be negative")
    return problems


def verify(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    path = params["path"]
    try:
        size: int | None = os.stat(path).st_size
    except FileNotFoundError:
        size = None
    present = make_check(
        "TOY-01",
        "pass" if size is not None else "fail",
        size is not None,
        True,
        f"{path} {'exists' if size is not None else 'is missing'}",
    )
    if size is None:
        big = make_check("TOY-02", "fail", None, params["min_size"], f"{path} is missing")
    else:
        ok = size >= params["min_size"]
        big = make_check(
            "TOY-02",
            "pass" if ok else "fail",
            size,
            params["min_size"],
            f"{path} holds {size} bytes, want at least {params['min_size']}",
        )
    observations = (
        [
            {
                "metric": "soc2audit_toy_file_bytes",
                "help": "Size of the toy family's file",
                "labels": {"path": path},
                "value": size,
            }
        ]
        if size is not None
        else []
    )
    return {"checks": [present, big], "size": size, "observations": observations}
