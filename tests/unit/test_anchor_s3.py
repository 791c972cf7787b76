# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence chain's anchors in S3 with Object Lock (soc2audit/anchor_s3.py), against the
real versitygw on loopback (soc2audit/s3_testserver.py; built once per machine), not a mock:
what is anchored and when, that each anchor is a COMPLIANCE-locked version nobody deletes, that
``evidence verify --anchor-s3`` takes the newest valid anchor (an overwrite or an unlocked
object hides nothing), and that a chain whose tail was cut is caught from the bucket."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from soc2audit import anchor_s3, cli, s3_testserver
from soc2audit.anchor_s3 import AnchorError, S3AnchorStore, from_mapping
from soc2audit.chain import Settings, digest_files, keygen, load_state, write_due_digests
from soc2audit.evidence import append_evidence
from soc2audit.exitcodes import EXIT_EVIDENCE_ANCHOR, EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE

BUCKET = "soc2-evidence"
T0 = dt.datetime(2026, 11, 2, 21, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3_testserver.S3TestServer]:
    with s3_testserver.running(tmp_path_factory.mktemp("versitygw"), (BUCKET,)) as srv:
        yield srv


def store(server: s3_testserver.S3TestServer, prefix: str, **extra: object) -> S3AnchorStore:
    return server.anchor_store(BUCKET, prefix, **extra)


class Chain:
    """An evidence trail with a key; ``step(hours)`` appends a row and writes the due digests
    as the drift run's digest step does, that many hours after T0."""

    def __init__(self, tmp: Path) -> None:
        self.evidence, self.key = tmp / "evidence", tmp / "secret" / "key.pem"
        keygen(self.key, self.evidence)

    def step(self, hours: float) -> list:
        moment = T0 + dt.timedelta(hours=hours)
        append_evidence(self.evidence, [{"check_id": "PKI-01", "n": hours}], moment.isoformat())
        return write_due_digests(self.evidence, self.key, Settings(policy_sha256="0" * 64), moment)


def test_settings_fail_clearly_before_anything_is_written() -> None:
    assert from_mapping({}) is None and from_mapping({"bucket": ""}) is None
    good = from_mapping({"bucket": "soc2-evidence", "endpoint_url": "https://s3.example:7070"})
    assert good is not None and good.retention_days == 366 and good.every == "digest"
    assert "secret" not in repr(S3AnchorStore(bucket="b-b", secret_access_key="secret"))
    cases = {
        "Bad_Bucket": {"bucket": "Bad_Bucket"},
        "http:// only to loopback": {"bucket": "soc2-ev", "endpoint_url": "http://s3.example"},
        "shorter than the evidence retention": {"bucket": "soc2-ev", "retention_days": 30},
        "every 'hour'": {"bucket": "soc2-ev", "every": "hour"},
        "unknown S3 anchor setting(s): buckt": {"bucket": "soc2-ev", "buckt": "x"},
        "both access_key_id and secret_access_key": {"bucket": "soc2-ev", "access_key_id": "a"},
    }
    for message, values in cases.items():
        with pytest.raises(AnchorError, match=message.replace("(", r"\(").replace(")", r"\)")):
            from_mapping(values)
    # The retention the evidence is kept for sets the floor.
    with pytest.raises(AnchorError, match="400 days"):
        from_mapping({"bucket": "soc2-ev"}, {"SOC2AUDIT_EVIDENCE_RETENTION_DAYS": "400"})


