# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""CI helpers: run the molecule scenarios a few at a time, each timed, and keep the durations.

`python -m soc2audit.ci molecule [-j 2] [SCENARIO ...]` runs `molecule test -s SCENARIO` for
every scenario (default: all under molecule/), `-j` at once. Each scenario's output goes to
`.cache/molecule/<scenario>.log`; a failing scenario's log tail is printed. At the end a table
of durations, slowest first, is printed and written to `.cache/molecule/durations.json`.

A scenario with a `requires.yml` runs only when what it names is there: `file_from_env: VAR`
means the environment variable VAR must name an existing file (the fluent_bit scenarios need a
real fluent-bit .deb in SOC2_FLUENT_BIT_DEB). Otherwise it is skipped before molecule starts,
at no cost, and its `reason` is printed and kept in durations.json.

Scenarios never share a container or network name (each platform is named
`${SOC2_LAB_PREFIX}-<scenario tag>-<host>`), so running two at once is safe. The image is the
warm molecule image (`python -m soc2audit.lab image --warm`), which the caller exports as
SOC2_LAB_IMAGE.

`python -m soc2audit.ci integration` (what `make integration` runs) runs the lab tests as two
pytest processes at once: the
tests of the four-host lab (one after the other: they break and repair the same hosts) and the
tests marked `own_containers`, which bring up containers or loopback services of their own
(the bare-Debian prerequisite path, the Debian 13 lab, the kernel audit host, the S3 Object
Lock server) and never touch the lab. The lab
stream's output is shown as it runs; the other stream's goes to
`.cache/integration/own_containers.log` and is printed when both have finished. Either failing
fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from soc2audit import components

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / ".cache" / "molecule"
#: The OPA binary the opa_* scenarios install (molecule/opa_*/requires.yml).
OPA_ENV = "SOC2_OPA_BINARY"
#: The Kafka broker classpath archive the kafka_* scenarios install (molecule/kafka_*/requires.yml).
KAFKA_ENV = "SOC2_KAFKA_ARCHIVE"
_print_lock = threading.Lock()


@dataclass
class Outcome:
    scenario: str
    rc: int
    seconds: float
    log: Path


def scenarios(root: Path = REPO / "molecule") -> list[str]:
    """Every scenario directory (one with a molecule.yml), alternative ones first: they are the
    longer ones, and starting them first keeps both workers busy to the end."""
    found = sorted(p.parent.name for p in root.glob("*/molecule.yml"))
    return sorted(found, key=lambda s: (not s.endswith("_alternative"), s))


def skip_reason(
    scenario: str, environ: Mapping[str, str] | None = None, root: Path = REPO / "molecule"
) -> str | None:
    """Why `scenario` cannot run here (its requires.yml is not met), or None when it can."""
    path = root / scenario / "requires.yml"
    if not path.is_file():
        return None
    env = os.environ if environ is None else environ
    needs = yaml.safe_load(path.read_text()) or {}
    reason = " ".join(str(needs.get("reason", "a requirement is not met")).split())
    var = needs.get("file_from_env")
    if var:
        value = env.get(str(var), "")
        if not value:
            return f"{var} is not set: {reason}"
        if not Path(value).is_file():
            return f"{var}={value} is not a file: {reason}"
    return None


def say(msg: str) -> None:
    with _print_lock:
        print(msg, flush=True)


def run_one(scenario: str, molecule: str) -> Outcome:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{scenario}.log"
    say(f"== molecule {scenario}: started")
    start = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.run(
            [molecule, "test", "-s", scenario],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    took = time.monotonic() - start
    outcome = Outcome(scenario, proc.returncode, took, log)
    if proc.returncode == 0:
        say(f"== molecule {scenario}: ok in {took:.0f}s")
    else:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-120:])
        say(f"== molecule {scenario}: FAILED ({proc.returncode}) in {took:.0f}s\n{tail}")
    return outcome


def run_all(names: list[str], jobs: int, molecule: str) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(lambda s: run_one(s, molecule), names))


def table(outcomes: list[Outcome]) -> str:
    lines = ["--- molecule scenarios (slowest first)"]
    for o in sorted(outcomes, key=lambda o: -o.seconds):
        state = "ok" if o.rc == 0 else f"FAILED ({o.rc})"
        lines.append(f"{o.scenario:<24} {o.seconds:6.0f}s  {state}")
    return "\n".join(lines)


INTEGRATION_LOGS = REPO / ".cache" / "integration"
OWN = "own_containers"


