# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The signed digest chain (soc2audit/chain.py) and its verifier (soc2audit/chain_verify.py).

Evidence is generated in a temporary directory: six hours of drift-run rows in
``results-*.jsonl`` plus alert notifications in ``alerts-*.jsonl`` (another prefix, as the
Alertmanager receiver writes them), digests written hour by hour with one missed hour (two
digests at once) and one hour without evidence (an empty digest). Each tampering case must be
reported with exactly the expected finding kinds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from soc2audit import chain
from soc2audit.chain import Settings, keygen, rotate_key, write_anchor, write_due_digests
from soc2audit.chain_verify import KINDS, Report, verify, verify_metrics
from soc2audit.evidence import append_evidence
from soc2audit.exitcodes import (
    EXIT_EVIDENCE_ALTERED,
    EXIT_EVIDENCE_CHAIN,
    EXIT_EVIDENCE_NO_CHAIN,
    EXIT_EVIDENCE_SIGNATURE,
    EXIT_EVIDENCE_UNREFERENCED,
    EXIT_OK,
)
from soc2audit.fsutil import iso_utc

T0 = dt.datetime(2026, 11, 2, 0, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
SETTINGS = Settings(policy_sha256="ab" * 32, interval=3600, suite_version="0.1.0")
#: Verification time: the head (ending T0 + 6 h) is not overdue yet.
NOW = T0 + 6 * HOUR + dt.timedelta(minutes=10)


@dataclass
class Trail:
    evidence: Path
    key: Path

    def digests(self) -> list[Path]:
        return chain.digest_files(self.evidence)

    def verify(self, **kwargs: object) -> Report:
        kwargs.setdefault("now", NOW)
        return verify(self.evidence, **kwargs)  # type: ignore[arg-type]


def rows(hour: int, n: int = 3) -> list[dict[str, object]]:
    return [
        {
            "check_id": f"PKI-0{i + 1}",
            "host": "edge1",
            "result": "pass",
            "run_id": f"run-{hour}",
            "started": iso_utc(T0 + hour * HOUR),
        }
        for i in range(n)
    ]


def alert(hour: int) -> list[dict[str, object]]:
    return [{"alertname": "SOC2CheckFailing", "status": "firing", "hour": hour}]


def build(tmp_path: Path, rotate_at: int | None = None) -> Trail:
    """Six hours of evidence and digests; hour 2's digest step is skipped (hours 2 and 3 are
    digested together at 04:05), hour 4 has no evidence (an empty digest)."""
    evidence = tmp_path / "evidence"
    key = tmp_path / "secret" / "evidence.pem"
    keygen(key, evidence)
    for hour in range(6):
        moment = T0 + hour * HOUR + dt.timedelta(minutes=10)
        if hour != 4:
            append_evidence(evidence, rows(hour), moment)
        if hour in (1, 3):
            append_evidence(evidence, alert(hour), moment, prefix="alerts")
        if rotate_at == hour:
            rotate_key(evidence, key, SETTINGS, moment + dt.timedelta(minutes=20))
        if hour != 2:
            write_due_digests(evidence, key, SETTINGS, T0 + (hour + 1) * HOUR + 5 * MIN)
    return Trail(evidence, key)


MIN = dt.timedelta(minutes=1)


@pytest.fixture
def trail(tmp_path: Path) -> Trail:
    return build(tmp_path)


def results_file(trail: Trail) -> Path:
    return trail.evidence / f"results-{T0.date().isoformat()}.jsonl"


def load(path: Path) -> dict[str, object]:
    return json.loads(path.read_bytes())


# --------------------------------------------------------------------------- the clean chain


def test_the_chain_has_one_digest_per_hour_including_the_empty_and_the_missed_one(
    trail: Trail,
) -> None:
    digests = [load(p) for p in trail.digests()]
    assert [d["sequence"] for d in digests] == list(range(6))
    assert [d["interval_start"] for d in digests] == [iso_utc(T0 + h * HOUR) for h in range(6)]
    assert all(d["interval_end"] == iso_utc(T0 + (h + 1) * HOUR) for h, d in enumerate(digests))
    files = [[f["path"] for f in d["files"]] for d in digests]  # type: ignore[union-attr]
    day = T0.date().isoformat()
    # Hour 2's digest was written late with hour 3's: it is empty and hour 3's lists both.
    assert files == [
        [f"results-{day}.jsonl"],
        [f"alerts-{day}.jsonl", f"results-{day}.jsonl"],
        [],
        [f"alerts-{day}.jsonl", f"results-{day}.jsonl"],
        [],
        [f"results-{day}.jsonl"],
    ]
    assert digests[0]["previous_digest"] is None
    assert all(d["policy_sha256"] == SETTINGS.policy_sha256 for d in digests)
    names = [p.relative_to(trail.evidence).as_posix() for p in trail.digests()]
    assert names[0] == "digests/2026/11/02/20261102T000000Z-00000000.json"
    assert names == sorted(names)


def test_ranges_tile_each_file_and_hash_what_they_say(trail: Trail) -> None:
    ends: dict[str, int] = {}
    for path in trail.digests():
        for entry in load(path)["files"]:  # type: ignore[union-attr]
            data = (trail.evidence / entry["path"]).read_bytes()
            assert entry["start"] == ends.get(entry["path"], 0)
            assert (
                entry["range_sha256"]
                == hashlib.sha256(data[entry["start"] : entry["end"]]).hexdigest()
            )
            assert entry["file_sha256"] == hashlib.sha256(data[: entry["end"]]).hexdigest()
            ends[entry["path"]] = entry["end"]
    assert ends[results_file(trail).name] == results_file(trail).stat().st_size


def test_a_clean_chain_verifies(trail: Trail) -> None:
    report = trail.verify()
    assert report.findings == []
    assert report.exit_code == EXIT_OK and report.ok
    assert report.digests == 6 and report.files == 2
    assert report.bytes_hashed == sum(p.stat().st_size for p in trail.evidence.glob("*.jsonl"))


def test_a_clean_chain_across_a_key_rotation_verifies(tmp_path: Path) -> None:
    trail = build(tmp_path, rotate_at=2)
    digests = [load(p) for p in trail.digests()]
    rotation = [d for d in digests if d["reason"] == "rotation"]
    assert len(rotation) == 1
    old, new = rotation[0]["key_fingerprint"], rotation[0]["next_key"]["fingerprint"]  # type: ignore[index]
    assert old != new
    after = digests[digests.index(rotation[0]) + 1 :]
    assert after and all(d["key_fingerprint"] == new for d in after)
    assert {p.stem for p in (trail.evidence / "keys").glob("*.pem")} == {old, new}
    assert not chain.next_key_path(trail.key).exists()
    report = trail.verify()
    assert report.findings == [], [f.text() for f in report.findings]


def test_a_rotation_interrupted_after_its_announcement_is_completed(trail: Trail) -> None:
    state = chain.load_state(trail.evidence)
    assert state.head is not None
    old = chain.load_private_key(trail.key)
    new = Ed25519PrivateKey.generate()
    chain._write_private(chain.next_key_path(trail.key), new)
    chain.export_public(trail.evidence, new.public_key())
    chain._write_one(
        trail.evidence,
        state,
        old,
        SETTINGS,
        state.head.end,
        NOW,
        NOW,
        {},
        reason="rotation",
        next_key=new.public_key(),
    )
    # The process died here, before the new key replaced the old one.
    written = write_due_digests(trail.evidence, trail.key, SETTINGS, NOW + HOUR)
    new_fp = chain.fingerprint(new.public_key())
    assert [d.data["key_fingerprint"] for d in written] == [new_fp]
    assert chain.fingerprint(chain.load_private_key(trail.key).public_key()) == new_fp
    assert not chain.next_key_path(trail.key).exists()
    assert trail.verify(now=NOW + HOUR).findings == []


def test_a_new_key_that_was_not_announced_is_rejected(trail: Trail) -> None:
    head = trail.digests()[-1]
    rogue = Ed25519PrivateKey.generate()
    chain.export_public(trail.evidence, rogue.public_key())  # even with its key exported
    resign(head, rogue)
    assert trail.verify().kinds() == {"unannounced_key"}


def test_digest_and_verify_are_idempotent_within_an_interval(trail: Trail) -> None:
    assert write_due_digests(trail.evidence, trail.key, SETTINGS, NOW) == []
    assert len(trail.digests()) == 6


def test_the_first_digest_covers_evidence_older_than_the_key(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    append_evidence(evidence, rows(0), T0)
    keygen(tmp_path / "k.pem", evidence)
    written = write_due_digests(evidence, tmp_path / "k.pem", SETTINGS, T0 + 3 * HOUR)
    assert len(written) == 1
    assert written[0].data["interval_start"] == iso_utc(T0 + 2 * HOUR)
    assert [f["path"] for f in written[0].data["files"]] == [f"results-{T0.date()}.jsonl"]
    assert verify(evidence, now=T0 + 3 * HOUR).findings == []


# --------------------------------------------------------------------------- tampering


def resign(path: Path, key: Ed25519PrivateKey, **changes: object) -> None:
    data = load(path)
    data.update(changes, key_fingerprint=chain.fingerprint(key.public_key()))
    raw = chain.canonical(data)
    path.write_bytes(raw)
    path.with_name(path.name + ".sig").write_bytes(key.sign(raw))


def test_a_flipped_byte_is_altered_content_with_its_line(trail: Trail) -> None:
    path = results_file(trail)
    data = bytearray(path.read_bytes())
    lines = data.split(b"\n")
    # Line 8 (hour 2's second row) was digested in hour 3's digest, with hour 3's rows.
    offset = sum(len(line) + 1 for line in lines[:7]) + 5
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    report = trail.verify()
    assert report.kinds() == {"altered_content"}
    (finding,) = report.errors
    assert finding.file == path.name
    assert finding.line == 7  # the range starts at line 7 (hour 2's rows) ...
    assert "lines 7-12" in finding.message  # ... and ends with hour 3's
    assert finding.digest is not None and finding.digest.endswith("T030000Z-00000003.json")
    assert report.exit_code == EXIT_EVIDENCE_ALTERED


def test_a_deleted_digest_is_a_missing_digest(trail: Trail) -> None:
    victim = trail.digests()[2]
    victim.unlink()
    victim.with_name(victim.name + ".sig").unlink()
    report = trail.verify()
    assert report.kinds() == {"missing_digest"}
    assert report.exit_code == EXIT_EVIDENCE_CHAIN


def test_two_swapped_digests_are_reordered(trail: Trail) -> None:
    first, second = trail.digests()[1], trail.digests()[3]
    for suffix in ("", ".sig"):
        a, b = first.with_name(first.name + suffix), second.with_name(second.name + suffix)
        data_a, data_b = a.read_bytes(), b.read_bytes()
        a.write_bytes(data_b)
        b.write_bytes(data_a)
    report = trail.verify()
    assert report.kinds() == {"reordered_digest"}
    assert {f.file for f in report.errors} == {
        p.relative_to(trail.evidence).as_posix() for p in (first, second)
    }


def test_a_truncated_newest_file_is_named_with_the_line_it_now_ends_at(trail: Trail) -> None:
    path = results_file(trail)
    data = path.read_bytes()
    path.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1])  # the last line removed
    report = trail.verify()
    assert report.kinds() == {"truncated_file"}
    (finding,) = report.errors
    assert finding.line == 15  # 15 rows digested (5 hours x 3): line 15 is gone


