# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``log-upload verify`` (roles/log_aggregator/files/log-upload): the deeper audit that asks the
S3 server about every recorded version. Replays GetObjectRetention and HeadObject responses
recorded from a real versitygw v1.7.0 (tests/unit/fixtures/log/upload/README.md); in that
recording the root user had shortened edge2's COMPLIANCE retention to three days, which
versitygw allows and AWS refuses."""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from plugin_loader import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "roles/log_aggregator/files/log-upload"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "log" / "upload"


up = load_script(SCRIPT, "log_upload_v")


def _dates(value: Any) -> Any:
    """botocore returns datetimes; the fixture keeps them as ISO strings."""
    if isinstance(value, dict):
        return {
            k: dt.datetime.fromisoformat(v) if k.endswith("Date") else _dates(v)
            for k, v in value.items()
        }
    return value


class Replay:
    """GetObjectRetention / HeadObject as the recorded versitygw answered them."""

    def __init__(self, responses: dict[str, Any], state: dict[str, Any]) -> None:
        self.by_version = {
            state["objects"][rel]["version_id"]: _dates(answer) for rel, answer in responses.items()
        }

    def get_object_retention(self, Bucket: str, Key: str, VersionId: str) -> dict[str, Any]:
        return copy.deepcopy(self.by_version[VersionId]["get_object_retention"])

    def head_object(
        self, Bucket: str, Key: str, VersionId: str, ChecksumMode: str
    ) -> dict[str, Any]:
        return copy.deepcopy(self.by_version[VersionId]["head_object"])


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[argparse.Namespace, Replay, Path]:
    root = tmp_path / "store"
    shutil.copytree(FIXTURES / "store", root)
    state = tmp_path / "upload-state.json"
    shutil.copy(FIXTURES / "upload-state.json", state)
    responses = json.loads((FIXTURES / "server_responses.json").read_text())
    args = up.verify_parser().parse_args(
        ["--root", str(root), "--state", str(state), "--bucket", "soc2-evidence"]
    )
    return args, Replay(responses, json.loads(state.read_text())), state


def test_a_shortened_retention_is_found(recorded: tuple[argparse.Namespace, Replay, Path]) -> None:
    args, client, _ = recorded
    code, summary = up.run_verify(args, client=client)
    assert code == 1
    assert summary["checked"] == 3 and summary["errors"] == []
    assert summary["problems"] == [
        "edge2/2026-12-05.jsonl: retained until 2026-12-09T17:32:11Z, recorded 2027-12-07T17:30:16Z"
    ]


def test_a_record_that_is_not_the_servers_is_found(
    recorded: tuple[argparse.Namespace, Replay, Path],
) -> None:
    args, client, state_path = recorded
    state = json.loads(state_path.read_text())
    state["objects"]["edge1/2026-12-04.jsonl"]["sha256"] = "0" * 64
    state_path.write_text(json.dumps(state))
    _, summary = up.run_verify(args, client=client)
    edge1 = [p for p in summary["problems"] if p.startswith("edge1/2026-12-04.jsonl")]
    assert edge1 == [
        "edge1/2026-12-04.jsonl: the object's sha256 metadata is not the recorded SHA-256",
        "edge1/2026-12-04.jsonl: the object's checksum 0UktUCtC7g9CXivivjjmXGVhtUlIGO9Tl66zmh1HVcI="
        " is not the recorded SHA-256",
        "edge1/2026-12-04.jsonl: the local seal no longer matches the uploaded version",
    ]


def test_a_missing_version_is_an_error_not_a_crash(
    recorded: tuple[argparse.Namespace, Replay, Path],
) -> None:
    args, client, state_path = recorded
    state = json.loads(state_path.read_text())
    state["objects"]["edge1/2026-12-05.jsonl"]["version_id"] = "no-such-version"
    state_path.write_text(json.dumps(state))
    code, summary = up.run_verify(args, client=client)
    assert code == 1
    assert summary["errors"] == [
        {"file": "edge1/2026-12-05.jsonl", "error": "KeyError: 'no-such-version'"}
    ]


def test_verify_takes_no_retention_and_is_a_subcommand() -> None:
    with pytest.raises(SystemExit):
        up.verify_parser().parse_args(["--root", "/r", "--state", "/s"])  # no bucket
    args = up.verify_parser().parse_args(["--root", "/r", "--state", "/s", "--bucket", "b"])
    assert not hasattr(args, "retention_days")
