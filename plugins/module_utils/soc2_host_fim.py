# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HOST family's file integrity part (the file_integrity role's
``_file_integrity_verify_params``): HOST-13 and HOST-14, composed by soc2_host_family.py under
the option ``fim``.

Read in the one module run on the host, without running AIDE (the daily check service does
that): the SHA-256 of the AIDE database and the summary the check service wrote
(roles/file_integrity/files/soc2-aide-check).

* HOST-13: the database is the approved one: its SHA-256 equals ``approved_sha256``, the
  digest the role recorded on the control node when it initialised or approved the database
  and passes in from there (a copy on the host could be rewritten with the database).
* HOST-14: the last check ran within ``max_age_seconds``, against the approved database, and
  found no added, removed or changed entry.

A part of the HOST family: its interface (``CHECK_IDS``, ``ARGUMENT_SPEC``, ``validate``,
``verify``) is documented once, in plugins/module_utils/soc2_host_family.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from typing import Any

from ansible.module_utils.soc2_results import make_check

__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "validate", "verify"]

CHECK_IDS: tuple[str, ...] = ("HOST-13", "HOST-14")

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": False},
    "database": {"type": "str", "default": "/var/lib/aide/aide.db"},
    "approved_sha256": {"type": "str", "default": ""},
    "approved_source": {"type": "str", "default": ""},
    "summary_file": {"type": "str", "default": "/var/log/aide/soc2-aide-summary.json"},
    # A day and two hours: the daily timer's randomised delay and the check's own run time.
    "max_age_seconds": {"type": "int", "default": 93600},
}

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
KINDS = ("added", "removed", "changed")
PATH_LIMIT = 5


def validate(p: Mapping[str, Any]) -> list[str]:
    """Parameter problems that need no host (none when the part is not enabled). An empty
    approved digest is not one: HOST-13 fails on the host with where it should come from."""
    if not p["enabled"]:
        return []
    problems = []
    for name in ("database", "summary_file"):
        if not str(p[name]).startswith("/"):
            problems.append(f"{name} must be an absolute path")
    if p["approved_sha256"] and not SHA256_RE.match(p["approved_sha256"]):
        problems.append("approved_sha256 must be 64 lower-case hex digits or empty")
    if p["max_age_seconds"] <= 0:
        problems.append("max_age_seconds must be above 0")
    return problems


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assess_database(
    actual: str | None, why: str | None, p: Mapping[str, Any]
) -> tuple[str, str, dict[str, Any]]:
    """HOST-13: (result, message, observed)."""
    observed = {"database": p["database"], "sha256": actual}
    source = f" ({p['approved_source']})" if p["approved_source"] else ""
    if actual is None:
        return "fail", f"{p['database']}: {why}", observed
    if not p["approved_sha256"]:
        return (
            "fail",
            f"no approved digest on the control node{source}: converge the file_integrity role "
            "(it initialises the database and records its digest)",
            observed,
        )
    if actual != p["approved_sha256"]:
        return (
            "fail",
            f"{p['database']} has SHA-256 {actual[:16]}..., not the approved "
            f"{p['approved_sha256'][:16]}...{source}: replaced or re-initialised outside the role",
            observed,
        )
    return "pass", f"{p['database']} is the approved database", observed


def parse_summary(text: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(data, dict) or data.get("format") != 1:
        return None, "not a soc2-aide-check summary (format 1)"
    return data, None


def _paths(summary: dict[str, Any]) -> list[str]:
    out = []
    for kind in KINDS:
        out += [f"{kind} {path}" for path in summary.get(f"{kind}_paths") or []]
    more = len(out) - PATH_LIMIT
    return out[:PATH_LIMIT] + ([f"{more} more"] if more > 0 else [])


def assess_last_check(
    summary: dict[str, Any] | None, why: str | None, p: Mapping[str, Any], now: float
) -> tuple[str, str, dict[str, Any]]:
    """HOST-14: (result, message, observed)."""
    if summary is None:
        return "fail", f"no AIDE check result: {why}", {"summary_file": p["summary_file"]}
    age = round(now - float(summary.get("time") or 0))
    observed = {
        "result": summary.get("result"),
        "age_seconds": age,
        **{kind: summary.get(kind) for kind in KINDS},
        "database_sha256": summary.get("database_sha256"),
    }
    problems = []
    if age > p["max_age_seconds"]:
        problems.append(
            f"the last AIDE check ran {age / 3600:.1f} h ago, more than "
            f"{p['max_age_seconds'] / 3600:.1f} h"
        )
    result = summary.get("result")
    if result == "changes":
        counts = ", ".join(f"{summary.get(k, 0)} {k}" for k in KINDS)
        problems.append(f"unapproved changes ({counts}): {'; '.join(_paths(summary))}")
    elif result == "database_not_approved":
        problems.append(f"the check refused the database: {summary.get('error', '')}")
    elif result != "clean":
        problems.append(f"the check failed: {summary.get('error') or result}")
    elif p["approved_sha256"] and summary.get("database_sha256") != p["approved_sha256"]:
        problems.append("the last check used a database other than the approved one")
    if problems:
        return "fail", "; ".join(problems), observed
    return (
        "pass",
        f"the last AIDE check ({age / 3600:.1f} h ago, {summary.get('entries')} entries) "
        "found no change",
        observed,
    )


def observations(summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    if summary is None:
        return []
    out: list[dict[str, Any]] = [
        {"key": "fim_last_check", "labels": {}, "value": float(summary.get("time") or 0)}
    ]
    if summary.get("result") in ("clean", "changes"):
        out += [
            {"key": "fim_unapproved_entries", "labels": {"kind": k}, "value": summary.get(k, 0)}
            for k in KINDS
        ]
    return out


def verify(module: Any, p: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    """HOST-13 and HOST-14 on this host (``module`` unused: nothing is run)."""
    now = time.time() if now is None else now
    actual: str | None
    try:
        actual, why = sha256_file(p["database"]), None
    except FileNotFoundError:
        actual, why = None, "does not exist (the role initialises it)"
    except OSError as exc:
        actual, why = None, f"cannot be read: {exc}"
    result, message, observed = assess_database(actual, why, p)
    host13 = make_check("HOST-13", result, observed, p["approved_sha256"] or None, message)

    summary: dict[str, Any] | None
    try:
        with open(p["summary_file"], encoding="utf-8") as fh:
            summary, why = parse_summary(fh.read())
    except FileNotFoundError:
        summary, why = None, f"{p['summary_file']} does not exist (the check never ran)"
    except OSError as exc:
        summary, why = None, f"{p['summary_file']} cannot be read: {exc}"
    result, message, observed = assess_last_check(summary, why, p, now)
    host14 = make_check(
        "HOST-14",
        result,
        observed,
        f"a clean check within {p['max_age_seconds']} s",
        message,
    )
    return {
        "checks": [host13, host14],
        "observations": observations(summary),
        "facts": {"database_sha256": actual, "summary": summary},
    }