def test_a_forged_line_after_the_last_digest_is_unreferenced(trail: Trail) -> None:
    path = results_file(trail)
    with path.open("ab") as handle:
        handle.write(b'{"check_id": "PKI-01", "host": "edge1", "result": "pass"}\n')
    report = trail.verify()
    assert report.kinds() == {"unreferenced_bytes"}
    assert report.errors[0].line == 16
    assert report.exit_code == EXIT_EVIDENCE_UNREFERENCED
    # Between digests, monitoring may treat such bytes as pending (info, exit 0) ...
    pending = trail.verify(allow_pending=True)
    assert pending.ok and [f.severity for f in pending.findings] == ["info"]
    # ... but not once the next digest is overdue.
    late = trail.verify(allow_pending=True, now=NOW + 2 * HOUR)
    assert late.kinds() == {"unreferenced_bytes", "missing_digest"}


def test_a_file_no_digest_references_is_named(trail: Trail) -> None:
    (trail.evidence / "sub").mkdir()
    (trail.evidence / "sub" / "backfilled-2026-10-01.jsonl").write_text('{"x": 1}\n')
    report = trail.verify()
    assert report.kinds() == {"unreferenced_file"}
    assert report.errors[0].file == "sub/backfilled-2026-10-01.jsonl"


def test_a_deleted_evidence_file_is_missing(trail: Trail) -> None:
    (trail.evidence / f"alerts-{T0.date()}.jsonl").unlink()
    assert trail.verify().kinds() == {"missing_file"}


