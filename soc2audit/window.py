# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A review window of the evidence trail: its population, per-day figures, exceptions and gaps
(docs/evidence.md "Gaps" and "The window export").

The population of a window ``[from, to]`` (UTC days, both included) is every line of the
``results-YYYY-MM-DD.jsonl`` files whose day is in the window (the day a run started, see
docs/drift.md "Outputs"), optionally limited to some hosts. It is read once, line by line
(``scan``), and everything the report shows is derived from that one pass, so the counts
reconcile by construction and are tested to: rows in the population = lines in the files for
the window (less the lines of hosts left out and lines that are not JSON objects, both
counted) = the sums of every figure.

Gap analysis (``Gaps``): every (check, host, interval) whose result was ``fail``, ``error`` or
``not_run``, and every interval in which no run started at all. Intervals are the expected
cadence of the drift runs (default 3600 s, the hourly timer of playbooks/schedule.yml),
aligned to the Unix epoch like the digests. Consecutive intervals of the same check, host, kind
and coverage are merged into one gap. A gap is ``covered`` by an incident whose time range
contains the failing rows' start times (for an interval with no run: overlaps the interval) and
whose hosts and checks match (for an interval with no run: an incident for ``all`` hosts and
``all`` checks); otherwise it is ``unexplained``. Nothing is dropped.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soc2audit.evidence import RESULTS_PREFIX
from soc2audit.fsutil import iso_utc, parse_utc
from soc2audit.incidents import Incident
from soc2audit.results import RESULTS

#: The drift timer's default cadence (playbooks/schedule.yml: OnCalendar=hourly).
DEFAULT_CADENCE = 3600
#: Results that make a (check, host, interval) a gap.
GAP_RESULTS = frozenset({"fail", "error", "not_run"})
#: Results that open (or continue) an exception; pass and not_applicable close it.
EXCEPTION_RESULTS = frozenset({"fail", "error", "not_run", "at_risk"})
CLEAN_RESULTS = frozenset({"pass", "not_applicable"})
#: Worst first: the result a heatmap cell shows when a day had several.
SEVERITY = ("error", "fail", "not_run", "at_risk", "waived", "pass", "not_applicable")
BIT = {result: 1 << index for index, result in enumerate(RESULTS)}
TALLIES = ("pairs", "ran", "passed_all_day", "waived", "exceptions")
DAY_FILE = re.compile(r"^(?P<prefix>[a-z][a-z0-9-]*?)-(?P<day>\d{4}-\d{2}-\d{2})\.jsonl$")


@dataclass(frozen=True)
class Window:
    """UTC days ``since`` to ``until`` (both included), optionally limited to some hosts
    (names or fnmatch patterns)."""

    since: dt.date
    until: dt.date
    hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.until < self.since:
            raise ValueError(f"the window ends ({self.until}) before it starts ({self.since})")

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.since.year, self.since.month, self.since.day, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """The first instant after the window (midnight after ``until``)."""
        day = self.until + dt.timedelta(days=1)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)

    def days(self) -> list[dt.date]:
        count = (self.until - self.since).days + 1
        return [self.since + dt.timedelta(days=n) for n in range(count)]

    def in_scope(self, host: str) -> bool:
        return not self.hosts or any(fnmatch.fnmatchcase(host, p) for p in self.hosts)


def day_files(
    evidence_dir: Path | str, window: Window | None = None, prefix: str = RESULTS_PREFIX
) -> list[tuple[dt.date, Path]]:
    """The ``<prefix>-YYYY-MM-DD.jsonl`` files (top level) whose day is in the window, by day."""
    root = Path(evidence_dir)
    found = []
    for path in root.glob(f"{prefix}-*.jsonl"):
        match = DAY_FILE.match(path.name)
        if not match or match["prefix"] != prefix or not path.is_file():
            continue
        try:
            day = dt.date.fromisoformat(match["day"])
        except ValueError:
            continue
        if window is None or window.since <= day <= window.until:
            found.append((day, path))
    return sorted(found)


@dataclass(slots=True)
class Line:
    """One line of a window's result file: its bytes, and the row when it is a JSON object."""

    day: dt.date
    file: str
    number: int
    raw: bytes
    row: dict[str, Any] | None


def lines(evidence_dir: Path | str, window: Window) -> Iterator[Line]:
    """Every non-empty line of the window's result files, in file and line order."""
    for day, path in day_files(evidence_dir, window):
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw)
                except ValueError:
                    row = None
                yield Line(day, path.name, number, raw, row if isinstance(row, dict) else None)


