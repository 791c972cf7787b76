# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit.pipeline.process_run: one call merges, renders and writes a drift run."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from results_data import (
    FINISHED,
    GROUPS,
    HOSTS,
    NOW,
    STARTED,
    all_pass,
    check,
    waiver,
    write_catalog,
    write_waivers,
)

import soc2audit
from soc2audit.pipeline import RunOutcome, process_run
from soc2audit.results import PolicyError, StateError, policy_sha256

CLOCK = {"key": "clock_error_bound", "labels": {}, "value": 0.002}


def call(tmp_path: Path, **overrides: Any) -> RunOutcome:
    checks: dict[str, Any] = {h: all_pass(h) for h in HOSTS}
    checks["edge1"] = [check("PKI-01"), check("PKI-02", "fail", "expired"), check("TIME-01")]
    checks["monitor"] = None
    args: dict[str, Any] = {
        "catalog_path": tmp_path / "catalog.yml",
        "waivers_path": tmp_path / "waivers.yml",
        "state_path": tmp_path / "out" / "state.json",
        "evidence_dir": tmp_path / "evidence",
        "out_dir": tmp_path / "out",
        "hosts": HOSTS,
        "host_groups": GROUPS,
        "host_checks": checks,
        "host_errors": {"monitor": "UNREACHABLE"},
        "host_observations": {h: [CLOCK] for h in HOSTS},
        "testinfra_rows": [],
        "started": STARTED,
        "finished": FINISHED,
        "grace_seconds": 0,
        "now": NOW,
    }
    args.update(overrides)
    return process_run(**args)


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    write_catalog(tmp_path)
    return tmp_path


def test_process_run_writes_everything(policy: Path) -> None:
    outcome = call(policy)
    assert outcome.exit_code == 1
    assert len(outcome.run_id) == 36  # uuid4
    assert outcome.counts["fail"] == 1
    assert outcome.counts["not_run"] == 3
    assert sum(outcome.counts.values()) == len(outcome.rows) == 13
    assert set(outcome.textfiles) == {"edge1", "edge2", "aggregator"}  # monitor was silent
    for text in outcome.textfiles.values():
        list(text_string_to_metric_families(text))
        assert "soc2audit_clock_error_bound_seconds 0.002" in text
    assert outcome.warnings == []
    assert {r["suite_version"] for r in outcome.rows} == {soc2audit.__version__}
    catalog_raw = (policy / "catalog.yml").read_bytes()
    assert outcome.policy_sha256 == policy_sha256(catalog_raw, b"")
    assert {r["policy_sha256"] for r in outcome.rows} == {outcome.policy_sha256}

    paths = outcome.paths
    assert paths["evidence"] == policy / "evidence" / "results-2026-01-15.jsonl"
    evidence = [json.loads(line) for line in paths["evidence"].read_text().splitlines()]
    assert evidence == outcome.rows
    last_run = [json.loads(line) for line in paths["last_run"].read_text().splitlines()]
    assert last_run == outcome.rows
    assert ET.parse(paths["junit"]).getroot().get("failures") == "1"
    assert paths["summary"].read_text() == outcome.summary
    assert outcome.summary.splitlines()[-1].endswith("exit status 1")
    state = json.loads(paths["state"].read_text())
    assert state["hosts"]["edge1"]["drift_since"] == {"PKI-02": STARTED}
    assert state["hosts"]["monitor"]["last_success"] is None


def test_second_run_appends_evidence_and_replaces_last_run(policy: Path) -> None:
    first = call(policy, run_id="run-a")
    second = call(
        policy,
        run_id="run-b",
        started="2026-01-15T18:00:00Z",
        finished="2026-01-15T18:00:30Z",
        now=NOW + dt.timedelta(hours=6),
    )
    evidence = second.paths["evidence"].read_text().splitlines()
    assert len(evidence) == len(first.rows) + len(second.rows)
    assert [json.loads(x)["run_id"] for x in evidence[:13]] == ["run-a"] * 13
    last_run = [json.loads(x) for x in second.paths["last_run"].read_text().splitlines()]
    assert {r["run_id"] for r in last_run} == {"run-b"}
    fail = next(r for r in second.rows if r["host"] == "edge1" and r["check_id"] == "PKI-02")
    assert fail["drift_since"] == STARTED


