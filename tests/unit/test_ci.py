# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit.ci: scenarios whose requires.yml is not met are skipped before molecule starts,
with the reason printed and recorded (the fluent_bit scenarios without a fluent-bit .deb)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from soc2audit import ci

REQUIRES = """\
---
file_from_env: SOC2_TEST_DEB
reason: >-
  needs a real
  package
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("plain_default", "needy_default"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "molecule.yml").write_text("---\n")
    (tmp_path / "needy_default" / "requires.yml").write_text(REQUIRES)
    return tmp_path


def test_scenario_without_requirements_runs(root: Path) -> None:
    assert ci.skip_reason("plain_default", {}, root) is None


def test_unset_variable_skips_with_the_reason(root: Path) -> None:
    assert ci.skip_reason("needy_default", {}, root) == (
        "SOC2_TEST_DEB is not set: needs a real package"
    )
    assert "is not set" in str(ci.skip_reason("needy_default", {"SOC2_TEST_DEB": ""}, root))


def test_variable_naming_no_file_skips(root: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.deb"
    reason = ci.skip_reason("needy_default", {"SOC2_TEST_DEB": str(missing)}, root)
    assert reason == f"SOC2_TEST_DEB={missing} is not a file: needs a real package"


def test_variable_naming_a_file_runs(root: Path, tmp_path: Path) -> None:
    deb = tmp_path / "pkg.deb"
    deb.write_bytes(b"!<arch>\n")
    assert ci.skip_reason("needy_default", {"SOC2_TEST_DEB": str(deb)}, root) is None


def test_the_fluent_bit_scenarios_need_a_deb_and_no_other_does() -> None:
    needy = {s for s in ci.scenarios() if (ci.REPO / "molecule" / s / "requires.yml").exists()}
    # The opa scenarios need the OPA binary, which soc2audit.ci builds (SOC2_OPA_BINARY); the
    # kafka scenarios the broker classpath, which it resolves (SOC2_KAFKA_ARCHIVE).
    built = {
        "opa_default": ci.OPA_ENV,
        "opa_alternative": ci.OPA_ENV,
        "kafka_default": ci.KAFKA_ENV,
        "kafka_alternative": ci.KAFKA_ENV,
    }
    built = {s: var for s, var in built.items() if s in ci.scenarios()}
    assert needy == {"fluent_bit_default", "fluent_bit_alternative"} | set(built)
    for scenario, var in built.items():
        reason = ci.skip_reason(scenario, {})
        assert reason is not None and reason.startswith(f"{var} is not set: ")
    for scenario in needy - set(built):
        reason = ci.skip_reason(scenario, {})
        assert reason is not None and reason.startswith("SOC2_FLUENT_BIT_DEB is not set: ")
        assert "fluent-bit .deb" in reason


def test_skipped_scenarios_cost_nothing_and_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[list[str]] = []

    def fake_run_all(names: list[str], jobs: int, molecule: str) -> list[Any]:
        ran.append(names)
        return [ci.Outcome(n, 0, 1.0, tmp_path / f"{n}.log") for n in names]

    monkeypatch.setattr(ci, "run_all", fake_run_all)
    monkeypatch.setattr(ci, "LOGS", tmp_path / "logs")
    monkeypatch.setenv("SOC2_LAB_IMAGE", "localhost/test:image")
    monkeypatch.delenv("SOC2_FLUENT_BIT_DEB", raising=False)
    rc = ci.main(["molecule", "fluent_bit_default", "fluent_bit_alternative", "pki_default"])
    assert rc == 0
    assert ran == [["pki_default"]]
    out = capsys.readouterr().out
    assert "== molecule fluent_bit_default: skipped (SOC2_FLUENT_BIT_DEB is not set: " in out
    assert "fluent_bit_alternative" in out and "skipped" in out
    durations = json.loads((tmp_path / "logs" / "durations.json").read_text())
    assert set(durations["skipped"]) == {"fluent_bit_default", "fluent_bit_alternative"}
    assert durations["scenarios"] == {"pki_default": 1.0}


# ------------------------------------------------------------------ `all`: side jobs beside the lab


def test_side_jobs_run_longest_first_and_unknown_ones_get_the_default() -> None:
    jobs = [ci.Job(n, ("true",), Path(f"/tmp/{n}.log"), "molecule") for n in ("a", "b", "c", "d")]
    hints = {"a": 10.0, "b": 300.0, "c": ci.DEFAULT_SECONDS}
    # d has no record: it counts as DEFAULT_SECONDS and ties with c, broken by name.
    assert [j.name for j in ci.longest_first(jobs, hints)] == ["b", "c", "d", "a"]


def test_the_committed_hints_name_every_scenario_and_own_container_file() -> None:
    hints = ci.load_hints()
    built = {ci.OPA_ENV: __file__, ci.KAFKA_ENV: __file__}
    missing = [s for s in ci.scenarios() if ci.skip_reason(s, built) is None]
    missing = [s for s in missing if s not in hints]
    files = [Path(f).name for f in ci.own_container_files([])]
    assert files, "no own_containers test file was collected"
    missing += [f for f in files if f not in hints]
    assert not missing, f"add to .ci/job-seconds.json (from .cache/ci/jobs.json): {missing}"


def test_broken_or_missing_hints_are_no_hints(tmp_path: Path) -> None:
    assert ci.load_hints(tmp_path / "none.json") == {}
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert ci.load_hints(bad) == {}
    mixed = tmp_path / "mixed.json"
    mixed.write_text('{"a": 5, "b": "slow"}')
    assert ci.load_hints(mixed) == {"a": 5.0}


@pytest.mark.parametrize(
    ("kind", "code", "rc"), [("pytest", 5, 0), ("pytest", 1, 1), ("molecule", 5, 5)]
)
def test_a_job_is_judged_by_its_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, code: int, rc: int
) -> None:
    script = f"import sys; print('line one'); sys.exit({code})"
    job = ci.Job("j", (sys.executable, "-c", script), tmp_path / "j.log", kind)
    outcome = ci.run_job(job)
    assert outcome.rc == rc
    # Each line of the log behind the seconds since the job started.
    assert re.fullmatch(r"\[ +\d+\.\d\] line one\n", (tmp_path / "j.log").read_text())
    out = capsys.readouterr().out
    # A failing job's log tail is printed; a passing one's is not.
    assert ("line one" in out) is (rc != 0)


def test_everything_runs_the_lab_stream_and_every_side_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[str] = []
    lab_argv: list[list[str]] = []

    def fake_jobs(side: list[ci.Job], jobs: int, late: Any = None) -> list[ci.Outcome]:
        assert late is not None and late[1] == 1  # one more worker once the lab stream ends
        ran.extend(j.name for j in side)
        return [ci.Outcome(j.name, 1 if j.name == "pki_default" else 0, 2.0, j.log) for j in side]

    real_popen = subprocess.Popen

    def fake_lab(argv: list[str], **_: Any) -> subprocess.Popen[bytes]:
        # A real child (its exit code and CPU are read with os.wait4) in place of pytest.
        lab_argv.append(argv)
        return real_popen([sys.executable, "-c", "pass"])

    monkeypatch.setattr(ci, "run_all_jobs", fake_jobs)
    monkeypatch.setattr(ci.subprocess, "Popen", fake_lab)
    monkeypatch.setattr(ci, "own_container_files", lambda extra: ["tests/integration/test_x.py"])
    monkeypatch.setattr(ci, "LOGS", tmp_path / "logs")
    monkeypatch.setattr(ci, "JOBS_RECORD", tmp_path / "ci" / "jobs.json")
    monkeypatch.setenv(ci.OPA_ENV, __file__)
    monkeypatch.delenv("SOC2_FLUENT_BIT_DEB", raising=False)
    rc = ci.run_everything(2, [], ["pki_default", "timesync_default", "fluent_bit_default"])
    assert rc == 1  # pki_default failed
    assert sorted(ran) == ["pki_default", "test_x.py", "timesync_default"]
    assert lab_argv and "not own_containers" in lab_argv[0]
    record = json.loads((tmp_path / "ci" / "jobs.json").read_text())
    assert record["failed"] == ["pki_default"]
    assert set(record["jobs"]) == {"pki_default", "timesync_default", "test_x.py"}
    # The lab stream's CPU (a real process tree, read with wait4) and the machine's share.
    assert record["cpu"]["lab tests"]["tree"] >= 0
    assert record["cpu"]["lab tests"]["containers"] is None
    assert 0 <= record["machine_busy_share"] <= 1
    molecule = json.loads((tmp_path / "logs" / "durations.json").read_text())
    assert set(molecule["scenarios"]) == {"pki_default", "timesync_default"}
    assert "fluent_bit_default" in molecule["skipped"]
    assert "pki_default" in capsys.readouterr().out


def test_a_late_worker_joins_once_the_lab_stream_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One worker while the lab stream runs, two after it: every job runs once, results keep the
    jobs' order, and two run at once only after the lab stream's end."""
    lab_done = threading.Event()
    lock = threading.Lock()
    running: list[str] = []
    overlaps: list[tuple[bool, int]] = []

    def fake_run(job: ci.Job) -> ci.Outcome:
        with lock:
            running.append(job.name)
            overlaps.append((lab_done.is_set(), len(running)))
        time.sleep(0.05)
        if job.name == "j1":
            lab_done.set()
        time.sleep(0.05)
        with lock:
            running.remove(job.name)
        return ci.Outcome(job.name, 0, 0.1, job.log)

    monkeypatch.setattr(ci, "run_job", fake_run)
    side = [ci.Job(f"j{i}", ("true",), tmp_path / f"j{i}.log", "pytest") for i in range(6)]
    outcomes = ci.run_all_jobs(side, 1, (lab_done.wait, 1))
    assert [o.scenario for o in outcomes] == [f"j{i}" for i in range(6)]
    assert all(n == 1 for done, n in overlaps if not done)
    assert any(n == 2 for done, n in overlaps if done)


