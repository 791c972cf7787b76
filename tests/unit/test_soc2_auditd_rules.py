# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/soc2_auditd_rules.py: rule records to rules (and their
files), syscall names against the host's tables, setuid/setgid discovery, auditd.conf per
version; and the shipped profiles (roles/auditd/vars/main.yml) against the recorded tables and
the rules the kernel scenario loaded."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from ansible.module_utils import soc2_auditctl as A
from ansible.module_utils import soc2_auditd_rules as R

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "auditd"
MACHINES = ("x86_64", "i386", "aarch64", "arm", "ppc", "ppc64", "ppc64le", "s390", "s390x")


def tables(suite: str) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    host = {
        arch: A.parse_syscall_dump((FIXTURES / f"{suite}_ausyscall_{arch}.txt").read_text())[1]
        for arch in ("b64", "b32")
    }
    machines = {
        m: A.parse_syscall_dump((FIXTURES / f"{suite}_ausyscall_{m}.txt").read_text())[1]
        for m in MACHINES
    }
    return host, machines


def ctx(suite: str = "bookworm") -> A.Context:
    host, _ = tables(suite)
    return A.Context(
        tables=host,
        user={"root": 0, "_chrony": 100}.get,
        group={"root": 0}.get,
        major=4 if suite == "trixie" else 3,
    )


def build(records: list[dict[str, Any]], suite: str = "bookworm", **kw: Any) -> dict[str, Any]:
    host, machines = tables(suite)
    kw.setdefault("exists", lambda _p: True)
    return R.build(
        records,
        arches=kw.pop("arches", ["b64", "b32"]),
        host_tables=host,
        all_tables=machines,
        watch_style=kw.pop("watch_style", "watch"),
        ctx=kw.pop("ctx", ctx(suite)),
        **kw,
    )


def profiles(uid_min: int = 1000) -> dict[str, list[dict[str, Any]]]:
    data = yaml.safe_load((REPO / "roles" / "auditd" / "vars" / "main.yml").read_text())
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)

    def render(value: Any) -> Any:
        if isinstance(value, str):
            return env.from_string(value).render(auditd_uid_min=uid_min)
        if isinstance(value, list):
            return [render(v) for v in value]
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        return value

    return render(data["_auditd_profiles"])


# ---------------------------------------------------------------- records


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ({"id": "x", "kind": "watch", "paths": ["etc/passwd"], "key": "k"}, "is not absolute"),
        ({"id": "x", "kind": "watch", "paths": ["/etc/my file"], "key": "k"}, "white space"),
        ({"id": "x", "kind": "watch", "paths": ["/etc/p"], "perms": "wq", "key": "k"}, "rwxa"),
        ({"id": "x", "kind": "watch", "paths": [], "key": "k"}, "needs paths"),
        ({"id": "x", "kind": "syscall", "syscalls": [], "key": "k"}, "needs syscalls"),
        ({"id": "x", "kind": "syscall", "syscalls": ["open"]}, "needs a key"),
        ({"id": "x", "kind": "syscall", "syscalls": ["Open!"], "key": "k"}, "not a syscall name"),
        (
            {"id": "x", "kind": "syscall", "syscalls": ["open"], "key": "k", "arch": ["b16"]},
            "b64 or b32",
        ),
        (
            {
                "id": "x",
                "kind": "syscall",
                "syscalls": ["open"],
                "key": "k",
                "filters": ["colour=red"],
            },
            "unknown field",
        ),
        (
            {
                "id": "x",
                "kind": "syscall",
                "syscalls": ["open"],
                "key": "k",
                "filters": ["arch=b64"],
            },
            "use the record's",
        ),
        (
            {
                "id": "x",
                "kind": "syscall",
                "syscalls": ["open"],
                "key": "k",
                "compare": ["pid!=ppid"],
            },
            "cannot compare",
        ),
        (
            {"id": "x", "kind": "syscall", "list": "exclude", "syscalls": ["open"]},
            "takes no syscalls",
        ),
        ({"id": "x", "kind": "exe", "paths": ["/usr/bin/su"], "perms": "w", "key": "k"}, "perms x"),
        ({"id": "Bad Id", "kind": "exe", "paths": ["/usr/bin/su"], "key": "k"}, "id must match"),
        (
            {"id": "x", "kind": "exe", "paths": ["/usr/bin/su"], "key": "two words"},
            "key 'two words'",
        ),
        ({"id": "x", "kind": "pipe", "paths": ["/usr/bin/su"], "key": "k"}, "kind must be one of"),
    ],
)
def test_bad_records(record: dict[str, Any], why: str) -> None:
    problems = R.validate_record(record)
    assert any(why in p for p in problems), problems


