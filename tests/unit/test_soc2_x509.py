# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/soc2_x509.py (certificates generated per test)."""

from __future__ import annotations

import datetime as dt
import grp
import json
import os
import pwd
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from ansible.module_utils import soc2_x509 as x
from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    from conftest import Lab, Pki

# Same evaluation time as the conftest PKI: 2026-01-15T12:00:00Z.
NOW = int(dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC).timestamp())
DAY = 86400


def assess(lab: Lab, request: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("now", NOW)
    kwargs.setdefault("ca_bundle", x.load_ca_bundle(str(lab.bundle)))
    return x.assess_certificate(request, **kwargs)


def results(entry: dict[str, Any]) -> dict[str, str]:
    return {c["check_id"]: c["result"] for c in entry["checks"]}


def check(entry: dict[str, Any], check_id: str) -> dict[str, Any]:
    (found,) = [c for c in entry["checks"] if c["check_id"] == check_id]
    return found


ALL_PASS = dict.fromkeys(x.CHECK_IDS, "pass")


# ------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("DNS:Edge1.LAB", "DNS:edge1.lab"),
        ("dns:edge1.lab.", "DNS:edge1.lab"),
        ("edge1.lab", "DNS:edge1.lab"),
        ("IP:10.0.0.11", "IP:10.0.0.11"),
        ("IP:0:0::1", "IP:::1"),
        ("IP:0000:0000:0000:0000:0000:0000:0000:0001", "IP:::1"),
        ("IP Address:2001:DB8::1", "IP:2001:db8::1"),
        ("::1", "IP:::1"),
        ("192.0.2.1", "IP:192.0.2.1"),
        ("email:Ops@Example.ORG", "email:Ops@example.org"),
        ("URI:spiffe://lab/edge1", "URI:spiffe://lab/edge1"),
    ],
)
def test_normalise_san(raw: str, expected: str) -> None:
    assert x.normalise_san(raw) == expected


@pytest.mark.parametrize("raw", ["", "IP:300.1.1.1", "IP:nope", "foo:bar", "DNS:has space"])
def test_normalise_san_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        x.normalise_san(raw)


def test_normalise_usages_and_fingerprint() -> None:
    assert x.normalise_key_usage("Digital Signature") == "digitalSignature"
    assert x.normalise_key_usage("key_encipherment") == "keyEncipherment"
    assert x.normalise_key_usage("contentCommitment") == "nonRepudiation"
    assert x.normalise_extended_key_usage("TLS Web Client Authentication") == "clientAuth"
    assert x.normalise_extended_key_usage("1.3.6.1.5.5.7.3.1") == "serverAuth"
    assert x.normalise_extended_key_usage("1.2.3.4") == "1.2.3.4"
    with pytest.raises(ValueError, match="unknown key usage"):
        x.normalise_key_usage("signEverything")
    with pytest.raises(ValueError, match="unknown extended key usage"):
        x.normalise_extended_key_usage("superAuth")
    fp = "AB:" * 31 + "CD"
    assert x.normalise_fingerprint(fp) == "ab" * 31 + "cd"
    with pytest.raises(ValueError, match="64 hex"):
        x.normalise_fingerprint("abcd")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0600", 0o600), ("600", 0o600), ("0o640", 0o640), (384, 0o600), (None, None)],
)
def test_normalise_mode(raw: Any, expected: int | None) -> None:
    assert x.normalise_mode(raw) == expected


@pytest.mark.parametrize("raw", ["u=rw", "0800", "rw-------", True, 0o10000])
def test_normalise_mode_rejects(raw: Any) -> None:
    with pytest.raises(ValueError, match="invalid mode"):
        x.normalise_mode(raw)


# ------------------------------------------------------------------ loading and describing


def test_load_and_describe(lab: Lab) -> None:
    leaf = lab.leaf(sans=["DNS:edge1.lab", "IP:10.0.0.11", "IP:::1"])
    certs = x.load_pem_certificates(str(lab.bundle))
    assert [c.fingerprint for c in (lab.intermediate, lab.root)] == [
        x.certificate_fingerprint(c) for c in certs
    ]
    facts = x.describe_certificate(leaf.cert)
    assert facts["subject_cn"] == "edge1-host"
    assert facts["issuer_cn"] == "SOC2 Lab Issuing CA"
    assert facts["serial"] == format(leaf.cert.serial_number, "x")
    assert facts["not_before"] == NOW - DAY
    assert facts["not_after"] == NOW + 365 * DAY
    assert facts["sans"] == ["DNS:edge1.lab", "IP:10.0.0.11", "IP:::1"]
    assert facts["key_usage"] == ["digitalSignature"]
    assert facts["extended_key_usage"] == ["clientAuth", "serverAuth"]
    assert facts["key_type"] == "ecdsa"
    assert facts["key_size"] == "secp256r1"
    assert facts["public_key_sha256"] == x.public_key_sha256(leaf.key.public_key())
    assert facts["is_ca"] is False