def test_each_digest_is_anchored_once_locked_in_compliance(
    server: s3_testserver.S3TestServer, tmp_path: Path
) -> None:
    chain, where = Chain(tmp_path), store(server, "each")
    before = dt.datetime.now(dt.UTC)
    first = anchor_s3.anchor_digests(chain.evidence, chain.step(0), where)
    assert [a["sequence"] for a in first] == [0]
    # Three hours later: the three digests that became due, each anchored, oldest first.
    done = anchor_s3.anchor_digests(chain.evidence, chain.step(3), where)
    assert [a["sequence"] for a in done] == [1, 2, 3]
    assert done[-1]["url"] == f"s3://{BUCKET}/each/000000000003-20261103T000000Z.json"
    # Nothing new: nothing written (the newest anchor is the head).
    assert anchor_s3.anchor_digests(chain.evidence, [], where) == []

    client = server.client
    key, version = done[-1]["key"], done[-1]["version_id"]
    retention = client.get_object_retention(Bucket=BUCKET, Key=key, VersionId=version)
    assert retention["Retention"]["Mode"] == "COMPLIANCE"
    assert retention["Retention"]["RetainUntilDate"] >= before + dt.timedelta(days=366, minutes=-5)
    body = client.get_object(Bucket=BUCKET, Key=key, VersionId=version)["Body"].read()
    head = load_state(chain.evidence).head
    assert head is not None
    assert json.loads(body) == {
        "format": "soc2audit-evidence-anchor/1",
        "path": head.rel,
        "sequence": 3,
        "interval_end": "2026-11-03T00:00:00Z",
        "sha256": head.sha256,
        "signature": (head.signature or b"").hex(),
    }
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as denied:
        client.delete_object(Bucket=BUCKET, Key=key, VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_day_mode_anchors_the_digest_that_closes_the_day_and_catches_up(
    server: s3_testserver.S3TestServer, tmp_path: Path
) -> None:
    chain, where = Chain(tmp_path), store(server, "daily", every="day")
    # Nothing anchored yet: the head is, whatever its hour (a first anchor, or catching up).
    assert [a["sequence"] for a in anchor_s3.anchor_digests(chain.evidence, chain.step(0), where)]
    assert anchor_s3.anchor_digests(chain.evidence, chain.step(1), where) == []
    # 23:05 -> the 23:00-00:00 digest closes 2026-11-02 and is anchored; 01:05 -> not.
    closing = anchor_s3.anchor_digests(chain.evidence, chain.step(3), where)
    assert [a["url"].rsplit("-", 1)[1] for a in closing] == ["20261103T000000Z.json"]
    assert anchor_s3.anchor_digests(chain.evidence, chain.step(4), where) == []


def test_verify_takes_the_newest_valid_anchor_and_catches_a_cut_tail(
    server: s3_testserver.S3TestServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chain, where = Chain(tmp_path), store(server, "cut")
    anchor_s3.anchor_digests(chain.evidence, chain.step(0), where)
    anchor_s3.anchor_digests(chain.evidence, chain.step(2), where)
    # Someone with the bucket's credentials overwrites the newest anchor's key (unlocked) and
    # adds an unlocked "anchor" far ahead: neither counts, nor hides the locked version.
    newest = anchor_s3.anchored_sequences(server.client, where)[-1][1]
    server.client.put_object(Bucket=BUCKET, Key=newest, Body=b"{}")
    fake = b'{"format":"soc2audit-evidence-anchor/1","sequence":99}'
    server.client.put_object(
        Bucket=BUCKET,
        Key="cut/000000000099-20261201T000000Z.json",
        Body=fake,
        Metadata={"sha256": hashlib.sha256(fake).hexdigest()},
    )
    record, notes = anchor_s3.newest_valid(where)
    assert record is not None and record["sequence"] == 2, notes
    assert any("000000000099" in n and "not locked" in n for n in notes), notes

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    argv = ["evidence", "verify", "--evidence-dir", str(chain.evidence), "--now",
            "2026-11-02T23:10:00Z", "--anchor-s3", f"s3://{BUCKET}/cut",
            "--s3-endpoint-url", server.url, "--s3-ca-bundle", str(server.ca)]  # fmt: skip
    assert cli.main(argv) == EXIT_OK
    assert "newest valid anchor s3://soc2-evidence/cut/000000000002-" in capsys.readouterr().err

    # The tail cut: the newest digest and its signature removed. The bucket still says #2.
    for path in digest_files(chain.evidence)[-1:]:
        path.unlink()
        path.with_name(path.name + ".sig").unlink()
    assert cli.main(argv) == EXIT_EVIDENCE_ANCHOR
    assert "head_behind_anchor" in capsys.readouterr().out

    # Settings from the environment (what the digest timer's EnvironmentFile holds).
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_BUCKET", BUCKET)
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_PREFIX", "cut")
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_ENDPOINT_URL", server.url)
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_CA_BUNDLE", str(server.ca))
    assert cli.main([*argv[:6], "--anchor-s3"]) == EXIT_EVIDENCE_ANCHOR
    assert cli.main([*argv[:6], "--anchor-s3", "--anchor", str(tmp_path / "a.json")]) == (
        EXIT_USAGE
    )


def test_the_digest_command_anchors_from_the_environment(
    server: s3_testserver.S3TestServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chain = Chain(tmp_path)
    append_evidence(chain.evidence, [{"check_id": "PKI-01"}], T0.isoformat())
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", server.secret_key)
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_BUCKET", BUCKET)
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_PREFIX", "timer")
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_ENDPOINT_URL", server.url)
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_CA_BUNDLE", str(server.ca))
    base = ["evidence", "digest", "--evidence-dir", str(chain.evidence), "--key", str(chain.key)]
    assert cli.main([*base, "--now", "2026-11-02T21:05:00Z"]) == EXIT_OK
    assert "anchored digest #0 as s3://soc2-evidence/timer/000000000000-" in capsys.readouterr().out
    # The store unreachable: the digest is written, the command says it is not anchored.
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_ENDPOINT_URL", "https://127.0.0.1:9")
    assert cli.main([*base, "--now", "2026-11-02T22:05:00Z"]) == EXIT_RUN_FAILED
    assert "digests written, not anchored" in capsys.readouterr().err
    assert load_state(chain.evidence).head.sequence == 1  # type: ignore[union-attr]
    # Back: the next step catches up with the head.
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_ANCHOR_S3_ENDPOINT_URL", server.url)
    assert cli.main([*base, "--now", "2026-11-02T22:10:00Z"]) == EXIT_OK
    assert "anchored digest #1" in capsys.readouterr().out


def test_the_lab_bucket_is_created_once_with_object_lock(
    server: s3_testserver.S3TestServer,
) -> None:
    where = S3AnchorStore(
        bucket="lab-bucket-once",
        endpoint_url=server.url,
        ca_bundle=str(server.ca),
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
    )
    assert anchor_s3.ensure_bucket(where) is True
    assert anchor_s3.ensure_bucket(where) is False
    server.client.create_bucket(Bucket="no-lock-bucket")
    with pytest.raises(AnchorError, match="no-lock-bucket has no Object Lock"):
        anchor_s3.ensure_bucket(S3AnchorStore(**{**where.__dict__, "bucket": "no-lock-bucket"}))
