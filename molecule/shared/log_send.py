#!/usr/bin/python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test client for the log_aggregator scenarios: sends RFC 5424 messages, octet-counted (RFC 6587),
over TLS (optionally with a client certificate) or plain TCP, and says whether the aggregator
kept the session open or refused it. Prints one JSON object.

An mTLS refusal can come after the client's side of a TLS 1.3 handshake has finished, so the
session is judged by what follows the frames: an alert or a close within --wait seconds is
"refused", a session that stays open is "open".

With --relp it speaks RELP instead (to an imrelp listener): an `open` command, then one `syslog`
command per message, each waiting for the server's `rsp`. The session is "open" when the server
answered `rsp 200` to the open and to every message, "refused" when it alerted, closed or
answered anything else (the codes are in "relp_rsp").
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import sys

RELP_OFFERS = b"relp_version=0\nrelp_software=soc2audit-log_send\ncommands=syslog"


def relp_frame(pending: bytes) -> tuple[bytes, int, bytes] | None:
    """(command, rsp code, rest) of the first whole frame in `pending` (TXNR SP COMMAND SP
    DATALEN [SP DATA] LF), None while it is incomplete."""
    head = pending.split(b" ", 3)
    if len(head) < 3:
        return None
    length_text = head[2].split(b"\n", 1)[0]
    if not length_text.isdigit():
        raise ConnectionError(f"unexpected RELP frame {pending[:60]!r}")
    start = len(head[0]) + len(head[1]) + len(length_text) + 2
    length = int(length_text)
    end = start + (length + 1 if length else 0)
    if len(pending) < end + 1:
        return None
    if pending[end : end + 1] != b"\n":
        raise ConnectionError(f"RELP frame without its trailer {pending[:60]!r}")
    data = pending[start + 1 : end] if length else b""
    code = int(data[:3]) if data[:3].isdigit() else 0
    return head[1], code, pending[end + 1 :]


def relp_exchange(conn: socket.socket, messages: list[str], wait: float) -> list[int]:
    """RELP open + one syslog command per message, each answered before the next; the rsp
    codes (fewer than sent when the server stopped answering)."""
    codes: list[int] = []
    pending = b""
    commands = [(b"open", RELP_OFFERS)] + [(b"syslog", m.encode()) for m in messages]
    conn.settimeout(wait)
    for txnr, (command, data) in enumerate(commands, 1):
        conn.sendall(b"%d %s %d %s\n" % (txnr, command, len(data), data))
        while (frame := relp_frame(pending)) is None:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed by the server after {len(codes)} answer(s)")
            pending += chunk
        kind, code, pending = frame
        if kind != b"rsp":
            raise ConnectionError(f"the server sent {kind!r}, not rsp")
        codes.append(code)
        if code != 200:
            break
    return codes


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--plain", action="store_true")
    p.add_argument("--relp", action="store_true", help="speak RELP (an imrelp listener)")
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
        if args.relp:
            try:
                codes = relp_exchange(conn, args.message, args.wait)
                out["relp_rsp"] = codes
                accepted = codes == [200] * (len(args.message) + 1)
                out["session"] = "open" if accepted else "refused"
                if not accepted:
                    out["error"] = f"RELP answers {codes}"
            except TimeoutError:
                out.update(session="refused", error="no RELP answer within --wait")
            except (ssl.SSLError, ConnectionError, ValueError) as exc:
                out.update(session="refused", error=str(exc))
            conn.close()
            print(json.dumps(out))
            return 0
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
