# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The MON family's verification, shared by the soc2_mon module and the one-pass soc2_verify
module. Two parts, each with its own option:

* ``exporter`` (the node_exporter role's ``_node_exporter_verify_params``): node_exporter on
  every host, MON-01 .. MON-03, in this file;
* ``prometheus`` (the prometheus role's ``_prometheus_verify_params``): Prometheus, Alertmanager
  and the evidence receiver on a monitor, MON-05 .. MON-08, in ``soc2_mon_prometheus.py``.

Each part is not_applicable where its ``enabled`` is false; the drift run merges both roles'
parameters, so one module run returns all seven ids on every host.

Everything is read in one module run on the host: one ``systemctl show`` of the exporter's
unit, the rendered web configuration (JSON, which is YAML too), two or three TLS connections
from the host to its own exporter (with the host's client certificate: a scrape of /metrics;
without one: must be refused), and a stat of the textfile directory and the drift run's file.
Standard library only (``ssl``, ``http.client``).
"""

from __future__ import annotations

import grp
import http.client
import json
import os
import re
import socket
import ssl
import stat
import time
from typing import Any

from ansible.module_utils import soc2_mon_prometheus
from ansible.module_utils.soc2_log_family import assess_unit, read_unit
from ansible.module_utils.soc2_results import make_check

__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "FAMILY", "validate", "verify"]

FAMILY = "MON"
EXPORTER_IDS: tuple[str, ...] = ("MON-01", "MON-02", "MON-03")
# The exporter's ids then the monitor's (soc2_mon_prometheus.CHECK_IDS), written out: the
# catalog check reads the literal.
CHECK_IDS: tuple[str, ...] = ("MON-01", "MON-02", "MON-03", "MON-05", "MON-06", "MON-07", "MON-08")

REQUIRED_CLIENT_AUTH = "RequireAndVerifyClientCert"
TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
MIN_TLS_VERSION = "TLS12"
TIMEOUT_SECONDS = 5.0
# The textfile collector's own series for one file (node_exporter 1.5: file="<base name>";
# 1.9 and later: the full path) and its error flag.
MTIME_RE = re.compile(r'^node_textfile_mtime_seconds\{file="([^"]*)"\}\s+(\S+)$', re.M)
SCRAPE_ERROR_RE = re.compile(r"^node_textfile_scrape_error\s+(\S+)$", re.M)
BUILD_INFO_RE = re.compile(r"^node_exporter_build_info\{([^}]*)\}\s+1$", re.M)

EXPORTER_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": False},
    "service": {"type": "str", "default": "prometheus-node-exporter"},
    "web_config_path": {"type": "path", "default": "/etc/node_exporter/web-config.yml"},
    "address": {"type": "str", "default": "127.0.0.1"},
    "port": {"type": "int", "default": 9100},
    "server_name": {"type": "str", "default": ""},
    "ca_path": {"type": "path", "default": "/etc/ssl/soc2audit/ca-chain.pem"},
    "client_cert_path": {"type": "str", "default": "/etc/ssl/soc2audit/host.crt"},
    "client_key_path": {"type": "str", "default": "/etc/ssl/soc2audit/private/host.key"},
    "textfile_dir": {"type": "path", "default": "/var/lib/prometheus/node-exporter"},
    "textfile_group": {"type": "str", "default": "soc2audit-metrics"},
    "textfile_mode": {"type": "str", "default": "2775"},
    "metrics_file": {"type": "str", "default": "soc2audit.prom"},
    "max_metrics_age_seconds": {"type": "int", "default": 7200},
}
ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "exporter": {"type": "dict", "options": EXPORTER_SPEC, "apply_defaults": True},
    "prometheus": {
        "type": "dict",
        "options": soc2_mon_prometheus.ARGUMENT_SPEC,
        "apply_defaults": True,
    },
}


def validate(params: dict[str, Any]) -> list[str]:
    """Parameter problems that need no host: the exporter's, then the monitor's."""
    return validate_exporter(params["exporter"]) + soc2_mon_prometheus.validate(
        params["prometheus"]
    )


def validate_exporter(exp: dict[str, Any]) -> list[str]:
    if not exp["enabled"]:
        return []
    problems = []
    if not 0 < exp["port"] < 65536:
        problems.append(f"exporter.port {exp['port']} is not between 1 and 65535")
    for name in ("web_config_path", "ca_path", "textfile_dir"):
        if not str(exp[name]).startswith("/"):
            problems.append(f"exporter.{name} must be absolute")
    for name in ("client_cert_path", "client_key_path"):
        if exp[name] and not exp[name].startswith("/"):
            problems.append(f"exporter.{name} must be absolute or empty")
    if bool(exp["client_cert_path"]) != bool(exp["client_key_path"]):
        problems.append("exporter.client_cert_path and client_key_path go together")
    if not re.match(r"^[0-7]{3,4}$", exp["textfile_mode"]):
        problems.append(f"exporter.textfile_mode {exp['textfile_mode']!r} is not an octal mode")
    if "/" in exp["metrics_file"] or not exp["metrics_file"]:
        problems.append("exporter.metrics_file is a file name, not a path")
    if exp["max_metrics_age_seconds"] <= 0:
        problems.append("exporter.max_metrics_age_seconds must be above 0")
    return problems


# ---------------------------------------------------------------- web configuration
def parse_web_config(text: str) -> dict[str, Any]:
    """The role's web configuration: JSON after '#' comment lines. ValueError when it is not."""
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    data = json.loads(body)
    if not isinstance(data, dict):
        raise ValueError("the web configuration is not a mapping")
    return data


def assess_web_config(config: dict[str, Any] | None, ca_path: str) -> list[str]:
    """What in the web configuration lets a scrape through without a verified client
    certificate from our CA, or below TLS 1.2."""
    if config is None:
        return ["no web configuration"]
    tls = config.get("tls_server_config")
    if not isinstance(tls, dict) or not (tls.get("cert_file") or tls.get("cert")):
        return ["the web configuration has no tls_server_config with a certificate: plain HTTP"]
    problems = []
    auth = tls.get("client_auth_type", "NoClientCert")
    if auth != REQUIRED_CLIENT_AUTH:
        problems.append(f"client_auth_type is {auth}, not {REQUIRED_CLIENT_AUTH}")
    if tls.get("client_ca_file") != ca_path:
        problems.append(f"client_ca_file is {tls.get('client_ca_file')!r}, not {ca_path}")
    version = tls.get("min_version", MIN_TLS_VERSION)
    if version not in TLS_VERSIONS or TLS_VERSIONS.index(version) < TLS_VERSIONS.index(
        MIN_TLS_VERSION
    ):
        problems.append(f"min_version is {version}, below {MIN_TLS_VERSION}")
    return problems


# ---------------------------------------------------------------- TLS probes
def _context(ca_path: str, cert: str, key: str, server_name: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_path)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = bool(server_name)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def probe(
    address: str, port: int, ca_path: str, server_name: str, cert: str = "", key: str = ""
) -> dict[str, Any]:
    """GET /metrics over TLS; {status, body, version, error}. ``status`` None: no answer."""
    out: dict[str, Any] = {"status": None, "body": "", "version": None, "error": None}
    try:
        ctx = _context(ca_path, cert, key, server_name)
    except (OSError, ssl.SSLError) as exc:
        out["error"] = f"client TLS setup: {exc}"
        return out
    try:
        with (
            socket.create_connection((address, port), timeout=TIMEOUT_SECONDS) as raw,
            ctx.wrap_socket(raw, server_hostname=server_name or None) as tls,
        ):
            out["version"] = tls.version()
            conn = http.client.HTTPConnection(address, port, timeout=TIMEOUT_SECONDS)
            conn.sock = tls
            conn.request("GET", "/metrics", headers={"Host": server_name or address})
            resp = conn.getresponse()
            out["status"] = resp.status
            out["body"] = resp.read().decode("utf-8", errors="replace")
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    return out


def scrape_facts(body: str, metrics_file: str) -> dict[str, Any]:
    """What the scrape says about the textfile collector and the build."""
    mtimes = {os.path.basename(name): float(value) for name, value in MTIME_RE.findall(body)}
    errors = SCRAPE_ERROR_RE.findall(body)
    build = BUILD_INFO_RE.search(body)
    return {
        "build_info": build.group(1) if build else None,
        "textfile_mtime": mtimes.get(metrics_file),
        "textfile_scrape_error": float(errors[0]) if errors else None,
    }


def assess_mtls(
    config_problems: list[str],
    with_cert: dict[str, Any] | None,
    without_cert: dict[str, Any],
) -> tuple[str, str, dict[str, Any]]:
    """MON-02 from the web configuration and the probes: (result, message, observed)."""
    observed = {
        "web_config": config_problems or "requires a verified client certificate",
        "without_certificate": without_cert["status"] or without_cert["error"],
        "with_certificate": None
        if with_cert is None
        else (with_cert["status"] or with_cert["error"]),
        "tls_version": None if with_cert is None else with_cert["version"],
    }
    problems = list(config_problems)
    if without_cert["status"] is not None:
        problems.append(
            f"a client without a certificate got HTTP {without_cert['status']}: not refused"
        )
    if with_cert is not None:
        if with_cert["status"] != 200:
            problems.append(
                "a client with the host's certificate was not served "
                f"({with_cert['status'] or with_cert['error']})"
            )
        elif "node_exporter_build_info" not in with_cert["body"]:
            problems.append("the answer to /metrics is not node_exporter's")
    if problems:
        return "fail", "; ".join(problems), observed
    how = (
        "served the host's client certificate"
        if with_cert is not None
        else "(no client certificate on this host to scrape with)"
    )
    return "pass", f"mTLS required: refused a client without a certificate, {how}", observed


# ---------------------------------------------------------------- textfile directory
def serving_seconds(props: dict[str, str] | None) -> float | None:
    """How long the unit has been active, from systemd's ActiveEnterTimestampMonotonic (CLOCK_
    MONOTONIC microseconds, the clock time.monotonic() reads); None when unknown or inactive."""
    try:
        entered = int((props or {}).get("ActiveEnterTimestampMonotonic") or 0)
    except ValueError:
        return None
    if entered <= 0 or (props or {}).get("ActiveState") != "active":
        return None
    return time.monotonic() - entered / 1e6


def assess_textfile(
    exp: dict[str, Any],
    dir_stat: os.stat_result | None,
    group_name: str | None,
    file_stat: os.stat_result | None,
    scraped: dict[str, Any] | None,
    now: float,
    serving_seconds: float | None = None,
) -> tuple[str, str, dict[str, Any]]:
    """MON-03: directory group/mode, the drift file's age and (with a scrape) that node_exporter
    reads it without error. A file that does not exist yet is due within the same age limit from
    the moment node_exporter started serving (``serving_seconds`` ago): the first drift run
    after a deployment verifies before it writes its first file, and that is not staleness."""
    want_mode = int(exp["textfile_mode"], 8)
    observed: dict[str, Any] = {"dir": exp["textfile_dir"]}
    problems = []
    if dir_stat is None:
        return "fail", f"{exp['textfile_dir']} does not exist", observed
    mode = stat.S_IMODE(dir_stat.st_mode)
    observed.update({"group": group_name, "mode": f"{mode:04o}"})
    if group_name != exp["textfile_group"]:
        problems.append(f"group is {group_name}, not {exp['textfile_group']}")
    if mode != want_mode:
        problems.append(f"mode is {mode:04o}, not {want_mode:04o}")
    path = os.path.join(exp["textfile_dir"], exp["metrics_file"])
    if file_stat is None:
        if serving_seconds is not None and 0 <= serving_seconds <= exp["max_metrics_age_seconds"]:
            observed["due_within_seconds"] = round(
                exp["max_metrics_age_seconds"] - serving_seconds, 1
            )
        else:
            problems.append(f"{path} does not exist (no drift run has written it)")
    else:
        age = round(now - file_stat.st_mtime, 1)
        observed["age_seconds"] = age
        if age > exp["max_metrics_age_seconds"]:
            problems.append(
                f"{path} is {age:.0f} s old, more than {exp['max_metrics_age_seconds']} s"
            )
    if scraped is not None:
        observed["scrape_error"] = scraped["textfile_scrape_error"]
        if scraped["textfile_scrape_error"] not in (0.0, None):
            problems.append("node_exporter reports node_textfile_scrape_error 1")
        if file_stat is not None and scraped["textfile_mtime"] is None:
            problems.append(f"node_exporter does not serve {exp['metrics_file']}")
    if problems:
        return "fail", "; ".join(problems), observed
    return "pass", f"{exp['textfile_dir']} and {exp['metrics_file']} in order", observed


# ---------------------------------------------------------------- the family
def verify_exporter(module: Any, exp: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    facts: dict[str, Any] = {}
    checks = []

    props, why = read_unit(module, exp["service"])
    if props is None:
        checks.append(make_check("MON-01", "error", None, "active, enabled", why or "no unit"))
    else:
        unit = assess_unit(props)
        ok = not unit["problems"]
        checks.append(
            make_check(
                "MON-01",
                "pass" if ok else "fail",
                unit["observed"],
                "loaded, active, enabled",
                f"{exp['service']} running and enabled" if ok else "; ".join(unit["problems"]),
            )
        )
        facts["unit"] = unit["observed"]

    config = None
    try:
        with open(exp["web_config_path"], encoding="utf-8") as fh:
            config = parse_web_config(fh.read())
        config_problems = assess_web_config(config, exp["ca_path"])
    except FileNotFoundError:
        config_problems = [f"{exp['web_config_path']} does not exist"]
    except (OSError, ValueError) as exc:
        config_problems = [f"{exp['web_config_path']} cannot be read: {exc}"]
    facts["web_config"] = config

    name = exp["server_name"]
    without = probe(exp["address"], exp["port"], exp["ca_path"], name)
    with_cert = None
    if exp["client_cert_path"] and os.path.exists(exp["client_cert_path"]):
        with_cert = probe(
            exp["address"],
            exp["port"],
            exp["ca_path"],
            name,
            exp["client_cert_path"],
            exp["client_key_path"],
        )
    facts["probes"] = {
        "without_certificate": {k: v for k, v in without.items() if k != "body"},
        "with_certificate": None
        if with_cert is None
        else {k: v for k, v in with_cert.items() if k != "body"},
    }
    result, message, observed = assess_mtls(config_problems, with_cert, without)
    checks.append(make_check("MON-02", result, observed, "mTLS required and served", message))

    scraped = None
    if with_cert is not None and with_cert["status"] == 200:
        scraped = scrape_facts(with_cert["body"], exp["metrics_file"])
        facts["scrape"] = scraped
    try:
        dir_stat: os.stat_result | None = os.stat(exp["textfile_dir"])
    except OSError:
        dir_stat = None
    try:
        file_stat: os.stat_result | None = os.stat(
            os.path.join(exp["textfile_dir"], exp["metrics_file"])
        )
    except OSError:
        file_stat = None
    group_name = None
    if dir_stat is not None:
        try:
            group_name = grp.getgrgid(dir_stat.st_gid).gr_name
        except KeyError:
            group_name = str(dir_stat.st_gid)
    result, message, observed = assess_textfile(
        exp, dir_stat, group_name, file_stat, scraped, now, serving_seconds(props)
    )
    checks.append(
        make_check(
            "MON-03", result, observed, f"{exp['textfile_group']} {exp['textfile_mode']}", message
        )
    )
    # No observation of its own: Prometheus has node_textfile_mtime_seconds for the file's age.
    return {"checks": checks, "observations": [], "exporter": facts}


def verify(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Every MON id this family emits, every time: the exporter's, then the monitor's."""
    exp = params["exporter"]
    if exp["enabled"]:
        out = verify_exporter(module, exp)
    else:
        out = {
            "checks": [
                make_check(cid, "not_applicable", None, None, "node_exporter is not managed here")
                for cid in EXPORTER_IDS
            ],
            "observations": [],
        }
    monitor = soc2_mon_prometheus.verify_prometheus(params["prometheus"])
    out["checks"].extend(monitor.pop("checks"))
    out["prometheus"] = monitor
    return out
