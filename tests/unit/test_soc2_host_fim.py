# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HOST family's file integrity part (plugins/module_utils/soc2_host_fim.py) and the role's
check script (roles/file_integrity/files/soc2-aide-check), on AIDE 0.18.3's JSON reports
recorded in a Debian 12 container of the warm image with the role's attribute set
(tests/unit/fixtures/host/aide_check_clean.json, and aide_check_changes.json after a byte was
appended to /usr/bin/tac, a file added to /usr/bin and one removed). The verifier only reads
files, so it runs for real on files in tmp_path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import soc2_host_fim as part
from plugin_loader import load_script

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "host"
NOW = 1_800_000_000.0


SCRIPT = load_script(
    REPO / "roles" / "file_integrity" / "files" / "soc2-aide-check", "soc2_aide_check"
)


def report(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def params(tmp_path: Path, **over: Any) -> dict[str, Any]:
    p = {name: spec.get("default") for name, spec in part.ARGUMENT_SPEC.items()}
    return {
        **p,
        "enabled": True,
        "database": str(tmp_path / "aide.db"),
        "summary_file": str(tmp_path / "soc2-aide-summary.json"),
        "approved_source": "/control/aide/edge1.sha256",
        **over,
    }


def host(tmp_path: Path, result: str = "clean", age: float = 3600.0, **over: Any) -> str:
    """A database and the summary the check script writes for it; returns its digest."""
    db = tmp_path / "aide.db"
    db.write_bytes(b"# aide database\n" * 100)
    sha = hashlib.sha256(db.read_bytes()).hexdigest()
    name = "aide_check_clean.json" if result == "clean" else "aide_check_changes.json"
    summary = {
        "format": 1,
        "time": NOW - age,
        "database_sha256": sha,
        **SCRIPT.summarise(report(name), 0 if result == "clean" else 7),
        **over,
    }
    (tmp_path / "soc2-aide-summary.json").write_text(json.dumps(summary))
    return sha


def results(out: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["check_id"]: (c["result"], c["message"]) for c in out["checks"]}


def test_summaries_of_the_recorded_reports() -> None:
    clean = SCRIPT.summarise(report("aide_check_clean.json"), 0)
    assert clean["result"] == "clean" and clean["entries"] == 8695
    assert (clean["added"], clean["removed"], clean["changed"]) == (0, 0, 0)
    changed = SCRIPT.summarise(report("aide_check_changes.json"), 7)
    assert changed["result"] == "changes"
    assert (changed["added"], changed["removed"], changed["changed"]) == (1, 1, 1)
    assert changed["changed_paths"] == ["/usr/bin/tac"]
    assert changed["added_paths"] == ["/usr/bin/newfile"]


def test_the_approved_database_and_a_clean_recent_check_pass(tmp_path: Path) -> None:
    sha = host(tmp_path)
    out = part.verify(None, params(tmp_path, approved_sha256=sha), now=NOW)
    assert [c["check_id"] for c in out["checks"]] == list(part.CHECK_IDS)
    assert results(out) == {
        "HOST-13": ("pass", f"{tmp_path}/aide.db is the approved database"),
        "HOST-14": (
            "pass",
            "the last AIDE check (1.0 h ago, 8695 entries) found no change",
        ),
    }
    assert out["observations"] == [
        {"key": "fim_last_check", "labels": {}, "value": NOW - 3600},
        {"key": "fim_unapproved_entries", "labels": {"kind": "added"}, "value": 0},
        {"key": "fim_unapproved_entries", "labels": {"kind": "removed"}, "value": 0},
        {"key": "fim_unapproved_entries", "labels": {"kind": "changed"}, "value": 0},
    ]


def test_a_modified_binary_fails_host14_only(tmp_path: Path) -> None:
    sha = host(tmp_path, result="changes")
    res = results(part.verify(None, params(tmp_path, approved_sha256=sha), now=NOW))
    assert res["HOST-13"][0] == "pass"
    assert res["HOST-14"] == (
        "fail",
        "unapproved changes (1 added, 1 removed, 1 changed): added /usr/bin/newfile; "
        "removed /usr/bin/yes; changed /usr/bin/tac",
    )


def test_a_replaced_database_fails_host13_and_an_old_check_host14(tmp_path: Path) -> None:
    host(tmp_path, age=2 * 86400)
    res = results(part.verify(None, params(tmp_path, approved_sha256="0" * 64), now=NOW))
    assert res["HOST-13"][0] == "fail"
    assert "not the approved 0000000000000000... (/control/aide/edge1.sha256)" in res["HOST-13"][1]
    assert res["HOST-14"][0] == "fail"
    assert res["HOST-14"][1].startswith("the last AIDE check ran 48.0 h ago, more than 26.0 h")
    assert "the last check used a database other than the approved one" in res["HOST-14"][1]


def test_no_approved_digest_no_database_no_summary(tmp_path: Path) -> None:
    res = results(part.verify(None, params(tmp_path), now=NOW))
    assert res["HOST-13"] == (
        "fail",
        f"{tmp_path}/aide.db: does not exist (the role initialises it)",
    )
    assert res["HOST-14"][0] == "fail" and "the check never ran" in res["HOST-14"][1]
    host(tmp_path)
    res = results(part.verify(None, params(tmp_path), now=NOW))
    assert (
        res["HOST-13"][0] == "fail"
        and "no approved digest on the control node" in res["HOST-13"][1]
    )


def test_the_check_script_refuses_a_database_that_is_not_approved(tmp_path: Path) -> None:
    db = tmp_path / "aide.db"
    db.write_bytes(b"tampered")
    approved = tmp_path / "approved.sha256"
    approved.write_text(f"{'1' * 64}  {db}\n")
    logs = tmp_path / "log"
    argv = ["--database", str(db), "--approved", str(approved), "--log-dir", str(logs)]
    assert SCRIPT.main(argv) == 1
    summary = json.loads((logs / "soc2-aide-summary.json").read_text())
    assert summary["result"] == "database_not_approved"
    assert summary["database_sha256"] == hashlib.sha256(b"tampered").hexdigest()
    assert (logs / "soc2-aide.log").read_text().strip() == json.dumps(summary, sort_keys=True)
    p = params(tmp_path, database=str(db), summary_file=str(logs / "soc2-aide-summary.json"))
    res = results(part.verify(None, {**p, "approved_sha256": "1" * 64}, now=summary["time"]))
    assert res["HOST-14"][0] == "fail" and "the check refused the database" in res["HOST-14"][1]


@pytest.mark.parametrize(
    ("over", "problem"),
    [
        ({"database": "aide.db"}, "database must be an absolute path"),
        ({"approved_sha256": "ABC"}, "approved_sha256 must be 64 lower-case hex digits or empty"),
        ({"max_age_seconds": 0}, "max_age_seconds must be above 0"),
    ],
)
def test_validate(tmp_path: Path, over: dict[str, Any], problem: str) -> None:
    assert part.validate(params(tmp_path, **over)) == [problem]
    assert part.validate(params(tmp_path, enabled=False, **over)) == []
