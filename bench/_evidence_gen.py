#!/usr/bin/env python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence the benchmarks run on, made in one place (bench/evidence_verify.py and
bench/window_report.py): DAYS x HOSTS x CHECKS x RUNS realistic drift-run rows (one run per
interval), appended run by run to the day files as the drift runs do, with the hourly digests
the run's end writes (``write_due_digests``) under a fresh key, in a temporary directory.

``shape_parser`` gives both scripts the same options, ``generated`` makes (and afterwards
removes, unless ``--keep``) the evidence, ``run_info`` the commit, date and machine every
result records.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from soc2audit.chain import Settings, keygen, write_due_digests  # noqa: E402
from soc2audit.evidence import evidence_path  # noqa: E402
from soc2audit.fsutil import append_durable, ensure_dir, iso_utc  # noqa: E402

#: The year the issue asks to measure: 365 days x 100 hosts x 40 checks x 24 runs.
YEAR = {"days": 365, "hosts": 100, "checks": 40, "runs": 24}
#: The first generated day.
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

MARK = "\x00"
#: What a kept run records in its base directory for ``--reuse``.
GENERATED = "generated.json"


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
    start = START
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


def shape_parser(doc: str, out: str, rounds: int) -> argparse.ArgumentParser:
    """The options both benchmarks take (the shape, rounds, where, --keep, --out)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--checks", type=int, default=40)
    parser.add_argument("--runs", type=int, default=24, help="runs per day (one per interval)")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--dir", type=Path, help="where to generate (default: a temp dir)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="BASE",
        help="measure on evidence an earlier --keep run left in BASE (same shape; not removed)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / out)
    return parser


@dataclass
class Generated:
    base: Path
    evidence: Path
    key: Path
    #: Wall time of the generation, and what ``generate`` measured.
    wall_s: float
    figures: dict[str, float]
    #: The time the evidence is verified at: just after the last digest.
    now: dt.datetime


@contextlib.contextmanager
def generated(args: argparse.Namespace, prefix: str) -> Iterator[Generated]:
    """The evidence of ``args``' shape in a temporary directory, removed afterwards unless
    ``args.keep``; or, with ``args.reuse``, the evidence a kept run left there (its generation
    figures are read back from ``generated.json``, which records the shape it was made for)."""
    if args.reuse:
        made = json.loads((args.reuse / GENERATED).read_text())
        shape = {k: getattr(args, k) for k in YEAR}
        if made["shape"] != shape:
            raise SystemExit(f"{args.reuse} holds {made['shape']}, not the asked {shape}")
        now = dt.datetime.fromtimestamp(made["figures"].pop("now"), dt.UTC)
        yield Generated(
            args.reuse,
            args.reuse / "evidence",
            args.reuse / "key" / "evidence.pem",
            made["wall_s"],
            made["figures"],
            now,
        )
        return
    base = Path(tempfile.mkdtemp(prefix=prefix, dir=args.dir))
    try:
        evidence = base / "evidence"
        key = base / "key" / "evidence.pem"
        keygen(key, evidence)
        began = time.monotonic()
        figures = generate(evidence, key, args)
        wall = time.monotonic() - began
        (base / GENERATED).write_text(
            json.dumps(
                {
                    "shape": {k: getattr(args, k) for k in YEAR},
                    "wall_s": wall,
                    "figures": figures,
                }
            )
        )
        now = dt.datetime.fromtimestamp(figures.pop("now"), dt.UTC)
        yield Generated(base, evidence, key, wall, figures, now)
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)


def run_info(load_start: tuple[float, float, float]) -> dict[str, Any]:
    """The commit, date and machine a result was measured on."""
    return {
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
    }


def write_result(out: Path, result: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
