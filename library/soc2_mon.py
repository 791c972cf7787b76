#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_mon: read-only verification of the monitoring (MON family)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_mon
short_description: Verify node_exporter, Prometheus, Alertmanager and the evidence receiver (MON)
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
  - Returns one result per check id, always all seven; MON-01 to MON-03 are V(not_applicable)
    when O(exporter.enabled) is V(false), MON-05 to MON-08 when O(prometheus.enabled) is V(false).
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
requirements:
  - Linux with systemd; node_exporter converged by the node_exporter role
  - on a monitor, the prometheus role
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
      alerts_dir:
        description:
          - The evidence receiver's directory of C(alerts-YYYY-MM-DD.jsonl) files on the monitor.
        type: path
        default: /var/lib/soc2audit/evidence
      alerts_cursor:
        description:
          - "Where the control node's evidence has the receiver's lines up to,
            C({files: {name: {end, last_offset, sha256}}}) (the C(soc2audit_alert_cursor)
            lookup). When given, the module returns the complete lines past it in
            RV(prometheus.alerts) for the drift run to append to the control node's evidence
            (docs/drift.md \"Alert records\"); V(null) reads none."
        type: dict
      alerts_max_bytes:
        description:
          - Most bytes of alert lines returned by one run; the rest comes with the next.
        type: int
        default: 1048576
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
    - One result per check id, always C(MON-01) .. C(MON-03) then C(MON-05) .. C(MON-08).
  returned: always
  type: list
  elements: dict
exporter:
  description:
    - What the checks read (unit state, the web configuration, the probes without the bodies,
      the textfile facts of the scrape).
  returned: when O(exporter.enabled)
  type: dict
prometheus:
  description:
    - "The base URL asked (C(prometheus_url)) when the host is a monitor, and with
      O(prometheus.alerts_cursor) the receiver's new lines (C(alerts):
      C({dir, lines: [{file, offset, end, sha256, text}], more, notes}))."
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
