# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence chain's external anchors in an S3 bucket with Object Lock (docs/evidence.md,
"Anchors in S3").

Each anchored digest's record (``soc2audit.chain.anchor_record``: path, sequence, interval end,
SHA-256, signature; canonical JSON) becomes one object ``<prefix>/<sequence:012d>-<end>.json``,
written with ``ObjectLockMode=COMPLIANCE`` and a retain-until of now plus ``retention_days``
(at least the evidence retention), the server checking the SHA-256. Whoever holds the evidence
key or the control node cannot remove or rewrite such an object before it expires, so the
newest anchor tells ``evidence verify`` how long the chain was: a local head older than it is
tail truncation (``head_behind_anchor``, exit status 12).

What is anchored (``every``): ``digest`` (default) each digest the digest step writes; ``day``
only the digest that closes a UTC day (its interval ends at 00:00). Either way, when the newest
anchor in the bucket is behind (a failed upload, the step not run for a while), the chain head
is anchored too, so one successful step catches up.

The S3 writes go through the log pipeline's uploader (``roles/log_aggregator/files/log-upload``:
``s3_client`` and ``put_locked``, loaded from the checkout), the one owner of "write a version
locked in COMPLIANCE mode and confirm it". Settings come from the inventory
(``soc2audit_evidence_anchor_s3_*``, passed by playbooks/drift_check.yml) or the environment
(``SOC2AUDIT_EVIDENCE_ANCHOR_S3_*``, the digest timer's EnvironmentFile); credentials given, else
boto3's chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import tempfile
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soc2audit.chain import ANCHOR_FORMAT, Digest, anchor_record, canonical, load_state

REPO = Path(__file__).resolve().parent.parent
UPLOADER = REPO / "roles" / "log_aggregator" / "files" / "log-upload"
ENV_PREFIX = "SOC2AUDIT_EVIDENCE_ANCHOR_S3_"
EVERY = ("digest", "day")
DEFAULT_PREFIX = "evidence-anchors"
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PREFIX_RE = re.compile(r"^[A-Za-z0-9._/-]*$")
KEY_RE = re.compile(r"(?:^|/)(\d{12})-(\d{8}T\d{6}Z)\.json$")
# The evidence retention when nothing says otherwise (soc2audit.prune's default, the review
# period): an anchor must outlive the evidence it covers.
RETENTION_ENV = "SOC2AUDIT_EVIDENCE_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 365


class AnchorError(RuntimeError):
    """Anchors could not be written or read (the message says why)."""


@dataclass(frozen=True)
class S3AnchorStore:
    """Where and how the chain's anchors are written."""

    bucket: str
    endpoint_url: str = ""
    region: str = "us-east-1"
    ca_bundle: str = ""
    prefix: str = DEFAULT_PREFIX
    retention_days: int = DEFAULT_RETENTION_DAYS + 1
    every: str = "digest"
    access_key_id: str = ""
    secret_access_key: str = ""

    def __repr__(self) -> str:  # never the secret
        return f"S3AnchorStore(s3://{self.bucket}/{self.prefix}, {self.endpoint_url or 'AWS'})"

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix.strip('/')}"

    def key(self, record: Mapping[str, Any]) -> str:
        end = str(record["interval_end"]).replace("-", "").replace(":", "")
        name = f"{int(record['sequence']):012d}-{end}.json"
        return f"{self.prefix.strip('/')}/{name}" if self.prefix.strip("/") else name


