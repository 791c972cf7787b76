# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/callback/soc2audit_drift.py: check-mode drift records from real ansible-playbook runs.

Every run uses the repository's ansible.cfg (which enables the callback) against ``localhost,``
with a tiny role in ``tmp_path``; the callback's directories, Ansible's temp and home directories
and the fact cache all point into ``tmp_path``, so nothing outside it is touched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from plugin_loader import load_plugin as load_plugin_file

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = REPO / ".venv" / "bin" / "ansible-playbook"
PLUGIN = REPO / "plugins" / "callback" / "soc2audit_drift.py"

ROLE_TASKS = """\
---
# A preview the role acts on (ssh_hardening's "would sshd_config change"): drift in a check
# run, nothing at all in a run that changes the host.
- name: Would app.conf change
  ansible.builtin.copy:
    content: "setting = 1\\n"
    dest: "{{ drifty_dir }}/app.conf"
    mode: "0644"
  check_mode: true
  tags: [drifty_configure]

- name: Render app.conf
  ansible.builtin.copy:
    content: "setting = 1\\n"
    dest: "{{ drifty_dir }}/app.conf"
    mode: "0644"
  tags: [drifty_configure]

- name: Render fragments
  ansible.builtin.copy:
    content: "fragment = {{ item }}\\n"
    dest: "{{ drifty_dir }}/{{ item }}.conf"
    mode: "0644"
  loop: [in_place, missing]

- name: Show the plan
  ansible.builtin.debug:
    msg: planning
  changed_when: true

- name: Read the current state
  ansible.builtin.command: "true"
  check_mode: false
  changed_when: false

- name: Discovery that always runs
  ansible.builtin.command: "true"
  check_mode: false

- name: Scratch directory (not configuration)
  ansible.builtin.file:
    path: "{{ drifty_dir }}/scratch"
    state: directory
    mode: "0755"
  tags: [soc2audit_no_drift]

- name: Probe that cannot evaluate
  block:
    - name: Query the daemon
      ansible.builtin.command: "false"
      check_mode: false
  rescue:
    - name: Carry on
      ansible.builtin.debug:
        msg: rescued
"""

