# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for soc2audit/argspecs.py: meta/argument_specs.yml must match defaults/main.yml."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from soc2audit import argspecs

REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULTS = {
    "demo_port": 4433,
    "demo_enabled": True,
    "demo_packages": ["openssl", "ca-certificates"],
    "demo_mode": "strict",
}
OPTIONS: dict[str, dict[str, Any]] = {
    "demo_port": {"type": "int", "description": "Port.", "default": 4433},
    "demo_enabled": {"type": "bool", "description": "Switch.", "default": True},
    "demo_packages": {
        "type": "list",
        "elements": "str",
        "description": "Packages.",
        "default": ["openssl", "ca-certificates"],
    },
    "demo_mode": {
        "type": "str",
        "description": "Mode.",
        "choices": ["strict", "lax"],
        "default": "strict",
    },
    "demo_token": {"type": "str", "description": "Required, so not in defaults.", "required": True},
}


def make_role(
    base: Path,
    defaults: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    *,
    name: str = "demo",
    spec: bool = True,
) -> Path:
    role = base / name
    (role / "defaults").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "defaults" / "main.yml").write_text(
        "---\n" + yaml.safe_dump(DEFAULTS if defaults is None else defaults)
    )
    if spec:
        body = {
            "argument_specs": {
                "main": {
                    "short_description": "Demo role",
                    "options": OPTIONS if options is None else options,
                }
            }
        }
        (role / "meta" / "argument_specs.yml").write_text("---\n" + yaml.safe_dump(body))
    return role


def test_in_sync(tmp_path: Path) -> None:
    assert argspecs.check_role(make_role(tmp_path)) == []


def test_variable_only_in_defaults(tmp_path: Path) -> None:
    role = make_role(tmp_path, defaults={**DEFAULTS, "demo_extra": "x"})
    assert argspecs.check_role(role) == [
        "demo: demo_extra is in defaults/main.yml but not in argument_specs"
    ]


def test_variable_only_in_spec(tmp_path: Path) -> None:
    options = {**OPTIONS, "demo_timeout": {"type": "int", "description": "T.", "default": 5}}
    role = make_role(tmp_path, options=options)
    assert argspecs.check_role(role) == [
        "demo: demo_timeout is in argument_specs but not in defaults/main.yml"
    ]


def test_default_value_differs(tmp_path: Path) -> None:
    options = {**OPTIONS, "demo_port": {**OPTIONS["demo_port"], "default": 8443}}
    role = make_role(tmp_path, options=options)
    assert argspecs.check_role(role) == [
        "demo: demo_port default differs: spec 8443, defaults/main.yml 4433"
    ]


def test_default_list_order_differs(tmp_path: Path) -> None:
    defaults = {**DEFAULTS, "demo_packages": ["ca-certificates", "openssl"]}
    [problem] = argspecs.check_role(make_role(tmp_path, defaults=defaults))
    assert problem.startswith("demo: demo_packages default differs")


def test_default_missing_in_spec(tmp_path: Path) -> None:
    spec = {k: v for k, v in OPTIONS["demo_mode"].items() if k != "default"}
    role = make_role(tmp_path, options={**OPTIONS, "demo_mode": spec})
    assert argspecs.check_role(role) == ["demo: demo_mode has no default in argument_specs"]


def test_missing_description(tmp_path: Path) -> None:
    spec = {k: v for k, v in OPTIONS["demo_enabled"].items() if k != "description"}
    role = make_role(tmp_path, options={**OPTIONS, "demo_enabled": spec})
    assert argspecs.check_role(role) == ["demo: demo_enabled has no description"]


def test_missing_argument_specs_file(tmp_path: Path) -> None:
    role = make_role(tmp_path, spec=False, name="nospec")
    assert argspecs.check_role(role) == ["nospec: meta/argument_specs.yml is missing"]


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    defaults = {**DEFAULTS, "demo_port": 1, "demo_only_here": 0}
    options = {k: v for k, v in OPTIONS.items() if k != "demo_mode"}
    problems = argspecs.check_role(make_role(tmp_path, defaults=defaults, options=options))
    assert len(problems) == 3
    assert any("demo_only_here is in defaults/main.yml" in p for p in problems)
    assert any("demo_mode is in defaults/main.yml" in p for p in problems)
    assert any("demo_port default differs" in p for p in problems)


