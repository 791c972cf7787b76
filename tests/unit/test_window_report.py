# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The window export (soc2audit report), gap analysis and sampling on generated evidence
(tests/unit/window_data.py)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from window_data import DAYS, Trail, build

from soc2audit import cli
from soc2audit.chain import load_public_pem
from soc2audit.exitcodes import EXIT_OK, EXIT_USAGE
from soc2audit.incidents import read_incidents
from soc2audit.results import RESULTS
from soc2audit.uptime import record_intervals
from soc2audit.window import Window, find_gaps, population, scan

NOW = "2026-11-04T00:20:00Z"


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Trail:
    return build(tmp_path_factory.mktemp("window"))


def report(trail: Trail, out: Path, *extra: str) -> int:
    return cli.main(
        [
            "report",
            "--evidence-dir", str(trail.evidence),
            "--catalog", str(trail.catalog_path),
            "--waivers", str(trail.waivers_path),
            "--key", str(trail.key),
            "--from", DAYS[0].isoformat(),
            "--to", DAYS[-1].isoformat(),
            "--out", str(out),
            "--now", NOW,
            *extra,
        ]
    )  # fmt: skip


@pytest.fixture(scope="module")
def package(trail: Trail, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package") / "pkg"
    assert report(trail, out) == EXIT_OK
    return out


def figures(package: Path) -> dict[str, Any]:
    return json.loads((package / "figures.json").read_text())


def test_counts_reconcile(trail: Trail, package: Path) -> None:
    # Counted independently of soc2audit.window: the lines of the window's result files.
    files = sorted(trail.evidence.glob("results-*.jsonl"))
    assert [f.name for f in files] == [f"results-{d}.jsonl" for d in DAYS]
    lines = [line for f in files for line in f.read_bytes().splitlines(keepends=True)]
    fig = figures(package)
    assert fig["lines_in_files"] == len(lines) == fig["population_rows"]
    assert fig["out_of_scope_rows"] == fig["unparsable_lines"] == 0
    # population.jsonl is the evidence lines byte for byte; the CSV has one row per line.
    assert (package / "population.jsonl").read_bytes() == b"".join(lines)
    with (package / "population.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == len(lines)
    # Every sum shown agrees.
    assert fig["totals"]["rows"] == sum(d["rows"] for d in fig["days"]) == len(lines)
    assert sum(fig["results"].values()) == len(lines) == fig["heatmap_rows"]
    for day in fig["days"]:
        assert sum(day["results"].values()) == day["rows"]
        assert day["passed_all_day"] + day["waived"] + day["exceptions"] == day["pairs"]
    csv_results = {r: sum(1 for row in table if row["result"] == r) for r in RESULTS}
    assert csv_results == {r: fig["results"][r] for r in RESULTS}
    page = (package / "report.html").read_text()
    shown = re.search(r'class="n total-rows">(\d+)<', page)
    day_total = re.search(r'class="n day-total-rows">(\d+)<', page)
    assert shown and day_total
    assert int(shown.group(1)) == int(day_total.group(1)) == len(lines)


def test_figures_of_the_injected_faults(package: Path) -> None:
    fig = figures(package)
    by_day = {d["day"]: d for d in fig["days"]}
    assert [by_day[str(d)]["runs"] for d in DAYS] == [23, 24, 23]
    assert by_day["2026-11-02"]["results"]["fail"] == 3
    assert by_day["2026-11-03"]["results"]["not_run"] == 3
    assert by_day["2026-11-01"]["exceptions"] == 0
    # edge2 PKI-02 on the 2nd and edge1's three checks on the 3rd.
    assert by_day["2026-11-02"]["exceptions"] == 1
    assert by_day["2026-11-03"]["exceptions"] == 3
    assert by_day["2026-11-01"]["waived"] == 1  # aggregator PKI-01, waived all day
    assert fig["hosts"] == 4 and fig["checks"] == 4


def test_gaps_are_listed_with_their_coverage(trail: Trail, package: Path) -> None:
    window = Window(DAYS[0], DAYS[-1])
    rows = [row for _, row in population(trail.evidence, window)]
    now = dt.datetime(2026, 11, 4, 0, 20, tzinfo=dt.UTC)
    gaps = [g.to_json() for g in find_gaps(rows, window, read_incidents(trail.evidence), now=now)]
    summary = [(g["kind"], g["check_id"], g["host"], g["start"], g["intervals"], g["status"],
                g["tickets"]) for g in gaps]  # fmt: skip
    assert summary == [
        ("no_run", None, None, "2026-11-01T15:00:00Z", 1, "unexplained", []),
        ("result", "PKI-02", "edge2", "2026-11-02T10:00:00Z", 3, "covered", ["INC-7"]),
        ("result", "PKI-01", "edge1", "2026-11-03T05:00:00Z", 1, "unexplained", []),
        ("result", "PKI-02", "edge1", "2026-11-03T05:00:00Z", 1, "unexplained", []),
        ("result", "TIME-01", "edge1", "2026-11-03T05:00:00Z", 1, "unexplained", []),
        ("no_run", None, None, "2026-11-03T20:00:00Z", 1, "covered", ["INC-8"]),
    ]
    assert figures(package)["gaps_unexplained"] == 4
    page = (package / "report.html").read_text()
    assert page.count('<td class="bad">unexplained</td>') == 4


def test_gaps_split_where_an_incident_ends_and_intervals_not_yet_over_are_left_out(
    trail: Trail,
) -> None:
    window = Window(DAYS[1], DAYS[1], ("edge2",))
    rows = [row for _, row in population(trail.evidence, window)]
    short = [i for i in read_incidents(trail.evidence) if i.ticket == "INC-7"]
    narrowed = [replace(short[0], end=dt.datetime(2026, 11, 2, 11, 30, tzinfo=dt.UTC))]
    gaps = find_gaps(rows, window, narrowed)
    assert [(g.intervals, g.covered) for g in gaps] == [(2, True), (1, False)]
    # A window still running: only the intervals that have ended count.
    early = dt.datetime(2026, 11, 2, 3, 30, tzinfo=dt.UTC)
    assert find_gaps([], window, now=early)[0].intervals == 3


def test_exceptions_have_first_seen_remediation_and_ticket(package: Path) -> None:
    page = (package / "report.html").read_text()
    table = page[page.index('id="exceptions-table"') :].split("</table>")[0]
    row = next(r for r in table.split("<tr>") if "<td>edge2</td><td>PKI-02</td>" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[2] == "2026-11-02T10:01:30Z"  # first seen
    assert cells[4] == "2026-11-02T13:01:30Z"  # remediated at: the next pass
    assert cells[6] == "INC-7"
    assert "CHG-9" in table  # the waived aggregator failure carries its waiver ticket


def test_heatmap_marks_the_failure_on_its_host_and_day(package: Path) -> None:
    page = (package / "report.html").read_text()
    table = page[page.index('data-check="PKI-02"') :].split("</table>")[0]
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r'<tr data-host="([^"]+)">(.*?)</tr>', table)
    }
    assert set(rows) == {"edge1", "edge2", "aggregator", "monitor"}
    cells = re.findall(r'<td class="([^"]+)"', rows["edge2"])
    assert cells == ["r-pass", "r-fail", "r-pass"]
    assert re.findall(r'<td class="([^"]+)"', rows["edge1"]) == ["r-pass", "r-pass", "r-not_run"]


def test_the_report_is_self_contained(package: Path) -> None:
    page = (package / "report.html").read_text()
    references = re.findall(r'(?:src|href|action|srcset|poster)\s*=\s*"?([^"\s>]+)', page, re.I)
    assert references and all(ref.startswith("#") for ref in references)
    assert not re.search(r"url\(|@import|<script|<link|<iframe|<img|<object", page, re.I)
    assert "default-src 'none'" in page


def test_manifest_lists_every_file_and_is_signed(package: Path, trail: Trail) -> None:
    raw = (package / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    names = {f["path"] for f in manifest["files"]}
    assert names == {"report.html", "population.jsonl", "population.csv", "figures.json",
                     "verify.json", "evidence-public-key.pem"}  # fmt: skip
    for item in manifest["files"]:
        data = (package / item["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == item["sha256"] and len(data) == item["bytes"]
    public = load_public_pem((package / "evidence-public-key.pem").read_bytes())
    public.verify((package / "manifest.json.sig").read_bytes(), raw)
    assert manifest["policy_sha256"] == trail.policy
    assert manifest["command"][:2] == ["soc2audit", "report"]
    assert manifest["command"][manifest["command"].index("--from") + 1] == str(DAYS[0])
    page = (package / "report.html").read_text()
    assert manifest["key_fingerprint"] in page and trail.policy in page
    for name in ("population.jsonl", "population.csv", "verify.json"):
        assert next(f["sha256"] for f in manifest["files"] if f["path"] == name) in page


def test_the_chain_verification_of_the_window_is_included(package: Path) -> None:
    result = json.loads((package / "verify.json").read_text())
    assert result["ok"] and result["exit_code"] == 0 and result["digests"] > 70
    assert "verify.json" in (package / "report.html").read_text()


def test_hosts_limit_the_population(trail: Trail, tmp_path: Path) -> None:
    assert report(trail, tmp_path / "p", "--hosts", "edge*") == EXIT_OK
    fig = figures(tmp_path / "p")
    assert fig["population_rows"] + fig["out_of_scope_rows"] == fig["lines_in_files"]
    lines = (tmp_path / "p" / "population.jsonl").read_bytes().splitlines()
    assert len(lines) == fig["population_rows"] > 0
    assert {json.loads(line)["host"] for line in lines} == {"edge1", "edge2"}


def test_report_without_a_key_is_unsigned_and_bad_windows_are_refused(
    trail: Trail, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["report", "--evidence-dir", str(trail.evidence), "--catalog", str(trail.catalog_path),
         "--waivers", str(trail.waivers_path), "--key", str(tmp_path / "none.pem"),
         "--from", "2026-11-02", "--to", "2026-11-02", "--out", str(tmp_path / "u"), "--now", NOW]
    )  # fmt: skip
    assert code == EXIT_OK and "NOT signed" in capsys.readouterr().out
    assert not (tmp_path / "u" / "manifest.json.sig").exists()
    manifest = json.loads((tmp_path / "u" / "manifest.json").read_text())
    assert manifest["key_fingerprint"] is None
    assert "evidence-public-key.pem" not in {f["path"] for f in manifest["files"]}
    code = cli.main(["report", "--evidence-dir", str(trail.evidence), "--from", "2026-11-03",
                     "--to", "2026-11-01", "--out", str(tmp_path / "x")])  # fmt: skip
    assert code == EXIT_USAGE


def sample(trail: Trail, *extra: str) -> dict[str, Any]:
    argv = ["sample", "--evidence-dir", str(trail.evidence), "--catalog",
            str(trail.catalog_path), "--check", "PKI-02", *extra]  # fmt: skip
    return json.loads(_run(argv))


def _run(argv: list[str]) -> str:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli.main(argv) == EXIT_OK
    return buffer.getvalue()


def test_the_same_seed_draws_the_same_sample(trail: Trail, package: Path) -> None:
    first = sample(trail, "--n", "5", "--seed", "42")
    again = sample(trail, "--n", "5", "--seed", "42")
    other = sample(trail, "--n", "5", "--seed", "43")
    assert first == again
    assert first["frame"] == 12  # 4 hosts x 3 days have PKI-02 rows
    picked = [(i["day"], i["host"]) for i in first["items"]]
    assert len(set(picked)) == 5 and picked != [(i["day"], i["host"]) for i in other["items"]]
    for item in first["items"]:
        assert item["rows"] and all(r["check_id"] == "PKI-02" for r in item["rows"])
        assert all(r["host"] == item["host"] for r in item["rows"])
        assert sum(item["results"].values()) == len(item["rows"])
    # The package's population.jsonl gives the same frame and sample.
    from_package = sample(trail, "--n", "5", "--seed", "42", "--population",
                          str(package / "population.jsonl"))  # fmt: skip
    assert from_package["items"] == first["items"]
    everything = sample(trail, "--n", "100", "--seed", "1", "--from", "2026-11-02", "--to",
                        "2026-11-02")  # fmt: skip
    assert everything["frame"] == len(everything["items"]) == 4
    unknown = ["sample", "--evidence-dir", str(trail.evidence), "--catalog",
               str(trail.catalog_path), "--check", "PKI-99", "--n", "1", "--seed", "1"]  # fmt: skip
    assert cli.main(unknown) == EXIT_USAGE


def test_scan_counts_lines_that_are_not_rows(trail: Trail, tmp_path: Path) -> None:

    copy = tmp_path / "evidence"
    shutil.copytree(trail.evidence, copy)
    with (copy / "results-2026-11-02.jsonl").open("ab") as handle:
        handle.write(b"not json\n[1, 2]\n")
    lines = len((copy / "results-2026-11-02.jsonl").read_bytes().splitlines())
    result = scan(copy, Window(DAYS[0], DAYS[-1]))
    assert result.unparsable == [
        f"results-2026-11-02.jsonl:{lines - 1}",
        f"results-2026-11-02.jsonl:{lines}",
    ]
    assert result.lines == result.rows + 2


def test_the_information_produced_by_the_entity_says_how(trail: Trail, package: Path) -> None:
    """The IPE section: command line, parameters, suite version, policy hash, generation time,
    key fingerprint, the query logic of every figure and the SHA-256 of the data files."""
    import hashlib
    import html

    from soc2audit import __version__
    from soc2audit.auditor_report import QUERY_LOGIC

    page = (package / "report.html").read_text(encoding="utf-8")
    ipe = html.unescape(page[page.index('<h2 id="ipe">') :])
    manifest = json.loads((package / "manifest.json").read_bytes())
    assert f"--from {DAYS[0]}" in ipe and f"--to {DAYS[-1]}" in ipe
    assert __version__ in ipe and trail.policy in ipe
    assert "2026-11-04T00:20:00" in ipe  # the generation time (--now)
    assert manifest["key_fingerprint"] in ipe
    for figure, logic in QUERY_LOGIC.items():
        assert figure in ipe and logic in ipe, figure
    for name in ("population.jsonl", "population.csv", "figures.json", "verify.json"):
        assert hashlib.sha256((package / name).read_bytes()).hexdigest() in ipe, name


def test_uptime_intervals_of_the_window_are_listed(trail: Trail, tmp_path: Path) -> None:

    evidence = tmp_path / "evidence"
    shutil.copytree(trail.evidence, evidence)
    labels = {"instance": "edge1", "job": "node"}
    down = {"record": "uptime_interval", "instance": "edge1", "job": "node", "labels": labels}
    intervals = [
        {**down, "kind": "up_zero", "start": "2026-11-02T10:01:00Z",
         "end": "2026-11-02T10:02:00Z", "duration_seconds": 60.0},
        {**down, "kind": "no_samples", "start": "2026-11-03T23:00:00Z", "end": None,
         "duration_seconds": None},
        {**down, "kind": "up_zero", "start": "2026-10-20T10:00:00Z",
         "end": "2026-10-20T10:05:00Z", "duration_seconds": 300.0},
    ]  # fmt: skip
    now = dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
    record_intervals(evidence, intervals, {"step_seconds": 15.0}, now)
    out = tmp_path / "pkg"
    moved = replace(trail, evidence=evidence)
    assert report(moved, out) == EXIT_OK
    page = (out / "report.html").read_text()
    table = page.split('id="uptime-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 3  # the header and the two intervals of the window
    assert "2026-11-02T10:01:00Z" in table and "up == 0" in table and "no samples" in table
    assert '<td class="bad">ongoing</td>' in table and "uptime-2026-11-04.jsonl:2" in table
    assert "2026-10-20" not in table
