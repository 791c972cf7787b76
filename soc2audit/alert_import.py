# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Alert records from the monitors into the control node's evidence trail (docs/drift.md
"Alert records").

The evidence receiver (``soc2audit/alert_receiver.py``) runs on each monitor and appends every
Alertmanager notification, firing and resolved, to the monitor's own
``alerts-YYYY-MM-DD.jsonl``. The signed digest chain (``soc2audit/chain.py``) covers the control
node's evidence directory, so every drift run brings the new lines over in its one module round
trip per host and appends them here:

1. :func:`cursor` (the ``soc2audit_alert_cursor`` lookup, run by playbooks/drift_check.yml for
   each monitor) says, per file of that monitor, where the last imported line ended;
2. the MON verifier on the monitor returns the complete lines past it
   (``plugins/module_utils/soc2_mon_prometheus.py`` ``read_alert_lines``, at most 1 MiB per run,
   the rest in the next run);
3. :func:`import_alerts` (called by ``soc2audit.pipeline.process_run``) appends them, with
   ``soc2audit.evidence.append_evidence`` (the trail's one writer), to the control node's
   ``alerts-YYYY-MM-DD.jsonl`` of the day of the import, before the run's digests are written.

Each imported line is the receiver's JSON object plus ``imported``: ``{host, file, offset, end,
sha256, at}`` (the monitor, its day file, the line's byte range there and its SHA-256). The
cursor is read back from those fields, so nothing is kept beside the evidence: a run that
died before its append imports the lines again, and :func:`import_alerts` drops every line whose
``(host, file, offset, sha256)`` is already in the evidence (under a lock, so two runs at once
import a line once). A line that is not JSON (cut short on the monitor) is imported as
``{"record": "alert_notification_unparsable", "text"}``: nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from soc2audit.evidence import ALERTS_PREFIX, DIR_MODE, append_evidence, evidence_lock
from soc2audit.fsutil import ensure_dir, iso_utc

IMPORTED = "imported"
UNPARSABLE = "alert_notification_unparsable"
LOCK = ".alerts-import.lock"

Key = tuple[str, str, int, str]


def _imported(evidence_dir: Path) -> Iterator[dict[str, Any]]:
    """The ``imported`` field of every imported line, in evidence order (day files by name)."""
    if not evidence_dir.is_dir():
        return
    for path in sorted(evidence_dir.glob(f"{ALERTS_PREFIX}-*.jsonl")):
        with path.open("rb") as fh:
            for raw in fh:
                if b'"imported"' not in raw:
                    continue
                try:
                    row = json.loads(raw)
                except ValueError:
                    continue
                source = row.get(IMPORTED) if isinstance(row, dict) else None
                if isinstance(source, dict):
                    yield source


def _key(source: Mapping[str, Any]) -> Key:
    return (
        str(source.get("host")),
        str(source.get("file")),
        int(source.get("offset", -1)),
        str(source.get("sha256")),
    )


def cursor(evidence_dir: Path | str, host: str) -> dict[str, Any]:
    """Per day file of ``host``'s receiver, where the last line imported from it ended:
    ``{"files": {name: {"end", "last_offset", "sha256"}}}`` (the MON verifier's
    ``alerts_cursor``)."""
    files: dict[str, dict[str, Any]] = {}
    for source in _imported(Path(evidence_dir)):
        if source.get("host") != host:
            continue
        try:
            files[str(source["file"])] = {
                "end": int(source["end"]),
                "last_offset": int(source["offset"]),
                "sha256": str(source["sha256"]),
            }
        except (KeyError, TypeError, ValueError):
            continue
    return {"files": files}


def _row(host: str, line: Mapping[str, Any], at: str) -> dict[str, Any]:
    text = str(line.get("text", ""))
    try:
        row = json.loads(text)
    except ValueError:
        row = None
    if not isinstance(row, dict):
        row = {"record": UNPARSABLE, "text": text}
    row[IMPORTED] = {
        "host": host,
        "file": str(line["file"]),
        "offset": int(line["offset"]),
        "end": int(line["end"]),
        "sha256": str(line["sha256"]),
        "at": at,
    }
    return row


def import_alerts(
    evidence_dir: Path | str,
    host_alerts: Mapping[str, Mapping[str, Any] | None],
    now: dt.datetime | None = None,
) -> tuple[Path | None, int, list[str]]:
    """Append the monitors' new alert lines (``{host: read_alert_lines result}``) to today's
    ``alerts-`` file: (its path or None, lines appended, warnings). Lines already imported are
    dropped; a host's read error, notes and unread rest are warnings."""
    moment = now or dt.datetime.now(dt.UTC)
    at = iso_utc(moment)
    warnings: list[str] = []
    pending: list[tuple[str, Mapping[str, Any]]] = []
    for host in sorted(host_alerts):
        batch = host_alerts[host]
        if not isinstance(batch, Mapping):
            continue
        if batch.get("error"):
            warnings.append(f"alert records of {host} not read: {batch['error']}")
        warnings.extend(f"alert records of {host}: {note}" for note in batch.get("notes") or [])
        if batch.get("more"):
            warnings.append(
                f"alert records of {host}: more than one run's share, the rest next run"
            )
        lines: Sequence[Any] = batch.get("lines") or []
        pending.extend((host, line) for line in lines if isinstance(line, Mapping))
    if not pending:
        return None, 0, warnings
    directory = ensure_dir(evidence_dir, DIR_MODE)
    with evidence_lock(directory, LOCK):
        seen = {_key(source) for source in _imported(directory)}
        rows = []
        for host, line in pending:
            row = _row(host, line, at)
            key = _key(row[IMPORTED])
            if key in seen:
                continue
            seen.add(key)
            rows.append(row)
        if not rows:
            return None, 0, warnings
        return append_evidence(directory, rows, moment, prefix=ALERTS_PREFIX), len(rows), warnings
