# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/module_utils/soc2_chrony.py against recorded real outputs.

Every fixture under tests/unit/fixtures/chrony and tests/unit/fixtures/ptp is unmodified output
of chronyc / systemctl / pmc recorded in lab containers (see the README.txt next to them). Where
a state could not be recorded (a Delete second, a falseticker, a running conflicting daemon) the
test changes one parsed field in code and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import soc2_chrony as chrony

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHRONY = FIXTURES / "chrony"
PTP = FIXTURES / "ptp"
UNITS = ["chrony.service", "systemd-timesyncd.service", "ntp.service", "ntpsec.service"]
UNITS.append("openntpd.service")


def text(path: Path) -> str:
    return path.read_text()


def tracking(name: str) -> dict[str, Any]:
    return chrony.parse_tracking(text(CHRONY / f"{name}_tracking.txt"))


def sources(name: str) -> list[dict[str, Any]]:
    return chrony.parse_sources(text(CHRONY / f"{name}_sources.txt"))


def pmc(name: str) -> dict[str, Any]:
    return chrony.parse_pmc(text(PTP / f"{name}.txt"))


def services(
    active: str = "systemctl_is-active_synced.txt",
    enabled: str | None = "enabled",
) -> dict[str, Any]:
    return {
        "service": "chrony.service",
        "conflicting": UNITS[1:],
        "active": chrony.parse_is_active(text(CHRONY / active), UNITS),
        "enabled": enabled,
        "error": None,
    }


# ------------------------------------------------------------------------------ parse_tracking

# The 14 fields in chronyc order, typed, exactly as recorded.
TRACKING = {
    "synced": ("0A590102", "10.89.1.2", 9, 1795703300.038945895, 0.000012931, -0.000000916,
               0.000003645, 0.038, -0.002, 0.179, 0.000054736, 0.000006348, 4.1, "Normal"),
    "two_sources": ("0A590104", "10.89.1.4", 9, 1795703589.536235156, 0.000013008, 0.000002241,
                    0.000002626, -0.017, 0.015, 0.449, 0.000055982, 0.000009936, 4.1, "Normal"),
    "replaced": ("0A590104", "10.89.1.4", 9, 1795703560.774404328, 0.000020618, 0.000002206,
                 0.000003076, -0.506, 0.014, 1.446, 0.000059385, 0.000014282, 4.1, "Normal"),
    "server_lost": ("0A590102", "10.89.1.2", 9, 1795703398.976549620, 0.000037851, 0.000000454,
                    0.000002271, -0.182, 0.004, 0.613, 0.000053060, 0.000188863, 4.1, "Normal"),
    "unreachable": ("00000000", "", 0, 0.0, -0.000000586, 0.0, 0.0, 0.029, 0.0, 0.0, 1.0, 1.0,
                    0.0, "Not synchronised"),
    "no_sources": ("00000000", "", 0, 0.0, -0.000000092, 0.0, 0.0, 0.029, 0.0, 0.0, 1.0, 1.0,
                   0.0, "Not synchronised"),
    "local_reference": ("7F7F0101", "", 8, 1795704263.189941843, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                        0.0, 0.0, 0.0, "Normal"),
    "trixie_local_reference": ("7F7F0101", "", 8, 1795704263.489925940, 0.0, 0.0, 0.0, 0.0, 0.0,
                               0.0, 0.0, 0.0, 0.0, "Normal"),
    "leap_insert": ("0A590104", "10.89.1.4", 9, 1483221646.024571923, 0.000034490, -0.000000377,
                    0.000009461, 0.349, -0.003, 0.833, 0.000121955, 0.000006355, 4.0,
                    "Insert second"),
    "leap_insert_downstream": ("0A590103", "10.89.1.3", 10, 1483221667.552272885, 0.000075188,
                               0.000034604, 0.000029711, -0.544, 0.189, 5.878, 0.000259849,
                               0.000080358, 4.1, "Insert second"),
    "ahead_200ms": ("0A590104", "10.89.1.4", 9, 1795703743.500397450, 0.200036705, 0.000001929,
                    0.000007362, 0.312, 0.033, 0.858, 0.000095230, 0.000009219, 4.0, "Normal"),
    "ahead_kernel_rx": ("0A590104", "10.89.1.4", 9, 1795703670.832436364, 0.100013472,
                        -0.000000910, 0.000006564, 0.052, -0.004, 0.340, 0.199921772,
                        0.000021659, 4.1, "Normal"),
    "trixie_synced": ("0A590102", "10.89.1.2", 9, 1795704079.415698188, 0.000034870, 0.000000306,
                      0.000001265, -0.748, 0.001, 2.056, 0.000070460, 0.000011291, 4.1, "Normal"),
    "nts": ("0A590105", "10.89.1.5", 9, 1795704110.859296736, 0.000014383, 0.000000360,
            0.000002935, -0.058, 0.003, 1.726, 0.000056672, 0.000014602, 4.0, "Normal"),
}  # fmt: skip

