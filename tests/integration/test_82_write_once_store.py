# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's write-once store (versitygw with Object Lock on the monitor, playbooks/
lab_s3_store.yml) with the two things that write to it: the aggregator's upload of sealed day
files (LOG-10) and the control node's anchors of the evidence chain (soc2audit/anchor_s3.py).

- A closed day file is uploaded by the role's own units (sealer, then uploader) as a version
  locked in COMPLIANCE mode until at least the review period; the real server refuses to delete
  that version, and an overwrite of its key only adds a newer version: the locked bytes stay.
- LOG-10 fails, alone and on the aggregator only, for a sealed file left without an upload past
  the allowed delay (stale) and for one whose upload record is gone (its object unknown), and
  passes again once the uploader has run.
- A drift run with the chain's key anchors its digest in the store, the digest command anchors
  the next ones, and after the chain's newest digest is cut off `evidence verify --anchor-s3`
  reports the truncation from the bucket (exit status 12).

Clocks are never set: "stale" is a seal whose time (its .sha256's mtime) is put three hours
back, and the chain's later digests use `--now`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, REPO, ansible_playbook, env, get_host, inventory
from test_50_drift import soc2audit_drift

from soc2audit import anchor_s3
from soc2audit.chain import digest_files, keygen
from soc2audit.exitcodes import EXIT_EVIDENCE_ANCHOR, EXIT_OK

STORE = "/srv/soc2audit/logs"
STATE = "/var/lib/soc2audit/log-store/upload-state.json"
REVIEW_DAYS = 365
LAB_VARS = inventory()["all"]["vars"]


def lab_store(prefix: str = "") -> anchor_s3.S3AnchorStore:
    """The control node's view of the lab store (the inventory's settings, .lab credentials)."""
    state = Path(LAB_VARS["soc2_lab_state_dir"])
    return anchor_s3.S3AnchorStore(
        bucket=LAB_VARS["soc2audit_evidence_anchor_s3_bucket"],
        endpoint_url=LAB_VARS["soc2audit_evidence_anchor_s3_endpoint_url"],
        ca_bundle=LAB_VARS["soc2audit_evidence_anchor_s3_ca_bundle"],
        prefix=prefix or "evidence-anchors",
        access_key_id=(state / "s3-access-key").read_text().strip(),
        secret_access_key=(state / "s3-secret-key").read_text().strip(),
    )


def upload_state() -> dict[str, Any]:
    return json.loads(get_host("aggregator").check_output(f"cat {STATE}"))


def not_clean(rows: dict[tuple[str, str], dict[str, Any]]) -> dict[tuple[str, str], str]:
    """Rows that fail (fail, error, at_risk); the testinfra checks are not_run in these runs
    (`--no-testinfra`)."""
    return {
        key: f"{r['result']}: {r['message']}"
        for key, r in rows.items()
        if r["result"] in ("fail", "error", "at_risk")
    }


@pytest.fixture(scope="module")
def sealed_day(converged: dict) -> Iterator[str]:
    """A closed day of edge2 on the aggregator, sealed by the role's sealer (not uploaded yet);
    its path relative to the store. Removed afterwards (its uploaded versions stay locked)."""
    agg = get_host("aggregator")
    day = str(dt.date.today() - dt.timedelta(days=50 + uuid.uuid4().int % 200))
    path = f"{STORE}/edge2/{day}.jsonl"
    agg.check_output(
        f"tail -1 $(ls -1 {STORE}/edge2/*.jsonl | sort | tail -1) > {path}"
        f' && echo \'{{"test_82": "{uuid.uuid4().hex}"}}\' >> {path}'
        f" && touch -d '{day} 12:00' {path} && systemctl start soc2-log-seal.service"
    )
    assert "i" in agg.check_output(f"lsattr {path}.sha256").split()[0]
    try:
        yield f"edge2/{day}.jsonl"
    finally:
        agg.run(f"chattr -i {path} {path}.sha256; rm -f {path} {path}.sha256")


def test_a_closed_day_is_uploaded_locked_and_the_server_refuses_its_deletion(
    sealed_day: str,
) -> None:
    from botocore.exceptions import ClientError

    agg = get_host("aggregator")
    before = dt.datetime.now(dt.UTC)
    # The role's uploader unit, as its timer starts it (oneshot: returns when it has run).
    agg.check_output("systemctl start soc2-log-upload.service")
    record = upload_state()["objects"][sealed_day]
    seal = agg.check_output(f"cut -d' ' -f1 {STORE}/{sealed_day}.sha256")
    assert record["mode"] == "COMPLIANCE" and record["sha256"] == seal
    assert record["key"].startswith("logs/edge2/"), record

    store = lab_store()
    s3 = anchor_s3.client(store)
    key, version = record["key"], record["version_id"]
    retention = s3.get_object_retention(Bucket=store.bucket, Key=key, VersionId=version)
    assert retention["Retention"]["Mode"] == "COMPLIANCE"
    assert retention["Retention"]["RetainUntilDate"] >= before + dt.timedelta(days=REVIEW_DAYS)
    with pytest.raises(ClientError) as denied:
        s3.delete_object(Bucket=store.bucket, Key=key, VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    # An overwrite of the key is a newer version; the locked version keeps its bytes and lock.
    newer = s3.put_object(Bucket=store.bucket, Key=key, Body=b"rewritten history\n")
    assert newer["VersionId"] != version
    body = s3.get_object(Bucket=store.bucket, Key=key, VersionId=version)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == seal
    with pytest.raises(ClientError) as denied:
        s3.delete_object(Bucket=store.bucket, Key=key, VersionId=version)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def _log10(*hosts: str) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
    """One drift run of `hosts` (no testinfra): the aggregator's LOG-10 row, and every row that
    fails."""
    _, _, rows = soc2audit_drift("-l", ",".join(hosts), "--no-testinfra")
    return rows[("aggregator", "LOG-10")], not_clean(rows)


def test_log10_fails_alone_for_a_stale_or_missing_upload_and_passes_after_repair(
    sealed_day: str,
) -> None:
    agg = get_host("aggregator")
    side = f"{STORE}/{sealed_day}.sha256"
    state_backup = agg.check_output(f"base64 -w0 {STATE}")

    def write_state(b64: str) -> None:
        agg.check_output(
            f"echo {b64} | base64 -d > {STATE}.new && chmod 0640 {STATE}.new"
            f" && mv {STATE}.new {STATE}"
        )

    def drop_record() -> None:
        state = upload_state()
        state["objects"].pop(sealed_day, None)
        write_state(base64.b64encode(json.dumps(state).encode()).decode())

    try:
        # Stale: sealed three hours ago (past the 7200 s allowed), never uploaded.
        drop_record()
        agg.check_output(f"chattr -i {side} && touch -d '3 hours ago' {side} && chattr +i {side}")
        row, bad = _log10("aggregator", "monitor")
        assert bad == {("aggregator", "LOG-10"): f"fail: {row['message']}"}, bad
        assert row["observed"]["overdue"] == [sealed_day]
        assert row["message"].startswith(f"{sealed_day}: sealed "), row["message"]
        assert "no upload record" in row["message"]

        # Repaired by the uploader: passes.
        agg.check_output("systemctl start soc2-log-upload.service")
        row, bad = _log10("aggregator", "monitor")
        assert bad == {} and row["result"] == "pass", bad

        # Missing: the closed file's object is no longer recorded (its record removed).
        drop_record()
        row, bad = _log10("aggregator", "monitor")
        assert set(bad) == {("aggregator", "LOG-10")}, bad
        assert row["observed"]["overdue"] == [sealed_day]

        agg.check_output("systemctl start soc2-log-upload.service")
        row, bad = _log10("aggregator", "monitor")
        assert bad == {} and row["result"] == "pass", bad
        assert row["observed"]["uploaded"] >= 1
    finally:
        write_state(state_backup)
        agg.run("systemctl start soc2-log-upload.service")


def test_the_chain_anchored_in_the_store_catches_a_cut_tail(
    converged: dict, tmp_path: Path
) -> None:
    evidence, key = tmp_path / "evidence", tmp_path / "key" / "evidence.pem"
    keygen(key, evidence)
    prefix = f"test-82/{uuid.uuid4().hex[:12]}"
    store = lab_store(prefix)
    # A drift run (the monitor alone, no testinfra) ends with the due digest: anchored.
    extra = {
        "soc2audit_output_dir": str(tmp_path / "out"),
        "soc2audit_evidence_dir": str(evidence),
        "soc2audit_evidence_key": str(key),
        "soc2audit_evidence_digest_interval": 60,
        "soc2audit_evidence_anchor_s3_prefix": prefix,
        "soc2audit_testinfra": False,
    }
    proc = ansible_playbook("playbooks/drift_check.yml", "-l", "monitor", "-e", json.dumps(extra))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "not anchored" not in proc.stdout + proc.stderr, proc.stderr[-3000:]
    listed = anchor_s3.anchored_sequences(anchor_s3.client(store), store)
    assert [seq for seq, _, _ in listed] == [0], listed

    # The digest command (what the digest timer runs, settings from its environment) anchors
    # the digests of the next two minutes (`--now`: no clock is set).
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run_env = env() | {
        "AWS_ACCESS_KEY_ID": store.access_key_id,
        "AWS_SECRET_ACCESS_KEY": store.secret_access_key,
        "SOC2AUDIT_EVIDENCE_ANCHOR_S3_BUCKET": store.bucket,
        "SOC2AUDIT_EVIDENCE_ANCHOR_S3_PREFIX": prefix,
        "SOC2AUDIT_EVIDENCE_ANCHOR_S3_ENDPOINT_URL": store.endpoint_url,
        "SOC2AUDIT_EVIDENCE_ANCHOR_S3_CA_BUNDLE": store.ca_bundle,
    }
    common = ["--evidence-dir", str(evidence), "--now", later]

    def soc2audit(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(BIN / "soc2audit"), "evidence", *args]
        return subprocess.run(cmd, cwd=REPO, env=run_env, text=True, capture_output=True)

    digest = soc2audit("digest", "--key", str(key), "--interval", "60", *common)
    assert digest.returncode == EXIT_OK, digest.stdout + digest.stderr
    assert "anchored digest #" in digest.stdout
    heads = [seq for seq, _, _ in anchor_s3.anchored_sequences(anchor_s3.client(store), store)]
    assert heads[0] == 0 and len(heads) >= 3, heads

    verify = ["verify", *common, "--anchor-s3", "--grace", "600"]
    ok = soc2audit(*verify)
    assert ok.returncode == EXIT_OK, ok.stdout + ok.stderr
    # The tail cut: the newest digest and its signature removed; the bucket still has it.
    newest = digest_files(evidence)[-1]
    newest.unlink()
    newest.with_name(newest.name + ".sig").unlink()
    cut = soc2audit(*verify)
    assert cut.returncode == EXIT_EVIDENCE_ANCHOR, cut.stdout + cut.stderr
    assert "head_behind_anchor" in cut.stdout
    assert f"newest valid anchor s3://{store.bucket}/{prefix}/" in cut.stderr
