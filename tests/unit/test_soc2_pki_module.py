# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for library/soc2_pki.py, run through AnsibleModule like ansible's own unit tests.

The module arguments are injected by patching ``ansible.module_utils.basic._ANSIBLE_ARGS`` (and,
on ansible-core >= 2.19, ``_ANSIBLE_PROFILE``); exit_json/fail_json raise SystemExit after
printing the result JSON, which is read back from stdout.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import soc2_pki
import yaml
from module_runner import invoke

if TYPE_CHECKING:
    from conftest import Lab

NOW = int(dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC).timestamp())
DAY = 86400
CHECK_IDS = ["PKI-01", "PKI-02", "PKI-03", "PKI-04", "PKI-05", "PKI-06"]
CERT_KEYS = {
    "name",
    "cert_path",
    "present",
    "subject_cn",
    "issuer_cn",
    "serial",
    "not_before",
    "not_after",
    "sans",
    "key_usage",
    "extended_key_usage",
    "public_key_sha256",
    "key_type",
    "checks",
    "reissue",
    "reissue_reasons",
}


RunModule = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture[str]) -> RunModule:
    def run(
        args: dict[str, Any], *, check_mode: bool = False, diff: bool = False
    ) -> tuple[int, dict[str, Any]]:
        payload = dict(args)
        if check_mode:
            payload["_ansible_check_mode"] = True
        if diff:
            payload["_ansible_diff"] = True
        return invoke(soc2_pki.main, payload, capsys)

    return run


def base_args(lab: Lab, certificates: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "certificates": certificates,
        "ca_chain_path": str(lab.bundle),
        "ca_root_fingerprints": [lab.root.fingerprint],
        "now": NOW,
    }
    args.update(extra)
    return args


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check_id"]: c for c in result["checks"]}


def test_good_certificate_end_to_end(lab: Lab, run_module: RunModule) -> None:
    leaf = lab.leaf()
    before = (leaf.cert_path.read_bytes(), leaf.key_path.read_bytes(), os.stat(leaf.key_path))
    rc, result = run_module(base_args(lab, [lab.request(leaf)]))
    assert rc == 0
    assert result["changed"] is False
    assert "failed" not in result
    assert {"checks", "certificates", "reissue"} <= set(result)
    assert [c["check_id"] for c in result["checks"]] == CHECK_IDS
    assert {c["result"] for c in result["checks"]} == {"pass"}
    for chk in result["checks"]:
        assert set(chk) == {"check_id", "result", "observed", "expected", "message"}
    assert result["reissue"] == []
    (cert,) = result["certificates"]
    assert set(cert) >= CERT_KEYS
    assert cert["name"] == "edge1-host"
    assert cert["present"] is True
    assert cert["subject_cn"] == "edge1-host"
    assert cert["issuer_cn"] == "SOC2 Lab Issuing CA"
    assert cert["serial"] == format(leaf.cert.serial_number, "x")
    assert cert["not_after"] == NOW + 365 * DAY
    assert cert["sans"] == ["DNS:edge1-host.lab", "IP:10.0.0.11"]
    assert cert["key_type"] == "ecdsa"
    assert [c["result"] for c in cert["checks"]] == ["pass"] * 6
    assert cert["reissue"] is False
    assert cert["reissue_reasons"] == []
    assert "diff" not in result
    # Read-only: nothing on disk changed.
    after = (leaf.cert_path.read_bytes(), leaf.key_path.read_bytes(), os.stat(leaf.key_path))
    assert before[:2] == after[:2]
    assert before[2].st_mode == after[2].st_mode
    assert before[2].st_mtime_ns == after[2].st_mtime_ns


def test_check_mode_and_diff(lab: Lab, run_module: RunModule) -> None:
    leaf = lab.leaf(sans=["DNS:evil", "IP:10.0.0.11"])
    os.chmod(leaf.key_path, 0o644)
    request = lab.request(leaf, sans=["DNS:edge1.lab", "IP:10.0.0.11"])
    rc, result = run_module(base_args(lab, [request]), check_mode=True, diff=True)
    assert rc == 0
    assert result["changed"] is False
    checks = by_id(result)
    assert checks["PKI-03"]["result"] == "fail"
    assert checks["PKI-03"]["message"] == "edge1-host: SAN missing DNS:edge1.lab, extra DNS:evil"
    assert checks["PKI-06"]["result"] == "fail"
    assert result["reissue"] == ["edge1-host"]
    assert result["certificates"][0]["reissue_reasons"] == ["san_drift"]
    diff = result["diff"]
    assert diff["before"] == {
        "edge1-host": {
            "cert_path": str(leaf.cert_path),
            "key_mode": "0644",
            "sans": ["DNS:evil", "IP:10.0.0.11"],
        }
    }
    assert diff["after"] == {
        "edge1-host": {
            "cert_path": str(leaf.cert_path),
            "key_mode": "0600",
            "sans": ["DNS:edge1.lab", "IP:10.0.0.11"],
        }
    }


def test_force_reissue(lab: Lab, run_module: RunModule) -> None:
    one, two = lab.leaf("one"), lab.leaf("two")
    args = base_args(lab, [lab.request(one), lab.request(two)], force_reissue=True)
    rc, result = run_module(args)
    assert rc == 0
    assert result["changed"] is False
    assert {c["result"] for c in result["checks"]} == {"pass"}
    assert result["reissue"] == ["one", "two"]
    assert [c["reissue_reasons"] for c in result["certificates"]] == [["forced"], ["forced"]]


