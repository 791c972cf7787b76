# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pull mode's signed result segments (docs/scale.md "Pull mode", roles/ansible_pull).

A host in pull mode converges itself and runs its own drift check from a pinned checkout; the
central evidence chain's key never leaves the control node, so the host signs its result with a
key of its own (Ed25519, made on the host by the role; its public half is collected into the
control node's keys directory) and uploads it to the S3 evidence store under
``<prefix>/<host>/<finished>.json``, locked in COMPLIANCE mode like the chain's anchors.

A segment object is the canonical JSON (``soc2audit.chain.canonical``) of
``{"segment": {...}, "signature": <base64 Ed25519 over canonical(segment)>}``; the segment holds
the format, host, commit, start and end of the run, the converge's and the drift check's exit
statuses, the verifier's checks, and the signing key's fingerprint.

``ship`` runs on the host, from the checkout (``python3 -m soc2audit.pull ship``; settings from
``SOC2AUDIT_PULL_S3_*``, credentials from boto3's chain). ``verify_pulled`` is the central side,
``soc2audit evidence pull-verify``: every version under the prefix is checked (an overwrite hides
nothing) and each host's newest good segment must be younger than ``max_age``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from soc2audit import anchor_s3
from soc2audit.chain import (
    canonical,
    fingerprint,
    load_private_key,
    load_public_pem,
    sha256_hex,
    verify_signature,
)
from soc2audit.fsutil import iso_utc

FORMAT = "soc2audit-pull-segment/1"
ENV_PREFIX = "SOC2AUDIT_PULL_S3_"
DEFAULT_PREFIX = "pull"
HOST_RE = re.compile(r"^[A-Za-z0-9._-]+$")
KEY_RE = re.compile(r"^(?P<host>[A-Za-z0-9._-]+)/(?P<stamp>\d{8}T\d{6}Z)\.json$")
#: Statuses verify_pulled reports; every one but ``ok`` is a failure.
FAILURES = ("unsigned", "forged", "unknown_host", "unlocked", "altered", "stale", "missing")


class PullError(RuntimeError):
    """A segment could not be made or shipped (the message says why)."""


# --------------------------------------------------------------------------- segments


def make_segment(
    host: str,
    commit: str,
    started: str,
    finished: str,
    converge_rc: int,
    drift_rc: int,
    results: Mapping[str, Any] | None,
    key: Ed25519PrivateKey,
) -> dict[str, Any]:
    """The segment of one pull run, before signing."""
    if not HOST_RE.match(host):
        raise PullError(f"host name {host!r} holds characters other than A-Za-z0-9._-")
    if not re.match(r"^[0-9a-f]{40}$", commit):
        raise PullError(f"commit {commit!r} is not a full 40-hex hash")
    return {
        "format": FORMAT,
        "host": host,
        "commit": commit,
        "started": started,
        "finished": finished,
        "converge_rc": int(converge_rc),
        "drift_rc": int(drift_rc),
        "results": dict(results) if results is not None else None,
        "key": fingerprint(key.public_key()),
    }


def sign(segment: Mapping[str, Any], key: Ed25519PrivateKey) -> bytes:
    """The object's bytes: the segment and its signature, canonical JSON."""
    signature = key.sign(canonical(segment))
    return canonical(
        {"segment": dict(segment), "signature": base64.b64encode(signature).decode("ascii")}
    )


def check_body(body: bytes, host: str, keys_dir: Path) -> tuple[str, str, dict[str, Any] | None]:
    """(status, reason, segment) of one object's bytes stored under ``<prefix>/<host>/``:
    ``ok``, ``unsigned`` (no signature), ``forged`` (the signature does not verify with the
    host's key, or the segment names another host or key) or ``unknown_host`` (no public key)."""
    try:
        envelope = json.loads(body)
        segment = envelope["segment"]
        if not isinstance(segment, dict) or segment.get("format") != FORMAT:
            raise ValueError("not a pull segment")
    except (ValueError, KeyError, TypeError) as exc:
        return "forged", f"not a signed pull segment ({exc})", None
    signature = envelope.get("signature")
    if not signature:
        return "unsigned", "the segment carries no signature", segment
    pem = keys_dir / f"{host}.pem"
    if not pem.is_file():
        return "unknown_host", f"no public key for {host} ({pem})", segment
    public = load_public_pem(pem.read_bytes())
    try:
        raw = base64.b64decode(str(signature), validate=True)
    except ValueError:
        return "forged", "the signature is not base64", segment
    if not verify_signature(public, raw, canonical(segment)):
        return "forged", f"the signature does not verify with {host}'s key", segment
    if segment.get("host") != host:
        return "forged", f"signed for {segment.get('host')!r}, stored under {host}", segment
    if segment.get("key") != fingerprint(public):
        return "forged", "the segment names another key than the host's", segment
    return "ok", "", segment


# --------------------------------------------------------------------------- S3


def store_from_env(environ: Mapping[str, str] | None = None) -> anchor_s3.S3AnchorStore:
    """The evidence store pull segments go to, from ``SOC2AUDIT_PULL_S3_*`` (the role's
    settings file); validated like the anchors' (soc2audit.anchor_s3.from_mapping)."""
    environ = os.environ if environ is None else environ
    fields = ("bucket", "endpoint_url", "region", "ca_bundle", "prefix", "retention_days")
    values = {f: environ.get(ENV_PREFIX + f.upper(), "") for f in fields}
    values["prefix"] = values["prefix"] or DEFAULT_PREFIX
    try:
        store = anchor_s3.from_mapping(values, environ)
    except anchor_s3.AnchorError as exc:
        raise PullError(str(exc).replace("S3 anchor settings", "pull S3 settings")) from None
    if store is None:
        raise PullError(f"no bucket: set {ENV_PREFIX}BUCKET")
    return store


def object_key(store: anchor_s3.S3AnchorStore, host: str, finished: str) -> str:
    stamp = finished.replace("-", "").replace(":", "")
    return f"{store.prefix.strip('/')}/{host}/{stamp}.json"


def ship(
    store: anchor_s3.S3AnchorStore,
    key: Ed25519PrivateKey,
    host: str,
    commit: str,
    started: str,
    converge_rc: int,
    drift_rc: int,
    results: Mapping[str, Any] | None,
    now: dt.datetime | None = None,
    s3: Any = None,
) -> dict[str, Any]:
    """Sign one run's segment and write it as a COMPLIANCE-locked version (the log uploader's
    put_locked, the one writer of the store); what was stored."""
    now = now or dt.datetime.now(dt.UTC)
    finished = iso_utc(now.replace(microsecond=0))
    segment = make_segment(host, commit, started, finished, converge_rc, drift_rc, results, key)
    body = sign(segment, key)
    s3 = s3 or anchor_s3.client(store)
    retain_until = now + dt.timedelta(days=store.retention_days)
    try:
        stored = anchor_s3.uploader().put_locked(
            s3,
            store.bucket,
            object_key(store, host, finished),
            body,
            sha256_hex(body),
            retain_until,
            "application/json",
        )
    except Exception as exc:
        raise anchor_s3.fail(f"cannot upload to {store.url}", exc) from None
    return {**stored, "url": f"s3://{store.bucket}/{stored['key']}", "host": host}


@dataclass
class Row:
    host: str
    status: str
    reason: str = ""
    key: str = ""
    version_id: str = ""
    finished: str = ""
    commit: str = ""
    checks: dict[str, int] | None = None
    run_ok: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


def _counts(segment: Mapping[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for check in (segment.get("results") or {}).get("checks") or []:
        status = str(check.get("result", "?")) if isinstance(check, Mapping) else "?"
        counts[status] = counts.get(status, 0) + 1
    return counts


def verify_pulled(
    store: anchor_s3.S3AnchorStore,
    keys_dir: Path,
    max_age: dt.timedelta,
    now: dt.datetime | None = None,
    s3: Any = None,
) -> list[Row]:
    """Every version under the store's prefix, checked; then per host whose key is in
    ``keys_dir`` or who has objects: ``stale`` when its newest good segment is older than
    ``max_age``, ``missing`` when it has none."""
    now = now or dt.datetime.now(dt.UTC)
    s3 = s3 or anchor_s3.client(store)
    prefix = store.prefix.strip("/") + "/"
    rows: list[Row] = []
    newest: dict[str, Row] = {}
    try:
        versions: list[dict[str, Any]] = []
        for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=store.bucket, Prefix=prefix
        ):
            versions.extend(page.get("Versions") or [])
    except Exception as exc:
        raise anchor_s3.fail(f"cannot list {store.url}", exc) from None
    for version in sorted(versions, key=lambda v: (v["Key"], str(v.get("LastModified")))):
        rel, version_id = version["Key"][len(prefix) :], version.get("VersionId") or ""
        match = KEY_RE.match(rel)
        host = match.group("host") if match else rel.split("/", 1)[0]
        row = Row(host=host, status="ok", key=version["Key"], version_id=version_id)
        rows.append(row)
        if not match:
            row.status, row.reason = "forged", "not a segment's key (<host>/<time>.json)"
            continue
        try:
            mode = anchor_s3.lock_mode(s3, store.bucket, version["Key"], version_id)
            obj = s3.get_object(Bucket=store.bucket, Key=version["Key"], VersionId=version_id)
            body = obj["Body"].read()
        except Exception as exc:
            row.status, row.reason = "unlocked", f"unreadable: {type(exc).__name__}: {exc}"
            continue
        if mode != "COMPLIANCE":
            row.status, row.reason = "unlocked", f"not locked in COMPLIANCE mode ({mode})"
            continue
        if (obj.get("Metadata") or {}).get("sha256") != sha256_hex(body):
            row.status, row.reason = "altered", "its bytes do not match its recorded SHA-256"
            continue
        row.status, row.reason, segment = check_body(body, host, keys_dir)
        if segment is not None:
            row.finished, row.commit = (
                str(segment.get("finished", "")),
                str(segment.get("commit", "")),
            )
            row.checks = _counts(segment)
            row.run_ok = segment.get("converge_rc") == 0 and segment.get("drift_rc") == 0
        if row.status == "ok" and row.finished >= (newest.get(host) or Row(host, "")).finished:
            newest[host] = row
    known = {p.stem for p in keys_dir.glob("*.pem")} | {r.host for r in rows}
    for host in sorted(known):
        best = newest.get(host)
        if best is None:
            rows.append(Row(host=host, status="missing", reason="no good segment"))
            continue
        try:
            finished = dt.datetime.strptime(best.finished, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=dt.UTC
            )
        except ValueError:
            finished = dt.datetime.min.replace(tzinfo=dt.UTC)
        if now - finished > max_age:
            rows.append(
                Row(
                    host=host,
                    status="stale",
                    reason=f"newest good segment finished {best.finished}, older than {max_age}",
                    key=best.key,
                    version_id=best.version_id,
                    finished=best.finished,
                )
            )
    return rows


# --------------------------------------------------------------------------- the host's command


def _ship_main(args: argparse.Namespace) -> int:
    try:
        store = store_from_env()
        key = load_private_key(args.key)
        results = None
        if args.results.is_file():
            results = json.loads(args.results.read_text(encoding="utf-8"))
        stored = ship(
            store, key, args.host, args.commit, args.started, args.converge_rc, args.drift_rc,
            results,
        )  # fmt: skip
    except (PullError, anchor_s3.AnchorError, OSError, ValueError) as exc:
        print(f"soc2audit-pull: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(stored, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m soc2audit.pull",
        description="Pull mode's signed result segments (docs/roles/ansible_pull.md).",
    )
    cmds = parser.add_subparsers(dest="command", required=True)
    p = cmds.add_parser("ship", help="sign this run's result and upload it, locked")
    p.add_argument("--host", required=True)
    p.add_argument("--commit", required=True)
    p.add_argument("--key", required=True, type=Path, help="the host's Ed25519 private key")
    p.add_argument("--results", required=True, type=Path, help="the drift check's JSON")
    p.add_argument("--started", required=True, help="when the run started (UTC, ISO 8601)")
    p.add_argument("--converge-rc", type=int, default=0)
    p.add_argument("--drift-rc", type=int, default=0)
    args = parser.parse_args(argv)
    return _ship_main(args)


if __name__ == "__main__":
    sys.exit(main())
