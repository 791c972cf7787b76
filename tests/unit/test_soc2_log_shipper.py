# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The LOG family's shipper checks (LOG-01 .. LOG-05, plugins/module_utils/soc2_log_family.py)
on outputs recorded from a real rsyslogd 8.2302 running the log_shipper role's rendered
configuration against a gtls aggregator on loopback (tests/unit/fixtures/log/README.md,
"shipper/"), healthy and during an aggregator outage, and on the role's template rendered with
jinja2."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import jinja2
import pytest
import soc2_log
import yaml
from ansible.module_utils import soc2_log_family as fam
from module_runner import invoke

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "log_shipper"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "log"
SHIP = FIXTURES / "shipper"
AUDITD = FIXTURES.parent / "auditd"
STATE = "imfile-state:10257105:a3a120f00106a362"
RECORDED_PATH = "/tmp/hlc/ship/audit.log"


def recorded_stat(case: str) -> dict[str, tuple[int, int]]:
    """name -> (inode, size) from the recording's `stat -c '%i %s %n'`."""
    out = {}
    for line in (SHIP / case / "stat.txt").read_text().splitlines():
        inode, size, name = line.split(" ", 2)
        out[os.path.basename(name)] = (int(inode), int(size))
    return out


def ship_params(**over: Any) -> dict[str, Any]:
    params = {k: v.get("default") for k, v in fam.SHIPPER_SPEC.items()}
    params.update(
        enabled=True,
        aggregator_host="127.0.0.1",
        aggregator_port=26614,
        aggregator_name="agg",
        stats_interval_seconds=2,
        # The recordings ran the omfwd (tcp) configuration.
        transport="tcp",
    )
    params.update(over)
    return params


def recorded_conf() -> list[dict[str, Any]]:
    return fam.parse_rsyslog_config((SHIP / "healthy" / "rsyslog.conf").read_text())


# ---------------------------------------------------------------- configuration (LOG-02, LOG-05)
def test_recorded_configuration_meets_the_forwarding_contract() -> None:
    got = fam.forward_contract(recorded_conf(), ship_params())
    assert got["problems"] == []
    assert got["observed"] == {
        "target": "127.0.0.1",
        "port": "26614",
        "protocol": "tcp",
        "driver": "gtls",
        "mode": "1",
        "auth_mode": "x509/name",
        "permitted_peers": "agg",
        "framing": "octet-counted",
        "queue_type": "Disk",
        "resume_retry_count": "-1",
        "queue_size": "2000000",
    }


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('StreamDriverMode="1"', 'StreamDriverMode="0"', "mode is 0, not 1"),
        ('StreamDriverAuthMode="x509/name"', 'StreamDriverAuthMode="anon"', "auth_mode is anon"),
        ('StreamDriverPermittedPeers="agg"', "", "no permitted peer"),
        ('TCP_Framing="octet-counted"', "", "framing is traditional"),
        ('queue.type="Disk"', 'queue.type="LinkedList"', "queue_type is LinkedList"),
        ('action.resumeRetryCount="-1"', 'action.resumeRetryCount="10"', "resume_retry_count"),
        # rsyslog's action-queue default (1000) when unset: CI of 2026-12-07 saw it discard.
        ('queue.size="2000000" ', "", "queue.size is 1000 messages, not above the backlog limit"),
        ('queue.size="2000000"', 'queue.size="10000"', "queue.size is 10000 messages"),
        ('port="26614"', 'port="6514"', "port is 6514, not 26614"),
        ('name="soc2_forward"', 'name="other"', "no omfwd action named soc2_forward"),
    ],
)
def test_each_broken_term_of_the_contract_fails(old: str, new: str, problem: str) -> None:
    text = (SHIP / "healthy" / "rsyslog.conf").read_text()
    assert old in text
    got = fam.forward_contract(fam.parse_rsyslog_config(text.replace(old, new)), ship_params())
    assert any(problem in p for p in got["problems"]), got["problems"]


