# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""library/soc2_files.py: several files, directories and removals in one module run."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import soc2_files
from module_runner import invoke

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(capsys: pytest.CaptureFixture[str], **args: Any) -> tuple[int, dict[str, Any]]:
    return invoke(soc2_files.main, args, capsys)


def mode(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def entries(base: Path, text: str = "a = 1\n") -> list[dict[str, Any]]:
    return [
        {"path": str(base / "d"), "state": "directory", "mode": "0750"},
        {"path": str(base / "d" / "one.conf"), "content": text, "mode": "0640", "owner": OWNER},
        {"path": str(base / "d" / "two.conf"), "content": "b\n", "group": GROUP, "mode": "0644"},
    ]


def test_creates_in_order_then_changes_nothing(tmp_path: Path, capsys) -> None:
    rc, out = run(capsys, entries=entries(tmp_path))
    assert rc == 0 and out["changed"], out
    assert out["changed_paths"] == [
        str(tmp_path / "d"),
        *(str(tmp_path / "d" / n) for n in ("one.conf", "two.conf")),
    ]
    assert (tmp_path / "d" / "one.conf").read_text() == "a = 1\n"
    assert mode(tmp_path / "d") == "0o750" and mode(tmp_path / "d" / "one.conf") == "0o640"
    rc, again = run(capsys, entries=entries(tmp_path))
    assert rc == 0 and not again["changed"] and again["changed_paths"] == []


def test_check_mode_reports_and_writes_nothing(tmp_path: Path, capsys) -> None:
    rc, out = run(capsys, entries=entries(tmp_path), _ansible_check_mode=True, _ansible_diff=True)
    assert rc == 0 and out["changed"] and not (tmp_path / "d").exists()
    assert any(d.get("after") == "a = 1\n" for d in out["diff"]), out["diff"]


def test_mode_drift_is_fixed_in_place_without_rewriting(tmp_path: Path, capsys) -> None:
    run(capsys, entries=entries(tmp_path))
    target = tmp_path / "d" / "one.conf"
    inode = target.stat().st_ino
    target.chmod(0o666)
    rc, out = run(capsys, entries=entries(tmp_path))
    assert rc == 0 and out["changed_paths"] == [str(target)]
    assert mode(target) == "0o640" and target.stat().st_ino == inode


def test_attributes_only_entry_needs_an_existing_file(tmp_path: Path, capsys) -> None:
    target = tmp_path / "cert.pem"
    rc, out = run(capsys, entries=[{"path": str(target), "mode": "0644"}])
    assert rc == 1 and "does not exist" in out["msg"]
    target.write_text("x")
    target.chmod(0o600)
    rc, out = run(capsys, entries=[{"path": str(target), "mode": "0644"}])
    assert rc == 0 and out["changed"] and mode(target) == "0o644" and target.read_text() == "x"


def test_validate_failure_leaves_the_old_file(tmp_path: Path, capsys) -> None:
    target = tmp_path / "f.conf"
    target.write_text("good\n")
    check = f"{sys.executable} -c \"import sys; sys.exit('bad' in open(sys.argv[1]).read())\" %s"
    rc, out = run(capsys, entries=[{"path": str(target), "content": "bad\n", "validate": check}])
    assert rc == 1 and "failed to validate" in out["msg"], out
    assert target.read_text() == "good\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.conf"]  # no temporary file left
    rc, out = run(capsys, entries=[{"path": str(target), "content": "fine\n", "validate": check}])
    assert rc == 0 and target.read_text() == "fine\n"


def test_backup_keeps_the_replaced_content(tmp_path: Path, capsys) -> None:
    target = tmp_path / "boot.conf"
    target.write_text("old\n")
    rc, out = run(capsys, entries=[{"path": str(target), "content": "new\n", "backup": True}])
    assert rc == 0 and Path(out["backups"][str(target)]).read_text() == "old\n"


def test_purge_removes_unmanaged_matching_files_only(tmp_path: Path, capsys) -> None:
    for name in ("soc2audit.sources", "foreign.sources", "notes.txt"):
        (tmp_path / name).write_text(name)
    purge = [{"path": str(tmp_path), "patterns": ["*.sources"], "excludes": ["soc2audit.sources"]}]
    rc, out = run(capsys, purge=purge, _ansible_check_mode=True)
    assert rc == 0 and out["changed_paths"] == [str(tmp_path / "foreign.sources")]
    assert (tmp_path / "foreign.sources").exists()
    rc, out = run(capsys, purge=purge)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "soc2audit.sources"]
    rc, out = run(capsys, purge=[{**purge[0], "path": str(tmp_path / "missing")}])
    assert rc == 0 and not out["changed"]


def test_absent_and_wrong_types(tmp_path: Path, capsys) -> None:
    (tmp_path / "gone").write_text("x")
    rc, out = run(capsys, entries=[{"path": str(tmp_path / "gone"), "state": "absent"}])
    assert rc == 0 and out["changed"] and not (tmp_path / "gone").exists()
    rc, out = run(capsys, entries=[{"path": str(tmp_path), "content": "x"}])
    assert rc == 1 and "is a directory" in out["msg"]
