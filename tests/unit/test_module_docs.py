# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module in library/: its DOCUMENTATION, with its doc fragments, parses the way
ansible-doc reads it, EXAMPLES and RETURN are YAML, and the documented options are the
argument spec the module builds (names, type, required, default, choices, elements, suboptions).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from ansible.module_utils import basic
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import get_docstring
from plugin_loader import load_plugin

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "library"
MODULES = sorted(p.stem for p in LIBRARY.glob("*.py"))
# Documentation of action plugins that never run on a host: no AnsibleModule to compare with.
ACTION_ONLY = {
    "soc2audit_policy_check",
    "soc2audit_renamed_vars",
    "soc2audit_results",
    "soc2audit_testinfra",
}

fragment_loader.add_directory(str(REPO / "plugins" / "doc_fragments"))


class _Built(Exception):
    """Raised instead of building the AnsibleModule, carrying its argument spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__("argument spec captured")
        self.spec = spec


def argument_spec(name: str) -> dict[str, Any]:
    """The argument spec the module's main() passes to AnsibleModule."""
    module = importlib.import_module(name)

    def capture(self: Any, argument_spec: dict[str, Any], **_: Any) -> None:
        raise _Built(argument_spec)

    with mock.patch.object(basic.AnsibleModule, "__init__", capture), pytest.raises(_Built) as got:
        module.main()
    return got.value.spec


def documented(name: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
    doc, examples, returns, _ = get_docstring(
        str(LIBRARY / f"{name}.py"), fragment_loader, is_module=True
    )
    assert doc, name
    return doc, examples, returns


def _mismatches(docs: Mapping[str, Any], spec: Mapping[str, Any], where: str) -> Iterator[str]:
    for name in sorted(set(docs) ^ set(spec)):
        side = "documented only" if name in docs else "in the argument spec only"
        yield f"{where}{name}: {side}"
    for name in sorted(set(docs) & set(spec)):
        doc, arg = docs[name], spec[name]
        for key in ("type", "elements"):
            if (doc.get(key) or ("str" if key == "type" else None)) != (
                arg.get(key) or ("str" if key == "type" else None)
            ):
                yield f"{where}{name}: {key} {doc.get(key)!r} != {arg.get(key)!r}"
        if bool(doc.get("required")) != bool(arg.get("required")):
            yield f"{where}{name}: required differs"
        if doc.get("default") != arg.get("default"):
            yield f"{where}{name}: default {doc.get('default')!r} != {arg.get('default')!r}"
        if doc.get("choices") != arg.get("choices"):
            yield f"{where}{name}: choices {doc.get('choices')!r} != {arg.get('choices')!r}"
        yield from _mismatches(
            doc.get("suboptions") or {}, arg.get("options") or {}, f"{where}{name}."
        )


@pytest.mark.parametrize("name", MODULES)
def test_documentation_with_fragments_parses(name: str) -> None:
    doc, examples, returns = documented(name)
    assert doc["module"] == name
    assert doc["short_description"]
    assert isinstance(yaml.safe_load(examples), list), name
    assert isinstance(returns, dict), name


def action_spec(name: str) -> dict[str, Any] | None:
    """The ARGUMENT_SPEC of the module's action plugin (what a task may give), if it has one."""
    path = REPO / "plugins" / "action" / f"{name}.py"
    if not path.is_file():
        return None
    module = load_plugin(f"plugins/action/{name}.py", f"{name}_action_for_docs")
    return getattr(module, "ARGUMENT_SPEC", None)


@pytest.mark.parametrize("name", sorted(set(MODULES) - ACTION_ONLY))
def test_documented_options_are_the_argument_spec(name: str) -> None:
    """The docs describe what a task may give: the module's spec, plus the options its action
    plugin (plugins/action/<name>.py) takes before running the module."""
    doc, _, _ = documented(name)
    module_spec = argument_spec(name)
    task_spec = action_spec(name) or module_spec
    assert list(_mismatches(doc.get("options") or {}, task_spec, "")) == []
    assert {k: v for k, v in task_spec.items() if k in module_spec} == module_spec


def test_mismatches_are_found() -> None:
    spec = {"a": {"type": "int", "default": 1}, "b": {"type": "dict", "options": {"c": {}}}}
    docs = {"a": {"type": "int", "default": 2}, "b": {"type": "dict", "suboptions": {}}}
    assert list(_mismatches(docs, spec, "")) == [
        "a: default 2 != 1",
        "b.c: in the argument spec only",
    ]


def test_the_auditd_modules_share_one_options_fragment() -> None:
    """soc2_auditd_plan and soc2_auditd_load take soc2_auditd's options from the fragment."""
    full, _, _ = documented("soc2_auditd")
    for name in ("soc2_auditd_plan", "soc2_auditd_load"):
        source = (LIBRARY / f"{name}.py").read_text()
        assert "extends_documentation_fragment:\n  - soc2_auditd\n" in source
        doc, _, _ = documented(name)
        assert set(full["options"]) <= set(doc["options"]), name


@pytest.mark.parametrize(
    "name", ["soc2_pki", "soc2_time", "soc2_nft", "soc2_auditd", "soc2_verify"]
)
def test_verifiers_share_the_check_results_fragment(name: str) -> None:
    doc, _, _ = documented(name)
    assert any("V(at_risk)" in note and "V(error)" in note for note in doc["notes"]), name
    assert sum("Read-only" in note for note in doc["notes"]) == 1, name
