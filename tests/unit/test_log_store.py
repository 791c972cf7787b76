# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The log aggregator's store writer and sealer (roles/log_aggregator/files/log-store).

Records are checked against docs/log-record.schema.json, both those the writer builds here and
those it stored from real rsyslog 8.2302 traffic (tests/unit/fixtures/log/). chattr flags are
never set here (``attrs=False``): an immutable file in tmp_path could not be cleaned up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from plugin_loader import load_script

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles" / "log_aggregator" / "files" / "log-store"
SCHEMA = json.loads((REPO / "docs" / "log-record.schema.json").read_text())
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "log"
UTC = dt.UTC


ls = load_script(SCRIPT, "soc2audit_test_log_store")
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

SYSCALL = (
    "type=SYSCALL msg=audit(1765031401.123:4567): arch=c000003e syscall=257 success=yes exit=3 "
    'a0=ffffff9c ppid=1 pid=2 auid=1000 uid=0 gid=0 euid=0 tty=pts0 ses=3 comm="cat" '
    'exe="/usr/bin/cat" subj=unconfined key="soc2-identity"'
)
ENRICHED = (
    "type=USER_LOGIN msg=audit(1765031402.500:4570): pid=812 uid=0 auid=4294967295 ses=4294967295"
    ' msg=\'op=login acct="root" exe="/usr/sbin/sshd" hostname=? addr=10.0.0.9 terminal=ssh'
    ' res=failed\'\x1dUID="root" AUID="unset" key=enriched-not-a-key'
)


def wire(**over: Any) -> str:
    """One line as the role's soc2_wire template writes it."""
    base = {
        "input": "peer:edge1",
        "received": "2026-12-06T14:14:25.713078+00:00",
        "source_address": "10.89.1.5",
        "timereported": "2026-12-06T14:30:00.123456Z",
        "hostname": "edge1",
        "app_name": "myapp",
        "procid": "42",
        "msgid": "ID1",
        "pri": "134",
        "structured_data": '[soc2@32473 host="edge1"]',
        "msg": "hello from edge1",
    }
    base.update(over)
    return json.dumps(base)


def valid(record: dict[str, Any]) -> None:
    errors = sorted(VALIDATOR.iter_errors(record), key=str)
    assert not errors, [e.message for e in errors]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = ls.Store(tmp_path / "root", tmp_path / "state", attrs=False)
    yield s
    s.close()


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------- parsing
def test_audit_syscall_record_is_parsed() -> None:
    audit = ls.parse_audit(SYSCALL)
    assert audit == {
        "type": "SYSCALL",
        "epoch": 1765031401.123,
        "epoch_text": "1765031401.123",
        "serial": 4567,
        "auid": 1000,
        "uid": 0,
        "key": "soc2-identity",
    }


def test_audit_enriched_record_is_cut_at_the_group_separator() -> None:
    audit = ls.parse_audit("node=edge1 " + ENRICHED)
    assert audit is not None
    assert (audit["type"], audit["serial"], audit["auid"], audit["uid"]) == (
        "USER_LOGIN",
        4570,
        4294967295,
        0,
    )
    assert audit["key"] is None  # the key= after 0x1D is interpreted text, not the rule key


def test_audit_null_key_and_non_audit_text() -> None:
    audit = ls.parse_audit(SYSCALL.replace('key="soc2-identity"', "key=(null)"))
    assert audit is not None and audit["key"] is None
    assert ls.parse_audit("hello type=x msg=not audit") is None


def test_structured_data_escapes() -> None:
    sd = ls.parse_sd(r'[soc2@32473 host="e1" stream="/var/log/a\"b\]c\\d" off="7"][x@1 a="b"]')
    assert sd == {
        "soc2@32473": {"host": "e1", "stream": '/var/log/a"b]c\\d', "off": "7"},
        "x@1": {"a": "b"},
    }
    assert ls.parse_sd("-") == {}


