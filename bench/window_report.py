#!/usr/bin/env python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: ``soc2audit report`` (the window export) over DAYS x HOSTS x CHECKS x RUNS.

Generates the evidence and its hourly digests exactly as bench/evidence_verify.py does
(bench/_evidence_gen.py), then writes the auditor's package for the whole window
(``write_package``: one pass over every row for the figures, heatmaps, exceptions and gaps,
population.jsonl and population.csv written as it goes, ``evidence verify`` of the window, the
HTML, the signed manifest), ROUNDS times. Records wall and CPU time, the package's sizes, peak
memory, and an extrapolation to a year (365 x 100 x 40 x 24) by rows (the pass is linear in
rows; the heatmap grows with days x hosts x checks, which the same shape keeps proportional).

    python bench/window_report.py --days 30 --hosts 100 --checks 40 --runs 24

Writes bench/results/window_report.json (``--out``); the evidence and the packages go to a
temporary directory removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from _evidence_gen import START, YEAR, generated, run_info, shape_parser, write_result  # noqa: E402

from soc2audit.auditor_report import Options, write_package  # noqa: E402
from soc2audit.catalog import load_catalog  # noqa: E402
from soc2audit.window import Window  # noqa: E402


def main() -> int:
    args = shape_parser(__doc__, "window_report.json", rounds=2).parse_args()
    with generated(args, "soc2audit-bench-report-") as made:
        evidence, key, now, base = made.evidence, made.key, made.now, made.base
        start = START.date()
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
            **run_info(load_start),
            "shape": {k: getattr(args, k) for k in ("days", "hosts", "checks", "runs")},
            "rows": rows,
            "evidence_bytes": sum(p.stat().st_size for p in evidence.glob("results-*.jsonl")),
            "generate_wall_s": round(made.wall_s, 1),
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
        write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