def test_a_digest_signed_by_an_unknown_key(trail: Trail) -> None:
    resign(trail.digests()[-1], Ed25519PrivateKey.generate())
    report = trail.verify()
    assert report.kinds() == {"unknown_key"}
    assert report.exit_code == EXIT_EVIDENCE_SIGNATURE


def test_a_middle_digest_forged_with_another_key_does_not_hand_it_the_chain(
    trail: Trail,
) -> None:
    rogue = Ed25519PrivateKey.generate()
    resign(trail.digests()[2], rogue)
    report = trail.verify()
    # The forged digest's key is unknown; its successor no longer links to it; the successor,
    # signed by the key in force, is not an unannounced key change.
    assert report.kinds() == {"unknown_key", "broken_link"}
    chain.export_public(trail.evidence, rogue.public_key())
    assert trail.verify().kinds() == {"unannounced_key", "broken_link"}


def test_trusted_keys_pin_the_first_key(trail: Trail, tmp_path: Path) -> None:
    (own,) = (trail.evidence / "keys").glob("*.pem")
    assert trail.verify(trusted_keys=[own]).findings == []
    other = tmp_path / "other.pem"
    other.write_bytes(chain.public_pem(Ed25519PrivateKey.generate().public_key()))
    assert trail.verify(trusted_keys=[other]).kinds() == {"unknown_key"}


