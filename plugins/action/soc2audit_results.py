# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin soc2audit_results: merge a drift run on the control node (docs in library/)."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from soc2audit.anchor_s3 import AnchorError, from_mapping
from soc2audit.catalog import Catalog, load_catalog
from soc2audit.pipeline import process_run
from soc2audit.policy import EmbeddedEngine, Engine, OpaEngine, OpaSettings, PolicyLoadError
from soc2audit.results import PolicyError
from soc2audit.timestamp import tsa_from

_DISPLAY = Display()

# The options documented in library/soc2audit_results.py (a unit test keeps the two equal).
ARGUMENT_SPEC: dict[str, Any] = {
    "catalog": {"type": "path", "required": True},
    "waivers": {"type": "path"},
    "evidence_dir": {"type": "path", "required": True},
    "output_dir": {"type": "path", "required": True},
    "grace_seconds": {"type": "int", "default": 0},
    "started": {"type": "str", "required": True},
    "hosts": {"type": "list", "elements": "str", "required": True},
    "testinfra_results": {"type": "path"},
    "testinfra_error": {"type": "str"},
    "evidence_key": {"type": "path"},
    "digest_interval": {"type": "int", "default": 3600},
    "anchor_s3": {
        "type": "dict",
        "options": {
            "bucket": {"type": "str", "required": True},
            "endpoint_url": {"type": "str", "default": ""},
            "region": {"type": "str", "default": "us-east-1"},
            "ca_bundle": {"type": "str", "default": ""},
            "prefix": {"type": "str", "default": "evidence-anchors"},
            "retention_days": {"type": "int", "default": 366},
            "every": {"type": "str", "default": "digest", "choices": ["digest", "day"]},
            "access_key_id": {"type": "str", "default": "", "no_log": True},
            "secret_access_key": {"type": "str", "default": "", "no_log": True},
        },
    },
    "policies": {"type": "path"},
    "policy_params": {"type": "dict", "default": {}},
    "policy_metrics_group": {"type": "str", "default": "monitors"},
    "opa_url": {"type": "str"},
    "opa_ca": {"type": "path"},
    "opa_cert": {"type": "path"},
    "opa_key": {"type": "path"},
    "tsa_url": {"type": "str"},
    "tsa_ca": {"type": "path"},
    "tsa_policy": {"type": "str", "choices": ["every", "daily"]},
}


