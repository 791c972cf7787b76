# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The recipe "Adding a control family" (docs/architecture.md) is complete and true.

``recipe_problems`` checks every step of the recipe for one family in a checkout. The four
shipped families pass it in this repository. The toy family in tests/unit/toy_family/ is added
to a copy of the checkout by doing the recipe's steps and nothing else; it then passes the same
check and the catalog check, runs through its own thin module and through soc2_verify with the
same results, and leaving out any one step makes a check fail.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import ansible.module_utils as ansible_module_utils
import pytest
import soc2_verify
import yaml
from module_runner import invoke
from plugin_loader import load_plugin

from soc2audit import catalog

REPO = Path(__file__).resolve().parents[2]
TOY = Path(__file__).resolve().parent / "toy_family"
STEPS = ("module_utils", "module", "registration", "role_vars", "drift_check", "catalog", "docs")


def _load(path: Path, name: str) -> ModuleType:
    return load_plugin(path, name)


def _main_is_one_runner_call(path: Path, utils: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            body = node.body
            return (
                len(body) == 1
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Call)
                and ast.unparse(body[0].value) == f"run_module({utils})"
            )
    return False


def _registered(path: Path) -> set[str]:
    """The module_utils soc2_verify imports and passes to registry()."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == "ansible.module_utils"
        for alias in node.names
    }
    passed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "registry":
            passed |= {a.id for a in node.args if isinstance(a, ast.Name)}
    return imported & passed


def recipe_problems(repo: Path, utils: str, family: Any) -> list[str]:
    """What a family (module_utils ``soc2_<name>_family``) lacks of the recipe in ``repo``."""
    from ansible.module_utils.soc2_family import interface_problems

    problems: list[str] = []
    module_name = utils.removesuffix("_family")
    if not (repo / "plugins" / "module_utils" / f"{utils}.py").is_file():
        problems.append(f"1: plugins/module_utils/{utils}.py is missing")
    problems += [f"1: {p}" for p in interface_problems(family)]
    module = repo / "library" / f"{module_name}.py"
    if not module.is_file() or not _main_is_one_runner_call(module, utils):
        problems.append(f"2: library/{module_name}.py main() is not run_module({utils})")
    if utils not in _registered(repo / "library" / "soc2_verify.py"):
        problems.append(f"3: {utils} is not registered in library/soc2_verify.py")
    play = yaml.safe_load((repo / "playbooks" / "drift_check.yml").read_text())[0]
    entry = next((e for e in play["vars"]["__families"] if e["family"] == family.FAMILY), None)
    if entry is None or entry["key"] != family.FAMILY.lower():
        problems.append(f"4: no __families entry for {family.FAMILY} in drift_check.yml")
        return problems
    imports = [
        t.get("ansible.builtin.import_role", {})
        for t in play["tasks"]
        if "ansible.builtin.import_role" in t
    ]
    # `var` may list several roles' variables, merged in order (LOG: shipper and aggregator).
    names = entry["var"] if isinstance(entry["var"], list) else [entry["var"]]
    role_names = []
    for name in names:
        role = re.fullmatch(r"_(\w+)_verify_params", str(name))
        if role is None:
            problems.append(f"4: {name} is not _<role>_verify_params")
            return problems
        role_names.append(role[1])
        wanted = {"name": role[1], "tasks_from": "verify_vars", "rolespec_validate": False}
        if wanted not in imports:
            problems.append(f"4: drift_check.yml does not import {role[1]}'s verify_vars")
        roles = repo / "roles" / role[1]
        vars_file = roles / "vars" / "main.yml"
        variables = yaml.safe_load(vars_file.read_text()) or {} if vars_file.is_file() else {}
        if name not in variables or not (roles / "tasks" / "verify_vars.yml").is_file():
            problems.append(f"5: roles/{role[1]} lacks vars/main.yml {name} or verify_vars")
    checks = {c["id"]: c for c in catalog.load(repo / "controls" / "catalog.yml")}
    for check_id in family.CHECK_IDS:
        got = checks.get(check_id, {})
        if (got.get("family"), got.get("source")) != (family.FAMILY, f"library/{module_name}.py"):
            problems.append(f"6: {check_id} is not catalogued for library/{module_name}.py")
    for role_name in role_names:
        if not (repo / "docs" / "roles" / f"{role_name}.md").is_file():
            problems.append(f"7: docs/roles/{role_name}.md is missing")
    return problems


@pytest.mark.parametrize("key", sorted(soc2_verify.FAMILIES))
def test_the_shipped_families_follow_the_recipe(key: str) -> None:
    family = soc2_verify.FAMILIES[key]
    assert recipe_problems(REPO, family.__name__.rsplit(".", 1)[1], family) == []


@pytest.fixture
def toy_family(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The toy module_utils importable as ansible.module_utils.soc2_toy_family."""
    monkeypatch.setattr(
        ansible_module_utils, "__path__", [*ansible_module_utils.__path__, str(TOY)]
    )
    return importlib.import_module("ansible.module_utils.soc2_toy_family")