def test_a_rotation_announced_by_a_key_not_in_force_is_not_accepted(tmp_path: Path) -> None:
    trail = build(tmp_path, rotate_at=2)
    digests = trail.digests()
    rotation = next(p for p in digests if load(p)["reason"] == "rotation")
    rogue = Ed25519PrivateKey.generate()
    chain.export_public(trail.evidence, rogue.public_key())
    # The rogue key re-signs the announcement (so it also breaks the next link).
    resign(rotation, rogue)
    kinds = trail.verify().kinds()
    assert kinds == {"unannounced_key", "broken_link"}
    unannounced = [f for f in trail.verify().errors if f.kind == "unannounced_key"]
    # The rotation digest itself and every later one (signed by the never-accepted new key).
    assert len(unannounced) == len(digests) - digests.index(rotation)


@pytest.mark.parametrize("index", [2, -1])
def test_a_bad_signature(trail: Trail, index: int) -> None:
    sig = trail.digests()[index].with_name(trail.digests()[index].name + ".sig")
    data = bytearray(sig.read_bytes())
    data[10] ^= 0x80
    sig.write_bytes(bytes(data))
    report = trail.verify()
    assert report.kinds() == {"bad_signature"}
    assert report.errors[0].file == trail.digests()[index].relative_to(trail.evidence).as_posix()


