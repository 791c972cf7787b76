# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the timesync role: derive the fleet's time sources and client list from inventory."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def _address(hostvars: Mapping[str, Any], host: str) -> str:
    hv = hostvars[host]
    value = hv.get("ansible_host") or host
    return str(value)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def fleet_sources(servers: list[str], hostvars: Mapping[str, Any], nts: bool = False) -> list[dict]:
    """One `server` source per time server, by the address Ansible reaches it on."""
    return [
        {"hostname": _address(hostvars, host), "type": "server", "iburst": True, "nts": bool(nts)}
        for host in servers
    ]


def fleet_allow(hosts: list[str], hostvars: Mapping[str, Any]) -> list[str]:
    """Every inventory host's IP address (from ansible_host or gathered facts), sorted, unique."""
    found: set[str] = set()
    for host in hosts:
        hv = hostvars[host]
        for value in (
            hv.get("ansible_host"),
            (hv.get("ansible_facts") or {}).get("default_ipv4", {}).get("address"),
            (hv.get("ansible_facts") or {}).get("default_ipv6", {}).get("address"),
        ):
            if value and _is_ip(str(value)):
                found.add(str(ipaddress.ip_address(str(value))))
    return sorted(found, key=lambda a: (ipaddress.ip_address(a).version, ipaddress.ip_address(a)))


def source_line(source: Mapping[str, Any]) -> str:
    """A chrony `server`/`pool` line from a source record; options in a fixed order."""
    if not source.get("hostname"):
        raise AnsibleFilterError(f"timesync: a source has no hostname: {dict(source)}")
    kind = source.get("type", "server")
    if kind not in ("server", "pool"):
        raise AnsibleFilterError(f"timesync: source type must be server or pool, not {kind!r}")
    parts = [kind, str(source["hostname"])]
    for flag in ("iburst", "prefer", "nts"):
        if source.get(flag):
            parts.append(flag)
    for opt in ("minpoll", "maxpoll", "key", "maxsources", "port"):
        if source.get(opt) is not None:
            parts += [opt, str(source[opt])]
    return " ".join(parts)


def ptp_plan(instances: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """PTP instances with their defaults filled in, the SHM segment each client feeds chrony
    (clients numbered in interface order, as chrony.conf.j2 and ptp_refids number them) and the
    pmc socket."""
    refids = {
        name: index
        for index, name in enumerate(
            sorted(str(i["interface"]) for i in instances if i.get("role", "client") == "client")
        )
    }
    plan = []
    for inst in instances:
        item = {"role": "client", "time_stamping": "auto", "domain": 0, **dict(inst)}
        item["shm"] = refids.get(str(inst["interface"]), 0)
        item["uds"] = f"/var/run/ptp4l-{inst['interface']}"
        plan.append(item)
    return sorted(plan, key=lambda i: str(i["interface"]))


def ptp_verify_instances(instances: list[Mapping[str, Any]]) -> list[dict[str, str]]:
    """What the soc2_time verifier needs per ptp4l instance (name, role, its pmc socket), in
    the order given."""
    planned = {p["interface"]: p for p in ptp_plan(instances)}
    return [
        {
            "name": str(inst["interface"]),
            "role": str(planned[inst["interface"]]["role"]),
            "uds": str(planned[inst["interface"]]["uds"]),
        }
        for inst in instances
    ]


def ptp_timestamping(pair: tuple[Mapping[str, Any], Mapping[str, Any]]) -> dict[str, Any]:
    """(planned instance, its `ethtool -T` result) -> the instance with time_stamping decided:
    `auto` becomes hardware when the NIC has a PTP hardware clock and raw hardware timestamps."""
    inst, probe = dict(pair[0]), pair[1]
    if inst.get("time_stamping", "auto") == "auto":
        out = str(probe.get("stdout", ""))
        hardware = "hardware-raw-clock" in out and "PTP Hardware Clock: none" not in out
        inst["time_stamping"] = "hardware" if hardware else "software"
    return inst


def ptp_refids(instances: list[Mapping[str, Any]]) -> list[str]:
    """chrony refclock names of the PTP clients (SHM segments in interface order), as
    chrony.conf.j2 numbers them."""
    clients = sorted(str(i["interface"]) for i in instances if i.get("role", "client") == "client")
    return [f"PTP{index}" for index in range(len(clients))]


def upstream_version(debian_version: str) -> str:
    """`1:4.3-2+deb12u3` -> `4.3`; `0` when there is no version (package not installed)."""
    text = str(debian_version or "").strip()
    text = text.split(":", 1)[1] if ":" in text.split("-", 1)[0] else text
    digits = ""
    for char in text:
        if not (char.isdigit() or char == "."):
            break
        digits += char
    return digits.strip(".") or "0"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "soc2audit_fleet_sources": fleet_sources,
            "soc2audit_fleet_allow": fleet_allow,
            "soc2audit_chrony_source_line": source_line,
            "soc2audit_ptp_verify_instances": ptp_verify_instances,
            "soc2audit_upstream_version": upstream_version,
            "soc2audit_ptp_refids": ptp_refids,
            "soc2audit_ptp_plan": ptp_plan,
            "soc2audit_ptp_timestamping": ptp_timestamping,
        }
