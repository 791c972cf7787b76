# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HOST family's os part (plugins/module_utils/soc2_host_os.py) on files and outputs
recorded on a Debian 12 lab container before and after the os_hardening role
(tests/unit/fixtures/host/README.txt), the os_hardening role's filters
(plugins/filter/os_hardening.py), and one real run of the part on this machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.module_utils import soc2_host_os as osp
from ansible.module_utils.soc2_nft import normalise_table, parse_json
from plugin_loader import load_plugin

REPO = Path(__file__).resolve().parents[2]
FIX = Path(__file__).resolve().parent / "fixtures" / "host"
NFT = Path(__file__).resolve().parent / "fixtures" / "nft"
DEFAULTS = yaml.safe_load((REPO / "roles" / "os_hardening" / "defaults" / "main.yml").read_text())
filters = load_plugin("plugins/filter/os_hardening.py")


def text(name: str) -> str:
    return (FIX / name).read_text()


def files(*names: str) -> list[tuple[str, str]]:
    return [(name, text(name)) for name in names]


# ---------------------------------------------------------------- HOST-01
def test_sysctl_pass_lists_the_container_skips() -> None:
    wanted = {"net.ipv4.conf.all.rp_filter": 1, "kernel.kptr_restrict": 2}
    live = {"net.ipv4.conf.all.rp_filter": "1"}
    check = osp.assess_sysctl(wanted, live, ["kernel.kptr_restrict"], "podman")
    assert check["result"] == "pass"
    assert "not read in a container (podman" in check["message"]
    assert "kernel.kptr_restrict" in check["message"]
    assert check["expected"] == {"net.ipv4.conf.all.rp_filter": "1"}


def test_sysctl_changed_at_run_time_fails_with_the_name() -> None:
    wanted = {"net.ipv4.conf.all.accept_redirects": 0, "net.ipv4.tcp_syncookies": 1}
    live = {"net.ipv4.conf.all.accept_redirects": "1", "net.ipv4.tcp_syncookies": "1"}
    check = osp.assess_sysctl(wanted, live, [], "")
    assert check["result"] == "fail"
    assert check["message"] == "net.ipv4.conf.all.accept_redirects is 1, not 0"
    missing = osp.assess_sysctl({"net.ipv4.nope": 1}, {"net.ipv4.nope": None}, [], "")
    assert missing["message"] == "net.ipv4.nope does not exist"


def test_sysctl_values_compare_whitespace_collapsed() -> None:
    live = {"net.ipv4.ip_local_port_range": "32768 60999"}
    check = osp.assess_sysctl({"net.ipv4.ip_local_port_range": "32768\t60999"}, live, [], "")
    assert check["result"] == "pass"
    assert osp.assess_sysctl({}, {}, [], "")["result"] == "not_applicable"


def test_container_skip_prefixes_and_names() -> None:
    skip = DEFAULTS["os_hardening_sysctl_container_skip"]
    assert skip == list(osp.CONTAINER_SKIP)
    assert osp.is_skipped("kernel.yama.ptrace_scope", skip)
    assert osp.is_skipped("fs.suid_dumpable", skip)
    assert osp.is_skipped("net.core.bpf_jit_harden", skip)
    assert not osp.is_skipped("net.core.somaxconn", skip)
    assert not osp.is_skipped("net.ipv4.conf.all.rp_filter", skip)
    split = filters.sysctl_split(DEFAULTS["os_hardening_sysctl"], "podman", skip)
    assert all(name.startswith("net.") for name in split["set"])
    assert "kernel.kptr_restrict" in split["skipped"]
    assert filters.sysctl_split({"kernel.kptr_restrict": 2}, "", skip)["skipped"] == []


# ---------------------------------------------------------------- HOST-02
def test_coredump_hardened_and_stock() -> None:
    hardened = osp.parse_limits(
        files("hardened_security_limits.conf", "hardened_security_limits.d_60-soc2-coredump.conf")
    )
    conf = osp.parse_ini(
        files("hardened_systemd_coredump.conf", "hardened_systemd_coredump.conf.d_60-soc2.conf"),
        "Coredump",
    )
    assert conf == {"Storage": "none", "ProcessSizeMax": "0"}
    check = osp.assess_coredump(True, hardened, conf, None, "podman")
    assert check["result"] == "pass", check
    assert "fs.suid_dumpable not read in a container" in check["message"]
    assert osp.assess_coredump(True, hardened, conf, "0", "")["result"] == "pass"
    assert "fs.suid_dumpable is 2" in osp.assess_coredump(True, hardened, conf, "2", "")["message"]
    stock = osp.assess_coredump(
        True, osp.parse_limits(files("stock_security_limits.conf")), {}, None, "podman"
    )
    assert stock["result"] == "fail"
    assert "no '* hard core 0'" in stock["message"] and "Storage is external" in stock["message"]
    granted = [
        *hardened,
        {"file": "x.conf", "domain": "@dev", "type": "hard", "item": "core", "value": "unlimited"},
    ]
    assert "x.conf allows @dev" in osp.assess_coredump(True, granted, conf, "0", "")["message"]