@pytest.fixture
def family_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Step 6's one line in soc2audit/catalog.py: the family code TOY and its title."""
    monkeypatch.setitem(catalog.FAMILIES, "TOY", "Toy family")
    codes = "|".join(catalog.FAMILIES)
    monkeypatch.setattr(catalog, "ID_RE", re.compile(rf"^({codes})-[0-9]{{2}}$"))


def add_toy(root: Path, skip: str = "") -> Path:
    """A copy of this checkout with the toy family added by the recipe's steps (but ``skip``)."""
    for part in ("plugins/module_utils", "library", "controls", "playbooks", "docs", "policies"):
        shutil.copytree(REPO / part, root / part)
    for role in (REPO / "roles").iterdir():
        (root / "roles" / role.name / "tasks").mkdir(parents=True)
        shutil.copytree(role / "vars", root / "roles" / role.name / "vars")
        if (role / "tasks" / "verify_vars.yml").is_file():  # roles with a verifier family
            shutil.copy(role / "tasks" / "verify_vars.yml", root / "roles" / role.name / "tasks")
    if skip != "module_utils":  # 1. the family module_utils
        shutil.copy(TOY / "soc2_toy_family.py", root / "plugins" / "module_utils")
    if skip != "module":  # 2. the thin module
        shutil.copy(TOY / "soc2_toy.py", root / "library")
    if skip != "registration":  # 3. one import and one registry() entry in soc2_verify
        verify = root / "library" / "soc2_verify.py"
        text = verify.read_text()
        text = text.replace(
            "    soc2_time_family,\n)", "    soc2_time_family,\n    soc2_toy_family,\n)"
        )
        text = text.replace(
            "    soc2_auditd_family,\n)", "    soc2_auditd_family,\n    soc2_toy_family,\n)"
        )
        verify.write_text(text)
    role = root / "roles" / "toy"
    if skip != "role_vars":  # 4. the role's verifier parameters and verify_vars.yml
        (role / "vars").mkdir(parents=True)
        (role / "vars" / "main.yml").write_text("---\n_toy_verify_params:\n  path: /etc/hostname\n")
        (role / "tasks").mkdir()
        (role / "tasks" / "verify_vars.yml").write_text("---\n[]\n")
    if skip != "drift_check":  # 5. the __families entry and the role's verify_vars import
        path = root / "playbooks" / "drift_check.yml"
        plays = yaml.safe_load(path.read_text())
        plays[0]["vars"]["__families"].append(
            {"family": "TOY", "key": "toy", "var": "_toy_verify_params"}
        )
        plays[0]["tasks"].insert(
            0,
            {
                "name": "TOY role variables",
                "ansible.builtin.import_role": {
                    "name": "toy",
                    "tasks_from": "verify_vars",
                    "rolespec_validate": False,
                },
            },
        )
        path.write_text(yaml.safe_dump(plays, sort_keys=False))
    if skip != "catalog":  # 6. catalog entries, and docs/controls.md rendered again
        path = root / "controls" / "catalog.yml"
        shipped = yaml.safe_load(path.read_text())
        shipped["checks"] += yaml.safe_load((TOY / "catalog.yml").read_text())["checks"]
        path.write_text(yaml.safe_dump(shipped, sort_keys=False))
        (root / "docs" / "controls.md").write_text(catalog.render(path))
    if skip != "docs":  # 7. a docs page
        (root / "docs" / "roles" / "toy.md").write_text("# toy\n\nThe toy family (tests only).\n")
    return root