def test_load_garbage_raises_parse_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    with pytest.raises(x.CertificateParseError, match="cannot be parsed"):
        x.load_pem_certificates(str(garbage))
    empty = tmp_path / "empty.pem"
    empty.write_text("hello\n")
    with pytest.raises(x.CertificateParseError, match="no PEM certificate"):
        x.load_pem_certificates(str(empty))
    with pytest.raises(FileNotFoundError):
        x.load_pem_certificates(str(tmp_path / "absent.pem"))


def test_load_private_key_rejects_encrypted(pki: Pki, tmp_path: Path) -> None:
    key = pki.new_key()
    path = tmp_path / "enc.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(x.KeyParseError, match="encrypted"):
        x.load_private_key(str(path))


# ------------------------------------------------------------------ signatures and chains


@pytest.mark.parametrize("key_type", ["ecdsa", "rsa", "ed25519"])
def test_verify_signature_by_key_type(make_lab: Callable[..., Lab], key_type: str) -> None:
    lab = make_lab(key_type)
    leaf = lab.leaf()
    assert x.verify_signature(leaf.cert, lab.intermediate.cert) is None
    assert x.verify_signature(lab.intermediate.cert, lab.root.cert) is None
    assert x.verify_signature(leaf.cert, lab.root.cert) == "signature does not verify"
    assert x.verify_signature(lab.root.cert, lab.root.cert) is None


def test_verify_chain_good(lab: Lab) -> None:
    leaf = lab.leaf()
    out = x.verify_chain(leaf.cert, [lab.root.cert, lab.intermediate.cert], NOW)
    assert out["ok"] is True
    assert out["reason"] is None
    assert out["problems"] == []
    assert [c["fingerprint_sha256"] for c in out["chain"]] == [
        lab.intermediate.fingerprint,
        lab.root.fingerprint,
    ]
    assert out["root_fingerprint"] == lab.root.fingerprint


def test_verify_chain_intermediate_without_ca_flag(pki: Pki) -> None:
    root = pki.ca("Root", path_length=None)
    not_ca = pki.ca("Not A CA", issuer=root, ca_flag=False)
    leaf = pki.leaf("h", not_ca)
    out = x.verify_chain(leaf.cert, [not_ca.cert, root.cert], NOW)
    assert out["ok"] is False
    assert out["reason"] == "chain"
    assert out["problems"] == ["CA certificate 'Not A CA' lacks basicConstraints CA:TRUE"]


def test_verify_chain_expired_intermediate(pki: Pki) -> None:
    root = pki.ca("Root")
    old = pki.ca("Old Issuing", issuer=root, not_before_days=-400, not_after_days=-10)
    leaf = pki.leaf("h", old)
    out = x.verify_chain(leaf.cert, [old.cert, root.cert], NOW)
    assert out["reason"] == "chain"
    assert len(out["problems"]) == 1
    assert out["problems"][0].startswith("CA certificate 'Old Issuing' expired 2026-01-05")


def test_verify_chain_path_length(pki: Pki) -> None:
    root = pki.ca("Root", path_length=0)
    mid = pki.ca("Mid", issuer=root)
    low = pki.ca("Low", issuer=mid)
    leaf = pki.leaf("h", low)
    out = x.verify_chain(leaf.cert, [low.cert, mid.cert, root.cert], NOW)
    assert out["ok"] is False
    assert out["problems"] == [
        "CA certificate 'Root' pathLenConstraint 0 exceeded by 2 intermediate(s) below it"
    ]


def test_verify_chain_without_root_in_bundle(lab: Lab) -> None:
    leaf = lab.leaf()
    out = x.verify_chain(leaf.cert, [lab.intermediate.cert], NOW)
    assert out["ok"] is False
    assert out["reason"] == "chain"
    assert "no path to a self-signed root" in out["problems"][0]