# ---------------------------------------------------------------- HOST-03
def test_modules_blacklisted_and_loaded() -> None:
    wanted = DEFAULTS["os_hardening_modules_blacklist"]
    conf = osp.parse_modprobe(files("hardened_modprobe.d_60-soc2-blacklist.conf"))
    assert osp.assess_modules(wanted, conf, None, "podman")["result"] == "pass"
    loaded = osp.parse_proc_modules("sctp 434176 2 - Live 0x0\nnf_tables 1 0 - Live 0x0\n")
    check = osp.assess_modules(wanted, conf, loaded, "")
    assert check["result"] == "fail" and check["message"] == "sctp is loaded"
    none = osp.assess_modules(wanted, {}, set(), "")
    assert none["result"] == "fail" and "cramfs can be loaded" in none["message"]


# ---------------------------------------------------------------- HOST-04
def test_login_defs_and_pwquality() -> None:
    defs = DEFAULTS["os_hardening_login_defs"]
    pwq = DEFAULTS["os_hardening_pwquality"]
    check = osp.assess_login(
        defs,
        osp.parse_login_defs(text("hardened_login.defs")),
        pwq,
        osp.parse_kv_files(files("hardened_security_pwquality.conf")),
        text("hardened_pam.d_common-password"),
    )
    assert check["result"] == "pass", check
    stock = osp.assess_login(
        defs,
        osp.parse_login_defs(text("stock_login.defs")),
        pwq,
        osp.parse_kv_files(files("stock_security_pwquality.conf")),
        text("stock_pam.d_common-password"),
    )
    assert stock["result"] == "fail"
    assert "login.defs UMASK is 022, not 027" in stock["message"]
    assert "pwquality minlen is not set" in stock["message"]
    conflict = osp.parse_kv_files(
        [*files("hardened_security_pwquality.conf"), ("pwquality.conf.d/x.conf", "minlen = 8\n")]
    )
    bad = osp.assess_login({}, None, pwq, conflict, text("hardened_pam.d_common-password"))
    assert "pwquality minlen is 8 in pwquality.conf.d/x.conf, not 14" in bad["message"]
    no_pam = osp.assess_login(
        {}, None, pwq, osp.parse_kv_files(files("hardened_security_pwquality.conf")), ""
    )
    assert "pam_pwquality is not in" in no_pam["message"]


# ---------------------------------------------------------------- HOST-05
def test_faillock_in_the_live_stack() -> None:
    wanted = DEFAULTS["os_hardening_faillock"]
    conf = osp.parse_kv_files(files("hardened_security_faillock.conf"))
    check = osp.assess_faillock(
        wanted, text("hardened_pam.d_common-auth"), text("hardened_pam.d_common-account"), conf
    )
    assert check["result"] == "pass", check
    assert check["observed"]["common-auth"][:3] == [
        "pam_faillock.so preauth",
        "pam_unix.so nullok try_first_pass",
        "pam_faillock.so authfail",
    ]
    stock = osp.assess_faillock(
        wanted,
        text("stock_pam.d_common-auth"),
        text("stock_pam.d_common-account"),
        osp.parse_kv_files(files("stock_security_faillock.conf")),
    )
    assert stock["result"] == "fail"
    assert "no pam_faillock preauth before pam_unix" in stock["message"]
    assert "faillock deny is not set" in stock["message"]
    # deny given on the PAM line too, with another value
    edited = text("hardened_pam.d_common-auth").replace("authfail", "authfail deny=10")
    other = osp.assess_faillock(wanted, edited, text("hardened_pam.d_common-account"), conf)
    assert "faillock deny is 10, not 5" in other["message"]


