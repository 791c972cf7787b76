#!/usr/bin/python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test client for the log_aggregator scenarios: sends RFC 5424 messages, octet-counted (RFC 6587),
over TLS (optionally with a client certificate) or plain TCP, and says whether the aggregator
kept the session open or refused it. Prints one JSON object.

An mTLS refusal can come after the client's side of a TLS 1.3 handshake has finished, so the
session is judged by what follows the frames: an alert or a close within --wait seconds is
"refused", a session that stays open is "open".
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--plain", action="store_true")
    p.add_argument("--max-tls", choices=["1.2", "1.3"], help="highest TLS version to offer")
    p.add_argument("--wait", type=float, default=3.0)
    p.add_argument("--message", action="append", default=[], help="a whole RFC 5424 message")
    args = p.parse_args()
    frames = b"".join(b"%d %s" % (len(m.encode()), m.encode()) for m in args.message)
    out: dict[str, object] = {"frames": len(args.message)}
    try:
        raw = socket.create_connection((args.host, args.port), timeout=10)
    except OSError as exc:
        out.update(session="refused", error=f"connect: {exc}")
        print(json.dumps(out))
        return 0
    try:
        if args.plain:
            conn = raw
        else:
            ctx = ssl.create_default_context(cafile=args.ca)
            ctx.check_hostname = False  # the aggregator's address is checked below instead
            if args.max_tls == "1.2":
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            if args.cert:
                ctx.load_cert_chain(args.cert, args.key)
            conn = ctx.wrap_socket(raw, server_hostname=args.host)
            cert = conn.getpeercert() or {}
            ips = [v for k, v in cert.get("subjectAltName", ()) if k == "IP Address"]
            out["server_ip_in_san"] = args.host in ips
            out["tls_version"] = conn.version()
        conn.sendall(frames)
        conn.settimeout(args.wait)
        try:
            data = conn.recv(1024)
            out.update(session="refused", error=f"closed by the server ({len(data)} bytes)")
        except TimeoutError:
            out["session"] = "open"
        except (ssl.SSLError, ConnectionError) as exc:
            out.update(session="refused", error=str(exc))
        conn.close()
    except (ssl.SSLError, ConnectionError) as exc:
        out.update(session="refused", error=str(exc))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
