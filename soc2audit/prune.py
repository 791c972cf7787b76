# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``soc2audit evidence prune``: remove evidence past retention, and only what is anchored
(docs/evidence.md "Prune").

A file may be removed only when all of these hold, else nothing at all is removed:

* its day (``<prefix>-YYYY-MM-DD.jsonl``) is before ``--before``, and ``--before`` is not inside
  the retention (default 365 days, the review period: ``--before`` must be at most
  ``today - retention``);
* it is **anchored**: a digest of the chain covers the file up to its current size (no byte was
  appended after the last digest that lists it), the file's bytes still hash to that digest's
  ``file_sha256``, and that digest is at or before a digest named by an anchor record
  (``soc2audit evidence anchor``, kept in write-once storage, given with ``--anchor``) whose
  SHA-256 matches the chain. An anchored digest is one the key holder can no longer rewrite
  unseen, and the evidence it covers is expected to be in the write-once store by then.

Digests and public keys are never pruned. Every removed file is recorded first as a
``pruned_file`` line in ``<evidence>/pruned-YYYY-MM-DD.jsonl`` (path, size, SHA-256, the anchor,
the retention), through ``soc2audit.evidence.append_evidence``; ``evidence verify`` accepts a
missing file whose pruned record matches the chain (and reports it in ``pruned``), so a pruned
chain still verifies, and the prune records are themselves digested like all evidence.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from soc2audit.chain import (
    ANCHOR_FORMAT,
    CHUNK,
    Digest,
    digest_files,
    evidence_files,
    read_digest,
)
from soc2audit.evidence import append_evidence
from soc2audit.fsutil import iso_utc
from soc2audit.window import DAY_FILE

PRUNED_PREFIX = "pruned"
RECORD = "pruned_file"
DEFAULT_RETENTION_DAYS = 365


class PruneRefused(Exception):
    """Nothing was removed; ``reasons`` says why, one line per file or rule."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


class CopyCheck(Protocol):
    """Whether a file's locked copy is in the write-once store (soc2audit.evidence_store)."""

    url: str

    def refusal(self, rel: str, sha256: str) -> str | None:
        """None when the store holds a locked copy of ``rel`` with ``sha256``; else why not."""
        ...


@dataclass
class Plan:
    files: list[dict[str, Any]] = field(default_factory=list)
    anchor: dict[str, Any] | None = None
    copies: str | None = None  # the store whose locked copies were checked; None: not checked


def digests_of(evidence_dir: Path) -> list[Digest]:
    out = []
    for path in digest_files(evidence_dir):
        try:
            out.append(read_digest(evidence_dir, path))
        except (OSError, ValueError) as exc:
            raise PruneRefused([f"unreadable digest {path}: {exc}; run evidence verify"]) from None
    return sorted(out, key=lambda d: d.sequence)


def _anchor(paths: Sequence[Path], digests: Sequence[Digest]) -> dict[str, Any]:
    """The newest anchor record that matches the chain; PruneRefused when none does."""
    if not paths:
        raise PruneRefused(
            [
                "no --anchor given: evidence is removed only once an anchor record (soc2audit "
                "evidence anchor, kept in write-once storage) covers it"
            ]
        )
    by_sequence = {d.sequence: d for d in digests}
    best: dict[str, Any] | None = None
    problems = []
    for path in paths:
        try:
            record = json.loads(Path(path).read_bytes())
            sequence = int(record["sequence"])
            if record.get("format") != ANCHOR_FORMAT:
                raise ValueError(f"format {record.get('format')!r}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path}: unreadable anchor record: {exc}")
            continue
        digest = by_sequence.get(sequence)
        if digest is None or digest.sha256 != record.get("sha256"):
            problems.append(
                f"{path}: anchored digest #{sequence} is not in the chain with the anchored "
                "SHA-256; run `soc2audit evidence verify --anchor` first"
            )
            continue
        if best is None or sequence > best["sequence"]:
            best = {
                "sequence": sequence,
                "path": digest.rel,
                "sha256": digest.sha256,
                "file": str(path),
            }
    if problems or best is None:
        raise PruneRefused(problems or ["no usable anchor record"])
    return best


def day_files(evidence_dir: Path | str) -> list[tuple[str, dt.date, str]]:
    """(relative path, day, prefix) of every top-level day file ``<prefix>-YYYY-MM-DD.jsonl``:
    the files prune may remove and ``evidence upload`` copies to the write-once store."""
    out = []
    for rel in evidence_files(evidence_dir):
        match = DAY_FILE.match(Path(rel).name)
        if match is None or "/" in rel:
            continue
        try:
            out.append((rel, dt.date.fromisoformat(match["day"]), match["prefix"]))
        except ValueError:
            continue
    return out