def test_pam_lines_keep_bracketed_controls() -> None:
    lines = osp.pam_lines("auth [success=2 default=ignore] pam_unix.so nullok\n", "auth")
    assert lines == [
        {"control": "[success=2 default=ignore]", "module": "pam_unix.so", "args": ["nullok"]}
    ]


# ---------------------------------------------------------------- HOST-06, HOST-07
def test_banner() -> None:
    banner = DEFAULTS["os_hardening_banner"]
    got = {"/etc/issue": text("hardened_issue"), "/etc/issue.net": text("hardened_issue.net")}
    assert osp.assess_banner(banner, got)["result"] == "pass"
    stock = osp.assess_banner(banner, {"/etc/issue": text("stock_issue"), "/etc/issue.net": None})
    assert stock["message"] == "/etc/issue differs from the banner; /etc/issue.net does not exist"


@pytest.mark.parametrize("name", ["hardened_login_shell_bash.txt", "hardened_login_shell_sh.txt"])
def test_tmout_from_a_real_login_shell(name: str) -> None:
    check = osp.assess_tmout(900, text(name), None)
    assert check["result"] == "pass", check
    assert check["observed"] == {"TMOUT": "900", "readonly": True, "exported": True}
    assert osp.assess_tmout(600, text(name), None)["result"] == "fail"


def test_tmout_unset_in_a_stock_shell() -> None:
    check = osp.assess_tmout(900, text("stock_login_shell.txt"), None)
    assert check["result"] == "fail"
    assert check["message"] == (
        "a login shell's TMOUT is unset; TMOUT is not read-only; TMOUT is not exported"
    )
    assert osp.assess_tmout(900, None, "no shell found")["result"] == "error"


# ---------------------------------------------------------------- HOST-08
def _stats(name: str) -> dict[str, Any]:
    out = {}
    for line in text(name).splitlines():
        path, mode, owner, group = line.rsplit("|", 3)
        out[path] = {"mode": int(mode, 8), "owner": owner, "group": group}
    return out


def test_file_modes() -> None:
    items = DEFAULTS["os_hardening_file_modes"]
    hardened = _stats("hardened_stat.txt")
    check = osp.assess_files(items, hardened)
    assert check["result"] == "pass", check
    assert "absent: /etc/crontab" in check["message"]
    stock = osp.assess_files(items, _stats("stock_stat.txt"))
    assert stock["result"] == "fail"
    assert stock["message"].startswith("/etc/ssh/sshd_config is 0644 (bits 0044 beyond 0600)")
    chowned = dict(hardened, **{"/etc/shadow": {"mode": 0o640, "owner": "root", "group": "root"}})
    assert (
        "/etc/shadow is root:root, not root:shadow" in osp.assess_files(items, chowned)["message"]
    )
    # the role's filter finds the same files to change
    assert [i["path"] for i in filters.mode_drift(text("stock_stat.txt").splitlines(), items)] == [
        "/etc/ssh/sshd_config"
    ]
    assert filters.mode_drift(text("hardened_stat.txt").splitlines(), items) == []


def test_mode_removal_only_removes() -> None:
    assert filters.mode_removal("0640") == "u-xs,g-wxs,o-rwxt"
    assert filters.mode_removal("0700") == "u-s,g-rwxs,o-rwxt"
    assert filters.mode_removal("644") == "u-xs,g-wxs,o-wxt"


# ---------------------------------------------------------------- HOST-09
def _table(name: str) -> dict[str, Any] | None:
    return normalise_table(parse_json((NFT / name).read_text()), "inet", "soc2_filter")


def test_egress_accept_on_the_converged_lab_table() -> None:
    table = _table("bookworm_converged.json")
    assert osp.assess_egress("accept", "soc2_filter", table, None)["result"] == "pass"
    check = osp.assess_egress("allowlist", "soc2_filter", table, None)
    assert check["result"] == "fail"
    assert "output policy is accept, not drop" in check["message"]
    gone = osp.assess_egress(
        "allowlist", "soc2_filter", _table("bookworm_table_missing.json"), None
    )
    assert gone["message"] == "table inet soc2_filter is not loaded"
    assert osp.assess_egress("accept", "soc2_filter", None, None)["result"] == "pass"
    assert osp.assess_egress("", "soc2_filter", table, None)["result"] == "not_applicable"


def test_egress_allowlist_on_a_recorded_drop_table() -> None:
    table = normalise_table(
        parse_json((FIX / "nft_allowlist.json").read_text()), "inet", "soc2_filter"
    )
    check = osp.assess_egress("allowlist", "soc2_filter", table, None)
    assert check["result"] == "pass", check
    assert "soc2:dns" in check["observed"]["comments"]
    flipped = osp.assess_egress("accept", "soc2_filter", table, None)
    assert flipped["result"] == "fail"


