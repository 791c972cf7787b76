# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/filter/prometheus.py: durations and sizes as Prometheus reads them, the targets from
the inventory, stable bcrypt hashes, and the rule file expectations of the MON verifier."""

from __future__ import annotations

import hashlib

import bcrypt
import pytest
from plugin_loader import load_plugin

prom = load_plugin("plugins/filter/prometheus.py")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15s", 15),
        ("1m30s", 90),
        ("2h", 7200),
        ("90d", 90 * 86400),
        ("1y", 365 * 86400),
        ("500ms", 0.5),
        ("1w2d", 9 * 86400),
        ("0", 0),
        ("0s", 0),
    ],
)
def test_durations_prometheus_accepts(text: str, seconds: float) -> None:
    assert prom.prom_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["15 seconds", "15", "1.5h", "30s1m", "", "forever", "-5s", None])
def test_durations_prometheus_refuses(text: object) -> None:
    assert prom.prom_duration_seconds(text) is None
    assert not prom.prom_duration_ok(text)


def test_zero_is_a_duration_only_where_allowed() -> None:
    assert not prom.prom_duration_ok("0s")
    assert prom.prom_duration_ok("0s", True)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("", True),
        ("256MB", True),
        ("10GB", True),
        ("10 GB", False),
        ("1.5GB", False),
        ("10G", False),
    ],
)
def test_retention_sizes(text: str, ok: bool) -> None:
    assert prom.prom_size_ok(text) is ok


def test_targets_from_the_inventory_sorted_with_the_inventory_name() -> None:
    hostvars = {
        "edge2": {"ansible_host": "10.0.0.12"},
        "edge1": {"ansible_host": "10.0.0.11", "prometheus_target_address": "edge1.example.net"},
        "monitor": {},
        "v6": {"ansible_host": "fd00::5"},
    }
    groups = {"all": ["edge2", "edge1", "monitor", "v6"], "edge": ["edge1", "edge2"]}
    assert prom.prometheus_targets(hostvars, groups, ["all"], 9100) == [
        {"targets": ["edge1.example.net:9100"], "labels": {"__soc2audit_host": "edge1"}},
        {"targets": ["10.0.0.12:9100"], "labels": {"__soc2audit_host": "edge2"}},
        {"targets": ["monitor:9100"], "labels": {"__soc2audit_host": "monitor"}},
        {"targets": ["[fd00::5]:9100"], "labels": {"__soc2audit_host": "v6"}},
    ]
    assert [
        t["labels"]["__soc2audit_host"]
        for t in prom.prometheus_targets(hostvars, groups, ["edge"], 9100)
    ] == ["edge1", "edge2"]


def test_bcrypt_hash_is_stable_verifiable_and_salted_per_host_and_user() -> None:
    first = prom.prom_bcrypt("s3cret", "monitor/oncall", 4)
    assert first == prom.prom_bcrypt("s3cret", "monitor/oncall", 4)
    assert first.startswith("$2b$04$")
    assert bcrypt.checkpw(b"s3cret", first.encode())
    assert not bcrypt.checkpw(b"other", first.encode())
    assert first != prom.prom_bcrypt("s3cret", "monitor2/oncall", 4)
    assert first != prom.prom_bcrypt("s3cret", "monitor/auditor", 4)


def test_rule_file_expectations() -> None:
    content = (
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: up == 0\n"
        "      - record: r:x\n        expr: up\n"
    )
    (item,) = prom.prom_rule_files([{"path": "/etc/prometheus/rules/x.yml", "content": content}])
    assert item == {
        "path": "/etc/prometheus/rules/x.yml",
        "sha256": hashlib.sha256(content.encode()).hexdigest(),
        "groups": [{"name": "a", "rules": ["X", "r:x"]}],
    }
    (empty,) = prom.prom_rule_files([{"path": "/e.yml", "content": "# none\ngroups: []\n"}])
    assert empty["groups"] == []


def test_invalid_durations_are_named() -> None:
    durations = {"a": "15s", "b": "15 seconds", "c": "0s", "d": "0s"}
    assert prom.prom_invalid_durations(durations, ["d"]) == ["b", "c"]