def render(**over: Any) -> str:
    """The role's rsyslog.conf from its defaults and vars, with ``over`` applied."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    values: dict[str, Any] = {
        **defaults,
        "ansible_managed": "Ansible managed",
        "_log_shipper_spool_dir": role_vars["_log_shipper_spool_dir"],
        "_log_shipper_queue_name": role_vars["_log_shipper_queue_name"],
        "_log_shipper_action_name": role_vars["_log_shipper_action_name"],
        "_log_shipper_relp_forward_bin": role_vars["_log_shipper_relp_forward_bin"],
        "_log_shipper_stats_file": "/var/lib/soc2audit/log-shipper/impstats.json",
        "_log_shipper_gnutls_priority": "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
        "_log_shipper_sd_host": "edge1",
        "_log_shipper_aggregator_host": "10.0.0.5",
        "_log_shipper_port": 6515,
        "_log_shipper_aggregator_name": "aggregator",
        **over,
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template("etc/rsyslog.conf.j2").render(**values)


def test_the_role_template_meets_the_contract_with_the_module_defaults() -> None:
    """The module's defaults (action, queue, paths) are the names the role renders."""
    blocks = fam.parse_rsyslog_config(render())
    params = ship_params(
        aggregator_host="10.0.0.5",
        aggregator_port=6515,
        aggregator_name="aggregator",
        transport=fam.SHIPPER_SPEC["transport"]["default"],
    )
    assert fam.forward_contract(blocks, params)["problems"] == []
    for transport in ("relp", "tcp"):
        blocks_t = fam.parse_rsyslog_config(render(log_shipper_transport=transport))
        got = fam.forward_contract(blocks_t, {**params, "transport": transport})
        assert got["problems"] == [], (transport, got)
        other = "tcp" if transport == "relp" else "relp"
        assert fam.forward_contract(blocks_t, {**params, "transport": other})["problems"]
    glob = next(b["params"] for b in blocks if b["kind"] == "global")
    assert fam.parse_size(glob["maxmessagesize"]) == params["max_message_size_bytes"]
    assert glob["workdirectory"] == params["work_dir"]
    action = next(b["params"] for b in blocks if b["kind"] == "action")
    assert action["queue.filename"] == params["queue_name"]
    assert fam.parse_size(action["queue.maxdiskspace"]) == 2048 << 20
    impstats = next(b["params"] for b in blocks if b["params"].get("load") == "impstats")
    assert impstats["log.file"] == params["stats_file"]
    assert int(impstats["interval"]) == fam.SHIPPER_SPEC["stats_interval_seconds"]["default"]


def test_rsyslog_sizes() -> None:
    assert fam.parse_size("65536") == 65536
    assert fam.parse_size("64k") == 65536
    assert fam.parse_size("64K") == 64000
    assert fam.parse_size("2048m") == 2048 << 20
    assert fam.parse_size("lots") is None


# ---------------------------------------------------------------- the session (LOG-02)
def recorded_sessions(case: str) -> tuple[list[dict[str, Any]], set[int]]:
    sessions = []
    for protocol in ("tcp", "tcp6"):
        text = (SHIP / case / f"proc_net_{protocol}.txt").read_text()
        sessions += fam.parse_tcp_sessions(text, protocol)
    links = (SHIP / case / "rsyslogd_fd_links.txt").read_text().splitlines()
    return sessions, fam.socket_inodes(links)


def test_recorded_session_to_the_aggregator_is_found() -> None:
    sessions, inodes = recorded_sessions("healthy")
    got = fam.assess_session(sessions, inodes, 26614, {"127.0.0.1"})
    assert got["up"] and got["observed"] == ["127.0.0.1:36404 -> 127.0.0.1:26614"]
    # The aggregator's end of the same connection (local port 26614) is not the shipper's.
    assert len([s for s in sessions if 26614 in (s["local_port"], s["remote_port"])]) == 2
    assert not fam.assess_session(sessions, inodes, 6514, {"127.0.0.1"})["up"]
    assert not fam.assess_session(sessions, inodes, 26614, {"10.0.0.5"})["up"]
    assert fam.assess_session(sessions, inodes, 26614, None)["up"]  # unresolved: port only
    assert not fam.assess_session(sessions, set(), 26614, {"127.0.0.1"})["up"]