def test_record_from_a_certificate_input() -> None:
    now = dt.datetime(2026, 12, 6, 14, 14, 26, tzinfo=UTC)
    record = ls.build_record(json.loads(wire()), now, "soc2@32473")
    valid(record)
    assert record["host"] == "edge1" and record["identity"] == "x509"
    assert record["host_claimed"] == "edge1" and record["host_matches"]
    assert record["received"] == "2026-12-06T14:14:25.713078Z"
    assert record["stored"] == "2026-12-06T14:14:26.000000Z"
    assert record["event_time"] == "2026-12-06T14:30:00.123456Z"
    assert (record["facility"], record["severity"]) == (16, 6)
    assert record["audit"] is None and record["stream"] is None


def test_audit_record_takes_its_event_time_and_offset() -> None:
    line = wire(
        app_name="auditd",
        procid="-",
        msgid="-",
        structured_data='[soc2@32473 host="edge1" stream="/var/log/audit/audit.log" off="1234"]',
        msg=SYSCALL,
    )
    record = ls.build_record(json.loads(line), dt.datetime.now(UTC), "soc2@32473")
    valid(record)
    assert record["event_time"] == "2025-12-06T14:30:01.123000Z"
    assert record["audit"]["serial"] == 4567 and "epoch_text" not in record["audit"]
    assert (record["stream"], record["offset"]) == ("/var/log/audit/audit.log", 1234)
    assert record["procid"] is None and record["msgid"] is None


def test_claimed_host_mismatch_is_kept_and_flagged() -> None:
    record = ls.build_record(
        json.loads(wire(structured_data='[soc2@32473 host="edge2"]')),
        dt.datetime.now(UTC),
        "soc2@32473",
    )
    assert (record["host"], record["host_claimed"], record["host_matches"]) == (
        "edge1",
        "edge2",
        False,
    )
    short = ls.build_record(
        json.loads(wire(structured_data="-", hostname="EDGE1.example.net")),
        dt.datetime.now(UTC),
        "soc2@32473",
    )
    assert short["host_matches"]


def test_plain_input_has_no_identity() -> None:
    record = ls.build_record(
        json.loads(wire(input="plain:127.0.0.1", structured_data="-", hostname="claimed")),
        dt.datetime.now(UTC),
        "soc2@32473",
    )
    valid(record)
    assert (record["host"], record["identity"], record["host_claimed"]) == (None, "none", "claimed")


def test_dedup_key_file_records_depend_on_offset_and_content() -> None:
    a = ls.dedup_key("edge1", "/a", "0", None, None, None, "x")
    assert a == ls.dedup_key("edge1", "/a", "0", "other time", "app", "1", "x")
    assert a != ls.dedup_key("edge1", "/a", "0", None, None, None, "y")  # rotated file, offset 0
    assert a != ls.dedup_key("edge1", "/a", "1", None, None, None, "x")
    assert a != ls.dedup_key("edge2", "/a", "0", None, None, None, "x")
    m = ls.dedup_key("edge1", None, None, "t1", "app", "1", "x")
    assert m != ls.dedup_key("edge1", None, None, "t2", "app", "1", "x")