def test_empty_certificates_not_applicable(lab: Lab, run_module: RunModule) -> None:
    rc, result = run_module(base_args(lab, [], ca_chain_path="/nonexistent/ca.pem"))
    assert rc == 0
    assert [(c["check_id"], c["result"]) for c in result["checks"]] == [
        (cid, "not_applicable") for cid in CHECK_IDS
    ]
    assert result["certificates"] == []
    assert result["reissue"] == []


def test_mixed_host_aggregation(lab: Lab, run_module: RunModule) -> None:
    ok = lab.leaf("ok")
    expiring = lab.leaf("expiring", not_after_days=5)
    broken = lab.leaf("broken")
    broken.cert_path.write_text("garbage\n")
    missing = lab.leaf("missing")
    missing.cert_path.unlink()
    requests = [lab.request(c) for c in (ok, expiring, broken, missing)]
    rc, result = run_module(base_args(lab, requests))
    assert rc == 0
    checks = by_id(result)
    assert checks["PKI-01"]["result"] == "error"  # error beats fail
    assert checks["PKI-02"]["result"] == "error"
    assert checks["PKI-06"]["result"] == "pass"
    assert checks["PKI-01"]["message"].startswith("broken: cannot parse certificate")
    assert (
        f"missing: certificate file {missing.cert_path} is missing" in (checks["PKI-01"]["message"])
    )
    assert checks["PKI-02"]["observed"]["earliest_not_after"] == NOW + 5 * DAY
    assert checks["PKI-02"]["observed"]["earliest_not_after_certificate"] == "expiring"
    assert result["reissue"] == ["expiring", "missing"]
    reasons = {c["name"]: c["reissue_reasons"] for c in result["certificates"]}
    assert reasons == {
        "ok": [],
        "expiring": ["renewal_window"],
        "broken": [],
        "missing": ["missing"],
    }


def test_mode_given_as_yaml_integer(lab: Lab, run_module: RunModule) -> None:
    leaf = lab.leaf()
    os.chmod(leaf.key_path, 0o640)
    rc, result = run_module(base_args(lab, [lab.request(leaf, mode=0o640)]))
    assert rc == 0
    assert by_id(result)["PKI-06"]["result"] == "pass"
    rc, result = run_module(base_args(lab, [lab.request(leaf, mode=0o600)]))
    assert by_id(result)["PKI-06"]["result"] == "fail"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"sans": ["IP:not-an-ip"]}, "edge1-host: invalid SAN 'IP:not-an-ip'"),
        ({"mode": "u=rw"}, "edge1-host: invalid mode 'u=rw'"),
        ({"key_usage": ["signAll"]}, "edge1-host: unknown key usage 'signAll'"),
    ],
)
def test_invalid_parameters_fail(
    lab: Lab, run_module: RunModule, change: dict[str, Any], fragment: str
) -> None:
    leaf = lab.leaf()
    rc, result = run_module(base_args(lab, [lab.request(leaf, **change)]))
    assert rc == 1
    assert result["failed"] is True
    assert result["changed"] is False
    assert fragment in result["msg"]


def test_duplicate_names_and_bad_fingerprint_fail(lab: Lab, run_module: RunModule) -> None:
    leaf = lab.leaf()
    args = base_args(lab, [lab.request(leaf), lab.request(leaf)], ca_root_fingerprints=["zz"])
    rc, result = run_module(args)
    assert rc == 1
    assert "duplicate certificate name 'edge1-host'" in result["msg"]
    assert "ca_root_fingerprints: invalid SHA-256 fingerprint 'zz'" in result["msg"]


def test_key_type_choice_enforced(lab: Lab, run_module: RunModule) -> None:
    leaf = lab.leaf()
    rc, result = run_module(base_args(lab, [lab.request(leaf, key_type="dsa")]))
    assert rc == 1
    assert "key_type" in result["msg"]


def test_documentation_matches_argument_spec() -> None:
    doc = yaml.safe_load(soc2_pki.DOCUMENTATION)
    yaml.safe_load(soc2_pki.EXAMPLES)
    ret = yaml.safe_load(soc2_pki.RETURN)
    assert doc["module"] == "soc2_pki"
    options = doc["options"]
    assert set(options) == set(soc2_pki.ARGUMENT_SPEC)
    for name, spec in soc2_pki.ARGUMENT_SPEC.items():
        assert options[name]["type"] == spec["type"], name
        assert options[name].get("default") == spec.get("default"), name
        assert bool(options[name].get("required")) == bool(spec.get("required")), name
    suboptions = options["certificates"]["suboptions"]
    assert set(suboptions) == set(soc2_pki.CERTIFICATE_SPEC)
    for name, spec in soc2_pki.CERTIFICATE_SPEC.items():
        assert suboptions[name]["type"] == spec["type"], name
        assert suboptions[name].get("choices") == spec.get("choices"), name
        assert bool(suboptions[name].get("required")) == bool(spec.get("required")), name
    assert {"changed", "checks", "certificates", "reissue", "diff"} <= set(ret)
    assert set(ret["certificates"]["contains"]) >= CERT_KEYS


def test_module_file_is_importable_as_ansible_ships_it() -> None:
    """AnsiballZ only ships module_utils the module imports as ansible.module_utils.*."""
    source = Path(soc2_pki.__file__).read_text()
    assert "from ansible.module_utils import soc2_pki_family" in source
    assert "from ansible.module_utils.soc2_family import run_module" in source
    utils = Path(soc2_pki.__file__).parents[1] / "plugins/module_utils"
    assert (
        "from ansible.module_utils.soc2_x509 import" in (utils / "soc2_pki_family.py").read_text()
    )
    assert "supports_check_mode=True" in (utils / "soc2_family.py").read_text()
