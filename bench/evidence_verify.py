#!/usr/bin/env python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: ``soc2audit evidence verify`` throughput against ``sha256sum`` on the same files.

Generates DAYS x HOSTS x CHECKS x RUNS result rows (realistic drift-run rows, one run per
hour), appends them hour by hour to the day files like the drift runs do, writes the hourly
digests as the run's end would (``write_due_digests``), then, interleaved ROUNDS times on the
warm page cache:

* ``sha256sum`` over every evidence file (the floor the issue names: one SHA-256 pass over the
  same bytes), and ``openssl dgst -sha256`` (the same pass with OpenSSL's SHA-256, which
  ``hashlib`` uses too: the fairer floor where coreutils lacks the CPU's SHA extensions);
* ``verify`` of the whole chain (signatures, links, one prefix-hash pass per file, the
  unreferenced-bytes scan), in this process.

Records the medians, the throughput ratio (the issue's goal: verify at least half of
sha256sum's throughput), the digest writer's cost per day, and an extrapolation to
365 x 100 x 40 x 24 from the measured bytes per row and throughput.

    python bench/evidence_verify.py --days 30 --hosts 100 --checks 40 --runs 24

Writes bench/results/evidence_verify.json (``--out``); the evidence goes to a temporary
directory removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evidence_gen import YEAR, generated, run_info, shape_parser, write_result

from soc2audit.chain import evidence_files
from soc2audit.chain_verify import verify


def main() -> int:
    args = shape_parser(__doc__, "evidence_verify.json", rounds=3).parse_args()
    with generated(args, "soc2audit-bench-") as made:
        evidence, now, gen, gen_wall = made.evidence, made.now, made.figures, made.wall_s
        files = [str(evidence / rel) for rel in evidence_files(evidence)]
        total = sum(os.path.getsize(p) for p in files)
        rows = args.days * args.hosts * args.checks * args.runs
        digests = len(list((evidence / "digests").rglob("*.json")))

        sums: list[float] = []
        ssl: list[float] = []
        verifies: list[float] = []
        verify_cpu: list[float] = []
        load_start = os.getloadavg()
        for _ in range(args.rounds):
            t = time.monotonic()
            subprocess.run(["sha256sum", *files], check=True, stdout=subprocess.DEVNULL)
            sums.append(time.monotonic() - t)
            if shutil.which("openssl"):
                t = time.monotonic()
                subprocess.run(
                    ["openssl", "dgst", "-sha256", *files], check=True, stdout=subprocess.DEVNULL
                )
                ssl.append(time.monotonic() - t)
            t, c = time.monotonic(), time.process_time()
            report = verify(evidence, now=now)
            verifies.append(time.monotonic() - t)
            verify_cpu.append(time.process_time() - c)
            assert report.ok, [f.text() for f in report.findings[:5]]
            assert report.bytes_hashed == total, (report.bytes_hashed, total)
        sha_s, ver_s = statistics.median(sums), statistics.median(verifies)
        per_row = total / rows
        year_rows = YEAR["days"] * YEAR["hosts"] * YEAR["checks"] * YEAR["runs"]
        year_bytes = per_row * year_rows
        same_day = all(getattr(args, k) == YEAR[k] for k in ("hosts", "checks", "runs"))
        # Same day shape: the year is the sample times 365/days (bytes and digests alike).
        # Otherwise scale by bytes, which leaves out the per-digest cost (small; see README).
        scale = YEAR["days"] / args.days if same_day else year_bytes / total
        result = {
            "what": "soc2audit evidence verify vs sha256sum, same files, same run, warm cache",
            **run_info(load_start),
            "shape": {k: getattr(args, k) for k in ("days", "hosts", "checks", "runs")},
            "rows": rows,
            "files": len(files),
            "digests": digests,
            "bytes": total,
            "bytes_per_row": round(per_row, 1),
            "generate_wall_s": round(gen_wall, 1),
            **gen,
            "rounds": args.rounds,
            "sha256sum_s": [round(x, 3) for x in sums],
            "openssl_dgst_s": [round(x, 3) for x in ssl],
            "verify_s": [round(x, 3) for x in verifies],
            "verify_cpu_s": [round(x, 3) for x in verify_cpu],
            "sha256sum_mb_s": round(total / sha_s / 1e6, 1),
            "verify_mb_s": round(total / ver_s / 1e6, 1),
            "openssl_dgst_mb_s": round(total / statistics.median(ssl) / 1e6, 1) if ssl else None,
            "verify_over_sha256sum": round(sha_s / ver_s, 3),
            "verify_over_openssl_dgst": round(statistics.median(ssl) / ver_s, 3) if ssl else None,
            "goal": "verify_over_sha256sum >= 0.5",
            "extrapolated_year": {
                "shape": YEAR,
                "rows": year_rows,
                "bytes": round(year_bytes),
                "digests": YEAR["days"] * 24,
                "verify_s": round(ver_s * scale, 1),
                "sha256sum_s": round(sha_s * scale, 1),
                "digest_writer_cpu_s_per_day": round(
                    gen["digest_writer_cpu_s_per_day"]
                    * (YEAR["hosts"] * YEAR["checks"] * YEAR["runs"])
                    / (args.hosts * args.checks * args.runs),
                    2,
                ),
                "how": "sample x 365/days (same hosts, checks and runs per day, so bytes and "
                "digests scale alike)"
                if same_day
                else "sample x year bytes / sample bytes (per-digest cost not scaled)",
            },
        }
        write_result(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
