# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The LOG family's verification, shared by the soc2_log module and (once registered) the
one-pass soc2_verify module: the edge shipper (LOG-01 .. LOG-05, rsyslog engine) and the
aggregator (LOG-06 .. LOG-09, LOG-11).

Everything is read in Python on the host, in one module run. Shipper: one `systemctl show` of
the unit, /proc/net/{tcp,tcp6} and rsyslogd's socket inodes (/proc/<pid>/fd), the rendered
rsyslog.conf, imfile's state file for the audit log's current inode (`imfile-state:<inode>`, in
8.2302 `imfile-state:<inode>:<file id>`) in rsyslog's workDirectory, the disk queue's `.qi`
file and the tail of the impstats JSON file. Aggregator: /proc/net/* and rsyslogd's sockets, the
rendered rsyslog.conf, the store's day files and their inode flags (FS_IOC_GETFLAGS, no lsattr
per file), the .sha256 files and the writer's stats.json, and for the S3 upload (LOG-10) the
uploader's state file (log-upload's record of every locked version: no network call here).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import http.client
import json
import os
import re
import socket
import sqlite3
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

from ansible.module_utils.soc2_command import find_binary, run
from ansible.module_utils.soc2_kafka import parse_topic
from ansible.module_utils.soc2_results import make_check
from ansible.module_utils.soc2_textfile import samples

__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "FAMILY", "validate", "verify"]

FAMILY = "LOG"
SHIPPER_CHECK_IDS: tuple[str, ...] = ("LOG-01", "LOG-02", "LOG-03", "LOG-04", "LOG-05")
AGGREGATOR_CHECK_IDS: tuple[str, ...] = (
    "LOG-06",
    "LOG-07",
    "LOG-08",
    "LOG-09",
    "LOG-10",
    "LOG-11",
    "LOG-12",
    "LOG-13",
)
# The Kafka tier's brokers (roles/kafka): the audit topic's replication (LOG-14).
BROKER_CHECK_IDS: tuple[str, ...] = ("LOG-14",)
CHECK_IDS: tuple[str, ...] = (
    "LOG-01",
    "LOG-02",
    "LOG-03",
    "LOG-04",
    "LOG-05",
    "LOG-06",
    "LOG-07",
    "LOG-08",
    "LOG-09",
    "LOG-10",
    "LOG-11",
    "LOG-12",
    "LOG-13",
    "LOG-14",
)

FS_IOC_GETFLAGS = 0x80086601
FS_APPEND_FL = 0x20
FS_IMMUTABLE_FL = 0x10
TCP_LISTEN = "0A"
TCP_ESTABLISHED = "01"
UDP_UNCONNECTED = "07"
DAY_FILE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.jsonl$")
SOCKET_RE = re.compile(r"^socket:\[(\d+)\]$")
PARAM_RE = re.compile(r"([A-Za-z][\w.]*)\s*=\s*(?:\"([^\"]*)\"|\[([^\]]*)\])")
SPECIAL_DIRS = ("_quarantine",)

PEER_SPEC: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
    "relp_port": {"type": "int", "required": False},
}
PLAIN_SPEC: dict[str, dict[str, Any]] = {
    "address": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
    "protocol": {"type": "str", "choices": ["tcp", "udp"], "default": "tcp"},
}
AGGREGATOR_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": False},
    "config_path": {"type": "path", "default": "/etc/rsyslog.conf"},
    "storage_root": {"type": "path", "default": "/srv/soc2audit/logs"},
    "state_dir": {"type": "path", "default": "/var/lib/soc2audit/log-store"},
    "peers": {"type": "list", "elements": "dict", "default": [], "options": PEER_SPEC},
    "listen_address": {"type": "str", "default": ""},
    "plain_listeners": {"type": "list", "elements": "dict", "default": [], "options": PLAIN_SPEC},
    "max_silence_seconds": {"type": "int", "default": 900},
    "verify_hash_days": {"type": "int", "default": 2},
    "max_seal_delay_seconds": {"type": "int", "default": 7200},
    "upload_enabled": {"type": "bool", "default": False},
    "upload_state_path": {
        "type": "path",
        "default": "/var/lib/soc2audit/log-store/upload-state.json",
    },
    "upload_max_delay_seconds": {"type": "int", "default": 7200},
    "review_period_days": {"type": "int", "default": 365},
    "proc_root": {"type": "path", "default": "/proc"},
    # The Kafka tier's archive consumer (log-kafka-archive): LOG-12 reads its state file.
    "kafka_archive_enabled": {"type": "bool", "default": False},
    "kafka_archive_state_path": {
        "type": "path",
        "default": "/var/lib/soc2audit/log-store/kafka-archive.json",
    },
    "kafka_max_lag_messages": {"type": "int", "default": 10000},
    "kafka_max_state_age_seconds": {"type": "int", "default": 300},
    # The omkafka producer's Disk queue (LOG-13), from rsyslogd's impstats JSON log.
    "kafka_producer_enabled": {"type": "bool", "default": False},
    "kafka_stats_file": {
        "type": "path",
        "default": "/var/lib/soc2audit/log-store/impstats.json",
    },
    "kafka_stats_interval_seconds": {"type": "int", "default": 60},
    "kafka_action_name": {"type": "str", "default": "soc2_kafka"},
    "kafka_max_queue_messages": {"type": "int", "default": 10000},
}
BROKER_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": False},
    # Written by soc2-kafka-topic-state (roles/kafka) on a timer: TopicCommand's describe output.
    "state_path": {"type": "path", "default": "/var/lib/soc2audit/kafka/topic-state.json"},
    "topic": {"type": "str", "default": "soc2audit.audit"},
    "max_state_age_seconds": {"type": "int", "default": 900},
}
SHIPPER_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": False},
    "engine": {"type": "str", "choices": ["rsyslog", "fluent_bit"], "default": "rsyslog"},
    "transport": {"type": "str", "choices": ["relp", "tcp"], "default": "relp"},
    "service": {"type": "str", "default": "rsyslog"},
    "config_path": {"type": "path", "default": "/etc/rsyslog.conf"},
    "work_dir": {"type": "path", "default": "/var/spool/rsyslog"},
    "audit_log_path": {"type": "path", "default": "/var/log/audit/audit.log"},
    "stats_file": {"type": "path", "default": "/var/lib/soc2audit/log-shipper/impstats.json"},
    "stats_interval_seconds": {"type": "int", "default": 60},
    "action_name": {"type": "str", "default": "soc2_forward"},
    "queue_name": {"type": "str", "default": "soc2_ship"},
    "aggregator_host": {"type": "str", "default": ""},
    "aggregator_port": {"type": "int", "default": 0},
    "aggregator_name": {"type": "str", "default": ""},
    "max_message_size_bytes": {"type": "int", "default": 65536},
    "max_lag_bytes": {"type": "int", "default": 1048576},
    "max_backlog_messages": {"type": "int", "default": 10000},
    "proc_root": {"type": "path", "default": "/proc"},
    # fluent_bit engine: its local HTTP server, tail position DB and backlog alert threshold.
    "http_port": {"type": "int", "default": 2020},
    "db_path": {"type": "path", "default": "/var/lib/fluent-bit/tail-audit.db"},
    "min_free_capacity_percent": {"type": "int", "default": 20},
    "http_timeout": {"type": "float", "default": 3.0},
}
ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "shipper": {"type": "dict", "options": SHIPPER_SPEC, "apply_defaults": True},
    "aggregator": {"type": "dict", "options": AGGREGATOR_SPEC, "apply_defaults": True},
    "broker": {"type": "dict", "options": BROKER_SPEC, "apply_defaults": True},
}


def validate(params: dict[str, Any]) -> list[str]:
    """Parameter problems that need no host."""
    problems = validate_shipper(params["shipper"])
    broker = params.get("broker") or {"enabled": False}
    if broker["enabled"] and not str(broker["state_path"]).startswith("/"):
        problems.append("broker.state_path must be absolute")
    agg = params["aggregator"]
    if not agg["enabled"]:
        return problems
    for name in (
        "config_path",
        "storage_root",
        "state_dir",
        "upload_state_path",
        "kafka_archive_state_path",
        "kafka_stats_file",
        "proc_root",
    ):
        if not str(agg[name]).startswith("/"):
            problems.append(f"aggregator.{name} must be absolute")
    ports = [p["port"] for p in agg["peers"]]
    if len(set(ports)) != len(ports):
        problems.append("aggregator.peers: every peer needs a port of its own")
    for number in (
        "max_silence_seconds",
        "verify_hash_days",
        "max_seal_delay_seconds",
        "upload_max_delay_seconds",
        "review_period_days",
        "kafka_max_queue_messages",
    ):
        if agg[number] < 0:
            problems.append(f"aggregator.{number} must not be negative")
    if agg["kafka_stats_interval_seconds"] <= 0:
        problems.append("aggregator.kafka_stats_interval_seconds must be positive")
    return problems


# ---------------------------------------------------------------- sockets
def _address(hex_addr: str) -> str:
    """The address of a /proc/net/{tcp,udp}[6] local_address field (little-endian words)."""
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return ".".join(str(b) for b in raw[::-1])
    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
    full = b"".join(words)
    if full[:12] == b"\0" * 10 + b"\xff\xff":
        return "::ffff:" + ".".join(str(b) for b in full[12:])
    groups = [f"{int.from_bytes(full[i : i + 2], 'big'):x}" for i in range(0, 16, 2)]
    text = ":".join(groups)
    # Shortest form is not needed for comparisons; normalise the wildcard only.
    return "::" if set(groups) == {"0"} else text


def parse_proc_net(text: str, protocol: str) -> list[dict[str, Any]]:
    """Listening sockets of one /proc/net file: TCP in LISTEN, UDP unconnected (bound)."""
    state = TCP_LISTEN if protocol.startswith("tcp") else UDP_UNCONNECTED
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != state:
            continue
        local_addr, local_port = fields[1].split(":")
        out.append(
            {
                "protocol": protocol.rstrip("6"),
                "family": "ipv6" if protocol.endswith("6") else "ipv4",
                "address": _address(local_addr),
                "port": int(local_port, 16),
                "inode": int(fields[9]),
            }
        )
    return out


def socket_inodes(fd_links: Iterable[str]) -> set[int]:
    """Socket inodes from the link targets of a process's /proc/<pid>/fd entries."""
    out = set()
    for link in fd_links:
        match = SOCKET_RE.match(link.strip())
        if match:
            out.add(int(match.group(1)))
    return out


def _socket_links(proc_root: str, pid: str) -> list[str]:
    return [os.readlink(f"{proc_root}/{pid}/fd/{fd}") for fd in os.listdir(f"{proc_root}/{pid}/fd")]


def _rsyslogd_sockets(proc_root: str, comm: str = "rsyslogd") -> tuple[list[int], set[int]]:
    """The pids of the processes named `comm` (rsyslogd; fluent-bit for that engine) and the
    socket inodes of them and of their direct children (omprog programs: the shipper's
    relp-forward holds the session to the aggregator)."""
    pids: list[int] = []
    inodes: set[int] = set()
    parents: dict[str, str] = {}
    for entry in os.listdir(proc_root):
        if not entry.isdigit():
            continue
        try:
            with contextlib.suppress(OSError, ValueError, IndexError):
                # pid (comm) state ppid ...: comm may hold spaces and parentheses.
                with open(f"{proc_root}/{entry}/stat", encoding="utf-8") as fh:
                    stat = fh.read()
                parents[entry] = stat[stat.rindex(")") + 2 :].split()[1]
            with open(f"{proc_root}/{entry}/comm", encoding="utf-8") as fh:
                if fh.read().strip() != comm:
                    continue
            links = _socket_links(proc_root, entry)
        except OSError:
            continue
        pids.append(int(entry))
        inodes |= socket_inodes(links)
    for entry, ppid in parents.items():
        if ppid.isdigit() and int(ppid) in pids:
            try:
                inodes |= socket_inodes(_socket_links(proc_root, entry))
            except OSError:
                continue
    return pids, inodes


def _wildcard(address: str) -> bool:
    return address in ("0.0.0.0", "::", "")


def _address_matches(bound: str, wanted: str) -> bool:
    if _wildcard(wanted):
        return _wildcard(bound)
    return bound in (wanted, f"::ffff:{wanted}")


def _listens(sock: dict[str, Any], protocol: str, port: int, address: str) -> bool:
    """Whether a listening socket is on this protocol, port and address (a wildcard address
    only matches a wildcard bind; an IPv4 address also its IPv4-mapped IPv6 form)."""
    return (
        sock["protocol"] == protocol
        and sock["port"] == port
        and _address_matches(sock["address"], address)
    )


# ---------------------------------------------------------------- rsyslog.conf contract
def parse_rsyslog_blocks(text: str) -> list[dict[str, Any]]:
    """module(...) and input(...) statements of a RainerScript file, parameter names lower case
    (arrays as lists): the aggregator's part of parse_rsyslog_config."""
    return [b for b in parse_rsyslog_config(text) if b["kind"] in ("module", "input")]


def tls_inputs(blocks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """imtcp and imrelp inputs by port with their effective TLS settings (input overrides
    module); an imrelp input has kind "relp" and its tls switch."""
    module: dict[str, Any] = {}
    for block in blocks:
        if block["kind"] == "module" and block["params"].get("load") == "imtcp":
            module = block["params"]
    out: dict[int, dict[str, Any]] = {}
    for block in blocks:
        params = block["params"]
        if block["kind"] == "input" and params.get("type") == "imrelp":
            try:
                port = int(params.get("port", "0"))
            except ValueError:
                continue
            peers = params.get("tls.permittedpeer", [])
            out[port] = {
                "kind": "relp",
                "name": params.get("name", ""),
                "tls": params.get("tls", "off").lower(),
                "auth_mode": params.get("tls.authmode", ""),
                "permitted_peers": [peers] if isinstance(peers, str) else list(peers),
            }
            continue
        if block["kind"] != "input" or params.get("type") != "imtcp":
            continue
        try:
            port = int(params.get("port", "0"))
        except ValueError:
            continue
        merged = {**module, **params}
        peers = merged.get("permittedpeer", [])
        out[port] = {
            "kind": "tcp",
            "name": params.get("name", ""),
            "driver": merged.get("streamdriver.name", ""),
            "mode": merged.get("streamdriver.mode", "0"),
            "auth_mode": merged.get("streamdriver.authmode", ""),
            "permitted_peers": [peers] if isinstance(peers, str) else list(peers),
        }
    return out


def assess_listeners(
    peers: list[dict[str, Any]],
    listen_address: str,
    plain: list[dict[str, Any]],
    listening: list[dict[str, Any]],
    inputs: dict[int, dict[str, Any]],
    running: bool,
) -> dict[str, Any]:
    """LOG-06 from rsyslogd's listening sockets and the rendered inputs."""
    problems: list[str] = []
    if not running:
        problems.append("rsyslogd is not running")
    for peer in peers:
        port, name = peer["port"], peer["name"]
        if running and not any(_listens(s, "tcp", port, listen_address) for s in listening):
            problems.append(f"no rsyslogd TCP listener on port {port} for {name}")
        conf = inputs.get(port)
        if conf is None or conf.get("kind", "tcp") != "tcp":
            problems.append(f"{port}: no imtcp input for {name} in the configuration")
        elif not (
            conf["mode"] == "1"
            and conf["auth_mode"].lower() == "x509/name"
            and conf["driver"] in ("gtls", "ossl")
            and conf["permitted_peers"] == [name]
            and conf["name"] == f"peer:{name}"
        ):
            problems.append(
                f"{port}: the input for {name} is not TLS with x509/name for exactly {name} "
                f"(driver {conf['driver'] or '-'}, mode {conf['mode']}, "
                f"authMode {conf['auth_mode'] or '-'}, permittedPeer {conf['permitted_peers']})"
            )
        relp_port = peer.get("relp_port")
        if relp_port is None:
            continue
        if running and not any(_listens(s, "tcp", relp_port, listen_address) for s in listening):
            problems.append(f"no rsyslogd RELP listener on port {relp_port} for {name}")
        relp = inputs.get(relp_port)
        if relp is None or relp.get("kind") != "relp":
            problems.append(f"{relp_port}: no imrelp input for {name} in the configuration")
        elif not (
            relp["tls"] == "on"
            and relp["auth_mode"].lower() == "name"
            and relp["permitted_peers"] == [name]
            and relp["name"] == f"peer:{name}"
        ):
            problems.append(
                f"{relp_port}: the RELP input for {name} is not TLS with authMode name for "
                f"exactly {name} (tls {relp['tls']}, authMode {relp['auth_mode'] or '-'}, "
                f"permittedPeer {relp['permitted_peers']})"
            )
    for want in plain:
        if running and not any(
            _listens(s, want["protocol"], want["port"], want["address"]) for s in listening
        ):
            problems.append(
                f"no rsyslogd {want['protocol']} listener on {want['address']}:{want['port']}"
            )
    expected_tls = {p["port"] for p in peers} | {
        p["relp_port"] for p in peers if p.get("relp_port") is not None
    }
    unexpected = []
    for sock in listening:
        if any(_listens(sock, "tcp", port, listen_address) for port in expected_tls):
            continue
        if any(_listens(sock, p["protocol"], p["port"], p["address"]) for p in plain):
            continue
        unexpected.append(f"{sock['protocol']} {sock['address']}:{sock['port']}")
    if unexpected:
        problems.append("listeners not in the configuration: " + ", ".join(sorted(set(unexpected))))
    observed = sorted({f"{s['protocol']} {s['address']}:{s['port']}" for s in listening})
    return {"problems": problems, "observed": observed}


# ---------------------------------------------------------------- the store
def get_flags(path: str) -> int:
    """FS_IOC_GETFLAGS of a file (the kernel writes an int)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        buf = fcntl.ioctl(fd, FS_IOC_GETFLAGS, struct.pack("i", 0))
    finally:
        os.close(fd)
    return int(struct.unpack("i", buf[:4])[0])


def flag_names(flags: int) -> list[str]:
    names = []
    if flags & FS_APPEND_FL:
        names.append("append")
    if flags & FS_IMMUTABLE_FL:
        names.append("immutable")
    return names


def scan_store(root: str) -> list[dict[str, Any]]:
    """Every day file and .sha256 under root/<host>/: path, host, day, sealed, size, mtime."""
    out: list[dict[str, Any]] = []
    for host in sorted(os.listdir(root)):
        hostdir = os.path.join(root, host)
        if not os.path.isdir(hostdir):
            continue
        names = set(os.listdir(hostdir))
        for name in sorted(names):
            match = DAY_FILE_RE.match(name)
            if match:
                path = os.path.join(hostdir, name)
                st = os.stat(path)
                out.append(
                    {
                        "path": path,
                        "host": host,
                        "day": match.group(1),
                        "kind": "data",
                        "sealed": f"{name}.sha256" in names,
                        "size": st.st_size,
                        "mtime": st.st_mtime,
                    }
                )
            elif name.endswith(".sha256") and DAY_FILE_RE.match(name[: -len(".sha256")]):
                path = os.path.join(hostdir, name)
                st = os.stat(path)
                out.append(
                    {
                        "path": path,
                        "host": host,
                        "day": name[:10],
                        "kind": "sha256",
                        "orphan": name[: -len(".sha256")] not in names,
                        "size": st.st_size,
                        "mtime": st.st_mtime,
                    }
                )
    return out


def assess_silence(
    files: list[dict[str, Any]], peers: list[dict[str, Any]], now: float, max_silence: int
) -> dict[str, Any]:
    """LOG-07: the newest day file of every expected host was written within max_silence."""
    newest: dict[str, float] = {}
    for entry in files:
        if entry["kind"] == "data":
            newest[entry["host"]] = max(newest.get(entry["host"], 0.0), entry["mtime"])
    problems = []
    observed = {}
    for peer in peers:
        name = peer["name"]
        last = newest.get(name)
        observed[name] = None if last is None else round(now - last, 1)
        if last is None:
            problems.append(f"{name}: nothing stored yet")
        elif now - last > max_silence:
            problems.append(f"{name}: silent for {int(now - last)} s (more than {max_silence} s)")
    return {"problems": problems, "observed": observed, "newest": newest}


def assess_flags(files: list[dict[str, Any]], flags: dict[str, int]) -> dict[str, Any]:
    """LOG-08: active day files append-only; sealed ones and their .sha256 immutable."""
    problems = []
    for entry in files:
        got = flags.get(entry["path"])
        if got is None:
            problems.append(f"{entry['path']}: flags could not be read")
            continue
        if entry["kind"] == "data" and not entry["sealed"]:
            if not got & FS_APPEND_FL:
                problems.append(f"{entry['path']}: active file is not append-only (+a)")
        elif not got & FS_IMMUTABLE_FL:
            problems.append(f"{entry['path']}: sealed file is not immutable (+i)")
    return {"problems": problems}


def _read_json(path: str) -> Any:
    """A JSON file's content, None when missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def assess_restorations(stats: Any, acks: Any) -> list[str]:
    """LOG-08, the part the flags alone cannot show: the store writer found +a cleared on a file
    it had made append-only and set it again (stats.json ``append_restorations``). Each one
    fails the check until an operator acknowledges it (``log-store ack``, acks.json) after the
    restoration's time."""
    if not isinstance(stats, dict):
        return []
    found = [r for r in stats.get("append_restorations") or [] if isinstance(r, dict)]
    acked = [
        str(a.get("acknowledged") or "")
        for a in ((acks or {}).get("append_restorations") or [] if isinstance(acks, dict) else [])
        if isinstance(a, dict)
    ]
    last_ack = max(acked, default="")
    open_ = [r for r in found if str(r.get("at") or "") > last_ack]
    if not open_:
        return []
    latest = open_[-1]
    return [
        f"{len(open_)} time(s) the store writer found +a cleared and set it again, not yet "
        f"acknowledged (latest: {latest.get('path')} at {latest.get('at')}; investigate, then "
        f"`log-store ack --state-dir <state dir> --note <ticket>`)"
    ]


def parse_sha256_file(text: str) -> tuple[str, str] | None:
    """(hex digest, file name) of a one-line sha256sum file."""
    match = re.fullmatch(r"([0-9a-f]{64}) [ *](\S.*)\n?", text)
    return (match.group(1), match.group(2)) if match else None


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_ascii(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as fh:
        return fh.read()


def assess_seals(
    files: list[dict[str, Any]],
    now: float,
    verify_hash_days: int,
    max_seal_delay: int,
    read_text: Any = None,
    hasher: Any = sha256_of,
) -> dict[str, Any]:
    """LOG-09: sealed files match their .sha256 (re-hashed when sealed in the last
    verify_hash_days), no orphan .sha256, no past day left unsealed past max_seal_delay."""
    read_text = read_text or _read_ascii
    problems: list[str] = []
    tampered: list[str] = []
    hashed = 0
    by_path = {e["path"]: e for e in files}
    for entry in files:
        if entry["kind"] == "sha256":
            if entry["orphan"]:
                problems.append(f"{entry['path']}: its day file is missing")
                tampered.append(entry["path"])
            continue
        if not entry["sealed"]:
            day_end = dt.datetime.fromisoformat(entry["day"]).replace(tzinfo=dt.UTC) + dt.timedelta(
                days=1
            )
            late = now - day_end.timestamp()
            if late > max_seal_delay:
                problems.append(
                    f"{entry['path']}: day ended {int(late)} s ago and the file is not sealed"
                )
            continue
        side = by_path.get(f"{entry['path']}.sha256")
        if side is None:
            continue
        if now - side["mtime"] > verify_hash_days * 86400:
            continue
        parsed = parse_sha256_file(read_text(side["path"]))
        name = os.path.basename(entry["path"])
        if parsed is None or parsed[1] != name:
            problems.append(f"{side['path']}: not a sha256sum line for {name}")
            tampered.append(entry["path"])
            continue
        hashed += 1
        if hasher(entry["path"]) != parsed[0]:
            problems.append(f"{entry['path']}: content does not match its .sha256")
            tampered.append(entry["path"])
    return {"problems": problems, "tampered": sorted(set(tampered)), "hashed": hashed}


def assess_attribution(stats: dict[str, Any] | None, now: float) -> dict[str, Any]:
    """LOG-11: no certificate/claimed host mismatch and no quarantined message today or
    yesterday (UTC), from the writer's stats.json."""
    if stats is None:
        return {
            "problems": ["the store writer's stats.json is missing or unreadable"],
            "observed": None,
        }
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    days = [str(today), str(today - dt.timedelta(days=1))]
    counters = {name: 0 for name in ("host_mismatches", "quarantined", "unauthenticated", "stored")}
    for day in days:
        for name in counters:
            counters[name] += int(stats.get("days", {}).get(day, {}).get(name, 0))
    problems = []
    if counters["host_mismatches"]:
        examples = stats.get("mismatch_examples", [])[-3:]
        problems.append(
            f"{counters['host_mismatches']} records whose claimed host is not the certificate's "
            f"(latest: {examples})"
        )
    if counters["quarantined"]:
        problems.append(f"{counters['quarantined']} messages quarantined as unreadable")
    return {"problems": problems, "observed": counters}


UPLOAD_STATE_SCHEMA = "soc2audit.log-upload/1"


def _parse_utc(text: Any) -> float | None:
    """Unix time of log-upload's ``YYYY-MM-DDTHH:MM:SSZ`` (or any ISO 8601 with a zone)."""
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return when.timestamp()


def assess_upload(
    files: list[dict[str, Any]],
    root: str,
    state: dict[str, Any] | None,
    now: float,
    max_delay: int,
    review_period_days: int,
    read_text: Any = None,
) -> dict[str, Any]:
    """LOG-10 from log-upload's state file: every sealed file (sealing time = its .sha256's
    mtime) older than max_delay has an upload record; every record of a sealed file carries the
    seal's SHA-256, COMPLIANCE mode, a version id, and a retain-until of at least sealing time
    plus the review period. A wrong or short record fails whatever its age."""
    read_text = read_text or _read_ascii
    problems: list[str] = []
    objects: dict[str, Any] = {}
    if state is not None:
        if state.get("schema") != UPLOAD_STATE_SCHEMA or not isinstance(state.get("objects"), dict):
            return {
                "problems": [f"the upload state is not a {UPLOAD_STATE_SCHEMA} file"],
                "overdue": [],
                "bad": [],
                "uploaded": 0,
                "pending": 0,
            }
        objects = state["objects"]
    sides = {e["path"]: e for e in files if e["kind"] == "sha256"}
    overdue: list[str] = []
    bad: list[str] = []
    uploaded = pending = 0
    period = review_period_days * 86400
    for entry in files:
        if entry["kind"] != "data" or not entry["sealed"] or entry["host"] in SPECIAL_DIRS:
            continue
        side = sides.get(f"{entry['path']}.sha256")
        if side is None:
            continue
        rel = os.path.relpath(entry["path"], root)
        sealed_at = int(side["mtime"])
        record = objects.get(rel)
        if not isinstance(record, dict):
            if now - sealed_at > max_delay:
                overdue.append(rel)
                problems.append(
                    f"{rel}: sealed {int(now - sealed_at)} s ago and no upload record "
                    f"(allowed {max_delay} s)"
                )
            else:
                pending += 1
            continue
        why = []
        parsed = parse_sha256_file(read_text(side["path"]))
        if parsed is None:
            why.append("its .sha256 is unreadable")
        elif record.get("sha256") != parsed[0]:
            why.append(f"recorded SHA-256 {str(record.get('sha256'))[:12]}... is not the seal's")
        if record.get("mode") != "COMPLIANCE":
            why.append(f"mode {record.get('mode')!r}, not COMPLIANCE")
        if not record.get("version_id") or not record.get("key"):
            why.append("no object key or version id recorded")
        until = _parse_utc(record.get("retain_until"))
        if until is None:
            why.append("no retain-until date recorded")
        elif until < sealed_at + period:
            short = (sealed_at + period - until) / 86400
            why.append(
                f"retained until {record.get('retain_until')}, {short:.1f} days short of "
                f"sealing time + the {review_period_days}-day review period"
            )
        if why:
            bad.append(rel)
            problems.append(f"{rel}: " + "; ".join(why))
        else:
            uploaded += 1
    return {
        "problems": problems,
        "overdue": overdue,
        "bad": bad,
        "uploaded": uploaded,
        "pending": pending,
    }


# ---------------------------------------------------------------- the shipper (rsyslog engine)
CONF_BLOCK_RE = re.compile(r"\b(global|main_queue|module|input|action)\s*\(([^()]*)\)", re.S)
SIZE_RE = re.compile(r"^\s*(\d+)\s*([kmgtKMGT]?)\s*$")
# rsyslog's size suffixes (runtime/cfsysline.c): lower case powers of 1024, upper case of 1000.
SIZE_FACTORS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
SIZE_FACTORS.update({"K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12})
# LOG-04 fails when the disk queue holds more than this share of its queue.maxDiskSpace: at
# 100 % rsyslog blocks the input (and the read position lags) or discards.
DISK_QUEUE_ALERT_RATIO = 0.8
# The impstats file is read from its end only (it grows by a few lines per interval).
STATS_TAIL_BYTES = 65536
# An impstats file older than this many intervals is stale: rsyslogd is not writing it.
STATS_STALE_INTERVALS = 3
SYSTEMCTL_PROPERTIES = (
    "Id,LoadState,ActiveState,SubState,UnitFileState,MainPID,ActiveEnterTimestampMonotonic"
)


def validate_shipper(ship: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if not ship["enabled"]:
        return problems
    for name in ("config_path", "work_dir", "audit_log_path", "stats_file", "proc_root"):
        if not str(ship[name]).startswith("/"):
            problems.append(f"shipper.{name} must be absolute")
    if ship["engine"] == "fluent_bit" and not str(ship["db_path"]).startswith("/"):
        problems.append("shipper.db_path must be absolute")
    if ship["engine"] == "fluent_bit" and not 0 <= ship["min_free_capacity_percent"] <= 100:
        problems.append("shipper.min_free_capacity_percent must be between 0 and 100")
    if ship["engine"] == "rsyslog":
        if not ship["aggregator_host"]:
            problems.append("shipper.aggregator_host is required")
        if not 0 < ship["aggregator_port"] < 65536:
            problems.append("shipper.aggregator_port must be a TCP port (1-65535)")
    for number in ("max_lag_bytes", "max_backlog_messages", "max_message_size_bytes"):
        if ship[number] < 0:
            problems.append(f"shipper.{number} must not be negative")
    if ship["stats_interval_seconds"] <= 0:
        problems.append("shipper.stats_interval_seconds must be positive")
    return problems


def parse_size(text: str) -> int | None:
    """An rsyslog size value ("65536", "64k", "2048m") in bytes, or None."""
    match = SIZE_RE.match(str(text))
    if not match:
        return None
    return int(match.group(1)) * SIZE_FACTORS[match.group(2)]


def parse_rsyslog_config(text: str) -> list[dict[str, Any]]:
    """global(), main_queue(), module(), input() and action() statements of a RainerScript file
    (parameter names lower case). Comments are dropped first; enough for the roles' rendered
    files, whose parameter values hold no parentheses."""
    body = "\n".join(
        line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        for line in text.splitlines()
    )
    out = []
    for match in CONF_BLOCK_RE.finditer(body):
        params: dict[str, Any] = {}
        for param in PARAM_RE.finditer(match.group(2)):
            name = param.group(1).lower()
            if param.group(3) is not None:
                params[name] = re.findall(r"\"([^\"]*)\"", param.group(3))
            else:
                params[name] = param.group(2)
        out.append({"kind": match.group(1), "params": params})
    return out


#: rsyslog's queue.size of an action queue when none is given (8.x), Disk queues included.
RSYSLOG_ACTION_QUEUE_SIZE = "1000"


def forward_contract(blocks: list[dict[str, Any]], ship: dict[str, Any]) -> dict[str, Any]:
    """LOG-02's configuration half: the action named ship['action_name'] forwards to the
    aggregator over mutual TLS with the aggregator's name as the one permitted peer, from a Disk
    queue that retries forever. Transport relp: omprog running relp-forward (the acknowledged
    RELP client) with confirmMessages on; tcp: omfwd, driver mode 1, x509/name, octet-counted."""
    relp = ship.get("transport", "relp") == "relp"
    module = "omprog" if relp else "omfwd"
    glob_params: dict[str, Any] = {}
    for block in blocks:
        if block["kind"] == "global":
            glob_params.update(block["params"])
    actions = [
        b["params"]
        for b in blocks
        if b["kind"] == "action"
        and b["params"].get("type") == module
        and b["params"].get("name") == ship["action_name"]
    ]
    if not actions:
        return {
            "problems": [
                f"no {module} action named {ship['action_name']} in {ship['config_path']}"
            ],
            "observed": None,
        }
    action = actions[0]
    common = {
        "target": action.get("target", ""),
        "port": action.get("port", "514" if relp else ""),
        "queue_type": action.get("queue.type", "Direct"),
        "resume_retry_count": action.get("action.resumeretrycount", "0"),
        # rsyslog's default for an action queue, also a Disk one: 1000 messages.
        "queue_size": action.get("queue.size", RSYSLOG_ACTION_QUEUE_SIZE),
    }
    want: dict[str, Any] = {
        "target": ship["aggregator_host"],
        "port": str(ship["aggregator_port"]),
        "queue_type": "disk",
        "resume_retry_count": "-1",
    }
    problems = []
    if relp:
        argv = action.get("binary", "").split()
        opts = dict(zip(argv[1::2], argv[2::2], strict=False)) if argv else {}
        observed = {
            **common,
            "program": os.path.basename(argv[0]) if argv else "",
            "target": opts.get("--host", ""),
            "port": opts.get("--port", ""),
            "permitted_peers": opts.get("--name", ""),
            "confirm_messages": action.get("confirmmessages", "off"),
        }
        want.update(program="relp-forward", confirm_messages="on")
        for key in ("--ca", "--cert", "--key"):
            if not opts.get(key):
                problems.append(f"relp-forward has no {key}")
    else:
        driver = action.get("streamdriver") or glob_params.get("defaultnetstreamdriver", "")
        observed = {
            **common,
            "protocol": action.get("protocol", "udp"),
            "driver": driver,
            "mode": action.get("streamdrivermode", "0"),
            "auth_mode": action.get("streamdriverauthmode", ""),
            "permitted_peers": action.get("streamdriverpermittedpeers", ""),
            "framing": action.get("tcp_framing", "traditional"),
        }
        want.update(protocol="tcp", mode="1", auth_mode="x509/name", framing="octet-counted")
        if driver not in ("gtls", "ossl"):
            problems.append(f"driver is {driver or '-'}, not gtls or ossl")
    if ship["aggregator_name"]:
        want["permitted_peers"] = ship["aggregator_name"]
    size = observed["queue_size"]
    if not str(size).isdigit() or int(size) <= ship["max_backlog_messages"]:
        problems.append(
            f"queue.size is {size} messages, not above the backlog limit "
            f"{ship['max_backlog_messages']}: a longer outage fills it and rsyslog discards"
        )
    for key, value in want.items():
        if str(observed[key]).lower() != str(value).lower():
            problems.append(f"{key} is {observed[key] or '-'!s}, not {value}")
    if not observed["permitted_peers"]:
        problems.append("no permitted peer: any certificate of the CA would be accepted")
    return {"problems": problems, "observed": observed}


def parse_tcp_sessions(text: str, protocol: str) -> list[dict[str, Any]]:
    """ESTABLISHED sockets of one /proc/net/tcp[6] file: local and remote address and port."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_ESTABLISHED:
            continue
        local_addr, local_port = fields[1].split(":")
        remote_addr, remote_port = fields[2].split(":")
        out.append(
            {
                "family": "ipv6" if protocol.endswith("6") else "ipv4",
                "local": _address(local_addr),
                "local_port": int(local_port, 16),
                "remote": _address(remote_addr),
                "remote_port": int(remote_port, 16),
                "inode": int(fields[9]),
            }
        )
    return out


def _resolve(host: str) -> set[str] | None:
    """The addresses a host name resolves to (an address stands for itself); None when the
    name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    return {str(info[4][0]) for info in infos}


def assess_session(
    sessions: list[dict[str, Any]], inodes: set[int], port: int, addresses: set[str] | None
) -> dict[str, Any]:
    """LOG-02's socket half: rsyslogd holds an ESTABLISHED TCP session to the aggregator's port
    (and address, when the name resolved)."""
    ours = [s for s in sessions if s["inode"] in inodes and s["remote_port"] == port]
    if addresses is not None:
        wanted = addresses | {f"::ffff:{a}" for a in addresses}
        ours = [s for s in ours if s["remote"] in wanted]
    observed = sorted(
        f"{s['local']}:{s['local_port']} -> {s['remote']}:{s['remote_port']}" for s in ours
    )
    return {"up": bool(ours), "observed": observed}


def parse_systemctl_show(text: str) -> list[dict[str, str]]:
    """The property blocks of `systemctl show` (one per unit, blank-line separated)."""
    blocks = [b for b in text.strip().split("\n\n") if b.strip()]
    return [dict(line.split("=", 1) for line in b.splitlines() if "=" in line) for b in blocks]


def assess_unit(props: dict[str, str]) -> dict[str, Any]:
    """LOG-01: the shipper's unit is active (running) and enabled."""
    observed = {
        "unit": props.get("Id", ""),
        "load": props.get("LoadState", ""),
        "active": props.get("ActiveState", ""),
        "sub": props.get("SubState", ""),
        "enabled": props.get("UnitFileState", ""),
    }
    problems = []
    if observed["load"] != "loaded":
        problems.append(f"unit {observed['unit'] or '-'} is {observed['load'] or 'unknown'}")
    else:
        if observed["active"] != "active":
            problems.append(f"{observed['unit']} is {observed['active']} ({observed['sub']})")
        if observed["enabled"] != "enabled":
            problems.append(
                f"{observed['unit']} is not enabled (UnitFileState {observed['enabled'] or '-'})"
            )
    return {"problems": problems, "observed": observed}


def find_imfile_state(names: Iterable[str], inode: int) -> list[str]:
    """imfile's state files for a file's inode: `imfile-state:<inode>` (older rsyslog) and
    `imfile-state:<inode>:<file id>` (8.2302)."""
    plain = f"imfile-state:{inode}"
    return sorted(n for n in names if n == plain or n.startswith(plain + ":"))


def assess_lag(
    size: int, states: list[dict[str, Any]], path: str, max_lag: int, reader: str = "imfile"
) -> dict[str, Any]:
    """LOG-03: size of the audit log minus imfile's read offset for its current inode. Several
    state files for the inode (8.2302 adds a file id: an inode reused by a new file gets a new
    one): the most recently written for this path. No state file: nothing of this file was
    read yet, the lag is its size."""
    mine = [s for s in states if s.get("filename") in (path, None)]
    newest = max(mine, key=lambda s: float(s.get("mtime", 0)), default=None)
    offset = int(newest["curr_offs"]) if newest else 0
    lag = size - offset
    problems = []
    if lag < 0:
        problems.append(
            f"{path} is {size} bytes, shorter than the read position {offset}: truncated in "
            f"place ({reader} reads it on from {offset}, records written below are not shipped)"
        )
    elif lag > max_lag:
        problems.append(
            f"the read position lags {lag} bytes behind the end of {path} (more than {max_lag})"
        )
    if not states and size > 0:
        problems.append(f"no {reader} state for {path}'s inode: nothing of it was read")
    return {"problems": problems, "lag": lag, "offset": offset, "size": size}


def parse_impstats(text: str) -> list[dict[str, Any]]:
    """impstats JSON objects of a `log.file` (each line `<ctime>: {...}`; a torn first line of
    a tail is skipped)."""
    out = []
    for line in text.splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            obj = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def latest_objects(objects: list[dict[str, Any]], action: str) -> dict[str, dict[str, Any]]:
    """The newest impstats object of the action, its queue and the queue's disk part [DA]."""
    names = {
        "action": (action, "core.action"),
        "queue": (f"{action} queue", "core.queue"),
        "queue_da": (f"{action} queue[DA]", "core.queue"),
    }
    out: dict[str, dict[str, Any]] = {}
    for obj in objects:
        for key, (name, origin) in names.items():
            if obj.get("name") == name and obj.get("origin") == origin:
                out[key] = obj
    return out


def parse_qi(text: str) -> dict[str, Any]:
    """A disk queue's .qi file: the queue size and the (file number, offset) of its write and
    read streams (tOperationsMode 2 and 1)."""
    out: dict[str, Any] = {"size": None, "write": None, "read": None}
    match = re.search(r"^\+iQueueSize:\d+:\d+:(-?\d+):$", text, re.M)
    if match:
        out["size"] = int(match.group(1))
    for obj in re.findall(r"<Obj:1:strm:1:\n(.*?)>End", text, re.S):
        fields = dict(re.findall(r"^\+(\w+):\d+:\d+:(.*):$", obj, re.M))
        mode = fields.get("tOperationsMode")
        pos = (int(fields.get("iCurrFNum", 0)), int(fields.get("iCurrOffs", 0)))
        if mode == "2":
            out["write"] = pos
        elif mode == "1":
            out["read"] = pos
    return out


def queue_bytes(qi: dict[str, Any] | None, files: dict[int, int]) -> int:
    """Unsent bytes of a disk queue: from the read position to the write position, across the
    queue files (number -> size). Without a .qi: every queue file counts whole."""
    if not qi or qi.get("read") is None or qi.get("write") is None:
        return sum(files.values())
    (rnum, roff), (wnum, woff) = qi["read"], qi["write"]
    if rnum == wnum:
        return max(woff - roff, 0)
    total = max(files.get(rnum, 0) - roff, 0) + woff
    total += sum(size for num, size in files.items() if rnum < num < wnum)
    return total


def assess_backlog(
    stats: dict[str, dict[str, Any]],
    disk_bytes: int,
    max_disk_bytes: int | None,
    max_messages: int,
) -> dict[str, Any]:
    """LOG-04: messages in the forwarding queue (and its [DA] part) and the disk queue's
    unsent bytes, under their thresholds."""
    messages = sum(int(stats[k].get("size", 0)) for k in ("queue", "queue_da") if k in stats)
    problems = []
    if messages > max_messages:
        problems.append(
            f"{messages} messages wait in the forwarding queue (more than {max_messages})"
        )
    if max_disk_bytes and disk_bytes > max_disk_bytes * DISK_QUEUE_ALERT_RATIO:
        problems.append(
            f"the disk queue holds {disk_bytes} bytes, more than "
            f"{int(DISK_QUEUE_ALERT_RATIO * 100)} % of its queue.maxDiskSpace ({max_disk_bytes})"
        )
    return {"problems": problems, "messages": messages, "bytes": disk_bytes}


def assess_discards(
    stats: dict[str, dict[str, Any]], max_message_size: int | None, required: int
) -> dict[str, Any]:
    """LOG-05: the forwarding queue discarded nothing (full, not forwarded), the action failed
    no message, and maxMessageSize is at least the required size (longer records are cut)."""
    observed: dict[str, Any] = {}
    for key in ("queue", "queue_da"):
        if key in stats:
            prefix = "" if key == "queue" else "da."
            for counter in ("discarded.full", "discarded.nf"):
                observed[prefix + counter] = int(stats[key].get(counter, 0))
    observed["failed"] = int(stats["action"].get("failed", 0)) if "action" in stats else None
    observed["max_message_size"] = max_message_size
    problems = [
        f"{name} = {value}"
        for name, value in observed.items()
        if name != "max_message_size" and value
    ]
    if max_message_size is None:
        problems.append("no global maxMessageSize in the configuration (rsyslog's default is 8k)")
    elif max_message_size < required:
        problems.append(
            f"maxMessageSize is {max_message_size}, below {required}: longer records are truncated"
        )
    discarded = sum(v for k, v in observed.items() if "discarded" in k)
    return {"problems": problems, "observed": observed, "discarded": discarded}


def read_impstats(
    path: str, action: str, interval: int, now: float
) -> tuple[dict[str, dict[str, Any]], str]:
    """The newest impstats objects of ``action`` (latest_objects) from the tail of rsyslogd's
    impstats JSON log, and why they cannot be used ('' when they can): the file is unreadable,
    or older than STATS_STALE_INTERVALS intervals (impstats is not running: the counters are
    not current). The shipper's forwarding action (LOG-04, LOG-05) and the aggregator's omkafka
    action (LOG-13) are read the same way."""
    try:
        age = now - os.stat(path).st_mtime
        latest = latest_objects(parse_impstats(_read_tail(path, STATS_TAIL_BYTES)), action)
    except OSError as exc:
        return {}, f"cannot read {path}: {exc.strerror or exc}"
    stale = STATS_STALE_INTERVALS * interval
    if age > stale:
        return latest, (
            f"{path} was last written {int(age)} s ago (more than {stale} s): "
            "rsyslogd's impstats is not running, the counters are not current"
        )
    if "queue" not in latest or "action" not in latest:
        return latest, f"{path} has no impstats object for the action {action} or its queue"
    return latest, ""


def _read_tail(path: str, size: int) -> str:
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        fh.seek(max(end - size, 0))
        return fh.read().decode("utf-8", errors="replace")


def read_unit(module: Any, service: str) -> tuple[dict[str, str] | None, str | None]:
    systemctl, why = find_binary(module, "systemctl")
    if not systemctl:
        return None, why or "systemctl not found"
    unit = service if "." in service else f"{service}.service"
    rc, out, err = run(module, [systemctl, "show", f"--property={SYSTEMCTL_PROPERTIES}", unit])
    blocks = parse_systemctl_show(out)
    if rc != 0 or len(blocks) != 1:
        first = (err.strip().splitlines() or [""])[0]
        return None, f"`systemctl show {unit}` exited {rc}: {first}"
    return blocks[0], None


def _read_tcp_sessions(proc_root: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for protocol in ("tcp", "tcp6"):
        try:
            with open(f"{proc_root}/net/{protocol}", encoding="ascii") as fh:
                out += parse_tcp_sessions(fh.read(), protocol)
        except OSError:
            continue
    return out


def _read_states(work_dir: str, inode: int) -> list[dict[str, Any]]:
    states = []
    for name in find_imfile_state(os.listdir(work_dir), inode):
        with open(os.path.join(work_dir, name), encoding="utf-8") as fh:
            state = json.load(fh)
            state["mtime"] = os.fstat(fh.fileno()).st_mtime
        state["state_file"] = name
        states.append(state)
    return states


def _read_queue(work_dir: str, queue: str) -> tuple[dict[str, Any] | None, dict[int, int]]:
    files: dict[int, int] = {}
    pattern = re.compile(rf"^{re.escape(queue)}\.(\d{{8}})$")
    for name in os.listdir(work_dir):
        match = pattern.match(name)
        if match:
            files[int(match.group(1))] = os.stat(os.path.join(work_dir, name)).st_size
    qi_path = os.path.join(work_dir, f"{queue}.qi")
    if not os.path.exists(qi_path):
        return None, files
    with open(qi_path, encoding="utf-8", errors="replace") as fh:
        return parse_qi(fh.read()), files


def verify_shipper(module: Any, ship: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    checks: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    facts: dict[str, Any] = {"engine": ship["engine"]}
    if ship["engine"] == "fluent_bit":
        return verify_fluent_bit(module, ship, facts)

    # LOG-01
    props, why = read_unit(module, ship["service"])
    expected_unit = {"active": "active", "enabled": "enabled"}
    if props is None:
        checks.append(make_check("LOG-01", "error", None, expected_unit, why))
    else:
        unit = assess_unit(props)
        facts["unit"] = unit["observed"]
        checks.append(
            _check(
                "LOG-01",
                unit["problems"],
                unit["observed"],
                expected_unit,
                f"{unit['observed']['unit']} is active ({unit['observed']['sub']}) and enabled",
            )
        )

    # the rendered configuration (LOG-02 contract, LOG-04 disk space, LOG-05 maxMessageSize)
    try:
        with open(ship["config_path"], encoding="utf-8") as fh:
            blocks: list[dict[str, Any]] | None = parse_rsyslog_config(fh.read())
        conf_why = ""
    except OSError as exc:
        blocks = None
        conf_why = f"cannot read {ship['config_path']}: {exc.strerror or exc}"

    # LOG-02
    port = ship["aggregator_port"]
    expected_tls: dict[str, Any] = {
        "session": f"ESTABLISHED to {ship['aggregator_host']}:{port}",
        "transport": ship["transport"],
        "permitted_peers": ship["aggregator_name"] or "(set)",
        "queue_type": "Disk",
        "resume_retry_count": "-1",
    }
    if ship["transport"] == "relp":
        expected_tls.update(program="relp-forward", confirm_messages="on")
    else:
        expected_tls.update(mode="1", auth_mode="x509/name", framing="octet-counted")
    pids, session, addresses = _shipper_session(ship, "rsyslogd")
    facts["rsyslogd_pids"] = pids
    facts["sessions"] = session["observed"]
    if blocks is None:
        checks.append(make_check("LOG-02", "error", session["observed"], expected_tls, conf_why))
    else:
        checks.append(
            _forward_check(
                "rsyslogd",
                ship,
                (pids, session, addresses),
                forward_contract(blocks, ship),
                expected_tls,
                f"with TLS (mode 1, x509/name for {ship['aggregator_name'] or 'its peer'}), "
                "octet-counted, from a Disk queue retrying forever",
            )
        )

    # LOG-03
    states = _lag_check(
        ship,
        lambda inode: _read_states(ship["work_dir"], inode),
        ship["work_dir"],
        "imfile",
        checks,
        observations,
    )
    if states is not None:
        facts["imfile_state"] = [s["state_file"] for s in states]

    # LOG-04 and LOG-05: the newest impstats objects (and the disk queue's files)
    latest, stats_why = read_impstats(
        ship["stats_file"], ship["action_name"], ship["stats_interval_seconds"], now
    )
    facts["impstats"] = latest
    max_disk = None
    max_size = None
    if blocks is not None:
        for block in blocks:
            if block["kind"] == "global" and "maxmessagesize" in block["params"]:
                max_size = parse_size(block["params"]["maxmessagesize"])
            if (
                block["kind"] == "action"
                and block["params"].get("name") == ship["action_name"]
                and "queue.maxdiskspace" in block["params"]
            ):
                max_disk = parse_size(block["params"]["queue.maxdiskspace"])
    expected_backlog = {"max_backlog_messages": ship["max_backlog_messages"]}
    if max_disk:
        expected_backlog["max_disk_bytes"] = int(max_disk * DISK_QUEUE_ALERT_RATIO)
    try:
        qi, files = _read_queue(ship["work_dir"], ship["queue_name"])
    except OSError as exc:
        qi, files = None, {}
        stats_why = stats_why or f"cannot read the disk queue in {ship['work_dir']}: {exc}"
    disk_bytes = queue_bytes(qi, files)
    if stats_why:
        checks.append(make_check("LOG-04", "error", None, expected_backlog, stats_why))
    else:
        backlog = assess_backlog(latest, disk_bytes, max_disk, ship["max_backlog_messages"])
        checks.append(
            _check(
                "LOG-04",
                backlog["problems"],
                {"messages": backlog["messages"], "disk_bytes": backlog["bytes"]},
                expected_backlog,
                f"{backlog['messages']} message(s), {backlog['bytes']} byte(s) wait in the "
                f"forwarding queue (at most {ship['max_backlog_messages']} messages)",
            )
        )
        observations.append(
            {"key": "log_shipper_backlog_messages", "labels": {}, "value": backlog["messages"]}
        )
        observations.append(
            {"key": "log_shipper_backlog_bytes", "labels": {}, "value": backlog["bytes"]}
        )

    # LOG-05
    expected_discards = {
        "discarded.full": 0,
        "discarded.nf": 0,
        "failed": 0,
        "min_max_message_size": ship["max_message_size_bytes"],
    }
    why5 = stats_why or conf_why
    if why5:
        checks.append(make_check("LOG-05", "error", None, expected_discards, why5))
    else:
        discards = assess_discards(latest, max_size, ship["max_message_size_bytes"])
        checks.append(
            _check(
                "LOG-05",
                discards["problems"],
                discards["observed"],
                expected_discards,
                f"the forwarding queue discarded nothing, the action failed nothing, and "
                f"maxMessageSize is {max_size} (at least {ship['max_message_size_bytes']})",
            )
        )
        observations.append(
            {"key": "log_shipper_discarded", "labels": {}, "value": discards["discarded"]}
        )
    return {"checks": checks, "observations": observations, **facts}


# ---------------------------------------------------------------- the shipper (fluent_bit engine)
# fluent-bit's human-readable sizes in /api/v1/storage (flb_utils_bytes_to_human_readable_size:
# "104b", "1.5K", "9.8M", "1.1G", powers of 1024).
HUMAN_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([bKMGT]?)\s*$")
HUMAN_SIZE_FACTORS = {"": 1, "b": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
FB_DROPPED = "fluentbit_output_dropped_records_total"
FB_RETRIES_FAILED = "fluentbit_output_retries_failed_total"
FB_CAPACITY = "fluentbit_output_chunk_available_capacity_percent"
FB_METRICS = (FB_DROPPED, FB_RETRIES_FAILED, FB_CAPACITY)
FB_STORAGE_PATH = "/api/v1/storage"
FB_METRICS_PATH = "/api/v2/metrics/prometheus"
YAML_LINE_RE = re.compile(r"^(\s*)(?:-\s+)?([A-Za-z_][\w.]*):\s*(.*?)\s*$")


def human_size(text: Any) -> int:
    """Bytes of a fluent-bit human-readable size ("104b", "9.8M"); 0 when unparsable."""
    match = HUMAN_SIZE_RE.match(str(text))
    if not match:
        return 0
    return int(float(match.group(1)) * HUMAN_SIZE_FACTORS[match.group(2)])


def parse_fluent_bit_storage(doc: Any) -> dict[str, Any]:
    """The storage layer's figures from /api/v1/storage (JSON: storage_layer.chunks and
    input_chunks.<input>.{status,chunks}): chunks in total, on disk only (down), and the bytes of
    busy chunks (being flushed)."""
    layer = ((doc or {}).get("storage_layer") or {}).get("chunks") or {}
    inputs = (doc or {}).get("input_chunks") or {}
    return {
        "total_chunks": int(layer.get("total_chunks", 0)),
        "fs_chunks": int(layer.get("fs_chunks", 0)),
        "fs_chunks_down": int(layer.get("fs_chunks_down", 0)),
        "busy_bytes": sum(
            human_size(((i or {}).get("chunks") or {}).get("busy_size", "0b"))
            for i in inputs.values()
        ),
        "overlimit": sorted(
            name for name, i in inputs.items() if ((i or {}).get("status") or {}).get("overlimit")
        ),
    }


def fluent_bit_counters(text: str) -> dict[str, dict[str, float]]:
    """metric -> {output instance name: value} of the counters LOG-04/05 read, from
    /api/v2/metrics/prometheus (Prometheus text, no timestamps; label name=<output>)."""
    out: dict[str, dict[str, float]] = {m: {} for m in FB_METRICS}
    for series, value in samples(text, set(FB_METRICS)).items():
        metric, _, labels = series.partition("{")
        name = re.search(r'name="([^"]*)"', labels)
        try:
            out[metric][name.group(1) if name else ""] = float(value)
        except ValueError:
            continue
    return out


def fluent_bit_output(text: str) -> dict[str, str]:
    """The first output's keys of a fluent-bit YAML configuration as the fluent_bit role renders
    it (to_nice_yaml, one `key: value` per line): the lines under `outputs:` until the next key
    at its indentation or less. Values without their quotes."""
    lines = text.splitlines()
    out: dict[str, str] = {}
    start = next((i for i, line in enumerate(lines) if line.strip() == "outputs:"), None)
    if start is None:
        return out
    indent = len(lines[start]) - len(lines[start].lstrip())
    first_item = True
    for line in lines[start + 1 :]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if len(line) - len(line.lstrip()) <= indent and not line.lstrip().startswith("-"):
            break
        if line.lstrip().startswith("-") and not first_item:
            break  # the second output
        first_item = False
        match = YAML_LINE_RE.match(line)
        if match and match.group(2) not in out:
            out[match.group(2)] = match.group(3).strip("'\"")
    return out


def fluent_bit_contract(output: dict[str, str], ship: dict[str, Any]) -> dict[str, Any]:
    """LOG-02's configuration half for fluent-bit: the syslog output to the aggregator with TLS,
    the chain and the host name verified for the aggregator's name, retrying forever."""
    observed = {
        "output": output.get("name", ""),
        "target": output.get("host", ""),
        "port": output.get("port", ""),
        "tls": output.get("tls", ""),
        "tls_verify": output.get("tls.verify", ""),
        "tls_verify_hostname": output.get("tls.verify_hostname", ""),
        "permitted_peers": output.get("tls.vhost", ""),
        "retry_limit": output.get("retry_limit", "1"),
        "syslog_maxsize": output.get("syslog_maxsize", ""),
    }
    if not output:
        return {"problems": [f"no output in {ship['config_path']}"], "observed": observed}
    on = ("true", "on", "yes")
    problems = []
    if observed["output"] != "syslog":
        problems.append(f"the output is {observed['output'] or '-'}, not syslog")
    if observed["target"] != ship["aggregator_host"] or observed["port"] != str(
        ship["aggregator_port"]
    ):
        problems.append(
            f"the output goes to {observed['target'] or '-'}:{observed['port'] or '-'}, not "
            f"{ship['aggregator_host']}:{ship['aggregator_port']}"
        )
    for key in ("tls", "tls_verify", "tls_verify_hostname"):
        if observed[key].lower() not in on:
            problems.append(f"{key.replace('_', '.', 1)} is {observed[key] or 'off'}, not on")
    if not observed["permitted_peers"]:
        problems.append("no tls.vhost: the aggregator's name is not checked")
    elif ship["aggregator_name"] and observed["permitted_peers"] != ship["aggregator_name"]:
        problems.append(
            f"tls.vhost is {observed['permitted_peers']}, not {ship['aggregator_name']}"
        )
    if observed["retry_limit"].lower() not in ("no_limits", "false", "off", "no_retries_limit"):
        problems.append(
            f"retry_limit is {observed['retry_limit']}: after that many retries a chunk is dropped"
        )
    return {"problems": problems, "observed": observed}


def read_tail_positions(db_path: str, inode: int) -> list[dict[str, Any]]:
    """The tail input's rows for an inode from its position DB (table in_tail_files: id, name,
    offset, inode, created, rotated), read-only; as assess_lag's states, newest id last."""
    if not os.path.exists(db_path):
        raise FileNotFoundError(2, "No such file or directory", db_path)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=2.0)
    try:
        rows = conn.execute(
            "SELECT id, name, offset, rotated FROM in_tail_files WHERE inode = ? ORDER BY id",
            (inode,),
        ).fetchall()
    finally:
        conn.close()
    return [
        {
            "state_file": f"{db_path}#in_tail_files/{row[0]}",
            "filename": row[1],
            "curr_offs": int(row[2] or 0),
            "mtime": row[0],
            "rotated": bool(row[3]),
        }
        for row in rows
    ]


def http_get(port: int, path: str, timeout: float) -> tuple[str | None, str]:
    """GET http://127.0.0.1:<port><path>: (body, '') on 200, else (None, why)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        return None, f"GET 127.0.0.1:{port}{path}: {type(exc).__name__}: {exc}"
    if response.status != 200:
        return None, f"GET 127.0.0.1:{port}{path} answered {response.status}"
    return body, ""


def verify_fluent_bit(module: Any, ship: dict[str, Any], facts: dict[str, Any]) -> dict[str, Any]:
    """LOG-01 .. LOG-05 for the fluent_bit engine, in the same module run: the unit, fluent-bit's
    session and output configuration, the tail position DB, the storage layer and its own
    counters (local HTTP server)."""
    checks: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []

    # LOG-01
    props, why = read_unit(module, ship["service"])
    expected_unit = {"active": "active", "enabled": "enabled"}
    if props is None:
        checks.append(make_check("LOG-01", "error", None, expected_unit, why))
    else:
        unit = assess_unit(props)
        facts["unit"] = unit["observed"]
        checks.append(
            _check(
                "LOG-01",
                unit["problems"],
                unit["observed"],
                expected_unit,
                f"{unit['observed']['unit']} is active ({unit['observed']['sub']}) and enabled",
            )
        )

    # LOG-02
    port = ship["aggregator_port"]
    expected_tls = {
        "session": f"ESTABLISHED to {ship['aggregator_host']}:{port}",
        "output": "syslog",
        "tls": "on",
        "tls_verify": "on",
        "tls_verify_hostname": "on",
        "permitted_peers": ship["aggregator_name"] or "(set)",
        "retry_limit": "no_limits",
    }
    pids, session, addresses = _shipper_session(ship, "fluent-bit")
    facts["fluent_bit_pids"] = pids
    facts["sessions"] = session["observed"]
    output: dict[str, str] = {}
    try:
        with open(ship["config_path"], encoding="utf-8") as fh:
            output = fluent_bit_output(fh.read())
        conf_why = ""
    except OSError as exc:
        conf_why = f"cannot read {ship['config_path']}: {exc.strerror or exc}"
    if conf_why:
        checks.append(make_check("LOG-02", "error", session["observed"], expected_tls, conf_why))
    else:
        checks.append(
            _forward_check(
                "fluent-bit",
                ship,
                (pids, session, addresses),
                fluent_bit_contract(output, ship),
                expected_tls,
                f"with TLS (chain and host name {ship['aggregator_name'] or 'verified'}), "
                "retrying forever",
            )
        )

    # LOG-03: the tail input's position DB
    states = _lag_check(
        ship,
        lambda inode: read_tail_positions(ship["db_path"], inode),
        ship["db_path"],
        "the tail input's",
        checks,
        observations,
        # A rotated file's row is kept until it is read out: the current file's rows decide.
        current=lambda states: [s for s in states if not s["rotated"]] or states,
    )
    if states is not None:
        facts["tail_positions"] = [s["state_file"] for s in states]

    # LOG-04 and LOG-05: the storage layer and fluent-bit's own counters
    timeout = float(ship["http_timeout"])
    storage_text, storage_why = http_get(ship["http_port"], FB_STORAGE_PATH, timeout)
    metrics_text, metrics_why = http_get(ship["http_port"], FB_METRICS_PATH, timeout)
    counters = fluent_bit_counters(metrics_text or "")
    storage: dict[str, Any] | None = None
    if storage_text is not None:
        try:
            storage = parse_fluent_bit_storage(json.loads(storage_text))
        except (ValueError, AttributeError, TypeError) as exc:
            storage_why = f"{FB_STORAGE_PATH} is not the storage layer's JSON: {exc}"
    facts["fluent_bit_storage"] = storage
    facts["fluent_bit_counters"] = counters
    min_free = ship["min_free_capacity_percent"]
    expected_backlog = {"min_free_capacity_percent": min_free, "inputs_over_limit": []}
    why4 = storage_why or metrics_why
    if not why4 and not counters[FB_CAPACITY]:
        why4 = f"{FB_METRICS_PATH} has no {FB_CAPACITY} (fluent-bit before 2.x?)"
    if why4 or storage is None:
        checks.append(make_check("LOG-04", "error", None, expected_backlog, why4))
    else:
        free = min(counters[FB_CAPACITY].values())
        problems = [
            f"output {name} has {value:g} % of its storage.total_limit_size free (alert below "
            f"{min_free} %; at 0 % fluent-bit drops the oldest chunk)"
            for name, value in sorted(counters[FB_CAPACITY].items())
            if value < min_free
        ]
        if storage["overlimit"]:
            problems.append("inputs over their memory limit: " + ", ".join(storage["overlimit"]))
        checks.append(
            _check(
                "LOG-04",
                problems,
                {**storage, "free_capacity_percent": counters[FB_CAPACITY]},
                expected_backlog,
                f"{storage['total_chunks']} chunk(s) buffered ({storage['fs_chunks_down']} on disk "
                f"only); the backlog has {free:g} % of its limit free (at least {min_free} %)",
            )
        )
        observations.append(
            {"key": "log_shipper_backlog_chunks", "labels": {}, "value": storage["total_chunks"]}
        )
        observations.append(
            {"key": "log_shipper_backlog_free_ratio", "labels": {}, "value": round(free / 100, 4)}
        )

    maxsize = output.get("syslog_maxsize", "")
    expected_drops = {
        "dropped_records": 0,
        "retries_failed": 0,
        "min_syslog_maxsize": ship["max_message_size_bytes"],
    }
    why5 = metrics_why or conf_why
    if not why5 and not counters[FB_DROPPED]:
        why5 = f"{FB_METRICS_PATH} has no {FB_DROPPED}"
    if why5:
        checks.append(make_check("LOG-05", "error", None, expected_drops, why5))
    else:
        dropped = int(sum(counters[FB_DROPPED].values()))
        failed = int(sum(counters[FB_RETRIES_FAILED].values()))
        problems = []
        if dropped:
            problems.append(f"{FB_DROPPED} = {dropped}")
        if failed:
            problems.append(f"{FB_RETRIES_FAILED} = {failed}")
        if not maxsize.isdigit():
            problems.append("no syslog_maxsize on the output (out_syslog cuts at 2048 bytes)")
        elif int(maxsize) < ship["max_message_size_bytes"]:
            problems.append(
                f"syslog_maxsize is {maxsize}, below {ship['max_message_size_bytes']}: longer "
                "records are truncated"
            )
        checks.append(
            _check(
                "LOG-05",
                problems,
                {
                    "dropped_records": dropped,
                    "retries_failed": failed,
                    "syslog_maxsize": int(maxsize) if maxsize.isdigit() else None,
                },
                expected_drops,
                f"fluent-bit dropped no record and no chunk ran out of retries; syslog_maxsize "
                f"is {maxsize} (at least {ship['max_message_size_bytes']})",
            )
        )
        observations.append({"key": "log_shipper_discarded", "labels": {}, "value": dropped})
    return {"checks": checks, "observations": observations, **facts}


# ---------------------------------------------------------------- the family
def _shipper_session(
    ship: dict[str, Any], process: str
) -> tuple[list[int], dict[str, Any], set[str] | None]:
    """The shipper's processes, its TCP session to the aggregator, and the aggregator's
    addresses (None: the name did not resolve), read from /proc: LOG-02 for every engine."""
    pids, inodes = _rsyslogd_sockets(ship["proc_root"], process)
    addresses = _resolve(ship["aggregator_host"])
    sessions = _read_tcp_sessions(ship["proc_root"])
    return pids, assess_session(sessions, inodes, ship["aggregator_port"], addresses), addresses


def _forward_check(
    process: str,
    ship: dict[str, Any],
    seen: tuple[list[int], dict[str, Any], set[str] | None],
    contract: dict[str, Any],
    expected: dict[str, Any],
    how: str,
) -> dict[str, Any]:
    """LOG-02 for any engine: its rendered forwarding contract's problems, after whether the
    process runs and holds an established session to the aggregator."""
    pids, session, addresses = seen
    port = ship["aggregator_port"]
    problems = list(contract["problems"])
    if not pids:
        problems.insert(0, f"{process} is not running")
    elif not session["up"]:
        where = f"{ship['aggregator_host']}:{port}"
        if addresses is None:
            where += f" (the name did not resolve: any address on port {port})"
        problems.insert(0, f"{process} has no ESTABLISHED TCP session to {where}")
    over = session["observed"][0] if session["observed"] else ""
    return _check(
        "LOG-02",
        problems,
        {"sessions": session["observed"], "config": contract["observed"]},
        expected,
        f"{process} forwards over {over} {how}",
    )


def _lag_check(
    ship: dict[str, Any],
    read_states: Callable[[int], list[dict[str, Any]]],
    source: str,
    reader: str,
    checks: list[dict[str, Any]],
    observations: list[dict[str, Any]],
    current: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]] | None:
    """LOG-03 for any engine: the audit log's size against the reader's saved offset for the
    current inode (``read_states(inode)``: imfile's state files, the tail input's position DB).
    Appends the check (and the lag observation); returns the states read, None when unreadable."""
    path = ship["audit_log_path"]
    expected = {"max_lag_bytes": ship["max_lag_bytes"]}
    try:
        st = os.stat(path)
        states = read_states(st.st_ino)
    except (OSError, ValueError) as exc:
        what = getattr(exc, "filename", None) or source
        why = f"cannot read {what}: {getattr(exc, 'strerror', None) or exc}"
        checks.append(make_check("LOG-03", "error", None, expected, why))
        return None
    except sqlite3.Error as exc:  # not a position DB, or locked
        why = f"cannot read the position DB {source}: {exc}"
        checks.append(make_check("LOG-03", "error", None, expected, why))
        return None
    lag = assess_lag(
        st.st_size, current(states) if current else states, path, ship["max_lag_bytes"], reader
    )
    verb = "imfile has" if reader == "imfile" else "tail has"
    checks.append(
        _check(
            "LOG-03",
            lag["problems"],
            {"lag_bytes": lag["lag"], "size": lag["size"], "offset": lag["offset"]},
            expected,
            f"{verb} read {path} to {lag['offset']} of {lag['size']} bytes "
            f"(lag {lag['lag']}, at most {ship['max_lag_bytes']})",
        )
    )
    observations.append(
        {"key": "log_shipper_lag", "labels": {"path": path}, "value": max(lag["lag"], 0)}
    )
    return states


def _check(
    check_id: str, problems: list[str], observed: Any, expected: Any, ok: str
) -> dict[str, Any]:
    if problems:
        return make_check(check_id, "fail", observed, expected, "; ".join(problems))
    return make_check(check_id, "pass", observed, expected, ok)


def _read_proc_net(proc_root: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"{proc_root}/net/{protocol}", encoding="ascii") as fh:
                out += parse_proc_net(fh.read(), protocol)
        except OSError:
            continue
    return out


def check_upload(
    agg: dict[str, Any], files: list[dict[str, Any]], now: float, observations: list[Any]
) -> dict[str, Any]:
    """LOG-10: not_applicable when the upload is off; else assess_upload on the state file."""
    if not agg["upload_enabled"]:
        return make_check(
            "LOG-10",
            "not_applicable",
            None,
            None,
            "the S3 Object Lock upload is off on this aggregator (log_aggregator_upload_enabled)",
        )
    path = agg["upload_state_path"]
    try:
        with open(path, encoding="utf-8") as fh:
            state: dict[str, Any] | None = json.load(fh)
    except FileNotFoundError:
        state = None
    except (OSError, ValueError) as exc:
        return make_check("LOG-10", "error", None, None, f"cannot read {path}: {exc}")
    if state is not None and not isinstance(state, dict):
        state = {}
    result = assess_upload(
        files,
        agg["storage_root"],
        state,
        now,
        agg["upload_max_delay_seconds"],
        agg["review_period_days"],
    )
    observations.append(
        {"key": "log_upload_overdue_files", "labels": {}, "value": len(result["overdue"])}
    )
    last = _parse_utc((state or {}).get("last_success"))
    if last is not None:
        observations.append({"key": "log_upload_last_success", "labels": {}, "value": last})
    observed = {
        "uploaded": result["uploaded"],
        "pending": result["pending"],
        "overdue": result["overdue"],
        "bad_records": result["bad"],
        "last_success": (state or {}).get("last_success"),
        "state_file": path if state is not None else None,
    }
    expected = {
        "max_delay_seconds": agg["upload_max_delay_seconds"],
        "retain_until_at_least": f"sealing time + {agg['review_period_days']} days",
        "mode": "COMPLIANCE",
    }
    return _check(
        "LOG-10",
        result["problems"],
        observed,
        expected,
        f"{result['uploaded']} sealed file(s) uploaded under COMPLIANCE with the seal's SHA-256 "
        f"and retention past the review period; {result['pending']} within "
        f"{agg['upload_max_delay_seconds']} s of sealing",
    )


KAFKA_ARCHIVE_STATE_VERSION = 1


def assess_kafka_archive(state: Any, now: float, max_lag: int, max_age: int) -> dict[str, Any]:
    """LOG-12 from log-kafka-archive's state file (written after every batch and every 10 s):
    fresh, lag per partition (high watermark minus the committed offset) within ``max_lag`` in
    total, no store error. A stale file means the consumer is not running (or stuck)."""
    problems: list[str] = []
    if not isinstance(state, dict) or state.get("version") != KAFKA_ARCHIVE_STATE_VERSION:
        return {
            "problems": ["no state file of the archive consumer (log-kafka-archive never ran)"],
            "lag": {},
            "age": None,
        }
    updated = _parse_utc(state.get("updated"))
    age = None if updated is None else max(now - updated, 0.0)
    if age is None or age > max_age:
        problems.append(
            f"the archive consumer's state is {'undated' if age is None else f'{age:.0f} s old'}"
            f" (more than {max_age} s): the consumer is not running or is stuck"
        )
    lag: dict[str, int] = {}
    for part, entry in sorted((state.get("partitions") or {}).items()):
        if isinstance(entry, dict) and isinstance(entry.get("lag"), int):
            lag[str(part)] = entry["lag"]
    total = sum(lag.values())
    if not lag:
        problems.append("the archive consumer has no partition of the topic assigned")
    if total > max_lag:
        behind = ", ".join(f"{p}: {n}" for p, n in lag.items() if n)
        problems.append(
            f"the archive consumer is {total} message(s) behind the topic (more than {max_lag};"
            f" per partition {behind})"
        )
    errors = (state.get("counts") or {}).get("store_errors", 0)
    if errors:
        problems.append(
            f"{errors} store error(s) since the consumer started (last: {state.get('last_error')})"
        )
    return {"problems": problems, "lag": lag, "age": age}


def check_kafka_archive(agg: dict[str, Any], now: float, observations: list[Any]) -> dict[str, Any]:
    """LOG-12: not_applicable without the Kafka tier's archive consumer on this host."""
    if not agg["kafka_archive_enabled"]:
        return make_check(
            "LOG-12",
            "not_applicable",
            None,
            None,
            "no Kafka archive consumer on this aggregator (log_aggregator_kafka_enabled and "
            "log_aggregator_kafka_archive_enabled)",
        )
    path = agg["kafka_archive_state_path"]
    state = _read_json(path)
    result = assess_kafka_archive(
        state, now, agg["kafka_max_lag_messages"], agg["kafka_max_state_age_seconds"]
    )
    topic = (state or {}).get("topic", "") if isinstance(state, dict) else ""
    for part, lag in result["lag"].items():
        observations.append(
            {
                "key": "log_kafka_consumer_lag",
                "labels": {"topic": str(topic), "partition": part},
                "value": lag,
            }
        )
    if result["age"] is not None:
        observations.append(
            {"key": "log_kafka_archive_state_age", "labels": {}, "value": round(result["age"], 3)}
        )
    return _check(
        "LOG-12",
        result["problems"],
        {"lag": result["lag"], "state_age_seconds": result["age"], "state_file": path},
        {
            "max_lag_messages": agg["kafka_max_lag_messages"],
            "max_state_age_seconds": agg["kafka_max_state_age_seconds"],
        },
        f"the archive consumer is {sum(result['lag'].values())} message(s) behind on "
        f"{len(result['lag'])} partition(s), state {result['age'] or 0:.0f} s old",
    )


def check_kafka_producer(
    agg: dict[str, Any], now: float, observations: list[Any]
) -> dict[str, Any]:
    """LOG-13: the omkafka action's queue (its Disk queue) on this aggregator holds at most
    ``kafka_max_queue_messages``, from rsyslogd's impstats (read_impstats, assess_backlog: the
    shipper's LOG-04 reading of its forwarding queue). not_applicable without Kafka forwarding."""
    if not agg["kafka_producer_enabled"]:
        return make_check(
            "LOG-13",
            "not_applicable",
            None,
            None,
            "this aggregator does not forward to Kafka (log_aggregator_kafka_enabled)",
        )
    action = agg["kafka_action_name"]
    expected = {"max_queue_messages": agg["kafka_max_queue_messages"]}
    latest, why = read_impstats(
        agg["kafka_stats_file"], action, agg["kafka_stats_interval_seconds"], now
    )
    if why:
        return make_check("LOG-13", "error", None, expected, why)
    backlog = assess_backlog(latest, 0, None, agg["kafka_max_queue_messages"])
    observations.append(
        {"key": "log_kafka_producer_queue", "labels": {}, "value": backlog["messages"]}
    )
    observed = {
        "messages": backlog["messages"],
        "processed": int(latest["action"].get("processed", 0)),
        "failed": int(latest["action"].get("failed", 0)),
    }
    problems = [
        p.replace("the forwarding queue", f"the Kafka producer's queue {action}")
        + ": the brokers are unreachable or refuse the producer"
        for p in backlog["problems"]
    ]
    return _check(
        "LOG-13",
        problems,
        observed,
        expected,
        f"{backlog['messages']} message(s) wait in the Kafka producer's queue {action} (at most "
        f"{agg['kafka_max_queue_messages']})",
    )


KAFKA_TOPIC_STATE_VERSION = 1


def _tool_error(stderr: str) -> str:
    """The line of a Kafka tool's stderr that says what went wrong: the first ERROR line (the
    exception's message, not its stack), else the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("ERROR"):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def assess_topic_state(state: Any, topic_name: str, now: float, max_age: int) -> dict[str, Any]:
    """LOG-14 from soc2-kafka-topic-state's state file (roles/kafka: TopicCommand --describe of
    the audit topic, run on a timer): fresh, the describe worked, and every partition has a
    leader (offline: none), all its replicas in sync (under-replicated: ISR smaller than the
    replica set) and at least min.insync.replicas in sync (below it, acks=all producers are
    refused). The describe output is parsed by soc2_kafka.parse_topic (the admin module's)."""
    out: dict[str, Any] = {
        "problems": [],
        "age": None,
        "under_replicated": [],
        "offline": [],
        "below_min_isr": [],
        "partitions": 0,
        "min_insync_replicas": None,
    }
    problems: list[str] = out["problems"]
    if not isinstance(state, dict) or state.get("version") != KAFKA_TOPIC_STATE_VERSION:
        problems.append("no topic state file (soc2-kafka-topic-state never ran)")
        return out
    updated = _parse_utc(state.get("updated"))
    out["age"] = None if updated is None else max(now - updated, 0.0)
    if out["age"] is None or out["age"] > max_age:
        age = "undated" if out["age"] is None else f"{out['age']:.0f} s old"
        problems.append(
            f"the topic state is {age} (more than {max_age} s): soc2-kafka-topic-state.timer "
            "is not running"
        )
    if state.get("rc") != 0:
        problems.append(
            f"TopicCommand --describe failed (exit {state.get('rc')}): "
            + _tool_error(str(state.get("stderr") or ""))
        )
        return out
    topic = parse_topic(str(state.get("stdout") or ""), topic_name)
    if topic is None:
        problems.append(f"the topic {topic_name} is not in the describe output")
        return out
    out["partitions"] = len(topic.partitions)
    min_isr_text = topic.configs.get("min.insync.replicas", "1")
    min_isr = int(min_isr_text) if min_isr_text.isdigit() else 1
    out["min_insync_replicas"] = min_isr
    for p in topic.partitions:
        if p.leader < 0:
            out["offline"].append(p.partition)
        if len(p.isr) < len(p.replicas):
            out["under_replicated"].append(p.partition)
        if len(p.isr) < min_isr:
            out["below_min_isr"].append(p.partition)
    detail = {p.partition: p for p in topic.partitions}

    def _describe(ids: list[int]) -> str:
        return ", ".join(
            f"{i} (replicas {','.join(map(str, detail[i].replicas))}, "
            f"isr {','.join(map(str, detail[i].isr)) or 'none'})"
            for i in ids
        )

    if out["offline"]:
        problems.append(
            f"{len(out['offline'])} partition(s) of {topic_name} without a leader (offline): "
            + _describe(out["offline"])
        )
    if out["under_replicated"]:
        problems.append(
            f"{len(out['under_replicated'])} under-replicated partition(s) of {topic_name}: "
            + _describe(out["under_replicated"])
        )
    if out["below_min_isr"]:
        problems.append(
            f"{len(out['below_min_isr'])} partition(s) below min.insync.replicas={min_isr} "
            f"(acks=all producers are refused): {_describe(out['below_min_isr'])}"
        )
    return out


def verify_broker(broker: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """LOG-14 on a Kafka broker: the audit topic fully replicated, from the state file (no JVM,
    no network call in the drift run)."""
    now = time.time() if now is None else now
    path = broker["state_path"]
    topic = broker["topic"]
    result = assess_topic_state(_read_json(path), topic, now, broker["max_state_age_seconds"])
    observations: list[dict[str, Any]] = []
    if result["age"] is not None:
        observations.append(
            {"key": "log_kafka_topic_state_age", "labels": {}, "value": round(result["age"], 3)}
        )
    if result["min_insync_replicas"] is not None:
        labels = {"topic": topic}
        observations += [
            {
                "key": "log_kafka_under_replicated_partitions",
                "labels": labels,
                "value": len(result["under_replicated"]),
            },
            {
                "key": "log_kafka_offline_partitions",
                "labels": labels,
                "value": len(result["offline"]),
            },
            {
                "key": "log_kafka_below_min_isr_partitions",
                "labels": labels,
                "value": len(result["below_min_isr"]),
            },
        ]
    check = _check(
        "LOG-14",
        result["problems"],
        {
            "partitions": result["partitions"],
            "under_replicated": result["under_replicated"],
            "offline": result["offline"],
            "below_min_isr": result["below_min_isr"],
            "state_age_seconds": result["age"],
            "state_file": path,
        },
        {
            "under_replicated": [],
            "offline": [],
            "below_min_isr": [],
            "max_state_age_seconds": broker["max_state_age_seconds"],
        },
        f"every one of the {result['partitions']} partition(s) of {topic} has a leader and all "
        f"its replicas in sync (min.insync.replicas {result['min_insync_replicas']}), state "
        f"{result['age'] or 0:.0f} s old",
    )
    return {"checks": [check], "observations": observations}


def verify_aggregator(agg: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    peers = sorted(agg["peers"], key=lambda p: p["name"])
    checks: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []

    # LOG-06
    pids, inodes = _rsyslogd_sockets(agg["proc_root"])
    listening = [s for s in _read_proc_net(agg["proc_root"]) if s["inode"] in inodes]
    try:
        with open(agg["config_path"], encoding="utf-8") as fh:
            inputs = tls_inputs(parse_rsyslog_blocks(fh.read()))
    except OSError as exc:
        inputs = {}
        checks.append(
            make_check("LOG-06", "error", None, None, f"cannot read {agg['config_path']}: {exc}")
        )
    if not checks:
        listeners = assess_listeners(
            peers, agg["listen_address"], agg["plain_listeners"], listening, inputs, bool(pids)
        )
        expected = {
            "tls": [f"tcp {agg['listen_address'] or '*'}:{p['port']} ({p['name']})" for p in peers]
            + [
                f"relp {agg['listen_address'] or '*'}:{p['relp_port']} ({p['name']})"
                for p in peers
                if p.get("relp_port") is not None
            ],
            "plain": [
                f"{p['protocol']} {p['address']}:{p['port']}" for p in agg["plain_listeners"]
            ],
        }
        checks.append(
            _check(
                "LOG-06",
                listeners["problems"],
                listeners["observed"],
                expected,
                f"rsyslogd listens with mTLS for {len(peers)} peer(s) and on no other socket "
                f"than the configured plain ones ({len(agg['plain_listeners'])})",
            )
        )

    root = agg["storage_root"]
    try:
        files = scan_store(root)
    except OSError as exc:
        why = f"cannot read the storage root {root}: {exc}"
        checks += [
            make_check(cid, "error", None, None, why) for cid in ("LOG-07", "LOG-08", "LOG-09")
        ]
        checks.append(
            check_upload(agg, [], now, observations)
            if not agg["upload_enabled"]
            else make_check("LOG-10", "error", None, None, why)
        )
        files = None
    if files is not None:
        silence = assess_silence(files, peers, now, agg["max_silence_seconds"])
        checks.append(
            _check(
                "LOG-07",
                silence["problems"],
                silence["observed"],
                {"max_silence_seconds": agg["max_silence_seconds"]},
                f"every one of {len(peers)} shipping host(s) wrote within "
                f"{agg['max_silence_seconds']} s",
            )
        )
        for host, last in sorted(silence["newest"].items()):
            observations.append(
                {"key": "log_last_record", "labels": {"source_host": host}, "value": round(last, 3)}
            )
        flags: dict[str, int] = {}
        for entry in files:
            with contextlib.suppress(OSError):
                flags[entry["path"]] = get_flags(entry["path"])
        flag_result = assess_flags(files, flags)
        flag_result["problems"] += assess_restorations(
            _read_json(os.path.join(agg["state_dir"], "stats.json")),
            _read_json(os.path.join(agg["state_dir"], "acks.json")),
        )
        data = [e for e in files if e["kind"] == "data"]
        checks.append(
            _check(
                "LOG-08",
                flag_result["problems"],
                {e["path"]: flag_names(flags.get(e["path"], 0)) for e in files},
                "active files +a; sealed files and their .sha256 +i",
                f"{sum(1 for e in data if not e['sealed'])} active file(s) append-only, "
                f"{sum(1 for e in data if e['sealed'])} sealed file(s) immutable",
            )
        )
        seals = assess_seals(files, now, agg["verify_hash_days"], agg["max_seal_delay_seconds"])
        checks.append(
            _check(
                "LOG-09",
                seals["problems"],
                {"hashed": seals["hashed"], "tampered": seals["tampered"]},
                "every sealed file matches its .sha256",
                f"{seals['hashed']} recently sealed file(s) match their .sha256; "
                f"no orphan and no overdue seal",
            )
        )
        observations.append(
            {"key": "log_store_tampered_files", "labels": {}, "value": len(seals["tampered"])}
        )
        checks.append(check_upload(agg, files, now, observations))

    try:
        with open(os.path.join(agg["state_dir"], "stats.json"), encoding="utf-8") as fh:
            stats: dict[str, Any] | None = json.load(fh)
    except (OSError, ValueError):
        stats = None
    attribution = assess_attribution(stats, now)
    checks.append(
        _check(
            "LOG-11",
            attribution["problems"],
            attribution["observed"],
            {"host_mismatches": 0, "quarantined": 0},
            "every record of today and yesterday is attributed to its certificate identity",
        )
    )
    checks.append(check_kafka_archive(agg, now, observations))
    checks.append(check_kafka_producer(agg, now, observations))
    order = {cid: i for i, cid in enumerate(AGGREGATOR_CHECK_IDS)}
    checks.sort(key=lambda c: order[c["check_id"]])
    return {
        "checks": checks,
        "rsyslogd_pids": pids,
        "listening": [f"{s['protocol']} {s['address']}:{s['port']}" for s in listening],
        "files": files or [],
        "stats": stats,
        "observations": observations,
    }


def verify(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Every LOG id every time: the shipper's for a shipper, the aggregator's for an aggregator,
    not_applicable for the role a host does not have."""
    checks: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    ship = params["shipper"]
    if ship["enabled"]:
        shipper = verify_shipper(module, ship)
        checks += shipper.pop("checks")
        observations += shipper.pop("observations")
        out["shipper"] = shipper
    else:
        why = "not a log shipper (the log_shipper role does not apply to this host)"
        checks += [make_check(c, "not_applicable", None, None, why) for c in SHIPPER_CHECK_IDS]
    agg = params["aggregator"]
    if agg["enabled"]:
        aggregator = verify_aggregator(agg)
        checks += aggregator.pop("checks")
        observations += aggregator.pop("observations")
        out.update(aggregator)
    else:
        why = "not a log aggregator (the log_aggregator role does not apply to this host)"
        checks += [make_check(c, "not_applicable", None, None, why) for c in AGGREGATOR_CHECK_IDS]
    broker = params.get("broker") or {"enabled": False}
    if broker["enabled"]:
        brokers = verify_broker(broker)
        checks += brokers["checks"]
        observations += brokers["observations"]
    else:
        why = "not a Kafka broker (the kafka role does not apply to this host)"
        checks += [make_check(c, "not_applicable", None, None, why) for c in BROKER_CHECK_IDS]
    return {"checks": checks, "observations": observations, **out}
