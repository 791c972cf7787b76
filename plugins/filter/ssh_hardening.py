# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the ssh_hardening role's preflight: what the host's OpenSSH knows (`ssh -Q`) and
which names of the role's algorithm profile it does not know."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def ssh_query(text: str) -> dict[str, list[str]]:
    """The preflight's `== <kind>` sections (each followed by one name per line) as
    {kind: [names]}; lines before the first header are ignored."""
    out: dict[str, list[str]] = {}
    current: str | None = None
    for raw in str(text or "").splitlines():
        line = raw.strip()
        if line.startswith("== "):
            current = line[3:].strip()
            out[current] = []
        elif line and current is not None:
            out[current].append(line)
    return out


def ssh_unknown(profile: Mapping[str, Any], known: Mapping[str, list[str]]) -> list[str]:
    """`<kind> <name>` for every name of ``profile`` ({kind: [names]}) that the host's list of
    that kind lacks (a kind the host did not list: every name of it)."""
    return [
        f"{kind} {name}"
        for kind, names in profile.items()
        for name in names or []
        if name not in (known.get(kind) or [])
    ]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"soc2audit_ssh_query": ssh_query, "soc2audit_ssh_unknown": ssh_unknown}
