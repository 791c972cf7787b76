# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/soc2_auditctl.py: audit rules normalised the way
`auditctl -l` prints them, checked against RECORDED real outputs (tests/unit/fixtures/auditd,
see README.txt there): a corpus of rules written the ways people write them, loaded into this
machine's kernel with `auditctl -R` and listed with `auditctl -l` on Debian 12 (audit 3.0.9) and
13 (audit 4.0.2); the soc2 profile as the kernel scenario loaded it; `auditctl -s` outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.module_utils import soc2_auditctl as A

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "auditd"
USERS = {"root": 0, "daemon": 1, "nobody": 65534}
GROUPS = {"root": 0, "adm": 4}
DIRS = {"/etc/ssh", "/etc/sudoers.d", "/var/log/audit", "/tmp"}
# The one corpus rule audit 4.x lists differently (arch + perm without -S: see test below).
PERM_WITHOUT_S = "-a always,exit -F arch=b64 -F path=/etc/shadow -F perm=aw -k shadow"


def tables(suite: str) -> dict[str, dict[str, int]]:
    out = {}
    for arch in ("b64", "b32"):
        text = (FIXTURES / f"{suite}_ausyscall_{arch}.txt").read_text()
        out[arch] = A.parse_syscall_dump(text)[1]
    return out


def context(suite: str = "bookworm", major: int | None = None) -> A.Context:
    return A.Context(
        tables=tables(suite),
        user=USERS.get,
        group=GROUPS.get,
        isdir=lambda path: path.rstrip("/") in DIRS,
        major=major or (4 if suite == "trixie" else 3),
    )


def listing(name: str) -> list[str]:
    return [ln for ln in (FIXTURES / name).read_text().splitlines() if ln and ln != "No rules"]


def corpus(skip: str | None = None) -> list[A.Rule]:
    text = (FIXTURES / "rewrites.rules").read_text()
    if skip:
        text = "\n".join(ln for ln in text.splitlines() if ln != skip)
    rules, controls, errors = A.parse_text(text, isdir=lambda p: p.rstrip("/") in DIRS)
    assert not errors and not controls
    return rules


def one(line: str, suite: str = "bookworm") -> str:
    rule = A.parse_line(line, isdir=lambda p: p.rstrip("/") in DIRS)
    assert isinstance(rule, A.Rule)
    return A.canonical(rule, context(suite))


# ---------------------------------------------------------------- the recorded corpus


def test_corpus_normalises_to_the_recorded_bookworm_listing() -> None:
    want = [c.text for c in A.canonical_rules(corpus(), context("bookworm"))]
    assert want == listing("rewrites_bookworm.list")


def test_corpus_normalises_to_the_recorded_trixie_listing_except_perm_without_s() -> None:
    have = listing("rewrites_trixie.list")
    want = [c.text for c in A.canonical_rules(corpus(skip=PERM_WITHOUT_S), context("trixie"))]
    expanded = [ln for ln in have if "-F path=/etc/shadow" in ln]
    assert len(expanded) == 1 and expanded[0].count(",") > 30  # the perm classes' syscalls
    assert want == [ln for ln in have if ln not in expanded]


def test_audit_4_rule_with_arch_and_perm_but_no_s_is_refused_not_guessed() -> None:
    rule = A.parse_line(PERM_WITHOUT_S)
    assert isinstance(rule, A.Rule)
    assert one(PERM_WITHOUT_S) == (
        "-a always,exit -F arch=b64 -S all -F path=/etc/shadow -F perm=wa -F key=shadow"
    )
    with pytest.raises(A.RuleSyntaxError, match="write -S all explicitly"):
        A.canonical(rule, context("trixie"))
    explicit = PERM_WITHOUT_S.replace("-F path", "-S all -F path")
    assert one(explicit, "trixie").startswith("-a always,exit -F arch=b64 -S all -F path=")


@pytest.mark.parametrize(
    "name",
    [
        "rewrites_bookworm.list",
        "rewrites_trixie.list",
        "kernel_bookworm_listing_soc2.txt",
        "kernel_trixie_listing_soc2.txt",
    ],
)
def test_a_recorded_listing_re_renders_to_itself(name: str) -> None:
    if not (FIXTURES / name).exists():
        pytest.skip(f"{name} not recorded")
    suite = "trixie" if "trixie" in name else "bookworm"
    lines, unparsed = A.listing_rules((FIXTURES / name).read_text(), context(suite))
    assert unparsed == []
    assert lines == listing(name)


# ---------------------------------------------------------------- each rewrite by itself


