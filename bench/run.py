"""Benchmarks on the local lab. Results go to bench/results/drift_check.json; numbers, no asserts.

- drift_check_playbook: wall time of `playbooks/drift_check.yml` over the lab (warm fact cache and
  SSH control sockets), BENCH_RUNS times (default 5).
- drift_check_round_trips_per_host: module executions on each managed host during one drift run,
  counted from the `ansible.posix.json` callback (tasks delegated to the control node and
  data-only actions such as set_fact excluded). The design target is about one per host.
- adhoc_ping_all_hosts: `ansible all -m ping`, the floor for any run over the same inventory.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
# Tasks that run on the control node or only shape data: they cost no round trip to the host.
LOCAL_ACTIONS = {
    "set_fact",
    "ansible.builtin.set_fact",
    "include_role",
    "ansible.builtin.include_role",
    "import_tasks",
    "ansible.builtin.import_tasks",
    "debug",
    "ansible.builtin.debug",
}


def env(**extra: str) -> dict[str, str]:
    e = dict(
        os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}"
    )
    e.update(extra)
    return e


def timed(cmd: list[str], **extra: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=REPO, env=env(**extra), text=True, capture_output=True, check=False
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return took, proc


def round_trips(json_output: str) -> dict[str, int]:
    """Module executions on each remote host (delegated and local-only tasks excluded)."""
    data = json.loads(json_output)
    counts: Counter[str] = Counter()
    for play in data["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if host == "localhost" or res.get("skipped"):
                    continue
                action = res.get("action", "")
                if action in LOCAL_ACTIONS or res.get("_ansible_delegated_vars"):
                    continue
                counts[host] += 1
    return dict(counts)


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "runs": len(samples),
        "median_s": round(statistics.median(samples), 3),
        "min_s": round(min(samples), 3),
        "max_s": round(max(samples), 3),
    }


def main() -> int:
    if not INVENTORY.exists():
        sys.exit("no lab: run `make lab` first")
    play = [str(BIN / "ansible-playbook"), "-i", str(INVENTORY), "playbooks/drift_check.yml"]
    timed(play)  # warm the fact cache and SSH control sockets
    samples = [timed(play)[0] for _ in range(RUNS)]
    _, proc = timed(play, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    trips = round_trips(proc.stdout)
    adhoc = [str(BIN / "ansible"), "-i", str(INVENTORY), "all", "-o", "-m", "ansible.builtin.ping"]
    ping = [timed(adhoc)[0] for _ in range(RUNS)]
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "hosts": len(trips),
        "drift_check_playbook": summary(samples),
        "drift_check_round_trips_per_host": trips,
        "adhoc_ping_all_hosts": summary(ping),
    }
    out = REPO / "bench" / "results" / "drift_check.json"
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
