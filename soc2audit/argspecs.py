"""CI check: each role's meta/argument_specs.yml and defaults/main.yml hold the same variables.

Both the names and the default values must agree, so the spec (which drives validation and the
role docs) can never describe a variable the role does not have, or a default it does not use.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent


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
    options = (load(spec_file).get("argument_specs", {}).get("main", {}) or {}).get("options") or {}
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    roots = [Path(a) for a in args] or sorted((REPO / "roles").iterdir())
    problems: list[str] = []
    for role in roots:
        if not role.is_dir():
            problems.append(f"{role}: not a role directory")
            continue
        problems += check_role(role)
    for line in problems:
        print(line)
    print(f"argument_specs: {len(roots)} roles checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
