# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/action/*.py validate their options with the spec the matching library/ file documents."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml
from plugin_loader import load_plugin

REPO = Path(__file__).resolve().parents[2]
ACTIONS = sorted(p.stem for p in (REPO / "plugins" / "action").glob("*.py"))
KEYS = ("type", "required", "default", "choices", "elements")


def action_spec(name: str) -> dict[str, Any]:
    module = load_plugin(f"plugins/action/{name}.py", f"{name}_action_under_test")
    return module.ARGUMENT_SPEC


def documented_options(name: str) -> dict[str, Any]:
    """The DOCUMENTATION options of library/<name>.py, read without importing the module."""
    tree = ast.parse((REPO / "library" / f"{name}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DOCUMENTATION" for t in node.targets
        ):
            return yaml.safe_load(ast.literal_eval(node.value))["options"]
    raise AssertionError(f"library/{name}.py has no DOCUMENTATION")


def normalised(option: dict[str, Any]) -> dict[str, Any]:
    out = {key: option.get(key) for key in KEYS}
    out["required"] = bool(out["required"])
    return out


def test_every_action_has_a_documentation_module() -> None:
    assert ACTIONS == [
        "soc2_verify",
        "soc2audit_policy_check",
        "soc2audit_renamed_vars",
        "soc2audit_results",
        "soc2audit_testinfra",
        "soc2audit_textfile",
    ]
    for name in ACTIONS:
        assert (REPO / "library" / f"{name}.py").is_file(), name


@pytest.mark.parametrize("name", ACTIONS)
def test_action_spec_is_the_documented_one(name: str) -> None:
    spec = action_spec(name)
    documented = documented_options(name)
    assert set(spec) == set(documented)
    for option, body in spec.items():
        assert normalised(body) == normalised(documented[option]), option


@pytest.mark.parametrize("name", ACTIONS)
def test_no_hand_written_option_checks(name: str) -> None:
    source = (REPO / "plugins" / "action" / f"{name}.py").read_text(encoding="utf-8")
    assert "self.validate_argument_spec(argument_spec=ARGUMENT_SPEC" in source
    assert ": missing {" not in source
    assert "sys.path" not in source and "importlib" not in source


def test_textfile_action_extends_the_module_spec_with_method_only() -> None:
    from soc2audit.module_utils.soc2_textfile import ARGUMENT_SPEC as MODULE_SPEC

    spec = action_spec("soc2audit_textfile")
    assert {k: v for k, v in spec.items() if k != "method"} == MODULE_SPEC


def run_action(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """ActionModule.run of the plugin with a stand-in task (no connection is used)."""
    from unittest import mock

    module = load_plugin(f"plugins/action/{name}.py", f"{name}_run_under_test")
    task = mock.MagicMock(args=args, async_val=0, check_mode=False, diff=False)
    action = module.ActionModule(task, mock.MagicMock(), mock.MagicMock(), None, None, None)
    return action.run(task_vars={})


def test_the_spec_rejects_what_the_hand_written_checks_rejected(tmp_path: Path) -> None:
    from ansible.errors import AnsibleActionFail

    with pytest.raises(AnsibleActionFail, match="missing: inventory"):
        run_action("soc2audit_testinfra", {"state": "started", "output_dir": str(tmp_path)})
    with pytest.raises(AnsibleActionFail, match="value of state must be one of"):
        run_action("soc2audit_testinfra", {"state": "stopped"})
    with pytest.raises(AnsibleActionFail, match="missing required arguments: catalog"):
        run_action(
            "soc2audit_results",
            {"evidence_dir": "e", "output_dir": "o", "started": "s", "hosts": []},
        )
    with pytest.raises(AnsibleActionFail, match="Unsupported parameters"):
        run_action("soc2audit_testinfra", {"state": "finished", "jobs": {}})
    with pytest.raises(AnsibleActionFail, match="mutually exclusive"):
        run_action("soc2_verify", {"families": {}, "family_vars": []})
    with pytest.raises(AnsibleActionFail, match="one of the following is required"):
        run_action("soc2_verify", {})
    with pytest.raises(AnsibleActionFail, match="missing required arguments: var"):
        run_action("soc2_verify", {"family_vars": [{"family": "PKI", "key": "pki"}]})
    out = run_action("soc2audit_testinfra", {"state": "finished"})
    assert out["skipped"] is True and out["msg"] == "testinfra checks were not started"
