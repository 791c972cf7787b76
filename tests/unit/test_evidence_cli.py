# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``soc2audit evidence``: keygen, digest, rotate-key, anchor and verify from the command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from soc2audit import cli
from soc2audit.chain_verify import KINDS
from soc2audit.evidence import append_evidence
from soc2audit.exitcodes import (
    EVIDENCE_MEANINGS,
    EXIT_EVIDENCE_ALTERED,
    EXIT_EVIDENCE_ANCHOR,
    EXIT_EVIDENCE_NO_CHAIN,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dirs(tmp_path: Path) -> dict[str, Path]:
    return {"evidence": tmp_path / "evidence", "key": tmp_path / "secret" / "k.pem"}


def run(dirs: dict[str, Path], *argv: str) -> int:
    command, rest = argv[0], list(argv[1:])
    base = ["evidence", command, "--evidence-dir", str(dirs["evidence"])]
    if command in ("keygen", "digest", "rotate-key"):
        base += ["--key", str(dirs["key"])]
    return cli.main([*base, *rest])


def test_keygen_digest_rotate_anchor_verify(
    dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(dirs, "digest", "--now", "2026-11-02T01:05:00Z") == EXIT_EVIDENCE_NO_CHAIN
    assert run(dirs, "verify") == EXIT_EVIDENCE_NO_CHAIN
    assert run(dirs, "keygen") == EXIT_OK
    append_evidence(dirs["evidence"], [{"check_id": "PKI-01", "result": "pass"}], "2026-11-02")
    assert run(dirs, "digest", "--now", "2026-11-02T01:05:00Z") == EXIT_OK
    assert run(dirs, "rotate-key", "--now", "2026-11-02T01:30:00Z") == EXIT_OK
    assert run(dirs, "digest", "--now", "2026-11-02T03:05:00Z") == EXIT_OK
    capsys.readouterr()
    anchor = tmp_path / "anchor.json"
    assert run(dirs, "anchor", "--out", str(anchor)) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["sequence"] == 3
    metrics = tmp_path / "m" / "evidence.prom"
    code = run(
        dirs,
        "verify",
        "--now",
        "2026-11-02T03:10:00Z",
        "--anchor",
        str(anchor),
        "--json",
        "--metrics",
        str(metrics),
    )
    out = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK and out["ok"] and out["digests"] == 4 and out["findings"] == []
    assert "soc2audit_evidence_verify_ok 1\n" in metrics.read_text()
    # Truncation: exit 11, the finding on stdout with file and line.
    day = dirs["evidence"] / "results-2026-11-02.jsonl"
    day.write_bytes(b"")
    assert run(dirs, "verify", "--now", "2026-11-02T03:10:00Z") == EXIT_EVIDENCE_ALTERED
    assert "truncated_file: results-2026-11-02.jsonl:1:" in capsys.readouterr().out


def test_the_lowest_status_wins_and_anchor_has_its_own(
    dirs: dict[str, Path], tmp_path: Path
) -> None:
    assert run(dirs, "keygen") == EXIT_OK
    for hour in range(1, 4):
        assert run(dirs, "digest", "--now", f"2026-11-02T0{hour}:05:00Z") == EXIT_OK
    anchor = tmp_path / "anchor.json"
    assert run(dirs, "anchor", "--out", str(anchor)) == EXIT_OK
    head = sorted((dirs["evidence"] / "digests").rglob("*.json"))[-1]
    head.unlink()
    assert (
        run(dirs, "verify", "--now", "2026-11-02T03:10:00Z", "--anchor", str(anchor))
        == EXIT_EVIDENCE_ANCHOR
    )


def test_digest_refuses_to_sign_over_changed_evidence(
    dirs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(dirs, "keygen") == EXIT_OK
    append_evidence(dirs["evidence"], [{"check_id": "PKI-01", "result": "pass"}], "2026-11-02")
    assert run(dirs, "digest", "--now", "2026-11-02T01:05:00Z") == EXIT_OK
    day = dirs["evidence"] / "results-2026-11-02.jsonl"
    day.write_bytes(day.read_bytes().replace(b"pass", b"fail"))
    append_evidence(dirs["evidence"], [{"check_id": "PKI-02", "result": "pass"}], "2026-11-02")
    capsys.readouterr()
    assert run(dirs, "digest", "--now", "2026-11-02T02:05:00Z") == EXIT_RUN_FAILED
    assert "no longer match the chain" in capsys.readouterr().err
    assert len(list((dirs["evidence"] / "digests").rglob("*.json"))) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["evidence"],
        ["evidence", "verify", "--from", "yesterday"],
        ["evidence", "verify", "--from", "2026-11-03", "--to", "2026-11-01"],
        ["evidence", "digest", "--interval", "0"],
        ["evidence", "anchor"],
    ],
)
def test_usage_errors(argv: list[str], tmp_path: Path) -> None:
    assert cli.main([*argv, "--evidence-dir", str(tmp_path)] if len(argv) > 1 else argv) == (
        EXIT_USAGE
    )


def test_the_key_must_live_outside_the_evidence(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    argv = ["evidence", "keygen", "--evidence-dir", str(evidence)]
    assert cli.main([*argv, "--key", str(evidence / "k.pem")]) == EXIT_USAGE
    assert not (evidence / "k.pem").exists()


def test_verify_help_lists_every_status_and_kind() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "soc2audit", "evidence", "verify", "--help"],
        text=True,
        capture_output=True,
        check=True,
    )
    for code in EVIDENCE_MEANINGS:
        assert f"\n  {code:<3} " in proc.stdout
    for kind in KINDS:
        assert kind in proc.stdout


