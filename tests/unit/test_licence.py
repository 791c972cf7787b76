# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""One licence for the whole tree: GPL-3.0-or-later (README "Licence" says why)."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SPDX = "GPL-3.0-or-later"
HEADER = [
    "# Copyright: soc2-audit-metrics contributors",
    f"# SPDX-License-Identifier: {SPDX}",
]
TREES = ("library", "plugins", "soc2audit", "controls", "bench", "tests")


def python_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted({name for name in out if (REPO / name).is_file()})


def test_every_python_file_starts_with_the_header() -> None:
    files = python_files()
    assert {name.split("/", 1)[0] for name in files} >= set(TREES)
    wrong = []
    for name in files:
        lines = (REPO / name).read_text().splitlines()
        if lines and lines[0].startswith("#!"):
            lines = lines[1:]
        if lines[:2] != HEADER:
            wrong.append(name)
    assert wrong == [], f"files without the SPDX header (shebang first, then {HEADER}): {wrong}"


def test_no_other_licence_is_named_in_python_files() -> None:
    stale = [
        name
        for name in python_files()
        if name != "tests/unit/test_licence.py"
        and any(s in (REPO / name).read_text() for s in ("Apache-2.0", "General Public License v3"))
    ]
    assert stale == []


def test_licence_file_pyproject_and_role_meta_agree() -> None:
    text = (REPO / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] in ({"text": SPDX}, SPDX)
    metas = sorted((REPO / "roles").glob("*/meta/main.yml"))
    assert metas
    for meta in metas:
        assert yaml.safe_load(meta.read_text())["galaxy_info"]["license"] == SPDX, meta
