# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""End-to-end tests for library/soc2_time.py, run through AnsibleModule in-process.

chronyc, systemctl and pmc are replaced by small executable stub scripts in tmp_path that print
the RECORDED real outputs from tests/unit/fixtures (and exit with the recorded exit codes); the
stub directory goes first on PATH. Each stub logs its arguments, so the tests also check which
commands one module run executes. Any unexpected invocation makes the stub exit 99.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import soc2_time
from ansible.module_utils import soc2_chrony
from module_runner import invoke

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHRONY = FIXTURES / "chrony"
PTP = FIXTURES / "ptp"
CHECK_IDS = ["TIME-01", "TIME-02", "TIME-03", "TIME-04", "TIME-05", "TIME-06", "TIME-07"]
UNITS = "chrony.service systemd-timesyncd.service ntp.service ntpsec.service openntpd.service"
DEFAULT_UNITS = "chrony systemd-timesyncd ntp ntpsec openntpd"
PMC_ARGS = "-u -b 0 -s {uds} GET CURRENT_DATA_SET GET PORT_DATA_SET GET TIME_STATUS_NP"
NO_SYSTEMD = "System has not been booted with systemd as init system (PID 1). Can't operate."

# (stdout fixture or None, stderr fixture or None, exit code)
Case = tuple[Path | None, Path | None, int]


