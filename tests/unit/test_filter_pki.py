# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/filter/pki.py: SAN normalisation and the pki request records."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import soc2_pki
from ansible.errors import AnsibleFilterError
from plugin_loader import load_plugin

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_filter() -> ModuleType:
    return load_plugin("plugins/filter/pki.py")


pki = _load_filter()

HOST: dict[str, Any] = {
    "inventory_hostname": "edge1",
    "hostname": "edge1",
    "fqdn": "edge1.lab.example",
    "ansible_host": "10.89.0.11",
    "addresses": ["10.89.0.11", "fd00::11"],
    "cert_dir": "/etc/ssl/soc2audit",
    "key_dir": "/etc/ssl/soc2audit/private",
    "key_type": "ecdsa",
    "ecdsa_curve": "secp256r1",
    "rsa_bits": 3072,
}
WHERE0 = "pki_certificate_requests[0]"


def requests(*reqs: dict[str, Any], host: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return pki.pki_requests(list(reqs), host or HOST)


def expect_error(reqs: Any, match: str, host: dict[str, Any] | None = None) -> str:
    with pytest.raises(AnsibleFilterError) as exc:
        pki.pki_requests(reqs, host or HOST)
    message = str(exc.value)
    assert match in message, message
    return message


# ---------------------------------------------------------------- normalise_san


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("DNS:Host.Example.", "DNS:host.example"),
        ("dns:EDGE1.Lab", "DNS:edge1.lab"),
        ("Edge1.Lab.", "DNS:edge1.lab"),
        ("  edge1  ", "DNS:edge1"),
        ("*.Example.COM", "DNS:*.example.com"),
        ("10.0.0.11", "IP:10.0.0.11"),
        ("ip:10.0.0.11", "IP:10.0.0.11"),
        ("0:0::1", "IP:::1"),
        ("IP:FD00:0:0:0:0:0:0:11", "IP:fd00::11"),
        ("2001:DB8::0:1", "IP:2001:db8::1"),
        ("EMAIL:Ops@Example.com", "EMAIL:Ops@Example.com"),
    ],
)
def test_normalise_san(value: str, expected: str) -> None:
    assert pki.normalise_san(value) == expected


def test_normalise_san_is_idempotent() -> None:
    for value in ("DNS:Host.Example.", "0:0::1", "10.0.0.11", "*.Example.COM"):
        once = pki.normalise_san(value)
        assert pki.normalise_san(once) == once


@pytest.mark.parametrize(
    "value", ["bad name", "host_name!", "DNS:", "DNS:-leading.example", "host:8080", "."]
)
def test_normalise_san_rejects_invalid_dns_names(value: str) -> None:
    with pytest.raises(AnsibleFilterError, match="is not a valid DNS name"):
        pki.normalise_san(value)


@pytest.mark.parametrize("value", ["IP:10.0.0.256", "IP:edge1", "ip:", "IP:10.0.0.1/24"])
def test_normalise_san_rejects_invalid_ip(value: str) -> None:
    with pytest.raises(AnsibleFilterError, match="is not an IP address") as exc:
        pki.normalise_san(value)
    assert repr(value.strip()) in str(exc.value)


# ---------------------------------------------------------------- default_sans


def test_default_sans_collects_names_and_addresses_in_order() -> None:
    assert pki.default_sans(HOST) == [
        "DNS:edge1",
        "DNS:edge1.lab.example",
        "IP:10.89.0.11",
        "IP:fd00::11",
    ]


def test_default_sans_dedups_after_normalisation() -> None:
    host = {
        "inventory_hostname": "Edge1",
        "hostname": "edge1.",
        "fqdn": "EDGE1.lab.example",
        "ansible_host": "10.89.0.11",
        "addresses": ["10.89.0.11", "fd00:0::11", "FD00::11"],
    }
    assert pki.default_sans(host) == [
        "DNS:edge1",
        "DNS:edge1.lab.example",
        "IP:10.89.0.11",
        "IP:fd00::11",
    ]


