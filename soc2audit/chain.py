# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence trail's signed digest chain: keys, digests, anchors (docs/evidence.md).

Every interval (default one hour, aligned to the Unix epoch) the control node writes a digest of
the evidence directory: for each ``*.jsonl`` file (any prefix, any sub-directory) that grew since
the previous digest, the byte range ``[start, end)`` it grew by, the SHA-256 of that range and
the SHA-256 of the file from byte 0 to ``end``. The digest also carries the previous digest's
SHA-256 and signature, the fingerprint of the Ed25519 key that signs it, the suite version and
the policy hash. Intervals with no growth get a digest with an empty file list.

A digest is two files, written atomically (``soc2audit.fsutil.atomic_write``) and never
rewritten::

    <evidence>/digests/YYYY/MM/DD/YYYYMMDDTHHMMSSZ-<sequence:08d>.json      canonical JSON
    <evidence>/digests/YYYY/MM/DD/YYYYMMDDTHHMMSSZ-<sequence:08d>.json.sig  raw 64-byte Ed25519

The ``.json`` file's bytes are exactly what is signed (``openssl pkeyutl -verify -rawin``) and
exactly what the next digest's ``previous_digest.sha256`` hashes (``sha256sum``). The canonical
form: ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` plus one
``\\n``; every number is an integer, so this is RFC 8785 (JCS) for these documents.

Public keys go to ``<evidence>/keys/<fingerprint>.pem`` (SubjectPublicKeyInfo PEM); the
fingerprint is the hex SHA-256 of the key's DER SubjectPublicKeyInfo
(``openssl pkey -pubin -in K.pem -outform DER | sha256sum``). The private key lives outside the
evidence directory, mode 0600.

The verifier is in ``soc2audit.chain_verify``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

import soc2audit
from soc2audit.evidence import DIR_MODE, FILE_MODE
from soc2audit.fsutil import atomic_write, ensure_dir, fsync_dir, iso_utc, parse_utc

FORMAT = "soc2audit-evidence-digest/1"
ANCHOR_FORMAT = "soc2audit-evidence-anchor/1"
DEFAULT_INTERVAL = 3600
DIGESTS = "digests"
KEYS = "keys"
KEY_MODE = 0o600
KEY_DIR_MODE = 0o700
PUBLIC_MODE = 0o644
#: A digest file name: interval start, then the sequence number (both sort by time).
NAME = re.compile(r"^(\d{8}T\d{6}Z)-(\d{8})\.json$")
CHUNK = 1 << 20


class ChainError(Exception):
    """The chain cannot be extended: no key, a damaged chain, or evidence that changed."""


class NoKeyError(ChainError):
    """No signing key at the given path (``soc2audit evidence keygen`` creates one)."""


# --------------------------------------------------------------------------- canonical form


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a digest or anchor: sorted keys, no spaces, ASCII, one newline."""
    return (
        json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        + "\n"
    ).encode("ascii")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- keys


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: Ed25519PublicKey) -> str:
    """Hex SHA-256 of the DER SubjectPublicKeyInfo (what ``openssl pkey -outform DER`` prints)."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256_hex(der)


def load_public_pem(data: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def load_private_key(path: Path | str) -> Ed25519PrivateKey:
    target = Path(path)
    try:
        data = target.read_bytes()
    except FileNotFoundError:
        raise NoKeyError(
            f"no evidence signing key at {target} (create one with `soc2audit evidence keygen`)"
        ) from None
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ChainError(f"{target} is not an Ed25519 private key")
    return key


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    ensure_dir(path.parent, KEY_DIR_MODE)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    atomic_write(path, pem, KEY_MODE)


def export_public(evidence_dir: Path | str, key: Ed25519PublicKey) -> Path:
    """Write ``<evidence>/keys/<fingerprint>.pem`` (kept when it exists with the same key)."""
    directory = ensure_dir(Path(evidence_dir) / KEYS, DIR_MODE)
    target = directory / f"{fingerprint(key)}.pem"
    pem = public_pem(key)
    if not (target.is_file() and target.read_bytes() == pem):
        atomic_write(target, pem, PUBLIC_MODE)
    return target


def keygen(key_path: Path | str, evidence_dir: Path | str) -> tuple[str, Path]:
    """Create the evidence signing key (0600, refusing to overwrite one); export its public key.

    Returns the fingerprint and the exported public key's path.
    """
    target = Path(key_path)
    if target.exists():
        raise ChainError(f"{target} exists; refusing to replace a signing key (use rotate-key)")
    key = Ed25519PrivateKey.generate()
    _write_private(target, key)
    return fingerprint(key.public_key()), export_public(evidence_dir, key.public_key())


def next_key_path(key_path: Path | str) -> Path:
    """Where ``rotate-key`` stages the new key until the announcing digest is written."""
    path = Path(key_path)
    return path.with_name(path.name + ".next")


# --------------------------------------------------------------------------- digests


@dataclass
class Digest:
    """One digest file as read from disk."""

    path: Path
    rel: str
    raw: bytes
    data: dict[str, Any]
    signature: bytes | None

    @property
    def sha256(self) -> str:
        return sha256_hex(self.raw)

    @property
    def sequence(self) -> int:
        return int(self.data["sequence"])

    @property
    def start(self) -> dt.datetime:
        return parse_utc(self.data["interval_start"])

    @property
    def end(self) -> dt.datetime:
        return parse_utc(self.data["interval_end"])


def digest_name(start: dt.datetime, sequence: int) -> str:
    stamp = start.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{start:%Y/%m/%d}/{stamp}-{sequence:08d}.json"


def digest_files(evidence_dir: Path | str) -> list[Path]:
    """Every digest file (``*.json`` under digests/), sorted by name, i.e. by time."""
    root = Path(evidence_dir) / DIGESTS
    if not root.is_dir():
        return []
    return sorted(
        (p for p in root.rglob("*.json") if not p.name.startswith(".")),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def evidence_files(evidence_dir: Path | str) -> list[str]:
    """Every ``*.jsonl`` under the evidence directory (relative POSIX paths, sorted), whatever its
    prefix or sub-directory; dot files and the digests/ and keys/ trees are not evidence."""
    root = Path(evidence_dir)
    if not root.is_dir():
        return []
    found: list[str] = []
    for path in root.rglob("*.jsonl"):
        rel = path.relative_to(root)
        if rel.parts[0] in (DIGESTS, KEYS) or any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file():
            found.append(rel.as_posix())
    return sorted(found)


def read_digest(evidence_dir: Path | str, path: Path) -> Digest:
    """Parse one digest file (ValueError when it is not a JSON object)."""
    raw = path.read_bytes()
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    sig_path = path.with_name(path.name + ".sig")
    signature = sig_path.read_bytes() if sig_path.is_file() else None
    rel = path.relative_to(Path(evidence_dir)).as_posix()
    return Digest(path=path, rel=rel, raw=raw, data=data, signature=signature)


def aligned_end(start: dt.datetime, interval: int) -> dt.datetime:
    """The first interval boundary (a multiple of ``interval`` seconds since the epoch) after
    ``start``."""
    seconds = int(start.timestamp())
    return dt.datetime.fromtimestamp((seconds // interval + 1) * interval, dt.UTC)


def aligned_start(moment: dt.datetime, interval: int) -> dt.datetime:
    seconds = int(moment.timestamp())
    return dt.datetime.fromtimestamp(seconds // interval * interval, dt.UTC)


@dataclass
class ChainState:
    """What extending the chain needs: the head and, per evidence file, the last digested end
    and the SHA-256 of the file up to it."""

    head: Digest | None = None
    ends: dict[str, tuple[int, str]] = field(default_factory=dict)


def load_state(evidence_dir: Path | str) -> ChainState:
    """Read every digest (in sequence order) for the head and the per-file ends.

    The writer trusts its own chain here; ``soc2audit evidence verify`` is what checks it.
    """
    state = ChainState()
    digests: list[Digest] = []
    for path in digest_files(evidence_dir):
        try:
            digests.append(read_digest(evidence_dir, path))
        except (OSError, ValueError) as exc:
            raise ChainError(
                f"unreadable digest {path}: {exc}; run `soc2audit evidence verify`"
            ) from exc
    digests.sort(key=lambda d: d.sequence)
    for digest in digests:
        for entry in digest.data.get("files") or []:
            state.ends[str(entry["path"])] = (int(entry["end"]), str(entry["file_sha256"]))
    state.head = digests[-1] if digests else None
    return state


def _scan_file(path: Path, previous: tuple[int, str] | None) -> tuple[int, str, str, int]:
    """(end, range_sha256, file_sha256, start) for a file that grew past ``previous``.

    Raises ChainError when the file is shorter than, or differs within, what was digested.
    """
    start, expected = previous if previous else (0, None)
    whole = hashlib.sha256()
    part = hashlib.sha256()
    pos = 0
    with path.open("rb") as handle:
        while True:
            # Stop exactly at the previous end so the prefix hash can be compared there.
            want = CHUNK if pos >= start else min(CHUNK, start - pos)
            chunk = handle.read(want)
            if not chunk:
                break
            whole.update(chunk)
            if pos >= start:
                part.update(chunk)
            pos += len(chunk)
            if expected is not None and pos == start and whole.hexdigest() != expected:
                raise ChainError(
                    f"{path}: bytes [0, {start}) no longer match the chain; "
                    "run `soc2audit evidence verify`"
                )
    if pos < start:
        raise ChainError(
            f"{path}: {pos} bytes, shorter than the {start} already digested; "
            "run `soc2audit evidence verify`"
        )
    return pos, part.hexdigest(), whole.hexdigest(), start


@contextlib.contextmanager
def _locked(evidence_dir: Path) -> Iterator[None]:
    directory = ensure_dir(evidence_dir / DIGESTS, DIR_MODE)
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Settings:
    """What each digest records besides the evidence: interval, suite version, policy hash."""

    policy_sha256: str
    interval: int = DEFAULT_INTERVAL
    suite_version: str = soc2audit.__version__
    #: ``every`` or ``daily`` when an RFC 3161 TSA timestamps the digests (soc2audit.timestamp);
    #: stated in each digest as ``timestamp_policy`` so the verifier knows which need a token.
    timestamp_policy: str | None = None


def _write_one(
    evidence_dir: Path,
    state: ChainState,
    key: Ed25519PrivateKey,
    settings: Settings,
    start: dt.datetime,
    end: dt.datetime,
    observed: dt.datetime,
    grown: Mapping[str, tuple[int, str, str, int]],
    reason: str = "interval",
    next_key: Ed25519PublicKey | None = None,
) -> Digest:
    head = state.head
    sequence = head.sequence + 1 if head else 0
    files = [
        {
            "path": rel,
            "start": first,
            "end": last,
            "range_sha256": part,
            "file_sha256": whole,
        }
        for rel, (last, part, whole, first) in sorted(grown.items())
    ]
    previous = None
    if head is not None:
        previous = {
            "path": head.rel,
            "sha256": head.sha256,
            "signature": (head.signature or b"").hex(),
        }
    body: dict[str, Any] = {
        "format": FORMAT,
        "sequence": sequence,
        "reason": reason,
        "interval_seconds": settings.interval,
        "interval_start": iso_utc(start),
        "interval_end": iso_utc(end),
        "observed_at": iso_utc(observed.replace(microsecond=0)),
        "files": files,
        "previous_digest": previous,
        "key_fingerprint": fingerprint(key.public_key()),
        "signature_algorithm": "Ed25519",
        "next_key": None,
        "suite_version": settings.suite_version,
        "policy_sha256": settings.policy_sha256,
    }
    if settings.timestamp_policy is not None:
        body["timestamp_policy"] = settings.timestamp_policy
    if next_key is not None:
        body["next_key"] = {
            "fingerprint": fingerprint(next_key),
            "public_key": public_pem(next_key).decode("ascii"),
        }
    raw = canonical(body)
    signature = key.sign(raw)
    rel = f"{DIGESTS}/{digest_name(start, sequence)}"
    target = evidence_dir / rel
    if target.exists():
        raise ChainError(f"{target} exists; digests are never rewritten")
    for parent in reversed(target.relative_to(evidence_dir).parents[:-1]):
        ensure_dir(evidence_dir / parent, DIR_MODE)
    # The signature first: a .json without its .sig never exists; an orphan .sig from a crash
    # is replaced by the next attempt (its digest was never written).
    atomic_write(target.with_name(target.name + ".sig"), signature, FILE_MODE)
    atomic_write(target, raw, FILE_MODE)
    fsync_dir(target.parent)
    digest = Digest(path=target, rel=rel, raw=raw, data=body, signature=signature)
    for path, (last, _part, whole, _first) in grown.items():
        state.ends[path] = (last, whole)
    state.head = digest
    return digest


def _grown(evidence_dir: Path, state: ChainState) -> dict[str, tuple[int, str, str, int]]:
    grown: dict[str, tuple[int, str, str, int]] = {}
    for rel in evidence_files(evidence_dir):
        previous = state.ends.get(rel)
        size = (evidence_dir / rel).stat().st_size
        if previous is not None and size == previous[0]:
            continue
        scanned = _scan_file(evidence_dir / rel, previous)
        if previous is None or scanned[0] > previous[0]:
            grown[rel] = scanned
    from soc2audit.prune import pruned_records  # prune imports this module

    pruned = pruned_records(evidence_dir)
    for rel, (end, sha) in state.ends.items():
        record = pruned.get(rel)
        if record is not None and record.get("bytes") == end and record.get("file_sha256") == sha:
            continue  # removed by `evidence prune`, as its record says
        if not (evidence_dir / rel).is_file():
            raise ChainError(
                f"{evidence_dir / rel} was digested and is gone; run `soc2audit evidence verify`"
            )
    return grown


def _finish_rotation(key_path: Path, state: ChainState) -> None:
    """Complete a rotation interrupted after its announcing digest was written."""
    staged = next_key_path(key_path)
    if not staged.is_file() or state.head is None:
        return
    announced = (state.head.data.get("next_key") or {}).get("fingerprint")
    staged_key = load_private_key(staged)
    if announced and announced == fingerprint(staged_key.public_key()):
        os.replace(staged, key_path)
        fsync_dir(key_path.parent)


def write_due_digests(
    evidence_dir: Path | str,
    key_path: Path | str,
    settings: Settings,
    now: dt.datetime | None = None,
) -> list[Digest]:
    """Write a digest for every interval that ended since the chain head (none when none did).

    The first digest of a chain covers the interval that ended last. When several intervals are
    due at once (the step did not run for a while), the earlier ones get empty file lists and
    the newest one lists every byte appended since the head: a digest covers what was observed
    between two digests, and ``observed_at`` says when that was.
    """
    root = Path(evidence_dir)
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    with _locked(root):
        state = load_state(root)
        _finish_rotation(Path(key_path), state)
        key = load_private_key(key_path)
        export_public(root, key.public_key())
        written: list[Digest] = []
        if state.head is None:
            end = aligned_start(moment, settings.interval)
            start = dt.datetime.fromtimestamp(end.timestamp() - settings.interval, dt.UTC)
            bounds = [(start, end)]
        else:
            bounds = []
            start = state.head.end
            while (end := aligned_end(start, settings.interval)) <= moment:
                bounds.append((start, end))
                start = end
        if not bounds:
            return written
        grown = _grown(root, state)
        for index, (start, end) in enumerate(bounds):
            last = index == len(bounds) - 1
            written.append(
                _write_one(root, state, key, settings, start, end, moment, grown if last else {})
            )
        return written


def rotate_key(
    evidence_dir: Path | str,
    key_path: Path | str,
    settings: Settings,
    now: dt.datetime | None = None,
) -> tuple[Digest, str]:
    """Replace the signing key: the due digests first, then a ``rotation`` digest over
    ``[head end, now)`` signed by the OLD key that announces the new key (fingerprint and PEM);
    every later digest is signed by the new key. Returns the announcing digest and the new
    fingerprint."""
    root = Path(evidence_dir)
    target = Path(key_path)
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    write_due_digests(root, target, settings, moment)
    with _locked(root):
        state = load_state(root)
        if state.head is None:
            raise ChainError("no digest yet; nothing to rotate (keygen, then digest)")
        old = load_private_key(target)
        new = Ed25519PrivateKey.generate()
        staged = next_key_path(target)
        _write_private(staged, new)
        export_public(root, new.public_key())
        start = state.head.end
        end = max(start, moment)
        digest = _write_one(
            root,
            state,
            old,
            settings,
            start,
            end,
            moment,
            _grown(root, state),
            reason="rotation",
            next_key=new.public_key(),
        )
        os.replace(staged, target)
        fsync_dir(target.parent)
    return digest, fingerprint(new.public_key())


# --------------------------------------------------------------------------- anchors


def anchor_record(digest: Digest) -> dict[str, Any]:
    """What an external anchor keeps of a digest (canonical JSON, see ``write_anchor``)."""
    return {
        "format": ANCHOR_FORMAT,
        "path": digest.rel,
        "sequence": digest.sequence,
        "interval_end": digest.data["interval_end"],
        "sha256": digest.sha256,
        "signature": (digest.signature or b"").hex(),
    }


def write_anchor(evidence_dir: Path | str, out: Path | str) -> dict[str, Any]:
    """Write the chain head's anchor record to ``out`` (to be copied to write-once storage)."""
    state = load_state(evidence_dir)
    if state.head is None:
        raise ChainError("no digest yet; nothing to anchor")
    record = anchor_record(state.head)
    atomic_write(out, canonical(record), 0o644)
    return record


def verify_signature(public: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public.verify(signature, data)
    except InvalidSignature:
        return False
    return True
