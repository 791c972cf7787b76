# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scale lab: N lightweight managed hosts for measuring the suite's own cost (docs/scale.md).

`python -m soc2audit.fleet up --hosts N` (`make fleet-up FLEET_N=N`) starts N containers of the
molecule image (the lab's base image plus the roles' packages, soc2audit.lab), each with systemd
as PID 1 and its own sshd, on a podman network of their own, and writes
`inventory/fleet/hosts.yml`; `down` (`make fleet-down`) removes them all. Growing or shrinking
a running fleet only starts or removes the difference.

Everything the main lab owns is reused from soc2audit.lab (image, SSH key, containers.conf,
starting a systemd container, injecting the key, scanning host keys, the inventory's connection
variables); this module only adds the numbering, parallel start and the fleet's inventory. Its
resources carry their own prefix, ``<lab prefix>-fleet``: the main lab is never touched.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from soc2audit import lab

INVENTORY = Path(
    os.environ.get("SOC2_FLEET_INVENTORY") or lab.REPO / "inventory" / "fleet" / "hosts.yml"
)
#: Every fleet host's one group (besides the lab groups, listed empty so plays that name them
#: still parse). Not `fleet`: that is the catalog's pseudo-host of the fleet policies.
GROUP = "scale"
#: The groups of the main lab's inventory, empty here (playbooks and verifiers look them up).
EMPTY_GROUPS = (*lab.GROUPS, "opa_servers")
#: Containers started at once: podman's own work (storage, netavark) is the bottleneck here.
START_WORKERS = int(os.environ.get("SOC2_FLEET_START_WORKERS", "4"))
HOST_RE = re.compile(r"scale(\d{4})")


def fleet_lab() -> lab.Lab:
    return lab.Lab(prefix=f"{lab.lab_prefix()}-fleet", suite=lab.lab_suite(None))


def host_name(index: int) -> str:
    return f"scale{index:04d}"


def running_hosts(fl: lab.Lab) -> list[str]:
    """The fleet hosts whose containers exist (any state), by host name."""
    proc = lab.run(
        ["podman", "ps", "-a", "--filter", f"label={fl.label}", "--format", "{{.Names}}"]
    )
    names = []
    for name in proc.stdout.split():
        host = name.removeprefix(f"{fl.prefix}-")
        if HOST_RE.fullmatch(host):
            names.append(host)
    return sorted(names)


def _start(fl: lab.Lab, host: str, image: str, pubkey: str) -> tuple[str, str]:
    info = lab.healthy(fl, host, image)
    if info is None:
        lab.drop_cached_facts(host)
        lab.remove_container(fl.container(host))
        lab.start_container(fl, host, image)
        info = lab.inspect_container(fl.container(host))
        if info is None:
            raise lab.LabError(f"{fl.container(host)} vanished after start")
    lab.wait_systemd(fl.container(host), timeout=300)
    lab.prepare_ssh(fl.container(host), pubkey)
    ip = lab.container_ip(info, fl.network)
    if ip is None:
        raise lab.LabError(f"{fl.container(host)} has no address on {fl.network}")
    return host, ip


def up(count: int) -> dict[str, str]:
    """Start (or keep) hosts scale0001..scale<count>, remove any beyond; the inventory."""
    if count < 1:
        raise lab.LabError("--hosts must be at least 1")
    lab.ensure_host_tools()
    lab.write_containers_conf()
    short = lab.inotify_headroom(False)
    if short:
        lab.log(f"warning: {short}")
    fl = fleet_lab()
    key = lab.ensure_ssh_key()
    pubkey = key.with_suffix(".pub").read_text()
    image = lab.ensure_warm_image(fl.suite)
    lab.ensure_network(fl)
    wanted = [host_name(i) for i in range(1, count + 1)]
    for extra in sorted(set(running_hosts(fl)) - set(wanted)):
        lab.log(f"removing {fl.container(extra)} (beyond {count})")
        lab.remove_container(fl.container(extra))
        lab.drop_cached_facts(extra)
    lab.log(f"starting {count} fleet hosts ({START_WORKERS} at a time)")
    with ThreadPoolExecutor(max_workers=START_WORKERS) as pool:
        addresses = dict(pool.map(lambda h: _start(fl, h, image, pubkey), wanted))
    for ip in addresses.values():
        lab.wait_port(ip, 22, timeout=120)
    lab.write_known_hosts(fl, addresses)
    write_inventory(fl, addresses, key)
    return addresses


def write_inventory(fl: lab.Lab, addresses: dict[str, str], key: Path) -> None:
    lines = lab.inventory_header(fl, key, generator="python -m soc2audit.fleet up")
    lines += [
        "    # The scale lab has no monitor, aggregator or OPA server: the fleet policies run",
        "    # with the embedded engine, and the testinfra checks as everywhere.",
        "  children:",
    ]
    lines += [f"    {group}:\n      hosts: {{}}" for group in EMPTY_GROUPS]
    lines += [f"    {GROUP}:", "      hosts:"]
    for host in sorted(addresses):
        lines += [
            f"        {host}:",
            f"          ansible_host: {addresses[host]}",
            f"          soc2_lab_container: {fl.container(host)}",
        ]
    INVENTORY.parent.mkdir(parents=True, exist_ok=True)
    INVENTORY.write_text("\n".join(lines) + "\n")


def down() -> int:
    """Remove every fleet container, the network, the inventory and the known_hosts file."""
    lab.write_containers_conf()
    fl = fleet_lab()
    hosts = running_hosts(fl)
    with ThreadPoolExecutor(max_workers=START_WORKERS) as pool:
        list(pool.map(lambda h: lab.remove_container(fl.container(h)), hosts))
    for host in hosts:
        lab.drop_cached_facts(host)
    lab.remove_network(fl)
    INVENTORY.unlink(missing_ok=True)
    lab.known_hosts_file(fl).unlink(missing_ok=True)
    lab.log(f"fleet {fl.prefix} removed ({len(hosts)} hosts)")
    return len(hosts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soc2audit-fleet", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="start N fleet hosts and write inventory/fleet/hosts.yml")
    p_up.add_argument("--hosts", type=int, required=True, help="N, the number of hosts")
    sub.add_parser("down", help="remove the fleet (containers, network, inventory)")
    sub.add_parser("status", help="list the fleet's containers")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            started = time.monotonic()
            addresses = up(args.hosts)
            took = time.monotonic() - started
            lab.log(f"fleet of {len(addresses)} ready in {took:.1f}s; inventory {INVENTORY}")
        elif args.cmd == "down":
            down()
        else:
            lab.write_containers_conf()
            for host in running_hosts(fleet_lab()):
                print(host)
    except lab.LabError as exc:
        print(f"[fleet] error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
