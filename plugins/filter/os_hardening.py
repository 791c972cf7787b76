# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the os_hardening role: what a sysctl request means on this host (the preflight's
problems, the names set and the names skipped in a container) and the symbolic mode that removes
every permission bit beyond a maximum. The names and values follow the same rules as the HOST
verifier (plugins/module_utils/soc2_host_os.py), which tests/unit/test_soc2_host_os.py checks."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

SYSCTL_NAME_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$")
SYSCTL_VALUE_RE = re.compile(r"^-?[0-9]+([ \t]+-?[0-9]+)*$")
OCTAL_RE = re.compile(r"^0?[0-7]{3}$")


def sysctl_value(value: Any) -> str:
    """A sysctl value as written to the file and compared with /proc/sys."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return " ".join(str(value).split())


def is_skipped(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or (p.endswith(".") and name.startswith(p)) for p in prefixes)


def sysctl_problems(sysctl: Mapping[str, Any]) -> list[str]:
    """Names that are not sysctl names and values that are not integers."""
    out = []
    for name, value in sysctl.items():
        if not SYSCTL_NAME_RE.match(str(name)):
            out.append(
                f"{name!r} is not a sysctl name (dotted, lower case: net.ipv4.tcp_syncookies)"
            )
        elif not SYSCTL_VALUE_RE.match(sysctl_value(value)):
            out.append(
                f"{name}: value {value!r} is not an integer (or integers separated by spaces)"
            )
    return out


def sysctl_order(name: str) -> tuple[int, str]:
    """Forwarding first: the kernel resets accept_redirects (and more) of every interface when
    ip_forward or a forwarding switch is written, so those go before everything else, in the
    file (systemd-sysctl applies it in order at boot) and live."""
    forwarding = name.endswith((".ip_forward", ".forwarding"))
    return (0 if forwarding else 1, name)


def sysctl_split(
    sysctl: Mapping[str, Any], container: str, prefixes: Sequence[str]
) -> dict[str, Any]:
    """``{"set": {name: value}, "skipped": [names]}``: in a container the non-namespaced names
    are skipped; elsewhere every name is set."""
    out: dict[str, Any] = {"set": {}, "skipped": []}
    for name in sorted(sysctl, key=sysctl_order):
        if container and is_skipped(name, prefixes):
            out["skipped"].append(name)
        else:
            out["set"][name] = sysctl_value(sysctl[name])
    return out


def sysctl_path(name: str) -> str:
    return "/proc/sys/" + str(name).replace(".", "/")


def sysctl_drift(wanted: Mapping[str, Any], live_lines: Sequence[str]) -> dict[str, str]:
    """The names whose live value (one line per name, in ``wanted``'s order) differs."""
    names = list(wanted)
    if len(live_lines) != len(names):
        raise AnsibleFilterError(f"read {len(live_lines)} live values for {len(names)} sysctls")
    differ = {
        name
        for name, line in zip(names, live_lines, strict=True)
        if " ".join(line.split()) != sysctl_value(wanted[name])
    }
    # A forwarding switch that is written resets other settings (accept_redirects): then every
    # name after it is written too, even one that was right before.
    if any(sysctl_order(name)[0] == 0 for name in differ):
        differ |= {name for name in names if sysctl_order(name)[0] == 1}
    return {name: sysctl_value(wanted[name]) for name in sorted(differ, key=sysctl_order)}


def mode_removal(mode: Any) -> str:
    """The symbolic mode that clears every bit beyond the octal maximum ``mode`` (0640 ->
    u-xs,g-wxs,o-rwxt): applied to a file, it never adds a bit."""
    text = str(mode)
    if not OCTAL_RE.match(text):
        raise AnsibleFilterError(f"mode {mode!r} is not an octal mode like 0640")
    digits = [int(c) for c in text[-3:]]
    parts = []
    for who, digit, special in zip("ugo", digits, "sst", strict=True):
        gone = "".join(p for bit, p in ((4, "r"), (2, "w"), (1, "x")) if not digit & bit)
        parts.append(f"{who}-{gone}{special}")
    return ",".join(parts)


def conf_drift(text: str, wanted: Mapping[str, Any], style: str = "space") -> dict[str, str]:
    """The settings of ``wanted`` whose value in ``text`` (the last one set) differs:
    ``style`` ``space`` is login.defs (``KEY VALUE``), ``equals`` is pwquality.conf and
    faillock.conf (``key = value``). Lets the role run lineinfile only where it changes."""
    found: dict[str, str] = {}
    for line in (text or "").splitlines():
        body = line.split("#", 1)[0].strip()
        if not body:
            continue
        if style == "equals":
            key, _, value = body.partition("=")
        else:
            key, value = [*re.split(r"\s+", body, maxsplit=1), ""][:2]
        found[key.strip()] = " ".join(value.split())
    return {
        str(k): sysctl_value(v) for k, v in wanted.items() if found.get(str(k)) != sysctl_value(v)
    }


def mode_drift(stat_lines: Sequence[str], items: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The items of os_hardening_file_modes that exist (a ``stat -c '%n|%a|%U|%G'`` line) and
    have a bit beyond their maximum mode, or another owner or group."""
    seen = {}
    for line in stat_lines:
        parts = line.rsplit("|", 3)
        if len(parts) == 4:
            seen[parts[0]] = (int(parts[1], 8), parts[2], parts[3])
    out = []
    for item in items:
        got = seen.get(str(item["path"]))
        if got is None:
            continue
        mode, owner, group = got
        if (
            mode & ~int(str(item["mode"]), 8) & 0o7777
            or owner != item.get("owner", "root")
            or group != item.get("group", "root")
        ):
            out.append(item)
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "soc2audit_os_sysctl_problems": sysctl_problems,
            "soc2audit_os_sysctl_split": sysctl_split,
            "soc2audit_os_sysctl_path": sysctl_path,
            "soc2audit_os_sysctl_drift": sysctl_drift,
            "soc2audit_os_mode_removal": mode_removal,
            "soc2audit_os_mode_drift": mode_drift,
            "soc2audit_os_conf_drift": conf_drift,
        }
