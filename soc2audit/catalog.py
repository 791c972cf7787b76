# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Render the control catalog (controls/catalog.yml) as docs/controls.md, and check both.

    python -m soc2audit.catalog render > docs/controls.md
    python -m soc2audit.catalog check

`check` exits 1 when a catalog entry lacks a required field (id, title, rationale, remediation,
severity, family, source, tsc.primary), when an id is duplicated or does not look like
`<FAMILY>-<NN>`, when a check is emitted that the catalog lacks or listed that nothing emits
(or the catalog names the wrong source for it), or when docs/controls.md differs from a fresh
render.

What is emitted is read from the code without running it: the `CHECK_IDS` tuple of each family's
`plugins/module_utils/soc2_<family>_family.py` (emitted by `library/soc2_<family>.py` and by the
one-pass `library/soc2_verify.py`), every `soc2_check("<ID>")` marker of the testinfra checks
in `controls/test_*.py`, and the `custom.id` of every policy's METADATA in `policies/*.rego`
(soc2audit.policy; `check` also fails, with file and line, for a policy that does not compile,
a `pol_*` rule without a check id, or a title or primary mapping that differs from the catalog).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "controls" / "catalog.yml"
DOC = REPO / "docs" / "controls.md"

# Families in the order docs/controls.md lists them; the rendered page follows this order.
FAMILIES: dict[str, str] = {
    "PKI": "Private PKI and mTLS certificates",
    "TIME": "Time synchronisation",
    "NET": "Network filtering",
    "AUD": "Audit logging",
    "LOG": "Log shipping and retention",
    "MON": "Monitoring",
    "SSH": "SSH access",
    "HOST": "Host baseline",
    "EVD": "Evidence trail",
    "POL": "Fleet policies (Rego)",
}
ID_RE = re.compile(r"^(PKI|TIME|NET|AUD|LOG|MON|SSH|HOST|EVD|POL)-[0-9]{2}$")
#: The family whose checks judge the whole fleet (policies/*.rego), not one host: their rows
#: belong to the pseudo-host ``fleet``, whose only group is FLEET_GROUP (not a valid Ansible group
#: name, so no inventory group can take it).
FLEET_FAMILY = "POL"
FLEET_GROUP = "@fleet"
REQUIRED = ("id", "title", "rationale", "remediation", "severity", "family", "source")

HEADER = """\
# Control catalog

<!-- Generated from controls/catalog.yml by `python -m soc2audit.catalog render`.
     Do not edit by hand: change the catalog and render again. -->

This page lists every check the suite can emit, what a passing result proves, which SOC 2 Trust
Services Criteria it supports and how to fix a failure. It is rendered from
`controls/catalog.yml`; `python -m soc2audit.catalog check` fails when this page is out of date
or when a catalog entry is incomplete.

- **Primary** criteria are the mapping an auditor is expected to accept on the strength of the
  rationale. **Secondary** criteria are related ones the same evidence touches; they are not
  claimed as full coverage.
- **Applies to** names the inventory groups whose hosts run the check (`all` means every host).
  A host in those groups that produces no result gets `not_run` for the check, never `pass`.
- **Source** is the module or test that produces the result.
- **POL** checks are fleet policies in Rego (`policies/`, [policies.md](policies.md)): each judges
  the whole fleet once per run, as a row of the pseudo-host `fleet` (applies to `fleet`).
- Each drift run reports one result per host and check: `pass`, `fail`, `error`,
  `at_risk`, `not_applicable`, `not_run` or `waived`. `waived` replaces `fail` or `at_risk` when
  an unexpired waiver in `controls/waivers.yml` covers the check on the host; `error` and
  `not_run` are never waived. See [drift.md](drift.md).
"""


class CatalogError(ValueError):
    """The catalog file cannot be read or does not have the expected shape."""


def _entries(data: Any, origin: str) -> list[dict[str, Any]]:
    """The list under `checks:` of the parsed catalog; CatalogError when it has another shape."""
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        raise CatalogError(f"{origin}: expected a mapping with a 'checks' list")
    checks = data["checks"]
    for index, entry in enumerate(checks):
        if not isinstance(entry, dict):
            raise CatalogError(f"{origin}: checks[{index}] is not a mapping")
    return checks


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: {exc}") from None


