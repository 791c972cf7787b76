# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/filter/auditd.py: the records of the chosen profiles with the per-rule
switches, auditd.conf settings from the role's variables, and the role's defaults run through
them (the same composition tasks/plan.yml does)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.module_utils import soc2_auditd_rules as R
from plugin_loader import load_plugin

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = REPO_ROOT / "roles" / "auditd"


def _load_filter() -> ModuleType:
    return load_plugin("plugins/filter/auditd.py")


F = _load_filter()
PROFILES: dict[str, list[dict[str, Any]]] = {
    "one": [
        {"id": "a", "kind": "watch", "paths": ["/etc/passwd"], "key": "k"},
        {"id": "b", "kind": "watch", "paths": ["/etc/group"], "key": "k", "enabled": False},
    ],
    "two": [
        {"id": "a", "kind": "watch", "paths": ["/etc/shadow"], "key": "other"},
        {"id": "c", "kind": "exe", "paths": ["/usr/bin/su"], "key": "k"},
    ],
}


def ids(records: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    return [(r["id"], r.get("enabled", True)) for r in records]


def test_profiles_in_order_an_id_taken_once() -> None:
    out = F.records(PROFILES, ["one", "two"])
    assert ids(out) == [("a", True), ("b", False), ("c", True)]
    assert out[0]["paths"] == ["/etc/passwd"]  # from the first profile naming it
    assert ids(F.records(PROFILES, ["two", "one"]))[0] == ("a", True)


def test_extra_records_and_switches() -> None:
    extra = [{"id": "x", "kind": "exe", "paths": ["/usr/bin/id"], "key": "k"}]
    out = F.records(PROFILES, ["one"], extra, ["b"], ["a"])
    assert ids(out) == [("a", False), ("b", True), ("x", True)]
    # The profile data is not modified.
    assert "enabled" not in PROFILES["one"][0]


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ((["nope"],), "unknown rule profile 'nope'"),
        ((["one"], [{"id": "a", "kind": "exe"}]), "already a profile rule"),
        ((["one"], [{"kind": "exe"}]), "without an id"),
        ((["one"], [], ["zz"]), "unknown rule ids ['zz']"),
        ((["one"], [], ["a"], ["a"]), "both enabled and disabled"),
    ],
)
def test_records_errors(args: tuple[Any, ...], why: str) -> None:
    with pytest.raises(AnsibleFilterError, match=None) as exc:
        F.records(PROFILES, *args)
    assert why in str(exc.value)


def test_conf_words_exec_and_extra() -> None:
    conf = F.conf(
        {
            "write_logs": True,
            "distribute_network": False,
            "freq": 50,
            "disk_full_action": "EXEC",
            "name": "",
        },
        "/usr/local/sbin/audit-full",
        {"tcp_listen_port": 60, "freq": 20},
    )
    assert conf == {
        "disk_full_action": "EXEC /usr/local/sbin/audit-full",
        "distribute_network": "no",
        "freq": "20",
        "tcp_listen_port": "60",
        "write_logs": "yes",
    }
    with pytest.raises(AnsibleFilterError, match="not an absolute path"):
        F.conf({"space_left_action": "exec"}, "")


def test_role_defaults_compose_a_valid_auditd_conf() -> None:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    fixed = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["_auditd_conf_fixed"]
    settings = dict(fixed)
    for key in (
        "log_file",
        "log_group",
        "log_format",
        "flush",
        "freq",
        "max_log_file",
        "max_log_file_action",
        "num_logs",
        "priority_boost",
        "name_format",
        "space_left",
        "space_left_action",
        "admin_space_left",
        "admin_space_left_action",
        "disk_full_action",
        "disk_error_action",
        "action_mail_acct",
        "q_depth",
        "overflow_action",
    ):
        settings[key] = defaults[f"auditd_{key}"]
    conf = F.conf(settings, defaults["auditd_action_exec_script"], defaults["auditd_conf_extra"])
    pairs, problems = R.expected_conf(conf, 3)
    assert problems == []
    values = dict(pairs)
    # The no-loss defaults.
    assert values["log_format"] == "ENRICHED"
    assert values["max_log_file_action"] == "KEEP_LOGS"
    assert values["disk_full_action"] == "SINGLE" and values["disk_error_action"] == "SINGLE"
    assert values["admin_space_left_action"] == "SINGLE"
    assert values["log_group"] == "adm"
    # Every choice in argument_specs is a value auditd accepts for that key.
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    for key in settings:
        choices = options.get(f"auditd_{key}", {}).get("choices")
        for choice in choices or []:
            value = f"{choice} /bin/true" if choice == "EXEC" else choice
            assert R.conf_value(key, value, 3), (key, choice)


def test_privileged_spec() -> None:
    spec = F.privileged_spec(True, "k", ["auid>=1000"], ["/"], ["/proc"], ["tmpfs"], [])
    assert spec == {
        "enabled": True,
        "key": "k",
        "filters": ["auid>=1000"],
        "roots": ["/"],
        "exclude_paths": ["/proc"],
        "exclude_fstypes": ["tmpfs"],
        "paths": [],
    }
