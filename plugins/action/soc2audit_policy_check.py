# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin soc2audit_policy_check: the fleet policies compile and match the catalog.

Runs ``soc2audit.policy.check`` in the worker on the control node, before the drift run reads
any host: the same check as ``python -m soc2audit.policy check`` without starting a second
Python and a command module for it (docs/scale.md). Documentation:
library/soc2audit_policy_check.py.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from soc2audit.policy import checked

# The options documented in library/soc2audit_policy_check.py (a unit test keeps the two equal).
ARGUMENT_SPEC: dict[str, Any] = {
    "dir": {"type": "path", "required": True},
    "catalog": {"type": "path", "required": True},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        policies, problems = checked(args["dir"], args["catalog"])
        if problems:
            raise AnsibleActionFail(
                "the fleet policies cannot be used, nothing was read: " + "; ".join(problems)
            )
        result.update(changed=False, policies=len(policies.policies))
        return result