def test_verify_chain_prefers_expected_root_among_cross_signed(pki: Pki) -> None:
    """Two roots with the same name (rollover): the one in the expected list is chosen."""
    old_root = pki.ca("Root", filename="old-root")
    new_root = pki.ca("Root", key=old_root.key, filename="new-root", not_after_days=7300)
    inter = pki.ca("Issuing", issuer=new_root)
    leaf = pki.leaf("h", inter)
    out = x.verify_chain(
        leaf.cert, [inter.cert, old_root.cert, new_root.cert], NOW, [new_root.fingerprint]
    )
    assert out["ok"] is True
    assert out["root_fingerprint"] == new_root.fingerprint


# ------------------------------------------------------------------ assess_certificate


@pytest.mark.parametrize("key_type", ["ecdsa", "rsa", "ed25519"])
def test_good_leaf_passes_all_six(make_lab: Callable[..., Lab], key_type: str) -> None:
    lab = make_lab(key_type)
    leaf = lab.leaf(key_usage=["digitalSignature"])
    entry = assess(lab, lab.request(leaf), root_fingerprints=[lab.root.fingerprint])
    assert results(entry) == ALL_PASS, [c["message"] for c in entry["checks"]]
    assert entry["reissue"] is False
    assert entry["reissue_reasons"] == []
    assert entry["drift"] == {}
    assert entry["present"] is True
    assert entry["key_type"] == key_type
    assert entry["private_key_type"] == key_type
    assert entry["root_fingerprint"] == lab.root.fingerprint
    assert entry["not_after"] == NOW + 365 * DAY
    assert check(entry, "PKI-01")["message"].startswith("edge1-host: chains to root 'CN=SOC2")
    assert check(entry, "PKI-06")["observed"]["mode"] == "0600"


def test_expired_leaf_fails_pki02(lab: Lab) -> None:
    leaf = lab.leaf(not_before_days=-400, not_after_days=-2)
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {**ALL_PASS, "PKI-02": "fail"}
    assert check(entry, "PKI-02")["message"] == "edge1-host: expired 2026-01-13T12:00:00Z"
    assert entry["reissue_reasons"] == ["expired"]


def test_not_yet_valid_fails_but_is_no_reissue_reason(lab: Lab) -> None:
    leaf = lab.leaf(not_before_days=2, not_after_days=300)
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {**ALL_PASS, "PKI-02": "fail"}
    assert "not valid before 2026-01-17T12:00:00Z" in check(entry, "PKI-02")["message"]
    assert entry["reissue"] is False


def test_leaf_inside_renewal_window_is_at_risk(lab: Lab) -> None:
    leaf = lab.leaf(not_after_days=10)
    entry = assess(lab, lab.request(leaf), renewal_days=30)
    assert results(entry) == {**ALL_PASS, "PKI-02": "at_risk"}
    assert entry["reissue"] is True
    assert entry["reissue_reasons"] == ["renewal_window"]
    msg = check(entry, "PKI-02")["message"]
    assert msg == (
        "edge1-host: expires 2026-01-25T12:00:00Z, 10.0 days left, inside the 30 day renewal window"
    )
    # A shorter window leaves the same certificate passing.
    assert results(assess(lab, lab.request(leaf), renewal_days=7))["PKI-02"] == "pass"


@pytest.mark.parametrize("same_name", [True, False])
def test_leaf_signed_by_foreign_ca_fails_pki01(
    lab: Lab, make_lab: Callable[..., Lab], same_name: bool
) -> None:
    foreign = make_lab(prefix="" if same_name else "Foreign ")
    leaf = foreign.leaf()
    # The file under test sits where our leaf would, and the chain file is ours.
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {**ALL_PASS, "PKI-01": "fail"}
    assert entry["reissue"] is True
    msg = check(entry, "PKI-01")["message"]
    assert msg.startswith("edge1-host: does not chain to the CA: ")
    if same_name:
        # Same issuer name, different key: the signature check is what catches it.
        assert entry["reissue_reasons"] == ["chain"]
        assert "is not signed by 'SOC2 Lab Issuing CA'" in msg
        assert "signature does not verify" in msg
    else:
        assert entry["reissue_reasons"] == ["issuer_changed"]
        assert "issuer 'CN=Foreign SOC2 Lab Issuing CA' is not in the CA chain file" in msg


