# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit.report (JUnit, summary table) and soc2audit.evidence (append-only day files)."""

from __future__ import annotations

import json
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from results_data import FINISHED, GROUPS, HOSTS, NOW, SHA, STARTED, all_pass, check, make_catalog

from soc2audit.catalog import Catalog
from soc2audit.evidence import append_evidence, evidence_path
from soc2audit.report import junit_xml, summary_table
from soc2audit.results import merge_run


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return make_catalog(tmp_path)


@pytest.fixture
def rows(catalog: Catalog) -> list[dict[str, Any]]:
    checks: dict[str, Any] = {h: all_pass(h) for h in HOSTS}
    checks["edge1"] = [
        check("PKI-01", "fail", "wrong CA"),
        check("PKI-02", "at_risk", "renew soon"),
        check("TIME-01", "error", "chronyc: <missing>"),
    ]
    checks["edge2"] = None
    checks["aggregator"] = [
        check("PKI-01"),
        check("PKI-02"),
        check("TIME-01"),
        check("TIME-06", "not_applicable", "PTP not configured"),
    ]
    merged, _ = merge_run(
        catalog=catalog,
        hosts=HOSTS,
        host_groups=GROUPS,
        host_checks=checks,
        host_errors={"edge2": "UNREACHABLE"},
        run_id="run-1",
        started=STARTED,
        finished=FINISHED,
        suite_version="0.1.0",
        policy_sha256=SHA,
        now=NOW,
    )
    merged[-1] = {**merged[-1], "result": "waived", "message": "ok [waived by CHG-9]"}
    return merged


# --------------------------------------------------------------------------- JUnit


def test_junit_structure_and_counts(rows: list[dict[str, Any]], catalog: Catalog) -> None:
    root = ET.fromstring(junit_xml(rows, catalog))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "13",
        "2",
        "4",
        "2",
    )
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == HOSTS
    edge1 = suites["edge1"]
    assert (edge1.get("tests"), edge1.get("failures"), edge1.get("errors")) == ("3", "2", "1")
    cases = {c.get("name"): c for c in edge1.findall("testcase")}
    assert cases["PKI-01"].get("classname") == "PKI"
    assert cases["TIME-01"].get("classname") == "TIME"
    failure = cases["PKI-01"].find("failure")
    assert failure is not None
    assert failure.get("message") == "fail: wrong CA"
    assert json.loads(failure.text or "")["drift_since"] == STARTED
    assert cases["PKI-02"].find("failure").get("type") == "at_risk"
    assert cases["TIME-01"].find("error").get("message") == "error: chronyc: <missing>"
    edge2 = suites["edge2"]
    assert edge2.get("errors") == "3"
    assert {c.find("error").get("type") for c in edge2.findall("testcase")} == {"not_run"}
    agg = {c.get("name"): c for c in suites["aggregator"].findall("testcase")}
    assert agg["TIME-06"].find("skipped").get("message") == "not_applicable: PTP not configured"
    assert agg["PKI-01"].find("*") is None
    monitor = suites["monitor"].findall("testcase")
    assert monitor[-1].find("skipped").get("message").startswith("waived: ok [waived by CHG-9]")


def test_junit_family_without_catalog(rows: list[dict[str, Any]]) -> None:
    root = ET.fromstring(junit_xml(rows))
    assert {c.get("classname") for c in root.iter("testcase")} == {"PKI", "TIME"}


def test_junit_empty() -> None:
    root = ET.fromstring(junit_xml([]))
    assert root.get("tests") == "0"
    assert root.findall("testsuite") == []


# --------------------------------------------------------------------------- summary


def test_summary_table(rows: list[dict[str, Any]], catalog: Catalog) -> None:
    text = summary_table(rows, catalog)
    lines = text.splitlines()
    assert lines[0].startswith("Drift run run-1 (suite 0.1.0, policy 000000000000)")
    header = lines[2].split()
    assert header[:2] == ["host", "family"]
    assert set(header[2:]) == {
        "pass",
        "fail",
        "error",
        "at_risk",
        "not_applicable",
        "not_run",
        "waived",
    }
    table = {
        (parts[0], parts[1]): dict(zip(header[2:], map(int, parts[2:]), strict=True))
        for parts in (line.split() for line in lines[3:11])
    }
    assert table[("edge1", "PKI")]["fail"] == 1
    assert table[("edge1", "PKI")]["at_risk"] == 1
    assert table[("edge1", "TIME")]["error"] == 1
    assert table[("edge2", "PKI")]["not_run"] == 2
    assert table[("aggregator", "TIME")]["not_applicable"] == 1
    assert table[("aggregator", "TIME")]["pass"] == 1
    assert table[("monitor", "TIME")]["waived"] == 1
    assert "Not passing:" in lines
    listing = lines[lines.index("Not passing:") + 1 :]
    assert any(line.split()[:3] == ["edge1", "PKI-01", "fail"] for line in listing)
    assert any("wrong CA" in line for line in listing)
    assert any(line.split()[:3] == ["edge2", "TIME-01", "not_run"] for line in listing)
    assert not any(line.split()[:1] == ["aggregator"] for line in listing)
    assert lines[-1].startswith("Total: 13 results on 4 hosts: ")
    assert "1 fail" in lines[-1]
    assert "7 not passing" in lines[-1]
    assert lines[-1].endswith("exit status 1")


