# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/action/soc2_verify.py: each family's parameter variable is resolved on the control
node on its own; a family whose variable fails is left out and reported as {family, reason}."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template
from plugin_loader import load_plugin

REPO = Path(__file__).resolve().parents[2]
ACTION = load_plugin("plugins/action/soc2_verify.py")


def resolve(variables: dict[str, Any], entries: Any) -> tuple[dict[str, Any], list[Any]]:
    holder = SimpleNamespace(_templar=Templar(loader=DataLoader(), variables=variables))
    return ACTION.ActionModule._resolve(holder, entries)  # type: ignore[arg-type]


FAMILIES = [
    {"family": "PKI", "key": "pki", "var": "_pki_params"},
    {"family": "TIME", "key": "time", "var": "_time_params"},
    {"family": "NET", "key": "net", "var": "_net_params"},
]


def test_each_family_is_resolved_alone() -> None:
    variables = {
        "bound": 0.05,
        "_time_params": {"max_error": trust_as_template("{{ bound }}"), "min_sources": 1},
        "_pki_params": trust_as_template("{{ missing_role_variable }}"),
        "_net_params": {"table": trust_as_template("{{ 'soc2_' ~ 'filter' }}")},
    }
    families, errors = resolve(variables, FAMILIES)
    assert families == {
        "time": {"max_error": 0.05, "min_sources": 1},
        "net": {"table": "soc2_filter"},
    }
    assert [e["family"] for e in errors] == ["PKI"]
    assert "missing_role_variable" in errors[0]["reason"]


def test_an_undefined_family_variable_is_an_error_for_that_family_only() -> None:
    families, errors = resolve({"_time_params": {"min_sources": 1}}, FAMILIES[:2])
    assert families == {"time": {"min_sources": 1}}
    assert errors[0]["family"] == "PKI" and "_pki_params" in errors[0]["reason"]


def test_a_list_of_variables_is_merged_in_order() -> None:
    """LOG takes the shipper's and the aggregator's parameters: two roles' dicts, merged."""
    variables = {
        "port": 6515,
        "_ship": {"shipper": {"enabled": True, "aggregator_port": trust_as_template("{{ port }}")}},
        "_agg": {"aggregator": {"enabled": False}},
        "_override": {"aggregator": {"enabled": True}},
    }
    entries = [
        {"family": "LOG", "key": "log", "var": ["_ship", "_agg"]},
        {"family": "AGG", "key": "agg", "var": ["_agg", "_override"]},
    ]
    families, errors = resolve(variables, entries)
    assert errors == []
    assert families["log"] == {
        "shipper": {"enabled": True, "aggregator_port": 6515},
        "aggregator": {"enabled": False},
    }
    # A later variable's key replaces an earlier one's.
    assert families["agg"] == {"aggregator": {"enabled": True}}


def test_a_merged_family_fails_alone_when_one_of_its_variables_fails() -> None:
    variables = {"_ship": {"shipper": {}}, "_time_params": {"min_sources": 1}, "_list": [1]}
    entries = [
        {"family": "LOG", "key": "log", "var": ["_ship", "_missing_aggregator_params"]},
        {"family": "BAD", "key": "bad", "var": ["_ship", "_list"]},
        {"family": "NONE", "key": "none", "var": []},
        {"family": "TIME", "key": "time", "var": "_time_params"},
    ]
    families, errors = resolve(variables, entries)
    assert families == {"time": {"min_sources": 1}}
    reasons = {e["family"]: e["reason"] for e in errors}
    assert set(reasons) == {"LOG", "BAD", "NONE"}
    assert "_missing_aggregator_params" in reasons["LOG"]
    assert "not a dict" in reasons["BAD"]
    assert "empty" in reasons["NONE"]


def test_the_families_share_one_lazy_mapping_of_the_variables() -> None:
    """The fast path is taken on this ansible-core (a silent fall-back would make the drift
    run slow again without failing anything, docs/scale.md), and the task's variables are
    left as they were."""
    variables = {"a": trust_as_template("{{ 1 + 1 }}"), "nested": {"b": [1, 2]}}
    before = repr(variables)
    templar = Templar(loader=DataLoader(), variables=variables)
    shared = ACTION._shared(templar)
    assert shared is not templar
    assert type(shared.available_variables).__name__ == "_AnsibleLazyTemplateDict"
    assert shared.template(trust_as_template("{{ a * 10 }}")) == 20
    assert repr(variables) == before


def test_a_variable_two_families_name_is_rendered_once(tmp_path: Path) -> None:
    """Rendered with a real side effect (a pipe lookup appending a line to a file): the shared
    mapping renders `_plan` once for both families; the values equal the plain templar's."""
    init_plugin_loader()  # ansible.builtin's lookups, as ansible-playbook loads them
    log = tmp_path / "renders"
    variables = {
        "_plan": trust_as_template(
            "{{ lookup('ansible.builtin.pipe', 'echo x >> " + str(log) + "; echo 7') | int }}"
        ),
        "_net": {"rules": trust_as_template("{{ _plan + 1 }}"), "name": "soc2_filter"},
        "_host": {"egress": trust_as_template("{{ [_plan, _plan] }}")},
    }
    entries = [
        {"family": "NET", "key": "net", "var": "_net"},
        {"family": "HOST", "key": "host", "var": "_host"},
    ]
    families, errors = resolve(variables, entries)
    assert errors == []
    assert families == {"net": {"rules": 8, "name": "soc2_filter"}, "host": {"egress": [7, 7]}}
    assert log.read_text().splitlines() == ["x"]
    # The plain templar (what the action falls back to) gives the same values, rendering
    # `_plan` again for each family.
    log.unlink()
    plain = Templar(loader=DataLoader(), variables=variables)
    assert {e["key"]: ACTION._value(plain, e["var"]) for e in entries} == families
    assert len(log.read_text().splitlines()) == 2


def test_a_failing_variable_fails_every_family_that_names_it_and_no_other() -> None:
    variables = {
        "_broken": trust_as_template("{{ undefined_thing.attr }}"),
        "_a": {"x": trust_as_template("{{ _broken }}")},
        "_b": {"y": trust_as_template("{{ _broken ~ 'z' }}")},
        "_c": {"z": 3},
    }
    entries = [
        {"family": "A", "key": "a", "var": "_a"},
        {"family": "B", "key": "b", "var": "_b"},
        {"family": "C", "key": "c", "var": "_c"},
    ]
    families, errors = resolve(variables, entries)
    assert families == {"c": {"z": 3}}
    assert [e["family"] for e in errors] == ["A", "B"]
    assert all("undefined_thing" in e["reason"] for e in errors)
