# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end tests for library/soc2_auditd.py, soc2_auditd_plan.py and soc2_auditd_load.py,
run through AnsibleModule in-process.

auditctl, ausyscall, systemctl and augenrules are stub programs in tmp_path that print RECORDED
real outputs from tests/unit/fixtures/auditd (README.txt there): the syscall tables of Debian 12
and 13, `auditctl -s` of an idle and a running kernel and the EPERM of a container, `systemctl
show` of auditd in a systemd container. The kernel's rule listing is a file the stubs share, so
a test can drift it and the loader's `augenrules --load` can "load" it. Every stub call is
logged, so the tests also check which commands ran. The rules.d files are the ones the planner
renders, written to tmp_path; nothing on this machine is read or changed except /proc/self/mounts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import soc2_auditd
import soc2_auditd_load
import soc2_auditd_plan
from ansible.module_utils import soc2_auditctl as A
from module_runner import invoke

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "auditd"
TIME_KEY = "soc2-cc7.2-time-change"
CHECK_IDS = ["AUD-01", "AUD-02", "AUD-03", "AUD-04", "AUD-05", "AUD-06", "AUD-07"]
MACHINES = "b64 b32 x86_64 i386 aarch64 arm ppc ppc64 ppc64le s390 s390x"
RULES = [
    {
        "id": "identity",
        "key": "soc2-cc6.1-identity",
        "kind": "watch",
        "paths": ["/etc/passwd", "/etc/group"],
    },
    {
        "id": "time",
        "key": "soc2-cc7.2-time-change",
        "kind": "syscall",
        "syscalls": ["adjtimex", "settimeofday", "clock_settime", "stime"],
    },
    {
        "id": "mounts",
        "key": "soc2-cc6.7-mounts",
        "kind": "syscall",
        "syscalls": ["mount"],
        "filters": ["auid>=1000", "auid!=unset"],
        "arch": ["b64"],
    },
    {"id": "no-cwd", "kind": "syscall", "list": "exclude", "filters": ["msgtype=CWD"]},
]
CONFIG = {"log_format": "ENRICHED", "flush": "INCREMENTAL_ASYNC", "disk_full_action": "SINGLE"}
RUNNING = (
    (FIXTURES / "kernel_bookworm_status_running.txt").read_text()
    if (FIXTURES / "kernel_bookworm_status_running.txt").exists()
    else ""
)


def status(**changes: int) -> str:
    """The recorded status of the running kernel with some fields changed (derived)."""
    lines = []
    for line in RUNNING.splitlines():
        name = line.split()[0]
        lines.append(f"{name} {changes[name]}" if name in changes else line)
    return "\n".join(lines) + "\n"


