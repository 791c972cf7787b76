# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The control-node results pipeline of one drift run, as one call.

``process_run`` reads the policy (catalog + waivers) and the drift state, merges what the hosts
reported, renders each reporting host's textfile, and writes the run's outputs:

* the evidence trail: ``<evidence_dir>/results-YYYY-MM-DD.jsonl`` (appended);
* ``<out_dir>/last_run.jsonl`` (the full result set, replaced atomically);
* ``<out_dir>/junit.xml`` and ``<out_dir>/summary.txt``;
* the drift state file (last, so a run that failed half-way is judged again from the old state);
* the monitors' new alert records (``host_alerts``): appended to ``<evidence_dir>/alerts-`` of
  the day (``soc2audit.alert_import``, docs/drift.md "Alert records"), before the digests;
* when ``evidence_key`` names an existing signing key: the digests of every interval that has
  ended (``soc2audit.chain.write_due_digests``, docs/evidence.md). A digest that cannot be
  written is a warning, never a lost run: the chain shows the gap and ``evidence verify``
  names the cause. With a ``tsa``, then the RFC 3161 tokens still missing
  (``soc2audit.timestamp.stamp_missing``); one that cannot be had is a warning too.
* when ``anchor_s3`` is given: the digests just written are anchored in the S3 Object Lock
  bucket (``soc2audit.anchor_s3``); a failed anchor is a warning too, caught up next run.

