# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``soc2audit incident`` (validation, the YAML form, the evidence lines), the alerts reader
and its links to incidents, and ``soc2audit evidence prune`` (refusals and a permitted prune)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from results_data import make_catalog
from window_data import DAYS, Trail, build

from soc2audit import cli
from soc2audit.chain import (
    Settings,
    anchor_record,
    read_digest,
    write_anchor,
    write_due_digests,
)
from soc2audit.chain_verify import verify
from soc2audit.evidence import append_evidence
from soc2audit.exitcodes import EXIT_EVIDENCE_PRUNE_REFUSED, EXIT_OK, EXIT_USAGE
from soc2audit.incidents import (
    IncidentError,
    link_alerts,
    parse_yaml,
    read_alerts,
    read_incidents,
    validate,
)

GOOD = {
    "from": "2026-11-02T10:00:00Z",
    "to": "2026-11-02T12:00:00Z",
    "hosts": "edge1,edge2",
    "checks": "PKI-02",
    "ticket": "INC-1",
    "rca_url": "https://wiki.example/rca/1",
}


def add(tmp_path: Path, **overrides: str) -> int:
    fields = {**GOOD, **overrides}
    argv = [
        "incident", "add", "--evidence-dir", str(tmp_path / "evidence"),
        "--catalog", str(tmp_path / "catalog.yml"), "--now", "2026-11-03T08:00:00Z",
    ]  # fmt: skip
    for name, value in fields.items():
        argv += [f"--{name.replace('_', '-')}", value]
    return cli.main(argv)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"to": "2026-11-02T09:00:00Z"}, "'to' (2026-11-02T09:00:00Z) is not after 'from'"),
        ({"checks": "PKI-99"}, "check 'PKI-99' matches no check in the catalog"),
        ({"ticket": " "}, "'ticket' is missing or empty"),
        ({"hosts": ","}, "'hosts' is missing or empty"),
        ({"rca_url": "see ticket"}, "'rca_url' 'see ticket' is not an http(s) URL"),
        ({"from": "yesterday"}, "'from' is not a time"),
    ],
)
def test_invalid_incidents_are_refused_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, str], message: str
) -> None:
    make_catalog(tmp_path)
    assert add(tmp_path, **overrides) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "evidence").exists()


def test_an_incident_is_an_evidence_line_and_is_recorded_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_catalog(tmp_path)
    assert add(tmp_path, summary="edge keys  rotated", to="2026-11-02") == EXIT_OK
    assert add(tmp_path, summary="edge keys  rotated", to="2026-11-02") == EXIT_OK
    out = capsys.readouterr().out
    assert "recorded incident" in out and "already recorded" in out
    day = tmp_path / "evidence" / "incidents-2026-11-03.jsonl"
    (line,) = day.read_bytes().splitlines()
    row = json.loads(line)
    assert row["record"] == "incident" and row["ticket"] == "INC-1"
    assert row["to"] == "2026-11-03T00:00:00Z"  # a date: the end of that day
    assert row["hosts"] == ["edge1", "edge2"] and row["summary"] == "edge keys rotated"
    assert list(row) == sorted(row)  # the trail's one writer: sorted keys
    (incident,) = read_incidents(tmp_path / "evidence")
    assert incident.id == row["id"] and incident.matches_host("edge2")
    assert not incident.matches_check("PKI-01")


def test_the_yaml_form_is_validated_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = make_catalog(tmp_path)
    text = """
incidents:
  - {from: 2026-11-02T10:00:00Z, to: 2026-11-02T12:00:00Z, hosts: [edge1], checks: [all],
     ticket: INC-2, rca_url: "https://wiki.example/rca/2"}
  - {from: 2026-11-05, to: 2026-11-04, hosts: [all], checks: [TIME-*], ticket: INC-3,
     rca_url: "https://wiki.example/rca/3"}
"""
    with pytest.raises(IncidentError, match=r"incidents\[1\]: 'to' .* is not after 'from'"):
        parse_yaml(text, catalog, "f.yml")
    good = tmp_path / "good.yml"
    good.write_text(text.replace("from: 2026-11-05", "from: 2026-11-04"))
    argv = ["incident", "import", str(good), "--evidence-dir", str(tmp_path / "ev"),
            "--catalog", str(tmp_path / "catalog.yml")]  # fmt: skip
    assert cli.main(argv) == EXIT_OK
    found = read_incidents(tmp_path / "ev")
    assert [i.ticket for i in found] == ["INC-2", "INC-3"]
    assert found[1].end == dt.datetime(2026, 11, 5, tzinfo=dt.UTC)
    with pytest.raises(IncidentError, match="unknown field"):
        validate({**GOOD, "owner": "x"}, catalog)


