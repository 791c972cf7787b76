# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print where the lab's parts are and what the last drift run verified, per host.

python -m soc2audit.summary             lab layout, then the last drift run's table
python -m soc2audit.summary --lab-only  lab layout only (`make lab` prints it before its
                                        drift run, which prints the table itself)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from soc2audit.catalog import CATALOG, load_catalog
from soc2audit.exitcodes import EXIT_RUN_FAILED
from soc2audit.report import summary_table
from soc2audit.results import exit_code

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / ".cache" / "drift" / "last_run.jsonl"
INVENTORY = REPO / "inventory" / "lab" / "hosts.yml"


def _shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def _monitoring(inv: dict, lab_vars: dict) -> None:
    """How to reach Prometheus and Alertmanager on the lab's monitor: both listen with mTLS
    (a client certificate from the lab CA). Prometheus' 9090 is open to the monitors and to this
    machine (the control node: `soc2audit uptime`), which has its own client certificate when
    the lab has an OPA server (roles/opa issues it); Alertmanager listens on the monitor's
    loopback, reached from here through an SSH tunnel."""
    monitors = (inv["all"]["children"].get("monitors") or {}).get("hosts") or {}
    for host, hvars in monitors.items():
        ssh = lab_vars.get("ansible_ssh_common_args", "")
        key = lab_vars["ansible_ssh_private_key_file"]
        print(f"Monitoring on {host} (mTLS: a client certificate of the lab CA is required)")
        print("  Prometheus    https://localhost:9090   Alertmanager  https://localhost:9093")
        print(
            f"  tunnel        ssh -i {key} {ssh} -N -L 9090:localhost:9090"
            f" -L 9093:localhost:9093 root@{hvars['ansible_host']}"
        )
        print(
            f"  client cert   on {host}: /etc/ssl/soc2audit/prometheus-scrape-fullchain.crt,"
            " private/prometheus-scrape.key; CA /etc/ssl/soc2audit/ca-chain.pem"
        )
        print(
            "  through it    curl --cacert ca-chain.pem --cert prometheus-scrape-fullchain.crt"
            " --key prometheus-scrape.key https://localhost:9090/api/v1/targets (copies)"
        )
        cert, key_file = lab_vars.get("soc2audit_opa_cert"), lab_vars.get("soc2audit_opa_key")
        if cert and key_file:
            ca = lab_vars.get("soc2audit_opa_ca", "ca-chain.pem")
            print(
                f"  from here     curl --cacert {ca} --cert {cert} --key {key_file}"
                f" https://{hvars['ansible_host']}:9090/api/v1/targets"
            )
            print(
                f"  uptime        .venv/bin/soc2audit uptime --last 24 --prometheus"
                f" https://{hvars['ansible_host']}:9090 --ca {ca} --cert {cert} --key {key_file}"
            )
        print(
            f"  alert records on {host}: /var/lib/soc2audit/evidence/alerts-*.jsonl (spool); "
            "each drift run of it brings them into evidence/alerts-*.jsonl here"
        )


def main(argv: list[str] | None = None) -> int:
    lab_only = "--lab-only" in (sys.argv[1:] if argv is None else argv)
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
        _monitoring(inv, lab_vars)
    if lab_only:
        return 0
    if not RESULTS.exists():
        print("no drift results yet: run `make drift`")
        return EXIT_RUN_FAILED
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    if not rows:
        print(f"{_shown(RESULTS)} is empty: the last drift run did not complete")
        return EXIT_RUN_FAILED
    print(f"\nLast drift run ({_shown(RESULTS)})")
    print(summary_table(rows, load_catalog(CATALOG)), end="")
    # 0 all pass/waived/not_applicable, 1 fail or at_risk, 2 error or not_run (results.exit_code);
    # 3 when there is no result set at all.
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())
