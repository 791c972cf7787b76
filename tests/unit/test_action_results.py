# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/action/soc2audit_results.py: a family whose parameters failed travels as
{family, reason} (soc2_verify's family_errors, plugins/action/soc2_verify.py) and becomes
error results."""

from __future__ import annotations

from pathlib import Path

from plugin_loader import load_plugin

from soc2audit.catalog import load_catalog

REPO = Path(__file__).resolve().parents[2]
ACTION = load_plugin("plugins/action/soc2audit_results.py")
CATALOG = load_catalog(REPO / "controls" / "catalog.yml")


def test_failed_family_becomes_errors_for_its_module_checks_only() -> None:
    time_checks = [{"check_id": f"TIME-0{n}", "result": "pass"} for n in range(1, 8)]
    errors = [{"family": "PKI", "reason": "pki_certificate_requests[0]: 'sans' is empty"}]
    rows = ACTION._family_errors(errors, time_checks, CATALOG, ["edge"])
    assert [r["check_id"] for r in rows] == [f"PKI-0{n}" for n in range(1, 7)]  # not PKI-07
    assert all(r["result"] == "error" for r in rows)
    assert rows[0]["message"] == (
        "PKI verifier not run: its parameters failed: pki_certificate_requests[0]: 'sans' is empty"
    )


def test_checks_already_reported_and_entries_that_are_not_dicts_are_left_alone() -> None:
    reported = [{"check_id": "NET-01", "result": "pass"}]
    errors = [
        {"family": "NET", "reason": "bad"},
        "NET: a string is no longer parsed",
        {"reason": "x"},
    ]
    rows = ACTION._family_errors(errors, reported, CATALOG, ["edge"])
    assert [r["check_id"] for r in rows] == ["NET-02", "NET-03", "NET-04", "NET-05"]
    assert ACTION._error_text(errors[0]) == "NET: bad"
    assert ACTION._error_text(errors[1]) == "NET: a string is no longer parsed"
    assert ACTION._family_error({"family": "AUD"}) == ("AUD", "failed")