def test_no_session_during_the_recorded_outage() -> None:
    sessions, inodes = recorded_sessions("outage")
    assert inodes == set()
    assert not fam.assess_session(sessions, inodes, 26614, {"127.0.0.1"})["up"]


# ---------------------------------------------------------------- read position (LOG-03)
def test_recorded_state_file_names_and_lag() -> None:
    names = [STATE, "imfile-state:102571050:aa", "imfile-state:10257105", "soc2_ship.qi"]
    assert fam.find_imfile_state(names, 10257105) == ["imfile-state:10257105", STATE]
    for case in ("healthy", "outage"):
        state = json.loads((SHIP / case / STATE).read_text())
        inode, size = recorded_stat(case)["audit.log"]
        assert inode == 10257105
        got = fam.assess_lag(size, [state], RECORDED_PATH, 1048576)
        assert (got["problems"], got["lag"]) == ([], 0), case
    state = json.loads((SHIP / "healthy" / STATE).read_text())
    got = fam.assess_lag(state["curr_offs"] + 2_000_000, [state], RECORDED_PATH, 1048576)
    assert got["lag"] == 2_000_000 and "lags 2000000 bytes" in got["problems"][0]
    got = fam.assess_lag(100, [state], RECORDED_PATH, 1048576)
    assert "truncated in place" in got["problems"][0]
    got = fam.assess_lag(5000, [], RECORDED_PATH, 1048576)
    assert got["lag"] == 5000 and "nothing of it was read" in got["problems"][0]
    assert fam.assess_lag(0, [], RECORDED_PATH, 1048576)["problems"] == []


def test_the_newest_state_file_of_the_inode_counts() -> None:
    """An inode reused by a new audit log: 8.2302 keeps the old file id's state beside the new
    one; the newest state is the current file's, however far the old one had read."""
    state = json.loads((SHIP / "healthy" / STATE).read_text())
    old = {**state, "curr_offs": 900000, "mtime": 100.0}
    new = {**state, "curr_offs": 10, "mtime": 200.0}
    got = fam.assess_lag(5000, [old, new], RECORDED_PATH, 1048576)
    assert (got["offset"], got["lag"]) == (10, 4990)
    other = {**state, "filename": "/var/log/other.log", "mtime": 300.0}
    assert fam.assess_lag(5000, [new, other], RECORDED_PATH, 1048576)["offset"] == 10


def test_addresses_of_the_aggregator(monkeypatch: pytest.MonkeyPatch) -> None:
    assert fam._resolve("127.0.0.1") == {"127.0.0.1"}

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("Name or service not known")

    monkeypatch.setattr(fam.socket, "getaddrinfo", refuse)
    assert fam._resolve("aggregator.invalid") is None


# ------------------------------------------------ impstats and the queue (LOG-04, LOG-05)
def recorded_stats(case: str) -> dict[str, dict[str, Any]]:
    objects = fam.parse_impstats((SHIP / case / "impstats.json").read_text())
    return fam.latest_objects(objects, "soc2_forward")


def test_impstats_lines_carry_a_ctime_prefix_and_a_torn_tail_is_skipped() -> None:
    text = (SHIP / "healthy" / "impstats.json").read_text()
    assert re.match(r"^\w{3} \w{3} +\d+ [\d:]{8} \d{4}: \{", text)
    whole = fam.parse_impstats(text)
    assert len(whole) == len(text.splitlines())
    torn = fam.parse_impstats(text[40:])
    assert len(torn) == len(whole) - 1


