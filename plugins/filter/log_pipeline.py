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
            "soc2audit_log_stream_ok": log_stream_ok,
        }
