# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the nftables role: merge the service layers, check them, resolve inventory groups
and hosts into address sets, and turn everything into nft rule lines for the template.

Kept free of Ansible state so tests/unit/test_filter_nftables.py can drive them with plain dicts.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SERVICE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
TABLE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
RATE_RE = re.compile(r"^[1-9][0-9]*/(second|minute|hour|day)$")
# Set names the role uses itself; a service may not take them.
RESERVED = frozenset({"control_node", "admin"})
PROTOCOLS = ("tcp", "udp")
DIRECTIONS = ("input", "output")
RAW_CHAINS = ("input", "forward", "output")
RAW_POSITIONS = ("before_services", "after_services")
SERVICE_KEYS = frozenset(
    {
        "name",
        "ports",
        "protocol",
        "direction",
        "apply_to",
        "allow_groups",
        "allow_hosts",
        "allow_networks",
        "allow_any",
        "allow_control_node",
        "comment",
        "state",
    }
)
# Connections through which the control node reaches a host over SSH (lockout matters).
SSH_CONNECTIONS = frozenset(
    {"ssh", "ansible.builtin.ssh", "ansible.legacy.ssh", "paramiko", "paramiko_ssh", "smart"}
)

Resolver = Callable[[str], list[str]]


def _resolve(name: str) -> list[str]:
    infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


# ---------------------------------------------------------------- layers


