# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The monitor's MON checks (MON-05 .. MON-08): what Prometheus, Alertmanager and the evidence
receiver on a host of the `monitors` group say about themselves, asked over their own mTLS.

The exporter's checks (MON-01 .. MON-03) live in the family file (soc2_mon_family.py), which
joins both parts: ``CHECK_IDS`` is the exporter's ids then these, ``ARGUMENT_SPEC`` has the
option ``prometheus`` (dict, ``options=ARGUMENT_SPEC`` below) and ``verify`` calls
:func:`verify_prometheus` with ``params["prometheus"]``.

* MON-05: every expected inventory host is an active target of the node job, and up.
* MON-06: the rule files Prometheus loaded are the ones the role rendered: each file on disk has
  the SHA-256 of the role's rendering, Prometheus loaded its configuration successfully after
  the file last changed, and the groups and rules it serves from each file are exactly the
  rendered ones (no rule group from a file the role does not own, no rule in error).
* MON-07: Alertmanager answers /-/healthy over mTLS and Prometheus has it as an active
  Alertmanager.
* MON-08: the evidence receiver answers /healthz over mTLS with ``ok``, and Alertmanager's
  loaded configuration sends to it with ``send_resolved: true``.

Only the standard library: it runs on the monitor inside the module's payload. The pure
functions (``check_*``) take the decoded API answers and are unit-tested with recorded ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ansible.module_utils.soc2_https import (
    CA_PATH,
    CERT_PATH,
    KEY_PATH,
    Answer,
    Fetch,
    make_fetch,
)
from ansible.module_utils.soc2_results import make_check

CHECK_IDS: tuple[str, ...] = ("MON-05", "MON-06", "MON-07", "MON-08")

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": False},
    "url": {"type": "str", "default": "https://127.0.0.1:9090"},
    "alertmanager_url": {"type": "str", "default": "https://127.0.0.1:9093"},
    "receiver_url": {"type": "str", "default": "https://127.0.0.1:9097"},
    "server_name": {"type": "str", "default": ""},
    "ca_path": {"type": "path", "default": CA_PATH},
    "cert_path": {"type": "path", "default": CERT_PATH},
    "key_path": {"type": "path", "default": KEY_PATH},
    "username": {"type": "str", "default": ""},
    "password": {"type": "str", "default": "", "no_log": True},
    "expected_instances": {"type": "list", "elements": "str", "default": []},
    "job": {"type": "str", "default": "node"},
    "rule_files": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "path": {"type": "path", "required": True},
            "sha256": {"type": "str", "required": True},
            "groups": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "name": {"type": "str", "required": True},
                    "rules": {"type": "list", "elements": "str", "default": []},
                },
            },
        },
    },
    "timeout": {"type": "float", "default": 5.0},
    # The evidence receiver's alert records, read past the control node's cursor (docs/drift.md
    # "Alert records"): only when the drift run gives a cursor (None: not read).
    "alerts_dir": {"type": "path", "default": "/var/lib/soc2audit/evidence"},
    "alerts_cursor": {"type": "dict", "default": None},
    "alerts_max_bytes": {"type": "int", "default": 1048576},
}


def validate(params: Mapping[str, Any]) -> list[str]:
    """Problems with the monitor part's parameters that need no host."""
    if not params.get("enabled"):
        return []
    problems: list[str] = []
    for name in ("url", "alertmanager_url", "receiver_url"):
        parts = urlsplit(str(params.get(name) or ""))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"prometheus.{name} must be an http(s) URL (got {params.get(name)!r})")
    if params.get("username") and not params.get("password"):
        problems.append("prometheus.password is required with prometheus.username")
    if float(params.get("timeout") or 0) <= 0:
        problems.append("prometheus.timeout must be above 0")
    if int(params.get("alerts_max_bytes") or 0) <= 0:
        problems.append("prometheus.alerts_max_bytes must be above 0")
    if not str(params.get("alerts_dir") or "").startswith("/"):
        problems.append("prometheus.alerts_dir must be absolute")
    return problems


