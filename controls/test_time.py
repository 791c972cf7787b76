# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""TIME checks from outside the soc2_time module: what chronyd exposes, seen from the host's
sockets and from a peer host on the network.

* TIME-08: chronyd's command port (UDP 323) serves the host itself only: bound to loopback, and a
  peer's `chronyc -h <host>` gets no answer.
* TIME-09: hosts outside the time servers group serve no NTP (UDP 123): no socket, no answer.
* TIME-10: time servers answer NTP queries from the fleet (a peer's client-mode query).

Connections go from one lab host to another over the lab network, or stay on loopback; each waits
at most ANSWER_TIMEOUT (refusals) or SERVE_TIMEOUT (an answer that must come).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import shlex
from collections.abc import Callable
from typing import Any

import pytest
from testinfra.host import Host

from soc2audit.pytest_plugin import Peer, Target, role_settings, setting
from soc2audit.pytest_plugin import background as soc2_background_probe

COMMAND_PORT = 323
NTP_PORT = 123
# How long a peer waits for an answer that must not come, and for one that must.
ANSWER_TIMEOUT = 0.5
SERVE_TIMEOUT = 2.0

# A client-mode (3) NTPv4 query over a connected UDP socket: an ICMP port unreachable shows as
# "refused" at once, silence as "timeout". Prints `answer <stratum> <refid>` for an answer.
NTP_PROBE = r"""
import socket, struct, sys
addr, timeout = sys.argv[1], float(sys.argv[2])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.settimeout(timeout)
try:
    s.connect((addr, 123))
    s.send(b"\x23" + b"\0" * 47)
    data = s.recv(512)
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
else:
    if len(data) >= 48 and data[0] & 7 == 4:
        print("answer", data[1], data[12:16].hex())
    else:
        print("garbage", data[:48].hex())
"""


@dataclasses.dataclass(frozen=True)
class TimeSettings:
    service: str
    servers_group: str


def servers_group_of(host: Host) -> str:
    """The inventory group of the time servers (timesync_servers_group)."""
    return str(setting(role_settings(host, "timesync"), "timesync_servers_group"))


def time_settings_of(host: Host) -> TimeSettings:
    """The chrony unit name (Debian: chrony, RedHat family: chronyd) and the servers group."""
    distribution = (host.system_info.distribution or "").lower()
    service = "chrony" if distribution in ("debian", "ubuntu") else "chronyd"
    return TimeSettings(service, servers_group_of(host))


@pytest.fixture(scope="module")
def time_settings(host: Host) -> TimeSettings:
    return time_settings_of(host)


def _udp_sockets(host: Host, port: int) -> list[tuple[str, str]]:
    """(local address, process) of every UDP socket bound to `port`, from `ss`."""
    out = host.check_output(f"ss -H -u -a -n -p 'sport = :{port}'")
    sockets: list[tuple[str, str]] = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        local = fields[3].rsplit(":", 1)[0].strip("[]").split("%")[0]
        match = re.search(r'users:\(\("([^"]+)"', line)
        sockets.append((local, match.group(1) if match else "?"))
    return sockets


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def chronyd(host: Host, time_settings: TimeSettings) -> dict[str, bool]:
    """chronyd as systemd sees it; the checks below cannot be judged while it is not running."""
    service = host.service(time_settings.service)
    state = {"running": service.is_running, "enabled": service.is_enabled}
    if not state["running"]:
        raise RuntimeError(
            f"{time_settings.service} is not running: what it exposes cannot be judged "
            "(TIME-05 reports the daemon itself)"
        )
    return state


@pytest.mark.soc2_check("TIME-08")
def test_command_port_bound_to_loopback_only(
    host: Host, chronyd: dict[str, bool], soc2_record: Callable[..., None]
) -> None:
    """chronyd's command port (UDP 323) is bound to loopback addresses only."""
    sockets = [(a, p) for a, p in _udp_sockets(host, COMMAND_PORT) if p == "chronyd"]
    exposed = sorted({a for a, _ in sockets if not _is_loopback(a)})
    soc2_record(
        observed={"addresses": sorted({a for a, _ in sockets}), "service": chronyd},
        expected={"addresses": "loopback only (bindcmdaddress 127.0.0.1, ::1)"},
    )
    assert not exposed, f"chronyd's command port listens on {', '.join(exposed)}"


@soc2_background_probe
def _command_port_from_a_peer(target: Target) -> dict[str, Any]:
    """A peer's chronyc against the host's command port: answered or not."""
    peer = target.peer()
    ms = int(ANSWER_TIMEOUT * 1000)
    command = shlex.join(
        ["chronyc", "-n", "-m", "-h", target.address, f"timeout {ms}", "retries 0", "tracking"]
    )
    # `timeout` bounds chronyc whatever it does; 124 means it was still waiting.
    result = peer.host.run(f"timeout {ANSWER_TIMEOUT + 2:.0f} {command}")
    output = f"{result.stdout}\n{result.stderr}".strip()
    reply = output.splitlines()[0] if output else f"exit {result.rc}"
    if result.rc == 124 or "506 Cannot talk to daemon" in output:
        answered = False  # no reply before the timeout
    elif "Reference ID" in output or re.search(r"^5\d\d ", output, re.M):
        answered = True  # chronyd replied, with data or with a refusal such as 501 Not authorised
    else:
        raise RuntimeError(f"chronyc on {peer.name} exited {result.rc}: {reply}")
    return {"from": peer.name, "to": target.address, "answered": answered, "reply": reply}


@pytest.mark.soc2_check("TIME-08")
def test_command_port_gives_a_peer_no_answer(
    host: Host,
    chronyd: dict[str, bool],
    soc2_background: Callable[..., Any],
    soc2_record: Callable[..., None],
) -> None:
    """A peer host's chronyc gets no answer from this host's command port."""
    seen = soc2_background(_command_port_from_a_peer)
    soc2_record(observed=seen, expected={"answered": False})
    assert not seen["answered"], (
        f"chronyc on {seen['from']} got an answer from {seen['to']}:{COMMAND_PORT}: {seen['reply']}"
    )


def _ntp_query(peer: Peer, address: str, timeout: float) -> str:
    result = peer.host.run(
        shlex.join(["python3", "-c", NTP_PROBE, address, str(timeout)]),
    )
    if result.rc != 0:
        raise RuntimeError(f"{peer.name}: NTP probe failed: {result.stderr.strip()[-300:]}")
    return result.stdout.strip()


def _is_time_server(target: Target) -> bool:
    # Only the group: the service name would cost the probe a round trip (system_info).
    return servers_group_of(target.host) in target.groups


@soc2_background_probe
def _ntp_from_a_peer(target: Target) -> dict[str, str] | None:
    """A peer's NTP query to the host: waits SERVE_TIMEOUT for a time server's answer,
    ANSWER_TIMEOUT for the answer any other host must not give."""
    server = _is_time_server(target)
    peer = target.peer()
    reply = _ntp_query(peer, target.address, SERVE_TIMEOUT if server else ANSWER_TIMEOUT)
    return {"from": peer.name, "to": target.address, "reply": reply}


@pytest.mark.soc2_check("TIME-09")
def test_only_time_servers_listen_for_ntp(
    host: Host,
    time_settings: TimeSettings,
    soc2_groups: list[str],
    soc2_record: Callable[..., None],
) -> None:
    """No process listens on UDP 123 on a host outside the time servers group."""
    if time_settings.servers_group in soc2_groups:
        pytest.skip(f"not applicable: {host.backend.get_hostname()} is a time server")
    sockets = _udp_sockets(host, NTP_PORT)
    soc2_record(
        observed=[f"{a}:{NTP_PORT} ({p})" for a, p in sockets],
        expected=f"nothing on UDP {NTP_PORT} (not in {time_settings.servers_group})",
    )
    assert not sockets, "serves NTP without being a time server: " + ", ".join(
        f"{p} on {a}:{NTP_PORT}" for a, p in sockets
    )


@pytest.mark.soc2_check("TIME-09")
def test_only_time_servers_answer_ntp(
    host: Host,
    time_settings: TimeSettings,
    soc2_groups: list[str],
    soc2_background: Callable[..., Any],
    soc2_record: Callable[..., None],
) -> None:
    """A peer's NTP query to a host outside the time servers group gets no answer."""
    if time_settings.servers_group in soc2_groups:
        pytest.skip(f"not applicable: {host.backend.get_hostname()} is a time server")
    seen = soc2_background(_ntp_from_a_peer)
    soc2_record(observed=seen, expected={"reply": "refused or timeout"})
    assert seen["reply"] in ("refused", "timeout"), (
        f"{seen['to']}:{NTP_PORT} answered an NTP query from {seen['from']}: {seen['reply']}"
    )


@pytest.mark.soc2_check("TIME-10")
def test_time_server_answers_the_fleet(
    host: Host,
    time_settings: TimeSettings,
    soc2_groups: list[str],
    soc2_background: Callable[..., Any],
    soc2_record: Callable[..., None],
) -> None:
    """The time server answers a fleet host's NTP query with a synchronised stratum."""
    if time_settings.servers_group not in soc2_groups:
        pytest.skip(f"not applicable: not in {time_settings.servers_group}")
    seen = soc2_background(_ntp_from_a_peer)
    reply = seen["reply"]
    stratum = int(reply.split()[1]) if reply.startswith("answer") else None
    soc2_record(observed={**seen, "stratum": stratum}, expected={"stratum": "1..15"})
    assert stratum is not None, (
        f"no NTP answer from {seen['to']}:{NTP_PORT} to {seen['from']}: {reply}"
    )
    assert 1 <= stratum <= 15, f"answers unsynchronised (stratum {stratum}) to {seen['from']}"