class Host:
    """Stub programs plus the files of one managed host, all under tmp_path."""

    def __init__(self, tmp: Path, suite: str = "bookworm") -> None:
        self.tmp = tmp
        self.suite = suite
        self.bin = tmp / "bin"
        self.state = tmp / "state"
        self.rules_dir = tmp / "rules.d"
        self.rules_file = tmp / "audit.rules"
        self.conf = tmp / "auditd.conf"
        self.log_dir = tmp / "log"
        self.log = tmp / "calls.log"
        for d in (self.bin, self.state, self.rules_dir, self.log_dir):
            d.mkdir()
        self.log.touch()
        self.kernel(status=RUNNING, listing="No rules\n")
        self.version(f"auditctl version {'4.0.2' if suite == 'trixie' else '3.0.9'}\n")
        self.systemd(active=True)
        self._write_stubs()

    # -- state the stubs print
    def kernel(
        self, *, status: str | None = None, listing: str | None = None, refused: bool = False
    ) -> None:
        if refused:
            (self.state / "status.out").write_text("")
            (self.state / "status.err").write_text(
                (FIXTURES / f"container_{self.suite}_status.stderr.txt").read_text()
            )
            (self.state / "status.rc").write_text("255")
            return
        if status is not None:
            (self.state / "status.out").write_text(status)
            (self.state / "status.err").write_text("")
            (self.state / "status.rc").write_text("0")
        if listing is not None:
            (self.state / "listing").write_text(listing)

    def version(self, text: str) -> None:
        (self.state / "version").write_text(text)

    def systemd(self, active: bool = True, enabled: str = "enabled") -> None:
        text = (FIXTURES / f"container_{self.suite}_systemctl_show.txt").read_text()
        if active:  # derived: the recorded container output with the unit running
            text = text.replace("ActiveState=failed", "ActiveState=active", 1)
            text = text.replace(
                "ActiveState=inactive\nSubState=dead\nUnitFileState=enabled\n\nId=audit-rules",
                "ActiveState=active\nSubState=running\nUnitFileState=enabled\n\nId=audit-rules",
            )
        text = text.replace("UnitFileState=enabled", f"UnitFileState={enabled}", 1)
        (self.state / "systemctl_show").write_text(text)

    def after_load(self, listing: str, status_text: str | None = None) -> None:
        (self.state / "listing.after").write_text(listing)
        if status_text is not None:
            (self.state / "status.after").write_text(status_text)

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()

    def _write_stubs(self) -> None:
        s, log = self.state, self.log
        self._stub(
            "auditctl",
            f"""#!/bin/sh
printf '%s\\n' "auditctl $*" >> '{log}'
case "$*" in
  -v) cat '{s}/version' ;;
  -s) cat '{s}/status.out'; cat '{s}/status.err' >&2; exit $(cat '{s}/status.rc') ;;
  -l) [ "$(cat '{s}/status.rc')" = 0 ] || {{
        echo 'Error sending rule list data request (Operation not permitted)' >&2; exit 255; }}
      cat '{s}/listing' ;;
  *) echo "stub auditctl: unexpected $*" >&2; exit 99 ;;
esac
""",
        )
        cases = "\n".join(
            f"  {m}) cat '{FIXTURES}/{self.suite}_ausyscall_{m}.txt' ;;" for m in MACHINES.split()
        )
        self._stub(
            "ausyscall",
            f"""#!/bin/sh
printf '%s\\n' "ausyscall $*" >> '{log}'
[ "$2" = --dump ] || exit 99
case "$1" in
{cases}
  *) echo "Unknown machine type" >&2; exit 1 ;;
esac
""",
        )
        self._stub(
            "systemctl",
            f"""#!/bin/sh
printf '%s\\n' "systemctl $*" >> '{log}'
case "$1" in
  show) cat '{s}/systemctl_show' ;;
  *) exit 99 ;;
esac
""",
        )
        # augenrules: compile rules.d into the rules file the way augenrules does (our merge,
        # the same algorithm), and with --load make the kernel hold what the test prepared.
        self._stub(
            "augenrules",
            f"""#!{sys.executable}
import shutil, sys
sys.path.insert(0, {str(REPO / "plugins" / "module_utils")!r})
import ansible.module_utils as m
m.__path__.append({str(REPO / "plugins" / "module_utils")!r})
from ansible.module_utils.soc2_auditctl import augenrules_order, merge_rules_files
import os
open({str(log)!r}, "a").write("augenrules " + " ".join(sys.argv[1:]) + "\\n")
d = {str(self.rules_dir)!r}
names = augenrules_order(os.listdir(d))
merged = merge_rules_files([(n, open(os.path.join(d, n)).read()) for n in names])
open({str(self.rules_file)!r}, "w").write("## generated\\n" + "\\n".join(merged) + "\\n")
if sys.argv[1:] == ["--load"]:
    for src, dst in (("listing.after", "listing"), ("status.after", "status.out")):
        if os.path.exists(os.path.join({str(s)!r}, src)):
            shutil.copy(os.path.join({str(s)!r}, src), os.path.join({str(s)!r}, dst))
""",
        )

    def _stub(self, name: str, text: str) -> None:
        path = self.bin / name
        path.write_text(text)
        path.chmod(0o755)

    # -- module parameters
    def params(self, **overrides: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "rules": RULES,
            "privileged": {"enabled": False},
            "rules_dir": str(self.rules_dir),
            "rules_file": str(self.rules_file),
            "config_path": str(self.conf),
            "config": {**CONFIG, "log_file": str(self.log_dir / "audit.log")},
            "auditctl": str(self.bin / "auditctl"),
            "ausyscall": str(self.bin / "ausyscall"),
            "log_partition": {"own_filesystem": False, "min_free_mb": 1, "min_free_percent": 1},
        }
        params.update(overrides)
        return params


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    """AnsibleModule keeps warnings in a process-wide dict; each in-process run starts clean."""
    from ansible.module_utils.common import warnings

    warnings._global_warnings.clear()
    warnings._global_deprecations.clear()


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    h = Host(tmp_path)
    monkeypatch.setenv("PATH", f"{h.bin}:{os.environ.get('PATH', '')}")
    return h


