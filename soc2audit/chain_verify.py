# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``soc2audit evidence verify``: walk the digest chain and name every problem (docs/evidence.md).

What is checked, in order:

1. each digest file: JSON in the canonical form with the fields of the format (else
   ``malformed_digest``); its name matches its interval start and sequence (else
   ``reordered_digest``);
2. the chain, in sequence order: no sequence or time gap (``missing_digest``, also for a chain
   head that is overdue at ``--to``/now), each digest names its predecessor's SHA-256 and
   signature (``broken_link``), intervals never go backwards (``reordered_digest``);
3. signatures: the key the digest names is known (``unknown_key``: no public key in
   evidence/keys/, no announcement, not trusted), the signature verifies (``bad_signature``), and
   the key is the one in force: the first digest's key, or one announced by the previous key
   (``unannounced_key``);
4. an anchor (``--anchor``): the anchored digest is still in the chain with the same hash
   (``anchor_mismatch``) and the head is not older than it (``head_behind_anchor``); RFC 3161
   tokens: every digest whose ``timestamp_policy`` asks for one has its ``.tsr``
   (``missing_timestamp``) and every token verifies over the digest's bytes against the TSA's
   CA (``bad_timestamp``; soc2audit.timestamp);
5. every evidence file the digests reference: present (``missing_file``), not shorter than
   digested (``truncated_file``), and the SHA-256 of the file up to each digested end, then of
   each range once one fails, match (``altered_content``, with the lines of the range);
6. every ``*.jsonl`` under the evidence directory: referenced by a digest
   (``unreferenced_file``) and no longer than digested (``unreferenced_bytes``).