def test_role_without_defaults_file(tmp_path: Path) -> None:
    role = make_role(tmp_path, options={"demo_token": OPTIONS["demo_token"]})
    (role / "defaults" / "main.yml").unlink()
    assert argspecs.check_role(role) == []
    role2 = make_role(tmp_path, name="other", options={"other_x": {"description": "x"}})
    (role2 / "defaults" / "main.yml").unlink()
    assert argspecs.check_role(role2) == [
        "other: other_x is in argument_specs but not in defaults/main.yml"
    ]


def test_main_on_tmp_roles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = make_role(tmp_path, name="good")
    bad = make_role(tmp_path, name="bad", defaults={**DEFAULTS, "demo_port": 1})
    assert argspecs.main([str(good)]) == 0
    assert "1 roles checked, 0 problems" in capsys.readouterr().out
    assert argspecs.main([str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad: demo_port default differs: spec 4433, defaults/main.yml 1" in out
    assert "2 roles checked, 1 problems" in out


def test_main_over_the_real_roles(capsys: pytest.CaptureFixture[str]) -> None:
    roles = sorted(p for p in (REPO_ROOT / "roles").iterdir() if p.is_dir())
    assert roles, "the repository has roles"
    assert argspecs.main([str(r) for r in roles]) == 0, capsys.readouterr().out
    assert f"{len(roles)} roles checked, 0 problems" in capsys.readouterr().out


def test_main_without_arguments_checks_the_real_roles(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # main([]) means "no roles given": check roles/*, not whatever is in sys.argv.
    monkeypatch.setattr(sys, "argv", ["pytest", "-q", str(REPO_ROOT / "tests")])
    roles = sorted(p for p in (REPO_ROOT / "roles").iterdir() if p.is_dir())
    assert argspecs.main([]) == 0, capsys.readouterr().out
    assert f"{len(roles)} roles checked, 0 problems" in capsys.readouterr().out


PAGE = (
    f"# Role demo\n\n## Variables\n\n{argspecs.TABLE_BEGIN}\nold table\n{argspecs.TABLE_END}"
    "\n\nAfter.\n"
)


def test_rendered_table_rows() -> None:
    table = argspecs.render_table(
        {
            **OPTIONS,
            "demo_prefix": {"type": "str", "description": "C(a|b) prefix.", "default": "x: "},
            "demo_long": {"type": "list", "description": ["One.", "Two."], "default": ["y" * 300]},
        }
    ).splitlines()
    assert table[0] == "| Variable | Type | Default | Choices | Description |"
    assert "| `demo_port` | int | `4433` | - | Port. |" in table
    assert "| `demo_mode` | str | `strict` | `strict`, `lax` | Mode. |" in table
    packages = "| `demo_packages` | list of str | `[openssl, ca-certificates]` | - | Packages. |"
    assert packages in table
    assert "| `demo_enabled` | bool | `true` | - | Switch. |" in table
    assert "| `demo_token` | str, required | - | - | Required, so not in defaults. |" in table
    # Ansible markup becomes code, a pipe is escaped, trailing blanks are shown quoted.
    assert '| `demo_prefix` | str | `"x: "` | - | `a\\|b` prefix. |' in table
    assert "| `demo_long` | list | see `defaults/main.yml` | - | One. Two. |" in table


def test_stale_table_is_reported_then_written(tmp_path: Path) -> None:
    role = make_role(tmp_path / "roles")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "demo.md").write_text(PAGE)
    [problem] = argspecs.check_page(role, docs)
    assert "variable table of demo.md is stale" in problem
    assert argspecs.main([str(role), "--docs", str(docs)]) == 1
    assert argspecs.main([str(role), "--docs", str(docs), "--write"]) == 0
    page = (docs / "demo.md").read_text()
    assert "old table" not in page and "| `demo_port` | int | `4433` |" in page
    assert page.endswith(f"{argspecs.TABLE_END}\n\nAfter.\n")
    assert argspecs.check_page(role, docs) == []


def test_page_without_markers_or_missing(tmp_path: Path) -> None:
    role = make_role(tmp_path / "roles")
    docs = tmp_path / "docs"
    docs.mkdir()
    assert argspecs.check_page(role, docs) == [f"demo: {docs / 'demo.md'} is missing"]
    (docs / "demo.md").write_text("# Role demo\n\n| Variable |\n")
    assert argspecs.check_page(role, docs, write=True) == [
        "demo: demo.md: the argument_specs table markers are missing"
    ]


def test_real_role_pages_are_current() -> None:
    for role in sorted(p for p in (REPO_ROOT / "roles").iterdir() if p.is_dir()):
        assert argspecs.check_page(role, REPO_ROOT / "docs" / "roles") == [], role.name