def test_an_edited_digest_fails_its_signature_and_its_successor_link(trail: Trail) -> None:
    path = trail.digests()[1]
    data = load(path)
    data["files"] = []  # hide what hour 1 appended
    path.write_bytes(chain.canonical(data))
    assert trail.verify().kinds() == {"bad_signature", "broken_link"}


def test_a_digest_rewritten_by_the_key_holder_breaks_the_next_link(trail: Trail) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(trail.key.read_bytes(), None)
    assert isinstance(key, Ed25519PrivateKey)
    resign(trail.digests()[1], key, observed_at=iso_utc(T0 + 2 * HOUR))
    assert trail.verify().kinds() == {"broken_link"}


def test_an_overdue_chain_head_is_a_missing_digest(trail: Trail) -> None:
    report = trail.verify(now=T0 + 9 * HOUR)
    assert report.kinds() == {"missing_digest"}
    assert (
        "2 interval(s)" in report.errors[0].message or "3 interval(s)" in report.errors[0].message
    )


def test_a_digest_not_in_canonical_form_is_malformed(trail: Trail) -> None:
    path = trail.digests()[4]  # hour 4: an empty digest
    original = path.read_bytes()
    path.write_text(json.dumps(load(path), indent=1))
    assert trail.verify().kinds() == {"malformed_digest"}
    path.write_bytes(original)
    # A malformed first digest is not also a chain that starts late or links wrongly.
    first = trail.digests()[0]
    original_first = first.read_bytes()
    first.write_bytes(b"[]")
    assert trail.verify().kinds() == {"malformed_digest"}
    first.write_bytes(original_first)
    # A malformed head: the bytes only it listed are no longer covered by any digest.
    head = trail.digests()[-1]
    head.write_bytes(b"{not json")
    assert trail.verify().kinds() == {"malformed_digest", "unreferenced_bytes"}


# --------------------------------------------------------------------------- anchors


def test_the_tail_cut_off_below_the_anchor_is_detected(trail: Trail, tmp_path: Path) -> None:
    anchor = tmp_path / "worm" / "anchor.json"
    record = write_anchor(trail.evidence, anchor)
    assert record["sequence"] == 5
    assert trail.verify(anchor=anchor).findings == []
    head = trail.digests()[-1]
    head.unlink()
    head.with_name(head.name + ".sig").unlink()
    # Without the anchor only the bytes the removed digest listed stand out; with it, the cut.
    assert trail.verify().kinds() == {"unreferenced_bytes"}
    assert trail.verify(anchor=anchor).kinds() == {"head_behind_anchor", "unreferenced_bytes"}
    # The attacker also truncates the file back: only the anchor still tells.
    path = results_file(trail)
    last_end = max(
        e["end"]
        for p in trail.digests()
        for e in load(p)["files"]
        if e["path"] == path.name  # type: ignore[union-attr]
    )
    path.write_bytes(path.read_bytes()[:last_end])
    assert trail.verify().findings == []
    assert trail.verify(anchor=anchor).kinds() == {"head_behind_anchor"}


def test_an_anchored_digest_that_changed(trail: Trail, tmp_path: Path) -> None:
    anchor = tmp_path / "anchor.json"
    write_anchor(trail.evidence, anchor)
    record = load(anchor)
    record["sha256"] = "0" * 64
    anchor.write_bytes(chain.canonical(record))
    assert trail.verify(anchor=anchor).kinds() == {"anchor_mismatch"}


# --------------------------------------------------------------------------- writer safety


def test_the_writer_refuses_to_extend_a_chain_over_changed_evidence(trail: Trail) -> None:
    path = results_file(trail)
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))
    append_evidence(trail.evidence, rows(7), NOW)
    with pytest.raises(chain.ChainError, match="no longer match"):
        write_due_digests(trail.evidence, trail.key, SETTINGS, NOW + HOUR)
    assert len(trail.digests()) == 6