def test_recorded_backlog_healthy_and_during_the_outage() -> None:
    healthy = recorded_stats("healthy")
    assert healthy["queue"]["size"] == 0 and healthy["action"]["failed"] == 0
    assert "queue_da" not in healthy
    qi = fam.parse_qi((SHIP / "healthy" / "soc2_ship.qi").read_text())
    assert qi == {"size": 0, "write": (1, 14489), "read": (1, 14489)}
    got = fam.assess_backlog(healthy, fam.queue_bytes(qi, {1: 14489}), 2048 << 20, 10000)
    assert (got["problems"], got["messages"], got["bytes"]) == ([], 0, 0)

    outage = recorded_stats("outage")
    qi = fam.parse_qi((SHIP / "outage" / "soc2_ship.qi").read_text())
    assert qi == {"size": 50, "write": (1, 61153), "read": (1, 14489)}
    disk = fam.queue_bytes(qi, {1: recorded_stat("outage")["soc2_ship.00000001"][1]})
    assert disk == 61153 - 14489
    assert fam.assess_backlog(outage, disk, 2048 << 20, 10000)["problems"] == []
    got = fam.assess_backlog(outage, disk, 2048 << 20, 10)
    assert got["messages"] == 50 and "50 messages wait" in got["problems"][0]
    got = fam.assess_backlog(outage, disk, 50000, 10000)
    assert "80 % of its queue.maxDiskSpace" in got["problems"][0]


def test_queue_bytes_across_files_and_without_qi() -> None:
    qi = {"size": 9, "read": (3, 100), "write": (5, 40)}
    assert fam.queue_bytes(qi, {3: 1000, 4: 1000, 5: 40}) == 900 + 1000 + 40
    assert fam.queue_bytes(None, {1: 10, 2: 20}) == 30
    assert fam.queue_bytes(None, {}) == 0


def test_discards_failures_and_message_size() -> None:
    healthy = recorded_stats("healthy")
    got = fam.assess_discards(healthy, 65536, 65536)
    assert got["problems"] == [] and got["discarded"] == 0
    assert got["observed"] == {
        "discarded.full": 0,
        "discarded.nf": 0,
        "failed": 0,
        "max_message_size": 65536,
    }
    broken = json.loads(json.dumps(healthy))
    broken["queue"]["discarded.full"] = 7
    broken["action"]["failed"] = 2
    got = fam.assess_discards(broken, 65536, 65536)
    assert got["problems"] == ["discarded.full = 7", "failed = 2"] and got["discarded"] == 7
    assert "truncated" in fam.assess_discards(healthy, 8192, 65536)["problems"][0]
    assert "default is 8k" in fam.assess_discards(healthy, None, 65536)["problems"][0]


# ---------------------------------------------------------------- the unit (LOG-01)
def test_unit_state_from_recorded_systemctl_show() -> None:
    """The same `systemctl show --property=...` format, recorded for auditd in a container."""
    blocks = fam.parse_systemctl_show(
        (AUDITD / "container_bookworm_systemctl_show.txt").read_text()
    )
    failed, missing = (fam.assess_unit(b) for b in blocks)
    assert failed["problems"] == ["auditd.service is failed (failed)"]
    assert missing["problems"] == ["unit audit-rules.service is not-found"]
    healthy = {
        "Id": "rsyslog.service",
        "LoadState": "loaded",
        "ActiveState": "active",
        "SubState": "running",
        "UnitFileState": "enabled",
    }
    assert fam.assess_unit(healthy)["problems"] == []
    got = fam.assess_unit({**healthy, "UnitFileState": "disabled"})
    assert got["problems"] == ["rsyslog.service is not enabled (UnitFileState disabled)"]


