#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of the soc2audit_renamed_vars action (plugins/action/soc2audit_renamed_vars.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2audit_renamed_vars
short_description: Warn about role variables set under a deprecated name
description:
  - An action that runs on the control node only (C(plugins/action/soc2audit_renamed_vars.py)).
  - "For every old name of O(renamed) that is set for the host (inventory, play, extra vars),
    shows one warning C(DEPRECATED: <old> is now <new>) in the play output. It changes nothing:
    the role's C(vars/main.yml) already lets the old name's value win (docs/roles.md, Variable
    names)."
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
options:
  renamed:
    description: Old name to new name, the role's C(_<role>_renamed_variables) table.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Preflight | deprecated variable names
  soc2audit_renamed_vars:
    renamed: "{{ _timesync_renamed_variables }}"
"""

RETURN = r"""
deprecated:
  description: The old names set for this host, sorted (each produced a warning).
  returned: always
  type: list
  elements: str
"""
