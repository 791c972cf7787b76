# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each role's meta/argument_specs.yml is the one description of its variables.

CI check (``python -m soc2audit.argspecs``, run by ``make lint``): the spec and defaults/main.yml
hold the same variables with the same defaults, so the spec (which drives validation and the role
docs) can never describe a variable the role does not have, or a default it does not use; and the
variable table of each role page (docs/roles/<role>.md, between the markers below) is the one
rendered from the spec. ``python -m soc2audit.argspecs --write`` renders the tables.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "roles"
TABLE_BEGIN = (
    "<!-- argument_specs table: generated from meta/argument_specs.yml by "
    "`python -m soc2audit.argspecs --write`; edit the spec, not this table -->"
)
TABLE_END = "<!-- end of argument_specs table -->"
# A default longer than this is left to defaults/main.yml (the table stays readable).
_DEFAULT_WIDTH = 250


def load(path: Path) -> Any:
    with path.open() as handle:
        return yaml.safe_load(handle) or {}


def check_role(role: Path) -> list[str]:
    problems: list[str] = []
    spec_file = role / "meta" / "argument_specs.yml"
    defaults_file = role / "defaults" / "main.yml"
    if not spec_file.exists():
        return [f"{role.name}: meta/argument_specs.yml is missing"]
    defaults = load(defaults_file) if defaults_file.exists() else {}
    options = options_of(role)
    for name in sorted(set(defaults) - set(options)):
        problems.append(f"{role.name}: {name} is in defaults/main.yml but not in argument_specs")
    for name in sorted(set(options) - set(defaults)):
        if not options[name].get("required"):
            problems.append(
                f"{role.name}: {name} is in argument_specs but not in defaults/main.yml"
            )
    for name in sorted(set(options) & set(defaults)):
        spec = options[name]
        if "default" not in spec:
            problems.append(f"{role.name}: {name} has no default in argument_specs")
        elif spec["default"] != defaults[name]:
            problems.append(
                f"{role.name}: {name} default differs: spec {spec['default']!r}, "
                f"defaults/main.yml {defaults[name]!r}"
            )
        if "description" not in spec:
            problems.append(f"{role.name}: {name} has no description")
    return problems


def options_of(role: Path) -> dict[str, Any]:
    """The entry point main's options of a role's meta/argument_specs.yml, in file order."""
    spec = load(role / "meta" / "argument_specs.yml")
    return (spec.get("argument_specs", {}).get("main", {}) or {}).get("options") or {}


# Ansible's markup in descriptions (C(code), O(option), V(value), I(italic)) shown as code.
_MARKUP = re.compile(r"\b[COVI]\(([^()]*)\)")


def _cell(text: str) -> str:
    return _MARKUP.sub(r"`\1`", " ".join(text.split())).replace("|", "\\|")


def _type(spec: dict[str, Any]) -> str:
    kind = str(spec.get("type", "str"))
    if "elements" in spec:
        kind += f" of {spec['elements']}"
    return kind + (", required" if spec.get("required") else "")


def _default(spec: dict[str, Any]) -> str:
    if "default" not in spec:
        return "-"
    value = spec["default"]
    if value is None:
        return "`null`"
    if isinstance(value, str):
        return f"`{value}`" if value and value == value.strip() else f"`{json.dumps(value)}`"
    text = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, sort_keys=False)
    text = text.strip().removesuffix("...").strip()
    if len(text) > _DEFAULT_WIDTH:
        return "see `defaults/main.yml`"
    return f"`{_cell(text)}`"


def _description(spec: dict[str, Any]) -> str:
    text = spec.get("description", "")
    return _cell(" ".join(text) if isinstance(text, list) else str(text))


def render_table(options: dict[str, Any]) -> str:
    """The Markdown table of a role's variables: name, type, default, choices, description."""
    lines = [
        "| Variable | Type | Default | Choices | Description |",
        "|---|---|---|---|---|",
    ]
    for name, spec in options.items():
        choices = ", ".join(f"`{c}`" for c in spec.get("choices", [])) or "-"
        lines.append(
            f"| `{name}` | {_type(spec)} | {_default(spec)} | {choices} | {_description(spec)} |"
        )
    return "\n".join(lines)


def with_table(page: str, table: str) -> str:
    """``page`` with the text between the table markers replaced by ``table``."""
    head, begin, rest = page.partition(TABLE_BEGIN)
    _old, end, tail = rest.partition(TABLE_END)
    if not begin or not end:
        raise ValueError("the argument_specs table markers are missing")
    return f"{head}{TABLE_BEGIN}\n{table}\n{TABLE_END}{tail}"


def check_page(role: Path, docs: Path, *, write: bool = False) -> list[str]:
    """Problems with the role page's variable table (none after ``write``)."""
    page_file = docs / f"{role.name}.md"
    if not page_file.exists():
        return [f"{role.name}: {page_file} is missing"]
    page = page_file.read_text()
    try:
        wanted = with_table(page, render_table(options_of(role)))
    except ValueError as exc:
        return [f"{role.name}: {page_file.name}: {exc}"]
    if wanted == page:
        return []
    if write:
        page_file.write_text(wanted)
        print(f"{page_file}: variable table written")
        return []
    return [
        f"{role.name}: the variable table of {page_file.name} is stale; "
        "run python -m soc2audit.argspecs --write"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soc2audit.argspecs", description=__doc__)
    parser.add_argument("roles", nargs="*", type=Path, help="role directories (default: roles/*)")
    parser.add_argument(
        "--docs",
        type=Path,
        help="directory of the role pages (default: docs/roles when no roles are named)",
    )
    parser.add_argument("--write", action="store_true", help="render the role pages' tables")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    roots = args.roles or sorted((REPO / "roles").iterdir())
    docs = args.docs or (None if args.roles else DOCS)
    problems: list[str] = []
    for role in roots:
        if not role.is_dir():
            problems.append(f"{role}: not a role directory")
            continue
        role_problems = check_role(role)
        if docs is not None and not role_problems:
            role_problems = check_page(role, docs, write=args.write)
        problems += role_problems
    for line in problems:
        print(line)
    print(f"argument_specs: {len(roots)} roles checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
