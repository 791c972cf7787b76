# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit.catalog: the catalog renders, and `check` catches bad entries and a stale page."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from soc2audit import catalog

REPO = Path(__file__).resolve().parents[2]
REAL_CATALOG = REPO / "controls" / "catalog.yml"
REAL_DOC = REPO / "docs" / "controls.md"


def real_checks() -> list[dict[str, Any]]:
    return yaml.safe_load(REAL_CATALOG.read_text())["checks"]


def write_catalog(path: Path, checks: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"checks": checks}, sort_keys=False))
    return path


@pytest.fixture
def good(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the real catalog and its freshly rendered page, in tmp_path."""
    cat = write_catalog(tmp_path / "catalog.yml", copy.deepcopy(real_checks()))
    doc = tmp_path / "controls.md"
    doc.write_text(catalog.render(cat))
    return cat, doc


def test_real_catalog_is_valid_and_the_doc_is_current() -> None:
    assert catalog.check(REAL_CATALOG, REAL_DOC) == []


def test_cli_check_passes_on_the_repository() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "soc2audit.catalog", "check"],
        cwd=REPO,
        text=True,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_render_lists_every_check_with_its_criteria() -> None:
    text = catalog.render(REAL_CATALOG)
    for entry in real_checks():
        row = next(line for line in text.splitlines() if line.startswith(f"| {entry['id']} |"))
        assert entry["severity"] in row
        for criterion in entry["tsc"]["primary"]:
            assert criterion in row
    assert text.startswith("# Control catalog\n")
    assert "Generated from controls/catalog.yml" in text


def test_render_is_deterministic_and_escapes_pipes(tmp_path: Path) -> None:
    checks = copy.deepcopy(real_checks())
    checks[0]["remediation"] = "run a | b\nthen c"
    cat = write_catalog(tmp_path / "catalog.yml", checks)
    first, second = catalog.render(cat), catalog.render(cat)
    assert first == second
    assert "run a \\| b then c" in first


def test_good_copy_passes(good: tuple[Path, Path]) -> None:
    cat, doc = good
    assert catalog.check(cat, doc) == []
    assert catalog.main(["check", "--catalog", str(cat), "--doc", str(doc)]) == 0


def test_missing_primary_criterion_fails(tmp_path: Path) -> None:
    checks = copy.deepcopy(real_checks())
    checks[1]["tsc"] = {"primary": [], "secondary": ["CC6.7"]}
    del checks[2]["tsc"]
    cat = write_catalog(tmp_path / "catalog.yml", checks)
    problems = catalog.check(cat, tmp_path / "controls.md")
    assert any("PKI-02" in p and "tsc.primary" in p for p in problems), problems
    assert any("PKI-03" in p and "tsc.primary" in p for p in problems), problems
    with pytest.raises(catalog.CatalogError):
        catalog.render(cat)


@pytest.mark.parametrize("field", ["title", "rationale", "remediation", "severity", "source"])
def test_missing_required_field_fails(tmp_path: Path, field: str) -> None:
    checks = copy.deepcopy(real_checks())
    del checks[0][field]
    cat = write_catalog(tmp_path / "catalog.yml", checks)
    problems = catalog.check(cat, tmp_path / "controls.md")
    assert any(f"missing {field}" in p for p in problems), problems


def test_duplicate_id_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    checks = copy.deepcopy(real_checks())
    checks.append(copy.deepcopy(checks[0]))
    cat = write_catalog(tmp_path / "catalog.yml", checks)
    doc = tmp_path / "controls.md"
    assert any("duplicate id PKI-01" in p for p in catalog.check(cat, doc))
    assert catalog.main(["check", "--catalog", str(cat), "--doc", str(doc)]) == 1
    assert "duplicate id" in capsys.readouterr().err


@pytest.mark.parametrize("bad_id", ["PKI-1", "PKI-001", "pki-01", "FOO-01", "PKI01", "TIME-1a"])
def test_bad_id_fails(tmp_path: Path, bad_id: str) -> None:
    checks = copy.deepcopy(real_checks())
    checks[0]["id"] = bad_id
    cat = write_catalog(tmp_path / "catalog.yml", checks)
    problems = catalog.check(cat, tmp_path / "controls.md")
    assert any("does not match" in p and bad_id in p for p in problems), problems


def test_all_families_are_accepted_ids(tmp_path: Path) -> None:
    template = real_checks()[0]
    checks = []
    for family in ("PKI", "TIME", "NET", "AUD", "LOG", "MON", "EVD"):
        entry = copy.deepcopy(template)
        entry["id"], entry["family"] = f"{family}-07", family
        checks.append(entry)
    cat = write_catalog(tmp_path / "catalog.yml", checks)
    doc = tmp_path / "controls.md"
    doc.write_text(catalog.render(cat))
    assert catalog.check(cat, doc, code=None) == []


def _fake_checkout(root: Path, family_ids: list[str], marker_ids: list[str]) -> Path:
    (root / "plugins" / "module_utils").mkdir(parents=True)
    (root / "controls").mkdir()
    (root / "plugins" / "module_utils" / "soc2_pki_family.py").write_text(
        f"CHECK_IDS: tuple[str, ...] = {tuple(family_ids)!r}\n"
    )
    tests = "import pytest\n\n" + "".join(
        f"@pytest.mark.soc2_check({cid!r})\ndef test_{n}(host):\n    pass\n\n"
        for n, cid in enumerate(marker_ids)
    )
    (root / "controls" / "test_pki.py").write_text(tests)
    return root


def test_emitted_reads_family_ids_and_markers(tmp_path: Path) -> None:
    repo = _fake_checkout(tmp_path, ["PKI-01", "PKI-02"], ["PKI-07"])
    assert catalog.emitted(repo) == {
        "PKI-01": ["library/soc2_pki.py"],
        "PKI-02": ["library/soc2_pki.py"],
        "PKI-07": ["test_pki.py::test_0"],
    }


def test_emitted_follows_a_check_ids_import(tmp_path: Path) -> None:
    repo = _fake_checkout(tmp_path, [], [])
    utils = repo / "plugins" / "module_utils"
    (utils / "soc2_x509.py").write_text('CHECK_IDS = ("PKI-01", "PKI-02")\n')
    (utils / "soc2_pki_family.py").write_text(
        "from ansible.module_utils.soc2_x509 import CHECK_IDS\n\n__all__ = ['CHECK_IDS']\n"
    )
    assert catalog.emitted(repo) == {
        "PKI-01": ["library/soc2_pki.py"],
        "PKI-02": ["library/soc2_pki.py"],
    }
    (utils / "soc2_pki_family.py").write_text("FAMILY = 'PKI'\n")
    with pytest.raises(catalog.CatalogError, match="no literal CHECK_IDS"):
        catalog.emitted(repo)


def test_coverage_finds_uncatalogued_unemitted_and_wrong_source(tmp_path: Path) -> None:
    repo = _fake_checkout(tmp_path, ["PKI-01", "PKI-09"], ["PKI-07"])
    template = real_checks()[0]
    checks = []
    for cid, source in (
        ("PKI-01", "library/soc2_pki.py"),
        ("PKI-02", "library/soc2_pki.py"),
        ("PKI-07", "library/soc2_pki.py"),
    ):
        entry = copy.deepcopy(template)
        entry["id"], entry["source"] = cid, source
        checks.append(entry)
    problems = catalog.coverage(checks, repo)
    assert any(p.startswith("PKI-09 is emitted") for p in problems)
    assert any(p.startswith("PKI-02 is catalogued but nothing emits it") for p in problems)
    assert any(p.startswith("PKI-07: catalog source") for p in problems)
    assert not any(p.startswith("PKI-01") for p in problems)


def test_real_catalog_matches_the_code() -> None:
    assert catalog.coverage(real_checks()) == []


def test_stale_doc_fails(good: tuple[Path, Path]) -> None:
    cat, doc = good
    checks = yaml.safe_load(cat.read_text())["checks"]
    checks[0]["remediation"] = "A changed remediation."
    write_catalog(cat, checks)
    problems = catalog.check(cat, doc)
    assert problems and "stale" in problems[0]
    assert catalog.main(["check", "--catalog", str(cat), "--doc", str(doc)]) == 1


def test_hand_edited_doc_fails(good: tuple[Path, Path]) -> None:
    cat, doc = good
    doc.write_text(doc.read_text() + "\nA line added by hand.\n")
    assert catalog.check(cat, doc)


def test_missing_doc_fails(good: tuple[Path, Path]) -> None:
    cat, doc = good
    doc.unlink()
    problems = catalog.check(cat, doc)
    assert problems and "missing" in problems[0]


def test_render_cli_writes_the_page(
    good: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cat, doc = good
    assert catalog.main(["render", "--catalog", str(cat)]) == 0
    assert capsys.readouterr().out == doc.read_text()


def test_unreadable_catalog_fails(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.yml"
    bad.write_text("checks: {not: a list}\n")
    assert catalog.check(bad, tmp_path / "controls.md")
    assert catalog.check(tmp_path / "absent.yml", tmp_path / "controls.md")


def test_load_catalog_parses_once_per_content(tmp_path: Path) -> None:
    path = write_catalog(tmp_path / "catalog.yml", copy.deepcopy(real_checks()))
    first = catalog.load_catalog(path)
    assert catalog.load_catalog(path) is first  # a drift run's later loads reuse the parse
    edited = copy.deepcopy(real_checks())
    edited[0]["severity"] = "low" if edited[0]["severity"] != "low" else "high"
    write_catalog(path, edited)  # same path, possibly the same mtime tick
    again = catalog.load_catalog(path)
    assert again is not first
    assert again.by_id[edited[0]["id"]].severity == edited[0]["severity"]


def test_results_has_no_catalog_parser_of_its_own() -> None:
    from soc2audit import results

    assert results.Catalog is catalog.Catalog
    assert not hasattr(results, "parse_catalog") and not hasattr(results, "load_catalog")
