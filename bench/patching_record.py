# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HOST verifier's patching part: the timer's record against the live read (numbers, no
asserts; docs/roles/patching.md, docs/scale.md).

    python bench/patching_record.py [--rounds 5] [--limit HOSTS]

Against the lab (inventory/lab/hosts.yml, converged: the patching role applied), round by round
and interleaved so the machine's load hits both alike: one `soc2_host` module run per host with
only the patching part, `state_max_age` 0 (live: the apt cache opened and needrestart run on
each host) and 7200 (the role's default: the record the hourly timer wrote, when nothing it read
changed since). Before the rounds the timer's service is started once on every host, so the
record is fresh. Per variant: median wall seconds of the ad-hoc run (one ansible start-up and
one round trip per host, like the `ansible -m ping` floor, also measured), the lab containers'
CPU seconds, and which source each host's result says it used. Results:
bench/results/patching_record.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
OUT = REPO / "bench" / "results" / "patching_record.json"
sys.path.insert(0, str(REPO))

from soc2audit.lab import Lab, container_cpu_files, cpu_seconds, lab_prefix  # noqa: E402


def env() -> dict[str, str]:
    return dict(
        os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), PATH=f"{BIN}:{os.environ['PATH']}"
    )


def adhoc(limit: str, module: str, args: str | None = None) -> tuple[float, str]:
    cmd = [str(BIN / "ansible"), limit, "-m", module, "-o"]
    if args is not None:
        cmd += ["-a", args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env(), text=True, capture_output=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return took, proc.stdout


def sources(stdout: str) -> list[str]:
    """Each host's patching.pending_source (the part's facts) from `ansible -o` output."""
    out = []
    for line in stdout.splitlines():
        if "=>" not in line:
            continue
        result = json.loads(line.split("=>", 1)[1])
        out.append(str((result.get("patching") or {}).get("pending_source")))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", default="all")
    args = parser.parse_args()
    cgroups = container_cpu_files(Lab(lab_prefix(), "").container(""))
    adhoc(
        args.limit,
        "ansible.builtin.systemd_service",
        "name=soc2audit-patching-pending.service state=started",
    )
    variants = {
        "ping": ("ansible.builtin.ping", None),
        "patching_live": (
            "soc2_host",
            json.dumps({"patching": {"enabled": True, "state_max_age": 0}}),
        ),
        "patching_record": (
            "soc2_host",
            json.dumps({"patching": {"enabled": True, "state_max_age": 7200}}),
        ),
    }
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    seen: dict[str, set[str]] = {k: set() for k in variants}
    load = [round(x, 2) for x in os.getloadavg()]
    for _ in range(args.rounds):
        for name, (module, margs) in variants.items():
            cpu0 = cpu_seconds(cgroups)
            took, stdout = adhoc(args.limit, module, margs)
            cpu[name].append(cpu_seconds(cgroups) - cpu0)
            wall[name].append(took)
            if module == "soc2_host":
                seen[name].update(s.split(" (")[0].split(" by ")[0] for s in sources(stdout))
    med = {k: round(statistics.median(v), 2) for k, v in wall.items()}
    result: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "hosts": args.limit,
        "rounds": args.rounds,
        "load_average_start": load,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "median_wall_s": med,
        "median_lab_cpu_s": {k: round(statistics.median(v), 2) for k, v in cpu.items()},
        "sources": {k: sorted(v) for k, v in seen.items() if v},
        "ratios": {
            "live_over_record": round(med["patching_live"] / med["patching_record"], 2),
            "record_over_ping": round(med["patching_record"] / med["ping"], 2),
            "live_over_ping": round(med["patching_live"] / med["ping"], 2),
        },
    }
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