# ---------------------------------------------------------------- storing
def test_a_frame_sent_twice_is_stored_once(store: Any, tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert store.store(wire(), "soc2@32473", now) == "stored"
    assert store.store(wire(received="2026-12-06T14:15:00+00:00"), "soc2@32473", now) == "duplicate"
    path = tmp_path / "root" / "edge1" / "2026-12-06.jsonl"
    stored = records(path)
    assert len(stored) == 1
    valid(stored[0])
    store.flush_stats(force=True)
    stats = json.loads((tmp_path / "state" / "stats.json").read_text())
    assert stats["days"]["2026-12-06"] == {"stored": 1, "duplicates": 1}
    assert stats["hosts"]["edge1"]["last_received"] == "2026-12-06T14:14:25.713078Z"


def test_a_16_kib_message_is_stored_whole(store: Any, tmp_path: Path) -> None:
    big = "x" * 16384
    store.store(wire(msg=big), "soc2@32473", dt.datetime(2026, 12, 6, tzinfo=UTC))
    (record,) = records(tmp_path / "root" / "edge1" / "2026-12-06.jsonl")
    assert record["raw"] == big


def test_day_files_follow_the_store_clock_in_utc(store: Any, tmp_path: Path) -> None:
    before = dt.datetime(2026, 12, 6, 23, 59, 59, 999999, tzinfo=UTC)
    after = dt.datetime(2026, 12, 7, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 23:00Z
    later = dt.datetime(2026, 12, 7, 0, 0, 1, tzinfo=UTC)
    store.store(wire(msg="one"), "soc2@32473", before)
    store.store(wire(msg="two"), "soc2@32473", after)
    store.store(wire(msg="three"), "soc2@32473", later)
    host = tmp_path / "root" / "edge1"
    assert [r["raw"] for r in records(host / "2026-12-06.jsonl")] == ["one", "two"]
    assert [r["raw"] for r in records(host / "2026-12-07.jsonl")] == ["three"]


def test_a_sealed_day_continues_in_the_next_segment(store: Any, tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 6, 12, tzinfo=UTC)
    store.store(wire(msg="one"), "soc2@32473", now)
    host = tmp_path / "root" / "edge1"
    assert ls.seal(host / "2026-12-06.jsonl", attrs=False) == "sealed"
    store.store(wire(msg="two"), "soc2@32473", now)
    assert [r["raw"] for r in records(host / "2026-12-06.1.jsonl")] == ["two"]
    assert [r["raw"] for r in records(host / "2026-12-06.jsonl")] == ["one"]


def test_unreadable_lines_are_quarantined_not_lost(store: Any, tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 6, tzinfo=UTC)
    assert store.store("{not json", "soc2@32473", now) == "quarantined"
    assert store.store(wire(input="peer:../../etc"), "soc2@32473", now) == "quarantined"
    (first, second) = records(tmp_path / "root" / "_quarantine" / "2026-12-06.jsonl")
    assert first["line"] == "{not json"
    assert "directory name" in second["why"]
    store.flush_stats(force=True)
    assert json.loads((tmp_path / "state" / "stats.json").read_text())["days"]["2026-12-06"] == {
        "quarantined": 2
    }


def test_recovery_indexes_a_write_that_was_never_committed(tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 6, tzinfo=UTC)
    first = ls.Store(tmp_path / "root", tmp_path / "state", attrs=False)
    first.store(wire(msg="committed"), "soc2@32473", now)
    first.close()
    # A crash after the write, before the commit: the record is in the file, not in the index,
    # and a torn half line follows it.
    orphan = ls.build_record(json.loads(wire(msg="written")), now, "soc2@32473")
    path = tmp_path / "root" / "edge1" / "2026-12-06.jsonl"
    with path.open("a") as fh:
        fh.write(json.dumps(orphan) + "\n" + '{"torn": ')
    quarantined = tmp_path / "root" / "_quarantine" / "2026-12-06.jsonl"
    quarantined.parent.mkdir()
    quarantined.write_text('{"why": "x", "line": "y"}\n')
    (tmp_path / "root" / "_plain").mkdir()
    (tmp_path / "root" / "_plain" / "2026-12-06.jsonl").write_text('{"no": "key"}\n')
    second = ls.Store(tmp_path / "root", tmp_path / "state", attrs=False)
    assert second.recover() == 1
    assert second.store(wire(msg="written"), "soc2@32473", now) == "duplicate"
    assert second.store(wire(msg="new"), "soc2@32473", now) == "stored"
    second.close()
    lines = path.read_text().splitlines()
    assert lines[2] == '{"torn": ' and json.loads(lines[3])["raw"] == "new"


def test_recorded_store_files_validate_against_the_schema() -> None:
    """Records the writer stored from real rsyslog 8.2302 traffic (see fixtures/log/README.md)."""
    stored = records(FIXTURES / "store_edge1_day.jsonl") + records(
        FIXTURES / "store_plain_day.jsonl"
    )
    for record in stored:
        valid(record)
    assert [len(r["raw"]) for r in stored] == [16, 208, 16384, 11]
    assert {r["host"] for r in stored} == {"edge1", None}
    assert len({r["dedup_key"] for r in stored}) == len(stored)


def test_records_stored_in_molecule_validate_against_the_schema() -> None:
    """log_aggregator_default's store after verify: a hello (sent twice), an audit record and
    a 16 KiB message, from the client's certificate (fixtures/log/molecule/)."""
    stored = records(FIXTURES / "molecule" / "store_day.jsonl")
    for record in stored:
        valid(record)
    assert sorted(len(r["raw"]) for r in stored)[-1] == 16384
    assert [r["audit"]["serial"] for r in stored if r["audit"]] == [98765]


def test_the_writer_speaks_omprogs_confirmation_protocol(tmp_path: Path) -> None:
    """OK at start, then one OK per message, exactly as omprog's confirmMessages expects."""
    feed = "\n".join([wire(msg="a"), wire(msg="a"), wire(msg="b"), "garbage"]) + "\n"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "write",
            "--root",
            str(tmp_path / "root"),
            "--state-dir",
            str(tmp_path / "state"),
            "--no-attrs",
        ],
        input=feed,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout.splitlines() == ["OK"] * 5
    (day,) = (tmp_path / "root" / "edge1").iterdir()
    assert [r["raw"] for r in records(day)] == ["a", "b"]


def test_relative_roots_are_refused(tmp_path: Path) -> None:
    assert ls.main(["write", "--root", "relative", "--state-dir", str(tmp_path)]) == 2
    assert ls.main(["seal", "--root", "relative"]) == 2


# ---------------------------------------------------------------- sealing
def test_seal_writes_sha256sum_lines_for_idle_past_days_only(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "edge1").mkdir(parents=True)
    past = root / "edge1" / "2026-12-05.jsonl"
    today = root / "edge1" / "2026-12-06.jsonl"
    past.write_text('{"a": 1}\n')
    today.write_text('{"b": 2}\n')
    now = dt.datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    done = ls.seal_all(root, now, idle_seconds=0, retention_days=365, attrs=False)
    assert done == {"sealed": [str(past)], "pruned": [], "failed": []}
    digest = hashlib.sha256(past.read_bytes()).hexdigest()
    assert Path(f"{past}.sha256").read_text() == f"{digest}  2026-12-05.jsonl\n"
    assert not Path(f"{today}.sha256").exists()
    # Sealing again never rewrites the .sha256 (it would hide a change made since).
    past.chmod(0o644)
    Path(f"{past}.sha256").write_text("0" * 64 + "  2026-12-05.jsonl\n")
    assert ls.seal_all(root, now, 0, 365, attrs=False)["sealed"] == []
    assert Path(f"{past}.sha256").read_text().startswith("0" * 64)


def test_a_recently_written_past_day_waits_for_idle(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "edge1").mkdir(parents=True)
    (root / "edge1" / "2026-12-05.jsonl").write_text("{}\n")  # written just now
    now = dt.datetime(2026, 12, 7, tzinfo=UTC)
    assert (
        ls.seal_all(root, now, idle_seconds=3600, retention_days=365, attrs=False)["sealed"] == []
    )
    assert (
        len(ls.seal_all(root, now, idle_seconds=0, retention_days=365, attrs=False)["sealed"]) == 1
    )


def test_retention_hands_files_to_cold_storage_then_prunes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "edge1").mkdir(parents=True)
    old = root / "edge1" / "2025-01-01.jsonl"
    old.write_text("{}\n")
    cold = tmp_path / "cold"
    cold.mkdir()
    now = dt.datetime(2026, 12, 6, tzinfo=UTC)
    done = ls.seal_all(root, now, 0, 365, f"cp -t {cold}", attrs=False)
    assert done["pruned"] == [str(old)] and not old.exists()
    assert sorted(p.name for p in cold.iterdir()) == ["2025-01-01.jsonl", "2025-01-01.jsonl.sha256"]
    kept = root / "edge1" / "2025-01-02.jsonl"
    kept.write_text("{}\n")
    done = ls.seal_all(root, now, 0, 365, "false", attrs=False)
    assert done["failed"] == [f"{kept}: cold storage command failed"] and kept.exists()


