# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the auditd role: pick the rule records of the chosen profiles and build the
auditd.conf settings from the role's variables (controller side, no host needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

# auditd.conf keys whose value may be "EXEC /path/to/script" (auditd.conf(5)).
EXEC_KEYS = (
    "space_left_action",
    "admin_space_left_action",
    "disk_full_action",
    "disk_error_action",
)


def records(
    profiles: Mapping[str, Sequence[Mapping[str, Any]]],
    names: Sequence[str],
    extra: Sequence[Mapping[str, Any]] | None = None,
    enable: Sequence[str] | None = None,
    disable: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The records of the profiles in ``names`` (in that order; an id shared by two profiles is
    taken once, from the first), then ``extra``, with ``enabled`` set by the id lists."""
    extra, enable, disable = list(extra or []), list(enable or []), list(disable or [])
    chosen: dict[str, dict[str, Any]] = {}
    for name in names:
        if name not in profiles:
            known = ", ".join(sorted(profiles))
            raise AnsibleFilterError(f"auditd: unknown rule profile {name!r} (known: {known})")
        for rec in profiles[name]:
            if not isinstance(rec, Mapping) or not rec.get("id"):
                raise AnsibleFilterError(f"auditd: profile {name} has a rule without an id")
            chosen.setdefault(str(rec["id"]), dict(rec))
    for rec in extra:
        if not isinstance(rec, Mapping) or not rec.get("id"):
            raise AnsibleFilterError(f"auditd: auditd_rules_extra has a rule without an id: {rec}")
        rid = str(rec["id"])
        if rid in chosen:
            raise AnsibleFilterError(
                f"auditd: extra rule id {rid!r} is already a profile rule; use another id, or "
                "auditd_rules_disable to switch the profile rule off"
            )
        chosen[rid] = dict(rec)
    both = sorted(set(enable) & set(disable))
    if both:
        raise AnsibleFilterError(f"auditd: rule ids both enabled and disabled: {both}")
    unknown = sorted((set(enable) | set(disable)) - set(chosen))
    if unknown:
        raise AnsibleFilterError(
            f"auditd: auditd_rules_enable/auditd_rules_disable name unknown rule ids {unknown}"
        )
    out = []
    for rid, rec in chosen.items():
        if rid in enable:
            rec["enabled"] = True
        elif rid in disable:
            rec["enabled"] = False
        out.append(rec)
    return out


def conf(
    settings: Mapping[str, Any],
    exec_script: str = "",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """auditd.conf key -> value from the role's settings: booleans as yes/no, an action EXEC
    gets the script path, ``extra`` (auditd_conf_extra) overrides and adds keys. Values are
    checked on the host against the installed version (soc2_auditd_plan)."""
    out: dict[str, str] = {}
    for key, value in {**dict(settings), **dict(extra or {})}.items():
        if value is None or value == "":
            continue
        text = ("yes" if value else "no") if isinstance(value, bool) else str(value).strip()
        if key in EXEC_KEYS and text.upper() == "EXEC":
            if not str(exec_script).startswith("/"):
                raise AnsibleFilterError(
                    f"auditd: {key} is EXEC but auditd_action_exec_script is not an absolute path"
                )
            text = f"EXEC {exec_script}"
        out[str(key)] = text
    return dict(sorted(out.items()))


def privileged_spec(
    enabled: bool,
    key: str,
    filters: Sequence[str],
    roots: Sequence[str],
    exclude_paths: Sequence[str],
    exclude_fstypes: Sequence[str],
    paths: Sequence[str],
) -> dict[str, Any]:
    """The verifier's ``privileged`` option from the role's variables."""
    return {
        "enabled": bool(enabled),
        "key": key,
        "filters": list(filters),
        "roots": list(roots),
        "exclude_paths": list(exclude_paths),
        "exclude_fstypes": list(exclude_fstypes),
        "paths": list(paths),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "soc2audit_auditd_records": records,
            "soc2audit_auditd_conf": conf,
            "soc2audit_auditd_privileged": privileged_spec,
        }