def test_default_sans_skips_localhost_and_empty_values() -> None:
    host = {
        "inventory_hostname": "monitor",
        "hostname": "localhost",
        "fqdn": "localhost.localdomain",
        "ansible_host": "",
        "addresses": None,
    }
    assert pki.default_sans(host) == ["DNS:monitor"]
    assert pki.default_sans({"inventory_hostname": "localhost"}) == []


def test_default_sans_uses_ansible_host_address_as_ip() -> None:
    host = {"inventory_hostname": "aggregator", "ansible_host": "10.89.0.13"}
    assert pki.default_sans(host) == ["DNS:aggregator", "IP:10.89.0.13"]
    host = {"inventory_hostname": "aggregator", "ansible_host": "agg.lab.example"}
    assert pki.default_sans(host) == ["DNS:aggregator", "DNS:agg.lab.example"]


# ---------------------------------------------------------------- pki_requests: defaults


def test_pki_requests_fills_defaults() -> None:
    [req] = requests({"name": "host"})
    assert req == {
        "name": "host",
        "common_name": "edge1",
        "sans": ["DNS:edge1", "DNS:edge1.lab.example", "IP:10.89.0.11", "IP:fd00::11"],
        "usage": "both",
        "key_usage": ["digitalSignature"],
        "extended_key_usage": ["clientAuth", "serverAuth"],
        "key_type": "ecdsa",
        "ecdsa_curve": "secp256r1",
        "rsa_bits": 3072,
        "cert_path": "/etc/ssl/soc2audit/host.crt",
        "fullchain_path": "/etc/ssl/soc2audit/host-fullchain.crt",
        "key_path": "/etc/ssl/soc2audit/private/host.key",
        "owner": "root",
        "group": "root",
        "mode": "0600",
        "reload_services": [],
        "run_after": "",
    }


def test_pki_requests_per_request_paths() -> None:
    [a, b] = requests(
        {"name": "web", "fullchain_path": "/srv/tls/web-chain.pem"},
        {"name": "api", "cert_path": "/opt/api.pem", "key_path": "/opt/api-key.pem"},
    )
    assert a["cert_path"] == "/etc/ssl/soc2audit/web.crt"
    assert a["fullchain_path"] == "/srv/tls/web-chain.pem"
    assert a["key_path"] == "/etc/ssl/soc2audit/private/web.key"
    assert b["cert_path"] == "/opt/api.pem"
    assert b["key_path"] == "/opt/api-key.pem"
    assert b["fullchain_path"] == "/etc/ssl/soc2audit/api-fullchain.crt"


@pytest.mark.parametrize(
    ("usage", "eku"),
    [
        ("both", ["clientAuth", "serverAuth"]),
        ("server", ["serverAuth"]),
        ("client", ["clientAuth"]),
    ],
)
def test_pki_requests_usage_maps_to_extended_key_usage(usage: str, eku: list[str]) -> None:
    [req] = requests({"name": "host", "usage": usage})
    assert req["usage"] == usage
    assert req["extended_key_usage"] == eku


def test_pki_requests_rsa_gets_key_encipherment() -> None:
    [rsa_req, ed_req] = requests(
        {"name": "rsa", "key_type": "rsa", "rsa_bits": "4096"},
        {"name": "ed", "key_type": "ed25519"},
    )
    assert rsa_req["key_usage"] == ["digitalSignature", "keyEncipherment"]
    assert rsa_req["rsa_bits"] == 4096
    assert ed_req["key_usage"] == ["digitalSignature"]
    [host_rsa] = requests({"name": "host"}, host={**HOST, "key_type": "rsa"})
    assert host_rsa["key_type"] == "rsa"
    assert host_rsa["key_usage"] == ["digitalSignature", "keyEncipherment"]


