# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The end of ``make lab``: verify the lab's evidence chain and print the command that exports
the lab's report (docs/evidence.md, The lab's trail).

    python -m soc2audit.lab_evidence [--project-dir DIR] [--evidence-dir DIR]

Runs ``soc2audit evidence verify --allow-pending`` on the evidence directory (the lines the last
drift runs appended after the newest digest wait for the next one; they are errors again once
that digest is overdue), prints its findings and outcome, then the ``soc2audit report`` command
for the days the evidence covers. Exits with verify's status (0: verified).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from soc2audit.chain_verify import verify
from soc2audit.cliargs import add_dirs
from soc2audit.exitcodes import EVIDENCE_MEANINGS
from soc2audit.window import day_files


def report_command(project: Path, evidence: Path) -> list[str] | None:
    """``soc2audit report`` for every day with a results file (None when there is none)."""
    days = [day for day, _ in day_files(evidence)]
    if not days:
        return None
    command = ["soc2audit", "report", "--from", str(days[0]), "--to", str(days[-1])]
    if evidence != project / "evidence":
        command += ["--evidence-dir", str(evidence)]
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_dirs(parser)
    args = parser.parse_args(argv)
    project = args.project_dir.resolve()
    evidence = (args.evidence_dir or project / "evidence").resolve()
    report = verify(evidence, allow_pending=True)
    for finding in report.findings:
        print(f"  {finding.text()}")
    pending = sum(1 for f in report.findings if f.severity != "error")
    wait = f", {pending} file(s) with lines waiting for the next digest" if pending else ""
    if report.ok:
        print(
            f"evidence chain verified: {report.digests} digest(s), {report.files} file(s), "
            f"{report.duration_seconds:.2f} s{wait}"
        )
    else:
        print(
            f"evidence chain NOT verified (exit status {report.exit_code}: "
            f"{EVIDENCE_MEANINGS[report.exit_code]}); `soc2audit evidence verify` names each "
            "finding",
            file=sys.stderr,
        )
    command = report_command(project, evidence)
    if command:
        print("export the lab's report for the auditor (report.html, population, manifest):")
        print(f"  {shlex.join(command)}")
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
