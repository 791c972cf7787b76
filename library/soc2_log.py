#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_log: read-only verification of the log aggregator (LOG-06 .. LOG-11)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_log
short_description: Verify the log aggregator's listeners and write-once store (LOG-06 to LOG-11)
description:
  - Reads, in one module run and without running commands, rsyslogd's listening sockets
    (C(/proc/net/tcp), C(tcp6), C(udp), C(udp6) joined with the socket inodes of every
    C(rsyslogd) process), the rendered rsyslog configuration, the store's day files with their
    inode flags (C(FS_IOC_GETFLAGS)), their C(.sha256) files and the store writer's
    C(stats.json).
  - Returns one result per check id C(LOG-06), C(LOG-07), C(LOG-08), C(LOG-09), C(LOG-11),
    always all five, plus the facts it read. All are V(not_applicable) when
    O(aggregator.enabled) is V(false).
  - "C(LOG-06): rsyslogd listens on every peer's port (on O(aggregator.listen_address)), the
    configuration gives each of those inputs TLS (driver mode 1) with C(x509/name) permitting
    exactly that peer's name, and rsyslogd listens on no other TCP or UDP socket than the
    O(aggregator.plain_listeners)."
  - "C(LOG-07): the newest day file of every peer was written within
    O(aggregator.max_silence_seconds)."
  - "C(LOG-08): active day files are append-only (C(+a)); sealed files and their C(.sha256)
    are immutable (C(+i))."
  - "C(LOG-09): every file sealed within O(aggregator.verify_hash_days) matches its
    C(.sha256); no C(.sha256) without its file; no past day's file left unsealed longer than
    O(aggregator.max_seal_delay_seconds) after its UTC day ended."
  - "C(LOG-11): the writer counted no record whose claimed host differs from its certificate
    identity and no quarantined message, today or yesterday (UTC)."
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
requirements:
  - Linux (C(/proc), C(FS_IOC_GETFLAGS)); the aggregator converged by the log_aggregator role
options:
  aggregator:
    description:
      - The aggregator's settings (the role's C(_log_aggregator_verify_params.aggregator)).
    type: dict
    suboptions:
      enabled:
        description:
          - Whether this host is a log aggregator; V(false) makes every check
            V(not_applicable).
        type: bool
        default: false
      config_path:
        description:
          - The rendered rsyslog configuration.
        type: path
        default: /etc/rsyslog.conf
      storage_root:
        description:
          - Root of the per-host per-day record files.
        type: path
        default: /srv/soc2audit/logs
      state_dir:
        description:
          - The store writer's state directory (C(stats.json), C(index.sqlite)).
        type: path
        default: /var/lib/soc2audit/log-store
      peers:
        description:
          - The shipping hosts' certificate names and their listener ports.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description:
              - Certificate name the peer presents.
            type: str
            required: true
          port:
            description:
              - TCP port of the peer's TLS listener.
            type: int
            required: true
      listen_address:
        description:
          - Address the TLS listeners bind to; empty means every address.
        type: str
        default: ""
      plain_listeners:
        description:
          - Plain-text listeners that are allowed (and expected).
        type: list
        elements: dict
        default: []
        suboptions:
          address:
            description:
              - Bound address.
            type: str
            required: true
          port:
            description:
              - Port.
            type: int
            required: true
          protocol:
            description:
              - Transport.
            type: str
            choices: [tcp, udp]
            default: tcp
      max_silence_seconds:
        description:
          - Longest time without a record from a peer (C(LOG-07)).
        type: int
        default: 900
      verify_hash_days:
        description:
          - Files sealed within this many days are re-hashed in full (C(LOG-09)).
        type: int
        default: 2
      max_seal_delay_seconds:
        description:
          - Longest time after its UTC day ended that a day file may stay unsealed (C(LOG-09)).
        type: int
        default: 7200
      proc_root:
        description:
          - Where procfs is mounted (tests point it elsewhere).
        type: path
        default: /proc
notes:
  - The shipper checks (C(LOG-01) .. C(LOG-05)) and the S3 upload (C(LOG-10)) are not part of
    this module yet.
"""

EXAMPLES = r"""
- name: Verify the log aggregator
  soc2_log:
    aggregator:
      enabled: true
      storage_root: /srv/soc2audit/logs
      peers:
        - name: edge1
          port: 6514
        - name: edge2
          port: 6515
  check_mode: false
  register: __log_aggregator_verify
"""

RETURN = r"""
changed:
  description: Always V(false); the module is read-only.
  returned: always
  type: bool
  sample: false
checks:
  description:
    - One result per check id, always C(LOG-06), C(LOG-07), C(LOG-08), C(LOG-09), C(LOG-11) in
      that order.
  returned: always
  type: list
  elements: dict
rsyslogd_pids:
  description: Process ids of the running rsyslogd processes.
  returned: when O(aggregator.enabled)
  type: list
  elements: int
listening:
  description: rsyslogd's listening sockets as C(<protocol> <address>:<port>).
  returned: when O(aggregator.enabled)
  type: list
  elements: str
files:
  description: The store's day files and C(.sha256) files (path, host, day, kind, size, mtime).
  returned: when O(aggregator.enabled)
  type: list
  elements: dict
stats:
  description: The store writer's C(stats.json), or V(null) when it could not be read.
  returned: when O(aggregator.enabled)
  type: dict
"""

from ansible.module_utils import soc2_log_family
from ansible.module_utils.soc2_family import run_module

ARGUMENT_SPEC = soc2_log_family.ARGUMENT_SPEC

__all__ = ["ARGUMENT_SPEC", "main"]


def main() -> None:
    run_module(soc2_log_family)


if __name__ == "__main__":
    main()
