# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit.ci: scenarios whose requires.yml is not met are skipped before molecule starts,
with the reason printed and recorded (the fluent_bit scenarios without a fluent-bit .deb)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from soc2audit import ci

REQUIRES = """\
---
file_from_env: SOC2_TEST_DEB
reason: >-
  needs a real
  package
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in ("plain_default", "needy_default"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "molecule.yml").write_text("---\n")
    (tmp_path / "needy_default" / "requires.yml").write_text(REQUIRES)
    return tmp_path


def test_scenario_without_requirements_runs(root: Path) -> None:
    assert ci.skip_reason("plain_default", {}, root) is None


def test_unset_variable_skips_with_the_reason(root: Path) -> None:
    assert ci.skip_reason("needy_default", {}, root) == (
        "SOC2_TEST_DEB is not set: needs a real package"
    )
    assert "is not set" in str(ci.skip_reason("needy_default", {"SOC2_TEST_DEB": ""}, root))


def test_variable_naming_no_file_skips(root: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.deb"
    reason = ci.skip_reason("needy_default", {"SOC2_TEST_DEB": str(missing)}, root)
    assert reason == f"SOC2_TEST_DEB={missing} is not a file: needs a real package"


def test_variable_naming_a_file_runs(root: Path, tmp_path: Path) -> None:
    deb = tmp_path / "pkg.deb"
    deb.write_bytes(b"!<arch>\n")
    assert ci.skip_reason("needy_default", {"SOC2_TEST_DEB": str(deb)}, root) is None


def test_the_fluent_bit_scenarios_need_a_deb_and_no_other_does() -> None:
    needy = {s for s in ci.scenarios() if (ci.REPO / "molecule" / s / "requires.yml").exists()}
    # The opa scenarios need the OPA binary, which soc2audit.ci builds (SOC2_OPA_BINARY).
    opa = {"opa_default", "opa_alternative"}
    # The kafka scenarios need the broker classpath from Maven (SOC2_KAFKA_ARCHIVE).
    kafka = {s for s in needy if s.startswith("kafka_")}
    assert kafka and needy == {"fluent_bit_default", "fluent_bit_alternative"} | opa | kafka
    for scenario in opa:
        reason = ci.skip_reason(scenario, {})
        assert reason is not None and reason.startswith("SOC2_OPA_BINARY is not set: ")
    for scenario in kafka:
        reason = ci.skip_reason(scenario, {})
        assert reason is not None and reason.startswith("SOC2_KAFKA_ARCHIVE is not set: ")
    for scenario in needy - opa - kafka:
        reason = ci.skip_reason(scenario, {})
        assert reason is not None and reason.startswith("SOC2_FLUENT_BIT_DEB is not set: ")
        assert "fluent-bit .deb" in reason


def test_skipped_scenarios_cost_nothing_and_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[list[str]] = []

    def fake_run_all(names: list[str], jobs: int, molecule: str) -> list[Any]:
        ran.append(names)
        return [ci.Outcome(n, 0, 1.0, tmp_path / f"{n}.log") for n in names]

    monkeypatch.setattr(ci, "run_all", fake_run_all)
    monkeypatch.setattr(ci, "LOGS", tmp_path / "logs")
    monkeypatch.setenv("SOC2_LAB_IMAGE", "localhost/test:image")
    monkeypatch.delenv("SOC2_FLUENT_BIT_DEB", raising=False)
    rc = ci.main(["molecule", "fluent_bit_default", "fluent_bit_alternative", "pki_default"])
    assert rc == 0
    assert ran == [["pki_default"]]
    out = capsys.readouterr().out
    assert "== molecule fluent_bit_default: skipped (SOC2_FLUENT_BIT_DEB is not set: " in out
    assert "fluent_bit_alternative" in out and "skipped" in out
    durations = json.loads((tmp_path / "logs" / "durations.json").read_text())
    assert set(durations["skipped"]) == {"fluent_bit_default", "fluent_bit_alternative"}
    assert durations["scenarios"] == {"pki_default": 1.0}
