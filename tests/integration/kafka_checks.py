# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the Kafka pipeline tests share on the control node (test_88 on one loopback broker,
test_89 on the three-broker lab): the numbered test events, counting them in the write-once
store, the exactly-once verdict and polling. The client side inside the containers is
kafka_tool.py."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

#: The text of numbered event ``n`` from ``host``; EVENT_RE finds it in a stored record's raw.
EVENT_TEXT = "soc2-kafka-test host={host} n={n}"
EVENT_RE = re.compile(r"soc2-kafka-test host=(\S+) n=(\d+)$")


def event_of(text: str) -> tuple[str, int] | None:
    """(host, n) of a numbered test event, or None."""
    match = EVENT_RE.search(text.rstrip())
    return (match.group(1), int(match.group(2))) if match else None


def count_records(lines: Iterable[str]) -> Counter[tuple[str, int]]:
    """(host, n) of every stored record (the store's JSON lines), counted: a duplicate shows
    as 2. Lines that are not test events are ignored."""
    seen: Counter[tuple[str, int]] = Counter()
    for line in lines:
        if not line.strip():
            continue
        event = event_of(json.loads(line)["raw"])
        if event:
            seen[event] += 1
    return seen


def verdict(seen: Counter[tuple[str, int]], expected: set[tuple[str, int]]) -> dict[str, Any]:
    """Exactly once: every expected event stored, none twice, nothing unexpected."""
    lost = expected - set(seen)
    duplicates = {k: v for k, v in seen.items() if v > 1}
    return {
        "stored": sum(seen[k] for k in expected),
        "lost": sorted(lost),
        "duplicates": sorted(duplicates.items()),
        "unexpected": sorted(set(seen) - expected),
    }