# clock_error_bound = |system_offset| + root_dispersion + root_delay / 2, by hand.
BOUNDS = {
    "synced": 0.000046647,  # 0.000012931 + 0.000006348 + 0.000027368
    "two_sources": 0.000050935,
    "replaced": 0.000064593,
    "server_lost": 0.000253244,
    "unreachable": 1.500000586,  # 0.000000586 + 1 + 0.5
    "no_sources": 1.500000092,
    "local_reference": 0.0,
    "trixie_local_reference": 0.0,
    "leap_insert": 0.000101822,
    "leap_insert_downstream": 0.000285470,
    "ahead_200ms": 0.200093539,  # 0.200036705 + 0.000009219 + 0.000047615
    "ahead_kernel_rx": 0.199996017,  # 0.100013472 + 0.000021659 + 0.099960886
    "trixie_synced": 0.000081391,
    "nts": 0.000057321,
}


def test_every_recorded_tracking_fixture_is_covered() -> None:
    names = {p.name[: -len("_tracking.txt")] for p in CHRONY.glob("*_tracking.txt")}
    assert names == set(TRACKING) | {"daemon_down"}
    assert set(BOUNDS) == set(TRACKING)


@pytest.mark.parametrize("name", sorted(TRACKING))
def test_parse_tracking_exact(name: str) -> None:
    parsed = tracking(name)
    assert list(parsed) == list(chrony.TRACKING_FIELDS)
    assert tuple(parsed.values()) == TRACKING[name]
    assert isinstance(parsed["stratum"], int)
    for field in chrony.TRACKING_FIELDS[3:13]:
        assert isinstance(parsed[field], float), field


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_clock_error_bound_on_every_fixture(name: str) -> None:
    assert chrony.clock_error_bound(tracking(name)) == BOUNDS[name]


def test_clock_error_bound_uses_the_absolute_system_offset_not_the_last_offset() -> None:
    base = dict(tracking("synced"))
    base.update(system_offset=-0.03, last_offset=0.5, root_dispersion=0.001, root_delay=0.004)
    assert chrony.clock_error_bound(base) == 0.033
    # Recorded: a clock 200 ms off under chronyd -x has a last offset of 1.9 us; the bound
    # still shows the 200 ms (|last offset| would give 0.000059 s and pass a 50 ms limit).
    ahead = tracking("ahead_200ms")
    assert abs(ahead["last_offset"]) + ahead["root_dispersion"] + ahead["root_delay"] / 2 < 0.001
    assert chrony.clock_error_bound(ahead) > 0.2


def test_daemon_down_output_is_a_parse_error() -> None:
    with pytest.raises(chrony.ParseError, match=r"expected 14 fields, got 1: '506 Cannot talk"):
        tracking("daemon_down")
    with pytest.raises(chrony.ParseError, match=r"expected 10 fields, got 1"):
        sources("daemon_down")


GOOD_LINE = text(CHRONY / "synced_tracking.txt").strip()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "expected one CSV line, got 0"),
        (GOOD_LINE + "\n" + GOOD_LINE, "expected one CSV line, got 2"),
        (GOOD_LINE + ",extra", "expected 14 fields, got 15"),
        (GOOD_LINE.rsplit(",", 1)[0], "expected 14 fields, got 13"),
        (GOOD_LINE.replace(",9,", ",nine,", 1), "stratum: 'nine' is not an integer"),
        (GOOD_LINE.replace("0.000054736", "0.0000x4736"), "root_delay: '0.0000x4736' is not a"),
        (GOOD_LINE.replace("0.000054736", "nan"), "root_delay: 'nan' is not a finite number"),
        (GOOD_LINE.replace("0A590102", "0A59010"), "ref_id: '0A59010' is not 8 hex digits"),
        (GOOD_LINE.replace("Normal", "Unknown"), "leap_status: unknown value 'Unknown'"),
    ],
)
def test_parse_tracking_rejects_malformed_input(line: str, message: str) -> None:
    with pytest.raises(chrony.ParseError) as exc:
        chrony.parse_tracking(line)
    assert message in str(exc.value)


# ------------------------------------------------------------------------------- parse_sources

SOURCES = {
    "synced": [("^", "*", "10.89.1.2", 8, 2, 255, 2, -0.000002767, -0.000003683, 0.000031036)],
    "two_sources": [
        ("^", "*", "10.89.1.4", 8, 2, 255, 1, 0.000018623, 0.000020864, 0.000048600),
        ("^", "-", "10.89.1.2", 8, 2, 255, 2, 0.000001944, 0.000004143, 0.000034946),
    ],
    "replaced": [("^", "*", "10.89.1.4", 8, 2, 255, 4, 0.000002758, 0.000004964, 0.000029728)],
    "server_lost": [("^", "?", "10.89.1.2", 8, 4, 0, 113, 0.000005275, 0.000005729, 0.000054427)],
    "unreachable": [("^", "?", "10.89.1.250", 0, 4, 0, 4294967295, 0.0, 0.0, 0.0)],
    "no_sources": [],
    "local_reference": [],
    "trixie_local_reference": [],
    "leap_insert": [("^", "*", "10.89.1.4", 8, 2, 255, 2, -0.000000253, -0.000000630, 0.000061087)],
    "leap_insert_downstream": [
        ("^", "*", "10.89.1.3", 9, 2, 255, 8, 0.000008814, 0.000043417, 0.000145294)
    ],
    "ahead_200ms": [("^", "*", "10.89.1.4", 8, 2, 255, 2, -0.000000866, 0.000001063, 0.000055417)],
    "ahead_kernel_rx": [
        ("^", "*", "10.89.1.4", 8, 3, 255, 8, -0.000003432, -0.000004342, 0.099969164)
    ],
    "trixie_synced": [("^", "*", "10.89.1.2", 8, 2, 255, 2, 0.000000970, 0.000001276, 0.000035265)],
    "nts": [("^", "*", "10.89.1.5", 8, 2, 255, 0, 0.000000420, 0.000002014, 0.000029076)],
}  # fmt: skip