def test_root_fingerprint_mismatch_fails_pki01(lab: Lab, make_lab: Callable[..., Lab]) -> None:
    other = make_lab(prefix="Other ")
    leaf = lab.leaf()
    entry = assess(lab, lab.request(leaf), root_fingerprints=[other.root.fingerprint])
    assert results(entry) == {**ALL_PASS, "PKI-01": "fail"}
    assert entry["reissue_reasons"] == ["root_fingerprint"]
    msg = check(entry, "PKI-01")["message"]
    assert lab.root.fingerprint in msg
    assert "is not an expected trust anchor" in msg
    assert check(entry, "PKI-01")["observed"]["root_fingerprint"] == lab.root.fingerprint


def test_root_fingerprint_accepts_colons_and_uppercase(lab: Lab) -> None:
    leaf = lab.leaf()
    fp = lab.root.fingerprint.upper()
    fancy = ":".join(fp[i : i + 2] for i in range(0, len(fp), 2))
    entry = assess(lab, lab.request(leaf), root_fingerprints=[fancy])
    assert results(entry)["PKI-01"] == "pass"


def test_swapped_ca_bundle_fails_pki01(lab: Lab, make_lab: Callable[..., Lab]) -> None:
    """Someone replaces the bundle with another CA that happens to sign the leaf too."""
    rogue = make_lab(prefix="Rogue ")
    leaf = rogue.leaf()
    entry = assess(
        lab,
        lab.request(leaf),
        ca_bundle=x.load_ca_bundle(str(rogue.bundle)),
        root_fingerprints=[lab.root.fingerprint],
    )
    assert results(entry)["PKI-01"] == "fail"
    assert entry["reissue_reasons"] == ["root_fingerprint"]


def test_san_mismatch_names_missing_and_extra(lab: Lab) -> None:
    leaf = lab.leaf(sans=["DNS:evil", "IP:10.0.0.11"])
    request = lab.request(leaf, sans=["DNS:edge1.lab", "IP:10.0.0.11"])
    entry = assess(lab, request)
    assert results(entry) == {**ALL_PASS, "PKI-03": "fail"}
    assert (
        check(entry, "PKI-03")["message"] == "edge1-host: SAN missing DNS:edge1.lab, extra DNS:evil"
    )
    assert entry["reissue_reasons"] == ["san_drift"]
    assert entry["drift"]["sans"] == {
        "observed": ["DNS:evil", "IP:10.0.0.11"],
        "expected": ["DNS:edge1.lab", "IP:10.0.0.11"],
    }


def test_cn_mismatch(lab: Lab) -> None:
    leaf = lab.leaf(common_name="edge9")
    entry = assess(lab, lab.request(leaf, common_name="edge1"))
    assert results(entry) == {**ALL_PASS, "PKI-03": "fail"}
    assert check(entry, "PKI-03")["message"] == "edge1-host: CN 'edge9', expected 'edge1'"
    assert entry["reissue_reasons"] == ["cn_drift"]
    # Without a requested CN the CN is not compared.
    assert results(assess(lab, lab.request(leaf, common_name=None)))["PKI-03"] == "pass"


def test_ipv6_and_case_normalisation_is_equal(lab: Lab) -> None:
    leaf = lab.leaf(sans=["DNS:edge1.lab", "IP:::1", "IP:2001:db8::1"])
    request = lab.request(leaf, sans=["DNS:EDGE1.lab.", "IP:0:0::1", "IP:2001:0DB8:0:0::0001"])
    entry = assess(lab, request)
    assert results(entry)["PKI-03"] == "pass"
    assert entry["sans"] == ["DNS:edge1.lab", "IP:2001:db8::1", "IP:::1"]


def test_eku_mismatch_fails_pki04(lab: Lab) -> None:
    leaf = lab.leaf(extended_key_usage=["serverAuth"])
    entry = assess(lab, lab.request(leaf, extended_key_usage=["serverAuth", "clientAuth"]))
    assert results(entry) == {**ALL_PASS, "PKI-04": "fail"}
    assert check(entry, "PKI-04")["message"] == "edge1-host: extended key usage missing clientAuth"
    assert entry["reissue_reasons"] == ["extended_key_usage_drift"]