PLAYBOOK = """\
---
- name: Drifty
  hosts: all
  gather_facts: false
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
    drifty_dir: "%s"
  roles:
    - drifty
"""


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.target = root / "target"
        self.playbook = root / "project" / "playbooks" / "site.yml"
        self.output = root / "out"
        self.evidence = root / "evidence"
        tasks = root / "project" / "roles" / "drifty" / "tasks"
        tasks.mkdir(parents=True)
        (tasks / "main.yml").write_text(ROLE_TASKS)
        self.playbook.parent.mkdir(parents=True)
        self.playbook.write_text(PLAYBOOK % self.target)
        self.target.mkdir()
        (self.target / "in_place.conf").write_text("fragment = in_place\n")
        (self.target / "in_place.conf").chmod(0o644)

    def env(self, **overrides: str | None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ANSIBLE_", "SOC2AUDIT_DRIFT_"))
        }
        env.update(
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_HOME=str(self.root / "ansible-home"),
            ANSIBLE_LOCAL_TEMP=str(self.root / "ansible-local"),
            ANSIBLE_REMOTE_TEMP=str(self.root / "ansible-remote"),
            ANSIBLE_ROLES_PATH=str(self.root / "project" / "roles"),
            ANSIBLE_CACHE_PLUGIN="memory",
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            SOC2AUDIT_DRIFT_OUTPUT_DIR=str(self.output),
            SOC2AUDIT_DRIFT_EVIDENCE_DIR=str(self.evidence),
        )
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(self, *args: str, **env: str | None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(PLAYBOOK_BIN), "-i", "localhost,", str(self.playbook), *args],
            cwd=self.root,
            env=self.env(**env),
            text=True,
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def evidence_files(self) -> list[Path]:
        return sorted(self.evidence.glob("config-drift-*.jsonl"))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def test_check_mode_records_drift_and_keeps_evidence(project: Project) -> None:
    first = project.run("--check", "--diff")
    rows = read_jsonl(project.output / "config_drift.jsonl")
    run_id = rows[0]["run_id"]
    assert {r["run_id"] for r in rows} == {run_id}
    drift = [r for r in rows if r["kind"] == "config_drift"]
    assert [(r["role"], r["task"], r["action"]) for r in drift] == [
        ("drifty", "Would app.conf change", "ansible.builtin.copy"),
        ("drifty", "Render app.conf", "ansible.builtin.copy"),
        ("drifty", "Render fragments", "ansible.builtin.copy"),
    ]
    _, single, loop = drift
    assert single["host"] == "localhost"
    assert single["playbook"] == "site.yml"
    assert single["diff_present"] is True
    assert single["changed_items"] is None
    assert loop["changed_items"] == 1  # in_place.conf already matches
    assert single["recorded_at"].endswith("+00:00")

    # The rescued failure could not evaluate; debug, check_mode: false tasks and the
    # soc2audit_no_drift tag are not drift.
    unevaluated = [r for r in rows if r["kind"] == "not_evaluated"]
    assert [(r["task"], r["status"]) for r in unevaluated] == [("Query the daemon", "failed")]

    summaries = [r for r in rows if r["kind"] == "host_summary"]
    assert summaries == [
        {
            "run_id": run_id,
            "recorded_at": summaries[0]["recorded_at"],
            "host": "localhost",
            "role": None,
            "task": None,
            "action": None,
            "kind": "host_summary",
            "playbook": "site.yml",
            "diff_present": True,
            "changed_tasks": 3,
            "not_evaluated_tasks": 1,
        }
    ]
    assert "soc2audit_drift: localhost: 3 task(s) drifted, 1 not evaluated" in first.stdout
    assert not (project.target / "app.conf").exists()

    (evidence,) = project.evidence_files()
    assert evidence.read_text() == (project.output / "config_drift.jsonl").read_text()
    assert stat.S_IMODE(evidence.stat().st_mode) == 0o640
    assert stat.S_IMODE(project.evidence.stat().st_mode) == 0o750

    # A second run replaces the output and appends to the same day's evidence file.
    again = project.run("--check", "--tags", "drifty_configure")
    assert "WARNING]: soc2audit_drift" not in first.stderr + again.stderr + first.stdout
    second = read_jsonl(project.output / "config_drift.jsonl")
    assert {r["run_id"] for r in second} not in ({run_id}, set())
    assert len({r["run_id"] for r in second}) == 1
    assert not any(r["diff_present"] for r in second)  # no --diff this time
    files = project.evidence_files()
    assert files == [evidence] or len(files) == 2  # the UTC day may roll over between runs
    kept = [row for path in files for row in read_jsonl(path)]
    assert [r["run_id"] for r in kept] == [r["run_id"] for r in rows + second]


def test_nothing_recorded_without_check(project: Project) -> None:
    """Not even the preview task forced into check mode: a converge is no check run."""
    proc = project.run("--tags", "drifty_configure")
    assert "changed=2" in proc.stdout
    assert (project.target / "app.conf").exists()
    assert not project.output.exists()
    assert not project.evidence.exists()
    assert "soc2audit_drift" not in proc.stdout + proc.stderr


def test_broken_evidence_dir_warns_and_defaults_apply(project: Project) -> None:
    blocker = project.root / "not-a-dir"
    blocker.write_text("")
    proc = project.run(
        "--check",
        "--tags",
        "drifty_configure",
        SOC2AUDIT_DRIFT_OUTPUT_DIR=None,
        SOC2AUDIT_DRIFT_EVIDENCE_DIR=str(blocker),
    )
    assert "could not append the drift evidence" in proc.stdout + proc.stderr
    # Default output dir: <playbook dir>/../.cache/drift
    rows = read_jsonl(project.root / "project" / ".cache" / "drift" / "config_drift.jsonl")
    assert [(r["kind"], r["task"]) for r in rows] == [
        ("config_drift", "Would app.conf change"),
        ("config_drift", "Render app.conf"),
        ("host_summary", None),
    ]
    assert rows[-1]["changed_tasks"] == 2
    assert rows[-1]["not_evaluated_tasks"] == 0


# -- the callback object directly (no playbook run) -------------------------------------------


def load_plugin() -> Any:
    """The plugin module imported from its file.

    Not through Ansible's plugin loader, which would create a local temp dir in ~/.ansible.
    """
    return load_plugin_file(PLUGIN, "soc2audit_drift_under_test")


