# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The metrics file's meaning, shared by the soc2audit_textfile module (on the host) and its
action (on the control node, plugins/action/soc2audit_textfile.py): which samples decide
``changed``, and which lines are samples at all. Standard library only."""

from __future__ import annotations

import re

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)\s*$")

# Metric names whose series decide `changed` (the control state), by default.
COMPARE_METRICS = (
    "soc2audit_check_result",
    "soc2audit_check_info",
    "soc2audit_check_criterion_info",
    "soc2audit_build_info",
)

# The options of the soc2audit_textfile module; its action (the drift run's shell method) takes
# the same ones plus `method`.
ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "content": {"type": "str", "required": True},
    "mode": {"type": "str", "default": "0644"},
    "create_dir": {"type": "bool", "default": True},
    "compare_metrics": {"type": "list", "elements": "str", "default": list(COMPARE_METRICS)},
}


def samples(text: str, names: set[str]) -> dict[str, str]:
    """``name{labels}`` -> value for the samples of the given metric names."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if match and match.group(1) in names:
            out[match.group(1) + (match.group(2) or "")] = match.group(3)
    return out


def count_samples(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def bad_line(text: str) -> tuple[int, str] | None:
    """(line number, line) of the first line that is neither a comment nor a sample."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if line and not line.startswith("#") and not SAMPLE.match(line):
            return lineno, line
    return None


def diff(path: str, before: dict[str, str] | None, after: dict[str, str]) -> dict[str, str]:
    """Ansible's diff of the compared series."""
    return {
        "before": "".join(f"{k} {v}\n" for k, v in sorted((before or {}).items())),
        "after": "".join(f"{k} {v}\n" for k, v in sorted(after.items())),
        "before_header": path,
        "after_header": path,
    }
