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
    its checks with the reason, and the other families still run. An error is never folded into
    V(fail) or V(not_applicable).
  - Read-only, safe in check mode; C(changed) is always V(false).
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
options:
  families:
    description:
      - Family name (V(pki), V(time), V(net), V(aud)) to that family's verifier parameters. A
        family that is left out or V(null) is not run, and the control node reports its checks
        as C(not_run).
    type: dict
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
"""

RETURN = r"""
checks:
  description: Every family's check results, in the module result schema
    (docs/architecture.md "Verification modules").
  type: list
  elements: dict
  returned: always
observations:
  description: Numeric observations for the metrics file (metric, help, labels, value).
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
durations:
  description: Seconds each family took on the host.
  type: dict
  returned: always
"""

import time
import traceback
from typing import Any

from ansible.module_utils import (
    soc2_auditd_family,
    soc2_nft_family,
    soc2_pki_family,
    soc2_time_family,
)
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.soc2_results import make_check

# Family name -> module_utils with ARGUMENT_SPEC, CHECK_IDS, FAMILY, validate() and verify().
FAMILIES: dict[str, Any] = {
    "pki": soc2_pki_family,
    "time": soc2_time_family,
    "net": soc2_nft_family,
    "aud": soc2_auditd_family,
}


def family_params(family: Any, raw: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """Validate one family's parameters against its module's argument spec."""
    validated = ArgumentSpecValidator(family.ARGUMENT_SPEC).validate(raw)
    if validated.error_messages:
        return None, list(validated.error_messages)
    params = validated.validated_parameters
    return params, family.validate(params)


def run_family(module: Any, family: Any, raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(the family's result, None) or (error checks, why)."""
    params, problems = family_params(family, raw)
    why = None
    if problems:
        why = "invalid parameters: " + "; ".join(problems)
    else:
        try:
            return family.verify(module, params), None
        except Exception as exc:  # any verifier crash becomes error results
            last = traceback.extract_tb(exc.__traceback__)[-1]
            why = f"verifier crashed: {type(exc).__name__}: {exc} (at {last.name}:{last.lineno})"
    checks = [
        make_check(check_id, "error", None, None, f"{family.FAMILY} verifier: {why}")
        for check_id in family.CHECK_IDS
    ]
    return {"checks": checks, "observations": []}, why


def main() -> None:
    module = AnsibleModule(
        argument_spec={"families": {"type": "dict", "required": True}},
        supports_check_mode=True,
    )
    requested = module.params["families"]
    unknown = sorted(set(requested) - set(FAMILIES))
    if unknown:
        module.fail_json(
            msg=f"unknown families {unknown}; known: {sorted(FAMILIES)}",
            changed=False,
        )
    checks: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    errors: dict[str, str] = {}
    durations: dict[str, float] = {}
    diffs: list[dict[str, Any]] = []
    for name in sorted(requested):
        raw = requested[name]
        if raw is None:
            continue
        if not isinstance(raw, dict):
            module.fail_json(msg=f"families.{name} must be a dict of parameters", changed=False)
        began = time.monotonic()
        out, why = run_family(module, FAMILIES[name], raw)
        durations[name] = round(time.monotonic() - began, 4)
        checks.extend(out.pop("checks"))
        observations.extend(out.pop("observations", []))
        if "diff" in out:
            diffs.append(out.pop("diff"))
        if why:
            errors[name] = why
        facts[name] = out
    result: dict[str, Any] = {
        "changed": False,
        "checks": checks,
        "observations": observations,
        "families": facts,
        "errors": errors,
        "durations": durations,
    }
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
