#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of the soc2audit_testinfra action (plugins/action/soc2audit_testinfra.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2audit_testinfra
short_description: Run the controls/ testinfra checks on the control node beside a drift run
description:
  - An action that runs on the control node only (C(plugins/action/soc2audit_testinfra.py)).
  - O(state=started) launches C(pytest -p soc2audit.pytest_plugin controls/) against the
    inventory as a detached process and returns at once, so the outside-in checks run while the
    verifiers do. O(state=finished) waits for it (up to O(timeout) seconds from its start, then
    stops it) and returns its exit status; its results are C(<output_dir>/testinfra.jsonl).
  - pytest exit statuses 0 and 1 are normal (the results say which checks passed); anything
    else is returned in C(error), and the merge turns the testinfra checks into V(error).
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
options:
  state:
    description: Start the checks, or wait for them.
    type: str
    choices: [started, finished]
    required: true
  output_dir:
    description:
      - Where C(testinfra.jsonl), C(testinfra.log) and the exit status go (O(state=started)).
    type: path
  inventory:
    description: The inventory file testinfra reads (O(state=started)).
    type: path
  limit:
    description: Host pattern (O(state=started)); default V(all).
    type: str
  python:
    description:
      - Python that runs pytest; default the one running ansible-playbook.
      - It must have the C(soc2audit) package installed (the control-node virtualenv).
    type: path
  job:
    description: The result of the O(state=started) task (O(state=finished)).
    type: dict
  timeout:
    description: Seconds from the start after which the checks are stopped (O(state=finished)).
    type: int
    default: 300
  workers:
    description:
      - pytest-xdist workers for the checks (O(state=started)); V(0) runs them in one process.
      - Helps a control node with idle cores; on a saturated one it only adds the workers'
        start-up (C(docs/scale.md), "Where the drift run's time goes").
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Start the outside-in checks
  soc2audit_testinfra:
    state: started
    output_dir: .cache/drift
    inventory: inventory/lab/hosts.yml
  register: testinfra_job

- name: Wait for them
  soc2audit_testinfra:
    state: finished
    job: "{{ testinfra_job }}"
"""

RETURN = r"""
pytest_rc:
  description: pytest's exit status (O(state=finished)); null when it was stopped.
  type: int
  returned: state=finished
error:
  description: Why the checks did not complete, or empty.
  type: str
  returned: state=finished
results:
  description: The JSON lines file of testinfra results.
  type: str
  returned: always
workers:
  description: The pytest-xdist workers the checks were started with (0, one process).
  type: int
  returned: state=started
"""

if __name__ == "__main__":
    import json
    import sys

    print(json.dumps({"failed": True, "msg": "soc2audit_testinfra runs on the control node only"}))
    sys.exit(1)
