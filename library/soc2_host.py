#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_host: read-only verification of the host baseline (HOST family)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_host
short_description: Verify the host baseline - hardening, patching, file integrity (HOST)
description:
  - "Three parts, each with its own option and role: O(os) (the os_hardening role,
    C(HOST-01) .. C(HOST-09)), O(patching) (the patching role, C(HOST-10) .. C(HOST-12)) and
    O(fim) (the file_integrity role, C(HOST-13) .. C(HOST-14)). A part whose C(enabled) is
    V(false) makes its checks V(not_applicable) without reading anything."
  - "C(HOST-01): every sysctl of O(os.sysctl) has the intended live value in C(/proc/sys). In a
    container the names matching O(os.container_skip) are not read (the kernel is the
    machine's); the message lists them."
  - "C(HOST-02) (O(os.coredump)): no non-zero hard C(core) limit and a C(* hard core 0) in
    limits.conf or limits.d, systemd-coredump's effective C(Storage=none) and
    C(ProcessSizeMax=0), and outside a container C(fs.suid_dumpable) 0."
  - "C(HOST-03): each module of O(os.module_blacklist) has C(install <module> /bin/false) and
    C(blacklist <module>) in /etc/modprobe.d and, outside a container, is not loaded."
  - "C(HOST-04): the settings of O(os.login_defs) in /etc/login.defs and of O(os.pwquality) in
    pwquality.conf and pwquality.conf.d (no file with another value), and pam_pwquality in
    /etc/pam.d/common-password."
  - "C(HOST-05): common-auth runs pam_faillock C(preauth) before pam_unix and C(authfail) after
    it, common-account runs pam_faillock, and each setting of O(os.faillock) has its value in
    faillock.conf and on the PAM lines."
  - "C(HOST-06): each file of O(os.banner_files) holds O(os.banner)."
  - "C(HOST-07): a login shell (C(bash -l)) has C(TMOUT) at most O(os.tmout), read-only and
    exported."
  - "C(HOST-08): each file of O(os.file_modes) has no permission bit beyond its mode, and its
    owner and group (a file that does not exist is listed, not failed)."
  - "C(HOST-09): the output chain of the nftables table O(os.egress_table) is in the mode
    O(os.egress_mode) (V(accept): policy accept and no drop; V(allowlist): policy drop after
    established/related and loopback accepts), from C(nft -j list ruleset)."
  - "C(HOST-10) (O(patching)): the effective apt configuration (C(apt-config dump)) runs
    unattended-upgrades for the host's C(<codename>-security) suite with periodic list refreshes
    and upgrades, the reboot window is O(patching.automatic_reboot) at
    O(patching.automatic_reboot_time), and each unit of O(patching.timers) is active and enabled."
  - "C(HOST-11): no security update, held or not, first seen more than
    O(patching.max_pending_days) days ago; C(HOST-12): no reboot (C(/run/reboot-required),
    needrestart's kernel status) and no service restart (C(needrestart -b)) pending for more than
    O(patching.max_restart_days) days. Both from one run of O(patching.pending_command)
    C(--stdout) (the patching role's script: the live state merged with the first-seen dates in
    O(patching.state_file))."
  - "C(HOST-13) (O(fim)): the SHA-256 of O(fim.database) equals O(fim.approved_sha256), the digest
    recorded on the control node. C(HOST-14): the summary of the last AIDE check
    (O(fim.summary_file)) is younger than O(fim.max_age_seconds), was made with the approved
    database and reports no added, removed or changed entry. AIDE itself is not run."
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
requirements:
  - Linux; the os_hardening role for the O(os) part, the patching role for O(patching), the
    file_integrity role for O(fim)
options:
  os:
    description:
      - The os_hardening role's settings (C(_os_hardening_verify_params.os)).
    type: dict
    suboptions:
      enabled:
        description:
          - Whether the os_hardening role is applied here; V(false) makes C(HOST-01) ..
            C(HOST-09) V(not_applicable).
        type: bool
        default: false
      sysctl:
        description:
          - Sysctl name (dotted) to its intended value (integers, several separated by spaces).
        type: dict
        default: {}
      container_skip:
        description:
          - Sysctl names, or prefixes ending in a dot, that are not set and not read in a
            container (not namespaced, for example C(kernel.*), C(fs.*) and some C(net.core)).
        type: list
        elements: str
        default: [kernel., fs., vm., user., dev., abi., net.core.bpf_jit_enable,
                  net.core.bpf_jit_harden, net.core.bpf_jit_kallsyms, net.core.bpf_jit_limit]
      coredump:
        description:
          - Whether core dumps must be off (C(HOST-02); V(false) makes it V(not_applicable)).
        type: bool
        default: false
      module_blacklist:
        description:
          - Kernel modules that must not load (C(HOST-03)).
        type: list
        elements: str
        default: []
      login_defs:
        description:
          - login.defs setting to value (C(UMASK) compared as an octal number).
        type: dict
        default: {}
      pwquality:
        description:
          - pwquality.conf setting to value.
        type: dict
        default: {}
      faillock:
        description:
          - faillock.conf setting to value (C(deny), C(unlock_time), ...); empty makes
            C(HOST-05) V(not_applicable).
        type: dict
        default: {}
      banner:
        description:
          - The login banner's text; empty makes C(HOST-06) V(not_applicable).
        type: str
        default: ""
      banner_files:
        description:
          - The files that must hold the banner.
        type: list
        elements: str
        default: [/etc/issue, /etc/issue.net]
      tmout:
        description:
          - Most seconds an idle login shell may live; 0 makes C(HOST-07) V(not_applicable).
        type: int
        default: 0
      file_modes:
        description:
          - Sensitive files and their most permissive mode, owner and group.
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description: Absolute path.
            type: str
            required: true
          mode:
            description: Most permissive mode (octal, C(0640)).
            type: str
            required: true
          owner:
            description: Owner it must have.
            type: str
            default: root
          group:
            description: Group it must have.
            type: str
            default: root
      egress_mode:
        description:
          - The intended egress mode of the nftables role's output chain; empty makes
            C(HOST-09) V(not_applicable).
        type: str
        default: ""
        choices: ["", accept, allowlist]
      egress_table:
        description:
          - The nftables role's table (family inet).
        type: str
        default: soc2_filter
      nft:
        description:
          - The nft program.
        type: str
        default: nft
  patching:
    description:
      - The patching role's settings (C(_patching_verify_params.patching)).
    type: dict
    suboptions:
      enabled:
        description:
          - Whether the patching role is applied here; V(false) makes C(HOST-10) .. C(HOST-12)
            V(not_applicable).
        type: bool
        default: false
      pending_command:
        description: The patching role's pending-updates script, run with C(--stdout).
        type: str
        default: /usr/local/lib/soc2audit/soc2-patching-pending
      state_file:
        description: Where the script's timer run keeps the first-seen dates.
        type: str
        default: /var/lib/soc2audit/patching/pending.json
      security_label:
        description: Release Label of the security suite.
        type: str
        default: Debian-Security
      timers:
        description: Units that must be active and enabled (C(HOST-10)).
        type: list
        elements: str
        default: [apt-daily.timer, apt-daily-upgrade.timer, soc2audit-patching-pending.timer]
      automatic_reboot:
        description: The intended Unattended-Upgrade::Automatic-Reboot.
        type: bool
        default: false
      automatic_reboot_time:
        description: The intended reboot window (HH:MM), compared when reboots are on.
        type: str
        default: "02:30"
      max_pending_days:
        description: C(HOST-11) fails on a pending security update first seen longer ago.
        type: int
        default: 7
      max_restart_days:
        description: C(HOST-12) fails on a reboot or restart pending longer.
        type: int
        default: 7
      state_max_age:
        description:
          - Read the script's recorded state instead of running it while the record is younger
            than this many seconds and the package database, the apt lists,
            C(/run/reboot-required) and the boot time have not changed since; V(0) always runs
            it.
        type: int
        default: 7200
  fim:
    description:
      - The file_integrity role's settings (C(_file_integrity_verify_params.fim)).
    type: dict
    suboptions:
      enabled:
        description:
          - Whether the file_integrity role is applied here; V(false) makes C(HOST-13) ..
            C(HOST-14) V(not_applicable).
        type: bool
        default: false
      database:
        description: The AIDE database.
        type: str
        default: /var/lib/aide/aide.db
      approved_sha256:
        description:
          - The approved digest from the control node (lower-case hex); empty fails C(HOST-13).
        type: str
        default: ""
      approved_source:
        description: Where the approved digest comes from, for the messages.
        type: str
        default: ""
      summary_file:
        description: The summary the check service writes.
        type: str
        default: /var/log/aide/soc2-aide-summary.json
      max_age_seconds:
        description: C(HOST-14) fails when the last check is older.
        type: int
        default: 93600
"""

EXAMPLES = r"""
- name: Verify the kernel and account hardening
  soc2_host:
    os:
      enabled: true
      sysctl:
        net.ipv4.conf.all.rp_filter: 1
        kernel.kptr_restrict: 2
      container_skip: [kernel., fs.]
      faillock: {deny: 5, unlock_time: 900}
      tmout: 900
  check_mode: false
  register: __os_hardening_verify

- name: Verify unattended security upgrades and the AIDE database
  soc2_host:
    patching:
      enabled: true
      max_pending_days: 7
    fim:
      enabled: true
      # The digest the file_integrity role recorded on the control node.
      approved_sha256: "{{ lookup('ansible.builtin.file', __record).split() | first }}"
  check_mode: false
"""

RETURN = r"""
changed:
  description: Always V(false); the module is read-only.
  returned: always
  type: bool
  sample: false
checks:
  description:
    - One result per check id, always C(HOST-01) .. C(HOST-14).
  returned: always
  type: list
  elements: dict
os:
  description:
    - What the os part read (C(container), the live C(sysctl) values, C(sysctl_skipped)); empty
      when the part is off.
  returned: always
  type: dict
patching:
  description:
    - What the patching part read (C(codename), C(pending) the script's merged state); empty
      when it is off.
  returned: always
  type: dict
fim:
  description:
    - What the fim part read (C(database_sha256), C(summary) of the last check); empty when it
      is off.
  returned: always
  type: dict
"""

from ansible.module_utils import soc2_host_family
from ansible.module_utils.soc2_family import run_module

ARGUMENT_SPEC = soc2_host_family.ARGUMENT_SPEC

__all__ = ["ARGUMENT_SPEC", "main"]


def main() -> None:
    run_module(soc2_host_family)


if __name__ == "__main__":
    main()
