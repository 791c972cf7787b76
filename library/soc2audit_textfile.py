#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2audit_textfile: write a node_exporter textfile atomically."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2audit_textfile
short_description: Write a drift run's metrics into node_exporter's textfile directory atomically
description:
  - Writes O(content) to O(path) through a temporary file in the same directory and a rename,
    so node_exporter's textfile collector never reads a half-written file.
  - The file is rewritten on every run (its timestamps are the evidence that the check ran), but
    C(changed) compares meaning, not bytes - V(true) only when a series named in
    O(compare_metrics) appeared, disappeared or changed value, that is when a control's state
    changed. Timestamps, durations and observations such as the clock error bound move on every
    run and do not count.
  - In check mode nothing is written; C(changed) says whether the control state would change.
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
options:
  path:
    description: The metrics file, for example C(/var/lib/prometheus/node-exporter/soc2audit.prom).
    type: path
    required: true
  content:
    description: Prometheus text exposition format (0.0.4), without timestamps.
    type: str
    required: true
  mode:
    description: File mode; node_exporter must be able to read it.
    type: str
    default: "0644"
  create_dir:
    description: Create the directory (mode 0755) when it does not exist.
    type: bool
    default: true
  compare_metrics:
    description: Metric names whose series decide C(changed).
    type: list
    elements: str
    default:
      - soc2audit_check_result
      - soc2audit_check_info
      - soc2audit_check_criterion_info
      - soc2audit_build_info
  method:
    description:
      - How the action (C(plugins/action/soc2audit_textfile.py)) writes the file - V(shell), one
        command over the task's connection, or V(module), this module on the host's Python.
      - Only the action takes it; the module alone does not.
    type: str
    choices: [shell, module]
    default: shell
"""

EXAMPLES = r"""
- name: Publish this host's drift metrics
  soc2audit_textfile:
    path: /var/lib/prometheus/node-exporter/soc2audit.prom
    content: "{{ metrics_text }}"
"""

RETURN = r"""
path:
  description: The file written.
  type: str
  returned: always
series:
  description: Number of samples in the new content.
  type: int
  returned: always
diff:
  description: Series of O(compare_metrics) before and after, when run with --diff.
  type: dict
  returned: when diff mode is on
"""

import os
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.soc2_textfile import (
    ARGUMENT_SPEC,
    bad_line,
    count_samples,
    diff,
    samples,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    p = module.params
    path, content = p["path"], p["content"]
    if not content.endswith("\n"):
        content += "\n"
    try:
        mode = int(p["mode"], 8)
    except ValueError:
        module.fail_json(msg=f"mode {p['mode']!r} is not an octal file mode", changed=False)
    bad = bad_line(content)
    if bad:
        module.fail_json(msg=f"content line {bad[0]} is not a sample: {bad[1][:120]!r}")
    directory = os.path.dirname(path)
    names = set(p["compare_metrics"])
    try:
        with open(path, encoding="utf-8") as handle:
            before = samples(handle.read(), names)
    except FileNotFoundError:
        before = None
    except OSError as exc:
        module.fail_json(msg=f"cannot read {path}: {exc}", changed=False)
    after = samples(content, names)
    changed = before != after
    result: dict[str, Any] = {"changed": changed, "path": path, "series": count_samples(content)}
    if module._diff:
        result["diff"] = diff(path, before, after)
    if module.check_mode:
        module.exit_json(**result)
    if not os.path.isdir(directory):
        if not p["create_dir"]:
            module.fail_json(msg=f"{directory} does not exist (create_dir is false)")
        os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".soc2audit-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        module.fail_json(msg=f"cannot write {path}: {exc}", changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
