# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The soc2audit command: run a drift check through ansible-runner and report it.

    soc2audit drift [options]        (also: python -m soc2audit drift)
    soc2audit evidence ...           the signed digest chain (soc2audit/evidence_cli.py)
    soc2audit incident|report|sample incidents, the auditor's window export, samples
                                     (soc2audit/audit_cli.py)
    soc2audit uptime ...             Prometheus' up as down intervals in the evidence
                                     (soc2audit/uptime.py)

Exit status: the table in soc2audit/exitcodes.py (printed by --help).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from soc2audit import audit_cli, evidence_cli, uptime
from soc2audit.cliargs import add_dirs
from soc2audit.exitcodes import EXIT_RUN_FAILED, EXIT_USAGE, MEANINGS

DESCRIPTION = """\
Run one drift check: every control family's verifier once per host (one module round trip),
the testinfra checks in controls/ alongside, then merge the results on this control node
(not_run for silent hosts, waivers, at_risk), append them to the evidence trail, write
last_run.jsonl, junit.xml and summary.txt, and publish each host's soc2audit.prom into
node_exporter's textfile directory. Hosts are only read; with --check the metrics files on
the hosts are left alone too (the control node still records the run's evidence and state).
"""


def _exit_table() -> str:
    lines = ["exit status:"]
    for status, meaning in MEANINGS.items():
        wrapped = textwrap.wrap(meaning, width=88)
        lines.append(f"  {status:<3} {wrapped[0]}")
        lines += [f"      {more}" for more in wrapped[1:]]
    return "\n".join(lines) + "\n"


EPILOG = (
    _exit_table()
    + """
examples:
  soc2audit drift                                  # the default inventory of ansible.cfg
  soc2audit drift -i inventory/prod/hosts.yml -l edge --grace 3600
  soc2audit drift --json > run.json                # machine-readable outcome on stdout
"""
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="soc2audit")
    sub = parser.add_subparsers(dest="command", required=True)
    drift = sub.add_parser(
        "drift",
        help="run a drift check and write metrics and evidence",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    drift.add_argument(
        "-i",
        "--inventory",
        action="append",
        metavar="PATH",
        help="inventory file or directory (repeatable); default: the one in ansible.cfg",
    )
    drift.add_argument("-l", "--limit", metavar="PATTERN", help="only these hosts/groups")
    add_dirs(drift)
    drift.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="last_run.jsonl, junit.xml, summary.txt, state.json (default: DIR/.cache/drift)",
    )
    drift.add_argument(
        "--waivers", type=Path, metavar="FILE", help="waivers (default: DIR/controls/waivers.yml)"
    )
    drift.add_argument(
        "--grace",
        type=int,
        metavar="SECONDS",
        help="a failure younger than this is reported as at_risk (default: 0, off)",
    )
    drift.add_argument(
        "--textfile-dir",
        metavar="DIR",
        help="node_exporter textfile directory on the hosts "
        "(default: /var/lib/prometheus/node-exporter, or soc2audit_textfile_dir per host)",
    )
    drift.add_argument(
        "--no-testinfra", action="store_true", help="skip the outside-in checks in controls/"
    )
    drift.add_argument(
        "--check",
        action="store_true",
        help="ansible check mode: leave the hosts' metrics files alone too",
    )
    drift.add_argument("--forks", type=int, metavar="N", help="parallel hosts (ansible.cfg: 50)")
    drift.add_argument(
        "--timeout",
        type=int,
        default=1800,
        metavar="SECONDS",
        help="give up on the whole run after this long (default: %(default)s)",
    )
    drift.add_argument(
        "--artifacts",
        type=Path,
        metavar="DIR",
        help="ansible-runner's private data dir (default: DIR/.cache/runner; 10 runs kept)",
    )
    drift.add_argument("-q", "--quiet", action="store_true", help="no progress, only the summary")
    drift.add_argument(
        "--json",
        action="store_true",
        help="print the outcome as JSON (run_id, counts, exit_code, paths) instead of the table",
    )
    evidence_cli.add_parser(sub)
    audit_cli.add_parsers(sub)
    uptime.add_parser(sub)
    return parser


