# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The auditd kernel scenario: the role and the AUD verifier against THIS machine's kernel.

A container started with `--pid=host --privileged` (tests/integration/auditd_kernel.py) is the
managed host, reached over SSH. The role loads its rules into the real kernel through
augenrules, the verifier compares what the kernel reports with what was asked, real events land
in audit.log with the expected keys, and each kind of drift is caught by the check meant for it.

Never on this kernel: -e 2 (immutable), a clock change (the time-change event is an attempt by
an unprivileged process without CAP_SYS_TIME, refused with EPERM). Before it starts the scenario
reads the kernel's audit state and skips when rules are loaded or an audit daemon is registered
(that state is someone else's); at the end it deletes its rules, stops auditd and restores the
enabled flag, backlog limit, backlog wait time and failure mode it found.

SOC2_AUDK_SUITE=trixie runs it with Debian 13 (audit 4.0.2). SOC2_RECORD_AUDIT_FIXTURES=1 also
writes the kernel's outputs to tests/unit/fixtures/auditd/ (kernel_<suite>_*.txt).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from auditd_kernel import REPO, KernelHost, have_podman, playbook
from conftest import recap

SUITE = os.environ.get("SOC2_AUDK_SUITE", "bookworm")
FIXTURES = REPO / "tests" / "unit" / "fixtures" / "auditd"
OUT = REPO / ".cache" / "auditd_kernel"
RESULTS = OUT / "verify.json"
REPORT = OUT / "report.json"
VERIFY = "tests/integration/auditd_kernel_verify.yml"
RECORD = os.environ.get("SOC2_RECORD_AUDIT_FIXTURES") == "1"

# A container of its own (in the PID namespace of the machine): can run beside the lab tests
# (`python -m soc2audit.ci integration`).
pytestmark = [
    pytest.mark.own_containers,
    pytest.mark.skipif(not have_podman(), reason="needs podman and the lab SSH key"),
]


def run_role(host: KernelHost, *args: str) -> Any:
    proc = playbook(host.inventory, "playbooks/auditd.yml", *args)
    return proc


def converge(host: KernelHost, *args: str) -> dict[str, int]:
    proc = run_role(host, *args)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return recap(proc.stdout)["audk"]


def verify(host: KernelHost) -> dict[str, dict[str, Any]]:
    RESULTS.unlink(missing_ok=True)
    proc = playbook(host.inventory, VERIFY, "-e", f"auditd_kernel_out={RESULTS}")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    data = json.loads(RESULTS.read_text())
    return {c["check_id"]: c for c in data["checks"]} | {"_raw": data}


def results(checks: dict[str, Any]) -> dict[str, str]:
    return {k: v["result"] for k, v in checks.items() if not k.startswith("_")}


def wait_for(host: KernelHost, search: str, tries: int = 20) -> str:
    """ausearch output once a matching event is in the log (auditd writes asynchronously)."""
    for _ in range(tries):
        proc = host.sh(f"ausearch -i {search}", check=False)
        if proc.returncode == 0 and "type=SYSCALL" in proc.stdout:
            return proc.stdout
        time.sleep(0.5)
    raise AssertionError(f"no audit event for `ausearch {search}`")


def record(name: str, text: str) -> None:
    if RECORD:
        (FIXTURES / f"kernel_{SUITE}_{name}").write_text(text)


@pytest.fixture(scope="module")
def report() -> Iterator[dict[str, Any]]:
    data: dict[str, Any] = {"suite": SUITE}
    yield data
    OUT.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def fresh(report: dict[str, Any]) -> Iterator[KernelHost]:
    """A fresh container (no auditd yet) in the host PID namespace."""
    OUT.mkdir(parents=True, exist_ok=True)
    host = KernelHost(suite=SUITE)
    host.up()
    try:
        yield host
    finally:
        if host.baseline:
            after = host.restore()
            report["restored_status"] = after
            report["restored_listing"] = host.listing().strip()
        host.remove()


# ---------------------------------------------------------------- bad input, on a fresh host


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (
            {
                "auditd_rules_extra": [
                    {"id": "typo", "key": "soc2-test", "kind": "syscall", "syscalls": ["etxattr"]}
                ]
            },
            "exists on no architecture",
        ),
        (
            {
                "auditd_rules_extra": [
                    {"id": "relative", "key": "soc2-test", "kind": "watch", "paths": ["etc/passwd"]}
                ]
            },
            "is not absolute",
        ),
        ({"auditd_conf_extra": {"overflow_action": "explode"}}, "overflow_action must be one of"),
        ({"auditd_disk_full_action": "EXPLODE"}, "auditd_disk_full_action"),
    ],
    ids=["unknown-syscall", "relative-watch", "unknown-action-extra", "unknown-action-var"],
)
def test_bad_input_fails_before_anything_changes(
    fresh: KernelHost, extra: dict[str, Any], why: str
) -> None:
    proc = run_role(fresh, "-e", json.dumps(extra))
    assert proc.returncode != 0
    assert why in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert recap(proc.stdout)["audk"]["changed"] == 0
    # Nothing was installed or written.
    state = fresh.sh("dpkg-query -W auditd 2>&1; ls /etc/audit 2>&1", check=False).stdout
    assert "no packages found matching auditd" in state and "No such file" in state, state


