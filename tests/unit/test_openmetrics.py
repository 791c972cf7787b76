# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit.openmetrics: the textfile is valid exposition format and says what the rows say.

Validated with `promtool check metrics` when promtool is on PATH or in .venv/bin, else with the
prometheus_client text parser; the parser is also used for the semantic assertions.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from results_data import FINISHED, GROUPS, HOSTS, NOW, SHA, STARTED, all_pass, check, make_catalog

from soc2audit import metrics
from soc2audit.catalog import Catalog
from soc2audit.openmetrics import (
    HostMetrics,
    RunInfo,
    escape_label_value,
    format_value,
    render_host,
)
from soc2audit.results import RESULTS, State, merge_run

REPO = Path(__file__).resolve().parents[2]

OBSERVATIONS: list[dict[str, Any]] = [
    {"key": "clock_error_bound", "labels": {}, "value": 0.0012},
    {
        "key": "certificate_expiry",
        "labels": {"name": "host", "path": '/etc/ssl/we"ird\\dir\nname.crt'},
        "value": 1780000000,
    },
]


def promtool() -> str | None:
    found = shutil.which("promtool")
    if found:
        return found
    local = REPO / ".venv" / "bin" / "promtool"
    return str(local) if os.access(local, os.X_OK) else None


def validate(text: str) -> None:
    """promtool check metrics when available, else the prometheus_client parser."""
    tool = promtool()
    if tool:
        proc = subprocess.run(
            [tool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:
        list(text_string_to_metric_families(text))


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        for sample in family.samples:
            assert sample.timestamp is None
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return make_catalog(tmp_path)


def run(catalog: Catalog, host_checks: dict[str, Any], state: State | None = None, **kw: Any):
    checks = {h: all_pass(h) for h in HOSTS}
    checks.update(host_checks)
    rows, new_state = merge_run(
        catalog=catalog,
        hosts=HOSTS,
        host_groups=GROUPS,
        host_checks=checks,
        state=state,
        run_id="run-1",
        started=kw.pop("started", STARTED),
        finished=kw.pop("finished", FINISHED),
        suite_version="0.1.0",
        policy_sha256=SHA,
        now=NOW,
        **kw,
    )
    return rows, new_state


def render(
    catalog: Catalog,
    host: str,
    rows: list[dict[str, Any]],
    state: State | None,
    observations: list[dict[str, Any]] | None = None,
    finished: str = FINISHED,
) -> HostMetrics:
    info = RunInfo(
        started=STARTED, finished=finished, suite_version="0.1.0", policy_sha256=SHA, state=state
    )
    host_rows = [r for r in rows if r["host"] == host]
    return render_host(host, host_rows, catalog, observations or OBSERVATIONS, info)


@pytest.fixture
def edge1(catalog: Catalog) -> tuple[str, list[dict[str, Any]]]:
    rows, state = run(
        catalog,
        {
            "edge1": [
                check("PKI-01", "fail", "wrong CA"),
                check("PKI-02", "at_risk", "renew"),
                check("TIME-01"),
            ]
        },
    )
    return render(catalog, "edge1", rows, state).text, rows


def test_promtool_or_parser_accepts_the_file(edge1: tuple[str, Any]) -> None:
    validate(edge1[0])


@pytest.mark.skipif(promtool() is None, reason="promtool not on PATH nor in .venv/bin")
def test_promtool_accepts_the_file(edge1: tuple[str, Any]) -> None:
    proc = subprocess.run(
        [str(promtool()), "check", "metrics"],
        input=edge1[0],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_format_rules(edge1: tuple[str, Any]) -> None:
    text = edge1[0]
    assert text.endswith("\n")
    assert "# EOF" not in text
    lines = text.splitlines()
    names = []
    for index, line in enumerate(lines):
        if line.startswith("# HELP "):
            name = line.split()[2]
            names.append(name)
            assert lines[index + 1] == f"# TYPE {name} gauge"
        elif not line.startswith("#"):
            # name{labels} value: exactly one value after the labels, no timestamp.
            tail = line.rsplit("}", 1)[-1] if "}" in line else line.split(" ", 1)[1]
            assert len(tail.split()) == 1, line
            assert line.startswith("soc2audit_")
    assert names == sorted(names)
    assert len(names) == len(set(names))


def test_stateset_has_exactly_one_current_value(edge1: tuple[str, Any]) -> None:
    series = samples(edge1[0])["soc2audit_check_result"]
    per_check: dict[str, list[tuple[str, float]]] = {}
    for labels, value in series:
        per_check.setdefault(labels["check_id"], []).append((labels["result"], value))
    assert set(per_check) == {"PKI-01", "PKI-02", "TIME-01"}
    for check_id, values in per_check.items():
        assert sorted(r for r, _ in values) == sorted(RESULTS), check_id
        assert sum(v for _, v in values) == 1, check_id
    current = {c: next(r for r, v in vals if v == 1) for c, vals in per_check.items()}
    assert current == {"PKI-01": "fail", "PKI-02": "at_risk", "TIME-01": "pass"}


def test_passed_drift_info_and_run_families(edge1: tuple[str, Any]) -> None:
    got = samples(edge1[0])
    passed = {labels["check_id"]: v for labels, v in got["soc2audit_check_passed"]}
    assert passed == {"PKI-01": 0, "PKI-02": 0, "TIME-01": 1}
    drift = {
        labels["check_id"]: v for labels, v in got["soc2audit_check_drift_since_timestamp_seconds"]
    }
    assert drift == {"PKI-01": 1768478400.0, "PKI-02": 1768478400.0}
    last = {
        labels["check_id"]: v for labels, v in got["soc2audit_check_last_run_timestamp_seconds"]
    }
    assert last == dict.fromkeys(("PKI-01", "PKI-02", "TIME-01"), 1768478430.0)
    info = {labels["check_id"]: labels for labels, _ in got["soc2audit_check_info"]}
    assert info["PKI-01"] == {
        "check_id": "PKI-01",
        "family": "PKI",
        "severity": "high",
        "title": "Title of PKI-01",
    }
    criteria = {
        (labels["check_id"], labels["criterion"], labels["mapping"])
        for labels, _ in got["soc2audit_check_criterion_info"]
    }
    assert ("PKI-01", "CC6.1", "primary") in criteria
    assert ("PKI-01", "CC6.7", "secondary") in criteria
    assert ("TIME-01", "CC7.2", "primary") in criteria
    checks = {labels["result"]: v for labels, v in got["soc2audit_run_checks"]}
    assert set(checks) == set(RESULTS)
    assert checks["fail"] == 1 and checks["at_risk"] == 1 and checks["pass"] == 1
    assert sum(checks.values()) == 3
    assert got["soc2audit_run_duration_seconds"] == [({}, 30.0)]
    assert got["soc2audit_run_last_success_timestamp_seconds"] == [({}, 1768478430.0)]
    assert got["soc2audit_build_info"] == [({"version": "0.1.0", "policy_sha256": SHA}, 1.0)]
    # One value per sample everywhere, all 0/1 for the info and state families.
    for name in ("soc2audit_check_info", "soc2audit_check_criterion_info", "soc2audit_build_info"):
        assert {v for _, v in got[name]} == {1.0}


def test_observations_and_escaping(edge1: tuple[str, Any]) -> None:
    text = edge1[0]
    got = samples(text)
    assert got["soc2audit_clock_error_bound_seconds"] == [({}, 0.0012)]
    ((labels, value),) = got["soc2audit_certificate_expiry_timestamp_seconds"]
    assert labels["path"] == '/etc/ssl/we"ird\\dir\nname.crt'
    assert value == 1780000000
    assert r'path="/etc/ssl/we\"ird\\dir\nname.crt"' in text
    assert escape_label_value('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_bad_observations_are_skipped_with_warnings(catalog: Catalog) -> None:
    rows, state = run(catalog, {})
    nft = {"table": "soc2_filter", "chain": "input"}
    bad = [
        {"key": "node_time_seconds", "labels": {}, "value": 1},
        {"metric": "soc2audit_clock_error_bound_seconds", "help": "x", "value": 1},
        {"key": "check_passed", "labels": {}, "value": 1},
        {"key": "audit_backlog", "labels": {}, "value": float("nan")},
        {"key": "audit_backlog", "labels": {}, "value": float("inf")},
        {"key": "audit_backlog", "labels": {}, "value": None},
        {"key": "audit_backlog", "labels": {}, "value": "twelve"},
        {"key": "audit_backlog", "labels": {}, "value": True},
        {"key": "nft_dropped_bytes", "labels": {"table": "soc2_filter"}, "value": 1},
        {"key": "audit_enabled", "labels": {"bad-name": "v"}, "value": 1},
        {"key": "audit_enabled", "labels": ["not", "a", "mapping"], "value": 1},
        "not a mapping",
        {"key": "nft_dropped_packets", "labels": nft, "value": "0.5"},
        {"key": "nft_dropped_packets", "labels": nft, "value": 2},
    ]
    result = render(catalog, "edge2", rows, state, observations=bad)
    assert len(result.warnings) == 13
    assert all(w.startswith("edge2: observation") for w in result.warnings)
    assert "unknown observation key 'node_time_seconds'" in result.warnings[0]
    assert "unknown observation key None" in result.warnings[1]  # the old {metric, help} form
    got = samples(result.text)
    assert got["soc2audit_nft_dropped_packets"] == [(nft, 0.5)]
    observed = {name for name in got if name in {m.name for m in metrics.OBSERVATIONS.values()}}
    assert observed == {"soc2audit_nft_dropped_packets"}
    validate(result.text)


def test_output_is_deterministic(catalog: Catalog) -> None:
    rows, state = run(catalog, {})
    first = render(catalog, "aggregator", rows, state).text
    again = render(catalog, "aggregator", list(reversed(rows)), state, list(reversed(OBSERVATIONS)))
    second = again.text
    assert first == second
    result_lines = [
        line for line in first.splitlines() if line.startswith("soc2audit_check_result{")
    ]
    assert result_lines == sorted(result_lines)
    assert 'check_id="TIME-06"' in first


def test_not_run_uses_previous_last_run_and_no_drift_for_passing(catalog: Catalog) -> None:
    _, state1 = run(catalog, {})
    rows2, state2 = run(
        catalog,
        {"edge1": [check("PKI-01"), check("TIME-01")]},
        state=state1,
        started="2026-01-16T12:00:00Z",
        finished="2026-01-16T12:00:30Z",
    )
    got = samples(render(catalog, "edge1", rows2, state2, finished="2026-01-16T12:00:30Z").text)
    last = {
        labels["check_id"]: v for labels, v in got["soc2audit_check_last_run_timestamp_seconds"]
    }
    assert last["PKI-02"] == 1768478430.0  # previous run
    assert last["PKI-01"] == 1768478430.0 + 86400
    assert "soc2audit_check_drift_since_timestamp_seconds" not in got
    # A check that never ran has no last-run series.
    rows3, state3 = run(catalog, {"edge1": [check("PKI-01"), check("TIME-01")]})
    got = samples(render(catalog, "edge1", rows3, state3).text)
    last = {labels["check_id"] for labels, _ in got["soc2audit_check_last_run_timestamp_seconds"]}
    assert last == {"PKI-01", "TIME-01"}


def test_waived_check_is_not_passed_and_exposes_expiry(catalog: Catalog) -> None:
    rows, state = run(catalog, {})
    rows = [dict(r) for r in rows]
    target = next(r for r in rows if r["host"] == "edge1" and r["check_id"] == "PKI-02")
    target.update(
        result="waived",
        waiver={"ticket": "CHG-1", "approver": "a", "expires": "2026-01-31"},
    )
    got = samples(render(catalog, "edge1", rows, state).text)
    passed = {labels["check_id"]: v for labels, v in got["soc2audit_check_passed"]}
    assert passed["PKI-02"] == 0
    assert got["soc2audit_waiver_expiry_timestamp_seconds"] == [
        ({"check_id": "PKI-02", "ticket": "CHG-1"}, 1769904000.0)
    ]


def test_without_state_the_run_times_are_used(catalog: Catalog) -> None:
    rows, _ = run(catalog, {"edge1": [check("PKI-01"), check("TIME-01")]})
    got = samples(render(catalog, "edge1", rows, None).text)
    last = {labels["check_id"] for labels, _ in got["soc2audit_check_last_run_timestamp_seconds"]}
    assert last == {"PKI-01", "TIME-01"}
    assert got["soc2audit_run_last_success_timestamp_seconds"] == [({}, 1768478430.0)]


def test_format_value() -> None:
    assert format_value(1) == "1"
    assert format_value(1768478430.0) == "1768478430"
    assert format_value(0.0012) == "0.0012"
    assert format_value(1e-9) == "1e-09"


def test_every_family_has_help_and_type(edge1: tuple[str, Any]) -> None:
    text = edge1[0]
    series_names = {
        re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line[:1] != "#"
    }
    helps = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# HELP"))
    types = Counter(line.split()[2] for line in text.splitlines() if line.startswith("# TYPE"))
    assert set(helps) == set(types) == series_names
    assert set(helps.values()) == set(types.values()) == {1}


def test_parser_fallback_without_promtool(
    edge1: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.promtool", lambda: None)
    validate(edge1[0])
    with pytest.raises(ValueError):
        validate('soc2audit_x{a="b} 1\n')
