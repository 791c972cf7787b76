# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet policies on the lab: the drift run evaluates them through the OPA server on the
monitor (roles/opa, mTLS with the control node's client certificate), the same input through the
embedded engine decides the same, the decision ids are in the monitor's decision log and the
policy metrics in its textfile; an edge's key copied to the other edge by hand (edge1's
shipper-client key and certificate onto edge2) fails POL-02 and no other policy, and repairing
edge2 (a new key) turns it back to pass. Reuses the converged lab (no converge of its own but the
pki layer on edge2)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from conftest import get_host, inventory
from test_50_drift import (  # fresh_policy_history: autouse here too
    OUT,
    fresh_policy_history,  # noqa: F401
    lab_ready,
    metrics,
    not_clean,
    reconverge,
    soc2audit_drift,
)

from soc2audit.catalog import REPO
from soc2audit.policy import EmbeddedEngine, canonical_json, load_policies, policy_checks

__all__ = ["lab_ready"]  # the fixture, imported for this module's tests

POLICIES, _ = load_policies(REPO / "policies")
POL_IDS = {f"POL-{n:02d}" for n in range(1, 13)}
CERTS = "/etc/ssl/soc2audit"


def fleet(rows: dict) -> dict[str, dict[str, Any]]:
    return {c: r for (h, c), r in rows.items() if h == "fleet"}


@pytest.fixture(scope="module")
def opa_lab(lab_ready: list[str]) -> list[str]:
    if not inventory()["all"]["vars"].get("soc2audit_opa_url"):
        pytest.fail("the lab has no OPA server (python -m soc2audit.lab up names why)")
    return lab_ready


def test_opa_on_the_monitor_and_the_embedded_engine_decide_the_same(opa_lab: list[str]) -> None:
    rc, _, rows = soc2audit_drift()
    policies = fleet(rows)
    assert set(policies) == POL_IDS
    assert {r["result"] for r in policies.values()} <= {"pass", "not_applicable"}, {
        c: r["message"] for c, r in policies.items()
    }
    assert rc == 0
    decisions = [r["decision"] for r in policies.values()]
    assert {d["engine"] for d in decisions} == {"opa"}
    document = json.loads((OUT / "policy_input.json").read_text())
    sha = hashlib.sha256(canonical_json(document)).hexdigest()
    assert {d["input_sha256"] for d in decisions} == {sha}
    embedded = policy_checks(POLICIES, EmbeddedEngine().evaluate(POLICIES, document))
    assert {c["check_id"]: (c["result"], c["message"]) for c in embedded} == {
        c: (r["result"], r["message"]) for c, r in policies.items()
    }
    decision_id = decisions[0]["decision_id"]
    assert decision_id
    log = get_host("monitor").file("/var/log/opa/opa.log").content_string
    assert decision_id in log
    items = metrics("monitor")["soc2audit_policy_items"]
    passed = {dict(k)["check_id"]: v for k, v in items.items() if dict(k)["outcome"] == "pass"}
    assert passed["POL-05"] == len(opa_lab)
    assert "soc2audit_policy_items" not in metrics("edge1")


def test_a_key_copied_to_another_edge_fails_pol_02_only(opa_lab: list[str]) -> None:
    edge1, edge2 = get_host("edge1"), get_host("edge2")
    key = edge1.file(f"{CERTS}/private/shipper-client.key").content_string
    cert = edge1.file(f"{CERTS}/shipper-client.crt").content_string
    copy = (
        f"umask 077 && cat > {CERTS}/private/shipper-client.key <<'EOF'\n{key}EOF\n"
        f"cat > {CERTS}/shipper-client.crt <<'EOF'\n{cert}EOF\n"
        f"chmod 0644 {CERTS}/shipper-client.crt"
    )
    assert edge2.run(copy).rc == 0
    try:
        rc, _, rows = soc2audit_drift()
        failing = {k: v for k, v in not_clean(rows).items() if k[0] == "fleet"}
        assert failing == {("fleet", "POL-02"): "fail"}, {k: rows[k]["message"] for k in failing}
        message = rows[("fleet", "POL-02")]["message"]
        assert message.startswith("2 of ") and "edge1: certificate key " in message, message
        assert "also on edge2" in message and "also on edge1" in message, message
        # On the hosts only edge2's certificate names are wrong (edge1's certificate).
        hosts = {k: v for k, v in not_clean(rows).items() if k[0] != "fleet"}
        assert hosts == {("edge2", "PKI-03"): "fail"}, {k: rows[k]["message"] for k in hosts}
        assert rc == 1
    finally:
        # A new key for edge2: the pki role creates one when it is missing.
        edge2.run(f"rm -f {CERTS}/private/shipper-client.key {CERTS}/shipper-client.crt")
        reconverge("edge2", "pki")
    rc, _, rows = soc2audit_drift()
    assert not_clean(rows) == {} and rc == 0