# ---------------------------------------------------------------- the real kernel


@pytest.fixture(scope="module")
def kernel(fresh: KernelHost, report: dict[str, Any]) -> KernelHost:
    """The machine's audit state recorded (skip when in use), then the role converged."""
    fresh.install_audit_tools()
    try:
        report["baseline"] = fresh.record_baseline()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    record("status_before.txt", fresh.sh("auditctl -s").stdout)
    report["first_converge"] = converge(fresh)
    return fresh


def test_converge_is_idempotent_and_check_mode_clean(kernel: KernelHost, report: dict) -> None:
    second = converge(kernel)
    check = converge(kernel, "--check", "--diff")
    report["second_converge"], report["check_mode"] = second, check
    assert second["changed"] == 0, second
    assert check["changed"] == 0, check


def test_verifier_passes_against_the_kernel(kernel: KernelHost, report: dict) -> None:
    checks = verify(kernel)
    raw = checks["_raw"]
    report["rules_loaded"] = checks["AUD-03"]["observed"]["loaded"]
    report["loaded_rules"] = kernel.listing().splitlines()
    report["status"] = raw["kernel"]["status"]
    report["dropped"] = raw["dropped"]
    record("listing_soc2.txt", kernel.listing())
    record("status_running.txt", kernel.sh("auditctl -s").stdout)
    assert results(checks) == dict.fromkeys(
        ["AUD-01", "AUD-02", "AUD-03", "AUD-04", "AUD-05", "AUD-06", "AUD-07"], "pass"
    ), {k: v["message"] for k, v in checks.items() if not k.startswith("_")}
    assert raw["kernel"]["status"]["enabled"] == 1  # never immutable here
    assert checks["AUD-03"]["observed"]["loaded"] == len(raw["desired"]) > 50
    assert checks["AUD-06"]["observed"]["lost"] == 0


def test_real_events_carry_the_expected_keys(kernel: KernelHost, report: dict) -> None:
    # A write to a watched identity file (the container's own /etc/shadow; nothing changes).
    kernel.sh(": >> /etc/shadow")
    identity = wait_for(kernel, "-k soc2-cc6.1-identity -f /etc/shadow -m SYSCALL")
    # A privileged program run in a login session (loginuid 1001, as pam_loginuid sets it).
    kernel.sh("echo 1001 > /proc/self/loginuid && exec /usr/bin/su --help >/dev/null")
    privileged = wait_for(kernel, "-k soc2-cc6.3-privileged-cmd -x /usr/bin/su -ua 1001")
    # A time change ATTEMPT: uid nobody, no capabilities, empty bounding set, no_new_privs, so
    # clock_settime fails with EPERM; and it asks for the time it just read.
    attempt = kernel.sh(
        "echo 1001 > /proc/self/loginuid && exec setpriv --reuid=65534 --regid=65534 "
        "--clear-groups --bounding-set=-all --inh-caps=-all --no-new-privs python3 -c "
        "'import time; time.clock_settime(time.CLOCK_REALTIME, "
        "time.clock_gettime(time.CLOCK_REALTIME))'",
        check=False,
    )
    assert attempt.returncode != 0 and "PermissionError" in attempt.stderr, attempt.stderr
    time_change = wait_for(
        kernel, "-k soc2-cc7.2-time-change -sc clock_settime -ui 65534 --success no"
    )
    assert "exit=EPERM" in time_change
    report["events"] = {
        "identity": [ln for ln in identity.splitlines() if "type=SYSCALL" in ln][-1],
        "privileged": [ln for ln in privileged.splitlines() if "type=SYSCALL" in ln][-1],
        "time_change": [ln for ln in time_change.splitlines() if "type=SYSCALL" in ln][-1],
    }