def test_docs_name_every_kind_and_status() -> None:
    text = (REPO / "docs" / "evidence.md").read_text(encoding="utf-8")
    for kind in KINDS:
        assert f"`{kind}`" in text, kind
    for code in EVIDENCE_MEANINGS:
        assert f"| {code} |" in text, code


def promtool() -> str | None:
    found = shutil.which("promtool")
    local = REPO / ".venv" / "bin" / "promtool"
    return found or (str(local) if local.exists() else None)


@pytest.mark.skipif(promtool() is None, reason="promtool not on PATH nor in .venv/bin")
def test_promtool_accepts_the_metrics_file(dirs: dict[str, Path], tmp_path: Path) -> None:
    assert run(dirs, "keygen") == EXIT_OK
    assert run(dirs, "digest", "--now", "2026-11-02T01:05:00Z") == EXIT_OK
    metrics = tmp_path / "evidence.prom"
    run(dirs, "verify", "--now", "2026-11-02T01:10:00Z", "-q", "--metrics", str(metrics))
    proc = subprocess.run(
        [str(promtool()), "check", "metrics"],
        input=metrics.read_text(),
        text=True,
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_end_of_make_lab_verifies_and_prints_the_export_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m soc2audit.lab_evidence``: a fresh chain with lines appended after its head
    (what the drift runs of `make lab` leave) verifies; the report command names the days."""
    import datetime as dt

    from soc2audit import lab_evidence
    from soc2audit.chain import Settings, keygen, write_due_digests

    evidence, key = tmp_path / "evidence", tmp_path / "k" / "k.pem"
    now = dt.datetime.now(dt.UTC)
    yesterday = now - dt.timedelta(days=1)
    keygen(key, evidence)
    append_evidence(evidence, [{"check_id": "PKI-01", "result": "pass"}], yesterday)
    write_due_digests(evidence, key, Settings(policy_sha256="ab" * 32), now)
    append_evidence(evidence, [{"check_id": "PKI-01", "result": "pass"}], now)
    argv = ["--project-dir", str(tmp_path), "--evidence-dir", str(evidence)]
    assert lab_evidence.main(argv) == EXIT_OK
    out = capsys.readouterr().out
    assert "evidence chain verified: 1 digest(s)" in out and "waiting for the next digest" in out
    assert f"soc2audit report --from {yesterday.date()} --to {now.date()}\n" in out
    (evidence / f"results-{yesterday.date()}.jsonl").write_bytes(b"")
    assert lab_evidence.main(argv) == EXIT_EVIDENCE_ALTERED
    assert "truncated_file" in capsys.readouterr().out
