# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmarks of the main job on the local lab: numbers, no asserts (tests never assert on time).

Everything is measured in ONE run, on the same lab, interleaved round by round (so a change in the
machine's load hits every variant alike), BENCH_RUNS rounds (default 3), warm fact cache and SSH
control sockets. Reported as medians in seconds and as ratios, with the machine it ran on:

- adhoc_ping_all_hosts: `ansible all -m ping`, the floor for any run over the same inventory
  (one ansible start-up plus one round trip per host).
- drift_check_playbook: `playbooks/drift_check.yml`, everything (verifiers, testinfra checks,
  merge, evidence, metrics files).
- drift_check_playbook_modules_only: the same without the testinfra checks.
- drift_check_playbook_modules_only_textfile_module: the same, the metrics file written by the
  soc2audit_textfile module (Python on the host) instead of one shell command: the two options
  for the metrics file's round trip (docs/drift.md "Cost of a drift run").
- drift_no_textfile: the same without the metrics-file task (--skip-tags soc2audit_no_drift): the
  cost of everything but the metrics file, i.e. what folding it into the verifier's round trip
  (one run late) could at best save.
- drift_cli: `soc2audit drift` (the same playbook through ansible-runner).
- site_converge_idempotent / site_check_mode: `playbooks/site.yml` on the converged lab (changes
  nothing) and the same with --check, back to back; BENCH_CONVERGE_RUNS rounds (default 3).
- one_call_per_check: every check of the catalog verified with its own call, as a suite without
  a one-pass verifier would: `bench/one_check.yml` per module check, one pytest run per
  testinfra check; the sum over all checks (run once: it is long).
- drift_check_round_trips_per_host: remote executions on each managed host during one drift run,
  counted from the `ansible.posix.json` callback (tasks delegated to the control node and
  data-only actions excluded), and how many of them start Python on the host (module runs).
- cpu_s (per variant): CPU seconds the run consumed, the control node's process tree (rusage of
  the waited children) plus the lab containers (their cgroups' CPU usage), medians. CPU is
  what a run costs whatever else the machine does, and on N cores a run cannot take less wall
  time than its CPU seconds / N: `cpu_floor_wall_s` reports that bound for each variant. Not
  for the variants with the testinfra checks: their pytest process is detached from the
  play's workers and its CPU would be missed.

BENCH_SKIP=converge,one_call skips parts (for a quick look; the README's figures are full runs).
Results: bench/results/main_job.json.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from soc2audit.testinfra_run import pytest_argv

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
CONVERGE_RUNS = int(os.environ.get("BENCH_CONVERGE_RUNS", "3"))
SKIP = set(filter(None, os.environ.get("BENCH_SKIP", "").split(",")))
OUT = REPO / "bench" / "results" / "main_job.json"
SCRATCH = REPO / ".cache" / "bench"
# Tasks that run on the control node or only shape data: they cost no round trip to the host.
LOCAL_ACTIONS = {
    f"{prefix}{name}"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for name in (
        "set_fact",
        "include_role",
        "import_role",
        "import_tasks",
        "include_tasks",
        "debug",
        "assert",
    )
}
# Actions that reach the host with one shell command, without starting Python there (the
# soc2audit_textfile action says so in its result: method shell).
SHELL_ACTIONS = {"ansible.builtin.raw", "raw"}


def env(**extra: str) -> dict[str, str]:
    e = dict(
        os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}"
    )
    e.update(extra)
    return e


def lab_cgroups() -> list[Path]:
    """The CPU accounting files of this checkout's lab containers (soc2audit.lab)."""
    from soc2audit.lab import Lab, container_cpu_files, lab_prefix

    return container_cpu_files(Lab(lab_prefix(), "").container(""))


CGROUPS: list[Path] = []


def lab_cpu_seconds() -> float:
    from soc2audit.lab import cpu_seconds

    return cpu_seconds(CGROUPS)


def controller_cpu_seconds() -> float:
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


CPU: dict[str, list[float]] = {}


def timed(
    cmd: list[str],
    ok: Callable[[int], bool] = lambda rc: rc == 0,
    cpu_key: str = "",
    **extra: str,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    cpu0 = controller_cpu_seconds() + lab_cpu_seconds()
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=REPO, env=env(**extra), text=True, capture_output=True, check=False
    )
    took = time.perf_counter() - start
    if cpu_key:
        CPU.setdefault(cpu_key, []).append(controller_cpu_seconds() + lab_cpu_seconds() - cpu0)
    if not ok(proc.returncode):
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return took, proc


def recap_changed(stdout: str) -> int:
    """Sum of changed= over the PLAY RECAP lines."""
    total = 0
    for line in stdout.splitlines():
        if " changed=" in line and " ok=" in line:
            total += int(line.split(" changed=")[1].split()[0])
    return total


def round_trips(json_output: str) -> dict[str, dict[str, int]]:
    """Remote executions on each host, and how many of them were module runs (Python)."""
    data = json.loads(json_output)
    trips: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    for play in data["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                if host == "localhost" or res.get("skipped"):
                    continue
                action = res.get("action", "")
                if action in LOCAL_ACTIONS or res.get("_ansible_delegated_vars"):
                    continue
                trips[host] += 1
                if action not in SHELL_ACTIONS and res.get("method") != "shell":
                    modules[host] += 1
    return {h: {"round_trips": trips[h], "module_runs": modules[h]} for h in sorted(trips)}


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "runs": len(samples),
        "median_s": round(statistics.median(samples), 3),
        "min_s": round(min(samples), 3),
        "max_s": round(max(samples), 3),
        "samples_s": [round(s, 3) for s in samples],
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
            # A scratch file: the plugin replaces its target atomically (never /dev/null).
            cmd = pytest_argv(
                str(BIN / "python"),
                INVENTORY,
                SCRATCH / "one_check.jsonl",
                target=check["source"],
            )
            took[check["id"]] = timed(cmd, ok=lambda rc: True)[0]
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


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kib = next(
        (int(ln.split()[1]) for ln in meminfo.splitlines() if ln.startswith("MemTotal")), 0
    )

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO, text=True, capture_output=True, check=False
        ).stdout.strip()

    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        # BENCH_COMMIT names the code measured when it is not this checkout's HEAD.
        "commit": os.environ.get("BENCH_COMMIT") or git("rev-parse", "--short=12", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


def ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    return round(a["median_s"] / b["median_s"], 2)


def main() -> int:
    if not INVENTORY.exists():
        sys.exit("no lab: run `make lab` first")
    info = machine()
    inv = ["-i", str(INVENTORY)]
    play = [str(BIN / "ansible-playbook"), *inv, "playbooks/drift_check.yml"]
    no_ti = '"soc2audit_testinfra": false'
    variants: dict[str, list[str]] = {
        "adhoc_ping_all_hosts": [
            str(BIN / "ansible"),
            *inv,
            "all",
            "-o",
            "-m",
            "ansible.builtin.ping",
        ],
        "drift_check_playbook": play,
        "drift_check_playbook_modules_only": [*play, "-e", "{" + no_ti + "}"],
        "drift_check_playbook_modules_only_textfile_module": [
            *play,
            "-e",
            "{" + no_ti + ', "soc2audit_textfile_method": "module"}',
        ],
        "drift_no_textfile": [*play, "--skip-tags", "soc2audit_no_drift", "-e", "{" + no_ti + "}"],
        "drift_cli": [
            str(BIN / "soc2audit"),
            "drift",
            "-q",
            "--project-dir",
            str(REPO),
            "-i",
            str(INVENTORY),
        ],
    }
    CGROUPS.extend(lab_cgroups())
    timed(play)  # warm the fact cache and SSH control sockets
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(RUNS):
        for name, cmd in variants.items():
            # The CLI's exit status is the drift result, not a failure of the run.
            ok = (lambda rc: rc in (0, 1, 2)) if name == "drift_cli" else (lambda rc: rc == 0)
            # The testinfra run is detached from the play's workers (started in one task,
            # collected in another), so its CPU is not in the waited children's rusage: CPU is
            # measured only for the variants whose every process is waited for.
            key = "" if name in ("drift_check_playbook", "drift_cli") else name
            samples[name].append(timed(cmd, ok=ok, cpu_key=key)[0])
    _, proc = timed(play, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json")
    trips = round_trips(proc.stdout)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": info,
        "hosts": len(trips),
        "drift_check_round_trips_per_host": trips,
        **{name: summary(s) for name, s in samples.items()},
    }
    floor = result["adhoc_ping_all_hosts"]
    ratios: dict[str, float] = {
        "drift_over_ping": ratio(result["drift_check_playbook"], floor),
        "drift_modules_only_over_ping": ratio(result["drift_check_playbook_modules_only"], floor),
        "drift_modules_only_textfile_module_over_ping": ratio(
            result["drift_check_playbook_modules_only_textfile_module"], floor
        ),
        "drift_no_textfile_over_ping": ratio(result["drift_no_textfile"], floor),
        "drift_cli_over_ping": ratio(result["drift_cli"], floor),
    }
    cores = os.cpu_count() or 1
    result["lab_containers_measured"] = len(CGROUPS)
    result["cpu_s"] = {name: round(statistics.median(v), 3) for name, v in CPU.items()}
    result["cpu_floor_wall_s"] = {name: round(v / cores, 3) for name, v in result["cpu_s"].items()}
    ping_cpu = result["cpu_s"]["adhoc_ping_all_hosts"]
    modules_cpu = result["cpu_s"]["drift_check_playbook_modules_only"]
    ratios["drift_modules_only_cpu_over_ping_cpu"] = (
        round(modules_cpu / ping_cpu, 2) if ping_cpu else 0.0
    )
    # The least wall time the modules-only run can take on this machine's cores, over the floor.
    ratios["drift_modules_only_cpu_floor_over_ping"] = ratio(
        {"median_s": modules_cpu / cores}, floor
    )
    if "converge" not in SKIP:
        site = [str(BIN / "ansible-playbook"), *inv, "playbooks/site.yml"]
        converge: list[float] = []
        check: list[float] = []
        changed: list[int] = []
        for _ in range(CONVERGE_RUNS):
            took, proc = timed(site)
            converge.append(took)
            changed.append(recap_changed(proc.stdout))
            took, proc = timed([*site, "--check"])
            check.append(took)
            changed.append(recap_changed(proc.stdout))
        result["site_converge_idempotent"] = summary(converge)
        result["site_check_mode"] = summary(check)
        result["site_changed_total"] = sum(changed)
        ratios["converge_over_check"] = ratio(
            result["site_converge_idempotent"], result["site_check_mode"]
        )
    if "one_call" not in SKIP:
        per_check = one_call_per_check()
        result["checks"] = len(per_check)
        result["one_call_per_check"] = {
            "total_s": round(sum(per_check.values()), 3),
            "per_check_s": {k: round(v, 3) for k, v in per_check.items()},
        }
        ratios["one_call_per_check_over_drift"] = round(
            sum(per_check.values()) / result["drift_check_playbook"]["median_s"], 2
        )
    modules = result["drift_check_playbook_modules_only"]["median_s"]
    bare = result["drift_no_textfile"]["median_s"]
    module_tf = result["drift_check_playbook_modules_only_textfile_module"]["median_s"]
    # What the metrics file adds to a run, per option (seconds, medians).
    result["textfile_cost_s"] = {
        "shell_command": round(modules - bare, 3),
        "module": round(module_tf - bare, 3),
    }
    result["ratios"] = ratios
    result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
