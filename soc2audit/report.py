# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Human and CI views of a run's result rows: JUnit XML and a plain-text summary table."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from soc2audit.catalog import Catalog
from soc2audit.fsutil import parse_utc
from soc2audit.results import RESULTS, counts, exit_code

FAILURE_RESULTS = frozenset({"fail", "at_risk"})
ERROR_RESULTS = frozenset({"error", "not_run"})
SKIPPED_RESULTS = frozenset({"not_applicable", "waived"})


def _family(check_id: str, catalog: Catalog | None) -> str:
    check = catalog.get(check_id) if catalog is not None else None
    if check is not None:
        return check.family
    return check_id.rsplit("-", 1)[0] if "-" in check_id else check_id


def _hosts_in_order(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(row["host"]) for row in rows))


def _span_seconds(rows: Sequence[Mapping[str, Any]]) -> float:
    """Seconds from the earliest start to the latest finish of the rows (0 when unknown)."""
    try:
        starts = [parse_utc(str(row["started"])) for row in rows]
        ends = [parse_utc(str(row["finished"])) for row in rows]
    except (KeyError, ValueError):
        return 0.0
    if not starts:
        return 0.0
    return max(0.0, (max(ends) - min(starts)).total_seconds())


def _details(row: Mapping[str, Any]) -> str:
    detail = {"observed": row.get("observed"), "expected": row.get("expected")}
    if row.get("drift_since"):
        detail["drift_since"] = row["drift_since"]
    if row.get("waiver"):
        detail["waiver"] = row["waiver"]
    return json.dumps(detail, sort_keys=True, default=str)


def junit_xml(rows: Sequence[Mapping[str, Any]], catalog: Catalog | None = None) -> str:
    """One testsuite per host, one testcase per check (classname = family).

    fail and at_risk are failures, error and not_run errors, not_applicable and waived skipped.
    The family comes from the catalog when given, else from the check id (``PKI-01`` -> PKI).
    Checks carry no own duration (one verifier call covers all of a host's checks); a suite's
    ``time`` is the span of its host's rows.
    """
    root = ET.Element("testsuites", name="soc2audit")
    totals: Counter[str] = Counter()
    for host in _hosts_in_order(rows):
        host_rows = [row for row in rows if str(row["host"]) == host]
        suite = ET.SubElement(root, "testsuite", name=host)
        tally: Counter[str] = Counter()
        for row in host_rows:
            result = str(row["result"])
            check_id = str(row["check_id"])
            case = ET.SubElement(
                suite, "testcase", name=check_id, classname=_family(check_id, catalog)
            )
            text = " ".join(str(row.get("message") or "").split())
            message = f"{result}: {text}" if text else result
            if result in FAILURE_RESULTS:
                tally["failures"] += 1
                node = ET.SubElement(case, "failure", message=message, type=result)
                node.text = _details(row)
            elif result in ERROR_RESULTS or result not in RESULTS:
                tally["errors"] += 1
                node = ET.SubElement(case, "error", message=message, type=result)
                node.text = _details(row)
            elif result in SKIPPED_RESULTS:
                tally["skipped"] += 1
                ET.SubElement(case, "skipped", message=message)
        tally["tests"] = len(host_rows)
        for key in ("tests", "failures", "errors", "skipped"):
            suite.set(key, str(tally[key]))
        suite.set("time", f"{_span_seconds(host_rows):.3f}")
        if host_rows and host_rows[0].get("started"):
            suite.set("timestamp", str(host_rows[0]["started"]))
        totals.update(tally)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(totals[key]))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _table(header: list[str], body: list[list[str]], numeric_from: int) -> list[str]:
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: list[str]) -> str:
        cells = [
            cell.rjust(widths[i]) if i >= numeric_from else cell.ljust(widths[i])
            for i, cell in enumerate(line)
        ]
        return "  ".join(cells).rstrip()

    return [fmt(header), *(fmt(line) for line in body)]


def summary_table(rows: Sequence[Mapping[str, Any]], catalog: Catalog) -> str:
    """Counts per result for every host and family, the checks not passing, one total line."""
    families_order = list(dict.fromkeys(check.family for check in catalog.checks))
    per_cell: dict[tuple[str, str], Counter[str]] = {}
    for row in rows:
        key = (str(row["host"]), _family(str(row["check_id"]), catalog))
        per_cell.setdefault(key, Counter())[str(row["result"])] += 1
        if key[1] not in families_order:
            families_order.append(key[1])

    lines: list[str] = []
    if rows:
        first = rows[0]
        lines.append(
            f"Drift run {first.get('run_id', '-')} "
            f"(suite {first.get('suite_version', '-')}, "
            f"policy {str(first.get('policy_sha256', '-'))[:12]})"
        )
        lines.append("")
    header = ["host", "family", *RESULTS]
    body = [
        [host, family, *(str(per_cell[(host, family)][r]) for r in RESULTS)]
        for host in _hosts_in_order(rows)
        for family in families_order
        if (host, family) in per_cell
    ]
    lines += _table(header, body, numeric_from=2)

    not_passing = [row for row in rows if str(row["result"]) not in {"pass", "not_applicable"}]
    if not_passing:
        lines += ["", "Not passing:"]
        lines += _table(
            ["host", "check", "result", "message"],
            [
                [
                    str(row["host"]),
                    str(row["check_id"]),
                    str(row["result"]),
                    " ".join(str(row.get("message") or "").split()),
                ]
                for row in not_passing
            ],
            numeric_from=4,
        )

    tally = counts(rows)
    parts = ", ".join(f"{n} {r}" for r, n in tally.items() if n)
    lines += [
        "",
        f"Total: {len(rows)} results on {len(_hosts_in_order(rows))} "
        f"host{'' if len(_hosts_in_order(rows)) == 1 else 's'}"
        f"{': ' + parts if parts else ''}; {len(not_passing)} not passing;"
        f" exit status {exit_code(rows)}",
    ]
    return "\n".join(lines) + "\n"
