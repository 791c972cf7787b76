# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The suite's own cost as the fleet grows (issue 17; docs/scale.md): numbers, no asserts.

    python bench/scale.py --hosts 4 16 64 [--rounds 2] [--down]

For each N: the scale lab (soc2audit.fleet) is grown or shrunk to N hosts, converged once cold
with the scale profile (playbooks/scale_profile.yml), then measured in rounds, interleaved so a
change in the machine's load hits every variant alike:

- ping: `ansible all -m ping`, the floor (one ansible start-up, one round trip per host);
- drift: `playbooks/drift_check.yml`, everything (verifiers, testinfra checks, merge, fleet
  policies, evidence, metrics files);
- drift_modules_only: the same without the testinfra checks (soc2audit_testinfra=false);
- check: the scale profile with --check on the converged fleet;
- idempotent: the scale profile again (changes nothing; the changed= sum is recorded).

Per run: wall seconds; the control node's CPU (user+sys seconds of the ansible process tree,
from the rusage of the waited descendants: ssh ControlPersist masters and the drift run's
detached testinfra pytest are not included); peak RSS of the process tree (the sum over its live
processes, sampled every 0.2 s from /proc) and the largest single process' peak (ru_maxrss);
the managed hosts' CPU (the fleet containers' cgroups: on this machine the hosts share the
control node's cores, in production each host pays its own); the load average before and
after. Per N: medians. Across N: a least-squares line
t = fixed + per_host * N for each variant, and the ratios the issue sets goals for (drift over
ping <= 2, idempotent over check <= 1.5). Results: bench/results/scale.json (points of earlier
invocations are kept, so N can be measured one at a time); `--table` prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
OUT = REPO / "bench" / "results" / "scale.json"
SCRATCH = REPO / ".cache" / "bench-scale"
PAGE = os.sysconf("SC_PAGE_SIZE")
VARIANTS = ("ping", "drift", "drift_modules_only", "check", "idempotent")


def inventory() -> Path:
    from soc2audit import fleet

    return fleet.INVENTORY


def env() -> dict[str, str]:
    return dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        PATH=f"{BIN}:{os.environ['PATH']}",
        ANSIBLE_DEPRECATION_WARNINGS="False",
    )


def commands(n: int) -> dict[str, list[str]]:
    inv = str(inventory())
    drift_vars = [
        "-e",
        f"soc2audit_output_dir={SCRATCH / 'drift'}",
        "-e",
        f"soc2audit_evidence_dir={SCRATCH / 'evidence'}",
    ]
    profile = [str(BIN / "ansible-playbook"), "-i", inv, "playbooks/scale_profile.yml"]
    return {
        "ping": [str(BIN / "ansible"), "all", "-i", inv, "-m", "ansible.builtin.ping"],
        "drift": [
            str(BIN / "ansible-playbook"),
            "-i",
            inv,
            "playbooks/drift_check.yml",
            *drift_vars,
        ],
        "drift_modules_only": [
            str(BIN / "ansible-playbook"),
            "-i",
            inv,
            "playbooks/drift_check.yml",
            *drift_vars,
            "-e",
            "soc2audit_testinfra=false",
        ],
        "check": [*profile, "--check"],
        "idempotent": profile,
    }


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and every live descendant (from /proc)."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parent[pid] = int(fields[1])
        rss[pid] = int(fields[21]) * PAGE
    total = 0
    for pid in rss:
        p = pid
        while p > 1:
            if p == root:
                total += rss[pid]
                break
            p = parent.get(p, 0)
    return total