Run = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def runner(module: Any, params: dict[str, Any], **special: Any) -> tuple[int, dict[str, Any]]:
        return invoke(module.main, {**params, **special}, capsys)

    return runner


def plan(run: Run, host: Host, **overrides: Any) -> dict[str, Any]:
    """Run the planner and write what the role would write (rules files, auditd.conf)."""
    rc, out = run(soc2_auditd_plan, host.params(**overrides))
    assert rc == 0, out
    for item in out["files"]:
        (host.rules_dir / item["name"]).write_text("# Ansible managed\n" + item["content"])
    host.conf.write_text(
        "# Ansible managed\n" + "".join(f"{c['key']} = {c['value']}\n" for c in out["config"])
    )
    merged = A.merge_rules_files(
        [
            (n, (host.rules_dir / n).read_text())
            for n in A.augenrules_order(os.listdir(host.rules_dir))
        ]
    )
    host.rules_file.write_text("## generated\n" + "\n".join(merged) + "\n")
    return out


def listing_of(out: dict[str, Any]) -> str:
    return "".join(f"{line}\n" for line in out["desired"])


def verify(
    run: Run, host: Host, **overrides: Any
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    rc, out = run(soc2_auditd, host.params(**overrides))
    assert rc == 0, out
    assert [c["check_id"] for c in out["checks"]] == CHECK_IDS
    return {c["check_id"]: c for c in out["checks"]}, out


def results(checks: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {k: v["result"] for k, v in checks.items()}


# ---------------------------------------------------------------- the planner


def test_plan_renders_files_conf_and_warns_about_dropped_syscalls(run: Run, host: Host) -> None:
    rc, out = run(soc2_auditd_plan, host.params())
    assert rc == 0, out
    assert [f["name"] for f in out["files"]] == [
        "10-soc2-base.rules",
        "20-soc2-exclusions.rules",
        "25-soc2-privileged.rules",
        "30-soc2-main.rules",
        "99-soc2-finalize.rules",
    ]
    assert out["config"][:2] == [
        {"key": "log_file", "value": str(host.log_dir / "audit.log")},
        {"key": "log_format", "value": "ENRICHED"},
    ]
    assert out["warnings_list"] == ["rule time: stime not on b64 here, dropped for b64"]
    assert out["tables"] == "ausyscall" and out["major"] == 3 and out["version"] == "3.0.9"
    assert out["kernel"] == {
        "reachable": True,
        "refused": False,
        "immutable": False,
        "status": A.parse_status(RUNNING),
        "error": None,
    }
    assert out["desired"] == [
        "-w /etc/passwd -p wa -k soc2-cc6.1-identity",
        "-w /etc/group -p wa -k soc2-cc6.1-identity",
        "-a always,exit -F arch=b64 -S adjtimex,settimeofday,clock_settime -F key=" + TIME_KEY,
        "-a always,exit -F arch=b32 -S stime,settimeofday,adjtimex,clock_settime -F key="
        + TIME_KEY,
        "-a always,exit -F arch=b64 -S mount -F auid>=1000 -F auid!=-1 -F key=soc2-cc6.7-mounts",
        "-a always,exclude -F msgtype=CWD",
    ]


def test_other_machines_tables_are_read_only_for_a_syscall_the_host_lacks(
    run: Run, host: Host
) -> None:
    """ausyscall runs for b64 and b32 only while every rule's syscalls are on the host; a name
    the host lacks ("exists elsewhere" or "nowhere") makes it read every machine's table."""

    def dumps() -> list[str]:
        return [c.split()[1] for c in host.calls() if c.startswith("ausyscall")]

    verify(run, host)
    assert dumps() == ["b64", "b32"]
    host.log.write_text("")
    elsewhere = [{"id": "s", "key": "k", "kind": "syscall", "syscalls": ["mount", "spu_run"]}]
    verify(run, host, rules=elsewhere)
    assert dumps() == MACHINES.split()


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (
            {"rules": [{"id": "t", "key": "k", "kind": "syscall", "syscalls": ["etxattr"]}]},
            "'etxattr' exists on no architecture",
        ),
        (
            {"rules": [{"id": "w", "key": "k", "kind": "watch", "paths": ["etc/passwd"]}]},
            "is not absolute",
        ),
        ({"config": {"disk_full_action": "explode"}}, "disk_full_action must be one of"),
        ({"config": {"overflow_action": "panic"}}, "overflow_action must be one of"),
    ],
)
def test_plan_fails_on_bad_input(run: Run, host: Host, change: dict[str, Any], why: str) -> None:
    rc, out = run(soc2_auditd_plan, host.params(**change))
    assert rc == 1 and out["failed"] and out["changed"] is False
    assert why in out["msg"]
    assert not any(host.rules_dir.iterdir())


