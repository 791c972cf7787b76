# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The prometheus role's alert and recording rules, rendered with the role's defaults.

* ``promtool check rules`` accepts them and ``promtool test rules`` passes
  (tests/unit/fixtures/prometheus/rules_test.yml);
* every alert has a test that fires it and one that keeps it quiet, every recording rule an
  expression test (the CI check of issue 13: an alert without a test fails here);
* every alert has ``runbook_url`` pointing at an anchor of docs/runbook.md and ``check_ids``;
* one group per control family;
* every ``soc2audit_`` series the rules read is one the drift run writes (soc2audit/metrics.py),
  apart from the evidence-verify series the evidence issue will export (named here).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from soc2audit.metrics import EVIDENCE_VERIFY, all_metrics

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "prometheus"
TEMPLATE = ROLE / "templates" / "etc" / "prometheus" / "rules" / "soc2audit.rules.yml.j2"
TESTS = REPO / "tests" / "unit" / "fixtures" / "prometheus" / "rules_test.yml"
RUNBOOK = REPO / "docs" / "runbook.md"
FAMILIES = ("pki", "time", "net", "aud", "log", "pol", "mon", "ssh", "host", "evd")


def promtool() -> str | None:
    local = REPO / ".venv" / "bin" / "promtool"
    if local.is_file():
        return str(local)
    return shutil.which("promtool")


def render(overrides: dict[str, Any] | None = None) -> str:
    """The rules template with the role's defaults, as the template module renders it (the
    first line sets the delimiters, so Prometheus' own {{ }} templates pass through)."""
    header, body = TEMPLATE.read_text(encoding="utf-8").split("\n", 1)
    settings = dict(re.findall(r"(\w+): '([^']*)'", header))
    env = jinja2.Environment(
        keep_trailing_newline=True, undefined=jinja2.StrictUndefined, **settings
    )
    variables = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    variables.update(overrides or {})
    variables["ansible_managed"] = "Ansible managed"
    return env.from_string(body).render(**variables)


@pytest.fixture(scope="module")
def rules() -> dict[str, Any]:
    return yaml.safe_load(render())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rules")
    (out / "soc2audit.rules.yml").write_text(render(), encoding="utf-8")
    shutil.copy(TESTS, out / TESTS.name)
    return out


def alerts(rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def test_one_group_per_family(rules: dict[str, Any]) -> None:
    names = [g["name"] for g in rules["groups"]]
    families = [n for n in names if n != "soc2audit-daily-evidence"]
    assert families == [f"soc2audit-{f}" for f in FAMILIES]
    for group in rules["groups"]:
        family = group["name"].removeprefix("soc2audit-").upper()
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["family"] == family, rule["alert"]


def test_every_alert_links_its_runbook_anchor_and_checks(rules: dict[str, Any]) -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^a-z0-9 _-]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in text.splitlines()
        if line.startswith("#")
    }
    for rule in alerts(rules):
        annotations = rule["annotations"]
        url = annotations["runbook_url"]
        assert url.startswith("docs/runbook.md#"), url
        assert url.split("#", 1)[1] in anchors, f"{rule['alert']}: no heading for {url}"
        assert annotations["check_ids"], rule["alert"]
        assert annotations["summary"] and annotations["description"], rule["alert"]


def test_rules_read_the_series_the_drift_run_writes(rules: dict[str, Any]) -> None:
    # The hosts' textfiles, and the control node's own file from `soc2audit evidence verify`.
    known = set(all_metrics()) | set(EVIDENCE_VERIFY)
    for group in rules["groups"]:
        for rule in group["rules"]:
            for name in set(re.findall(r"(?<![\w:])soc2audit_[a-z0-9_]+(?![\w:])", rule["expr"])):
                assert name in known, f"{rule.get('alert') or rule.get('record')} reads {name}"


def test_every_rule_has_its_tests(rules: dict[str, Any]) -> None:
    spec = yaml.safe_load(TESTS.read_text(encoding="utf-8"))
    fires: set[str] = set()
    quiet: set[str] = set()
    exprs = ""
    for group in spec["tests"]:
        for case in group.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
        exprs += " ".join(t["expr"] for t in group.get("promql_expr_test", []))
    names = [r["alert"] for r in alerts(rules)]
    assert len(names) == len(set(names)), "an alert name is used twice"
    missing = [f"{n}: no firing test" for n in names if n not in fires]
    missing += [f"{n}: no quiet test" for n in names if n not in quiet]
    records = [r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r]
    missing += [f"{r}: no expression test" for r in records if r not in exprs]
    missing += [f"{n}: tested but not a rule" for n in (fires | quiet) - set(names)]
    assert not missing, missing


@pytest.mark.skipif(promtool() is None, reason="promtool not in .venv/bin nor on PATH (make setup)")
def test_promtool_checks_the_rules(rendered: Path) -> None:
    done = subprocess.run(
        [str(promtool()), "check", "rules", str(rendered / "soc2audit.rules.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(promtool() is None, reason="promtool not in .venv/bin nor on PATH (make setup)")
def test_promtool_rule_tests_pass(rendered: Path) -> None:
    done = subprocess.run(
        [str(promtool()), "test", "rules", str(rendered / TESTS.name)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_thresholds_follow_the_role_variables() -> None:
    text = render(
        {
            "prometheus_rules_max_clock_error_seconds": 0.02,
            "prometheus_rules_drift_interval_seconds": 900,
            "prometheus_rules_certificate_renewal_days": 14,
        }
    )
    assert "soc2audit_clock_error_bound_seconds > 0.02" in text
    assert "soc2audit_run_last_success_timestamp_seconds > 1800" in text
    assert "time() < 14 * 86400" in text