class Progress:
    """ansible-runner event handler: one line per play, per failure and per finished host."""

    def __init__(self, stream: Any, quiet: bool) -> None:
        self.stream = stream
        self.quiet = quiet
        self.outcome: dict[str, Any] | None = None
        self.failures: list[str] = []
        self.late: list[str] = []
        self.began = time.monotonic()

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.began:6.1f}s] {text}", file=self.stream, flush=True)

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        host = data.get("host", "")
        task = data.get("task", "")
        if kind == "playbook_on_play_start":
            self.say(f"play: {data.get('play', '')}")
        elif kind == "runner_on_ok" and data.get("task_action", "").endswith("soc2audit_results"):
            self.outcome = data.get("res") or {}
            self.say(f"merged run {self.outcome.get('run_id')}")
        elif kind == "runner_on_ok" and data.get("task_action", "").endswith("soc2_verify"):
            res = data.get("res") or {}
            counts = Counter(str(check.get("result", "?")) for check in res.get("checks", []))
            shown = ", ".join(f"{n} {r}" for r, n in sorted(counts.items()))
            self.say(f"{host}: verified {shown}")
        elif kind == "runner_on_unreachable":
            msg = (data.get("res") or {}).get("msg", "")
            self.say(f"{host}: UNREACHABLE ({task}): {msg.strip()[:200]}")
        elif kind == "runner_on_failed" and not data.get("ignore_errors"):
            msg = (data.get("res") or {}).get("msg", "")
            line = f"{host or 'localhost'}: FAILED {task}: {str(msg).strip()[:300]}"
            self.failures.append(line)
            if self.outcome is not None:
                self.late.append(line)
            self.say(line)
        return True


def drift(args: argparse.Namespace) -> int:
    import ansible_runner  # imported here so `--help` works without it

    project = args.project_dir.resolve()
    playbook = project / "playbooks" / "drift_check.yml"
    if not playbook.is_file():
        print(f"soc2audit: {playbook} not found (use --project-dir)", file=sys.stderr)
        return EXIT_USAGE
    output_dir = (args.output_dir or project / ".cache" / "drift").resolve()
    extravars: dict[str, Any] = {"soc2audit_output_dir": str(output_dir)}
    if args.evidence_dir:
        extravars["soc2audit_evidence_dir"] = str(args.evidence_dir.resolve())
    if args.waivers:
        extravars["soc2audit_waivers_file"] = str(args.waivers.resolve())
    if args.grace is not None:
        if args.grace < 0:
            print("soc2audit: --grace must not be negative", file=sys.stderr)
            return EXIT_USAGE
        extravars["soc2audit_grace_seconds"] = args.grace
    if args.textfile_dir:
        extravars["soc2audit_textfile_dir"] = args.textfile_dir
    if args.no_testinfra:
        extravars["soc2audit_testinfra"] = False
    bindir = Path(sys.executable).parent
    envvars = {
        "ANSIBLE_CONFIG": str(project / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        # ansible-runner sets ANSIBLE_CALLBACK_PLUGINS (overriding ansible.cfg); it keeps ours
        # first, so the check-mode drift recorder (plugins/callback) still loads.
        "ANSIBLE_CALLBACK_PLUGINS": str(project / "plugins" / "callback"),
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    private = (args.artifacts or project / ".cache" / "runner").resolve()
    private.mkdir(parents=True, exist_ok=True)
    progress = Progress(sys.stderr, args.quiet)
    kwargs: dict[str, Any] = {
        "private_data_dir": str(private),
        "project_dir": str(project),
        "playbook": str(playbook),
        "extravars": extravars,
        "envvars": envvars,
        "quiet": True,
        "event_handler": progress,
        "rotate_artifacts": 10,
        "timeout": args.timeout,
        "suppress_env_files": True,
    }
    if args.inventory:
        kwargs["inventory"] = [str(Path(i).resolve()) for i in args.inventory]
    if args.limit:
        kwargs["limit"] = args.limit
    if args.forks:
        kwargs["forks"] = args.forks
    if args.check:
        kwargs["cmdline"] = "--check"
    runner = ansible_runner.run(**kwargs)
    outcome = progress.outcome
    if not outcome or "run_id" not in outcome:
        print(
            f"soc2audit: the drift run did not complete (ansible-runner status {runner.status}, "
            f"rc {runner.rc}); artifacts: {private / 'artifacts'}",
            file=sys.stderr,
        )
        for line in progress.failures:
            print(f"  {line}", file=sys.stderr)
        return EXIT_RUN_FAILED
    code = int(outcome.get("exit_code", EXIT_RUN_FAILED))
    # Unreachable hosts are already not_run in the results; anything else that failed after the
    # merge (publishing metrics) means the run is incomplete.
    late = progress.late
    if late and code == 0:
        code = EXIT_RUN_FAILED
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": outcome["run_id"],
                    "counts": outcome.get("counts"),
                    "exit_code": code,
                    "paths": outcome.get("paths"),
                    "failures": late,
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        print(outcome.get("summary", ""))
        for line in late:
            print(f"not completed: {line}")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code not in (0, None) else 0
    # The command line as given, for the reports that state how they were produced.
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.command == "drift":
        return drift(args)
    if args.command == "evidence":
        return evidence_cli.run(args)
    if args.command == "incident":
        return audit_cli.incident(args)
    if args.command == "report":
        return audit_cli.report(args)
    if args.command == "sample":
        return audit_cli.sample(args)
    if args.command == "uptime":
        return uptime.run(args)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
