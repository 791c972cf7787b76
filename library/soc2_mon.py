#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_mon: read-only verification of node_exporter (MON-01 .. MON-03)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_mon
short_description: Verify node_exporter over mTLS and its textfile directory (MON-01 to MON-03)
description:
  - "In one module run on the host: one C(systemctl show) of the exporter's unit, the rendered
    web configuration, TLS connections from the host to its own exporter, and a stat of the
    textfile directory and the drift run's metrics file."
  - "C(MON-01): the unit O(exporter.service) is loaded, active and enabled."
  - "C(MON-02): the web configuration requires and verifies client certificates
    (C(RequireAndVerifyClientCert)) against O(exporter.ca_path) with TLS 1.2 or later; a client
    without a certificate is refused; with O(exporter.client_cert_path) present, a client with
    that certificate is served C(/metrics) by node_exporter."
  - "C(MON-03): O(exporter.textfile_dir) has group O(exporter.textfile_group) and mode
    O(exporter.textfile_mode); O(exporter.metrics_file) in it is at most
    O(exporter.max_metrics_age_seconds) old; with a scrape, node_exporter serves the file and
    reports no textfile scrape error."
  - Returns one result per check id, always all three; V(not_applicable) when
    O(exporter.enabled) is V(false).
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
requirements:
  - Linux with systemd; node_exporter converged by the node_exporter role
options:
  exporter:
    description:
      - node_exporter's settings (the node_exporter role's
        C(_node_exporter_verify_params.exporter)).
    type: dict
    suboptions:
      enabled:
        description:
          - Whether node_exporter is managed on this host; V(false) makes every check
            V(not_applicable).
        type: bool
        default: false
      service:
        description:
          - The exporter's systemd unit (C(.service) is added when no suffix is given).
        type: str
        default: prometheus-node-exporter
      web_config_path:
        description:
          - The web configuration the role rendered (JSON, read with the standard library).
        type: path
        default: /etc/node_exporter/web-config.yml
      address:
        description:
          - Address the host's own probes connect to.
        type: str
        default: 127.0.0.1
      port:
        description:
          - The exporter's port.
        type: int
        default: 9100
      server_name:
        description:
          - Name the exporter's certificate must carry (TLS server name); empty skips the
            name check.
        type: str
        default: ""
      ca_path:
        description:
          - The CA bundle the exporter's certificate chains to and client certificates are
            verified against.
        type: path
        default: /etc/ssl/soc2audit/ca-chain.pem
      client_cert_path:
        description:
          - Client certificate the probe presents; empty or absent only checks the refusal.
        type: str
        default: /etc/ssl/soc2audit/host.crt
      client_key_path:
        description:
          - Its key.
        type: str
        default: /etc/ssl/soc2audit/private/host.key
      textfile_dir:
        description:
          - The textfile collector's directory.
        type: path
        default: /var/lib/prometheus/node-exporter
      textfile_group:
        description:
          - Group the directory must have.
        type: str
        default: soc2audit-metrics
      textfile_mode:
        description:
          - Mode the directory must have (octal).
        type: str
        default: "2775"
      metrics_file:
        description:
          - The drift run's metrics file in the directory.
        type: str
        default: soc2audit.prom
      max_metrics_age_seconds:
        description:
          - Oldest the metrics file may be.
        type: int
        default: 7200
notes:
  - The Prometheus and Alertmanager checks of the MON family are not part of this module yet.
"""

EXAMPLES = r"""
- name: Verify node_exporter
  soc2_mon:
    exporter:
      enabled: true
      server_name: edge1
      client_cert_path: /etc/ssl/soc2audit/host.crt
      client_key_path: /etc/ssl/soc2audit/private/host.key
  check_mode: false
  register: __node_exporter_verify
"""

RETURN = r"""
changed:
  description: Always V(false); the module is read-only.
  returned: always
  type: bool
  sample: false
checks:
  description:
    - One result per check id, always C(MON-01) .. C(MON-03) in that order.
  returned: always
  type: list
  elements: dict
exporter:
  description:
    - What the checks read (unit state, the web configuration, the probes without the bodies,
      the textfile facts of the scrape).
  returned: when O(exporter.enabled)
  type: dict
"""

from ansible.module_utils import soc2_mon_family
from ansible.module_utils.soc2_family import run_module

ARGUMENT_SPEC = soc2_mon_family.ARGUMENT_SPEC

__all__ = ["ARGUMENT_SPEC", "main"]


def main() -> None:
    run_module(soc2_mon_family)


if __name__ == "__main__":
    main()
