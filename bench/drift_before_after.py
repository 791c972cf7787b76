# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drift run of an earlier commit against this checkout's, on the scale lab, in one run
(numbers, no asserts; docs/scale.md "What was changed").

    python bench/drift_before_after.py --before 79132dd [--rounds 3] [--testinfra]

The earlier commit is checked out into .cache/bench-before (a git worktree, removed at the
end); both drift runs use this checkout's virtualenv and the fleet as it is
(`make fleet-up FLEET_N=16`), and the earlier one imports the soc2audit package from its own
tree (PYTHONPATH), so each run is all of its commit's code. Round by round, interleaved so the
machine's load hits every variant alike: `ansible all -m ping` (the floor), the earlier drift
run, this drift run; without the testinfra checks unless --testinfra (they are the same code in
both). Per run: wall seconds, the control node's CPU (the ansible process tree) and the fleet
hosts' CPU (their cgroups), from bench/scale.py's `measure`. Results:
bench/results/drift_before_after.json (medians and every run).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
OUT = REPO / "bench" / "results" / "drift_before_after.json"
SCRATCH = REPO / ".cache" / "bench-before-after"
BEFORE = REPO / ".cache" / "bench-before"
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from scale import env as scale_env  # noqa: E402
from scale import measure  # noqa: E402

from soc2audit import fleet, lab  # noqa: E402


def drift(tree: Path, testinfra: bool, label: str) -> list[str]:
    argv = [
        str(BIN / "ansible-playbook"),
        "-i",
        str(fleet.INVENTORY),
        str(tree / "playbooks" / "drift_check.yml"),
        "-e",
        f"soc2audit_output_dir={SCRATCH / label / 'out'}",
        "-e",
        f"soc2audit_evidence_dir={SCRATCH / label / 'evidence'}",
    ]
    return argv if testinfra else [*argv, "-e", "soc2audit_testinfra=false"]


def run_in(tree: Path, argv: list[str], cgroups: list[Path]) -> dict[str, Any]:
    """bench/scale.py's measure, with the tree's ansible.cfg and soc2audit package."""
    environ = dict(scale_env(), ANSIBLE_CONFIG=str(tree / "ansible.cfg"), PYTHONPATH=str(tree))
    return measure(argv, cgroups, environ)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--testinfra", action="store_true")
    args = parser.parse_args()
    before = subprocess.run(
        ["git", "rev-parse", "--short=12", args.before],
        cwd=REPO, text=True, capture_output=True, check=True,
    ).stdout.strip()  # fmt: skip
    after = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"],
        cwd=REPO, text=True, capture_output=True, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(["git", "worktree", "remove", "--force", str(BEFORE)], cwd=REPO, check=False)
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(BEFORE), before], cwd=REPO, check=True
    )
    cgroups = lab.container_cpu_files(f"{fleet.fleet_lab().prefix}-")
    hosts = len(cgroups)
    ping = [str(BIN / "ansible"), "all", "-i", str(fleet.INVENTORY), "-m", "ansible.builtin.ping"]
    variants = {
        "ping": (REPO, ping),
        "before": (BEFORE, drift(BEFORE, args.testinfra, "before")),
        "after": (REPO, drift(REPO, args.testinfra, "after")),
    }
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    load0 = os.getloadavg()
    try:
        for tree, argv in variants.values():  # warm-up: facts, ControlPersist
            run_in(tree, argv, cgroups)
        for r in range(args.rounds):
            for name, (tree, argv) in variants.items():
                res = run_in(tree, argv, cgroups)
                runs[name].append(res)
                print(
                    f"[bench] round {r + 1} {name}: {res['wall_s']}s ctl cpu {res['cpu_s']}s "
                    f"hosts cpu {res['hosts_cpu_s']}s rc {res['rc']} load {res['load_before']}",
                    flush=True,
                )
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(BEFORE)], cwd=REPO, check=False)

    def median(name: str, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[name]), 3)

    summary = {v: {k: median(v, k) for k in ("wall_s", "cpu_s", "hosts_cpu_s")} for v in variants}
    for v in ("before", "after"):
        summary[v]["over_ping_wall"] = round(summary[v]["wall_s"] / summary["ping"]["wall_s"], 2)
    for key, name in (("wall_s", "wall"), ("cpu_s", "ctl_cpu"), ("hosts_cpu_s", "hosts_cpu")):
        ratio = summary["after"][key] / summary["before"][key]
        summary["after"][f"over_before_{name}"] = round(ratio, 2)
    data = {
        "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "hosts": hosts,
        "before": before,
        "after": after,
        "testinfra": args.testinfra,
        "rounds": args.rounds,
        "load_average_start": [round(x, 2) for x in load0],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "median": summary,
        "runs": {v: [{k: r[k] for k in ("wall_s", "cpu_s", "hosts_cpu_s", "rc")} for r in rs]
                 for v, rs in runs.items()},
    }  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
