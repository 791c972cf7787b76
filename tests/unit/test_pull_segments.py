# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pull mode's signed segments (soc2audit/pull.py) against the real versitygw on loopback
(soc2audit/s3_testserver.py), not a mock: a shipped segment is a COMPLIANCE-locked version that
``evidence pull-verify`` accepts with the host's public key; a segment edited after signing, one
without a signature, one signed by another key, a host without a key, a stale host and a host
with no segment at all are each reported as the failure they are, with the exit status."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from soc2audit import cli, pull, s3_testserver
from soc2audit.chain import canonical, public_pem, sha256_hex
from soc2audit.exitcodes import (
    EXIT_EVIDENCE_CHAIN,
    EXIT_EVIDENCE_SIGNATURE,
    EXIT_OK,
)

BUCKET = "soc2-evidence"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
RESULTS = {"started": "2026-12-07T07:00:00Z", "checks": [{"check_id": "SSH-01", "result": "pass"}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[s3_testserver.S3TestServer]:
    with s3_testserver.running(tmp_path_factory.mktemp("versitygw"), (BUCKET,)) as srv:
        yield srv


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI takes credentials from boto3's chain, as on the control node."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_testserver.ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_testserver.SECRET)


def _keys(tmp: Path, *hosts: str) -> dict[str, Ed25519PrivateKey]:
    keys = {h: Ed25519PrivateKey.generate() for h in hosts}
    (tmp / "keys").mkdir(exist_ok=True)
    for host, key in keys.items():
        (tmp / "keys" / f"{host}.pem").write_bytes(public_pem(key.public_key()))
    return keys


def _verify(server: s3_testserver.S3TestServer, prefix: str, keys: Path, *extra: str) -> tuple:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(
            ["evidence", "pull-verify", "--store", f"s3://{BUCKET}/{prefix}",
             "--keys-dir", str(keys), "--s3-endpoint-url", server.url,
             "--s3-ca-bundle", str(server.ca), "--json", *extra]
        )  # fmt: skip
    return rc, [json.loads(line) for line in out.getvalue().splitlines()]


def _put_raw(server: s3_testserver.S3TestServer, key: str, body: bytes) -> None:
    """An object written as the store's writer writes (locked, sha256 recorded) with bytes the
    host never signed: what a forger holding write access to the prefix can do."""
    from soc2audit.anchor_s3 import uploader

    uploader().put_locked(
        server.client, BUCKET, key, body, sha256_hex(body),
        dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "application/json",
    )  # fmt: skip


def test_a_shipped_segment_is_locked_and_verifies(
    server: s3_testserver.S3TestServer, tmp_path: Path
) -> None:
    keys = _keys(tmp_path, "edge1")
    store = server.anchor_store(BUCKET, "pull-ok")
    stored = pull.ship(store, keys["edge1"], "edge1", COMMIT, "2026-12-07T07:00:00Z", 0, 0, RESULTS)
    assert stored["key"].startswith("pull-ok/edge1/") and stored["mode"] == "COMPLIANCE"
    retention = server.client.get_object_retention(
        Bucket=BUCKET, Key=stored["key"], VersionId=stored["version_id"]
    )
    assert retention["Retention"]["Mode"] == "COMPLIANCE"
    rc, rows = _verify(server, "pull-ok", tmp_path / "keys")
    assert rc == EXIT_OK, rows
    assert [(r["host"], r["status"]) for r in rows] == [("edge1", "ok")]
    assert rows[0]["commit"] == COMMIT and rows[0]["checks"] == {"pass": 1}


def test_forged_unsigned_unknown_stale_and_missing_fail(
    server: s3_testserver.S3TestServer, tmp_path: Path
) -> None:
    keys = _keys(tmp_path, "edge1", "edge2", "never")
    store = server.anchor_store(BUCKET, "pull-bad")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    # edge2: one good segment, three days old: stale.
    pull.ship(store, keys["edge2"], "edge2", COMMIT, "x", 0, 0, RESULTS, now=long_ago)
    # edge1: a good one, then one edited after signing (a fail turned into a pass).
    good = pull.ship(store, keys["edge1"], "edge1", COMMIT, "x", 0, 0, RESULTS)
    body = server.client.get_object(Bucket=BUCKET, Key=good["key"])["Body"].read()
    edited = body.replace(b'"result":"pass"', b'"result":"fail"')
    assert edited != body
    _put_raw(server, "pull-bad/edge1/20261207T000001Z.json", edited)
    # edge1: no signature at all; and one signed by a key that is not edge1's.
    segment = json.loads(body)["segment"]
    _put_raw(server, "pull-bad/edge1/20261207T000002Z.json", canonical({"segment": segment}))
    other = Ed25519PrivateKey.generate()
    _put_raw(server, "pull-bad/edge1/20261207T000003Z.json", pull.sign(segment, other))
    # a host whose key the control node never collected.
    stranger = Ed25519PrivateKey.generate()
    seg = pull.make_segment("stranger", COMMIT, "x", "2026-12-07T00:00:00Z", 0, 0, None, stranger)
    _put_raw(server, "pull-bad/stranger/20261207T000000Z.json", pull.sign(seg, stranger))

    rc, rows = _verify(server, "pull-bad", tmp_path / "keys")
    got = sorted((r["host"], r["status"], r.get("key", "")[-21:]) for r in rows)
    assert rc == EXIT_EVIDENCE_SIGNATURE, rows
    assert ("edge1", "forged", "20261207T000001Z.json") in got
    assert ("edge1", "unsigned", "20261207T000002Z.json") in got
    assert ("edge1", "forged", "20261207T000003Z.json") in got
    assert ("stranger", "unknown_host", "20261207T000000Z.json") in got
    assert [r["status"] for r in rows if r["host"] == "edge2"] == ["ok", "stale"]
    assert [r["status"] for r in rows if r["host"] == "never"] == ["missing"]
    # The good edge1 segment still verifies: a forgery beside it does not hide it.
    assert [r["status"] for r in rows if r.get("key") == good["key"]] == ["ok"]
    # The signature is over the segment: the edited bytes keep the old one, so it fails.
    envelope = json.loads(edited)
    assert base64.b64decode(envelope["signature"]) and envelope["segment"] != segment


def test_only_stale_and_missing_give_the_chain_status(
    server: s3_testserver.S3TestServer, tmp_path: Path
) -> None:
    keys = _keys(tmp_path, "edge3", "edge4")
    store = server.anchor_store(BUCKET, "pull-stale")
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    pull.ship(store, keys["edge3"], "edge3", COMMIT, "x", 0, 0, RESULTS, now=an_hour_ago)
    rc, rows = _verify(server, "pull-stale", tmp_path / "keys")
    assert rc == EXIT_EVIDENCE_CHAIN, rows
    assert sorted((r["host"], r["status"]) for r in rows) == [("edge3", "ok"), ("edge4", "missing")]
    rc, rows = _verify(server, "pull-stale", tmp_path / "keys", "--max-age-hours", "0.5")
    assert rc == EXIT_EVIDENCE_CHAIN and ("edge3", "stale") in {
        (r["host"], r["status"]) for r in rows
    }


def test_bad_settings_and_names_are_refused(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    with pytest.raises(pull.PullError, match="40-hex"):
        pull.make_segment("edge1", "main", "x", "y", 0, 0, None, key)
    with pytest.raises(pull.PullError, match="host name"):
        pull.make_segment("../etc", COMMIT, "x", "y", 0, 0, None, key)
    with pytest.raises(pull.PullError, match="no bucket"):
        pull.store_from_env({})
    with pytest.raises(pull.PullError, match="endpoint_url"):
        pull.store_from_env(
            {"SOC2AUDIT_PULL_S3_BUCKET": "soc2-ev", "SOC2AUDIT_PULL_S3_ENDPOINT_URL": "http://x"}
        )
    store = pull.store_from_env({"SOC2AUDIT_PULL_S3_BUCKET": "soc2-ev"})
    assert store.prefix == "pull" and pull.object_key(store, "h", "2026-12-07T01:02:03Z") == (
        "pull/h/20261207T010203Z.json"
    )