def test_pki_requests_explicit_key_usage_is_sorted_not_extended() -> None:
    [req] = requests({"name": "host", "key_type": "rsa", "key_usage": ["keyAgreement", "cRLSign"]})
    assert req["key_usage"] == ["cRLSign", "keyAgreement"]


def test_pki_requests_explicit_sans_are_normalised_and_deduped() -> None:
    [req] = requests({"name": "host", "sans": ["Edge1.Lab.", "dns:edge1.lab", "0:0::1"]})
    assert req["sans"] == ["DNS:edge1.lab", "IP:::1"]


def test_pki_requests_extra_sans_are_appended() -> None:
    [req] = requests(
        {"name": "host", "extra_sans": ["Logs.Lab.Example", "10.89.0.11", "192.0.2.7"]}
    )
    assert req["sans"] == [
        "DNS:edge1",
        "DNS:edge1.lab.example",
        "IP:10.89.0.11",
        "IP:fd00::11",
        "DNS:logs.lab.example",
        "IP:192.0.2.7",
    ]
    [req] = requests({"name": "host", "sans": ["edge1"], "extra_sans": ["edge1", "IP:10.0.0.1"]})
    assert req["sans"] == ["DNS:edge1", "IP:10.0.0.1"]


@pytest.mark.parametrize(
    ("mode", "expected"), [("600", "0600"), ("0640", "0640"), ("0400", "0400")]
)
def test_pki_requests_accepts_private_key_modes(mode: str, expected: str) -> None:
    [req] = requests({"name": "host", "mode": mode})
    assert req["mode"] == expected


def test_pki_requests_common_name_owner_group_services() -> None:
    [req] = requests(
        {
            "name": "fluent",
            "common_name": "logs.lab.example",
            "owner": "root",
            "group": "_fluent",
            "mode": "0640",
            "reload_services": ["fluent-bit"],
            "run_after": "systemctl reload fluent-bit",
        }
    )
    assert req["common_name"] == "logs.lab.example"
    assert req["group"] == "_fluent"
    assert req["reload_services"] == ["fluent-bit"]
    assert req["run_after"] == "systemctl reload fluent-bit"


def test_pki_requests_empty_list_is_fine() -> None:
    assert pki.pki_requests([], HOST) == []


# ---------------------------------------------------------------- pki_requests: errors


@pytest.mark.parametrize("value", [{"name": "host"}, "host", None])
def test_pki_requests_not_a_list(value: Any) -> None:
    message = expect_error(value, "pki_certificate_requests must be a list of dicts")
    assert message == "pki_certificate_requests must be a list of dicts"


@pytest.mark.parametrize("req", [{"usage": "both"}, "host", {"name": None}])
def test_pki_requests_missing_name(req: Any) -> None:
    message = expect_error([{"name": "ok"}, req], "needs a 'name'")
    assert message == "pki_certificate_requests[1] needs a 'name'"


@pytest.mark.parametrize("name", ["../etc/passwd", "-host", "", "a b", "x" * 65])
def test_pki_requests_bad_name(name: str) -> None:
    message = expect_error([{"name": name}], "name must match")
    assert message.startswith(f"{WHERE0} ({name}): name must match ")
    assert pki.NAME_RE.pattern in message


def test_pki_requests_duplicate_name() -> None:
    message = expect_error([{"name": "host"}, {"name": "web"}, {"name": "host"}], "duplicate")
    assert message == (
        "pki_certificate_requests[2] (host): duplicate name; each request needs its own"
    )


def test_pki_requests_unknown_usage() -> None:
    message = expect_error([{"name": "host", "usage": "peer"}], "usage")
    assert message == f"{WHERE0} (host): usage 'peer' is not one of both, client, server"


