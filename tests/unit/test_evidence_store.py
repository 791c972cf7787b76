# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``evidence upload`` and prune's check of the locked copies, against the real versitygw with
Object Lock on loopback (soc2audit.s3_testserver): closed day files copied once, locked in
COMPLIANCE mode; a different object at a file's key refused, never overwritten; prune removes a
file only when its locked copy is in the store."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from soc2audit import cli, evidence_store, s3_testserver
from soc2audit.anchor_s3 import S3AnchorStore
from soc2audit.chain import Settings, keygen, write_anchor, write_due_digests
from soc2audit.evidence import append_evidence
from soc2audit.exitcodes import (
    EXIT_EVIDENCE_PRUNE_REFUSED,
    EXIT_EVIDENCE_STORE_CONFLICT,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
)

BUCKET = "soc2-evidence"
T0 = dt.datetime(2026, 11, 2, 21, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3_testserver.S3TestServer]:
    with s3_testserver.running(tmp_path_factory.mktemp("versitygw"), (BUCKET,)) as srv:
        yield srv


@pytest.fixture
def creds(server: s3_testserver.S3TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    for name in ("BUCKET", "PREFIX", "ENDPOINT_URL", "CA_BUNDLE", "RETENTION_DAYS"):
        monkeypatch.delenv(f"SOC2AUDIT_EVIDENCE_ANCHOR_S3_{name}", raising=False)


def store(server: s3_testserver.S3TestServer, prefix: str) -> S3AnchorStore:
    return server.anchor_store(BUCKET, prefix)


def trail(tmp: Path) -> Path:
    """Evidence on 2026-11-02 (closed by 01:05 the next day) and on 2026-11-03 (open)."""
    evidence, key = tmp / "evidence", tmp / "secret" / "key.pem"
    keygen(key, evidence)
    for hours in (0, 1, 4):
        moment = T0 + dt.timedelta(hours=hours)
        append_evidence(evidence, [{"check_id": "PKI-01", "n": hours}], moment)
        write_due_digests(evidence, key, Settings(policy_sha256="0" * 64), moment)
    return evidence


def s3_args(server: s3_testserver.S3TestServer, prefix: str) -> list[str]:
    return ["--anchor-s3", f"s3://{BUCKET}/{prefix}", "--s3-endpoint-url", server.url,
            "--s3-ca-bundle", str(server.ca)]  # fmt: skip


def test_upload_copies_closed_files_once_locked_in_compliance(
    server: s3_testserver.S3TestServer, tmp_path: Path
) -> None:
    evidence, where = trail(tmp_path), store(server, "once")
    now = T0 + dt.timedelta(hours=4)
    closed = evidence_store.closed_files(evidence, now)
    assert [rel for rel, _, _ in closed] == ["results-2026-11-02.jsonl"]
    done = evidence_store.upload(evidence, where, now)
    assert [e["url"] for e in done.written] == [
        f"s3://{BUCKET}/once/files/results-2026-11-02.jsonl"
    ]
    assert done.skipped == [] and done.conflicts == []
    entry = done.written[0]
    retention = server.client.get_object_retention(
        Bucket=BUCKET, Key=entry["key"], VersionId=entry["version_id"]
    )["Retention"]
    assert retention["Mode"] == "COMPLIANCE"
    assert retention["RetainUntilDate"] >= now + dt.timedelta(days=366, minutes=-5)
    body = server.client.get_object(Bucket=BUCKET, Key=entry["key"])
    data = (evidence / "results-2026-11-02.jsonl").read_bytes()
    assert body["Body"].read() == data
    assert body["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()

    # A second run: nothing written, the copy is recognised.
    again = evidence_store.upload(evidence, where, now)
    assert again.written == [] and again.skipped == [entry["url"]] and again.conflicts == []

    # The store's administrator cannot remove the locked copy either.
    with pytest.raises(ClientError) as denied:
        server.client.delete_object(Bucket=BUCKET, Key=entry["key"], VersionId=entry["version_id"])
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_a_different_object_at_the_key_is_refused_not_overwritten(
    server: s3_testserver.S3TestServer,
    tmp_path: Path,
    creds: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    evidence = trail(tmp_path)
    key = "clash/files/results-2026-11-02.jsonl"
    server.client.put_object(Bucket=BUCKET, Key=key, Body=b"not the evidence\n")
    argv = ["evidence", "upload", "--evidence-dir", str(evidence), "--now",
            "2026-11-03T01:10:00Z", *s3_args(server, "clash")]  # fmt: skip
    assert cli.main(argv) == EXIT_EVIDENCE_STORE_CONFLICT
    err = capsys.readouterr().err
    assert "conflict: results-2026-11-02.jsonl" in err and "not overwritten" in err
    assert server.client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"not the evidence\n"
    # No store named anywhere: a usage error; the store unreachable: exit 3.
    assert cli.main(argv[:6]) == EXIT_USAGE
    unreachable = [*argv[:6], "--anchor-s3", f"s3://{BUCKET}/x", "--s3-endpoint-url",
                   "https://127.0.0.1:9"]  # fmt: skip
    assert cli.main(unreachable) == EXIT_RUN_FAILED


def test_prune_removes_a_file_only_once_its_locked_copy_is_in_the_store(
    server: s3_testserver.S3TestServer,
    tmp_path: Path,
    creds: None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evidence = trail(tmp_path)
    anchor = tmp_path / "anchor.json"
    write_anchor(evidence, anchor)
    day_file = evidence / "results-2026-11-02.jsonl"
    prune = ["evidence", "prune", "--evidence-dir", str(evidence), "--before", "2026-11-03",
             "--retention-days", "1", "--now", "2026-11-04T12:00:00Z",
             "--anchor", str(anchor)]  # fmt: skip

    # Without S3 settings: today's rules, and the output says the copy was not checked.
    assert cli.main([*prune, "--dry-run"]) == EXIT_OK
    assert "copies in the write-once store were not checked" in capsys.readouterr().out

    # With the store (configured in the environment, as the digest timer's file does): refused.
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_BUCKET", BUCKET)
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_PREFIX", "prune")
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_ENDPOINT_URL", server.url)
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_CA_BUNDLE", str(server.ca))
    assert cli.main(prune) == EXIT_EVIDENCE_PRUNE_REFUSED
    assert "results-2026-11-02.jsonl: no copy at s3://soc2-evidence/prune/files/" in (
        capsys.readouterr().err
    )
    assert day_file.exists()

    upload = ["evidence", "upload", "--evidence-dir", str(evidence), "--now",
              "2026-11-04T12:00:00Z"]  # fmt: skip
    assert cli.main(upload) == EXIT_OK
    # Both days have ended by now and are digested: both copied.
    assert "2 file(s) copied, 0 already there, 0 conflict(s)" in capsys.readouterr().out
    assert cli.main(prune) == EXIT_OK
    out = capsys.readouterr().out
    assert "removed results-2026-11-02.jsonl" in out
    assert "locked copy under s3://soc2-evidence/prune/files/" in out
    assert not day_file.exists()
    pruned = (evidence / "pruned-2026-11-04.jsonl").read_text()
    assert '"copy": "s3://soc2-evidence/prune/files/"' in pruned.replace('":"', '": "')


def test_prune_refuses_a_copy_with_other_bytes(
    server: s3_testserver.S3TestServer, tmp_path: Path
) -> None:
    from soc2audit.prune import PruneRefused, plan

    evidence, where = trail(tmp_path), store(server, "other")
    write_anchor(evidence, tmp_path / "anchor.json")
    body = b"other bytes\n"
    server.client.put_object(
        Bucket=BUCKET,
        Key="other/files/results-2026-11-02.jsonl",
        Body=body,
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=dt.datetime.now(dt.UTC) + dt.timedelta(days=1),
        Metadata={"sha256": hashlib.sha256(body).hexdigest()},
    )
    now = dt.datetime(2026, 11, 4, 12, tzinfo=dt.UTC)
    with pytest.raises(PruneRefused, match="has SHA-256"):
        plan(
            evidence,
            dt.date(2026, 11, 3),
            [tmp_path / "anchor.json"],
            1,
            now,
            evidence_store.StoredCopies(where, now),
        )
