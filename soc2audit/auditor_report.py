# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The window export: the auditor's package for a review window (docs/evidence.md
"The window export").

``write_package`` reads the window once (``soc2audit.window.scan``) and writes into one
directory:

* ``report.html``: one self-contained file (inline CSS, no script, no external reference of
  any kind): summary, per-day figures, a day x host heatmap per control, exceptions, gaps,
  waivers, incidents and alerts, the population, the chain verification result, and the
  "information produced by the entity" section (command line, parameters, query logic per
  figure, suite version, policy hash, generation time, hashes of the package files);
* ``population.jsonl``: every result row of the window, the evidence lines byte for byte;
* ``population.csv``: the same rows, one per line, with their file and line number;
* ``figures.json``: every number the report shows (what the reconciliation test compares);
* ``verify.json``: ``soc2audit evidence verify`` over the window (``chain_verify.verify``);
* ``manifest.json``: SHA-256 and size of each file above, the window and the parameters,
  canonical JSON (``soc2audit.chain.canonical``); ``manifest.json.sig``: its Ed25519
  signature with the evidence key when one exists, and ``evidence-public-key.pem``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import json
import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soc2audit
from soc2audit.catalog import Catalog
from soc2audit.chain import canonical, fingerprint, load_private_key, public_pem
from soc2audit.chain_verify import verify
from soc2audit.fsutil import atomic_write, ensure_dir, iso_utc
from soc2audit.incidents import Alert, Incident, link_alerts
from soc2audit.results import RESULTS, Waiver
from soc2audit.window import SEVERITY, TALLIES, Line, Scan, Window, results_of, scan, worst

PACKAGE_FORMAT = "soc2audit-window-package/1"
CSV_FIELDS = (
    "file",
    "line",
    "day",
    "run_id",
    "host",
    "check_id",
    "result",
    "started",
    "finished",
    "suite_version",
    "policy_sha256",
    "drift_since",
    "waiver_ticket",
    "waiver_approver",
    "waiver_expires",
    "message",
    "observed",
    "expected",
)
DATA_FILES = ("population.jsonl", "population.csv", "figures.json", "verify.json")

#: How each figure is computed, stated in the report (the "query logic" an auditor re-performs).
QUERY_LOGIC: dict[str, str] = {
    "population": (
        "Every non-empty line of evidence/results-YYYY-MM-DD.jsonl for each day YYYY-MM-DD of "
        "the window (the UTC day the drift run started), parsed as one JSON object, keeping "
        "rows whose host is in scope (--hosts: names or fnmatch patterns; default all). "
        "population.jsonl holds these lines byte for byte; population.csv the same rows."
    ),
    "reconciliation": (
        "lines in the window's files = population rows + rows of hosts out of scope + lines "
        "that are not JSON objects; population rows = sum of the per-day rows = sum of the "
        "per-result counts = sum of the heatmap cells' rows."
    ),
    "per_day": (
        "Per day: rows, distinct run_id values, distinct hosts (the population that day), rows "
        "per result; and per (host, check) pair with rows that day: ran = some row is not "
        "not_run; passed all day = every row pass or not_applicable; waived = clean but for "
        "waived rows; exceptions = some row fail, error, not_run or at_risk. passed all day + "
        "waived + exceptions = pairs."
    ),
    "heatmap": (
        "One table per check, one row per host, one column per day: the worst result of the "
        "day's rows for that check and host (error > fail > not_run > at_risk > waived > pass > "
        "not_applicable); an empty cell means no row (the check does not apply to the host, "
        "or the host was not in the inventory that day)."
    ),
    "exceptions": (
        "Per (host, check), consecutive rows in evidence order whose result is not pass or "
        "not_applicable form one exception: first seen = started of its first row, remediated "
        "at = started of the next pass or not_applicable row (open when none in the window); "
        "tickets = waivers on its rows and incidents whose time range contains its first and "
        "last row and whose hosts and checks match."
    ),
    "gaps": (
        "Every (check, host, interval) with a fail, error or not_run row, and every interval "
        "of the expected cadence (aligned to the Unix epoch) in which no row started; "
        "consecutive intervals with the same coverage are merged. Covered = an incident "
        "contains the rows' start times and matches host and check (no run: an incident for "
        "all hosts and all checks overlaps the interval); otherwise unexplained."
    ),
    "waivers": (
        "Waivers applied: the distinct waiver {ticket, approver, expires} on waived rows of "
        "the window, with the hosts and checks they applied to. Waivers in force: entries of "
        "controls/waivers.yml (at generation time) that had not expired before the window "
        "started, with their justification."
    ),
    "incidents": (
        "evidence/incidents-*.jsonl records (soc2audit incident add/import) whose time range "
        "overlaps the window; alerts from evidence/alerts-*.jsonl overlapping the window, "
        "linked to incidents whose time range overlaps theirs and whose hosts match; the "
        "intervals Prometheus' up showed hosts not up, from evidence/uptime-*.jsonl "
        "(soc2audit uptime), overlapping the window."
    ),
    "chain": (
        "soc2audit evidence verify --from <from> --to <to> over the evidence directory: the "
        "whole chain's links, signatures and keys, every evidence file digested in the window "
        "hashed, files and bytes no digest references (verify.json)."
    ),
}