def coverage(digests: Sequence[Digest]) -> dict[str, tuple[Digest, Mapping[str, Any]]]:
    """path -> (the digest, its file entry) that covers the file furthest (the newest wins)."""
    last: dict[str, tuple[Digest, Mapping[str, Any]]] = {}
    for digest in digests:
        for entry in digest.data.get("files") or []:
            path = str(entry.get("path"))
            if path not in last or int(entry["end"]) >= int(last[path][1]["end"]):
                last[path] = (digest, entry)
    return last


def file_sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def plan(
    evidence_dir: Path | str,
    before: dt.date,
    anchors: Sequence[Path],
    retention_days: int = DEFAULT_RETENTION_DAYS,
    now: dt.datetime | None = None,
    copies: CopyCheck | None = None,
) -> Plan:
    """What ``prune`` would remove; PruneRefused (nothing removed) when any rule fails."""
    root = Path(evidence_dir)
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    if retention_days < 0:
        raise PruneRefused(["the retention must not be negative"])
    limit = today - dt.timedelta(days=retention_days)
    if before > limit:
        raise PruneRefused(
            [
                f"--before {before} is inside the retention of {retention_days} days: evidence "
                f"from {limit} on is kept (today is {today}); use --before {limit} or earlier"
            ]
        )
    candidates = [
        rel for rel, day, prefix in day_files(root) if day < before and prefix != PRUNED_PREFIX
    ]
    result = Plan(copies=copies.url if copies else None)
    if not candidates:
        return result
    digests = digests_of(root)
    anchor = _anchor(anchors, digests)
    result.anchor = anchor
    last = coverage(digests)
    reasons = []
    for rel in candidates:
        if rel not in last:
            reasons.append(f"{rel}: no digest covers it (not anchored)")
            continue
        digest, entry = last[rel]
        sha, size = file_sha256(root / rel)
        end = int(entry["end"])
        if size != end:
            reasons.append(
                f"{rel}: {size} bytes, but the chain covers {end}: bytes after the last digest "
                "are not anchored (run evidence digest, then anchor)"
            )
        elif sha != entry.get("file_sha256"):
            reasons.append(f"{rel}: its bytes differ from digest {digest.rel}; run evidence verify")
        elif digest.sequence > anchor["sequence"]:
            reasons.append(
                f"{rel}: last covered by digest #{digest.sequence}, after the anchored "
                f"#{anchor['sequence']}: not anchored yet (anchor a newer head first)"
            )
        elif copies is not None and (why := copies.refusal(rel, sha)) is not None:
            reasons.append(f"{rel}: {why}")
        else:
            result.files.append(
                {"path": rel, "bytes": size, "file_sha256": sha, "digest": digest.rel}
            )
    if reasons:
        raise PruneRefused(reasons)
    return result


def prune(
    evidence_dir: Path | str,
    before: dt.date,
    anchors: Sequence[Path],
    retention_days: int = DEFAULT_RETENTION_DAYS,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    copies: CopyCheck | None = None,
) -> Plan:
    """Remove the files of ``plan`` after recording them; the plan."""
    root = Path(evidence_dir)
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    chosen = plan(root, before, anchors, retention_days, moment, copies)
    if dry_run or not chosen.files:
        return chosen
    assert chosen.anchor is not None
    records = [
        {
            "record": RECORD,
            **item,
            "before": before.isoformat(),
            "retention_days": retention_days,
            "anchor": {k: chosen.anchor[k] for k in ("sequence", "path", "sha256")},
            "copy": chosen.copies,
            "pruned_at": iso_utc(moment),
        }
        for item in chosen.files
    ]
    append_evidence(root, records, moment, prefix=PRUNED_PREFIX)
    for item in chosen.files:
        (root / item["path"]).unlink()
    return chosen


def pruned_records(evidence_dir: Path | str) -> dict[str, dict[str, Any]]:
    """path -> the pruned_file record (the last one for a path) of ``pruned-*.jsonl``."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(evidence_dir).glob(f"{PRUNED_PREFIX}-*.jsonl")):
        with path.open("rb") as handle:
            for raw in handle:
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(obj, dict) and obj.get("record") == RECORD and obj.get("path"):
                    out[str(obj["path"])] = obj
    return out