def _parse_yaml(raw: bytes, origin: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{origin}: {exc}") from None


def load(catalog_path: Path | str) -> list[dict[str, Any]]:
    """The list under `checks:` in the catalog file (entries as written, not validated)."""
    path = Path(catalog_path)
    return _entries(_parse_yaml(_read(path), str(path)), str(path))


@dataclass(frozen=True)
class Check:
    """One catalog entry, reduced to what the results pipeline needs."""

    id: str
    family: str
    severity: str
    title: str
    source: str
    applies_to: tuple[str, ...] = ("all",)
    tsc_primary: tuple[str, ...] = ()
    tsc_secondary: tuple[str, ...] = ()

    def applies(self, groups: Iterable[str]) -> bool:
        """True when the check runs on a host in ``groups``; a fleet policy only applies to the
        fleet pseudo-host (FLEET_GROUP) and a host check never to it."""
        group_set = set(groups)
        if (self.family == FLEET_FAMILY) != (FLEET_GROUP in group_set):
            return False
        if self.family == FLEET_FAMILY:
            return True
        return "all" in self.applies_to or bool(set(self.applies_to) & group_set)


@dataclass(frozen=True)
class Catalog:
    """The checks of controls/catalog.yml (in file order) and the file's bytes."""

    checks: tuple[Check, ...]
    raw: bytes = b""

    @property
    def by_id(self) -> dict[str, Check]:
        return {check.id: check for check in self.checks}

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(check.id for check in self.checks)

    def get(self, check_id: str) -> Check | None:
        return self.by_id.get(check_id)

    def applicable(self, groups: Iterable[str]) -> list[Check]:
        group_list = list(groups)
        return [check for check in self.checks if check.applies(group_list)]


def _str_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(item) for item in value)
    return (str(value),)


def parse_catalog(raw: bytes, origin: str = "catalog") -> Catalog:
    """A Catalog from the YAML bytes; CatalogError when an entry is incomplete or duplicated."""
    entries = _entries(_parse_yaml(raw, origin), origin)
    problems = validate(entries)
    if problems:
        raise CatalogError(f"{origin}: invalid catalog:\n  " + "\n  ".join(problems))
    checks = []
    for entry in entries:
        tsc = entry.get("tsc") if isinstance(entry.get("tsc"), dict) else {}
        checks.append(
            Check(
                id=str(entry["id"]),
                family=str(entry["family"]),
                severity=str(entry["severity"]),
                title=" ".join(str(entry["title"]).split()),
                source=str(entry["source"]),
                applies_to=_str_list(entry.get("applies_to")) or ("all",),
                tsc_primary=_str_list(tsc.get("primary")),
                tsc_secondary=_str_list(tsc.get("secondary")),
            )
        )
    return Catalog(checks=tuple(checks), raw=raw)


# One parse per file content: a drift run reads the catalog in the action, the pipeline and the
# summary; each gets the same Catalog while the file's bytes are unchanged. Comparing the bytes
# (not the mtime, whose granularity is a clock tick) means an edited file is never served stale.
_LOADED: dict[Path, Catalog] = {}


def load_catalog(path: Path | str) -> Catalog:
    """The validated catalog of ``path``, parsed once per path and content.

    CatalogError when it is missing, unparsable or incomplete.
    """
    catalog_path = Path(path)
    raw = _read(catalog_path)
    key = catalog_path.resolve()
    cached = _LOADED.get(key)
    if cached is not None and cached.raw == raw:
        return cached
    catalog = parse_catalog(raw, str(catalog_path))
    _LOADED[key] = catalog
    return catalog


def _family_ids(path: Path) -> list[str]:
    """The literal CHECK_IDS tuple of a family module_utils file, or of the module_utils file
    it imports CHECK_IDS from (``from ansible.module_utils.soc2_x509 import CHECK_IDS``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            target = node.target.id
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            first = node.targets[0]
            target = first.id if isinstance(first, ast.Name) else None
        if target == "CHECK_IDS" and node.value is not None:
            value = ast.literal_eval(node.value)
            return [str(v) for v in value]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("ansible.module_utils.")
            and any(alias.name == "CHECK_IDS" and alias.asname is None for alias in node.names)
        ):
            source = path.parent / (node.module.rsplit(".", 1)[1] + ".py")
            if source.is_file() and source != path:
                return _family_ids(source)
    raise CatalogError(f"{path}: no literal CHECK_IDS tuple")


def _marker_ids(path: Path) -> list[tuple[str, str]]:
    """(check id, "controls/<file>::<test>") for every soc2_check("<ID>") marker in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[str, str]] = []
    rel = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for deco in func.decorator_list:
            for node in ast.walk(deco):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "soc2_check"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    out.append((str(node.args[0].value), f"{rel}::{func.name}"))
    return out


