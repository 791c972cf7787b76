# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HOST family's patching part (plugins/module_utils/soc2_host_patching.py) and the role's
pending-updates script (roles/patching/files/soc2-patching-pending), on outputs recorded in a
Debian 12 container of the warm image (tests/unit/fixtures/host/): `apt-config dump` with
Debian's own unattended-upgrades configuration and with the role's drop-in (lines with URLs
left out), `needrestart -b` with and without a service on a deleted library, and the script's
--stdout with a held update from the lab test's security-suite repository. Only the kernel
lines of `needrestart -b` are written by hand (a container has no kernel of its own to report):
they follow needrestart's batch format (NEEDRESTART-KCUR/KEXP/KSTA)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import soc2_host_patching as part
from plugin_loader import load_script

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "host"
DAY = 86400.0


SCRIPT = load_script(
    REPO / "roles" / "patching" / "files" / "soc2-patching-pending", "soc2_patching_pending"
)


def params(**over: Any) -> dict[str, Any]:
    p = {name: spec.get("default") for name, spec in part.ARGUMENT_SPEC.items()}
    return {**p, "enabled": True, **over}


def running(name: str) -> dict[str, Any]:
    return part.assess_unit(
        {
            "Id": name,
            "LoadState": "loaded",
            "ActiveState": "active",
            "SubState": "waiting",
            "UnitFileState": "enabled",
        }
    )


UNITS = {name: running(name) for name in params()["timers"]}


def dump(name: str) -> dict[str, Any]:
    return part.parse_apt_config((FIXTURES / name).read_text())


# ------------------------------------------------------------------ HOST-10


def test_the_roles_drop_in_passes_with_only_the_security_suite() -> None:
    config = dump("apt_config_dump_soc2audit.txt")
    assert config[part.ORIGINS] == [
        "origin=Debian,codename=bookworm-security,label=Debian-Security"
    ]
    result, message, observed = part.assess_unattended(config, "bookworm", params(), UNITS)
    assert result == "pass", message
    assert "bookworm-security" in message and "no automatic reboot" in message
    assert observed["automatic_reboot"] == "false"


def test_debians_default_selects_the_security_suite_too() -> None:
    # Debian's own 50unattended-upgrades: ${distro_codename}-security among broader patterns.
    config = dump("apt_config_dump_debian_default.txt")
    assert len(config[part.ORIGINS]) == 3
    result, _, _ = part.assess_unattended(config, "bookworm", params(), UNITS)
    assert result == "pass"


def test_no_security_pattern_periodic_off_and_reboot_window_drift_fail() -> None:
    config = dump("apt_config_dump_soc2audit.txt")
    config[part.ORIGINS] = ["origin=Debian,codename=${distro_codename},label=Debian"]
    config["APT::Periodic::Unattended-Upgrade"] = "0"
    config["Unattended-Upgrade::Automatic-Reboot"] = "true"
    result, message, _ = part.assess_unattended(config, "bookworm", params(), UNITS)
    assert result == "fail"
    assert "no Origins-Pattern selects bookworm-security" in message
    assert "unattended-upgrade never runs" in message
    assert "Automatic-Reboot is true, not false" in message


def test_reboot_window_time_is_compared_when_reboots_are_on() -> None:
    config = dump("apt_config_dump_soc2audit.txt")
    config["Unattended-Upgrade::Automatic-Reboot"] = "true"
    p = params(automatic_reboot=True, automatic_reboot_time="03:00")
    result, message, _ = part.assess_unattended(config, "bookworm", p, UNITS)
    assert result == "fail" and "Automatic-Reboot-Time is 02:30, not 03:00" in message


def test_a_stopped_timer_fails() -> None:
    units = dict(UNITS)
    units["apt-daily-upgrade.timer"] = part.assess_unit(
        {
            "Id": "apt-daily-upgrade.timer",
            "LoadState": "loaded",
            "ActiveState": "inactive",
            "SubState": "dead",
            "UnitFileState": "disabled",
        }
    )
    result, message, _ = part.assess_unattended(
        dump("apt_config_dump_soc2audit.txt"), "bookworm", params(), units
    )
    assert result == "fail" and "apt-daily-upgrade.timer is inactive" in message


@pytest.mark.parametrize(
    ("pattern", "security"),
    [
        ("origin=Debian,codename=bookworm-security,label=Debian-Security", True),
        ("o=Debian,a=bookworm-security", True),
        ("origin=Debian,codename=${distro_codename}-security,label=Debian-Security", True),
        ("origin=Debian,codename=${distro_codename},label=Debian-Security", False),
        ("origin=Debian,codename=bookworm,label=Debian", False),
        ("origin=Debian,codename=trixie-security", False),
    ],
)
def test_security_patterns(pattern: str, security: bool) -> None:
    assert part.is_security_pattern(pattern, "bookworm", "Debian-Security") is security


# ------------------------------------------------------------------ HOST-11


