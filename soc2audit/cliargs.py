# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Command-line pieces shared by ``soc2audit evidence``, ``incident``, ``report`` and ``sample``:
the date and time arguments, the checkout and evidence directory options, and where the evidence
signing key is (docs/evidence.md, Commands)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path

from soc2audit.fsutil import parse_moment

REPO = Path(__file__).resolve().parent.parent
#: The signing key's default place: in the checkout, outside evidence/, never committed.
DEFAULT_KEY = Path(".evidence-key") / "evidence-ed25519.pem"
KEY_ENV = "SOC2AUDIT_EVIDENCE_KEY"


def moment(text: str) -> dt.datetime:
    """``--from``: YYYY-MM-DD (the day's start) or an ISO 8601 time."""
    try:
        return parse_moment(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO 8601 time: {text!r}") from None


def end_moment(text: str) -> dt.datetime:
    """``--to``: YYYY-MM-DD (that day included: the next day's start) or an ISO 8601 time."""
    try:
        return parse_moment(text, end_of_day=True)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO 8601 time: {text!r}") from None


def day(text: str) -> dt.date:
    """A whole day, YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def add_dirs(parser: argparse.ArgumentParser) -> None:
    """``--project-dir`` and ``--evidence-dir``."""
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=REPO,
        metavar="DIR",
        help="checkout of soc2-audit-metrics (default: %(default)s)",
    )
    parser.add_argument(
        "--evidence-dir", type=Path, metavar="DIR", help="evidence trail (default: DIR/evidence)"
    )


def signing_key(given: Path | None, project: Path) -> Path:
    """The evidence key: ``given``, else ``$SOC2AUDIT_EVIDENCE_KEY``, else DIR/.evidence-key/."""
    key = given or (Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else None)
    return (key or project / DEFAULT_KEY).resolve()