def test_action_and_list_print_action_first() -> None:
    assert one("-a exit,always -F arch=b64 -S open -k x") == (
        "-a always,exit -F arch=b64 -S open -F key=x"
    )
    assert one("-a task,always -F uid=0") == "-a always,task -F uid=0"


def test_arch_comes_first_and_prints_as_bits() -> None:
    assert one("-a always,exit -F arch=x86_64 -S open") == "-a always,exit -F arch=b64 -S open"
    assert one("-a always,exit -F arch=i386 -S open") == "-a always,exit -F arch=b32 -S open"
    with pytest.raises(A.RuleSyntaxError, match="arch must be before -S"):
        A.parse_line("-a always,exit -S open -F arch=b64")


def test_syscalls_merge_into_one_list_in_number_order() -> None:
    assert one("-a always,exit -F arch=b64 -S openat -S open -S creat") == (
        "-a always,exit -F arch=b64 -S open,creat,openat"
    )
    # The same names in the i386 table: other numbers, another order.
    assert one("-a always,exit -F arch=b32 -S settimeofday,adjtimex,stime") == (
        "-a always,exit -F arch=b32 -S stime,settimeofday,adjtimex"
    )
    assert one("-a always,exit -F arch=b64 -S 1 -S 0") == "-a always,exit -F arch=b64 -S read,write"
    assert one("-a always,exit -F arch=b32 -S 999") == "-a always,exit -F arch=b32 -S 999"


def test_no_syscall_on_the_exit_list_is_all_and_other_lists_print_none() -> None:
    assert (
        one("-a always,exit -F arch=b64 -F auid=5") == "-a always,exit -F arch=b64 -S all -F auid=5"
    )
    assert one("-a never,exclude -F msgtype=CWD") == "-a never,exclude -F msgtype=CWD"
    with pytest.raises(A.RuleSyntaxError, match="only valid on the exit list"):
        A.parse_line("-a always,exclude -S open")


def test_keys_move_last_as_f_key_on_syscall_rules_and_k_on_watches() -> None:
    assert one("-a always,exit -F arch=b64 -S open -F key=abc -F uid=0 -k def") == (
        "-a always,exit -F arch=b64 -S open -F uid=0 -F key=abc -F key=def"
    )
    assert one("-w /etc/multi -p wa -k k1 -k k2") == "-w /etc/multi -p wa -k k1 -k k2"
    assert one("-a always,exit -F arch=b64 -S execve -F key=") == (
        "-a always,exit -F arch=b64 -S execve"
    )
    assert one("-a always,exit -F arch=b64 -S creat -F key=a,b") == (
        "-a always,exit -F arch=b64 -S creat -F key=a,b"
    )


@pytest.mark.parametrize("unset", ["unset", "4294967295", "-1", "UNSET"])
def test_auid_unset_prints_as_minus_one(unset: str) -> None:
    assert one(f"-a always,exit -F arch=b64 -S mount -F auid!={unset} -k m") == (
        "-a always,exit -F arch=b64 -S mount -F auid!=-1 -F key=m"
    )


def test_ids_print_as_signed_numbers_and_names_resolve() -> None:
    assert one("-a always,exit -F arch=b64 -S open -F uid>=4294967294") == (
        "-a always,exit -F arch=b64 -S open -F uid>=-2"
    )
    assert one("-a always,exit -F arch=b64 -S open -F uid!=root -F gid=adm -F euid=daemon") == (
        "-a always,exit -F arch=b64 -S open -F uid!=0 -F gid=4 -F euid=1"
    )
    assert one("-a always,exit -F arch=b64 -S execve -F loginuid=5") == (
        "-a always,exit -F arch=b64 -S execve -F auid=5"
    )
    rule = A.parse_line("-a never,exit -F arch=b64 -S adjtimex -F uid=_chrony")
    assert isinstance(rule, A.Rule)
    with pytest.raises(A.UnresolvedName, match="unknown user '_chrony'"):
        A.canonical(rule, context())