def evidence_retention_days(environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    try:
        return int(environ.get(RETENTION_ENV) or DEFAULT_RETENTION_DAYS)
    except ValueError:
        raise AnchorError(f"{RETENTION_ENV} is not a number of days") from None


def from_mapping(
    values: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None
) -> S3AnchorStore | None:
    """The store from settings named like the inventory's ``soc2audit_evidence_anchor_s3_*``
    without the prefix (``bucket``, ``endpoint_url``, ...); None when no bucket is set.
    Bad settings raise AnchorError before anything is written."""
    if not values or not values.get("bucket"):
        return None
    unknown = set(values) - set(S3AnchorStore.__dataclass_fields__)
    if unknown:
        raise AnchorError(f"unknown S3 anchor setting(s): {', '.join(sorted(unknown))}")
    given = {k: v for k, v in values.items() if v not in (None, "")}
    try:
        store = S3AnchorStore(
            **{k: (int(v) if k == "retention_days" else str(v)) for k, v in given.items()}
        )
    except (TypeError, ValueError) as exc:
        raise AnchorError(f"S3 anchor settings: {exc}") from None
    problems = []
    if not BUCKET_RE.match(store.bucket):
        problems.append(f"bucket {store.bucket!r} is not an S3 bucket name")
    url = store.endpoint_url
    if url and not (
        re.match(r"^https://[^\s/?#]+/?$", url)
        or re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/?$", url)
    ):
        problems.append(f"endpoint_url {url!r}: https://host[:port] (http:// only to loopback)")
    if not PREFIX_RE.match(store.prefix):
        problems.append(f"prefix {store.prefix!r} holds characters other than A-Za-z0-9._/-")
    if store.every not in EVERY:
        problems.append(f"every {store.every!r}: one of {', '.join(EVERY)}")
    if store.ca_bundle and not Path(store.ca_bundle).is_file():
        problems.append(f"ca_bundle {store.ca_bundle} is not a file")
    minimum = evidence_retention_days(environ)
    if store.retention_days < minimum:
        problems.append(
            f"retention_days {store.retention_days} is shorter than the evidence retention "
            f"({minimum} days): an anchor must outlive the evidence it covers"
        )
    if bool(store.access_key_id) != bool(store.secret_access_key):
        problems.append("give both access_key_id and secret_access_key, or neither")
    if problems:
        raise AnchorError("S3 anchor settings: " + "; ".join(problems))
    return store


def from_env(environ: Mapping[str, str] | None = None) -> S3AnchorStore | None:
    """The store from ``SOC2AUDIT_EVIDENCE_ANCHOR_S3_<SETTING>`` (credentials: boto3's chain)."""
    environ = os.environ if environ is None else environ
    fields = ("bucket", "endpoint_url", "region", "ca_bundle", "prefix", "retention_days", "every")
    values = {f: environ.get(ENV_PREFIX + f.upper(), "") for f in fields}
    return from_mapping(values, environ)


# ---------------------------------------------------------------- the shared S3 writer


def uploader() -> types.ModuleType:
    """roles/log_aggregator/files/log-upload as a module (its S3 client and locked PUT)."""
    cached = sys.modules.get("soc2audit_log_upload")
    if cached is not None:
        return cached
    loader = importlib.machinery.SourceFileLoader("soc2audit_log_upload", str(UPLOADER))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[loader.name] = module
    return module


def client(store: S3AnchorStore) -> Any:
    try:
        import boto3  # noqa: F401  (the uploader imports it; say clearly when it is missing)
    except ImportError:
        raise AnchorError("boto3 is missing (pip install boto3)") from None
    return uploader().s3_client(store, store.access_key_id, store.secret_access_key)


def fail(what: str, exc: Exception) -> AnchorError:
    return AnchorError(f"{what}: {type(exc).__name__}: {exc}")


def anchored_sequences(
    s3: Any, store: S3AnchorStore, versions: bool = False
) -> list[tuple[int, str, str | None]]:
    """(sequence, key, version id) of every anchor object under the prefix, oldest first;
    ``versions`` lists every version (a newer one never hides a locked older one)."""
    prefix = store.prefix.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    found: list[tuple[int, str, str | None]] = []
    if versions:
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket=store.bucket, Prefix=prefix
        )
        for page in pages:
            for item in page.get("Versions") or []:
                match = KEY_RE.search(item["Key"])
                if match:
                    found.append((int(match.group(1)), item["Key"], item.get("VersionId")))
    else:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents") or []:
                match = KEY_RE.search(item["Key"])
                if match:
                    found.append((int(match.group(1)), item["Key"], None))
    return sorted(found)


def _closes_day(digest: Digest) -> bool:
    end = digest.end
    return (end.hour, end.minute, end.second, end.microsecond) == (0, 0, 0, 0)


def to_anchor(
    written: Sequence[Digest],
    head: Digest | None,
    newest_anchored: dict[str, Any] | None,
    every: str,
) -> list[Digest]:
    """Which digests to anchor now: the written ones ``every`` selects, and the head when the
    newest anchor is behind it (``digest``) or more than a day older (``day``)."""
    chosen = {d.sequence: d for d in written if every == "digest" or _closes_day(d)}
    if head is not None:
        newest_seq = -1 if newest_anchored is None else int(newest_anchored["sequence"])
        if every == "digest":
            behind = newest_seq < head.sequence
        else:
            behind = newest_anchored is None or (
                head.end
                - dt.datetime.fromisoformat(
                    str(newest_anchored["interval_end"]).replace("Z", "+00:00")
                )
                > dt.timedelta(days=1)
            )
        if behind:
            chosen.setdefault(head.sequence, head)
        chosen = {s: d for s, d in chosen.items() if s > newest_seq}
    return [chosen[s] for s in sorted(chosen)]


