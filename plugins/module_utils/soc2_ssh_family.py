# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SSH family's verification (SSH-01 .. SSH-08), shared by the soc2_ssh module and the
one-pass soc2_verify module that runs every family in one round trip.

Everything is read from what the daemon itself makes of its configuration: ONE ``sshd -T -C
user=..,host=..,addr=..`` (the effective settings for that connection, Match blocks applied,
first-match-wins already resolved across the main file and its drop-ins), one ``systemctl show``
of the service and one ``ssh-keygen -lf`` per host key sshd serves. The files are never parsed.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ansible.module_utils.soc2_command import find_binary, run
from ansible.module_utils.soc2_log_family import assess_unit, read_unit
from ansible.module_utils.soc2_results import make_check

__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "FAMILY", "validate", "verify"]

FAMILY = "SSH"
CHECK_IDS: tuple[str, ...] = (
    "SSH-01",
    "SSH-02",
    "SSH-03",
    "SSH-04",
    "SSH-05",
    "SSH-06",
    "SSH-07",
    "SSH-08",
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "service": {"type": "str", "default": "ssh"},
    "sshd": {"type": "str", "default": "sshd"},
    "ssh_keygen": {"type": "str", "default": "ssh-keygen"},
    "config_path": {"type": "path", "default": "/etc/ssh/sshd_config"},
    "match_user": {"type": "str", "default": "root"},
    "match_host": {"type": "str", "default": "localhost"},
    "match_addr": {"type": "str", "default": "127.0.0.1"},
    "ciphers": {"type": "list", "elements": "str", "required": True},
    "macs": {"type": "list", "elements": "str", "required": True},
    "kex_algorithms": {"type": "list", "elements": "str", "required": True},
    "host_key_algorithms": {"type": "list", "elements": "str", "required": True},
    "forwarding": {"type": "dict", "default": {}},
    "max_auth_tries": {"type": "int", "default": 3},
    "login_grace_time": {"type": "int", "default": 30},
    "permit_root_login": {
        "type": "str",
        "default": "prohibit-password",
        "choices": ["no", "prohibit-password"],
    },
    "password_authentication": {"type": "bool", "default": False},
    "client_alive_interval": {"type": "int", "default": 300},
    "client_alive_count_max": {"type": "int", "default": 2},
    "allow_groups": {"type": "list", "elements": "str", "required": True},
    "log_level": {"type": "str", "default": "VERBOSE"},
    "banner": {"type": "path", "required": True},
    "host_key_types": {"type": "list", "elements": "str", "default": ["ed25519", "rsa"]},
    "rsa_min_bits": {"type": "int", "default": 3072},
}

