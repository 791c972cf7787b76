# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small file-system helpers shared by the results pipeline and the drift callback: atomic
replace, durable append, private directories, UTC timestamps."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path | str, data: bytes | str, mode: int = 0o640) -> Path:
    """Replace ``path`` with ``data``: temp file in the same directory, fsync, then os.replace.

    Readers see either the old file or the new one, never a partial write. The temporary name
    starts with a dot and ends in ``.tmp`` so globs such as ``*.prom`` or ``*.jsonl`` skip it.
    """
    target = Path(path)
    if target.exists() and not target.is_file():
        # os.replace would put a regular file where a device or directory was: renaming over
        # /dev/null as root once replaced the machine's null device.
        raise ValueError(f"{target} exists and is not a regular file; refusing to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    return target


def fsync_dir(directory: Path | str) -> None:
    """Make a rename or a new directory entry durable (best effort where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_dir(directory: Path | str, mode: int) -> Path:
    """Create ``directory`` (and its parents) when missing; the directory itself gets ``mode``
    whatever the umask, and its new entry is made durable. An existing directory is left as is."""
    path = Path(directory)
    if path.is_dir():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=mode)
    except FileExistsError:
        return path
    os.chmod(path, mode)  # mkdir's mode is filtered by the umask
    fsync_dir(path.parent)
    return path


def append_durable(path: Path | str, data: bytes, mode: int = 0o640) -> Path:
    """Append ``data`` to ``path`` under an exclusive lock, then fsync; a new file gets ``mode``.

    The file is only ever appended to (O_APPEND), never rewritten. A file whose last line was cut
    short (a crash mid-write) gets a newline first, so the new lines stay parsable and the
    damaged one stays visible as it was. The directory must exist (see ``ensure_dir``).
    """
    target = Path(path)
    created = not target.exists()
    fd = os.open(target, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if created:
            os.fchmod(fd, mode)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(target.parent)
    return target


def parse_utc(value: str | dt.datetime) -> dt.datetime:
    """An aware UTC datetime from an ISO 8601 string (``Z`` accepted; naive means UTC)."""
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def parse_moment(value: str | dt.date, end_of_day: bool = False) -> dt.datetime:
    """A date ``YYYY-MM-DD`` (its start, or with ``end_of_day`` the next day's start: a date as
    the end of a window includes that day) or an ISO 8601 time, as an aware UTC datetime.

    The one reading of the commands' ``--from``/``--to`` and of the incidents' ``from``/``to``.
    """
    if isinstance(value, dt.datetime):
        return parse_utc(value)
    day: dt.date | None = value if isinstance(value, dt.date) else None
    if day is None:
        text = str(value).strip()
        try:
            day = dt.date.fromisoformat(text) if len(text) == 10 else None
        except ValueError:
            day = None
        if day is None:
            return parse_utc(text)
    moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return moment + dt.timedelta(days=1) if end_of_day else moment


def iso_utc(moment: dt.datetime) -> str:
    """``2026-01-15T12:00:00Z`` style text (microseconds kept when present)."""
    text = moment.astimezone(dt.UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"
