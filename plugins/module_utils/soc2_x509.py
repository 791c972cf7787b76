# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared X.509 logic for the PKI controls PKI-01 .. PKI-06.

Used by ``library/soc2_pki.py`` (read-only verification) and by the ``pki`` role (deciding
whether a certificate must be re-issued), later by the metrics exporter. It runs on managed
hosts, so it depends on the standard library and ``cryptography`` only, and it must work with
Debian 12's python3-cryptography 38.0.4 as well as current releases: no
``cryptography.x509.verification``, no ``verify_directly_issued_by``, no
``load_pem_x509_certificates``; signatures are verified by hand.

``cryptography`` is imported guarded: when it is missing, ``HAS_CRYPTOGRAPHY`` is False and the
assessment functions report ``error`` results (never ``fail``) for the checks that need it.

Check ids produced here (one result each per certificate, aggregated per host by
:func:`aggregate`):

* PKI-01 certificate chains to our CA (signatures, CA flags, CA validity, root fingerprint)
* PKI-02 certificate currently valid and outside the renewal window
* PKI-03 SANs (and CN when requested) exactly as requested
* PKI-04 key usage and extended key usage as requested
* PKI-05 private key matches the certificate (and has the requested type)
* PKI-06 private key file owner, group and mode
"""

from __future__ import annotations

import datetime as _dt
import grp
import hashlib
import ipaddress
import os
import pwd
import re
import stat
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ansible.module_utils.soc2_results import (
    RESULT_PRECEDENCE,
    worst_result,
)
from ansible.module_utils.soc2_results import make_check as _check

try:
    from cryptography import __version__ as CRYPTOGRAPHY_VERSION
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa
except Exception as _import_exc:  # broken OpenSSL bindings raise more than ImportError
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR: str | None = f"{type(_import_exc).__name__}: {_import_exc}"
    CRYPTOGRAPHY_VERSION = None
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

__all__ = [
    "CHECK_IDS",
    "CRYPTOGRAPHY_IMPORT_ERROR",
    "CRYPTOGRAPHY_VERSION",
    "HAS_CRYPTOGRAPHY",
    "KEY_TYPES",
    "REISSUE_REASONS",
    "RESULT_PRECEDENCE",
    "CaBundle",
    "CertificateParseError",
    "KeyParseError",
    "aggregate",
    "assess_certificate",
    "assess_certificates",
    "certificate_fingerprint",
    "describe_certificate",
    "key_file_permissions",
    "key_type_of",
    "load_ca_bundle",
    "load_pem_certificates",
    "load_private_key",
    "normalise_extended_key_usage",
    "normalise_fingerprint",
    "normalise_key_usage",
    "normalise_mode",
    "normalise_request",
    "normalise_san",
    "parse_pem_certificates",
    "public_key_sha256",
    "render_diff",
    "verify_chain",
    "verify_signature",
    "worst_result",
]

CHECK_IDS: tuple[str, ...] = ("PKI-01", "PKI-02", "PKI-03", "PKI-04", "PKI-05", "PKI-06")

# Re-issue reasons (stable strings, consumed by the pki role). File owner/group/mode is NOT a
# reason (the role's file tasks fix it), neither are serial or dates other than expiry/renewal.
REASON_MISSING = "missing"
REASON_KEY_MISSING = "key_missing"
REASON_CHAIN = "chain"
REASON_ISSUER_CHANGED = "issuer_changed"
REASON_ROOT_FINGERPRINT = "root_fingerprint"
REASON_SAN = "san_drift"
REASON_CN = "cn_drift"
REASON_KEY_USAGE = "key_usage_drift"
REASON_EXTENDED_KEY_USAGE = "extended_key_usage_drift"
REASON_KEY_MISMATCH = "key_mismatch"
REASON_KEY_TYPE = "key_type_drift"
REASON_EXPIRED = "expired"
REASON_RENEWAL = "renewal_window"
REASON_FORCED = "forced"

REISSUE_REASONS: tuple[str, ...] = (
    REASON_MISSING,
    REASON_KEY_MISSING,
    REASON_CHAIN,
    REASON_ISSUER_CHANGED,
    REASON_ROOT_FINGERPRINT,
    REASON_SAN,
    REASON_CN,
    REASON_KEY_USAGE,
    REASON_EXTENDED_KEY_USAGE,
    REASON_KEY_MISMATCH,
    REASON_KEY_TYPE,
    REASON_EXPIRED,
    REASON_RENEWAL,
    REASON_FORCED,
)

KEY_TYPES: tuple[str, ...] = ("ecdsa", "rsa", "ed25519")

# Key file bits that are never allowed: group write and any access for others.
FORBIDDEN_KEY_MODE_BITS = 0o027
DEFAULT_MAX_KEY_MODE = 0o640

_SECONDS_PER_DAY = 86400
_MAX_CHAIN_DEPTH = 8
_MAX_CHAIN_PATHS = 32

_PEM_CERT_RE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\s.*?-----END CERTIFICATE-----",
    re.DOTALL,
)
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
_OID_RE = re.compile(r"^[0-2](\.[0-9]+)+$")
_MODE_RE = re.compile(r"^0?[0-7]{3,4}$")

# KeyUsage bits: OpenSSL camel-case names (as community.crypto prints them) -> attribute.
_KEY_USAGE_ATTRS: tuple[tuple[str, str], ...] = (
    ("digitalSignature", "digital_signature"),
    ("nonRepudiation", "content_commitment"),
    ("keyEncipherment", "key_encipherment"),
    ("dataEncipherment", "data_encipherment"),
    ("keyAgreement", "key_agreement"),
    ("keyCertSign", "key_cert_sign"),
    ("cRLSign", "crl_sign"),
    ("encipherOnly", "encipher_only"),
    ("decipherOnly", "decipher_only"),
)
_KEY_USAGE_ALIASES: dict[str, str] = {name.lower(): name for name, _ in _KEY_USAGE_ATTRS}
_KEY_USAGE_ALIASES.update(
    {
        "contentcommitment": "nonRepudiation",
        "certificatesign": "keyCertSign",
        "certsign": "keyCertSign",
        "crlsign": "cRLSign",
    }
)

_EKU_BY_OID: dict[str, str] = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "1.3.6.1.5.5.7.3.17": "ipsecIKE",
    "2.5.29.37.0": "anyExtendedKeyUsage",
}
_EKU_ALIASES: dict[str, str] = {name.lower(): name for name in _EKU_BY_OID.values()}
_EKU_ALIASES.update(
    {
        "tlswebserverauthentication": "serverAuth",
        "tlswebclientauthentication": "clientAuth",
        "emailprotection": "emailProtection",
        "timestamping": "timeStamping",
        "ocspsigning": "OCSPSigning",
        "anyextendedkeyusage": "anyExtendedKeyUsage",
    }
)


# Callback used by assess_certificate's helpers: add(check_id, result, observed, expected, detail)
_AddCheck = Callable[[str, str, Any, Any, str], None]


class CertificateParseError(ValueError):
    """A certificate file exists but does not hold a parseable certificate."""


class KeyParseError(ValueError):
    """A private key file exists but does not hold a parseable, unencrypted private key."""


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _squash(value: str) -> str:
    return re.sub(r"[\s_\-]", "", value).lower()


def _iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return _dt.datetime.fromtimestamp(epoch, tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mode_str(mode: int | None) -> str | None:
    return None if mode is None else f"{mode:04o}"


def _dedupe(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


# --------------------------------------------------------------------------------------------
# Normalisation of requested values
# --------------------------------------------------------------------------------------------


def _normalise_dns(name: str) -> str:
    value = name.strip().lower()
    if value.endswith(".") and len(value) > 1:
        value = value[:-1]
    if not value or any(ch.isspace() for ch in value) or "/" in value:
        raise ValueError(f"invalid DNS name {name!r}")
    return value


def _normalise_email(address: str) -> str:
    local, sep, domain = address.strip().rpartition("@")
    if not sep:
        return address.strip()
    return f"{local}@{domain.lower()}"


def normalise_san(value: str) -> str:
    """Normalise one SAN to ``DNS:<lowercase name>``, ``IP:<compressed address>`` etc.

    Accepted prefixes (case-insensitive): ``DNS:``, ``IP:`` / ``IP Address:``, ``email:``,
    ``URI:``. A bare value is taken as an IP address when it parses as one, else as a DNS
    name. IP addresses are compared by value (``IP:0:0::1`` == ``IP:::1``). Raises
    ``ValueError`` for values that cannot be normalised.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"invalid SAN {value!r}: empty")
    text = value.strip()
    prefix, sep, rest = text.partition(":")
    kind = _squash(prefix) if sep else ""
    if kind == "dns":
        return "DNS:" + _normalise_dns(rest)
    if kind in ("ip", "ipaddress"):
        try:
            return "IP:" + str(ipaddress.ip_address(rest.strip()))
        except ValueError as exc:
            raise ValueError(f"invalid SAN {value!r}: {exc}") from None
    if kind == "email":
        return "email:" + _normalise_email(rest)
    if kind == "uri":
        return "URI:" + rest.strip()
    try:
        return "IP:" + str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if sep:
        raise ValueError(
            f"invalid SAN {value!r}: unsupported prefix {prefix!r} (use DNS:, IP:, email: or URI:)"
        )
    return "DNS:" + _normalise_dns(text)


