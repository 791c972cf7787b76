# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The PKI family's verification (PKI-01 .. PKI-06), shared by the soc2_pki module and the
one-pass soc2_verify module that runs every family in one round trip."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.soc2_x509 import (
    CHECK_IDS,
    KEY_TYPES,
    assess_certificates,
    normalise_fingerprint,
    normalise_request,
    render_diff,
)

# The family interface (plugins/module_utils/soc2_family.py) the runner, soc2_verify and the
# catalog check rely on; CHECK_IDS is the parsing module's literal tuple.
__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "FAMILY", "validate", "verify"]

FAMILY = "PKI"

CERTIFICATE_SPEC: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "cert_path": {"type": "path", "required": True},
    "key_path": {"type": "path", "required": True},
    "common_name": {"type": "str"},
    "sans": {"type": "list", "elements": "str", "required": True},
    "key_usage": {"type": "list", "elements": "str"},
    "extended_key_usage": {"type": "list", "elements": "str"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "raw"},
    "key_type": {"type": "str", "choices": list(KEY_TYPES)},
}

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "certificates": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": CERTIFICATE_SPEC,
    },
    "ca_chain_path": {"type": "path", "required": True},
    "ca_root_fingerprints": {"type": "list", "elements": "str", "default": []},
    "renewal_days": {"type": "int", "default": 30},
    "force_reissue": {"type": "bool", "default": False},
    "now": {"type": "int"},
}


def validate(params: dict[str, Any]) -> list[str]:
    """Return parameter problems (empty when the request is usable)."""
    problems = []
    seen: set[str] = set()
    for request in params["certificates"]:
        name = request.get("name")
        if name in seen:
            problems.append(f"duplicate certificate name {name!r}")
        seen.add(name)
        try:
            normalise_request(request)
        except ValueError as exc:
            problems.append(str(exc))
    for fingerprint in params["ca_root_fingerprints"]:
        try:
            normalise_fingerprint(fingerprint)
        except ValueError as exc:
            problems.append(f"ca_root_fingerprints: {exc}")
    if params["renewal_days"] < 0:
        problems.append("renewal_days must not be negative")
    return problems


def verify(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Read the certificates and keys; the module result minus ``changed``.

    ``observations`` carries numeric facts for the metrics file (certificate expiry).
    """
    report = assess_certificates(
        params["certificates"],
        ca_chain_path=params["ca_chain_path"],
        now=params["now"],
        renewal_days=params["renewal_days"],
        root_fingerprints=params["ca_root_fingerprints"],
        force_reissue=params["force_reissue"],
    )
    observations = [
        {
            "key": "certificate_expiry",  # its metric: soc2audit/metrics.py
            "labels": {"name": cert["name"], "path": cert["cert_path"]},
            "value": cert["not_after"],
        }
        for cert in report["certificates"]
        if cert.get("not_after") is not None
    ]
    result: dict[str, Any] = {
        "checks": report["checks"],
        "certificates": report["certificates"],
        "reissue": report["reissue"],
        "observations": observations,
    }
    if getattr(module, "_diff", False):
        result["diff"] = render_diff(report["certificates"])
    return result
