# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""process_run with the fleet policies: their rows join the result set (the pseudo-host fleet),
with the decision and the input's SHA-256, the soc2audit_policy_* metrics, JUnit, the evidence
and the history; an engine that fails gives error for every policy, never pass; a broken policy
stops the run before anything is written."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from results_data import FINISHED, GROUPS, HOSTS, NOW, STARTED

from soc2audit.catalog import REPO, load_catalog
from soc2audit.pipeline import POLICY_HISTORY, POLICY_INPUT, process_run
from soc2audit.policy import FLEET_HOST, PolicySet, canonical_json
from soc2audit.results import PolicyError

CATALOG = REPO / "controls" / "catalog.yml"
CLOCK = {"key": "clock_error_bound", "labels": {}, "value": 0.002}


def host_checks() -> dict[str, list[dict[str, Any]]]:
    catalog = load_catalog(CATALOG)
    return {
        host: [
            {"check_id": c.id, "result": "pass", "observed": None, "expected": None, "message": ""}
            for c in catalog.applicable(GROUPS[host])
            if not c.source.startswith("controls/")
        ]
        for host in HOSTS
    }


def run(tmp_path: Path, **overrides: Any):
    args: dict[str, Any] = {
        "catalog_path": CATALOG,
        "waivers_path": None,
        "state_path": tmp_path / "out" / "state.json",
        "evidence_dir": tmp_path / "evidence",
        "out_dir": tmp_path / "out",
        "hosts": HOSTS,
        "host_groups": GROUPS,
        "host_checks": host_checks(),
        "host_observations": {h: [CLOCK] for h in HOSTS},
        "started": STARTED,
        "finished": FINISHED,
        "now": NOW,
        "policies_dir": REPO / "policies",
    }
    args.update(overrides)
    return process_run(**args)


def test_policy_rows_join_the_result_set(tmp_path: Path) -> None:
    outcome = run(tmp_path)
    fleet = [r for r in outcome.rows if r["host"] == FLEET_HOST]
    assert [r["check_id"] for r in fleet] == [f"POL-{n:02d}" for n in range(1, 13)]
    document = json.loads((tmp_path / "out" / POLICY_INPUT).read_text())
    sha = hashlib.sha256(canonical_json(document)).hexdigest()
    for row in fleet:
        assert row["decision"]["input_sha256"] == sha
        assert row["decision"]["engine"] == "embedded"
        assert row["result"] in {"pass", "fail", "not_applicable"}, row
        assert row["run_id"] == outcome.run_id
    by_id = {r["check_id"]: r for r in fleet}
    # The verifiers reported no facts here: no certificates to compare, no shipper target.
    assert by_id["POL-02"]["result"] == "not_applicable"
    assert by_id["POL-05"]["result"] == "pass"
    evidence = [json.loads(line) for line in outcome.paths["evidence"].read_text().splitlines()]
    assert [e["decision"]["input_sha256"] for e in evidence if e["host"] == FLEET_HOST] == [
        sha
    ] * 12
    assert 'testsuite name="fleet"' in outcome.paths["junit"].read_text()
    assert "fleet" in outcome.summary and "POL" in outcome.summary


def test_policy_metrics_on_the_monitors_only(tmp_path: Path) -> None:
    outcome = run(tmp_path)
    assert "soc2audit_policy_items" in outcome.textfiles["monitor"]
    assert "soc2audit_policy" not in outcome.textfiles["edge1"]
    families = {f.name: f for f in text_string_to_metric_families(outcome.textfiles["monitor"])}
    passed = {
        s.labels["check_id"]: s.value
        for s in families["soc2audit_policy_items"].samples
        if s.labels["outcome"] == "pass"
    }
    assert passed["POL-05"] == 4
    assert families["soc2audit_policy_evaluation_seconds"].samples[0].labels == {
        "engine": "embedded"
    }


def test_history_grows_run_by_run(tmp_path: Path) -> None:
    run(tmp_path)
    run(tmp_path)
    lines = (tmp_path / "out" / POLICY_HISTORY).read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0])["hosts"]["edge1"]["observations"]["clock_error_bound"] == 0.002
    document = json.loads((tmp_path / "out" / POLICY_INPUT).read_text())
    assert len(document["history"]) == 1


class Broken:
    name = "opa"

    def evaluate(self, policies: PolicySet, document: Any) -> Any:
        raise ConnectionRefusedError("connection refused")


def test_an_engine_that_fails_gives_error_never_pass(tmp_path: Path) -> None:
    outcome = run(tmp_path, policy_engine=Broken())
    fleet = [r for r in outcome.rows if r["host"] == FLEET_HOST]
    assert {r["result"] for r in fleet} == {"error"}
    assert "opa policy engine failed: connection refused" in fleet[0]["message"]
    assert outcome.exit_code == 2


def test_a_broken_policy_stops_the_run_before_anything_is_written(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(REPO / "policies", policies)
    path = policies / "waivers.rego"
    path.write_text(path.read_text().replace("id: POL-09", "id: POL-77"))
    with pytest.raises(PolicyError, match=r"policies/waivers.rego:\d+: POL-77 is not in"):
        run(tmp_path, policies_dir=policies)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evidence").exists()


def test_the_input_follows_its_json_schema(tmp_path: Path) -> None:
    import jsonschema

    run(tmp_path)
    run(tmp_path)
    schema = json.loads((REPO / "docs" / "policy-input.schema.json").read_text())
    document = json.loads((tmp_path / "out" / POLICY_INPUT).read_text())
    jsonschema.validate(document, schema)
    cases = json.loads((REPO / "policies" / "testdata" / "cases.json").read_text())
    jsonschema.validate(cases["base"], schema)
