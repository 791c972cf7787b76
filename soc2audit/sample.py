# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A reproducible sample of (host, day) items for one check (docs/evidence.md "Sample").

The frame is every distinct (host, day) with at least one row of the check in the window's
population (``soc2audit.window.population``), or in a package's ``population.jsonl``. It is
sorted (day, then host) before drawing, so the sample depends only on the frame, ``n`` and the
seed: ``random.Random(seed).sample(frame, n)`` (Python's Mersenne Twister, stable across
versions for ``sample`` on a list). Each item comes with every evidence row of the check for
that host and day, so the auditor can inspect (and re-perform) it.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soc2audit.window import Window, population


@dataclass
class Item:
    host: str
    day: str
    rows: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        results: dict[str, int] = {}
        for row in self.rows:
            results[str(row.get("result"))] = results.get(str(row.get("result")), 0) + 1
        return {"host": self.host, "day": self.day, "results": results, "rows": self.rows}


def rows_from_evidence(
    evidence_dir: Path | str, window: Window
) -> Iterator[tuple[str, dict[str, Any]]]:
    for line, row in population(evidence_dir, window):
        yield line.day.isoformat(), row


def rows_from_population(
    path: Path | str, window: Window | None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a package's population.jsonl; the day is the UTC day of the row's ``started``
    unless the row says otherwise (the file day is not in the row)."""
    with Path(path).open("rb") as handle:
        for raw in handle:
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            day = str(row.get("started", ""))[:10]
            try:
                date = dt.date.fromisoformat(day)
            except ValueError:
                continue
            if window is not None and not (
                window.since <= date <= window.until and window.in_scope(str(row.get("host")))
            ):
                continue
            yield day, row


def draw(
    rows: Iterable[tuple[str, dict[str, Any]]], check_id: str, n: int, seed: int | str
) -> tuple[list[Item], int]:
    """(the sample in draw order, the size of the frame)."""
    if n <= 0:
        raise ValueError("n must be positive")
    frame: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for day, row in rows:
        if row.get("check_id") == check_id:
            frame.setdefault((day, str(row.get("host"))), []).append(row)
    keys = sorted(frame)
    chosen = random.Random(str(seed)).sample(keys, min(n, len(keys)))
    return [Item(host=host, day=day, rows=frame[(day, host)]) for day, host in chosen], len(keys)
