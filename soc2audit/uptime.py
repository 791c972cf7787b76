# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Uptime intervals derived from Prometheus' ``up``, beside the alert records (docs/drift.md
"Uptime intervals").

``soc2audit uptime --from --to`` asks the monitor's Prometheus ``/api/v1/query_range`` for
``up`` (over HTTPS with a client certificate of our PKI:
``soc2audit.module_utils.soc2_https``, the MON verifier's client) at one point per ``--step``
seconds, and :func:`derive_intervals` turns each series (one per ``instance``, the inventory
name, and ``job``) into the intervals in which it was not up:

* ``kind: up_zero``: Prometheus evaluated ``up`` to 0 (its scrape of the target failed);
* ``kind: no_samples``: no sample at those points (the target was not scraped: Prometheus was
  down, or the target was not in its configuration; a sample stays visible for Prometheus'
  lookback delta, 5 minutes by default, so these begin up to that much late).

An interval's ``start`` is the first evaluation point at which the series was not up (the
change happened within the ``step_seconds`` before it), ``end`` the first point after it at
which the state changed, or null (``ongoing``) when the query range ended first; ``clipped``
says it began at the first point of the range (it may have begun earlier). Each interval is one
JSON line of ``<evidence>/uptime-YYYY-MM-DD.jsonl`` (the UTC day of the derivation), written with
``soc2audit.evidence.append_evidence`` (the trail's one writer), with ``derived``: the
Prometheus URL, the query, the step, the range and the time of the derivation. An interval
already in the evidence (same series, kind, start and end) is not written again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from soc2audit.cliargs import REPO, add_dirs, end_moment, moment
from soc2audit.evidence import DIR_MODE, append_evidence, evidence_lock
from soc2audit.exitcodes import EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE
from soc2audit.fsutil import ensure_dir, iso_utc, parse_utc
from soc2audit.incidents import evidence_objects
from soc2audit.module_utils.soc2_https import Fetch, make_fetch

UPTIME_PREFIX = "uptime"
RECORD = "uptime_interval"
LOCK = ".uptime.lock"
QUERY = "up"
DEFAULT_URL = "https://127.0.0.1:9090"
DEFAULT_STEP = 15.0
#: The control node's client certificate and the CA chain, where the pki role (CA directory
#: pki_ca_dir) and the opa role (opa_control_client_dir) put them by default; the lab's are
#: under .lab/pki. Any certificate of our CA passes Prometheus' RequireAndVerifyClientCert.
PKI_DIR = Path.home() / ".local" / "share" / "soc2audit" / "pki"
CA_PATH = str(PKI_DIR / "ca-chain.pem")
CERT_PATH = str(PKI_DIR / "clients" / "soc2audit-control.crt")
KEY_PATH = str(PKI_DIR / "clients" / "soc2audit-control.key")
#: Prometheus refuses a range query of more than 11,000 points per series; we ask in chunks.
MAX_POINTS = 10000
UP_ZERO = "up_zero"
NO_SAMPLES = "no_samples"

SeriesKey = tuple[tuple[str, str], ...]


class UptimeError(Exception):
    """Prometheus did not answer the query with a range vector."""


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def points(start: float, end: float, step: float) -> list[float]:
    """The evaluation times of a range query: start, start + step, ... up to end included."""
    count = math.floor((end - start) / step + 1e-9) + 1
    return [start + k * step for k in range(max(count, 0))]


def matrix(answer: Any) -> list[Mapping[str, Any]]:
    """The series of a ``query_range`` answer (``{"status": "success", "data": {"resultType":
    "matrix", "result": [{"metric": {...}, "values": [[<unix time>, "<value>"], ...]}]}}``)."""
    if not isinstance(answer, Mapping):
        raise UptimeError(f"not a Prometheus API answer: {str(answer)[:200]!r}")
    if answer.get("status") != "success":
        raise UptimeError(
            f"Prometheus answered {answer.get('status')!r}: "
            f"{answer.get('errorType', '')} {answer.get('error', '')}".strip()
        )
    data = answer.get("data") or {}
    if data.get("resultType") != "matrix":
        raise UptimeError(f"expected a range vector (matrix), got {data.get('resultType')!r}")
    return [s for s in data.get("result") or [] if isinstance(s, Mapping)]


def _series_key(metric: Mapping[str, Any]) -> SeriesKey:
    return tuple(sorted((str(k), str(v)) for k, v in metric.items() if k != "__name__"))


def derive_intervals(
    series: Iterable[Mapping[str, Any]], start: float, end: float, step: float
) -> list[dict[str, Any]]:
    """The intervals in which each series of ``up`` was not up, evaluated at :func:`points`
    (the module docstring says what each field means). Series of the same labels (from
    several chunks of one range) are joined; intervals are sorted by instance, job and start."""
    samples: dict[SeriesKey, dict[int, str]] = {}
    for one in series:
        values = samples.setdefault(_series_key(one.get("metric") or {}), {})
        for stamp, value in one.get("values") or []:
            values[_ms(float(stamp))] = str(value)
    grid = points(start, end, step)
    out: list[dict[str, Any]] = []
    for key, values in samples.items():
        labels = dict(key)
        states = []
        for t in grid:
            value = values.get(_ms(t))
            states.append(NO_SAMPLES if value is None else ("up" if value == "1" else UP_ZERO))
        index = 0
        while index < len(grid):
            kind = states[index]
            if kind == "up":
                index += 1
                continue
            first = index
            while index < len(grid) and states[index] == kind:
                index += 1
            began = grid[first]
            ended = grid[index] if index < len(grid) else None
            stamp = None if ended is None else iso_utc(dt.datetime.fromtimestamp(ended, dt.UTC))
            out.append(
                {
                    "record": RECORD,
                    "instance": labels.get("instance", ""),
                    "job": labels.get("job", ""),
                    "labels": labels,
                    "kind": kind,
                    "start": iso_utc(dt.datetime.fromtimestamp(began, dt.UTC)),
                    "end": stamp,
                    "ongoing": ended is None,
                    "duration_seconds": round(ended - began, 3) if ended is not None else None,
                    "steps": index - first,
                    "clipped": first == 0,
                }
            )
    return sorted(out, key=lambda r: (r["instance"], r["job"], r["start"], r["kind"]))


def _interval_key(row: Mapping[str, Any]) -> tuple[str, str, str, str | None]:
    labels = row.get("labels") if isinstance(row.get("labels"), Mapping) else {}
    return (
        json.dumps(labels, sort_keys=True),
        str(row.get("kind")),
        str(row.get("start")),
        row.get("end"),
    )


def read_uptime(evidence_dir: Path | str) -> list[dict[str, Any]]:
    """Every recorded interval of ``uptime-*.jsonl``, each with ``where`` (file:line). Where an
    interval was recorded while ongoing and later with its end, only the ended one is kept."""
    rows = [
        {**obj, "where": f"{name}:{number}"}
        for name, number, obj in evidence_objects(Path(evidence_dir), UPTIME_PREFIX)
        if obj.get("record") == RECORD
    ]
    ended = {_interval_key(r)[:3] for r in rows if r.get("end")}
    seen: set[tuple[str, str, str, str | None]] = set()
    out = []
    for row in rows:
        key = _interval_key(row)
        if key in seen or (row.get("end") is None and key[:3] in ended):
            continue
        seen.add(key)
        out.append(row)
    return out


def query_path(base_url: str, query: str, start: float, end: float, step: float) -> str:
    """The ``query_range`` request path (and query string) under ``base_url``'s path."""
    prefix = urlsplit(base_url).path.rstrip("/")
    params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    return f"{prefix}/api/v1/query_range?{urlencode(params)}"


def fetch_series(
    fetch: Fetch, url: str, query: str, start: float, end: float, step: float
) -> tuple[list[Mapping[str, Any]], list[str]]:
    """All series of ``query`` over the range, asked in chunks of at most MAX_POINTS points:
    (series, request paths). Raises UptimeError when an answer is not a range vector."""
    grid = points(start, end, step)
    series: list[Mapping[str, Any]] = []
    paths = []
    for first in range(0, len(grid), MAX_POINTS):
        chunk = grid[first : first + MAX_POINTS]
        path = query_path(url, query, chunk[0], chunk[-1], step)
        paths.append(path)
        status, body, error = fetch(url, path)
        if error:
            raise UptimeError(f"{url}: {error}")
        if status != 200 and not isinstance(body, Mapping):
            raise UptimeError(f"{url} answered HTTP {status}: {str(body)[:200]}")
        series += matrix(body)
    return series, paths


def record_intervals(
    evidence_dir: Path | str,
    intervals: Sequence[Mapping[str, Any]],
    derived: Mapping[str, Any],
    now: dt.datetime,
) -> tuple[Path | None, int]:
    """Append the intervals not yet in the evidence, each with ``derived``, to the day file of
    ``now``: (its path or None, intervals written)."""
    directory = ensure_dir(evidence_dir, DIR_MODE)
    with evidence_lock(directory, LOCK):
        seen = {_interval_key(row) for row in read_uptime(directory)}
        rows = []
        for interval in intervals:
            key = _interval_key(interval)
            if key in seen:
                continue
            seen.add(key)
            rows.append({**interval, "derived": dict(derived)})
        if not rows:
            return None, 0
        return append_evidence(directory, rows, now, prefix=UPTIME_PREFIX), len(rows)


# --------------------------------------------------------------------------- command


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``uptime`` to the soc2audit parser's sub-parsers."""
    p = sub.add_parser(
        "uptime",
        help="record the intervals Prometheus' up shows hosts down (evidence/uptime-*.jsonl)",
        description=(
            "Ask Prometheus' /api/v1/query_range for up over mTLS and record, per instance and "
            "job, the intervals it was not up (up == 0, or no samples) as JSON lines of "
            "evidence/uptime-YYYY-MM-DD.jsonl, with the query, URL and step that derived them "
            "(docs/drift.md, Uptime intervals). Intervals already recorded are not written again."
        ),
    )
    p.add_argument("--from", dest="since", type=moment, metavar="TIME|DATE")
    p.add_argument(
        "--to",
        dest="until",
        type=end_moment,
        metavar="TIME|DATE",
        help="end of the range (a date includes that day; a future end is cut to now)",
    )
    p.add_argument(
        "--last",
        type=float,
        metavar="HOURS",
        help="instead of --from/--to: the HOURS up to now (the timer of playbooks/schedule.yml)",
    )
    p.add_argument("--prometheus", default=DEFAULT_URL, metavar="URL", help="%(default)s")
    p.add_argument("--server-name", default="", help="name to verify (default: the URL's host)")
    p.add_argument("--ca", default=CA_PATH, metavar="FILE", help="CA chain (%(default)s)")
    p.add_argument("--cert", default=CERT_PATH, metavar="FILE", help="client certificate chain")
    p.add_argument("--key", default=KEY_PATH, metavar="FILE", help="its private key")
    p.add_argument("--query", default=QUERY, help="the up selector (default: %(default)s)")
    p.add_argument(
        "--step",
        type=float,
        default=DEFAULT_STEP,
        metavar="SECONDS",
        help="evaluation step, at least the scrape interval (default: %(default)s)",
    )
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.add_argument("--now", metavar="TIME", help=argparse.SUPPRESS)
    add_dirs(p)
    return p


def run(args: argparse.Namespace, fetch: Fetch | None = None) -> int:
    now = parse_utc(args.now) if args.now else dt.datetime.now(dt.UTC)
    if args.last is not None:
        if args.since or args.until or args.last <= 0:
            print(
                "soc2audit: --last takes a positive number of hours, without --from/--to",
                file=sys.stderr,
            )
            return EXIT_USAGE
        args.since, args.until = now - dt.timedelta(hours=args.last), now
    if args.since is None or args.until is None:
        print("soc2audit: give --from and --to, or --last HOURS", file=sys.stderr)
        return EXIT_USAGE
    until = min(args.until, now)
    if args.step <= 0 or until <= args.since:
        print("soc2audit: --step must be positive and --from before --to and now", file=sys.stderr)
        return EXIT_USAGE
    project = Path(args.project_dir or REPO).resolve()
    evidence = (args.evidence_dir or project / "evidence").resolve()
    get = fetch or make_fetch(
        {
            "ca_path": args.ca,
            "cert_path": args.cert,
            "key_path": args.key,
            "server_name": args.server_name,
            "timeout": args.timeout,
        }
    )
    start, end = args.since.timestamp(), until.timestamp()
    try:
        series, paths = fetch_series(get, args.prometheus, args.query, start, end, args.step)
    except UptimeError as exc:
        print(f"soc2audit: uptime not derived: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    intervals = derive_intervals(series, start, end, args.step)
    derived = {
        "prometheus_url": args.prometheus,
        "query": args.query,
        "requests": paths,
        "step_seconds": args.step,
        "from": iso_utc(args.since),
        "to": iso_utc(until),
        "at": iso_utc(now),
    }
    try:
        path, written = record_intervals(evidence, intervals, derived, now)
    except OSError as exc:
        print(f"soc2audit: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    outcome = {
        "series": len({_series_key(s.get("metric") or {}) for s in series}),
        "intervals": len(intervals),
        "written": written,
        "file": str(path) if path else None,
        **derived,
    }
    if args.json:
        print(json.dumps(outcome, indent=2, sort_keys=True))
    else:
        print(
            f"{outcome['series']} series of {args.query} from {args.prometheus}, "
            f"{len(intervals)} intervals not up, {written} new"
            + (f" written to {path}" if path else " (all already recorded)")
        )
    return EXIT_OK