@dataclass
class Options:
    evidence_dir: Path
    out: Path
    window: Window
    catalog: Catalog
    waivers: Sequence[Waiver] = ()
    policy_sha256: str = ""
    incidents: Sequence[Incident] = ()
    alerts: Sequence[Alert] = ()
    #: Intervals Prometheus' up showed hosts not up (soc2audit.uptime.read_uptime).
    uptime: Sequence[Mapping[str, Any]] = ()
    cadence: int = 3600
    key: Path | None = None
    command: Sequence[str] = field(default_factory=lambda: list(sys.argv))
    now: dt.datetime | None = None


@dataclass
class Package:
    out: Path
    figures: dict[str, Any]
    manifest_sha256: str
    signed: bool
    key_fingerprint: str | None
    verify_exit_code: int
    seconds: float
    unexplained_gaps: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


_ENCODE = json.JSONEncoder(sort_keys=True).encode


def _json_cell(value: Any) -> Any:
    """observed/expected as JSON text (None stays empty, as the csv module writes it)."""
    return None if value is None else _ENCODE(value)


def _create(path: Path) -> Path:
    """An empty file with the package's mode (0640, like the other files of the package)."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
    return path


class _Writers:
    """population.jsonl and population.csv, written as the scan goes.

    The csv module writes None as an empty field and other scalars with ``str``; observed and
    expected are JSON text.
    """

    def __init__(self, out: Path) -> None:
        self.jsonl = _create(out / "population.jsonl").open("wb")
        self.csv_handle = _create(out / "population.csv").open("w", encoding="utf-8", newline="")
        self.csv = csv.writer(self.csv_handle)
        self.csv.writerow(CSV_FIELDS)
        self.days: dict[dt.date, str] = {}

    def __call__(self, line: Line, row: Mapping[str, Any]) -> None:
        raw = line.raw if line.raw.endswith(b"\n") else line.raw + b"\n"
        self.jsonl.write(raw)
        get = row.get
        waiver = get("waiver")
        if not isinstance(waiver, Mapping):
            waiver = {}
        day = self.days.get(line.day)
        if day is None:
            day = self.days[line.day] = line.day.isoformat()
        self.csv.writerow(
            (
                line.file,
                line.number,
                day,
                get("run_id"),
                get("host"),
                get("check_id"),
                get("result"),
                get("started"),
                get("finished"),
                get("suite_version"),
                get("policy_sha256"),
                get("drift_since"),
                waiver.get("ticket"),
                waiver.get("approver"),
                waiver.get("expires"),
                get("message"),
                _json_cell(get("observed")),
                _json_cell(get("expected")),
            )
        )

    def close(self) -> None:
        self.jsonl.close()
        self.csv_handle.close()


def figures_of(result: Scan) -> dict[str, Any]:
    """Every number the report shows (figures.json and the reconciliation test)."""
    tallies = result.tallies()
    days = []
    for day in result.window.days():
        fig = result.days.get(day)
        tally = tallies.get(day, dict.fromkeys(TALLIES, 0))
        days.append(
            {
                "day": day.isoformat(),
                "rows": fig.rows if fig else 0,
                "runs": len(fig.runs) if fig else 0,
                "hosts": len(fig.hosts) if fig else 0,
                "results": {r: (fig.results.get(r, 0) if fig else 0) for r in RESULTS},
                **tally,
            }
        )
    total_tally = {k: sum(d[k] for d in days) for k in TALLIES}
    return {
        "window": {
            "from": result.window.since.isoformat(),
            "to": result.window.until.isoformat(),
            "hosts": list(result.window.hosts),
        },
        "files": result.files,
        "lines_in_files": result.lines,
        "population_rows": result.rows,
        "out_of_scope_rows": result.out_of_scope,
        "unparsable_lines": len(result.unparsable),
        "unparsable": result.unparsable[:100],
        "results": {r: result.results.get(r, 0) for r in RESULTS}
        | {r: n for r, n in result.results.items() if r not in RESULTS},
        "days": days,
        "totals": {"rows": sum(d["rows"] for d in days), **total_tally},
        "heatmap_rows": sum(cell[1] for cell in result.cells.values()),
        "hosts": len(result.hosts()),
        "checks": len(result.checks),
        "runs": len(set().union(*(f.runs for f in result.days.values()))) if result.days else 0,
        "exceptions": len(result.exceptions),
        "exceptions_open": sum(1 for e in result.exceptions if e.remediated_at is None),
        "gaps": len(result.gaps),
        "gaps_unexplained": sum(1 for g in result.gaps if not g.covered),
        "gap_intervals_no_run": sum(g.intervals for g in result.gaps if g.kind == "no_run"),
        "policy_sha256": dict(result.policies),
        "suite_version": dict(result.versions),
    }


# --------------------------------------------------------------------------- HTML

CSS = """
body{font:13px/1.4 system-ui,sans-serif;margin:1.5em;color:#111}
h1{font-size:20px}h2{font-size:16px;margin-top:2em;border-bottom:1px solid #999}
h3{font-size:14px;margin:1.2em 0 .3em}
table{border-collapse:collapse;margin:.3em 0}td,th{border:1px solid #ccc;padding:2px 5px;
text-align:left;vertical-align:top}th{background:#eee}td.n{text-align:right}
table.hm td{width:11px;height:11px;padding:0;border:1px solid #fff}
table.hm th{font-weight:normal;font-size:11px;padding:0 4px;background:none;border:none}
table.hm th.d{writing-mode:vertical-rl;font-size:9px}
.r-pass{background:#1a9850}.r-not_applicable{background:#bdbdbd}.r-waived{background:#74add1}
.r-at_risk{background:#fdae61}.r-not_run{background:#8c510a}.r-fail{background:#d73027}
.r-error{background:#762a83}.none{background:#f7f7f7}
.bad{color:#b00;font-weight:bold}.ok{color:#060;font-weight:bold}
.legend span{display:inline-block;width:12px;height:12px;margin:0 3px 0 10px;
vertical-align:middle}
pre{background:#f6f6f6;padding:.5em;overflow:auto;max-height:30em;font-size:11px}
code{font-size:12px}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], attrs: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, tuple):  # (html, css class)
                cells.append(f'<td class="{value[1]}">{value[0]}</td>')
            elif isinstance(value, int):
                cells.append(f'<td class="n">{value}</td>')
            else:
                cells.append(f"<td>{_e(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{attrs}><tr>{head}</tr>" + "".join(body) + "</table>"


def _heatmaps(result: Scan, catalog: Catalog) -> str:
    days = result.window.days()
    by_check: dict[str, dict[str, dict[dt.date, list[int]]]] = {}
    for (check_id, host, day), cell in result.cells.items():
        by_check.setdefault(check_id, {}).setdefault(host, {})[day] = cell
    order = {c: i for i, c in enumerate(catalog.ids)}
    parts = [
        '<p class="legend">'
        + "".join(f'<span class="r-{r}"></span>{r}' for r in SEVERITY)
        + '<span class="none"></span>no row</p>'
    ]
    head = "".join(f'<th class="d">{d.isoformat()}</th>' for d in days)
    for check_id in sorted(by_check, key=lambda c: (order.get(c, len(order)), c)):
        check = catalog.get(check_id)
        title = f"{check_id}: {check.title}" if check else f"{check_id} (not in the catalog)"
        parts.append(f'<h3 id="hm-{_e(check_id)}">{_e(title)}</h3>')
        rows = []
        for host in sorted(by_check[check_id]):
            cells = by_check[check_id][host]
            tds = []
            for day in days:
                cell = cells.get(day)
                if cell is None:
                    tds.append('<td class="none"></td>')
                    continue
                shown = worst(cell[0])
                if shown == "pass":
                    tds.append('<td class="r-pass"></td>')
                    continue
                tip = (
                    f"{host} {day.isoformat()} {check_id}: {shown} "
                    f"({cell[2]} of {cell[1]} rows not clean; {', '.join(results_of(cell[0]))})"
                )
                tds.append(
                    f'<td class="r-{shown}" data-day="{day.isoformat()}" title="{_e(tip)}"></td>'
                )
            rows.append(f'<tr data-host="{_e(host)}"><th>{_e(host)}</th>{"".join(tds)}</tr>')
        parts.append(
            f'<table class="hm" data-check="{_e(check_id)}"><tr><th></th>{head}</tr>'
            + "".join(rows)
            + "</table>"
        )
    return "\n".join(parts)


def _uptime_table(intervals: Sequence[Mapping[str, Any]], window: Window) -> str:
    """The intervals (soc2audit uptime) that overlap the window: an ongoing one ends at its
    derivation's range end."""
    start, end = iso_utc(window.start), iso_utc(window.end)
    shown = [
        u
        for u in intervals
        if str(u.get("start")) < end
        and str(u.get("end") or (u.get("derived") or {}).get("to") or u.get("start")) >= start
    ]
    if not shown:
        return "<p>None in evidence/uptime-*.jsonl for the window (soc2audit uptime).</p>"
    return _table(
        ["instance", "job", "not up", "start", "end", "seconds", "step", "evidence line"],
        [
            [
                u.get("instance", ""),
                u.get("job", ""),
                "up == 0" if u.get("kind") == "up_zero" else "no samples",
                u.get("start", ""),
                u.get("end") or ("ongoing", "bad"),
                u.get("duration_seconds") if u.get("duration_seconds") is not None else "",
                (u.get("derived") or {}).get("step_seconds", ""),
                u.get("where", ""),
            ]
            for u in shown
        ],
        ' id="uptime-table"',
    )


def render_html(
    result: Scan,
    figures: Mapping[str, Any],
    options: Options,
    verify_json: Mapping[str, Any],
    hashes: Mapping[str, str],
    key_fp: str | None,
    generated: dt.datetime,
    parameters: Mapping[str, Any],
) -> str:
    window = result.window
    out: list[str] = []
    add = out.append
    add("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>")
    add(
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
    )
    add(f"<title>SOC 2 evidence {window.since} to {window.until}</title>")
    add(f"<style>{CSS}</style></head><body>")
    add(f"<h1>SOC 2 control evidence: {window.since} to {window.until} (UTC)</h1>")
    scope = ", ".join(window.hosts) if window.hosts else "all hosts"
    verdict = (
        '<span class="ok">verified</span>'
        if verify_json.get("ok")
        else f'<span class="bad">NOT verified (exit status {verify_json.get("exit_code")})</span>'
    )
    gaps_bad = figures["gaps_unexplained"]
    add(
        "<p>Hosts in scope: "
        + _e(scope)
        + f". Generated {_e(iso_utc(generated))} by soc2audit {_e(soc2audit.__version__)}. "
        f"Evidence chain: {verdict}. Unexplained gaps: "
        + (f'<span class="bad">{gaps_bad}</span>' if gaps_bad else '<span class="ok">0</span>')
        + ".</p>"
    )
    add(
        "<p>Contents: <a href=#summary>summary</a> · <a href=#days>per day</a> · "
        "<a href=#heatmaps>heatmaps</a> · <a href=#exceptions>exceptions</a> · "
        "<a href=#gaps>gaps</a> · <a href=#waivers>waivers</a> · "
        "<a href=#incidents>incidents</a> · <a href=#population>population</a> · "
        "<a href=#chain>chain</a> · <a href=#ipe>how this was produced</a></p>"
    )

    add('<h2 id="summary">Summary</h2>')
    res = figures["results"]
    add(
        _table(
            ["figure", "value"],
            [
                ["lines in the window's result files", figures["lines_in_files"]],
                ["rows in the population", (str(figures["population_rows"]), "n total-rows")],
                ["rows of hosts out of scope", figures["out_of_scope_rows"]],
                ["lines that are not JSON objects", figures["unparsable_lines"]],
                ["hosts", figures["hosts"]],
                ["checks", figures["checks"]],
                ["runs", figures["runs"]],
                *[[f"rows {r}", n] for r, n in res.items()],
                [
                    "exceptions, waived ones included (open at the window's end)",
                    f"{figures['exceptions']} ({figures['exceptions_open']})",
                ],
                ["gaps (unexplained)", f"{figures['gaps']} ({figures['gaps_unexplained']})"],
            ],
            ' id="summary-table"',
        )
    )
    if result.unparsable:
        add(
            '<p class="bad">Lines that are not JSON objects: '
            + _e(", ".join(result.unparsable[:50]))
            + "</p>"
        )

    add('<h2 id="days">Per day</h2>')
    add(
        "<p>ran / passed all day / waived / exceptions count (host, check) pairs with rows that "
        "day (see the query logic below); the result columns count rows.</p>"
    )
    rows = []
    for d in figures["days"]:
        rows.append(
            [
                d["day"],
                d["runs"],
                d["hosts"],
                d["rows"],
                *[d["results"][r] for r in RESULTS],
                d["pairs"],
                d["ran"],
                d["passed_all_day"],
                d["waived"],
                (str(d["exceptions"]), "n bad" if d["exceptions"] else "n"),
            ]
        )
    tot = figures["totals"]
    rows.append(
        [
            "total",
            figures["runs"],
            figures["hosts"],
            (str(tot["rows"]), "n day-total-rows"),
            *[sum(d["results"][r] for d in figures["days"]) for r in RESULTS],
            tot["pairs"],
            tot["ran"],
            tot["passed_all_day"],
            tot["waived"],
            tot["exceptions"],
        ]
    )
    add(
        _table(
            [
                "day",
                "runs",
                "hosts",
                "rows",
                *RESULTS,
                "pairs",
                "ran",
                "passed all day",
                "waived",
                "exceptions",
            ],
            rows,
            ' id="per-day"',
        )
    )

    add('<h2 id="heatmaps">Heatmaps: each control, day x host</h2>')
    add(_heatmaps(result, options.catalog))

    add('<h2 id="exceptions">Exceptions</h2>')
    add(
        _table(
            [
                "host",
                "check",
                "first seen",
                "drift since",
                "remediated at",
                "results",
                "ticket",
                "message",
            ],
            [
                [
                    e.host,
                    e.check_id,
                    e.first_seen,
                    e.drift_since or "",
                    e.remediated_at or ("open", "bad"),
                    ", ".join(f"{r} {n}" for r, n in sorted(e.results.items())),
                    ", ".join([*sorted(e.waivers), *e.tickets])
                    or ("none", "bad" if e.results.keys() - {"waived"} else ""),
                    e.first_message,
                ]
                for e in result.exceptions
            ],
            ' id="exceptions-table"',
        )
        if result.exceptions
        else "<p>None: every row in the window was pass or not_applicable.</p>"
    )

    add('<h2 id="gaps">Gaps</h2>')
    add(
        f"<p>Expected cadence: one run every {result.cadence} s. Every interval where a check "
        "on a host was fail, error or not_run, and every interval with no run at all; an "
        "unexplained gap has no incident covering it.</p>"
    )
    add(
        _table(
            ["status", "kind", "check", "host", "from", "to", "intervals", "results", "ticket"],
            [
                [
                    ("covered", "ok") if g.covered else ("unexplained", "bad"),
                    g.kind,
                    g.check_id or "all",
                    g.host or "all",
                    iso_utc(g.start),
                    iso_utc(g.end),
                    g.intervals,
                    ", ".join(f"{r} {n}" for r, n in sorted(g.results.items())),
                    ", ".join(g.tickets),
                ]
                for g in result.gaps
            ],
            ' id="gaps-table"',
        )
        if result.gaps
        else "<p>None.</p>"
    )

    add('<h2 id="waivers">Waivers</h2><h3>Applied to rows in the window</h3>')
    add(
        _table(
            ["ticket", "approver", "expires", "checks", "hosts", "rows", "first", "last"],
            [
                [
                    ticket,
                    approver,
                    expires,
                    ", ".join(sorted(used["checks"])),
                    ", ".join(sorted(used["hosts"])),
                    used["rows"],
                    used["first"],
                    used["last"],
                ]
                for (ticket, approver, expires), used in sorted(result.waivers.items())
            ],
        )
        if result.waivers
        else "<p>None.</p>"
    )
    in_force = [w for w in options.waivers if w.expires >= window.since]
    add("<h3>In force in controls/waivers.yml (at generation time)</h3>")
    add(
        _table(
            ["check", "hosts", "approver", "ticket", "expires", "justification"],
            [
                [
                    w.check,
                    ", ".join(w.hosts),
                    w.approver,
                    w.ticket,
                    w.expires.isoformat(),
                    w.justification,
                ]
                for w in in_force
            ],
        )
        if in_force
        else "<p>None.</p>"
    )

    add('<h2 id="incidents">Incidents</h2>')
    incidents = [i for i in options.incidents if i.overlaps(window.start, window.end)]
    alerts = [
        a
        for a in options.alerts
        if (span := a.span()) is not None and span[0] < window.end and span[1] >= window.start
    ]
    linked: dict[str, list[Alert]] = {}
    for alert in alerts:
        for incident_id in alert.incidents:
            linked.setdefault(incident_id, []).append(alert)
    add(
        _table(
            [
                "id",
                "from",
                "to",
                "hosts",
                "checks",
                "ticket",
                "root cause (RCA)",
                "summary",
                "alerts",
            ],
            [
                [
                    i.id,
                    iso_utc(i.start),
                    iso_utc(i.end),
                    ", ".join(i.hosts),
                    ", ".join(i.checks),
                    i.ticket,
                    (f"<code>{_e(i.rca_url)}</code>", ""),
                    i.summary,
                    len(linked.get(i.id, [])),
                ]
                for i in incidents
            ],
            ' id="incidents-table"',
        )
        if incidents
        else "<p>None recorded for the window.</p>"
    )
    add("<h3>Alert notifications</h3>")
    add(
        _table(
            ["alert", "status", "host", "starts", "ends", "incidents", "evidence line"],
            [
                [
                    a.alertname,
                    a.status,
                    a.host or "",
                    iso_utc(a.start) if a.start else "",
                    iso_utc(a.end) if a.end else "",
                    ", ".join(a.incidents) or ("none", "bad" if a.status == "firing" else ""),
                    a.where,
                ]
                for a in alerts
            ],
        )
        if alerts
        else "<p>None in evidence/alerts-*.jsonl for the window.</p>"
    )
    add("<h3>Uptime intervals (Prometheus up)</h3>")
    add(_uptime_table(options.uptime, window))

    add('<h2 id="population">Population: hosts in scope each day</h2>')
    add(
        "<p>The hosts that have rows on a day: the drift run writes a row for every host of its "
        "inventory and every check that applies to it (not_run when the host did not answer), "
        "so these are the inventory snapshots of that day's runs.</p>"
    )
    pop_rows = []
    previous: set[str] = set()
    for day in window.days():
        fig = result.days.get(day)
        hosts = fig.hosts if fig else set()
        pop_rows.append(
            [
                day.isoformat(),
                len(hosts),
                ", ".join(sorted(hosts - previous)) if previous else f"{len(hosts)} hosts",
                ", ".join(sorted(previous - hosts)),
            ]
        )
        previous = set(hosts) if hosts else previous
    add(_table(["day", "hosts", "added", "removed"], pop_rows, ' id="population-table"'))
    add("<p>Hosts: " + _e(", ".join(result.hosts())) + "</p>")

    add('<h2 id="chain">Evidence chain verification</h2>')
    add(
        f"<p>{verdict}: {verify_json.get('digests')} digests, {verify_json.get('files')} "
        f"files, {verify_json.get('bytes_hashed')} bytes hashed; head "
        f"{_e((verify_json.get('head') or {}).get('digest'))}.</p>"
    )
    findings = verify_json.get("findings") or []
    if findings:
        add(
            _table(
                ["kind", "severity", "file", "line", "message"],
                [
                    [f["kind"], f["severity"], f["file"], f.get("line") or "", f["message"]]
                    for f in findings[:500]
                ],
            )
        )
    add(
        "<details><summary>verify.json</summary><pre>"
        + _e(json.dumps(verify_json, indent=2, sort_keys=True))
        + "</pre></details>"
    )

    add('<h2 id="ipe">Information produced by the entity: how this report was produced</h2>')
    add(
        _table(
            ["item", "value"],
            [
                ["command line", (f"<code>{_e(shlex.join(options.command))}</code>", "")],
                ["parameters", (f"<code>{_e(json.dumps(parameters, sort_keys=True))}</code>", "")],
                ["suite version", soc2audit.__version__],
                ["policy hash (catalog + waivers now)", options.policy_sha256],
                [
                    "policy hashes on the rows",
                    "; ".join(f"{k} ({n} rows)" for k, n in sorted(result.policies.items())),
                ],
                [
                    "suite versions on the rows",
                    "; ".join(f"{k} ({n} rows)" for k, n in sorted(result.versions.items())),
                ],
                ["generated at", iso_utc(generated)],
                ["evidence key fingerprint", key_fp or "none: the package is not signed"],
            ],
        )
    )
    add("<h3>Query logic per figure</h3>")
    add(_table(["figure", "logic"], [[k, v] for k, v in QUERY_LOGIC.items()]))
    add("<h3>Package files</h3>")
    add(
        _table(
            ["file", "SHA-256"],
            [[name, (f"<code>{digest}</code>", "")] for name, digest in hashes.items()],
        )
    )
    add(
        "<p>manifest.json lists the SHA-256 and size of every file of the package, this "
        "report.html included; manifest.json.sig is the Ed25519 signature of manifest.json's "
        "bytes with the evidence key above (public key in evidence-public-key.pem). Check: "
        "<code>sha256sum -c</code> against the manifest, and <code>openssl pkeyutl -verify "
        "-pubin -inkey evidence-public-key.pem -rawin -in manifest.json -sigfile "
        "manifest.json.sig</code>. The files the report was built from: "
        + _e(", ".join(f["file"] for f in figures["files"]))
        + ".</p>"
    )
    add("</body></html>\n")
    return "\n".join(out)


# --------------------------------------------------------------------------- package


def write_package(options: Options) -> Package:
    """Write the auditor's package into ``options.out`` (see the module docstring)."""
    began = time.monotonic()
    generated = (options.now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    out = ensure_dir(options.out, 0o750)
    link_alerts(options.alerts, options.incidents)
    writers = _Writers(out)
    try:
        result = scan(
            options.evidence_dir,
            options.window,
            options.incidents,
            options.cadence,
            now=generated,
            sink=writers,
        )
    finally:
        writers.close()
    figures = figures_of(result)
    atomic_write(out / "figures.json", json.dumps(figures, indent=2, sort_keys=True) + "\n")
    until = min(options.window.end, generated)
    report = verify(options.evidence_dir, since=options.window.start, until=until, now=generated)
    verify_json = report.to_json()
    atomic_write(out / "verify.json", json.dumps(verify_json, indent=2, sort_keys=True) + "\n")

    private = None
    if options.key is not None and options.key.is_file():
        private = load_private_key(options.key)
    key_fp = fingerprint(private.public_key()) if private else None
    parameters = {
        "from": options.window.since.isoformat(),
        "to": options.window.until.isoformat(),
        "hosts": list(options.window.hosts),
        "evidence_dir": str(options.evidence_dir),
        "cadence_seconds": options.cadence,
        "out": str(out),
    }
    hashes = {name: _sha256(out / name) for name in DATA_FILES}
    page = render_html(result, figures, options, verify_json, hashes, key_fp, generated, parameters)
    atomic_write(out / "report.html", page)
    files = [*DATA_FILES, "report.html"]
    if private is not None:
        atomic_write(out / "evidence-public-key.pem", public_pem(private.public_key()))
        files.append("evidence-public-key.pem")
    manifest = {
        "format": PACKAGE_FORMAT,
        "generated_at": iso_utc(generated),
        "suite_version": soc2audit.__version__,
        "policy_sha256": options.policy_sha256,
        "parameters": parameters,
        "command": list(options.command),
        "key_fingerprint": key_fp,
        "counts": {
            "population_rows": figures["population_rows"],
            "lines_in_files": figures["lines_in_files"],
            "gaps_unexplained": figures["gaps_unexplained"],
        },
        "verify_exit_code": report.exit_code,
        "files": [
            {"path": name, "sha256": _sha256(out / name), "bytes": (out / name).stat().st_size}
            for name in files
        ],
    }
    raw = canonical(manifest)
    atomic_write(out / "manifest.json", raw)
    sig = out / "manifest.json.sig"
    if private is not None:
        atomic_write(sig, private.sign(raw))
    else:  # a package regenerated without a key keeps no signature of an earlier run
        sig.unlink(missing_ok=True)
        (out / "evidence-public-key.pem").unlink(missing_ok=True)
    return Package(
        out=out,
        figures=figures,
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
        signed=private is not None,
        key_fingerprint=key_fp,
        verify_exit_code=report.exit_code,
        seconds=time.monotonic() - began,
        unexplained_gaps=figures["gaps_unexplained"],
    )