def test_every_recorded_sources_fixture_is_covered() -> None:
    names = {p.name[: -len("_sources.txt")] for p in CHRONY.glob("*_sources.txt")}
    assert names == set(SOURCES) | {"daemon_down"}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_parse_sources_exact(name: str) -> None:
    parsed = sources(name)
    assert [list(s) for s in parsed] == [list(chrony.SOURCES_FIELDS)] * len(parsed)
    assert [tuple(s.values()) for s in parsed] == SOURCES[name]


@pytest.mark.parametrize(
    ("octal", "value"), [("0", 0), ("1", 1), ("17", 15), ("37", 31), ("200", 128), ("377", 255)]
)
def test_reach_is_read_as_octal(octal: str, value: int) -> None:
    (source,) = chrony.parse_sources(f"^,*,10.0.0.1,2,6,{octal},5,0.1,0.1,0.1\n")
    assert source["reach"] == value


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("^,*,10.0.0.1,2,6,377,5,0.1,0.1", "sources line 1: expected 10 fields, got 9"),
        ("^,*,10.0.0.1,2,6,378,5,0.1,0.1,0.1", "reach: '378' is not an octal number"),
        ("^,*,10.0.0.1,2,6,-1,5,0.1,0.1,0.1", "reach: '-1' is not an octal number"),
        ("^,*,10.0.0.1,two,6,377,5,0.1,0.1,0.1", "stratum: 'two' is not an integer"),
        ("^,*,10.0.0.1,2,6,377,5,0.1,fast,0.1", "measured_offset: 'fast' is not a number"),
        ("!,*,10.0.0.1,2,6,377,5,0.1,0.1,0.1", "unknown mode '!'"),
        ("^,#,10.0.0.1,2,6,377,5,0.1,0.1,0.1", "unknown state '#'"),
        ("^,*,,2,6,377,5,0.1,0.1,0.1", "empty address"),
    ],
)
def test_parse_sources_rejects_malformed_input(line: str, message: str) -> None:
    good = text(CHRONY / "synced_sources.txt")
    with pytest.raises(chrony.ParseError) as exc:
        chrony.parse_sources(good + line + "\n")
    assert message.replace("line 1", "line 2") in str(exc.value)


# ----------------------------------------------------------------------------------- parse_pmc

PMC = {
    "bookworm_gm": ("MASTER", 0, 0.0, 0.0, 0, 0, False, "a6cb5d.fffe.bc6fcd"),
    "bookworm_client_uncalibrated": (
        "UNCALIBRATED", 1, -24140.0, 34205.0, -24140, 1795703917309049838, True,
        "a6cb5d.fffe.bc6fcd",
    ),
    "trixie_gm": ("MASTER", 0, 0.0, 0.0, 0, 0, False, "1ade5f.fffe.9e4fbc"),
    "trixie_client_locked": (
        "SLAVE", 1, -363.0, 29619.0, -363, 1795704028372126951, True, "1ade5f.fffe.9e4fbc",
    ),
    "trixie_client_offset_high": (
        "SLAVE", 1, -23809.0, 32352.0, -23809, 1795704288135186102, True, "b2b882.fffe.994036",
    ),
    "trixie_client_master_lost": (
        "LISTENING", 1, 984.0, 29621.0, 984, 0, True, "1ade5f.fffe.9e4fbc",
    ),
}  # fmt: skip
PMC_KEYS = (
    "portState",
    "stepsRemoved",
    "offsetFromMaster",
    "meanPathDelay",
    "master_offset",
    "ingress_time",
    "gmPresent",
    "gmIdentity",
)


def test_every_recorded_pmc_fixture_is_covered() -> None:
    names = {p.stem for p in PTP.glob("*.txt")} - {"README"}
    assert names == set(PMC) | {"no_daemon", "error_status_ro_socket"}


@pytest.mark.parametrize("name", sorted(PMC))
def test_parse_pmc_exact(name: str) -> None:
    parsed = pmc(name)
    assert tuple(parsed[k] for k in PMC_KEYS) == PMC[name]
    assert parsed["errors"] == []
    assert parsed["port_states"] == {parsed["portIdentity"]: PMC[name][0]}
    assert set(parsed["responses"]) == {"CURRENT_DATA_SET", "PORT_DATA_SET", "TIME_STATUS_NP"}
    port = parsed["responses"]["PORT_DATA_SET"][0]
    assert port["logAnnounceInterval"] == 1
    assert port["versionNumber"] == 2
    status = parsed["responses"]["TIME_STATUS_NP"][0]
    assert status["lastGmPhaseChange"] == "0x0000'0000000000000000.0000"
    assert status["cumulativeScaledRateOffset"] == 0.0


def test_parse_pmc_without_ptp4l_is_a_parse_error() -> None:
    with pytest.raises(chrony.ParseError) as exc:
        pmc("no_daemon")
    assert str(exc.value) == (
        "no response from ptp4l (GET CURRENT_DATA_SET, GET PORT_DATA_SET, GET TIME_STATUS_NP)"
    )


