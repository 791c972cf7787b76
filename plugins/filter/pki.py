# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the pki role: turn the user's certificate request list into complete records.

Validation happens here, on the control node, before any host is touched: a request with an
unknown usage or key type, an empty SAN list or a duplicate name raises a clear error.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ansible.errors import AnsibleFilterError

USAGES = {
    "server": ["serverAuth"],
    "client": ["clientAuth"],
    "both": ["clientAuth", "serverAuth"],
}
KEY_TYPES = ("ecdsa", "rsa", "ed25519")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MODE_RE = re.compile(r"^0?[0-7]{3}$")


def normalise_san(value: str) -> str:
    """`DNS:Host.Example` -> `DNS:host.example`; bare names and addresses get their prefix."""
    text = str(value).strip()
    kind, sep, rest = text.partition(":")
    if sep and kind.upper() in ("DNS", "IP", "EMAIL", "URI"):
        kind = kind.upper()
    else:
        kind, rest = "", text
    if kind in ("", "IP"):
        try:
            return "IP:" + str(ipaddress.ip_address(rest))
        except ValueError:
            if kind == "IP":
                raise AnsibleFilterError(f"pki: {text!r} is not an IP address") from None
            kind = "DNS"
    if kind == "DNS":
        name = rest.lower().rstrip(".")
        if not name or not re.fullmatch(r"(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?", name):
            raise AnsibleFilterError(f"pki: {text!r} is not a valid DNS name")
        return "DNS:" + name
    return f"{kind}:{rest}"


def _dedup(items: list[str]) -> list[str]:
    seen: list[str] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


def default_sans(host: dict[str, Any]) -> list[str]:
    """inventory hostname, short name, FQDN and the addresses the host is reached on."""
    candidates = [
        host.get("inventory_hostname"),
        host.get("hostname"),
        host.get("fqdn"),
        host.get("ansible_host"),
        *(host.get("addresses") or []),
    ]
    out: list[str] = []
    for value in candidates:
        if value in (None, "", "localhost", "localhost.localdomain"):
            continue
        out.append(normalise_san(str(value)))
    return _dedup(out)


def pki_requests(requests: list[dict[str, Any]], host: dict[str, Any]) -> list[dict[str, Any]]:
    """Fill defaults into each request and validate it.

    `host` carries: inventory_hostname, hostname, fqdn, ansible_host, addresses, cert_dir,
    key_dir, key_type, ecdsa_curve, rsa_bits.
    """
    if not isinstance(requests, list):
        raise AnsibleFilterError("pki_certificate_requests must be a list of dicts")
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for index, req in enumerate(requests):
        if not isinstance(req, dict) or req.get("name") is None:
            raise AnsibleFilterError(f"pki_certificate_requests[{index}] needs a 'name'")
        name = str(req["name"])
        where = f"pki_certificate_requests[{index}] ({name})"
        if not NAME_RE.match(name):
            raise AnsibleFilterError(f"{where}: name must match {NAME_RE.pattern}")
        if name in names:
            raise AnsibleFilterError(f"{where}: duplicate name; each request needs its own")
        names.add(name)
        usage = req.get("usage", "both")
        if usage not in USAGES:
            raise AnsibleFilterError(
                f"{where}: usage {usage!r} is not one of {', '.join(sorted(USAGES))}"
            )
        key_type = req.get("key_type", host["key_type"])
        if key_type not in KEY_TYPES:
            raise AnsibleFilterError(
                f"{where}: key_type {key_type!r} is not one of {', '.join(KEY_TYPES)}"
            )
        if "sans" in req:
            if not req["sans"]:
                raise AnsibleFilterError(
                    f"{where}: 'sans' is empty; list at least one DNS name or IP address, "
                    "or leave 'sans' out to use the host's names and addresses"
                )
            sans = _dedup([normalise_san(s) for s in req["sans"]])
        else:
            sans = default_sans(host)
        sans = _dedup(sans + [normalise_san(s) for s in req.get("extra_sans", [])])
        if not sans:
            raise AnsibleFilterError(f"{where}: no subject alternative names could be derived")
        mode = req.get("mode", "0600")
        # Unquoted YAML `mode: 0600` arrives as the int 384: read it as the octal it was written as.
        if isinstance(mode, int) and not isinstance(mode, bool):
            mode = format(mode, "04o")
        mode = str(mode)
        if not MODE_RE.match(mode):
            raise AnsibleFilterError(f"{where}: mode {mode!r} must be octal like '0600'")
        mode = mode.zfill(4)
        if int(mode, 8) & 0o027:
            raise AnsibleFilterError(
                f"{where}: a private key must not be group-writable or world-accessible ({mode})"
            )
        key_usage = req.get(
            "key_usage",
            ["digitalSignature", "keyEncipherment"] if key_type == "rsa" else ["digitalSignature"],
        )
        cert_dir = str(host["cert_dir"])
        key_dir = str(host["key_dir"])
        out.append(
            {
                "name": name,
                "common_name": str(req.get("common_name", host["inventory_hostname"])),
                "sans": sans,
                "usage": usage,
                "key_usage": sorted(key_usage),
                "extended_key_usage": list(USAGES[usage]),
                "key_type": key_type,
                "ecdsa_curve": req.get("ecdsa_curve", host["ecdsa_curve"]),
                "rsa_bits": int(req.get("rsa_bits", host["rsa_bits"])),
                "cert_path": req.get("cert_path", f"{cert_dir}/{name}.crt"),
                "fullchain_path": req.get("fullchain_path", f"{cert_dir}/{name}-fullchain.crt"),
                "key_path": req.get("key_path", f"{key_dir}/{name}.key"),
                "owner": str(req.get("owner", "root")),
                "group": str(req.get("group", "root")),
                "mode": mode,
                "reload_services": list(req.get("reload_services", [])),
                "run_after": req.get("run_after", ""),
            }
        )
    return out


VERIFY_KEYS = (
    "name",
    "cert_path",
    "key_path",
    "common_name",
    "sans",
    "key_usage",
    "extended_key_usage",
    "owner",
    "group",
    "mode",
    "key_type",
)


def pki_verify_spec(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The part of each normalised request that the soc2_pki verifier compares."""
    return [{k: req[k] for k in VERIFY_KEYS if k in req} for req in requests]


def pem_fingerprint(pem: str) -> str:
    """SHA-256 fingerprint (aa:bb:...) of the first certificate in a PEM text.

    Computed on the control node in-process: the drift check pins the root this way without a
    module run (x509_certificate_info costs about half a second per run).
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(str(pem).encode())
    except ValueError as exc:
        raise AnsibleFilterError(
            f"soc2audit_pem_fingerprint: not a PEM certificate: {exc}"
        ) from exc
    return ":".join(f"{b:02x}" for b in cert.fingerprint(hashes.SHA256()))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "soc2audit_pem_fingerprint": pem_fingerprint,
            "soc2audit_pki_requests": pki_requests,
            "soc2audit_normalise_san": normalise_san,
            "soc2audit_pki_verify_spec": pki_verify_spec,
        }
