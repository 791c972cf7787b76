# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``soc2audit incident``, ``soc2audit report`` and ``soc2audit sample`` (docs/evidence.md).

soc2audit incident add --from --to --hosts --checks --ticket --rca-url [--summary]
soc2audit incident import FILE          the YAML form (incidents: [...])
soc2audit incident list                 the recorded incidents as JSON lines
soc2audit report --from D --to D [--hosts H,...] [--out DIR]   the auditor's package
soc2audit sample --check ID --n N --seed S [--from D --to D]   a reproducible sample
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from soc2audit.cliargs import add_dirs, day, signing_key
from soc2audit.exitcodes import EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE


def _list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _common(parser: argparse.ArgumentParser) -> None:
    add_dirs(parser)
    parser.add_argument(
        "--catalog", type=Path, metavar="FILE", help="default: DIR/controls/catalog.yml"
    )


def add_parsers(sub: Any) -> None:
    incident = sub.add_parser(
        "incident",
        help="record an outage or control failure with its ticket and RCA",
        description="Incidents (docs/evidence.md, Incidents): appended to "
        "evidence/incidents-YYYY-MM-DD.jsonl, covered by the digest chain.",
    )
    cmds = incident.add_subparsers(dest="incident_command", required=True)
    p = cmds.add_parser("add", help="record one incident")
    _common(p)
    p.add_argument("--from", dest="since", required=True, metavar="TIME|DATE")
    p.add_argument(
        "--to",
        dest="until",
        required=True,
        metavar="TIME|DATE",
        help="a date means the end of that day",
    )
    p.add_argument("--hosts", required=True, help="comma-separated host names, patterns or all")
    p.add_argument("--checks", required=True, help="comma-separated check ids, patterns or all")
    p.add_argument("--ticket", required=True)
    p.add_argument("--rca-url", required=True, help="http(s) URL of the root cause analysis")
    p.add_argument("--summary", default="")
    p.add_argument("--now", metavar="TIME", help=argparse.SUPPRESS)
    p = cmds.add_parser("import", help="record the incidents of a YAML file")
    _common(p)
    p.add_argument("file", type=Path)
    p.add_argument("--now", metavar="TIME", help=argparse.SUPPRESS)
    p = cmds.add_parser("list", help="print the recorded incidents as JSON lines")
    _common(p)

    report = sub.add_parser(
        "report",
        help="export a review window for the auditor (report.html, population, manifest)",
        description="Write the auditor's package for a window (docs/evidence.md, "
        "The window export).",
    )
    _common(report)
    report.add_argument("--from", dest="since", type=day, required=True, metavar="YYYY-MM-DD")
    report.add_argument("--to", dest="until", type=day, required=True, metavar="YYYY-MM-DD")
    report.add_argument("--hosts", type=_list, default=(), help="comma-separated names/patterns")
    report.add_argument(
        "--out", type=Path, metavar="DIR", help="default: DIR/.cache/reports/FROM_TO"
    )
    report.add_argument(
        "--waivers", type=Path, metavar="FILE", help="default: DIR/controls/waivers.yml"
    )
    report.add_argument(
        "--cadence",
        type=int,
        default=None,
        metavar="SECONDS",
        help="expected interval between drift runs for the gap analysis (default: 3600, the "
        "hourly drift timer)",
    )
    report.add_argument(
        "--key",
        type=Path,
        metavar="FILE",
        help="evidence key that signs manifest.json (default as evidence digest)",
    )
    report.add_argument("--now", metavar="TIME", help=argparse.SUPPRESS)
    report.add_argument("--json", action="store_true", help="print the outcome as JSON")

    sample = sub.add_parser(
        "sample",
        help="draw a reproducible sample of (host, day) items of a check",
        description="Same check, window, n and seed => same sample (docs/evidence.md, Sample).",
    )
    _common(sample)
    sample.add_argument("--check", required=True, metavar="ID")
    sample.add_argument("--n", type=int, required=True)
    sample.add_argument("--seed", required=True)
    sample.add_argument("--from", dest="since", type=day, metavar="YYYY-MM-DD")
    sample.add_argument("--to", dest="until", type=day, metavar="YYYY-MM-DD")
    sample.add_argument("--hosts", type=_list, default=())
    sample.add_argument(
        "--population",
        type=Path,
        metavar="FILE",
        help="sample a package's population.jsonl instead of the evidence directory",
    )


