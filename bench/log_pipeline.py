# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of the log pipeline on the local lab (run `make lab` first): numbers, no asserts.

One edge host at a time (BENCH_LOG_EDGES, default edge1; `edge1,edge2` with the two shippers on
different transports compares them in one run, step by step interleaved, so the machine's load
hits both alike) appends audit-format lines to the audit log its shipper tails (the lab's
containers cannot produce kernel audit events; the line is what auditd writes), at a fixed
rate for a fixed time, step by step at rising rates. Each edge's transport (relp: rsyslog's
omprog action running relp-forward; tcp: omfwd) is read from its /etc/rsyslog.conf. Each line
carries its sequence number and its event time (msg=audit(EPOCH.mmm:SERIAL)). For each step
the aggregator's store is read back:

- delivered: distinct sequence numbers stored / written; duplicates (stored twice);
- latency: the writer's `stored` time minus the line's event time, p50 / p99 / max (the
  containers share this machine's clock);
- drain: seconds from the last write until the last event was stored;
- CPU: CPU seconds of the edge's rsyslogd and of its relp-forward helper (/proc/<pid>/stat
  utime+stime) over the step, as a share of one core, and their sum (the shipper); the same for
  the aggregator's rsyslogd and its store writer (log-store), to show where the bottleneck is.

A rate is sustained when every event arrives exactly once, the drain is under 5 s and the p99
latency under 2 s. An edge's steps stop at its first rate that is not sustained (or at the last
one; BENCH_LOG_ALL_RATES=1 runs every rate). Traffic goes only from the edges to the aggregator
on the lab network. Bounded: BENCH_LOG_RATES (default 100,250,500,1000,2000 events/s),
BENCH_LOG_SECONDS per step (default 10), a drain of at most 60 s per step. Results:
bench/results/log_pipeline.json.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from conftest import get_host  # noqa: E402

OUT = REPO / "bench" / "results" / "log_pipeline.json"
STORE = "/srv/soc2audit/logs"
AUDIT_LOG = "/var/log/audit/audit.log"

# Runs on edge1: write COUNT lines at RATE per second, paced every 10 ms, fsync-free like auditd
# with flush=incremental_async; prints the wall time it took.
WRITER = r"""
import sys, time
path, token, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
count = int(rate * seconds)
start = time.time()
with open(path, "a", encoding="utf-8") as f:
    for i in range(count):
        due = start + i / rate
        now = time.time()
        if due > now:
            f.flush()
            time.sleep(due - now)
            now = time.time()
        f.write(
            f"type=USER_CMD msg=audit({now:.3f}:{i + 1}): pid=4242 uid=0 auid=1000 ses=7 "
            f"subj=unconfined msg='cwd=\"/\" cmd=true exe=\"/usr/bin/sudo\" terminal=pts/0 "
            f"res=success' comm=\"{token}-{i:07d}\" key=\"soc2-bench\"\n"
        )
    f.flush()
print(count, time.time() - start)
"""

# Runs on the aggregator: the stored records of TOKEN from one edge, as (sequence, event epoch,
# stored epoch).
READER = r"""
import datetime, glob, json, sys
token = sys.argv[1]
out = []
for path in sorted(glob.glob(sys.argv[2] + "/" + sys.argv[3] + "/*.jsonl")):
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if token not in line:
                continue
            r = json.loads(line)
            seq = int(r["raw"].split(token + "-", 1)[1][:7])
            stored = datetime.datetime.fromisoformat(r["stored"].replace("Z", "+00:00"))
            out.append([seq, r["audit"]["epoch"], stored.timestamp()])
print(json.dumps(out))
"""

CPU_OF = (
    "for p in $(pgrep -x {name}); do awk '{{print $14+$15}}' /proc/$p/stat; done"
    " | awk '{{s+=$1}} END {{print s+0}}'"
)


def cpu_seconds(host: str, name: str) -> float:
    ticks = float(get_host(host).check_output(CPU_OF.format(name=name)) or 0)
    return ticks / 100.0  # USER_HZ


def python(host: str, script: str, *args: str) -> str:
    cmd = f"python3 -c {shlex.quote(script)} {shlex.join(args)}"
    return get_host(host).check_output(cmd)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def transport(edge: str) -> str:
    conf = get_host(edge).check_output("cat /etc/rsyslog.conf")
    return "relp" if 'type="omprog"' in conf else "tcp"


def cpu_now(edge: str) -> dict[str, float]:
    return {
        "edge_rsyslogd": cpu_seconds(edge, "rsyslogd"),
        "edge_relp_forward": cpu_seconds(edge, "relp-forward"),
        "aggregator_rsyslogd": cpu_seconds("aggregator", "rsyslogd"),
        "aggregator_log_store": cpu_seconds("aggregator", "log-store"),
    }