# ---------------------------------------------------------------- the whole module
def fake_host(tmp_path: Path, case: str) -> dict[str, Any]:
    """A host laid out as recorded: procfs with rsyslogd's sockets, the configuration, the
    audit log at the recorded size with imfile's state renamed to its inode, the queue files
    and impstats (fresh)."""
    proc = tmp_path / "proc"
    (proc / "net").mkdir(parents=True)
    for protocol in ("tcp", "tcp6"):
        shutil.copy(SHIP / case / f"proc_net_{protocol}.txt", proc / "net" / protocol)
    fd = proc / "4242" / "fd"
    fd.mkdir(parents=True)
    (proc / "4242" / "comm").write_text("rsyslogd\n")
    for n, link in enumerate((SHIP / case / "rsyslogd_fd_links.txt").read_text().split()):
        os.symlink(link, fd / str(n + 3))
    stats = recorded_stat(case)
    log = tmp_path / "audit.log"
    log.write_bytes(b"x" * stats["audit.log"][1])
    work = tmp_path / "spool"
    work.mkdir()
    state = json.loads((SHIP / case / STATE).read_text())
    state["filename"] = str(log)
    (work / f"imfile-state:{log.stat().st_ino}:a3a120f00106a362").write_text(json.dumps(state))
    shutil.copy(SHIP / case / "soc2_ship.qi", work / "soc2_ship.qi")
    (work / "soc2_ship.00000001").write_bytes(b"\0" * stats["soc2_ship.00000001"][1])
    shutil.copy(SHIP / case / "impstats.json", tmp_path / "impstats.json")
    shutil.copy(SHIP / "healthy" / "rsyslog.conf", tmp_path / "rsyslog.conf")
    return ship_params(
        config_path=str(tmp_path / "rsyslog.conf"),
        work_dir=str(work),
        audit_log_path=str(log),
        stats_file=str(tmp_path / "impstats.json"),
        proc_root=str(proc),
    )


ACTIVE = {
    "Id": "rsyslog.service",
    "LoadState": "loaded",
    "ActiveState": "active",
    "SubState": "running",
    "UnitFileState": "enabled",
}


def results(out: dict[str, Any]) -> dict[str, str]:
    return {c["check_id"]: c["result"] for c in out["checks"]}


def test_healthy_recording_passes_every_shipper_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (ACTIVE, None))
    ship = fake_host(tmp_path, "healthy")
    out = fam.verify_shipper(None, ship)
    assert results(out) == dict.fromkeys(fam.SHIPPER_CHECK_IDS, "pass"), out["checks"]
    for check in out["checks"]:
        assert check["observed"] is not None and check["expected"] is not None
    assert {o["key"]: o["value"] for o in out["observations"]} == {
        "log_shipper_lag": 0,
        "log_shipper_backlog_messages": 0,
        "log_shipper_backlog_bytes": 0,
        "log_shipper_discarded": 0,
    }


def test_outage_recording_fails_the_session_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (ACTIVE, None))
    ship = fake_host(tmp_path, "outage")
    out = fam.verify_shipper(None, ship)
    assert results(out) == {
        "LOG-01": "pass",
        "LOG-02": "fail",
        "LOG-03": "pass",
        "LOG-04": "pass",
        "LOG-05": "pass",
    }
    assert "no ESTABLISHED TCP session to 127.0.0.1:26614" in out["checks"][1]["message"]
    backlog = {o["key"]: o["value"] for o in out["observations"]}
    assert backlog["log_shipper_backlog_messages"] == 50
    assert backlog["log_shipper_backlog_bytes"] == 61153 - 14489
    out = fam.verify_shipper(None, {**ship, "max_backlog_messages": 49})
    assert results(out)["LOG-04"] == "fail"


def test_unreadable_sources_are_errors_not_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (None, "systemctl not found"))
    ship = fake_host(tmp_path, "healthy")
    ship["config_path"] = str(tmp_path / "missing.conf")
    ship["audit_log_path"] = str(tmp_path / "no-audit.log")
    ship["stats_file"] = str(tmp_path / "no-impstats.json")
    out = fam.verify_shipper(None, ship)
    assert results(out) == dict.fromkeys(fam.SHIPPER_CHECK_IDS, "error"), out["checks"]
    assert "no-audit.log" in out["checks"][2]["message"]


