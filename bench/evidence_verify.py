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

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from soc2audit.chain import Settings, evidence_files, keygen, write_due_digests  # noqa: E402
from soc2audit.chain_verify import verify  # noqa: E402
from soc2audit.evidence import evidence_path  # noqa: E402
from soc2audit.fsutil import append_durable, ensure_dir, iso_utc  # noqa: E402

MARK = "\x00"
YEAR = {"days": 365, "hosts": 100, "checks": 40, "runs": 24}


def templates(hosts: int, checks: int) -> list[list[str]]:
    """One row per (host, check), split where the run's fields go (run_id, started, finished)."""
    out: list[list[str]] = []
    for h in range(hosts):
        for c in range(checks):
            failing = (h * checks + c) % 97 == 0
            row = {
                "check_id": f"{['PKI', 'TIME', 'NET', 'AUD', 'LOG'][c % 5]}-{c:02d}",
                "drift_since": "2026-10-30T11:00:00.104213Z" if failing else None,
                "expected": {"mode": "0600", "owner": "root", "max_error_bound_s": 0.05},
                "finished": MARK,
                "host": f"edge{h:03d}.prod.example.net",
                "message": "key file mode 0644, expected 0600" if failing else "",
                "observed": {"mode": "0644" if failing else "0600", "owner": "root"},
                "policy_sha256": "0344a00596d2" + "0" * 52,
                "result": "fail" if failing else "pass",
                "run_id": MARK,
                "started": MARK,
                "suite_version": "0.1.0",
                "waiver": None,
            }
            out.append(json.dumps(row, sort_keys=True).split(json.dumps(MARK)))
    return out


def generate(root: Path, key: Path, args: argparse.Namespace) -> dict[str, float]:
    rows = templates(args.hosts, args.checks)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    settings = Settings(policy_sha256="ab" * 32)
    ensure_dir(root, 0o750)
    gen_cpu = digest_cpu = 0.0
    digest_wall = 0.0
    step = dt.timedelta(hours=24 / args.runs)
    for day in range(args.days):
        for run in range(args.runs):
            began = start + dt.timedelta(days=day) + run * step
            t0 = time.process_time()
            run_id = f'"{day:04d}-{run:02d}-0000-0000-000000000000"'
            s = f'"{iso_utc(began)}"'
            f = f'"{iso_utc(began + dt.timedelta(seconds=30))}"'
            data = "".join(p[0] + f + p[1] + run_id + p[2] + s + p[3] + "\n" for p in rows).encode()
            append_durable(evidence_path(root, began), data)
            t1 = time.process_time()
            w0 = time.monotonic()
            write_due_digests(root, key, settings, began + dt.timedelta(minutes=5))
            digest_wall += time.monotonic() - w0
            gen_cpu += t1 - t0
            digest_cpu += time.process_time() - t1
    write_due_digests(root, key, settings, start + dt.timedelta(days=args.days, minutes=5))
    return {
        "generate_cpu_s": round(gen_cpu, 2),
        "digest_writer_cpu_s": round(digest_cpu, 2),
        "digest_writer_wall_s": round(digest_wall, 2),
        "digest_writer_cpu_s_per_day": round(digest_cpu / args.days, 3),
        "now": (start + dt.timedelta(days=args.days, minutes=10)).timestamp(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--checks", type=int, default=40)
    parser.add_argument("--runs", type=int, default=24, help="runs per day (one per interval)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where to generate (default: a temp dir)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / "evidence_verify.json"
    )
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="soc2audit-bench-", dir=args.dir))
    try:
        evidence = base / "evidence"
        key = base / "key" / "evidence.pem"
        keygen(key, evidence)
        w0 = time.monotonic()
        gen = generate(evidence, key, args)
        gen_wall = time.monotonic() - w0
        now = dt.datetime.fromtimestamp(gen.pop("now"), dt.UTC)
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
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