def test_alerts_are_read_in_either_shape_and_linked_by_time_and_host(tmp_path: Path) -> None:
    catalog = make_catalog(tmp_path)
    evidence = tmp_path / "evidence"
    rows = [
        # the receiver's one line per alert
        {"record": "alert_notification", "alertname": "Soc2CheckFailing", "status": "firing",
         "labels": {"alertname": "Soc2CheckFailing", "instance": "edge2:9100"},
         "starts_at": "2026-11-02T10:05:00Z", "ends_at": None},
        # a whole Alertmanager webhook payload
        {"status": "resolved", "alerts": [
            {"labels": {"alertname": "Soc2ClockError", "host": "edge1"},
             "startsAt": "2026-11-02T11:00:00.123456789Z", "endsAt": "2026-11-02T11:30:00Z"},
            {"labels": {"alertname": "Soc2Other", "host": "monitor"},
             "startsAt": "2026-11-02T11:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]},
        {"unrelated": True},
    ]  # fmt: skip
    append_evidence(evidence, rows, "2026-11-02T12:00:00Z", prefix="alerts")
    alerts = read_alerts(evidence)
    assert [(a.alertname, a.host, a.status) for a in alerts] == [
        ("Soc2CheckFailing", "edge2", "firing"),
        ("Soc2ClockError", "edge1", "resolved"),
        ("Soc2Other", "monitor", "resolved"),
    ]
    assert alerts[2].end is None
    incident = validate(GOOD, catalog)
    link_alerts(alerts, [incident])
    assert [a.incidents for a in alerts] == [[incident.id], [incident.id], []]


# --------------------------------------------------------------------------- prune


def prune(trail_evidence: Path, *extra: str) -> int:
    return cli.main(["evidence", "prune", "--evidence-dir", str(trail_evidence), *extra])


@pytest.fixture
def trail(tmp_path: Path) -> Trail:
    return build(tmp_path, incidents=False)


def test_prune_refuses_inside_the_retention(
    trail: Trail, capsys: pytest.CaptureFixture[str]
) -> None:
    anchor = trail.root / "anchor.json"
    write_anchor(trail.evidence, anchor)
    code = prune(trail.evidence, "--before", "2026-11-03", "--anchor", str(anchor),
                 "--now", "2027-06-01T00:00:00Z")  # fmt: skip
    assert code == EXIT_EVIDENCE_PRUNE_REFUSED
    assert "inside the retention of 365 days" in capsys.readouterr().err
    assert len(list(trail.evidence.glob("results-*.jsonl"))) == 3
    # A shorter retention, configured, lets it through.
    code = prune(
        trail.evidence, "--before", "2026-11-03", "--anchor", str(anchor),
        "--retention-days", "30", "--now", "2027-06-01T00:00:00Z", "--dry-run",
    )  # fmt: skip
    assert code == EXIT_OK and len(list(trail.evidence.glob("results-*.jsonl"))) == 3


def test_prune_refuses_what_is_not_anchored(
    trail: Trail, capsys: pytest.CaptureFixture[str]
) -> None:
    late = ["--before", "2026-11-03", "--now", "2028-01-01T00:00:00Z"]
    assert prune(trail.evidence, *late) == EXIT_EVIDENCE_PRUNE_REFUSED
    assert "no --anchor given" in capsys.readouterr().err
    # An anchor taken before the 2nd's last bytes were digested does not cover them.
    old_anchor = trail.root / "old-anchor.json"
    digests = sorted((trail.evidence / "digests").rglob("*.json"))
    early = json.loads(digests[30].read_bytes())
    old_anchor.write_text(json.dumps(anchor_record(read_digest(trail.evidence, digests[30]))))
    assert early["interval_end"].startswith("2026-11-02T")  # mid-day of the 2nd
    assert prune(trail.evidence, *late, "--anchor", str(old_anchor)) == EXIT_EVIDENCE_PRUNE_REFUSED
    err = capsys.readouterr().err
    assert "results-2026-11-02.jsonl: last covered by digest" in err and "not anchored" in err
    # Bytes appended after the newest digest are not anchored either.
    anchor = trail.root / "anchor.json"
    write_anchor(trail.evidence, anchor)
    with (trail.evidence / "results-2026-11-01.jsonl").open("ab") as handle:
        handle.write(b'{"late": true}\n')
    assert prune(trail.evidence, *late, "--anchor", str(anchor)) == EXIT_EVIDENCE_PRUNE_REFUSED
    assert "bytes after the last digest are not anchored" in capsys.readouterr().err
    # A forged anchor (another SHA-256) is refused.
    record = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**record, "sha256": "0" * 64}))
    assert prune(trail.evidence, *late, "--anchor", str(anchor)) == EXIT_EVIDENCE_PRUNE_REFUSED
    assert "not in the chain with the anchored SHA-256" in capsys.readouterr().err
    assert len(list(trail.evidence.glob("results-*.jsonl"))) == 3


def test_a_permitted_prune_removes_records_and_still_verifies(
    trail: Trail,
    capsys: pytest.CaptureFixture[str],
) -> None:
    anchor = trail.root / "anchor.json"
    write_anchor(trail.evidence, anchor)
    now = "2027-11-03T00:00:00Z"
    code = prune(trail.evidence, "--before", "2026-11-03", "--anchor", str(anchor), "--now", now)
    assert code == EXIT_OK
    out = capsys.readouterr().out
    assert "removed results-2026-11-01.jsonl" in out and "2 file(s) removed" in out
    assert sorted(p.name for p in trail.evidence.glob("results-*.jsonl")) == [
        "results-2026-11-03.jsonl"
    ]
    (record_file,) = trail.evidence.glob("pruned-*.jsonl")
    records = [json.loads(line) for line in record_file.read_bytes().splitlines()]
    assert [r["path"] for r in records] == ["results-2026-11-01.jsonl", "results-2026-11-02.jsonl"]
    # The next digest covers the prune records; the chain verifies with the pruned files gone.
    moment = dt.datetime(2026, 11, 4, 1, 5, tzinfo=dt.UTC)
    write_due_digests(trail.evidence, trail.key, Settings(policy_sha256=trail.policy), moment)
    report = verify(trail.evidence, now=moment)
    assert report.ok, [f.text() for f in report.findings]
    assert report.pruned == ["results-2026-11-01.jsonl", "results-2026-11-02.jsonl"]
    # A file removed without prune is still missing_file.
    (trail.evidence / "results-2026-11-03.jsonl").unlink()
    assert verify(trail.evidence, now=moment).kinds() == {"missing_file"}
    assert DAYS[0] < DAYS[-1]
