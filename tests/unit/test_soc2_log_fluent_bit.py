# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The LOG family's shipper checks (LOG-01 .. LOG-05) for the fluent_bit engine
(plugins/module_utils/soc2_log_family.py, verify_fluent_bit), in the module's one run.

fluent-bit cannot run here, so its HTTP answers are fixtures BUILT FROM ITS DOCUMENTATION, not
recorded (tests/unit/fixtures/log/fluent_bit/README.md); they are served by a real HTTP server on
loopback, and the tail position DB is a real sqlite file with the schema of fluent-bit's
plugins/in_tail/tail_sql.h. The configuration is the fluent_bit role's real template, rendered
as tests/unit/test_filter_fluent_bit.py renders it. The /proc recordings are the rsyslog
shipper's (a session to 127.0.0.1:26614), with the process named fluent-bit.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import soc2_log
from ansible.module_utils import soc2_log_family as fam
from module_runner import invoke
from test_filter_fluent_bit import rendered_config

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "log"
FB = FIXTURES / "fluent_bit"
SHIP = FIXTURES / "shipper"
ACTIVE = {
    "Id": "fluent-bit.service",
    "LoadState": "loaded",
    "ActiveState": "active",
    "SubState": "running",
    "UnitFileState": "enabled",
}
# tail_sql.h, SQL_CREATE_FILES
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS in_tail_files ("
    "  id      INTEGER PRIMARY KEY,"
    "  name    TEXT NOT NULL,"
    "  offset  INTEGER,"
    "  inode   INTEGER,"
    "  created INTEGER,"
    "  rotated INTEGER DEFAULT 0"
    ");"
)


class _Server(http.server.ThreadingHTTPServer):
    answers: dict[str, tuple[int, bytes]]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        status, body = self.server.answers.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    """fluent-bit's HTTP server stand-in on 127.0.0.1 (answers set per test)."""
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.answers = {}
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def serve(
    srv: _Server, storage: str = "storage_healthy.json", metrics: str = "metrics_healthy.prom"
) -> None:
    srv.answers = {
        "/api/v1/storage": (200, (FB / storage).read_bytes()),
        "/api/v2/metrics/prometheus": (200, (FB / metrics).read_bytes()),
    }


