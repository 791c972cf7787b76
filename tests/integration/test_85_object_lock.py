# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The write-once store's S3 half: the aggregator's uploader (roles/log_aggregator/files/
log-upload) against a real S3 server with Object Lock (versitygw, built once per machine by
soc2audit/components.py), over TLS, on loopback.

What must hold for the evidence: every sealed day file is uploaded once, as a version locked in
COMPLIANCE mode until at least the retention, with the seal's SHA-256 checked by the server; a
file altered after sealing is refused, never uploaded as good; and nobody with the bucket's root
credentials can delete the locked version or shorten its retention. An overwrite or an
unversioned delete only adds a newer version or a delete marker: the locked bytes stay.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from soc2audit import s3_testserver

# A server of its own on loopback: never touches the four-host lab, runs beside it.
pytestmark = pytest.mark.own_containers

UPLOAD = REPO / "roles" / "log_aggregator" / "files" / "log-upload"
ACCESS, SECRET = s3_testserver.ACCESS, s3_testserver.SECRET
BUCKET = "soc2-evidence"


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with s3_testserver.running(tmp_path_factory.mktemp("versitygw"), (BUCKET,)) as server:
        yield {"client": server.client, "url": server.url, "ca": server.ca, "tmp": server.tmp}


def _day_file(root: Path, host: str, name: str, lines: list[dict[str, Any]]) -> Path:
    path = root / host / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(x, sort_keys=True) + "\n" for x in lines))
    return path


def _seal(path: Path) -> str:
    """What log-store's seal writes beside a closed file (sha256sum format)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    return digest


def _upload(s3: dict[str, Any], root: Path, state: Path, *extra: str) -> tuple[int, dict]:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET)
    proc = subprocess.run(
        [
            sys.executable,
            str(UPLOAD),
            "--root",
            str(root),
            "--state",
            str(state),
            "--bucket",
            BUCKET,
            "--endpoint-url",
            s3["url"],
            "--ca-bundle",
            str(s3["ca"]),
            "--prefix",
            "lab",
            "--retention-days",
            "2",
            *extra,
        ],
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_sealed_files_are_uploaded_once_locked_and_verified(s3: dict[str, Any]) -> None:
    client = s3["client"]
    root, state = s3["tmp"] / "store", s3["tmp"] / "upload-state.json"
    sealed = _day_file(root, "edge1", "2026-12-01.jsonl", [{"n": i} for i in range(500)])
    digest = _seal(sealed)
    _seal(_day_file(root, "edge2", "2026-12-01.jsonl", [{"n": "edge2"}]))
    _day_file(root, "edge1", "2026-12-02.jsonl", [{"n": "open, not sealed yet"}])
    before = dt.datetime.now(dt.UTC)

    rc, summary = _upload(s3, root, state)
    assert rc == 0, summary
    assert summary["uploaded"] == ["edge1/2026-12-01.jsonl", "edge2/2026-12-01.jsonl"]
    recorded = json.loads(state.read_text())
    entry = recorded["objects"]["edge1/2026-12-01.jsonl"]
    assert entry["key"] == "lab/edge1/2026/12/2026-12-01.jsonl"
    assert entry["sha256"] == digest and entry["mode"] == "COMPLIANCE"
    assert recorded["last_success"] == recorded["last_attempt"]

    head = client.head_object(Bucket=BUCKET, Key=entry["key"], VersionId=entry["version_id"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] >= before + dt.timedelta(days=2, seconds=-5)
    assert head["Metadata"]["sha256"] == digest
    body = client.get_object(Bucket=BUCKET, Key=entry["key"], VersionId=entry["version_id"])
    assert hashlib.sha256(body["Body"].read()).hexdigest() == digest

    # A second run uploads nothing: the state says both are there with the same hash.
    rc, summary = _upload(s3, root, state)
    assert rc == 0 and summary["uploaded"] == [] and summary["already"] == 2, summary
    versions = client.list_object_versions(Bucket=BUCKET, Prefix=entry["key"])["Versions"]
    assert [v["VersionId"] for v in versions] == [entry["version_id"]]


def test_a_file_altered_after_sealing_is_refused(s3: dict[str, Any]) -> None:
    root, state = s3["tmp"] / "store-tampered", s3["tmp"] / "state-tampered.json"
    path = _day_file(root, "edge1", "2026-11-30.jsonl", [{"n": 1}, {"n": 2}])
    _seal(path)
    path.write_text(path.read_text().replace('"n": 2', '"n": 3'))  # edited after the seal
    rc, summary = _upload(s3, root, state)
    assert rc == 1 and summary["mismatched"] == ["edge1/2026-11-30.jsonl"], summary
    assert summary["uploaded"] == []
    assert "last_success" not in json.loads(state.read_text())
    listed = s3["client"].list_objects_v2(Bucket=BUCKET, Prefix="lab/edge1/2026/11/")
    assert listed.get("KeyCount", 0) == 0


def _locked(s3: dict[str, Any], name: str) -> dict[str, Any]:
    """A sealed file of its own, uploaded: its state entry (key, version_id, sha256, ...)."""
    root, state = s3["tmp"] / f"store-{name}", s3["tmp"] / f"state-{name}.json"
    _seal(_day_file(root, "monitor", "2026-11-29.jsonl", [{"n": name}]))
    assert _upload(s3, root, state)[0] == 0
    return json.loads(state.read_text())["objects"]["monitor/2026-11-29.jsonl"]


def _later(hours: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours)


def test_nobody_deletes_or_downgrades_a_locked_version(s3: dict[str, Any]) -> None:
    from botocore.exceptions import ClientError

    client = s3["client"]
    entry = _locked(s3, "locked")
    key, version = entry["key"], entry["version_id"]

    with pytest.raises(ClientError) as denied:
        client.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as denied:
        client.put_object_retention(
            Bucket=BUCKET,
            Key=key,
            VersionId=version,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": _later(1)},
            BypassGovernanceRetention=True,
        )
    assert denied.value.response["Error"]["Code"] == "AccessDenied"

    # An overwrite and an unversioned delete are allowed by S3 semantics: they add a version
    # and a delete marker. The locked version and its bytes are untouched.
    client.put_object(Bucket=BUCKET, Key=key, Body=b"rewritten history\n")
    client.delete_object(Bucket=BUCKET, Key=key)
    still = client.get_object(Bucket=BUCKET, Key=key, VersionId=version)
    assert hashlib.sha256(still["Body"].read()).hexdigest() == entry["sha256"]
    # (versitygw's HeadObject leaves the lock headers out for a version that is not the latest;
    # GetObjectRetention reads the lock itself.)
    retention = client.get_object_retention(Bucket=BUCKET, Key=key, VersionId=version)
    assert retention["Retention"]["Mode"] == "COMPLIANCE"
    with pytest.raises(ClientError) as denied:
        client.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


@pytest.mark.xfail(
    strict=True,
    raises=pytest.fail.Exception,
    reason="versitygw v1.7.0 lets the root user shorten a COMPLIANCE retention (AWS S3 refuses); "
    "docs/s3-object-lock.md says what guards against it. Strict: when a "
    "versitygw release enforces it, this test passes and must lose the mark.",
)
def test_a_compliance_retention_cannot_be_shortened(s3: dict[str, Any]) -> None:
    from botocore.exceptions import ClientError

    client = s3["client"]
    entry = _locked(s3, "shorten")
    with pytest.raises(ClientError):
        client.put_object_retention(
            Bucket=BUCKET,
            Key=entry["key"],
            VersionId=entry["version_id"],
            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": _later(1)},
        )