def test_summary_all_pass(catalog: Catalog) -> None:
    rows, _ = merge_run(
        catalog=catalog,
        hosts=["edge1"],
        host_groups=GROUPS,
        host_checks={"edge1": all_pass("edge1")},
        run_id="r",
        started=STARTED,
        finished=FINISHED,
        suite_version="0.1.0",
        policy_sha256=SHA,
        now=NOW,
    )
    text = summary_table(rows, catalog)
    assert "Not passing" not in text
    assert text.splitlines()[-1] == (
        "Total: 3 results on 1 host: 3 pass; 0 not passing; exit status 0"
    )


# --------------------------------------------------------------------------- evidence


def test_evidence_appends_and_keeps_earlier_lines(
    tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    directory = tmp_path / "evidence" / "results"
    first = append_evidence(directory, rows[:2], STARTED)
    assert first == directory / "results-2026-01-15.jsonl"
    before = first.read_bytes()
    second = append_evidence(directory, rows[2:5], "2026-01-15T23:59:59Z")
    assert second == first
    after = first.read_bytes()
    assert after.startswith(before)
    lines = after.decode().splitlines()
    assert len(lines) == 5
    assert [json.loads(line) for line in lines] == rows[:5]
    assert all(line == json.dumps(json.loads(line), sort_keys=True) for line in lines)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(first).st_mode) == 0o640


def test_evidence_uses_the_utc_day_of_the_run_start(tmp_path: Path) -> None:
    # 23:30 at UTC-05:00 is already the next day in UTC.
    assert evidence_path(tmp_path, "2026-01-15T23:30:00-05:00").name == "results-2026-01-16.jsonl"
    assert evidence_path(tmp_path, "2026-01-15T00:30:00+02:00").name == "results-2026-01-14.jsonl"
    path = append_evidence(tmp_path, [{"a": 1}], "2026-01-15T23:30:00-05:00")
    assert path.name == "results-2026-01-16.jsonl"


def test_evidence_repairs_a_torn_last_line_without_rewriting(tmp_path: Path) -> None:
    path = tmp_path / "results-2026-01-15.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": ')
    append_evidence(tmp_path, [{"c": 3}], STARTED)
    assert path.read_bytes() == b'{"a": 1}\n{"b": \n{"c": 3}\n'


def test_evidence_keeps_existing_directory_mode(tmp_path: Path) -> None:
    directory = tmp_path / "ev"
    directory.mkdir(mode=0o700)
    os.chmod(directory, 0o700)
    append_evidence(directory, [], STARTED)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700


def test_junit_suite_time_is_the_host_span(rows: list[dict[str, Any]]) -> None:
    root = ET.fromstring(junit_xml(rows))
    assert {s.get("time") for s in root.findall("testsuite")} == {"30.000"}
    assert all(c.get("time") is None for c in root.iter("testcase"))


# --------------------------------------------------------------------------- summary CLI


def test_summary_cli_exit_status(
    tmp_path: Path,
    rows: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from results_data import write_catalog

    from soc2audit import summary

    results_file = tmp_path / "last_run.jsonl"
    monkeypatch.setattr(summary, "INVENTORY", tmp_path / "no-inventory.yml")
    monkeypatch.setattr(summary, "RESULTS", results_file)
    monkeypatch.setattr(summary, "CATALOG", write_catalog(tmp_path))
    assert summary.main() == 3
    results_file.write_text("")
    assert summary.main() == 3
    results_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    capsys.readouterr()
    assert summary.main() == 1
    out = capsys.readouterr().out
    assert "Drift run run-1" in out
    assert out.rstrip().endswith("exit status 1")
    passing = [{**r, "result": "pass"} for r in rows]
    results_file.write_text("".join(json.dumps(r) + "\n" for r in passing))
    assert summary.main() == 0
    incomplete = [*passing[:-1], {**passing[-1], "result": "not_run"}]
    results_file.write_text("".join(json.dumps(r) + "\n" for r in incomplete))
    assert summary.main() == 2


def test_atomic_write_never_replaces_a_device_or_directory(tmp_path: Path) -> None:
    from soc2audit.fsutil import atomic_write

    with pytest.raises(ValueError, match="not a regular file"):
        atomic_write("/dev/null", "x")
    assert Path("/dev/null").is_char_device()
    with pytest.raises(ValueError, match="not a regular file"):
        atomic_write(tmp_path, "x")
    assert atomic_write(tmp_path / "f", "x").read_text() == "x"