Each finding names its file (relative to the evidence directory) and, for evidence files, the
line; its kind decides the exit status (soc2audit/exitcodes.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from soc2audit.chain import (
    ANCHOR_FORMAT,
    CHUNK,
    DEFAULT_INTERVAL,
    DIGESTS,
    FORMAT,
    KEYS,
    NAME,
    Digest,
    canonical,
    digest_files,
    digest_name,
    evidence_files,
    fingerprint,
    load_public_pem,
    read_digest,
    verify_signature,
)
from soc2audit.exitcodes import (
    EXIT_EVIDENCE_ALTERED,
    EXIT_EVIDENCE_ANCHOR,
    EXIT_EVIDENCE_CHAIN,
    EXIT_EVIDENCE_NO_CHAIN,
    EXIT_EVIDENCE_SIGNATURE,
    EXIT_EVIDENCE_UNREFERENCED,
    EXIT_OK,
)
from soc2audit.fsutil import iso_utc, parse_utc

#: Finding kind -> the exit status it leads to (the lowest status of the findings wins).
KINDS: dict[str, int] = {
    "bad_signature": EXIT_EVIDENCE_SIGNATURE,
    "unknown_key": EXIT_EVIDENCE_SIGNATURE,
    "unannounced_key": EXIT_EVIDENCE_SIGNATURE,
    "altered_content": EXIT_EVIDENCE_ALTERED,
    "truncated_file": EXIT_EVIDENCE_ALTERED,
    "missing_file": EXIT_EVIDENCE_ALTERED,
    "head_behind_anchor": EXIT_EVIDENCE_ANCHOR,
    "anchor_mismatch": EXIT_EVIDENCE_ANCHOR,
    "missing_timestamp": EXIT_EVIDENCE_ANCHOR,
    "bad_timestamp": EXIT_EVIDENCE_ANCHOR,
    "missing_digest": EXIT_EVIDENCE_CHAIN,
    "reordered_digest": EXIT_EVIDENCE_CHAIN,
    "broken_link": EXIT_EVIDENCE_CHAIN,
    "malformed_digest": EXIT_EVIDENCE_CHAIN,
    "unreferenced_file": EXIT_EVIDENCE_UNREFERENCED,
    "unreferenced_bytes": EXIT_EVIDENCE_UNREFERENCED,
}
#: Seconds after an interval's end within which its digest is not yet overdue (by default).
DEFAULT_GRACE = 900


@dataclass
class Finding:
    kind: str
    file: str
    message: str
    line: int | None = None
    digest: str | None = None
    #: ``error`` counts for the exit status; ``info`` (pending bytes) does not.
    severity: str = "error"

    def text(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        tag = "" if self.severity == "error" else f" ({self.severity})"
        return f"{self.kind}{tag}: {where}: {self.message}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    digests: int = 0
    files: int = 0
    bytes_hashed: int = 0
    #: RFC 3161 tokens found and checked.
    timestamps: int = 0
    head: dict[str, Any] | None = None
    #: Files gone because ``evidence prune`` removed them, as its pruned_file records say.
    pruned: list[str] = field(default_factory=list)
    window: dict[str, str | None] = field(default_factory=dict)
    started: float = 0.0
    duration_seconds: float = 0.0

    def add(self, kind: str, file: str, message: str, **extra: Any) -> None:
        assert kind in KINDS, kind
        self.findings.append(Finding(kind, file, message, **extra))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def exit_code(self) -> int:
        if self.digests == 0:
            return EXIT_EVIDENCE_NO_CHAIN
        codes = [KINDS[f.kind] for f in self.errors]
        return min(codes) if codes else EXIT_OK

    @property
    def ok(self) -> bool:
        return self.exit_code == EXIT_OK

    def kinds(self) -> set[str]:
        """The kinds of the error findings (what the tests compare)."""
        return {f.kind for f in self.errors}

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "digests": self.digests,
            "files": self.files,
            "bytes_hashed": self.bytes_hashed,
            "timestamps": self.timestamps,
            "head": self.head,
            "window": self.window,
            "verified_at": iso_utc(dt.datetime.fromtimestamp(self.started, dt.UTC)),
            "duration_seconds": round(self.duration_seconds, 6),
            "findings": [asdict(f) for f in self.findings],
            "pruned": list(self.pruned),
        }


# --------------------------------------------------------------------------- helpers


def line_at(path: Path, offset: int) -> int:
    """1-based number of the line holding byte ``offset`` (the line after the last one when
    ``offset`` is the file's end and the file ends with a newline)."""
    count = 0
    remaining = offset
    with path.open("rb") as handle:
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            count += chunk.count(b"\n")
            remaining -= len(chunk)
    return count + 1


def _lines(path: Path, start: int, end: int) -> str:
    first = line_at(path, start)
    last = line_at(path, max(start, end - 1))
    return f"line {first}" if first == last else f"lines {first}-{last}"


def _hash_range(handle: Any, start: int, end: int) -> tuple[str, int]:
    handle.seek(start)
    digest = hashlib.sha256()
    remaining = end - start
    while remaining > 0:
        chunk = handle.read(min(CHUNK, remaining))
        if not chunk:
            break
        digest.update(chunk)
        remaining -= len(chunk)
    return digest.hexdigest(), end - start - remaining


_HEX64 = frozenset("0123456789abcdef")


def _is_hex(value: Any, length: int | None = 64) -> bool:
    return (
        isinstance(value, str) and (length is None or len(value) == length) and set(value) <= _HEX64
    )


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shape_error(data: Mapping[str, Any]) -> str | None:
    """Why a parsed digest does not have the format's fields, or None."""
    if data.get("format") != FORMAT:
        return f"format is {data.get('format')!r}, expected {FORMAT!r}"
    if not _int(data.get("sequence")) or not _int(data.get("interval_seconds")):
        return "sequence and interval_seconds must be non-negative integers"
    try:
        start = parse_utc(str(data["interval_start"]))
        end = parse_utc(str(data["interval_end"]))
        parse_utc(str(data["observed_at"]))
    except (KeyError, ValueError) as exc:
        return f"bad interval times: {exc}"
    if end < start:
        return "interval_end is before interval_start"
    if not _is_hex(data.get("key_fingerprint")) or not _is_hex(data.get("policy_sha256")):
        return "key_fingerprint and policy_sha256 must be 64 hex digits"
    files = data.get("files")
    if not isinstance(files, list):
        return "files must be a list"
    for entry in files:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and _int(entry.get("start"))
            and _int(entry.get("end"))
            and entry["start"] <= entry["end"]
            and _is_hex(entry.get("range_sha256"))
            and _is_hex(entry.get("file_sha256"))
        ):
            return f"bad file entry {entry!r}"
        rel = Path(entry["path"])
        if rel.is_absolute() or ".." in rel.parts:
            return f"file path {entry['path']!r} leaves the evidence directory"
    previous = data.get("previous_digest")
    if previous is not None and not (
        isinstance(previous, dict)
        and isinstance(previous.get("path"), str)
        and _is_hex(previous.get("sha256"))
        and _is_hex(previous.get("signature"), None)
    ):
        return "bad previous_digest"
    if data.get("timestamp_policy", "every") not in ("every", "daily"):
        return "timestamp_policy must be every or daily"
    nxt = data.get("next_key")
    if nxt is not None:
        if not (isinstance(nxt, dict) and _is_hex(nxt.get("fingerprint"))):
            return "bad next_key"
        try:
            announced = load_public_pem(str(nxt.get("public_key", "")).encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError):
            return "next_key.public_key is not an Ed25519 public key in PEM"
        if fingerprint(announced) != nxt["fingerprint"]:
            return "next_key.fingerprint is not the announced key's fingerprint"
    return None


