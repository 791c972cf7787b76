# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit.pytest_plugin: test outcomes become check results (no lab: testinfra's local://
backend, or an Ansible inventory whose hosts use the local connection)."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from soc2audit import pytest_plugin

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
PLUGIN = ["-p", "soc2audit.pytest_plugin", "-p", "no:cacheprovider"]
RESULT_KEYS = [
    "host",
    "check_id",
    "result",
    "observed",
    "expected",
    "message",
    "started",
    "finished",
]


def run(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> list[dict[str, Any]]:
    """Run the plugin over pytester's files against local://; the result lines."""
    out = pytester.path / "results.jsonl"
    argv = [*PLUGIN, f"--soc2audit-results={out}", *args]
    if not any(a.startswith("--hosts") for a in args):
        argv.append("--hosts=local://")
    if subprocess:
        pytester.runpytest_subprocess(*argv)
    else:
        pytester.runpytest(*argv)
    assert out.exists(), "the results file must always be written"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    for line in lines:
        assert list(line) == RESULT_KEYS
        assert line["started"].endswith("Z") and line["finished"] >= line["started"]
    return lines


def by_check(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["check_id"]: line for line in lines}


OUTCOMES = """
import pytest

@pytest.mark.soc2_check("PKI-90")
def test_passes(host, soc2_record):
    '''The key is where it belongs.'''
    soc2_record(observed={"modes": {"0600"}}, expected="0600")

@pytest.mark.soc2_check("PKI-91")
def test_fails(host, soc2_record):
    soc2_record(observed=2, expected=1)
    assert 1 == 2, "handshake not verified: code 21"

@pytest.mark.soc2_check("PKI-92")
def test_raises(host):
    raise TimeoutError("openssl did not answer in 3 s")

@pytest.mark.soc2_check("PKI-93")
def test_command_missing(host):
    host.check_output("soc2audit-no-such-command --version")

@pytest.mark.soc2_check("PKI-94")
def test_skips(host, soc2_groups):
    if "timeservers" not in soc2_groups:
        pytest.skip("not applicable: only hosts in timeservers serve NTP")

@pytest.mark.soc2_check("PKI-95")
@pytest.mark.skip(reason="not applicable: no PTP here")
def test_skip_marker(host):
    pass

@pytest.mark.soc2_check("PKI-96")
def test_pytest_fail(host):
    pytest.fail("port 323 answers on 10.89.0.17")
"""


def test_outcomes_map_to_results(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES)
    got = by_check(run(pytester))
    assert {k: v["result"] for k, v in got.items()} == {
        "PKI-90": "pass",
        "PKI-91": "fail",
        "PKI-92": "error",
        "PKI-93": "error",
        "PKI-94": "not_applicable",
        "PKI-95": "not_applicable",
        "PKI-96": "fail",
    }
    assert {line["host"] for line in got.values()} == {"local"}
    assert got["PKI-90"]["message"] == "The key is where it belongs."
    assert got["PKI-90"]["observed"] == {"modes": ["0600"]}
    assert got["PKI-90"]["expected"] == "0600"
    assert got["PKI-91"]["message"] == "handshake not verified: code 21"
    assert (got["PKI-91"]["observed"], got["PKI-91"]["expected"]) == (2, 1)
    assert got["PKI-92"]["message"] == "TimeoutError: openssl did not answer in 3 s"
    # testinfra's own assertion (check_output) means the command failed: an error, not a fail.
    assert got["PKI-93"]["message"].startswith(
        "AssertionError: `soc2audit-no-such-command --version` exited 127:"
    )
    assert "not found" in got["PKI-93"]["message"]
    assert got["PKI-94"]["message"] == "not applicable: only hosts in timeservers serve NTP"
    assert got["PKI-95"]["message"] == "not applicable: no PTP here"
    assert got["PKI-96"]["message"] == "port 323 answers on 10.89.0.17"
    for line in got.values():
        if line["check_id"] not in ("PKI-90", "PKI-91"):
            assert line["observed"] is None and line["expected"] is None


def test_fixture_errors_are_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fixtures="""
        import pytest

        @pytest.fixture
        def server():
            raise ConnectionRefusedError("127.0.0.1:4433")

        @pytest.fixture
        def asserting():
            assert False, "an assertion in a fixture is no verdict"

        @pytest.fixture
        def leaks():
            yield
            raise ProcessLookupError("openssl s_server still running")

        @pytest.mark.soc2_check("TIME-90")
        def test_setup(host, server):
            pass

        @pytest.mark.soc2_check("TIME-91")
        def test_setup_assert(host, asserting):
            pass

        @pytest.mark.soc2_check("TIME-92")
        def test_teardown(host, leaks):
            pass
        """
    )
    got = by_check(run(pytester))
    assert got["TIME-90"]["result"] == "error"
    assert got["TIME-90"]["message"] == "in setup: ConnectionRefusedError: 127.0.0.1:4433"
    assert got["TIME-91"]["result"] == "error"
    assert got["TIME-91"]["message"].startswith("in setup: AssertionError: an assertion")
    assert got["TIME-92"]["result"] == "error"
    assert got["TIME-92"]["message"] == (
        "in teardown: ProcessLookupError: openssl s_server still running"
    )