def population(evidence_dir: Path | str, window: Window) -> Iterator[tuple[Line, dict[str, Any]]]:
    """The window's population: (line, row) for every row of a host in scope."""
    for line in lines(evidence_dir, window):
        if line.row is not None and window.in_scope(str(line.row.get("host", ""))):
            yield line, line.row


# --------------------------------------------------------------------------- times


class Clock:
    """``parse_utc`` with a cache: the rows of a run share their start time."""

    def __init__(self) -> None:
        self._cache: dict[str, dt.datetime | None] = {}

    def __call__(self, value: Any) -> dt.datetime | None:
        key = str(value)
        if key not in self._cache:
            if len(self._cache) > 200_000:
                self._cache.clear()
            try:
                self._cache[key] = parse_utc(key)
            except ValueError:
                self._cache[key] = None
        return self._cache[key]


def bucket(moment: dt.datetime, cadence: int) -> int:
    """The index of the cadence interval (aligned to the epoch) that contains ``moment``."""
    return int(moment.timestamp()) // cadence


def bucket_start(index: int, cadence: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(index * cadence, dt.UTC)


# --------------------------------------------------------------------------- gaps


@dataclass
class Gap:
    """Consecutive intervals of one check on one host with a gap result, or with no run."""

    kind: str  # "result" or "no_run"
    check_id: str | None
    host: str | None
    start: dt.datetime
    end: dt.datetime
    intervals: int
    results: dict[str, int]
    tickets: tuple[str, ...]
    incidents: tuple[str, ...]

    @property
    def covered(self) -> bool:
        return bool(self.incidents)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "check_id": self.check_id,
            "host": self.host,
            "start": iso_utc(self.start),
            "end": iso_utc(self.end),
            "intervals": self.intervals,
            "results": dict(sorted(self.results.items())),
            "status": "covered" if self.covered else "unexplained",
            "tickets": list(self.tickets),
            "incidents": list(self.incidents),
        }