def test_unknown_syscall_everywhere_is_an_error_and_elsewhere_a_warning() -> None:
    out = build([{"id": "typo", "kind": "syscall", "syscalls": ["etxattr"], "key": "k"}])
    assert out["errors"] == [
        "rule typo: syscall 'etxattr' exists on no architecture (ausyscall --dump); "
        "check the spelling"
    ]
    out = build([{"id": "t", "kind": "syscall", "syscalls": ["stime", "settimeofday"], "key": "k"}])
    assert out["errors"] == []
    assert out["warnings"] == ["rule t: stime not on b64 here, dropped for b64"]
    assert out["desired"] == [
        "-a always,exit -F arch=b64 -S settimeofday -F key=k",
        "-a always,exit -F arch=b32 -S stime,settimeofday -F key=k",
    ]
    # Exists only on another machine (aarch64 has no open; i386 and x86_64 have no
    # renameat-less-arm calls...): dropped per arch with a warning, never silently.
    out = build([{"id": "s", "kind": "syscall", "syscalls": ["socketcall"], "key": "k"}])
    assert out["warnings"] == [
        "rule s: socketcall not on b64 here, dropped for b64",
        "rule s: no syscall of it exists on b64, no b64 rule",
    ]


def test_a_syscall_new_in_audit_4_is_unknown_to_audit_3_tables() -> None:
    record = {"id": "n", "kind": "syscall", "syscalls": ["fchmodat2"], "key": "k"}
    assert build([record], "bookworm")["errors"]
    out = build([record], "trixie")
    assert (
        out["errors"] == []
        and out["desired"][0] == "-a always,exit -F arch=b64 -S fchmodat2 -F key=k"
    )


def test_watch_exe_and_directory_shapes() -> None:
    out = build(
        [
            {"id": "w", "kind": "watch", "paths": ["/etc/passwd", "/etc/sudoers.d/"], "key": "i"},
            {
                "id": "d",
                "kind": "watch",
                "paths": ["/var/log/audit/"],
                "key": "l",
                "filters": ["auid!=unset"],
            },
            {"id": "e", "kind": "exe", "paths": ["/usr/bin/kmod"], "key": "m"},
            {
                "id": "f",
                "kind": "exe",
                "paths": ["/usr/bin/su"],
                "key": "p",
                "filters": ["auid>=1000"],
            },
        ]
    )
    assert out["groups"]["main"][0]["lines"] == [
        "-w /etc/passwd -p wa -k i",
        "-w /etc/sudoers.d -p wa -k i",
    ]
    assert out["groups"]["main"][1]["lines"] == [
        "-a always,exit -F dir=/var/log/audit -F perm=wa -F auid!=unset -F key=l"
    ]
    assert out["desired"] == [
        "-w /etc/passwd -p wa -k i",
        "-w /etc/sudoers.d -p wa -k i",
        "-a always,exit -S all -F dir=/var/log/audit -F perm=wa -F auid!=-1 -F key=l",
        "-w /usr/bin/kmod -p x -k m",
        "-a always,exit -S all -F path=/usr/bin/su -F perm=x -F auid>=1000 -F key=p",
    ]