def test_watch_forms() -> None:
    # -w drops a trailing slash; -p defaults to rwxa; perms print in rwxa order.
    assert one("-w /etc/sudoers.d/ -p aw -k s") == "-w /etc/sudoers.d -p wa -k s"
    assert one("-w /etc/nowhere") == "-w /etc/nowhere -p rwxa"
    # A path/perm rule without arch on the exit list lists as a watch; -F dir= keeps its slash.
    assert one("-a always,exit -F path=/etc/group -F perm=wa -k g") == "-w /etc/group -p wa -k g"
    assert one("-a always,exit -F dir=/etc/ssh/ -F perm=wa -k s") == "-w /etc/ssh/ -p wa -k s"
    # ... with perm first, auditctl prints its fields in that order, unseparated.
    assert (
        one("-a always,exit -F perm=wa -F path=/etc/hosts -F key=h") == " -p wa-w /etc/hosts -k h"
    )
    # With an arch, or another field, it stays a syscall rule with -S all.
    assert one("-a always,exit -F arch=b64 -F path=/etc/shadow -F perm=wa -k s") == (
        "-a always,exit -F arch=b64 -S all -F path=/etc/shadow -F perm=wa -F key=s"
    )
    assert one("-w /etc/filtered -p wa -k f -F auid>=1000") == (
        "-a always,exit -S all -F path=/etc/filtered -F perm=wa -F auid>=1000 -F key=f"
    )
    assert one("-w /etc/ssh -p wa -k s -F auid>=1000") == (
        "-a always,exit -S all -F dir=/etc/ssh -F perm=wa -F auid>=1000 -F key=s"
    )


def test_the_quirky_watch_listing_parses_back() -> None:
    rule = A.parse_line(" -p wa-w /etc/hosts -k hosts", listing=True)
    assert isinstance(rule, A.Rule)
    assert A.canonical(rule, context(), listing=True) == " -p wa-w /etc/hosts -k hosts"


def test_values_print_like_auditctl() -> None:
    assert one("-a always,exit -F arch=b64 -S chmod -F a2&0100") == (
        "-a always,exit -F arch=b64 -S chmod -F a2&0x40"
    )
    assert one("-a always,exit -F arch=b64 -S personality -F a0!=0xffffffff") == (
        "-a always,exit -F arch=b64 -S personality -F a0!=0xFFFFFFFF"
    )
    assert one("-a always,exit -F arch=b64 -S openat -F exit=-13") == (
        "-a always,exit -F arch=b64 -S openat -F exit=-EACCES"
    )
    assert one("-a always,exit -F arch=b64 -S all -F exit=-1") == (
        "-a always,exit -F arch=b64 -S all -F exit=-EPERM"
    )
    assert one("-a always,exit -F arch=b64 -S open -F filetype=file") == (
        "-a always,exit -F arch=b64 -S open -F filetype=32768"
    )
    assert one("-a always,exclude -F msgtype=1327") == "-a always,exclude -F msgtype=PROCTITLE"
    assert one("-a never,exclude -F msgtype=eoe") == "-a never,exclude -F msgtype=EOE"


def test_comparisons_print_in_the_kernels_pair_order() -> None:
    assert one("-a always,exit -F arch=b64 -C euid!=uid -F auid!=unset -S execve -k e") == (
        "-a always,exit -F arch=b64 -S execve -C uid!=euid -F auid!=-1 -F key=e"
    )
    assert one("-a always,exit -F arch=b64 -S execve -C auid!=uid") == (
        "-a always,exit -F arch=b64 -S execve -C uid!=auid"
    )
    rule = A.parse_line("-a always,exit -F arch=b64 -S open -C pid=ppid")
    assert isinstance(rule, A.Rule)
    with pytest.raises(A.RuleSyntaxError, match="not a comparison"):
        A.canonical(rule, context())


def test_a_rule_without_arch_lists_with_the_previous_rules_arch() -> None:
    """auditctl -l keeps the last arch it printed: an arch-less rule loaded with the native
    numbers of open/openat (2, 257) lists after a b32 rule with the i386 names of 2 and 257."""
    rules = corpus()
    lines = [c.text for c in A.canonical_rules(rules, context())]
    assert "-a always,exit -S fork,remap_file_pages -F exit=-EACCES -F auid>=1000" in lines
    alone = A.parse_line("-a always,exit -S openat -S open -F exit=-EACCES -F auid>=1000")
    assert isinstance(alone, A.Rule)
    assert [c.text for c in A.canonical_rules([alone], context())] == [
        "-a always,exit -S open,openat -F exit=-EACCES -F auid>=1000"
    ]


def test_rules_list_grouped_by_filter_list() -> None:
    rules, _, _ = A.parse_text(
        "-a never,exclude -F msgtype=CWD\n-w /etc/passwd -p wa -k i\n-a always,user -F uid=0\n"
    )
    assert [c.text for c in A.canonical_rules(rules, context())] == [
        "-a always,user -F uid=0",
        "-w /etc/passwd -p wa -k i",
        "-a never,exclude -F msgtype=CWD",
    ]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("-w etc/passwd -p wa", "absolute path"),
        ("-w /etc/passwd -p wq", "letters of rwxa"),
        ("-a always,exit -F arch=b64 -S open -F colour=red", "unknown field"),
        ("-a always,sometimes -S open", "one action"),
        ("-a always,exit -F arch=b128 -S open", "unknown arch"),
        ("-b lots", "needs one number"),
        ("-S open", "no -a or -w"),
    ],
)
def test_lines_auditctl_would_refuse(line: str, why: str) -> None:
    with pytest.raises(A.RuleSyntaxError, match=why):
        A.parse_line(line)


