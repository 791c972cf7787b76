# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""``soc2audit evidence ...``: the signed digest chain's commands (docs/evidence.md).

soc2audit evidence keygen       create the Ed25519 signing key, export its public key
soc2audit evidence digest       write the digests of every interval that has ended
soc2audit evidence rotate-key   new key, announced in a digest signed by the old one
soc2audit evidence anchor       write the chain head's record for write-once storage
soc2audit evidence verify       walk the chain; findings, exit status, metrics
soc2audit evidence upload       copy closed evidence files to the S3 Object Lock store
soc2audit evidence prune        remove evidence past retention that an anchor covers
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from soc2audit import anchor_s3
from soc2audit.chain import (
    DEFAULT_INTERVAL,
    ChainError,
    NoKeyError,
    Settings,
    export_public,
    fingerprint,
    keygen,
    load_private_key,
    load_public_pem,
    rotate_key,
    write_anchor,
    write_due_digests,
)
from soc2audit.chain_verify import DEFAULT_GRACE, KINDS, verify, verify_metrics
from soc2audit.cliargs import (
    DEFAULT_KEY,
    KEY_ENV,
    add_dirs,
    day,
    end_moment,
    moment,
    signing_key,
)
from soc2audit.exitcodes import (
    EVIDENCE_MEANINGS,
    EXIT_EVIDENCE_ALTERED,
    EXIT_EVIDENCE_CHAIN,
    EXIT_EVIDENCE_NO_CHAIN,
    EXIT_EVIDENCE_PRUNE_REFUSED,
    EXIT_EVIDENCE_SIGNATURE,
    EXIT_EVIDENCE_STORE_CONFLICT,
    EXIT_OK,
    EXIT_RUN_FAILED,
    EXIT_USAGE,
)
from soc2audit.fsutil import atomic_write

RETENTION_ENV = "SOC2AUDIT_EVIDENCE_RETENTION_DAYS"


def _exit_table() -> str:
    lines = ["exit status:"]
    for status, meaning in EVIDENCE_MEANINGS.items():
        wrapped = textwrap.wrap(meaning, width=88)
        lines.append(f"  {status:<3} {wrapped[0]}")
        lines += [f"      {more}" for more in wrapped[1:]]
    return "\n".join(lines) + "\n"


VERIFY_EPILOG = (
    _exit_table()
    + "\nfinding kinds: "
    + ", ".join(KINDS)
    + """

examples:
  soc2audit evidence verify
  soc2audit evidence verify --from 2026-01-01 --to 2026-03-31 --json > verify.json
  soc2audit evidence verify --anchor /mnt/worm/evidence-anchor.json --metrics \\
      /var/lib/prometheus/node-exporter/soc2audit_evidence.prom
"""
)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _common(parser: argparse.ArgumentParser, key: bool = True) -> None:
    add_dirs(parser)
    if key:
        parser.add_argument(
            "--key",
            type=Path,
            metavar="FILE",
            help=f"the Ed25519 private key (default: ${KEY_ENV}, else DIR/{DEFAULT_KEY}; 0600, "
            "never inside the evidence directory)",
        )


def _digest_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--interval",
        type=_positive,
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help="digest interval, aligned to the Unix epoch (default: %(default)s)",
    )
    parser.add_argument(
        "--catalog", type=Path, metavar="FILE", help="default: DIR/controls/catalog.yml"
    )
    parser.add_argument(
        "--waivers", type=Path, metavar="FILE", help="default: DIR/controls/waivers.yml"
    )
    parser.add_argument(
        "--now", type=moment, metavar="TIME", help="take TIME as the current time (tests, replay)"
    )
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")
    _tsa_options(parser)