def test_stale_impstats_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (ACTIVE, None))
    ship = fake_host(tmp_path, "healthy")
    old = time.time() - 3600
    os.utime(ship["stats_file"], (old, old))
    out = fam.verify_shipper(None, ship)
    got = results(out)
    assert (got["LOG-04"], got["LOG-05"]) == ("error", "error")
    assert "not current" in out["checks"][3]["message"]


def test_a_stopped_unit_fails_log01(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stopped = {**ACTIVE, "ActiveState": "inactive", "SubState": "dead"}
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (stopped, None))
    out = fam.verify_shipper(None, fake_host(tmp_path, "healthy"))
    assert results(out)["LOG-01"] == "fail"
    assert out["checks"][0]["message"] == "rsyslog.service is inactive (dead)"


def test_fluent_bit_engine_without_fluent_bit_is_error_not_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The fluent_bit engine on a host without fluent-bit (this machine): what cannot be read
    is an error, never a pass (its checks: tests/unit/test_soc2_log_fluent_bit.py)."""
    args = {"shipper": {"enabled": True, "engine": "fluent_bit", "http_port": 1}}
    rc, result = invoke(soc2_log.main, args, capsys)
    assert rc == 0
    got = results(result)
    assert "pass" not in {got[c] for c in fam.SHIPPER_CHECK_IDS}
    assert (got["LOG-04"], got["LOG-05"]) == ("error", "error")
    assert {got[c] for c in fam.AGGREGATOR_CHECK_IDS} == {"not_applicable"}


def test_module_on_a_shipper_and_elsewhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (ACTIVE, None))
    ship = fake_host(tmp_path, "healthy")
    rc, result = invoke(soc2_log.main, {"shipper": ship}, capsys)
    assert rc == 0, result
    assert [c["check_id"] for c in result["checks"]] == list(fam.CHECK_IDS)
    got = results(result)
    assert {got[c] for c in fam.SHIPPER_CHECK_IDS} == {"pass"}
    assert {got[c] for c in fam.AGGREGATOR_CHECK_IDS} == {"not_applicable"}
    assert result["shipper"]["imfile_state"][0].startswith("imfile-state:")
    rc, result = invoke(soc2_log.main, {}, capsys)
    assert {c["result"] for c in result["checks"]} == {"not_applicable"}
    assert "not a log shipper" in result["checks"][0]["message"]


def test_bad_shipper_parameters_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = {"shipper": {"enabled": True, "work_dir": "spool", "aggregator_port": 0}}
    rc, result = invoke(soc2_log.main, args, capsys)
    assert rc == 1 and result["failed"]
    for words in ("work_dir must be absolute", "aggregator_host is required", "TCP port"):
        assert words in result["msg"]


# ---------------------------------------------------------------- one owner for each default
PASSTHROUGH = re.compile(r"^\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}$")


def test_module_defaults_equal_the_role_defaults_and_vars() -> None:
    """The shipper's parameters that the role passes straight through have the role's values
    as the module's defaults (tests/unit/test_defaults.py covers the drift-run families; LOG
    is not in the drift run yet)."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    params = role_vars["_log_shipper_verify_params"]["shipper"]
    assert set(params) == set(fam.SHIPPER_SPEC) - {"proc_root", "http_timeout"}
    compared = []
    for name, value in params.items():
        match = PASSTHROUGH.match(str(value).strip())
        if not match:
            continue
        var = match.group(1)
        source = defaults if var in defaults else role_vars
        if var not in source or "{{" in str(source[var]):
            continue
        assert fam.SHIPPER_SPEC[name]["default"] == source[var], (name, var)
        compared.append(name)
    assert {"max_lag_bytes", "max_backlog_messages", "max_message_size_bytes"} <= set(compared)
    assert {"work_dir", "action_name", "queue_name", "audit_log_path"} <= set(compared)
    # Per engine: rsyslog's unit and file are the module's defaults, fluent_bit's the
    # fluent_bit role's defaults (passed with those as fallbacks).
    assert f"else {fam.SHIPPER_SPEC['service']['default']!r}" in params["service"]
    assert "else _log_shipper_config_path" in params["config_path"]
    assert role_vars["_log_shipper_config_path"] == fam.SHIPPER_SPEC["config_path"]["default"]
    fb_defaults = yaml.safe_load((REPO / "roles/fluent_bit/defaults/main.yml").read_text())
    for name, var in (
        ("http_port", "fluent_bit_http_port"),
        ("db_path", "fluent_bit_db_path"),
        ("min_free_capacity_percent", "fluent_bit_min_free_capacity_percent"),
    ):
        assert params[name] == f"{{{{ {var} | default({fb_defaults[var]!r}) }}}}", name
        assert fam.SHIPPER_SPEC[name]["default"] == fb_defaults[var], name
    fb_vars = yaml.safe_load((REPO / "roles/fluent_bit/vars/main.yml").read_text())
    assert f"{fb_vars['_fluent_bit_service']!r} if" in params["service"]
    assert f"{fb_vars['_fluent_bit_config_path']!r} if" in params["config_path"]