def _load_keys(evidence_dir: Path, extra: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    keys: dict[str, Ed25519PublicKey] = {}
    paths = sorted((evidence_dir / KEYS).glob("*.pem")) if (evidence_dir / KEYS).is_dir() else []
    for path in [*paths, *extra]:
        try:
            key = load_public_pem(path.read_bytes())
        except (OSError, ValueError):
            continue
        keys[fingerprint(key)] = key
    return keys


# --------------------------------------------------------------------------- the walk


def _read_digests(root: Path, report: Report, malformed: set[int]) -> list[Digest]:
    """The well-formed digests; ``malformed`` receives the sequence numbers (from the names) of
    the others, so the chain walk does not report them a second time as missing."""
    valid: list[Digest] = []
    for path in digest_files(root):
        rel = path.relative_to(root).as_posix()
        try:
            digest = read_digest(root, path)
        except (OSError, ValueError) as exc:
            report.add("malformed_digest", rel, f"not a JSON object: {exc}", digest=rel)
            named = NAME.match(path.name)
            if named:
                malformed.add(int(named.group(2)))
            continue
        why = _shape_error(digest.data)
        if why is None and canonical(digest.data) != digest.raw:
            why = "not in the canonical form (sorted keys, no spaces, ASCII, one newline)"
        if why is not None:
            report.add("malformed_digest", rel, why, digest=rel)
            named = NAME.match(path.name)
            if named:
                malformed.add(int(named.group(2)))
            continue
        expected = f"{DIGESTS}/{digest_name(digest.start, digest.sequence)}"
        if rel != expected:
            report.add(
                "reordered_digest",
                rel,
                f"holds digest #{digest.sequence} of the interval starting "
                f"{digest.data['interval_start']}, which is named {expected}",
                digest=rel,
            )
        valid.append(digest)
    return valid


def _walk(
    digests: list[Digest],
    keys: dict[str, Ed25519PublicKey],
    trusted: set[str] | None,
    report: Report,
    malformed: set[int] | None = None,
) -> None:
    malformed = malformed or set()
    previous: Digest | None = None
    previous_signed = False
    active: str | None = None
    seen: set[int] = set()
    for digest in digests:
        data = digest.data
        if digest.sequence in seen:
            report.add(
                "broken_link",
                digest.rel,
                f"a second digest #{digest.sequence}: the chain forks",
                digest=digest.rel,
            )
            continue
        seen.add(digest.sequence)
        link = data.get("previous_digest")
        after_gap = False
        if previous is None:
            if digest.sequence != 0:
                after_gap = True
                if not set(range(digest.sequence)) <= malformed:
                    report.add(
                        "missing_digest",
                        digest.rel,
                        f"the chain starts at digest #{digest.sequence}; "
                        f"#0-#{digest.sequence - 1} are missing",
                        digest=digest.rel,
                    )
            elif link is not None:
                report.add(
                    "broken_link",
                    digest.rel,
                    f"digest #0 names a previous digest ({link.get('path')})",
                    digest=digest.rel,
                )
        else:
            gap = digest.sequence - previous.sequence - 1
            explained = set(range(previous.sequence + 1, digest.sequence)) <= malformed
            if gap > 0:
                after_gap = True
            if gap > 0 and not explained:
                report.add(
                    "missing_digest",
                    digest.rel,
                    f"{gap} digest(s) missing between {previous.rel} (#{previous.sequence}) and "
                    f"this one (#{digest.sequence}); intervals "
                    f"{previous.data['interval_end']} to {data['interval_start']}",
                    digest=digest.rel,
                )
            if gap <= 0:
                signature_hex = (previous.signature or b"").hex()
                if link is None or link.get("sha256") != previous.sha256:
                    report.add(
                        "broken_link",
                        digest.rel,
                        f"previous_digest.sha256 does not match {previous.rel}: that digest "
                        "was altered or replaced after this one was signed",
                        digest=digest.rel,
                    )
                elif link.get("signature") != signature_hex and previous_signed:
                    report.add(
                        "broken_link",
                        digest.rel,
                        f"previous_digest.signature does not match {previous.rel}.sig",
                        digest=digest.rel,
                    )
                if digest.start > previous.end:
                    report.add(
                        "missing_digest",
                        digest.rel,
                        f"no digest covers {previous.data['interval_end']} to "
                        f"{data['interval_start']}",
                        digest=digest.rel,
                    )
                elif digest.start < previous.end:
                    report.add(
                        "reordered_digest",
                        digest.rel,
                        f"interval starts {data['interval_start']}, before the previous "
                        f"digest's end {previous.data['interval_end']}",
                        digest=digest.rel,
                    )
        # Signature and key.
        fp = str(data["key_fingerprint"])
        public = keys.get(fp)
        signed = False
        if public is None:
            report.add(
                "unknown_key",
                digest.rel,
                f"signed by key {fp}: no public key in {KEYS}/, none announced, none trusted",
                digest=digest.rel,
            )
        elif digest.signature is None:
            report.add("bad_signature", digest.rel, "no .sig file beside it", digest=digest.rel)
        elif not verify_signature(public, digest.signature, digest.raw):
            report.add(
                "bad_signature",
                digest.rel,
                f"the .sig does not verify with key {fp}",
                digest=digest.rel,
            )
        else:
            signed = True
        if active is None:
            if trusted is not None and fp not in trusted and public is not None:
                report.add(
                    "unknown_key",
                    digest.rel,
                    f"the chain's first key {fp} is not among the trusted keys",
                    digest=digest.rel,
                )
        elif fp != active and public is not None and not after_gap:
            report.add(
                "unannounced_key",
                digest.rel,
                f"signed by key {fp}, but the key in force is {active} and no digest "
                "signed by it announced a new key",
                digest=digest.rel,
            )
        if active is None or (public is not None and (fp == active or after_gap)):
            # The first key, or the key in force (again). An unknown or unannounced key does
            # not take over: every digest it signs is reported.
            active = fp if public is not None else active
        nxt = data.get("next_key")
        if nxt is not None and signed and fp == active:
            active = str(nxt["fingerprint"])
        previous, previous_signed = digest, signed


def _check_anchor(anchor: Path, digests: list[Digest], report: Report) -> None:
    name = str(anchor)
    try:
        record = json.loads(anchor.read_bytes())
        sequence = int(record["sequence"])
        sha = str(record["sha256"])
        if record.get("format") != ANCHOR_FORMAT:
            raise ValueError(f"format {record.get('format')!r}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        report.add("anchor_mismatch", name, f"unreadable anchor: {exc}")
        return
    by_sequence = {d.sequence: d for d in digests}
    head = max(by_sequence) if by_sequence else -1
    if sequence in by_sequence:
        if by_sequence[sequence].sha256 != sha:
            report.add(
                "anchor_mismatch",
                by_sequence[sequence].rel,
                f"anchored digest #{sequence} had SHA-256 {sha}, this one has "
                f"{by_sequence[sequence].sha256}",
                digest=by_sequence[sequence].rel,
            )
    elif sequence > head:
        report.add(
            "head_behind_anchor",
            str(record.get("path", name)),
            f"the chain ends at digest #{head}, but #{sequence} (interval end "
            f"{record.get('interval_end')}) was anchored in {name}: the tail of the chain "
            "was removed",
        )


def _check_timestamps(digests: Sequence[Digest], ca_files: Sequence[Path], report: Report) -> None:
    from soc2audit.timestamp import ca_bundle, needs_token, token_path, verify_token

    with ca_bundle(ca_files) as bundle:
        for digest in digests:
            token = token_path(digest.path)
            if not token.is_file():
                if needs_token(digest.data):
                    report.add(
                        "missing_timestamp",
                        digest.rel,
                        f"its timestamp_policy ({digest.data.get('timestamp_policy')}) asks for "
                        f"an RFC 3161 token and {token.name} is missing",
                        digest=digest.rel,
                    )
                continue
            report.timestamps += 1
            why = verify_token(digest.path, token, bundle)
            if why is not None:
                report.add(
                    "bad_timestamp",
                    digest.rel,
                    f"{token.name} does not verify over this digest: {why}",
                    digest=digest.rel,
                )


def _check_file(
    root: Path,
    rel: str,
    entries: Sequence[tuple[Digest, Mapping[str, Any]]],
    report: Report,
) -> None:
    path = root / rel
    first_digest = entries[0][0].rel
    if not path.is_file():
        report.add(
            "missing_file",
            rel,
            f"referenced by {len(entries)} digest(s) from {first_digest} on; the file is gone",
            digest=first_digest,
        )
        return
    size = path.stat().st_size
    top = max(int(e["end"]) for _, e in entries)
    if size < top:
        report.add(
            "truncated_file",
            rel,
            f"{size} bytes, but digests cover it up to byte {top}; it ends at line "
            f"{line_at(path, size)}, lines from there were removed",
            line=line_at(path, size),
            digest=entries[-1][0].rel,
        )
    ordered = sorted(entries, key=lambda item: (int(item[1]["end"]), item[0].sequence))
    whole = hashlib.sha256()
    pos = 0
    failed_at: int | None = None
    with path.open("rb") as handle:
        for index, (_digest, entry) in enumerate(ordered):
            end = int(entry["end"])
            if end > size:
                break
            while pos < end:
                chunk = handle.read(min(CHUNK, end - pos))
                if not chunk:
                    break
                whole.update(chunk)
                pos += len(chunk)
            if whole.hexdigest() != entry["file_sha256"]:
                failed_at = index
                break
        report.bytes_hashed += pos
        if failed_at is None:
            return
        # Localise: from the first failing prefix on, compare each range on its own.
        failing_digest, failing_entry = ordered[failed_at]
        previous_end = int(ordered[failed_at - 1][1]["end"]) if failed_at else 0
        gaps: list[tuple[int, int, Digest]] = []
        found = False
        for digest, entry in ordered[failed_at:]:
            start, end = int(entry["start"]), int(entry["end"])
            if start >= size:
                break
            if start > previous_end:
                gaps.append((previous_end, start, digest))
            sha, got = _hash_range(handle, start, min(end, size))
            report.bytes_hashed += got
            if end <= size and sha != entry["range_sha256"]:
                found = True
                report.add(
                    "altered_content",
                    rel,
                    f"bytes [{start}, {end}) ({_lines(path, start, end)}) differ from what "
                    f"{digest.rel} recorded",
                    line=line_at(path, start),
                    digest=digest.rel,
                )
            previous_end = max(previous_end, end)
    if found:
        return
    # Every listed range matches, so the change is in bytes only a missing digest listed.
    spans = gaps or [(0, int(failing_entry["end"]), failing_digest)]
    for start, end, digest in spans:
        report.add(
            "altered_content",
            rel,
            f"bytes [{start}, {end}) ({_lines(path, start, end)}) differ from what the chain "
            f"recorded (SHA-256 of the file up to byte {failing_entry['end']} in "
            f"{failing_digest.rel})",
            line=line_at(path, start),
            digest=digest.rel,
        )


def _check_unreferenced(
    root: Path,
    ends: Mapping[str, int],
    head: Digest | None,
    pending_until: dt.datetime | None,
    at: dt.datetime,
    report: Report,
) -> None:
    observed = parse_utc(head.data["observed_at"]).timestamp() if head else None
    for rel in evidence_files(root):
        path = root / rel
        stat = path.stat()
        pending = (
            pending_until is not None
            and at < pending_until
            and observed is not None
            and stat.st_mtime > observed
        )
        severity = "info" if pending else "error"
        note = " (pending: the next digest is not due yet)" if pending else ""
        if rel not in ends:
            report.add(
                "unreferenced_file",
                rel,
                f"no digest references this file ({stat.st_size} bytes){note}",
                line=1,
                severity=severity,
            )
        elif stat.st_size > ends[rel]:
            start = ends[rel]
            report.add(
                "unreferenced_bytes",
                rel,
                f"bytes [{start}, {stat.st_size}) ({_lines(path, start, stat.st_size)}) were "
                f"appended after the last digest that covers this file{note}",
                line=line_at(path, start),
                severity=severity,
            )


def verify(
    evidence_dir: Path | str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    anchor: Path | str | None = None,
    trusted_keys: Sequence[Path | str] = (),
    tsa_ca: Sequence[Path | str] = (),
    allow_pending: bool = False,
    grace: int = DEFAULT_GRACE,
    now: dt.datetime | None = None,
) -> Report:
    """Verify the chain of ``evidence_dir`` (see the module docstring).

    ``since``/``until`` limit the evidence files read to those referenced by digests whose
    interval overlaps the window; the chain itself (links, signatures, keys) is always checked
    whole, and the chain head must not be overdue at ``until`` (default: now).
    ``tsa_ca`` are the CA certificates RFC 3161 tokens must chain to (default: the copies
    exported to keys/tsa/). ``allow_pending`` reports bytes appended after the head, while the
    next digest is not yet due, as ``info`` instead of errors.
    """
    root = Path(evidence_dir)
    report = Report(started=time.time())
    began = time.monotonic()
    at = (until or now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    report.window = {
        "from": iso_utc(since) if since else None,
        "to": iso_utc(until) if until else None,
    }
    malformed: set[int] = set()
    digests = _read_digests(root, report, malformed)
    digests.sort(key=lambda d: (d.sequence, d.rel))
    report.digests = len(digests)
    if not digests:
        report.duration_seconds = time.monotonic() - began
        return report
    trusted_paths = [Path(p) for p in trusted_keys]
    keys = _load_keys(root, trusted_paths)
    trusted = {fingerprint(load_public_pem(p.read_bytes())) for p in trusted_paths} or None
    for digest in digests:
        nxt = digest.data.get("next_key")
        if nxt is not None:
            announced = load_public_pem(str(nxt["public_key"]).encode("ascii"))
            keys.setdefault(fingerprint(announced), announced)
    _walk(digests, keys, trusted, report, malformed)

    head = digests[-1]
    interval = int(head.data.get("interval_seconds") or DEFAULT_INTERVAL)
    due = head.end + dt.timedelta(seconds=interval + grace)
    report.head = {
        "digest": head.rel,
        "sequence": head.sequence,
        "interval_end": head.data["interval_end"],
        "sha256": head.sha256,
    }
    if at >= due:
        overdue = int((at - head.end).total_seconds()) // interval
        report.add(
            "missing_digest",
            head.rel,
            f"the newest digest ends {head.data['interval_end']}; {overdue} interval(s) of "
            f"{interval} s have no digest up to {iso_utc(at)}",
            digest=head.rel,
        )
    if anchor is not None:
        _check_anchor(Path(anchor), digests, report)
    from soc2audit.timestamp import exported_cas

    _check_timestamps(digests, [Path(p) for p in tsa_ca] or exported_cas(root), report)

    per_file: dict[str, list[tuple[Digest, Mapping[str, Any]]]] = {}
    ends: dict[str, int] = {}
    for digest in digests:
        for entry in digest.data["files"]:
            per_file.setdefault(entry["path"], []).append((digest, entry))
            ends[entry["path"]] = max(ends.get(entry["path"], 0), int(entry["end"]))
    from soc2audit.prune import pruned_records

    pruned = pruned_records(root)
    for rel, entries in sorted(per_file.items()):
        record = pruned.get(rel)
        if record is not None and not (root / rel).exists():
            last_entry = max(entries, key=lambda item: int(item[1]["end"]))[1]
            if record.get("bytes") == int(last_entry["end"]) and record.get(
                "file_sha256"
            ) == last_entry.get("file_sha256"):
                report.pruned.append(rel)
                continue
        if since is not None or until is not None:
            in_window = [
                (d, e)
                for d, e in entries
                if (since is None or d.end > since) and (until is None or d.start < until)
            ]
            if not in_window:
                continue
            last = max(int(e["end"]) for _, e in in_window)
            entries = [(d, e) for d, e in entries if int(e["end"]) <= last]
        report.files += 1
        _check_file(root, rel, entries, report)
    pending_until = due if allow_pending else None
    _check_unreferenced(root, ends, head, pending_until, at, report)
    report.duration_seconds = time.monotonic() - began
    return report


def verify_metrics(report: Report) -> str:
    """The ``soc2audit_evidence_verify_*`` textfile for the monitoring rules (every kind has a
    series, 0 when absent, so an alert on a kind never depends on the series appearing)."""
    from soc2audit.metrics import EVIDENCE_VERIFY as M
    from soc2audit.openmetrics import render_metrics

    counts = dict.fromkeys(KINDS, 0)
    for finding in report.errors:
        counts[finding.kind] += 1
    samples: list[tuple[Any, dict[str, str], float]] = [
        (M["soc2audit_evidence_verify_ok"], {}, 1 if report.ok else 0),
        (M["soc2audit_evidence_verify_exit_code"], {}, report.exit_code),
        (M["soc2audit_evidence_verify_last_run_timestamp_seconds"], {}, int(report.started)),
        (M["soc2audit_evidence_verify_duration_seconds"], {}, round(report.duration_seconds, 6)),
        (M["soc2audit_evidence_verify_digests"], {}, report.digests),
        (M["soc2audit_evidence_verify_bytes_hashed"], {}, report.bytes_hashed),
    ]
    samples += [
        (M["soc2audit_evidence_verify_findings"], {"kind": kind}, n) for kind, n in counts.items()
    ]
    if report.head is not None:
        samples.append(
            (
                M["soc2audit_evidence_verify_head_timestamp_seconds"],
                {},
                int(parse_utc(report.head["interval_end"]).timestamp()),
            )
        )
    return render_metrics(samples)