def load_callback(display: Any, **options: Any) -> Any:
    """A callback object with its options set as Ansible would have resolved them."""
    callback = load_plugin().CallbackModule(display=display)
    callback._plugin_options = {"skip_actions": [], **options}
    return callback


@pytest.fixture
def local_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing ansible.constants makes a local temp dir: keep it in tmp_path (when this is
    the first import in the process)."""
    monkeypatch.setenv("ANSIBLE_LOCAL_TEMP", str(tmp_path / "ansible-local"))


class FakeDisplay:
    verbosity = 0

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.lines: list[str] = []

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.warnings.append(msg)

    def display(self, msg: str, *args: Any, **kwargs: Any) -> None:
        self.lines.append(msg)

    def v(self, msg: str, *args: Any, **kwargs: Any) -> None:
        pass

    vv = v


def fake_result(name: str, **result: Any) -> Any:
    task = SimpleNamespace(
        _role=None, _resolved_action="ansible.builtin.copy", action="copy", tags=[], name=name
    )
    return SimpleNamespace(
        task=task,
        task_fields={"name": name, "check_mode": True, "diff": False},
        result=result,
        host=SimpleNamespace(get_name=lambda: "edge1"),
        is_changed=lambda: bool(result.get("changed")),
    )


@pytest.mark.usefixtures("local_temp")
def test_unreachable_counts_and_errors_only_warn(tmp_path: Path) -> None:
    display = FakeDisplay()
    callback = load_callback(
        display, output_dir=str(tmp_path / "out"), evidence_dir=str(tmp_path / "ev")
    )
    callback.play_check = True
    callback.v2_runner_on_unreachable(fake_result("Render", unreachable=True, msg="ssh"))
    callback.v2_runner_on_ok(object())  # broken input: a warning, never an exception
    assert display.warnings and "v2_runner_on_ok failed" in display.warnings[0]
    callback.v2_playbook_on_stats(SimpleNamespace(processed={"edge1": 1, "edge2": 1}))
    rows = read_jsonl(tmp_path / "out" / "config_drift.jsonl")
    assert [(r["host"], r["kind"], r.get("status")) for r in rows] == [
        ("edge1", "not_evaluated", "unreachable"),
        ("edge1", "host_summary", None),
        ("edge2", "host_summary", None),
    ]
    assert rows[2]["changed_tasks"] == 0 and rows[2]["not_evaluated_tasks"] == 0
    assert display.lines == [
        "soc2audit_drift: edge1: 0 task(s) drifted, 1 not evaluated (check mode)"
    ]


@pytest.mark.usefixtures("local_temp")
def test_append_repairs_a_cut_short_last_line(tmp_path: Path) -> None:
    plugin = load_plugin()
    started = dt.datetime(2026, 1, 15, 23, 59, tzinfo=dt.UTC)
    evidence_dir = tmp_path / "evidence"
    evidence = evidence_dir / "config-drift-2026-01-15.jsonl"
    assert plugin.append_evidence(evidence_dir, [{"a": 1}], started, "config-drift") == evidence
    with evidence.open("ab") as handle:
        handle.write(b'{"cut": ')  # a crash mid-write
    plugin.append_evidence(evidence_dir, [{"b": 2}], started, plugin.EVIDENCE_PREFIX)
    assert evidence.read_bytes() == b'{"a": 1}\n{"cut": \n{"b": 2}\n'
    assert stat.S_IMODE(evidence.stat().st_mode) == 0o640
    assert stat.S_IMODE(evidence_dir.stat().st_mode) == 0o750


@pytest.mark.usefixtures("local_temp")
def test_without_the_soc2audit_package_the_callback_disables_itself_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "soc2audit.evidence", None)  # import raises ImportError
    plugin = load_plugin()
    assert plugin.IMPORT_ERROR and "soc2audit.evidence" in plugin.IMPORT_ERROR
    display = FakeDisplay()
    callback = plugin.CallbackModule(display=display)
    assert callback.disabled is True
    assert len(display.warnings) == 1
    assert "check-mode drift is NOT recorded" in display.warnings[0]
    assert "make setup" in display.warnings[0]