def test_syscall_watch_style_writes_one_rule_per_arch() -> None:
    out = build(
        [{"id": "w", "kind": "watch", "paths": ["/etc/passwd", "/etc/pam.d/"], "key": "i"}],
        watch_style="syscall",
    )
    assert out["desired"] == [
        "-a always,exit -F arch=b64 -S all -F path=/etc/passwd -F perm=wa -F key=i",
        "-a always,exit -F arch=b32 -S all -F path=/etc/passwd -F perm=wa -F key=i",
        "-a always,exit -F arch=b64 -S all -F dir=/etc/pam.d -F perm=wa -F key=i",
        "-a always,exit -F arch=b32 -S all -F dir=/etc/pam.d -F perm=wa -F key=i",
    ]
    # audit 4.x would expand "-F perm" without -S: the role always writes -S all.
    assert all("-S all" in line for e in out["groups"]["main"] for line in e["lines"])
    assert (
        build(
            [{"id": "w", "kind": "watch", "paths": ["/etc/passwd"], "key": "i"}],
            "trixie",
            watch_style="syscall",
        )["errors"]
        == []
    )


def test_missing_directory_drops_the_watch_with_a_warning_unless_optional() -> None:
    rec = {"id": "w", "kind": "watch", "paths": ["/nowhere/file", "/etc/passwd"], "key": "i"}
    exists = lambda p: not p.startswith("/nowhere")  # noqa: E731
    out = build([rec], exists=exists)
    assert out["warnings"] == ["rule w: /nowhere does not exist here, no watch on /nowhere/file"]
    assert out["desired"] == ["-w /etc/passwd -p wa -k i"]
    assert build([{**rec, "optional": True}], exists=exists)["warnings"] == []


def test_unknown_users_drop_the_rule_quietly_when_optional() -> None:
    rec = {
        "id": "c",
        "kind": "syscall",
        "action": "never",
        "syscalls": ["adjtimex"],
        "filters": ["uid=ntp"],
    }
    assert build([rec])["warnings"] == [
        "rule c: unknown user 'ntp' in -F uid; rule dropped",
        "rule c: unknown user 'ntp' in -F uid; rule dropped",
    ]
    assert build([{**rec, "optional": True}])["warnings"] == []
    out = build([{**rec, "filters": ["auid=unset", "uid=_chrony"]}])
    assert out["groups"]["exclusions"][0]["lines"][0] == (
        "-a never,exit -F arch=b64 -S adjtimex -F auid=unset -F uid=_chrony"
    )
    assert out["desired"][0] == "-a never,exit -F arch=b64 -S adjtimex -F auid=-1 -F uid=100"


def test_order_exclusions_privileged_main_and_late_rules_last() -> None:
    out = build(
        [
            {
                "id": "all-exec",
                "kind": "syscall",
                "syscalls": ["execve"],
                "key": "x",
                "arch": ["b64"],
                "late": True,
            },
            {"id": "id", "kind": "watch", "paths": ["/etc/passwd"], "key": "i"},
            {"id": "ex", "kind": "syscall", "list": "exclude", "filters": ["msgtype=CWD"]},
            {
                "id": "never",
                "kind": "syscall",
                "action": "never",
                "syscalls": ["adjtimex"],
                "arch": ["b64"],
                "filters": ["auid=unset"],
            },
        ],
        privileged=["/usr/bin/su"],
        privileged_key="p",
        privileged_filters=["auid>=1000"],
    )
    assert [e["id"] for e in out["groups"]["main"]] == ["id", "all-exec"]
    assert out["desired"] == [
        "-a never,exit -F arch=b64 -S adjtimex -F auid=-1",
        "-a always,exit -S all -F path=/usr/bin/su -F perm=x -F auid>=1000 -F key=p",
        "-w /etc/passwd -p wa -k i",
        "-a always,exit -F arch=b64 -S execve -F key=x",
        "-a always,exclude -F msgtype=CWD",
    ]


def test_duplicate_rules_are_loaded_once_and_duplicate_ids_fail() -> None:
    rec = {"id": "a", "kind": "watch", "paths": ["/etc/passwd"], "key": "i"}
    out = build([rec, {**rec, "id": "b"}])
    assert out["warnings"] == ["rule b: same rule as a (-w /etc/passwd -p wa -k i); loaded once"]
    assert len(out["desired"]) == 1
    assert build([rec, rec])["errors"][0] == "rule id 'a' is used twice"


def test_disabled_records_are_left_out() -> None:
    rec = {"id": "a", "kind": "watch", "paths": ["/etc/passwd"], "key": "i", "enabled": False}
    assert build([rec])["desired"] == []


