#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Documentation of the soc2audit_results action (plugins/action/soc2audit_results.py)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2audit_results
short_description: Merge one drift run on the control node and write its outputs
description:
  - An action that runs on the control node only (C(plugins/action/soc2audit_results.py)); it
    calls C(soc2audit.pipeline.process_run), the same code the C(soc2audit) CLI reports from.
  - Reads, for every host in O(hosts), what the drift play left in its host variables (the
    registered C(soc2audit_verify) result with its C(checks) and C(observations), the
    its C(family_errors) when a family's parameters failed, C(group_names)) and the
    testinfra results, and builds the full result set of the run - one result per host and
    applicable catalog check. A host that produced nothing is C(not_run) for every check that
    applies to it, with the reason; a family whose parameters failed on a host that otherwise
    reported gives C(error) for its checks, with the reason. An unexpired waiver turns C(fail)
    and C(at_risk) into C(waived); an expired one leaves the result and says it expired; a
    C(fail) younger than O(grace_seconds) is C(at_risk). C(error) and C(not_run) are never
    waived.
  - Writes the evidence (JSON lines appended to C(<evidence_dir>/results-YYYY-MM-DD.jsonl)),
    C(last_run.jsonl), C(junit.xml), C(summary.txt) and the drift state under O(output_dir),
    and returns each reporting host's metrics text for the textfile collector.
  - A waivers file that does not validate fails the task before anything is written.
  - Recording evidence is not a configuration change; C(changed) is always V(false).
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
options:
  catalog:
    description: controls/catalog.yml.
    type: path
    required: true
  waivers:
    description: controls/waivers.yml (a missing file means no waivers).
    type: path
  evidence_dir:
    description: Directory of the evidence trail on the control node.
    type: path
    required: true
  output_dir:
    description: Directory for last_run.jsonl, junit.xml, summary.txt and state.json.
    type: path
    required: true
  grace_seconds:
    description: A failure younger than this many seconds is reported as C(at_risk).
    type: int
    default: 0
  started:
    description: When the run started (ISO 8601, UTC).
    type: str
    required: true
  hosts:
    description: The hosts of this run (the inventory, or the limit).
    type: list
    elements: str
    required: true
  testinfra_results:
    description: JSON lines written by the soc2audit pytest plugin; null when not run.
    type: path
  testinfra_error:
    description: Why the testinfra run failed, when it did (its checks become V(error)).
    type: str
  evidence_key:
    description:
      - The evidence signing key (Ed25519 PEM, C(soc2audit evidence keygen)). When the file
        exists, the digests of every interval that has ended are written after the evidence
        (docs/evidence.md); a digest that cannot be written is a warning. Absent or missing
        file, no digests.
    type: path
  digest_interval:
    description: Digest interval in seconds (aligned to the Unix epoch).
    type: int
    default: 3600
  anchor_s3:
    description:
      - Anchor the digests just written in an S3 bucket with Object Lock (COMPLIANCE), as
        C(soc2audit.anchor_s3) does (docs/evidence.md, "Anchors in S3"). Omitted, nothing is
        anchored. Bad settings fail before anything is written; a failed upload is a warning.
    type: dict
    suboptions:
      bucket:
        description: The bucket (created with Object Lock by the store's administrator).
        type: str
        required: true
      endpoint_url:
        description: https://host[:port] of the S3 API; empty, AWS.
        type: str
        default: ""
      region:
        description: The bucket's region.
        type: str
        default: us-east-1
      ca_bundle:
        description: CA file that verifies the endpoint's certificate; empty, the system's.
        type: str
        default: ""
      prefix:
        description: Key prefix of the anchor objects.
        type: str
        default: evidence-anchors
      retention_days:
        description: COMPLIANCE retention of each anchor; at least the evidence retention.
        type: int
        default: 366
      every:
        description: V(digest) anchors each digest, V(day) each UTC day's last.
        type: str
        default: digest
        choices: [digest, day]
      access_key_id:
        description: S3 access key; empty, boto3's chain.
        type: str
        default: ""
      secret_access_key:
        description: S3 secret key; empty, boto3's chain.
        type: str
        default: ""
  policies:
    description:
      - Directory of the fleet policies (policies/*.rego, docs/policies.md). When set, they are
        evaluated after the merge and their results join the result set as the rows of the
        pseudo-host C(fleet). A policy that does not load fails the task before anything is
        written, naming its file and line.
    type: path
  policy_params:
    description: Thresholds the policies read from C(input.params) (docs/policies.md).
    type: dict
    default: {}
  policy_metrics_group:
    description: Inventory group whose hosts' textfiles also carry the C(soc2audit_policy_*)
      metrics.
    type: str
    default: monitors
  opa_url:
    description:
      - Base URL (https) of an OPA server. When set, the policies are pushed to it over the
        REST API and evaluated there, with O(opa_cert) and O(opa_key) as client certificate;
        otherwise the embedded engine (regopy) evaluates them.
    type: str
  opa_ca:
    description: CA bundle that verifies the OPA server's certificate.
    type: path
  opa_cert:
    description: Client certificate (PEM) presented to the OPA server.
    type: path
  opa_key:
    description: Private key of O(opa_cert).
    type: path
  tsa_url:
    description:
      - RFC 3161 Time Stamping Authority that timestamps the digests (docs/evidence.md,
        RFC 3161 timestamps); default C($SOC2AUDIT_EVIDENCE_TSA_URL); none, no timestamps.
        A token that cannot be had is a warning; the next digest step asks again.
    type: str
  tsa_ca:
    description: The TSA's CA certificate (PEM), required with O(tsa_url); default
      C($SOC2AUDIT_EVIDENCE_TSA_CA).
    type: path
  tsa_policy:
    description: Which digests get a token; default C($SOC2AUDIT_EVIDENCE_TSA_POLICY), else
      V(every).
    type: str
    choices: [every, daily]
"""

EXAMPLES = r"""
- name: Merge the run
  soc2audit_results:
    catalog: controls/catalog.yml
    evidence_dir: evidence
    output_dir: .cache/drift
    started: "{{ run_started }}"
    hosts: "{{ query('inventory_hostnames', 'all') }}"
  register: soc2audit_run
"""

RETURN = r"""
run_id:
  description: The run's id (UUID).
  type: str
  returned: success
counts:
  description: Number of results per result value.
  type: dict
  returned: success
exit_code:
  description: 0 all pass/waived/not_applicable, 1 a failure or at_risk, 2 only errors or not_run.
  type: int
  returned: success
summary:
  description: The human summary table.
  type: str
  returned: success
textfiles:
  description: Metrics text per host that reported.
  type: dict
  returned: success
paths:
  description: Files written.
  type: dict
  returned: success
policy_sha256:
  description: SHA-256 over the catalog and the waivers file, as in every result row.
  type: str
  returned: success
policy_engine:
  description: The engine that evaluated the fleet policies (embedded or opa); empty when none.
  type: str
  returned: success
warnings:
  description: Observations that were skipped (bad metric name or value), with why; a digest
    that could not be written.
  type: list
  elements: str
  returned: success
digests:
  description: Digests written at the end of the run (relative to O(evidence_dir)).
  type: list
  elements: str
  returned: success
anchors:
  description: Anchors written to the S3 Object Lock bucket (s3:// URLs).
  type: list
  elements: str
  returned: success
"""

if __name__ == "__main__":
    import json
    import sys

    print(json.dumps({"failed": True, "msg": "soc2audit_results runs on the control node only"}))
    sys.exit(1)
