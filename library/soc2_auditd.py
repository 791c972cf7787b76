#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_auditd: read-only verification of the audit controls AUD-01 .. AUD-07."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_auditd
short_description: Verify Linux auditing on a host (SOC 2 checks AUD-01 to AUD-07)
description:
  - In one module run reads C(auditctl -v), C(auditctl -s), C(auditctl -l), the syscall tables
    (C(ausyscall <arch> --dump), or libaudit when the auditd package is missing), the unit
    state (C(systemctl show), or the init script's pid file with O(service_manager=sysvinit)),
    every C(*.rules) file in O(rules_dir), the compiled O(rules_file), O(config_path) and the
    file system of the audit log directory.
  - Works out the desired rules on the host from the rule records in O(rules) (the auditd
    role's data), the setuid/setgid programs it finds (O(privileged)) and the host's syscall
    tables, and compares them with the kernel and the files after normalising both the way
    C(auditctl -l) prints rules (arch first, syscalls merged in number order, keys last,
    C(auid unset) as C(-1), names as numbers, watches as C(-w)).
  - Returns one result per check id C(AUD-01) .. C(AUD-07), always all seven, plus the facts
    it read.
  - "C(AUD-01): the unit is active and enabled (on audit 4.x also C(audit-rules.service)) and
    an audit daemon is registered with the kernel (C(auditctl -s) pid not 0)."
  - "C(AUD-02): kernel auditing is enabled (C(enabled 2) when O(settings.immutable)) with the
    configured backlog limit, backlog wait time, failure mode and rate limit."
  - "C(AUD-03): the rules in the kernel equal the desired ones, in order; missing and extra
    rules are listed."
  - "C(AUD-04): the rules.d files merged as augenrules does hold the desired rules and
    settings, the managed files exist, no unmanaged file is present (with
    O(purge_unmanaged)), and O(rules_file) is the current merge."
  - "C(AUD-05): auditd.conf holds exactly the requested settings (values compared the way
    auditd reads them: case-insensitive words, exact paths and names)."
  - "C(AUD-06): the kernel's lost counter is at most O(max_lost) (fail) and the backlog is
    below its limit (fail at the limit, V(at_risk) from O(backlog_warn_ratio) of it). The
    lost counter counts since boot or the last C(auditctl --reset-lost): the module keeps no
    state; the metric C(soc2audit_audit_lost_events) shows growth between runs."
  - "C(AUD-07): the audit log directory is a mount point of its own
    (O(log_partition.own_filesystem)) with at least O(log_partition.min_free_mb) MB and
    O(log_partition.min_free_percent) % free; a violation is O(log_partition.result)
    (V(at_risk) by default)."
  - The kernel answers audit netlink only in the initial PID and user namespace. Where
    C(auditctl -s) fails with C(Operation not permitted) (a container), C(AUD-02),
    C(AUD-03), C(AUD-06) and C(AUD-07) are V(not_applicable) with that reason, and so is
    C(AUD-01) when the unit is enabled (a disabled unit fails). Any other failure to read is
    V(error), never V(pass).
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
requirements:
  - auditd (auditctl, ausyscall) on the managed host; libaudit1 is enough to plan rules
extends_documentation_fragment:
  - soc2_auditd
  - soc2_checks
notes:
  - With C(--diff) a drifting
    kernel rule set is returned as a C(diff) (kernel listing before, desired after).
  - Commands run with C(LC_ALL=C).
  - audit 4.x loads a rule that has an arch and C(-F perm) but no C(-S) with the syscalls of
    the permission classes; write C(-S all) (the role always does).
seealso:
  - name: auditctl(8)
    description: Rule syntax and the status fields.
    link: https://man7.org/linux/man-pages/man8/auditctl.8.html
"""

EXAMPLES = r"""
- name: Verify auditing with the role's parameters
  ansible.builtin.include_role:
    name: auditd
    tasks_from: verify

- name: Verify a small rule set directly
  soc2_auditd:
    rules:
      - id: identity
        key: soc2-cc6.1-identity
        kind: watch
        paths: [/etc/passwd, /etc/shadow]
    privileged:
      enabled: false
    config:
      log_format: ENRICHED
  check_mode: false
  register: __auditd_verify
"""

RETURN = r"""
changed:
  description: Always V(false).
  returned: always
  type: bool
checks:
  description:
    - One result per check id, always C(AUD-01) .. C(AUD-07) in that order, each with
      C(check_id), C(result), C(observed), C(expected) and C(message).
    - C(AUD-03) and C(AUD-04) C(observed) list the C(missing) and C(extra) rules in
      C(auditctl -l) form.
  returned: always
  type: list
  elements: dict
version:
  description: auditctl version, V(null) when auditctl is missing.
  returned: always
  type: str
tables:
  description: Where the syscall tables came from (V(ausyscall), V(libaudit) or V(null)).
  returned: always
  type: str
kernel:
  description: C(status) (auditctl -s, parsed), C(refused) (EPERM from the kernel) and C(error).
  returned: always
  type: dict
service:
  description: The unit's state.
  returned: always
  type: dict
desired:
  description: The desired rules as C(auditctl -l) prints them, in the kernel's order.
  returned: always
  type: list
  elements: str
dropped:
  description: Rules left out on purpose (a syscall missing on one arch, a missing directory).
  returned: always
  type: list
  elements: str
errors:
  description: Why the desired rules could not be worked out (unknown syscalls, bad records).
  returned: always
  type: list
  elements: str
privileged:
  description: The setuid/setgid programs covered.
  returned: always
  type: list
  elements: str
log:
  description: The audit log directory's file system (own_filesystem, free_bytes, free_percent).
  returned: always
  type: dict
"""

from ansible.module_utils import soc2_auditd_family
from ansible.module_utils.soc2_family import run_module

ARGUMENT_SPEC = soc2_auditd_family.ARGUMENT_SPEC

__all__ = ["ARGUMENT_SPEC", "main"]


def main() -> None:
    run_module(soc2_auditd_family)


if __name__ == "__main__":
    main()