# ---------------------------------------------------------------- pure checks


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _duration(text: str) -> float | None:
    """Seconds of a Prometheus duration ("15s", "1m30s"), None when unparsable."""
    parts = _DURATION.findall(str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        return None
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def _first_scrape_pending(
    target: Mapping[str, Any], started: float | None, now: float | None
) -> bool:
    """A target Prometheus has not scraped yet (health unknown) while Prometheus has run for less
    than two of its scrape intervals: not down, just not scraped yet (right after a deploy)."""
    interval = _duration(str(target.get("scrapeInterval") or ""))
    if target.get("health") != "unknown" or None in (interval, started, now):
        return False
    return 0 <= now - started < 2 * interval + 5  # type: ignore[operator]


def check_targets(
    answer: Answer,
    expected: Sequence[str],
    job: str,
    runtime: Answer | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """MON-05 from /api/v1/targets?state=active (and, for targets not scraped yet, Prometheus'
    start from /api/v1/status/runtimeinfo)."""
    started = None
    if runtime is not None and isinstance(runtime[1], Mapping):
        started = _parse_time(str((runtime[1].get("data") or {}).get("startTime", "")))
    status, body, error = answer
    if error or status != 200 or not isinstance(body, Mapping):
        return make_check(
            "MON-05",
            "error",
            None,
            sorted(expected),
            f"Prometheus' targets not read: {error or status}",
        )
    health: dict[str, dict[str, str]] = {}
    pending_hosts: list[str] = []
    for target in (body.get("data") or {}).get("activeTargets") or []:
        labels = target.get("labels") or {}
        if labels.get("job") != job:
            continue
        pending = _first_scrape_pending(target, started, now)
        health[str(labels.get("instance"))] = {
            "health": "up" if pending else str(target.get("health")),
            "error": str(target.get("lastError") or ""),
        }
        if pending:
            pending_hosts.append(str(labels.get("instance")))
    missing = sorted(set(expected) - set(health))
    down = {
        h: health[h] for h in sorted(set(expected) & set(health)) if health[h]["health"] != "up"
    }
    observed = {
        "up": sorted(h for h, v in health.items() if v["health"] == "up"),
        "missing": missing,
        "first_scrape_pending": sorted(pending_hosts),
    }
    observed["down"] = {
        h: v["health"] + (f": {v['error']}" if v["error"] else "") for h, v in down.items()
    }
    if not missing and not down:
        return make_check(
            "MON-05",
            "pass",
            observed,
            sorted(expected),
            f"every one of the {len(expected)} inventory hosts is an up target of job {job}",
        )
    parts = []
    if missing:
        parts.append(f"not a target: {', '.join(missing)}")
    if down:
        parts.append("; ".join(f"{h} {v}" for h, v in observed["down"].items()))
    return make_check(
        "MON-05", "fail", observed, sorted(expected), f"job {job}: " + "; ".join(parts)
    )


def _parse_time(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (nanoseconds allowed), None when unparsable."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", str(text))
    if not match:
        return None
    base, frac, zone = match.groups()
    moment = dt.datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return moment.timestamp() + (float("0." + frac) if frac else 0.0)


def _by_name(groups: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({"name": g["name"], "rules": list(g["rules"])} for g in groups), key=str)


def check_rules(
    rules: Answer,
    runtime: Answer,
    on_disk: Mapping[str, Mapping[str, Any]],
    expected: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """MON-06 from /api/v1/rules, /api/v1/status/runtimeinfo and the files' hashes and mtimes."""
    want = [
        {
            "path": f["path"],
            "sha256": f["sha256"],
            "groups": [dict(g) for g in f.get("groups") or []],
        }
        for f in expected
    ]
    for answer, what in ((rules, "rules"), (runtime, "runtime information")):
        status, body, error = answer
        if error or status != 200 or not isinstance(body, Mapping):
            return make_check(
                "MON-06", "error", None, want, f"Prometheus' {what} not read: {error or status}"
            )
    runinfo = runtime[1].get("data") or {}
    loaded_at = _parse_time(str(runinfo.get("lastConfigTime", "")))
    loaded: dict[str, list[dict[str, Any]]] = {}
    in_error: list[str] = []
    for group in (rules[1].get("data") or {}).get("groups") or []:
        names = [str(r.get("name")) for r in group.get("rules") or []]
        loaded.setdefault(str(group.get("file")), []).append(
            {"name": str(group.get("name")), "rules": names}
        )
        in_error += [
            f"{group.get('name')}/{r.get('name')}: {r.get('lastError')}"
            for r in group.get("rules") or []
            if r.get("health") == "err"
        ]
    problems: list[str] = []
    if runinfo.get("reloadConfigSuccess") is not True:
        problems.append("the last configuration reload failed")
    for item in want:
        path = item["path"]
        disk = on_disk.get(path) or {}
        if disk.get("error"):
            problems.append(f"{path}: {disk['error']}")
            continue
        if disk.get("sha256") != item["sha256"]:
            problems.append(f"{path} on disk is not the file the role renders (SHA-256 differs)")
        if loaded_at is not None and float(disk.get("mtime", 0)) > loaded_at:
            problems.append(f"{path} changed after Prometheus last loaded its configuration")
        # The API lists a file's groups by name; the rules keep their order within a group.
        if _by_name(loaded.get(path, [])) != _by_name(item["groups"]):
            problems.append(
                f"{path}: Prometheus serves groups {json.dumps(loaded.get(path, []))}, "
                f"the role rendered {json.dumps(item['groups'])}"
            )
    foreign = sorted(set(loaded) - {item["path"] for item in want})
    if foreign:
        problems.append(f"rule files the role did not render are loaded: {', '.join(foreign)}")
    if in_error:
        problems.append("rules in error: " + "; ".join(in_error))
    observed = {
        "loaded": loaded,
        "last_config_time": runinfo.get("lastConfigTime"),
        "reload_success": runinfo.get("reloadConfigSuccess"),
        "on_disk": {p: dict(v) for p, v in on_disk.items()},
    }
    if problems:
        return make_check("MON-06", "fail", observed, want, "; ".join(problems))
    count = sum(len(g["rules"]) for item in want for g in item["groups"])
    return make_check(
        "MON-06",
        "pass",
        observed,
        want,
        f"Prometheus serves the {count} rules of the {len(want)} rule files the role rendered",
    )


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def check_alertmanager(healthy: Answer, managers: Answer, alertmanager_url: str) -> dict[str, Any]:
    """MON-07 from Alertmanager's /-/healthy and Prometheus' /api/v1/alertmanagers."""
    want = _host_port(alertmanager_url)
    active: list[str] = []
    if managers[0] == 200 and isinstance(managers[1], Mapping):
        active = [
            str(a.get("url"))
            for a in (managers[1].get("data") or {}).get("activeAlertmanagers") or []
        ]
    observed = {"healthy": healthy[0], "healthy_error": healthy[2], "active": active}
    problems = []
    if healthy[2] or healthy[0] != 200:
        problems.append(
            f"Alertmanager at {alertmanager_url} does not answer: {healthy[2] or healthy[0]}"
        )
    if managers[2] or managers[0] != 200:
        problems.append(f"Prometheus' alertmanagers not read: {managers[2] or managers[0]}")
    elif not any(want in url for url in active):
        problems.append(f"Prometheus has no active Alertmanager at {want} (active: {active})")
    if problems:
        return make_check("MON-07", "fail", observed, want, "; ".join(problems))
    return make_check(
        "MON-07",
        "pass",
        observed,
        want,
        f"Alertmanager at {want} answers and Prometheus sends to it",
    )


def _webhook_item(config: str, host_port: str) -> str | None:
    """The text of the webhook_configs item whose url points at ``host_port``, in the YAML
    Alertmanager serves as its loaded configuration (no YAML parser on the host: the item is
    the lines from its ``- `` to the next line indented no deeper than that dash)."""
    lines = config.splitlines()
    for index, line in enumerate(lines):
        stripped = line.lstrip(" -")
        if not (stripped.startswith("url:") and host_port in stripped):
            continue
        indent = len(line) - len(stripped)
        start = index
        while start >= 0:
            candidate = lines[start]
            dash = len(candidate) - len(candidate.lstrip(" "))
            if candidate.lstrip(" ").startswith("- ") and dash + 2 == indent:
                break
            start -= 1
        if start < 0:
            return None
        end = start + 1
        while end < len(lines) and (len(lines[end]) - len(lines[end].lstrip(" "))) > indent - 2:
            end += 1
        return "\n".join(lines[start:end])
    return None


def check_receiver(health: Answer, am_status: Answer, receiver_url: str) -> dict[str, Any]:
    """MON-08 from the receiver's /healthz and Alertmanager's /api/v2/status (its config)."""
    want = _host_port(receiver_url)
    config = ""
    if am_status[0] == 200 and isinstance(am_status[1], Mapping):
        config = str((am_status[1].get("config") or {}).get("original") or "")
    body = health[1] if isinstance(health[1], Mapping) else {}
    observed = {"health": body or health[2] or health[0], "configured": want in config}
    problems = []
    if health[2] or health[0] != 200 or body.get("status") != "ok":
        problems.append(
            f"the evidence receiver at {want} is not healthy: {health[2] or body or health[0]}"
        )
    if am_status[2] or am_status[0] != 200:
        problems.append(f"Alertmanager's configuration not read: {am_status[2] or am_status[0]}")
    else:
        item = _webhook_item(config, want)
        if item is None:
            problems.append(f"Alertmanager's loaded configuration has no webhook to {want}")
        elif not re.search(r"(^|\n)\s*(- )?send_resolved: true\b", item):
            problems.append(f"the webhook to {want} does not send resolved notifications")
    if problems:
        return make_check("MON-08", "fail", observed, want, "; ".join(problems))
    return make_check(
        "MON-08",
        "pass",
        observed,
        want,
        f"the evidence receiver at {want} is healthy; Alertmanager sends it firing and resolved",
    )


# ---------------------------------------------------------------- reading the host


def rule_files_on_disk(paths: Sequence[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            out[path] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "mtime": os.stat(path).st_mtime,
            }
        except OSError as exc:
            out[path] = {"error": f"not readable: {exc.strerror or exc}"}
    return out


# ---------------------------------------------------------------- alert records

#: The receiver's day files (soc2audit/alert_receiver.py ALERTS_PREFIX).
ALERT_FILE = re.compile(r"^alerts-\d{4}-\d{2}-\d{2}\.jsonl$")


def _cursor_start(path: str, entry: Any, size: int) -> tuple[int, str | None]:
    """Where to read ``path`` from: past the control node's last imported line when that line
    is still there byte for byte; else 0 with the reason (the file was rewritten or replaced)."""
    if not isinstance(entry, Mapping):
        return 0, None
    try:
        end, last = int(entry.get("end", 0)), int(entry.get("last_offset", 0))
    except (TypeError, ValueError):
        return 0, "cursor not understood: read from the start"
    if not 0 <= last < end <= size:
        return 0, f"{size} bytes, the cursor is at {end}: read from the start (file replaced)"
    with open(path, "rb") as fh:
        fh.seek(last)
        line = fh.read(end - last)
    if hashlib.sha256(line).hexdigest() != entry.get("sha256"):
        return 0, "the last imported line changed: read from the start (file replaced)"
    return end, None


def read_alert_lines(directory: str, cursor: Mapping[str, Any], max_bytes: int) -> dict[str, Any]:
    """The evidence receiver's complete lines past ``cursor`` ({"files": {name: {end,
    last_offset, sha256}}}), oldest file first, at most ``max_bytes`` of them (``more`` when
    some are left). Day files older than the oldest file in the cursor were imported before
    (or pruned since) and are not read. Each line: {file, offset, end, sha256, text}."""
    files = cursor.get("files") if isinstance(cursor.get("files"), Mapping) else {}
    out: dict[str, Any] = {"dir": directory, "lines": [], "more": False, "notes": []}
    try:
        names = sorted(n for n in os.listdir(directory) if ALERT_FILE.match(n))
    except OSError as exc:
        out["error"] = f"{directory} not readable: {exc.strerror or exc}"
        return out
    oldest = min(files) if files else ""
    budget = max_bytes
    for name in names:
        if name < oldest:
            continue
        path = os.path.join(directory, name)
        try:
            size = os.stat(path).st_size
            start, note = _cursor_start(path, files.get(name), size)
            if note:
                out["notes"].append(f"{name}: {note}")
            if start >= size:
                continue
            if budget <= 0:
                out["more"] = True
                break
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read(min(size - start, budget))
        except OSError as exc:
            out["notes"].append(f"{name}: not readable: {exc.strerror or exc}")
            continue
        complete = data[: data.rfind(b"\n") + 1]
        if not complete and len(data) == budget:
            # One line longer than the whole budget: never skip it, send it alone.
            out["more"] = True
            break
        offset = start
        for raw in complete.splitlines(keepends=True):
            out["lines"].append(
                {
                    "file": name,
                    "offset": offset,
                    "end": offset + len(raw),
                    "sha256": hashlib.sha256(raw).hexdigest(),
                    "text": raw.decode("utf-8", "replace").rstrip("\n"),
                }
            )
            offset += len(raw)
        budget -= len(complete)
        if len(data) < size - start:  # the budget ended inside this file
            out["more"] = True
            break
    return out


def verify_prometheus(params: Mapping[str, Any], fetch: Fetch | None = None) -> dict[str, Any]:
    """MON-05 .. MON-08 for a monitor; not_applicable for every other host."""
    if not params.get("enabled"):
        why = "not a monitor (Prometheus checks apply to the prometheus_group hosts)"
        return {"checks": [make_check(c, "not_applicable", None, None, why) for c in CHECK_IDS]}
    get = fetch or make_fetch(params)
    url, am, rx = params["url"], params["alertmanager_url"], params["receiver_url"]
    targets = get(url, "/api/v1/targets?state=active")
    rules = get(url, "/api/v1/rules")
    runtime = get(url, "/api/v1/status/runtimeinfo")
    managers = get(url, "/api/v1/alertmanagers")
    healthy = get(am, "/-/healthy")
    am_status = get(am, "/api/v2/status")
    health = get(rx, "/healthz")
    files = [f["path"] for f in params.get("rule_files") or []]
    checks = [
        check_targets(
            targets,
            list(params.get("expected_instances") or []),
            params["job"],
            runtime,
            time.time(),
        ),
        check_rules(rules, runtime, rule_files_on_disk(files), params.get("rule_files") or []),
        check_alertmanager(healthy, managers, am),
        check_receiver(health, am_status, rx),
    ]
    out: dict[str, Any] = {"checks": checks, "prometheus_url": url}
    if params.get("alerts_cursor") is not None:
        out["alerts"] = read_alert_lines(
            params["alerts_dir"], params["alerts_cursor"], int(params["alerts_max_bytes"])
        )
    return out
