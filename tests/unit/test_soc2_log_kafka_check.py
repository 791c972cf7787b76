# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""LOG-12 (the Kafka archive consumer keeps up) from the consumer's recorded state files
(tests/unit/fixtures/log/kafka/, written by log-kafka-archive against a real Kafka 4.4.0)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from plugin_loader import load_plugin

fam = load_plugin("plugins/module_utils/soc2_log_family.py", "soc2audit_test_log_family_kafka")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "log" / "kafka"
CAUGHT_UP = json.loads((FIXTURES / "kafka-archive.caught-up.json").read_text())
UPDATED = dt.datetime.fromisoformat(CAUGHT_UP["updated"].replace("Z", "+00:00")).timestamp()


def agg(path: Path, enabled: bool = True) -> dict[str, Any]:
    return {
        "kafka_archive_enabled": enabled,
        "kafka_archive_state_path": str(path),
        "kafka_max_lag_messages": 10000,
        "kafka_max_state_age_seconds": 300,
    }


def run(tmp_path: Path, state: Any, now: float, enabled: bool = True) -> tuple[dict, list]:
    path = tmp_path / "kafka-archive.json"
    if state is not None:
        path.write_text(json.dumps(state))
    observations: list[Any] = []
    return fam.check_kafka_archive(agg(path, enabled), now, observations), observations


def test_a_caught_up_consumer_passes_with_its_lag_per_partition(tmp_path: Path) -> None:
    check, obs = run(tmp_path, CAUGHT_UP, UPDATED + 12)
    assert check["check_id"] == "LOG-12" and check["result"] == "pass", check
    lags = {
        o["labels"]["partition"]: o["value"] for o in obs if o["key"] == "log_kafka_consumer_lag"
    }
    assert lags == {"0": 0, "1": 0, "2": 0}
    assert {o["labels"]["topic"] for o in obs if o["key"] == "log_kafka_consumer_lag"} == {
        "soc2audit.audit"
    }
    age = [o["value"] for o in obs if o["key"] == "log_kafka_archive_state_age"]
    assert age == [pytest.approx(12, abs=0.01)]


def test_lag_beyond_the_limit_fails_naming_the_partition(tmp_path: Path) -> None:
    state = copy.deepcopy(CAUGHT_UP)
    state["partitions"]["0"].update(high=state["partitions"]["0"]["high"] + 12000, lag=12000)
    check, obs = run(tmp_path, state, UPDATED + 5)
    assert check["result"] == "fail"
    assert "12000 message(s) behind" in check["message"] and "0: 12000" in check["message"]
    assert any(o["key"] == "log_kafka_consumer_lag" and o["value"] == 12000 for o in obs)


def test_a_stale_state_file_fails_as_a_stopped_consumer(tmp_path: Path) -> None:
    check, _ = run(tmp_path, CAUGHT_UP, UPDATED + 3600)
    assert check["result"] == "fail" and "not running or is stuck" in check["message"]


def test_store_errors_fail(tmp_path: Path) -> None:
    state = copy.deepcopy(CAUGHT_UP)
    state["counts"]["store_errors"] = 2
    state["last_error"] = "store: No space left on device"
    check, _ = run(tmp_path, state, UPDATED + 1)
    assert check["result"] == "fail" and "No space left on device" in check["message"]


def test_no_state_file_fails_and_off_is_not_applicable(tmp_path: Path) -> None:
    check, _ = run(tmp_path, None, UPDATED)
    assert check["result"] == "fail" and "never ran" in check["message"]
    check, obs = run(tmp_path, None, UPDATED, enabled=False)
    assert check["result"] == "not_applicable" and obs == []
