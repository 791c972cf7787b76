# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""nftables on the lab: a reachability matrix over real TCP connections, drift made by hand and
caught by the right NET check, re-converging repairs it, foreign tables survive, bad input
changes nothing, and a change that cuts the control node's SSH rolls itself back.

Every connection goes between lab containers, or from this machine to a lab container.
Listeners are throw-away `python3 -m http.server` processes (transient systemd units), started
only where nothing listens on the port yet and stopped at the end.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ansible_playbook, get_host, inventory, recap

CHECKS = ("NET-01", "NET-02", "NET-03", "NET-04", "NET-05")
LISTENERS = {"edge1": [9100], "edge2": [9100], "aggregator": [6514], "monitor": [9090, 9100]}
PROBE = (
    "python3 -c 'import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()\n"
    '    print("open")\n'
    "except OSError as exc:\n"
    "    print(type(exc).__name__)' {addr} {port}"
)
TABLE = "nft -s list table inet soc2_filter"


def address(host: str) -> str:
    for body in inventory()["all"]["children"].values():
        if host in (body.get("hosts") or {}):
            return body["hosts"][host]["ansible_host"]
    raise KeyError(host)


def connect(src: str, dst: str, port: int) -> str:
    """`open`, or the exception a TCP connection from host `src` to `dst`:`port` ended with."""
    out = get_host(src).check_output(PROBE.format(addr=address(dst), port=port))
    return out.strip()