def anchor_digests(
    evidence_dir: Path | str,
    written: Sequence[Digest],
    store: S3AnchorStore,
    now: dt.datetime | None = None,
    s3: Any = None,
) -> list[dict[str, Any]]:
    """Anchor what ``to_anchor`` selects; returns one entry per object written (key, version
    id, sequence, retain-until). Raises AnchorError when the store cannot be reached or refuses
    a write (the digests stay written; the next step catches up)."""
    head = load_state(evidence_dir).head
    if head is None:
        return []
    s3 = s3 or client(store)
    try:
        listed = anchored_sequences(s3, store)
    except Exception as exc:  # botocore's errors and connection failures alike
        raise fail(f"cannot list {store.url}", exc) from None
    newest = None
    if listed:
        seq, key, _ = listed[-1]
        newest = {"sequence": seq, "interval_end": _end_of(key)}
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    retain_until = (moment + dt.timedelta(days=store.retention_days)).replace(microsecond=0)
    put_locked = uploader().put_locked
    done: list[dict[str, Any]] = []
    for digest in to_anchor(written, head, newest, store.every):
        record = anchor_record(digest)
        body = canonical(record)
        key = store.key(record)
        try:
            entry = put_locked(
                s3,
                store.bucket,
                key,
                body,
                hashlib.sha256(body).hexdigest(),
                retain_until,
                "application/json",
            )
        except Exception as exc:
            raise fail(f"cannot anchor digest #{digest.sequence} to {store.url}", exc) from None
        done.append({**entry, "sequence": digest.sequence, "url": f"s3://{store.bucket}/{key}"})
    return done