def test_key_usage_mismatch_fails_pki04(lab: Lab) -> None:
    leaf = lab.leaf(key_usage=["digitalSignature", "keyEncipherment"])
    entry = assess(lab, lab.request(leaf, key_usage=["Digital Signature", "keyAgreement"]))
    assert results(entry)["PKI-04"] == "fail"
    assert check(entry, "PKI-04")["message"] == (
        "edge1-host: key usage missing keyAgreement, extra keyEncipherment"
    )
    assert entry["reissue_reasons"] == ["key_usage_drift"]


def test_usage_not_requested_is_not_applicable(lab: Lab) -> None:
    leaf = lab.leaf()
    entry = assess(lab, lab.request(leaf, key_usage=None, extended_key_usage=None))
    assert results(entry)["PKI-04"] == "not_applicable"


def test_key_mismatch_fails_pki05(lab: Lab) -> None:
    leaf = lab.leaf()
    lab.pki.write_key(lab.pki.new_key("ecdsa"), leaf.key_path)  # the key was regenerated
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {**ALL_PASS, "PKI-05": "fail"}
    assert entry["reissue_reasons"] == ["key_mismatch"]
    assert "does not match the certificate's public key" in check(entry, "PKI-05")["message"]
    assert entry["private_key_sha256"] != entry["public_key_sha256"]


def test_key_type_drift_fails_pki05(lab: Lab) -> None:
    leaf = lab.leaf(key_type="ecdsa")
    entry = assess(lab, lab.request(leaf, key_type="ed25519"))
    assert results(entry) == {**ALL_PASS, "PKI-05": "fail"}
    assert check(entry, "PKI-05")["message"] == "edge1-host: key type ecdsa, expected ed25519"
    assert entry["reissue_reasons"] == ["key_type_drift"]


def test_world_readable_key_fails_pki06_without_reissue(lab: Lab) -> None:
    leaf = lab.leaf()
    os.chmod(leaf.key_path, 0o644)
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {**ALL_PASS, "PKI-06": "fail"}
    msg = check(entry, "PKI-06")["message"]
    assert msg == (
        f"edge1-host: key file {leaf.key_path} mode 0644 is more permissive than 0600; "
        "mode 0644 grants group write or world access (never allowed)"
    )
    assert entry["reissue"] is False
    assert entry["drift"]["key_mode"] == {"observed": "0644", "expected": "0600"}


@pytest.mark.parametrize(
    ("actual", "requested", "result"),
    [
        (0o600, "0600", "pass"),
        (0o400, "0600", "pass"),
        (0o640, "0640", "pass"),
        (0o640, "0600", "fail"),
        (0o660, "0660", "fail"),
        (0o604, "0604", "fail"),
        (0o644, None, "fail"),
        (0o640, None, "pass"),
    ],
)
def test_key_mode_policy(lab: Lab, actual: int, requested: str | None, result: str) -> None:
    leaf = lab.leaf()
    os.chmod(leaf.key_path, actual)
    entry = assess(lab, lab.request(leaf, mode=requested))
    assert results(entry)["PKI-06"] == result