def normalise_key_usage(name: str) -> str:
    """Map a key usage name (``digitalSignature``, ``Digital Signature``...) to its camel form."""
    canon = _KEY_USAGE_ALIASES.get(_squash(str(name)))
    if canon is None:
        choices = ", ".join(n for n, _ in _KEY_USAGE_ATTRS)
        raise ValueError(f"unknown key usage {name!r} (choose from {choices})")
    return canon


def normalise_extended_key_usage(name: str) -> str:
    """Map an EKU name or dotted OID to its camel name (unknown OIDs stay dotted)."""
    text = str(name).strip()
    if _OID_RE.match(text):
        return _EKU_BY_OID.get(text, text)
    canon = _EKU_ALIASES.get(_squash(text))
    if canon is None:
        choices = ", ".join(sorted(set(_EKU_BY_OID.values())))
        raise ValueError(f"unknown extended key usage {name!r} (choose from {choices} or an OID)")
    return canon


def normalise_fingerprint(value: str) -> str:
    """Normalise a SHA-256 fingerprint to 64 lowercase hex digits (colons/spaces removed)."""
    text = re.sub(r"[\s:]", "", str(value)).lower()
    if text.startswith("sha256"):
        text = text[len("sha256") :].lstrip("=")
    if not _HEX64_RE.match(text):
        raise ValueError(f"invalid SHA-256 fingerprint {value!r}: expected 64 hex digits")
    return text


def normalise_mode(value: Any) -> int | None:
    """Normalise a file mode: an octal string (``"0600"``) or an int that YAML already converted.

    Like ansible's file module: ``mode: 0600`` unquoted arrives as the int 384 and is used as is.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"invalid mode {value!r}")
    if isinstance(value, int):
        if not 0 <= value <= 0o7777:
            raise ValueError(f"invalid mode {value!r}")
        return value
    text = str(value).strip()
    if text.startswith("0o"):
        text = text[2:]
    if not _MODE_RE.match(text):
        raise ValueError(f"invalid mode {value!r}: expected an octal string such as '0600'")
    return int(text, 8)


def normalise_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise one requested certificate (the module's ``certificates`` item).

    Returns a new dict with ``sans`` sorted and normalised, key usages in camel form (``None``
    when not requested), ``mode`` as int and ``key_type`` lowercase. Raises ``ValueError``.
    """
    name = request.get("name")
    if not name or not isinstance(name, str):
        raise ValueError("certificate entry without a name")
    for key in ("cert_path", "key_path"):
        if not request.get(key):
            raise ValueError(f"{name}: {key} is required")
    sans_in = request.get("sans")
    if sans_in is None:
        raise ValueError(f"{name}: sans is required")
    if isinstance(sans_in, str):
        raise ValueError(f"{name}: sans must be a list")
    try:
        sans = sorted({normalise_san(s) for s in sans_in})
        key_usage = request.get("key_usage")
        if key_usage is not None:
            key_usage = sorted({normalise_key_usage(k) for k in key_usage})
        eku = request.get("extended_key_usage")
        if eku is not None:
            eku = sorted({normalise_extended_key_usage(k) for k in eku})
        mode = normalise_mode(request.get("mode"))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    key_type = request.get("key_type")
    if key_type is not None:
        key_type = str(key_type).lower()
        if key_type not in KEY_TYPES:
            raise ValueError(f"{name}: key_type must be one of {', '.join(KEY_TYPES)}")
    common_name = request.get("common_name")
    return {
        "name": name,
        "cert_path": str(request["cert_path"]),
        "key_path": str(request["key_path"]),
        "common_name": None if common_name in (None, "") else str(common_name),
        "sans": sans,
        "key_usage": key_usage,
        "extended_key_usage": eku,
        "owner": None if request.get("owner") in (None, "") else str(request["owner"]),
        "group": None if request.get("group") in (None, "") else str(request["group"]),
        "mode": mode,
        "key_type": key_type,
    }


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _require_cryptography() -> None:
    if not HAS_CRYPTOGRAPHY:
        raise RuntimeError(
            "the Python 'cryptography' library is not importable on this host "
            f"({CRYPTOGRAPHY_IMPORT_ERROR}); install python3-cryptography"
        )


