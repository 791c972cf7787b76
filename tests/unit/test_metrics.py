# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit/metrics.py is the one table of metric names, HELP texts, types and labels."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from soc2audit import metrics

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"^soc2audit_[a-z0-9_]+$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def test_names_labels_and_types_are_valid_and_unique() -> None:
    every = [
        *metrics.SUITE.values(),
        *metrics.OBSERVATIONS.values(),
        *metrics.EVIDENCE_VERIFY.values(),
    ]
    assert len({m.name for m in every}) == len(every)
    for metric in every:
        assert NAME.match(metric.name), metric.name
        assert metric.type == "gauge", metric.name  # the textfile collector's 0.0.4 format
        assert metric.help and "\n" not in metric.help, metric.name
        assert all(LABEL.match(label) and not label.startswith("__") for label in metric.labels)
    assert metrics.all_metrics().keys() | metrics.EVIDENCE_VERIFY.keys() == {m.name for m in every}


def observation_keys(path: Path) -> set[str]:
    """Every literal observation key a family module reports ({"key": ...} or observe("...")."""
    keys: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value == "key"
                    and isinstance(value, ast.Constant)
                ):
                    keys.add(str(value.value))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "observe"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            keys.add(str(node.args[0].value))
    return keys


def test_every_key_the_families_report_is_in_the_table_and_no_family_names_a_metric() -> None:
    reported: set[str] = set()
    utils = REPO / "plugins" / "module_utils"
    # A family's parts in files of their own report too (HOST: soc2_host_<part>.py).
    files = {*utils.glob("soc2_*_family.py"), *utils.glob("soc2_host_*.py")}
    for family in sorted(files):
        source = family.read_text(encoding="utf-8")
        assert '"metric":' not in source and '"help":' not in source, family.name
        reported |= observation_keys(family)
    assert reported == set(metrics.OBSERVATIONS)


def test_docs_list_every_observation_metric() -> None:
    drift = (REPO / "docs" / "drift.md").read_text(encoding="utf-8")
    for metric in metrics.all_metrics().values():
        assert f"`{metric.name}`" in drift, metric.name


def test_docs_list_every_evidence_verify_metric() -> None:
    evidence = (REPO / "docs" / "evidence.md").read_text(encoding="utf-8")
    for name in metrics.EVIDENCE_VERIFY:
        assert f"`{name}`" in evidence, name
