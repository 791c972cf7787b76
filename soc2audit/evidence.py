# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence trail's daily result files (docs/drift.md "Outputs").

Every run appends its full result set, one JSON object per line with sorted keys, to
``<evidence_dir>/results-YYYY-MM-DD.jsonl`` for the UTC day the run started. Files are only ever
appended to (O_APPEND, ``soc2audit.fsutil.append_durable``), never rewritten, so the digests
signed over them stay verifiable. The check-mode drift callback
(plugins/callback/soc2audit_drift.py) appends its ``config-drift-YYYY-MM-DD.jsonl`` files the
same way, with the same modes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from soc2audit.fsutil import append_durable, ensure_dir, parse_utc

DIR_MODE = 0o750
FILE_MODE = 0o640
#: Day files of the drift runs' result sets; the check-mode callback uses ``config-drift``.
RESULTS_PREFIX = "results"
#: The day files of the alert notifications (soc2audit/alert_receiver.py on the monitor,
#: soc2audit/alert_import.py on the control node) and of the incidents (soc2audit/incidents.py).
ALERTS_PREFIX = "alerts"
INCIDENTS_PREFIX = "incidents"


def jsonl(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """JSON lines as the evidence files hold them: one object per line, keys sorted."""
    return b"".join(
        json.dumps(dict(row), sort_keys=True, default=str).encode("utf-8") + b"\n" for row in rows
    )


def evidence_path(
    evidence_dir: Path | str, started: str | dt.datetime, prefix: str = RESULTS_PREFIX
) -> Path:
    """The day file (``<prefix>-YYYY-MM-DD.jsonl``) a run that started at ``started`` appends to."""
    day = parse_utc(started).date().isoformat()
    return Path(evidence_dir) / f"{prefix}-{day}.jsonl"


def append_evidence(
    evidence_dir: Path | str,
    rows: Iterable[Mapping[str, Any]],
    started: str | dt.datetime,
    prefix: str = RESULTS_PREFIX,
) -> Path:
    """Append ``rows`` as JSON lines to the run's day file, flushed and fsynced; its path.

    The directory is created 0750 and a new day file is 0640. A day file whose last line was cut
    short (a crash mid-write) gets a newline first, so the new lines stay parsable and the
    damaged one stays visible as it was.
    """
    directory = ensure_dir(evidence_dir, DIR_MODE)
    return append_durable(evidence_path(directory, started, prefix), jsonl(rows), FILE_MODE)


@contextlib.contextmanager
def evidence_lock(evidence_dir: Path | str, name: str) -> Iterator[None]:
    """Hold the exclusive lock file ``<evidence_dir>/<name>`` (a dot name, which the chain and
    the globs skip): for a writer that reads what the trail already holds before appending, so
    two runs at once record a line once (``soc2audit.alert_import``, ``soc2audit.uptime``)."""
    fd = os.open(Path(evidence_dir) / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
