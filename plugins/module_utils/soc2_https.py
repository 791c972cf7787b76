# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""GET a JSON API over HTTPS with a client certificate of our PKI: the one client of the
monitor's mTLS APIs (Prometheus, Alertmanager, the evidence receiver).

Used on the monitor by the MON verifier (``soc2_mon_prometheus.py``, imported as
``ansible.module_utils.soc2_https``, shipped in the module's payload) and on the control node by
``soc2audit uptime`` (``soc2audit/uptime.py``, imported as ``soc2audit.module_utils.soc2_https``).
Only the standard library.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

#: The pki role's CA chain and the monitor's client certificate (roles/prometheus defaults).
CA_PATH = "/etc/ssl/soc2audit/ca-chain.pem"
CERT_PATH = "/etc/ssl/soc2audit/prometheus-scrape-fullchain.crt"
KEY_PATH = "/etc/ssl/soc2audit/private/prometheus-scrape.key"

#: (status, decoded JSON or None, error text or None)
Answer = tuple[int, Any, str | None]
Fetch = Callable[[str, str], Answer]


class _Connection(http.client.HTTPSConnection):
    """HTTPS to an address, verifying the certificate against a name of our choice."""

    def __init__(
        self, host: str, port: int, server_name: str, context: ssl.SSLContext, timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._soc2_context.wrap_socket(sock, server_hostname=self._server_name)

    @property
    def _soc2_context(self) -> ssl.SSLContext:
        return self._context  # type: ignore[attr-defined,no-any-return]


def make_fetch(params: Mapping[str, Any]) -> Fetch:
    """GET <base><path> over TLS with the client certificate (and basic auth when a user is
    given), decoded as JSON when it is JSON. ``params``: ``ca_path``, ``cert_path``,
    ``key_path``, ``timeout`` and optionally ``server_name``, ``username``, ``password``."""
    cert_error = None
    try:
        context = ssl.create_default_context(cafile=params["ca_path"])
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(params["cert_path"], params["key_path"])
    except (OSError, ssl.SSLError) as exc:
        cert_error = f"CA or client certificate not loaded: {exc}"
    headers = {"Accept": "application/json"}
    if params.get("username"):
        token = f"{params['username']}:{params.get('password') or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")

    def fetch(base: str, path: str) -> Answer:
        if cert_error:
            return 0, None, cert_error
        parts = urlsplit(base)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 443
        server_name = params.get("server_name") or host
        try:
            if parts.scheme == "https":
                conn: http.client.HTTPConnection = _Connection(
                    host, port, server_name, context, float(params["timeout"])
                )
            else:
                conn = http.client.HTTPConnection(host, port, timeout=float(params["timeout"]))
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            conn.close()
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            return 0, None, f"{type(exc).__name__}: {exc}"
        try:
            return response.status, json.loads(raw or b"null"), None
        except ValueError:
            return response.status, raw.decode("utf-8", "replace")[:200], None

    return fetch
