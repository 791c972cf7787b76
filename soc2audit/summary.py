"""Print where the lab's parts are and what the last drift run verified, per host."""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / ".cache" / "drift" / "last_run.jsonl"
INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"
ORDER = ("pass", "at_risk", "waived", "fail", "error", "not_run", "not_applicable")


def main() -> int:
    if INVENTORY.exists():
        inv = yaml.safe_load(INVENTORY.read_text())
        lab_vars = inv["all"]["vars"]
        print("Lab")
        print(f"  inventory     {INVENTORY.relative_to(REPO)}")
        print(f"  SSH key       {lab_vars['ansible_ssh_private_key_file']}")
        print(f"  CA directory  {lab_vars['pki_ca_dir']} (root + intermediate; keys 0600)")
        hosts: dict[str, str] = {}
        for group, body in inv["all"]["children"].items():
            for host, hvars in (body.get("hosts") or {}).items():
                hosts.setdefault(host, f"{hvars['ansible_host']:<12} {hvars['soc2_lab_container']}")
                hosts[host] += f" [{group}]"
        for host, text in hosts.items():
            print(f"  {host:<11} {text}")
        print(
            "  certificates  /etc/ssl/soc2audit/{host.crt,host-fullchain.crt,ca-chain.pem},"
            " keys in /etc/ssl/soc2audit/private/"
        )
    if not RESULTS.exists():
        print("no drift results yet: run `make drift`")
        return 1
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    per_host: dict[str, Counter[str]] = defaultdict(Counter)
    bad: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        per_host[row["host"]][row["result"]] += 1
        if row["result"] not in ("pass", "waived", "not_applicable"):
            bad[row["host"]].append(f"{row['check_id']} {row['result']}: {row['message']}")
    run_id = rows[0]["run_id"] if rows else "-"
    print(f"\nLast drift run {run_id} ({RESULTS.relative_to(REPO)})")
    print(f"  {'host':<11} " + " ".join(f"{r:>8}" for r in ORDER))
    for host, counts in per_host.items():
        print(f"  {host:<11} " + " ".join(f"{counts.get(r, 0):>8}" for r in ORDER))
        for line in bad[host]:
            print(f"      {line}")
    not_passing = sum(len(v) for v in bad.values())
    # at_risk is a warning (e.g. a certificate inside its renewal window), not a failure.
    failing = sum(1 for r in rows if r["result"] in ("fail", "error", "not_run"))
    print(f"\n{len(rows)} results, {not_passing} not passing, {failing} failing")
    return 0 if failing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