class Stubs:
    """Writes stub programs into one directory and records how they were called."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir()
        self.log = directory.parent / "calls.log"
        self.log.touch()

    def program(self, name: str, cases: dict[str, Case]) -> Path:
        lines = [
            "#!/bin/sh",
            f"printf '%s\\n' \"{name} $*\" >> '{self.log}'",
            'case "$*" in',
        ]
        for args, (stdout, stderr, rc) in cases.items():
            body = []
            if stdout is not None:
                body.append(f"/bin/cat '{stdout}'")
            if stderr is not None:
                body.append(f"/bin/cat '{stderr}' >&2")
            body.append(f"exit {rc}")
            lines.append(f"  '{args}') {'; '.join(body)} ;;")
        lines.append(
            f"  *) printf 'stub {name}: unexpected arguments: %s\\n' \"$*\" >&2; exit 99 ;;"
        )
        lines.append("esac")
        path = self.dir / name
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o755)
        return path

    def chronyc(self, tracking: str = "synced", sources: str | None = None, rc: int = 0) -> Path:
        return self.program(
            "chronyc",
            {
                "-n -c tracking": (CHRONY / f"{tracking}_tracking.txt", None, rc),
                "-n -c sources": (CHRONY / f"{sources or tracking}_sources.txt", None, rc),
            },
        )

    def systemctl(
        self,
        active: str = "systemctl_is-active_synced.txt",
        active_rc: int = 0,
        enabled: str = "systemctl_is-enabled_enabled.txt",
        enabled_rc: int = 0,
        units: str = UNITS,
    ) -> Path:
        service = units.split()[0]
        return self.program(
            "systemctl",
            {
                f"is-active {units}": (CHRONY / active, None, active_rc),
                f"is-enabled {service}": (CHRONY / enabled, None, enabled_rc),
            },
        )

    def pmc(self, by_uds: dict[str, str]) -> Path:
        return self.program(
            "pmc",
            {PMC_ARGS.format(uds=uds): (PTP / f"{fx}.txt", None, 0) for uds, fx in by_uds.items()},
        )

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture
def stubs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Stubs:
    made = Stubs(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{made.dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return made


RunModule = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture[str]) -> RunModule:
    def run(args: dict[str, Any], *, check_mode: bool = False) -> tuple[int, dict[str, Any]]:
        payload = dict(args)
        if check_mode:
            payload["_ansible_check_mode"] = True
        return invoke(soc2_time.main, payload, capsys)

    return run


def unit_args(**extra: Any) -> dict[str, Any]:
    """Unit names exactly as in the recorded systemctl commands."""
    args: dict[str, Any] = {
        "service": "chrony.service",
        "conflicting_services": UNITS.split()[1:],
    }
    args.update(extra)
    return args


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check_id"]: c for c in result["checks"]}


def results(result: dict[str, Any]) -> list[str]:
    return [c["result"] for c in result["checks"]]


# ------------------------------------------------------------------------------ good host


def test_synchronised_host_end_to_end(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("synced")
    stubs.systemctl()
    rc, result = run_module(unit_args(expected_sources=["10.89.1.2"]))
    assert rc == 0
    assert result["changed"] is False
    assert "failed" not in result
    assert [c["check_id"] for c in result["checks"]] == CHECK_IDS
    assert results(result) == ["pass"] * 5 + ["not_applicable"] * 2
    for chk in result["checks"]:
        assert set(chk) == {"check_id", "result", "observed", "expected", "message"}
    checks = by_id(result)
    assert checks["TIME-01"]["message"] == (
        "synchronised to 10.89.1.2 (stratum 9), leap status Normal"
    )
    assert checks["TIME-02"]["observed"] == 0.000046647
    assert checks["TIME-02"]["expected"] == "<= 0.05"
    assert checks["TIME-02"]["message"] == "clock error bound 0.000046647 s within 0.05 s"
    assert (checks["TIME-03"]["observed"], checks["TIME-03"]["expected"]) == (1, ">= 1")
    assert checks["TIME-04"]["message"] == "sources as configured: 10.89.1.2"
    assert checks["TIME-05"]["message"] == (
        "chrony.service is active and enabled; no conflicting unit running "
        "(systemd-timesyncd.service, ntp.service, ntpsec.service, openntpd.service)"
    )
    assert checks["TIME-06"]["message"] == "PTP not enabled on this host"
    assert result["clock_error_bound"] == 0.000046647
    assert result["tracking"] == {
        "ref_id": "0A590102",
        "ref_name": "10.89.1.2",
        "stratum": 9,
        "ref_time": 1795703300.038945895,
        "system_offset": 0.000012931,
        "last_offset": -0.000000916,
        "rms_offset": 0.000003645,
        "frequency_ppm": 0.038,
        "residual_freq_ppm": -0.002,
        "skew_ppm": 0.179,
        "root_delay": 0.000054736,
        "root_dispersion": 0.000006348,
        "update_interval": 4.1,
        "leap_status": "Normal",
    }
    assert result["sources"] == [
        {
            "mode": "^",
            "state": "*",
            "address": "10.89.1.2",
            "stratum": 8,
            "poll": 2,
            "reach": 255,
            "last_rx": 2,
            "adjusted_offset": -0.000002767,
            "measured_offset": -0.000003683,
            "error": 0.000031036,
        }
    ]
    assert result["services"] == {
        "service": "chrony.service",
        "conflicting": UNITS.split()[1:],
        "active": dict.fromkeys(UNITS.split(), "inactive") | {"chrony.service": "active"},
        "enabled": "enabled",
        "error": None,
    }
    assert result["ptp"] == {"enabled": False, "max_offset_ns": 1000.0, "instances": []}
    # One round trip: two chronyc reports, two systemctl calls, no pmc.
    assert stubs.calls() == [
        "chronyc -n -c tracking",
        "chronyc -n -c sources",
        f"systemctl is-active {UNITS}",
        "systemctl is-enabled chrony.service",
    ]


def test_check_mode_gives_the_same_read_only_result(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("synced")
    stubs.systemctl()
    _, normal = run_module(unit_args())
    rc, checked = run_module(unit_args(), check_mode=True)
    assert rc == 0
    assert checked["changed"] is False
    assert checked["checks"] == normal["checks"]
    assert by_id(checked)["TIME-04"]["result"] == "not_applicable"


def test_default_unit_names(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("trixie_synced")
    stubs.systemctl(units=DEFAULT_UNITS)
    rc, result = run_module({})
    assert rc == 0
    assert (
        results(result)
        == ["pass", "pass", "pass", "not_applicable", "pass"] + ["not_applicable"] * 2
    )
    assert stubs.calls()[2:] == [
        f"systemctl is-active {DEFAULT_UNITS}",
        "systemctl is-enabled chrony",
    ]
    assert by_id(result)["TIME-05"]["message"] == (
        "chrony is active and enabled; no conflicting unit running "
        "(systemd-timesyncd, ntp, ntpsec, openntpd)"
    )


def test_hostnames_are_resolved(
    stubs: Stubs, run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = {"s2a-rec-srv": "10.89.1.2", "s2a-rec-srv2": "10.89.1.4"}

    def getaddrinfo(host: str, port: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in table:
            raise soc2_chrony.socket.gaierror(-2, "Name or service not known")
        return [(2, 2, 17, "", (table[host], 0))]

    monkeypatch.setattr(soc2_chrony.socket, "getaddrinfo", getaddrinfo)
    stubs.chronyc("two_sources")
    stubs.systemctl()
    _, both = run_module(unit_args(expected_sources=["s2a-rec-srv", "s2a-rec-srv2"]))
    assert by_id(both)["TIME-04"]["result"] == "pass"
    assert by_id(both)["TIME-04"]["message"] == "sources as configured: 10.89.1.2, 10.89.1.4"
    _, one = run_module(unit_args(expected_sources=["s2a-rec-srv"]))
    assert by_id(one)["TIME-04"]["message"] == "unexpected: 10.89.1.4"
    _, bad = run_module(unit_args(expected_sources=["s2a-rec-srv", "nowhere"]))
    assert by_id(bad)["TIME-04"]["result"] == "error"
    assert by_id(bad)["TIME-04"]["message"] == (
        "cannot resolve expected source nowhere: [Errno -2] Name or service not known"
    )


# ------------------------------------------------------------------------------ drift


def test_source_replaced_by_hand(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("replaced")
    stubs.systemctl()
    _, result = run_module(unit_args(expected_sources=["10.89.1.2"]))
    chk = by_id(result)["TIME-04"]
    assert chk["result"] == "fail"
    assert chk["message"] == "missing: 10.89.1.2; unexpected: 10.89.1.4"
    assert (chk["observed"], chk["expected"]) == (["10.89.1.4"], ["10.89.1.2"])
    assert results(result)[:3] == ["pass", "pass", "pass"]


def test_server_200ms_ahead_fails_the_error_bound(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("ahead_200ms")
    stubs.systemctl()
    _, result = run_module(unit_args(expected_sources=["10.89.1.4"]))
    assert results(result) == ["pass", "fail", "pass", "pass", "pass"] + ["not_applicable"] * 2
    chk = by_id(result)["TIME-02"]
    assert chk["observed"] == 0.200093539
    assert chk["message"] == (
        "clock error bound 0.200093539 s exceeds 0.05 s: |system offset| 0.200036705 s + "
        "root dispersion 0.000009219 s + root delay/2 0.000047615 s"
    )
    assert result["clock_error_bound"] == 0.200093539
    _, loose = run_module(unit_args(max_error=0.25))
    assert by_id(loose)["TIME-02"]["result"] == "pass"
    assert by_id(loose)["TIME-02"]["expected"] == "<= 0.25"


def test_pending_leap_second_is_at_risk(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("leap_insert_downstream")
    stubs.systemctl()
    _, result = run_module(unit_args())
    chk = by_id(result)["TIME-01"]
    assert chk["result"] == "at_risk"
    assert chk["message"] == "leap second pending (Insert second); synchronised to 10.89.1.3"


def test_unreachable_source(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("unreachable")
    stubs.systemctl()
    _, result = run_module(unit_args(expected_sources=["10.89.1.250"]))
    assert results(result) == ["fail", "fail", "fail", "pass", "pass"] + ["not_applicable"] * 2
    checks = by_id(result)
    assert checks["TIME-01"]["message"] == (
        "not synchronised: leap status Not synchronised, no source selected"
    )
    assert checks["TIME-02"]["observed"] == 1.500000586
    assert checks["TIME-03"]["message"] == (
        "0 reachable sources (minimum 1); not counted: 10.89.1.250 unreachable (reach 0)"
    )


def test_lost_server(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("server_lost")
    stubs.systemctl()
    _, result = run_module(unit_args(expected_sources=["10.89.1.2"]))
    assert results(result) == ["fail", "pass", "fail", "pass", "pass"] + ["not_applicable"] * 2
    assert by_id(result)["TIME-02"]["observed"] == 0.000253244


def test_no_sources(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("no_sources")
    stubs.systemctl()
    _, result = run_module(unit_args(expected_sources=["10.89.1.2"]))
    assert results(result) == ["fail", "fail", "fail", "fail", "pass"] + ["not_applicable"] * 2
    assert by_id(result)["TIME-04"]["message"] == "missing: 10.89.1.2"
    assert result["sources"] == []


def test_time_server_on_its_local_reference(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("local_reference")
    stubs.systemctl()
    _, strict = run_module(unit_args())
    assert results(strict)[:3] == ["fail", "pass", "fail"]
    _, result = run_module(unit_args(local_reference_ok=True, min_sources=0))
    assert (
        results(result)
        == ["pass", "pass", "pass", "not_applicable", "pass"] + ["not_applicable"] * 2
    )
    assert result["clock_error_bound"] == 0.0


# ------------------------------------------------------------------------------ errors


def test_chronyd_not_running(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("daemon_down", rc=1)
    stubs.systemctl(active="systemctl_is-active_all_inactive.txt", active_rc=3)
    _, result = run_module(unit_args(expected_sources=["10.89.1.2"]))
    assert results(result) == ["error"] * 4 + ["fail"] + ["not_applicable"] * 2
    checks = by_id(result)
    tracking_why = "`chronyc -n -c tracking` exited 1: 506 Cannot talk to daemon"
    sources_why = "`chronyc -n -c sources` exited 1: 506 Cannot talk to daemon"
    assert checks["TIME-01"]["message"] == f"cannot read chrony state: {tracking_why}"
    assert checks["TIME-02"]["message"] == f"cannot read chrony tracking: {tracking_why}"
    assert checks["TIME-02"]["observed"] is None
    assert checks["TIME-03"]["message"] == f"cannot read chrony sources: {sources_why}"
    assert checks["TIME-04"]["message"] == f"cannot read chrony sources: {sources_why}"
    assert checks["TIME-05"]["message"] == "chrony.service is inactive"
    assert result["tracking"] is None
    assert result["sources"] is None
    assert result["clock_error_bound"] is None


def test_chronyd_down_without_expected_sources_keeps_time04_not_applicable(
    stubs: Stubs, run_module: RunModule
) -> None:
    stubs.chronyc("daemon_down", rc=1)
    stubs.systemctl(active="systemctl_is-active_all_inactive.txt", active_rc=3)
    _, result = run_module(unit_args())
    assert results(result)[:4] == ["error", "error", "error", "not_applicable"]


def test_chronyc_missing(stubs: Stubs, run_module: RunModule) -> None:
    stubs.systemctl()
    _, result = run_module(unit_args(chronyc="/nonexistent/chronyc"))
    assert results(result)[:5] == ["error", "error", "error", "not_applicable", "pass"]
    assert by_id(result)["TIME-01"]["message"] == (
        "cannot read chrony state: /nonexistent/chronyc is not an executable file"
    )
    assert stubs.calls()[0].startswith("systemctl ")


def test_chronyc_not_on_path(
    stubs: Stubs, run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("chronyc", path="/sbin:/usr/sbin:/usr/local/sbin"):
        pytest.skip("a real chronyc in an sbin directory would be found")
    stubs.systemctl()
    monkeypatch.setenv("PATH", str(stubs.dir))
    _, result = run_module(unit_args())
    assert by_id(result)["TIME-02"]["message"] == (
        "cannot read chrony tracking: chronyc not found on PATH"
    )


def test_chronyc_option_takes_an_absolute_path(
    stubs: Stubs, run_module: RunModule, tmp_path: Path
) -> None:
    stubs.systemctl()
    other = Stubs(tmp_path / "elsewhere")
    program = other.chronyc("nts")
    _, result = run_module(unit_args(chronyc=str(program)))
    assert by_id(result)["TIME-01"]["message"] == (
        "synchronised to 10.89.1.5 (stratum 9), leap status Normal"
    )


def test_unparseable_chronyc_output_is_an_error(stubs: Stubs, run_module: RunModule) -> None:
    # The recorded sources report where the tracking report belongs.
    stubs.program(
        "chronyc",
        {
            "-n -c tracking": (CHRONY / "synced_sources.txt", None, 0),
            "-n -c sources": (CHRONY / "synced_sources.txt", None, 0),
        },
    )
    stubs.systemctl()
    _, result = run_module(unit_args(expected_sources=["10.89.1.2"]))
    assert results(result)[:5] == ["error", "error", "pass", "pass", "pass"]
    assert by_id(result)["TIME-02"]["message"] == (
        "cannot read chrony tracking: cannot parse `chronyc -n -c tracking` output: "
        "tracking: expected 14 fields, got 10: "
        "'^,*,10.89.1.2,8,2,377,2,-0.000002767,-0.000003683,0.000031036'"
    )


def test_no_systemd_is_an_error_for_time05_only(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("synced")
    stubs.program(
        "systemctl",
        {f"is-active {UNITS}": (None, CHRONY / "systemctl_no_systemd_is-active.stderr.txt", 1)},
    )
    _, result = run_module(unit_args())
    assert results(result)[:5] == ["pass", "pass", "pass", "not_applicable", "error"]
    assert by_id(result)["TIME-05"]["message"] == (
        f"cannot read unit states: `systemctl is-active {UNITS}` exited 1: {NO_SYSTEMD} "
        "(systemctl is-active: expected 5 lines for "
        "chrony.service, systemd-timesyncd.service, ntp.service, ntpsec.service, "
        "openntpd.service, got 0)"
    )
    assert result["services"]["active"] is None
    assert stubs.calls()[2:] == [f"systemctl is-active {UNITS}"]


def test_chrony_unit_missing(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("daemon_down", rc=1)
    stubs.program(
        "systemctl",
        {
            f"is-active {UNITS}": (CHRONY / "systemctl_is-active_all_inactive.txt", None, 3),
            "is-enabled chrony.service": (
                None,
                CHRONY / "systemctl_no_systemd_is-enabled.stderr.txt",
                1,
            ),
        },
    )
    _, result = run_module(unit_args())
    chk = by_id(result)["TIME-05"]
    assert chk["result"] == "fail"
    assert chk["message"] == "chrony.service is inactive; chrony.service is not enabled (not-found)"
    assert result["services"]["enabled"] == "not-found"


def test_masked_chrony(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("synced")
    stubs.systemctl(enabled="systemctl_is-enabled_masked.txt", enabled_rc=1)
    _, result = run_module(unit_args())
    assert by_id(result)["TIME-05"]["message"] == "chrony.service is not enabled (masked)"


# ------------------------------------------------------------------------------ PTP


def ptp_args(instances: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return unit_args(ptp={"enabled": True, "instances": instances, **extra})


def test_ptp_client_and_grandmaster(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("synced")
    stubs.systemctl()
    stubs.pmc({"/var/run/ptp4l-eth0": "trixie_client_locked", "/run/ptp4l-gm": "trixie_gm"})
    instances = [
        {"name": "eth0"},
        {"name": "eth1", "role": "grandmaster", "uds": "/run/ptp4l-gm"},
    ]
    _, result = run_module(ptp_args(instances))
    checks = by_id(result)
    assert (checks["TIME-06"]["result"], checks["TIME-06"]["message"]) == (
        "pass",
        "eth0 (client): port SLAVE; eth1 (grandmaster): port MASTER",
    )
    assert checks["TIME-06"]["observed"] == {"by_instance": {"eth0": "SLAVE", "eth1": "MASTER"}}
    assert (checks["TIME-07"]["result"], checks["TIME-07"]["message"]) == (
        "pass",
        "eth0: offset -363 ns within 1000 ns; eth1: grandmaster, no offset",
    )
    ptp = result["ptp"]
    assert [(i["name"], i["role"], i["uds"], i["error"]) for i in ptp["instances"]] == [
        ("eth0", "client", "/var/run/ptp4l-eth0", None),
        ("eth1", "grandmaster", "/run/ptp4l-gm", None),
    ]
    assert ptp["instances"][0]["data"]["offsetFromMaster"] == -363.0
    assert ptp["instances"][1]["data"]["gmPresent"] is False
    assert stubs.calls()[4:] == [
        "pmc " + PMC_ARGS.format(uds="/var/run/ptp4l-eth0"),
        "pmc " + PMC_ARGS.format(uds="/run/ptp4l-gm"),
    ]


def test_ptp_client_offset_and_state_failures(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("synced")
    stubs.systemctl()
    stubs.pmc(
        {
            "/var/run/ptp4l-eth0": "trixie_client_offset_high",
            "/var/run/ptp4l-eth1": "bookworm_client_uncalibrated",
        }
    )
    _, result = run_module(ptp_args([{"name": "eth0"}, {"name": "eth1"}], max_offset_ns=2000))
    checks = by_id(result)
    assert (checks["TIME-06"]["result"], checks["TIME-06"]["message"]) == (
        "fail",
        "eth1 (client): port UNCALIBRATED, expected SLAVE",
    )
    assert (checks["TIME-07"]["result"], checks["TIME-07"]["message"]) == (
        "fail",
        "eth1: offset -24140 ns exceeds 2000 ns; eth0: offset -23809 ns exceeds 2000 ns",
    )
    assert checks["TIME-07"]["expected"] == "<= 2000"


def test_ptp_master_lost(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("synced")
    stubs.systemctl()
    stubs.pmc({"/var/run/ptp4l-eth0": "trixie_client_master_lost"})
    _, result = run_module(ptp_args([{"name": "eth0"}]))
    assert results(result)[5:] == ["fail", "fail"]
    assert by_id(result)["TIME-07"]["message"] == (
        "eth0: no current offset (port LISTENING); last value 984 ns"
    )


def test_ptp4l_not_running_is_an_error(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("synced")
    stubs.systemctl()
    stubs.pmc({"/var/run/ptp4l-eth0": "no_daemon"})
    _, result = run_module(ptp_args([{"name": "eth0"}]))
    assert results(result) == ["pass", "pass", "pass", "not_applicable", "pass", "error", "error"]
    why = (
        "pmc on /var/run/ptp4l-eth0: no response from ptp4l "
        "(GET CURRENT_DATA_SET, GET PORT_DATA_SET, GET TIME_STATUS_NP)"
    )
    assert by_id(result)["TIME-06"]["message"] == f"eth0: cannot read the port state: {why}"
    assert by_id(result)["TIME-07"]["message"] == f"eth0: cannot read the offset: {why}"
    assert result["ptp"]["instances"][0]["error"] == why


def test_pmc_missing_is_an_error(
    stubs: Stubs, run_module: RunModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("pmc", path="/sbin:/usr/sbin:/usr/local/sbin"):
        pytest.skip("a real pmc in an sbin directory would be found")
    stubs.chronyc("synced")
    stubs.systemctl()
    monkeypatch.setenv("PATH", str(stubs.dir))
    _, result = run_module(ptp_args([{"name": "eth0"}]))
    assert by_id(result)["TIME-06"]["message"] == (
        "eth0: cannot read the port state: pmc not found on PATH"
    )
    assert results(result)[5:] == ["error", "error"]


def test_ptp_enabled_without_instances(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("synced")
    stubs.systemctl()
    _, result = run_module(ptp_args([]))
    assert results(result)[5:] == ["error", "error"]
    assert by_id(result)["TIME-06"]["message"] == (
        "ptp.enabled is true but no ptp4l instances are configured"
    )


def test_ptp_disabled_does_not_run_pmc(stubs: Stubs, run_module: RunModule) -> None:
    stubs.chronyc("synced")
    stubs.systemctl()
    stubs.pmc({"/var/run/ptp4l-eth0": "trixie_client_locked"})
    _, result = run_module(unit_args(ptp={"enabled": False, "instances": [{"name": "eth0"}]}))
    assert results(result)[5:] == ["not_applicable", "not_applicable"]
    assert not [c for c in stubs.calls() if c.startswith("pmc")]
    assert result["ptp"]["instances"][0]["data"] is None


# ------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"max_error": 0}, "max_error must be above 0"),
        ({"min_sources": -1}, "min_sources must not be negative"),
        ({"expected_sources": [" "]}, "expected_sources must not contain empty entries"),
        (
            {"conflicting_services": ["chrony.service"]},
            "service chrony.service is also in conflicting_services",
        ),
        (
            {"ptp": {"enabled": True, "instances": [{"name": "eth0"}, {"name": "eth0"}]}},
            "duplicate ptp instance name 'eth0'",
        ),
        ({"ptp": {"max_offset_ns": 0}}, "ptp.max_offset_ns must be above 0"),
    ],
)
def test_invalid_parameters_fail(
    stubs: Stubs, run_module: RunModule, extra: dict[str, Any], message: str
) -> None:
    rc, result = run_module(unit_args(**extra))
    assert rc == 1
    assert result["failed"] is True
    assert result["msg"] == f"invalid parameters: {message}"
    assert stubs.calls() == []


def test_unknown_ptp_role_is_rejected(stubs: Stubs, run_module: RunModule) -> None:
    rc, result = run_module(ptp_args([{"name": "eth0", "role": "boundary"}]))
    assert rc == 1
    assert "value of role must be one of: client, grandmaster" in result["msg"]