def test_grace_and_waivers_flow_through(policy: Path) -> None:
    outcome = call(policy, grace_seconds=3600)
    pki02 = next(r for r in outcome.rows if r["host"] == "edge1" and r["check_id"] == "PKI-02")
    assert pki02["result"] == "at_risk"
    write_waivers(policy, waiver())
    outcome = call(policy, run_id="run-w")
    pki02 = next(r for r in outcome.rows if r["host"] == "edge1" and r["check_id"] == "PKI-02")
    assert pki02["result"] == "waived"
    assert outcome.exit_code == 2  # monitor is still not_run
    waivers_raw = (policy / "waivers.yml").read_bytes()
    assert outcome.policy_sha256 == policy_sha256(
        (policy / "catalog.yml").read_bytes(), waivers_raw
    )
    assert (
        'soc2audit_waiver_expiry_timestamp_seconds{check_id="PKI-02",ticket="CHG-1"}'
        in (outcome.textfiles["edge1"])
    )


def test_policy_error_writes_nothing(policy: Path) -> None:
    write_waivers(policy, waiver(expires="soon"))
    with pytest.raises(PolicyError, match=r"waivers\[0\].*'expires'"):
        call(policy)
    assert not (policy / "out").exists()
    assert not (policy / "evidence").exists()


def test_corrupt_state_writes_nothing(policy: Path) -> None:
    (policy / "out").mkdir()
    (policy / "out" / "state.json").write_text("{")
    with pytest.raises(StateError):
        call(policy)
    assert not (policy / "evidence").exists()
    assert sorted(p.name for p in (policy / "out").iterdir()) == ["state.json"]


def test_unknown_check_writes_nothing(policy: Path) -> None:
    checks = {h: all_pass(h) for h in HOSTS}
    checks["edge2"] = [*checks["edge2"], check("AUD-01")]
    with pytest.raises(ValueError, match=r"edge2.*AUD-01"):
        call(policy, host_checks=checks)
    assert not (policy / "evidence").exists()


def test_bad_observations_become_warnings(policy: Path) -> None:
    outcome = call(
        policy,
        host_observations={"edge1": [{"key": "up", "value": 1}, CLOCK]},
    )
    assert len(outcome.warnings) == 1
    assert outcome.warnings[0].startswith("edge1: observation 0")
    assert "soc2audit_clock_error_bound_seconds" in outcome.textfiles["edge1"]
    assert "soc2audit_clock_error_bound_seconds" not in outcome.textfiles["edge2"]


def test_all_pass_exit_zero(policy: Path) -> None:
    outcome = call(policy, host_checks={h: all_pass(h) for h in HOSTS}, host_errors={})
    assert outcome.exit_code == 0
    assert set(outcome.textfiles) == set(HOSTS)


def test_the_run_ends_with_the_due_digests_when_a_key_exists(policy: Path) -> None:
    from soc2audit.chain import keygen
    from soc2audit.chain_verify import verify

    key = policy / "secret" / "evidence.pem"
    assert call(policy, evidence_key=key).digests == []  # no key yet: no digest, no warning
    keygen(key, policy / "evidence")
    first = call(policy, evidence_key=key)
    assert len(first.digests) == 1 and first.warnings == []
    later = NOW + dt.timedelta(hours=3)
    second = call(policy, evidence_key=key, now=later)
    assert len(second.digests) == 3  # the three hours since, the first two empty
    digest = json.loads((policy / "evidence" / second.digests[-1]).read_bytes())
    assert digest["policy_sha256"] == second.policy_sha256
    assert [f["path"] for f in digest["files"]] == [second.paths["evidence"].name]
    assert verify(policy / "evidence", now=later).findings == []


def test_a_digest_that_cannot_be_written_is_a_warning_not_a_lost_run(policy: Path) -> None:
    from soc2audit.chain import keygen

    key = policy / "secret" / "evidence.pem"
    keygen(key, policy / "evidence")
    first = call(policy, evidence_key=key)
    evidence = first.paths["evidence"]
    evidence.write_bytes(b"x" + evidence.read_bytes()[1:])
    later = call(policy, evidence_key=key, now=NOW + dt.timedelta(hours=2))
    assert later.digests == []
    assert any("evidence digest not written" in w for w in later.warnings)
    assert len(evidence.read_bytes().splitlines()) == 2 * len(first.rows)