def test_plan_uses_libaudit_before_auditd_is_installed(run: Run, host: Host) -> None:
    if not A.libaudit_tables(["x86_64"]):
        pytest.skip("libaudit1 is not installed here")
    rc, out = run(
        soc2_auditd_plan,
        host.params(ausyscall=str(host.tmp / "missing"), auditctl=str(host.tmp / "missing")),
    )
    assert rc == 0, out
    assert out["tables"] == "libaudit" and out["version"] is None and out["major"] == 3
    assert out["kernel"]["reachable"] is False and "not installed" in out["kernel"]["error"]
    rc, out = run(
        soc2_auditd_plan,
        host.params(
            ausyscall=str(host.tmp / "missing"),
            rules=[{"id": "t", "key": "k", "kind": "syscall", "syscalls": ["etxattr"]}],
        ),
    )
    assert rc == 1 and "etxattr" in out["msg"]


# ---------------------------------------------------------------- the verifier


def test_everything_as_desired_passes(run: Run, host: Host) -> None:
    desired = plan(run, host)
    host.kernel(listing=listing_of(desired))
    checks, out = verify(run, host)
    assert results(checks) == dict.fromkeys(CHECK_IDS, "pass"), {
        k: v["message"] for k, v in checks.items()
    }
    assert checks["AUD-03"]["message"] == "the kernel holds the 6 desired rules"
    assert checks["AUD-06"]["observed"] == {
        "lost": 0,
        "backlog": 0,
        "backlog_limit": 8192,
        "backlog_wait_time_actual": 0,
    }
    assert "diff" not in out
    assert {
        c.split()[0] + " " + c.split()[1] for c in host.calls() if c.startswith("auditctl")
    } == {
        "auditctl -v",
        "auditctl -s",
        "auditctl -l",
    }


def test_a_container_reports_kernel_checks_not_applicable(run: Run, host: Host) -> None:
    plan(run, host)
    host.kernel(refused=True)
    host.systemd(active=False)
    checks, _ = verify(run, host)
    assert results(checks) == {
        "AUD-01": "not_applicable",
        "AUD-02": "not_applicable",
        "AUD-03": "not_applicable",
        "AUD-04": "pass",
        "AUD-05": "pass",
        "AUD-06": "not_applicable",
        "AUD-07": "not_applicable",
    }
    assert "refuses audit netlink" in checks["AUD-01"]["message"]
    # A disabled unit is still a failure there.
    host.systemd(active=False, enabled="disabled")
    assert results(verify(run, host)[0])["AUD-01"] == "fail"