class Gaps:
    """Collects gap intervals row by row (``add``); ``finish`` merges them and marks coverage."""

    def __init__(self, window: Window, cadence: int = DEFAULT_CADENCE) -> None:
        if cadence <= 0:
            raise ValueError("the cadence must be a positive number of seconds")
        self.window = window
        self.cadence = cadence
        self.clock = Clock()
        self.ran: set[int] = set()
        # (check, host) -> interval -> result -> [rows, earliest start, latest start]
        self.bad: dict[tuple[str, str], dict[int, dict[str, list[Any]]]] = {}

    def add(self, row: Mapping[str, Any]) -> None:
        started = self.clock(row.get("started"))
        if started is None:
            return
        index = bucket(started, self.cadence)
        self.ran.add(index)
        result = row.get("result")
        if result in GAP_RESULTS:
            key = (str(row.get("check_id")), str(row.get("host")))
            slot = self.bad.setdefault(key, {}).setdefault(index, {})
            entry = slot.get(result)
            if entry is None:
                slot[str(result)] = [1, started, started]
            else:
                entry[0] += 1
                entry[1] = min(entry[1], started)
                entry[2] = max(entry[2], started)

    def expected(self, now: dt.datetime | None = None) -> range:
        """The intervals of the window that had ended by ``now``."""
        first = bucket(self.window.start, self.cadence)
        # The interval that contains the window's end is excluded unless it starts before it.
        last = (int(self.window.end.timestamp()) - 1) // self.cadence
        if now is not None:
            last = min(last, int(now.timestamp()) // self.cadence - 1)
        return range(first, last + 1)

    def finish(self, incidents: Sequence[Incident], now: dt.datetime | None = None) -> list[Gap]:
        wide = [i for i in incidents if i.everything]
        out: list[Gap] = []
        # Intervals with no run at all.
        runs: list[tuple[int, tuple[str, ...]]] = []
        for index in self.expected(now):
            if index in self.ran:
                continue
            start = bucket_start(index, self.cadence)
            end = bucket_start(index + 1, self.cadence)
            runs.append((index, tuple(i.id for i in wide if i.overlaps(start, end))))
        out += self._merge("no_run", None, None, runs, {}, incidents)
        for (check_id, host), intervals in sorted(self.bad.items()):
            cells = []
            kinds: dict[int, dict[str, int]] = {}
            for index in sorted(intervals):
                slots = intervals[index]
                first = min(v[1] for v in slots.values())
                last = max(v[2] for v in slots.values())
                covering = tuple(
                    i.id
                    for i in incidents
                    if i.contains(first)
                    and i.contains(last)
                    and i.matches_host(host)
                    and i.matches_check(check_id)
                )
                cells.append((index, covering))
                kinds[index] = {result: v[0] for result, v in slots.items()}
            out += self._merge("result", check_id, host, cells, kinds, incidents)
        out.sort(key=lambda g: (g.start, g.kind, g.check_id or "", g.host or ""))
        return out

    def _merge(
        self,
        kind: str,
        check_id: str | None,
        host: str | None,
        cells: list[tuple[int, tuple[str, ...]]],
        kinds: Mapping[int, Mapping[str, int]],
        incidents: Sequence[Incident],
    ) -> list[Gap]:
        tickets = {i.id: i.ticket for i in incidents}
        out: list[Gap] = []
        run: list[tuple[int, tuple[str, ...]]] = []

        def flush() -> None:
            if not run:
                return
            results: Counter[str] = Counter()
            for index, _ in run:
                results.update(kinds.get(index, {}))
            ids = run[0][1]
            out.append(
                Gap(
                    kind=kind,
                    check_id=check_id,
                    host=host,
                    start=bucket_start(run[0][0], self.cadence),
                    end=bucket_start(run[-1][0] + 1, self.cadence),
                    intervals=len(run),
                    results=dict(results),
                    tickets=tuple(sorted({tickets[i] for i in ids})),
                    incidents=ids,
                )
            )
            run.clear()

        for index, covering in cells:
            if run and (index != run[-1][0] + 1 or covering != run[-1][1]):
                flush()
            run.append((index, covering))
        flush()
        return out


def find_gaps(
    rows: Iterable[Mapping[str, Any]],
    window: Window,
    incidents: Sequence[Incident] = (),
    cadence: int = DEFAULT_CADENCE,
    now: dt.datetime | None = None,
) -> list[Gap]:
    """Every gap of the window in ``rows`` (already limited to the window), see the module
    docstring. ``now`` leaves out the intervals that had not ended yet."""
    gaps = Gaps(window, cadence)
    for row in rows:
        if window.in_scope(str(row.get("host", ""))):
            gaps.add(row)
    return gaps.finish(incidents, now)


# --------------------------------------------------------------------------- the one pass


def worst(mask: int) -> str:
    for result in SEVERITY:
        if mask & BIT.get(result, 0):
            return result
    return "error"


def results_of(mask: int) -> list[str]:
    return [r for r in RESULTS if mask & BIT[r]]


@dataclass
class Exception_:
    """An exception: consecutive rows of one check on one host that were not clean."""

    host: str
    check_id: str
    first_seen: str
    last_seen: str
    first_message: str
    results: Counter[str] = field(default_factory=Counter)
    waivers: set[str] = field(default_factory=set)
    remediated_at: str | None = None
    drift_since: str | None = None
    tickets: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "check_id": self.check_id,
            "first_seen": self.first_seen,
            "drift_since": self.drift_since,
            "last_seen": self.last_seen,
            "remediated_at": self.remediated_at,
            "results": dict(sorted(self.results.items())),
            "message": self.first_message,
            "waiver_tickets": sorted(self.waivers),
            "tickets": list(self.tickets),
        }


@dataclass
class DayFigures:
    rows: int = 0
    results: Counter[str] = field(default_factory=Counter)
    runs: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)


@dataclass
class Scan:
    """Everything the report shows, from one pass over the window's population."""

    window: Window
    cadence: int
    files: list[dict[str, Any]] = field(default_factory=list)
    lines: int = 0
    rows: int = 0
    unparsable: list[str] = field(default_factory=list)
    out_of_scope: int = 0
    results: Counter[str] = field(default_factory=Counter)
    days: dict[dt.date, DayFigures] = field(default_factory=dict)
    # (check, host, day) -> [result bit mask, rows, rows not clean]
    cells: dict[tuple[str, str, dt.date], list[int]] = field(default_factory=dict)
    exceptions: list[Exception_] = field(default_factory=list)
    waivers: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    policies: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)
    gaps: list[Gap] = field(default_factory=list)

    @property
    def checks(self) -> list[str]:
        return sorted({c for c, _, _ in self.cells})

    def hosts(self) -> list[str]:
        return sorted({h for _, h, _ in self.cells})

    def tallies(self) -> dict[dt.date, dict[str, int]]:
        """Per day: (host, check) pairs with rows, and how many ran (some row not not_run),
        passed all day (every row pass or not_applicable), were only waived (clean but for
        waived rows) or had an exception (some row fail, error, not_run or at_risk)."""
        exception_mask = sum(BIT[r] for r in EXCEPTION_RESULTS)
        clean_mask = sum(BIT[r] for r in CLEAN_RESULTS)
        out: dict[dt.date, dict[str, int]] = {}
        for (_, _, day), (mask, _, _) in self.cells.items():
            tally = out.get(day)
            if tally is None:
                tally = out[day] = dict.fromkeys(TALLIES, 0)
            tally["pairs"] += 1
            if mask & ~BIT["not_run"]:
                tally["ran"] += 1
            if mask & exception_mask:
                tally["exceptions"] += 1
            elif mask & ~clean_mask:
                tally["waived"] += 1
            else:
                tally["passed_all_day"] += 1
        return out


