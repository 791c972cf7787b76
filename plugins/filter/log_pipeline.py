# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one place that maps shipping hosts to the aggregator's per-peer TLS listeners.

The aggregator (roles/log_aggregator) opens one listener per peer certificate name; each
shipper (roles/log_shipper) must dial exactly its own listener's port. Both roles call
``soc2audit_log_peers`` with the same inventory data, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def _host_vars(hostvars: Mapping[str, Any], host: str) -> Mapping[str, Any]:
    try:
        return hostvars[host]
    except KeyError:
        return {}


def peer_names(
    hostvars: Mapping[str, Any],
    groups: Mapping[str, list[str]],
    shipping_groups: list[str],
    client_certificate: str,
) -> list[dict[str, str]]:
    """[{host, name}] for every host of ``shipping_groups`` (sorted): the common_name of its
    ``client_certificate`` pki request (pki's default: the inventory name), '' without one."""
    hosts = sorted({h for g in shipping_groups for h in (groups.get(g) or [])})
    out = []
    for host in hosts:
        reqs = [
            r
            for r in (_host_vars(hostvars, host).get("pki_certificate_requests") or [])
            if isinstance(r, Mapping) and r.get("name") == client_certificate
        ]
        name = (str(reqs[0].get("common_name") or host)) if reqs else ""
        out.append({"host": host, "name": name})
    return out