def parse_pem_certificates(data: bytes, source: str = "<data>") -> list[x509.Certificate]:
    """Parse every ``CERTIFICATE`` PEM block in ``data`` (a single DER certificate also works).

    Raises :class:`CertificateParseError` when no certificate is found or a block is invalid.
    """
    _require_cryptography()
    blocks = _PEM_CERT_RE.findall(data)
    certs: list[x509.Certificate] = []
    if not blocks:
        if b"-----BEGIN" not in data and data[:1] == b"\x30":
            try:
                return [x509.load_der_x509_certificate(data)]
            except ValueError as exc:
                raise CertificateParseError(f"{source}: not a certificate: {exc}") from None
        raise CertificateParseError(f"{source}: no PEM certificate found")
    for index, block in enumerate(blocks, start=1):
        try:
            cert = x509.load_pem_x509_certificate(block)
            # Force parsing of the parts we use, so broken encodings surface here.
            _ = cert.subject, cert.issuer, cert.serial_number, cert.extensions
        except (ValueError, TypeError, UnsupportedAlgorithm, x509.DuplicateExtension) as exc:
            raise CertificateParseError(
                f"{source}: certificate #{index} cannot be parsed: {exc}"
            ) from None
        certs.append(cert)
    return certs


def load_pem_certificates(path: str) -> list[x509.Certificate]:
    """Read and parse all certificates in a PEM file.

    Raises ``FileNotFoundError`` when the file is absent, other ``OSError`` when it cannot be
    read, :class:`CertificateParseError` when it holds no valid certificate.
    """
    _require_cryptography()
    with open(path, "rb") as handle:
        data = handle.read()
    return parse_pem_certificates(data, path)


def load_private_key(path: str) -> PrivateKeyTypes:
    """Read an unencrypted PEM (or DER) private key.

    Raises ``FileNotFoundError`` / ``OSError`` for file problems and :class:`KeyParseError`
    when the content is not an unencrypted private key.
    """
    _require_cryptography()
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_der_private_key(data, password=None)
    except TypeError as exc:
        raise KeyParseError(f"{path}: private key is encrypted or unusable: {exc}") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyParseError(f"{path}: private key cannot be parsed: {exc}") from None


@dataclass
class CaBundle:
    """The CA chain file as read from the host.

    ``status`` is ``ok``, ``missing`` (file absent: PKI-01 fails) or ``error`` (unreadable,
    unparseable or cryptography missing: PKI-01 errors).
    """

    path: str
    status: str
    certificates: list[Any] = field(default_factory=list)
    message: str = ""


def load_ca_bundle(path: str) -> CaBundle:
    """Load the CA chain file (intermediates and root) without raising."""
    if not os.path.lexists(path):
        return CaBundle(path, "missing", message=f"CA chain file {path} is missing")
    if not HAS_CRYPTOGRAPHY:
        return CaBundle(
            path, "error", message=f"cannot read CA chain {path}: {CRYPTOGRAPHY_IMPORT_ERROR}"
        )
    try:
        certs = load_pem_certificates(path)
    except FileNotFoundError:
        return CaBundle(path, "missing", message=f"CA chain file {path} is missing")
    except OSError as exc:
        return CaBundle(
            path, "error", message=f"cannot read CA chain {path}: {exc.strerror or exc}"
        )
    except CertificateParseError as exc:
        return CaBundle(path, "error", message=f"cannot parse CA chain: {exc}")
    return CaBundle(path, "ok", certs, f"{len(certs)} certificate(s) in {path}")


# --------------------------------------------------------------------------------------------
# Describing certificates and keys
# --------------------------------------------------------------------------------------------


def _utc_epoch(cert: x509.Certificate, attr: str) -> int:
    value = getattr(cert, f"{attr}_utc", None)  # cryptography >= 42
    if value is None:
        value = getattr(cert, attr).replace(tzinfo=_dt.UTC)  # naive UTC before 42
    return int(value.timestamp())


