# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The exit statuses of the soc2audit commands, in one table.

``soc2audit drift``, ``python -m soc2audit.summary`` and the ``exit_code`` the drift run's merge
returns (``soc2audit.results.exit_code``) all use these values; docs/drift.md and the CLI's
``--help`` describe them.
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
