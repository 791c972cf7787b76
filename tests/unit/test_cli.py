# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit CLI: documented options, usage errors before anything runs, outcome handling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from soc2audit import cli
from soc2audit.exitcodes import EXIT_RUN_FAILED


def test_help_documents_every_option_and_exit_status() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "soc2audit", "drift", "--help"],
        text=True,
        capture_output=True,
        check=True,
    )
    text = proc.stdout
    drift = next(
        a for a in cli.build_parser()._actions if a.__class__.__name__ == "_SubParsersAction"
    ).choices["drift"]
    for action in drift._actions:
        for flag in action.option_strings:
            assert flag in text, flag
        if action.help:
            assert action.help.split("(")[0].split()[0] in text
    for code in ("0 ", "1 ", "2 ", "3 ", "64"):
        assert f"\n  {code}" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["drift", "--grace", "-5"],
        ["drift", "--grace", "soon"],
        ["drift", "--bogus"],
        ["nothing"],
        [],
    ],
)
def test_usage_errors_exit_64_without_running(argv: list[str], monkeypatch: Any) -> None:
    import ansible_runner

    def refuse(**_: Any) -> None:
        raise AssertionError("ansible-runner must not be called on a usage error")

    monkeypatch.setattr(ansible_runner, "run", refuse)
    assert cli.main(argv) == cli.EXIT_USAGE


def test_missing_project_is_a_usage_error(tmp_path: Path) -> None:
    assert cli.main(["drift", "--project-dir", str(tmp_path)]) == cli.EXIT_USAGE


class FakeRunner:
    status = "failed"
    rc = 2


def _events(handler: cli.Progress, *events: dict[str, Any]) -> None:
    for event in events:
        handler(event)


def test_progress_takes_the_merge_outcome_and_late_failures() -> None:
    progress = cli.Progress(sys.stderr, quiet=True)
    _events(
        progress,
        {"event": "playbook_on_play_start", "event_data": {"play": "Verify"}},
        {
            "event": "runner_on_failed",
            "event_data": {"host": "edge1", "task": "params", "res": {"msg": "early"}},
        },
        {
            "event": "runner_on_ok",
            "event_data": {
                "task_action": "soc2audit_results",
                "res": {"run_id": "r1", "exit_code": 0},
            },
        },
        {
            "event": "runner_on_failed",
            "event_data": {"host": "edge2", "task": "Write", "res": {"msg": "read-only fs"}},
        },
    )
    assert progress.outcome == {"run_id": "r1", "exit_code": 0}
    assert len(progress.failures) == 2
    assert progress.late == ["edge2: FAILED Write: read-only fs"]


def test_run_without_merge_is_incomplete(
    monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import ansible_runner

    seen: dict[str, Any] = {}

    def fake_run(**kwargs: Any) -> FakeRunner:
        seen.update(kwargs)
        return FakeRunner()

    monkeypatch.setattr(ansible_runner, "run", fake_run)
    code = cli.main(["drift", "-l", "edge", "--grace", "60", "--check", "--no-testinfra"])
    assert code == EXIT_RUN_FAILED == 3
    assert "did not complete" in capsys.readouterr().err
    assert seen["limit"] == "edge"
    assert seen["cmdline"] == "--check"
    assert seen["extravars"]["soc2audit_grace_seconds"] == 60
    assert seen["extravars"]["soc2audit_testinfra"] is False
    assert seen["envvars"]["ANSIBLE_CALLBACK_PLUGINS"].endswith("plugins/callback")
    assert seen["playbook"].endswith("playbooks/drift_check.yml")