def _tsa_options(parser: argparse.ArgumentParser) -> None:
    from soc2audit.timestamp import CA_ENV, POLICIES, POLICY_ENV, URL_ENV

    parser.add_argument(
        "--tsa-url",
        metavar="URL",
        help=f"RFC 3161 TSA to timestamp the digests (default: ${URL_ENV}; none: no timestamps)",
    )
    parser.add_argument(
        "--tsa-ca",
        type=Path,
        metavar="PEM",
        help=f"the TSA's CA certificate, to check each token (default: ${CA_ENV})",
    )
    parser.add_argument(
        "--timestamps",
        choices=POLICIES,
        help=f"which digests get a token: every one, or each UTC day's last (default: "
        f"${POLICY_ENV}, else every)",
    )


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``evidence`` and its sub-commands to the soc2audit parser's sub-parsers."""
    evidence = sub.add_parser(
        "evidence",
        help="the signed digest chain over the evidence trail (keygen, digest, verify, ...)",
        description="The signed, chained digests of the evidence trail (docs/evidence.md).",
    )
    cmds = evidence.add_subparsers(dest="evidence_command", required=True)

    p = cmds.add_parser("keygen", help="create the signing key and export its public key")
    _common(p)
    p.add_argument(
        "--exist-ok",
        action="store_true",
        help="a key already there is kept (its public key exported again), not an error",
    )
    p.add_argument("--json", action="store_true", help="print the outcome as JSON (changed, ...)")

    p = cmds.add_parser(
        "digest", help="write a digest for every interval that ended since the last one"
    )
    _common(p)
    _digest_options(p)

    p = cmds.add_parser(
        "rotate-key", help="replace the signing key; the old key signs the announcement"
    )
    _common(p)
    _digest_options(p)

    p = cmds.add_parser("anchor", help="write the chain head's anchor record to FILE")
    _common(p, key=False)
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="anchor record file")

    p = cmds.add_parser(
        "verify",
        help="walk the chain and report every problem",
        epilog=VERIFY_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p, key=False)
    p.add_argument("--from", dest="since", type=moment, metavar="DATE|TIME", help="window start")
    p.add_argument(
        "--to",
        dest="until",
        type=end_moment,
        metavar="DATE|TIME",
        help="window end (a date includes that day; default: now)",
    )
    p.add_argument(
        "--anchor",
        type=Path,
        metavar="FILE",
        help="anchor record (from `evidence anchor`, kept in write-once storage)",
    )
    anchor_s3.add_verify_options(p)
    p.add_argument(
        "--tsa-ca",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="CA certificate the RFC 3161 tokens must chain to (repeatable; default: the "
        "copies in the evidence's keys/tsa/)",
    )
    p.add_argument(
        "--trusted-key",
        type=Path,
        action="append",
        default=[],
        metavar="PEM",
        help="public key the chain's first digest must be signed by (repeatable)",
    )
    p.add_argument(
        "--allow-pending",
        action="store_true",
        help="bytes appended after the newest digest, before the next one is due, are info",
    )
    p.add_argument(
        "--grace",
        type=int,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help="a digest is overdue this long after its interval ends (default: %(default)s)",
    )
    p.add_argument(
        "--now", type=moment, metavar="TIME", help="take TIME as the current time (tests, replay)"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--metrics",
        type=Path,
        metavar="FILE",
        help="write soc2audit_evidence_verify_* (Prometheus text) to FILE atomically",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="only the findings and outcome")

    p = cmds.add_parser(
        "upload",
        help="copy closed evidence files to the S3 Object Lock store (COMPLIANCE-locked)",
        description="Copy each closed evidence day file (its UTC day has ended, a digest covers "
        "all of it) to the bucket that holds the anchors, as <prefix>/files/<name> locked in "
        "COMPLIANCE mode for the store's retention. A copy already there is skipped; a different "
        "object at that key is never overwritten (exit 17). docs/evidence.md, Retention.",
    )
    _common(p, key=False)
    anchor_s3.add_verify_options(p)
    p.add_argument(
        "--now", type=moment, metavar="TIME", help="take TIME as the current time (tests, replay)"
    )
    p.add_argument("--json", action="store_true", help="print what was done as JSON")

    p = cmds.add_parser(
        "prune",
        help="remove evidence files older than DATE, past retention and anchored",
        description="Remove evidence day files older than --before. Refuses (exit 16, nothing "
        "removed) when --before is inside the retention or any such file is not covered by "
        "an anchored digest (docs/evidence.md, Prune).",
    )
    _common(p, key=False)
    p.add_argument(
        "--before",
        required=True,
        type=day,
        metavar="YYYY-MM-DD",
        help="remove day files of days before this one",
    )
    p.add_argument(
        "--retention-days",
        type=int,
        default=None,
        metavar="DAYS",
        help="keep this many days (default: $SOC2AUDIT_EVIDENCE_RETENTION_DAYS, else 365)",
    )
    p.add_argument(
        "--anchor",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="anchor record(s) from write-once storage (repeatable; the newest valid one counts)",
    )
    anchor_s3.add_verify_options(p)
    p.add_argument(
        "--dry-run", action="store_true", help="say what would be removed, remove nothing"
    )
    p.add_argument(
        "--now", type=moment, metavar="TIME", help="take TIME as the current time (tests, replay)"
    )
    p = cmds.add_parser(
        "pull-verify",
        help="check the pull-mode hosts' signed segments in the S3 evidence store",
        description="List every version under s3://BUCKET/PREFIX/<host>/ and verify each with "
        "the host's public key (roles/ansible_pull, docs/roles/ansible_pull.md): unsigned, "
        "forged, unlocked, altered, stale or missing segments are failures.",
    )
    _common(p, key=False)
    p.add_argument(
        "--store",
        required=True,
        metavar="s3://BUCKET[/PREFIX]",
        help="the evidence store and the pull prefix (default prefix: pull)",
    )
    p.add_argument(
        "--keys-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="the hosts' public keys, <DIR>/<host>.pem (the role's ansible_pull_public_keys_dir)",
    )
    p.add_argument(
        "--max-age-hours",
        type=float,
        default=26.0,
        metavar="HOURS",
        help="a host whose newest good segment is older is stale (default 26)",
    )
    p.add_argument("--s3-endpoint-url", metavar="URL", default="")
    p.add_argument("--s3-ca-bundle", metavar="PEM", default="")
    p.add_argument("--s3-region", metavar="REGION", default="")
    p.add_argument("--json", action="store_true", help="one JSON object per segment and host")
    return evidence


