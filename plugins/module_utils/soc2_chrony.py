# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared chrony and linuxptp logic for the time controls TIME-01 .. TIME-07.

Used by ``library/soc2_time.py`` (read-only verification) and by anything else that needs to read
``chronyc -c`` or ``pmc`` output (the timesync role, the metrics exporter). It runs on managed
hosts (Debian 12 and 13), so it uses the standard library only. The parsers are pure functions of
the command output; the only side effect in this file is name resolution in
:func:`resolve_source`, and :func:`assess` takes the resolver as a parameter.

Formats (``mlichvar/chrony`` ``client.c``; ``richardcochran/linuxptp`` ``pmc.c``), checked against
recorded real outputs of chrony 4.3 / 4.6.1 and linuxptp 3.1.1 / 4.2 in ``tests/unit/fixtures``:

* ``chronyc -n -c tracking``: one line, 14 comma-separated fields, values in seconds or ppm.
* ``chronyc -n -c sources``: one line per source, 10 fields; the reach register is OCTAL.
  No output at all when there are no sources.
* When chronyd is not running, chronyc prints ``506 Cannot talk to daemon`` on stdout and
  exits 1.
* ``pmc -u -b 0 'GET ...'``: ``sending: GET X`` lines, then per response a header line
  ``\\t<portIdentity> seq <n> RESPONSE MANAGEMENT <ID> `` and ``\\t\\t<field> <value>`` lines.
  With no ptp4l on the socket pmc prints only the ``sending:`` lines and exits 0.

Check ids produced here:

* TIME-01 clock synchronised (leap status and a selected source)
* TIME-02 clock error bound within the limit
* TIME-03 enough reachable sources
* TIME-04 the sources in use are the configured ones
* TIME-05 chrony running and enabled, no conflicting time daemon active
* TIME-06 PTP port state as intended
* TIME-07 PTP offset from the master within its threshold
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ansible.module_utils.soc2_results import (
    RESULT_PRECEDENCE,
    worst_result,
)
from ansible.module_utils.soc2_results import make_check as _check

__all__ = [
    "CHECK_IDS",
    "CLIENT_PORT_STATES",
    "DEFAULT_CONFLICTING_SERVICES",
    "DEFAULT_MAX_ERROR",
    "GRANDMASTER_PORT_STATES",
    "LEAP_STATUSES",
    "LOCAL_REFERENCE_ID",
    "PMC_COMMANDS",
    "PTP_ROLES",
    "RESULT_PRECEDENCE",
    "SOURCES_FIELDS",
    "TRACKING_FIELDS",
    "ParseError",
    "assess",
    "check_conflicts_and_service",
    "check_error_bound",
    "check_ptp_offset",
    "check_ptp_port_state",
    "check_reachable_sources",
    "check_source_set",
    "check_synchronised",
    "clock_error_bound",
    "command_failure",
    "default_uds",
    "normalise_address",
    "parse_is_active",
    "parse_is_enabled",
    "parse_pmc",
    "parse_sources",
    "parse_tracking",
    "resolve_source",
    "worst_result",
]

CHECK_IDS: tuple[str, ...] = (
    "TIME-01",
    "TIME-02",
    "TIME-03",
    "TIME-04",
    "TIME-05",
    "TIME-06",
    "TIME-07",
)

TRACKING_FIELDS: tuple[str, ...] = (
    "ref_id",
    "ref_name",
    "stratum",
    "ref_time",
    "system_offset",
    "last_offset",
    "rms_offset",
    "frequency_ppm",
    "residual_freq_ppm",
    "skew_ppm",
    "root_delay",
    "root_dispersion",
    "update_interval",
    "leap_status",
)

SOURCES_FIELDS: tuple[str, ...] = (
    "mode",
    "state",
    "address",
    "stratum",
    "poll",
    "reach",
    "last_rx",
    "adjusted_offset",
    "measured_offset",
    "error",
)

