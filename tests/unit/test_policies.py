# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet policies (policies/*.rego) through the embedded engine, and their loading checks.

Every case of policies/testdata/cases.json (the same cases `opa test policies/` runs, passing and
failing input for each policy) must give its expected result and failing items here too.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from soc2audit.catalog import REPO, load_catalog
from soc2audit.policy import (
    Decision,
    EmbeddedEngine,
    InputNeeds,
    PolicySet,
    canonical_json,
    catalog_problems,
    check,
    input_needs,
    judge,
    load_policies,
    policy_checks,
    trim_input,
)

CASES = json.loads((REPO / "policies" / "testdata" / "cases.json").read_text(encoding="utf-8"))
POLICIES, PROBLEMS = load_policies(REPO / "policies")
#: An edit of policies/pki.rego that gives POL-12 an evaluation error (conflicting values of
#: top_tally) in both engines; tests/integration/test_86_policy_engines.py uses it too.
CONFLICT = ("top_tally := max(", "top_tally = 0 if count(issuers) > 0\n\ntop_tally = max(")


def union(base: Any, override: Any) -> Any:
    """Rego's object.union: objects merged recursively, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = union(base.get(key), value) if key in base else value
        return out
    return copy.deepcopy(override)


@pytest.fixture(scope="module")
def engine() -> EmbeddedEngine:
    return EmbeddedEngine()


def test_the_policies_load_and_match_the_catalog() -> None:
    assert PROBLEMS == []
    assert catalog_problems(POLICIES, load_catalog(REPO / "controls" / "catalog.yml")) == []
    assert len(POLICIES.policies) >= 10
    assert [p.check_id for p in POLICIES.policies] == [f"POL-{n:02d}" for n in range(1, 13)]


def test_every_policy_has_a_passing_and_a_failing_case() -> None:
    for policy in POLICIES.policies:
        results = {c["expect"]["result"] for c in CASES["cases"] if c["policy"] == policy.check_id}
        assert {"pass", "fail"} <= results, policy.check_id
        for case in CASES["cases"]:
            if case["policy"] == policy.check_id:
                assert (f"soc2.{case['area']}", case["rule"]) == (policy.package, policy.rule)


@pytest.mark.parametrize(
    "case", CASES["cases"], ids=[f"{c['policy']} {c['name']}" for c in CASES["cases"]]
)
def test_case(case: dict[str, Any], engine: EmbeddedEngine) -> None:
    document = union(CASES["base"], case["input"])
    evaluation = engine.evaluate(POLICIES, document)
    row = {c["check_id"]: c for c in policy_checks(POLICIES, evaluation)}[case["policy"]]
    assert row["result"] == case["expect"]["result"], row["message"]
    failed = sorted({v["item"] for v in (row["observed"] or {}).get("violations", [])})
    assert failed == case["expect"]["failed"], row["message"]
    assert row["decision"]["engine"] == "embedded"
    assert row["decision"]["input_sha256"] == hashlib.sha256(canonical_json(document)).hexdigest()


def test_a_failing_message_names_the_items_and_the_counts(engine: EmbeddedEngine) -> None:
    case = next(c for c in CASES["cases"] if c["name"] == "edge1's key copied to edge2")
    row = next(
        c
        for c in policy_checks(
            POLICIES, engine.evaluate(POLICIES, union(CASES["base"], case["input"]))
        )
        if c["check_id"] == "POL-02"
    )
    assert row["message"].startswith("2 of 4 failing: edge1: certificate key ")
    assert "also on edge2" in row["message"]
    assert row["observed"]["passed"] == 2 and row["observed"]["failed"] == 2


def test_judge_never_passes_an_error_or_an_odd_value() -> None:
    policy = POLICIES.policies[0]
    assert judge(policy, Decision(error="boom"))["result"] == "error"
    assert judge(policy, Decision(value=None))["result"] == "error"
    assert judge(policy, Decision(value={"items": ["a"]}))["result"] == "error"
    assert judge(policy, Decision(value=True))["result"] == "error"
    assert judge(policy, Decision(value={"items": [], "violations": []}))["result"] == (
        "not_applicable"
    )


def _copy_policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(REPO / "policies", target)
    return target


def test_an_evaluation_error_is_error_for_that_policy_only(tmp_path: Path) -> None:
    target = _copy_policies(tmp_path)
    pki = target / "pki.rego"
    # A conflict: two values for one complete rule the policy uses (an evaluation error).
    pki.write_text(
        pki.read_text().replace(
            CONFLICT[0],
            CONFLICT[1],
        )
    )
    policies, problems = load_policies(target)
    assert problems == []
    evaluation = EmbeddedEngine().evaluate(policies, CASES["base"])
    results = {c["check_id"]: c["result"] for c in policy_checks(policies, evaluation)}
    assert results.pop("POL-12") == "error"
    assert set(results.values()) <= {"pass", "not_applicable"}, results


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (("time.rego", "pol_03 := {", "pol_03 := {{"), "time.rego:"),
        (("waivers.rego", "#   id: POL-09\n", ""), "rule pol_09 has no check id"),
        (("waivers.rego", "id: POL-09", "id: POL-99"), "POL-99 is not in controls/catalog.yml"),
        (("logs.rego", "id: POL-01", "id: POL-1"), "is not POL-NN"),
        (("pki.rego", "# title: No two hosts", "# title: No three hosts"), "title differs"),
    ],
    ids=["does not compile", "no check id", "not in the catalog", "bad id", "title"],
)
def test_lint_names_the_file_and_line(tmp_path: Path, edit: tuple[str, str, str], says: str):
    target = _copy_policies(tmp_path)
    name, old, new = edit
    path = target / name
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    problems = check(target, REPO / "controls" / "catalog.yml")
    assert problems, "accepted"
    assert any(says in p for p in problems), problems
    assert all(p.startswith("policies/") for p in problems), problems
    assert all(p.split(":")[1].isdigit() for p in problems), problems


def test_a_pol_rule_without_metadata_fails(tmp_path: Path) -> None:
    target = _copy_policies(tmp_path)
    rule = 'pol_13 := {"items": [], "violations": []}'
    (target / "extra.rego").write_text(f"package soc2.extra\n\n{rule}\n")
    problems = check(target, REPO / "controls" / "catalog.yml")
    assert problems == ["policies/extra.rego:3: rule pol_13 has no METADATA check id"]


# ---------------------------------------------------------------- what the input carries


def test_the_policies_here_name_pki_facts_and_observed_values_only() -> None:
    assert input_needs(POLICIES) == InputNeeds(
        facts=frozenset({"pki"}), row_observed=True, row_message=False, history_results=False
    )


def test_the_trimmed_input_gives_every_case_the_same_decisions(engine: EmbeddedEngine) -> None:
    """Each case's document with every fleet-sized part filled (facts of all families, row
    messages, history results), whole and trimmed to what the policies name: the same value
    or error for every policy."""
    needs = input_needs(POLICIES)
    for case in CASES["cases"]:
        document = union(CASES["base"], case["input"])
        for seen in document["hosts"].values():
            seen["facts"] = {
                **{f: {"noise": list(range(50))} for f in ("aud", "net", "ssh", "host")},
                **seen.get("facts", {}),
            }
        for row in document["results"]:
            row["message"] = "x" * 200
        for entry in document["history"]:
            for seen in entry.get("hosts", {}).values():
                seen["results"] = {"AUD-01": "fail"}
        trimmed = trim_input(document, needs)
        assert len(canonical_json(trimmed)) < len(canonical_json(document))
        whole = engine.evaluate(POLICIES, document).decisions
        cut = engine.evaluate(POLICIES, trimmed).decisions
        assert {k: (d.value, d.error) for k, d in cut.items()} == {
            k: (d.value, d.error) for k, d in whole.items()
        }, case["name"]


@pytest.mark.parametrize(
    ("text", "needs"),
    [
        ("x := input.results[_].host", InputNeeds(frozenset(), False, False, False)),
        (
            "c := input.hosts[h].facts.time.sources\nd := input.hosts[h].facts . net",
            InputNeeds(frozenset({"time", "net"}), False, False, False),
        ),
        ("f := input.hosts[h].facts[k]", InputNeeds(None, False, False, False)),
        ("all := input.hosts[h].facts\n", InputNeeds(None, False, False, False)),
        ('v := object.get(h, "facts", {})', InputNeeds(None, False, False, False)),
        ("m := row.message", InputNeeds(frozenset(), False, True, False)),
        ("o := input.results[_].observed.x", InputNeeds(frozenset(), True, False, False)),
        ("r := run.hosts[h].results", InputNeeds(frozenset(), False, False, True)),
        ("r := soc2lib.results[h]", InputNeeds(frozenset(), False, False, False)),
        ("w := walk(input)", InputNeeds(None, True, True, True)),
    ],
)
def test_input_needs_reads_what_a_policy_names(text: str, needs: InputNeeds) -> None:
    policies = PolicySet(policies=(), modules={"x.rego": f"package soc2.x\n{text}\n"}, sha256="")
    assert input_needs(policies) == needs
