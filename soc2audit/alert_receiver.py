# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Alertmanager's evidence webhook: every notification, firing and resolved, as evidence lines.

Alertmanager posts its webhook payload (version 4) here over mutual TLS: the receiver presents a
server certificate of the project's PKI and requires a client certificate signed by the same CA
(optionally with one of the allowed names). Each alert of a notification becomes one JSON line
in ``<evidence dir>/alerts-YYYY-MM-DD.jsonl`` (the UTC day it was received), appended durably
by ``soc2audit.evidence.append_evidence`` (the evidence trail's one writer) before the
receiver answers 200, so Alertmanager retries whatever was not written.

A line::

    {"record": "alert_notification", "alertname", "status" (firing|resolved), "labels",
     "annotations", "starts_at", "ends_at", "received", "fingerprint", "receiver",
     "group_key", "generator_url", "external_url", "peer"}

``ends_at`` is null while an alert fires (Alertmanager sends the zero time ``0001-01-01``).
``GET /healthz`` answers ``{"status": "ok", ...}`` when the evidence directory is writable; the
MON verifier (plugins/module_utils/soc2_mon_prometheus.py) asks it over the same mTLS.

Run on the monitor as a systemd unit (roles/prometheus): only the standard library and the
three soc2audit files it needs (this one, evidence.py, fsutil.py) are copied there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import ssl
import sys
import threading
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from soc2audit.evidence import ALERTS_PREFIX, append_evidence
from soc2audit.fsutil import ensure_dir, iso_utc

#: Day files of the alert notifications, beside the drift runs' ``results-`` files.
RECORD = "alert_notification"
MAX_BODY_BYTES = 4 * 1024 * 1024
ZERO_TIME_PREFIX = "0001-01-01"


class PayloadError(ValueError):
    """The request body is not an Alertmanager webhook payload."""


def _end_time(value: Any) -> str | None:
    text = str(value or "")
    return None if not text or text.startswith(ZERO_TIME_PREFIX) else text


def notification_rows(
    payload: Mapping[str, Any], received: dt.datetime, peer: str | None = None
) -> list[dict[str, Any]]:
    """One evidence row per alert of an Alertmanager webhook payload (version 4)."""
    if not isinstance(payload, Mapping):
        raise PayloadError("the body is not a JSON object")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("the payload has no 'alerts' list")
    rows: list[dict[str, Any]] = []
    for alert in alerts:
        if not isinstance(alert, Mapping):
            raise PayloadError("an alert is not a JSON object")
        labels = alert.get("labels")
        labels = {} if labels is None else labels
        if not isinstance(labels, Mapping):
            raise PayloadError("an alert's labels are not an object")
        annotations = alert.get("annotations") or {}
        if not isinstance(annotations, Mapping):
            raise PayloadError("an alert's annotations are not an object")
        status = str(alert.get("status") or payload.get("status") or "")
        if status not in ("firing", "resolved"):
            raise PayloadError(f"unknown alert status {status!r}")
        rows.append(
            {
                "record": RECORD,
                "alertname": str(labels.get("alertname", "")),
                "status": status,
                "labels": {str(k): str(v) for k, v in sorted(labels.items())},
                "annotations": {str(k): str(v) for k, v in sorted(annotations.items())},
                "starts_at": alert.get("startsAt"),
                "ends_at": _end_time(alert.get("endsAt")),
                "received": iso_utc(received),
                "fingerprint": alert.get("fingerprint"),
                "receiver": payload.get("receiver"),
                "group_key": payload.get("groupKey"),
                "generator_url": alert.get("generatorURL"),
                "external_url": payload.get("externalURL"),
                "peer": peer,
            }
        )
    return rows


def _peer_name(cert: Mapping[str, Any] | None) -> str | None:
    """The client certificate's common name (or first DNS name), from ``getpeercert()``."""
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    for kind, value in cert.get("subjectAltName", ()):
        if kind == "DNS":
            return str(value)
    return None


def _peer_names(cert: Mapping[str, Any] | None) -> set[str]:
    names = {n for n in [_peer_name(cert)] if n}
    for kind, value in (cert or {}).get("subjectAltName", ()):
        if kind in ("DNS", "IP Address"):
            names.add(str(value))
    return names


class Receiver:
    """Writes notifications to the evidence directory; one lock orders the appends."""

    def __init__(self, evidence_dir: Path | str, allowed_names: Sequence[str] = ()) -> None:
        self.evidence_dir = Path(evidence_dir)
        self.allowed_names = frozenset(allowed_names)
        self.lock = threading.Lock()
        self.written = 0
        self.last_write: str | None = None

    def allowed(self, cert: Mapping[str, Any] | None) -> bool:
        return not self.allowed_names or bool(_peer_names(cert) & self.allowed_names)

    def record(self, payload: Any, peer: str | None, now: dt.datetime | None = None) -> int:
        """Append the payload's rows durably; how many were written."""
        received = now or dt.datetime.now(dt.UTC)
        rows = notification_rows(payload, received, peer)
        with self.lock:
            if rows:
                append_evidence(self.evidence_dir, rows, received, prefix=ALERTS_PREFIX)
            self.written += len(rows)
            self.last_write = iso_utc(received)
        return len(rows)

    def health(self) -> dict[str, Any]:
        ok = self.evidence_dir.is_dir() and os.access(self.evidence_dir, os.W_OK | os.X_OK)
        return {
            "status": "ok" if ok else "evidence directory not writable",
            "evidence_dir": str(self.evidence_dir),
            "written": self.written,
            "last_write": self.last_write,
        }


class Handler(BaseHTTPRequestHandler):
    """POST (any path): a webhook notification. GET /healthz: the receiver's health."""

    server_version = "soc2audit-alert-receiver"
    receiver: Receiver  # set on the subclass made by make_server

    def _reply(self, code: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(dict(body), sort_keys=True).encode("utf-8") + b"\n"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _cert(self) -> dict[str, Any] | None:
        getpeercert = getattr(self.connection, "getpeercert", None)
        return getpeercert() if getpeercert else None

    def _refuse_peer(self) -> bool:
        if self.receiver.allowed(self._cert()):
            return False
        self._reply(403, {"error": "client certificate name not allowed"})
        return True

    def do_GET(self) -> None:
        if self._refuse_peer():
            return
        if self.path.split("?", 1)[0] != "/healthz":
            self._reply(404, {"error": "not found"})
            return
        health = self.receiver.health()
        self._reply(200 if health["status"] == "ok" else 503, health)

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._reply(411 if length < 0 else 413, {"error": "bad Content-Length"})
            return
        # Read the body before any answer: a TLS connection closed with unread data loses the
        # answer on the client's side.
        body = self.rfile.read(length)
        if self._refuse_peer():
            return
        try:
            payload = json.loads(body or b"null")
            written = self.receiver.record(payload, _peer_name(self._cert()))
        except (ValueError, PayloadError) as exc:
            self._reply(400, {"error": str(exc)})
            return
        except OSError as exc:  # not written: Alertmanager retries
            self.log_error("evidence not written: %s", exc)
            self._reply(500, {"error": f"evidence not written: {exc}"})
            return
        self._reply(200, {"written": written})

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def tls_context(cert: str, key: str, ca: str, min_version: str = "TLSv1.2") -> ssl.SSLContext:
    """Server context: our certificate, client certificates required and verified against ca."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if min_version == "TLSv1.3" else ssl.TLSVersion.TLSv1_2
    )
    context.load_cert_chain(cert, key)
    context.load_verify_locations(cafile=ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class _Server(ThreadingHTTPServer):
    """Accepts in the main thread and shakes hands in the request's own thread, so a client
    that stalls its TLS handshake cannot hold up the others."""

    daemon_threads = True
    context: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.context is not None:
            request.settimeout(10)
            request = self.context.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        sys.stderr.write(f"{client_address[0]} refused: {type(error).__name__}: {error}\n")


def make_server(
    address: str,
    port: int,
    receiver: Receiver,
    context: ssl.SSLContext | None,
) -> ThreadingHTTPServer:
    """A threading HTTP(S) server for ``receiver``; TLS when ``context`` is given."""
    handler = type("BoundHandler", (Handler,), {"receiver": receiver})
    server = _Server((address, port), handler)
    server.context = context
    return server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m soc2audit.alert_receiver",
        description="Alertmanager webhook receiver writing every notification to evidence.",
    )
    parser.add_argument("--listen-address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9097)
    parser.add_argument("--cert", required=True, help="server certificate (full chain)")
    parser.add_argument("--key", required=True, help="its private key")
    parser.add_argument("--ca", required=True, help="CA bundle of the client certificates")
    parser.add_argument("--evidence-dir", required=True)
    parser.add_argument(
        "--allowed-client-name",
        action="append",
        default=[],
        help="client certificate name (CN or SAN) allowed to post; repeat; none: any of the CA",
    )
    parser.add_argument("--tls-min-version", choices=["TLSv1.2", "TLSv1.3"], default="TLSv1.2")
    args = parser.parse_args(argv)
    ensure_dir(args.evidence_dir, 0o750)
    receiver = Receiver(args.evidence_dir, args.allowed_client_name)
    context = tls_context(args.cert, args.key, args.ca, args.tls_min_version)
    server = make_server(args.listen_address, args.port, receiver, context)
    print(
        f"soc2audit alert receiver on {args.listen_address}:{args.port}, "
        f"evidence in {args.evidence_dir}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
