# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the prometheus role: duration and size checks for preflight, the scrape targets
from the inventory, and the bcrypt hashes of the web users."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Prometheus' model.ParseDuration (2.42): units in this order, each at most once, no fractions.
_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
# --storage.tsdb.retention.size (units.Base2Bytes): an integer and a unit.
_SIZE_RE = re.compile(r"^[0-9]+(B|KB|MB|GB|TB|PB|EB)$")
# bcrypt's own base64 alphabet (salts and hashes).
_BCRYPT_B64 = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
)


def prom_duration_seconds(value: Any) -> float | None:
    """Seconds of a Prometheus duration (``15s``, ``1h30m``, ``90d``), None when it does not
    parse as Prometheus parses it. ``0`` is zero seconds, as in Prometheus."""
    text = str(value if value is not None else "").strip()
    if text == "0":
        return 0.0
    match = _DURATION_RE.match(text)
    if not text or match is None:
        return None
    parts = zip(match.groups(), _DURATION_UNITS, strict=True)
    return float(sum(int(n) * unit for n, unit in parts if n is not None))


def prom_duration_ok(value: Any, allow_zero: bool = False) -> bool:
    """True for a Prometheus duration (above zero unless ``allow_zero``)."""
    seconds = prom_duration_seconds(value)
    return seconds is not None and (allow_zero or seconds > 0)


def prom_invalid_durations(
    durations: Mapping[str, Any], allow_zero: Iterable[str] = ()
) -> list[str]:
    """The names of ``durations`` ({name: value}) that are not Prometheus durations above zero
    (or at least zero for the names in ``allow_zero``), sorted."""
    zero_ok = set(allow_zero)
    return sorted(k for k, v in durations.items() if not prom_duration_ok(v, k in zero_ok))


def prom_size_ok(value: Any) -> bool:
    """True for a retention size Prometheus accepts (``512MB``, ``10GB``); '' means no limit."""
    text = str(value if value is not None else "")
    return text == "" or _SIZE_RE.match(text) is not None


def prometheus_targets(
    hostvars: Mapping[str, Any],
    groups: Mapping[str, Iterable[str]],
    scrape_groups: Iterable[str],
    port: int,
) -> list[dict[str, Any]]:
    """The node_exporter targets of the hosts in ``scrape_groups``, sorted by inventory name:
    ``[{targets: ["<address>:<port>"], labels: {__soc2audit_host: <inventory name>}}]``.

    The address is the host's ``prometheus_target_address``, else its ``ansible_host``, else its
    inventory name (the pki role puts ``ansible_host`` into every certificate's SANs, so the
    exporter's certificate verifies against it). The scrape config relabels
    ``__soc2audit_host`` into ``instance``, so a series carries the inventory name whatever the
    address.
    """
    names: set[str] = set()
    for group in scrape_groups:
        names.update(str(h) for h in groups.get(str(group), ()))
    out: list[dict[str, Any]] = []
    for name in sorted(names):
        host = hostvars.get(name, {}) or {}
        address = str(host.get("prometheus_target_address") or host.get("ansible_host") or name)
        if ":" in address and not address.startswith("["):
            address = f"[{address}]"
        out.append({"targets": [f"{address}:{int(port)}"], "labels": {"__soc2audit_host": name}})
    return out


def bcrypt_salt(seed: str) -> bytes:
    """A bcrypt salt (22 characters of bcrypt's base64) derived from ``seed``."""
    digest = hashlib.sha256(str(seed).encode("utf-8")).digest()[:16]
    return base64.b64encode(digest).translate(_BCRYPT_B64)[:22]


def prom_bcrypt(password: Any, seed: Any, rounds: int = 10) -> str:
    """bcrypt hash (``$2b$``) of ``password`` for a web config's ``basic_auth_users``.

    The salt comes from ``seed`` (the role passes the host, the user name and a hash of the
    password), so the same password gives the same hash on every run and the template stays
    idempotent; another host, user or password gives another salt.
    """
    import bcrypt  # control-node package (requirements.txt); only needed with basic auth

    salt = b"$2b$%02d$" % int(rounds) + bcrypt_salt(f"{seed}\0{password}")
    return bcrypt.hashpw(str(password).encode("utf-8"), salt).decode("ascii")


def _rule_name(rule: Mapping[str, Any]) -> str:
    return str(rule.get("alert") or rule.get("record") or "")


def prom_rule_files(files: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For the MON verifier: each rule file's ``path``, the SHA-256 of the ``content`` the role
    installs, and its groups with their rule names (alert or record) in file order."""
    import yaml  # control node: PyYAML comes with ansible-core

    out: list[dict[str, Any]] = []
    for item in files:
        content = str(item.get("content", ""))
        parsed = yaml.safe_load(content) or {}
        groups = [
            {
                "name": str(group.get("name", "")),
                "rules": [_rule_name(rule) for rule in group.get("rules") or []],
            }
            for group in parsed.get("groups") or []
        ]
        out.append(
            {
                "path": str(item["path"]),
                "sha256": hashlib.sha256(content.encode("utf-8")).hexdigest(),
                "groups": groups,
            }
        )
    return out


class FilterModule:
    """The prometheus role's filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "soc2audit_prom_duration_ok": prom_duration_ok,
            "soc2audit_prom_invalid_durations": prom_invalid_durations,
            "soc2audit_prom_duration_seconds": prom_duration_seconds,
            "soc2audit_prom_size_ok": prom_size_ok,
            "soc2audit_prometheus_targets": prometheus_targets,
            "soc2audit_prom_bcrypt": prom_bcrypt,
            "soc2audit_prom_rule_files": prom_rule_files,
        }