def test_one_check_id_in_several_tests_takes_the_worst(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_worst="""
        import pytest

        @pytest.mark.soc2_check("TIME-90")
        def test_a(host, soc2_record):
            soc2_record(observed="127.0.0.1:323")

        @pytest.mark.soc2_check("TIME-90")
        def test_b(host, soc2_record):
            soc2_record(observed="0.0.0.0:323", expected="loopback only")
            assert False, "command port on a wildcard address"

        @pytest.mark.soc2_check("TIME-91")
        def test_c(host):
            assert False, "clock unsynchronised"

        @pytest.mark.soc2_check("TIME-91")
        def test_d(host):
            raise OSError("chronyc missing")

        @pytest.mark.soc2_check("TIME-92")
        def test_e(host):
            pytest.skip("not applicable: client")

        @pytest.mark.soc2_check("TIME-92")
        def test_f(host):
            pass
        """
    )
    lines = run(pytester)
    assert len(lines) == 3
    got = by_check(lines)
    assert got["TIME-90"]["result"] == "fail"
    assert got["TIME-90"]["message"] == "command port on a wildcard address"
    assert got["TIME-90"]["observed"] == {"test_a": "127.0.0.1:323", "test_b": "0.0.0.0:323"}
    assert got["TIME-90"]["expected"] == {"test_b": "loopback only"}
    assert got["TIME-91"]["result"] == "error"
    assert got["TIME-91"]["message"] == "OSError: chronyc missing"
    assert got["TIME-92"]["result"] == "pass"
    assert got["TIME-92"]["message"] == "passed"


def test_messages_of_tests_with_one_verdict_are_combined(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_combined='''
        import pytest

        @pytest.mark.soc2_check("TIME-90")
        def test_socket(host):
            """Bound to loopback only."""

        @pytest.mark.soc2_check("TIME-90")
        def test_peer(host):
            """A peer gets no answer."""

        @pytest.mark.soc2_check("TIME-91")
        @pytest.mark.skip(reason="not applicable: a time server")
        def test_a(host):
            pass

        @pytest.mark.soc2_check("TIME-91")
        @pytest.mark.skip(reason="not applicable: a time server")
        def test_b(host):
            pass
        '''
    )
    got = by_check(run(pytester))
    assert got["TIME-90"]["message"] == "Bound to loopback only; A peer gets no answer"
    assert got["TIME-91"]["message"] == "not applicable: a time server"


def test_worst_of_follows_the_module_utils_precedence() -> None:
    order = ["not_applicable", "pass", "at_risk", "fail", "error"]
    for lower, higher in itertools.pairwise(order):
        assert pytest_plugin.worst_result([higher, lower]) == higher
        assert pytest_plugin.worst_result([lower, higher]) == higher


def test_file_is_complete_when_every_check_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_all_error="""
        import pytest

        @pytest.mark.soc2_check("PKI-90")
        def test_a(host):
            host.check_output("true")

        @pytest.mark.soc2_check("PKI-91")
        def test_b(host):
            host.check_output("true")
        """
    )
    # Nothing listens on loopback port 1: ssh fails (exit 255) without leaving the machine.
    lines = run(pytester, "--hosts=ssh://127.0.0.1:1")
    assert [(line["host"], line["check_id"], line["result"]) for line in lines] == [
        ("127.0.0.1", "PKI-90", "error"),
        ("127.0.0.1", "PKI-91", "error"),
    ]
    for line in lines:
        assert line["message"].startswith("in setup: RuntimeError: `true` exited 255:")


def test_results_file_is_replaced_atomically(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_one="""
        import pytest

        @pytest.mark.soc2_check("PKI-90")
        def test_a(host):
            pass
        """
    )
    (pytester.path / "results.jsonl").write_text("stale\n" * 5)
    assert [line["result"] for line in run(pytester)] == ["pass"]
    assert [p.name for p in pytester.path.iterdir() if p.name.startswith(".results")] == []


