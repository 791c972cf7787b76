# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The LOG family's aggregator checks (plugins/module_utils/soc2_log_family.py) and the soc2_log
module, on outputs recorded from a real rsyslogd 8.2302 with the role's configuration
(tests/unit/fixtures/log/README.md) and on the role's template rendered with jinja2."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
import soc2_log
import yaml
from ansible.module_utils import soc2_log_family as fam
from module_runner import invoke

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "log_aggregator"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "log"
FLAGS = json.loads((FIXTURES / "flags.json").read_text())
PEERS = [{"name": "edge1", "port": 26514}, {"name": "edge2", "port": 26515}]
PLAIN = [
    {"address": "127.0.0.1", "port": 25514, "protocol": "tcp"},
    {"address": "127.0.0.1", "port": 25514, "protocol": "udp"},
]


def recorded_listeners() -> list[dict[str, Any]]:
    inodes = fam.socket_inodes((FIXTURES / "rsyslogd_fd_sockets.txt").read_text().splitlines())
    out = []
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        text = (FIXTURES / f"proc_net_{protocol}.txt").read_text()
        out += [s for s in fam.parse_proc_net(text, protocol) if s["inode"] in inodes]
    return out


def render(**over: Any) -> str:
    """The role's rsyslog.conf from its defaults and vars, with ``over`` applied."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values: dict[str, Any] = {
        **defaults,
        "ansible_managed": "Ansible managed",
        "_log_aggregator_spool_dir": "/var/spool/rsyslog",
        "_log_aggregator_store_bin": "/usr/local/libexec/soc2audit/log-store",
        "_log_aggregator_state_dir": "/var/lib/soc2audit/log-store",
        "_log_aggregator_gnutls_priority": "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
        "_log_aggregator_peers": [{"name": "edge1", "port": 6514}, {"name": "edge2", "port": 6515}],
        **over,
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template("etc/rsyslog.conf.j2").render(**values)


# ---------------------------------------------------------------- sockets
def test_proc_net_parsing_of_the_recorded_rsyslogd() -> None:
    got = sorted((s["protocol"], s["address"], s["port"]) for s in recorded_listeners())
    assert got == [
        ("tcp", "127.0.0.1", 25514),
        ("tcp", "127.0.0.1", 26514),
        ("tcp", "127.0.0.1", 26515),
        ("udp", "127.0.0.1", 25514),
    ]


def test_other_processes_sockets_are_not_rsyslogds() -> None:
    text = (FIXTURES / "proc_net_udp.txt").read_text()
    everything = fam.parse_proc_net(text, "udp")
    assert ("10.89.0.1", 53) in {(s["address"], s["port"]) for s in everything}
    assert ("10.89.0.1", 53) not in {(s["address"], s["port"]) for s in recorded_listeners()}


def test_ipv6_addresses() -> None:
    line = (
        "  sl  local_address                         remote_address                        st\n"
        "   0: 00000000000000000000000000000000:196A 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0\n"
        "   1: 0000000000000000FFFF00000100007F:196B 00000000000000000000000000000000:0000 0A"
        " 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 100 0 0\n"
    )
    got = [(s["address"], s["port"], s["family"]) for s in fam.parse_proc_net(line, "tcp6")]
    assert got == [("::", 6506, "ipv6"), ("::ffff:127.0.0.1", 6507, "ipv6")]


def _inputs(**over: Any) -> dict[int, dict[str, Any]]:
    return fam.tls_inputs(
        fam.parse_rsyslog_blocks(
            render(
                _log_aggregator_peers=PEERS,
                log_aggregator_listen_address="127.0.0.1",
                log_aggregator_plain_listener_enabled=True,
                log_aggregator_plain_listen_addresses=["127.0.0.1"],
                log_aggregator_plain_port=25514,
                log_aggregator_udp_enabled=True,
                **over,
            )
        )
    )


def test_log06_passes_on_the_recorded_listeners() -> None:
    got = fam.assess_listeners(PEERS, "127.0.0.1", PLAIN, recorded_listeners(), _inputs(), True)
    assert got["problems"] == []


def test_log06_a_plain_listener_not_asked_for_fails() -> None:
    got = fam.assess_listeners(PEERS, "127.0.0.1", [], recorded_listeners(), _inputs(), True)
    assert got["problems"] == [
        "listeners not in the configuration: tcp 127.0.0.1:25514, udp 127.0.0.1:25514"
    ]


def test_log06_a_missing_peer_listener_and_rsyslogd_down_fail() -> None:
    peers = [*PEERS, {"name": "edge3", "port": 26516}]
    got = fam.assess_listeners(peers, "127.0.0.1", PLAIN, recorded_listeners(), _inputs(), True)
    assert got["problems"] == [
        "no rsyslogd TCP listener on port 26516 for edge3",
        "26516: no imtcp input for edge3 in the configuration",
    ]
    down = fam.assess_listeners(PEERS, "127.0.0.1", PLAIN, [], _inputs(), False)
    assert down["problems"] == ["rsyslogd is not running"]


def test_log06_an_input_that_is_not_tls_for_exactly_its_peer_fails() -> None:
    inputs = _inputs()
    inputs[26514] = {**inputs[26514], "mode": "0"}
    inputs[26515] = {**inputs[26515], "permitted_peers": ["edge2", "edge1"]}
    got = fam.assess_listeners(PEERS, "127.0.0.1", PLAIN, recorded_listeners(), inputs, True)
    assert len(got["problems"]) == 2
    assert "mode 0" in got["problems"][0] and "['edge2', 'edge1']" in got["problems"][1]


# ---------------------------------------------------------------- the rendered configuration
def test_template_contract_defaults() -> None:
    peers = [
        {"name": "edge1", "port": 6514, "relp_port": 2514},
        {"name": "edge2", "port": 6515, "relp_port": 2515},
    ]
    text = render(_log_aggregator_peers=peers)
    blocks = fam.parse_rsyslog_blocks(text)
    inputs = fam.tls_inputs(blocks)
    tcp = {
        port: {
            "kind": "tcp",
            "name": f"peer:{name}",
            "driver": "gtls",
            "mode": "1",
            "auth_mode": "x509/name",
            "permitted_peers": [name],
        }
        for port, name in ((6514, "edge1"), (6515, "edge2"))
    }
    relp = {
        port: {
            "kind": "relp",
            "name": f"peer:{name}",
            "tls": "on",
            "auth_mode": "name",
            "permitted_peers": [name],
        }
        for port, name in ((2514, "edge1"), (2515, "edge2"))
    }
    assert inputs == {**tcp, **relp}
    # Both listeners of each peer, TLS for exactly that peer: LOG-06 passes on the rendering.
    listening = [{"protocol": "tcp", "address": "0.0.0.0", "port": p} for p in inputs]
    assert fam.assess_listeners(peers, "", [], listening, inputs, True)["problems"] == []
    # A RELP listener that is down, or an imrelp input without TLS, fails LOG-06.
    got = fam.assess_listeners(peers, "", [], listening[:-1], inputs, True)
    assert got["problems"] == ["no rsyslogd RELP listener on port 2515 for edge2"]
    bad = {**inputs, 2514: {**inputs[2514], "tls": "off"}}
    got = fam.assess_listeners(peers, "", [], listening, bad, True)
    assert len(got["problems"]) == 1 and "RELP input for edge1 is not TLS" in got["problems"][0]
    assert 'imrelp"' in text and 'tls.myCert="/etc/ssl/soc2audit/rsyslog-server.crt"' in text
    off = fam.tls_inputs(fam.parse_rsyslog_blocks(render(log_aggregator_relp_enabled=False)))
    assert set(off) == {6514, 6515}
    # maxMessageSize is set before any module or input is loaded.
    assert text.index('maxMessageSize="65536"') < text.index("module(")
    imtcp = next(b["params"] for b in blocks if b["params"].get("load") == "imtcp")
    assert imtcp["streamdriver.permitexpiredcerts"] == "off"
    assert imtcp["streamdriver.checkextendedkeypurpose"] == "on"
    # No plain listener and no UDP by default, and no kernel log input.
    loads = [b["params"].get("load") for b in blocks if b["kind"] == "module"]
    assert loads == ["imuxsock", "imtcp", "imrelp", "omprog"]
    assert 'imklog"' not in text and "ossl" not in text
    assert 'confirmMessages="on"' in text and 'queue.type="Disk"' in text
    assert 'action.resumeRetryCount="-1"' in text and 'queue.workerThreads="1"' in text
    assert text.startswith("# Ansible managed\n")


def test_template_plain_listener_only_on_its_addresses() -> None:
    text = render(
        log_aggregator_plain_listener_enabled=True,
        log_aggregator_plain_listen_addresses=["10.0.0.5", "127.0.0.1"],
        log_aggregator_local_files_enabled=False,
    )
    plain = [
        b["params"] for b in fam.parse_rsyslog_blocks(text) if b["params"].get("type") == "imptcp"
    ]
    assert [(p["address"], p["port"], p["name"]) for p in plain] == [
        ("10.0.0.5", "514", "plain:10.0.0.5"),
        ("127.0.0.1", "514", "plain:127.0.0.1"),
    ]
    assert "imudp" not in text and "imuxsock" not in text and "/var/log/syslog" not in text


def test_wire_template_is_one_json_object_per_line() -> None:
    """The soc2_wire template, with its constants joined, is a JSON object ending in LF."""
    text = render()
    body = text[text.index('template(name="soc2_wire"') :].split("\n}\n", 1)[0]
    pieces = []
    for kind, value in re.findall(r'(constant|property)\((?:value|name)="((?:[^"\\]|\\.)*)"', body):
        pieces.append(json.loads(f'"{value}"') if kind == "constant" else f"<{value}>")
    joined = "".join(pieces)
    assert joined.endswith("}\n")
    sample = re.sub(r"<[^>]+>", "x", joined)
    assert set(json.loads(sample)) == {
        "input",
        "received",
        "source_address",
        "timereported",
        "hostname",
        "app_name",
        "procid",
        "msgid",
        "pri",
        "structured_data",
        "msg",
    }


# ---------------------------------------------------------------- the store
def make_store(root: Path, now: float) -> dict[str, Path]:
    """Two hosts: edge1 with a sealed past day and an active day, edge2 only a sealed day."""
    paths = {}
    for host, day, sealed, body in [
        ("edge1", "2026-12-05", True, b'{"a": 1}\n'),
        ("edge1", "2026-12-06", False, b'{"a": 2}\n'),
        ("edge2", "2026-12-05", True, b'{"b": 1}\n'),
    ]:
        path = root / host / f"{day}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        if sealed:
            digest = hashlib.sha256(body).hexdigest()
            Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
        paths[f"{host}/{day}"] = path
    for path in root.glob("*/*"):
        os.utime(path, (now - 50000, now - 50000))
    os.utime(paths["edge1/2026-12-06"], (now - 60, now - 60))
    os.utime(paths["edge2/2026-12-05"], (now - 20000, now - 20000))
    return paths


NOW = dt.datetime(2026, 12, 6, 14, 0, tzinfo=dt.UTC).timestamp()


def test_log07_silence_per_expected_host(tmp_path: Path) -> None:
    make_store(tmp_path, NOW)
    files = fam.scan_store(str(tmp_path))
    got = fam.assess_silence(
        files,
        [{"name": "edge1", "port": 1}, {"name": "edge2", "port": 2}, {"name": "edge3", "port": 3}],
        NOW,
        900,
    )
    assert got["problems"] == [
        "edge2: silent for 20000 s (more than 900 s)",
        "edge3: nothing stored yet",
    ]
    assert got["observed"] == {"edge1": 60.0, "edge2": 20000.0, "edge3": None}


def test_log08_flags_with_recorded_flag_words(tmp_path: Path) -> None:
    make_store(tmp_path, NOW)
    files = fam.scan_store(str(tmp_path))
    good = {
        e["path"]: FLAGS["active_jsonl"]
        if e["kind"] == "data" and not e["sealed"]
        else FLAGS["sealed_jsonl"]
        for e in files
    }
    assert fam.assess_flags(files, good)["problems"] == []
    assert fam.flag_names(FLAGS["active_jsonl"]) == ["append"]
    assert fam.flag_names(FLAGS["sealed_sha256"]) == ["immutable"]
    bad = dict(good)
    active = str(tmp_path / "edge1" / "2026-12-06.jsonl")
    side = str(tmp_path / "edge2" / "2026-12-05.jsonl.sha256")
    bad[active] = FLAGS["cleared"]
    bad[side] = FLAGS["active_jsonl"]
    assert fam.assess_flags(files, bad)["problems"] == [
        f"{active}: active file is not append-only (+a)",
        f"{side}: sealed file is not immutable (+i)",
    ]


def test_log09_matching_tampered_orphaned_and_overdue(tmp_path: Path) -> None:
    paths = make_store(tmp_path, NOW)
    files = fam.scan_store(str(tmp_path))
    got = fam.assess_seals(files, NOW, 2, 7200)
    assert (got["problems"], got["hashed"]) == ([], 2)
    # Tamper: a closed file edited after sealing.
    paths["edge2/2026-12-05"].write_bytes(b'{"b": 2}\n')
    # An orphan .sha256 and a day three days back that nobody sealed.
    orphan = tmp_path / "edge1" / "2026-12-01.jsonl.sha256"
    orphan.write_text("0" * 64 + "  2026-12-01.jsonl\n")
    (tmp_path / "edge1" / "2026-12-03.jsonl").write_text("{}\n")
    got = fam.assess_seals(fam.scan_store(str(tmp_path)), NOW, 2, 7200)
    assert got["tampered"] == sorted([str(orphan), str(paths["edge2/2026-12-05"])])
    assert any("content does not match" in p for p in got["problems"])
    assert any("2026-12-03.jsonl: day ended" in p for p in got["problems"])
    # Old seals get no full re-hash.
    assert (
        fam.assess_seals(fam.scan_store(str(tmp_path)), NOW + 10 * 86400, 2, 10**9)["hashed"] == 0
    )


def test_sha256sum_line_format() -> None:
    digest = "c6bfe31cee293e9deeea25ccf36dc8cbefd66157b7135e0d54a5bbf49b18055c"
    assert fam.parse_sha256_file(f"{digest}  2026-12-06.jsonl\n") == (digest, "2026-12-06.jsonl")
    assert fam.parse_sha256_file(f"{digest} *2026-12-06.jsonl") == (digest, "2026-12-06.jsonl")
    assert fam.parse_sha256_file("nonsense") is None


def test_log11_on_the_recorded_stats() -> None:
    stats = json.loads((FIXTURES / "stats.json").read_text())
    now = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC).timestamp()  # yesterday counts
    got = fam.assess_attribution(stats, now)
    assert got["problems"] == []
    assert got["observed"] == {
        "host_mismatches": 0,
        "quarantined": 0,
        "unauthenticated": 1,
        "stored": 4,
    }
    stats["days"]["2026-12-06"]["host_mismatches"] = 2
    stats["mismatch_examples"] = [{"host": "edge1", "host_claimed": "edge2"}]
    assert "2 records whose claimed host" in fam.assess_attribution(stats, now)["problems"][0]
    later = dt.datetime(2026, 12, 9, tzinfo=dt.UTC).timestamp()
    assert fam.assess_attribution(stats, later)["problems"] == []
    assert fam.assess_attribution(None, now)["problems"]


# ---------------------------------------------------------------- the module
def fake_proc(root: Path) -> Path:
    """A procfs with the recorded /proc/net files and one rsyslogd owning the recorded sockets."""
    (root / "net").mkdir(parents=True)
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        (root / "net" / protocol).write_text((FIXTURES / f"proc_net_{protocol}.txt").read_text())
    fd = root / "4242" / "fd"
    fd.mkdir(parents=True)
    (root / "4242" / "comm").write_text("rsyslogd\n")
    for n, link in enumerate((FIXTURES / "rsyslogd_fd_sockets.txt").read_text().split()):
        os.symlink(link, fd / str(n + 3))
    (root / "4243" / "fd").mkdir(parents=True)
    (root / "4243" / "comm").write_text("sshd\n")
    return root


def module_args(tmp_path: Path) -> dict[str, Any]:
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        render(
            _log_aggregator_peers=PEERS,
            log_aggregator_listen_address="127.0.0.1",
            log_aggregator_plain_listener_enabled=True,
            log_aggregator_plain_listen_addresses=["127.0.0.1"],
            log_aggregator_plain_port=25514,
            log_aggregator_udp_enabled=True,
        )
    )
    state = tmp_path / "state"
    state.mkdir()
    stats = json.loads((FIXTURES / "stats.json").read_text())
    today = dt.datetime.now(dt.UTC).date().isoformat()
    stats["days"] = {today: stats["days"]["2026-12-06"]}
    (state / "stats.json").write_text(json.dumps(stats))
    root = tmp_path / "store"
    today_file = root / "edge1" / f"{today}.jsonl"
    today_file.parent.mkdir(parents=True)
    today_file.write_text((FIXTURES / "store_edge1_day.jsonl").read_text())
    return {
        "aggregator": {
            "enabled": True,
            "config_path": str(conf),
            "storage_root": str(root),
            "state_dir": str(state),
            "peers": [PEERS[0]],
            "listen_address": "127.0.0.1",
            "plain_listeners": PLAIN,
            "proc_root": str(fake_proc(tmp_path / "proc")),
        }
    }


def test_module_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fam, "get_flags", lambda path: FLAGS["active_jsonl"])
    args = module_args(tmp_path)
    rc, result = invoke(soc2_log.main, args, capsys)
    assert rc == 0, result
    assert result["changed"] is False
    got = {c["check_id"]: c["result"] for c in result["checks"]}
    # edge2's listener is running but not expected: one peer only here.
    assert got == {
        **dict.fromkeys(fam.SHIPPER_CHECK_IDS, "not_applicable"),
        "LOG-06": "fail",
        "LOG-07": "pass",
        "LOG-08": "pass",
        "LOG-09": "pass",
        "LOG-10": "not_applicable",
        "LOG-12": "not_applicable",
        "LOG-11": "pass",
        "LOG-13": "not_applicable",
        "LOG-14": "not_applicable",
    }
    assert "tcp 127.0.0.1:26515" in result["checks"][5]["message"]
    assert result["rsyslogd_pids"] == [4242]
    assert "observations" not in result
    args["aggregator"]["peers"] = PEERS
    _, result = invoke(soc2_log.main, args, capsys)
    got = {c["check_id"]: c["result"] for c in result["checks"]}
    assert got["LOG-06"] == "pass" and got["LOG-07"] == "fail"


def test_verify_reports_observations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fam, "get_flags", lambda path: FLAGS["active_jsonl"])
    args = module_args(tmp_path)
    params = {
        "aggregator": {**fam_defaults(), **args["aggregator"]},
        "shipper": {k: v.get("default") for k, v in fam.SHIPPER_SPEC.items()},
    }
    result = fam.verify(None, params)
    keys = {(o["key"], tuple(sorted(o["labels"].items()))) for o in result["observations"]}
    assert keys == {
        ("log_last_record", (("source_host", "edge1"),)),
        ("log_store_tampered_files", ()),
    }


def fam_defaults() -> dict[str, Any]:
    return {k: v.get("default") for k, v in fam.AGGREGATOR_SPEC.items()}


def test_not_an_aggregator_is_not_applicable(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = invoke(soc2_log.main, {}, capsys)
    assert rc == 0
    assert [c["check_id"] for c in result["checks"]] == list(fam.CHECK_IDS)
    assert {c["result"] for c in result["checks"]} == {"not_applicable"}


def test_bad_parameters_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    args = {
        "aggregator": {
            "enabled": True,
            "storage_root": "relative",
            "peers": [{"name": "a", "port": 1}, {"name": "b", "port": 1}],
        }
    }
    rc, result = invoke(soc2_log.main, args, capsys)
    assert rc == 1 and result["failed"]
    assert "storage_root must be absolute" in result["msg"] and "port of its own" in result["msg"]


def test_missing_storage_root_is_an_error_not_a_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = module_args(tmp_path)
    args["aggregator"]["storage_root"] = str(tmp_path / "nowhere")
    _, result = invoke(soc2_log.main, args, capsys)
    got = {c["check_id"]: c["result"] for c in result["checks"]}
    assert (got["LOG-07"], got["LOG-08"], got["LOG-09"]) == ("error", "error", "error")


# ---------------------------------------------------------------- recorded in molecule
MOLECULE = FIXTURES / "molecule"
MOLECULE_PEER = "s2a-51cefbfd-lagd-client"


def test_molecule_recording_log06_passes_on_the_wildcard_listener() -> None:
    """log_aggregator_default's aggregator after verify: rsyslogd on *:6514 (IPv4 and IPv6),
    sshd on 22 (not rsyslogd's, so not counted), the role's rendered configuration."""
    inodes = fam.socket_inodes((MOLECULE / "rsyslogd_fd_links.txt").read_text().splitlines())
    listening = []
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        text = (MOLECULE / f"proc_net_{protocol}.txt").read_text()
        listening += [s for s in fam.parse_proc_net(text, protocol) if s["inode"] in inodes]
    assert sorted((s["family"], s["address"], s["port"]) for s in listening) == [
        ("ipv4", "0.0.0.0", 6514),
        ("ipv6", "::", 6514),
    ]
    inputs = fam.tls_inputs(fam.parse_rsyslog_blocks((MOLECULE / "rsyslog.conf").read_text()))
    peers = [{"name": MOLECULE_PEER, "port": 6514}]
    got = fam.assess_listeners(peers, "", [], listening, inputs, True)
    assert got["problems"] == []
    assert (
        (MOLECULE / "rsyslogd_N1.txt").read_text().endswith("End of config validation run. Bye.\n")
    )


def test_molecule_recording_records_flags_and_stats() -> None:
    for line in (MOLECULE / "store_day.jsonl").read_text().splitlines():
        record = json.loads(line)
        assert record["host"] == MOLECULE_PEER and record["identity"] == "x509"
    assert len((MOLECULE / "store_day.jsonl").read_text().splitlines()) == 3
    flags = json.loads((MOLECULE / "flags_sealed.json").read_text())
    assert {name: fam.flag_names(word) for name, word in flags.items()} == {
        "2026-12-06.jsonl": ["immutable"],
        "2026-12-06.jsonl.sha256": ["immutable"],
    }
    stats = json.loads((MOLECULE / "stats.json").read_text())
    now = dt.datetime(2026, 12, 6, 16, tzinfo=dt.UTC).timestamp()
    got = fam.assess_attribution(stats, now)
    assert got["problems"] == [] and got["observed"]["stored"] == 3


def test_log08_fails_for_a_restored_append_flag_until_acknowledged() -> None:
    stats = {
        "append_restorations": [
            {
                "path": "/srv/soc2audit/logs/edge1/2026-12-06.jsonl",
                "at": "2026-12-06T10:00:00.000000Z",
            }
        ]
    }
    problems = fam.assess_restorations(stats, None)
    assert len(problems) == 1 and "edge1/2026-12-06.jsonl" in problems[0], problems
    before = {"append_restorations": [{"acknowledged": "2026-12-06T09:00:00.000000Z"}]}
    assert len(fam.assess_restorations(stats, before)) == 1
    after = {"append_restorations": [{"acknowledged": "2026-12-06T10:05:00.000000Z", "note": "T"}]}
    assert fam.assess_restorations(stats, after) == []
    assert fam.assess_restorations(None, None) == []
    assert fam.assess_restorations({"days": {}}, "not a dict") == []