def test_pki_requests_unknown_key_type() -> None:
    message = expect_error([{"name": "host", "key_type": "dsa"}], "key_type")
    assert message == f"{WHERE0} (host): key_type 'dsa' is not one of ecdsa, rsa, ed25519"
    expect_error([{"name": "host"}], "key_type 'ec'", host={**HOST, "key_type": "ec"})


@pytest.mark.parametrize("sans", [[], None, ""])
def test_pki_requests_empty_sans(sans: Any) -> None:
    message = expect_error([{"name": "host", "sans": sans}], "'sans' is empty")
    assert message == (
        f"{WHERE0} (host): 'sans' is empty; list at least one DNS name or IP address, "
        "or leave 'sans' out to use the host's names and addresses"
    )


def test_pki_requests_no_derivable_sans() -> None:
    host = {**HOST, "inventory_hostname": "localhost", "hostname": None, "fqdn": None}
    host.update(ansible_host=None, addresses=[])
    message = expect_error([{"name": "host"}], "no subject alternative names", host=host)
    assert message == f"{WHERE0} (host): no subject alternative names could be derived"


def test_pki_requests_invalid_san_in_request_is_reported() -> None:
    expect_error([{"name": "host", "sans": ["IP:10.0.0.300"]}], "is not an IP address")
    expect_error([{"name": "host", "extra_sans": ["not valid"]}], "is not a valid DNS name")


@pytest.mark.parametrize("mode", ["600o", "0o600", "rw-------", "06000", "0800", "60"])
def test_pki_requests_bad_mode(mode: str) -> None:
    message = expect_error([{"name": "host", "mode": mode}], "must be octal")
    assert message == f"{WHERE0} (host): mode {mode!r} must be octal like '0600'"


@pytest.mark.parametrize("mode", ["0644", "0604", "0660", "0620", "0666", "0601", "0777", "644"])
def test_pki_requests_world_readable_or_group_writable_key(mode: str) -> None:
    message = expect_error([{"name": "host", "mode": mode}], "private key")
    assert message == (
        f"{WHERE0} (host): a private key must not be group-writable or world-accessible "
        f"({mode.zfill(4)})"
    )


# ---------------------------------------------------------------- pki_verify_spec


def test_pki_verify_spec_keeps_exactly_the_verifier_keys() -> None:
    full = requests({"name": "host"}, {"name": "web", "key_type": "rsa", "usage": "server"})
    spec = pki.pki_verify_spec(full)
    assert len(spec) == 2
    for item, req in zip(spec, full, strict=True):
        assert set(item) == set(pki.VERIFY_KEYS)
        # Exactly the certificate options the soc2_pki verifier declares: no more, no fewer.
        assert set(item) == set(soc2_pki.CERTIFICATE_SPEC)
        assert item == {k: req[k] for k in pki.VERIFY_KEYS}
        for dropped in ("fullchain_path", "usage", "ecdsa_curve", "rsa_bits", "reload_services"):
            assert dropped not in item


def test_pki_verify_spec_skips_keys_the_request_lacks() -> None:
    assert pki.pki_verify_spec([{"name": "x", "cert_path": "/c", "extra": 1}]) == [
        {"name": "x", "cert_path": "/c"}
    ]


def test_filter_module_exposes_the_filters() -> None:
    filters = pki.FilterModule().filters()
    assert filters == {
        "soc2audit_pki_requests": pki.pki_requests,
        "soc2audit_normalise_san": pki.normalise_san,
        "soc2audit_pki_verify_spec": pki.pki_verify_spec,
        "soc2audit_pem_fingerprint": pki.pem_fingerprint,
    }


def test_pem_fingerprint_matches_cryptography_and_rejects_junk(lab: Any) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = lab.root.cert.public_bytes(Encoding.PEM).decode()
    fp = pki.pem_fingerprint(pem)
    assert fp.replace(":", "") == lab.root.fingerprint
    assert len(fp.split(":")) == 32
    with pytest.raises(AnsibleFilterError, match="not a PEM certificate"):
        pki.pem_fingerprint("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