def test_seal_reads_its_settings_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    (root / "h").mkdir(parents=True)
    (root / "h" / "2026-01-01.jsonl").write_text("{}\n")
    config = tmp_path / "log-store.json"
    config.write_text(
        json.dumps(
            {
                "root": str(root),
                "idle_seconds": 0,
                "retention_days": 9999,
                "cold_storage_command": "",
            }
        )
    )
    assert (
        ls.main(["seal", "--config", str(config), "--no-attrs", "--now", "2026-01-02T12:00:00Z"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["sealed"] == [str(root / "h" / "2026-01-01.jsonl")]


def test_a_file_system_without_flags_still_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Evidence is never refused for a missing chattr: LOG-08 reports it instead."""

    def refuse(fd: int) -> int:
        raise OSError(95, "Operation not supported")

    monkeypatch.setattr(ls, "get_flags", refuse)
    store = ls.Store(tmp_path / "root", tmp_path / "state", attrs=True)
    now = dt.datetime(2026, 12, 6, tzinfo=UTC)
    assert store.store(wire(), "soc2@32473", now) == "stored"
    store.close()
    stats = json.loads((tmp_path / "state" / "stats.json").read_text())
    assert sum(d.get("append_flag_failures", 0) for d in stats["days"].values()) == 1
    assert "Operation not supported" in stats["last_flag_error"]


def test_pruning_a_file_drops_its_dedup_rows_and_only_those(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    s = ls.Store(root, state, attrs=False)
    old_day = dt.datetime(2025, 1, 1, 12, tzinfo=UTC)
    new_day = dt.datetime(2026, 12, 5, 12, tzinfo=UTC)
    assert s.store(wire(msg="old"), "soc2@32473", now=old_day) == "stored"
    assert s.store(wire(msg="new"), "soc2@32473", now=new_day) == "stored"
    s.close()
    done = ls.seal_all(
        root, dt.datetime(2026, 12, 6, tzinfo=UTC), 0, 365, attrs=False, state_dir=state
    )
    assert [Path(p).name for p in done["pruned"]] == ["2025-01-01.jsonl"]
    s = ls.Store(root, state, attrs=False)
    try:
        # Within the retention the index still knows the record; past it the key is free again.
        assert s.store(wire(msg="new"), "soc2@32473", now=new_day) == "duplicate"
        assert s.store(wire(msg="old"), "soc2@32473", now=new_day) == "stored"
        paths = {row[0] for row in s.db.execute("SELECT path FROM records")}
        assert all("2025-01-01" not in p for p in paths)
    finally:
        s.close()


def test_a_cleared_append_flag_is_set_again_and_kept_as_evidence_until_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone clears +a on the active file: the writer sets it again on its next open (a file
    is never left unprotected) and records that in stats.json at once; `log-store ack` writes
    the operator's acknowledgement beside it, never into the writer's stats.json."""
    flags: dict[int, int] = {}
    set_calls: list[int] = []

    def get(fd: int) -> int:
        return flags.get(os.fstat(fd).st_ino, 0)

    def ioctl(fd: int, request: int, arg: bytes) -> bytes:
        flags[os.fstat(fd).st_ino] = struct.unpack("i", arg)[0]
        set_calls.append(fd)
        return arg

    monkeypatch.setattr(ls, "get_flags", get)
    monkeypatch.setattr(ls.fcntl, "ioctl", ioctl)
    state = tmp_path / "state"
    store = ls.Store(tmp_path / "root", state, attrs=True)
    now = dt.datetime(2026, 12, 6, tzinfo=UTC)
    assert store.store(wire(msg="one"), "soc2@32473", now) == "stored"
    # A new file gets +a without a record: nothing was ever unprotected.
    assert "append_restorations" not in store.stats
    path = tmp_path / "root" / "edge1" / "2026-12-06.jsonl"
    store.close()
    flags[path.stat().st_ino] = 0  # chattr -a
    store = ls.Store(tmp_path / "root", state, attrs=True)
    assert store.store(wire(msg="two"), "soc2@32473", now) == "stored"
    assert flags[path.stat().st_ino] & ls.FS_APPEND_FL
    on_disk = json.loads((state / "stats.json").read_text())
    assert [r["path"] for r in on_disk["append_restorations"]] == [str(path)]
    store.close()
    assert ls.main(["ack", "--state-dir", str(state), "--note", "TICKET-1 test"]) == 0
    acks = json.loads((state / "acks.json").read_text())
    assert acks["append_restorations"][0]["note"] == "TICKET-1 test"
    assert acks["append_restorations"][0]["acknowledged"] >= on_disk["append_restorations"][0]["at"]
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["note"] == "TICKET-1 test"
