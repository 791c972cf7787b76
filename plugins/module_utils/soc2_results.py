# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The check-result vocabulary shared by every verification module (docs/architecture.md
"Check results").

Imported by the family module_utils (soc2_x509, soc2_chrony, ...) so each family builds results
and aggregates them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Every result value of the schema, in the order reports list them. Verification modules emit
# the first five; the control node adds not_run (host produced nothing) and waived (waivers.yml).
RESULTS: tuple[str, ...] = (
    "pass",
    "fail",
    "error",
    "at_risk",
    "not_applicable",
    "not_run",
    "waived",
)

# Aggregation precedence: error beats fail beats at_risk beats pass beats not_applicable.
# error is never folded into fail or not_applicable.
RESULT_PRECEDENCE: dict[str, int] = {
    "not_applicable": 0,
    "pass": 1,
    "at_risk": 2,
    "fail": 3,
    "error": 4,
}


def worst_result(results: Iterable[str]) -> str:
    """Return the result with the highest precedence (error > fail > at_risk > pass > n/a)."""
    worst = "not_applicable"
    for result in results:
        if RESULT_PRECEDENCE.get(result, RESULT_PRECEDENCE["error"]) > RESULT_PRECEDENCE[worst]:
            worst = result if result in RESULT_PRECEDENCE else "error"
    return worst


def make_check(
    check_id: str, result: str, observed: Any, expected: Any, message: str
) -> dict[str, Any]:
    """One check result in the verification modules' schema."""
    return {
        "check_id": check_id,
        "result": result,
        "observed": observed,
        "expected": expected,
        "message": message,
    }
