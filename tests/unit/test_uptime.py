# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit.uptime: Prometheus' up over a range as down intervals in the evidence trail.

The answers are the documented ``query_range`` shape (tests/unit/fixtures/uptime/README.md);
the command is run against a loopback HTTPS server that requires a client certificate of the
test CA and answers each request with the points of its own range, as Prometheus does."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from soc2audit import alert_receiver, cli, uptime
from soc2audit.exitcodes import EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE
from soc2audit.uptime import UptimeError, derive_intervals, matrix, read_uptime

FIXTURES = Path(__file__).parent / "fixtures" / "uptime"
START = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC).timestamp()
END = START + 300
ANSWER: dict[str, Any] = json.loads((FIXTURES / "query_range_up.json").read_text())


def brief(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["instance"], r["job"], r["kind"], r["start"], r["end"], r["duration_seconds"])
        for r in rows
    ]


EXPECTED = [
    ("edge1", "node", "up_zero", "2026-12-06T10:01:00Z", "2026-12-06T10:02:00Z", 60.0),
    ("edge2", "node", "no_samples", "2026-12-06T10:03:30Z", None, None),
    ("monitor", "prometheus", "up_zero", "2026-12-06T10:00:00Z", "2026-12-06T10:00:30Z", 30.0),
]


def test_down_intervals_per_series_with_their_kind() -> None:
    rows = derive_intervals(matrix(ANSWER), START, END, 15)
    assert brief(rows) == EXPECTED
    edge1, edge2, prom = rows
    assert (edge1["steps"], edge1["ongoing"], edge1["clipped"]) == (4, False, False)
    assert (edge2["steps"], edge2["ongoing"], edge2["clipped"]) == (7, True, False)
    assert prom["clipped"] and prom["labels"] == {"instance": "monitor", "job": "prometheus"}


def test_series_split_over_chunks_are_joined() -> None:
    halves = []
    for series in matrix(ANSWER):
        values = series["values"]
        halves.append({"metric": series["metric"], "values": values[:5]})
        halves.append({"metric": series["metric"], "values": values[5:]})
    assert brief(derive_intervals(halves, START, END, 15)) == EXPECTED


def test_an_interval_that_changes_kind_is_two_intervals() -> None:
    values = [[START, "1"], [START + 15, "0"], [START + 45, "1"]]  # START + 30: no sample
    rows = derive_intervals([{"metric": {"instance": "h", "job": "node"}, "values": values}],
                            START, START + 45, 15)  # fmt: skip
    assert [(r["kind"], r["start"], r["end"]) for r in rows] == [
        ("up_zero", "2026-12-06T10:00:15Z", "2026-12-06T10:00:30Z"),
        ("no_samples", "2026-12-06T10:00:30Z", "2026-12-06T10:00:45Z"),
    ]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (json.loads((FIXTURES / "query_range_error.json").read_text()), "exceeded maximum"),
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, "matrix"),
        ("<html>", "not a Prometheus API answer"),
    ],
)
def test_what_is_not_a_range_vector_is_refused(answer: Any, why: str) -> None:
    with pytest.raises(UptimeError, match=why):
        matrix(answer)


def test_an_ended_record_replaces_the_ongoing_one(tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 6, 11, tzinfo=dt.UTC)
    ongoing = {**dict(zip(("instance", "job", "kind", "start"), EXPECTED[1], strict=False))}
    ongoing |= {"record": "uptime_interval", "labels": {"instance": "edge2", "job": "node"}}
    uptime.record_intervals(tmp_path, [{**ongoing, "end": None}], {"at": "a"}, now)
    uptime.record_intervals(tmp_path, [{**ongoing, "end": "2026-12-06T10:10:00Z"}], {}, now)
    (row,) = read_uptime(tmp_path)
    assert row["end"] == "2026-12-06T10:10:00Z" and row["where"] == "uptime-2026-12-06.jsonl:2"


# --------------------------------------------------------------------------- over mTLS