LEAP_STATUSES: tuple[str, ...] = ("Normal", "Insert second", "Delete second", "Not synchronised")
LEAP_PENDING: tuple[str, ...] = ("Insert second", "Delete second")
# chronyc sources: ^ server, = peer, # reference clock.
SOURCE_MODES: tuple[str, ...] = ("^", "=", "#")
# * selected, + combined, - selectable not combined, ? unusable, x falseticker, ~ too variable.
SOURCE_STATES: tuple[str, ...] = ("*", "+", "-", "?", "x", "~")
# Reference id chronyd reports while it serves its own clock (`local` directive): 127.127.1.1.
LOCAL_REFERENCE_ID = "7F7F0101"

DEFAULT_CONFLICTING_SERVICES: tuple[str, ...] = (
    "systemd-timesyncd",
    "ntp",
    "ntpsec",
    "openntpd",
)
# `systemctl is-active` words that mean the unit runs (or is about to).
RUNNING_STATES: tuple[str, ...] = ("active", "activating", "reloading", "refreshing")
# `systemctl is-enabled` words that mean the unit starts at boot.
ENABLED_STATES: tuple[str, ...] = ("enabled",)

PTP_ROLES: tuple[str, ...] = ("client", "grandmaster")
CLIENT_PORT_STATES: tuple[str, ...] = ("SLAVE",)
GRANDMASTER_PORT_STATES: tuple[str, ...] = ("MASTER", "GRAND_MASTER")
# Port states in which a client's offsetFromMaster is a current measurement.
MEASURING_PORT_STATES: tuple[str, ...] = ("SLAVE", "UNCALIBRATED")
PMC_COMMANDS: tuple[str, ...] = (
    "GET CURRENT_DATA_SET",
    "GET PORT_DATA_SET",
    "GET TIME_STATUS_NP",
)

_REF_ID_RE = re.compile(r"^[0-9A-F]{8}$")
_OCTAL_RE = re.compile(r"^[0-7]+$")
_PMC_HEADER_RE = re.compile(
    r"^\t(?P<port>\S+) seq (?P<seq>\d+) (?P<action>[A-Z_]+) "
    r"(?P<tlv>MANAGEMENT_ERROR_STATUS|MANAGEMENT)(?: (?P<id>[A-Z0-9_]+))? ?$"
)
_PMC_FIELD_RE = re.compile(r"^\t\t(?P<key>\S+)(?:\s+(?P<value>.*?))?\s*$")

# Typed pmc fields; every other field stays a string.
_PMC_INT_FIELDS = frozenset(
    {
        "stepsRemoved",
        "master_offset",
        "ingress_time",
        "scaledLastGmPhaseChange",
        "gmTimeBaseIndicator",
        "logMinDelayReqInterval",
        "peerMeanPathDelay",
        "logAnnounceInterval",
        "announceReceiptTimeout",
        "logSyncInterval",
        "delayMechanism",
        "logMinPdelayReqInterval",
        "versionNumber",
    }
)
_PMC_FLOAT_FIELDS = frozenset({"offsetFromMaster", "meanPathDelay", "cumulativeScaledRateOffset"})
_PMC_BOOL_FIELDS = frozenset({"gmPresent"})
# Flattened into the top level of parse_pmc()'s result (first response of each kind).
_PMC_FLAT_FIELDS: dict[str, tuple[str, ...]] = {
    "CURRENT_DATA_SET": ("stepsRemoved", "offsetFromMaster", "meanPathDelay"),
    "PORT_DATA_SET": ("portIdentity", "portState"),
    "TIME_STATUS_NP": ("master_offset", "ingress_time", "gmPresent", "gmIdentity"),
}


class ParseError(ValueError):
    """Command output that does not have the expected shape."""


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:.9f} s"


def _number(value: float) -> str:
    """Compact rendering of a limit given by the user (0.05, 1000)."""
    return f"{value:g}"


def _int(field: str, text: str, *, base: int = 10) -> int:
    value = text.strip()
    if base == 8 and not _OCTAL_RE.match(value):
        raise ParseError(f"{field}: {text!r} is not an octal number")
    try:
        return int(value, base)
    except ValueError:
        raise ParseError(f"{field}: {text!r} is not an integer") from None


