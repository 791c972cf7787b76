# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""library/soc2_verify.py: every family in one module run gives what each family's module gives.

The time family reads recorded real chronyc/systemctl output through stub programs (the
helpers of test_soc2_time_module); the PKI family reads certificates generated for the test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import soc2_pki
import soc2_time
import soc2_verify
import yaml
from module_runner import invoke
from test_soc2_pki_module import NOW, base_args
from test_soc2_time_module import Stubs, stubs, unit_args  # noqa: F401 - stubs is a fixture

if TYPE_CHECKING:
    from conftest import Lab

Run = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(main: Callable[[], None], args: dict[str, Any], **flags: bool) -> Any:
        payload = dict(args)
        if flags.get("check_mode"):
            payload["_ansible_check_mode"] = True
        if flags.get("diff"):
            payload["_ansible_diff"] = True
        return invoke(main, payload, capsys)

    return go


def by_id(checks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["check_id"]: c for c in checks}


def test_one_run_equals_each_family_module(lab: Lab, stubs: Stubs, run: Run) -> None:  # noqa: F811
    stubs.chronyc("synced")
    stubs.systemctl()
    pki = base_args(lab, [lab.request(lab.leaf())])
    time_args = unit_args(expected_sources=["10.89.1.2"])
    rc, combined = run(soc2_verify.main, {"families": {"pki": pki, "time": time_args}})
    assert rc == 0, combined
    assert combined["changed"] is False
    _, alone_pki = run(soc2_pki.main, pki)
    _, alone_time = run(soc2_time.main, time_args)
    assert combined["checks"] == alone_pki["checks"] + alone_time["checks"]
    assert combined["errors"] == {}
    assert set(combined["durations"]) == {"pki", "time"}
    assert combined["families"]["time"]["tracking"] == alone_time["tracking"]
    assert combined["families"]["pki"]["certificates"] == alone_pki["certificates"]
    metrics = {o["key"]: o for o in combined["observations"]}
    assert metrics["clock_error_bound"]["value"] == 0.000046647
    expiry = metrics["certificate_expiry"]
    assert expiry["value"] == NOW + 365 * 86400
    assert expiry["labels"]["name"] == "edge1-host"


def test_invalid_family_parameters_are_errors_for_that_family_only(
    lab: Lab,
    stubs: Stubs,  # noqa: F811
    run: Run,
) -> None:
    stubs.chronyc("synced")
    stubs.systemctl()
    pki = base_args(lab, [lab.request(lab.leaf())], renewal_days=-1)
    rc, out = run(
        soc2_verify.main,
        {"families": {"pki": pki, "time": unit_args(expected_sources=["10.89.1.2"])}},
    )
    assert rc == 0
    checks = by_id(out["checks"])
    for n in range(1, 7):
        assert checks[f"PKI-0{n}"]["result"] == "error"
        assert "renewal_days must not be negative" in checks[f"PKI-0{n}"]["message"]
    assert checks["TIME-01"]["result"] == "pass"
    assert "renewal_days" in out["errors"]["pki"]


def test_type_errors_are_reported_not_raised(stubs: Stubs, run: Run) -> None:  # noqa: F811
    stubs.chronyc("synced")
    stubs.systemctl()
    rc, out = run(soc2_verify.main, {"families": {"time": {"max_error": "soon"}}})
    assert rc == 0
    assert {c["result"] for c in out["checks"]} == {"error"}
    assert len(out["checks"]) == 7
    assert "max_error" in out["errors"]["time"]


def test_verifier_crash_becomes_error_results(
    stubs: Stubs,  # noqa: F811
    run: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stubs.chronyc("synced")
    stubs.systemctl()

    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("parser exploded")

    monkeypatch.setattr(soc2_verify.FAMILIES["time"], "verify", boom)
    rc, out = run(soc2_verify.main, {"families": {"time": unit_args()}})
    assert rc == 0
    assert {c["result"] for c in out["checks"]} == {"error"}
    assert "RuntimeError: parser exploded" in out["errors"]["time"]


def test_null_family_is_not_run_and_unknown_family_fails(run: Run) -> None:
    rc, out = run(soc2_verify.main, {"families": {"pki": None, "time": None}})
    assert rc == 0
    assert out["checks"] == [] and out["families"] == {}
    rc, out = run(soc2_verify.main, {"families": {"dns": {}}})
    assert rc == 1
    assert "unknown families ['dns']" in out["msg"]


def test_check_mode_and_diff(lab: Lab, run: Run) -> None:
    leaf = lab.leaf()
    pki = base_args(lab, [lab.request(leaf)])
    rc, out = run(soc2_verify.main, {"families": {"pki": pki}}, check_mode=True, diff=True)
    assert rc == 0
    assert out["changed"] is False
    assert {c["result"] for c in out["checks"]} == {"pass"}
    assert isinstance(out["diff"], list) and out["diff"]


def test_documentation_parses() -> None:
    doc = yaml.safe_load(soc2_verify.DOCUMENTATION)
    assert doc["module"] == "soc2_verify"
    assert set(doc["options"]) == {"families", "family_vars"}
    yaml.safe_load(soc2_verify.EXAMPLES)
    assert {"checks", "observations", "families", "errors", "durations"} <= set(
        yaml.safe_load(soc2_verify.RETURN)
    )


def test_every_family_declares_its_catalog_checks() -> None:
    from soc2audit.catalog import CATALOG, load

    catalog = {c["id"]: c for c in load(CATALOG)}
    for family in soc2_verify.FAMILIES.values():
        for check_id in family.CHECK_IDS:
            assert check_id in catalog, check_id
            assert catalog[check_id]["family"] == family.FAMILY
