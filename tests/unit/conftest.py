# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared fixtures for the unit tests.

* Makes ``ansible.module_utils.soc2_x509`` (and the other project module_utils) importable, the
  way ``module_utils = plugins/module_utils`` in ansible.cfg does for real runs, and puts
  ``library/`` on ``sys.path`` so the custom modules import as plain modules.
* Generates a throw-away PKI (root, intermediate, leaves, foreign CAs) with cryptography into
  ``tmp_path``; nothing is read from recorded files, so every run checks fresh certificates.
"""

from __future__ import annotations

import datetime as dt
import grp
import ipaddress
import os
import pwd
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible.module_utils as _ansible_module_utils
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

REPO_ROOT = Path(__file__).resolve().parents[2]

_MODULE_UTILS_DIR = str(REPO_ROOT / "plugins" / "module_utils")
if _MODULE_UTILS_DIR not in _ansible_module_utils.__path__:
    _ansible_module_utils.__path__.append(_MODULE_UTILS_DIR)

_LIBRARY_DIR = str(REPO_ROOT / "library")
if _LIBRARY_DIR not in sys.path:
    sys.path.insert(0, _LIBRARY_DIR)

# Fixed evaluation time for the PKI tests: 2026-01-15T12:00:00Z.
NOW = int(dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC).timestamp())
DAY = 86400

_EKU_OIDS: dict[str, x509.ObjectIdentifier] = {
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
}

_KU_FLAGS = (
    ("digitalSignature", "digital_signature"),
    ("nonRepudiation", "content_commitment"),
    ("keyEncipherment", "key_encipherment"),
    ("dataEncipherment", "data_encipherment"),
    ("keyAgreement", "key_agreement"),
    ("keyCertSign", "key_cert_sign"),
    ("cRLSign", "crl_sign"),
)


def current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def current_group() -> str:
    return grp.getgrgid(os.getegid()).gr_name


def _key_usage(names: Sequence[str]) -> x509.KeyUsage:
    flags = {attr: name in names for name, attr in _KU_FLAGS}
    return x509.KeyUsage(encipher_only=False, decipher_only=False, **flags)


def _general_names(sans: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for san in sans:
        kind, _, value = san.partition(":")
        if kind == "DNS":
            out.append(x509.DNSName(value))
        elif kind == "IP":
            out.append(x509.IPAddress(ipaddress.ip_address(value)))
        else:
            raise ValueError(san)
    return out


@dataclass
class Issued:
    """A generated certificate with its key and where both were written."""

    name: str
    cert: x509.Certificate
    key: Any
    cert_path: Path
    key_path: Path
    common_name: str
    sans: list[str] = field(default_factory=list)
    key_usage: list[str] = field(default_factory=list)
    extended_key_usage: list[str] = field(default_factory=list)
    key_type: str = "ecdsa"

    @property
    def fingerprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex()


class Pki:
    """Generates keys and certificates into a directory."""

    def __init__(self, base: Path, now: int = NOW) -> None:
        self.base = base
        self.now = now
        self._serial = 0x1000
        base.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def new_key(key_type: str = "ecdsa") -> Any:
        if key_type == "ecdsa":
            return ec.generate_private_key(ec.SECP256R1())
        if key_type == "rsa":
            return rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if key_type == "ed25519":
            return ed25519.Ed25519PrivateKey.generate()
        raise ValueError(key_type)

    @staticmethod
    def _hash_for(signing_key: Any) -> hashes.HashAlgorithm | None:
        if isinstance(signing_key, ed25519.Ed25519PrivateKey):
            return None
        return hashes.SHA256()

    def _time(self, offset_days: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now + int(offset_days * DAY), tz=dt.UTC)

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def write_key(self, key: Any, path: Path, mode: int = 0o600) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        os.chmod(path, mode)
        return path

    def write_cert(self, cert: x509.Certificate, path: Path) -> Path:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        os.chmod(path, 0o644)
        return path

    def ca(
        self,
        common_name: str,
        *,
        issuer: Issued | None = None,
        key_type: str = "ecdsa",
        ca_flag: bool = True,
        not_before_days: float = -3650,
        not_after_days: float = 3650,
        path_length: int | None = None,
        key: Any = None,
        filename: str | None = None,
    ) -> Issued:
        """A CA certificate: self-signed root when ``issuer`` is None, else an intermediate."""
        key = key or self.new_key(key_type)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        signer_key = issuer.key if issuer else key
        issuer_name = issuer.cert.subject if issuer else subject
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(self._next_serial())
            .not_valid_before(self._time(not_before_days))
            .not_valid_after(self._time(not_after_days))
            .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=path_length), True)
            .add_extension(_key_usage(["keyCertSign", "cRLSign", "digitalSignature"]), True)
        )
        cert = builder.sign(signer_key, self._hash_for(signer_key))
        stem = filename or f"{common_name.lower().replace(' ', '-')}-{cert.serial_number:x}"
        return Issued(
            name=stem,
            cert=cert,
            key=key,
            cert_path=self.write_cert(cert, self.base / f"{stem}.crt"),
            key_path=self.write_key(key, self.base / f"{stem}.key"),
            common_name=common_name,
            key_type=key_type,
        )

    def leaf(
        self,
        name: str,
        issuer: Issued,
        *,
        common_name: str | None = None,
        sans: Sequence[str] | None = None,
        key_usage: Sequence[str] = ("digitalSignature",),
        extended_key_usage: Sequence[str] = ("serverAuth", "clientAuth"),
        key_type: str = "ecdsa",
        not_before_days: float = -1,
        not_after_days: float = 365,
        key: Any = None,
        key_mode: int = 0o600,
    ) -> Issued:
        """An end-entity certificate signed by ``issuer``, written as <name>.crt/<name>.key."""
        key = key or self.new_key(key_type)
        cn = common_name or name
        san_list = list(sans) if sans is not None else [f"DNS:{name}.lab", "IP:10.0.0.11"]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(issuer.cert.subject)
            .public_key(key.public_key())
            .serial_number(self._next_serial())
            .not_valid_before(self._time(not_before_days))
            .not_valid_after(self._time(not_after_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        )
        if san_list:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(_general_names(san_list)), False
            )
        if key_usage:
            builder = builder.add_extension(_key_usage(key_usage), True)
        if extended_key_usage:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([_EKU_OIDS[e] for e in extended_key_usage]), False
            )
        cert = builder.sign(issuer.key, self._hash_for(issuer.key))
        return Issued(
            name=name,
            cert=cert,
            key=key,
            cert_path=self.write_cert(cert, self.base / f"{name}.crt"),
            key_path=self.write_key(key, self.base / f"{name}.key", key_mode),
            common_name=cn,
            sans=san_list,
            key_usage=list(key_usage),
            extended_key_usage=list(extended_key_usage),
            key_type=key_type,
        )

    def bundle(self, *cas: Issued, filename: str = "ca-chain.pem") -> Path:
        path = self.base / filename
        path.write_bytes(b"".join(c.cert.public_bytes(serialization.Encoding.PEM) for c in cas))
        return path


@dataclass
class Lab:
    """Our CA (root + intermediate), its chain file, and a helper to build requests."""

    pki: Pki
    root: Issued
    intermediate: Issued
    bundle: Path

    def leaf(self, name: str = "edge1-host", **kwargs: Any) -> Issued:
        kwargs.setdefault("key_type", self.root.key_type)
        return self.pki.leaf(name, self.intermediate, **kwargs)

    def request(self, leaf: Issued, **overrides: Any) -> dict[str, Any]:
        """The module ``certificates`` item that exactly matches ``leaf``."""
        request: dict[str, Any] = {
            "name": leaf.name,
            "cert_path": str(leaf.cert_path),
            "key_path": str(leaf.key_path),
            "common_name": leaf.common_name,
            "sans": list(leaf.sans),
            "key_usage": list(leaf.key_usage),
            "extended_key_usage": list(leaf.extended_key_usage),
            "owner": current_user(),
            "group": current_group(),
            "mode": "0600",
            "key_type": leaf.key_type,
        }
        request.update(overrides)
        return request


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
def make_lab(pki: Pki) -> Callable[..., Lab]:
    count = 0

    def factory(key_type: str = "ecdsa", prefix: str = "") -> Lab:
        nonlocal count
        count += 1
        root = pki.ca(f"{prefix}SOC2 Lab Root CA", key_type=key_type)
        intermediate = pki.ca(
            f"{prefix}SOC2 Lab Issuing CA", issuer=root, key_type=key_type, path_length=0
        )
        bundle = pki.bundle(intermediate, root, filename=f"ca-chain-{count}.pem")
        return Lab(pki, root, intermediate, bundle)

    return factory


@pytest.fixture
def lab(make_lab: Callable[..., Lab]) -> Lab:
    """ECDSA P-256 root and intermediate."""
    return make_lab("ecdsa")