@pytest.mark.parametrize(
    ("marks", "problem"),
    [
        ("", "needs exactly one @pytest.mark.soc2_check(...), has 0"),
        (
            '@pytest.mark.soc2_check("PKI-90")\n@pytest.mark.soc2_check("PKI-91")',
            "needs exactly one @pytest.mark.soc2_check(...), has 2",
        ),
        ('@pytest.mark.soc2_check("PKI-7")', "does not match"),
        ("@pytest.mark.soc2_check()", "with one check id"),
    ],
)
def test_marker_problems_are_collection_errors(
    pytester: pytest.Pytester, marks: str, problem: str
) -> None:
    pytester.makepyfile(
        test_good="""
        import pytest

        @pytest.mark.soc2_check("PKI-92")
        def test_good(host):
            pass
        """,
        test_bad=f"import pytest\n\n{marks}\ndef test_bad(host):\n    pass\n",
    )
    out = pytester.path / "results.jsonl"
    result = pytester.runpytest(*PLUGIN, "--hosts=local://", f"--soc2audit-results={out}")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting test_bad.py*", f"*{problem}*"])
    assert out.read_text() == ""


def test_class_level_marker_counts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_cls="""
        import pytest

        @pytest.mark.soc2_check("NET-90")
        class TestFirewall:
            def test_a(self, host):
                pass

            @pytest.mark.soc2_check("NET-91")
            def test_b(self, host):
                pass
        """
    )
    result = pytester.runpytest(*PLUGIN, "--hosts=local://")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*test_b*has 2*"])


def test_local_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fixtures="""
        import pytest

        @pytest.mark.soc2_check("NET-90")
        def test_groups(host, soc2_groups, soc2_address, soc2_record):
            soc2_record(observed=[soc2_groups, soc2_address])

        @pytest.mark.soc2_check("NET-91")
        def test_peer(host, soc2_peer):
            pass

        @pytest.mark.soc2_check("NET-92")
        def test_bad_record(host, soc2_record):
            soc2_record(observd=1)
        """
    )
    got = by_check(run(pytester))
    assert got["NET-90"]["observed"] == [[], "127.0.0.1"]
    assert got["NET-91"]["result"] == "not_applicable"
    assert got["NET-91"]["message"].startswith("not applicable: no other inventory host")
    assert got["NET-92"]["result"] == "error"
    assert "soc2_record() takes observed and expected" in got["NET-92"]["message"]


INVENTORY = {
    "all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "python3"},
        "children": {
            "edge": {"hosts": {"web1": {"ansible_host": "192.0.2.11"}, "web2": {}}},
            "timeservers": {"hosts": {"web2": {}}},
        },
    }
}

INVENTORY_TESTS = """
import pytest

@pytest.mark.soc2_check("TIME-90")
def test_facts(host, soc2_groups, soc2_address, soc2_peer, soc2_record):
    soc2_record(observed={"groups": soc2_groups, "address": soc2_address,
                          "peer": [soc2_peer.name, soc2_peer.address]})
    assert soc2_peer.host.run("true").rc == 0
"""


def test_ansible_inventory_names_groups_and_peers(pytester: pytest.Pytester) -> None:
    inventory = pytester.path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(INVENTORY))
    pytester.makepyfile(test_inventory=INVENTORY_TESTS)
    args = ("--hosts=ansible://all", f"--ansible-inventory={inventory}")
    got = {line["host"]: line for line in run(pytester, *args)}
    assert sorted(got) == ["web1", "web2"]
    assert got["web1"]["result"] == "pass", got["web1"]["message"]
    assert got["web1"]["observed"] == {
        "groups": ["edge"],
        "address": "192.0.2.11",
        "peer": ["web2", "web2"],
    }
    assert got["web2"]["observed"] == {
        "groups": ["edge", "timeservers"],
        "address": "web2",
        "peer": ["web1", "192.0.2.11"],
    }
    # A limit (host or group pattern) selects hosts; peers still come from the whole inventory.
    limited = run(pytester, "--hosts=ansible://web2", f"--ansible-inventory={inventory}")
    assert [line["host"] for line in limited] == ["web2"]
    assert limited[0]["observed"]["peer"] == ["web1", "192.0.2.11"]
    grouped = run(pytester, "--hosts=ansible://timeservers", f"--ansible-inventory={inventory}")
    assert [line["host"] for line in grouped] == ["web2"]
    # A limit that matches nothing is a collection error, and the (empty) file is still written.
    assert run(pytester, "--hosts=ansible://nomatch", f"--ansible-inventory={inventory}") == []


BACKGROUND_TESTS = """
import os
import threading
import pytest
from soc2audit.pytest_plugin import background

LOG = os.environ["SOC2_BG_LOG"]
# Each host's probe waits here for the other's: it passes only if both run at the same time
# (probes run one by one, on demand, would break it after its timeout).
BOTH_RUNNING = threading.Barrier(2, timeout=30)


def _log(line):
    with open(LOG, "a") as handle:
        handle.write(line + "\\n")


@background
def _peer_view(target):
    _log(f"probe {target.name}")
    BOTH_RUNNING.wait()
    peer = target.peer()
    return {"host": target.name, "address": target.address, "groups": target.groups,
            "from": peer.name, "echo": peer.host.check_output("echo from-" + peer.name)}


@background
def _broken(target):
    if target.name == "web1":
        raise RuntimeError("the peer's probe could not run: exit 2")
    pytest.skip("not applicable: only web1 has one")


@pytest.mark.soc2_check("TIME-90")
def test_uses_the_probe(host, soc2_background, soc2_record):
    _log(f"check {host.backend.get_hostname()}")
    seen = soc2_background(_peer_view)
    soc2_record(observed=seen)
    assert seen["echo"] == "from-" + seen["from"]


@pytest.mark.soc2_check("TIME-91")
def test_probe_errors_and_skips(host, soc2_background):
    soc2_background(_broken)
"""


