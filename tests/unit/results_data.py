# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared data for the results pipeline tests: a small catalog, hosts and verifier outputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from soc2audit.catalog import Catalog, load_catalog

STARTED = "2026-01-15T12:00:00Z"
FINISHED = "2026-01-15T12:00:30Z"
NOW = dt.datetime(2026, 1, 15, 12, 0, 30, tzinfo=dt.UTC)
SHA = "0" * 64
HOSTS = ["edge1", "edge2", "aggregator", "monitor"]
GROUPS = {
    "edge1": ["edge"],
    "edge2": ["edge"],
    "aggregator": ["aggregators", "timeservers"],
    "monitor": ["monitors"],
}


def entry(check_id: str, applies_to: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    family = check_id.split("-")[0]
    body: dict[str, Any] = {
        "id": check_id,
        "title": f"Title of {check_id}",
        "family": family,
        "severity": "high",
        "source": f"library/soc2_{family.lower()}.py",
        "rationale": "Because.",
        "remediation": "Converge.",
        "tsc": {"primary": ["CC6.1"], "secondary": ["CC6.7"]},
    }
    if applies_to is not None:
        body["applies_to"] = applies_to
    body.update(extra)
    return body


CHECKS = [
    entry("PKI-01", ["all"]),
    entry("PKI-02"),
    entry("TIME-01", ["all"], tsc={"primary": ["CC7.2"], "secondary": []}),
    entry("TIME-06", ["timeservers"], tsc={"primary": ["CC7.2"], "secondary": ["A1.2"]}),
]


def write_catalog(tmp_path: Path, checks: list[dict[str, Any]] | None = None) -> Path:
    path = tmp_path / "catalog.yml"
    path.write_text(yaml.safe_dump({"checks": checks or CHECKS}, sort_keys=False))
    return path


def make_catalog(tmp_path: Path) -> Catalog:
    return load_catalog(write_catalog(tmp_path))


def check(check_id: str, result: str = "pass", message: str = "ok") -> dict[str, Any]:
    return {
        "check_id": check_id,
        "result": result,
        "observed": {"v": 1},
        "expected": {"v": 1},
        "message": message,
    }


def all_pass(host: str) -> list[dict[str, Any]]:
    ids = ["PKI-01", "PKI-02", "TIME-01"]
    if "timeservers" in GROUPS[host]:
        ids.append("TIME-06")
    return [check(i) for i in ids]


def waiver(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "check": "PKI-02",
        "hosts": ["edge1"],
        "justification": "Rotation scheduled",
        "approver": "security-lead",
        "ticket": "CHG-1",
        "expires": "2026-01-31",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def write_waivers(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    path = tmp_path / "waivers.yml"
    path.write_text(yaml.safe_dump({"waivers": list(entries)}, sort_keys=False))
    return path