def pytest_argv(marker: str, extra: list[str]) -> list[str]:
    """One stream's pytest command line: the integration tests selected by `marker`."""
    pytest = str(Path(sys.executable).parent / "pytest")
    return [
        pytest,
        "-q",
        "-p",
        "no:cacheprovider",
        "--durations=15",
        "-m",
        marker,
        *extra,
        "tests/integration",
    ]


def integration(extra: list[str]) -> int:
    INTEGRATION_LOGS.mkdir(parents=True, exist_ok=True)
    log = INTEGRATION_LOGS / f"{OWN}.log"
    started = time.monotonic()
    finished: dict[str, float] = {}
    with log.open("w") as out:
        own = subprocess.Popen(
            pytest_argv(OWN, extra),
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

        def wait_own() -> None:
            own.wait()
            finished[OWN] = time.monotonic() - started

        waiter = threading.Thread(target=wait_own, daemon=True)
        waiter.start()
        say(f"== integration: lab tests here; {OWN} tests beside them (log: {log})")
        try:
            lab_rc = subprocess.run(
                pytest_argv(f"not {OWN}", extra), cwd=REPO, stdin=subprocess.DEVNULL, check=False
            ).returncode
        except BaseException:
            own.terminate()
            raise
        finally:
            finished["lab"] = time.monotonic() - started
            waiter.join()
    # pytest exits 5 when a selection is empty: not a failure of the run.
    own_rc = 0 if own.returncode == 5 else own.returncode
    say(f"== integration, {OWN} tests (exit {own_rc}):\n{log.read_text(errors='replace')}")
    say("--- integration streams (seconds from the start)")
    say(f"{'lab':<16} {finished['lab']:6.0f}s  exit {lab_rc}")
    say(f"{OWN:<16} {finished[OWN]:6.0f}s  exit {own_rc}")
    return lab_rc or own_rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soc2audit-ci", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_mol = sub.add_parser("molecule", help="run molecule scenarios, -j at a time")
    p_mol.add_argument("scenario", nargs="*", help="default: every scenario under molecule/")
    p_mol.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("SOC2_CI_JOBS", 2)))
    p_int = sub.add_parser("integration", help="the lab tests, own-container tests beside them")
    p_int.add_argument("pytest_args", nargs="*", help="extra pytest arguments for both streams")
    args = parser.parse_args(argv)
    if args.cmd == "integration":
        return integration(args.pytest_args)
    if not os.environ.get("SOC2_LAB_IMAGE"):
        print("SOC2_LAB_IMAGE is not set (make molecule sets it)", file=sys.stderr)
        return 64
    known = scenarios()
    names = args.scenario or known
    unknown = [s for s in names if s not in known]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(known)}")
        return 64
    if any(s.startswith("opa_") for s in names) and not os.environ.get(OPA_ENV):
        # The opa scenarios install the OPA binary built with `go install` (cached per machine);
        # where it cannot be had, their requires.yml skips them with the reason.
        try:
            os.environ[OPA_ENV] = str(components.ensure("opa"))
        except components.ComponentError as exc:
            say(f"== no OPA binary for the opa scenarios: {exc}")
    if any(s.startswith("kafka_") for s in names) and not os.environ.get(KAFKA_ENV):
        # The kafka scenarios install the broker classpath resolved from Maven Central (cached
        # per machine); where Maven cannot have it, their requires.yml skips them with the reason.
        try:
            os.environ[KAFKA_ENV] = str(components.kafka_archive())
        except components.ComponentError as exc:
            say(f"== no Kafka classpath for the kafka scenarios: {exc}")
    skipped = {s: r for s in names if (r := skip_reason(s)) is not None}
    for scenario, reason in skipped.items():
        say(f"== molecule {scenario}: skipped ({reason})")
    molecule = str(Path(sys.executable).parent / "molecule")
    started = time.monotonic()
    outcomes = run_all([s for s in names if s not in skipped], args.jobs, molecule)
    total = time.monotonic() - started
    print(table(outcomes))
    for scenario in skipped:
        print(f"{scenario:<24} {'-':>6}   skipped")
    print(f"{'wall clock':<24} {total:6.0f}s  ({args.jobs} at a time)")
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / "durations.json").write_text(
        json.dumps(
            {
                "jobs": args.jobs,
                "wall_seconds": round(total, 1),
                "scenarios": {o.scenario: round(o.seconds, 1) for o in outcomes},
                "failed": [o.scenario for o in outcomes if o.rc != 0],
                "skipped": skipped,
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if all(o.rc == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
