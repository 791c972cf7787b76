# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit.alert_receiver: Alertmanager's webhook payload to evidence lines, over mTLS."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from soc2audit import alert_receiver
from soc2audit.alert_receiver import PayloadError, Receiver, notification_rows

RECEIVED = dt.datetime(2026, 12, 6, 18, 0, 1, 250000, tzinfo=dt.UTC)


def payload(status: str = "firing", **alert: Any) -> dict[str, Any]:
    """An Alertmanager webhook payload (version 4) with one alert, as Alertmanager 0.25 sends it."""
    body = {
        "status": status,
        "labels": {
            "alertname": "SOC2PKICheckFailed",
            "check_id": "PKI-02",
            "instance": "edge1",
            "job": "node",
            "severity": "critical",
        },
        "annotations": {"check_ids": "PKI-02", "runbook_url": "docs/runbook.md#soc2pkicheckfailed"},
        "startsAt": "2026-12-06T17:59:40.123Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-12-06T18:00:00.5Z",
        "generatorURL": "https://monitor:9090/graph?g0.expr=...",
        "fingerprint": "a1b2c3d4e5f60718",
    }
    body.update(alert)
    return {
        "version": "4",
        "groupKey": '{}/{}:{alertname="SOC2PKICheckFailed"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "soc2audit-evidence",
        "groupLabels": {"alertname": "SOC2PKICheckFailed"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "https://monitor:9093",
        "alerts": [body],
    }


def test_a_firing_alert_becomes_one_line_with_a_null_end() -> None:
    (row,) = notification_rows(payload(), RECEIVED, "monitor")
    assert row == {
        "record": "alert_notification",
        "alertname": "SOC2PKICheckFailed",
        "status": "firing",
        "labels": {
            "alertname": "SOC2PKICheckFailed",
            "check_id": "PKI-02",
            "instance": "edge1",
            "job": "node",
            "severity": "critical",
        },
        "annotations": {"check_ids": "PKI-02", "runbook_url": "docs/runbook.md#soc2pkicheckfailed"},
        "starts_at": "2026-12-06T17:59:40.123Z",
        "ends_at": None,
        "received": "2026-12-06T18:00:01.250000Z",
        "fingerprint": "a1b2c3d4e5f60718",
        "receiver": "soc2audit-evidence",
        "group_key": '{}/{}:{alertname="SOC2PKICheckFailed"}',
        "generator_url": "https://monitor:9090/graph?g0.expr=...",
        "external_url": "https://monitor:9093",
        "peer": "monitor",
    }


def test_a_resolved_alert_keeps_its_start_and_gets_its_end() -> None:
    (row,) = notification_rows(payload("resolved"), RECEIVED)
    assert row["status"] == "resolved"
    assert row["starts_at"] == "2026-12-06T17:59:40.123Z"
    assert row["ends_at"] == "2026-12-06T18:00:00.5Z"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ([], "not a JSON object"),
        ({"status": "firing"}, "no 'alerts' list"),
        ({"alerts": ["x"]}, "not a JSON object"),
        ({"alerts": [{"status": "pending", "labels": {}}]}, "unknown alert status"),
        ({"alerts": [{"status": "firing", "labels": []}]}, "labels are not an object"),
    ],
)
def test_what_is_not_a_payload_is_refused(body: Any, why: str) -> None:
    with pytest.raises(PayloadError, match=why):
        notification_rows(body, RECEIVED)


def test_rows_are_appended_to_the_day_file_of_their_receipt(tmp_path: Path) -> None:
    receiver = Receiver(tmp_path / "evidence")
    (tmp_path / "evidence").mkdir(mode=0o750)
    assert receiver.record(payload(), "monitor", RECEIVED) == 1
    assert receiver.record(payload("resolved"), "monitor", RECEIVED) == 1
    day = tmp_path / "evidence" / "alerts-2026-12-06.jsonl"
    lines = [json.loads(line) for line in day.read_text().splitlines()]
    assert [row["status"] for row in lines] == ["firing", "resolved"]
    assert day.stat().st_mode & 0o777 == 0o640
    assert receiver.health()["status"] == "ok" and receiver.health()["written"] == 2


@pytest.fixture
def served(lab: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    server_cert = lab.leaf("monitor-web", sans=["DNS:monitor", "IP:127.0.0.1"])
    evidence = tmp_path / "evidence"
    evidence.mkdir(mode=0o750)
    receiver = Receiver(evidence, ["monitor"])
    context = alert_receiver.tls_context(
        str(server_cert.cert_path), str(server_cert.key_path), str(lab.bundle)
    )
    server = alert_receiver.make_server("127.0.0.1", 0, receiver, context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"port": server.server_address[1], "lab": lab, "evidence": evidence}
    finally:
        server.shutdown()
        server.server_close()


def call(
    served: dict[str, Any], method: str, path: str, body: Any = None, client: str | None = None
) -> tuple[int, dict[str, Any]]:
    lab: Any = served["lab"]
    context = ssl.create_default_context(cafile=str(lab.bundle))
    if client:
        issued = lab.leaf(client, sans=[f"DNS:{client}"])
        context.load_cert_chain(str(issued.cert_path), str(issued.key_path))
    conn = http.client.HTTPSConnection("127.0.0.1", served["port"], context=context, timeout=5)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    out = json.loads(response.read() or b"{}")
    conn.close()
    return response.status, out


def test_alertmanager_with_its_certificate_is_written(served: dict[str, Any]) -> None:
    status, out = call(served, "POST", "/alerts", payload(), client="monitor")
    assert (status, out) == (200, {"written": 1})
    (day,) = served["evidence"].glob("alerts-*.jsonl")
    (row,) = [json.loads(line) for line in day.read_text().splitlines()]
    assert row["peer"] == "monitor" and row["alertname"] == "SOC2PKICheckFailed"


def test_health_over_mtls(served: dict[str, Any]) -> None:
    status, out = call(served, "GET", "/healthz", client="monitor")
    assert status == 200 and out["status"] == "ok"


def test_a_client_without_a_certificate_is_refused(served: dict[str, Any]) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        call(served, "POST", "/alerts", payload())
    assert not list(served["evidence"].glob("alerts-*.jsonl"))


def test_a_certificate_of_our_ca_with_another_name_is_forbidden(served: dict[str, Any]) -> None:
    status, _ = call(served, "POST", "/alerts", payload(), client="intruder")
    assert status == 403
    assert not list(served["evidence"].glob("alerts-*.jsonl"))


def test_a_bad_payload_is_400_and_writes_nothing(served: dict[str, Any]) -> None:
    status, out = call(served, "POST", "/alerts", {"nothing": 1}, client="monitor")
    assert status == 400 and "alerts" in out["error"]
    assert not list(served["evidence"].glob("alerts-*.jsonl"))


def test_a_write_failure_is_500_so_alertmanager_retries(served: dict[str, Any]) -> None:
    served["evidence"].chmod(0o500)
    try:
        status, out = call(served, "POST", "/alerts", payload(), client="monitor")
        health, body = call(served, "GET", "/healthz", client="monitor")
    finally:
        served["evidence"].chmod(0o750)
    if status == 200:
        pytest.skip("running as root: the directory stays writable")
    assert status == 500 and "not written" in out["error"]
    assert health == 503 and body["status"] != "ok"
