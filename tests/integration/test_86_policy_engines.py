# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Both policy engines decide the same: every policy on every case of policies/testdata/cases.json
through the embedded engine (regopy) and through a real OPA server (the binary `go install`
built, soc2audit.components) on loopback, HTTPS only with client-certificate authentication and
the opa role's own system.authz policy (soc2audit.opa_local). Also `opa test`, `opa fmt` and
`opa check --strict` on the policies, a client the authz policy does not admit being refused,
the decision log naming each decision id, and an evaluation error being `error` for that policy
only in both engines. No lab: runs beside the lab tests (own_containers)."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from soc2audit import components
from soc2audit.catalog import REPO
from soc2audit.opa_local import LocalOpa, local_opa
from soc2audit.policy import (
    EmbeddedEngine,
    OpaEngine,
    OpaError,
    OpaSettings,
    load_policies,
    opa_lint,
    policy_checks,
)

sys.path.insert(0, str(REPO / "tests" / "unit"))
from test_policies import CASES, CONFLICT, union

pytestmark = pytest.mark.own_containers
POLICIES, _ = load_policies(REPO / "policies")


@pytest.fixture(scope="module")
def opa_binary() -> Path:
    try:
        return components.ensure("opa")
    except components.ComponentError as exc:
        pytest.skip(f"no OPA binary here: {exc}")


@pytest.fixture(scope="module")
def server(opa_binary: Path) -> Iterator[LocalOpa]:
    with local_opa(opa_binary) as opa:
        yield opa


def comparable(checks: list[dict]) -> dict[str, tuple]:
    return {
        c["check_id"]: (c["result"], json.dumps(c["observed"], sort_keys=True), c["message"])
        for c in checks
    }


def test_opa_lint_is_clean(opa_binary: Path) -> None:
    assert opa_lint(REPO / "policies", opa_binary) == []


def test_both_engines_decide_every_policy_the_same(server: LocalOpa) -> None:
    embedded, opa = EmbeddedEngine(), OpaEngine(server.settings)
    compared = 0
    for case in CASES["cases"]:
        document = union(CASES["base"], case["input"])
        mine = policy_checks(POLICIES, embedded.evaluate(POLICIES, document))
        theirs_eval = opa.evaluate(POLICIES, document)
        theirs = policy_checks(POLICIES, theirs_eval)
        assert comparable(mine) == comparable(theirs), case["name"]
        assert theirs_eval.decision_id
        compared += len(mine)
    assert compared == len(CASES["cases"]) * len(POLICIES.policies)
    # Decision logs: the server logged the last decision with its id.
    assert theirs_eval.decision_id in server.log.read_text()


def test_an_evaluation_error_is_error_for_that_policy_in_both(server: LocalOpa, tmp_path: Path):
    target = tmp_path / "policies"
    shutil.copytree(REPO / "policies", target)
    pki = target / "pki.rego"
    pki.write_text(pki.read_text().replace(*CONFLICT))
    policies, problems = load_policies(target)
    assert problems == []
    for engine in (EmbeddedEngine(), OpaEngine(server.settings)):
        results = {
            c["check_id"]: c["result"]
            for c in policy_checks(policies, engine.evaluate(policies, CASES["base"]))
        }
        assert results.pop("POL-12") == "error", engine.name
        assert set(results.values()) == {"pass"}, (engine.name, results)
    # Put the real policies back for the other tests of the module.
    OpaEngine(server.settings).push(POLICIES)


def test_a_client_not_admitted_is_refused(server: LocalOpa) -> None:
    # A client certificate from the same CA whose name the authz policy does not admit.
    settings = server.settings
    root = Path(settings.ca_file).parent
    intruder = OpaSettings(
        url=settings.url,
        ca_file=settings.ca_file,
        cert_file=str(root / "intruder.crt"),
        key_file=str(root / "intruder.key"),
    )
    with pytest.raises(OpaError, match="HTTP 401"):
        OpaEngine(intruder).push(POLICIES)