def merge_services(*layers: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Services of every layer (defaults, all, group, host), later layers replacing entries of the
    same name; `state: absent` removes one. Sorted by name (deterministic rule order)."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for service in layer or []:
            if not isinstance(service, Mapping):
                raise AnsibleFilterError(f"nftables: a service is not a mapping: {service!r}")
            name = str(service.get("name", ""))
            merged[name] = dict(service)
    return [
        merged[name] for name in sorted(merged) if merged[name].get("state", "present") != "absent"
    ]


def merge_raw_rules(*layers: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Raw rules of every layer, in order (all, group, host)."""
    out: list[dict[str, Any]] = []
    for layer in layers:
        out.extend(dict(rule) for rule in layer or [])
    return out


# ---------------------------------------------------------------- addresses


def _network(value: Any) -> Network:
    text = str(value).strip()
    if isinstance(value, bool) or not text:
        raise ValueError(f"{value!r} is not an address or network")
    return ipaddress.ip_network(text, strict=False)


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def host_addresses(
    host: str, hostvars: Mapping[str, Any], resolver: Resolver = _resolve
) -> list[str]:
    """The addresses other hosts see ``host`` connect from, worked out on the control node.

    `nftables_host_addresses` when set; else `ansible_host` when it is an IP address; else the
    host's gathered `default_ipv4`/`default_ipv6` addresses; else ``ansible_host`` (or the
    inventory name) resolved by the control node. Raises ValueError when nothing is found.
    """
    hv = hostvars[host]
    explicit = hv.get("nftables_host_addresses")
    if explicit:
        values = [explicit] if isinstance(explicit, str) else list(explicit)
        return [_element(_network(v)) for v in values]
    target = str(hv.get("ansible_host") or host)
    if _is_ip(target):
        return [str(ipaddress.ip_address(target))]
    facts = hv.get("ansible_facts") or {}
    found = [
        str((facts.get(key) or {}).get("address"))
        for key in ("default_ipv4", "default_ipv6")
        if _is_ip((facts.get(key) or {}).get("address", ""))
    ]
    if found:
        return found
    try:
        resolved = resolver(target)
    except OSError as exc:
        raise ValueError(f"host {host}: {target} does not resolve ({exc})") from None
    if not resolved:
        raise ValueError(f"host {host}: {target} has no address")
    return resolved


def collapse(networks: Iterable[Network]) -> list[Network]:
    """Unique networks with those inside another one dropped (an interval set refuses overlaps),
    IPv4 before IPv6, in numeric order."""
    unique = sorted(set(networks), key=lambda n: (n.version, n.network_address, n.prefixlen))
    kept = []
    for net in unique:
        if not any(
            other != net and other.version == net.version and net.subnet_of(other)  # type: ignore[arg-type]
            for other in unique
        ):
            kept.append(net)
    return kept


def _element(net: Network) -> str:
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


# ---------------------------------------------------------------- validation


def _ports(value: Any) -> list[tuple[int, int]]:
    """Port numbers and "low-high" ranges; raises ValueError with the reason."""
    if not isinstance(value, list) or not value:
        raise ValueError("ports must be a non-empty list")
    out = []
    for item in value:
        if isinstance(item, bool):
            raise ValueError(f"port {item!r} is not a number")
        text = str(item).strip()
        low_text, sep, high_text = text.partition("-")
        if not low_text.isdigit() or (sep and not high_text.isdigit()):
            raise ValueError(f"port {item!r} is not a number or a low-high range")
        low = int(low_text)
        high = int(high_text) if sep else low
        if not 1 <= low <= 65535 or not 1 <= high <= 65535:
            raise ValueError(f"port {item!r} is out of range (1-65535)")
        if high < low:
            raise ValueError(f"port range {item!r} ends before it starts")
        out.append((low, high))
    return sorted(set(out))


def _list_of_str(service: Mapping[str, Any], key: str) -> list[str]:
    value = service.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{key} must be a list of strings")
    return value


def applies(service: Mapping[str, Any], group_names: Sequence[str]) -> bool:
    targets = service.get("apply_to") or ["all"]
    return "all" in targets or any(g in group_names for g in targets)


def _peers(
    service: Mapping[str, Any],
    groups: Mapping[str, Sequence[str]],
    hostvars: Mapping[str, Any],
    resolver: Resolver,
) -> list[Network]:
    """The networks a service admits, from groups, hosts and networks (ValueError when unknown)."""
    hosts: list[str] = []
    for group in _list_of_str(service, "allow_groups"):
        if group not in groups:
            raise ValueError(f"unknown inventory group {group!r} in allow_groups")
        hosts += [h for h in groups[group] if h not in hosts]
    for host in _list_of_str(service, "allow_hosts"):
        if host not in hostvars:
            raise ValueError(f"unknown inventory host {host!r} in allow_hosts")
        if host not in hosts:
            hosts.append(host)
    nets: list[Network] = []
    for host in hosts:
        nets += [_network(a) for a in host_addresses(host, hostvars, resolver)]
    for value in _list_of_str(service, "allow_networks"):
        try:
            nets.append(_network(value))
        except ValueError:
            raise ValueError(f"{value!r} in allow_networks is not an address or network") from None
    return collapse(nets)


def problems(
    services: Sequence[Mapping[str, Any]],
    raw_rules: Sequence[Mapping[str, Any]],
    group_names: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    hostvars: Mapping[str, Any],
    settings: Mapping[str, Any],
    resolver: Resolver = _resolve,
) -> list[str]:
    """Everything wrong with the role's input for this host (empty when it can be rendered)."""
    out: list[str] = []
    table = str(settings.get("table", ""))
    if not TABLE_NAME_RE.match(table):
        out.append(f"nftables_table {table!r} is not an nft identifier (letters, digits, _)")
    rate = str(settings.get("log_rate", ""))
    if settings.get("log_drops") and not RATE_RE.match(rate):
        out.append(f"nftables_log_rate {rate!r} is not N/second|minute|hour|day")
    for key in ("admin_networks", "control_node_addresses"):
        for value in settings.get(key) or []:
            try:
                _network(value)
            except ValueError:
                out.append(f"nftables_{key}: {value!r} is not an address or network")
    try:
        _ports(settings.get("admin_ports"))
    except ValueError as exc:
        out.append(f"nftables_admin_ports: {exc}")
    seen: set[str] = set()
    for service in services:
        name = str(service.get("name", ""))
        where = f"service {name or '(no name)'}"
        if not SERVICE_NAME_RE.match(name):
            out.append(f"{where}: name must match {SERVICE_NAME_RE.pattern} (it names nft sets)")
        elif name in RESERVED:
            out.append(f"{where}: the name is reserved for the role's own sets")
        if name in seen:
            out.append(f"{where}: defined twice in one layer")
        seen.add(name)
        unknown = sorted(set(service) - SERVICE_KEYS)
        if unknown:
            out.append(f"{where}: unknown field(s) {', '.join(unknown)}")
        try:
            _ports(service.get("ports"))
        except ValueError as exc:
            out.append(f"{where}: {exc}")
        if service.get("protocol", "tcp") not in PROTOCOLS:
            out.append(f"{where}: protocol {service.get('protocol')!r} is not one of tcp, udp")
        if service.get("direction", "input") not in DIRECTIONS:
            out.append(f"{where}: direction {service.get('direction')!r} is not input or output")
        try:
            _list_of_str(service, "apply_to")
        except ValueError as exc:
            out.append(f"{where}: {exc}")
            continue
        if not applies(service, group_names):
            continue
        if service.get("direction") == "output" and settings.get("output_policy") != "drop":
            continue  # not rendered: output is not restricted
        try:
            _peers(service, groups, hostvars, resolver)
        except ValueError as exc:
            out.append(f"{where}: {exc}")
    for index, raw in enumerate(raw_rules):
        where = f"raw rule {index + 1}"
        text = raw.get("rule")
        if not isinstance(text, str) or not text.strip():
            out.append(f"{where}: 'rule' must be a non-empty string")
            continue
        if any(c in text for c in ";\n\r") or text.count("{") != text.count("}"):
            out.append(
                f"{where}: must be one rule on one line without ';' and with balanced braces"
                f" (got {text!r})"
            )
        if raw.get("chain", "input") not in RAW_CHAINS:
            out.append(f"{where}: chain {raw.get('chain')!r} is not input, forward or output")
        if raw.get("position", "after_services") not in RAW_POSITIONS:
            out.append(f"{where}: position {raw.get('position')!r} is not one of {RAW_POSITIONS}")
        if '"' in str(raw.get("comment", "")):
            out.append(f"{where}: comment must not contain double quotes")
    for service in services:
        if '"' in str(service.get("comment", "")):
            out.append(f"service {service.get('name')}: comment must not contain double quotes")
    return out


# ---------------------------------------------------------------- rendering


def _ports_text(ranges: Sequence[tuple[int, int]]) -> str:
    items = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges]
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _split(nets: Iterable[Network]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {4: [], 6: []}
    for net in nets:
        out[net.version].append(_element(net))
    return out


def _rules_for(
    set_base: str,
    peers: dict[int, list[str]],
    direction: str,
    match: str,
    comment: str,
    sets: list[dict[str, Any]],
) -> list[str]:
    addr = "saddr" if direction == "input" else "daddr"
    lines = []
    for version, family, set_type in ((4, "ip", "ipv4_addr"), (6, "ip6", "ipv6_addr")):
        if not peers[version]:
            continue
        name = f"{set_base}_v{version}"
        sets.append({"name": name, "type": set_type, "elements": peers[version]})
        lines.append(f'{family} {addr} @{name} {match} counter accept comment "{comment}"')
    return lines


def plan(
    services: Sequence[Mapping[str, Any]],
    raw_rules: Sequence[Mapping[str, Any]],
    group_names: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    hostvars: Mapping[str, Any],
    settings: Mapping[str, Any],
    resolver: Resolver = _resolve,
) -> dict[str, Any]:
    """Sets and rule lines of this host's table (call ``problems`` first).

    ``{"sets": [{name, type, elements}], "<chain>_first": [...], "<chain>": [...],
    "<chain>_last": [...]}`` for the chains input, forward (raw rules only) and output: raw rules
    placed before the services, the role's allow rules, raw rules after them. Deterministic.
    """
    sets: list[dict[str, Any]] = []
    chains: dict[str, list[str]] = {
        "input_first": [],
        "input": [],
        "input_last": [],
        "forward_first": [],
        "forward": [],
        "forward_last": [],
        "output_first": [],
        "output": [],
        "output_last": [],
    }
    control = settings.get("control") or {}
    control_nets = collapse(_network(a) for a in control.get("addresses") or [])
    if control_nets:
        ports = sorted({(int(p), int(p)) for p in control.get("ports") or [22]})
        chains["input"] += _rules_for(
            "control_node",
            _split(control_nets),
            "input",
            f"tcp dport {_ports_text(ports)}",
            "soc2:control-node",
            sets,
        )
    admin = collapse(_network(a) for a in settings.get("admin_networks") or [])
    if admin:
        chains["input"] += _rules_for(
            "admin",
            _split(admin),
            "input",
            f"tcp dport {_ports_text(_ports(settings.get('admin_ports')))}",
            "soc2:admin",
            sets,
        )
    output_restricted = settings.get("output_policy") == "drop"
    for service in services:
        direction = service.get("direction", "input")
        if not applies(service, group_names) or (direction == "output" and not output_restricted):
            continue
        name = str(service["name"])
        match = f"{service.get('protocol', 'tcp')} dport {_ports_text(_ports(service['ports']))}"
        comment = f"soc2:{name}"
        if service.get("allow_any"):
            chains[direction].append(f'{match} counter accept comment "{comment}"')
            continue
        peers = _peers(service, groups, hostvars, resolver)
        if service.get("allow_control_node"):
            # The control node's own SSH source (as for SSH): e.g. the drift run asking OPA.
            peers = collapse([*peers, *control_nets])
        chains[direction] += _rules_for(name, _split(peers), direction, match, comment, sets)
    for raw in raw_rules:
        chain = raw.get("chain", "input")
        first = raw.get("position", "after_services") == "before_services"
        slot = f"{chain}_first" if first else f"{chain}_last"
        line = raw["rule"].strip()
        if raw.get("comment"):
            line += f' comment "{raw["comment"]}"'
        chains[slot].append(line)
    return {"sets": sorted(sets, key=lambda s: s["name"]), **chains}


def ssh_peer(value: Any) -> dict[str, Any]:
    """``SSH_CONNECTION`` ("client cport server sport") or ``SSH_CLIENT`` ("client cport sport")
    -> ``{"address", "port"}``; empty when it does not parse."""
    parts = str(value or "").split()
    if len(parts) not in (3, 4) or not _is_ip(parts[0]) or not parts[-1].isdigit():
        return {}
    addr = ipaddress.ip_address(parts[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return {"address": str(addr), "port": int(parts[-1])}


def control_node(
    explicit: Sequence[str] | None,
    default_port: Any,
    candidates: Sequence[Any],
    enabled: bool = True,
) -> dict[str, list[Any]]:
    """The control node's SSH source(s): ``{"addresses": [...], "ports": [...]}``.

    ``explicit`` (nftables_control_node_addresses) wins; else the first candidate that says
    something: a string is an SSH_CONNECTION/SSH_CLIENT value, a mapping is the role's recorded
    local fact (taken as it is, even when empty: that is what the role decided).
    """
    if not enabled:
        return {"addresses": [], "ports": []}
    port = int(default_port or 22)
    if explicit:
        return {"addresses": sorted({_element(_network(a)) for a in explicit}), "ports": [port]}
    for candidate in candidates:
        if isinstance(candidate, Mapping):
            return {
                "addresses": [str(a) for a in candidate.get("addresses") or []],
                "ports": [int(p) for p in candidate.get("ports") or []],
            }
        peer = ssh_peer(candidate)
        if peer:
            return {"addresses": [peer["address"]], "ports": [peer["port"]]}
    return {"addresses": [], "ports": []}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "soc2audit_nft_merge_services": merge_services,
            "soc2audit_nft_merge_raw_rules": merge_raw_rules,
            "soc2audit_nft_problems": problems,
            "soc2audit_nft_plan": plan,
            "soc2audit_nft_control_node": control_node,
            "soc2audit_nft_ssh_peer": ssh_peer,
        }
