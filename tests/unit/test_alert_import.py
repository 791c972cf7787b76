# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Alert records from a monitor's receiver into the control node's evidence trail
(soc2audit/alert_import.py and read_alert_lines in soc2_mon_prometheus.py): the receiver writes
real files (soc2audit.alert_receiver.Receiver, Alertmanager 0.25's payload shape), the reader
returns what lies past the cursor, the import appends it once; the digest chain then covers it
and the report's reader finds it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from ansible.module_utils import soc2_mon_prometheus as mon

from soc2audit import alert_import
from soc2audit.alert_receiver import Receiver
from soc2audit.chain import Settings, keygen, write_due_digests
from soc2audit.chain_verify import verify
from soc2audit.incidents import read_alerts

DAY1 = dt.datetime(2026, 12, 6, 18, 0, 1, tzinfo=dt.UTC)
DAY2 = dt.datetime(2026, 12, 7, 0, 0, 5, tzinfo=dt.UTC)


def payload(status: str, check: str = "PKI-06") -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "receiver": "soc2audit-evidence",
        "groupKey": '{}:{alertname="SOC2PKICheckFailed"}',
        "externalURL": "https://monitor:9093",
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": "SOC2PKICheckFailed",
                    "check_id": check,
                    "instance": "edge1",
                },
                "annotations": {"runbook_url": "docs/runbook.md#soc2pkicheckfailed"},
                "startsAt": "2026-12-06T17:59:40.123Z",
                "endsAt": "0001-01-01T00:00:00Z"
                if status == "firing"
                else "2026-12-06T18:00:30.5Z",
                "generatorURL": "https://monitor:9090/graph",
                "fingerprint": "a1b2c3d4e5f60718",
            }
        ],
    }


def pull(monitor: Path, evidence: Path, max_bytes: int = 1 << 20, host: str = "monitor") -> Any:
    """One drift run's share: the cursor, the monitor's read past it, the import."""
    batch = mon.read_alert_lines(str(monitor), alert_import.cursor(evidence, host), max_bytes)
    return batch, alert_import.import_alerts(evidence, {host: batch}, DAY2)


