# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HOST family's ``patching`` part (unattended security upgrades, pending security
updates and pending restarts; the patching role's parameters): a placeholder until the patching
role is built.

Part interface (plugins/module_utils/soc2_host_family.py):

``CHECK_IDS``
    The literal tuple of the part's ids, in order.
``ARGUMENT_SPEC``
    The part's options; always ``enabled: {type: bool, default: False}``.
``validate(p: Mapping) -> list[str]``
    Parameter problems that need no host; the family calls it only when ``p["enabled"]``.
``verify(module, p) -> dict``
    Called only when ``p["enabled"]``: ``checks`` (one per id of the part, in order),
    ``observations`` (a list, for the metrics file) and ``facts`` (a dict).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.module_utils.soc2_results import make_check

__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "validate", "verify"]

CHECK_IDS: tuple[str, ...] = ("HOST-10", "HOST-11", "HOST-12")

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": False},
}


def validate(p: Mapping[str, Any]) -> list[str]:
    """No parameters yet."""
    return []


def verify(module: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    """Not built yet: every id is an error (no role enables this part yet)."""
    checks = [make_check(cid, "error", None, None, "not built yet") for cid in CHECK_IDS]
    return {"checks": checks, "observations": [], "facts": {}}
