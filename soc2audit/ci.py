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

`python -m soc2audit.ci all` (what `make test` runs after lint and unit) does both at once: the
lab stream runs as above, and beside it a pool of `-j` workers (default 2) takes the side jobs,
every molecule scenario and every own-containers test file, longest first (by the seconds kept in
`.ci/job-seconds.json`, refreshed from `.cache/ci/jobs.json` after a run). The lab stream is a
chain of tests that wait on daemons much of the time (timers, alert evaluation, rollbacks); the
side jobs fill those waits. Each side job writes its own log (`.cache/molecule/<scenario>.log`,
`.cache/integration/<file>.log`); a failing one's tail is printed when it ends, and a table of
every job and stream is printed and kept in `.cache/ci/jobs.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml

from soc2audit import components
from soc2audit.lab import container_cpu_files, cpu_seconds

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / ".cache" / "molecule"
#: molecule's ephemeral directory of each scenario run by this module (fresh for every run).
STATES = REPO / ".cache" / "molecule-state"
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
    #: CPU seconds of the job's process tree (control node; with the nsenter connection also
    #: the modules it runs in the containers) and of its containers' own processes (daemons;
    #: with SSH also the modules), where known.
    cpu: float | None = None
    container_cpu: float | None = None


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


@dataclass(frozen=True)
class Job:
    """One side job of `all`: a molecule scenario or an own-containers test file."""

    name: str
    argv: tuple[str, ...]
    log: Path
    kind: str  # "molecule" or "pytest"
    #: Extra environment of the job (a molecule scenario's own ephemeral directory).
    env: tuple[tuple[str, str], ...] = ()
    #: Containers and networks removed before and after the job (a molecule scenario's).
    containers: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()


_INTERPOLATE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def interpolate(text: str, environ: Mapping[str, str] | None = None) -> str:
    """molecule's ${VAR} and ${VAR:-default} in a molecule.yml value."""
    env = os.environ if environ is None else environ
    return _INTERPOLATE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


def platforms(
    scenario: str, environ: Mapping[str, str] | None = None, root: Path = REPO / "molecule"
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(container names, network names) of a scenario's platforms, as molecule names them."""
    doc = yaml.safe_load((root / scenario / "molecule.yml").read_text()) or {}
    names: list[str] = []
    nets: list[str] = []
    for platform in doc.get("platforms") or []:
        names.append(interpolate(str(platform["name"]), environ))
        if platform.get("network"):
            net = interpolate(str(platform["network"]), environ)
            if net not in nets:
                nets.append(net)
    return tuple(names), tuple(nets)


def remove(containers: tuple[str, ...], networks: tuple[str, ...]) -> None:
    """Remove a job's containers at once (SIGKILL: they are disposable) and then its networks;
    what does not exist is no error."""
    if containers:
        subprocess.run(
            ["podman", "rm", "--force", "--ignore", "--time", "0", *containers],
            capture_output=True,
            check=False,
        )
    for net in networks:
        subprocess.run(
            ["podman", "network", "rm", "--force", net], capture_output=True, check=False
        )


def run_logged(
    argv: list[str], env: Mapping[str, str], out: IO[str], start: float
) -> tuple[int, float]:
    """Run `argv` with each line of its output written to `out` behind the seconds since
    `start` ("[  12.3] ..."), so a job's log shows where its time went (molecule's steps, each
    playbook's tasks). Returns the exit code and the CPU seconds of the process and every
    descendant it waited for (os.wait4)."""
    proc = subprocess.Popen(
        argv,
        cwd=REPO,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        out.write(f"[{time.monotonic() - start:7.1f}] {line}")
    out.flush()
    return wait_with_cpu(proc)


def wait_with_cpu(proc: subprocess.Popen[Any]) -> tuple[int, float]:
    """Wait for ``proc`` (os.wait4): its exit code, also set on ``proc``, and the CPU seconds
    of the process and every descendant it waited for."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def container_cpu(names: tuple[str, ...]) -> float | None:
    """CPU seconds the named running containers have used (soc2audit.lab's cgroup reader);
    None when none of them is there."""
    if not names:
        return None
    files = container_cpu_files(names)
    return round(cpu_seconds(files), 1) if files else None


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the machine since boot (/proc/stat), to give a stream's
    share of the machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle) / hz, sum(fields) / hz


def cpu_text(outcome: Outcome) -> str:
    """ ", CPU 120s (containers 40s)": what a job cost the machine, for its line and the table."""
    text = f", CPU {outcome.cpu:.0f}s" if outcome.cpu is not None else ""
    if outcome.container_cpu is not None:
        text += f" (containers {outcome.container_cpu:.0f}s)"
    return text


def run_job(job: Job) -> Outcome:
    """Run one job with its output in its log; print its start, its end and, when it fails, the
    tail of its log."""
    job.log.parent.mkdir(parents=True, exist_ok=True)
    say(f"== {job.kind} {job.name}: started")
    start = time.monotonic()
    env = dict(os.environ, **dict(job.env))
    ephemeral = env.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if ephemeral:
        # A fresh state for molecule (nothing "created" from an earlier run).
        shutil.rmtree(ephemeral, ignore_errors=True)
        Path(ephemeral).mkdir(parents=True)
    remove(job.containers, job.networks)
    cpu: float | None = None
    in_containers: float | None = None
    try:
        with job.log.open("w") as out:
            returncode, cpu = run_logged(list(job.argv), env, out, start)
        in_containers = container_cpu(job.containers)
    finally:
        remove(job.containers, job.networks)
    took = time.monotonic() - start
    # pytest exits 5 when a selection is empty: not a failure of the run.
    rc = 0 if job.kind == "pytest" and returncode == 5 else returncode
    outcome = Outcome(job.name, rc, took, job.log, cpu, in_containers)
    if rc == 0:
        say(f"== {job.kind} {job.name}: ok in {took:.0f}s{cpu_text(outcome)}")
    else:
        tail = "\n".join(job.log.read_text(errors="replace").splitlines()[-120:])
        say(f"== {job.kind} {job.name}: FAILED ({rc}) in {took:.0f}s\n{tail}")
    return outcome


def molecule_job(scenario: str, molecule: str) -> Job:
    """`molecule test` without its two destroy steps (about 11 s each: an ansible-playbook
    start and a graceful stop of every container): the job removes the scenario's containers
    and networks itself, before and after, and gives molecule a fresh ephemeral directory,
    which also holds the scenario's fact cache (facts gathered once, not at every step).
    `molecule test -s X` by hand keeps molecule's own destroy and gathers at every step."""
    containers, networks = platforms(scenario)
    return Job(
        scenario,
        (molecule, "test", "-s", scenario, "--destroy", "never"),
        LOGS / f"{scenario}.log",
        "molecule",
        env=(
            ("MOLECULE_EPHEMERAL_DIRECTORY", str(STATES / scenario)),
            # Facts gathered once per scenario (by prepare or converge) and reused by the later
            # steps, as the lab's ansible.cfg does between its runs: the cache lives in the
            # fresh ephemeral directory, so it never outlives the scenario's containers.
            ("ANSIBLE_GATHERING", "smart"),
            ("ANSIBLE_CACHE_PLUGIN", "ansible.builtin.jsonfile"),
            ("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(STATES / scenario / "facts")),
            ("ANSIBLE_CACHE_PLUGIN_TIMEOUT", "7200"),
        ),
        containers=containers,
        networks=networks,
    )


def run_all(names: list[str], jobs: int, molecule: str) -> list[Outcome]:
    return run_all_jobs([molecule_job(s, molecule) for s in names], jobs)


def table(outcomes: list[Outcome]) -> str:
    lines = ["--- molecule scenarios (slowest first)"]
    for o in sorted(outcomes, key=lambda o: -o.seconds):
        state = "ok" if o.rc == 0 else f"FAILED ({o.rc})"
        lines.append(f"{o.scenario:<24} {o.seconds:6.0f}s  {state}")
    return "\n".join(lines)


INTEGRATION_LOGS = REPO / ".cache" / "integration"
OWN = "own_containers"


def pytest_argv(
    marker: str, extra: list[str], paths: tuple[str, ...] = ("tests/integration",)
) -> list[str]:
    """One stream's pytest command line: the integration tests selected by `marker`."""
    pytest = str(Path(sys.executable).parent / "pytest")
    return [
        pytest,
        "-q",
        "-p",
        "no:cacheprovider",
        "--durations=40",
        "-m",
        marker,
        *extra,
        *paths,
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


def prepare(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """The scenarios of `names` that can run here, and why each other one cannot. Provides the
    OPA binary the opa scenarios install. ValueError names an unknown scenario."""
    known = scenarios()
    unknown = [s for s in names if s not in known]
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(known)}")
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
    return [s for s in names if s not in skipped], skipped


def write_durations(
    jobs: int, wall: float, outcomes: list[Outcome], skipped: Mapping[str, str]
) -> None:
    """`.cache/molecule/durations.json`: the molecule scenarios' durations and outcomes."""
    LOGS.mkdir(parents=True, exist_ok=True)
    (LOGS / "durations.json").write_text(
        json.dumps(
            {
                "jobs": jobs,
                "wall_seconds": round(wall, 1),
                "scenarios": {o.scenario: round(o.seconds, 1) for o in outcomes},
                "failed": [o.scenario for o in outcomes if o.rc != 0],
                "skipped": dict(skipped),
            },
            indent=2,
        )
        + "\n"
    )


#: Expected seconds of each side job (from a CI run's .cache/ci/jobs.json): longest first.
HINTS = REPO / ".ci" / "job-seconds.json"
#: A job with no recorded duration (a new scenario or test file) is assumed to take this long.
DEFAULT_SECONDS = 120.0
JOBS_RECORD = REPO / ".cache" / "ci" / "jobs.json"


def own_container_files(extra: list[str]) -> list[str]:
    """The integration test files with tests marked own_containers (pytest's own collection).
    A file that cannot be collected is left out here: the lab stream collects every file and
    fails on it."""
    argv = [*pytest_argv(OWN, extra), "--collect-only", "--continue-on-collection-errors"]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    found = sorted({ln.split("::", 1)[0] for ln in proc.stdout.splitlines() if "::" in ln})
    if not found and proc.returncode not in (0, 5):
        raise RuntimeError(f"collecting the {OWN} tests failed:\n{proc.stdout}{proc.stderr}")
    return found


def longest_first(jobs: list[Job], hints: Mapping[str, float]) -> list[Job]:
    """Longest expected job first (so the pool's workers finish close together); ties by name."""
    return sorted(jobs, key=lambda j: (-float(hints.get(j.name, DEFAULT_SECONDS)), j.name))


def load_hints(path: Path = HINTS) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items() if isinstance(v, int | float)}


def late_jobs() -> int:
    """Side workers that join once the lab stream ends (SOC2_CI_LATE_JOBS, default 1)."""
    return max(0, int(os.environ.get("SOC2_CI_LATE_JOBS", "1")))


def run_everything(jobs: int, extra: list[str], names: list[str]) -> int:
    """The lab stream, and beside it the side jobs (molecule scenarios and own-containers test
    files) on `jobs` workers. Every failure is reported; any fails the run."""
    runnable, skipped = prepare(names)
    molecule = str(Path(sys.executable).parent / "molecule")
    side = [molecule_job(s, molecule) for s in runnable]
    for path in own_container_files(extra):
        name = Path(path).name
        side.append(
            Job(
                name,
                tuple(pytest_argv(OWN, extra, (path,))),
                INTEGRATION_LOGS / f"{name}.log",
                "pytest",
            )
        )
    side = longest_first(side, load_hints())
    started = time.monotonic()
    busy0, total0 = machine_cpu()
    say(f"== lab tests here; {len(side)} side jobs beside them, {jobs} at a time")
    lab = subprocess.Popen(pytest_argv(f"not {OWN}", extra), cwd=REPO, stdin=subprocess.DEVNULL)
    lab_end: dict[str, float] = {}
    lab_lock = threading.Lock()

    def wait_lab() -> int:
        # Once, from whichever thread comes first: the exit code, the CPU of the lab stream's
        # process tree and the wall time.
        with lab_lock:
            if "rc" not in lab_end:
                rc, cpu = wait_with_cpu(lab)
                lab_end.update(rc=rc, cpu=cpu, wall=time.monotonic() - started)
            return int(lab_end["rc"])

    try:
        outcomes = run_all_jobs(side, jobs, (wait_lab, late_jobs()))
        side_wall = time.monotonic() - started
        lab_rc = wait_lab()
    except BaseException:
        lab.terminate()
        raise
    lab_wall = lab_end["wall"]
    busy1, total1 = machine_cpu()
    failed = [o.scenario for o in outcomes if o.rc != 0]
    lines = ["--- side jobs (slowest first)"]
    for o in sorted(outcomes, key=lambda o: -o.seconds):
        state = "ok" if o.rc == 0 else f"FAILED ({o.rc})"
        lines.append(f"{o.scenario:<32} {o.seconds:6.0f}s  {state}{cpu_text(o)}")
    for scenario in skipped:
        lines.append(f"{scenario:<32} {'-':>6}   skipped")
    lines.append("--- streams (seconds from the start)")
    # The lab's containers are not counted: test_99 removes and recreates them, which restarts
    # their cgroups' counters.
    lab_cpu = Outcome("lab tests", lab_rc, lab_wall, Path(), lab_end["cpu"])
    lines.append(f"{'lab tests':<32} {lab_wall:6.0f}s  exit {lab_rc}{cpu_text(lab_cpu)}")
    lines.append(f"{'side jobs':<32} {side_wall:6.0f}s  {len(failed)} failed, {jobs} at a time")
    busy = busy1 - busy0
    used = busy / (total1 - total0) if total1 > total0 else 0.0
    lines.append(f"{'machine':<32} {busy:6.0f}s CPU busy, {used:.0%} of its cores")
    say("\n".join(lines))
    molecule_outcomes = [o for o in outcomes if o.scenario in runnable]
    write_durations(jobs, side_wall, molecule_outcomes, skipped)
    JOBS_RECORD.parent.mkdir(parents=True, exist_ok=True)
    JOBS_RECORD.write_text(
        json.dumps(
            {
                "lab_seconds": round(lab_wall),
                "side_seconds": round(side_wall),
                "jobs": {o.scenario: round(o.seconds) for o in outcomes},
                # CPU seconds: each job's process tree and its containers (where known), the
                # lab stream's, and the machine's busy seconds over the whole suite.
                "cpu": {
                    o.scenario: {"tree": round(o.cpu or 0), "containers": o.container_cpu}
                    for o in [*outcomes, lab_cpu]
                },
                "machine_busy_seconds": round(busy),
                "machine_busy_share": round(used, 3),
                "failed": failed + (["lab tests"] if lab_rc else []),
            },
            indent=2,
        )
        + "\n"
    )
    return 1 if failed or lab_rc else 0


def run_all_jobs(
    side: list[Job],
    jobs: int,
    late: tuple[Callable[[], object], int] | None = None,
) -> list[Outcome]:
    """Run the jobs in their order on `jobs` workers; with `late` (wait, n), n more workers join
    once wait() returns (the lab stream has ended and left its share of the CPU)."""
    queue = list(enumerate(side))
    results: dict[int, Outcome] = {}
    lock = threading.Lock()
    joined: list[threading.Thread] = []

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                index, job = queue.pop(0)
            results[index] = run_job(job)

    def joiner(wait: Callable[[], object], n: int) -> None:
        wait()
        with lock:
            if not queue or n <= 0:
                return
            say(f"== the lab tests ended: {n} more side worker(s)")
            for _ in range(n):
                t = threading.Thread(target=worker)
                joined.append(t)
                t.start()

    base = [threading.Thread(target=worker) for _ in range(max(1, jobs))]
    for t in base:
        t.start()
    if late is not None:
        threading.Thread(target=joiner, args=late, daemon=True).start()
    for t in base:
        t.join()
    # The queue is empty now; a late worker may still be running its last job.
    with lock:
        extra = list(joined)
    for t in extra:
        t.join()
    return [results[i] for i in sorted(results)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soc2audit-ci", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_mol = sub.add_parser("molecule", help="run molecule scenarios, -j at a time")
    p_mol.add_argument("scenario", nargs="*", help="default: every scenario under molecule/")
    p_mol.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("SOC2_CI_JOBS", 2)))
    p_int = sub.add_parser("integration", help="the lab tests, own-container tests beside them")
    p_int.add_argument("pytest_args", nargs="*", help="extra pytest arguments for both streams")
    p_all = sub.add_parser(
        "all", help="the lab tests, and beside them every molecule scenario and own-containers file"
    )
    p_all.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("SOC2_CI_JOBS", 2)))
    p_all.add_argument("pytest_args", nargs="*", help="extra pytest arguments for the tests")
    args = parser.parse_args(argv)
    if args.cmd == "integration":
        return integration(args.pytest_args)
    if not os.environ.get("SOC2_LAB_IMAGE"):
        print("SOC2_LAB_IMAGE is not set (make molecule and make suite set it)", file=sys.stderr)
        return 64
    if args.cmd == "all":
        return run_everything(args.jobs, args.pytest_args, scenarios())
    names = args.scenario or scenarios()
    try:
        runnable, skipped = prepare(names)
    except ValueError as exc:
        print(exc)
        return 64
    molecule = str(Path(sys.executable).parent / "molecule")
    started = time.monotonic()
    outcomes = run_all(runnable, args.jobs, molecule)
    total = time.monotonic() - started
    print(table(outcomes))
    for scenario in skipped:
        print(f"{scenario:<24} {'-':>6}   skipped")
    print(f"{'wall clock':<24} {total:6.0f}s  ({args.jobs} at a time)")
    write_durations(args.jobs, total, outcomes, skipped)
    return 0 if all(o.rc == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
