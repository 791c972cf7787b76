#!/usr/bin/python
"""Merge the per-host check results of one drift run into the full result set."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2audit_results
short_description: Merge one drift run's per-host check results into the full result set
description:
  - Runs on the control node. Takes the checks each host's verifiers returned and the control
    catalog, and writes one result per (host, check) that applies to the host, in the DESIGN.md
    schema, as JSON lines. A host that returned nothing gets C(not_run) for every check that
    applies to it; silence is never a pass.
  - Appending the run's evidence is not a configuration change, so C(changed) is always false.
options:
  catalog:
    description: Path of controls/catalog.yml.
    type: path
    required: true
  hosts:
    description: Every host of the inventory.
    type: list
    elements: str
    required: true
  host_groups:
    description: Inventory groups per host (for the catalog's applies_to).
    type: dict
    required: true
  host_checks:
    description: Checks per host as the verifiers returned them; null for a host that produced none.
    type: dict
    required: true
  host_errors:
    description:
      - Why a host produced no checks (unreachable, verifier failed), per host.
      - Shown as the message of that host's not_run results.
    type: dict
    default: {}
  dest:
    description: JSON lines file that receives this run's full result set (replaced atomically).
    type: path
    required: true
author: soc2-audit-metrics
"""

RETURN = r"""
results:
  description: The full result set of the run.
  type: list
  returned: always
counts:
  description: Number of results per result value.
  type: dict
  returned: always
summary:
  description: Human summary, one line per host.
  type: list
  returned: always
"""

import datetime
import hashlib
import json
import os
import tempfile
import uuid
from typing import Any

from ansible.module_utils.basic import AnsibleModule

RESULTS = ("pass", "fail", "error", "not_applicable", "not_run", "waived", "at_risk")
SUITE_VERSION = "0.1.0"


def applies(check: dict[str, Any], groups: list[str]) -> bool:
    targets = check.get("applies_to") or ["all"]
    return "all" in targets or bool(set(targets) & set(groups))


def merge(
    catalog: list[dict[str, Any]],
    hosts: list[str],
    host_groups: dict[str, list[str]],
    host_checks: dict[str, list[dict[str, Any]] | None],
    run_id: str,
    now: str,
    policy_sha256: str,
    host_errors: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    known = {c["id"] for c in catalog}
    out: list[dict[str, Any]] = []
    for host in hosts:
        emitted = {c["check_id"]: c for c in (host_checks.get(host) or [])}
        for check_id in sorted(set(emitted) - known):
            raise ValueError(f"{host}: check {check_id} is emitted but not in the catalog")
        for check in catalog:
            if not applies(check, host_groups.get(host, [])):
                continue
            got = emitted.get(check["id"])
            base = {
                "run_id": run_id,
                "host": host,
                "check_id": check["id"],
                "started": now,
                "finished": now,
                "suite_version": SUITE_VERSION,
                "policy_sha256": policy_sha256,
            }
            if got is None:
                reason = (host_errors or {}).get(host) or (
                    "host unreachable or verifier failed"
                    if host_checks.get(host) is None
                    else "verifier did not report this check"
                )
                base.update(result="not_run", observed=None, expected=None, message=reason)
            else:
                result = got.get("result")
                if result not in RESULTS:
                    result, msg = "error", f"verifier returned unknown result {result!r}"
                else:
                    msg = got.get("message", "")
                base.update(
                    result=result,
                    observed=got.get("observed"),
                    expected=got.get("expected"),
                    message=msg,
                )
            out.append(base)
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "catalog": {"type": "path", "required": True},
            "hosts": {"type": "list", "elements": "str", "required": True},
            "host_groups": {"type": "dict", "required": True},
            "host_checks": {"type": "dict", "required": True},
            "host_errors": {"type": "dict", "default": {}},
            "dest": {"type": "path", "required": True},
        },
        supports_check_mode=True,
    )
    import yaml  # the control node always has PyYAML (ansible-core needs it)

    p = module.params
    with open(p["catalog"], "rb") as handle:
        raw = handle.read()
    catalog = (yaml.safe_load(raw) or {}).get("checks", [])
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    try:
        results = merge(
            catalog,
            p["hosts"],
            p["host_groups"],
            p["host_checks"],
            str(uuid.uuid4()),
            now,
            hashlib.sha256(raw).hexdigest(),
            p["host_errors"],
        )
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    dest = os.path.abspath(p["dest"])
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".results-")
    with os.fdopen(fd, "w") as handle:
        for row in results:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
    os.replace(tmp, dest)
    counts = {r: sum(1 for x in results if x["result"] == r) for r in RESULTS}
    summary = []
    for host in p["hosts"]:
        rows = [x for x in results if x["host"] == host]
        per = {r: sum(1 for x in rows if x["result"] == r) for r in RESULTS}
        text = ", ".join(f"{n} {r}" for r, n in per.items() if n)
        bad = [
            f"{x['check_id']}={x['result']}"
            for x in rows
            if x["result"] not in ("pass", "waived", "not_applicable")
        ]
        summary.append(f"{host}: {text}" + (f" [{'; '.join(bad)}]" if bad else ""))
    module.exit_json(changed=False, results=results, counts=counts, summary=summary)


if __name__ == "__main__":
    main()
