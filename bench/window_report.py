#!/usr/bin/env python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: ``soc2audit report`` (the window export) over DAYS x HOSTS x CHECKS x RUNS.

Generates the evidence and its hourly digests exactly as bench/evidence_verify.py does (its
``generate``), then writes the auditor's package for the whole window (``write_package``:
one pass over every row for the figures, heatmaps, exceptions and gaps, population.jsonl and
population.csv written as it goes, ``evidence verify`` of the window, the HTML, the signed
manifest), ROUNDS times. Records wall and CPU time, the package's sizes, peak memory, and an
extrapolation to a year (365 x 100 x 40 x 24) by rows (the pass is linear in rows; the heatmap
grows with days x hosts x checks, which the same shape keeps proportional).

    python bench/window_report.py --days 30 --hosts 100 --checks 40 --runs 24

Writes bench/results/window_report.json (``--out``); the evidence and the packages go to a
temporary directory removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from evidence_verify import YEAR, generate  # noqa: E402

from soc2audit.auditor_report import Options, write_package  # noqa: E402
from soc2audit.catalog import load_catalog  # noqa: E402
from soc2audit.chain import keygen  # noqa: E402
from soc2audit.window import Window  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--checks", type=int, default=40)
    parser.add_argument("--runs", type=int, default=24, help="runs per day (one per interval)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", type=Path, help="where to generate (default: a temp dir)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / "window_report.json"
    )
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="soc2audit-bench-report-", dir=args.dir))
    try:
        evidence = base / "evidence"
        key = base / "key" / "evidence.pem"
        keygen(key, evidence)
        w0 = time.monotonic()
        gen = generate(evidence, key, args)
        gen_wall = time.monotonic() - w0
        now = dt.datetime.fromtimestamp(gen.pop("now"), dt.UTC)
        start = dt.date(2026, 1, 1)
        window = Window(start, start + dt.timedelta(days=args.days - 1))
        catalog = load_catalog(REPO / "controls" / "catalog.yml")
        walls: list[float] = []
        cpus: list[float] = []
        load_start = os.getloadavg()
        package = None
        for index in range(args.rounds):
            out = base / f"package-{index}"
            t, c = time.monotonic(), time.process_time()
            package = write_package(
                Options(
                    evidence_dir=evidence,
                    out=out,
                    window=window,
                    catalog=catalog,
                    policy_sha256="ab" * 32,
                    key=key,
                    command=["bench/window_report.py"],
                    now=now,
                )
            )
            walls.append(time.monotonic() - t)
            cpus.append(time.process_time() - c)
            assert package.verify_exit_code == 0, package.verify_exit_code
            rows = args.days * args.hosts * args.checks * args.runs
            assert package.figures["population_rows"] == rows, package.figures["population_rows"]
            if index + 1 < args.rounds:
                shutil.rmtree(out)
        assert package is not None
        sizes = {p.name: p.stat().st_size for p in sorted(package.out.iterdir())}
        rows = args.days * args.hosts * args.checks * args.runs
        year_rows = YEAR["days"] * YEAR["hosts"] * YEAR["checks"] * YEAR["runs"]
        wall = statistics.median(walls)
        result = {
            "what": "soc2audit report (write_package) over the whole window, warm page cache",
            "commit": subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
            ).stdout.strip(),
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "nproc": os.cpu_count(),
                "kernel": platform.release(),
                "python": platform.python_version(),
                "load_start": [round(x, 2) for x in load_start],
                "load_end": [round(x, 2) for x in os.getloadavg()],
            },
            "shape": {k: getattr(args, k) for k in ("days", "hosts", "checks", "runs")},
            "rows": rows,
            "evidence_bytes": sum(p.stat().st_size for p in evidence.glob("results-*.jsonl")),
            "generate_wall_s": round(gen_wall, 1),
            "rounds": args.rounds,
            "report_wall_s": [round(x, 2) for x in walls],
            "report_cpu_s": [round(x, 2) for x in cpus],
            "rows_per_s": round(rows / wall),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "package_bytes": sizes,
            "figures": {
                k: package.figures[k]
                for k in ("population_rows", "exceptions", "gaps", "gaps_unexplained")
            },
            "year_extrapolated_report_wall_s": round(wall * year_rows / rows, 1),
            "year_extrapolated_report_html_mb": round(
                sizes["report.html"] * YEAR["days"] / args.days / 1e6, 1
            ),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"kept {base}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
