# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/action/soc2_verify.py: each family's parameter variable is resolved on the control
node on its own; a family whose variable fails is left out and reported as {family, reason}."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ansible.parsing.dataloader import DataLoader
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