# ---------------------------------------------------------------- parameters, filters
def test_validate_names_the_problem() -> None:
    good = {name: spec.get("default") for name, spec in osp.ARGUMENT_SPEC.items()}
    assert osp.validate({**good, "sysctl": DEFAULTS["os_hardening_sysctl"]}) == []
    bad = osp.validate(
        {**good, "sysctl": {"net.ipv4.tcp_syncookies": "yes", "Bad Name": 1}, "tmout": -1}
    )
    assert "sysctl net.ipv4.tcp_syncookies: value 'yes' is not an integer (or integers)" in bad
    assert "sysctl name 'Bad Name' is not a dotted sysctl name" in bad
    assert "tmout must be 0 (off) or a number of seconds" in bad
    assert filters.sysctl_problems({"net.ipv4.tcp_syncookies": "yes"}) == [
        "net.ipv4.tcp_syncookies: value 'yes' is not an integer (or integers separated by spaces)"
    ]
    assert filters.sysctl_problems(DEFAULTS["os_hardening_sysctl"]) == []


def test_conf_drift_and_sysctl_drift() -> None:
    defs = DEFAULTS["os_hardening_login_defs"]
    assert filters.conf_drift(text("hardened_login.defs"), defs) == {}
    assert filters.conf_drift(text("stock_login.defs"), defs) == {
        "UMASK": "027",
        "PASS_MAX_DAYS": "365",
        "PASS_MIN_DAYS": "1",
    }
    pwq = DEFAULTS["os_hardening_pwquality"]
    assert filters.conf_drift(text("hardened_security_pwquality.conf"), pwq, "equals") == {}
    assert len(filters.conf_drift(text("stock_security_pwquality.conf"), pwq, "equals")) == 5
    wanted = {"net.ipv4.tcp_syncookies": 1, "net.ipv4.conf.all.rp_filter": 1}
    assert filters.sysctl_drift(wanted, ["1", "0"]) == {"net.ipv4.conf.all.rp_filter": "1"}


def test_the_part_runs_on_this_machine() -> None:
    """A real run: every id once, results from the vocabulary, nothing raised."""
    from ansible.module_utils import basic
    from module_runner import module_args

    params = {
        "enabled": True,
        "sysctl": {"net.ipv4.tcp_syncookies": 1},
        "coredump": True,
        "module_blacklist": ["cramfs"],
        "login_defs": {"UMASK": "027"},
        "faillock": {"deny": 5},
        "banner": "x",
        "tmout": 900,
        "file_modes": [{"path": "/etc/passwd", "mode": "0644", "owner": "root", "group": "root"}],
        "egress_mode": "accept",
    }
    with module_args({}):
        module = basic.AnsibleModule(argument_spec={}, supports_check_mode=True)
    full = {name: spec.get("default") for name, spec in osp.ARGUMENT_SPEC.items()}
    out = osp.verify(module, {**full, **params})
    assert [c["check_id"] for c in out["checks"]] == list(osp.CHECK_IDS)
    assert {c["result"] for c in out["checks"]} <= {"pass", "fail", "error", "not_applicable"}
    assert json.dumps(out)


def test_forwarding_is_set_before_the_redirect_settings() -> None:
    """Writing net.ipv4.ip_forward makes the kernel set conf.all.accept_redirects again (seen in
    os_hardening_alternative: its second converge had to set accept_redirects once more)."""
    wanted = {
        "net.ipv4.conf.all.accept_redirects": 0,
        "net.ipv4.ip_forward": 0,
        "net.ipv6.conf.all.forwarding": 0,
    }
    assert list(filters.sysctl_split(wanted, "", [])["set"]) == [
        "net.ipv4.ip_forward",
        "net.ipv6.conf.all.forwarding",
        "net.ipv4.conf.all.accept_redirects",
    ]
    # ip_forward to write: accept_redirects, right before, is written after it all the same
    live = ["1", "0", "0"]
    ordered = filters.sysctl_split(wanted, "", [])["set"]
    assert list(filters.sysctl_drift(ordered, live)) == [
        "net.ipv4.ip_forward",
        "net.ipv4.conf.all.accept_redirects",
    ]
    assert filters.sysctl_drift(ordered, ["0", "0", "0"]) == {}