def _testinfra_rows(
    path: str | None, error: str, catalog: Catalog, hosts: list[str], host_groups: dict
) -> list[dict[str, Any]]:
    """The testinfra plugin's rows, or error rows for its checks when it produced none."""
    if not path:
        return []
    rows: list[dict[str, Any]] = []
    problem = error or None
    try:
        with open(path, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        problem = problem or f"the testinfra run wrote no results ({path})"
    except (OSError, ValueError) as exc:
        problem = f"cannot read the testinfra results {path}: {exc}"
        rows = []
    if rows or not problem:
        return rows
    out = []
    for host in hosts:
        for check in catalog.applicable(host_groups.get(host, [])):
            if not check.source.startswith("controls/"):
                continue
            out.append(
                {
                    "host": host,
                    "check_id": check.id,
                    "result": "error",
                    "observed": None,
                    "expected": None,
                    "message": f"testinfra checks did not run: {problem}",
                }
            )
    return out


def _family_error(error: Any) -> tuple[str, str] | None:
    """(family, reason) of one entry of family_errors (soc2_verify), a dict {family, reason};
    None for an entry that is not one (it is still shown in the host's message)."""
    if not isinstance(error, Mapping):
        return None
    family, reason = str(error.get("family") or ""), str(error.get("reason") or "failed")
    return (family, reason) if family else None


def _error_text(error: Any) -> str:
    named = _family_error(error)
    return f"{named[0]}: {named[1]}" if named else str(error)


def _family_errors(
    errors: list[Any], checks: list[dict[str, Any]], catalog: Any, groups: list[str]
) -> list[dict[str, Any]]:
    """Error results for the module checks of each family in family_errors."""
    reported = {c.get("check_id") for c in checks}
    out: list[dict[str, Any]] = []
    for error in errors:
        named = _family_error(error)
        if not named:
            continue
        family, why = named
        for check in catalog.applicable(groups):
            if check.family != family or check.id in reported:
                continue
            if check.source.startswith("controls/"):
                continue
            out.append(
                {
                    "check_id": check.id,
                    "result": "error",
                    "observed": None,
                    "expected": None,
                    "message": f"{family} verifier not run: its parameters failed: {why}",
                }
            )
            reported.add(check.id)
    return out


def _policy_engine(args: Mapping[str, Any]) -> Engine:
    """The OPA engine when opa_url is set (its client certificate required), else embedded."""
    if not args.get("opa_url"):
        return EmbeddedEngine()
    missing = [k for k in ("opa_ca", "opa_cert", "opa_key") if not args.get(k)]
    if missing:
        raise AnsibleActionFail(
            f"opa_url is set but {', '.join(missing)} is not: the OPA server is only asked over "
            "mutual TLS (set soc2audit_opa_ca, soc2audit_opa_cert and soc2audit_opa_key)"
        )
    try:
        return OpaEngine(
            OpaSettings(
                url=str(args["opa_url"]),
                ca_file=str(args["opa_ca"]),
                cert_file=str(args["opa_cert"]),
                key_file=str(args["opa_key"]),
            )
        )
    except (PolicyLoadError, OSError, ValueError) as exc:
        raise AnsibleActionFail(f"OPA engine: {exc}") from exc


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        grace = args["grace_seconds"] or 0
        if grace < 0:
            raise AnsibleActionFail("grace_seconds must not be negative")

        try:
            catalog = load_catalog(args["catalog"])
        except ValueError as exc:
            raise AnsibleActionFail(f"catalog: {exc}") from exc
        hostvars = task_vars.get("hostvars", {})
        hosts = [str(h) for h in args["hosts"]]
        host_groups: dict[str, list[str]] = {}
        host_checks: dict[str, list[dict[str, Any]] | None] = {}
        host_errors: dict[str, str] = {}
        host_observations: dict[str, list[dict[str, Any]]] = {}
        host_facts: dict[str, Any] = {}
        host_addresses: dict[str, list[str]] = {}
        # A monitor's new alert records (the MON verifier's families.mon.prometheus.alerts).
        host_alerts: dict[str, Any] = {}
        for host in hosts:
            hv = hostvars.get(host, {}) if host in hostvars else {}
            host_groups[host] = [g for g in hv.get("group_names", []) if g != "ungrouped"]
            verified = hv.get("soc2audit_verify") or {}
            checks = verified.get("checks")
            # {family, reason} of each family whose parameters could not be worked out
            # (plugins/action/soc2_verify.py).
            errors = list(verified.get("family_errors") or [])
            if checks:
                # A family whose parameters could not be worked out ({family, reason}) did not
                # run on a host that otherwise reported: its checks are errors that say why.
                checks = list(checks) + _family_errors(
                    errors, checks, catalog, [g for g in hv.get("group_names", [])]
                )
            host_checks[host] = list(checks) if checks else None
            if not checks and verified.get("msg"):
                errors.append(str(verified["msg"]).strip())
            if not checks and not errors:
                errors = ["host unreachable or the drift play did not run on it"]
            host_errors[host] = "; ".join(_error_text(e) for e in errors)
            host_observations[host] = list(verified.get("observations") or [])
            host_facts[host] = dict(verified.get("families") or {})
            ipv4 = (hv.get("ansible_facts") or {}).get("default_ipv4") or {}
            host_addresses[host] = [
                str(a) for a in (hv.get("ansible_host"), ipv4.get("address")) if a
            ]
            mon = ((verified.get("families") or {}).get("mon") or {}).get("prometheus") or {}
            if isinstance(mon, Mapping) and mon.get("alerts") is not None:
                host_alerts[host] = mon["alerts"]

        testinfra = _testinfra_rows(
            args["testinfra_results"],
            str(args["testinfra_error"] or "").strip(),
            catalog,
            [h for h in hosts if host_checks[h] is not None],
            host_groups,
        )
        out_dir = Path(args["output_dir"])
        engine = _policy_engine(args) if args["policies"] else None
        try:
            anchor_store = from_mapping(args["anchor_s3"])
        except AnchorError as exc:
            raise AnsibleActionFail(f"{exc}; nothing was written") from exc
        try:
            outcome = process_run(
                catalog_path=Path(args["catalog"]),
                waivers_path=Path(args["waivers"]) if args["waivers"] else None,
                state_path=out_dir / "state.json",
                evidence_dir=Path(args["evidence_dir"]),
                out_dir=out_dir,
                hosts=hosts,
                host_groups=host_groups,
                host_checks=host_checks,
                host_errors=host_errors,
                host_observations=host_observations,
                testinfra_rows=testinfra,
                started=str(args["started"]),
                finished=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                grace_seconds=grace,
                evidence_key=Path(args["evidence_key"]) if args["evidence_key"] else None,
                digest_interval=int(args["digest_interval"]),
                anchor_s3=anchor_store,
                policies_dir=Path(args["policies"]) if args["policies"] else None,
                policy_engine=engine,
                policy_params=args["policy_params"] or {},
                host_facts=host_facts,
                host_addresses=host_addresses,
                policy_metrics_group=args["policy_metrics_group"],
                host_alerts=host_alerts,
                tsa=tsa_from(args["tsa_url"], args["tsa_ca"], args["tsa_policy"]),
            )
        except PolicyError as exc:
            raise AnsibleActionFail(f"policy error, nothing was written: {exc}") from exc
        except ValueError as exc:
            raise AnsibleActionFail(str(exc)) from exc
        result.update(
            changed=False,
            run_id=outcome.run_id,
            counts=outcome.counts,
            exit_code=outcome.exit_code,
            summary=outcome.summary,
            textfiles=outcome.textfiles,
            paths={k: str(v) for k, v in outcome.paths.items()},
            policy_sha256=outcome.policy_sha256,
            warnings=list(outcome.warnings),
            digests=list(outcome.digests),
            anchors=list(outcome.anchors),
            policy_engine=engine.name if engine is not None else "",
        )
        for warning in outcome.warnings:
            _DISPLAY.warning(f"soc2audit_results: {warning}")
        return result
