# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The uploader's decisions that need no S3 server (roles/log_aggregator/files/log-upload): which
files count as sealed, the object key, the seal's hash, the state file and a run in --dry-run.
Uploads, the lock and the server's checksum are tested against a real versitygw in
tests/integration/test_85_object_lock.py."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest
from plugin_loader import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "roles/log_aggregator/files/log-upload"


up = load_script(SCRIPT, "log_upload")


def _sealed(root: Path, rel: str, body: str = '{"n": 1}\n') -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    digest = hashlib.sha256(body.encode()).hexdigest()
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    return path


def test_only_sealed_day_files_of_host_directories(tmp_path: Path) -> None:
    _sealed(tmp_path, "edge1/2026-12-01.jsonl")
    _sealed(tmp_path, "edge1/2026-12-01.1.jsonl")
    (tmp_path / "edge1" / "2026-12-02.jsonl").write_text("open\n")  # no seal yet
    _sealed(tmp_path, "_quarantine/2026-12-01.jsonl")
    _sealed(tmp_path, "edge2/notes.txt")
    found = [p.relative_to(tmp_path).as_posix() for p in up.sealed_files(tmp_path)]
    assert found == ["edge1/2026-12-01.1.jsonl", "edge1/2026-12-01.jsonl"]
    assert up.sealed_files(tmp_path / "missing") == []


def test_object_key_is_prefix_host_year_month_file(tmp_path: Path) -> None:
    path = tmp_path / "edge1" / "2026-12-01.2.jsonl"
    assert up.object_key("prod/", tmp_path, path) == "prod/edge1/2026/12/2026-12-01.2.jsonl"
    assert up.object_key("", tmp_path, path) == "edge1/2026/12/2026-12-01.2.jsonl"


def test_sealed_hash_reads_sha256sum_format_only(tmp_path: Path) -> None:
    side = tmp_path / "f.sha256"
    side.write_text(f"{'a' * 64}  f\n")
    assert up.sealed_hash(side) == "a" * 64
    side.write_text(f"{'a' * 64} *f\n")  # binary-mode marker
    assert up.sealed_hash(side) == "a" * 64
    side.write_text("not a digest  f\n")
    assert up.sealed_hash(side) is None
    assert up.sealed_hash(tmp_path / "absent.sha256") is None


def test_state_of_another_program_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(SystemExit, match=r"is not a soc2audit\.log-upload/1 state file"):
        up.load_state(state)
    assert up.load_state(tmp_path / "new.json")["objects"] == {}


def _args(root: Path, state: Path, **extra: object) -> argparse.Namespace:
    argv = ["--root", str(root), "--state", str(state), "--bucket", "b", "--retention-days", "7"]
    args = up.parser().parse_args(argv)
    for k, v in extra.items():
        setattr(args, k, v)
    return args


class NoClient:
    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"no S3 call expected, got {name}")


def test_dry_run_lists_and_writes_nothing(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state.json"
    _sealed(root, "edge1/2026-12-01.jsonl")
    code, summary = up.run(_args(root, state, dry_run=True), client=NoClient())
    assert code == 0 and summary["would_upload"] == ["edge1/2026-12-01.jsonl"]
    assert not state.exists()


def test_mismatch_and_change_after_upload_fail_without_calling_s3(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state.json"
    tampered = _sealed(root, "edge1/2026-12-01.jsonl")
    tampered.write_text('{"n": 2}\n')
    changed = _sealed(root, "edge2/2026-12-01.jsonl", '{"n": "new"}\n')
    state.write_text(
        json.dumps(
            {
                "schema": up.STATE_SCHEMA,
                "objects": {"edge2/2026-12-01.jsonl": {"sha256": "0" * 64, "key": "k"}},
            }
        )
    )
    code, summary = up.run(_args(root, state), client=NoClient())
    assert code == 1
    assert summary["mismatched"] == ["edge1/2026-12-01.jsonl"]
    assert summary["changed_after_upload"] == ["edge2/2026-12-01.jsonl"]
    written = json.loads(state.read_text())
    assert "last_success" not in written and written["last_result"]["mismatched"] == 1
    assert changed.exists()


def test_retention_below_one_day_is_a_usage_error(tmp_path: Path) -> None:
    argv = ["--root", str(tmp_path), "--state", str(tmp_path / "s"), "--bucket", "b"]
    assert up.main([*argv, "--retention-days", "0"]) == 2
