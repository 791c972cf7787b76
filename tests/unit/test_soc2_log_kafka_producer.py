# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""LOG-13 (the aggregator's Kafka producer queue) from rsyslogd's recorded impstats with omkafka
(tests/unit/fixtures/log/kafka/aggregator-impstats.*.json, rsyslog 8.2302 without a broker)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import soc2_log
from module_runner import invoke
from plugin_loader import load_plugin

fam = load_plugin("plugins/module_utils/soc2_log_family.py", "soc2audit_test_log_family_omkafka")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "log" / "kafka"
NOW = 1_800_000_000.0


def agg(stats: Path, limit: int = 5, enabled: bool = True) -> dict[str, Any]:
    return {
        "kafka_producer_enabled": enabled,
        "kafka_stats_file": str(stats),
        "kafka_stats_interval_seconds": 5,
        "kafka_action_name": "soc2_kafka",
        "kafka_max_queue_messages": limit,
    }


def stats_file(tmp_path: Path, name: str, age: float = 2.0) -> Path:
    path = tmp_path / "impstats.json"
    shutil.copy(FIXTURES / f"aggregator-impstats.{name}.json", path)
    os.utime(path, (NOW - age, NOW - age))
    return path


def check(params: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    observations: list[dict[str, Any]] = []
    return fam.check_kafka_producer(params, NOW, observations), observations


def test_an_empty_queue_passes(tmp_path: Path) -> None:
    result, obs = check(agg(stats_file(tmp_path, "empty")))
    assert result["check_id"] == "LOG-13" and result["result"] == "pass", result
    assert (
        result["message"]
        == "0 message(s) wait in the Kafka producer's queue soc2_kafka (at most 5)"
    )
    assert obs == [{"key": "log_kafka_producer_queue", "labels": {}, "value": 0}]


def test_messages_held_without_a_broker_fail_with_the_depth(tmp_path: Path) -> None:
    result, obs = check(agg(stats_file(tmp_path, "queued")))
    assert result["result"] == "fail"
    assert result["message"] == (
        "19 messages wait in the Kafka producer's queue soc2_kafka (more than 5): "
        "the brokers are unreachable or refuse the producer"
    )
    assert result["observed"] == {"messages": 19, "processed": 20, "failed": 0}
    assert obs[0]["value"] == 19


def test_the_same_queue_under_a_larger_limit_passes(tmp_path: Path) -> None:
    result, _ = check(agg(stats_file(tmp_path, "queued"), limit=10000))
    assert result["result"] == "pass"


def test_stale_counters_are_an_error_not_a_pass(tmp_path: Path) -> None:
    result, obs = check(agg(stats_file(tmp_path, "empty", age=16)))
    assert result["result"] == "error"
    assert "last written 16 s ago (more than 15 s)" in result["message"]
    assert obs == []


def test_no_object_for_the_action(tmp_path: Path) -> None:
    params = agg(stats_file(tmp_path, "queued"))
    params["kafka_action_name"] = "soc2_other"
    result, _ = check(params)
    assert result["result"] == "error"
    assert "no impstats object for the action soc2_other or its queue" in result["message"]


def test_unreadable_and_not_applicable(tmp_path: Path) -> None:
    result, _ = check(agg(tmp_path / "absent.json"))
    assert result["result"] == "error" and "cannot read" in result["message"]
    result, _ = check(agg(tmp_path / "absent.json", enabled=False))
    assert result["result"] == "not_applicable"


def test_the_shipper_and_the_aggregator_read_impstats_the_same_way(tmp_path: Path) -> None:
    """One reading (read_impstats, latest_objects, assess_backlog) for both queues."""
    path = stats_file(tmp_path, "queued")
    latest, why = fam.read_impstats(str(path), "soc2_kafka", 5, NOW)
    assert why == "" and latest["queue"]["size"] == 19 and latest["action"]["processed"] == 20
    assert fam.assess_backlog(latest, 0, None, 5)["messages"] == 19


def test_module_reports_log13_through_soc2_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "impstats.json"
    shutil.copy(FIXTURES / "aggregator-impstats.queued.json", path)
    (tmp_path / "proc").mkdir()
    args = {
        "aggregator": {
            "enabled": True,
            "config_path": str(tmp_path / "absent.conf"),
            "storage_root": str(tmp_path),
            "state_dir": str(tmp_path),
            "proc_root": str(tmp_path / "proc"),
            "peers": [],
            **agg(path),
        }
    }
    rc, result = invoke(soc2_log.main, args, capsys)
    assert rc == 0, result
    log13 = next(c for c in result["checks"] if c["check_id"] == "LOG-13")
    assert log13["result"] == "fail" and "19 messages wait" in log13["message"]
