# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The NET family's verification (NET-01 .. NET-05), shared by the soc2_nft module and the
one-pass soc2_verify module that runs every family in one round trip."""

from __future__ import annotations

import os
import re
from typing import Any

from ansible.module_utils.soc2_command import find_binary
from ansible.module_utils.soc2_nft import (
    SENTINEL_FAMILY,
    SENTINEL_TABLE,
    check_boot,
    check_foreign,
    check_policy,
    check_rules,
    check_sets,
    compare,
    desired_table,
    dropped,
    foreign_openings,
    metainfo,
    normalise_table,
    protected_ports,
    read_live,
    scratch_load,
    scratch_load_text,
    table_lines,
    table_names,
    unit_word,
)

# The family interface (plugins/module_utils/soc2_family.py) the runner, soc2_verify and the
# catalog check rely on: FAMILY, CHECK_IDS, ARGUMENT_SPEC, validate(), verify().
FAMILY = "NET"
CHECK_IDS: tuple[str, ...] = ("NET-01", "NET-02", "NET-03", "NET-04", "NET-05")

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "table": {"type": "str", "default": "soc2_filter"},
    "ruleset": {"type": "str", "required": True},
    "boot_config": {"type": "str", "default": "/etc/nftables.conf"},
    "persist_path": {"type": "str", "default": "/etc/nftables.d/soc2_filter.nft"},
    "service": {"type": "str", "default": "nftables"},
    "nft": {"type": "str", "default": "nft"},
    "unshare": {"type": "str", "default": "unshare"},
    "systemctl": {"type": "str", "default": "systemctl"},
}

# nft identifiers: a letter, then letters, digits, underscores (and a few more nft allows).
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
FAMILY_NAME = "inet"


def validate(params: dict[str, Any]) -> list[str]:
    """Return parameter problems (empty when the request is usable)."""
    problems = []
    if not NAME_RE.match(params["table"]):
        problems.append(f"table {params['table']!r} is not an nft identifier")
    if not params["ruleset"].strip():
        problems.append("ruleset must not be empty")
    for key in ("boot_config", "persist_path"):
        if not params[key].startswith("/"):
            problems.append(f"{key} must be an absolute path")
    if not params["service"].strip():
        problems.append("service must not be empty")
    return problems


def _boot(
    module: Any, params: dict[str, Any], unshare: str, nft: str, desired: dict[str, Any]
) -> tuple[dict[str, Any] | None, str, list[str], bool]:
    """(comparison of what the boot configuration loads with desired, the file compared, notes,
    whether that file is the persisted one instead of the boot file)."""
    table = params["table"]
    notes: list[str] = []
    source = params["boot_config"]
    if not os.path.exists(source):
        notes.append(f"{source} does not exist")
        return compare(desired, None), source, notes, False
    objs, why = scratch_load(module, unshare, nft, source, sentinel=True)
    fallback = False
    if objs is None and os.path.exists(params["persist_path"]):
        # The boot file may reference things a scratch namespace lacks (interfaces): fall back
        # to our persisted file alone and say so (the result is then at_risk at best).
        notes.append(f"{source} could not be loaded in a scratch namespace: {why}")
        source, fallback = params["persist_path"], True
        objs, why = scratch_load(module, unshare, nft, source, sentinel=True)
    if objs is None:
        notes.append(str(why))
        return compare(desired, None), source, notes, fallback
    if (SENTINEL_FAMILY, SENTINEL_TABLE) not in table_names(objs):
        notes.append(
            f"{source} flushes the whole ruleset: a reload of the service also removes the tables"
            " of other tools"
        )
    return compare(desired, normalise_table(objs, FAMILY_NAME, table)), source, notes, fallback


def verify(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Read the live ruleset once, build the desired table, compare; the module result minus
    ``changed``. ``observations`` carries the drop counter for the metrics file."""
    table = params["table"]
    label = f"{FAMILY_NAME} {table}"
    nft, nft_missing = find_binary(module, params["nft"])
    unshare, unshare_missing = find_binary(module, params["unshare"])
    systemctl, systemctl_missing = find_binary(module, params["systemctl"])

    live_objs, live_error = read_live(module, nft) if nft else (None, nft_missing)
    live = normalise_table(live_objs, FAMILY_NAME, table) if live_objs is not None else None

    if nft is None or unshare is None:
        desired, desired_error = (
            None,
            f"cannot build the desired table: {nft_missing or unshare_missing}",
        )
    else:
        objs, why = scratch_load_text(module, unshare, nft, params["ruleset"], table)
        desired, desired_error = desired_table(objs, why, table)
    diff = compare(desired, live) if live_error is None and desired is not None else None

    enabled, enabled_error = (
        unit_word(module, systemctl, "is-enabled", params["service"])
        if systemctl
        else (None, systemctl_missing)
    )
    boot_diff, boot_source, notes, fallback = None, params["boot_config"], [], False
    if desired is not None and nft and unshare:
        boot_diff, boot_source, notes, fallback = _boot(module, params, unshare, nft, desired)
    boot_error = desired_error or enabled_error

    ports = protected_ports(desired)
    openings = (
        foreign_openings(live_objs, FAMILY_NAME, table, ports) if live_objs is not None else None
    )
    checks = [
        check_policy(live, desired, diff, label, live_error),
        check_rules(diff, desired, label, live_error or desired_error),
        check_sets(diff, desired, live, label, live_error or desired_error),
        check_boot(
            enabled,
            boot_diff,
            boot_source,
            params["service"],
            label,
            boot_error,
            notes,
            fallback=fallback,
        ),
        check_foreign(
            openings,
            table_names(live_objs or []),
            ports,
            label,
            live_error or desired_error,
        ),
    ]
    observations = []
    counted = dropped(live_objs or [], FAMILY_NAME, table)
    if counted is not None:
        labels = {"table": table, "chain": "input"}
        # The control node names the metrics (soc2audit/metrics.py).
        observations += [
            {"key": "nft_dropped_packets", "labels": labels, "value": counted["packets"]},
            {"key": "nft_dropped_bytes", "labels": labels, "value": counted["bytes"]},
        ]
    result: dict[str, Any] = {
        "checks": checks,
        "nft_version": metainfo(live_objs or []).get("version"),
        "live": live,
        "desired": desired,
        "comparison": diff,
        "boot": {"source": boot_source, "comparison": boot_diff, "notes": notes},
        "service": {"name": params["service"], "enabled": enabled},
        "tables": [f"{f} {n}" for f, n in table_names(live_objs or [])],
        "dropped": counted,
        "errors": {
            k: v
            for k, v in (
                ("live", live_error),
                ("desired", desired_error),
                ("service", enabled_error),
            )
            if v
        },
        "observations": observations,
    }
    if getattr(module, "_diff", False):
        result["diff"] = {
            "before_header": f"live table {label}",
            "after_header": f"desired table {label}",
            "before": "\n".join(table_lines(live)) + "\n",
            "after": "\n".join(table_lines(desired)) + "\n",
        }
    return result
