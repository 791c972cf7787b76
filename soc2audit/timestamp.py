# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""RFC 3161 timestamps of the evidence digests (docs/evidence.md, Timestamps).

A Time Stamping Authority (TSA) signs "this SHA-256 existed at time T" for each digest the
policy names, so whoever holds the evidence key cannot write history afterwards: a digest
rewritten or back-filled later carries no token from the time it claims, and a cut-off tail
is missing the tokens an auditor can ask the TSA's log about.

* The policy is part of the signed digest (``timestamp_policy``: ``every`` digest, or ``daily``:
  the digest that closes each UTC day), so the verifier knows which digests must have a token
  and a removed token is a finding, not silence.
* The request is ``openssl ts -query -sha256 -cert`` over the digest file's bytes, sent with an
  HTTP(S) POST (``application/timestamp-query``, RFC 3161 section 3.4); the reply is checked
  against the query (nonce, imprint) and the TSA's CA with ``openssl ts -verify -queryfile``
  before it is kept, as ``<digest>.json.tsr`` beside the digest (the DER TimeStampResp).
* The TSA's CA certificate is exported with the evidence (``keys/tsa/<sha256>.pem``), like the
  evidence public keys; an auditor passes the CA the TSA publishes (``--tsa-ca``) instead.
* ``evidence verify`` checks every token with ``openssl ts -verify -data <digest> -in <tsr>
  -CAfile <ca>``: the same command an auditor runs by hand.

A token that cannot be had (TSA down) leaves the digest written and its token missing; every
later digest step asks again for every token still missing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soc2audit.chain import KEYS, Digest, digest_files, read_digest
from soc2audit.evidence import DIR_MODE, FILE_MODE
from soc2audit.fsutil import atomic_write, ensure_dir, parse_utc

#: The digest field that states the policy (absent: no timestamps for that digest).
FIELD = "timestamp_policy"
POLICIES = ("every", "daily")
TOKEN_SUFFIX = ".tsr"
TSA_DIR = "tsa"
URL_ENV = "SOC2AUDIT_EVIDENCE_TSA_URL"
CA_ENV = "SOC2AUDIT_EVIDENCE_TSA_CA"
POLICY_ENV = "SOC2AUDIT_EVIDENCE_TSA_POLICY"
DEFAULT_POLICY = "every"
DEFAULT_TIMEOUT = 10.0
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


class TimestampError(Exception):
    """A token could not be obtained or did not check out."""


@dataclass(frozen=True)
class Tsa:
    """Where to ask for tokens, the CA their TSA certificate must chain to, and the policy."""

    url: str
    ca_file: Path
    policy: str = DEFAULT_POLICY
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"TSA URL must be http(s)://...: {self.url!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"timestamp policy must be one of {', '.join(POLICIES)}")
        if not Path(self.ca_file).is_file():
            raise ValueError(f"the TSA's CA certificate {self.ca_file} is not a file")


def tsa_from(url: str | None, ca_file: Path | str | None, policy: str | None = None) -> Tsa | None:
    """A Tsa from explicit values, else the environment; None when no URL is configured.

    ValueError (with what to do) for a URL without a CA, a bad URL or policy."""
    url = url or os.environ.get(URL_ENV) or None
    if not url:
        return None
    ca = ca_file or os.environ.get(CA_ENV) or None
    if not ca:
        raise ValueError(
            f"a TSA URL ({url}) needs the TSA's CA certificate to check its tokens: "
            f"--tsa-ca FILE or ${CA_ENV}"
        )
    return Tsa(url, Path(ca), policy or os.environ.get(POLICY_ENV) or DEFAULT_POLICY)


def token_path(digest_path: Path) -> Path:
    return digest_path.with_name(digest_path.name + TOKEN_SUFFIX)


def needs_token(data: dict[str, Any]) -> bool:
    """Whether the policy the digest states asks for a token for it: ``every`` digest, or with
    ``daily`` the digest that closes a UTC day (its interval ends on or after a midnight its
    start is before)."""
    policy = data.get(FIELD)
    if policy == "every":
        return True
    if policy != "daily":
        return False
    start = parse_utc(str(data["interval_start"]))
    end = parse_utc(str(data["interval_end"]))
    return end.date() > start.date() or (end.time() == dt.time() and end > start)


def _openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["openssl", *args], input=data, capture_output=True, check=False, timeout=60
    )


def _why(proc: subprocess.CompletedProcess[bytes]) -> str:
    text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    useful = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith("Using configuration")
    ]
    return "; ".join(useful[-3:]) or f"openssl exit status {proc.returncode}"


