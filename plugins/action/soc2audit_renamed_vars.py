# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin soc2audit_renamed_vars: warn about deprecated role variable names.

Documentation in library/soc2audit_renamed_vars.py; the scheme in docs/roles.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

_DISPLAY = Display()

# The options documented in library/soc2audit_renamed_vars.py.
ARGUMENT_SPEC: dict[str, Any] = {"renamed": {"type": "dict", "required": True}}


def renamed_in_use(renamed: Mapping[str, str], defined: Any) -> list[str]:
    """The old names of ``renamed`` (old name: new name) that are set in ``defined``, sorted."""
    return sorted(old for old in renamed if old in defined)


def deprecation_message(old: str, new: str) -> str:
    return (
        f"DEPRECATED: {old} is now {new}. The old name still works in this release (its value "
        f"wins over {new}) and will be removed in the next; rename it in your inventory."
    )


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        renamed: Mapping[str, str] = params["renamed"]
        used = renamed_in_use(renamed, task_vars or {})
        for old in used:
            _DISPLAY.warning(deprecation_message(old, str(renamed[old])))
        result.update(changed=False, deprecated=used)
        return result