def measure(
    cmd: list[str], cgroups: list[Path], environ: dict[str, str] | None = None
) -> dict[str, Any]:
    """One run of ``cmd`` (in ``environ``, default env()): wall, CPU, memory, load."""
    from soc2audit.lab import cpu_seconds

    hosts0 = cpu_seconds(cgroups)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=environ or env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    hosts_cpu = cpu_seconds(cgroups) - hosts0
    changed = sum(
        int(line.split(" changed=")[1].split()[0])
        for line in out.splitlines()
        if " changed=" in line and " ok=" in line
    )
    return {
        "wall_s": round(wall, 3),
        "rc": proc.returncode,
        "cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 3),
        "hosts_cpu_s": round(hosts_cpu, 3),
        "peak_tree_rss_mb": round(peak[0] / 2**20, 1),
        "max_process_rss_mb": round(after.ru_maxrss / 1024, 1),
        "changed": changed,
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "tail": out.splitlines()[-3:] if proc.returncode not in (0, 1, 2) else [],
    }


def fleet_up(n: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / "python"), "-m", "soc2audit.fleet", "up", "--hosts", str(n)],
        cwd=REPO,
        env=env(),
        check=True,
    )
    return round(time.perf_counter() - start, 1)


def point(n: int, rounds: int, variants: tuple[str, ...]) -> dict[str, Any]:
    from soc2audit import fleet, lab

    built = fleet_up(n)
    cmds = commands(n)
    cgroups = lab.container_cpu_files(f"{fleet.fleet_lab().prefix}-")
    converge = "check" in variants or "idempotent" in variants
    cold: dict[str, Any] = {}
    if converge:
        print(f"[bench] N={n}: fleet up in {built}s; cold converge", flush=True)
        cold = measure(cmds["idempotent"], cgroups)
        print(f"[bench] N={n}: cold converge {cold['wall_s']}s rc={cold['rc']}", flush=True)
    warm = measure(cmds["ping"], cgroups)  # fills the ControlPersist sockets
    print(f"[bench] N={n}: warm-up ping {warm['wall_s']}s", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for r in range(rounds):
        for variant in variants:
            res = measure(cmds[variant], cgroups)
            runs[variant].append(res)
            print(
                f"[bench] N={n} round {r + 1} {variant}: {res['wall_s']}s cpu {res['cpu_s']}s "
                f"rss {res['peak_tree_rss_mb']} MB load {res['load_before']} rc {res['rc']}",
                flush=True,
            )
    med: dict[str, dict[str, Any]] = {
        v: {
            key: round(statistics.median(x[key] for x in runs[v]), 3)
            for key in ("wall_s", "cpu_s", "hosts_cpu_s", "peak_tree_rss_mb", "max_process_rss_mb")
        }
        for v in variants
    }
    for v in variants:
        med[v]["changed"] = sum(x["changed"] for x in runs[v])
    ratios: dict[str, float] = {}
    for key, (num, den) in {
        "drift_over_ping": ("drift", "ping"),
        "drift_modules_only_over_ping": ("drift_modules_only", "ping"),
        "check_over_ping": ("check", "ping"),
        "idempotent_over_ping": ("idempotent", "ping"),
        "idempotent_over_check": ("idempotent", "check"),
    }.items():
        if num in med and den in med:
            ratios[key] = round(med[num]["wall_s"] / med[den]["wall_s"], 2)
            ratios[f"{key}_cpu"] = round(med[num]["cpu_s"] / max(med[den]["cpu_s"], 0.001), 2)
    return {
        "hosts": n,
        "fleet_up_s": built,
        "cold_converge": cold,
        "warmup_ping_s": warm["wall_s"],
        "runs": runs,
        "median": med,
        "ratios": ratios,
        "load_range": [
            min(x["load_before"] for v in variants for x in runs[v]),
            max(x["load_after"] for v in variants for x in runs[v]),
        ],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def fit(points: list[dict[str, Any]], variant: str, key: str = "wall_s") -> dict[str, float]:
    """Least squares t = fixed + per_host * N over the measured points."""
    have = [p for p in points if variant in p["median"]]
    xs = [float(p["hosts"]) for p in have]
    ys = [float(p["median"][variant][key]) for p in have]
    if len(set(xs)) < 2:
        return {}
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    fixed = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys) or 1.0
    ss_res = sum((y - fixed - slope * x) ** 2 for x, y in zip(xs, ys, strict=True))
    return {
        "fixed_s": round(fixed, 3),
        "per_host_s": round(slope, 4),
        "r2": round(1 - ss_res / ss_tot, 3),
    }


def table(data: dict[str, Any]) -> str:
    """The Markdown table of docs/scale.md: medians (s), ratios (wall; CPU in brackets)."""
    pts = sorted(data["points"].values(), key=lambda p: p["hosts"])
    rows = [
        "| N | ping | drift | drift, no testinfra | check | idempotent | drift/ping | "
        "idempotent/check | CPU s: ping, drift, check, idempotent | peak RSS MB: ping, drift, "
        "idempotent | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(m: dict[str, Any], v: str, key: str = "wall_s", fmt: str = "{:.1f}") -> str:
        return fmt.format(m[v][key]) if v in m else "-"

    def ratio(m: dict[str, Any], num: str, den: str) -> str:
        """Wall-time ratio, and in brackets the control node's CPU ratio."""
        if num not in m or den not in m:
            return "-"
        wall = m[num]["wall_s"] / m[den]["wall_s"]
        return f"{wall:.2f} ({m[num]['cpu_s'] / max(m[den]['cpu_s'], 0.001):.2f})"

    for p in pts:
        m = p["median"]
        cpu = ", ".join(cell(m, v, "cpu_s") for v in ("ping", "drift", "check", "idempotent"))
        rss = ", ".join(
            cell(m, v, "peak_tree_rss_mb", "{:.0f}") for v in ("ping", "drift", "idempotent")
        )
        rows.append(
            f"| {p['hosts']} | {cell(m, 'ping')} | {cell(m, 'drift')} | "
            f"{cell(m, 'drift_modules_only')} | {cell(m, 'check')} | {cell(m, 'idempotent')} | "
            f"{ratio(m, 'drift', 'ping')} | {ratio(m, 'idempotent', 'check')} | {cpu} | "
            f"{rss} | {p['load_range'][0]} to {p['load_range'][1]} |"
        )
    rows += [
        "",
        "| variant | fixed s | per host s | r2 | CPU fixed s | CPU per host s |",
        "|---|---|---|---|---|---|",
    ]
    for v in VARIANTS:
        f, c = data.get("fits", {}).get(v, {}), data.get("fits_cpu", {}).get(v, {})
        if f:
            rows.append(
                f"| {v} | {f['fixed_s']} | {f['per_host_s']} | {f['r2']} | "
                f"{c.get('fixed_s')} | {c.get('per_host_s')} |"
            )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, nargs="*", default=[])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_RUNS", "2")))
    parser.add_argument("--down", action="store_true", help="remove the fleet at the end")
    parser.add_argument("--table", action="store_true", help="print the recorded table")
    parser.add_argument("--label", default="", help="a note stored with the points")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated subset of " + ", ".join(VARIANTS) + " (without check and "
        "idempotent, the fleet is not converged first)",
    )
    args = parser.parse_args()
    data: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {"points": {}}
    variants = tuple(v for v in VARIANTS if v in args.variants.split(","))
    for n in args.hosts:
        p = point(n, args.rounds, variants)
        p["label"] = args.label
        p["commit"] = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO,
            text=True,
            capture_output=True,
            check=False,
        ).stdout.strip()
        data["points"][str(n)] = p
        pts = sorted(data["points"].values(), key=lambda q: q["hosts"])
        data["fits"] = {v: fit(pts, v) for v in VARIANTS}
        data["fits_cpu"] = {v: fit(pts, v, "cpu_s") for v in VARIANTS}
        data["fits_hosts_cpu"] = {v: fit(pts, v, "hosts_cpu_s") for v in VARIANTS}
        data["machine"] = {
            "nproc": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30, 1),
            "kernel": platform.release(),
            "python": platform.python_version(),
        }
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    if args.down:
        subprocess.run(
            [str(BIN / "python"), "-m", "soc2audit.fleet", "down"], cwd=REPO, env=env(), check=False
        )
    if data["points"]:
        print(table(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
