# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The TIME family's verification (TIME-01 .. TIME-07), shared by the soc2_time module and the
one-pass soc2_verify module that runs every family in one round trip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.module_utils.soc2_chrony import (
    CHECK_IDS,
    DEFAULT_CONFLICTING_SERVICES,
    DEFAULT_MAX_ERROR,
    PMC_COMMANDS,
    PTP_ROLES,
    ParseError,
    assess,
    clock_error_bound,
    command_failure,
    default_uds,
    parse_is_active,
    parse_is_enabled,
    parse_pmc,
    parse_sources,
    parse_tracking,
)
from ansible.module_utils.soc2_command import find_binary, run

# The family interface (plugins/module_utils/soc2_family.py) the runner, soc2_verify and the
# catalog check rely on; CHECK_IDS is the parsing module's literal tuple.
__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "FAMILY", "validate", "verify"]

FAMILY = "TIME"

INSTANCE_SPEC: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "role": {"type": "str", "choices": list(PTP_ROLES), "default": "client"},
    "uds": {"type": "str"},
}

PTP_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": False},
    "instances": {"type": "list", "elements": "dict", "default": [], "options": INSTANCE_SPEC},
    "max_offset_ns": {"type": "float", "default": 1000.0},
}

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "max_error": {"type": "float", "default": DEFAULT_MAX_ERROR},
    "min_sources": {"type": "int", "default": 1},
    "expected_sources": {"type": "list", "elements": "str", "default": []},
    "local_reference_ok": {"type": "bool", "default": False},
    "service": {"type": "str", "default": "chrony"},
    "conflicting_services": {
        "type": "list",
        "elements": "str",
        "default": list(DEFAULT_CONFLICTING_SERVICES),
    },
    "chronyc": {"type": "str", "default": "chronyc"},
    "ptp": {"type": "dict", "options": PTP_SPEC, "apply_defaults": True},
}

# Commands run in the C locale so their words and numbers are the ones the parsers know.
# `systemctl is-enabled` stderr for a unit that does not exist.
_NOT_FOUND_MARK = "No such file or directory"


def validate(params: dict[str, Any]) -> list[str]:
    """Return parameter problems (empty when the request is usable)."""
    problems = []
    if not params["max_error"] > 0:
        problems.append("max_error must be above 0")
    if params["min_sources"] < 0:
        problems.append("min_sources must not be negative")
    for entry in params["expected_sources"]:
        if not entry.strip():
            problems.append("expected_sources must not contain empty entries")
    if not params["service"].strip():
        problems.append("service must not be empty")
    if params["service"] in params["conflicting_services"]:
        problems.append(f"service {params['service']} is also in conflicting_services")
    ptp = params["ptp"]
    if not ptp["max_offset_ns"] > 0:
        problems.append("ptp.max_offset_ns must be above 0")
    seen: set[str] = set()
    for inst in ptp["instances"]:
        if inst["name"] in seen:
            problems.append(f"duplicate ptp instance name {inst['name']!r}")
        seen.add(inst["name"])
    return problems


def read_chronyc(
    module: Any,
    binary: str | None,
    shown: str,
    report: str,
    parser: Callable[[str], Any],
    missing: str | None,
) -> tuple[Any, str | None]:
    """Run ``chronyc -n -c <report>`` and parse it: (value, None) or (None, why)."""
    if binary is None:
        return None, missing
    args = ["-n", "-c", report]
    rc, out, err = run(module, [binary, *args])
    if rc != 0:
        return None, command_failure([shown, *args], rc, out, err)
    try:
        return parser(out), None
    except ParseError as exc:
        return None, f"cannot parse `{shown} {' '.join(args)}` output: {exc}"


def read_services(module: Any, service: str, conflicting: list[str]) -> dict[str, Any]:
    """``systemctl is-active`` (all units, one call) and ``is-enabled`` (the chrony unit)."""
    facts: dict[str, Any] = {
        "service": service,
        "conflicting": conflicting,
        "active": None,
        "enabled": None,
        "error": None,
    }
    systemctl, why = find_binary(module, "systemctl")
    if systemctl is None:
        facts["error"] = why
        return facts
    units = [service, *conflicting]
    rc, out, err = run(module, [systemctl, "is-active", *units])
    try:
        facts["active"] = parse_is_active(out, units)
    except ParseError as exc:
        failure = command_failure(["systemctl", "is-active", *units], rc, out, err)
        facts["error"] = f"{failure} ({exc})"
        return facts
    rc, out, err = run(module, [systemctl, "is-enabled", service])
    if not out.strip() and _NOT_FOUND_MARK in err:
        facts["enabled"] = "not-found"
        return facts
    try:
        facts["enabled"] = parse_is_enabled(out)
    except ParseError as exc:
        failure = command_failure(["systemctl", "is-enabled", service], rc, out, err)
        facts["error"] = f"{failure} ({exc})"
    return facts


def read_ptp(module: Any, ptp: dict[str, Any]) -> dict[str, Any]:
    """pmc per configured instance (only when PTP is enabled)."""
    instances = [
        {
            "name": inst["name"],
            "role": inst["role"],
            "uds": inst["uds"] or default_uds(inst["name"]),
            "data": None,
            "error": None,
        }
        for inst in ptp["instances"]
    ]
    facts = {
        "enabled": ptp["enabled"],
        "max_offset_ns": ptp["max_offset_ns"],
        "instances": instances,
    }
    if not ptp["enabled"] or not instances:
        return facts
    pmc, why = find_binary(module, "pmc")
    for inst in instances:
        if pmc is None:
            inst["error"] = why
            continue
        args = ["-u", "-b", "0", "-s", inst["uds"], *PMC_COMMANDS]
        rc, out, err = run(module, [pmc, *args])
        if rc != 0:
            inst["error"] = command_failure(["pmc", *args], rc, out, err)
            continue
        try:
            inst["data"] = parse_pmc(out)
        except ParseError as exc:
            inst["error"] = f"pmc on {inst['uds']}: {exc}"
    return facts


def verify(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Read chrony, the services and PTP; the module result minus ``changed``.

    ``observations`` carries numeric facts for the metrics file (the clock error bound).
    """
    chronyc, missing = find_binary(module, params["chronyc"])
    shown = params["chronyc"]
    tracking, tracking_error = read_chronyc(
        module, chronyc, shown, "tracking", parse_tracking, missing
    )
    sources, sources_error = read_chronyc(module, chronyc, shown, "sources", parse_sources, missing)
    services = read_services(module, params["service"], list(params["conflicting_services"]))
    ptp = read_ptp(module, params["ptp"])

    checks = assess(
        tracking=tracking,
        sources=sources,
        services=services,
        tracking_error=tracking_error,
        sources_error=sources_error,
        max_error=params["max_error"],
        min_sources=params["min_sources"],
        expected_sources=params["expected_sources"],
        local_reference_ok=params["local_reference_ok"],
        ptp_enabled=ptp["enabled"],
        ptp_instances=ptp["instances"],
        max_offset_ns=ptp["max_offset_ns"],
    )
    bound = None if tracking is None else clock_error_bound(tracking)
    observations = []
    if bound is not None:
        observations.append(
            # The control node names the metric (soc2audit/metrics.py).
            {"key": "clock_error_bound", "labels": {}, "value": bound}
        )
    return {
        "checks": checks,
        "clock_error_bound": bound,
        "tracking": tracking,
        "sources": sources,
        "services": services,
        "ptp": ptp,
        "observations": observations,
    }