@pytest.mark.usefixtures("family_code")
def test_the_toy_family_added_by_the_recipe_passes_every_check(
    tmp_path: Path,
    toy_family: ModuleType,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = add_toy(tmp_path / "checkout")
    monkeypatch.setattr(catalog, "REPO", repo)  # testinfra markers are named relative to it
    assert recipe_problems(repo, "soc2_toy_family", toy_family) == []
    assert catalog.check(repo / "controls/catalog.yml", repo / "docs/controls.md", code=repo) == []

    soc2_toy = _load(repo / "library" / "soc2_toy.py", "soc2_toy")
    verify = _load(repo / "library" / "soc2_verify.py", "soc2_verify_with_toy")
    assert set(verify.FAMILIES) == {*soc2_verify.FAMILIES, "toy"}
    args = {"path": str(repo / "docs" / "roles" / "toy.md"), "min_size": 1}
    rc, alone = invoke(soc2_toy.main, args, capsys)
    assert rc == 0, alone
    assert [(c["check_id"], c["result"]) for c in alone["checks"]] == [
        ("TOY-01", "pass"),
        ("TOY-02", "pass"),
    ]
    assert "observations" not in alone
    rc, combined = invoke(verify.main, {"families": {"toy": args}}, capsys)
    assert rc == 0, combined
    assert combined["checks"] == alone["checks"]
    assert combined["observations"][0]["metric"] == "soc2audit_toy_file_bytes"
    rc, bad = invoke(verify.main, {"families": {"toy": {"path": "relative"}}}, capsys)
    assert {c["result"] for c in bad["checks"]} == {"error"}
    assert "path must be absolute" in bad["errors"]["toy"]


@pytest.mark.usefixtures("family_code")
@pytest.mark.parametrize("step", STEPS)
def test_leaving_out_a_step_fails(
    tmp_path: Path, toy_family: ModuleType, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = add_toy(tmp_path / "checkout", skip=step)
    monkeypatch.setattr(catalog, "REPO", repo)
    problems = recipe_problems(repo, "soc2_toy_family", toy_family)
    if step == "module_utils":
        problems += catalog.check(repo / "controls/catalog.yml", repo / "docs/controls.md", repo)
    assert problems, step


def test_the_shipped_tree_knows_nothing_of_the_toy() -> None:
    assert "toy" not in soc2_verify.FAMILIES
    assert not any(c["family"] == "TOY" for c in catalog.load(catalog.CATALOG))
    assert "TOY" not in (REPO / "playbooks" / "drift_check.yml").read_text()


def test_the_catalog_refuses_an_unknown_family_code(tmp_path: Path) -> None:
    """Without step 6's family code the toy's ids are not valid catalog ids."""
    checks = yaml.safe_load((TOY / "catalog.yml").read_text())["checks"]
    assert any("does not match" in p for p in catalog.validate(checks))


def test_registry_refuses_an_incomplete_family(toy_family: ModuleType) -> None:
    from ansible.module_utils.soc2_family import registry

    broken = ModuleType("soc2_broken_family")
    for attr in ("FAMILY", "CHECK_IDS", "ARGUMENT_SPEC", "validate"):
        setattr(broken, attr, getattr(toy_family, attr))
    with pytest.raises(ValueError, match="no verify"):
        registry(toy_family, broken)
    with pytest.raises(ValueError, match="registered twice"):
        registry(toy_family, toy_family)
    assert list(registry(toy_family)) == ["toy"]
