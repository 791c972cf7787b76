# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HOST family's patching part (the patching role's ``_patching_verify_params``):
HOST-10 .. HOST-12, composed by soc2_host_family.py under the option ``patching``.

Read in the one module run on the host: the effective apt configuration (``apt-config dump``,
all of /etc/apt/apt.conf.d merged as apt itself reads it), the apt timers' units and the
live pending state from the role's script (``soc2-patching-pending --stdout``: the security
updates from python3-apt with the origin of each candidate, ``needrestart -b`` and
/run/reboot-required, merged with the first-seen dates the daily timer keeps in the state
file; apt itself cannot say when an update appeared).

* HOST-10: unattended-upgrades runs the security suite of the host's release (an
  Origins-Pattern for ``<codename>-security``), the lists are refreshed and the upgrade runs
  periodically, the reboot window is as intended, the timers are active and enabled.
* HOST-11: no security update (held or not) first seen more than ``max_pending_days`` ago.
* HOST-12: no reboot and no service restart pending for more than ``max_restart_days``.

A part of the HOST family: its interface (``CHECK_IDS``, ``ARGUMENT_SPEC``, ``validate``,
``verify``) is documented once, in plugins/module_utils/soc2_host_family.py.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from typing import Any

from ansible.module_utils.soc2_command import find_binary, run
from ansible.module_utils.soc2_log_family import assess_unit, read_unit
from ansible.module_utils.soc2_results import make_check

__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "validate", "verify"]

CHECK_IDS: tuple[str, ...] = ("HOST-10", "HOST-11", "HOST-12")

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": False},
    "pending_command": {"type": "str", "default": "/usr/local/lib/soc2audit/soc2-patching-pending"},
    "state_file": {"type": "str", "default": "/var/lib/soc2audit/patching/pending.json"},
    "security_label": {"type": "str", "default": "Debian-Security"},
    "timers": {
        "type": "list",
        "elements": "str",
        "default": [
            "apt-daily.timer",
            "apt-daily-upgrade.timer",
            "soc2audit-patching-pending.timer",
        ],
    },
    "automatic_reboot": {"type": "bool", "default": False},
    "automatic_reboot_time": {"type": "str", "default": "02:30"},
    "max_pending_days": {"type": "int", "default": 7},
    "max_restart_days": {"type": "int", "default": 7},
    # The timer's recorded state stands for the live one while it is younger than this (seconds)
    # and nothing it was read from changed since (recorded_state); 0: always observe live.
    "state_max_age": {"type": "int", "default": 7200},
}

DAY = 86400.0
TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
DUMP_RE = re.compile(r'^(\S+) "(.*)";$')
ORIGINS = "Unattended-Upgrade::Origins-Pattern"
ALLOWED = "Unattended-Upgrade::Allowed-Origins"
# How many package or service names a message lists before "and N more".
LIST_LIMIT = 5


def validate(p: Mapping[str, Any]) -> list[str]:
    """Parameter problems that need no host (none when the part is not enabled)."""
    if not p["enabled"]:
        return []
    problems = []
    for name in ("pending_command", "state_file"):
        if not str(p[name]).startswith("/"):
            problems.append(f"{name} must be an absolute path")
    if not p["security_label"].strip():
        problems.append("security_label must not be empty")
    if not TIME_RE.match(p["automatic_reboot_time"]):
        problems.append(f"automatic_reboot_time {p['automatic_reboot_time']!r} is not HH:MM")
    for name in ("max_pending_days", "max_restart_days", "state_max_age"):
        if p[name] < 0:
            problems.append(f"{name} must be 0 or more")
    if not p["timers"]:
        problems.append("timers must name the apt timers")
    return problems