def test_keys_are_private_and_never_replaced(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "k.pem"
    fp, public = keygen(key, tmp_path / "evidence")
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.parent.stat().st_mode & 0o777 == 0o700
    assert public == tmp_path / "evidence" / "keys" / f"{fp}.pem"
    with pytest.raises(chain.ChainError, match="refusing"):
        keygen(key, tmp_path / "evidence")


def test_no_digest_yet_is_its_own_outcome(tmp_path: Path) -> None:
    report = verify(tmp_path)
    assert report.exit_code == EXIT_EVIDENCE_NO_CHAIN


def test_every_finding_kind_has_an_exit_status() -> None:
    assert set(KINDS.values()) <= set(range(10, 15))


# --------------------------------------------------------------------------- by hand


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_openssl_and_sha256sum_reverify_a_digest_by_hand(trail: Trail) -> None:
    first, second = trail.digests()[0], trail.digests()[1]
    data = load(first)
    fp = str(data["key_fingerprint"])
    pem = trail.evidence / "keys" / f"{fp}.pem"

    def sh(cmd: str) -> str:
        return subprocess.run(
            cmd, shell=True, check=True, capture_output=True, text=True, cwd=trail.evidence
        ).stdout

    out = sh(f"openssl pkeyutl -verify -pubin -inkey {pem} -rawin -in {first} -sigfile {first}.sig")
    assert "Signature Verified Successfully" in out
    assert sh(f"openssl pkey -pubin -in {pem} -outform DER | sha256sum").split()[0] == fp
    link = load(second)["previous_digest"]
    assert sh(f"sha256sum {first}").split()[0] == link["sha256"]  # type: ignore[index]
    assert sh(f"xxd -p -c 256 {first}.sig").strip() == link["signature"]  # type: ignore[index]
    entry = data["files"][0]  # type: ignore[index]
    got = sh(f"head -c {entry['end']} {entry['path']} | sha256sum").split()[0]
    assert got == entry["file_sha256"]
    # A changed byte makes openssl refuse too.
    tampered = trail.evidence / "tampered.json"
    tampered.write_bytes(first.read_bytes().replace(b'"sequence":0', b'"sequence":9'))
    proc = subprocess.run(
        f"openssl pkeyutl -verify -pubin -inkey {pem} -rawin -in {tampered} -sigfile {first}.sig",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0


# --------------------------------------------------------------------------- windows, metrics


def test_a_window_reads_only_the_files_its_digests_reference(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    key = tmp_path / "k.pem"
    keygen(key, evidence)
    for day in range(3):
        moment = T0 + dt.timedelta(days=day, hours=1)
        append_evidence(evidence, rows(day), moment)
        write_due_digests(evidence, key, SETTINGS, moment + HOUR)
    write_due_digests(evidence, key, SETTINGS, T0 + dt.timedelta(days=3))
    first_day = evidence / f"results-{T0.date()}.jsonl"
    first_day.write_bytes(first_day.read_bytes().replace(b"PKI-01", b"PKI-09"))
    end = T0 + dt.timedelta(days=3)
    whole = verify(evidence, now=end)
    assert whole.kinds() == {"altered_content"}
    window = verify(evidence, since=T0 + dt.timedelta(days=1), until=end, now=end)
    assert window.findings == [] and window.files == 2
    assert window.bytes_hashed < whole.bytes_hashed


def test_metrics_name_every_kind(trail: Trail) -> None:
    results_file(trail).write_bytes(b"")
    text = verify_metrics(trail.verify())
    assert "soc2audit_evidence_verify_ok 0\n" in text
    assert 'soc2audit_evidence_verify_findings{kind="truncated_file"} 1\n' in text
    assert 'soc2audit_evidence_verify_findings{kind="bad_signature"} 0\n' in text
    assert "soc2audit_evidence_verify_exit_code 11\n" in text
    head_end = int((T0 + 6 * HOUR).timestamp())
    assert f"soc2audit_evidence_verify_head_timestamp_seconds {head_end}\n" in text
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert len(families["soc2audit_evidence_verify_findings"].samples) == len(KINDS)
