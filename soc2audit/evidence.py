# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence trail's daily result files (docs/drift.md "Outputs").

Every run appends its full result set, one JSON object per line with sorted keys, to
``<evidence_dir>/results-YYYY-MM-DD.jsonl`` for the UTC day the run started. Files are only ever
appended to (O_APPEND), never rewritten, so the digests signed over them stay verifiable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from soc2audit.fsutil import fsync_dir, parse_utc

DIR_MODE = 0o750
FILE_MODE = 0o640


def evidence_path(evidence_dir: Path | str, started: str | dt.datetime) -> Path:
    """The day file a run that started at ``started`` appends to."""
    day = parse_utc(started).date().isoformat()
    return Path(evidence_dir) / f"results-{day}.jsonl"


def _ensure_dir(directory: Path) -> None:
    if directory.is_dir():
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir(mode=DIR_MODE)
    except FileExistsError:
        return
    os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask
    fsync_dir(directory.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def append_evidence(
    evidence_dir: Path | str, rows: Iterable[Mapping[str, Any]], started: str | dt.datetime
) -> Path:
    """Append ``rows`` as JSON lines to the run's day file, flushed and fsynced; its path.

    A day file whose last line was cut short (a crash mid-write) gets a newline first, so the
    new lines stay parsable and the damaged one stays visible as it was.
    """
    directory = Path(evidence_dir)
    _ensure_dir(directory)
    path = evidence_path(directory, started)
    payload = b"".join(
        json.dumps(dict(row), sort_keys=True, default=str).encode("utf-8") + b"\n" for row in rows
    )
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        if created:
            os.fchmod(fd, FILE_MODE)
        size = os.fstat(fd).st_size
        if size > 0:
            with path.open("rb") as reader:
                reader.seek(size - 1)
                if reader.read(1) != b"\n":
                    payload = b"\n" + payload
        _write_all(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(directory)
    return path
