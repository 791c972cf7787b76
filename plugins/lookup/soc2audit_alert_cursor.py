# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lookup soc2audit_alert_cursor: where a monitor's alert records were imported up to."""

from __future__ import annotations

DOCUMENTATION = r"""
name: soc2audit_alert_cursor
short_description: The import cursor of a monitor's alert records in the control node's evidence
description:
  - Reads the control node's evidence directory (C(alerts-*.jsonl)) and returns, per day file of
    the monitor O(host)'s evidence receiver, where the last line imported from it ended
    (C(soc2audit.alert_import.cursor)); the drift run gives it to the MON verifier on the
    monitor, which returns the lines past it (docs/drift.md "Alert records").
options:
  _terms:
    description: The control node's evidence directory.
    required: true
  host:
    description: The monitor's inventory name.
    type: str
    required: true
"""

EXAMPLES = r"""
- name: The cursor of the monitor's alert records
  ansible.builtin.debug:
    msg: "{{ lookup('soc2audit_alert_cursor', playbook_dir ~ '/../evidence', host='monitor') }}"
"""

RETURN = r"""
_raw:
  description: "One dict C({files: {name: {end, last_offset, sha256}}})."
  type: list
  elements: dict
"""

from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from soc2audit.alert_import import cursor


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: Any = None, **kwargs: Any) -> list[Any]:
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("give exactly one term: the evidence directory")
        try:
            return [cursor(str(terms[0]), str(self.get_option("host")))]
        except (OSError, ValueError) as exc:
            raise AnsibleLookupError(f"alert cursor not read: {exc}") from exc