def _pull_verify(args: argparse.Namespace) -> int:
    """``evidence pull-verify``: 0 when every segment verifies and no host is stale or missing;
    10 for an unsigned, forged or unknown host's segment, 11 for an unlocked or altered object,
    13 for a stale or missing host."""
    import datetime as dt
    import re

    from soc2audit import pull

    match = re.match(r"^s3://([^/]+)(?:/(.*))?$", args.store)
    if not match:
        print(f"soc2audit: --store {args.store!r}: s3://BUCKET[/PREFIX]", file=sys.stderr)
        return EXIT_USAGE
    values = {
        "bucket": match.group(1),
        "prefix": (match.group(2) or "").strip("/") or pull.DEFAULT_PREFIX,
        "endpoint_url": args.s3_endpoint_url,
        "ca_bundle": args.s3_ca_bundle,
        "region": args.s3_region,
    }
    try:
        store = anchor_s3.from_mapping(values, {anchor_s3.RETENTION_ENV: "1"})
        assert store is not None
        rows = pull.verify_pulled(store, args.keys_dir, dt.timedelta(hours=args.max_age_hours))
    except anchor_s3.AnchorError as exc:
        print(f"soc2audit: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    for row in rows:
        if args.json:
            print(json.dumps(row.as_dict(), sort_keys=True))
        else:
            where = f" {row.key} (version {row.version_id})" if row.key else ""
            print(f"{row.status:12} {row.host}{where}{': ' + row.reason if row.reason else ''}")
    statuses = {row.status for row in rows}
    if statuses & {"unsigned", "forged", "unknown_host"}:
        return EXIT_EVIDENCE_SIGNATURE
    if statuses & {"unlocked", "altered"}:
        return EXIT_EVIDENCE_ALTERED
    if statuses & {"stale", "missing"}:
        return EXIT_EVIDENCE_CHAIN
    return EXIT_OK


def _paths(args: argparse.Namespace) -> tuple[Path, Path | None]:
    project = args.project_dir.resolve()
    evidence = (args.evidence_dir or project / "evidence").resolve()
    key: Path | None = None
    if hasattr(args, "key"):
        key = signing_key(args.key, project)
        if key.is_relative_to(evidence):
            raise ValueError(f"the signing key {key} must not be inside {evidence}")
    return evidence, key


def _settings(args: argparse.Namespace) -> Settings:
    from soc2audit.results import policy_sha256_of

    project = args.project_dir.resolve()
    catalog = args.catalog or project / "controls" / "catalog.yml"
    waivers = args.waivers or project / "controls" / "waivers.yml"
    return Settings(
        policy_sha256=policy_sha256_of(catalog, waivers),
        interval=args.interval,
        timestamp_policy=args.tsa.policy if args.tsa else None,
    )


def _keygen(args: argparse.Namespace, key: Path, evidence: Path) -> int:
    changed = not (args.exist_ok and key.exists())
    if changed:
        try:
            fp, public = keygen(key, evidence)
        except ChainError:
            if not (args.exist_ok and key.exists()):
                raise
            changed = False  # made meanwhile by another run (two converges at once)
    if not changed:
        existing = load_private_key(key).public_key()
        fp, public = fingerprint(existing), export_public(evidence, existing)
    if args.json:
        print(
            json.dumps(
                {"changed": changed, "key": str(key), "public_key": str(public), "fingerprint": fp}
            )
        )
    elif changed:
        print(f"created {key} (0600); public key {public}; fingerprint {fp}")
    else:
        print(f"kept {key}; public key {public}; fingerprint {fp}")
    return EXIT_OK


def _stamp(args: argparse.Namespace, evidence: Path) -> int:
    """Ask the TSA for every token still missing; exit 3 (the digests stay written) when one
    could not be had."""
    from soc2audit.timestamp import stamp_missing

    if args.tsa is None:
        return EXIT_OK
    done = stamp_missing(evidence, args.tsa)
    if not args.json:
        for rel in done.written:
            print(f"timestamped: {rel}")
    for rel, why in done.failed[:1]:
        print(
            f"soc2audit: no RFC 3161 token for {rel} and {len(done.failed) - 1} more digest(s) "
            f"yet: {why} (the digests are written; the next digest step asks again)",
            file=sys.stderr,
        )
    return EXIT_RUN_FAILED if done.failed else EXIT_OK


def run(args: argparse.Namespace) -> int:
    try:
        evidence, key = _paths(args)
    except ValueError as exc:
        print(f"soc2audit: {exc}", file=sys.stderr)
        return EXIT_USAGE
    command = args.evidence_command
    try:
        if command == "keygen":
            assert key is not None
            return _keygen(args, key, evidence)
        if command == "anchor":
            record = write_anchor(evidence, args.out)
            print(json.dumps(record, sort_keys=True))
            return EXIT_OK
        if command in ("digest", "rotate-key"):
            assert key is not None
            from soc2audit.timestamp import tsa_from

            try:
                args.tsa = tsa_from(args.tsa_url, args.tsa_ca, args.timestamps)
            except ValueError as exc:
                print(f"soc2audit: {exc}", file=sys.stderr)
                return EXIT_USAGE
            try:
                settings = _settings(args)
            except OSError as exc:
                print(f"soc2audit: cannot read the policy: {exc}", file=sys.stderr)
                return EXIT_USAGE
            if command == "digest":
                written = write_due_digests(evidence, key, settings, args.now)
                if args.json:
                    print(json.dumps([d.rel for d in written]))
                else:
                    for digest in written:
                        print(f"wrote {digest.rel} ({len(digest.data['files'])} file(s))")
                    if not written:
                        print("no interval has ended since the newest digest")
                anchored = True
                try:
                    for line in anchor_s3.anchor_after_digest(evidence, written):
                        print(line, file=sys.stderr if args.json else sys.stdout)
                except anchor_s3.AnchorError as exc:
                    print(f"soc2audit: digests written, not anchored: {exc}", file=sys.stderr)
                    anchored = False
                stamped = _stamp(args, evidence)
                return stamped if anchored else EXIT_RUN_FAILED
            digest, fp = rotate_key(evidence, key, settings, args.now)
            if args.json:
                print(json.dumps({"digest": digest.rel, "fingerprint": fp}))
            else:
                print(f"new key {fp} announced in {digest.rel}, signed by the old key")
            return _stamp(args, evidence)
        if command == "prune":
            return _prune(args, evidence)
        if command == "upload":
            return _upload(args, evidence)
        if command == "pull-verify":
            return _pull_verify(args)
    except NoKeyError as exc:
        print(f"soc2audit: {exc}", file=sys.stderr)
        return EXIT_EVIDENCE_NO_CHAIN
    except (ChainError, OSError) as exc:
        print(f"soc2audit: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    return _verify(args, evidence)


def _verify(args: argparse.Namespace, evidence: Path) -> int:
    if args.since and args.until and args.since >= args.until:
        print("soc2audit: --from must be before --to", file=sys.stderr)
        return EXIT_USAGE
    for pem in args.trusted_key:
        try:
            load_public_pem(pem.read_bytes())
        except (OSError, ValueError) as exc:
            print(f"soc2audit: --trusted-key {pem}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    if args.anchor and args.anchor_s3 is not None:
        print("soc2audit: give --anchor or --anchor-s3, not both", file=sys.stderr)
        return EXIT_USAGE
    try:
        with anchor_s3.verify_anchor(args) as from_s3:
            report = verify(
                evidence,
                since=args.since,
                until=args.until,
                anchor=from_s3 or args.anchor,
                trusted_keys=args.trusted_key,
                tsa_ca=args.tsa_ca,
                allow_pending=args.allow_pending,
                grace=args.grace,
                now=args.now,
            )
    except anchor_s3.AnchorError as exc:
        print(f"soc2audit: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if args.metrics:
        atomic_write(args.metrics, verify_metrics(report), 0o644)
    if args.json:
        print(json.dumps(report.to_json(), indent=2, sort_keys=True))
        return report.exit_code
    for finding in report.findings:
        print(finding.text())
    head = report.head
    if not args.quiet:
        where = f"head {head['digest']} (ends {head['interval_end']})" if head else "no digest"
        print(
            f"{report.digests} digest(s), {report.files} file(s), {report.bytes_hashed} bytes "
            f"hashed in {report.duration_seconds:.3f} s; {where}"
        )
    outcome = "verified" if report.ok else EVIDENCE_MEANINGS[report.exit_code]
    print(f"evidence {outcome} (exit status {report.exit_code})")
    return report.exit_code


def _prune(args: argparse.Namespace, evidence: Path) -> int:
    from soc2audit.evidence_store import StoredCopies
    from soc2audit.prune import DEFAULT_RETENTION_DAYS, PruneRefused, prune

    retention = args.retention_days
    if retention is None:
        retention = int(os.environ.get(RETENTION_ENV) or DEFAULT_RETENTION_DAYS)
    try:
        store = anchor_s3.store_from_args(args, configured=True)
        copies = StoredCopies(store, args.now) if store else None
        done = prune(evidence, args.before, args.anchor, retention, args.now, args.dry_run, copies)
    except PruneRefused as exc:
        print("soc2audit: evidence prune refused, nothing removed:", file=sys.stderr)
        for reason in exc.reasons:
            print(f"  {reason}", file=sys.stderr)
        return EXIT_EVIDENCE_PRUNE_REFUSED
    except anchor_s3.AnchorError as exc:
        print(f"soc2audit: evidence prune: nothing removed: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    verb = "would remove" if args.dry_run else "removed"
    for item in done.files:
        print(f"{verb} {item['path']} ({item['bytes']} bytes, sha256 {item['file_sha256']})")
    anchor = f" (anchored digest #{done.anchor['sequence']})" if done.anchor else ""
    print(f"{len(done.files)} file(s) {verb}{anchor}")
    if done.copies:
        print(f"each has its locked copy under {done.copies}")
    elif done.files:
        print(
            "the copies in the write-once store were not checked (no S3 store given: "
            f"--anchor-s3 or ${anchor_s3.ENV_PREFIX}BUCKET)"
        )
    return EXIT_OK


def _upload(args: argparse.Namespace, evidence: Path) -> int:
    from soc2audit.evidence_store import upload

    try:
        store = anchor_s3.store_from_args(args, configured=True, write=True)
        if store is None:
            print(
                f"soc2audit: evidence upload needs the S3 store: --anchor-s3 s3://BUCKET[/PREFIX] "
                f"or ${anchor_s3.ENV_PREFIX}BUCKET",
                file=sys.stderr,
            )
            return EXIT_USAGE
        done = upload(evidence, store, args.now)
    except anchor_s3.AnchorError as exc:
        print(f"soc2audit: evidence upload: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if args.json:
        print(
            json.dumps(
                {"written": done.written, "skipped": done.skipped, "conflicts": done.conflicts},
                indent=2,
                sort_keys=True,
            )
        )
    else:
        for entry in done.written:
            print(
                f"copied {entry['path']} to {entry['url']} (version {entry['version_id']}, "
                f"COMPLIANCE until {entry['retain_until']})"
            )
        print(
            f"{len(done.written)} file(s) copied, {len(done.skipped)} already there, "
            f"{len(done.conflicts)} conflict(s)"
        )
    for conflict in done.conflicts:
        print(f"soc2audit: conflict: {conflict}", file=sys.stderr)
    return EXIT_EVIDENCE_STORE_CONFLICT if done.conflicts else EXIT_OK