def imported(evidence: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(evidence.glob("alerts-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_firing_and_resolved_reach_the_chain_once(tmp_path: Path) -> None:
    monitor, evidence = tmp_path / "monitor", tmp_path / "evidence"
    receiver = Receiver(monitor)
    receiver.record(payload("firing"), "monitor", DAY1)
    batch, (path, count, warnings) = pull(monitor, evidence)
    assert count == 1 and not warnings and path == evidence / "alerts-2026-12-07.jsonl"
    assert [line["offset"] for line in batch["lines"]] == [0]

    # Nothing new: nothing read, nothing appended.
    batch, (path, count, _) = pull(monitor, evidence)
    assert batch["lines"] == [] and count == 0 and path is None

    receiver.record(payload("resolved"), "monitor", DAY1 + dt.timedelta(seconds=30))
    receiver.record(payload("firing", "TIME-01"), "monitor", DAY2)  # the next day's file
    batch, (_, count, _) = pull(monitor, evidence)
    assert count == 2 and [line["file"] for line in batch["lines"]] == [
        "alerts-2026-12-06.jsonl",
        "alerts-2026-12-07.jsonl",
    ]
    rows = imported(evidence)
    assert [(r["status"], r["labels"]["check_id"]) for r in rows] == [
        ("firing", "PKI-06"),
        ("resolved", "PKI-06"),
        ("firing", "TIME-01"),
    ]
    assert rows[1]["ends_at"] == "2026-12-06T18:00:30.5Z"
    assert rows[1]["imported"]["host"] == "monitor" and rows[1]["imported"]["offset"] > 0

    # The same batch again (a run that died after its append): dropped.
    assert alert_import.import_alerts(evidence, {"monitor": batch}, DAY2)[1] == 0
    assert len(imported(evidence)) == 3

    # The report's reader finds them; the chain covers them and verifies.
    alerts = read_alerts(evidence)
    assert [(a.status, a.host) for a in alerts][:2] == [("firing", "edge1"), ("resolved", "edge1")]
    key = tmp_path / "key" / "evidence.pem"
    keygen(key, evidence)
    assert write_due_digests(
        evidence, key, Settings(policy_sha256="0" * 64), DAY2 + dt.timedelta(hours=1)
    )
    report = verify(evidence, now=DAY2 + dt.timedelta(hours=1, minutes=1))
    assert report.ok, report.text()


def test_a_bounded_share_per_run_loses_nothing(tmp_path: Path) -> None:
    monitor, evidence = tmp_path / "monitor", tmp_path / "evidence"
    receiver = Receiver(monitor)
    for i in range(5):
        receiver.record(payload("firing", f"PKI-0{i + 1}"), "monitor", DAY1)
    size = (monitor / "alerts-2026-12-06.jsonl").stat().st_size
    runs = 0
    while True:
        batch, _ = pull(monitor, evidence, max_bytes=size // 2)
        runs += 1
        if not batch["more"]:
            break
    assert runs >= 2
    assert [r["labels"]["check_id"] for r in imported(evidence)] == [
        f"PKI-0{i + 1}" for i in range(5)
    ]


def test_a_partial_last_line_waits_and_a_replaced_file_is_read_again(tmp_path: Path) -> None:
    monitor, evidence = tmp_path / "monitor", tmp_path / "evidence"
    Receiver(monitor).record(payload("firing"), "monitor", DAY1)
    day = monitor / "alerts-2026-12-06.jsonl"
    with day.open("ab") as fh:
        fh.write(b'{"record": "alert_notification", "status": "resol')  # mid-write
    batch, (_, count, _) = pull(monitor, evidence)
    assert count == 1 and len(batch["lines"]) == 1

    # The monitor was rebuilt: a new file of the same name, other bytes.
    day.write_bytes(b'{"record": "alert_notification", "status": "firing", "x": 1}\nnot json\n')
    batch, (_, count, warnings) = pull(monitor, evidence)
    assert count == 2 and any("read from the start" in w for w in warnings), warnings
    rows = imported(evidence)
    assert rows[-1]["record"] == alert_import.UNPARSABLE and rows[-1]["text"] == "not json"


def test_older_files_than_the_cursor_are_not_read_and_errors_are_warnings(tmp_path: Path) -> None:
    monitor, evidence = tmp_path / "monitor", tmp_path / "evidence"
    Receiver(monitor).record(payload("firing"), "monitor", DAY2)
    pull(monitor, evidence)
    # A file older than anything imported (e.g. pruned from the control node since).
    (monitor / "alerts-2026-11-01.jsonl").write_text('{"status": "firing"}\n')
    batch, (_, count, _) = pull(monitor, evidence)
    assert count == 0 and batch["lines"] == []
    missing = mon.read_alert_lines(str(tmp_path / "nowhere"), {}, 100)
    assert "not readable" in missing["error"]
    _, count, warnings = alert_import.import_alerts(evidence, {"monitor": missing}, DAY2)
    assert count == 0 and "not read" in warnings[0]


def test_the_lookup_gives_the_drift_run_the_cursor(tmp_path: Path) -> None:
    from ansible.plugins.loader import lookup_loader

    monitor, evidence = tmp_path / "monitor", tmp_path / "evidence"
    Receiver(monitor).record(payload("firing"), "monitor", DAY1)
    pull(monitor, evidence)
    lookup_loader.add_directory(str(Path(__file__).parents[2] / "plugins" / "lookup"))
    lookup = lookup_loader.get("soc2audit_alert_cursor")
    (got,) = lookup.run([str(evidence)], {}, host="monitor")
    assert got == alert_import.cursor(evidence, "monitor")
    assert (
        list(got["files"]) == ["alerts-2026-12-06.jsonl"]
        and got["files"]["alerts-2026-12-06.jsonl"]["last_offset"] == 0
    )
    assert lookup.run([str(evidence)], {}, host="edge1") == [{"files": {}}]