def certificate_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint of the DER certificate, lowercase hex without colons."""
    return cert.fingerprint(hashes.SHA256()).hex()


def _spki_der(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_sha256(public_key: PublicKeyTypes) -> str:
    """SHA-256 (hex) of the SubjectPublicKeyInfo DER of a public key."""
    return hashlib.sha256(_spki_der(public_key)).hexdigest()


def key_type_of(key: Any) -> str:
    """Key type of a public or private key: ecdsa, rsa, ed25519, ed448, dsa or unknown."""
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "rsa"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return "ecdsa"
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "ed25519"
    if isinstance(key, (ed448.Ed448PublicKey, ed448.Ed448PrivateKey)):
        return "ed448"
    if isinstance(key, (dsa.DSAPublicKey, dsa.DSAPrivateKey)):
        return "dsa"
    return "unknown"


def _key_detail(key: Any) -> str | None:
    if isinstance(key, (rsa.RSAPublicKey, dsa.DSAPublicKey)):
        return str(key.key_size)
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.curve.name
    return None


def _name_cn(name: x509.Name) -> str | None:
    values = [attr.value for attr in name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    return str(values[0]) if values else None


def _name_cns(name: x509.Name) -> list[str]:
    return [str(attr.value) for attr in name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]


def _general_name(entry: Any) -> str:
    if isinstance(entry, x509.DNSName):
        try:
            return "DNS:" + _normalise_dns(entry.value)
        except ValueError:
            return "DNS:" + entry.value
    if isinstance(entry, x509.IPAddress):
        return "IP:" + str(entry.value)
    if isinstance(entry, x509.RFC822Name):
        return "email:" + _normalise_email(entry.value)
    if isinstance(entry, x509.UniformResourceIdentifier):
        return "URI:" + entry.value
    if isinstance(entry, x509.DirectoryName):
        return "dirName:" + entry.value.rfc4514_string()
    if isinstance(entry, x509.RegisteredID):
        return "RID:" + entry.value.dotted_string
    if isinstance(entry, x509.OtherName):
        return "otherName:" + entry.type_id.dotted_string
    return f"unknown:{entry!r}"


def _extension(cert: x509.Certificate, ext_class: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(ext_class).value
    except x509.ExtensionNotFound:
        return None


def _certificate_sans(cert: x509.Certificate) -> list[str]:
    ext = _extension(cert, x509.SubjectAlternativeName)
    return sorted({_general_name(entry) for entry in ext}) if ext is not None else []


def _certificate_key_usage(cert: x509.Certificate) -> list[str]:
    ext = _extension(cert, x509.KeyUsage)
    if ext is None:
        return []
    names = []
    for name, attr in _KEY_USAGE_ATTRS:
        try:
            if getattr(ext, attr):
                names.append(name)
        except ValueError:  # encipher_only/decipher_only without keyAgreement
            continue
    return sorted(names)


def _certificate_eku(cert: x509.Certificate) -> list[str]:
    ext = _extension(cert, x509.ExtendedKeyUsage)
    if ext is None:
        return []
    return sorted({_EKU_BY_OID.get(oid.dotted_string, oid.dotted_string) for oid in ext})


def describe_certificate(cert: x509.Certificate) -> dict[str, Any]:
    """JSON-serialisable facts about a certificate (the module's per-certificate fields)."""
    public_key = cert.public_key()
    basic = _extension(cert, x509.BasicConstraints)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "subject_cn": _name_cn(cert.subject),
        "issuer_cn": _name_cn(cert.issuer),
        "serial": format(cert.serial_number, "x"),
        "not_before": _utc_epoch(cert, "not_valid_before"),
        "not_after": _utc_epoch(cert, "not_valid_after"),
        "sans": _certificate_sans(cert),
        "key_usage": _certificate_key_usage(cert),
        "extended_key_usage": _certificate_eku(cert),
        "public_key_sha256": public_key_sha256(public_key),
        "key_type": key_type_of(public_key),
        "key_size": _key_detail(public_key),
        "fingerprint_sha256": certificate_fingerprint(cert),
        "is_ca": bool(basic.ca) if basic is not None else False,
    }


# --------------------------------------------------------------------------------------------
# Chain verification (by hand: works with cryptography 38)
# --------------------------------------------------------------------------------------------


def _rsa_padding(cert: x509.Certificate) -> Any:
    try:
        params = getattr(cert, "signature_algorithm_parameters", None)  # cryptography >= 41
    except (ValueError, UnsupportedAlgorithm):
        params = None
    if isinstance(params, (padding.PSS, padding.PKCS1v15)):
        return params
    return padding.PKCS1v15()