When ``policies_dir`` is given, the fleet policies (policies/*.rego, soc2audit.policy) are
evaluated after the merge on the input document built from the merged rows, the observations, the
verifiers' facts, the inventory groups, the waivers and the history of recent runs
(``<out_dir>/policy_history.jsonl``); their results join the result set as the rows of the
pseudo-host ``fleet`` (drift, grace and waivers apply as to any row), each with its ``decision``
(engine, query, value, input SHA-256). ``<out_dir>/policy_input.json`` keeps the document and
``<out_dir>/policy.prom`` the ``soc2audit_policy_*`` metrics, which are also added to the
textfiles of the hosts in ``policy_metrics_group`` (the monitors).

Everything that can reject the run (an invalid catalog or waivers file: CatalogError /
PolicyError; a policy that does not load, with its file and line: PolicyError; a corrupt state
file: StateError; a check the catalog lacks: ValueError) is raised before anything is written.
The textfiles are returned, not written: the caller installs them on the hosts
(``<textfile dir>/soc2audit.prom``, atomically).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soc2audit
from soc2audit.alert_import import import_alerts
from soc2audit.anchor_s3 import AnchorError, S3AnchorStore, anchor_digests
from soc2audit.catalog import FLEET_GROUP, load_catalog
from soc2audit.chain import DEFAULT_INTERVAL, ChainError, Settings, write_due_digests
from soc2audit.evidence import append_evidence, jsonl
from soc2audit.fsutil import atomic_write
from soc2audit.openmetrics import RunInfo, render_host, render_policy
from soc2audit.policy import (
    FLEET_HOST,
    EmbeddedEngine,
    Engine,
    Evaluation,
    catalog_problems,
    failed_evaluation,
    input_needs,
    load_policies,
    policy_checks,
    read_history,
    run_summary,
)
from soc2audit.policy import build_input as build_policy_input
from soc2audit.report import junit_xml, summary_table
from soc2audit.results import (
    PolicyError,
    counts,
    exit_code,
    load_state,
    merge_run,
    parse_waivers,
    policy_sha256,
    read_waivers_bytes,
    save_state,
)
from soc2audit.timestamp import Tsa, stamp_missing

LAST_RUN = "last_run.jsonl"
JUNIT = "junit.xml"
SUMMARY = "summary.txt"
POLICY_INPUT = "policy_input.json"
POLICY_HISTORY = "policy_history.jsonl"
POLICY_METRICS = "policy.prom"


@dataclass
class RunOutcome:
    """What one processed drift run produced."""

    run_id: str
    rows: list[dict[str, Any]]
    counts: dict[str, int]
    exit_code: int
    summary: str
    textfiles: dict[str, str]
    paths: dict[str, Path]
    policy_sha256: str = ""
    warnings: list[str] = field(default_factory=list)
    #: Digests written at the end of the run (paths relative to the evidence directory).
    digests: list[str] = field(default_factory=list)
    #: Anchors written to the S3 Object Lock bucket (s3:// URLs).
    anchors: list[str] = field(default_factory=list)


def process_run(
    *,
    catalog_path: Path | str,
    waivers_path: Path | str | None,
    state_path: Path | str,
    evidence_dir: Path | str,
    out_dir: Path | str,
    hosts: Sequence[str],
    host_groups: Mapping[str, Sequence[str]],
    host_checks: Mapping[str, Sequence[Mapping[str, Any]] | None],
    host_errors: Mapping[str, str] | None = None,
    host_observations: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    testinfra_rows: Sequence[Mapping[str, Any]] = (),
    started: str,
    finished: str,
    grace_seconds: int = 0,
    suite_version: str = soc2audit.__version__,
    run_id: str | None = None,
    now: dt.datetime | None = None,
    evidence_key: Path | str | None = None,
    digest_interval: int = DEFAULT_INTERVAL,
    anchor_s3: S3AnchorStore | None = None,
    policies_dir: Path | str | None = None,
    policy_engine: Engine | None = None,
    policy_params: Mapping[str, Any] | None = None,
    host_facts: Mapping[str, Any] | None = None,
    host_addresses: Mapping[str, Sequence[str]] | None = None,
    policy_metrics_group: str = "monitors",
    host_alerts: Mapping[str, Mapping[str, Any] | None] | None = None,
    tsa: Tsa | None = None,
) -> RunOutcome:
    """Merge, render and record one drift run (see the module docstring for what is written).

    ``textfiles`` holds the metrics text only for hosts whose verifier reported (a silent host
    keeps its previous file, whose age shows in node_textfile_mtime_seconds). ``warnings`` lists
    observations that were skipped.
    """
    catalog = load_catalog(catalog_path)
    waivers_raw = read_waivers_bytes(waivers_path)
    waivers = parse_waivers(waivers_raw, catalog, str(waivers_path))
    state = load_state(state_path)
    sha = policy_sha256(catalog.raw, waivers_raw)
    the_run_id = run_id or str(uuid.uuid4())
    policies = None
    if policies_dir is not None:
        policies, problems = load_policies(policies_dir)
        problems += catalog_problems(policies, catalog)
        if problems:
            raise PolicyError("policies: " + "; ".join(problems))
        if FLEET_HOST in hosts:
            raise ValueError(
                f"the inventory has a host named {FLEET_HOST!r}, the name of the fleet policies' "
                "pseudo-host: rename the host"
            )

    # What both merges share: the hosts' rows, then the fleet policies' rows.
    common: dict[str, Any] = {
        "catalog": catalog,
        "waivers": waivers,
        "grace_seconds": grace_seconds,
        "run_id": the_run_id,
        "started": started,
        "finished": finished,
        "suite_version": suite_version,
        "policy_sha256": sha,
        "now": now,
    }
    rows, new_state = merge_run(
        hosts=hosts,
        host_groups=host_groups,
        host_checks=host_checks,
        host_errors=host_errors,
        testinfra_rows=testinfra_rows,
        state=state,
        **common,
    )

    evaluation: Evaluation | None = None
    policy_document: dict[str, Any] | None = None
    history_path = Path(out_dir) / POLICY_HISTORY
    if policies is not None:
        policy_document = build_policy_input(
            run={
                "run_id": the_run_id,
                "started": started,
                "suite_version": suite_version,
                "policy_sha256": sha,
            },
            rows=rows,
            hosts=hosts,
            host_groups=host_groups,
            host_observations=host_observations or {},
            host_facts=host_facts or {},
            waivers=waivers,
            history=read_history(history_path),
            catalog=catalog,
            params=policy_params,
            host_addresses=host_addresses,
            needs=input_needs(policies),
        )
        engine = policy_engine or EmbeddedEngine()
        try:
            evaluation = engine.evaluate(policies, policy_document)
        except Exception as exc:  # any engine failure: every policy is error, never pass
            evaluation = failed_evaluation(
                engine.name, policies, policy_document, f"{engine.name} policy engine failed: {exc}"
            )
        checks = policy_checks(policies, evaluation)
        fleet_rows, new_state = merge_run(
            hosts=[FLEET_HOST],
            host_groups={FLEET_HOST: [FLEET_GROUP]},
            host_checks={FLEET_HOST: [_without_decision(c) for c in checks]},
            state=new_state,
            **common,
        )
        decisions = {c["check_id"]: c["decision"] for c in checks}
        for row in fleet_rows:
            row["decision"] = decisions.get(row["check_id"])
        rows = rows + fleet_rows

    info = RunInfo(
        started=started,
        finished=finished,
        suite_version=suite_version,
        policy_sha256=sha,
        state=new_state,
    )
    observations = host_observations or {}
    textfiles: dict[str, str] = {}
    warnings: list[str] = []
    for host in hosts:
        if host_checks.get(host) is None:
            continue
        rendered = render_host(
            host,
            [row for row in rows if row["host"] == host],
            catalog,
            observations.get(host) or [],
            info,
        )
        textfiles[host] = rendered.text
        warnings.extend(rendered.warnings)

    if policies is not None:
        policy_text = render_policy(
            [row for row in rows if row["host"] == FLEET_HOST],
            catalog,
            evaluation,
        )
        for host in hosts:
            if host in textfiles and policy_metrics_group in (host_groups.get(host) or ()):
                textfiles[host] += policy_text

    summary = summary_table(rows, catalog)
    out = Path(out_dir)
    paths = {
        "evidence": append_evidence(evidence_dir, rows, started),
        "last_run": atomic_write(
            out / LAST_RUN,
            jsonl(rows),
        ),
        "junit": atomic_write(out / JUNIT, junit_xml(rows, catalog)),
        "summary": atomic_write(out / SUMMARY, summary),
        "state": save_state(state_path, new_state),
    }
    if policies is not None and policy_document is not None:
        paths["policy_input"] = atomic_write(
            out / POLICY_INPUT, json.dumps(policy_document, sort_keys=True, indent=1) + "\n"
        )
        paths["policy_metrics"] = atomic_write(out / POLICY_METRICS, policy_text)
        history = read_history(history_path)
        history.append(run_summary(rows, host_observations or {}))
        keep = int(policy_document["params"]["history_runs"])
        paths["policy_history"] = atomic_write(
            history_path, "".join(json.dumps(h, sort_keys=True) + "\n" for h in history[-keep:])
        )
    alerts_path, _, alert_warnings = import_alerts(evidence_dir, host_alerts or {}, now)
    warnings.extend(alert_warnings)
    if alerts_path is not None:
        paths["alerts"] = alerts_path
    digests: list[str] = []
    anchored: list[str] = []
    if evidence_key is not None and Path(evidence_key).is_file():
        try:
            written = write_due_digests(
                evidence_dir,
                evidence_key,
                Settings(
                    policy_sha256=sha,
                    interval=digest_interval,
                    suite_version=suite_version,
                    timestamp_policy=tsa.policy if tsa else None,
                ),
                now,
            )
            digests = [digest.rel for digest in written]
            if tsa is not None:
                missing = stamp_missing(evidence_dir, tsa).failed
                warnings += [f"no RFC 3161 token for {rel} yet: {why}" for rel, why in missing[:1]]
        except (ChainError, OSError, ValueError) as exc:
            warnings.append(f"evidence digest not written: {exc}")
        else:
            if anchor_s3 is not None:
                try:
                    anchors = anchor_digests(evidence_dir, written, anchor_s3, now)
                    anchored = [a["url"] for a in anchors]
                except AnchorError as exc:
                    warnings.append(f"evidence digest not anchored: {exc}")
    return RunOutcome(
        run_id=the_run_id,
        rows=rows,
        counts=counts(rows),
        exit_code=exit_code(rows),
        summary=summary,
        textfiles=textfiles,
        paths=paths,
        policy_sha256=sha,
        warnings=warnings,
        digests=digests,
        anchors=anchored,
    )


def _without_decision(check: Mapping[str, Any]) -> dict[str, Any]:
    """A policy check as the merge takes it (the decision is put back on the row afterwards)."""
    return {key: value for key, value in check.items() if key != "decision"}
