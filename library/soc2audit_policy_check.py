#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of the soc2audit_policy_check action (plugins/action/soc2audit_policy_check.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2audit_policy_check
short_description: Check that the fleet policies compile and match the control catalog
description:
  - An action that runs on the control node only
    (C(plugins/action/soc2audit_policy_check.py)).
  - Fails, listing every problem, when a policy in O(dir) does not compile, a C(pol_*) rule has
    no check id, or an id is missing from the catalog O(catalog); the same check as
    C(python -m soc2audit.policy check) (docs/policies.md). The drift run uses it before any host
    is read.
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
options:
  dir:
    description: The policies directory (C(policies/)).
    type: path
    required: true
  catalog:
    description: The control catalog (C(controls/catalog.yml)).
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Fleet policies compile and match the catalog
  soc2audit_policy_check:
    dir: "{{ playbook_dir }}/../policies"
    catalog: "{{ playbook_dir }}/../controls/catalog.yml"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
policies:
  description: How many policies were checked.
  type: int
  returned: success
"""

if __name__ == "__main__":
    import json
    import sys

    msg = "soc2audit_policy_check runs on the control node only"
    print(json.dumps({"failed": True, "msg": msg}))
    sys.exit(1)
