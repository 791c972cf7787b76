# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest plugin: turn the testinfra checks under controls/ into check results.

Loaded explicitly (never auto-loaded, so tests/unit and tests/integration do not see it):

    .venv/bin/python -m pytest -q -p soc2audit.pytest_plugin -p no:cacheprovider controls \\
        --hosts='ansible://all' --ansible-inventory=inventory/lab/hosts.yml \\
        --soc2audit-results=/tmp/results.jsonl

Every test carries exactly one ``@pytest.mark.soc2_check("<FAMILY>-<NN>")`` marker and runs
against testinfra's ``host``; anything else is a collection error. ``--soc2audit-results``
writes one JSON line per (host, check_id)::

    {"host", "check_id", "result", "observed", "expected", "message", "started", "finished"}

``host`` is the inventory name: testinfra's ansible backend names hosts by inventory name, and
for an ssh connection runs each command through its native SSH backend, which this plugin makes
multiplex over one ControlMaster connection per host. Outcomes map to results:

* the test passed: ``pass`` (message: the first line of the test's docstring);
* an assertion (or ``pytest.fail``) failed in the test body: ``fail``, the assertion message;
* any other exception in the body, or any exception in fixture setup or teardown (SSH failure,
  command not found, timeout): ``error``, the exception type and text;
* skipped: ``not_applicable``, the skip reason.

Several tests with one check id on one host combine by the worst result, with the precedence of
plugins/module_utils/soc2_results.py. The file is written atomically, once, by the process that
owns the session (the controller under pytest-xdist), also when every test errored and also
(empty) when collection failed.

Fixtures for checks: ``soc2_record(observed=..., expected=...)``, ``soc2_groups``,
``soc2_address`` and ``soc2_peer``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shlex
import shutil
import sys
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import pytest
import testinfra
import yaml
from testinfra.backend.ansible import AnsibleBackend
from testinfra.backend.base import CommandResult
from testinfra.backend.ssh import SshBackend
from testinfra.host import Host

from soc2audit.catalog import ID_RE
from soc2audit.fsutil import atomic_write, iso_utc
from soc2audit.module_utils.soc2_results import worst_result

REPO = Path(__file__).resolve().parent.parent
MARKER = "soc2_check"
MESSAGE_LIMIT = 400
TESTINFRA_DIR = Path(testinfra.__file__).resolve().parent
_HOST_PARAM = "_testinfra_host"


_STATE = pytest.StashKey["State"]()
_RECORD = pytest.StashKey[dict[str, Any]]()
_CHECK = pytest.StashKey[tuple[str, str]]()


# ---------------------------------------------------------------- options and set-up


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("soc2audit", "soc2audit check results")
    group.addoption(
        "--soc2audit-results",
        metavar="PATH",
        default=None,
        help="write one JSON line per (host, check_id) to PATH, atomically, at session end",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f'{MARKER}(check_id): the catalog check this test produces (exactly one), e.g. "PKI-07"',
    )
    _venv_bin_on_path()
    path = config.getoption("soc2audit_results")
    recorder = Recorder(
        target=(config.invocation_params.dir / path) if path else None,
        controller=not hasattr(config, "workerinput"),
    )
    config.stash[_STATE] = State(recorder)
    config.pluginmanager.register(recorder, "soc2audit-recorder")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.background.close()
    if state is not None and config.pluginmanager.is_registered(state.recorder):
        config.pluginmanager.unregister(state.recorder)


def _venv_bin_on_path() -> None:
    """testinfra runs `ansible-inventory` through the shell: use the one next to this Python
    when the virtualenv is not activated."""
    if shutil.which("ansible-inventory"):
        return
    bindir = Path(sys.executable).parent
    if (bindir / "ansible-inventory").exists():
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


@dataclasses.dataclass
class State:
    """Per-session state: the recorder, and which hosts answered (per process)."""

    recorder: Recorder
    reachable: dict[str, BaseException | None] = dataclasses.field(default_factory=dict)
    warned: set[str] = dataclasses.field(default_factory=set)
    background: Background = dataclasses.field(default_factory=lambda: Background())


# ---------------------------------------------------------------- collection


def _bind_check(item: pytest.Function) -> str | None:
    """Store (host, check id) on a collected test; the problem when it cannot be a check."""
    marks = list(item.iter_markers(MARKER))
    if len(marks) != 1:
        return f"{item.nodeid}: needs exactly one @pytest.mark.{MARKER}(...), has {len(marks)}"
    mark = marks[0]
    if len(mark.args) != 1 or mark.kwargs or not isinstance(mark.args[0], str):
        return f'{item.nodeid}: write @pytest.mark.{MARKER}("<FAMILY>-<NN>") with one check id'
    if not ID_RE.match(mark.args[0]):
        return f"{item.nodeid}: check id {mark.args[0]!r} does not match {ID_RE.pattern}"
    callspec = getattr(item, "callspec", None)
    if callspec is None or _HOST_PARAM not in callspec.params:
        return f"{item.nodeid}: a check must run against testinfra's host"
    if not isinstance(callspec.params[_HOST_PARAM], Host):
        return f"{item.nodeid}: no host matched --hosts (check the pattern and the inventory)"
    item.stash[_CHECK] = (host_name(callspec.params[_HOST_PARAM]), mark.args[0])
    return None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """A test without exactly one soc2_check marker fails the collection of its file."""
    report = yield
    if report.passed:
        problems = [
            problem
            for node in report.result
            if isinstance(node, pytest.Function)
            for problem in [_bind_check(node)]
            if problem
        ]
        if problems:
            report.outcome = "failed"
            report.longrepr = "\n".join(problems)
            report.result = []
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    """Connect to every host at once (SSH masters in parallel) before the first test, so a
    cold run pays one connection time, not one per host, and an unreachable host its timeout
    once."""
    if session.config.option.collectonly:
        return
    hosts: dict[str, Host] = {}
    for item in session.items:
        bound = item.stash.get(_CHECK, None)
        callspec = getattr(item, "callspec", None)
        if bound is not None and callspec is not None:
            hosts.setdefault(bound[0], callspec.params[_HOST_PARAM])
    state = session.config.stash[_STATE]
    if len(hosts) > 1:
        with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            for future in [pool.submit(_try_probe, h, state) for h in hosts.values()]:
                future.result()
    # Every background probe of every collected check file, for every reachable host, at once.
    for item in session.items:
        bound = item.stash.get(_CHECK, None)
        module = getattr(item, "module", None)
        if bound is None or module is None or state.reachable.get(bound[0]) is not None:
            continue
        for fn in background_probes(module):
            state.background.start(fn, item.callspec.params[_HOST_PARAM], state)


def _try_probe(host: Host, state: State) -> None:
    with contextlib.suppress(Exception):  # recorded in state; each test's setup re-raises it
        probe(host, state)


# ---------------------------------------------------------------- hosts


def host_name(host: Host) -> str:
    """The inventory name for the ansible backend, testinfra's host name otherwise."""
    return host.backend.get_hostname()


def native_host(host: Host) -> Host | None:
    """The host (ssh, paramiko, local, ...) that the ansible backend runs commands through;
    None when testinfra falls back to one ansible process per command."""
    backend = host.backend
    if not isinstance(backend, AnsibleBackend):
        return host
    if backend.force_ansible:
        return None
    return backend.ansible_runner.get_host(
        backend.host, ssh_config=backend.ssh_config, ssh_identity_file=backend.ssh_identity_file
    )


def control_dir() -> Path:
    """Where the ControlMaster sockets live: ansible's default directory when the socket path
    fits a Unix socket name (about 104 bytes), a private directory under /tmp otherwise."""
    directory = Path("~/.ansible/cp").expanduser()
    if len(str(directory)) > 60:
        directory = Path("/tmp") / f"soc2audit-cp-{os.getuid()}"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    return directory


def multiplex(host: Host, state: State | None = None) -> None:
    """Make testinfra's native SSH backend reuse one connection per host.

    testinfra passes ansible.cfg's ssh_args (ControlMaster=auto, ControlPersist) and the
    inventory's ssh args, key and user, but adds a ControlPath only when ansible.cfg sets
    `control_path`. Without a ControlPath ssh does not multiplex: every command would pay a full
    SSH handshake.
    """
    native = native_host(host)
    if native is None:
        name = host_name(host)
        if state is None or name not in state.warned:
            if state is not None:
                state.warned.add(name)
            warnings.warn(
                f"{name}: testinfra runs one ansible process per command for this connection "
                "type (about 0.7 s each); reach the host over ssh",
                stacklevel=2,
            )
        return
    backend = native.backend
    if not isinstance(backend, SshBackend) or backend.controlpath:
        return
    if "controlpath" in (backend.ssh_extra_args or "").lower():
        return
    # testinfra %-formats the ssh command line once before the shell sees it.
    backend.controlpath = shlex.quote(str(control_dir() / "ti-%C")).replace("%", "%%")


def probe(host: Host, state: State) -> None:
    """Run `true` on the host once per process and re-raise the first failure afterwards, so an
    unreachable host errors at once instead of after every test's SSH timeout."""
    name = host_name(host)
    if name not in state.reachable:
        multiplex(host, state)
        try:
            host.run_expect([0], "true")
            state.reachable[name] = None
        except Exception as exc:
            state.reachable[name] = exc
    failure = state.reachable[name]
    if failure is not None:
        raise failure


def role_settings(host: Host, role: str) -> dict[str, Any]:
    """A role's defaults (roles/<role>/defaults/main.yml) overlaid with the host's inventory
    variables, the way the role sees them (templated values are not evaluated: see setting)."""
    path = REPO / "roles" / role / "defaults" / "main.yml"
    merged = dict(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    if isinstance(host.backend, AnsibleBackend):
        merged.update(host.backend.get_variables())
    return merged


def setting(values: dict[str, Any], name: str) -> Any:
    """values[name], refusing a templated value (the checks cannot evaluate Jinja)."""
    value = values[name]
    if isinstance(value, str) and "{{" in value:
        raise ValueError(f"{name} is templated ({value!r}); set a literal value in the inventory")
    return value


def groups_of(host: Host) -> list[str]:
    """The host's inventory groups (Ansible's group_names: without `all`)."""
    backend = host.backend
    if isinstance(backend, AnsibleBackend):
        names = backend.get_variables().get("group_names") or []
        return sorted(str(g) for g in names if g != "all")
    return []


def address_of(host: Host) -> str:
    """The address peers use to reach the host: ansible_host, else its inventory name."""
    backend = host.backend
    if isinstance(backend, AnsibleBackend):
        return str(backend.get_variables().get("ansible_host") or backend.host)
    if backend.get_connection_type() == "local":
        return "127.0.0.1"
    return backend.get_hostname()


@dataclasses.dataclass(frozen=True)
class Peer:
    """Another inventory host, reachable over SSH, to attempt connections from."""

    name: str
    host: Host
    address: str


def find_peer(host: Host, state: State) -> Peer | None:
    """A reachable other host of the same inventory, trying them in name order after this one.

    None when the inventory has no other host; RuntimeError when none of them is reachable.
    """
    backend = host.backend
    if not isinstance(backend, AnsibleBackend):
        return None
    everyone = backend.ansible_runner.get_hosts("all")
    name = backend.host
    at = everyone.index(name) if name in everyone else len(everyone)
    candidates = [h for h in everyone[at + 1 :] + everyone[:at] if h != name]
    if not candidates:
        return None
    tried: list[str] = []
    for candidate in candidates:
        peer = testinfra.get_host(
            f"ansible://{candidate}",
            ansible_inventory=backend.ansible_inventory,
            ssh_config=backend.ssh_config,
            ssh_identity_file=backend.ssh_identity_file,
            force_ansible=backend.force_ansible,
        )
        try:
            probe(peer, state)
        except Exception as exc:
            tried.append(f"{candidate} ({describe(exc)})")
            continue
        return Peer(candidate, peer, address_of(peer))
    raise RuntimeError(f"no other inventory host is reachable: {'; '.join(tried)}")


# ---------------------------------------------------------------- background probes
#
# A check that must wait for something not to happen (a peer's connection attempt that must get
# no answer) costs its timeout. Run one after the other, those waits were most of a drift run's
# testinfra time. A check file marks such an observation as a background probe, a module-level
# function `probe(target: Target) -> value`; the plugin starts every probe of every collected
# file for every reachable host at once when collection ends, and the check judges the value
# with the `soc2_background` fixture. A probe's exception (pytest.skip included) is raised in the
# check that asks for it, so its result is what the same code in the check's body would give.

_BACKGROUND_ATTR = "_soc2audit_background"


def background(fn: Callable[[Target], Any]) -> Callable[[Target], Any]:
    """Mark a check file's function as a background probe (see above)."""
    setattr(fn, _BACKGROUND_ATTR, True)
    return fn


def background_probes(module: ModuleType) -> list[Callable[[Target], Any]]:
    """The background probes a check file defines, in definition order."""
    return [v for v in vars(module).values() if callable(v) and getattr(v, _BACKGROUND_ATTR, 0)]


@dataclasses.dataclass(frozen=True)
class Target:
    """What a background probe gets: the host under check and how its peers reach it."""

    host: Host
    name: str
    address: str
    groups: list[str]
    state: State = dataclasses.field(repr=False)

    def peer(self) -> Peer:
        """As the soc2_peer fixture: another reachable host; skips when there is none."""
        peer = find_peer(self.host, self.state)
        if peer is None:
            pytest.skip("not applicable: no other inventory host to connect from")
        return peer


class Background:
    """The session's background probes: one job per (probe, host), run in threads."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: dict[tuple[str, str], Future[Any]] = {}
        self._lock = threading.Lock()

    def start(self, fn: Callable[[Target], Any], host: Host, state: State) -> Future[Any]:
        key = (f"{fn.__module__}.{fn.__qualname__}", host_name(host))
        with self._lock:
            if key not in self._jobs:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="soc2bg")
                target = Target(host, host_name(host), address_of(host), groups_of(host), state)
                self._jobs[key] = self._pool.submit(fn, target)
            return self._jobs[key]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def soc2_background(host: Host, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``soc2_background(probe)``: this host's value of a background probe (started now if it
    was not started with the others), or the exception the probe raised."""
    state = request.config.stash[_STATE]

    def result(fn: Callable[[Target], Any]) -> Any:
        return state.background.start(fn, host, state).result()

    return result


@pytest.fixture(scope="module", autouse=True)
def _soc2_reachable(host: Host, request: pytest.FixtureRequest) -> None:
    """Every check needs its host: fail setup (an error) at once when it cannot be reached.
    Module scope, like `host`, so it runs before the checks' own module fixtures."""
    probe(host, request.config.stash[_STATE])


@pytest.fixture
def soc2_record(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Attach what was observed and what was expected to this test's result.

    ``soc2_record(observed=..., expected=...)``; a later call replaces the values it names.
    """
    store = request.node.stash.setdefault(_RECORD, {})

    def record(**values: Any) -> None:
        unknown = set(values) - {"observed", "expected"}
        if unknown:
            raise TypeError(f"soc2_record() takes observed and expected, not {sorted(unknown)}")
        store.update({key: _jsonable(value) for key, value in values.items()})

    return record


@pytest.fixture
def soc2_groups(host: Host) -> list[str]:
    """The host's inventory groups (without `all`), to skip checks that do not apply."""
    return groups_of(host)


@pytest.fixture
def soc2_address(host: Host) -> str:
    """The host's address as its peers reach it."""
    return address_of(host)


@pytest.fixture
def soc2_peer(host: Host, request: pytest.FixtureRequest) -> Peer:
    """Another reachable inventory host, to attempt connections that must be refused.

    Skips (not_applicable) when the inventory has no other host; an error when none answers.
    """
    peer = find_peer(host, request.config.stash[_STATE])
    if peer is None:
        pytest.skip("not applicable: no other inventory host to connect from")
    return peer


# ---------------------------------------------------------------- outcomes


def _jsonable(value: Any) -> Any:
    """A JSON (and xdist) safe copy: sets become sorted lists, other objects their str()."""

    def default(obj: Any) -> Any:
        if isinstance(obj, (set, frozenset)):
            return sorted(obj, key=str)
        return str(obj)

    return json.loads(json.dumps(value, default=default))


def _short(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _innermost_frame(exc: BaseException) -> FrameType | None:
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame


def raised_by_testinfra(exc: BaseException) -> bool:
    """True for testinfra's own assertions (check_output, run_expect: the command failed),
    which are errors of the check, not its verdict."""
    return _in_testinfra(_innermost_frame(exc))


def _in_testinfra(frame: FrameType | None) -> bool:
    if frame is None:
        return False
    return Path(frame.f_code.co_filename).resolve().is_relative_to(TESTINFRA_DIR)


def _command_result(exc: BaseException) -> CommandResult | None:
    """The failed command behind testinfra's exceptions: RuntimeError(result) for ssh
    failures, or the `out` of check_output/run_expect when their assertion fired."""
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], CommandResult):
        return args[0]
    frame = _innermost_frame(exc)
    if frame is not None and _in_testinfra(frame):
        for value in frame.f_locals.values():
            if isinstance(value, CommandResult):
                return value
    return None


def describe(exc: BaseException) -> str:
    """``Type: text`` for an error; testinfra's failed commands as command, exit code, stderr."""
    res = _command_result(exc)
    if res is not None:
        command = res.command.decode(errors="replace") if res.command else "?"
        text = f"`{command}` exited {res.rc}: {res.stderr.strip() or res.stdout.strip()}"
    else:
        text = str(exc)
    return _short(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def assertion_text(exc: BaseException) -> str:
    """The assertion message: its first line (pytest appends the rewritten expression)."""
    lines = str(exc).strip().splitlines()
    return _short(lines[0]) if lines else "assertion failed"


def _skip_reason(report: pytest.TestReport, exc: BaseException | None) -> str:
    msg = getattr(exc, "msg", None)
    if isinstance(msg, str) and msg:
        return _short(msg)
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        return _short(str(report.longrepr[2]).removeprefix("Skipped: "))
    return "skipped"


def verdict(
    report: pytest.TestReport, exc: BaseException | None, docstring: str | None = None
) -> tuple[str | None, str]:
    """(result, message) of one phase (setup, call, teardown); None when it decides nothing."""
    if hasattr(report, "wasxfail"):
        return "error", "xfail is not a check result: remove the xfail marker"
    if report.skipped:
        return "not_applicable", _skip_reason(report, exc)
    if report.passed:
        if report.when != "call":
            return None, ""
        lines = (docstring or "").strip().splitlines()
        return "pass", _short(lines[0]) if lines else "passed"
    if (
        report.when == "call"
        and isinstance(exc, (AssertionError, pytest.fail.Exception))
        and not raised_by_testinfra(exc)
    ):
        return "fail", assertion_text(exc)
    where = "" if report.when == "call" else f"in {report.when}: "
    if exc is None:
        lines = report.longreprtext.strip().splitlines()
        return "error", where + _short(lines[-1] if lines else "failed")
    return "error", where + describe(exc)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Classify each phase where its exception is at hand; the verdict travels with the report
    (a plain dict, which pytest-xdist serialises) to the controller."""
    report: pytest.TestReport = yield
    bound = item.stash.get(_CHECK, None)
    if bound is None:
        return report
    payload: dict[str, Any] = {
        "host": bound[0],
        "check_id": bound[1],
        "test": getattr(item, "originalname", item.name),
    }
    try:
        exc = call.excinfo.value if call.excinfo is not None else None
        doc = getattr(getattr(item, "function", None), "__doc__", None)
        payload["result"], payload["message"] = verdict(report, exc, doc)
        payload.update(item.stash.get(_RECORD, {}))
    except Exception as exc:  # never lose a verdict to the plugin's own mistake
        payload["result"], payload["message"] = "error", f"soc2audit plugin: {describe(exc)}"
    report.soc2audit = payload  # type: ignore[attr-defined]
    return report


# ---------------------------------------------------------------- aggregation


@dataclasses.dataclass
class _Test:
    """What one collected test (one function on one host) produced over its phases."""

    host: str
    check_id: str
    test: str
    verdicts: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    record: dict[str, Any] = dataclasses.field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    done: bool = False

    def outcome(self) -> tuple[str, str]:
        if not self.verdicts:
            return "error", "the test did not finish"
        result = worst_result(r for r, _ in self.verdicts)
        if not self.done and result in ("pass", "not_applicable"):
            return "error", "the test did not finish"
        return result, next(m for r, m in self.verdicts if r == result)


class Recorder:
    """Collects phase verdicts (from this process or from xdist workers) and writes the file.

    Registered as a plugin object per session; only the controller writes.
    """

    def __init__(self, target: Path | None, controller: bool) -> None:
        self.target = target
        self.controller = controller
        self.tests: dict[str, _Test] = {}
        self.unattributed: list[str] = []
        self.written: list[dict[str, Any]] | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload: dict[str, Any] | None = getattr(report, "soc2audit", None)
        test = self.tests.get(report.nodeid)
        if test is None:
            if payload is None:
                if report.failed:
                    self.unattributed.append(f"{report.nodeid}: {_short(report.longreprtext)}")
                return
            test = self.tests[report.nodeid] = _Test(
                payload["host"], payload["check_id"], payload["test"]
            )
        if payload is None:
            # Made where the plugin could not see it: a crashed xdist worker.
            payload = {"result": "error" if report.failed else None}
            payload["message"] = _short(report.longreprtext or "worker crashed")
        now = time.time()
        start = getattr(report, "start", 0.0) or now
        stop = getattr(report, "stop", 0.0) or now
        test.started = min(test.started, start) if test.started else start
        test.finished = max(test.finished, stop)
        if payload.get("result"):
            test.verdicts.append((payload["result"], payload.get("message", "")))
        for key in ("observed", "expected"):
            if key in payload:
                test.record[key] = payload[key]
        if report.when != "setup" and report.when != "call":
            test.done = True  # teardown, or xdist's crash report

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self) -> None:
        self.write()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.written is None or self.target is None:
            return
        counts: dict[str, int] = {}
        for line in self.written:
            counts[line["result"]] = counts.get(line["result"], 0) + 1
        summary = ", ".join(f"{n} {r}" for r, n in sorted(counts.items())) or "no results"
        terminalreporter.write_line(f"soc2audit: {summary} -> {self.target}")
        for problem in self.unattributed:
            terminalreporter.write_line(f"soc2audit: not attributed to a check: {problem}")

    def results(self) -> list[dict[str, Any]]:
        """One result per (host, check_id): the worst over its tests."""
        grouped: dict[tuple[str, str], list[_Test]] = {}
        for test in self.tests.values():
            grouped.setdefault((test.host, test.check_id), []).append(test)
        out: list[dict[str, Any]] = []
        for (host, check_id), tests in sorted(grouped.items()):
            outcomes = [(test, *test.outcome()) for test in tests]
            result = worst_result(r for _, r, _ in outcomes)
            worst = [(test, m) for test, r, m in outcomes if r == result]
            distinct = list(dict.fromkeys(m for _, m in worst))
            if len(distinct) == 1:
                message = distinct[0]
            elif result == "pass":
                message = "; ".join(m.rstrip(".") for m in distinct)
            else:
                message = "; ".join(f"{t.test}: {m}" for t, m in worst)
            message = _short(message, 2 * MESSAGE_LIMIT)
            out.append(
                {
                    "host": host,
                    "check_id": check_id,
                    "result": result,
                    "observed": _merge(tests, "observed"),
                    "expected": _merge(tests, "expected"),
                    "message": message,
                    "started": _iso(min(t.started for t in tests)),
                    "finished": _iso(max(t.finished for t in tests)),
                }
            )
        return out

    def write(self) -> None:
        if not self.controller or self.target is None or self.written is not None:
            return
        self.written = self.results()
        text = "".join(json.dumps(line) + "\n" for line in self.written)
        atomic_write(self.target, text, mode=0o644)


def _merge(tests: list[_Test], key: str) -> Any:
    """One test's value as it is; several tests' values keyed by test name."""
    having = [t for t in tests if key in t.record]
    if not having:
        return None
    if len(tests) == 1:
        return having[0].record[key]
    return {t.test: t.record[key] for t in sorted(having, key=lambda t: t.test)}


def _iso(timestamp: float) -> str:
    return iso_utc(dt.datetime.fromtimestamp(timestamp or time.time(), tz=dt.UTC))
