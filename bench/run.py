"""Benchmarks on the local lab. Results go to bench/results/drift_check.json; numbers, no asserts.

All measured in the same run, on the same lab, BENCH_RUNS times each (default 5), warm fact cache
and SSH control sockets:

- adhoc_ping_all_hosts: `ansible all -m ping`, the floor for any run over the same inventory
  (one ansible start-up plus one round trip per host).
- drift_check_playbook: `playbooks/drift_check.yml`, everything (verifiers, testinfra checks,
  merge, evidence, metrics files).
- drift_check_playbook_modules_only: the same without the testinfra checks.
- drift_cli: `soc2audit drift` (the same playbook through ansible-runner).
- one_call_per_check: every check of the catalog verified with its own call, as a suite without
  a one-pass verifier would: `bench/one_check.yml` per module check, one pytest run per
  testinfra check; the sum over all checks (run once: it is long).
- ratios: each of the above over the ping floor, and one_call_per_check over the drift run.
- drift_check_round_trips_per_host: module executions on each managed host during one drift run,
  counted from the `ansible.posix.json` callback (tasks delegated to the control node and
  data-only actions such as set_fact excluded). The design target is about one per host.
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
    "assert",
    "ansible.builtin.assert",
    "import_role",
    "ansible.builtin.import_role",
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


def catalog_checks() -> list[dict[str, str]]:
    import yaml

    data = yaml.safe_load((REPO / "controls" / "catalog.yml").read_text())
    return [{"id": c["id"], "source": c["source"]} for c in data["checks"]]


def one_call_per_check() -> dict[str, float]:
    """Seconds per check when each check costs its own ansible (or pytest) call."""
    took: dict[str, float] = {}
    for check in catalog_checks():
        if check["source"].startswith("controls/"):
            target = check["source"]
            cmd = [
                str(BIN / "python"),
                "-m",
                "pytest",
                "-q",
                "-p",
                "soc2audit.pytest_plugin",
                "-p",
                "no:cacheprovider",
                target if "::" in target else f"{target}",
                "--hosts=ansible://all",
                f"--ansible-inventory={INVENTORY}",
                "--soc2audit-results=/dev/null",
            ]
            took[check["id"]] = timed_any(cmd)
        else:
            cmd = [
                str(BIN / "ansible-playbook"),
                "-i",
                str(INVENTORY),
                "bench/one_check.yml",
                "-e",
                f"bench_check={check['id']}",
            ]
            took[check["id"]] = timed(cmd)[0]
    return took


def timed_any(cmd: list[str]) -> float:
    """Wall time of a command whose exit status is information, not failure (pytest)."""
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, env=env(), text=True, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> int:
    if not INVENTORY.exists():
        sys.exit("no lab: run `make lab` first")
    play = [str(BIN / "ansible-playbook"), "-i", str(INVENTORY), "playbooks/drift_check.yml"]
    modules_only = [*play, "-e", '{"soc2audit_testinfra": false}']
    cli = [str(BIN / "soc2audit"), "drift", "-q", "-i", str(INVENTORY)]
    adhoc = [str(BIN / "ansible"), "-i", str(INVENTORY), "all", "-o", "-m", "ansible.builtin.ping"]
    timed(play)  # warm the fact cache and SSH control sockets
    ping = [timed(adhoc)[0] for _ in range(RUNS)]
    samples = [timed(play)[0] for _ in range(RUNS)]
    modules = [timed(modules_only)[0] for _ in range(RUNS)]
    clis = [timed_any(cli) for _ in range(RUNS)]
    _, proc = timed(play, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    trips = round_trips(proc.stdout)
    per_check = one_call_per_check()
    floor = statistics.median(ping)
    drift = statistics.median(samples)
    result = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "hosts": len(trips),
        "checks": len(per_check),
        "adhoc_ping_all_hosts": summary(ping),
        "drift_check_playbook": summary(samples),
        "drift_check_playbook_modules_only": summary(modules),
        "drift_cli": summary(clis),
        "drift_check_round_trips_per_host": trips,
        "one_call_per_check": {
            "total_s": round(sum(per_check.values()), 3),
            "per_check_s": {k: round(v, 3) for k, v in per_check.items()},
        },
        "ratios": {
            "drift_over_ping": round(drift / floor, 2),
            "drift_modules_only_over_ping": round(statistics.median(modules) / floor, 2),
            "drift_cli_over_ping": round(statistics.median(clis) / floor, 2),
            "one_call_per_check_over_drift": round(sum(per_check.values()) / drift, 2),
        },
    }
    out = REPO / "bench" / "results" / "drift_check.json"
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