def scan(
    evidence_dir: Path | str,
    window: Window,
    incidents: Sequence[Incident] = (),
    cadence: int = DEFAULT_CADENCE,
    now: dt.datetime | None = None,
    sink: Any = None,
) -> Scan:
    """One pass over the window: figures, heatmap cells, exceptions, waivers used, gaps.

    ``sink(line, row)`` is called for every row of the population (the package writers).
    """
    out = Scan(window=window, cadence=cadence)
    gaps = Gaps(window, cadence)
    open_: dict[tuple[str, str], Exception_] = {}
    per_file: Counter[str] = Counter()
    for line in lines(evidence_dir, window):
        out.lines += 1
        per_file[line.file] += 1
        row = line.row
        if row is None:
            out.unparsable.append(f"{line.file}:{line.number}")
            continue
        host = str(row.get("host", ""))
        if not window.in_scope(host):
            out.out_of_scope += 1
            continue
        out.rows += 1
        if sink is not None:
            sink(line, row)
        result = str(row.get("result"))
        check_id = str(row.get("check_id"))
        out.results[result] += 1
        figures = out.days.get(line.day)
        if figures is None:
            figures = out.days[line.day] = DayFigures()
        figures.rows += 1
        figures.results[result] += 1
        figures.runs.add(str(row.get("run_id")))
        figures.hosts.add(host)
        out.policies[str(row.get("policy_sha256"))] += 1
        out.versions[str(row.get("suite_version"))] += 1
        cell = out.cells.get((check_id, host, line.day))
        if cell is None:
            cell = out.cells[(check_id, host, line.day)] = [0, 0, 0]
        cell[0] |= BIT.get(result, BIT["error"])
        cell[1] += 1
        if result not in CLEAN_RESULTS:
            cell[2] += 1
        gaps.add(row)
        started = str(row.get("started"))
        key = (host, check_id)
        episode = open_.get(key)
        if result in CLEAN_RESULTS:
            if episode is not None:
                episode.remediated_at = started
                del open_[key]
        else:
            if episode is None:
                episode = Exception_(
                    host=host,
                    check_id=check_id,
                    first_seen=started,
                    last_seen=started,
                    first_message=str(row.get("message") or ""),
                    drift_since=row.get("drift_since"),
                )
                open_[key] = episode
                out.exceptions.append(episode)
            episode.last_seen = started
            episode.results[result] += 1
        waiver = row.get("waiver")
        if result == "waived" and isinstance(waiver, Mapping):
            wkey = (
                str(waiver.get("ticket")),
                str(waiver.get("approver")),
                str(waiver.get("expires")),
            )
            used = out.waivers.setdefault(
                wkey, {"checks": set(), "hosts": set(), "rows": 0, "first": started, "last": ""}
            )
            used["checks"].add(check_id)
            used["hosts"].add(host)
            used["rows"] += 1
            used["last"] = started
            if episode is not None:
                episode.waivers.add(wkey[0])
    out.files = [
        {"file": path.name, "day": day.isoformat(), "lines": per_file.get(path.name, 0)}
        for day, path in day_files(evidence_dir, window)
    ]
    out.gaps = gaps.finish(incidents, now)
    clock = Clock()
    for episode in out.exceptions:
        first, last = clock(episode.first_seen), clock(episode.last_seen)
        if first is None or last is None:
            continue
        episode.tickets = tuple(
            sorted(
                {
                    i.ticket
                    for i in incidents
                    if i.contains(first)
                    and i.contains(last)
                    and i.matches_host(episode.host)
                    and i.matches_check(episode.check_id)
                }
            )
        )
    return out