def emitted(repo: Path = REPO) -> dict[str, list[str]]:
    """check id -> the places that emit it (module file, or controls/<file>::<test>)."""
    found: dict[str, list[str]] = {}
    for family in sorted((repo / "plugins" / "module_utils").glob("soc2_*_family.py")):
        module = family.name.removesuffix("_family.py") + ".py"
        for check_id in _family_ids(family):
            found.setdefault(check_id, []).append(f"library/{module}")
    for test_file in sorted((repo / "controls").glob("test_*.py")):
        for check_id, where in _marker_ids(test_file):
            found.setdefault(check_id, []).append(where)
    from soc2audit.policy import load_policies  # it imports this module

    policies, _ = load_policies(repo / "policies")
    for policy in policies.policies:
        found.setdefault(policy.check_id, []).append(policy.path)
    return found


def coverage(checks: Sequence[dict[str, Any]], repo: Path = REPO) -> list[str]:
    """Problems between what the code emits and what the catalog lists."""
    problems: list[str] = []
    found = emitted(repo)
    listed = {str(c.get("id")): c for c in checks}
    for check_id in sorted(set(found) - set(listed)):
        problems.append(f"{check_id} is emitted by {', '.join(found[check_id])} but not catalogued")
    for check_id in sorted(set(listed) - set(found)):
        problems.append(f"{check_id} is catalogued but nothing emits it")
    for check_id in sorted(set(found) & set(listed)):
        source = str(listed[check_id].get("source", ""))
        if not any(source == w or source == w.split("::")[0] for w in found[check_id]):
            problems.append(
                f"{check_id}: catalog source {source!r} is not where it is emitted "
                f"({', '.join(found[check_id])})"
            )
    return problems


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not value)


def validate(checks: Sequence[dict[str, Any]]) -> list[str]:
    """Problems with the catalog entries (empty when every entry is complete and unique)."""
    problems: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(checks):
        label = f"checks[{index}] ({entry.get('id', 'no id')})"
        for name in REQUIRED:
            if _missing(entry.get(name)):
                problems.append(f"{label}: missing {name}")
        tsc = entry.get("tsc")
        primary = tsc.get("primary") if isinstance(tsc, dict) else None
        if _missing(primary):
            problems.append(f"{label}: missing tsc.primary")
        check_id = entry.get("id")
        if _missing(check_id):
            continue
        check_id = str(check_id)
        if not ID_RE.match(check_id):
            problems.append(f"{label}: id {check_id!r} does not match {ID_RE.pattern}")
        if check_id in seen:
            problems.append(f"{label}: duplicate id {check_id}")
        seen.add(check_id)
    return problems


