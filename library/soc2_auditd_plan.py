#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_auditd_plan: check an auditd request against the host and render it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_auditd_plan
short_description: Validate audit rule records and auditd.conf settings on a host and render them
description:
  - The auditd role's first step on a host, before anything changes. Takes the same options as
    M(soc2_auditd) (see there) and reads the same facts (the syscall tables, C(ausyscall
    <arch> --dump), or libaudit when the auditd package is not installed yet), the setuid and
    setgid programs, the audit userspace version and the kernel's audit status.
  - Fails, changing nothing, when a record is malformed (a watch on a relative path, an
    unknown field), names a syscall that exists on no architecture, or when an auditd.conf
    setting is not one auditd accepts (an unknown action name, a key of another version).
  - A syscall that exists on another architecture but not on one of this host's is left out
    of that arch's rule with a warning; so is a watch whose directory does not exist.
  - Returns the rules files' bodies (the role adds the ansible_managed header), auditd.conf as
    ordered key/value pairs for the installed major version, the desired rules as
    C(auditctl -l) prints them, and the kernel's state (reachable, immutable).
  - Read-only; C(changed) is always V(false).
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_auditd
options:
  config:
    description: auditd.conf settings (key to value), checked against the keys and values of
      the audit major version.
    type: dict
    default: {}
  major:
    description: Major version to plan for when audit userspace is not installed yet (0 = 3).
    type: int
    default: 0
notes:
  - Supports C(check_mode).
"""

EXAMPLES = r"""
- name: Plan the audit rules and auditd.conf for this host
  soc2_auditd_plan:
    rules: "{{ _auditd_params.rules }}"
    config: "{{ _auditd_params.config }}"
  check_mode: false
  register: __auditd_plan
"""

RETURN = r"""
files:
  description: The managed rules files, C(name) and C(content), in augenrules order.
  returned: success
  type: list
  elements: dict
config:
  description: auditd.conf settings as C(key)/C(value) pairs in auditd.conf(5) order.
  returned: success
  type: list
  elements: dict
desired:
  description: The desired rules as C(auditctl -l) prints them.
  returned: success
  type: list
  elements: str
warnings_list:
  description: Rules left out on purpose (also shown as warnings).
  returned: success
  type: list
  elements: str
privileged:
  description: The setuid/setgid programs found (sorted).
  returned: success
  type: list
  elements: str
major:
  description: The audit userspace major version planned for.
  returned: success
  type: int
version:
  description: Installed auditctl version, V(null) when not installed.
  returned: success
  type: str
tables:
  description: Where the syscall tables came from (V(ausyscall) or V(libaudit)).
  returned: success
  type: str
kernel:
  description: C(reachable) (audit netlink answers), C(refused) (EPERM, a container),
    C(immutable) (C(enabled 2)), C(status), C(error).
  returned: success
  type: dict
"""

from ansible.module_utils import soc2_auditd_family
from ansible.module_utils.soc2_auditd_family import read_host, read_kernel
from ansible.module_utils.soc2_auditd_rules import expected_conf, render_files
from ansible.module_utils.soc2_family import open_module


def main() -> None:
    module = open_module(soc2_auditd_family)
    params = module.params
    host = read_host(module, params)
    desired = host["desired"]
    pairs, conf_problems = expected_conf(params["config"], host["major"])
    errors = list(desired.get("errors") or []) + conf_problems
    if errors:
        module.fail_json(
            msg="the auditd request cannot be applied: " + "; ".join(errors),
            errors=errors,
            changed=False,
        )
    for warning in desired["warnings"]:
        module.warn(warning)
    bodies = render_files(desired["groups"], params["settings"], params["files"])
    kernel = read_kernel(module, host["auditctl"])
    status = kernel.get("status") or {}
    module.exit_json(
        changed=False,
        files=[{"name": name, "content": bodies[name]} for name in sorted(bodies)],
        config=[{"key": k, "value": v} for k, v in pairs],
        desired=desired["desired"],
        warnings_list=desired["warnings"],
        privileged=desired.get("privileged", []),
        major=host["major"],
        version=host["version"],
        tables=host["tables"]["source"],
        kernel={
            "reachable": kernel.get("status") is not None,
            "refused": bool(kernel.get("refused")),
            "immutable": status.get("enabled") == 2,
            "status": kernel.get("status"),
            "error": kernel.get("error"),
        },
    )


if __name__ == "__main__":
    main()