def test_unknown_syscall_for_the_rules_arch() -> None:
    rule = A.parse_line("-a always,exit -F arch=b64 -S stime")
    assert isinstance(rule, A.Rule)
    with pytest.raises(A.UnresolvedName, match="'stime' does not exist on b64"):
        A.canonical(rule, context())


def test_controls_and_comments() -> None:
    rules, controls, errors = A.parse_text(
        "## head\n-D\n-b 8192\n--backlog_wait_time 60000\n-f 1\n\n# c\n-e 1\n--loginuid-immutable\n"
    )
    assert rules == [] and errors == []
    assert A.control_settings(controls) == {
        "delete_all": True,
        "backlog_limit": 8192,
        "backlog_wait_time": 60000,
        "failure": 1,
        "enabled": 1,
        "loginuid_immutable": 1,
    }


# ---------------------------------------------------------------- augenrules, compare


def test_augenrules_reads_files_in_natural_order() -> None:
    names = ["99-finalize.rules", "10-base.rules", "9-early.rules", "100-late.rules", "x.conf"]
    assert A.augenrules_order(names) == [
        "9-early.rules",
        "10-base.rules",
        "99-finalize.rules",
        "100-late.rules",
    ]


def test_augenrules_merge_keeps_the_last_control_lines() -> None:
    merged = A.merge_rules_files(
        [
            ("10.rules", "-D\n-b 64\n-f 2\n# comment\n-w /etc/passwd -p wa\n-e 2\n"),
            ("20.rules", "\n-b 8192\n--backlog_wait_time 60000\n-f 1\n-e 1\n-w /etc/group -p wa\n"),
        ]
    )
    assert merged == [
        "-D",
        "-b 8192",
        "-f 1",
        "-w /etc/passwd -p wa",
        "--backlog_wait_time 60000",
        "-w /etc/group -p wa",
        "-e 1",
    ]


def test_compare_lists_missing_extra_and_order() -> None:
    assert A.compare(["a", "b"], ["a", "b"]) == {
        "equal": True,
        "missing": [],
        "extra": [],
        "order_differs": False,
    }
    result = A.compare(["a", "b", "c"], ["a", "x", "c", "c"])
    assert result["missing"] == ["b"] and result["extra"] == ["x", "c"]
    assert A.compare(["a", "b"], ["b", "a"])["order_differs"] is True


# ---------------------------------------------------------------- other outputs


def test_status_of_an_idle_and_a_running_kernel() -> None:
    idle = A.parse_status((FIXTURES / "kernel_bookworm_status_before.txt").read_text())
    assert idle["enabled"] == 0 and idle["pid"] == 0 and idle["backlog_limit"] == 64
    running = A.parse_status((FIXTURES / "kernel_bookworm_status_running.txt").read_text())
    assert running["enabled"] == 1 and running["pid"] > 0 and running["backlog_limit"] == 8192
    assert running["loginuid_immutable"] == 0 and running["loginuid_immutable_locked"] is False
    with pytest.raises(ValueError, match="no 'lost' line"):
        A.parse_status("enabled 1\nfailure 1\npid 0\nbacklog_limit 64\nbacklog 0\n")


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_the_kernel_refusing_audit_in_a_container_is_recognised(suite: str) -> None:
    stderr = (FIXTURES / f"container_{suite}_status.stderr.txt").read_text()
    assert A.kernel_refused(stderr)
    assert not A.kernel_refused("Error sending status request (Connection refused)")


def test_syscall_dumps() -> None:
    name, table = A.parse_syscall_dump((FIXTURES / "bookworm_ausyscall_b32.txt").read_text())
    assert name == "i386" and table["stime"] == 25 and "sys_kexec_load" in table
    name, table = A.parse_syscall_dump((FIXTURES / "trixie_ausyscall_b64.txt").read_text())
    assert name == "x86_64" and table["fchmodat2"] == 452
    with pytest.raises(ValueError, match="unexpected ausyscall header"):
        A.parse_syscall_dump("Unknown machine type\n")


def test_auditd_conf_parsing() -> None:
    conf, problems = A.parse_conf(
        "# c\nlog_format = ENRICHED\nFLUSH=data\nbad line\nflush = sync\n"
    )
    assert conf == {"log_format": "ENRICHED", "flush": "sync"}
    assert problems == ["line 4: no '=' in 'bad line'", "line 5: flush set again"]