def verify_signature(cert: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """Check that ``issuer``'s key signed ``cert``. Returns ``None`` when valid, else a reason."""
    public_key = issuer.public_key()
    signature = cert.signature
    tbs = cert.tbs_certificate_bytes
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, tbs, _rsa_padding(cert), cert.signature_hash_algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, tbs, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(public_key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            public_key.verify(signature, tbs)
        elif isinstance(public_key, dsa.DSAPublicKey):
            public_key.verify(signature, tbs, cert.signature_hash_algorithm)
        else:
            return f"unsupported issuer key type {type(public_key).__name__}"
    except InvalidSignature:
        return "signature does not verify"
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        return f"signature cannot be verified ({exc or type(exc).__name__})"
    return None


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer and verify_signature(cert, cert) is None


def _label(cert: x509.Certificate) -> str:
    cn = _name_cn(cert.subject)
    return repr(cn) if cn else repr(cert.subject.rfc4514_string())


def _ca_problems(path: Sequence[x509.Certificate], now: int) -> list[str]:
    """Problems with the CA certificates of a signature-valid path (issuer first, root last)."""
    problems: list[str] = []
    for depth, ca in enumerate(path):
        label = _label(ca)
        basic = _extension(ca, x509.BasicConstraints)
        if basic is None or not basic.ca:
            problems.append(f"CA certificate {label} lacks basicConstraints CA:TRUE")
        elif basic.path_length is not None and depth > basic.path_length:
            problems.append(
                f"CA certificate {label} pathLenConstraint {basic.path_length} "
                f"exceeded by {depth} intermediate(s) below it"
            )
        usage = _extension(ca, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:
            problems.append(f"CA certificate {label} key usage lacks keyCertSign")
        not_before = _utc_epoch(ca, "not_valid_before")
        not_after = _utc_epoch(ca, "not_valid_after")
        if now < not_before:
            problems.append(f"CA certificate {label} not valid before {_iso(not_before)}")
        if now > not_after:
            problems.append(f"CA certificate {label} expired {_iso(not_after)}")
    return problems


def verify_chain(
    leaf: x509.Certificate,
    ca_certificates: Sequence[x509.Certificate],
    now: int,
    root_fingerprints: Sequence[str] = (),
) -> dict[str, Any]:
    """Build and check the path from ``leaf`` to a self-signed root in ``ca_certificates``.

    Only certificates from the CA bundle are used as intermediates and trust anchors. Each
    signature must verify, every CA certificate must have basicConstraints CA:TRUE (and
    keyCertSign when it has a key usage extension, and respect pathLenConstraint) and be inside
    its validity at ``now``; when ``root_fingerprints`` is non-empty the root's SHA-256
    fingerprint must be one of them.

    Returns ``{ok, reason, problems, chain, root_fingerprint}`` where ``reason`` is ``None``,
    ``issuer_changed`` (no certificate in the bundle carries the leaf's issuer name),
    ``chain`` (signature/CA flag/validity problems, no path to a root) or
    ``root_fingerprint`` (valid path to an unexpected root).
    """
    expected = {normalise_fingerprint(fp) for fp in root_fingerprints}
    bundle: dict[str, x509.Certificate] = {}
    for ca in ca_certificates:
        bundle.setdefault(certificate_fingerprint(ca), ca)

    paths: list[list[x509.Certificate]] = []
    signature_problems: list[str] = []

    def walk(cert: x509.Certificate, path: list[x509.Certificate], seen: set[str]) -> None:
        if len(paths) >= _MAX_CHAIN_PATHS or len(path) >= _MAX_CHAIN_DEPTH:
            return
        for fingerprint, candidate in bundle.items():
            if fingerprint in seen or candidate.subject != cert.issuer:
                continue
            error = verify_signature(cert, candidate)
            if error is not None:
                signature_problems.append(
                    f"{_label(cert)} is not signed by {_label(candidate)} "
                    f"(sha256 {fingerprint[:16]}...): {error}"
                )
                continue
            new_path = [*path, candidate]
            if _self_signed(candidate):
                paths.append(new_path)
            else:
                walk(candidate, new_path, seen | {fingerprint})

    walk(leaf, [], {certificate_fingerprint(leaf)})

    def summary(path: Sequence[x509.Certificate]) -> list[dict[str, Any]]:
        return [
            {
                "subject": ca.subject.rfc4514_string(),
                "fingerprint_sha256": certificate_fingerprint(ca),
                "not_after": _utc_epoch(ca, "not_valid_after"),
            }
            for ca in path
        ]

    if not paths:
        if not any(ca.subject == leaf.issuer for ca in bundle.values()):
            return {
                "ok": False,
                "reason": REASON_ISSUER_CHANGED,
                "problems": [
                    f"issuer {leaf.issuer.rfc4514_string()!r} is not in the CA chain file"
                ],
                "chain": [],
                "root_fingerprint": None,
            }
        problems = _dedupe(signature_problems) or [
            f"{_label(leaf)}: no path to a self-signed root in the CA chain file"
        ]
        return {
            "ok": False,
            "reason": REASON_CHAIN,
            "problems": problems,
            "chain": [],
            "root_fingerprint": None,
        }

    evaluated = []
    for path in paths:
        problems = _ca_problems(path, now)
        root_fp = certificate_fingerprint(path[-1])
        fp_ok = not expected or root_fp in expected
        evaluated.append((path, problems, root_fp, fp_ok))

    # Prefer a fully valid path, then a valid path to an unexpected root, then the first one.
    evaluated.sort(key=lambda item: (bool(item[1]), not item[3]))
    path, problems, root_fp, fp_ok = evaluated[0]
    if problems:
        reason: str | None = REASON_CHAIN
    elif not fp_ok:
        reason = REASON_ROOT_FINGERPRINT
        problems = [
            f"root {_label(path[-1])} sha256 {root_fp} is not an expected trust anchor "
            f"({', '.join(sorted(expected))})"
        ]
    else:
        reason = None
    return {
        "ok": reason is None,
        "reason": reason,
        "problems": problems,
        "chain": summary(path),
        "root_fingerprint": root_fp,
    }


# --------------------------------------------------------------------------------------------
# Key file permissions (PKI-06)
# --------------------------------------------------------------------------------------------


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _resolve_uid(owner: str) -> int | None:
    if owner.isdigit():
        return int(owner)
    try:
        return pwd.getpwnam(owner).pw_uid
    except KeyError:
        return None


def _resolve_gid(group: str) -> int | None:
    if group.isdigit():
        return int(group)
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def key_file_permissions(
    path: str,
    owner: str | None = None,
    group: str | None = None,
    mode: int | None = None,
) -> dict[str, Any]:
    """Assess the private key file's owner, group and mode (PKI-06).

    The mode may not grant any bit the requested ``mode`` lacks, and never group write or any
    access for others (``0027``); without a requested mode the ceiling is ``0640``. Returns
    ``{result, observed, expected, problems}`` (result ``pass``, ``fail`` or ``error``).
    """
    expected = {
        "owner": owner,
        "group": group,
        "mode": _mode_str(mode),
        "max_mode": _mode_str((DEFAULT_MAX_KEY_MODE if mode is None else mode) & 0o7777 & ~0o027),
    }
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return {
            "result": "fail",
            "observed": {"present": False},
            "expected": expected,
            "problems": [f"private key file {path} is missing"],
        }
    except OSError as exc:
        return {
            "result": "error",
            "observed": {"present": None},
            "expected": expected,
            "problems": [f"cannot stat private key file {path}: {exc.strerror or exc}"],
        }
    actual_mode = stat.S_IMODE(info.st_mode)
    observed = {
        "present": True,
        "owner": _user_name(info.st_uid),
        "group": _group_name(info.st_gid),
        "uid": info.st_uid,
        "gid": info.st_gid,
        "mode": _mode_str(actual_mode),
    }
    problems: list[str] = []
    if owner is not None:
        uid = _resolve_uid(owner)
        if uid is None:
            problems.append(f"owner {owner!r} does not exist on the host")
        elif uid != info.st_uid:
            problems.append(f"owner {observed['owner']}, expected {owner}")
    if group is not None:
        gid = _resolve_gid(group)
        if gid is None:
            problems.append(f"group {group!r} does not exist on the host")
        elif gid != info.st_gid:
            problems.append(f"group {observed['group']}, expected {group}")
    allowed = DEFAULT_MAX_KEY_MODE if mode is None else mode
    extra = actual_mode & ~allowed & 0o7777
    forbidden = actual_mode & FORBIDDEN_KEY_MODE_BITS
    if extra and mode is not None:
        problems.append(f"mode {_mode_str(actual_mode)} is more permissive than {_mode_str(mode)}")
    elif extra:
        problems.append(
            f"mode {_mode_str(actual_mode)} is more permissive than {_mode_str(allowed)}"
        )
    if forbidden:
        problems.append(
            f"mode {_mode_str(actual_mode)} grants group write or world access (never allowed)"
        )
    return {
        "result": "fail" if problems else "pass",
        "observed": observed,
        "expected": expected,
        "problems": problems,
    }


# --------------------------------------------------------------------------------------------
# Per-certificate assessment
# --------------------------------------------------------------------------------------------


def _diff_sets(label: str, observed: Iterable[str], expected: Iterable[str]) -> str | None:
    have, want = set(observed), set(expected)
    missing, extra = sorted(want - have), sorted(have - want)
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if extra:
        parts.append(f"extra {', '.join(extra)}")
    return f"{label} {', '.join(parts)}"


def _empty_certificate_entry(req: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": req.get("name"),
        "cert_path": req.get("cert_path"),
        "key_path": req.get("key_path"),
        "present": False,
        "subject_cn": None,
        "issuer_cn": None,
        "serial": None,
        "not_before": None,
        "not_after": None,
        "sans": [],
        "key_usage": [],
        "extended_key_usage": [],
        "public_key_sha256": None,
        "key_type": None,
        "fingerprint_sha256": None,
        "chain": [],
        "root_fingerprint": None,
        "private_key_sha256": None,
        "private_key_type": None,
        "checks": [],
        "reissue": False,
        "reissue_reasons": [],
        "drift": {},
    }


def assess_certificate(
    request: Mapping[str, Any],
    now: int,
    renewal_days: int = 30,
    ca_bundle: CaBundle | None = None,
    root_fingerprints: Sequence[str] = (),
    force_reissue: bool = False,
) -> dict[str, Any]:
    """Assess one requested certificate on this host; returns the per-certificate dict.

    ``request`` is a module ``certificates`` item (normalised here). ``ca_bundle`` comes from
    :func:`load_ca_bundle`. The result holds the certificate facts, ``checks`` (PKI-01..06,
    one each), ``reissue``/``reissue_reasons`` and ``drift`` ({field: {observed, expected}}).
    """
    try:
        req = normalise_request(request)
    except ValueError as exc:
        entry = _empty_certificate_entry(request)
        entry["checks"] = [
            _check(cid, "error", None, None, f"{request.get('name')}: invalid request: {exc}")
            for cid in CHECK_IDS
        ]
        return entry

    name = req["name"]
    cert_path, key_path = req["cert_path"], req["key_path"]
    entry = _empty_certificate_entry(req)
    checks: dict[str, dict[str, Any]] = {}
    reasons: list[str] = []
    drift: dict[str, dict[str, Any]] = {}
    renewal_seconds = int(renewal_days) * _SECONDS_PER_DAY

    def add(cid: str, result: str, observed: Any, expected: Any, detail: str) -> None:
        checks[cid] = _check(cid, result, observed, expected, f"{name}: {detail}")

    # ---- PKI-06 only needs stat(), evaluate it first and independently.
    perms = key_file_permissions(key_path, req["owner"], req["group"], req["mode"])
    if perms["result"] == "pass":
        detail = (
            f"key file {key_path} owner {perms['observed']['owner']} "
            f"group {perms['observed']['group']} mode {perms['observed']['mode']}"
        )
    elif perms["observed"].get("present"):
        detail = f"key file {key_path} " + "; ".join(perms["problems"])
    else:
        detail = "; ".join(perms["problems"])
    add("PKI-06", perms["result"], perms["observed"], perms["expected"], detail)
    if perms["result"] == "fail" and perms["observed"].get("present"):
        for fld in ("owner", "group"):
            if req[fld] is not None and any(p.startswith(fld) for p in perms["problems"]):
                drift[f"key_{fld}"] = {"observed": perms["observed"][fld], "expected": req[fld]}
        if any(p.startswith("mode") for p in perms["problems"]):
            drift["key_mode"] = {
                "observed": perms["observed"]["mode"],
                "expected": perms["expected"]["mode"] or f"<= {perms['expected']['max_mode']}",
            }

    # ---- Load certificate and key.
    cert_state, cert_error, cert = "ok", "", None
    if not os.path.lexists(cert_path):
        cert_state, cert_error = "missing", f"certificate file {cert_path} is missing"
    elif not HAS_CRYPTOGRAPHY:
        cert_state = "error"
        cert_error = (
            f"cannot check {cert_path}: cryptography unavailable ({CRYPTOGRAPHY_IMPORT_ERROR})"
        )
    else:
        try:
            cert = load_pem_certificates(cert_path)[0]
            facts = describe_certificate(cert)
        except FileNotFoundError:
            cert_state, cert_error = "missing", f"certificate file {cert_path} is missing"
        except OSError as exc:
            cert_state, cert_error = "error", f"cannot read {cert_path}: {exc.strerror or exc}"
        except (CertificateParseError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
            cert_state, cert_error = "error", f"cannot parse certificate: {exc}"

    key_state, key_error, key = "ok", "", None
    if not os.path.lexists(key_path):
        key_state, key_error = "missing", f"private key file {key_path} is missing"
    elif not HAS_CRYPTOGRAPHY:
        key_state = "error"
        key_error = (
            f"cannot check {key_path}: cryptography unavailable ({CRYPTOGRAPHY_IMPORT_ERROR})"
        )
    else:
        try:
            key = load_private_key(key_path)
        except FileNotFoundError:
            key_state, key_error = "missing", f"private key file {key_path} is missing"
        except OSError as exc:
            key_state, key_error = "error", f"cannot read {key_path}: {exc.strerror or exc}"
        except KeyParseError as exc:
            key_state, key_error = "error", str(exc)

    key_public = key.public_key() if key is not None else None
    if key_public is not None:
        entry["private_key_sha256"] = public_key_sha256(key_public)
        entry["private_key_type"] = key_type_of(key_public)

    # Key type drift only depends on the private key (the role regenerates the key then).
    key_type_problem = None
    if key_public is not None and req["key_type"] is not None:
        actual_type = key_type_of(key_public)
        if actual_type != req["key_type"]:
            key_type_problem = f"key type {actual_type}, expected {req['key_type']}"
            reasons.append(REASON_KEY_TYPE)
            drift["key_type"] = {"observed": actual_type, "expected": req["key_type"]}

    if cert_state != "ok":
        entry["present"] = cert_state != "missing"
        result = "fail" if cert_state == "missing" else "error"
        obs = {"present": entry["present"], "error": cert_error}
        root_fps = sorted({normalise_fingerprint(fp) for fp in root_fingerprints})
        ca_path = ca_bundle.path if ca_bundle else None
        for cid, expected in (
            ("PKI-01", {"ca_chain_path": ca_path, "root_fingerprints": root_fps}),
            ("PKI-02", {"renewal_days": int(renewal_days)}),
            ("PKI-03", {"sans": req["sans"], "common_name": req["common_name"]}),
            (
                "PKI-04",
                {"key_usage": req["key_usage"], "extended_key_usage": req["extended_key_usage"]},
            ),
        ):
            add(cid, result, obs, expected, cert_error)
        detail = cert_error
        if key_state == "missing":
            detail += f"; {key_error}"
            reasons.append(REASON_KEY_MISSING)
        elif key_state == "error" and result == "fail":
            # A broken key file cannot be assessed: that is an error, not a failure.
            result, detail = "error", f"{key_error}; {cert_error}"
        if key_type_problem:
            detail += f"; {key_type_problem}"
        add("PKI-05", result, obs, {"match": True, "key_type": req["key_type"]}, detail)
        if cert_state == "missing":
            reasons.insert(0, REASON_MISSING)
            drift["present"] = {"observed": False, "expected": True}
    else:
        assert cert is not None
        entry.update({k: v for k, v in facts.items() if k in entry})
        entry["present"] = True
        _assess_chain(add, entry, cert, ca_bundle, now, root_fingerprints, reasons, drift)
        _assess_validity(add, facts, now, int(renewal_days), renewal_seconds, reasons, drift)
        _assess_names(add, facts, cert, req, reasons, drift)
        _assess_usage(add, facts, req, reasons, drift)
        _assess_key(
            add, facts, req, key_state, key_error, key_public, key_type_problem, reasons, drift
        )

    if force_reissue:
        reasons.append(REASON_FORCED)
    entry["checks"] = [checks[cid] for cid in CHECK_IDS]
    entry["reissue_reasons"] = _dedupe(reasons)
    entry["reissue"] = bool(entry["reissue_reasons"])
    entry["drift"] = drift
    return entry


def _assess_chain(
    add: _AddCheck,
    entry: dict[str, Any],
    cert: x509.Certificate,
    ca_bundle: CaBundle | None,
    now: int,
    root_fingerprints: Sequence[str],
    reasons: list[str],
    drift: dict[str, Any],
) -> None:
    expected_fps = sorted({normalise_fingerprint(fp) for fp in root_fingerprints})
    expected = {
        "ca_chain_path": ca_bundle.path if ca_bundle else None,
        "root_fingerprints": expected_fps,
    }
    observed: dict[str, Any] = {"issuer": cert.issuer.rfc4514_string()}
    if ca_bundle is None or ca_bundle.status != "ok":
        message = ca_bundle.message if ca_bundle else "no CA chain file given"
        result = "fail" if ca_bundle is not None and ca_bundle.status == "missing" else "error"
        observed["ca_chain"] = ca_bundle.status if ca_bundle else None
        # Not a re-issue reason: the bundle file itself is what needs fixing.
        add("PKI-01", result, observed, expected, message)
        return
    outcome = verify_chain(cert, ca_bundle.certificates, now, expected_fps)
    entry["chain"] = outcome["chain"]
    entry["root_fingerprint"] = outcome["root_fingerprint"]
    observed.update(
        {
            "chain": [link["subject"] for link in outcome["chain"]],
            "root_fingerprint": outcome["root_fingerprint"],
            "problems": outcome["problems"],
        }
    )
    if outcome["ok"]:
        root = outcome["chain"][-1]
        add(
            "PKI-01",
            "pass",
            observed,
            expected,
            f"chains to root {root['subject']!r} (sha256 {root['fingerprint_sha256'][:16]}...)",
        )
        return
    reasons.append(outcome["reason"])
    drift["chains_to_ca"] = {
        "observed": f"no ({outcome['reason']})",
        "expected": "yes" if not expected_fps else f"yes, root sha256 in {expected_fps}",
    }
    add(
        "PKI-01",
        "fail",
        observed,
        expected,
        "does not chain to the CA: " + "; ".join(outcome["problems"]),
    )


def _assess_validity(
    add: _AddCheck,
    facts: Mapping[str, Any],
    now: int,
    renewal_days: int,
    renewal_seconds: int,
    reasons: list[str],
    drift: dict[str, Any],
) -> None:
    not_before, not_after = facts["not_before"], facts["not_after"]
    remaining = not_after - now
    observed = {
        "not_before": not_before,
        "not_after": not_after,
        "not_after_iso": _iso(not_after),
        "seconds_remaining": remaining,
    }
    expected = {
        "valid_at": now,
        "renewal_days": renewal_days,
        "not_after_later_than": now + renewal_seconds,
    }
    if now < not_before:
        add("PKI-02", "fail", observed, expected, f"not valid before {_iso(not_before)}")
        drift["not_before"] = {"observed": _iso(not_before), "expected": f"<= {_iso(now)}"}
    elif now > not_after:
        add("PKI-02", "fail", observed, expected, f"expired {_iso(not_after)}")
        reasons.append(REASON_EXPIRED)
        drift["not_after"] = {
            "observed": _iso(not_after),
            "expected": f"> {_iso(now + renewal_seconds)}",
        }
    elif remaining < renewal_seconds:
        add(
            "PKI-02",
            "at_risk",
            observed,
            expected,
            f"expires {_iso(not_after)}, {remaining / _SECONDS_PER_DAY:.1f} days left, "
            f"inside the {renewal_days} day renewal window",
        )
        reasons.append(REASON_RENEWAL)
        drift["not_after"] = {
            "observed": _iso(not_after),
            "expected": f"> {_iso(now + renewal_seconds)}",
        }
    else:
        add(
            "PKI-02",
            "pass",
            observed,
            expected,
            f"valid until {_iso(not_after)} ({remaining // _SECONDS_PER_DAY} days left)",
        )


def _assess_names(
    add: _AddCheck,
    facts: Mapping[str, Any],
    cert: x509.Certificate,
    req: Mapping[str, Any],
    reasons: list[str],
    drift: dict[str, Any],
) -> None:
    cns = _name_cns(cert.subject)
    observed = {"sans": facts["sans"], "common_name": cns[0] if len(cns) == 1 else cns or None}
    expected = {"sans": req["sans"], "common_name": req["common_name"]}
    problems = []
    san_problem = _diff_sets("SAN", facts["sans"], req["sans"])
    if san_problem:
        problems.append(san_problem)
        reasons.append(REASON_SAN)
        drift["sans"] = {"observed": facts["sans"], "expected": req["sans"]}
    if req["common_name"] is not None and cns != [req["common_name"]]:
        shown = ", ".join(repr(cn) for cn in cns) if cns else "absent"
        problems.append(f"CN {shown}, expected {req['common_name']!r}")
        reasons.append(REASON_CN)
        drift["common_name"] = {"observed": observed["common_name"], "expected": req["common_name"]}
    if problems:
        add("PKI-03", "fail", observed, expected, "; ".join(problems))
    else:
        what = f"{len(req['sans'])} SAN(s)"
        if req["common_name"] is not None:
            what += f" and CN {req['common_name']!r}"
        add("PKI-03", "pass", observed, expected, f"{what} as requested")


def _assess_usage(
    add: _AddCheck,
    facts: Mapping[str, Any],
    req: Mapping[str, Any],
    reasons: list[str],
    drift: dict[str, Any],
) -> None:
    observed = {"key_usage": facts["key_usage"], "extended_key_usage": facts["extended_key_usage"]}
    expected = {"key_usage": req["key_usage"], "extended_key_usage": req["extended_key_usage"]}
    if req["key_usage"] is None and req["extended_key_usage"] is None:
        add("PKI-04", "not_applicable", observed, expected, "no key usage requested")
        return
    problems = []
    if req["key_usage"] is not None:
        problem = _diff_sets("key usage", facts["key_usage"], req["key_usage"])
        if problem:
            problems.append(problem)
            reasons.append(REASON_KEY_USAGE)
            drift["key_usage"] = {"observed": facts["key_usage"], "expected": req["key_usage"]}
    if req["extended_key_usage"] is not None:
        problem = _diff_sets(
            "extended key usage", facts["extended_key_usage"], req["extended_key_usage"]
        )
        if problem:
            problems.append(problem)
            reasons.append(REASON_EXTENDED_KEY_USAGE)
            drift["extended_key_usage"] = {
                "observed": facts["extended_key_usage"],
                "expected": req["extended_key_usage"],
            }
    if problems:
        add("PKI-04", "fail", observed, expected, "; ".join(problems))
    else:
        add("PKI-04", "pass", observed, expected, "key usage and extended key usage as requested")


def _assess_key(
    add: _AddCheck,
    facts: Mapping[str, Any],
    req: Mapping[str, Any],
    key_state: str,
    key_error: str,
    key_public: Any,
    key_type_problem: str | None,
    reasons: list[str],
    drift: dict[str, Any],
) -> None:
    expected = {"match": True, "key_type": req["key_type"]}
    observed: dict[str, Any] = {
        "certificate_public_key_sha256": facts["public_key_sha256"],
        "certificate_key_type": facts["key_type"],
        "private_key_sha256": None,
        "private_key_type": None,
    }
    if key_state == "missing":
        reasons.append(REASON_KEY_MISSING)
        drift["key_present"] = {"observed": False, "expected": True}
        add("PKI-05", "fail", observed, expected, key_error)
        return
    if key_state == "error":
        add("PKI-05", "error", observed, expected, key_error)
        return
    observed["private_key_sha256"] = public_key_sha256(key_public)
    observed["private_key_type"] = key_type_of(key_public)
    problems = []
    if observed["private_key_sha256"] != facts["public_key_sha256"]:
        problems.append(
            f"private key {req['key_path']} does not match the certificate's public key "
            f"(key sha256 {observed['private_key_sha256'][:16]}..., "
            f"certificate {facts['public_key_sha256'][:16]}...)"
        )
        reasons.append(REASON_KEY_MISMATCH)
        drift["key_matches_certificate"] = {"observed": False, "expected": True}
    if key_type_problem:
        problems.append(key_type_problem)
    if problems:
        add("PKI-05", "fail", observed, expected, "; ".join(problems))
    else:
        add("PKI-05", "pass", observed, expected, f"private key matches ({facts['key_type']})")


def assess_certificates(
    requests: Sequence[Mapping[str, Any]],
    ca_chain_path: str,
    now: int | None = None,
    renewal_days: int = 30,
    root_fingerprints: Sequence[str] = (),
    force_reissue: bool = False,
) -> dict[str, Any]:
    """Assess every requested certificate; returns ``{checks, certificates, reissue}``."""
    when = int(time.time()) if now is None else int(now)
    bundle = load_ca_bundle(ca_chain_path) if requests else None
    results = [
        assess_certificate(
            request,
            when,
            renewal_days=renewal_days,
            ca_bundle=bundle,
            root_fingerprints=root_fingerprints,
            force_reissue=force_reissue,
        )
        for request in requests
    ]
    return {
        "checks": aggregate(results),
        "certificates": results,
        "reissue": [r["name"] for r in results if r["reissue"]],
    }


# --------------------------------------------------------------------------------------------
# Aggregation and diff
# --------------------------------------------------------------------------------------------


def aggregate(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Fold per-certificate checks into one result per check id (PKI-01..06, always six).

    error > fail > at_risk > pass > not_applicable; an empty list gives ``not_applicable``.
    ``observed``/``expected`` hold ``by_certificate`` maps (PKI-02 adds the earliest
    ``not_after``); the message joins the non-passing certificates' messages, worst first.
    """
    if not results:
        return [
            _check(cid, "not_applicable", {}, {}, "no certificates requested on this host")
            for cid in CHECK_IDS
        ]
    out = []
    for cid in CHECK_IDS:
        entries = []
        for res in results:
            for chk in res.get("checks", []):
                if chk.get("check_id") == cid:
                    entries.append((str(res.get("name")), chk))
        if not entries:
            out.append(_check(cid, "error", {}, {}, f"no {cid} result was produced"))
            continue
        result = worst_result(chk["result"] for _, chk in entries)
        observed: dict[str, Any] = {"by_certificate": {n: c["observed"] for n, c in entries}}
        expected: dict[str, Any] = {"by_certificate": {n: c["expected"] for n, c in entries}}
        if cid == "PKI-02":
            dated = [
                (r["not_after"], str(r["name"])) for r in results if r.get("not_after") is not None
            ]
            earliest = min(dated) if dated else (None, None)
            observed["earliest_not_after"] = earliest[0]
            observed["earliest_not_after_iso"] = _iso(earliest[0])
            observed["earliest_not_after_certificate"] = earliest[1]
        if RESULT_PRECEDENCE[result] <= RESULT_PRECEDENCE["pass"]:
            message = "; ".join(chk["message"] for _, chk in entries)
        else:
            bad = [
                (-RESULT_PRECEDENCE.get(chk["result"], 4), idx, chk["message"])
                for idx, (_, chk) in enumerate(entries)
                if RESULT_PRECEDENCE.get(chk["result"], 4) > RESULT_PRECEDENCE["pass"]
            ]
            message = "; ".join(msg for _, _, msg in sorted(bad))
        out.append(_check(cid, result, observed, expected, message))
    return out


def render_diff(certificates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Ansible diff for the certificates that drift: ``before``/``after`` map each drifting
    certificate to its path and drifting fields (the callback renders them)."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for cert in certificates:
        drift = cert.get("drift") or {}
        if not drift:
            continue
        name = str(cert.get("name"))
        before[name] = {"cert_path": cert.get("cert_path")}
        after[name] = {"cert_path": cert.get("cert_path")}
        for fld in sorted(drift):
            before[name][fld] = drift[fld]["observed"]
            after[name][fld] = drift[fld]["expected"]
    return {
        "before": before,
        "after": after,
        "before_header": "certificates (host)",
        "after_header": "certificates (requested)",
    }
