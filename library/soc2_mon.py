#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_mon: read-only verification of the monitoring (MON family)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_mon
short_description: Verify that monitoring operates (MON-05 to MON-08, the monitor's checks)
description:
  - "On a monitor, asks Prometheus, Alertmanager and soc2audit's evidence receiver over their own
    TLS (the client certificate O(prometheus.cert_path), and basic auth when
    O(prometheus.username) is set), and reads the rule files the role installed."
  - "C(MON-05): every host of O(prometheus.expected_instances) is an active target of the job
    O(prometheus.job) and its health is C(up)."
  - "C(MON-06): each file of O(prometheus.rule_files) has the SHA-256 of the role's rendering,
    Prometheus' last configuration reload succeeded and came after the file's last change, the
    groups and rules Prometheus serves from it are exactly the rendered ones, no other rule file
    is loaded and no rule is in error."
  - "C(MON-07): Alertmanager answers C(/-/healthy) and Prometheus lists it among its active
    Alertmanagers."
  - "C(MON-08): the evidence receiver answers C(/healthz) with C(ok) and Alertmanager's loaded
    configuration has a webhook to it with C(send_resolved: true)."
  - Every check is V(not_applicable) when O(prometheus.enabled) is V(false). The exporter's
    checks (C(MON-01) to C(MON-04)) join this family from the node_exporter side.
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
requirements:
  - the monitor converged by the prometheus role
options:
  prometheus:
    description:
      - The monitor's settings (the prometheus role's C(_prometheus_verify_params.prometheus)).
    type: dict
    suboptions:
      enabled:
        description:
          - Whether this host is a monitor; V(false) makes every check V(not_applicable).
        type: bool
        default: false
      url:
        description:
          - Prometheus' base URL, as local clients reach it.
        type: str
        default: https://127.0.0.1:9090
      alertmanager_url:
        description:
          - Alertmanager's base URL.
        type: str
        default: https://127.0.0.1:9093
      receiver_url:
        description:
          - The evidence receiver's base URL.
        type: str
        default: https://127.0.0.1:9097
      server_name:
        description:
          - Name the servers' certificates are verified against ('' uses the URL's host).
        type: str
        default: ""
      ca_path:
        description:
          - CA chain the servers' certificates must chain to.
        type: path
        default: /etc/ssl/soc2audit/ca-chain.pem
      cert_path:
        description:
          - Client certificate presented to the three servers.
        type: path
        default: /etc/ssl/soc2audit/prometheus-scrape-fullchain.crt
      key_path:
        description:
          - Its private key.
        type: path
        default: /etc/ssl/soc2audit/private/prometheus-scrape.key
      username:
        description:
          - Basic auth user ('' for none).
        type: str
        default: ""
      password:
        description:
          - Basic auth password.
        type: str
        default: ""
      expected_instances:
        description:
          - Inventory names that must be up targets.
        type: list
        elements: str
        default: []
      job:
        description:
          - The scrape job of the node_exporter targets.
        type: str
        default: node
      rule_files:
        description:
          - The rule files the role renders.
        type: list
        elements: dict
        default: []
        suboptions:
          path:
            description:
              - Path of the file on the monitor.
            type: path
            required: true
          sha256:
            description:
              - SHA-256 of the role's rendering.
            type: str
            required: true
          groups:
            description:
              - Its rule groups in file order.
            type: list
            elements: dict
            default: []
            suboptions:
              name:
                description:
                  - Group name.
                type: str
                required: true
              rules:
                description:
                  - Alert or record names in order.
                type: list
                elements: str
                default: []
      timeout:
        description:
          - Seconds per request.
        type: float
        default: 5.0
"""

EXAMPLES = r"""
- name: Verify the monitor
  soc2_mon:
    prometheus:
      enabled: true
      server_name: monitor
      expected_instances: [edge1, edge2, aggregator, monitor]
  check_mode: false
  register: __prometheus_verify
"""

RETURN = r"""
changed:
  description: Always V(false); the module is read-only.
  returned: always
  type: bool
  sample: false
checks:
  description:
    - One result per check id, always C(MON-05) .. C(MON-08) in that order.
  returned: always
  type: list
  elements: dict
prometheus:
  description: The base URL asked (C(prometheus_url)) when the host is a monitor.
  returned: always
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