def _cell(value: Any) -> str:
    """Text for one Markdown table cell: one line, pipes escaped."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(item) for item in value)
    text = " ".join(str(value).split())
    return text.replace("|", "\\|")


def _criteria(entry: dict[str, Any], key: str) -> list[str]:
    tsc = entry.get("tsc")
    values = tsc.get(key) if isinstance(tsc, dict) else None
    return [str(v) for v in values] if isinstance(values, list) else []


def _family_key(entry: dict[str, Any]) -> tuple[int, str]:
    family = str(entry.get("family", ""))
    order = list(FAMILIES).index(family) if family in FAMILIES else len(FAMILIES)
    return order, str(entry.get("id", ""))


def render(catalog_path: Path | str) -> str:
    """The Markdown page for the catalog. Raises CatalogError when the catalog is invalid."""
    checks = load(catalog_path)
    problems = validate(checks)
    if problems:
        raise CatalogError("invalid catalog:\n  " + "\n  ".join(problems))
    entries = sorted(checks, key=_family_key)
    lines = [HEADER]

    lines += ["## Summary", ""]
    lines += ["| Family | Checks |", "|---|---|"]
    for family, title in FAMILIES.items():
        ids = [str(e["id"]) for e in entries if e["family"] == family]
        lines.append(f"| {family}: {title} | {', '.join(ids) if ids else 'none yet'} |")
    extra = sorted({str(e["family"]) for e in entries} - set(FAMILIES))
    for family in extra:
        ids = [str(e["id"]) for e in entries if e["family"] == family]
        lines.append(f"| {_cell(family)} | {', '.join(ids)} |")
    lines.append("")

    for family in [*FAMILIES, *extra]:
        members = [e for e in entries if e["family"] == family]
        if not members:
            continue
        lines += [f"## {family}: {FAMILIES.get(family, family)}", ""]
        lines += [
            "| Check | Severity | What it proves | Primary | Secondary | How to fix "
            "| Applies to | Source |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for e in members:
            proves = f"**{_cell(e['title'])}.** {_cell(e['rationale'])}"
            applies = _cell(e.get("applies_to") or ["all"])
            lines.append(
                f"| {_cell(e['id'])} | {_cell(e['severity'])} | {proves} "
                f"| {_cell(_criteria(e, 'primary'))} | {_cell(_criteria(e, 'secondary')) or '-'} "
                f"| {_cell(e['remediation'])} | {applies} | `{_cell(e['source'])}` |"
            )
        lines.append("")

    lines += ["## Checks by criterion", ""]
    lines += [
        "Which checks produce evidence for each criterion (P: primary mapping, S: secondary).",
        "",
        "| Criterion | Checks |",
        "|---|---|",
    ]
    by_criterion: dict[str, list[str]] = {}
    for e in entries:
        for key, mark in (("primary", "P"), ("secondary", "S")):
            for criterion in _criteria(e, key):
                by_criterion.setdefault(criterion, []).append(f"{e['id']} ({mark})")
    for criterion in sorted(by_criterion, key=_criterion_key):
        lines.append(f"| {_cell(criterion)} | {', '.join(by_criterion[criterion])} |")
    lines.append("")
    return "\n".join(lines)


def _criterion_key(criterion: str) -> tuple[str, list[int], str]:
    """Sort CC6.1 before CC6.10 and A1.2 before CC1.1."""
    match = re.match(r"^([A-Z]+)([0-9.]+)$", criterion)
    if not match:
        return (criterion, [], criterion)
    numbers = [int(n) for n in match.group(2).split(".") if n]
    return (match.group(1), numbers, criterion)


def check(
    catalog_path: Path | str = CATALOG, doc_path: Path | str = DOC, code: Path | None = REPO
) -> list[str]:
    """Problems with the catalog and its rendered page (empty when both are in order).

    ``code`` is the checkout whose emitted checks must match the catalog; None skips that.
    """
    try:
        checks = load(catalog_path)
    except CatalogError as exc:
        return [str(exc)]
    problems = validate(checks) + (coverage(checks, code) if code is not None else [])
    if code is not None:
        from soc2audit.policy import check as check_policies

        problems += check_policies(code / "policies", catalog_path)
    if problems:
        return problems
    doc = Path(doc_path)
    fresh = render(catalog_path)
    if not doc.exists():
        return [f"{doc} is missing: run `python -m soc2audit.catalog render > {doc}`"]
    if doc.read_text(encoding="utf-8") != fresh:
        return [f"{doc} is stale: run `python -m soc2audit.catalog render > {doc}`"]
    return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m soc2audit.catalog", description=__doc__.split("\n")[0]
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--catalog", type=Path, default=CATALOG, help="catalog YAML file")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("render", parents=[common], help="print the Markdown page on stdout")
    p_check = sub.add_parser(
        "check", parents=[common], help="validate the catalog and the rendered page"
    )
    p_check.add_argument("--doc", type=Path, default=DOC, help="rendered page to compare")
    args = parser.parse_args(argv)
    if args.cmd == "render":
        try:
            sys.stdout.write(render(args.catalog))
        except CatalogError as exc:
            print(f"catalog: {exc}", file=sys.stderr)
            return 1
        return 0
    problems = check(args.catalog, args.doc)
    for problem in problems:
        print(f"catalog: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"catalog: {len(load(args.catalog))} checks, {args.doc} up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