def _float(field: str, text: str) -> float:
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        raise ParseError(f"{field}: {text!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ParseError(f"{field}: {text!r} is not a finite number")
    return number


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def command_failure(argv: Sequence[str], rc: int, stdout: str, stderr: str) -> str:
    """One-line description of a failed command: its first output line and exit code."""
    detail = ""
    for stream in (stderr, stdout):
        lines = _lines(stream or "")
        if lines:
            detail = lines[0].strip()
            break
    command = " ".join(argv)
    return f"`{command}` exited {rc}" + (f": {detail}" if detail else " with no output")


def default_uds(name: str) -> str:
    """Default pmc socket of the ptp4l instance ``name`` (its ``uds_address``)."""
    return f"/var/run/ptp4l-{name}"


# --------------------------------------------------------------------------------------------
# chronyc
# --------------------------------------------------------------------------------------------


def parse_tracking(csv_text: str) -> dict[str, Any]:
    """Parse ``chronyc -c tracking`` (14 fields) into typed values (seconds, ppm)."""
    lines = _lines(csv_text)
    if len(lines) != 1:
        raise ParseError(f"tracking: expected one CSV line, got {len(lines)}")
    fields = lines[0].rstrip("\r\n").split(",")
    if len(fields) != len(TRACKING_FIELDS):
        raise ParseError(
            f"tracking: expected {len(TRACKING_FIELDS)} fields, got {len(fields)}: {lines[0]!r}"
        )
    raw = dict(zip(TRACKING_FIELDS, fields, strict=True))
    ref_id = raw["ref_id"].strip().upper()
    if not _REF_ID_RE.match(ref_id):
        raise ParseError(f"ref_id: {raw['ref_id']!r} is not 8 hex digits")
    leap = raw["leap_status"].strip()
    if leap not in LEAP_STATUSES:
        raise ParseError(f"leap_status: unknown value {raw['leap_status']!r}")
    tracking: dict[str, Any] = {
        "ref_id": ref_id,
        "ref_name": raw["ref_name"].strip(),
        "stratum": _int("stratum", raw["stratum"]),
    }
    for name in TRACKING_FIELDS[3:13]:
        tracking[name] = _float(name, raw[name])
    tracking["leap_status"] = leap
    return tracking


def parse_sources(csv_text: str) -> list[dict[str, Any]]:
    """Parse ``chronyc -c sources`` (10 fields a line; reach is octal). Empty text -> []."""
    sources: list[dict[str, Any]] = []
    for number, line in enumerate(_lines(csv_text), start=1):
        fields = line.rstrip("\r\n").split(",")
        if len(fields) != len(SOURCES_FIELDS):
            raise ParseError(
                f"sources line {number}: expected {len(SOURCES_FIELDS)} fields, "
                f"got {len(fields)}: {line!r}"
            )
        raw = dict(zip(SOURCES_FIELDS, fields, strict=True))
        mode, state, address = raw["mode"].strip(), raw["state"].strip(), raw["address"].strip()
        if mode not in SOURCE_MODES:
            raise ParseError(f"sources line {number}: unknown mode {raw['mode']!r}")
        if state not in SOURCE_STATES:
            raise ParseError(f"sources line {number}: unknown state {raw['state']!r}")
        if not address:
            raise ParseError(f"sources line {number}: empty address")
        sources.append(
            {
                "mode": mode,
                "state": state,
                "address": address,
                "stratum": _int("stratum", raw["stratum"]),
                "poll": _int("poll", raw["poll"]),
                "reach": _int("reach", raw["reach"], base=8),
                "last_rx": _int("last_rx", raw["last_rx"]),
                "adjusted_offset": _float("adjusted_offset", raw["adjusted_offset"]),
                "measured_offset": _float("measured_offset", raw["measured_offset"]),
                "error": _float("error", raw["error"]),
            }
        )
    return sources


def clock_error_bound(tracking: Mapping[str, Any]) -> float:
    """Maximum clock error in seconds that chrony can vouch for.

    chronyc(1), ``tracking``, Root dispersion: "An absolute bound on the computer's clock
    accuracy (assuming the stratum-1 computer is correct) is given by
    clock_error <= |system_time_offset| + root_dispersion + (0.5 * root_delay)".
    The system time offset (not the last offset) is the error the clock has right now: with
    ``chronyd -x`` a clock 200 ms off shows ``System time`` 0.2 s but a last offset of a few
    microseconds (tests/unit/fixtures/chrony/ahead_200ms_tracking.txt). Rounded to 1 ns, the
    resolution of the inputs.
    """
    bound = (
        abs(float(tracking["system_offset"]))
        + float(tracking["root_dispersion"])
        + float(tracking["root_delay"]) / 2.0
    )
    return round(bound, 9)


def normalise_address(value: str) -> str:
    """Canonical text of an IP address (``::1`` for ``0:0::1``); other names unchanged."""
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def resolve_source(name: str) -> list[str]:
    """Addresses of a configured time source: an IP as itself, a host name via getaddrinfo.

    Raises ``OSError`` (``socket.gaierror``) when the name does not resolve.
    """
    text = name.strip()
    try:
        return [str(ipaddress.ip_address(text))]
    except ValueError:
        pass
    infos = socket.getaddrinfo(text, None, proto=socket.IPPROTO_UDP)
    addresses = {normalise_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    return sorted(addresses)


# --------------------------------------------------------------------------------------------
# systemctl
# --------------------------------------------------------------------------------------------


def parse_is_active(text: str, units: Sequence[str]) -> dict[str, str]:
    """Map each unit to its ``systemctl is-active u1 u2 ...`` word (one line per unit)."""
    lines = [line.strip() for line in _lines(text)]
    if len(lines) != len(units):
        raise ParseError(
            f"systemctl is-active: expected {len(units)} lines for {', '.join(units)}, "
            f"got {len(lines)}"
        )
    for line in lines:
        if not re.match(r"^[a-z-]+$", line):
            raise ParseError(f"systemctl is-active: unexpected line {line!r}")
    return dict(zip(units, lines, strict=True))


def parse_is_enabled(text: str) -> str:
    """The single word ``systemctl is-enabled UNIT`` prints (first line)."""
    lines = [line.strip() for line in _lines(text)]
    if not lines or not re.match(r"^[a-z-]+$", lines[0]):
        raise ParseError(f"systemctl is-enabled: unexpected output {text!r}")
    return lines[0]


# --------------------------------------------------------------------------------------------
# pmc
# --------------------------------------------------------------------------------------------


def _pmc_value(key: str, value: str) -> Any:
    if key in _PMC_INT_FIELDS:
        return _int(key, value)
    if key in _PMC_FLOAT_FIELDS:
        return _float(key, value)
    if key in _PMC_BOOL_FIELDS:
        if value not in ("true", "false"):
            raise ParseError(f"{key}: {value!r} is neither true nor false")
        return value == "true"
    return value


def parse_pmc(text: str) -> dict[str, Any]:
    """Parse ``pmc -u -b 0 'GET CURRENT_DATA_SET' 'GET PORT_DATA_SET' 'GET TIME_STATUS_NP'``.

    Returns ``responses`` (management id -> list of field dicts, one per responding port),
    ``errors`` (ids or port identities that answered MANAGEMENT_ERROR_STATUS), ``port_states``
    (portIdentity -> portState for every PORT_DATA_SET reply) and the main fields flattened
    from the first reply of each kind: ``stepsRemoved`` (int), ``offsetFromMaster`` and
    ``meanPathDelay`` (float, nanoseconds), ``portIdentity``, ``portState``, ``master_offset``
    and ``ingress_time`` (int, nanoseconds), ``gmPresent`` (bool), ``gmIdentity``.
    Fields of a kind that did not answer are absent. Raises :class:`ParseError` when nothing
    answered at all (no ptp4l on the socket) or a line has an unknown shape.
    """
    responses: dict[str, list[dict[str, Any]]] = {}
    errors: list[str] = []
    sent: list[str] = []
    current: dict[str, Any] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("sending: "):
            sent.append(line[len("sending: ") :].strip())
            current = None
            continue
        header = _PMC_HEADER_RE.match(line)
        if header:
            if header.group("tlv") == "MANAGEMENT_ERROR_STATUS":
                errors.append(f"{header.group('port')} seq {header.group('seq')}")
                current = None
                continue
            if not header.group("id"):
                raise ParseError(f"pmc line {number}: response without a management id")
            current = {}
            responses.setdefault(header.group("id"), []).append(current)
            continue
        field = _PMC_FIELD_RE.match(line)
        if field and current is not None:
            key = field.group("key")
            current[key] = _pmc_value(key, field.group("value") or "")
            continue
        if field:
            # Fields of an error status reply (or of an unknown TLV) are skipped.
            continue
        raise ParseError(f"pmc line {number}: unexpected {line!r}")
    if not responses and not errors:
        what = ", ".join(sent) if sent else "nothing was sent"
        raise ParseError(f"no response from ptp4l ({what})")
    parsed: dict[str, Any] = {
        "responses": responses,
        "errors": errors,
        "port_states": {
            str(port.get("portIdentity", "")): port.get("portState")
            for port in responses.get("PORT_DATA_SET", [])
        },
    }
    for kind, names in _PMC_FLAT_FIELDS.items():
        replies = responses.get(kind)
        if not replies:
            continue
        for name in names:
            if name in replies[0]:
                parsed[name] = replies[0][name]
    return parsed


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _selected(sources: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((s for s in sources if s.get("state") == "*"), None)


def check_synchronised(
    tracking: Mapping[str, Any] | None,
    sources: Sequence[Mapping[str, Any]] | None,
    *,
    error: str | None = None,
    local_reference_ok: bool = False,
) -> dict[str, Any]:
    """TIME-01: leap status Normal and a selected (``*``) source; a pending leap is at_risk."""
    cid = "TIME-01"
    expected = {"leap_status": "Normal", "selected_source": "one source in state *"}
    if tracking is None or sources is None:
        return _check(cid, "error", None, expected, f"cannot read chrony state: {error}")
    leap = tracking["leap_status"]
    selected = _selected(sources)
    observed = {
        "leap_status": leap,
        "selected_source": selected["address"] if selected else None,
        "reference": tracking["ref_name"] or tracking["ref_id"],
    }
    if leap == "Not synchronised":
        detail = "no source selected" if selected is None else f"source {selected['address']} *"
        return _check(
            cid, "fail", observed, expected, f"not synchronised: leap status {leap}, {detail}"
        )
    if selected is None:
        if local_reference_ok and tracking["ref_id"] == LOCAL_REFERENCE_ID and leap == "Normal":
            return _check(
                cid,
                "pass",
                observed,
                expected,
                f"serving the local reference clock (reference id {LOCAL_REFERENCE_ID}, "
                f"stratum {tracking['stratum']}); no upstream source by configuration",
            )
        if not sources:
            detail = "no sources configured"
        else:
            listed = ", ".join(f"{s['address']} {s['state']}" for s in sources)
            detail = f"none of {len(sources)} in state * ({listed})"
        return _check(
            cid, "fail", observed, expected, f"no selected source: {detail}; leap status {leap}"
        )
    if leap in LEAP_PENDING:
        return _check(
            cid,
            "at_risk",
            observed,
            expected,
            f"leap second pending ({leap}); synchronised to {selected['address']}",
        )
    return _check(
        cid,
        "pass",
        observed,
        expected,
        f"synchronised to {selected['address']} (stratum {tracking['stratum']}), "
        f"leap status {leap}",
    )


def check_error_bound(
    tracking: Mapping[str, Any] | None, max_error: float, *, error: str | None = None
) -> dict[str, Any]:
    """TIME-02: |system offset| + root dispersion + root delay / 2 <= max_error (seconds)."""
    cid = "TIME-02"
    expected = f"<= {_number(max_error)}"
    if tracking is None:
        return _check(cid, "error", None, expected, f"cannot read chrony tracking: {error}")
    bound = clock_error_bound(tracking)
    parts = (
        f"|system offset| {_seconds(abs(tracking['system_offset']))} + root dispersion "
        f"{_seconds(tracking['root_dispersion'])} + root delay/2 "
        f"{_seconds(tracking['root_delay'] / 2.0)}"
    )
    unsync = " (not synchronised)" if tracking["leap_status"] == "Not synchronised" else ""
    if bound <= max_error:
        return _check(
            cid,
            "pass",
            bound,
            expected,
            f"clock error bound {_seconds(bound)} within {_number(max_error)} s{unsync}",
        )
    return _check(
        cid,
        "fail",
        bound,
        expected,
        f"clock error bound {_seconds(bound)} exceeds {_number(max_error)} s{unsync}: {parts}",
    )


def check_reachable_sources(
    sources: Sequence[Mapping[str, Any]] | None, min_sources: int, *, error: str | None = None
) -> dict[str, Any]:
    """TIME-03: sources with a non-zero reach register and not falsetickers >= min_sources."""
    cid = "TIME-03"
    expected = f">= {min_sources}"
    if sources is None:
        return _check(cid, "error", None, expected, f"cannot read chrony sources: {error}")
    usable = [s for s in sources if s["reach"] != 0 and s["state"] != "x"]
    left_out = []
    for source in sources:
        if source["reach"] == 0:
            left_out.append(f"{source['address']} unreachable (reach 0)")
        elif source["state"] == "x":
            left_out.append(f"{source['address']} falseticker (x)")
    plural = "source" if len(usable) == 1 else "sources"
    message = f"{len(usable)} reachable {plural} (minimum {min_sources})"
    if not sources:
        message += "; no sources configured"
    elif left_out:
        message += "; not counted: " + ", ".join(left_out)
    result = "pass" if len(usable) >= min_sources else "fail"
    return _check(cid, result, len(usable), expected, message)


def check_source_set(
    sources: Sequence[Mapping[str, Any]] | None,
    expected_sources: Sequence[str],
    *,
    error: str | None = None,
    resolver: Callable[[str], Sequence[str]] = resolve_source,
) -> dict[str, Any]:
    """TIME-04: the set of source addresses equals the expected sources, resolved.

    An expected entry is present when any of its addresses is a source (a host name may
    resolve to several); every source address must belong to some expected entry. An entry
    equal to a source's address text (a reference clock name such as ``PHC0``) matches as is.
    """
    cid = "TIME-04"
    if not expected_sources:
        return _check(
            cid, "not_applicable", None, [], "no expected_sources given: the set is not compared"
        )
    if sources is None:
        return _check(
            cid, "error", None, list(expected_sources), f"cannot read chrony sources: {error}"
        )
    actual = sorted({normalise_address(s["address"]) for s in sources})
    raw_names = {s["address"] for s in sources}
    resolved: dict[str, list[str]] = {}
    problems = []
    for entry in expected_sources:
        if entry in raw_names:
            resolved[entry] = [normalise_address(entry)]
            continue
        try:
            resolved[entry] = sorted({normalise_address(a) for a in resolver(entry)})
        except (OSError, UnicodeError, ValueError) as exc:
            problems.append(f"cannot resolve expected source {entry}: {exc}")
    if problems:
        return _check(cid, "error", actual, list(expected_sources), "; ".join(problems))
    wanted = sorted({a for addrs in resolved.values() for a in addrs})
    missing = [
        entry if [entry] == addrs else f"{entry} ({', '.join(addrs)})"
        for entry, addrs in resolved.items()
        if not set(addrs) & set(actual)
    ]
    unexpected = [a for a in actual if a not in wanted]
    if not missing and not unexpected:
        return _check(cid, "pass", actual, wanted, "sources as configured: " + ", ".join(actual))
    parts = []
    if missing:
        parts.append("missing: " + ", ".join(missing))
    if unexpected:
        parts.append("unexpected: " + ", ".join(unexpected))
    return _check(cid, "fail", actual, wanted, "; ".join(parts))


def check_conflicts_and_service(services: Mapping[str, Any]) -> dict[str, Any]:
    """TIME-05: the chrony unit is active and enabled and no conflicting unit is running.

    ``services``: ``service`` (unit name), ``conflicting`` (unit names), ``active`` (unit ->
    is-active word, or None), ``enabled`` (is-enabled word of the service, or None), ``error``.
    """
    cid = "TIME-05"
    service = str(services["service"])
    conflicting = list(services.get("conflicting") or [])
    expected = {
        "service": {"active": "active", "enabled": "enabled"},
        "conflicting": dict.fromkeys(conflicting, "not running"),
    }
    active = services.get("active")
    enabled = services.get("enabled")
    observed = {
        "service": {
            "active": None if active is None else active.get(service),
            "enabled": enabled,
        },
        "conflicting": None if active is None else {u: active.get(u) for u in conflicting},
    }
    if active is None or enabled is None:
        return _check(
            cid, "error", observed, expected, f"cannot read unit states: {services.get('error')}"
        )
    problems = []
    if active.get(service) != "active":
        problems.append(f"{service} is {active.get(service)}")
    if enabled not in ENABLED_STATES:
        problems.append(f"{service} is not enabled ({enabled})")
    running = [u for u in conflicting if active.get(u) in RUNNING_STATES]
    problems.extend(f"conflicting unit {u} is {active[u]}" for u in running)
    if problems:
        return _check(cid, "fail", observed, expected, "; ".join(problems))
    others = f" ({', '.join(conflicting)})" if conflicting else ""
    return _check(
        cid,
        "pass",
        observed,
        expected,
        f"{service} is active and enabled; no conflicting unit running{others}",
    )


def _ptp_disabled(cid: str) -> dict[str, Any]:
    return _check(cid, "not_applicable", None, None, "PTP not enabled on this host")


def _aggregate(
    cid: str,
    per_instance: Sequence[tuple[str, str, Any, Any, str]],
    expected_all: Any = None,
) -> dict[str, Any]:
    """Fold (name, result, observed, expected, message) per instance into one check."""
    result = worst_result(r for _, r, _, _, _ in per_instance)
    observed = {"by_instance": {name: obs for name, _, obs, _, _ in per_instance}}
    expected = (
        expected_all
        if expected_all is not None
        else {"by_instance": {name: exp for name, _, _, exp, _ in per_instance}}
    )
    if result in ("pass", "not_applicable"):
        chosen = [m for _, _, _, _, m in per_instance]
    else:
        ranked = sorted(
            (RESULT_PRECEDENCE.get(r, 4), i, m) for i, (_, r, _, _, m) in enumerate(per_instance)
        )
        chosen = [m for rank, _, m in reversed(ranked) if rank > RESULT_PRECEDENCE["pass"]]
    return _check(cid, result, observed, expected, "; ".join(chosen))


def _no_instances(cid: str) -> dict[str, Any]:
    return _check(
        cid, "error", None, None, "ptp.enabled is true but no ptp4l instances are configured"
    )


def check_ptp_port_state(instances: Sequence[Mapping[str, Any]], enabled: bool) -> dict[str, Any]:
    """TIME-06: a client's port is SLAVE; a grandmaster's ports are MASTER or GRAND_MASTER.

    ``instances``: ``name``, ``role``, ``data`` (parse_pmc result or None), ``error``.
    """
    cid = "TIME-06"
    if not enabled:
        return _ptp_disabled(cid)
    if not instances:
        return _no_instances(cid)
    rows = []
    for inst in instances:
        name, role, data = str(inst["name"]), inst["role"], inst.get("data")
        wanted = CLIENT_PORT_STATES if role == "client" else GRANDMASTER_PORT_STATES
        exp = " or ".join(wanted)
        if data is None or not data.get("port_states"):
            why = inst.get("error") or "no PORT_DATA_SET reply"
            rows.append((name, "error", None, exp, f"{name}: cannot read the port state: {why}"))
            continue
        states = [str(s) for s in data["port_states"].values()]
        shown = "/".join(states)
        if role == "client":
            ok = any(s in wanted for s in states)
        else:
            ok = all(s in wanted for s in states)
        if ok:
            rows.append((name, "pass", shown, exp, f"{name} ({role}): port {shown}"))
        else:
            rows.append(
                (name, "fail", shown, exp, f"{name} ({role}): port {shown}, expected {exp}")
            )
    return _aggregate(cid, rows)


def check_ptp_offset(
    instances: Sequence[Mapping[str, Any]], enabled: bool, max_offset_ns: float
) -> dict[str, Any]:
    """TIME-07: a client's |offsetFromMaster| (ns) <= max_offset_ns; grandmasters n/a.

    A client whose port is neither SLAVE nor UNCALIBRATED has no current offset (the value
    pmc shows is the last one before the master was lost): fail, never pass.
    """
    cid = "TIME-07"
    if not enabled:
        return _ptp_disabled(cid)
    if not instances:
        return _no_instances(cid)
    limit = f"<= {_number(max_offset_ns)}"
    rows = []
    for inst in instances:
        name, role, data = str(inst["name"]), inst["role"], inst.get("data")
        if role != "client":
            rows.append((name, "not_applicable", None, None, f"{name}: grandmaster, no offset"))
            continue
        if data is None or "offsetFromMaster" not in data:
            why = inst.get("error") or "no CURRENT_DATA_SET reply"
            rows.append((name, "error", None, limit, f"{name}: cannot read the offset: {why}"))
            continue
        offset = float(data["offsetFromMaster"])
        states = [str(s) for s in (data.get("port_states") or {}).values()]
        if not any(s in MEASURING_PORT_STATES for s in states):
            shown = "/".join(states) or "unknown"
            rows.append(
                (
                    name,
                    "fail",
                    offset,
                    limit,
                    f"{name}: no current offset (port {shown}); last value {offset:g} ns",
                )
            )
        elif abs(offset) <= max_offset_ns:
            rows.append(
                (
                    name,
                    "pass",
                    offset,
                    limit,
                    f"{name}: offset {offset:g} ns within {_number(max_offset_ns)} ns",
                )
            )
        else:
            rows.append(
                (
                    name,
                    "fail",
                    offset,
                    limit,
                    f"{name}: offset {offset:g} ns exceeds {_number(max_offset_ns)} ns",
                )
            )
    return _aggregate(cid, rows, expected_all=limit)


# TIME-02's limit on the clock error bound (seconds) when the caller gives none: the module's
# own default for ad-hoc use. The role's timesync_max_error (defaults/main.yml) is what users set;
# tests/unit/test_defaults.py fails when the two, or the catalog's "default 50 ms", disagree.
DEFAULT_MAX_ERROR = 0.05


def assess(
    *,
    tracking: Mapping[str, Any] | None,
    sources: Sequence[Mapping[str, Any]] | None,
    services: Mapping[str, Any],
    tracking_error: str | None = None,
    sources_error: str | None = None,
    max_error: float = DEFAULT_MAX_ERROR,
    min_sources: int = 1,
    expected_sources: Sequence[str] = (),
    local_reference_ok: bool = False,
    ptp_enabled: bool = False,
    ptp_instances: Sequence[Mapping[str, Any]] = (),
    max_offset_ns: float = 1000.0,
    resolver: Callable[[str], Sequence[str]] = resolve_source,
) -> list[dict[str, Any]]:
    """All seven TIME checks, in id order, from parsed (or missing) command outputs.

    ``tracking``/``sources`` are None when chronyc could not be run or read; the matching
    ``*_error`` says why, and the checks that need them are ``error`` (never pass or fail).
    TIME-04 stays ``not_applicable`` without ``expected_sources`` whatever chronyc did.
    """
    chrony_error = tracking_error or sources_error
    checks = [
        check_synchronised(
            tracking, sources, error=chrony_error, local_reference_ok=local_reference_ok
        ),
        check_error_bound(tracking, max_error, error=tracking_error),
        check_reachable_sources(sources, min_sources, error=sources_error),
        check_source_set(sources, expected_sources, error=sources_error, resolver=resolver),
        check_conflicts_and_service(services),
        check_ptp_port_state(ptp_instances, ptp_enabled),
        check_ptp_offset(ptp_instances, ptp_enabled, max_offset_ns),
    ]
    return checks
