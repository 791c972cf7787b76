# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The options of soc2_verify, shared by the module (on the host, through
plugins/module_utils/soc2_family.py) and its action (on the control node,
plugins/action/soc2_verify.py). Standard library only.

``families`` holds each family's parameters under its key. ``family_vars`` names the variables
that hold them instead (``var``: one name, or a list of names whose dicts are merged, later keys
winning); the action resolves those on the control node, one family at a time, and passes the
module ``families``: the module itself never receives ``family_vars``.
"""

from __future__ import annotations

from typing import Any

FAMILY_VAR_SPEC: dict[str, dict[str, Any]] = {
    "family": {"type": "str", "required": True},
    "key": {"type": "str", "required": True},
    # One variable name, or a list of them whose values (dicts) are merged in order: a family
    # whose parameters come from two roles (LOG: log_shipper's `shipper`, log_aggregator's
    # `aggregator`).
    "var": {"type": "raw", "required": True},
}

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "families": {"type": "dict"},
    "family_vars": {"type": "list", "elements": "dict", "options": FAMILY_VAR_SPEC},
}

# Exactly one of the two.
RULES: dict[str, list[list[str]]] = {
    "required_one_of": [["families", "family_vars"]],
    "mutually_exclusive": [["families", "family_vars"]],
}
