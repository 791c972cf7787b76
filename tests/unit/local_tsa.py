# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A local RFC 3161 Time Stamping Authority for the tests: real ``openssl ts -reply`` behind a
small HTTP server on loopback (not an emulator: the tokens are what OpenSSL's TSA makes).

``LocalTsa(directory)`` makes a CA and a TSA certificate (EC P-256, extendedKeyUsage
critical timeStamping) with ``openssl``, and ``start()`` serves ``POST /`` on 127.0.0.1 at a
free port: the body is an RFC 3161 TimeStampReq, the answer an ``application/timestamp-reply``.
``down`` makes it answer 503 (an unavailable TSA); ``requests`` counts the queries.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LABEL = "local TSA (real openssl ts -reply on 127.0.0.1)"

_TSA_CNF = """\
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = {serial}
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.4146.2.3
other_policies = 1.3.6.1.4.1.4146.2.3
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {proc.stderr}")


def make_ca_and_tsa(directory: Path, name: str = "local TSA") -> tuple[Path, Path, Path]:
    """(CA certificate, TSA certificate, TSA key) made by openssl in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl(
        "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
        "-subj", f"/CN={name} root", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", *ec, "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    (directory / "tsa.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=critical,timeStamping\n"
    )
    _openssl(
        "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "tsa.pem", "-days", "30", "-extfile", "tsa.ext",
        cwd=directory,
    )  # fmt: skip
    return directory / "ca.pem", directory / "tsa.pem", directory / "tsa.key"


class LocalTsa:
    """A real OpenSSL TSA on loopback (see the module docstring)."""

    def __init__(self, directory: Path, name: str = "local TSA") -> None:
        self.dir = directory
        self.ca, self.cert, self.key = make_ca_and_tsa(directory, name)
        (directory / "serial").write_text("01\n")
        self.config = directory / "tsa.cnf"
        self.config.write_text(_TSA_CNF.format(serial=directory / "serial"))
        self.down = False
        self.requests = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def reply(self, query: bytes) -> bytes:
        with self._lock, tempfile.TemporaryDirectory(dir=self.dir) as tmp:
            (Path(tmp) / "q.tsq").write_bytes(query)
            _openssl(
                "ts", "-reply", "-config", str(self.config), "-queryfile", "q.tsq",
                "-inkey", str(self.key), "-signer", str(self.cert), "-out", "r.tsr", cwd=Path(tmp),
            )  # fmt: skip
            return (Path(tmp) / "r.tsr").read_bytes()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> LocalTsa:
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                tsa.requests += 1
                if tsa.down or self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_response(503 if tsa.down else 415)
                    self.end_headers()
                    return
                answer = tsa.reply(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