# ---------------------------------------------------------------- apt configuration
def parse_apt_config(text: str) -> dict[str, Any]:
    """``apt-config dump``: {key: value}; a list (``Key:: "v"`` lines) becomes {key: [v, ...]}."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        match = DUMP_RE.match(line.strip())
        if not match:
            continue
        key, value = match.groups()
        if key.endswith("::"):
            existing = out.get(key[:-2])
            values = existing if isinstance(existing, list) else []
            values.append(value)
            out[key[:-2]] = values
        else:
            out.setdefault(key, value)
    return out


def parse_pattern(pattern: str) -> dict[str, str]:
    """An Origins-Pattern ``origin=Debian,codename=bookworm-security,label=...`` as a dict
    (unattended-upgrades' short keys o, a, n, l, c expanded)."""
    short = {"o": "origin", "a": "archive", "n": "codename", "l": "label", "c": "component"}
    out = {}
    for part in pattern.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        out[short.get(key, key)] = value.strip()
    return out


def is_security_pattern(pattern: str, codename: str, label: str) -> bool:
    """Whether a pattern selects the security suite of this release (and nothing broader)."""
    fields = parse_pattern(pattern)
    suites = {f"{codename}-security", "${distro_codename}-security"}
    if fields.get("codename") in suites or fields.get("archive") in suites:
        return True
    return fields.get("label") == label and "codename" not in fields and "archive" not in fields


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else []


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _periodic(value: Any) -> bool:
    """APT::Periodic values: days (0 or missing: never), or 'always'."""
    text = str(value or "").strip().lower()
    return text == "always" or (text.isdigit() and int(text) > 0)


def assess_unattended(
    config: dict[str, Any] | None,
    codename: str,
    p: Mapping[str, Any],
    units: dict[str, dict[str, Any]],
) -> tuple[str, str, dict[str, Any]]:
    """HOST-10: (result, message, observed)."""
    if config is None:
        return "error", "apt-config dump gave nothing", {}
    patterns = _as_list(config.get(ORIGINS))
    allowed = _as_list(config.get(ALLOWED))
    security = [x for x in patterns if is_security_pattern(x, codename, p["security_label"])]
    observed: dict[str, Any] = {
        "codename": codename,
        "origins_patterns": patterns,
        "allowed_origins": allowed,
        "update_package_lists": config.get("APT::Periodic::Update-Package-Lists"),
        "unattended_upgrade": config.get("APT::Periodic::Unattended-Upgrade"),
        "automatic_reboot": config.get("Unattended-Upgrade::Automatic-Reboot", "false"),
        "automatic_reboot_time": config.get("Unattended-Upgrade::Automatic-Reboot-Time", "now"),
        "timers": {name: u.get("observed") for name, u in units.items()},
    }
    problems = []
    if not security and not any(f"{codename}-security" in a for a in allowed):
        problems.append(f"no Origins-Pattern selects {codename}-security")
    if not _periodic(observed["update_package_lists"]):
        problems.append(
            "APT::Periodic::Update-Package-Lists is "
            f"{observed['update_package_lists']!r}: the lists are never refreshed"
        )
    if not _periodic(observed["unattended_upgrade"]):
        problems.append(
            f"APT::Periodic::Unattended-Upgrade is {observed['unattended_upgrade']!r}: "
            "unattended-upgrade never runs"
        )
    reboot = _truthy(observed["automatic_reboot"])
    if reboot != p["automatic_reboot"]:
        problems.append(
            f"Automatic-Reboot is {str(reboot).lower()}, not {str(p['automatic_reboot']).lower()}"
        )
    elif reboot and observed["automatic_reboot_time"] != p["automatic_reboot_time"]:
        problems.append(
            f"Automatic-Reboot-Time is {observed['automatic_reboot_time']}, "
            f"not {p['automatic_reboot_time']}"
        )
    for unit in units.values():
        problems += unit.get("problems", [])
    if problems:
        return "fail", "; ".join(problems), observed
    window = f"reboots at {p['automatic_reboot_time']}" if reboot else "no automatic reboot"
    return (
        "pass",
        f"unattended upgrades from {codename}-security, timers running ({window})",
        observed,
    )


# ---------------------------------------------------------------- pending state
def parse_pending(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """The script's JSON; (None, why) when it is not that."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(data, dict) or data.get("format") != 1:
        return None, "not the pending state (format 1)"
    return data, None


def _names(items: list[str]) -> str:
    more = len(items) - LIST_LIMIT
    return ", ".join(items[:LIST_LIMIT]) + (f" and {more} more" if more > 0 else "")


def _days(seconds: float) -> str:
    return f"{seconds / DAY:.1f} d"


def assess_pending(
    state: dict[str, Any], now: float, max_days: int
) -> tuple[str, str, dict[str, Any]]:
    """HOST-11: (result, message, observed)."""
    limit = max_days * DAY
    updates = state.get("security_updates") or []
    rows = []
    for u in updates:
        age = max(0.0, now - float(u.get("first_seen") or now))
        rows.append({**u, "age_seconds": round(age)})
    rows.sort(key=lambda r: -r["age_seconds"])
    observed = {
        "pending": len(rows),
        "held": sum(1 for r in rows if r.get("held")),
        "oldest_age_seconds": rows[0]["age_seconds"] if rows else 0,
        "updates": rows,
    }
    if state.get("errors") and any(e.startswith("apt cache") for e in state["errors"]):
        return "error", "; ".join(state["errors"]), observed
    late = [r for r in rows if r["age_seconds"] > limit]
    if late:
        names = [
            f"{r['package']} {r['installed']} -> {r['candidate']}"
            f"{' (held)' if r.get('held') else ''} for {_days(r['age_seconds'])}"
            for r in late
        ]
        return (
            "fail",
            f"{len(late)} security update(s) pending longer than {max_days} d: {_names(names)}",
            observed,
        )
    if rows:
        return (
            "pass",
            f"{len(rows)} security update(s) pending, the oldest for "
            f"{_days(rows[0]['age_seconds'])} (limit {max_days} d)",
            observed,
        )
    return "pass", "no pending security update", observed


def assess_restarts(
    state: dict[str, Any], now: float, max_days: int
) -> tuple[str, str, dict[str, Any]]:
    """HOST-12: (result, message, observed)."""
    limit = max_days * DAY
    items: list[tuple[str, float]] = []
    reboot = state.get("reboot") or {}
    if reboot.get("required"):
        why = f" ({_names(reboot.get('packages') or [])})" if reboot.get("packages") else ""
        items.append((f"reboot{why}", float(reboot.get("first_seen") or now)))
    kernel = state.get("kernel") or {}
    if kernel.get("status") in (2, 3):
        items.append(
            (
                f"reboot into kernel {kernel.get('expected', '?')} "
                f"(running {kernel.get('running', '?')})",
                float(kernel.get("first_seen") or now),
            )
        )
    restarts = state.get("restarts")
    for svc in restarts or []:
        items.append((f"restart of {svc['service']}", float(svc.get("first_seen") or now)))
    aged = sorted(((name, max(0.0, now - seen)) for name, seen in items), key=lambda x: -x[1])
    observed = {
        "reboot_required": bool(reboot.get("required")),
        "kernel_status": kernel.get("status"),
        "services": [s["service"] for s in restarts or []],
        "oldest_age_seconds": round(aged[0][1]) if aged else 0,
    }
    late = [f"{name} for {_days(age)}" for name, age in aged if age > limit]
    if late:
        return (
            "fail",
            f"pending longer than {max_days} d: {_names(late)}",
            observed,
        )
    if restarts is None:
        why = "; ".join(e for e in state.get("errors", []) if e.startswith("needrestart"))
        return "error", why or "needrestart gave no answer", observed
    if aged:
        return (
            "pass",
            f"{len(aged)} pending ({_names([n for n, _ in aged])}), the oldest for "
            f"{_days(aged[0][1])} (limit {max_days} d)",
            observed,
        )
    return "pass", "no reboot or service restart pending", observed


# ---------------------------------------------------------------- the recorded state
# What the pending state is read from: a change to any of them after the timer's run makes its
# record stale (a package installed, removed or held; new lists; a reboot).
DPKG_STATUS = "/var/lib/dpkg/status"
APT_LISTS = "/var/lib/apt/lists"
REBOOT_REQUIRED = "/run/reboot-required"


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def boot_time(stat_text: str) -> float | None:
    """The kernel's boot time (``btime`` of /proc/stat)."""
    match = re.search(r"^btime (\d+)$", stat_text, re.M)
    return float(match.group(1)) if match else None


def recorded_state(
    text: str | None,
    now: float,
    max_age: int,
    inputs: Mapping[str, float | None],
    reboot_mtime: float | None,
    booted: float | None,
) -> tuple[dict[str, Any] | None, str]:
    """The timer's state file when it still says what a live run would: (state, why) or
    (None, why not). ``inputs``: mtimes of what the state was read from (the package database,
    the apt lists); ``reboot_mtime``: /run/reboot-required's (None: absent), which the state
    records as the reboot's first-seen time."""
    if max_age <= 0:
        return None, "state_max_age 0: observed live"
    if text is None:
        return None, "no recorded state"
    state, why = parse_pending(text)
    if state is None:
        return None, f"recorded state unusable: {why}"
    generated = state.get("generated")
    if not isinstance(generated, (int, float)):
        return None, "recorded state has no generation time"
    age = now - float(generated)
    if age > max_age or age < -60:
        return None, f"recorded state {age:.0f} s old (limit {max_age} s)"
    if state.get("errors"):
        return None, "recorded state has errors"
    if booted is not None and booted > generated:
        return None, "rebooted since the recorded state"
    for name, mtime in inputs.items():
        if mtime is None or mtime > generated:
            return None, f"{name} changed since the recorded state"
    reboot = state.get("reboot") or {}
    if bool(reboot.get("required")) != (reboot_mtime is not None) or (
        reboot_mtime is not None and reboot.get("first_seen") != reboot_mtime
    ):
        return None, f"{REBOOT_REQUIRED} changed since the recorded state"
    return state, f"recorded by the timer {age:.0f} s ago"


def _read_recorded(p: Mapping[str, Any], now: float) -> tuple[dict[str, Any] | None, str]:
    """recorded_state() of this host (a few stats: no apt cache, no needrestart)."""
    if p["state_max_age"] <= 0:
        return recorded_state(None, now, 0, {}, None, None)
    try:
        with open(p["state_file"], encoding="utf-8") as fh:
            text: str | None = fh.read()
    except OSError:
        text = None
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            booted = boot_time(fh.read())
    except OSError:
        booted = None
    inputs = {DPKG_STATUS: _mtime(DPKG_STATUS), APT_LISTS: _mtime(APT_LISTS)}
    return recorded_state(text, now, p["state_max_age"], inputs, _mtime(REBOOT_REQUIRED), booted)


# ---------------------------------------------------------------- the part
def _codename() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as fh:
            match = re.search(r'^VERSION_CODENAME="?([a-z]+)"?$', fh.read(), re.M)
    except OSError:
        return ""
    return match.group(1) if match else ""


def _units(module: Any, names: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for name in names:
        props, why = read_unit(module, name)
        if props is None:
            out[name] = {"problems": [why or f"{name}: no unit"], "observed": None}
        else:
            out[name] = assess_unit(props)
    return out


def observations(pending: dict[str, Any] | None, restarts: dict[str, Any] | None) -> list[dict]:
    out: list[dict[str, Any]] = []
    if pending is not None:
        out.append(
            {"key": "patching_pending_security_updates", "labels": {}, "value": pending["pending"]}
        )
        out.append(
            {
                "key": "patching_oldest_pending_age",
                "labels": {},
                "value": pending["oldest_age_seconds"],
            }
        )
    if restarts is not None:
        out.append(
            {
                "key": "patching_restart_pending_age",
                "labels": {},
                "value": restarts["oldest_age_seconds"],
            }
        )
    return out


def verify(module: Any, p: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """HOST-10 .. HOST-12 on this host."""
    now = time.time() if now is None else now
    codename = _codename()
    facts: dict[str, Any] = {"codename": codename}

    apt_config, why = find_binary(module, "apt-config")
    config = None
    if apt_config:
        rc, out, err = run(module, [apt_config, "dump"])
        if rc == 0:
            config = parse_apt_config(out)
        else:
            why = f"apt-config dump exited {rc}: {err.strip()[:200]}"
    units = _units(module, list(p["timers"]))
    if config is None:
        host10 = make_check("HOST-10", "error", None, "security suite", why or "no apt-config")
    else:
        result, message, observed = assess_unattended(config, codename, p, units)
        host10 = make_check(
            "HOST-10", result, observed, f"Origins-Pattern for {codename}-security", message
        )

    # The timer's record when nothing it read changed since it ran; the live read opens the apt
    # cache and runs needrestart: seconds per host on every drift run (docs/scale.md).
    state, source = _read_recorded(p, now)
    why = None
    script = None
    if state is None:
        script, why = find_binary(module, p["pending_command"])
        source = f"observed live ({source})"
    if script:
        rc, out, err = run(
            module,
            [script, "--stdout", "--state", p["state_file"], "--suite-label", p["security_label"]],
        )
        state, why = parse_pending(out)
        if state is None:
            why = f"{p['pending_command']} --stdout exited {rc}: {why}; {err.strip()[:200]}"
    facts["pending"] = state
    facts["pending_source"] = source
    pending = restarts = None
    if state is None:
        host11 = make_check("HOST-11", "error", None, None, f"pending state: {why}")
        host12 = make_check("HOST-12", "error", None, None, f"pending state: {why}")
    else:
        result, message, pending = assess_pending(state, now, p["max_pending_days"])
        pending["source"] = source
        host11 = make_check(
            "HOST-11", result, pending, f"none older than {p['max_pending_days']} d", message
        )
        result, message, restarts = assess_restarts(state, now, p["max_restart_days"])
        host12 = make_check(
            "HOST-12", result, restarts, f"none older than {p['max_restart_days']} d", message
        )
    return {
        "checks": [host10, host11, host12],
        "observations": observations(pending, restarts),
        "facts": facts,
    }