def _port(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        message = f"soc2audit_log_peers: {what} {value!r} is not a number"
        raise AnsibleFilterError(message) from None


def log_peers(
    names: list[dict[str, str]],
    explicit_peers: list[dict[str, Any]] | None,
    port_base: Any,
    relp_port_base: Any = None,
) -> list[dict[str, Any]]:
    """[{name, port[, relp_port]}] sorted by name: the explicit peers (a missing port is base +
    index), or one per distinct certificate name of ``names`` from the port base. With a
    ``relp_port_base`` (the aggregator's RELP listeners are on) each peer also gets the port of
    its RELP listener: its own ``relp_port``, else that base + the same index."""
    base = _port(port_base, "port base")
    relp_base = None if relp_port_base in (None, "") else _port(relp_port_base, "RELP port base")
    if explicit_peers:
        peers = [
            {"name": str(p["name"]), "port": p.get("port"), "relp_port": p.get("relp_port")}
            for p in sorted(explicit_peers, key=lambda p: str(p["name"]))
        ]
    else:
        distinct = sorted({n["name"] for n in names if n.get("name")})
        peers = [{"name": name, "port": None, "relp_port": None} for name in distinct]
    out = []
    for i, peer in enumerate(peers):
        entry: dict[str, Any] = {
            "name": peer["name"],
            "port": _port(peer["port"], "port") if peer["port"] not in (None, "") else base + i,
        }
        if relp_base is not None:
            given = peer["relp_port"]
            entry["relp_port"] = (
                _port(given, "relp_port") if given not in (None, "") else relp_base + i
            )
        out.append(entry)
    return out


def log_peer_port(peers: list[dict[str, Any]], name: str, transport: str = "tcp") -> int | None:
    """The port of the listener that permits ``name`` for ``transport`` (tcp: the imtcp
    listener; relp: the imrelp one). None when it has none."""
    key = "relp_port" if transport == "relp" else "port"
    for peer in peers:
        if peer["name"] == name and peer.get(key) not in (None, ""):
            return int(peer[key])
    return None


# The log_aggregator role's defaults for the settings that decide its listeners (equal to
# roles/log_aggregator/defaults/main.yml: tests/unit/test_filter_log_pipeline.py checks it). A
# play that does not run that role (the firewall, the drift run) still needs them.
AGGREGATOR_DEFAULTS: dict[str, Any] = {
    "log_aggregator_shipping_groups": ["edge"],
    "log_aggregator_client_certificate": "shipper-client",
    "log_aggregator_peers": [],
    "log_aggregator_peer_port_base": 6514,
    "log_aggregator_relp_enabled": True,
    "log_aggregator_relp_port_base": 2514,
}


def aggregator_settings(hostvars: Mapping[str, Any], aggregator: str) -> dict[str, Any]:
    """The settings that decide the listeners of ``aggregator``: the log_aggregator role's
    defaults, overridden by what the inventory sets for that host. Needs no role_path, so it
    works in plays that only import the roles' variables (the drift run)."""
    own = _host_vars(hostvars, aggregator) if aggregator else {}
    return {key: own.get(key, value) for key, value in AGGREGATOR_DEFAULTS.items()}


def aggregator_peers(
    hostvars: Mapping[str, Any], groups: Mapping[str, list[str]], aggregator: str
) -> list[dict[str, Any]]:
    """The listeners of ``aggregator`` ([{name, port[, relp_port]}], as its log_aggregator role
    opens them)."""
    settings = aggregator_settings(hostvars, aggregator)
    names = peer_names(
        hostvars,
        groups,
        list(settings["log_aggregator_shipping_groups"] or []),
        str(settings["log_aggregator_client_certificate"]),
    )
    return log_peers(
        names,
        settings["log_aggregator_peers"],
        settings["log_aggregator_peer_port_base"],
        settings["log_aggregator_relp_port_base"]
        if _true(settings["log_aggregator_relp_enabled"])
        else None,
    )


def _true(value: Any) -> bool:
    """Ansible's truthiness of an inventory value ("false", "no", "0" are false)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


def port_ranges(ports: list[Any]) -> list[Any]:
    """Sorted distinct ports, consecutive runs folded into "low-high" (the nftables role's form)."""
    numbers = sorted({int(p) for p in ports})
    out: list[Any] = []
    start = prev = None
    for port in [*numbers, None]:
        if port is not None and prev is not None and port == prev + 1:
            prev = port
            continue
        if start is not None:
            out.append(start if start == prev else f"{start}-{prev}")
        start = prev = port
    return out


def log_ports(
    hostvars: Mapping[str, Any],
    groups: Mapping[str, list[str]],
    aggregators_group: str = "aggregators",
) -> list[Any]:
    """Every listener port of every host of ``aggregators_group`` (per shipping host's
    certificate name: its TLS syslog port and, with RELP on, its RELP port), as nftables ports
    ("2514-2515", "6514-6515"): the firewall opens exactly what the log_aggregator role listens
    on and what each log_shipper dials, whichever transport it uses. With no aggregator or no
    shipping host, the default port base alone (a service needs at least one port)."""
    ports = [
        port
        for agg in sorted(groups.get(aggregators_group) or [])
        for peer in aggregator_peers(hostvars, groups, agg)
        for port in (peer["port"], peer.get("relp_port"))
        if port not in (None, "")
    ]
    return port_ranges(ports or [AGGREGATOR_DEFAULTS["log_aggregator_peer_port_base"]])


# Characters that would end or corrupt an RFC 5424 SD-PARAM value when sent unescaped ('"', '\\',
# ']'), whitespace, and the glob characters imfile would expand.
_STREAM_UNSAFE = frozenset('"\\]') | frozenset("[*?")


def log_stream_ok(path: Any) -> bool:
    """An absolute file path that can go into stream="..." as it is."""
    text = str(path)
    return (
        text.startswith("/")
        and len(text) > 1
        and not any(c in _STREAM_UNSAFE or c.isspace() for c in text)
    )


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "soc2audit_log_peer_names": peer_names,
            "soc2audit_log_peers": log_peers,
            "soc2audit_log_peer_port": log_peer_port,
            "soc2audit_log_aggregator_settings": aggregator_settings,
            "soc2audit_log_aggregator_peers": aggregator_peers,
            "soc2audit_log_ports": log_ports,
            "soc2audit_log_stream_ok": log_stream_ok,
        }
