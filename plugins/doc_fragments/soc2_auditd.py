# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AUD family's options, shared by soc2_auditd, soc2_auditd_plan and soc2_auditd_load (all
three take plugins/module_utils/soc2_auditd_family.py ARGUMENT_SPEC)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
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
        default: [autofs, binfmt_misc, bpf, cgroup, cgroup2, cifs, configfs, debugfs, devpts,
          devtmpfs, efivarfs, "fuse.*", fusectl, hugetlbfs, iso9660, mqueue, nfs, nfs4, nsfs,
          proc, pstore, securityfs, smb3, squashfs, sysfs, tmpfs, tracefs]
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
    suboptions:
      base: {description: The base file., type: str, default: 10-soc2-base.rules}
      exclusions: {description: The exclusions file., type: str, default: 20-soc2-exclusions.rules}
      main: {description: The main file., type: str, default: 30-soc2-main.rules}
      privileged: {description: The privileged file., type: str, default: 25-soc2-privileged.rules}
      finalize: {description: The finalize file., type: str, default: 99-soc2-finalize.rules}
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
"""