def test_files() -> None:
    out = build(
        [
            {
                "id": "id",
                "kind": "watch",
                "paths": ["/etc/passwd"],
                "key": "i",
                "description": "accounts",
            }
        ],
        privileged=["/usr/bin/su"],
        privileged_key="p",
    )
    settings = {
        "backlog_limit": 8192,
        "backlog_wait_time": 60000,
        "failure_mode": 1,
        "rate_limit": 0,
        "immutable": False,
        "loginuid_immutable": True,
    }
    files = R.render_files(out["groups"], settings, R.DEFAULT_FILES)
    assert sorted(files) == [
        "10-soc2-base.rules",
        "20-soc2-exclusions.rules",
        "25-soc2-privileged.rules",
        "30-soc2-main.rules",
        "99-soc2-finalize.rules",
    ]
    base = [ln for ln in files["10-soc2-base.rules"].splitlines() if not ln.startswith("#")]
    assert base == ["-D", "-b 8192", "--backlog_wait_time 60000", "-f 1", "--loginuid-immutable"]
    assert "# id: accounts\n-w /etc/passwd -p wa -k i\n" in files["30-soc2-main.rules"]
    assert files["99-soc2-finalize.rules"].endswith("-e 1\n")
    assert R.render_files(out["groups"], {**settings, "immutable": True}, R.DEFAULT_FILES)[
        "99-soc2-finalize.rules"
    ].endswith("-e 2\n")
    # The files merged as augenrules does give back the desired rules.
    merged = A.merge_rules_files([(n, files[n]) for n in A.augenrules_order(files)])
    rules, controls, errors = A.parse_text("\n".join(merged))
    assert errors == []
    assert [c.text for c in A.canonical_rules(rules, ctx())] == out["desired"]
    assert A.control_settings(controls)["enabled"] == 1


# ---------------------------------------------------------------- privileged programs


def test_discovery_is_sorted_and_skips_excluded_paths_and_mounts(tmp_path: Path) -> None:
    def program(rel: str, mode: int) -> None:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n")
        os.chmod(path, mode)

    program("usr/bin/zz-setuid", 0o4755)
    program("usr/bin/aa-setgid", 0o2755)
    program("usr/bin/plain", 0o755)
    program("var/lib/docker/overlay/bin/su", 0o4755)
    program("mnt/nfs/bin/su", 0o4755)
    os.symlink(tmp_path / "usr/bin/zz-setuid", tmp_path / "usr/bin/link")
    mounts = R.parse_mounts(f"server:/x {tmp_path}/mnt/nfs nfs4 rw 0 0\nproc /proc proc rw 0 0\n")
    found = R.discover_privileged(
        [str(tmp_path)], [str(tmp_path / "var/lib/docker")], mounts, R.DEFAULT_EXCLUDE_FSTYPES
    )
    assert found["paths"] == [
        str(tmp_path / "usr/bin/aa-setgid"),
        str(tmp_path / "usr/bin/zz-setuid"),
    ]
    assert str(tmp_path / "mnt/nfs") in found["skipped"]
    assert stat.S_ISREG(os.lstat(found["paths"][0]).st_mode)


def test_mount_points_with_escapes() -> None:
    assert R.parse_mounts("tmpfs /mnt/with\\040space tmpfs rw 0 0\n") == [
        ("/mnt/with space", "tmpfs")
    ]
    assert R.excluded_mounts(
        [("/", "tmpfs"), ("/run", "tmpfs"), ("/x", "fuse.sshfs")], ["tmpfs", "fuse.*"]
    ) == [
        "/run",
        "/x",
    ]


# ---------------------------------------------------------------- auditd.conf


def test_conf_per_major_version() -> None:
    config = {
        "log_format": "enriched",
        "q_depth": 2000,
        "dispatcher": "/sbin/audispd",
        "write_logs": True,
    }
    pairs, problems = R.expected_conf(config, 3)
    assert problems == [] and pairs == [
        ("write_logs", "yes"),
        ("log_format", "ENRICHED"),
        ("q_depth", "2000"),
    ]
    pairs, problems = R.expected_conf(config, 2)
    assert (
        problems == [] and ("dispatcher", "/sbin/audispd") in pairs and "q_depth" not in dict(pairs)
    )
    assert R.expected_conf(config, 4)[0] == R.expected_conf(config, 3)[0]