def test_a_scenarios_platforms_as_molecule_names_them() -> None:
    env = {"SOC2_LAB_PREFIX": "ci1"}
    containers, networks = ci.platforms("timesync_alternative", env)
    assert containers == ("ci1-tsa-server", "ci1-tsa-client")
    assert networks == ("ci1-tsa-net",)
    # The default of ${VAR:-default} when the variable is unset or empty.
    assert ci.interpolate("${SOC2_LAB_PREFIX:-s2a}-x", {}) == "s2a-x"
    assert ci.interpolate("${SOC2_LAB_PREFIX:-s2a}-x", {"SOC2_LAB_PREFIX": ""}) == "s2a-x"
    assert ci.interpolate("${A}/b", {"A": "/tmp"}) == "/tmp/b"


def test_a_molecule_job_removes_its_own_containers_and_keeps_a_fresh_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOC2_LAB_PREFIX", "ci2")
    job = ci.molecule_job("timesync_alternative", "molecule")
    assert job.argv == ("molecule", "test", "-s", "timesync_alternative", "--destroy", "never")
    assert job.containers == ("ci2-tsa-server", "ci2-tsa-client")
    env = dict(job.env)
    assert env["MOLECULE_EPHEMERAL_DIRECTORY"].endswith("molecule-state/timesync_alternative")
    # Facts once per scenario: the cache inside that directory, which every run starts afresh.
    assert env["ANSIBLE_GATHERING"] == "smart"
    assert env["ANSIBLE_CACHE_PLUGIN_CONNECTION"].startswith(env["MOLECULE_EPHEMERAL_DIRECTORY"])
    # Every scenario's platforms have names (and each job removes only its own).
    names = [c for s in ci.scenarios() for c in ci.molecule_job(s, "m").containers]
    assert len(names) == len(set(names)) and all(n.startswith("ci2-") for n in names)


def test_a_jobs_cpu_is_its_process_trees(tmp_path: Path) -> None:
    # A child that burns about 0.3 s of CPU in a grandchild: wait4 counts the whole tree.
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    script = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}])"
    job = ci.Job("burn", (sys.executable, "-c", script), tmp_path / "burn.log", "pytest")
    outcome = ci.run_job(job)
    assert outcome.rc == 0
    assert outcome.cpu is not None and outcome.cpu >= 0.25
    assert outcome.container_cpu is None  # no containers of its own
