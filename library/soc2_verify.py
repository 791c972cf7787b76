#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_verify: every control family's read-only verifier in one round trip."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_verify
short_description: Run every control family's verifier on a host in one module run
description:
  - The drift check's single round trip per host. Each family's parameters are the options of
    that family's own module (M(soc2_pki), M(soc2_time), M(soc2_nft), M(soc2_auditd)); the same
    code in C(plugins/module_utils/soc2_<family>_family.py) runs here, so both give the same
    results.
  - A family whose parameters are invalid, or whose verifier raises, yields V(error) for each of
    its checks with the reason, and the other families still run.
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
options:
  families:
    description:
      - Family name (V(pki), V(time), V(net), V(aud), V(log), V(mon), V(ssh), V(host)) to that
        family's verifier parameters. A family that is left out or V(null) is not run, and the
        control node reports its checks as C(not_run).
      - Give O(families) or O(family_vars).
    type: dict
  family_vars:
    description:
      - Instead of O(families), a list of C({family, key, var}) (V(family) as in the catalog,
        V(key) as in O(families), V(var) the name of the variable holding that family's
        parameters). The action plugin resolves each variable on the control node; a family whose
        variable cannot be resolved is left out and returned in RV(family_errors).
    type: list
    elements: dict
    suboptions:
      family:
        description: The family code, as in the catalog (V(PKI)).
        type: str
        required: true
      key:
        description: The family's key in O(families) (V(pki)).
        type: str
        required: true
      var:
        description:
          - The variable that holds the family's parameters (V(_pki_verify_params)), or a list
            of variables whose values (dicts) are merged in order, a later key replacing an
            earlier one, for a family whose parameters come from several roles (LOG takes
            V(_log_shipper_verify_params) and V(_log_aggregator_verify_params)).
        type: raw
        required: true
"""

EXAMPLES = r"""
- name: Verify every family in one round trip
  soc2_verify:
    families:
      pki:
        ca_chain_path: /etc/ssl/soc2audit/ca-chain.pem
        certificates:
          - name: host
            cert_path: /etc/ssl/soc2audit/host.crt
            key_path: /etc/ssl/soc2audit/private/host.key
            sans: ["DNS:edge1"]
      time:
        max_error: 0.05
        expected_sources: [aggregator]
      net:
        table: soc2_filter
        ruleset: "{{ lookup('ansible.builtin.template', 'etc/nftables.d/soc2_filter.nft.j2') }}"
      aud:
        rules:
          - id: identity
            key: soc2-cc6.1-identity
            kind: watch
            paths: [/etc/passwd, /etc/shadow]
        config:
          log_format: ENRICHED
  register: verified

- name: The drift run's way (playbooks/drift_check.yml) - each family's parameters from a variable
  soc2_verify:
    family_vars:
      - {family: PKI, key: pki, var: _pki_verify_params}
      - {family: TIME, key: time, var: _timesync_verify_params}
  register: verified
"""

RETURN = r"""
checks:
  description: Every family's check results, in the module result schema
    (docs/architecture.md "Verification modules").
  type: list
  elements: dict
  returned: always
observations:
  description:
    - Numeric observations for the metrics file (key, labels, value); the control node maps each
      key to its metric name and HELP text (soc2audit/metrics.py).
  type: list
  elements: dict
  returned: always
families:
  description: Per family, the raw facts its verifier read (as the family's own module returns).
  type: dict
  returned: always
errors:
  description: Per family that could not run, why.
  type: dict
  returned: always
family_errors:
  description: Per family left out because its O(family_vars) variable could not be resolved,
    C({family, reason}) (empty with O(families)).
  type: list
  elements: dict
  returned: always
durations:
  description: Seconds each family took on the host.
  type: dict
  returned: always
"""

from ansible.module_utils import (
    soc2_auditd_family,
    soc2_host_family,
    soc2_log_family,
    soc2_mon_family,
    soc2_nft_family,
    soc2_pki_family,
    soc2_ssh_family,
    soc2_time_family,
)
from ansible.module_utils.soc2_family import registry, run_families

# Every family soc2_verify runs: its module_utils, imported above (Ansible ships only the
# module_utils a module imports by name), and one entry here, keyed by its lower-case FAMILY.
FAMILIES = registry(
    soc2_pki_family,
    soc2_time_family,
    soc2_nft_family,
    soc2_log_family,
    soc2_mon_family,
    soc2_ssh_family,
    soc2_host_family,
    soc2_auditd_family,
)


def main() -> None:
    run_families(FAMILIES)


if __name__ == "__main__":
    main()