@pytest.mark.parametrize(
    ("config", "why"),
    [
        (
            {"overflow_action": "explode"},
            "overflow_action must be one of IGNORE, SYSLOG, SUSPEND, SINGLE, HALT",
        ),
        ({"disk_error_action": "rotate"}, "disk_error_action must be one of"),
        ({"disk_full_action": "exec"}, "needs an absolute script path"),
        ({"space_left": "150%"}, "megabytes or 1%..99%"),
        ({"num_logs": 1000}, "num_logs must be 999 or less"),
        ({"log_file": "audit.log"}, "absolute path"),
        ({"tcp_listen_port": 70000}, "1..65535"),
        ({"write_logs": "maybe"}, "yes or no"),
        ({"colour": "red"}, "'colour' is not an auditd.conf option"),
        (
            {"space_left": "10%", "admin_space_left": "20%"},
            "admin_space_left must be below space_left",
        ),
    ],
)
def test_conf_values_auditd_would_refuse(config: dict[str, Any], why: str) -> None:
    _, problems = R.expected_conf(config, 3)
    assert any(why in p for p in problems), problems


def test_conf_values_compare_as_auditd_reads_them() -> None:
    pairs, _ = R.expected_conf(
        {"disk_full_action": "EXEC /usr/local/bin/full", "log_group": "adm"}, 3
    )
    want = dict(pairs)
    assert want["disk_full_action"] == "EXEC /usr/local/bin/full"
    assert R.same_conf_value(
        "disk_full_action", want["disk_full_action"], "exec /usr/local/bin/full", 3
    )
    assert not R.same_conf_value(
        "disk_full_action", want["disk_full_action"], "exec /usr/local/bin/FULL", 3
    )
    assert R.same_conf_value("log_group", "adm", "adm", 3)
    assert not R.same_conf_value("log_group", "adm", "ADM", 3)


# ---------------------------------------------------------------- the shipped profiles


def test_profiles_are_valid_and_keys_name_a_criterion() -> None:
    ids: set[str] = set()
    for name, records in profiles().items():
        for rec in records:
            assert not R.validate_record(rec), (name, rec["id"], R.validate_record(rec))
            assert rec["id"] not in ids, rec["id"]
            ids.add(rec["id"])
            if rec.get("key"):
                assert rec["key"].startswith(("soc2-cc", "soc2-a1", "soc2-pi")), rec["key"]


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_every_profile_builds_without_warnings_on_debian_x86_64(suite: str) -> None:
    everything = [r for records in profiles().values() for r in records]
    out = build(everything, suite)
    assert out["errors"] == []
    assert out["warnings"] == []
    # Every always rule on the exit list carries a soc2 key.
    for line in out["desired"]:
        if line.startswith(("-w", "-a always,exit", " -p")):
            assert "soc2-" in line, line


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_soc2_profile_equals_what_the_kernel_scenario_loaded(suite: str) -> None:
    """The desired rules of the default profile, normalised here, equal the real `auditctl -l`
    of the kernel scenario (same container image, so the same setuid programs)."""
    recorded = FIXTURES / f"kernel_{suite}_listing_soc2.txt"
    if not recorded.exists():
        pytest.skip(f"{recorded.name} not recorded")
    listing = recorded.read_text().splitlines()
    privileged = sorted(
        line.split("-F path=")[1].split()[0]
        for line in listing
        if "-F key=soc2-cc6.3-privileged-cmd" in line
    )
    context = A.Context(
        tables=tables(suite)[0],
        user={"root": 0}.get,
        group={"root": 0}.get,
        major=4 if suite == "trixie" else 3,
    )
    out = build(
        profiles()["soc2"],
        suite,
        ctx=context,
        privileged=privileged,
        privileged_key="soc2-cc6.3-privileged-cmd",
        privileged_filters=["auid>=1000", "auid!=unset"],
    )
    assert out["errors"] == []
    assert out["desired"] == listing