def pending() -> dict[str, Any]:
    return json.loads((FIXTURES / "pending_held.json").read_text())


def test_a_held_security_update_passes_while_young_and_fails_when_old() -> None:
    state = pending()
    seen = state["security_updates"][0]["first_seen"]
    result, message, observed = part.assess_pending(state, seen + 3 * DAY, 7)
    assert result == "pass" and "1 security update(s) pending" in message
    assert observed["held"] == 1
    result, message, observed = part.assess_pending(state, seen + 8 * DAY, 7)
    assert result == "fail"
    assert "soc2audit-probe 1.0 -> 1.1 (held) for 8.0 d" in message
    assert observed["oldest_age_seconds"] == 8 * DAY


def test_zero_days_fails_any_pending_update_and_none_passes() -> None:
    state = pending()
    seen = state["security_updates"][0]["first_seen"]
    assert part.assess_pending(state, seen + 60, 0)[0] == "fail"
    state["security_updates"] = []
    assert part.assess_pending(state, seen, 0)[:2] == ("pass", "no pending security update")


def test_an_unreadable_apt_cache_is_an_error_not_a_pass() -> None:
    state = pending()
    state["security_updates"], state["errors"] = [], ["apt cache: SystemError: E:lock"]
    assert part.assess_pending(state, 0, 7)[0] == "error"


# ------------------------------------------------------------------ HOST-12


def test_needrestart_batch_output_recorded() -> None:
    quiet = SCRIPT.parse_needrestart((FIXTURES / "needrestart_b_container.txt").read_text())
    assert quiet == {"services": [], "kernel": {"needrestart": "3.6"}}
    busy = SCRIPT.parse_needrestart((FIXTURES / "needrestart_b_service.txt").read_text())
    assert busy["services"] == ["soc2probe.service"]


def test_restart_and_reboot_ages() -> None:
    now = 1_800_000_000.0
    needrestart = SCRIPT.parse_needrestart(
        (FIXTURES / "needrestart_b_service.txt").read_text()
        + "NEEDRESTART-KCUR: 6.1.0-18-amd64\nNEEDRESTART-KEXP: 6.1.0-20-amd64\n"
        "NEEDRESTART-KSTA: 3\n"
    )
    reboot = {"required": True, "first_seen": now - 9 * DAY, "packages": ["libc6"]}
    state = SCRIPT.merge(None, [], needrestart, reboot, now - 2 * DAY)
    result, message, observed = part.assess_restarts(state, now, 7)
    assert result == "fail"
    assert message.startswith("pending longer than 7 d: reboot (libc6) for 9.0 d")
    assert "restart of soc2probe.service" not in message  # 2 days: within the limit
    assert observed["services"] == ["soc2probe.service"] and observed["kernel_status"] == 3
    reboot["required"] = False
    state = SCRIPT.merge(None, [], needrestart, reboot, now - 2 * DAY)
    result, message, _ = part.assess_restarts(state, now, 7)
    assert result == "pass" and "reboot into kernel 6.1.0-20-amd64" in message


def test_needrestart_missing_is_an_error() -> None:
    state = SCRIPT.merge(None, [], None, SCRIPT.reboot_state("/nonexistent"), 0)
    state["errors"] = ["needrestart: [Errno 2] No such file or directory"]
    assert part.assess_restarts(state, 0, 7)[0] == "error"


# ------------------------------------------------------------------ the script's memory


def test_first_seen_is_kept_while_pending_and_forgotten_once_applied() -> None:
    upd = {"package": "libfoo1:amd64", "installed": "1", "candidate": "2", "held": False}
    first = SCRIPT.merge(None, [upd], {"services": ["a.service"], "kernel": {}}, {}, 100.0)
    newer = {**upd, "candidate": "3"}
    second = SCRIPT.merge(first, [newer], {"services": ["a.service"], "kernel": {}}, {}, 900.0)
    assert second["security_updates"][0]["first_seen"] == 100.0
    assert second["security_updates"][0]["candidate"] == "3"
    assert second["restarts"] == [{"service": "a.service", "first_seen": 100.0}]
    third = SCRIPT.merge(second, [], {"services": [], "kernel": {}}, {}, 1000.0)
    again = SCRIPT.merge(third, [upd], {"services": [], "kernel": {}}, {}, 2000.0)
    assert again["security_updates"][0]["first_seen"] == 2000.0


def test_the_script_writes_its_state_atomically(tmp_path: Path) -> None:
    path = tmp_path / "patching" / "pending.json"
    SCRIPT.write_atomic(str(path), {"format": 1, "security_updates": []})
    assert SCRIPT.load(str(path)) == {"format": 1, "security_updates": []}
    assert [p.name for p in path.parent.iterdir()] == ["pending.json"]
    path.write_text("{not json")
    assert SCRIPT.load(str(path)) is None