# ---------------------------------------------------------------- drift, each by its check


def _failing(checks: dict[str, Any]) -> set[str]:
    return {k for k, v in results(checks).items() if v != "pass"}


def test_rule_deleted_with_auditctl_d_is_missing_in_aud_03(
    kernel: KernelHost, report: dict
) -> None:
    rule = (
        "always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime "
        "-F key=soc2-cc7.2-time-change"
    )
    kernel.sh(f"auditctl -d {rule}")
    checks = verify(kernel)
    assert _failing(checks) == {"AUD-03"}, results(checks)
    assert checks["AUD-03"]["observed"]["missing"] == [f"-a {rule}"]
    assert checks["AUD-03"]["observed"]["extra"] == []
    report["drift_rule_deleted"] = checks["AUD-03"]["message"]
    assert converge(kernel)["changed"] == 1
    assert _failing(verify(kernel)) == set()


def test_rule_added_by_hand_is_extra_in_aud_03(kernel: KernelHost, report: dict) -> None:
    kernel.sh("auditctl -w /etc/fstab -p wa -k added-by-hand")
    checks = verify(kernel)
    assert _failing(checks) == {"AUD-03"}, results(checks)
    assert checks["AUD-03"]["observed"]["extra"] == ["-w /etc/fstab -p wa -k added-by-hand"]
    report["drift_rule_added"] = checks["AUD-03"]["message"]
    assert converge(kernel)["changed"] == 1
    assert _failing(verify(kernel)) == set()


def test_rules_file_edited_is_caught_by_aud_04(kernel: KernelHost, report: dict) -> None:
    kernel.sh(
        "sed -i 's/^-w \\/etc\\/sudoers -p wa/-w \\/etc\\/sudoers -p a/' "
        "/etc/audit/rules.d/30-soc2-main.rules"
    )
    checks = verify(kernel)
    assert _failing(checks) == {"AUD-04"}, results(checks)
    observed = checks["AUD-04"]["observed"]
    assert observed["missing"] == ["-w /etc/sudoers -p wa -k soc2-cc6.3-sudoers"]
    assert observed["extra"] == ["-w /etc/sudoers -p a -k soc2-cc6.3-sudoers"]
    report["drift_file_edited"] = checks["AUD-04"]["message"]
    second = converge(kernel)
    assert second["changed"] >= 1
    assert _failing(verify(kernel)) == set()


def test_auditd_stopped_is_caught_by_aud_01(kernel: KernelHost, report: dict) -> None:
    kernel.sh("/etc/init.d/auditd stop >/dev/null")
    checks = verify(kernel)
    failing = _failing(checks)
    # Debian's init script also loads audit-stop.rules on stop (-e 0, -D): the kernel checks
    # see that too. AUD-01 is the one that names the daemon.
    assert "AUD-01" in failing, results(checks)
    assert results(checks)["AUD-01"] == "fail"
    assert "auditd is inactive" in checks["AUD-01"]["message"]
    report["drift_auditd_stopped"] = {k: checks[k]["message"] for k in sorted(failing)}
    assert converge(kernel)["changed"] >= 1
    assert _failing(verify(kernel)) == set()


def test_lost_and_backlog_after_the_scenario(kernel: KernelHost, report: dict) -> None:
    status = kernel.status()
    report["final_status"] = status
    assert status["lost"] == 0
    assert status["backlog"] < status["backlog_limit"]


def test_rewrite_corpus_lists_as_recorded(kernel: KernelHost) -> None:
    """The recorded `auditctl -l` rewrite fixture is what this kernel prints today."""
    corpus = (FIXTURES / "rewrites.rules").read_text()
    kernel.sh(f"cat > /tmp/rewrites.rules <<'EOF'\n{corpus}EOF")
    kernel.sh("auditctl -D >/dev/null && auditctl -R /tmp/rewrites.rules >/dev/null 2>&1")
    listing = kernel.listing()
    kernel.sh("auditctl -D >/dev/null")
    path = FIXTURES / f"rewrites_{SUITE}.list"
    if RECORD:
        path.write_text(listing)
    assert listing == path.read_text()