# ---------------------------------------------------------------- recorded in molecule
MOLECULE = SHIP / "molecule"
MOLECULE_AGGREGATOR = "s2a-e00b8ac0-lshd-aggregator"


def test_molecule_recording_passes_every_shipper_check() -> None:
    """log_shipper_default's edge at the end of its healthy verify (after the end-to-end,
    outage and SIGKILL runs): systemd's unit state, the session to the aggregator's container
    (podman DNS: getent_ahosts.txt), the role's rendered configuration, imfile's state,
    impstats and the queue's .qi."""
    props = fam.parse_systemctl_show((MOLECULE / "systemctl_show.txt").read_text())
    assert len(props) == 1 and fam.assess_unit(props[0])["problems"] == []

    addresses = {
        line.split()[0] for line in (MOLECULE / "getent_ahosts.txt").read_text().splitlines()
    }
    sessions, inodes = recorded_sessions("molecule")
    got = fam.assess_session(sessions, inodes, 6514, addresses)
    assert got["up"] and got["observed"] == ["10.89.1.3:50794 -> 10.89.1.2:6514"]

    params = ship_params(
        aggregator_host=MOLECULE_AGGREGATOR,
        aggregator_port=6514,
        aggregator_name=MOLECULE_AGGREGATOR,
    )
    blocks = fam.parse_rsyslog_config((MOLECULE / "rsyslog.conf").read_text())
    assert fam.forward_contract(blocks, params)["problems"] == []

    stat = {}
    for line in (MOLECULE / "stat.txt").read_text().splitlines():
        inode, size, name = line.split(" ", 2)
        stat[os.path.basename(name)] = (int(inode), int(size))
    inode, size = stat["audit.log"]
    names = [n for n in os.listdir(MOLECULE) if n.startswith("imfile-state:")]
    state_names = fam.find_imfile_state(names, inode)
    assert state_names == ["imfile-state:1007888:fe04cd513a9aa7b2"]
    state = json.loads((MOLECULE / state_names[0]).read_text())
    got = fam.assess_lag(size, [state], "/var/log/audit/audit.log", params["max_lag_bytes"])
    assert (got["problems"], got["lag"]) == ([], 0)

    stats = fam.latest_objects(
        fam.parse_impstats((MOLECULE / "impstats.json").read_text()), "soc2_forward"
    )
    qi = fam.parse_qi((MOLECULE / "soc2_ship.qi").read_text())
    disk = fam.queue_bytes(qi, {1: stat["soc2_ship.00000001"][1]})
    backlog = fam.assess_backlog(stats, disk, 2048 << 20, params["max_backlog_messages"])
    assert (backlog["problems"], backlog["messages"], backlog["bytes"]) == ([], 0, 0)
    assert stats["action"]["resumed"] == 1  # the outage and SIGKILL runs before the recording
    discards = fam.assess_discards(stats, 65536, params["max_message_size_bytes"])
    assert discards["problems"] == []