def test_parse_pmc_management_error_status() -> None:
    parsed = pmc("error_status_ro_socket")
    assert parsed["errors"] == ["6a3823.fffe.0543da-0 seq 0"]
    assert parsed["portState"] == "SLAVE"
    assert "offsetFromMaster" not in parsed
    assert set(parsed["responses"]) == {"PORT_DATA_SET"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("offsetFromMaster -363.0", "offsetFromMaster -36x", "offsetFromMaster: '-36x' is not a"),
        ("stepsRemoved     1", "stepsRemoved     one", "stepsRemoved: 'one' is not an integer"),
        ("gmPresent                  true", "gmPresent maybe", "gmPresent: 'maybe' is neither"),
        ("sending: GET PORT_DATA_SET", "garbage here", "pmc line 2: unexpected 'garbage here'"),
    ],
)
def test_parse_pmc_rejects_malformed_input(old: str, new: str, message: str) -> None:
    original = text(PTP / "trixie_client_locked.txt")
    assert old in original
    with pytest.raises(chrony.ParseError) as exc:
        chrony.parse_pmc(original.replace(old, new))
    assert message in str(exc.value)


# ------------------------------------------------------------------------------------ systemctl


def test_parse_is_active_recorded() -> None:
    running = chrony.parse_is_active(text(CHRONY / "systemctl_is-active_synced.txt"), UNITS)
    assert running == dict(zip(UNITS, ["active"] + ["inactive"] * 4, strict=True))
    stopped = chrony.parse_is_active(text(CHRONY / "systemctl_is-active_all_inactive.txt"), UNITS)
    assert set(stopped.values()) == {"inactive"}


def test_parse_is_active_line_count_must_match() -> None:
    with pytest.raises(chrony.ParseError, match=r"expected 5 lines .* got 0"):
        chrony.parse_is_active("", UNITS)
    with pytest.raises(chrony.ParseError, match="expected 2 lines"):
        chrony.parse_is_active(text(CHRONY / "systemctl_is-active_synced.txt"), UNITS[:2])
    with pytest.raises(chrony.ParseError, match="unexpected line 'Active!'"):
        chrony.parse_is_active("Active!\n", UNITS[:1])


@pytest.mark.parametrize(
    ("fixture", "word"),
    [
        ("systemctl_is-enabled_enabled.txt", "enabled"),
        ("systemctl_is-enabled_masked.txt", "masked"),
        ("systemctl_is-enabled_disabled.txt", "disabled"),
    ],
)
def test_parse_is_enabled_recorded(fixture: str, word: str) -> None:
    assert chrony.parse_is_enabled(text(CHRONY / fixture)) == word


def test_parse_is_enabled_empty_is_an_error() -> None:
    with pytest.raises(chrony.ParseError):
        chrony.parse_is_enabled("")


# ------------------------------------------------------------------------------ addresses


@pytest.mark.parametrize(
    ("value", "normal"),
    [("10.89.1.2", "10.89.1.2"), ("0:0::1", "::1"), ("2001:DB8::0:1", "2001:db8::1")],
)
def test_normalise_address(value: str, normal: str) -> None:
    assert chrony.normalise_address(value) == normal
    assert chrony.resolve_source(value) == [normal]


def test_normalise_address_keeps_names() -> None:
    assert chrony.normalise_address(" PHC0 ") == "PHC0"


