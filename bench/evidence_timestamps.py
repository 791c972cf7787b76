#!/usr/bin/env python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark: what RFC 3161 timestamps of the digests cost (docs/evidence.md, Timestamps).

Writes N hourly digests (one small evidence line each) with ``timestamp_policy: every``, then
times ``stamp_missing`` (per token: ``openssl ts -query``, the HTTP POST, the TSA's answer,
``openssl ts -verify -queryfile``) against a local TSA (tests/unit/local_tsa.py: real
``openssl ts -reply`` on 127.0.0.1, so the TSA's own signing is inside the figure), and
``evidence verify`` of the chain with and without checking the tokens. Records the cost per
token and the extrapolation to a year of hourly digests (8,760 tokens with ``every``, 365 with
``daily``).

    python bench/evidence_timestamps.py --tokens 48

Writes bench/results/evidence_timestamps.json (``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests" / "unit"))

from _evidence_gen import run_info, write_result  # noqa: E402
from local_tsa import LABEL, LocalTsa  # noqa: E402

from soc2audit.chain import Settings, keygen, write_due_digests  # noqa: E402
from soc2audit.chain_verify import verify  # noqa: E402
from soc2audit.evidence import append_evidence  # noqa: E402
from soc2audit.timestamp import Tsa, stamp_missing  # noqa: E402

T0 = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / "evidence_timestamps.json"
    )
    args = parser.parse_args()
    load_start = os.getloadavg()
    base = Path(tempfile.mkdtemp(prefix="soc2audit-bench-tsa-"))
    tsa = LocalTsa(base / "tsa").start()
    try:
        evidence, key = base / "evidence", base / "key" / "evidence.pem"
        keygen(key, evidence)
        settings = Settings(policy_sha256="ab" * 32, timestamp_policy="every")
        for hour in range(args.tokens):
            append_evidence(evidence, [{"hour": hour}], T0 + dt.timedelta(hours=hour))
            write_due_digests(evidence, key, settings, T0 + dt.timedelta(hours=hour, minutes=65))
        began = time.monotonic()
        done = stamp_missing(evidence, Tsa(tsa.url, tsa.ca))
        stamp_s = time.monotonic() - began
        assert not done.failed and len(done.written) == args.tokens, done.failed[:1]
        now = T0 + dt.timedelta(hours=args.tokens, minutes=10)
        with_tokens, without = [], []
        for _ in range(args.rounds):
            began = time.monotonic()
            report = verify(evidence, now=now, tsa_ca=[tsa.ca])
            with_tokens.append(time.monotonic() - began)
            assert report.ok and report.timestamps == args.tokens
            shutil.move(evidence / "keys" / "tsa", base / "tsa-ca-aside")
            tokens = sorted((evidence / "digests").rglob("*.tsr"))
            aside = [t.rename(t.with_name(t.name + ".aside")) for t in tokens]
            began = time.monotonic()
            plain = verify(evidence, now=now)
            without.append(time.monotonic() - began)
            assert plain.timestamps == 0
            for path in aside:
                path.rename(path.with_name(path.name.removesuffix(".aside")))
            shutil.move(base / "tsa-ca-aside", evidence / "keys" / "tsa")
        per_token = (statistics.median(with_tokens) - statistics.median(without)) / args.tokens
        result = {
            "what": f"RFC 3161 tokens of the digests against a {LABEL}",
            **run_info(load_start),
            "tokens": args.tokens,
            "request_and_check_ms_per_token": round(stamp_s / args.tokens * 1000, 1),
            "verify_s_with_tokens": [round(x, 3) for x in with_tokens],
            "verify_s_without_tokens": [round(x, 3) for x in without],
            "verify_ms_per_token": round(per_token * 1000, 1),
            "year_extrapolated_verify_s": {
                "every (8760 tokens)": round(per_token * 8760, 1),
                "daily (365 tokens)": round(per_token * 365, 1),
            },
        }
        write_result(args.out, result)
    finally:
        tsa.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