# The forwarding switches SSH-03 compares, and the value each must have when not given.
FORWARDING_DEFAULTS: dict[str, str] = {
    "allowagentforwarding": "no",
    "allowtcpforwarding": "no",
    "allowstreamlocalforwarding": "no",
    "x11forwarding": "no",
    "permittunnel": "no",
    "gatewayports": "no",
}
# Algorithms no profile may hold, whatever the role's lists say: CBC and 3DES ciphers, SHA-1 and
# MD5 MACs, SHA-1 key exchanges, DSA and SHA-1 RSA signatures (and their certificates).
WEAK_RE = re.compile(
    r"(-cbc$|^3des|^arcfour|^blowfish|^cast128|hmac-sha1|hmac-md5|umac-64|"
    r"-sha1$|group1-|^ssh-dss|^ssh-rsa$|^ssh-rsa-cert)"
)
# The role's algorithm lists and the sshd -T keyword of each.
ALGORITHM_KEYS: dict[str, str] = {
    "ciphers": "ciphers",
    "macs": "macs",
    "kex_algorithms": "kexalgorithms",
    "host_key_algorithms": "hostkeyalgorithms",
}
LOG_LEVELS = ("QUIET", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG", "DEBUG1", "DEBUG2", "DEBUG3")
KEY_TYPES = {"ed25519": "ED25519", "rsa": "RSA", "ecdsa": "ECDSA", "dsa": "DSA"}
KEYGEN_RE = re.compile(r"^(\d+)\s+(\S+)\s+.*\((\S+)\)\s*$")
# Keywords sshd -T prints once per value, one line each (AllowGroups too: one line per group).
MULTI = (
    "hostkey",
    "hostcertificate",
    "listenaddress",
    "acceptenv",
    "subsystem",
    "setenv",
    "allowgroups",
    "denygroups",
    "allowusers",
    "denyusers",
)


def weak(names: list[str]) -> list[str]:
    """The names in ``names`` that no profile may allow."""
    return [n for n in names if WEAK_RE.search(n)]


def validate(params: dict[str, Any]) -> list[str]:
    """Parameter problems that need no host."""
    problems = []
    for key in ("ciphers", "macs", "kex_algorithms", "host_key_algorithms", "allow_groups"):
        if not params[key]:
            problems.append(f"{key} must not be empty")
    for key in ("ciphers", "macs", "kex_algorithms", "host_key_algorithms"):
        bad = weak(params[key])
        if bad:
            problems.append(f"{key} holds weak algorithms: {', '.join(bad)}")
    unknown = sorted(set(params["forwarding"]) - set(FORWARDING_DEFAULTS))
    if unknown:
        problems.append(
            f"forwarding: unknown keywords {unknown} (known: {sorted(FORWARDING_DEFAULTS)})"
        )
    for key in ("max_auth_tries", "login_grace_time", "client_alive_interval"):
        if params[key] <= 0:
            problems.append(f"{key} must be above 0")
    if params["client_alive_count_max"] < 1:
        problems.append("client_alive_count_max must be at least 1")
    if params["log_level"].upper() not in LOG_LEVELS:
        problems.append(f"log_level {params['log_level']!r} is not one of {', '.join(LOG_LEVELS)}")
    bad_types = sorted(set(params["host_key_types"]) - set(KEY_TYPES))
    if bad_types or not params["host_key_types"]:
        problems.append(f"host_key_types must be some of {sorted(KEY_TYPES)}")
    if not str(params["banner"]).startswith("/"):
        problems.append("banner must be an absolute path")
    return problems


# ---------------------------------------------------------------- parsing
def parse_sshd_t(text: str) -> dict[str, Any]:
    """``sshd -T`` output as {keyword: value}; the keywords in MULTI map to lists."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or " " not in line:
            continue
        key, value = line.split(" ", 1)
        key = key.lower()
        if key in MULTI:
            out.setdefault(key, []).append(value)
        else:
            out[key] = value
    return out


def parse_keygen(text: str) -> dict[str, Any] | None:
    """``ssh-keygen -lf`` output (``3072 SHA256:... comment (RSA)``) as bits, fingerprint,
    type; None when it is not that."""
    m = KEYGEN_RE.match(text.strip().splitlines()[0] if text.strip() else "")
    if not m:
        return None
    return {"bits": int(m.group(1)), "fingerprint": m.group(2), "type": m.group(3).upper()}


def _list(settings: dict[str, Any], key: str) -> list[str]:
    value = settings.get(key, "")
    return [v for v in str(value).split(",") if v]


def _root_login(value: str) -> str:
    # sshd -T prints the old spelling of prohibit-password.
    return "prohibit-password" if value == "without-password" else value


def _seconds(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- assessments
def assess_crypto(settings: dict[str, Any], params: dict[str, Any]) -> tuple[str, Any, str]:
    """SSH-02: every offered algorithm is in the allowed profile and none is weak."""
    observed: dict[str, Any] = {}
    problems = []
    for key, keyword in ALGORITHM_KEYS.items():
        live = _list(settings, keyword)
        observed[key] = live
        outside = [n for n in live if n not in params[key]]
        bad = weak(live)
        if bad:
            problems.append(f"{keyword} offers weak {', '.join(bad)}")
        rest = [n for n in outside if n not in bad]
        if rest:
            problems.append(f"{keyword} offers {', '.join(rest)} outside the profile")
        if not live:
            problems.append(f"{keyword} is empty")
    if problems:
        return "fail", observed, "; ".join(problems)
    return (
        "pass",
        observed,
        "ciphers, MACs, key exchange and host key algorithms within the profile",
    )


def assess_equal(
    settings: dict[str, Any], expected: dict[str, str], what: str
) -> tuple[str, Any, str]:
    """Every keyword has its expected value (SSH-03)."""
    observed = {k: settings.get(k) for k in expected}
    wrong = [
        f"{k} is {observed[k]} (expected {v})" for k, v in expected.items() if observed[k] != v
    ]
    if wrong:
        return "fail", observed, f"{what}: " + "; ".join(wrong)
    return "pass", observed, f"{what}: " + ", ".join(f"{k} {v}" for k, v in expected.items())


def assess_auth(settings: dict[str, Any], params: dict[str, Any]) -> tuple[str, Any, str]:
    """SSH-04: authentication limits."""
    observed = {
        "maxauthtries": _seconds(settings.get("maxauthtries", "")),
        "logingracetime": _seconds(settings.get("logingracetime", "")),
        "permitrootlogin": _root_login(settings.get("permitrootlogin", "")),
        "passwordauthentication": settings.get("passwordauthentication"),
        "permitemptypasswords": settings.get("permitemptypasswords"),
        "hostbasedauthentication": settings.get("hostbasedauthentication"),
        "ignorerhosts": settings.get("ignorerhosts"),
    }
    problems = []
    tries = observed["maxauthtries"]
    if tries is None or tries > params["max_auth_tries"]:
        problems.append(f"MaxAuthTries {tries} above {params['max_auth_tries']}")
    grace = observed["logingracetime"]
    # 0 is no limit at all.
    if grace is None or grace == 0 or grace > params["login_grace_time"]:
        problems.append(f"LoginGraceTime {grace} s not within 1..{params['login_grace_time']} s")
    # "no" is stricter than prohibit-password and always accepted.
    if observed["permitrootlogin"] not in {params["permit_root_login"], "no"}:
        problems.append(
            f"PermitRootLogin {observed['permitrootlogin']}"
            f" (expected {params['permit_root_login']})"
        )
    wanted_pw = "yes" if params["password_authentication"] else "no"
    if observed["passwordauthentication"] != wanted_pw and wanted_pw == "no":
        problems.append("PasswordAuthentication yes (expected no)")
    elif observed["passwordauthentication"] != wanted_pw:
        problems.append(
            f"PasswordAuthentication {observed['passwordauthentication']} (expected yes)"
        )
    for key, value in (
        ("permitemptypasswords", "no"),
        ("hostbasedauthentication", "no"),
        ("ignorerhosts", "yes"),
    ):
        if observed[key] != value:
            problems.append(f"{key} {observed[key]} (expected {value})")
    if problems:
        return "fail", observed, "; ".join(problems)
    return (
        "pass",
        observed,
        f"MaxAuthTries {tries}, LoginGraceTime {grace} s, PermitRootLogin "
        f"{observed['permitrootlogin']}, PasswordAuthentication "
        f"{observed['passwordauthentication']}",
    )


def assess_idle(settings: dict[str, Any], params: dict[str, Any]) -> tuple[str, Any, str]:
    """SSH-05: an unresponsive session is dropped within interval x count max."""
    interval = _seconds(settings.get("clientaliveinterval", ""))
    count = _seconds(settings.get("clientalivecountmax", ""))
    observed = {"clientaliveinterval": interval, "clientalivecountmax": count}
    limit = params["client_alive_interval"] * params["client_alive_count_max"]
    if not interval or not count:
        return "fail", observed, "no idle timeout: ClientAliveInterval or ClientAliveCountMax is 0"
    if interval > params["client_alive_interval"] or interval * count > limit:
        return (
            "fail",
            observed,
            f"an unresponsive session lives {interval * count} s "
            f"(ClientAliveInterval {interval} x CountMax {count}), above {limit} s",
        )
    return "pass", observed, f"an unresponsive session is dropped after {interval * count} s"


def assess_groups(settings: dict[str, Any], params: dict[str, Any]) -> tuple[str, Any, str]:
    """SSH-06: AllowGroups is exactly the intended list (order does not matter)."""
    groups = sorted({g for value in settings.get("allowgroups", []) for g in value.split()})
    wanted = sorted(params["allow_groups"])
    if not groups:
        return "fail", groups, f"no AllowGroups: every account may log in (expected {wanted})"
    if groups != wanted:
        extra = sorted(set(groups) - set(wanted))
        missing = sorted(set(wanted) - set(groups))
        parts = [f"added {extra}"] * bool(extra) + [f"missing {missing}"] * bool(missing)
        return "fail", groups, "AllowGroups differs: " + "; ".join(parts)
    return "pass", groups, f"AllowGroups {' '.join(groups)}"


def assess_logging(
    settings: dict[str, Any], params: dict[str, Any], banner_size: int | None
) -> tuple[str, Any, str]:
    """SSH-07: LogLevel (key fingerprints of logins need VERBOSE) and the banner."""
    observed = {
        "loglevel": settings.get("loglevel"),
        "banner": settings.get("banner"),
        "banner_bytes": banner_size,
    }
    problems = []
    wanted = params["log_level"].upper()
    if str(observed["loglevel"]).upper() != wanted:
        problems.append(f"LogLevel {observed['loglevel']} (expected {wanted})")
    if observed["banner"] != params["banner"]:
        problems.append(f"Banner {observed['banner']} (expected {params['banner']})")
    elif not banner_size:
        problems.append(f"the banner file {params['banner']} is missing or empty")
    if problems:
        return "fail", observed, "; ".join(problems)
    return "pass", observed, f"LogLevel {wanted}, banner {params['banner']} ({banner_size} bytes)"


def assess_host_keys(keys: list[dict[str, Any]], params: dict[str, Any]) -> tuple[str, Any, str]:
    """SSH-08: sshd serves only allowed key types, RSA at least rsa_min_bits."""
    allowed = {KEY_TYPES[t] for t in params["host_key_types"]}
    problems = []
    for key in keys:
        if key.get("error"):
            problems.append(f"{key['path']}: {key['error']}")
        elif key["type"] not in allowed:
            problems.append(
                f"{key['path']} is {key['type']} (allowed: {', '.join(sorted(allowed))})"
            )
        elif key["type"] == "RSA" and key["bits"] < params["rsa_min_bits"]:
            problems.append(f"{key['path']} is RSA {key['bits']} bits (< {params['rsa_min_bits']})")
    if not keys:
        problems.append("sshd serves no host key")
    if problems:
        return "fail", keys, "; ".join(problems)
    return (
        "pass",
        keys,
        "host keys " + ", ".join(f"{k['type']} {k['bits']}" for k in keys),
    )


# ---------------------------------------------------------------- reading the host
def _key_info(module: Any, keygen: str | None, path: str) -> dict[str, Any]:
    public = path + ".pub" if os.path.exists(path + ".pub") else path
    if keygen is None:
        return {"path": path, "error": "ssh-keygen not found"}
    rc, out, err = run(module, [keygen, "-lf", public])
    info = parse_keygen(out) if rc == 0 else None
    if info is None:
        first = (err.strip().splitlines() or [out.strip()])[0]
        return {"path": path, "error": f"ssh-keygen -lf {public} exited {rc}: {first}"}
    return {"path": path, **info}


def verify(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Read sshd's effective settings once, the unit, the host keys; one result per check."""
    props, unit_error = read_unit(module, params["service"])
    sshd, sshd_missing = find_binary(module, params["sshd"])
    keygen, _ = find_binary(module, params["ssh_keygen"])
    spec = f"user={params['match_user']},host={params['match_host']},addr={params['match_addr']}"
    settings: dict[str, Any] | None = None
    sshd_error = sshd_missing
    if sshd:
        argv = [sshd, "-T", "-f", params["config_path"], "-C", spec]
        rc, out, err = run(module, argv)
        if rc == 0:
            settings = parse_sshd_t(out)
        else:
            first = (err.strip().splitlines() or [""])[-1]
            sshd_error = f"`sshd -T -f {params['config_path']} -C {spec}` exited {rc}: {first}"

    # SSH-01: the daemon runs, starts at boot, and its configuration is valid.
    unit = assess_unit(props) if props is not None else None
    problems = list(unit["problems"]) if unit else [f"service {params['service']}: {unit_error}"]
    if settings is None:
        problems.append(f"configuration not valid: {sshd_error}")
    observed_01 = {"unit": unit["observed"] if unit else None, "config_valid": settings is not None}
    checks = [
        make_check(
            "SSH-01",
            "fail" if problems else "pass",
            observed_01,
            {"active": "active", "enabled": "enabled", "config_valid": True},
            "; ".join(problems)
            if problems
            else f"{params['service']} running and enabled, {params['config_path']} valid",
        )
    ]
    expected_forwarding = {**FORWARDING_DEFAULTS, **params["forwarding"]}
    keys: list[dict[str, Any]] = []
    if settings is None:
        why = f"sshd's effective settings could not be read: {sshd_error}"
        checks += [make_check(cid, "error", None, None, why) for cid in CHECK_IDS[1:]]
    else:
        banner = settings.get("banner", "none")
        banner_size = os.path.getsize(banner) if os.path.isfile(banner) else None
        keys = [_key_info(module, keygen, p) for p in settings.get("hostkey", [])]
        expected: dict[str, Any] = {
            "SSH-02": {k: params[k] for k in ALGORITHM_KEYS},
            "SSH-03": expected_forwarding,
            "SSH-04": {
                k: params[k]
                for k in (
                    "max_auth_tries",
                    "login_grace_time",
                    "permit_root_login",
                    "password_authentication",
                )
            },
            "SSH-05": {
                "clientaliveinterval": params["client_alive_interval"],
                "clientalivecountmax": params["client_alive_count_max"],
            },
            "SSH-06": sorted(params["allow_groups"]),
            "SSH-07": {"loglevel": params["log_level"].upper(), "banner": params["banner"]},
            "SSH-08": {"types": params["host_key_types"], "rsa_min_bits": params["rsa_min_bits"]},
        }
        assessed = {
            "SSH-02": assess_crypto(settings, params),
            "SSH-03": assess_equal(settings, expected_forwarding, "forwarding"),
            "SSH-04": assess_auth(settings, params),
            "SSH-05": assess_idle(settings, params),
            "SSH-06": assess_groups(settings, params),
            "SSH-07": assess_logging(settings, params, banner_size),
            "SSH-08": assess_host_keys(keys, params),
        }
        for cid in CHECK_IDS[1:]:
            result, observed, message = assessed[cid]
            checks.append(make_check(cid, result, observed, expected[cid], message))
    errors = {"unit": unit_error, "sshd": sshd_error if settings is None else None}
    return {
        "checks": checks,
        "settings": settings,
        "host_keys": keys,
        "unit": unit["observed"] if unit else None,
        "errors": {k: v for k, v in errors.items() if v},
        "observations": [],
    }