def test_background_probes_start_for_every_host_before_the_first_check(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every host's background probe is started when collection ends, so the waits of all hosts
    overlap (the probes meet at a barrier); its value, exception or skip reaches the check that
    asks for it."""
    inventory = pytester.path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(INVENTORY))
    log = pytester.path / "order.log"
    monkeypatch.setenv("SOC2_BG_LOG", str(log))
    pytester.makepyfile(test_background=BACKGROUND_TESTS)
    lines = run(pytester, "--hosts=ansible://all", f"--ansible-inventory={inventory}")
    got = {(line["host"], line["check_id"]): line for line in lines}
    order = log.read_text().split("\n")
    # Both hosts' probes ran at once (BOTH_RUNNING), each once.
    assert order.count("probe web1") == 1 and order.count("probe web2") == 1, order
    assert got[("web1", "TIME-90")]["result"] == "pass"
    assert got[("web1", "TIME-90")]["observed"] == {
        "host": "web1",
        "address": "192.0.2.11",
        "groups": ["edge"],
        "from": "web2",
        "echo": "from-web2",
    }
    assert got[("web2", "TIME-90")]["observed"]["from"] == "web1"
    assert got[("web1", "TIME-91")]["result"] == "error"
    assert "the peer's probe could not run: exit 2" in got[("web1", "TIME-91")]["message"]
    assert got[("web2", "TIME-91")]["result"] == "not_applicable"


def test_xdist_controller_writes_the_same_results_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES)
    serial = run(pytester)
    parallel = run(pytester, "-n", "2", subprocess=True)
    strip = [{k: v for k, v in line.items() if k not in ("started", "finished")} for line in serial]
    assert [
        {k: v for k, v in line.items() if k not in ("started", "finished")} for line in parallel
    ] == strip


def test_a_crashed_xdist_worker_is_an_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_crash="""
        import os
        import pytest

        @pytest.mark.soc2_check("AUD-90")
        def test_crashes(host):
            os._exit(3)

        @pytest.mark.soc2_check("AUD-91")
        def test_fine(host):
            pass
        """
    )
    got = by_check(run(pytester, "-n", "1", subprocess=True))
    assert got["AUD-90"]["result"] == "error"
    assert "crashed" in got["AUD-90"]["message"]
    assert got["AUD-91"]["result"] == "pass"


def test_multiplex_adds_a_control_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import testinfra

    monkeypatch.setattr(pytest_plugin, "control_dir", lambda: tmp_path / "cp")
    host = testinfra.get_host(
        "ssh://root@192.0.2.1",
        ssh_extra_args="-o ControlMaster=auto -o ControlPersist=120s",
        ssh_identity_file="/k",
    )
    pytest_plugin.multiplex(host)
    cmd, args = host.backend._build_ssh_command("true")
    line = " ".join(cmd) % tuple(args)
    assert f"-o ControlPath={tmp_path}/cp/ti-%C" in line
    assert "ControlMaster=auto" in line and "-i /k" in line


# ---------------------------------------------------------------- controls/ and the catalog


def control_checks() -> dict[str, str]:
    """`controls/test_x.py::test_name` -> check id, read from the soc2_check markers."""
    found: dict[str, str] = {}
    for path in sorted((REPO / "controls").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and ast.unparse(deco.func) == "pytest.mark.soc2_check"
                    and deco.args
                    and isinstance(deco.args[0], ast.Constant)
                ):
                    found[f"controls/{path.name}::{node.name}"] = str(deco.args[0].value)
    return found


def test_controls_are_only_collected_with_the_plugin() -> None:
    """`pytest` without the plugin (tests/unit, tests/integration, or a bare `pytest .`) never
    runs controls/: controls/conftest.py ignores its files unless the plugin is loaded."""
    base = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    without = subprocess.run(
        [*base, "controls"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert without.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, without.stdout
    with_plugin = subprocess.run(
        [*base, *PLUGIN[:2], "--hosts=local://", "controls"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert with_plugin.returncode == 0, with_plugin.stdout + with_plugin.stderr
    assert set(control_checks()) <= {
        line.split("[")[0] for line in with_plugin.stdout.splitlines() if "::" in line
    }
