# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The role variable naming scheme and its deprecated aliases (docs/roles.md "Variable names").

Each role's renamed variables live in one table, ``_<role>_renamed_variables`` (old: new) in
roles/<role>/vars/main.yml, beside the fallback ``_<new>: "{{ <old> | default(<new>) }}"`` that
the role and the drift run read. These tests fail when a step of a rename is missing.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from plugin_loader import load_plugin

from soc2audit import argspecs

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir())
# Expression keys of tasks (bare Jinja), besides the {{ }} / {% %} blocks of any string.
_EXPRESSION_KEYS = {"when", "that", "failed_when", "changed_when", "until"}
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)

ACTION = load_plugin("plugins/action/soc2audit_renamed_vars.py")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) or {}


def renamed(role: str) -> dict[str, str]:
    table = load(REPO / "roles" / role / "vars" / "main.yml").get(f"_{role}_renamed_variables")
    assert isinstance(table, dict), f"{role}: vars/main.yml has no _{role}_renamed_variables table"
    return table


def word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")


def expressions(node: Any, key: str = "") -> list[str]:
    """Every Jinja expression of a tasks file or vars file: bare ones under the expression keys
    and the {{ }} / {% %} blocks of every string."""
    if isinstance(node, dict):
        return [e for k, v in node.items() for e in expressions(v, str(k))]
    if isinstance(node, list):
        return [e for item in node for e in expressions(item, key)]
    if isinstance(node, str):
        return [node] if key in _EXPRESSION_KEYS else _JINJA.findall(node)
    return []


@pytest.mark.parametrize("role", ROLES)
def test_new_names_in_defaults_and_spec_old_names_nowhere(role: str) -> None:
    role_dir = REPO / "roles" / role
    defaults = load(role_dir / "defaults" / "main.yml")
    options = argspecs.options_of(role_dir)
    for old, new in renamed(role).items():
        assert old not in defaults and old not in options, f"{role}: {old} is still declared"
        assert new in defaults and new in options, f"{role}: {new} is not declared"
        assert old != new and old.startswith(f"{role}_")


@pytest.mark.parametrize("role", ROLES)
def test_each_alias_has_its_fallback_and_it_works(role: str) -> None:
    variables = load(REPO / "roles" / role / "vars" / "main.yml")
    for old, new in renamed(role).items():
        assert variables.get(f"_{new}") == f"{{{{ {old} | default({new}) }}}}", f"{role}: _{new}"
        expression = trust_as_template(variables[f"_{new}"])
        only_new = Templar(loader=DataLoader(), variables={new: "new value"})
        assert only_new.template(expression) == "new value"
        both = Templar(loader=DataLoader(), variables={new: "new value", old: "old value"})
        assert both.template(expression) == "old value"


@pytest.mark.parametrize("role", ROLES)
def test_the_role_reads_renamed_variables_only_through_their_fallback(role: str) -> None:
    role_dir = REPO / "roles" / role
    table = renamed(role)
    files = [
        *sorted((role_dir / "tasks").glob("*.yml")),
        *sorted((role_dir / "handlers").glob("*.yml")),
        role_dir / "vars" / "main.yml",
    ]
    texts = [e for f in files if f.exists() for e in expressions(load(f))]
    texts += [p.read_text() for p in sorted((role_dir / "templates").rglob("*.j2"))]
    for old, new in table.items():
        fallback = f"{{{{ {old} | default({new}) }}}}"
        users = [t for t in texts if word(new).search(t) and t != fallback]
        assert users == [], f"{role}: {new} is read directly (bypasses the alias {old}): {users}"


@pytest.mark.parametrize("role", ROLES)
def test_preflight_warns_about_old_names(role: str) -> None:
    if not renamed(role):
        pytest.skip(f"{role} has no renamed variables")
    preflight = load(REPO / "roles" / role / "tasks" / "preflight.yml")
    warn = [t for t in preflight if "soc2audit_renamed_vars" in t]
    assert len(warn) == 1, f"{role}: preflight.yml has no soc2audit_renamed_vars task"
    assert warn[0]["soc2audit_renamed_vars"] == {"renamed": f"{{{{ _{role}_renamed_variables }}}}"}


def test_old_names_are_used_nowhere_else() -> None:
    # Only the tables, the docs page listing them and this test may name an old variable.
    allowed = {f"roles/{role}/vars/main.yml" for role in ROLES}
    allowed |= {"docs/roles.md", "tests/unit/test_role_variable_names.py"}
    olds = [old for role in ROLES for old in renamed(role)]
    assert olds, "at least one rename is on record"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    hits = []
    for name in tracked:
        path = REPO / name
        if not name or name in allowed or not path.is_file() or name == "LICENSE":
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        hits += [f"{name}: {old}" for old in olds if word(old).search(text)]
    assert hits == []


@pytest.mark.parametrize("role", ROLES)
def test_names_follow_the_scheme(role: str) -> None:
    for name, spec in argspecs.options_of(REPO / "roles" / role).items():
        assert re.fullmatch(rf"{role}_[a-z0-9]+(_[a-z0-9]+)*", name), f"{name}: <role>_ snake_case"
        # min/max are words of their own (timesync_min_sources, not timesync_minsources).
        assert not re.search(r"(?:^|_)(?:min|max)[a-z]", name), f"{name}: min_/max_ as a word"
        if spec.get("type") == "bool":
            assert not name.endswith(("_check", "_enable", "_switch")), f"{name}: use _enabled"


def test_warning_names_each_old_name_set() -> None:
    table = {"demo_maxthing": "demo_max_thing", "demo_flag": "demo_flag_enabled"}
    assert ACTION.renamed_in_use(table, {"demo_flag": True, "demo_max_thing": 1}) == ["demo_flag"]
    assert ACTION.renamed_in_use(table, {}) == []
    message = ACTION.deprecation_message("demo_flag", "demo_flag_enabled")
    assert message.startswith("DEPRECATED: demo_flag is now demo_flag_enabled.")