def _end_of(key: str) -> str:
    match = KEY_RE.search(key)
    assert match is not None
    stamp = dt.datetime.strptime(match.group(2), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- reading anchors back


def newest_valid(store: S3AnchorStore, s3: Any = None) -> tuple[dict[str, Any] | None, list[str]]:
    """The newest valid anchor in the bucket: (its record plus ``url``/``version_id``, notes on
    every newer object that was not valid). Valid: a version locked in COMPLIANCE mode whose
    body is an anchor record of the sequence its key names and whose bytes match the SHA-256
    the object carries. Every version counts, so overwriting a key hides nothing."""
    s3 = s3 or client(store)
    notes: list[str] = []
    try:
        listed = anchored_sequences(s3, store, versions=True)
    except Exception as exc:
        raise fail(f"cannot list {store.url}", exc) from None
    for sequence, key, version in reversed(listed):
        where = f"s3://{store.bucket}/{key} (version {version})"
        try:
            mode = lock_mode(s3, store.bucket, key, version)
            obj = s3.get_object(Bucket=store.bucket, Key=key, VersionId=version)
            body = obj["Body"].read()
        except Exception as exc:
            notes.append(f"{where}: unreadable: {type(exc).__name__}: {exc}")
            continue
        if mode != "COMPLIANCE":
            notes.append(f"{where}: not locked in COMPLIANCE mode ({mode}); ignored")
            continue
        if (obj.get("Metadata") or {}).get("sha256") != hashlib.sha256(body).hexdigest():
            notes.append(f"{where}: its bytes do not match its recorded SHA-256; ignored")
            continue
        try:
            record = json.loads(body)
            ok = record.get("format") == ANCHOR_FORMAT and int(record["sequence"]) == sequence
        except (ValueError, KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            notes.append(f"{where}: not an anchor record of digest #{sequence}; ignored")
            continue
        return {**record, "url": f"s3://{store.bucket}/{key}", "version_id": version}, notes
    return None, notes


def lock_mode(s3: Any, bucket: str, key: str, version: str | None) -> str | None:
    """The version's Object Lock mode (GetObjectRetention: versitygw's HeadObject omits it on a
    version that is not the latest); None when it has no lock."""
    try:
        retention = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=version)
    except Exception as exc:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if "ObjectLockConfiguration" in code:
            return None
        raise
    return (retention.get("Retention") or {}).get("Mode")


def ensure_bucket(store: S3AnchorStore, s3: Any = None) -> bool:
    """Create the bucket with Object Lock unless it exists (the lab's store; in production the
    store's administrator creates it). True when it was created."""
    s3 = s3 or client(store)
    try:
        s3.head_bucket(Bucket=store.bucket)
        exists = True
    except Exception:
        exists = False
    if not exists:
        try:
            s3.create_bucket(Bucket=store.bucket, ObjectLockEnabledForBucket=True)
        except Exception as exc:
            raise fail(f"cannot create the bucket {store.bucket}", exc) from None
    try:
        conf = s3.get_object_lock_configuration(Bucket=store.bucket)
    except Exception as exc:
        raise fail(f"the bucket {store.bucket} has no Object Lock", exc) from None
    if (conf.get("ObjectLockConfiguration") or {}).get("ObjectLockEnabled") != "Enabled":
        raise AnchorError(f"the bucket {store.bucket} exists without Object Lock")
    return not exists


# ---------------------------------------------------------------- the command line hooks


def add_verify_options(parser: argparse.ArgumentParser) -> None:
    """``evidence verify --anchor-s3 [s3://BUCKET/PREFIX]`` and the store's connection."""
    parser.add_argument(
        "--anchor-s3",
        nargs="?",
        const="",
        metavar="s3://BUCKET[/PREFIX]",
        help=f"take the newest valid anchor from the Object Lock bucket (default: "
        f"${ENV_PREFIX}BUCKET and _PREFIX); credentials from AWS_ACCESS_KEY_ID/"
        "AWS_SECRET_ACCESS_KEY or boto3's chain",
    )
    parser.add_argument(
        "--s3-endpoint-url", metavar="URL", help=f"default: ${ENV_PREFIX}ENDPOINT_URL, else AWS"
    )
    parser.add_argument("--s3-ca-bundle", metavar="PEM", help=f"default: ${ENV_PREFIX}CA_BUNDLE")
    parser.add_argument("--s3-region", metavar="REGION", help=f"default: ${ENV_PREFIX}REGION")


def store_for_verify(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> S3AnchorStore | None:
    """The store ``--anchor-s3`` names (None without the option)."""
    return store_from_args(args, environ)


def store_from_args(
    args: argparse.Namespace,
    environ: Mapping[str, str] | None = None,
    configured: bool = False,
    write: bool = False,
) -> S3AnchorStore | None:
    """The store ``--anchor-s3`` names; without the option None, or with ``configured`` the
    one ``SOC2AUDIT_EVIDENCE_ANCHOR_S3_BUCKET`` names (None when unset). ``write``: the
    store's retention (``_RETENTION_DAYS``) is read and held to the evidence retention."""
    environ = os.environ if environ is None else environ
    if getattr(args, "anchor_s3", None) is None:
        if not (configured and environ.get(ENV_PREFIX + "BUCKET")):
            return None
        args = argparse.Namespace(**{**vars(args), "anchor_s3": ""})
    bucket, prefix = environ.get(ENV_PREFIX + "BUCKET", ""), None
    if args.anchor_s3:
        match = re.match(r"^s3://([^/]+)(?:/(.*))?$", args.anchor_s3)
        if not match:
            raise AnchorError(f"--anchor-s3 {args.anchor_s3!r}: s3://BUCKET[/PREFIX]")
        bucket, prefix = match.group(1), (match.group(2) or "").strip("/")
    if not bucket:
        raise AnchorError(f"--anchor-s3 without a bucket: give s3://BUCKET or {ENV_PREFIX}BUCKET")
    values = {
        "bucket": bucket,
        "prefix": prefix if prefix is not None else environ.get(ENV_PREFIX + "PREFIX", ""),
        "endpoint_url": args.s3_endpoint_url or environ.get(ENV_PREFIX + "ENDPOINT_URL", ""),
        "ca_bundle": args.s3_ca_bundle or environ.get(ENV_PREFIX + "CA_BUNDLE", ""),
        "region": args.s3_region or environ.get(ENV_PREFIX + "REGION", ""),
    }
    if write:
        values["retention_days"] = environ.get(ENV_PREFIX + "RETENTION_DAYS", "")
        return from_mapping(values, environ)
    # Reading needs no retention: only writers are held to it.
    return from_mapping(values, {RETENTION_ENV: "1"})


@contextlib.contextmanager
def verify_anchor(args: argparse.Namespace) -> Iterator[Path | None]:
    """For ``evidence verify``: the newest valid S3 anchor as a file for ``--anchor``'s check
    (None without ``--anchor-s3`` or when the bucket holds no valid anchor). Says on stderr
    which anchor counts and why newer objects did not."""
    store = store_for_verify(args)
    if store is None:
        yield None
        return
    record, notes = newest_valid(store)
    for note in notes:
        print(f"anchor-s3: {note}", file=sys.stderr)
    if record is None:
        print(f"anchor-s3: no valid anchor under {store.url}", file=sys.stderr)
        yield None
        return
    print(
        f"anchor-s3: newest valid anchor {record['url']} (version {record['version_id']}): "
        f"digest #{record['sequence']}, interval end {record['interval_end']}",
        file=sys.stderr,
    )
    with tempfile.TemporaryDirectory(prefix="soc2audit-anchor-") as tmp:
        path = Path(tmp) / Path(record["url"]).name
        path.write_bytes(
            canonical({k: v for k, v in record.items() if k not in ("url", "version_id")})
        )
        yield path


def anchor_after_digest(evidence_dir: Path | str, written: Sequence[Digest]) -> list[str]:
    """For ``evidence digest``: anchor per ``SOC2AUDIT_EVIDENCE_ANCHOR_S3_*`` when set; the
    lines to print. Raises AnchorError."""
    store = from_env()
    if store is None:
        return []
    return [
        f"anchored digest #{e['sequence']} as {e['url']} (version {e['version_id']}, "
        f"COMPLIANCE until {e['retain_until']})"
        for e in anchor_digests(evidence_dir, written, store)
    ]
