# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence day files' copies in the write-once store (docs/evidence.md, "Retention").

``soc2audit evidence upload`` copies each **closed** evidence file to the S3 bucket with Object
Lock that holds the chain's anchors (the same settings, ``soc2audit.anchor_s3``): a top-level
day file ``<prefix>-YYYY-MM-DD.jsonl`` whose UTC day has ended and which a digest covers
completely (its size and SHA-256 are the ones the newest digest listing it recorded). Each copy
is the object ``<anchor prefix>/files/<name>``, written by the log uploader's ``put_locked``
(``ObjectLockMode=COMPLIANCE``, retain-until now plus the store's ``retention_days``, which is
at least the evidence retention; the server checks the SHA-256, kept in the ``sha256``
metadata too).

Idempotent: a key that already holds a COMPLIANCE-locked copy with the same SHA-256 is skipped;
a key holding anything else (other bytes, or an unlocked object) is a conflict, reported and
never overwritten. ``evidence prune`` with the store removes a file only when ``StoredCopies``
finds its locked copy (same SHA-256, retain-until in the future).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soc2audit.anchor_s3 import AnchorError, S3AnchorStore, client, fail, lock_mode, uploader
from soc2audit.prune import coverage, day_files, digests_of, file_sha256

FILES_DIR = "files"
CONTENT_TYPE = "application/x-ndjson"


def copy_key(store: S3AnchorStore, rel: str) -> str:
    """The object key of evidence file ``rel``'s copy."""
    prefix = store.prefix.strip("/")
    return f"{prefix}/{FILES_DIR}/{rel}" if prefix else f"{FILES_DIR}/{rel}"


def closed_files(
    evidence_dir: Path | str, now: dt.datetime | None = None
) -> list[tuple[str, str, int]]:
    """(relative path, SHA-256, size) of every closed day file: its UTC day has ended and the
    newest digest listing it covers all its bytes with the same SHA-256. Files not closed yet
    are left for a later run (``evidence verify`` reports bytes no digest covers)."""
    root = Path(evidence_dir)
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    files = [rel for rel, day, _ in day_files(root) if day < today]
    if not files:
        return []
    last = coverage(digests_of(root))
    out = []
    for rel in files:
        if rel not in last:
            continue
        entry = last[rel][1]
        sha, size = file_sha256(root / rel)
        if size == int(entry["end"]) and sha == entry.get("file_sha256"):
            out.append((rel, sha, size))
    return out


@dataclass
class Uploaded:
    """What one ``upload`` did: written (key, version, retain-until), skipped keys, conflicts."""

    written: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def _stored(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The latest version at ``key`` (its SHA-256 metadata, lock mode, retain-until); None when
    the key holds nothing."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except Exception as exc:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    version = head.get("VersionId")
    until = head.get("ObjectLockRetainUntilDate")
    mode = lock_mode(s3, bucket, key, version)
    if mode is not None and until is None:
        retention = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=version)
        until = (retention.get("Retention") or {}).get("RetainUntilDate")
    return {
        "sha256": (head.get("Metadata") or {}).get("sha256"),
        "mode": mode,
        "retain_until": until,
        "version_id": version,
    }


def _refusal(found: dict[str, Any] | None, sha256: str, url: str, now: dt.datetime) -> str | None:
    """Why ``found`` is not a locked copy with ``sha256``; None when it is one."""
    if found is None:
        return f"no copy at {url} (run `soc2audit evidence upload`)"
    if found["sha256"] != sha256:
        return f"the object at {url} has SHA-256 {found['sha256']}, the file {sha256}"
    if found["mode"] != "COMPLIANCE":
        return f"the object at {url} is not locked in COMPLIANCE mode ({found['mode']})"
    if found["retain_until"] is None or found["retain_until"] <= now:
        return f"the lock of {url} ends {found['retain_until']}, not in the future"
    return None


def upload(
    evidence_dir: Path | str,
    store: S3AnchorStore,
    now: dt.datetime | None = None,
    s3: Any = None,
) -> Uploaded:
    """Copy every closed file not yet in the store; AnchorError when the store cannot be read
    or refuses a write (what was written before stays)."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    root = Path(evidence_dir)
    done = Uploaded()
    files = closed_files(root, moment)
    if not files:
        return done
    s3 = s3 or client(store)
    retain_until = (moment + dt.timedelta(days=store.retention_days)).replace(microsecond=0)
    put_locked = uploader().put_locked
    for rel, sha, _size in files:
        key = copy_key(store, rel)
        url = f"s3://{store.bucket}/{key}"
        try:
            found = _stored(s3, store.bucket, key)
        except Exception as exc:
            raise fail(f"cannot read {url}", exc) from None
        if found is not None:
            why = _refusal(found, sha, url, moment)
            if why is None:
                done.skipped.append(url)
            else:
                done.conflicts.append(f"{rel}: {why}; not overwritten")
            continue
        try:
            with (root / rel).open("rb") as body:
                entry = put_locked(s3, store.bucket, key, body, sha, retain_until, CONTENT_TYPE)
        except Exception as exc:
            raise fail(f"cannot copy {rel} to {url}", exc) from None
        done.written.append({**entry, "path": rel, "url": url})
    return done


class StoredCopies:
    """``soc2audit.prune.CopyCheck`` against the store: a file may go only when its locked copy
    is there with the same SHA-256 and a retain-until in the future."""

    def __init__(
        self, store: S3AnchorStore, now: dt.datetime | None = None, s3: Any = None
    ) -> None:
        self.store = store
        self.url = f"s3://{store.bucket}/{copy_key(store, '')}"
        self.now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        self._s3 = s3

    def refusal(self, rel: str, sha256: str) -> str | None:
        self._s3 = self._s3 or client(self.store)
        key = copy_key(self.store, rel)
        url = f"s3://{self.store.bucket}/{key}"
        try:
            found = _stored(self._s3, self.store.bucket, key)
        except Exception as exc:
            raise fail(f"cannot read {url}", exc) from None
        return _refusal(found, sha256, url, self.now)


__all__ = ["AnchorError", "StoredCopies", "Uploaded", "closed_files", "copy_key", "upload"]