class _Prometheus(BaseHTTPRequestHandler):
    """GET /api/v1/query_range: the fixture's points within the request's start and end."""

    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        lo, hi = float(query["start"][0]), float(query["end"][0])
        result = [
            {"metric": s["metric"], "values": [v for v in s["values"] if lo <= v[0] <= hi]}
            for s in ANSWER["data"]["result"]
        ]
        body = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        if url.path != "/api/v1/query_range" or query.get("query") != ["up"]:
            body = {"status": "error", "errorType": "bad_data", "error": "unexpected request"}
        data = json.dumps(body).encode()
        self.send_response(200 if body["status"] == "success" else 400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def prometheus(lab: Any) -> Iterator[dict[str, Any]]:
    server_cert = lab.leaf("monitor-web", sans=["DNS:monitor", "IP:127.0.0.1"])
    handler = type("Handler", (_Prometheus,), {"requests": []})
    server = alert_receiver._Server(("127.0.0.1", 0), handler)
    server.context = alert_receiver.tls_context(
        str(server_cert.cert_path), str(server_cert.key_path), str(lab.bundle)
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"https://127.0.0.1:{server.server_address[1]}", "handler": handler}
    finally:
        server.shutdown()
        server.server_close()


def command(prometheus: dict[str, Any], lab: Any, evidence: Path, client: str) -> list[str]:
    issued = lab.leaf(client, sans=[f"DNS:{client}"])
    return [
        "uptime",
        "--from",
        "2026-12-06T10:00:00Z",
        "--to",
        "2026-12-06T10:05:00Z",
        "--prometheus",
        prometheus["url"],
        "--server-name",
        "monitor",
        "--ca",
        str(lab.bundle),
        "--cert",
        str(issued.cert_path),
        "--key",
        str(issued.key_path),
        "--evidence-dir",
        str(evidence),
        "--now",
        "2026-12-06T12:00:00Z",
    ]


def test_the_command_records_the_intervals_once_with_their_derivation(
    prometheus: dict[str, Any], lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uptime, "MAX_POINTS", 8)  # 21 points: three requests
    evidence = tmp_path / "evidence"
    argv = command(prometheus, lab, evidence, "control")
    assert cli.main(argv) == EXIT_OK
    day = evidence / "uptime-2026-12-06.jsonl"
    rows = [json.loads(line) for line in day.read_text().splitlines()]
    assert brief(rows) == EXPECTED
    derived = rows[0]["derived"]
    assert derived["prometheus_url"] == prometheus["url"] and derived["query"] == "up"
    assert derived["step_seconds"] == 15 and derived["requests"] == prometheus["handler"].requests
    assert len(derived["requests"]) == 3
    assert (derived["from"], derived["to"]) == ("2026-12-06T10:00:00Z", "2026-12-06T10:05:00Z")
    assert day.stat().st_mode & 0o777 == 0o640

    assert cli.main(argv) == EXIT_OK  # idempotent: nothing new
    assert day.read_text().count("\n") == 3


def test_a_certificate_not_of_our_ca_is_refused(
    prometheus: dict[str, Any], lab: Any, make_lab: Any, tmp_path: Path
) -> None:
    other = make_lab()
    argv = command(prometheus, lab, tmp_path / "evidence", "control")
    stranger = other.leaf("control", sans=["DNS:control"])
    argv[argv.index("--cert") + 1] = str(stranger.cert_path)
    argv[argv.index("--key") + 1] = str(stranger.key_path)
    assert cli.main(argv) == EXIT_RUN_FAILED
    assert not (tmp_path / "evidence").exists()


def test_last_hours_is_the_range_up_to_now_and_excludes_from_to(
    prometheus: dict[str, Any], lab: Any, tmp_path: Path
) -> None:
    evidence = tmp_path / "evidence"
    argv = command(prometheus, lab, evidence, "control")
    del argv[1:5]  # --from X --to Y
    argv[argv.index("--now") + 1] = "2026-12-06T10:05:00Z"
    assert cli.main([*argv, "--last", "0.0833333334"]) == EXIT_OK
    rows = [
        json.loads(line) for line in (evidence / "uptime-2026-12-06.jsonl").read_text().splitlines()
    ]
    assert brief(rows) == EXPECTED
    assert rows[0]["derived"]["to"] == "2026-12-06T10:05:00Z"
    assert cli.main([*argv, "--last", "1", "--from", "2026-12-06"]) == EXIT_USAGE
    assert cli.main([*argv, "--last", "0"]) == EXIT_USAGE
    assert cli.main(argv) == EXIT_USAGE  # neither --last nor --from/--to
