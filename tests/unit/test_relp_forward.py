# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/log_shipper/files/relp-forward, the shipper's acknowledged RELP client: its frames, its
TLS identity check, and the rule it exists for: ``OK`` goes to rsyslog only after the server's
``rsp 200`` for that frame. A RELP server over TLS on loopback plays the aggregator (framing as
librelp 1.11 speaks it); the real imrelp is exercised by molecule/log_shipper_default."""

from __future__ import annotations

import datetime as dt
import io
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from plugin_loader import load_script

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles" / "log_shipper" / "files" / "relp-forward"


rf = load_script(SCRIPT, "relp_forward")


# ---------------------------------------------------------------- framing
def test_frames_as_librelp_writes_and_reads_them() -> None:
    assert rf.frame(1, "open", b"relp_version=0") == b"1 open 14 relp_version=0\n"
    assert rf.frame(7, "close") == b"7 close 0\n"
    wire = b"1 rsp 6 200 OK\n0 serverclose 0\n2 rsp 31 500 message too long for window\n"
    reader = rf.FrameReader(io.BytesIO(wire).read)
    assert reader.next() == (1, "rsp", b"200 OK")
    assert reader.next() == (0, "serverclose", b"")
    txnr, command, data = reader.next()
    assert (txnr, command, rf.rsp_code(data)) == (2, "rsp", 500)
    with pytest.raises(rf.RelpError, match="closed"):
        reader.next()
    for bad in (b"x rsp 2 OK\n", b"1 rsp 6 200 OKX\n"):
        with pytest.raises(rf.RelpError):
            rf.FrameReader(io.BytesIO(bad).read).next()


# ---------------------------------------------------------------- a RELP server on loopback
def _pair(tmp: Path, name: str, issuer: tuple | None, server: bool) -> tuple:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[0].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
    cert = builder.sign(issuer[1] if issuer else key, hashes.SHA256())
    (tmp / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("pki")
    ca = _pair(tmp, "ca", None, False)
    _pair(tmp, "aggregator", ca, True)
    _pair(tmp, "edge", ca, False)
    return tmp


Handler = Callable[[ssl.SSLSocket, "rf.FrameReader"], None]


class Server:
    """One TLS listener on loopback that requires a client certificate of the CA; each
    connection is handed to ``handler``; the frames it received are kept."""

    def __init__(self, pki: Path, handler: Handler) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(pki / "aggregator.crt", pki / "aggregator.key")
        self.ctx.load_verify_locations(pki / "ca.crt")
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.received: list[tuple[int, str, bytes]] = []
        self.peers: list[str] = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                tls = self.ctx.wrap_socket(conn, server_side=True)
            except (OSError, ssl.SSLError):
                conn.close()
                continue
            cert = tls.getpeercert() or {}
            self.peers.append(dict(x[0] for x in cert.get("subject", ()))["commonName"])
            reader = rf.FrameReader(tls.recv)
            try:
                self.handler(tls, reader)
            except (OSError, rf.RelpError):
                pass
            finally:
                tls.close()

    def open_ok(self, tls: ssl.SSLSocket, reader: rf.FrameReader) -> None:
        txnr, command, data = reader.next()
        self.received.append((txnr, command, data))
        assert command == "open" and b"relp_version=0" in data and b"commands=syslog" in data
        offers = b"200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0\ncommands=syslog"
        tls.sendall(rf.frame(txnr, "rsp", offers))

    def close(self) -> None:
        self.sock.close()


def _acking(server: Server, tls: ssl.SSLSocket, reader: rf.FrameReader) -> None:
    server.open_ok(tls, reader)
    while True:
        txnr, command, data = reader.next()
        server.received.append((txnr, command, data))
        tls.sendall(rf.frame(txnr, "rsp", b"200 OK" if command == "syslog" else b""))
        if command == "close":
            return


def _run_client(pki: Path, port: int, stdin: bytes, name: str = "aggregator") -> list[str]:
    got = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--name",
            name,
            "--ca",
            str(pki / "ca.crt"),
            "--cert",
            str(pki / "edge.crt"),
            "--key",
            str(pki / "edge.key"),
            "--timeout",
            "2",
        ],
        input=stdin,
        capture_output=True,
        timeout=30,
        check=True,
    )
    return got.stdout.decode().splitlines()


@pytest.fixture
def server(pki: Path) -> Iterator[Callable[[Callable[..., None]], Server]]:
    made: list[Server] = []

    def make(handler: Callable[..., None]) -> Server:
        srv = Server(pki, lambda tls, reader: handler(srv, tls, reader))
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.close()


def test_each_message_is_confirmed_after_its_ack(pki: Path, server: Callable) -> None:
    srv = server(_acking)
    out = _run_client(pki, srv.port, b"<14>1 - edge a - - - one\n<14>1 - edge a - - - two\n")
    assert out == ["OK", "OK", "OK"]  # ready, then one per acknowledged message
    assert [(t, c) for t, c, _ in srv.received] == [
        (1, "open"),
        (2, "syslog"),
        (3, "syslog"),
        (4, "close"),
    ]
    assert srv.received[1][2] == b"<14>1 - edge a - - - one"
    assert srv.peers == ["edge"]  # the client certificate was presented


def test_no_ack_no_ok_and_the_message_is_sent_again_on_a_new_session(
    pki: Path, server: Callable
) -> None:
    """The first session takes the frame and dies without an answer (an aggregator stopped with
    the frame in flight): not confirmed. rsyslog sends the same message again; the next session
    acknowledges it."""
    sessions = []

    def flaky(srv: Server, tls: ssl.SSLSocket, reader: rf.FrameReader) -> None:
        sessions.append(1)
        if len(sessions) == 1:
            srv.open_ok(tls, reader)
            srv.received.append(reader.next())
            return  # closes without rsp
        _acking(srv, tls, reader)

    srv = server(flaky)
    out = _run_client(pki, srv.port, b"msg-1\nmsg-1\n")
    assert out[0] == "OK" and out[1].startswith("relp-forward: 127.0.0.1:") and out[2] == "OK"
    assert [d for _, c, d in srv.received if c == "syslog"] == [b"msg-1", b"msg-1"]


def test_a_serverclose_hint_is_seen_before_sending(pki: Path, server: Callable) -> None:
    """The aggregator says serverclose (imrelp shutting down) while the client is idle: the next
    message goes to a new session, never into the closed one."""
    sessions = []

    def closing(srv: Server, tls: ssl.SSLSocket, reader: rf.FrameReader) -> None:
        sessions.append(1)
        if len(sessions) == 1:
            srv.open_ok(tls, reader)
            txnr, command, data = reader.next()
            srv.received.append((txnr, command, data))
            tls.sendall(rf.frame(txnr, "rsp", b"200 OK"))
            tls.sendall(rf.frame(0, "serverclose"))
            threading.Event().wait(1.0)  # keep the socket open: only the hint says it is over
            return
        _acking(srv, tls, reader)

    srv = server(closing)
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "--host",
            "127.0.0.1",
            "--port",
            str(srv.port),
            "--name",
            "aggregator",
            "--ca",
            str(pki / "ca.crt"),
            "--cert",
            str(pki / "edge.crt"),
            "--key",
            str(pki / "edge.key"),
            "--timeout",
            "2",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline() == b"OK\n"
    proc.stdin.write(b"first\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == b"OK\n"
    threading.Event().wait(0.5)  # the hint arrives while the client waits for its next line
    proc.stdin.write(b"second\n")
    proc.stdin.flush()
    assert proc.stdout.readline() == b"OK\n"
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    assert len(sessions) == 2
    assert [d for _, c, d in srv.received if c == "syslog"] == [b"first", b"second"]


def test_a_server_with_another_name_is_refused(pki: Path, server: Callable) -> None:
    srv = server(_acking)
    out = _run_client(pki, srv.port, b"secret\n", name="not-the-aggregator")
    assert out[0] == "OK"
    assert "certificate" in out[1].lower() or "hostname" in out[1].lower(), out
    assert srv.received == []


def test_nothing_listening_is_an_error_line_not_a_crash(pki: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    out = _run_client(pki, port, b"m\n")
    assert out[0] == "OK" and out[1].startswith("relp-forward: 127.0.0.1:") and len(out) == 2
