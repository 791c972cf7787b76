# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The exit statuses of the soc2audit commands, in one table.

``soc2audit drift``, ``python -m soc2audit.summary`` and the ``exit_code`` the drift run's merge
returns (``soc2audit.results.exit_code``) all use these values; docs/drift.md and the CLI's
``--help`` describe them. ``soc2audit evidence`` uses 0, 3, 10-17 and 64 (EVIDENCE_MEANINGS,
docs/evidence.md).
"""

from __future__ import annotations

EXIT_OK = 0
"""Every result is pass, waived or not_applicable."""
EXIT_FAILING = 1
"""At least one control fails: fail or at_risk (a failure whose waiver expired stays fail)."""
EXIT_INCOMPLETE = 2
"""No failure, but some check is error or not_run: the run could not prove everything."""
EXIT_RUN_FAILED = 3
"""The run itself did not complete: no result set was merged, or its metrics were not published."""
EXIT_USAGE = 64
"""Bad command line (EX_USAGE of sysexits.h)."""

# ``soc2audit evidence verify`` (docs/evidence.md): one status per outcome class. When findings
# of several classes are present, the lowest status wins (the classes are in order of gravity).
EXIT_EVIDENCE_SIGNATURE = 10
"""A digest's signature does not verify, or its key is unknown or was never announced."""
EXIT_EVIDENCE_ALTERED = 11
"""Evidence content differs from the chain: altered bytes, a truncated or missing file."""
EXIT_EVIDENCE_ANCHOR = 12
"""The chain disagrees with its external anchors: its tail was cut off, the anchored digest
changed, or an RFC 3161 timestamp token is missing or does not verify."""
EXIT_EVIDENCE_CHAIN = 13
"""The chain itself is broken: a missing (or overdue), reordered, unlinked or malformed digest."""
EXIT_EVIDENCE_UNREFERENCED = 14
"""Evidence files or bytes that no digest references."""
EXIT_EVIDENCE_NO_CHAIN = 15
"""Nothing to verify or sign with: no digest yet, or (``evidence digest``) no signing key."""
EXIT_EVIDENCE_PRUNE_REFUSED = 16
"""``evidence prune`` removed nothing: inside the retention, not anchored, or (with the S3
store) no locked copy of the file in the write-once store."""
EXIT_EVIDENCE_STORE_CONFLICT = 17
"""``evidence upload``: a key already holds a different object (other bytes, or not locked in
COMPLIANCE mode); it was not overwritten."""

#: status -> one line for --help and the docs, in order.
MEANINGS: dict[int, str] = {
    EXIT_OK: "every result is pass, waived or not_applicable",
    EXIT_FAILING: "at least one control fails (fail, at_risk, or a failure whose waiver expired)",
    EXIT_INCOMPLETE: "no failure, but some checks could not be evaluated (error, not_run)",
    EXIT_RUN_FAILED: (
        "the run did not complete: ansible-runner or the playbook failed before the merge "
        "(bad waivers file, missing catalog, ...), or every control passed but a host's "
        "metrics file could not be written"
    ),
    EXIT_USAGE: "bad command line",
}

#: ``soc2audit evidence`` statuses -> one line for --help and docs/evidence.md, in order.
EVIDENCE_MEANINGS: dict[int, str] = {
    EXIT_OK: "verify: the chain and every evidence file verified; digest/keygen/...: done",
    EXIT_RUN_FAILED: "digest, rotate-key, anchor, upload: could not write, anchor or copy; "
    "verify, prune: the bucket could not be read (the message says why)",
    EXIT_EVIDENCE_SIGNATURE: "bad signature, unknown key, or a key change that was not announced",
    EXIT_EVIDENCE_ALTERED: "evidence altered: changed bytes, a truncated or a missing file",
    EXIT_EVIDENCE_ANCHOR: "the chain head is older than the anchored head, the anchored "
    "digest changed, or an RFC 3161 timestamp token is missing or does not verify",
    EXIT_EVIDENCE_CHAIN: "a digest is missing (a gap, or overdue), reordered, unlinked or "
    "malformed",
    EXIT_EVIDENCE_UNREFERENCED: "evidence files or bytes that no digest references",
    EXIT_EVIDENCE_NO_CHAIN: "no digest to verify yet, or no signing key (run keygen)",
    EXIT_EVIDENCE_PRUNE_REFUSED: "prune: nothing removed, a file is inside the retention, "
    "not anchored, or (with the S3 store) has no locked copy there",
    EXIT_EVIDENCE_STORE_CONFLICT: "upload: a file's key in the store already holds a different "
    "or unlocked object (not overwritten)",
    EXIT_USAGE: "bad command line",
}