def position_db(path: Path, rows: list[tuple[str, int, int, int]]) -> None:
    """A tail position DB as fluent-bit writes it: (name, offset, inode, rotated) rows."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL;")
    conn.execute(SCHEMA)
    conn.executemany(
        "INSERT INTO in_tail_files (name, offset, inode, created, rotated) VALUES (?, ?, ?, 0, ?)",
        rows,
    )
    conn.commit()
    conn.close()


def fake_host(tmp_path: Path, srv: _Server, **over: Any) -> dict[str, Any]:
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    for protocol in ("tcp", "tcp6"):
        shutil.copy(SHIP / "healthy" / f"proc_net_{protocol}.txt", proc / "net" / protocol)
    fd = proc / "4242" / "fd"
    fd.mkdir(parents=True)
    (proc / "4242" / "comm").write_text("fluent-bit\n")
    for n, link in enumerate((SHIP / "healthy" / "rsyslogd_fd_links.txt").read_text().split()):
        os.symlink(link, fd / str(n + 3))
    log = tmp_path / "audit.log"
    log.write_bytes(b"x" * 5000)
    db = tmp_path / "tail-audit.db"
    position_db(
        db, [("/var/log/audit/audit.log.1", 812, 99, 1), (str(log), 5000, log.stat().st_ino, 0)]
    )
    text, _ = rendered_config(
        {
            "fluent_bit_aggregator_host": "127.0.0.1",
            "fluent_bit_aggregator_port": 26614,
            "fluent_bit_aggregator_name": "agg",
        }
    )
    conf = tmp_path / "fluent-bit.yaml"
    conf.write_text(text)
    params = {k: v.get("default") for k, v in fam.SHIPPER_SPEC.items()}
    params.update(
        enabled=True,
        engine="fluent_bit",
        transport="tcp",
        service="fluent-bit",
        config_path=str(conf),
        audit_log_path=str(log),
        db_path=str(db),
        http_port=srv.server_address[1],
        aggregator_host="127.0.0.1",
        aggregator_port=26614,
        aggregator_name="agg",
        proc_root=str(proc),
    )
    params.update(over)
    return params


def results(out: dict[str, Any]) -> dict[str, str]:
    return {c["check_id"]: c["result"] for c in out["checks"]}


def messages(out: dict[str, Any]) -> dict[str, str]:
    return {c["check_id"]: c["message"] for c in out["checks"]}


# ---------------------------------------------------------------- the parsers
def test_storage_json_and_human_sizes() -> None:
    got = fam.parse_fluent_bit_storage(json.loads((FB / "storage_backlog.json").read_text()))
    assert got == {
        "total_chunks": 2391,
        "fs_chunks": 2391,
        "fs_chunks_down": 2263,
        "busy_bytes": int(1.9 * (1 << 20)),
        "overlimit": [],
    }
    assert [fam.human_size(s) for s in ("104b", "2.1K", "0b", "1G", "junk")] == [
        104,
        2150,
        0,
        1 << 30,
        0,
    ]


def test_v2_prometheus_counters_per_output() -> None:
    got = fam.fluent_bit_counters((FB / "metrics_dropping.prom").read_text())
    assert got == {
        fam.FB_DROPPED: {"syslog.0": 1200.0},
        fam.FB_RETRIES_FAILED: {"syslog.0": 3.0},
        fam.FB_CAPACITY: {"syslog.0": 4.0},
    }


def test_the_role_output_meets_the_contract() -> None:
    text, config = rendered_config({"fluent_bit_aggregator_name": "agg"})
    output = fam.fluent_bit_output(text)
    # The flat reading equals the YAML's first output, key by key (as strings).
    want = config["pipeline"]["outputs"][0]
    assert {k: output[k] for k in want} == {
        k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in want.items()
    }
    ship = {
        "aggregator_host": want["host"],
        "aggregator_port": want["port"],
        "aggregator_name": "agg",
        "config_path": "fluent-bit.yaml",
    }
    assert fam.fluent_bit_contract(output, ship)["problems"] == []
    broken = {**output, "tls.verify_hostname": "false", "retry_limit": "5", "tls.vhost": "x"}
    assert fam.fluent_bit_contract(broken, ship)["problems"] == [
        "tls.verify_hostname is false, not on",
        "tls.vhost is x, not agg",
        "retry_limit is 5: after that many retries a chunk is dropped",
    ]
    assert fam.fluent_bit_contract({}, ship)["problems"] == ["no output in fluent-bit.yaml"]


# ---------------------------------------------------------------- the whole engine
def test_healthy_fluent_bit_passes_every_shipper_check(
    tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (ACTIVE, None))
    serve(server)
    out = fam.verify_shipper(None, fake_host(tmp_path, server))
    assert results(out) == dict.fromkeys(fam.SHIPPER_CHECK_IDS, "pass"), out["checks"]
    assert {o["key"]: o["value"] for o in out["observations"]} == {
        "log_shipper_lag": 0,
        "log_shipper_backlog_chunks": 1,
        "log_shipper_backlog_free_ratio": 0.9999,
        "log_shipper_discarded": 0,
    }
    assert out["fluent_bit_pids"] == [4242]
    assert "127.0.0.1:26614" in out["checks"][1]["message"]


def test_an_outage_that_fills_the_backlog_fails_log04_and_log05(
    tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (ACTIVE, None))
    serve(server, "storage_backlog.json", "metrics_dropping.prom")
    ship = fake_host(tmp_path, server)
    position_db(Path(ship["db_path"]), [(ship["audit_log_path"], 1000, 1, 0)])
    conn = sqlite3.connect(ship["db_path"])
    conn.execute("UPDATE in_tail_files SET offset = 1000 WHERE name = ?", (ship["audit_log_path"],))
    conn.commit()
    conn.close()
    out = fam.verify_shipper(None, {**ship, "max_lag_bytes": 3999})
    got = results(out)
    assert (got["LOG-01"], got["LOG-03"], got["LOG-04"], got["LOG-05"]) == (
        "pass",
        "fail",
        "fail",
        "fail",
    ), out["checks"]
    msg = messages(out)
    assert "lags 4000 bytes" in msg["LOG-03"]
    assert "syslog.0 has 4 % of its storage.total_limit_size free" in msg["LOG-04"]
    assert msg["LOG-05"] == (
        "fluentbit_output_dropped_records_total = 1200; fluentbit_output_retries_failed_total = 3"
    )


def test_a_truncating_output_and_a_missing_session_fail(
    tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (ACTIVE, None))
    serve(server)
    ship = fake_host(tmp_path, server, aggregator_port=26615, max_message_size_bytes=70000)
    out = fam.verify_shipper(None, ship)
    msg = messages(out)
    assert results(out)["LOG-02"] == "fail"
    assert msg["LOG-02"].startswith("fluent-bit has no ESTABLISHED TCP session to 127.0.0.1:26615")
    assert "syslog_maxsize is 65536, below 70000" in msg["LOG-05"]


def test_fluent_bit_down_is_error_for_its_counters_not_pass(
    tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No HTTP answer (fluent-bit stopped): LOG-04/05 cannot be read (error), the unit and the
    missing process fail, the position DB is still read."""
    inactive = {**ACTIVE, "ActiveState": "inactive", "SubState": "dead"}
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (inactive, None))
    ship = fake_host(tmp_path, server)
    shutil.rmtree(Path(ship["proc_root"]) / "4242")
    server.answers = {}
    out = fam.verify_shipper(None, ship)
    assert results(out) == {
        "LOG-01": "fail",
        "LOG-02": "fail",
        "LOG-03": "pass",
        "LOG-04": "error",
        "LOG-05": "error",
    }
    assert messages(out)["LOG-02"].startswith("fluent-bit is not running")
    assert "answered 404" in messages(out)["LOG-04"]


def test_missing_position_db_is_an_error(
    tmp_path: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (ACTIVE, None))
    serve(server)
    ship = fake_host(tmp_path, server, db_path=str(tmp_path / "none.db"))
    out = fam.verify_shipper(None, ship)
    assert results(out)["LOG-03"] == "error"
    assert "none.db" in messages(out)["LOG-03"]


def test_module_runs_the_fluent_bit_engine_in_one_call(
    tmp_path: Path,
    server: _Server,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (ACTIVE, None))
    serve(server)
    rc, result = invoke(soc2_log.main, {"shipper": fake_host(tmp_path, server)}, capsys)
    assert rc == 0, result
    got = results(result)
    assert {got[c] for c in fam.SHIPPER_CHECK_IDS} == {"pass"}
    assert {got[c] for c in fam.AGGREGATOR_CHECK_IDS} == {"not_applicable"}
    assert result["shipper"]["engine"] == "fluent_bit"
    rc, result = invoke(
        soc2_log.main,
        {"shipper": {**fake_host(tmp_path / "x", server), "min_free_capacity_percent": 101}},
        capsys,
    )
    assert rc != 0 and "min_free_capacity_percent" in result["msg"]