def test_trixie_container_needs_audit_rules_enabled_too(
    tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = Host(tmp_path, "trixie")
    monkeypatch.setenv("PATH", f"{host.bin}:{os.environ.get('PATH', '')}")
    plan(run, host)
    host.kernel(refused=True)
    host.systemd(active=False)
    checks, out = verify(run, host)
    assert out["version"] == "4.0.2"
    assert results(checks)["AUD-01"] == "not_applicable"
    assert checks["AUD-01"]["observed"]["rules_unit"] == "enabled"


def test_rule_deleted_and_rule_added_in_the_kernel(run: Run, host: Host) -> None:
    desired = plan(run, host)
    lines = desired["desired"]
    host.kernel(
        listing="".join(f"{ln}\n" for ln in lines[:2] + lines[3:])
        + "-w /etc/fstab -p wa -k by-hand\n"
    )
    checks, out = verify(run, host, _ansible_diff=True)
    assert results(checks)["AUD-03"] == "fail"
    assert checks["AUD-03"]["observed"]["missing"] == [lines[2]]
    assert checks["AUD-03"]["observed"]["extra"] == ["-w /etc/fstab -p wa -k by-hand"]
    assert "1 missing" in checks["AUD-03"]["message"] and "1 extra" in checks["AUD-03"]["message"]
    assert out["diff"]["after"] == listing_of(desired)
    assert {k for k, v in results(checks).items() if v != "pass"} == {"AUD-03"}


def test_same_rules_in_another_order_fail(run: Run, host: Host) -> None:
    desired = plan(run, host)
    lines = desired["desired"]
    host.kernel(listing="".join(f"{ln}\n" for ln in [lines[1], lines[0], *lines[2:]]))
    checks, _ = verify(run, host)
    assert checks["AUD-03"]["result"] == "fail" and checks["AUD-03"]["observed"]["order_differs"]


def test_edited_unmanaged_and_stale_rules_files(run: Run, host: Host) -> None:
    desired = plan(run, host)
    host.kernel(listing=listing_of(desired))
    main = host.rules_dir / "30-soc2-main.rules"
    main.write_text(main.read_text().replace("-w /etc/group -p wa", "-w /etc/group -p a"))
    checks, _ = verify(run, host)
    observed = checks["AUD-04"]["observed"]
    assert checks["AUD-04"]["result"] == "fail"
    assert observed["missing"] == ["-w /etc/group -p wa -k soc2-cc6.1-identity"]
    assert observed["extra"] == ["-w /etc/group -p a -k soc2-cc6.1-identity"]
    assert observed["compiled_current"] is False
    assert "is not the merge of rules.d" in checks["AUD-04"]["message"]
    assert results(checks)["AUD-03"] == "pass"

    plan(run, host)
    (host.rules_dir / "audit.rules").write_text("-D\n-b 320\n-w /etc/hosts -p wa -k local\n")
    checks, _ = verify(run, host)
    assert checks["AUD-04"]["result"] == "fail"
    assert checks["AUD-04"]["observed"]["unmanaged"] == ["audit.rules"]
    # Accepted when the role keeps unmanaged files: their rules become desired as well.
    checks, _ = verify(run, host, purge_unmanaged=False)
    assert checks["AUD-03"]["observed"]["missing"] == ["-w /etc/hosts -p wa -k local"]
    # ... or when that file is named in keep_files; the others are still unwanted.
    (host.rules_dir / "80-other.rules").write_text("-w /etc/motd -p wa -k other\n")
    checks, _ = verify(run, host, keep_files=["audit.rules"])
    assert checks["AUD-04"]["observed"]["unmanaged"] == ["80-other.rules"]
    assert checks["AUD-03"]["observed"]["missing"] == ["-w /etc/hosts -p wa -k local"]


def test_base_settings_in_the_files(run: Run, host: Host) -> None:
    desired = plan(run, host)
    host.kernel(listing=listing_of(desired))
    base = host.rules_dir / "10-soc2-base.rules"
    base.write_text(base.read_text().replace("-f 1", "-f 0"))
    checks, _ = verify(run, host)
    assert checks["AUD-04"]["result"] == "fail"
    assert checks["AUD-04"]["observed"]["settings"]["failure"] == 0


def test_auditd_conf_drift(run: Run, host: Host) -> None:
    desired = plan(run, host)
    host.kernel(listing=listing_of(desired))
    text = host.conf.read_text().replace("disk_full_action = SINGLE", "disk_full_action = ignore")
    host.conf.write_text(text + "tcp_listen_port = 60\n")
    checks, _ = verify(run, host)
    assert checks["AUD-05"]["result"] == "fail"
    assert checks["AUD-05"]["observed"]["different"] == {"disk_full_action": "ignore"}
    assert checks["AUD-05"]["observed"]["unexpected"] == ["tcp_listen_port"]
    # Case does not matter to auditd for words.
    host.conf.write_text(text.replace("disk_full_action = ignore", "disk_full_action = single"))
    assert verify(run, host)[0]["AUD-05"]["result"] == "pass"


@pytest.mark.parametrize(
    ("fields", "params", "result", "why"),
    [
        ({"lost": 3}, {}, "fail", "lost 3 audit records"),
        ({"lost": 3}, {"max_lost": 5}, "pass", "lost 3"),
        ({"backlog": 7000}, {}, "at_risk", "85% of its limit"),
        ({"backlog": 8192}, {}, "fail", "reached its limit"),
    ],
)
def test_lost_events_and_backlog(
    run: Run, host: Host, fields: dict[str, int], params: dict[str, Any], result: str, why: str
) -> None:
    desired = plan(run, host)
    host.kernel(status=status(**fields), listing=listing_of(desired))
    checks, _ = verify(run, host, **params)
    assert checks["AUD-06"]["result"] == result and why in checks["AUD-06"]["message"]


def test_kernel_settings_and_immutability(run: Run, host: Host) -> None:
    desired = plan(run, host)
    host.kernel(status=status(backlog_limit=64), listing=listing_of(desired))
    checks, _ = verify(run, host)
    assert (
        checks["AUD-02"]["result"] == "fail"
        and "backlog_limit 64 (want 8192)" in checks["AUD-02"]["message"]
    )
    # enabled 2 is derived from the recorded status: -e 2 is never set on the test machine.
    host.kernel(status=status(enabled=2), listing=listing_of(desired))
    checks, _ = verify(run, host)
    assert checks["AUD-02"]["result"] == "fail" and "immutable" in checks["AUD-02"]["message"]
    settings = {"immutable": True}
    checks, _ = verify(run, host, settings=settings)
    assert checks["AUD-02"]["result"] == "pass"
    assert checks["AUD-04"]["result"] == "fail"  # the files still say -e 1
    host.kernel(status=status(enabled=0), listing=listing_of(desired))
    assert "disabled" in verify(run, host)[0]["AUD-02"]["message"]


def test_daemon_down(run: Run, host: Host) -> None:
    desired = plan(run, host)
    host.kernel(status=status(pid=0), listing=listing_of(desired))
    host.systemd(active=False)
    checks, _ = verify(run, host)
    assert checks["AUD-01"]["result"] == "fail"
    assert "auditd is failed" in checks["AUD-01"]["message"]
    assert "pid 0" in checks["AUD-01"]["message"]


def test_missing_audit_tools_are_errors_never_passes(run: Run, host: Host) -> None:
    plan(run, host)
    checks, _ = verify(run, host, auditctl=str(host.tmp / "missing"))
    assert results(checks)["AUD-02"] == "error" and results(checks)["AUD-03"] == "error"
    assert results(checks)["AUD-06"] == "error"
    assert "auditctl not found" in checks["AUD-02"]["message"]


def test_log_partition(run: Run, host: Host) -> None:
    desired = plan(run, host)
    host.kernel(listing=listing_of(desired))
    checks, _ = verify(
        run, host, log_partition={"own_filesystem": True, "min_free_mb": 1, "min_free_percent": 1}
    )
    assert checks["AUD-07"]["result"] == "at_risk"
    assert "not on its own file system" in checks["AUD-07"]["message"]
    checks, _ = verify(
        run,
        host,
        log_partition={
            "own_filesystem": False,
            "min_free_mb": 10**9,
            "min_free_percent": 1,
            "result": "fail",
        },
    )
    assert checks["AUD-07"]["result"] == "fail" and "want at least" in checks["AUD-07"]["message"]


def test_observations_for_the_metrics_file(run: Run, host: Host) -> None:
    from ansible.module_utils import soc2_auditd_family

    desired = plan(run, host)
    host.kernel(status=status(lost=2, backlog=5), listing=listing_of(desired))

    class Module:
        check_mode = False

        def run_command(self, argv: list[str], **_: Any) -> tuple[int, str, str]:
            import subprocess

            proc = subprocess.run(argv, text=True, capture_output=True, check=False)
            return proc.returncode, proc.stdout, proc.stderr

        def get_bin_path(self, name: str) -> str | None:
            path = host.bin / name
            return str(path) if path.exists() else None

    params = soc2_auditd_module_params(host)
    result = soc2_auditd_family.verify(Module(), params)
    metrics = {o["key"]: o["value"] for o in result["observations"]}
    assert metrics["audit_lost_events"] == 2
    assert metrics["audit_backlog"] == 5
    assert metrics["audit_rules_loaded"] == metrics["audit_rules_expected"] == 6
    assert metrics["audit_enabled"] == 1


def soc2_auditd_module_params(host: Host) -> dict[str, Any]:
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    from ansible.module_utils.soc2_auditd_family import ARGUMENT_SPEC

    validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(host.params())
    assert not validated.error_messages
    return validated.validated_parameters


def test_invalid_parameters_fail(run: Run, host: Host) -> None:
    rc, out = run(soc2_auditd, host.params(settings={"backlog_wait_time": 700000}))
    assert rc == 1 and "backlog_wait_time must be 0 .. 599999" in out["msg"]


# ---------------------------------------------------------------- the loader


def test_load_only_when_the_kernel_differs(run: Run, host: Host) -> None:
    desired = plan(run, host)
    host.kernel(listing=listing_of(desired))
    rc, out = run(soc2_auditd_load, host.params())
    assert rc == 0 and out["changed"] is False and out["loaded"] is False
    assert not [c for c in host.calls() if c.startswith("augenrules")]

    host.kernel(listing="No rules\n")
    host.after_load(listing_of(desired))
    rc, out = run(soc2_auditd_load, host.params(), _ansible_check_mode=True)
    assert rc == 0 and out["changed"] is True and out["loaded"] is True
    assert not [c for c in host.calls() if c.startswith("augenrules")]

    rc, out = run(soc2_auditd_load, host.params(), _ansible_diff=True)
    assert rc == 0 and out["changed"] is True, out
    assert out["differences"]["missing"] == desired["desired"]
    assert out["diff"]["before"] == ""
    assert [c for c in host.calls() if c.startswith("augenrules")] == ["augenrules --load"]


def test_load_fails_when_the_kernel_still_differs(run: Run, host: Host) -> None:
    desired = plan(run, host)
    host.kernel(listing="No rules\n")
    host.after_load(listing_of(desired).split("\n", 1)[1])
    rc, out = run(soc2_auditd_load, host.params())
    assert rc == 1 and "still differs" in out["msg"]


def test_load_in_a_container_only_compiles(run: Run, host: Host) -> None:
    plan(run, host)
    host.kernel(refused=True)
    rc, out = run(soc2_auditd_load, host.params())
    assert rc == 0 and out["changed"] is False and "Operation not permitted" in out["reason"]
    (host.rules_dir / "30-soc2-main.rules").write_text("-w /etc/hosts -p wa -k h\n")
    rc, out = run(soc2_auditd_load, host.params())
    assert rc == 0 and out["changed"] is True and out["compiled"] is True and out["loaded"] is False
    assert [c for c in host.calls() if c.startswith("augenrules")] == ["augenrules "]
    assert "-w /etc/hosts -p wa -k h" in host.rules_file.read_text()


def test_load_on_an_immutable_kernel_sets_reboot_required(run: Run, host: Host) -> None:
    plan(run, host)
    host.kernel(status=status(enabled=2), listing="No rules\n")
    rc, out = run(soc2_auditd_load, host.params())
    assert rc == 0 and out["reboot_required"] is True and out["loaded"] is False
    assert "immutable" in out["reason"]
    assert not [c for c in host.calls() if c == "augenrules --load"]


# ---------------------------------------------------------------- the one-pass verifier


def test_soc2_verify_runs_the_aud_family_like_its_own_module(run: Run, host: Host) -> None:
    import soc2_verify

    assert soc2_verify.FAMILIES["aud"].FAMILY == "AUD"
    desired = plan(run, host)
    host.kernel(listing=listing_of(desired))
    rc, own = run(soc2_auditd, host.params())
    rc2, out = run(soc2_verify, {"families": {"aud": host.params()}})
    assert rc == rc2 == 0
    # Same results and messages (AUD-07 reads free space, which moves between the two runs).
    assert [(c["check_id"], c["result"]) for c in out["checks"]] == [
        (c["check_id"], c["result"]) for c in own["checks"]
    ]
    assert out["checks"][:6] == own["checks"][:6]
    assert {o["key"] for o in out["observations"]} >= {
        "audit_lost_events",
        "audit_backlog",
        "audit_rules_loaded",
    }
    # Bad parameters: every AUD check is an error with the reason, never a pass.
    rc, out = run(soc2_verify, {"families": {"aud": host.params(arches=["b128"])}})
    assert rc == 0
    assert {c["result"] for c in out["checks"]} == {"error"}
    assert "b64 or b32" in out["errors"]["aud"]