@pytest.mark.parametrize(
    ("origin", "security"),
    [
        ({"archive": "bookworm-security", "codename": "bookworm-security"}, True),
        ({"archive": "stable-security", "label": "Debian-Security"}, True),
        ({"archive": "bookworm", "codename": "bookworm", "label": "Debian"}, False),
    ],
)
def test_security_origin_of_a_candidate(origin: dict[str, str], security: bool) -> None:
    assert SCRIPT.security_origin(origin, "bookworm", "Debian-Security") is security


# ------------------------------------------------------------------ parameters


def test_validate() -> None:
    assert part.validate(params(enabled=False, state_file="relative")) == []
    problems = part.validate(
        params(state_file="x.json", automatic_reboot_time="25:00", max_pending_days=-1, timers=[])
    )
    assert problems == [
        "state_file must be an absolute path",
        "automatic_reboot_time '25:00' is not HH:MM",
        "max_pending_days must be 0 or more",
        "timers must name the apt timers",
    ]


def test_observations() -> None:
    state = pending()
    seen = state["security_updates"][0]["first_seen"]
    _, _, p = part.assess_pending(state, seen + DAY, 7)
    _, _, r = part.assess_restarts(state, seen + DAY, 7)
    assert part.observations(p, r) == [
        {"key": "patching_pending_security_updates", "labels": {}, "value": 1},
        {"key": "patching_oldest_pending_age", "labels": {}, "value": 86400},
        {"key": "patching_restart_pending_age", "labels": {}, "value": 0},
    ]


# ------------------------------------------------------------------ the recorded state
# The script's state as the timer wrote it (pending_held.json, recorded): "generated" is when it
# ran; the package database and the apt lists were last changed before that.
def recorded(now_after: float = 600.0, **over: Any) -> tuple[dict[str, Any] | None, str]:
    state = pending()
    generated = float(state["generated"])
    args: dict[str, Any] = {
        "text": json.dumps(state),
        "now": generated + now_after,
        "max_age": 7200,
        "inputs": {part.DPKG_STATUS: generated - 50, part.APT_LISTS: generated - 3600},
        "reboot_mtime": None,
        "booted": generated - DAY,
    }
    args.update(over)
    return part.recorded_state(**args)


def test_a_fresh_record_stands_for_the_live_read() -> None:
    state, why = recorded()
    assert state is not None and state["security_updates"][0]["package"] == "soc2audit-probe"
    assert why == "recorded by the timer 600 s ago"


@pytest.mark.parametrize(
    ("over", "says"),
    [
        ({"now_after": 7300.0}, "7300 s old (limit 7200 s)"),
        ({"now_after": -120.0}, "-120 s old"),
        ({"max_age": 0}, "state_max_age 0"),
        ({"text": None}, "no recorded state"),
        ({"text": "{"}, "recorded state unusable"),
        ({"booted": 9e12}, "rebooted since"),
    ],
)
def test_an_old_missing_or_broken_record_is_not_used(over: dict[str, Any], says: str) -> None:
    now_after = over.pop("now_after", 600.0)
    state, why = recorded(now_after, **over)
    assert state is None and says in why


def test_a_change_to_what_the_record_was_read_from_makes_it_stale() -> None:
    generated = float(pending()["generated"])
    for name in (part.DPKG_STATUS, part.APT_LISTS):
        inputs = {part.DPKG_STATUS: generated - 50, part.APT_LISTS: generated - 50}
        inputs[name] = generated + 1
        state, why = recorded(inputs=inputs)
        assert state is None and why == f"{name} changed since the recorded state"
        inputs[name] = None
        assert recorded(inputs=inputs)[0] is None


def test_the_reboot_file_must_match_the_record() -> None:
    # The record says no reboot; the file appeared since (its time, backdated or not, differs).
    state, why = recorded(reboot_mtime=float(pending()["generated"]) - 8 * DAY)
    assert state is None and "/run/reboot-required changed" in why
    # A record that says a reboot is required, with the file's own time: still stands.
    rec = pending()
    rec["reboot"] = {"required": True, "first_seen": 1700000000.0, "packages": ["libc6"]}
    state, _ = recorded(text=json.dumps(rec), reboot_mtime=1700000000.0)
    assert state is not None
    # The file gone (rebooted or removed) or touched: stale.
    assert recorded(text=json.dumps(rec), reboot_mtime=None)[0] is None
    assert recorded(text=json.dumps(rec), reboot_mtime=1700000001.0)[0] is None


def test_a_record_with_errors_is_not_used() -> None:
    rec = pending()
    rec["errors"] = ["needrestart: not found"]
    state, why = recorded(text=json.dumps(rec))
    assert state is None and why == "recorded state has errors"


def test_boot_time_from_proc_stat() -> None:
    assert part.boot_time("cpu  1 2 3\nbtime 1796000000\nprocesses 5\n") == 1796000000.0
    assert part.boot_time("cpu 1\n") is None