def test_resolve_source_uses_getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake(host: str, port: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        calls.append((host, port, kwargs))
        return [
            (2, 2, 17, "", ("10.89.1.2", 0)),
            (10, 2, 17, "", ("fe80::1%eth0", 0, 0, 2)),
            (2, 2, 17, "", ("10.89.1.2", 0)),
        ]

    monkeypatch.setattr(chrony.socket, "getaddrinfo", fake)
    assert chrony.resolve_source("timeserver") == ["10.89.1.2", "fe80::1"]
    assert calls == [("timeserver", None, {"proto": chrony.socket.IPPROTO_UDP})]


# ---------------------------------------------------------------------------------- TIME-01


def test_time01_synchronised_passes() -> None:
    chk = chrony.check_synchronised(tracking("synced"), sources("synced"))
    assert chk == {
        "check_id": "TIME-01",
        "result": "pass",
        "observed": {
            "leap_status": "Normal",
            "selected_source": "10.89.1.2",
            "reference": "10.89.1.2",
        },
        "expected": {"leap_status": "Normal", "selected_source": "one source in state *"},
        "message": "synchronised to 10.89.1.2 (stratum 9), leap status Normal",
    }


@pytest.mark.parametrize("name", ["trixie_synced", "nts", "two_sources", "replaced"])
def test_time01_other_synchronised_recordings_pass(name: str) -> None:
    assert chrony.check_synchronised(tracking(name), sources(name))["result"] == "pass"


@pytest.mark.parametrize(
    ("name", "selected"), [("leap_insert", "10.89.1.4"), ("leap_insert_downstream", "10.89.1.3")]
)
def test_time01_pending_insert_second_is_at_risk(name: str, selected: str) -> None:
    chk = chrony.check_synchronised(tracking(name), sources(name))
    assert chk["result"] == "at_risk"
    assert chk["message"] == f"leap second pending (Insert second); synchronised to {selected}"
    assert chk["observed"]["leap_status"] == "Insert second"


def test_time01_pending_delete_second_is_at_risk() -> None:
    # No Delete second was ever scheduled (right/UTC has none): the recorded synchronised
    # tracking with only the leap field changed in code.
    state = dict(tracking("synced"), leap_status="Delete second")
    chk = chrony.check_synchronised(state, sources("synced"))
    assert chk["result"] == "at_risk"
    assert chk["message"] == "leap second pending (Delete second); synchronised to 10.89.1.2"


@pytest.mark.parametrize("name", ["unreachable", "no_sources"])
def test_time01_not_synchronised_fails(name: str) -> None:
    chk = chrony.check_synchronised(tracking(name), sources(name))
    assert chk["result"] == "fail"
    assert chk["message"] == "not synchronised: leap status Not synchronised, no source selected"
    assert chk["observed"] == {
        "leap_status": "Not synchronised",
        "selected_source": None,
        "reference": "00000000",
    }


def test_time01_lost_server_without_selected_source_fails_despite_normal_leap() -> None:
    chk = chrony.check_synchronised(tracking("server_lost"), sources("server_lost"))
    assert chk["result"] == "fail"
    assert chk["message"] == (
        "no selected source: none of 1 in state * (10.89.1.2 ?); leap status Normal"
    )


@pytest.mark.parametrize("name", ["local_reference", "trixie_local_reference"])
def test_time01_local_reference(name: str) -> None:
    refused = chrony.check_synchronised(tracking(name), sources(name))
    assert refused["result"] == "fail"
    assert refused["message"] == "no selected source: no sources configured; leap status Normal"
    accepted = chrony.check_synchronised(tracking(name), sources(name), local_reference_ok=True)
    assert accepted["result"] == "pass"
    assert accepted["message"] == (
        "serving the local reference clock (reference id 7F7F0101, stratum 8); "
        "no upstream source by configuration"
    )


def test_time01_local_reference_ok_does_not_excuse_a_lost_upstream() -> None:
    chk = chrony.check_synchronised(
        tracking("server_lost"), sources("server_lost"), local_reference_ok=True
    )
    assert chk["result"] == "fail"


def test_time01_error_without_chronyc_output() -> None:
    chk = chrony.check_synchronised(None, None, error="506 Cannot talk to daemon")
    assert chk["result"] == "error"
    assert chk["observed"] is None
    assert chk["message"] == "cannot read chrony state: 506 Cannot talk to daemon"
    assert chrony.check_synchronised(tracking("synced"), None, error="x")["result"] == "error"


# ---------------------------------------------------------------------------------- TIME-02


def test_time02_synchronised_bound_passes() -> None:
    chk = chrony.check_error_bound(tracking("synced"), 0.05)
    assert chk == {
        "check_id": "TIME-02",
        "result": "pass",
        "observed": 0.000046647,
        "expected": "<= 0.05",
        "message": "clock error bound 0.000046647 s within 0.05 s",
    }


def test_time02_server_200ms_ahead_fails() -> None:
    chk = chrony.check_error_bound(tracking("ahead_200ms"), 0.05)
    assert chk["result"] == "fail"
    assert chk["observed"] == 0.200093539
    assert chk["message"] == (
        "clock error bound 0.200093539 s exceeds 0.05 s: |system offset| 0.200036705 s + "
        "root dispersion 0.000009219 s + root delay/2 0.000047615 s"
    )


def test_time02_faketime_with_kernel_rx_timestamps_fails_too() -> None:
    chk = chrony.check_error_bound(tracking("ahead_kernel_rx"), 0.05)
    assert (chk["result"], chk["observed"]) == ("fail", 0.199996017)


def test_time02_unsynchronised_bound_is_reported_and_fails() -> None:
    chk = chrony.check_error_bound(tracking("unreachable"), 0.05)
    assert chk["result"] == "fail"
    assert chk["observed"] == 1.500000586
    assert chk["message"].startswith(
        "clock error bound 1.500000586 s exceeds 0.05 s (not synchronised): "
    )


def test_time02_limit_is_inclusive_and_configurable() -> None:
    state = tracking("server_lost")
    assert chrony.check_error_bound(state, 0.000253244)["result"] == "pass"
    low = chrony.check_error_bound(state, 0.0002)
    assert (low["result"], low["expected"]) == ("fail", "<= 0.0002")


def test_time02_error_without_tracking() -> None:
    chk = chrony.check_error_bound(None, 0.05, error="chronyc not found on PATH")
    assert chk == {
        "check_id": "TIME-02",
        "result": "error",
        "observed": None,
        "expected": "<= 0.05",
        "message": "cannot read chrony tracking: chronyc not found on PATH",
    }


# ---------------------------------------------------------------------------------- TIME-03


def test_time03_counts_reachable_sources() -> None:
    one = chrony.check_reachable_sources(sources("synced"), 1)
    assert (one["result"], one["observed"], one["expected"]) == ("pass", 1, ">= 1")
    assert one["message"] == "1 reachable source (minimum 1)"
    two = chrony.check_reachable_sources(sources("two_sources"), 2)
    assert (two["result"], two["message"]) == ("pass", "2 reachable sources (minimum 2)")
    three = chrony.check_reachable_sources(sources("two_sources"), 3)
    assert (three["result"], three["observed"]) == ("fail", 2)


@pytest.mark.parametrize(
    ("name", "address"), [("unreachable", "10.89.1.250"), ("server_lost", "10.89.1.2")]
)
def test_time03_reach_zero_is_not_counted(name: str, address: str) -> None:
    chk = chrony.check_reachable_sources(sources(name), 1)
    assert (chk["result"], chk["observed"]) == ("fail", 0)
    assert chk["message"] == (
        f"0 reachable sources (minimum 1); not counted: {address} unreachable (reach 0)"
    )


def test_time03_falseticker_is_not_counted() -> None:
    # Recorded two-source state with one source's state changed to x in code.
    rows = sources("two_sources")
    rows[1]["state"] = "x"
    chk = chrony.check_reachable_sources(rows, 2)
    assert (chk["result"], chk["observed"]) == ("fail", 1)
    assert chk["message"].endswith("not counted: 10.89.1.2 falseticker (x)")


def test_time03_no_sources() -> None:
    chk = chrony.check_reachable_sources(sources("no_sources"), 1)
    assert chk["result"] == "fail"
    assert chk["message"] == "0 reachable sources (minimum 1); no sources configured"
    assert chrony.check_reachable_sources(sources("local_reference"), 0)["result"] == "pass"


def test_time03_error() -> None:
    chk = chrony.check_reachable_sources(None, 1, error="boom")
    assert (chk["result"], chk["observed"], chk["message"]) == (
        "error",
        None,
        "cannot read chrony sources: boom",
    )


# ---------------------------------------------------------------------------------- TIME-04


def fake_dns(table: dict[str, list[str]]) -> Any:
    def resolve(name: str) -> list[str]:
        if name not in table:
            raise OSError(-2, "Name or service not known")
        return table[name]

    return resolve


DNS = fake_dns({"s2a-rec-srv": ["10.89.1.2"], "s2a-rec-srv2": ["10.89.1.4", "fd00::4"]})


def test_time04_configured_sources_pass() -> None:
    chk = chrony.check_source_set(sources("synced"), ["s2a-rec-srv"], resolver=DNS)
    assert chk == {
        "check_id": "TIME-04",
        "result": "pass",
        "observed": ["10.89.1.2"],
        "expected": ["10.89.1.2"],
        "message": "sources as configured: 10.89.1.2",
    }
    by_ip = chrony.check_source_set(sources("synced"), ["10.89.1.2"], resolver=DNS)
    assert by_ip["result"] == "pass"


def test_time04_source_replaced_by_hand_fails_naming_both() -> None:
    chk = chrony.check_source_set(sources("replaced"), ["s2a-rec-srv"], resolver=DNS)
    assert chk["result"] == "fail"
    assert chk["observed"] == ["10.89.1.4"]
    assert chk["expected"] == ["10.89.1.2"]
    assert chk["message"] == "missing: s2a-rec-srv (10.89.1.2); unexpected: 10.89.1.4"


def test_time04_extra_source_fails_and_a_multi_address_name_matches_any() -> None:
    extra = chrony.check_source_set(sources("two_sources"), ["10.89.1.2"], resolver=DNS)
    assert (extra["result"], extra["message"]) == ("fail", "unexpected: 10.89.1.4")
    both = chrony.check_source_set(
        sources("two_sources"), ["s2a-rec-srv", "s2a-rec-srv2"], resolver=DNS
    )
    assert both["result"] == "pass"
    assert both["expected"] == ["10.89.1.2", "10.89.1.4", "fd00::4"]
    missing_ip = chrony.check_source_set(sources("synced"), ["10.89.1.2", "10.0.0.9"])
    assert (missing_ip["result"], missing_ip["message"]) == ("fail", "missing: 10.0.0.9")


def test_time04_reference_clock_names_match_as_is() -> None:
    rows = [dict(sources("synced")[0], mode="#", address="PHC0")]
    assert chrony.check_source_set(rows, ["PHC0"], resolver=DNS)["result"] == "pass"


def test_time04_unresolvable_name_is_an_error() -> None:
    chk = chrony.check_source_set(sources("synced"), ["s2a-rec-srv", "gone"], resolver=DNS)
    assert chk["result"] == "error"
    assert chk["message"] == (
        "cannot resolve expected source gone: [Errno -2] Name or service not known"
    )


def test_time04_not_applicable_and_error() -> None:
    na = chrony.check_source_set(sources("synced"), [])
    assert (na["result"], na["message"]) == (
        "not_applicable",
        "no expected_sources given: the set is not compared",
    )
    assert chrony.check_source_set(None, [], error="down")["result"] == "not_applicable"
    err = chrony.check_source_set(None, ["s2a-rec-srv"], error="down", resolver=DNS)
    assert (err["result"], err["message"]) == ("error", "cannot read chrony sources: down")


# ---------------------------------------------------------------------------------- TIME-05


def test_time05_running_and_enabled_passes() -> None:
    chk = chrony.check_conflicts_and_service(services())
    assert chk["result"] == "pass"
    assert chk["message"] == (
        "chrony.service is active and enabled; no conflicting unit running "
        "(systemd-timesyncd.service, ntp.service, ntpsec.service, openntpd.service)"
    )
    assert chk["observed"]["service"] == {"active": "active", "enabled": "enabled"}
    assert chk["observed"]["conflicting"]["ntp.service"] == "inactive"


def test_time05_stopped_chrony_fails() -> None:
    chk = chrony.check_conflicts_and_service(services("systemctl_is-active_all_inactive.txt"))
    assert (chk["result"], chk["message"]) == ("fail", "chrony.service is inactive")


@pytest.mark.parametrize("word", ["masked", "disabled"])
def test_time05_not_enabled_fails(word: str) -> None:
    enabled = chrony.parse_is_enabled(text(CHRONY / f"systemctl_is-enabled_{word}.txt"))
    chk = chrony.check_conflicts_and_service(services(enabled=enabled))
    assert (chk["result"], chk["message"]) == ("fail", f"chrony.service is not enabled ({word})")


def test_time05_conflicting_unit_running_fails() -> None:
    # Recorded is-active output with systemd-timesyncd's line changed in code.
    state = services()
    state["active"]["systemd-timesyncd.service"] = "active"
    state["active"]["chrony.service"] = "failed"
    chk = chrony.check_conflicts_and_service(state)
    assert chk["result"] == "fail"
    assert chk["message"] == (
        "chrony.service is failed; conflicting unit systemd-timesyncd.service is active"
    )


def test_time05_error_when_systemctl_unusable() -> None:
    why = text(CHRONY / "systemctl_no_systemd_is-active.stderr.txt").splitlines()[0]
    state = {"service": "chrony", "conflicting": ["ntp"], "active": None, "enabled": None}
    state["error"] = why
    chk = chrony.check_conflicts_and_service(state)
    assert chk["result"] == "error"
    assert chk["message"] == (
        "cannot read unit states: System has not been booted with systemd as init system "
        "(PID 1). Can't operate."
    )


# ------------------------------------------------------------------------------ TIME-06/07


def inst(name: str, role: str, fixture: str | None, error: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "role": role,
        "uds": chrony.default_uds(name),
        "data": pmc(fixture) if fixture else None,
        "error": error,
    }


def test_ptp_disabled_is_not_applicable() -> None:
    for chk in (
        chrony.check_ptp_port_state([inst("eth0", "client", "trixie_client_locked")], False),
        chrony.check_ptp_offset([], False, 1000),
    ):
        assert (chk["result"], chk["message"]) == ("not_applicable", "PTP not enabled on this host")


def test_ptp_enabled_without_instances_is_an_error() -> None:
    assert chrony.check_ptp_port_state([], True)["result"] == "error"
    assert chrony.check_ptp_offset([], True, 1000)["result"] == "error"


def test_ptp_locked_client() -> None:
    client = [inst("eth0", "client", "trixie_client_locked")]
    state = chrony.check_ptp_port_state(client, True)
    assert state == {
        "check_id": "TIME-06",
        "result": "pass",
        "observed": {"by_instance": {"eth0": "SLAVE"}},
        "expected": {"by_instance": {"eth0": "SLAVE"}},
        "message": "eth0 (client): port SLAVE",
    }
    offset = chrony.check_ptp_offset(client, True, 1000)
    assert offset == {
        "check_id": "TIME-07",
        "result": "pass",
        "observed": {"by_instance": {"eth0": -363.0}},
        "expected": "<= 1000",
        "message": "eth0: offset -363 ns within 1000 ns",
    }


def test_ptp_client_offset_too_large() -> None:
    client = [inst("eth0", "client", "trixie_client_offset_high")]
    assert chrony.check_ptp_port_state(client, True)["result"] == "pass"
    chk = chrony.check_ptp_offset(client, True, 1000)
    assert (chk["result"], chk["message"]) == ("fail", "eth0: offset -23809 ns exceeds 1000 ns")
    assert chrony.check_ptp_offset(client, True, 30000)["result"] == "pass"


def test_ptp_uncalibrated_client_fails_port_state() -> None:
    client = [inst("eth0", "client", "bookworm_client_uncalibrated")]
    chk = chrony.check_ptp_port_state(client, True)
    assert (chk["result"], chk["message"]) == (
        "fail",
        "eth0 (client): port UNCALIBRATED, expected SLAVE",
    )
    offset = chrony.check_ptp_offset(client, True, 1000)
    assert (offset["result"], offset["message"]) == (
        "fail",
        "eth0: offset -24140 ns exceeds 1000 ns",
    )


def test_ptp_master_lost_never_passes_on_the_stale_offset() -> None:
    client = [inst("eth0", "client", "trixie_client_master_lost")]
    state = chrony.check_ptp_port_state(client, True)
    assert (state["result"], state["message"]) == (
        "fail",
        "eth0 (client): port LISTENING, expected SLAVE",
    )
    offset = chrony.check_ptp_offset(client, True, 1000)
    assert offset["result"] == "fail"
    assert offset["message"] == "eth0: no current offset (port LISTENING); last value 984 ns"


@pytest.mark.parametrize("fixture", ["trixie_gm", "bookworm_gm"])
def test_ptp_grandmaster(fixture: str) -> None:
    gm = [inst("eth1", "grandmaster", fixture)]
    state = chrony.check_ptp_port_state(gm, True)
    assert (state["result"], state["message"]) == ("pass", "eth1 (grandmaster): port MASTER")
    assert state["expected"] == {"by_instance": {"eth1": "MASTER or GRAND_MASTER"}}
    offset = chrony.check_ptp_offset(gm, True, 1000)
    assert (offset["result"], offset["message"]) == (
        "not_applicable",
        "eth1: grandmaster, no offset",
    )


def test_ptp_role_mismatch_fails() -> None:
    as_client = chrony.check_ptp_port_state([inst("eth0", "client", "trixie_gm")], True)
    assert as_client["message"] == "eth0 (client): port MASTER, expected SLAVE"
    as_gm = chrony.check_ptp_port_state([inst("eth0", "grandmaster", "trixie_client_locked")], True)
    assert as_gm["message"] == "eth0 (grandmaster): port SLAVE, expected MASTER or GRAND_MASTER"
    assert as_client["result"] == as_gm["result"] == "fail"


def test_ptp_pmc_failure_is_an_error() -> None:
    try:
        pmc("no_daemon")
    except chrony.ParseError as exc:
        why = f"pmc on /var/run/ptp4l-eth0: {exc}"
    broken = [inst("eth0", "client", None, error=why)]
    state = chrony.check_ptp_port_state(broken, True)
    assert state["result"] == "error"
    assert state["message"] == (
        "eth0: cannot read the port state: pmc on /var/run/ptp4l-eth0: no response from ptp4l "
        "(GET CURRENT_DATA_SET, GET PORT_DATA_SET, GET TIME_STATUS_NP)"
    )
    assert chrony.check_ptp_offset(broken, True, 1000)["result"] == "error"


def test_ptp_reply_without_current_data_set_is_an_offset_error() -> None:
    partial = [inst("eth0", "client", "error_status_ro_socket")]
    assert chrony.check_ptp_port_state(partial, True)["result"] == "pass"
    chk = chrony.check_ptp_offset(partial, True, 1000)
    assert (chk["result"], chk["message"]) == (
        "error",
        "eth0: cannot read the offset: no CURRENT_DATA_SET reply",
    )


def test_ptp_instances_fold_worst_first() -> None:
    rows = [
        inst("eth0", "client", "trixie_client_locked"),
        inst("eth1", "grandmaster", "trixie_gm"),
    ]
    offset = chrony.check_ptp_offset(rows, True, 1000)
    assert offset["result"] == "pass"
    assert offset["observed"] == {"by_instance": {"eth0": -363.0, "eth1": None}}
    assert offset["message"] == "eth0: offset -363 ns within 1000 ns; eth1: grandmaster, no offset"
    rows += [
        inst("eth2", "client", "trixie_client_master_lost"),
        inst("eth3", "client", None, error="pmc not found on PATH"),
    ]
    state = chrony.check_ptp_port_state(rows, True)
    assert state["result"] == "error"
    assert state["message"] == (
        "eth3: cannot read the port state: pmc not found on PATH; "
        "eth2 (client): port LISTENING, expected SLAVE"
    )


# ----------------------------------------------------------------------------------- assess


def test_assess_synchronised_host_all_ids_in_order() -> None:
    checks = chrony.assess(
        tracking=tracking("synced"),
        sources=sources("synced"),
        services=services(),
        expected_sources=["10.89.1.2"],
    )
    assert [c["check_id"] for c in checks] == list(chrony.CHECK_IDS)
    assert [c["result"] for c in checks] == ["pass"] * 5 + ["not_applicable"] * 2
    for chk in checks:
        assert set(chk) == {"check_id", "result", "observed", "expected", "message"}


def test_assess_daemon_down_errors_chrony_checks_and_fails_the_service() -> None:
    why = "`chronyc -n -c tracking` exited 1: 506 Cannot talk to daemon"
    checks = chrony.assess(
        tracking=None,
        sources=None,
        tracking_error=why,
        sources_error=why.replace("tracking", "sources"),
        services=services("systemctl_is-active_all_inactive.txt"),
        expected_sources=["10.89.1.2"],
    )
    assert [c["result"] for c in checks] == ["error"] * 4 + ["fail"] + ["not_applicable"] * 2
    assert checks[0]["message"] == f"cannot read chrony state: {why}"
    assert checks[3]["message"].endswith(
        "`chronyc -n -c sources` exited 1: 506 Cannot talk to daemon"
    )
    assert checks[4]["message"] == "chrony.service is inactive"


def test_assess_passes_ptp_and_resolver_through() -> None:
    checks = chrony.assess(
        tracking=tracking("leap_insert"),
        sources=sources("leap_insert"),
        services=services(),
        expected_sources=["s2a-rec-srv2"],
        resolver=DNS,
        ptp_enabled=True,
        ptp_instances=[inst("eth0", "client", "trixie_client_offset_high")],
        max_offset_ns=1000,
    )
    assert [c["result"] for c in checks] == [
        "at_risk", "pass", "pass", "pass", "pass", "pass", "fail",
    ]  # fmt: skip


def test_command_failure_text() -> None:
    assert chrony.command_failure(["chronyc", "-n"], 1, "506 Cannot talk to daemon\n", "") == (
        "`chronyc -n` exited 1: 506 Cannot talk to daemon"
    )
    assert chrony.command_failure(["pmc"], 2, "out\n", "err first\nsecond\n") == (
        "`pmc` exited 2: err first"
    )
    assert chrony.command_failure(["x"], 1, "", "") == "`x` exited 1 with no output"


def test_worst_result_precedence() -> None:
    assert chrony.worst_result([]) == "not_applicable"
    assert chrony.worst_result(["pass", "at_risk", "not_applicable"]) == "at_risk"
    assert chrony.worst_result(["fail", "error", "pass"]) == "error"
    assert chrony.worst_result(["bogus"]) == "error"