def test_key_owner_and_group_mismatch_fail_pki06(lab: Lab) -> None:
    leaf = lab.leaf()
    os.chown(leaf.key_path, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {**ALL_PASS, "PKI-06": "fail"}
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    assert check(entry, "PKI-06")["message"] == (
        f"edge1-host: key file {leaf.key_path} owner nobody, expected {user}; "
        f"group nogroup, expected {group}"
    )
    assert entry["reissue"] is False
    # The positive case: asking for what is there passes.
    entry = assess(lab, lab.request(leaf, owner="nobody", group="nogroup"))
    assert results(entry)["PKI-06"] == "pass"


def test_unknown_owner_fails_pki06(lab: Lab) -> None:
    leaf = lab.leaf()
    entry = assess(lab, lab.request(leaf, owner="no-such-user-soc2"))
    assert results(entry)["PKI-06"] == "fail"
    assert (
        "owner 'no-such-user-soc2' does not exist on the host" in check(entry, "PKI-06")["message"]
    )


def test_missing_cert_file_fails_with_reason_missing(lab: Lab) -> None:
    leaf = lab.leaf()
    leaf.cert_path.unlink()
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {
        "PKI-01": "fail",
        "PKI-02": "fail",
        "PKI-03": "fail",
        "PKI-04": "fail",
        "PKI-05": "fail",
        "PKI-06": "pass",
    }
    for cid in ("PKI-01", "PKI-02", "PKI-03", "PKI-04", "PKI-05"):
        assert check(entry, cid)["message"] == (
            f"edge1-host: certificate file {leaf.cert_path} is missing"
        )
    assert entry["present"] is False
    assert entry["reissue_reasons"] == ["missing"]
    assert entry["sans"] == []
    assert entry["not_after"] is None


def test_missing_key_file_fails_pki05_and_pki06(lab: Lab) -> None:
    leaf = lab.leaf()
    leaf.key_path.unlink()
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {**ALL_PASS, "PKI-05": "fail", "PKI-06": "fail"}
    assert check(entry, "PKI-05")["message"] == (
        f"edge1-host: private key file {leaf.key_path} is missing"
    )
    assert check(entry, "PKI-06")["message"] == (
        f"edge1-host: private key file {leaf.key_path} is missing"
    )
    assert entry["reissue_reasons"] == ["key_missing"]


def test_garbage_cert_is_error_not_fail(lab: Lab) -> None:
    leaf = lab.leaf()
    leaf.cert_path.write_text(
        "-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n"
    )
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {
        "PKI-01": "error",
        "PKI-02": "error",
        "PKI-03": "error",
        "PKI-04": "error",
        "PKI-05": "error",
        "PKI-06": "pass",
    }
    assert "cannot parse certificate" in check(entry, "PKI-03")["message"]
    assert str(leaf.cert_path) in check(entry, "PKI-03")["message"]
    assert entry["present"] is True
    assert entry["reissue"] is False


def test_garbage_key_is_error_not_fail(lab: Lab) -> None:
    leaf = lab.leaf()
    leaf.key_path.write_text(
        "-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n"
    )
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {**ALL_PASS, "PKI-05": "error"}
    assert "private key cannot be parsed" in check(entry, "PKI-05")["message"]
    assert entry["reissue"] is False


def test_garbage_ca_bundle_is_error(lab: Lab) -> None:
    leaf = lab.leaf()
    lab.bundle.write_text("not a bundle\n")
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {**ALL_PASS, "PKI-01": "error"}
    assert check(entry, "PKI-01")["message"] == (
        f"edge1-host: cannot parse CA chain: {lab.bundle}: no PEM certificate found"
    )
    assert entry["reissue"] is False


def test_missing_ca_bundle_fails_pki01_without_reissue(lab: Lab) -> None:
    leaf = lab.leaf()
    lab.bundle.unlink()
    entry = assess(lab, lab.request(leaf))
    assert results(entry) == {**ALL_PASS, "PKI-01": "fail"}
    assert check(entry, "PKI-01")["message"] == (
        f"edge1-host: CA chain file {lab.bundle} is missing"
    )
    assert entry["reissue"] is False


def test_cryptography_missing_is_error(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    leaf = lab.leaf()
    request = lab.request(leaf)
    monkeypatch.setattr(x, "HAS_CRYPTOGRAPHY", False)
    monkeypatch.setattr(x, "CRYPTOGRAPHY_IMPORT_ERROR", "ModuleNotFoundError: no cryptography")
    report = x.assess_certificates([request], str(lab.bundle), now=NOW)
    entry = report["certificates"][0]
    assert results(entry) == {**dict.fromkeys(x.CHECK_IDS[:5], "error"), "PKI-06": "pass"}
    assert "no cryptography" in check(entry, "PKI-01")["message"]
    assert [c["result"] for c in report["checks"]] == ["error"] * 5 + ["pass"]
    assert report["reissue"] == []


def test_force_reissue(lab: Lab) -> None:
    leaf = lab.leaf()
    entry = assess(lab, lab.request(leaf), force_reissue=True)
    assert results(entry) == ALL_PASS
    assert entry["reissue"] is True
    assert entry["reissue_reasons"] == ["forced"]


def test_several_reasons_are_all_reported(lab: Lab) -> None:
    leaf = lab.leaf(sans=["DNS:evil"], not_after_days=5)
    entry = assess(lab, lab.request(leaf, sans=["DNS:edge1.lab"]), force_reissue=True)
    assert entry["reissue_reasons"] == ["renewal_window", "san_drift", "forced"]


# ------------------------------------------------------------------ aggregation


def _fake(name: str, **overrides: str) -> dict[str, Any]:
    return {
        "name": name,
        "not_after": None,
        "checks": [
            {
                "check_id": cid,
                "result": overrides.get(cid.replace("-", "_"), "pass"),
                "observed": {"n": name},
                "expected": {},
                "message": f"{name}: {cid} {overrides.get(cid.replace('-', '_'), 'pass')}",
            }
            for cid in x.CHECK_IDS
        ],
    }


def test_aggregate_empty_is_not_applicable() -> None:
    checks = x.aggregate([])
    assert [c["check_id"] for c in checks] == list(x.CHECK_IDS)
    assert {c["result"] for c in checks} == {"not_applicable"}
    report = x.assess_certificates([], "/nonexistent/ca.pem", now=NOW)
    assert [c["result"] for c in report["checks"]] == ["not_applicable"] * 6
    assert report["certificates"] == []
    assert report["reissue"] == []


def test_aggregate_precedence() -> None:
    certs = [
        _fake("a", PKI_01="fail", PKI_02="at_risk", PKI_03="at_risk"),
        _fake("b", PKI_01="error", PKI_02="fail", PKI_04="not_applicable"),
        _fake("c", PKI_01="at_risk", PKI_04="not_applicable", PKI_05="not_applicable"),
    ]
    checks = {c["check_id"]: c for c in x.aggregate(certs)}
    assert checks["PKI-01"]["result"] == "error"
    assert checks["PKI-01"]["message"] == "b: PKI-01 error; a: PKI-01 fail; c: PKI-01 at_risk"
    assert checks["PKI-02"]["result"] == "fail"
    assert checks["PKI-02"]["message"] == "b: PKI-02 fail; a: PKI-02 at_risk"
    assert checks["PKI-03"]["result"] == "at_risk"
    assert checks["PKI-04"]["result"] == "pass"
    assert checks["PKI-05"]["result"] == "pass"
    assert checks["PKI-06"]["result"] == "pass"
    assert checks["PKI-01"]["observed"]["by_certificate"] == {
        "a": {"n": "a"},
        "b": {"n": "b"},
        "c": {"n": "c"},
    }
    only_na = x.aggregate([_fake("a", PKI_04="not_applicable")])
    assert only_na[3]["result"] == "not_applicable"


def test_assess_certificates_host_report(lab: Lab) -> None:
    good = lab.leaf("edge1-host")
    soon = lab.leaf("edge1-shipper", not_after_days=3)
    drifted = lab.leaf("edge1-exporter", sans=["DNS:evil"])
    requests = [
        lab.request(good),
        lab.request(soon),
        lab.request(drifted, sans=["DNS:edge1.lab"]),
    ]
    report = x.assess_certificates(
        requests, str(lab.bundle), now=NOW, root_fingerprints=[lab.root.fingerprint]
    )
    checks = {c["check_id"]: c for c in report["checks"]}
    assert {k: v["result"] for k, v in checks.items()} == {
        **ALL_PASS,
        "PKI-02": "at_risk",
        "PKI-03": "fail",
    }
    assert checks["PKI-03"]["message"] == (
        "edge1-exporter: SAN missing DNS:edge1.lab, extra DNS:evil"
    )
    assert checks["PKI-02"]["observed"]["earliest_not_after"] == NOW + 3 * DAY
    assert checks["PKI-02"]["observed"]["earliest_not_after_certificate"] == "edge1-shipper"
    assert report["reissue"] == ["edge1-shipper", "edge1-exporter"]


def test_render_diff_shows_only_drift(lab: Lab) -> None:
    leaf = lab.leaf(sans=["DNS:evil"])
    entry = assess(lab, lab.request(leaf, sans=["DNS:edge1.lab"]))
    diff = x.render_diff([entry])
    assert diff["before"] == {
        "edge1-host": {"cert_path": str(leaf.cert_path), "sans": ["DNS:evil"]}
    }
    assert diff["after"] == {
        "edge1-host": {"cert_path": str(leaf.cert_path), "sans": ["DNS:edge1.lab"]}
    }
    assert x.render_diff([assess(lab, lab.request(lab.leaf("ok")))])["before"] == {}


def test_results_are_json_serialisable(lab: Lab) -> None:
    assert lab.pki.now == NOW
    leaf = lab.leaf()
    leaf.key_path.unlink()
    entry = assess(lab, lab.request(leaf, sans=["DNS:x"]))
    report = x.assess_certificates([lab.request(lab.leaf("b"))], str(lab.bundle), now=NOW)
    assert json.loads(json.dumps(entry)) == entry
    assert json.loads(json.dumps(report)) == report