def step(edge: str, rate: float, seconds: float) -> dict[str, Any]:
    token = f"b{uuid.uuid4().hex[:10]}"
    count = int(rate * seconds)
    cpu0 = cpu_now(edge)
    t0 = time.time()
    written, took = python(edge, WRITER, AUDIT_LOG, token, str(rate), str(seconds)).split()
    write_end = time.time()
    rows: list[list[float]] = []
    deadline = write_end + 60
    while time.time() < deadline:
        rows = json.loads(python("aggregator", READER, token, STORE, edge))
        if len({r[0] for r in rows}) >= count:
            break
        time.sleep(0.5)
    done = time.time()
    wall = done - t0
    cpu1 = cpu_now(edge)
    cpu = {k: round((cpu1[k] - cpu0[k]) / wall, 4) for k in cpu0}
    cpu["edge_shipper"] = round(cpu["edge_rsyslogd"] + cpu["edge_relp_forward"], 4)
    seqs = [int(r[0]) for r in rows]
    latency = [r[2] - r[1] for r in rows]
    last_stored = max((r[2] for r in rows), default=done)
    result = {
        "edge": edge,
        "rate_target": rate,
        "written": int(written),
        "write_seconds": round(float(took), 2),
        "rate_achieved": round(int(written) / float(took), 1),
        "stored_distinct": len(set(seqs)),
        "duplicates": len(seqs) - len(set(seqs)),
        "in_order": seqs == sorted(seqs),
        "latency_p50_s": round(percentile(latency, 0.5), 3) if latency else None,
        "latency_p99_s": round(percentile(latency, 0.99), 3) if latency else None,
        "latency_max_s": round(max(latency), 3) if latency else None,
        "drain_s": round(last_stored - write_end, 2),
        # Events stored per second from the first write to the last one stored.
        "throughput_eps": round(len(set(seqs)) / max(last_stored - t0, 1e-6), 1),
        "cpu_share_of_one_core": cpu,
    }
    result["sustained"] = bool(
        result["stored_distinct"] == count
        and result["duplicates"] == 0
        and result["drain_s"] < 5
        and (result["latency_p99_s"] or 99) < 2
    )
    return result


def summary(steps: list[dict[str, Any]]) -> dict[str, Any]:
    sustained = [s for s in steps if s["sustained"]]
    return {
        "max_sustained_rate": max((s["rate_achieved"] for s in sustained), default=None),
        "at_max_sustained": sustained[-1] if sustained else None,
        "max_throughput_eps": max((s["throughput_eps"] for s in steps), default=None),
        "median_shipper_cpu_share": statistics.median(
            [s["cpu_share_of_one_core"]["edge_shipper"] for s in steps]
        )
        if steps
        else None,
    }


def ratios(per: dict[str, dict[str, Any]], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """relp over tcp: the sustained rate, and latency and shipper CPU at each rate both ran."""
    if not {"relp", "tcp"} <= set(per):
        return {}
    out: dict[str, Any] = {}
    a, b = per["relp"]["max_sustained_rate"], per["tcp"]["max_sustained_rate"]
    if a and b:
        out["max_sustained_rate_relp_over_tcp"] = round(a / b, 3)
    by_rate: dict[float, dict[str, dict[str, Any]]] = {}
    for s in steps:
        by_rate.setdefault(s["rate_target"], {})[s["transport"]] = s
    out["per_rate"] = [
        {
            "rate": rate,
            "cpu_relp_over_tcp": round(
                both["relp"]["cpu_share_of_one_core"]["edge_shipper"]
                / max(both["tcp"]["cpu_share_of_one_core"]["edge_shipper"], 1e-6),
                2,
            ),
            "p50_relp_over_tcp": round(
                (both["relp"]["latency_p50_s"] or 0) / max(both["tcp"]["latency_p50_s"] or 0, 1e-3),
                2,
            ),
        }
        for rate, both in sorted(by_rate.items())
        if {"relp", "tcp"} <= set(both)
    ]
    return out


def main() -> int:
    rates = [
        float(r) for r in os.environ.get("BENCH_LOG_RATES", "100,250,500,1000,2000").split(",")
    ]
    seconds = float(os.environ.get("BENCH_LOG_SECONDS", "10"))
    edges = os.environ.get("BENCH_LOG_EDGES", "edge1").split(",")
    # BENCH_LOG_ALL_RATES=1: every rate for every edge (the throughput past the sustained rate).
    all_rates = os.environ.get("BENCH_LOG_ALL_RATES") == "1"
    transports = {edge: transport(edge) for edge in edges}
    load0 = os.getloadavg()
    steps: list[dict[str, Any]] = []
    running = list(edges)
    for rate in rates:
        for edge in list(running):
            res = {**step(edge, rate, seconds), "transport": transports[edge]}
            steps.append(res)
            print(json.dumps(res), flush=True)
            if not res["sustained"] and not all_rates:
                running.remove(edge)
        if not running:
            break
    per = {transports[edge]: summary([s for s in steps if s["edge"] == edge]) for edge in edges}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True, capture_output=True
    ).stdout.strip()
    out = {
        "commit": commit,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "nproc": os.cpu_count(),
            "kernel": platform.release(),
            "loadavg_start": [round(x, 2) for x in load0],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        },
        "paths": {
            "relp": "audit log -> imfile -> disk queue -> omprog relp-forward (RELP over TLS, "
            "one acknowledged frame per message) -> aggregator imrelp -> omprog log-store "
            "(sqlite dedup, fsync) -> day file",
            "tcp": "audit log -> imfile -> disk queue -> omfwd gtls -> aggregator imtcp gtls "
            "-> omprog log-store (sqlite dedup, fsync) -> day file",
        },
        "edges": transports,
        "seconds_per_step": seconds,
        "steps": steps,
        "per_transport": per,
        "ratios": ratios(per, steps),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