def _dirs(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    project = args.project_dir.resolve()
    evidence = (args.evidence_dir or project / "evidence").resolve()
    catalog = (args.catalog or project / "controls" / "catalog.yml").resolve()
    return project, evidence, catalog


def _now(args: argparse.Namespace) -> dt.datetime | None:
    from soc2audit.fsutil import parse_utc

    return parse_utc(args.now) if getattr(args, "now", None) else None


def incident(args: argparse.Namespace) -> int:
    from soc2audit.catalog import CatalogError, load_catalog
    from soc2audit.incidents import IncidentError, parse_yaml, read_incidents, record_incidents
    from soc2audit.incidents import validate as validate_incident

    _, evidence, catalog_path = _dirs(args)
    if args.incident_command == "list":
        for item in read_incidents(evidence):
            print(
                json.dumps(
                    {
                        "id": item.id,
                        **item.content(),
                        "recorded_at": item.recorded_at,
                        "where": item.where,
                    },
                    sort_keys=True,
                )
            )
        return EXIT_OK
    try:
        catalog = load_catalog(catalog_path)
        if args.incident_command == "add":
            found = [
                validate_incident(
                    {
                        "from": args.since,
                        "to": args.until,
                        "hosts": args.hosts,
                        "checks": args.checks,
                        "ticket": args.ticket,
                        "rca_url": args.rca_url,
                        "summary": args.summary,
                    },
                    catalog,
                    "incident",
                )
            ]
        else:
            found = parse_yaml(args.file.read_bytes(), catalog, str(args.file))
    except (IncidentError, CatalogError, OSError) as exc:
        print(f"soc2audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    new, old = record_incidents(evidence, found, _now(args))
    for item in new:
        print(
            f"recorded incident {item.id} ({item.ticket}, {item.content()['from']} to "
            f"{item.content()['to']})"
        )
    for item in old:
        print(f"already recorded: incident {item.id} ({item.ticket})")
    return EXIT_OK


def report(args: argparse.Namespace) -> int:
    from soc2audit.auditor_report import Options, write_package
    from soc2audit.catalog import CatalogError, load_catalog
    from soc2audit.incidents import read_alerts, read_incidents
    from soc2audit.results import PolicyError, load_waivers, policy_sha256_of
    from soc2audit.uptime import read_uptime
    from soc2audit.window import DEFAULT_CADENCE, Window

    project, evidence, catalog_path = _dirs(args)
    waivers_path = (args.waivers or project / "controls" / "waivers.yml").resolve()
    try:
        window = Window(args.since, args.until, tuple(args.hosts))
    except ValueError as exc:
        print(f"soc2audit: {exc} (--to must not be before --from)", file=sys.stderr)
        return EXIT_USAGE
    cadence = args.cadence if args.cadence is not None else DEFAULT_CADENCE
    if cadence <= 0:
        print("soc2audit: --cadence must be positive", file=sys.stderr)
        return EXIT_USAGE
    try:
        catalog = load_catalog(catalog_path)
        waivers = load_waivers(waivers_path, catalog)
        policy = policy_sha256_of(catalog_path, waivers_path)
    except (CatalogError, PolicyError, OSError) as exc:
        print(f"soc2audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    key = signing_key(args.key, project)
    out = (args.out or project / ".cache" / "reports" / f"{args.since}_{args.until}").resolve()
    if out.is_relative_to(evidence):
        print(f"soc2audit: --out {out} must not be inside the evidence directory", file=sys.stderr)
        return EXIT_USAGE
    options = Options(
        evidence_dir=evidence,
        out=out,
        window=window,
        catalog=catalog,
        waivers=waivers,
        policy_sha256=policy,
        incidents=read_incidents(evidence),
        alerts=read_alerts(evidence),
        uptime=read_uptime(evidence),
        cadence=cadence,
        key=key,
        command=["soc2audit", *getattr(args, "argv", sys.argv[1:])],
        now=_now(args),
    )
    try:
        package = write_package(options)
    except OSError as exc:
        print(f"soc2audit: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    fig = package.figures
    outcome = {
        "out": str(package.out),
        "report": str(package.out / "report.html"),
        "population_rows": fig["population_rows"],
        "lines_in_files": fig["lines_in_files"],
        "exceptions": fig["exceptions"],
        "gaps": fig["gaps"],
        "gaps_unexplained": fig["gaps_unexplained"],
        "verify_exit_code": package.verify_exit_code,
        "manifest_sha256": package.manifest_sha256,
        "signed": package.signed,
        "key_fingerprint": package.key_fingerprint,
        "seconds": round(package.seconds, 3),
    }
    if args.json:
        print(json.dumps(outcome, indent=2, sort_keys=True))
    else:
        print(
            f"wrote {package.out}/report.html ({fig['population_rows']} rows, "
            f"{fig['exceptions']} exceptions, {fig['gaps']} gaps of which "
            f"{fig['gaps_unexplained']} unexplained) in {package.seconds:.1f} s"
        )
        print(
            f"evidence verify exit status {package.verify_exit_code}; manifest.json sha256 "
            f"{package.manifest_sha256}; "
            + (
                f"signed by {package.key_fingerprint}"
                if package.signed
                else f"NOT signed (no evidence key at {key})"
            )
        )
    return EXIT_OK


def sample(args: argparse.Namespace) -> int:
    from soc2audit.catalog import CatalogError, load_catalog
    from soc2audit.sample import draw, rows_from_evidence, rows_from_population
    from soc2audit.window import Window, day_files

    _, evidence, catalog_path = _dirs(args)
    if args.n <= 0:
        print("soc2audit: --n must be positive", file=sys.stderr)
        return EXIT_USAGE
    try:
        known = load_catalog(catalog_path).ids
    except CatalogError as exc:
        print(f"soc2audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.check not in known:
        print(
            f"soc2audit: --check {args.check!r} is not in the catalog {catalog_path}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    since, until = args.since, args.until
    window = None
    if args.population is not None:
        if since or until or args.hosts:
            window = Window(since or dt.date.min, until or dt.date.max, tuple(args.hosts))
        rows = rows_from_population(args.population, window)
    else:
        files = day_files(evidence)
        if not files:
            print(f"soc2audit: no result files in {evidence}", file=sys.stderr)
            return EXIT_USAGE
        try:
            window = Window(since or files[0][0], until or files[-1][0], tuple(args.hosts))
        except ValueError as exc:
            print(f"soc2audit: {exc}", file=sys.stderr)
            return EXIT_USAGE
        rows = rows_from_evidence(evidence, window)
    items, frame = draw(rows, args.check, args.n, args.seed)
    print(
        json.dumps(
            {
                "check_id": args.check,
                "n": args.n,
                "seed": args.seed,
                "window": {
                    "from": window.since.isoformat() if window else None,
                    "to": window.until.isoformat() if window else None,
                    "hosts": list(args.hosts),
                },
                "frame": frame,
                "method": "sorted distinct (day, host) with rows of the check; "
                "random.Random(str(seed)).sample(frame, min(n, len(frame)))",
                "items": [item.to_json() for item in items],
            },
            indent=2,
            sort_keys=True,
        )
    )
    return EXIT_OK
