# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""execution-environment.yml (docs/awx.md): the EE carries what the suite needs at run time,
with the control node's pins, and ansible-builder renders its build context from it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import ansible_collections
import yaml

REPO = Path(__file__).resolve().parents[2]
EE = yaml.safe_load((REPO / "execution-environment.yml").read_text())
#: Import name -> distribution, where they differ.
DISTRIBUTION = {
    "yaml": "pyyaml",
    "testinfra": "pytest-testinfra",
    "ansible": "ansible-core",
    "ansible_runner": "ansible-runner",
    "jinja2": "jinja2",
}
#: Provided otherwise: the collections (galaxy), the project itself (additional_build_files),
#: pytest's per-directory conftest modules.
NOT_DISTRIBUTIONS = {"ansible_collections", "soc2audit", "conftest"}
#: The code that runs on the control node or on the hosts during a suite run (not tests, bench,
#: molecule or the lab's own connection plugin, which only the lab uses).
RUNTIME = ("soc2audit", "library", "plugins/module_utils", "plugins/action", "plugins/filter",
           "plugins/lookup", "plugins/callback", "plugins/doc_fragments", "controls")  # fmt: skip


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[name.strip().lower().replace("_", "-")] = version.strip()
    return out


def test_schema_version_3_and_files_exist() -> None:
    assert EE["version"] == 3
    deps = EE["dependencies"]
    assert deps["galaxy"] == "requirements.yml"
    for key in ("python", "system"):
        assert (REPO / deps[key]).is_file(), deps[key]
    for item in EE["additional_build_files"]:
        assert (REPO / item["src"]).exists(), item["src"]


def test_python_requirements_carry_the_control_node_pins() -> None:
    control = pins(REPO / "requirements.txt")
    ee = pins(REPO / EE["dependencies"]["python"])
    assert ee, "no Python requirements"
    for name, version in ee.items():
        assert control.get(name) == version, f"{name}=={version} vs requirements.txt"
    for key, dist in (("ansible_core", "ansible-core"), ("ansible_runner", "ansible-runner")):
        name, _, version = EE["dependencies"][key]["package_pip"].partition("==")
        assert name == dist and control[dist] == version


def third_party_imports() -> dict[str, str]:
    """Top-level modules imported by the runtime code that are not in the standard library,
    each with one file that imports it."""
    found: dict[str, str] = {}
    for base in RUNTIME:
        for path in sorted((REPO / base).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top != "__future__":
                        found.setdefault(top, str(path.relative_to(REPO)))
    return found


def test_every_runtime_import_is_provided() -> None:
    ee = set(pins(REPO / EE["dependencies"]["python"])) | {"ansible-core", "ansible-runner"}
    imports = third_party_imports()
    assert "regopy" in imports and "testinfra" in imports  # the scan sees the real imports
    missing = {
        top: where
        for top, where in imports.items()
        if top not in NOT_DISTRIBUTIONS and DISTRIBUTION.get(top, top).lower() not in ee
    }
    assert not missing, f"imported but not in the EE's Python requirements: {missing}"


def test_every_collection_the_playbooks_use_is_required() -> None:
    installed = {
        f"{ns.name}.{coll.name}"
        for root in ansible_collections.__path__
        for ns in Path(root).iterdir()
        if ns.is_dir()
        for coll in ns.iterdir()
        if coll.is_dir()
    }
    used: set[str] = set()
    for base in ("playbooks", "roles"):
        for path in (REPO / base).rglob("*.yml"):
            for m in re.finditer(r"\b([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+", path.read_text()):
                if m.group(1) in installed:
                    used.add(m.group(1))
    required = {c["name"] for c in yaml.safe_load((REPO / "requirements.yml").read_text())[
        "collections"]}  # fmt: skip
    assert "community.crypto" in used
    assert used <= required, f"used but not in requirements.yml: {sorted(used - required)}"


def test_ansible_builder_renders_the_build_context(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-builder"), "create",
         "-f", str(REPO / "execution-environment.yml"), "-c", str(tmp_path / "ctx")],
        cwd=REPO, text=True, capture_output=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build = tmp_path / "ctx" / "_build"
    containerfile = (tmp_path / "ctx" / "Containerfile").read_text()
    assert "ansible-core==2.19.14" in containerfile
    assert "pip install --no-cache-dir --no-deps /opt/soc2audit-src" in containerfile
    assert pins(build / "requirements.txt") == pins(REPO / EE["dependencies"]["python"])
    assert (build / "soc2audit-src" / "soc2audit" / "evidence.py").is_file()
    assert (build / "soc2audit-src" / "plugins" / "module_utils" / "soc2_results.py").is_file()