def request_token(tsa: Tsa, data_file: Path) -> bytes:
    """Ask the TSA for a token over ``data_file``'s bytes; the reply, checked against the query
    and the TSA's CA (TimestampError otherwise)."""
    with tempfile.TemporaryDirectory(prefix="soc2audit-tsa-") as tmp:
        query = Path(tmp) / "query.tsq"
        made = _openssl(
            "ts", "-query", "-data", str(data_file), "-sha256", "-cert", "-out", str(query)
        )
        if made.returncode != 0:
            raise TimestampError(f"openssl ts -query failed: {_why(made)}")
        request = urllib.request.Request(
            tsa.url,
            data=query.read_bytes(),
            headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=tsa.timeout) as answer:
                reply = answer.read()
                kind = answer.headers.get("Content-Type", "")
        except (urllib.error.URLError, OSError) as exc:
            raise TimestampError(f"TSA {tsa.url}: {exc}") from exc
        if not kind.startswith(REPLY_TYPE):
            raise TimestampError(f"TSA {tsa.url} answered {kind or 'no content type'}, not a reply")
        response = Path(tmp) / "reply.tsr"
        response.write_bytes(reply)
        checked = _openssl(
            "ts",
            "-verify",
            "-queryfile",
            str(query),
            "-in",
            str(response),
            "-CAfile",
            str(tsa.ca_file),
        )
        if checked.returncode != 0:
            raise TimestampError(
                f"the reply of TSA {tsa.url} does not verify against the query and "
                f"{tsa.ca_file}: {_why(checked)}"
            )
        return reply


def export_ca(evidence_dir: Path | str, ca_file: Path | str) -> Path:
    """Copy the TSA's CA certificate(s) to ``keys/tsa/<sha256>.pem`` (kept when present)."""
    pem = Path(ca_file).read_bytes()
    directory = ensure_dir(Path(evidence_dir) / KEYS / TSA_DIR, DIR_MODE)
    target = directory / f"{hashlib.sha256(pem).hexdigest()}.pem"
    if not (target.is_file() and target.read_bytes() == pem):
        atomic_write(target, pem, 0o644)
    return target


def exported_cas(evidence_dir: Path | str) -> list[Path]:
    directory = Path(evidence_dir) / KEYS / TSA_DIR
    return sorted(directory.glob("*.pem")) if directory.is_dir() else []


@dataclass
class Stamped:
    """What ``stamp_missing`` did: tokens written, and the digests still without one (why)."""

    written: list[str]
    failed: list[tuple[str, str]]


def _wanting(evidence_dir: Path, paths: Iterable[Path]) -> list[Digest]:
    wanting: list[Digest] = []
    for path in paths:
        if token_path(path).exists():
            continue
        try:
            digest = read_digest(evidence_dir, path)
        except (OSError, ValueError):
            continue  # evidence verify names it
        if needs_token(digest.data):
            wanting.append(digest)
    return wanting


def stamp_missing(evidence_dir: Path | str, tsa: Tsa) -> Stamped:
    """Request a token for every digest whose policy asks for one and that has none yet
    (the newest digests, and any earlier ones a TSA outage left without). Stops asking after
    the first failure: the TSA is down or refusing, the next digest step asks again."""
    root = Path(evidence_dir)
    export_ca(root, tsa.ca_file)
    done = Stamped([], [])
    wanting = _wanting(root, digest_files(root))
    for index, digest in enumerate(wanting):
        try:
            reply = request_token(tsa, digest.path)
        except TimestampError as exc:
            done.failed += [(d.rel, str(exc)) for d in wanting[index:]]
            break
        target = token_path(digest.path)
        atomic_write(target, reply, FILE_MODE)
        done.written.append(target.relative_to(root).as_posix())
    return done


@contextlib.contextmanager
def ca_bundle(ca_files: Sequence[Path]) -> Iterator[Path | None]:
    """One temporary PEM file holding every CA of ``ca_files`` (None when there is none)."""
    if not ca_files:
        yield None
        return
    with tempfile.NamedTemporaryFile(prefix="soc2audit-tsa-ca-", suffix=".pem") as bundle:
        for ca in ca_files:
            bundle.write(Path(ca).read_bytes().rstrip(b"\n") + b"\n")
        bundle.flush()
        yield Path(bundle.name)


def verify_token(digest_path: Path, token: Path, bundle: Path | None) -> str | None:
    """None when ``token`` is a valid TSA reply over the digest file's bytes whose signer
    chains to a CA of ``bundle`` (``ca_bundle``); else why not."""
    if bundle is None:
        return "no TSA CA certificate to check it with (--tsa-ca, or keys/tsa/ in the evidence)"
    proc = _openssl(
        "ts", "-verify", "-data", str(digest_path), "-in", str(token), "-CAfile", str(bundle)
    )
    return None if proc.returncode == 0 else _why(proc)
