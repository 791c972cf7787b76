# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""LOG-14 (the Kafka audit topic fully replicated) from the brokers' recorded topic state files
(tests/unit/fixtures/log/kafka/topic-state.*.json, written by roles/kafka/files/
soc2-kafka-topic-state against three real Kafka 4.4.0 brokers), and the recorder itself."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import soc2_log
from module_runner import invoke
from plugin_loader import load_plugin, load_script

from soc2audit import metrics

fam = load_plugin("plugins/module_utils/soc2_log_family.py", "soc2audit_test_log_family_urp")
recorder = load_script("roles/kafka/files/soc2-kafka-topic-state", "soc2audit_test_topic_state")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "log" / "kafka"
TOPIC = "soc2audit.audit"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"topic-state.{name}.json").read_text())


def stamp(state: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(state["updated"].replace("Z", "+00:00")).timestamp()


def run(
    tmp_path: Path, name: str, topic: str = TOPIC, age: float = 30.0, max_age: int = 900
) -> dict[str, Any]:
    state = fixture(name)
    path = tmp_path / "topic-state.json"
    path.write_text(json.dumps(state))
    broker = {
        "enabled": True,
        "state_path": str(path),
        "topic": topic,
        "max_state_age_seconds": max_age,
    }
    return fam.verify_broker(broker, now=stamp(state) + age)


def observed(result: dict[str, Any]) -> dict[str, Any]:
    return {o["key"]: o["value"] for o in result["observations"]}


def test_all_replicas_in_sync_passes_with_zero_metrics(tmp_path: Path) -> None:
    result = run(tmp_path, "in-sync")
    (check,) = result["checks"]
    assert check["check_id"] == "LOG-14" and check["result"] == "pass", check
    assert "every one of the 3 partition(s) of soc2audit.audit" in check["message"]
    assert observed(result) == {
        "log_kafka_topic_state_age": 30.0,
        "log_kafka_under_replicated_partitions": 0,
        "log_kafka_offline_partitions": 0,
        "log_kafka_below_min_isr_partitions": 0,
    }


def test_a_stopped_broker_makes_every_partition_under_replicated_and_names_them(
    tmp_path: Path,
) -> None:
    result = run(tmp_path, "broker3-stopped")
    (check,) = result["checks"]
    assert check["result"] == "fail"
    assert check["observed"]["under_replicated"] == [0, 1, 2]
    assert check["observed"]["below_min_isr"] == [] and check["observed"]["offline"] == []
    assert (
        "3 under-replicated partition(s) of soc2audit.audit: 0 (replicas 1,2,3, isr 1,2)"
        in (check["message"])
    )
    assert "2 (replicas 3,1,2, isr 1,2)" in check["message"]
    assert observed(result)["log_kafka_under_replicated_partitions"] == 3
    # A warning in stderr (the stopped broker's connection) does not make the describe fail.
    assert "failed" not in check["message"]


def test_isr_below_min_insync_replicas_fails(tmp_path: Path) -> None:
    result = run(tmp_path, "urp.minisr", topic="urp.minisr")
    (check,) = result["checks"]
    assert check["result"] == "fail"
    assert check["observed"]["below_min_isr"] == [0]
    assert (
        "1 partition(s) below min.insync.replicas=3 (acks=all producers are refused)"
        in (check["message"])
    )
    assert observed(result)["log_kafka_below_min_isr_partitions"] == 1


def test_a_partition_without_leader_is_offline(tmp_path: Path) -> None:
    result = run(tmp_path, "urp.offline", topic="urp.offline")
    (check,) = result["checks"]
    assert check["result"] == "fail"
    assert check["observed"]["offline"] == [0]
    assert (
        "1 partition(s) of urp.offline without a leader (offline): 0 (replicas 3, isr none)"
        in (check["message"])
    )
    # Its one replica is not in sync either, and 0 is below the topic's min.insync.replicas 2.
    assert check["observed"]["under_replicated"] == [0]
    assert check["observed"]["below_min_isr"] == [0]
    assert observed(result)["log_kafka_offline_partitions"] == 1


def test_a_stale_state_fails_even_when_it_was_in_sync(tmp_path: Path) -> None:
    (check,) = run(tmp_path, "in-sync", age=1000, max_age=900)["checks"]
    assert check["result"] == "fail"
    assert "the topic state is 1000 s old (more than 900 s)" in check["message"]


def test_a_describe_that_did_not_answer_fails_with_the_reason(tmp_path: Path) -> None:
    result = run(tmp_path, "quorum-lost")
    (check,) = result["checks"]
    assert check["result"] == "fail"
    assert "TopicCommand --describe failed (exit 124): timed out after 40 s" in check["message"]
    # No partition counts from a describe that failed: no metric rather than a false 0.
    assert set(observed(result)) == {"log_kafka_topic_state_age"}


def test_a_describe_error_names_the_exception_not_the_stack(tmp_path: Path) -> None:
    (check,) = run(tmp_path, "topic-absent", topic="no.such.topic")["checks"]
    assert check["result"] == "fail"
    assert check["message"].endswith(
        "ERROR java.lang.IllegalArgumentException: Topic 'no.such.topic' does not exist as expected"
    )


def test_another_topic_than_the_recorded_one_is_not_found(tmp_path: Path) -> None:
    (check,) = run(tmp_path, "in-sync", topic="other.topic")["checks"]
    assert check["result"] == "fail"
    assert "the topic other.topic is not in the describe output" in check["message"]


def test_no_state_file(tmp_path: Path) -> None:
    broker = {
        "enabled": True,
        "state_path": str(tmp_path / "absent.json"),
        "topic": TOPIC,
        "max_state_age_seconds": 900,
    }
    (check,) = fam.verify_broker(broker)["checks"]
    assert check["result"] == "fail"
    assert "soc2-kafka-topic-state never ran" in check["message"]


def test_every_observation_is_a_known_metric(tmp_path: Path) -> None:
    for key in observed(run(tmp_path, "broker3-stopped")):
        assert key in metrics.OBSERVATIONS


def test_module_reports_log14_on_a_broker_and_not_applicable_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "topic-state.json"
    state = fixture("broker3-stopped")
    state["updated"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    path.write_text(json.dumps(state))
    rc, result = invoke(
        soc2_log.main, {"broker": {"enabled": True, "state_path": str(path)}}, capsys
    )
    assert rc == 0, result
    ids = [c["check_id"] for c in result["checks"]]
    assert ids == list(fam.CHECK_IDS)
    log14 = result["checks"][-1]
    assert log14["result"] == "fail" and "under-replicated" in log14["message"]
    assert {c["result"] for c in result["checks"][:-1]} == {"not_applicable"}

    rc, result = invoke(soc2_log.main, {}, capsys)
    assert result["checks"][-1]["result"] == "not_applicable"
    assert "not a Kafka broker" in result["checks"][-1]["message"]


def test_the_recorder_writes_what_the_tool_printed_and_its_exit_status(tmp_path: Path) -> None:
    """The recorder with a stand-in admin tool that prints the recorded describe (the real one
    starts a JVM against a cluster: molecule kafka_default runs it)."""
    recorded = fixture("broker3-stopped")
    tool = tmp_path / "admin"
    (tmp_path / "out.txt").write_text(recorded["stdout"])
    tool.write_text(f"#!/bin/sh\ncat {tmp_path / 'out.txt'}\necho 'WARN x' >&2\nexit $EXIT\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    state_path = tmp_path / "sub" / "topic-state.json"
    os.environ["EXIT"] = "0"
    try:
        rc = recorder.main(["--admin", str(tool), "--topic", TOPIC, "--state", str(state_path)])
        assert rc == 0
        state = json.loads(state_path.read_text())
        assert state["rc"] == 0 and state["stdout"] == recorded["stdout"]
        assert state["stderr"] == "WARN x\n" and state["version"] == fam.KAFKA_TOPIC_STATE_VERSION
        assert fam.assess_topic_state(state, TOPIC, stamp(state), 900)["under_replicated"] == [
            0,
            1,
            2,
        ]
        os.environ["EXIT"] = "3"
        assert recorder.main(["--admin", str(tool), "--topic", TOPIC, "--state", str(state_path)])
        assert json.loads(state_path.read_text())["rc"] == 3
    finally:
        del os.environ["EXIT"]
    assert [p.name for p in state_path.parent.iterdir()] == ["topic-state.json"]
