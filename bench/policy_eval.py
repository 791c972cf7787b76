# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet policy evaluation time per drift run, both engines, against the drift run's own time.

    python bench/policy_eval.py [--rounds 3] [--hosts 1000] [--lab-input PATH]

Inputs:

- ``lab``: the lab's last drift run input (``.cache/drift/policy_input.json``, written by every
  drift run; run ``make lab`` first), four hosts;
- ``generated``: the same document grown to ``--hosts`` hosts (default 1,000): the lab's hosts
  cloned round-robin under new names (edge hosts stay edge hosts, each with its own certificate
  key), every result row, observation and fact copied, and 24 runs of history.

Engines: ``embedded`` (regopy, in process) and ``opa`` (a real OPA v1.22.3 on loopback over
mTLS with the opa role's authz policy, soc2audit.opa_local: the same HTTPS round trip the drift
run makes to the monitor, without the lab network). Each round evaluates every policy once
(the policies already loaded: a drift run pushes only what changed); medians in seconds. Also
the input's size and the time to build it, and the lab drift run's own duration (from
``.cache/drift/last_run.jsonl``: first start to last finish). Numbers only, no asserts.
Results: bench/results/policy_eval.json.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from soc2audit import components  # noqa: E402
from soc2audit.fsutil import parse_utc  # noqa: E402
from soc2audit.opa_local import local_opa  # noqa: E402
from soc2audit.policy import (  # noqa: E402
    EmbeddedEngine,
    OpaEngine,
    canonical_json,
    load_policies,
    policy_checks,
)

OUT = REPO / "bench" / "results" / "policy_eval.json"
DRIFT = REPO / ".cache" / "drift"


def grow(document: dict[str, Any], hosts: int) -> dict[str, Any]:
    """``document`` grown to ``hosts`` hosts the way fleets grow: the edge hosts cloned
    round-robin under new names (each with its own certificate key, its results, observations
    and facts), the other hosts (aggregator, time server, monitor) kept as they are, the
    aggregators' LOG-07 observation extended to every edge host, and 24 runs of history."""
    edges = list(document["inventory"]["groups"].get("edge") or [])
    others = [h for h in document["inventory"]["hosts"] if h not in edges]
    out = copy.deepcopy(document)
    out["hosts"] = {h: out["hosts"][h] for h in others}
    out["inventory"] = {"hosts": list(others), "groups": {}}
    for group, members in document["inventory"]["groups"].items():
        out["inventory"]["groups"][group] = [h for h in members if h in others]
    rows_of: dict[str, list[dict[str, Any]]] = {}
    for row in document["results"]:
        rows_of.setdefault(row["host"], []).append(row)
    out["results"] = [row for h in others for row in rows_of.get(h, [])]
    clones: dict[str, str] = {}
    for index in range(max(hosts - len(others), 0)):
        source = edges[index % len(edges)]
        name = f"{source}-{index:05d}"
        clones[name] = source
        out["inventory"]["hosts"].append(name)
        for group in document["hosts"][source]["groups"]:
            out["inventory"]["groups"].setdefault(group, []).append(name)
        body = copy.deepcopy(document["hosts"][source])
        for cert in (body.get("facts") or {}).get("pki", {}).get("certificates") or []:
            digest = hashlib.sha256(f"{name}/{cert.get('name')}".encode()).hexdigest()
            cert["public_key_sha256"] = digest
        out["hosts"][name] = body
        out["results"] += [{**row, "host": name} for row in rows_of.get(source, [])]
    for row in out["results"]:
        if row["check_id"] == "LOG-07" and isinstance(row.get("observed"), dict):
            seen = row["observed"]
            row["observed"] = {name: seen.get(source) for name, source in clones.items()}
    started = float(document["run"]["started_epoch"])
    out["history"] = [
        {
            "run_id": f"history-{n}",
            "started": f"t-{n}",
            "started_epoch": started - 3600 * (24 - n),
            "hosts": {
                name: {"results": {}, "observations": {"clock_error_bound": 0.001}}
                for name in out["inventory"]["hosts"]
            },
        }
        for n in range(24)
    ]
    return out


def drift_seconds() -> float | None:
    """The lab drift run's duration: earliest start to latest finish of last_run.jsonl."""
    path = DRIFT / "last_run.jsonl"
    if not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    starts = [parse_utc(r["started"]) for r in rows]
    ends = [parse_utc(r["finished"]) for r in rows]
    return round((max(ends) - min(starts)).total_seconds(), 2)


def measure(engine: Any, policies: Any, document: dict[str, Any], rounds: int) -> dict[str, Any]:
    times, results = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        evaluation = engine.evaluate(policies, document)
        times.append(time.perf_counter() - started)
        results = {c["check_id"]: c["result"] for c in policy_checks(policies, evaluation)}
    return {
        "median_s": round(statistics.median(times), 4),
        "rounds_s": [round(t, 4) for t in times],
        "results": results,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--lab-input", type=Path, default=DRIFT / "policy_input.json")
    args = parser.parse_args()
    policies, problems = load_policies(REPO / "policies")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if not args.lab_input.exists():
        print(f"{args.lab_input} not found: run `make lab` first", file=sys.stderr)
        return 2
    lab = json.loads(args.lab_input.read_text())
    started = time.perf_counter()
    generated = grow(lab, args.hosts)
    grow_s = time.perf_counter() - started
    inputs = {"lab": lab, "generated": generated}
    binary = components.ensure("opa")
    report: dict[str, Any] = {
        "machine": {
            "nproc": os.cpu_count(),
            "kernel": platform.release(),
            "loadavg_start": os.getloadavg(),
        },
        "commit": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip(),
        "lab_drift_run_s": drift_seconds(),
        "generate_input_s": round(grow_s, 3),
        "inputs": {},
    }
    with local_opa(binary) as server:
        engines = {"embedded": EmbeddedEngine(), "opa": OpaEngine(server.settings)}
        for engine in engines.values():  # load the modules once, as a steady drift run has
            engine.evaluate(policies, lab)
        for label, document in inputs.items():
            raw = canonical_json(document)
            entry: dict[str, Any] = {
                "hosts": len(document["inventory"]["hosts"]),
                "result_rows": len(document["results"]),
                "input_bytes": len(raw),
                "engines": {},
            }
            for name, engine in engines.items():
                entry["engines"][name] = measure(engine, policies, document, args.rounds)
                print(f"{label:9} {name:8} {entry['engines'][name]['median_s']:8.3f} s", flush=True)
            same = entry["engines"]["embedded"]["results"] == entry["engines"]["opa"]["results"]
            entry["same_decisions"] = same
            report["inputs"][label] = entry
    report["machine"]["loadavg_end"] = os.getloadavg()
    drift = report["lab_drift_run_s"]
    if drift:
        report["share_of_lab_drift_run"] = {
            name: round(report["inputs"]["lab"]["engines"][name]["median_s"] / drift, 4)
            for name in ("embedded", "opa")
        }
    OUT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "inputs"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
