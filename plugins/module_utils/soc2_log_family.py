# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The LOG family's verification, aggregator side (LOG-06 .. LOG-09, LOG-11), shared by the
soc2_log module and (once registered) the one-pass soc2_verify module.

Everything is read in Python on the host, in one module run: /proc/net/{tcp,tcp6,udp,udp6} and
rsyslogd's socket inodes (/proc/<pid>/fd), the rendered rsyslog.conf, the store's day files and
their inode flags (FS_IOC_GETFLAGS, no lsattr per file), the .sha256 files and the writer's
stats.json. The shipper checks (LOG-01 .. LOG-05) and the S3 upload (LOG-10) are not here yet.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import struct
import time
from collections.abc import Iterable
from typing import Any

from ansible.module_utils.soc2_results import make_check

__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "FAMILY", "validate", "verify"]

FAMILY = "LOG"
CHECK_IDS: tuple[str, ...] = ("LOG-06", "LOG-07", "LOG-08", "LOG-09", "LOG-11")

FS_IOC_GETFLAGS = 0x80086601
FS_APPEND_FL = 0x20
FS_IMMUTABLE_FL = 0x10
TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"
DAY_FILE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.jsonl$")
SOCKET_RE = re.compile(r"^socket:\[(\d+)\]$")
BLOCK_RE = re.compile(r"\b(module|input)\s*\(([^()]*)\)", re.S)
PARAM_RE = re.compile(r"([A-Za-z][\w.]*)\s*=\s*(?:\"([^\"]*)\"|\[([^\]]*)\])")
SPECIAL_DIRS = ("_quarantine",)

PEER_SPEC: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "port": {"type": "int", "required": True},
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
    "proc_root": {"type": "path", "default": "/proc"},
}
ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "aggregator": {"type": "dict", "options": AGGREGATOR_SPEC, "apply_defaults": True},
}


def validate(params: dict[str, Any]) -> list[str]:
    """Parameter problems that need no host."""
    agg = params["aggregator"]
    problems: list[str] = []
    if not agg["enabled"]:
        return problems
    for name in ("config_path", "storage_root", "state_dir", "proc_root"):
        if not str(agg[name]).startswith("/"):
            problems.append(f"aggregator.{name} must be absolute")
    ports = [p["port"] for p in agg["peers"]]
    if len(set(ports)) != len(ports):
        problems.append("aggregator.peers: every peer needs a port of its own")
    for number in ("max_silence_seconds", "verify_hash_days", "max_seal_delay_seconds"):
        if agg[number] < 0:
            problems.append(f"aggregator.{number} must not be negative")
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


def _rsyslogd_sockets(proc_root: str) -> tuple[list[int], set[int]]:
    pids: list[int] = []
    inodes: set[int] = set()
    for entry in os.listdir(proc_root):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc_root}/{entry}/comm", encoding="utf-8") as fh:
                if fh.read().strip() != "rsyslogd":
                    continue
            links = [
                os.readlink(f"{proc_root}/{entry}/fd/{fd}")
                for fd in os.listdir(f"{proc_root}/{entry}/fd")
            ]
        except OSError:
            continue
        pids.append(int(entry))
        inodes |= socket_inodes(links)
    return pids, inodes


def _wildcard(address: str) -> bool:
    return address in ("0.0.0.0", "::", "")


def _address_matches(bound: str, wanted: str) -> bool:
    if _wildcard(wanted):
        return _wildcard(bound)
    return bound in (wanted, f"::ffff:{wanted}")


# ---------------------------------------------------------------- rsyslog.conf contract
def parse_rsyslog_blocks(text: str) -> list[dict[str, Any]]:
    """module(...) and input(...) statements of a RainerScript file, parameter names lower case
    (arrays as lists). Comments are dropped first; enough for the role's rendered file."""
    body = "\n".join(
        line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        for line in text.splitlines()
    )
    out = []
    for match in BLOCK_RE.finditer(body):
        params: dict[str, Any] = {}
        for param in PARAM_RE.finditer(match.group(2)):
            name = param.group(1).lower()
            if param.group(3) is not None:
                params[name] = re.findall(r"\"([^\"]*)\"", param.group(3))
            else:
                params[name] = param.group(2)
        out.append({"kind": match.group(1), "params": params})
    return out


def tls_inputs(blocks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """imtcp inputs by port with their effective driver settings (input overrides module)."""
    module: dict[str, Any] = {}
    for block in blocks:
        if block["kind"] == "module" and block["params"].get("load") == "imtcp":
            module = block["params"]
    out: dict[int, dict[str, Any]] = {}
    for block in blocks:
        params = block["params"]
        if block["kind"] != "input" or params.get("type") != "imtcp":
            continue
        try:
            port = int(params.get("port", "0"))
        except ValueError:
            continue
        merged = {**module, **params}
        peers = merged.get("permittedpeer", [])
        out[port] = {
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
        up = [
            s
            for s in listening
            if s["protocol"] == "tcp"
            and s["port"] == port
            and _address_matches(s["address"], listen_address)
        ]
        if running and not up:
            problems.append(f"no rsyslogd TCP listener on port {port} for {name}")
        conf = inputs.get(port)
        if conf is None:
            problems.append(f"{port}: no imtcp input for {name} in the configuration")
            continue
        if not (
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
    for want in plain:
        if running and not any(
            s["protocol"] == want["protocol"]
            and s["port"] == want["port"]
            and _address_matches(s["address"], want["address"])
            for s in listening
        ):
            problems.append(
                f"no rsyslogd {want['protocol']} listener on {want['address']}:{want['port']}"
            )
    expected_tls = {p["port"] for p in peers}
    unexpected = []
    for sock in listening:
        if (
            sock["protocol"] == "tcp"
            and sock["port"] in expected_tls
            and _address_matches(sock["address"], listen_address)
        ):
            continue
        if any(
            sock["protocol"] == p["protocol"]
            and sock["port"] == p["port"]
            and _address_matches(sock["address"], p["address"])
            for p in plain
        ):
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


# ---------------------------------------------------------------- the family
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
            "tls": [f"tcp {agg['listen_address'] or '*'}:{p['port']} ({p['name']})" for p in peers],
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
    order = {cid: i for i, cid in enumerate(CHECK_IDS)}
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
    agg = params["aggregator"]
    if not agg["enabled"]:
        why = "not a log aggregator (the log_aggregator role does not apply to this host)"
        return {
            "checks": [make_check(cid, "not_applicable", None, None, why) for cid in CHECK_IDS],
            "observations": [],
        }
    return verify_aggregator(agg)