def fresh_ssh(
    host: str,
    *options: str,
    timeout: int = 4,
    user: str | None = None,
    key: str | None = None,
    run_timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """A new SSH connection (own TCP handshake, no multiplexing) from this machine, running
    `true`, with extra client options, as another user or key when given."""
    lab_vars = inventory()["all"]["vars"]
    cmd = [
        "ssh",
        "-o",
        "ControlMaster=no",
        "-o",
        "ControlPath=none",
        "-o",
        f"ConnectTimeout={timeout}",
        "-o",
        "BatchMode=yes",
        "-i",
        key or lab_vars["ansible_ssh_private_key_file"],
        *lab_vars["ansible_ssh_common_args"].split(),
        *options,
        f"{user or lab_vars['ansible_user']}@{address(host)}",
        "true",
    ]
    limit = run_timeout if run_timeout is not None else timeout + 10
    return subprocess.run(cmd, text=True, capture_output=True, timeout=limit, check=False)


def sha(host: str, command: str) -> str:
    return hashlib.sha256(get_host(host).check_output(command).encode()).hexdigest()


@pytest.fixture(scope="module")
def drift_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drift")


def drift(out: Path) -> dict[tuple[str, str], dict]:
    """One drift check (verifiers only; the testinfra checks are other tests' business), its
    results and evidence kept out of the repository's own directories."""
    ansible_playbook(
        "playbooks/drift_check.yml",
        "-e",
        f"soc2audit_output_dir={out}",
        "-e",
        f"soc2audit_evidence_dir={out / 'evidence'}",
        "-e",
        "soc2audit_testinfra=false",
        check=True,
    )
    rows = [json.loads(x) for x in (out / "last_run.jsonl").read_text().splitlines()]
    return {(r["host"], r["check_id"]): r for r in rows}


def net(results: dict[tuple[str, str], dict], host: str) -> dict[str, str]:
    return {c: results[(host, c)]["result"] for c in CHECKS}


def converge(*extra: str) -> subprocess.CompletedProcess[str]:
    return ansible_playbook("playbooks/nftables.yml", *extra, check=True)


@pytest.fixture(scope="module")
def listeners(converged: dict) -> Iterator[None]:
    started: list[tuple[str, int]] = []
    for host, ports in LISTENERS.items():
        h = get_host(host)
        for port in ports:
            if h.run(f"ss -Hltn 'sport = :{port}' | grep -q .").rc == 0:
                continue  # a real service listens there already
            h.check_output(
                f"systemd-run --unit=soc2-probe-{port} --collect python3 -m http.server {port}"
            )
            started.append((host, port))
    for host, port in started:
        get_host(host).check_output(
            f"for i in $(seq 50); do ss -Hltn 'sport = :{port}' | grep -q . && exit 0; "
            "sleep 0.1; done; exit 1"
        )
    yield
    for host, port in started:
        get_host(host).run(f"systemctl stop soc2-probe-{port}")


# ---------------------------------------------------------------- converged lab


def test_firewall_on_every_host_and_second_run_changes_nothing(
    converged: dict, lab_hosts: list[str]
) -> None:
    assert {h: converged[h]["changed"] for h in lab_hosts} == dict.fromkeys(lab_hosts, 0)
    for host in lab_hosts:
        tables = get_host(host).check_output("nft list tables").splitlines()
        assert "table inet soc2_filter" in tables, (host, tables)


def test_check_mode_on_the_converged_lab_reports_nothing(converged: dict) -> None:
    proc = ansible_playbook("playbooks/nftables.yml", "--check", check=True)
    assert all(c["changed"] == 0 for c in recap(proc.stdout).values()), proc.stdout[-3000:]


def test_every_net_check_passes_on_the_converged_lab(
    converged: dict, lab_hosts: list[str], drift_dir: Path
) -> None:
    results = drift(drift_dir)
    for host in lab_hosts:
        assert net(results, host) == dict.fromkeys(CHECKS, "pass"), [
            results[(host, c)] for c in CHECKS
        ]
    # The drop counter reaches the host's metrics file.
    prom = get_host("edge1").check_output("cat /var/lib/prometheus/node-exporter/soc2audit.prom")
    assert 'soc2audit_nft_dropped_packets{chain="input",table="soc2_filter"}' in prom


# ---------------------------------------------------------------- reachability matrix

MATRIX = [
    ("monitor", "edge1", 9100, "open"),
    ("monitor", "edge2", 9100, "open"),
    ("edge2", "edge1", 9100, "TimeoutError"),
    ("edge1", "edge2", 9100, "TimeoutError"),
    ("aggregator", "edge1", 9100, "TimeoutError"),
    ("edge1", "aggregator", 6514, "open"),
    ("edge2", "aggregator", 6514, "open"),
    ("monitor", "aggregator", 6514, "TimeoutError"),
    ("edge1", "monitor", 9090, "TimeoutError"),
    ("aggregator", "monitor", 9090, "TimeoutError"),
    ("edge1", "edge2", 22, "TimeoutError"),
    # The lab's write-once store (versitygw on the monitor): the aggregators upload to it.
    ("aggregator", "monitor", 7070, "open"),
    ("edge1", "monitor", 7070, "TimeoutError"),
]


@pytest.mark.parametrize(
    ("src", "dst", "port", "expected"),
    MATRIX,
    ids=[f"{s}->{d}:{p}={e}" for s, d, p, e in MATRIX],
)
def test_reachability(listeners: None, src: str, dst: str, port: int, expected: str) -> None:
    assert connect(src, dst, port) == expected


def test_control_node_gets_a_new_ssh_connection_to_every_host(
    converged: dict, lab_hosts: list[str]
) -> None:
    for host in lab_hosts:
        proc = fresh_ssh(host)
        assert proc.returncode == 0, (host, proc.stderr)


def test_control_node_is_not_a_monitor(listeners: None) -> None:
    """Only SSH is open to this machine: node_exporter on edge1 is not."""
    import socket

    with pytest.raises(OSError):
        socket.create_connection((address("edge1"), 9100), timeout=2).close()


# ---------------------------------------------------------------- drift, detection, repair


def repaired(host: str, out: Path) -> None:
    proc = converge("-l", host)
    assert recap(proc.stdout)[host]["changed"] >= 1
    assert net(drift(out), host) == dict.fromkeys(CHECKS, "pass")


def test_rule_opening_9100_to_everyone_fails_net02(listeners: None, drift_dir: Path) -> None:
    h = get_host("edge1")
    h.check_output("nft insert rule inet soc2_filter input tcp dport 9100 accept")
    try:
        assert connect("edge2", "edge1", 9100) == "open"  # the hole is real
        results = drift(drift_dir)
        row = results[("edge1", "NET-02")]
        assert row["result"] == "fail", row
        assert "input: tcp dport 9100 accept" in row["observed"]["extra"]
        assert "tcp dport 9100 accept" in row["message"]
        assert net(results, "edge1") == {**dict.fromkeys(CHECKS, "pass"), "NET-02": "fail"}
        assert net(results, "edge2") == dict.fromkeys(CHECKS, "pass")
    finally:
        repaired("edge1", drift_dir)
    assert connect("edge2", "edge1", 9100) == "TimeoutError"


def test_input_policy_flipped_to_accept_fails_net01(listeners: None, drift_dir: Path) -> None:
    h = get_host("edge2")
    h.check_output("nft chain inet soc2_filter input '{ policy accept; }'")
    try:
        results = drift(drift_dir)
        row = results[("edge2", "NET-01")]
        assert row["result"] == "fail", row
        assert row["message"] == "input policy is accept, not drop"
        assert net(results, "edge2") == {**dict.fromkeys(CHECKS, "pass"), "NET-01": "fail"}
    finally:
        repaired("edge2", drift_dir)
    assert connect("edge1", "edge2", 9100) == "TimeoutError"


def test_table_deleted_fails_net01_to_03(listeners: None, drift_dir: Path) -> None:
    h = get_host("monitor")
    h.check_output("nft delete table inet soc2_filter")
    try:
        assert connect("edge1", "monitor", 9090) == "open"  # nothing filters any more
        results = drift(drift_dir)
        assert net(results, "monitor") == {
            "NET-01": "fail",
            "NET-02": "fail",
            "NET-03": "fail",
            "NET-04": "pass",  # the boot file still holds the table
            "NET-05": "pass",
        }
        assert "not loaded" in results[("monitor", "NET-01")]["message"]
    finally:
        repaired("monitor", drift_dir)
    assert connect("edge1", "monitor", 9090) == "TimeoutError"
    assert connect("monitor", "edge1", 9100) == "open"


def test_set_member_removed_fails_net03(listeners: None, drift_dir: Path) -> None:
    edge1 = address("edge1")
    get_host("aggregator").check_output(
        f"nft delete element inet soc2_filter log_ingest_v4 '{{ {edge1} }}'"
    )
    try:
        assert connect("edge1", "aggregator", 6514) == "TimeoutError"  # shipping is cut
        results = drift(drift_dir)
        row = results[("aggregator", "NET-03")]
        assert row["result"] == "fail", row
        assert row["message"] == f"set log_ingest_v4 lacks {edge1}"
        assert net(results, "aggregator") == {**dict.fromkeys(CHECKS, "pass"), "NET-03": "fail"}
    finally:
        repaired("aggregator", drift_dir)
    assert connect("edge1", "aggregator", 6514) == "open"


FOREIGN = """\
table inet f2b-table {
\tset addr-set-sshd {
\t\ttype ipv4_addr
\t\telements = { 192.0.2.99 }
\t}
\tchain f2b-chain {
\t\ttype filter hook input priority filter - 1; policy accept;
\t\ttcp dport 22 ip saddr @addr-set-sshd reject
\t}
}
table ip foreign {
\tchain input {
\t\ttype filter hook input priority 10; policy accept;
\t\ttcp dport 9100 accept
\t}
}
"""


def test_foreign_tables_survive_and_their_openings_fail_net05(
    listeners: None, drift_dir: Path
) -> None:
    h = get_host("edge2")
    h.check_output(f"printf '%s' '{FOREIGN}' | nft -f -")
    foreign = "nft -s list table inet f2b-table; nft -s list table ip foreign"
    try:
        before = sha("edge2", foreign)
        # Make the role reload its table, so the survival is proven on a real load.
        h.check_output("nft delete table inet soc2_filter")
        converge("-l", "edge2")
        assert sha("edge2", foreign) == before
        assert "table inet soc2_filter" in h.check_output("nft list tables")
        # A foreign accept cannot beat our drop (every base chain must accept) ...
        assert connect("edge1", "edge2", 9100) == "TimeoutError"
        # ... but it is reported.
        results = drift(drift_dir)
        row = results[("edge2", "NET-05")]
        assert row["result"] == "fail", row
        assert row["observed"]["accepting_foreign_rules"] == [
            {"table": "ip foreign", "chain": "input", "rule": "tcp dport 9100 accept"}
        ]
        assert net(results, "edge2") == {**dict.fromkeys(CHECKS, "pass"), "NET-05": "fail"}
        # The role never removes them: a second converge leaves them as they are.
        proc = converge("-l", "edge2")
        assert recap(proc.stdout)["edge2"]["changed"] == 0
        assert sha("edge2", foreign) == before
    finally:
        h.run("nft delete table ip foreign; nft delete table inet f2b-table")
    assert net(drift(drift_dir), "edge2") == dict.fromkeys(CHECKS, "pass")


# ---------------------------------------------------------------- bad input

BAD_INPUTS = [
    (
        '{"nftables_services": [{"name": "web", "ports": [8080],'
        ' "allow_groups": ["nosuchgroup"]}]}',
        "service web: unknown inventory group 'nosuchgroup' in allow_groups",
    ),
    (
        '{"nftables_services": [{"name": "web", "ports": [70000], "allow_groups": ["edge"]}]}',
        "service web: port 70000 is out of range (1-65535)",
    ),
    (
        '{"nftables_services": [{"name": "web", "ports": [8080], "protocol": "tpc"}]}',
        "value of protocol must be one of: tcp, udp, got: tpc",
    ),
    ('{"nftables_raw_rules": [{"rule": "tcp dport 8080 acept"}]}', "syntax error"),
]


@pytest.mark.parametrize(("extra", "message"), BAD_INPUTS, ids=[b[1][:40] for b in BAD_INPUTS])
def test_bad_input_fails_before_anything_is_applied(
    converged: dict, extra: str, message: str
) -> None:
    before = (sha("edge1", TABLE), sha("edge1", "cat /etc/nftables.d/soc2_filter.nft"))
    proc = ansible_playbook("playbooks/nftables.yml", "-l", "edge1", "-e", extra)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    assert recap(proc.stdout)["edge1"]["changed"] == 0
    assert (sha("edge1", TABLE), sha("edge1", "cat /etc/nftables.d/soc2_filter.nft")) == before


# ---------------------------------------------------------------- lockout rollback


def test_change_that_cuts_the_control_node_rolls_itself_back(
    converged: dict, drift_dir: Path
) -> None:
    """No control-node rule and no admin network: the new table drops the control node's new
    SSH connections. The play cannot reconnect, fails, and the timer restores the old table."""
    host, rollback = "edge2", 30
    live_before = sha(host, TABLE)
    persisted_before = sha(host, "cat /etc/nftables.d/soc2_filter.nft")
    started = time.monotonic()
    proc = ansible_playbook(
        "playbooks/nftables.yml",
        "-l",
        host,
        "-e",
        json.dumps(
            {
                "nftables_allow_control_node": False,
                "nftables_rollback_timeout": rollback,
                "nftables_confirm_timeout": 10,
            }
        ),
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "the control node could not open a new connection within 10 s" in output, output[-3000:]
    # Locked out for real right after the play ...
    if time.monotonic() - started < rollback - 5:  # the load came after `started`
        assert fresh_ssh(host, timeout=3).returncode != 0
    # ... and back by itself within the rollback timeout.
    deadline = started + rollback + 60
    while fresh_ssh(host, timeout=3).returncode != 0:
        assert time.monotonic() < deadline, "the rollback did not restore SSH"
        time.sleep(2)
    assert sha(host, TABLE) == live_before
    assert sha(host, "cat /etc/nftables.d/soc2_filter.nft") == persisted_before
    journal = get_host(host).check_output("journalctl -u soc2-nft-rollback.service --no-pager")
    assert "restore the previous nftables table" in journal
    assert net(drift(drift_dir), host) == dict.fromkeys(CHECKS, "pass")
    # A normal converge afterwards only re-stages the file; the live table is already right.
    proc = converge("-l", host)
    assert recap(proc.stdout)[host]["changed"] <= 1
