# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The control-node results pipeline of one drift run, as one call.

``process_run`` reads the policy (catalog + waivers) and the drift state, merges what the hosts
reported, renders each reporting host's textfile, and writes the run's outputs:

* the evidence trail: ``<evidence_dir>/results-YYYY-MM-DD.jsonl`` (appended);
* ``<out_dir>/last_run.jsonl`` (the full result set, replaced atomically);
* ``<out_dir>/junit.xml`` and ``<out_dir>/summary.txt``;
* the drift state file (last, so a run that failed half-way is judged again from the old state);
* when ``evidence_key`` names an existing signing key: the digests of every interval that has
  ended (``soc2audit.chain.write_due_digests``, docs/evidence.md). A digest that cannot be
  written is a warning, never a lost run: the chain shows the gap and ``evidence verify``
  names the cause. With a ``tsa``, then the RFC 3161 tokens still missing
  (``soc2audit.timestamp.stamp_missing``); one that cannot be had is a warning too.

Everything that can reject the run (an invalid catalog or waivers file: CatalogError /
PolicyError; a corrupt state file: StateError; a check the catalog lacks: ValueError) is raised
before anything is written. The textfiles are returned, not written: the caller installs them on
the hosts (``<textfile dir>/soc2audit.prom``, atomically).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soc2audit
from soc2audit.catalog import load_catalog
from soc2audit.chain import DEFAULT_INTERVAL, ChainError, Settings, write_due_digests
from soc2audit.evidence import append_evidence, jsonl
from soc2audit.fsutil import atomic_write
from soc2audit.openmetrics import RunInfo, render_host
from soc2audit.report import junit_xml, summary_table
from soc2audit.results import (
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

    rows, new_state = merge_run(
        catalog=catalog,
        hosts=hosts,
        host_groups=host_groups,
        host_checks=host_checks,
        host_errors=host_errors,
        testinfra_rows=testinfra_rows,
        waivers=waivers,
        state=state,
        grace_seconds=grace_seconds,
        run_id=the_run_id,
        started=started,
        finished=finished,
        suite_version=suite_version,
        policy_sha256=sha,
        now=now,
    )

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
    digests: list[str] = []
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
    )
