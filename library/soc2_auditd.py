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
    it read. Read-only, safe in check mode; C(changed) is always V(false).
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
options:
  rules:
    description:
      - Rule records, as the auditd role builds them from its profiles. See the role's
        documentation (C(docs/roles/auditd.md)) for their meaning.
    type: list
    elements: dict
    default: []
    suboptions:
      id:
        description: Unique id of the record.
        type: str
        required: true
      description:
        description: What the rule records and why.
        type: str
        default: ""
      key:
        description: Audit key; carries the SOC 2 criterion (C(soc2-cc6.1-identity)).
        type: str
        default: ""
      kind:
        description: V(watch) (paths and perms), V(exe) (executions of paths) or V(syscall).
        type: str
        choices: [watch, syscall, exe]
        required: true
      paths:
        description: Absolute paths (watch and exe).
        type: list
        elements: str
        default: []
      perms:
        description: Letters of rwxa for watches (default wa).
        type: str
        default: ""
      syscalls:
        description: Syscall names (syscall rules on the exit list).
        type: list
        elements: str
        default: []
      arch:
        description: V(b64)/V(b32); syscall rules default to O(arches).
        type: list
        elements: str
        default: []
      filters:
        description: C(-F) fields such as C(auid>=1000).
        type: list
        elements: str
        default: []
      compare:
        description: C(-C) comparisons such as C(euid!=uid).
        type: list
        elements: str
        default: []
      action:
        description: Rule action.
        type: str
        choices: [always, never]
        default: always
      list:
        description: Filter list.
        type: str
        choices: [exit, user, task, exclude, filesystem]
        default: exit
      enabled:
        description: Whether the rule is wanted.
        type: bool
        default: true
      optional:
        description: Drop the rule quietly when a user, group or watched directory is missing.
        type: bool
        default: false
      expensive:
        description: Documentation flag for rules that cost on busy hosts.
        type: bool
        default: false
      late:
        description: Placed after the other main rules (first match wins, and an event
          carries the key of the first rule it matches).
        type: bool
        default: false
  arches:
    description: Architectures syscall rules are written for (V(b64), V(b32)); an arch without a
      syscall table on the host is left out with a warning.
    type: list
    elements: str
    default: [b64, b32]
  watch_style:
    description: V(watch) writes file watches as C(-w PATH -p PERMS); V(syscall) as one
      C(-a always,exit -F arch=.. -S all -F path=.. -F perm=..) rule per arch (faster on audit
      4.x).
    type: str
    choices: [watch, syscall]
    default: watch
  privileged:
    description: Executions of the setuid/setgid programs of the host.
    type: dict
    suboptions:
      enabled:
        description: Add one rule per program found.
        type: bool
        default: true
      key:
        description: Their audit key.
        type: str
        default: soc2-cc6.3-privileged-cmd
      filters:
        description: Their C(-F) fields.
        type: list
        elements: str
        default: ["auid>=1000", "auid!=unset"]
      roots:
        description: Where to search.
        type: list
        elements: str
        default: ["/"]
      exclude_paths:
        description: Paths (and everything below) never searched.
        type: list
        elements: str
        default: [/proc, /sys, /dev, /run, /var/lib/containers, /var/lib/docker]
      exclude_fstypes:
        description: File system types (shell patterns) never searched.
        type: list
        elements: str
      paths:
        description: A fixed list of programs instead of the search.
        type: list
        elements: str
        default: []
  settings:
    description: Kernel settings written to the base and finalize rules files.
    type: dict
    suboptions:
      backlog_limit:
        description: C(-b).
        type: int
        default: 8192
      backlog_wait_time:
        description: C(--backlog_wait_time), kernel ticks.
        type: int
        default: 60000
      failure_mode:
        description: C(-f) 0 silent, 1 printk, 2 panic.
        type: int
        choices: [0, 1, 2]
        default: 1
      rate_limit:
        description: C(-r) messages per second, 0 none.
        type: int
        default: 0
      immutable:
        description: C(-e 2) instead of C(-e 1).
        type: bool
        default: false
      loginuid_immutable:
        description: C(--loginuid-immutable).
        type: bool
        default: false
  rules_dir:
    description: augenrules' source directory.
    type: path
    default: /etc/audit/rules.d
  rules_file:
    description: The compiled rules file.
    type: path
    default: /etc/audit/audit.rules
  files:
    description: Names of the managed rules files, per role (base, exclusions, main,
      privileged, finalize).
    type: dict
  purge_unmanaged:
    description: Other C(*.rules) files are unwanted (AUD-04 fails on them); when V(false)
      their rules are accepted as desired.
    type: bool
    default: true
  keep_files:
    description: Unmanaged C(*.rules) files that are wanted even with O(purge_unmanaged) (a
      host's local rules); their rules are desired too.
    type: list
    elements: str
    default: []
  config_path:
    description: auditd.conf.
    type: path
    default: /etc/audit/auditd.conf
  config:
    description: The auditd.conf settings expected (key to value); empty skips C(AUD-05).
    type: dict
    default: {}
  major:
    description: audit userspace major version when C(auditctl -v) cannot tell (0 = detect,
      else 3).
    type: int
    default: 0
  service:
    description: The daemon's unit or init script name.
    type: str
    default: auditd
  service_manager:
    description: How the daemon is managed on this host.
    type: str
    choices: [systemd, sysvinit]
    default: systemd
  max_lost:
    description: Lost records accepted (an investigated incident, without resetting the
      counter).
    type: int
    default: 0
  backlog_warn_ratio:
    description: Share of the backlog limit from which C(AUD-06) is V(at_risk).
    type: float
    default: 0.8
  log_partition:
    description: The C(AUD-07) requirements on the audit log's file system.
    type: dict
    suboptions:
      enabled:
        description: Assess it at all.
        type: bool
        default: true
      own_filesystem:
        description: The log directory must be a mount point.
        type: bool
        default: true
      min_free_mb:
        description: Free megabytes required.
        type: int
        default: 1024
      min_free_percent:
        description: Free share required.
        type: int
        default: 10
      result:
        description: Result when a requirement is not met.
        type: str
        choices: [at_risk, fail]
        default: at_risk
  auditctl:
    description: auditctl to run (name on PATH and the sbin directories, or a path).
    type: str
    default: auditctl
  ausyscall:
    description: ausyscall to run.
    type: str
    default: ausyscall
notes:
  - Supports C(check_mode); the module never changes anything. With C(--diff) a drifting
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

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.soc2_auditd_family import ARGUMENT_SPEC, validate, verify

__all__ = ["ARGUMENT_SPEC", "main"]


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    problems = validate(module.params)
    if problems:
        module.fail_json(msg="invalid parameters: " + "; ".join(problems), changed=False)
    result: dict[str, Any] = {"changed": False, **verify(module, module.params)}
    result.pop("observations", None)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
