#!/usr/bin/env python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A TLS sink for the fluent_bit scenarios: accepts any number of connections at once, requires
a client certificate signed by the CA, and appends every byte received to a file.

Usage: tls_sink.py PORT CERT KEY CAFILE OUTPUT
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading

LOCK = threading.Lock()


def serve(conn: ssl.SSLSocket, output: str) -> None:
    with conn:
        while data := conn.recv(65536):
            with LOCK, open(output, "ab") as out:
                out.write(data)


def main() -> None:
    port, cert, key, cafile, output = sys.argv[1:6]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(cert, key)
    context.load_verify_locations(cafile)
    with socket.create_server(("", int(port)), reuse_port=True) as server:
        while True:
            raw, _ = server.accept()
            try:
                conn = context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as err:
                print(f"refused: {err}", flush=True)
                raw.close()
                continue
            threading.Thread(target=serve, args=(conn, output), daemon=True).start()


if __name__ == "__main__":
    main()
