# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""RFC 3161 timestamps of the digests (soc2audit/timestamp.py) against a local TSA: real
``openssl ts -reply`` on 127.0.0.1 (tests/unit/local_tsa.py), tokens checked with ``openssl
ts -verify``. Writing (every digest, each day's last), a TSA outage and the retry, and each
way a token can be wrong in ``evidence verify``: missing, replaced by another digest's,
issued by another TSA, digest altered after it was stamped."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_tsa import LABEL, LocalTsa

from soc2audit import cli
from soc2audit.chain import Settings, digest_files, keygen, write_due_digests
from soc2audit.chain_verify import verify
from soc2audit.evidence import append_evidence
from soc2audit.exitcodes import EXIT_EVIDENCE_ANCHOR, EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE
from soc2audit.fsutil import iso_utc, parse_moment
from soc2audit.timestamp import (
    Tsa,
    exported_cas,
    needs_token,
    stamp_missing,
    token_path,
    tsa_from,
)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

T0 = dt.datetime(2026, 11, 2, 20, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalTsa]:
    server = LocalTsa(tmp_path_factory.mktemp("tsa")).start()
    print(f"\nusing {LABEL} at {server.url}")
    yield server
    server.stop()


def chain_with_tokens(
    tmp_path: Path, tsa: LocalTsa, policy: str = "every", hours: int = 3
) -> tuple[Path, Path]:
    evidence, key = tmp_path / "evidence", tmp_path / "secret" / "k.pem"
    keygen(key, evidence)
    settings = Settings(policy_sha256="ab" * 32, timestamp_policy=policy)
    config = Tsa(tsa.url, tsa.ca, policy)
    for hour in range(hours):
        moment = T0 + hour * HOUR
        append_evidence(evidence, [{"check_id": "PKI-01", "hour": hour}], moment)
        write_due_digests(evidence, key, settings, moment + HOUR + dt.timedelta(minutes=5))
        assert stamp_missing(evidence, config).failed == []
    return evidence, key


def at(hours: int) -> dt.datetime:
    return T0 + hours * HOUR + dt.timedelta(minutes=10)


def test_every_digest_gets_a_token_that_openssl_verifies(tmp_path: Path, tsa: LocalTsa) -> None:
    evidence, _ = chain_with_tokens(tmp_path, tsa)
    digests = digest_files(evidence)
    assert len(digests) == 3 and all(token_path(d).is_file() for d in digests)
    assert all(json.loads(d.read_bytes())["timestamp_policy"] == "every" for d in digests)
    # What an auditor runs by hand, with the CA the TSA publishes.
    for digest in digests:
        proc = subprocess.run(
            ["openssl", "ts", "-verify", "-data", str(digest), "-in", str(token_path(digest)),
             "-CAfile", str(tsa.ca)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 0 and "Verification: OK" in proc.stdout, proc.stderr
    report = verify(evidence, now=at(3), tsa_ca=[tsa.ca])
    assert report.ok and report.timestamps == 3, [f.text() for f in report.findings]
    # The CA went out with the evidence; verify uses that copy when given none.
    assert [p.read_bytes() for p in exported_cas(evidence)] == [tsa.ca.read_bytes()]
    assert verify(evidence, now=at(3)).ok


def test_daily_policy_stamps_the_digest_that_closes_each_day(tmp_path: Path, tsa: LocalTsa) -> None:
    evidence, _ = chain_with_tokens(tmp_path, tsa, policy="daily", hours=6)
    stamped = [d.name for d in digest_files(evidence) if token_path(d).is_file()]
    # Hours 20:00-02:00: the digest of 23:00-00:00 closes 2026-11-02.
    assert stamped == ["20261102T230000Z-00000003.json"]
    report = verify(evidence, now=at(6), tsa_ca=[tsa.ca])
    assert report.ok and report.timestamps == 1
    assert needs_token(
        {"timestamp_policy": "daily", "interval_start": "2026-11-02T23:30:00Z",
         "interval_end": "2026-11-03T02:00:00Z"}
    )  # fmt: skip
    assert not needs_token(
        {"timestamp_policy": "daily", "interval_start": "2026-11-03T00:00:00Z",
         "interval_end": "2026-11-03T01:00:00Z"}
    )  # fmt: skip
    assert not needs_token({"interval_start": "x", "interval_end": "y"})


def test_each_bad_token_is_a_finding_with_exit_12(tmp_path: Path, tsa: LocalTsa) -> None:
    evidence, _ = chain_with_tokens(tmp_path, tsa)
    first, second, third = digest_files(evidence)
    # A token deleted: missing_timestamp (the signed policy says there must be one).
    token_path(third).unlink()
    # Another digest's token in its place: the imprint does not match.
    shutil.copy(token_path(first), token_path(second))
    report = verify(evidence, now=at(3), tsa_ca=[tsa.ca])
    assert report.exit_code == EXIT_EVIDENCE_ANCHOR
    found = {(f.kind, f.file) for f in report.errors}
    assert found == {
        ("missing_timestamp", third.relative_to(evidence).as_posix()),
        ("bad_timestamp", second.relative_to(evidence).as_posix()),
    }
    assert "message imprint mismatch" in next(
        f.message for f in report.errors if f.kind == "bad_timestamp"
    )


def test_a_token_from_another_tsa_is_bad(tmp_path: Path, tsa: LocalTsa) -> None:
    evidence, _ = chain_with_tokens(tmp_path, tsa, hours=1)
    other = LocalTsa(tmp_path / "other", "rogue TSA").start()
    try:
        (digest,) = digest_files(evidence)
        token_path(digest).unlink()
        assert stamp_missing(evidence, Tsa(other.url, other.ca)).written
    finally:
        other.stop()
    report = verify(evidence, now=at(1), tsa_ca=[tsa.ca])
    assert [f.kind for f in report.errors] == ["bad_timestamp"]
    # Checked against the rogue TSA's own CA it verifies: the trusted CA is the auditor's choice.
    assert verify(evidence, now=at(1), tsa_ca=[other.ca]).ok


def test_a_tsa_outage_leaves_the_digest_and_the_next_step_fills_the_token_in(
    tmp_path: Path, tsa: LocalTsa, capsys: pytest.CaptureFixture[str]
) -> None:
    evidence, key = tmp_path / "evidence", tmp_path / "secret" / "k.pem"
    base = ["--evidence-dir", str(evidence), "--key", str(key)]
    stamp = ["--tsa-url", tsa.url, "--tsa-ca", str(tsa.ca)]
    assert cli.main(["evidence", "keygen", *base]) == EXIT_OK
    append_evidence(evidence, [{"check_id": "PKI-01"}], T0)
    tsa.down = True
    try:
        code = cli.main(["evidence", "digest", *base, *stamp, "--now", iso_utc(at(1))])
    finally:
        tsa.down = False
    assert code == EXIT_RUN_FAILED
    assert "no RFC 3161 token" in capsys.readouterr().err
    (digest,) = digest_files(evidence)
    assert not token_path(digest).exists()
    assert [f.kind for f in verify(evidence, now=at(1)).errors] == ["missing_timestamp"]
    # The TSA is back: the next digest step (no interval ended) asks for the missing token.
    assert cli.main(["evidence", "digest", *base, *stamp, "--now", iso_utc(at(1))]) == EXIT_OK
    assert token_path(digest).is_file()
    assert cli.main(["evidence", "verify", "--evidence-dir", str(evidence), "--tsa-ca",
                     str(tsa.ca), "--now", iso_utc(at(1))]) == EXIT_OK  # fmt: skip


def test_tsa_configuration_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SOC2AUDIT_EVIDENCE_TSA_CA", raising=False)
    base = ["--evidence-dir", str(tmp_path / "e"), "--key", str(tmp_path / "k.pem")]
    code = cli.main(["evidence", "digest", *base, "--tsa-url", "http://127.0.0.1:9/"])
    assert code == EXIT_USAGE and "--tsa-ca" in capsys.readouterr().err
    assert not (tmp_path / "e").exists()
    with pytest.raises(ValueError, match="http"):
        tsa_from("ftp://tsa.invalid/", tmp_path / "k.pem")
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_TSA_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_TSA_CA", str(ca))
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_TSA_POLICY", "daily")
    assert tsa_from(None, None) == Tsa("http://127.0.0.1:9/", ca, "daily")
    monkeypatch.delenv("SOC2AUDIT_EVIDENCE_TSA_URL")
    assert tsa_from(None, None) is None


def test_keygen_exist_ok_keeps_the_key_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["evidence", "keygen", "--evidence-dir", str(tmp_path / "e")]
    base += ["--key", str(tmp_path / "s" / "k.pem"), "--exist-ok", "--json"]
    assert cli.main(base) == EXIT_OK
    first = json.loads(capsys.readouterr().out)
    key_bytes = (tmp_path / "s" / "k.pem").read_bytes()
    shutil.rmtree(tmp_path / "e")
    assert cli.main(base) == EXIT_OK
    second = json.loads(capsys.readouterr().out)
    assert first["changed"] and not second["changed"]
    assert first["fingerprint"] == second["fingerprint"]
    assert (tmp_path / "s" / "k.pem").read_bytes() == key_bytes
    assert Path(second["public_key"]).is_file()  # exported again


def test_one_reading_of_dates_and_times() -> None:
    day = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    assert parse_moment("2026-11-02") == day
    assert parse_moment("2026-11-02", end_of_day=True) == day + dt.timedelta(days=1)
    assert parse_moment(dt.date(2026, 11, 2), end_of_day=True) == day + dt.timedelta(days=1)
    assert parse_moment("2026-11-02T10:00:00Z") == day + 10 * HOUR
    assert parse_moment("2026-11-02T10:00:00Z", end_of_day=True) == day + 10 * HOUR
    with pytest.raises(ValueError):
        parse_moment("2026-13-02")
