# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real OPA server on loopback, for the tests and the benchmark that compare the engines.

It runs the same way the `opa` role runs it on the monitor: HTTPS only, client certificates
verified against a CA (``--authentication=tls``), and the role's ``system.authz`` policy
(roles/opa/templates/etc/opa/authz.rego.j2, rendered here with the client's name) so only the
named client may push policies and ask for decisions. The certificates come from a throwaway CA
made with ``cryptography`` in a temporary directory; the binary is the one
``soc2audit.components`` builds (``go install``, cached per machine).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from soc2audit import components
from soc2audit.catalog import REPO
from soc2audit.policy import OpaSettings

AUTHZ_TEMPLATE = REPO / "roles" / "opa" / "templates" / "etc" / "opa" / "authz.rego.j2"
CLIENT_NAME = "soc2audit-control"


@dataclass(frozen=True)
class LocalOpa:
    settings: OpaSettings
    log: Path
    process: subprocess.Popen


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    server: bool,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                False,
            )
    return builder.sign(issuer_key, hashes.SHA256())


def render_authz(clients: list[str]) -> str:
    """The role's system.authz policy for these client certificate names (the template has only
    this one variable, so a string replacement renders it)."""
    text = AUTHZ_TEMPLATE.read_text(encoding="utf-8")
    lines = text.splitlines()
    body = "\n".join(line for line in lines if not line.startswith("{{ ansible_managed"))
    listed = ", ".join(f'"{c}"' for c in clients)
    return body.replace("{{ opa_allowed_clients | map('to_json') | join(', ') }}", listed)


@contextlib.contextmanager
def local_opa(binary: Path | str, client: str = CLIENT_NAME) -> Iterator[LocalOpa]:
    """Start ``opa run -s`` on a loopback port with mTLS and the role's authz; stop it after."""
    with tempfile.TemporaryDirectory(prefix="soc2audit-opa-") as tmp:
        root = Path(tmp)
        ca_key = _key()
        ca = _cert("soc2audit test CA", ca_key, None, ca_key, False)
        files = {}
        for name, subject, server in (
            ("server", "localhost", True),
            ("client", client, False),
            ("intruder", "not-admitted", False),
        ):
            key = _key()
            cert = _cert(subject, key, ca, ca_key, server)
            (root / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            _write_key(root / f"{name}.key", key)
            files[name] = (root / f"{name}.crt", root / f"{name}.key")
        (root / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (root / "authz.rego").write_text(render_authz([client]), encoding="utf-8")
        port = components.free_port()
        log = root / "opa.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [
                    str(binary),
                    "run",
                    "--server",
                    "--skip-version-check",
                    f"--addr=https://127.0.0.1:{port}",
                    f"--tls-cert-file={files['server'][0]}",
                    f"--tls-private-key-file={files['server'][1]}",
                    f"--tls-ca-cert-file={root / 'ca.crt'}",
                    "--authentication=tls",
                    "--authorization=basic",
                    "--set=decision_logs.console=true",
                    str(root / "authz.rego"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"opa exited: {log.read_text(errors='replace')[-2000:]}")
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), timeout=1),
                ):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("opa did not listen within 30 s")
                time.sleep(0.1)
            yield LocalOpa(
                OpaSettings(
                    url=f"https://localhost:{port}",
                    ca_file=str(root / "ca.crt"),
                    cert_file=str(files["client"][0]),
                    key_file=str(files["client"][1]),
                ),
                log,
                process,
            )
        finally:
            components.stop(process)
