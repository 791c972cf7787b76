# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HOST family's ``os`` part (the os_hardening role's parameters): HOST-01 .. HOST-09, each
read from the live state of the host in one module run.

* HOST-01: every managed sysctl's live value (``/proc/sys``) equals the intended one; in a
  container the names the role skips there (``container_skip``: kernel.*, fs.*, the
  non-namespaced net.core ones; the lab shares the machine's kernel) are not read, and the
  message says so.
* HOST-02: core dumps off: no non-zero hard ``core`` limit and a ``* hard core 0`` in
  limits.conf/limits.d, systemd-coredump's effective ``Storage=none`` and ``ProcessSizeMax=0``,
  and (outside a container) ``fs.suid_dumpable`` 0.
* HOST-03: each blacklisted module has ``install <module> /bin/false`` (or ``/bin/true``) and
  ``blacklist <module>`` in /etc/modprobe.d, and (outside a container) is not loaded.
* HOST-04: login.defs and pwquality settings as intended, pam_pwquality in common-password.
* HOST-05: pam_faillock's preauth before and authfail after pam_unix in common-auth, in
  common-account, and faillock.conf as intended.
* HOST-06: the login banner files hold the intended text.
* HOST-07: a login shell gets the intended ``TMOUT``, read-only and exported.
* HOST-08: sensitive files have no permission bit beyond their maximum mode, and their owner
  and group.
* HOST-09: the nftables table's output chain is in the intended egress mode (``accept``:
  policy accept; ``allowlist``: policy drop after established/related), read with
  ``nft -j list ruleset`` (plugins/module_utils/soc2_nft.py).

Each feature the role leaves off (empty or false option) makes its check ``not_applicable``.

A part of the HOST family: its interface (``CHECK_IDS``, ``ARGUMENT_SPEC``, ``validate``,
``verify``) is documented once, in plugins/module_utils/soc2_host_family.py.
"""

from __future__ import annotations

import glob
import grp
import os
import pwd
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible.module_utils.soc2_command import find_binary, run
from ansible.module_utils.soc2_nft import normalise_table, read_live
from ansible.module_utils.soc2_results import make_check

__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "validate", "verify"]

CHECK_IDS: tuple[str, ...] = (
    "HOST-01",
    "HOST-02",
    "HOST-03",
    "HOST-04",
    "HOST-05",
    "HOST-06",
    "HOST-07",
    "HOST-08",
    "HOST-09",
)

CONTAINER_SKIP: tuple[str, ...] = (
    "kernel.",
    "fs.",
    "vm.",
    "user.",
    "dev.",
    "abi.",
    "net.core.bpf_jit_enable",
    "net.core.bpf_jit_harden",
    "net.core.bpf_jit_kallsyms",
    "net.core.bpf_jit_limit",
)
FILE_MODE_SPEC: dict[str, dict[str, Any]] = {
    "path": {"type": "str", "required": True},
    "mode": {"type": "str", "required": True},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
}
ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": False},
    "sysctl": {"type": "dict", "default": {}},
    # Not namespaced: shared with the machine in a container (the role's default list).
    "container_skip": {"type": "list", "elements": "str", "default": list(CONTAINER_SKIP)},
    "coredump": {"type": "bool", "default": False},
    "module_blacklist": {"type": "list", "elements": "str", "default": []},
    "login_defs": {"type": "dict", "default": {}},
    "pwquality": {"type": "dict", "default": {}},
    "faillock": {"type": "dict", "default": {}},
    "banner": {"type": "str", "default": ""},
    "banner_files": {
        "type": "list",
        "elements": "str",
        "default": ["/etc/issue", "/etc/issue.net"],
    },
    "tmout": {"type": "int", "default": 0},
    "file_modes": {
        "type": "list",
        "elements": "dict",
        "options": FILE_MODE_SPEC,
        "default": [],
    },
    "egress_mode": {"type": "str", "default": "", "choices": ["", "accept", "allowlist"]},
    "egress_table": {"type": "str", "default": "soc2_filter"},
    "nft": {"type": "str", "default": "nft"},
}

SYSCTL_NAME_RE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_-]+)+$")
SYSCTL_VALUE_RE = re.compile(r"^-?[0-9]+([ \t]+-?[0-9]+)*$")
MODULE_RE = re.compile(r"^[a-z0-9_-]+$")
LOGIN_DEFS_KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
CONF_KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
OCTAL_RE = re.compile(r"^0?[0-7]{3}$")
NFT_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
# What the role writes for a blacklisted module: loading it runs a command that fails.
FALSE_COMMANDS = ("/bin/false", "/usr/bin/false", "/bin/true", "/usr/bin/true")
LIMITS_FILES = ("/etc/security/limits.conf", "/etc/security/limits.d/*.conf")
COREDUMP_FILES = ("/etc/systemd/coredump.conf", "/etc/systemd/coredump.conf.d/*.conf")
MODPROBE_FILES = ("/etc/modprobe.d/*.conf",)
PWQUALITY_FILES = ("/etc/security/pwquality.conf", "/etc/security/pwquality.conf.d/*.conf")
FAILLOCK_CONF = "/etc/security/faillock.conf"
PAM_DIR = "/etc/pam.d"


def _text(value: Any) -> str:
    """A parameter value as the host writes it: booleans as 0/1, whitespace collapsed."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return " ".join(str(value).split())


# ---------------------------------------------------------------- parameters
def validate(p: Mapping[str, Any]) -> list[str]:
    """Parameter problems that need no host."""
    problems = []
    for name, value in (p.get("sysctl") or {}).items():
        if not SYSCTL_NAME_RE.match(str(name)):
            problems.append(f"sysctl name {name!r} is not a dotted sysctl name")
        if not SYSCTL_VALUE_RE.match(_text(value)):
            problems.append(f"sysctl {name}: value {value!r} is not an integer (or integers)")
    for prefix in p.get("container_skip") or []:
        if not re.match(r"^[a-z0-9_.-]+$", prefix):
            problems.append(f"container_skip entry {prefix!r} is not a sysctl name or prefix")
    for module in p.get("module_blacklist") or []:
        if not MODULE_RE.match(module):
            problems.append(f"module_blacklist entry {module!r} is not a kernel module name")
    for key, value in (p.get("login_defs") or {}).items():
        if not LOGIN_DEFS_KEY_RE.match(str(key)):
            problems.append(f"login_defs key {key!r} is not an upper-case login.defs setting")
        if key == "UMASK" and not OCTAL_RE.match(_text(value)):
            problems.append(f"login_defs UMASK {value!r} is not an octal umask like 027")
    for option in ("pwquality", "faillock"):
        for key, value in (p.get(option) or {}).items():
            if not CONF_KEY_RE.match(str(key)):
                problems.append(f"{option} key {key!r} is not a lower-case setting name")
            if not _text(value) or "\n" in str(value):
                problems.append(f"{option} {key}: value must be one non-empty line")
    for path in p.get("banner_files") or []:
        if not path.startswith("/"):
            problems.append(f"banner_files entry {path!r} must be absolute")
    if (p.get("tmout") or 0) < 0:
        problems.append("tmout must be 0 (off) or a number of seconds")
    for item in p.get("file_modes") or []:
        if not str(item.get("path", "")).startswith("/"):
            problems.append(f"file_modes path {item.get('path')!r} must be absolute")
        if not OCTAL_RE.match(str(item.get("mode", ""))):
            problems.append(
                f"file_modes {item.get('path')}: mode {item.get('mode')!r} is not octal"
            )
    if not NFT_NAME_RE.match(p.get("egress_table") or ""):
        problems.append(f"egress_table {p.get('egress_table')!r} is not an nft identifier")
    return problems


# ---------------------------------------------------------------- reading helpers
def sysctl_path(name: str) -> str:
    return "/proc/sys/" + name.replace(".", "/")


def is_skipped(name: str, prefixes: Iterable[str]) -> bool:
    """Whether a sysctl name is one the role does not set in a container."""
    return any(name == p or (p.endswith(".") and name.startswith(p)) for p in prefixes)


def read_file(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def read_sysctls(names: Iterable[str]) -> dict[str, str | None]:
    """Live values, whitespace collapsed; None where the name does not exist."""
    out: dict[str, str | None] = {}
    for name in names:
        text = read_file(sysctl_path(name))
        out[name] = None if text is None else _text(text)
    return out


def read_files(patterns: Sequence[str]) -> list[tuple[str, str]]:
    """(path, text) of the first pattern (a file) then each glob's files in C order."""
    out = []
    for pattern in patterns:
        paths = sorted(glob.glob(pattern)) if "*" in pattern else [pattern]
        for path in paths:
            text = read_file(path)
            if text is not None:
                out.append((path, text))
    return out


def detect_container(module: Any) -> str:
    """The container technology this host runs in, '' when none."""
    tool, _ = find_binary(module, "systemd-detect-virt")
    if tool:
        rc, out, _err = run(module, [tool, "--container"])
        word = out.strip()
        if rc == 0 and word and word != "none":
            return word
        if rc in (0, 1):
            return ""
    if os.path.exists("/run/.containerenv"):
        return "podman"
    if os.path.exists("/.dockerenv"):
        return "docker"
    return ""


# ---------------------------------------------------------------- HOST-01 sysctl
def assess_sysctl(
    intended: Mapping[str, Any],
    live: Mapping[str, str | None],
    skipped: Sequence[str],
    container: str,
) -> dict[str, Any]:
    if not intended:
        return make_check("HOST-01", "not_applicable", None, None, "no sysctl is managed here")
    expected = {k: _text(v) for k, v in intended.items() if k not in skipped}
    observed = {k: live.get(k) for k in expected}
    wrong = [
        f"{k} is {observed[k]}, not {v}" if observed[k] is not None else f"{k} does not exist"
        for k, v in sorted(expected.items())
        if observed[k] != v
    ]
    note = ""
    if skipped:
        note = (
            f"; not read in a container ({container}: the kernel is the machine's, not this "
            f"host's): {', '.join(sorted(skipped))}"
        )
    if wrong:
        return make_check("HOST-01", "fail", observed, expected, "; ".join(wrong) + note)
    return make_check(
        "HOST-01", "pass", observed, expected, f"{len(expected)} sysctls as intended{note}"
    )


# ---------------------------------------------------------------- HOST-02 core dumps
def parse_limits(files: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """limits.conf lines: {file, domain, type, item, value}."""
    out = []
    for path, text in files:
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) == 4:
                domain, kind, item, value = fields
                out.append(
                    {"file": path, "domain": domain, "type": kind, "item": item, "value": value}
                )
    return out


def parse_ini(files: Sequence[tuple[str, str]], section: str) -> dict[str, str]:
    """systemd-style key=value settings of one section, later files overriding earlier ones."""
    out: dict[str, str] = {}
    for _path, text in files:
        current = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                current = line[1:-1].strip()
            elif current == section and "=" in line:
                key, value = line.split("=", 1)
                out[key.strip()] = value.strip()
    return out


def assess_coredump(
    wanted: bool,
    limits: Sequence[dict[str, str]],
    coredump: Mapping[str, str],
    suid_dumpable: str | None,
    container: str,
) -> dict[str, Any]:
    if not wanted:
        return make_check("HOST-02", "not_applicable", None, None, "core dumps are not managed")
    problems = []
    core = [e for e in limits if e["item"] == "core" and e["type"] in ("hard", "-")]
    if not any(e["domain"] == "*" and e["value"] == "0" for e in core):
        problems.append("no '* hard core 0' in limits.conf or limits.d")
    problems += [
        f"{e['file']} allows {e['domain']} a hard core limit of {e['value']}"
        for e in core
        if e["value"] != "0"
    ]
    if coredump.get("Storage", "external") != "none":
        problems.append(f"systemd-coredump Storage is {coredump.get('Storage', 'external')}")
    if coredump.get("ProcessSizeMax", "unset") != "0":
        problems.append(f"systemd-coredump ProcessSizeMax is {coredump.get('ProcessSizeMax')}")
    observed = {
        "core_limits": [f"{e['domain']} {e['type']} core {e['value']}" for e in core],
        "coredump": {k: coredump.get(k) for k in ("Storage", "ProcessSizeMax")},
        "fs.suid_dumpable": suid_dumpable,
    }
    note = ""
    if container:
        note = f"; fs.suid_dumpable not read in a container ({container})"
    elif suid_dumpable != "0":
        problems.append(f"fs.suid_dumpable is {suid_dumpable}, not 0")
    expected = "* hard core 0, Storage=none, ProcessSizeMax=0, fs.suid_dumpable 0"
    if problems:
        return make_check("HOST-02", "fail", observed, expected, "; ".join(problems) + note)
    return make_check("HOST-02", "pass", observed, expected, "core dumps are off" + note)


# ---------------------------------------------------------------- HOST-03 modules
def _mod(name: str) -> str:
    return name.replace("-", "_")


def parse_modprobe(files: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Per module (dashes as underscores): its install command and whether it is blacklisted."""
    out: dict[str, dict[str, Any]] = {}
    for _path, text in files:
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and fields[0] == "blacklist":
                out.setdefault(_mod(fields[1]), {})["blacklist"] = True
            elif len(fields) >= 3 and fields[0] == "install":
                out.setdefault(_mod(fields[1]), {})["install"] = " ".join(fields[2:])
    return out


def parse_proc_modules(text: str) -> set[str]:
    return {line.split()[0] for line in text.splitlines() if line.strip()}


def assess_modules(
    wanted: Sequence[str],
    modprobe: Mapping[str, Mapping[str, Any]],
    loaded: set[str] | None,
    container: str,
) -> dict[str, Any]:
    if not wanted:
        return make_check("HOST-03", "not_applicable", None, None, "no module is blacklisted")
    problems = []
    observed = {}
    for name in wanted:
        conf = modprobe.get(_mod(name), {})
        install = conf.get("install")
        observed[name] = {"install": install, "blacklist": bool(conf.get("blacklist"))}
        if install not in FALSE_COMMANDS:
            problems.append(f"{name} can be loaded (install {install or 'not overridden'})")
        if not conf.get("blacklist"):
            problems.append(f"{name} is not blacklisted")
        if loaded is not None and _mod(name) in loaded:
            problems.append(f"{name} is loaded")
    note = f"; loaded modules not read in a container ({container})" if loaded is None else ""
    expected = "install <module> /bin/false and blacklist <module>, not loaded"
    if problems:
        return make_check("HOST-03", "fail", observed, expected, "; ".join(problems) + note)
    return make_check(
        "HOST-03", "pass", observed, expected, f"{len(wanted)} modules cannot be loaded{note}"
    )


# ---------------------------------------------------------------- HOST-04 login.defs, pwquality
def parse_login_defs(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split(None, 1)
        if len(fields) == 2:
            out[fields[0]] = fields[1].strip()
    return out


def parse_kv_files(files: Sequence[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    """``key = value`` (or a bare ``key``) settings: every (file, value) per key."""
    out: dict[str, list[tuple[str, str]]] = {}
    for path, text in files:
        for line in text.splitlines():
            body = line.split("#", 1)[0].strip()
            if not body:
                continue
            key, _, value = body.partition("=")
            out.setdefault(key.strip(), []).append((path, _text(value)))
    return out


def _same(key: str, got: str | None, want: Any) -> bool:
    if got is None:
        return False
    if key == "UMASK":
        try:
            return int(got, 8) == int(_text(want), 8)
        except ValueError:
            return False
    return _text(got) == _text(want)


def pam_lines(text: str, kind: str) -> list[dict[str, Any]]:
    """The module lines of one PAM type in a pam.d file (``@include`` not followed)."""
    out = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 3 or fields[0].lstrip("-") != kind:
            continue
        control = fields[1]
        rest = fields[2:]
        if control.startswith("["):  # [success=1 default=ignore] spans fields
            while not control.endswith("]") and rest:
                control += " " + rest.pop(0)
            if not rest:
                continue
        out.append({"control": control, "module": os.path.basename(rest[0]), "args": rest[1:]})
    return out


def assess_login(
    login_defs: Mapping[str, Any],
    live_defs: Mapping[str, str] | None,
    pwquality: Mapping[str, Any],
    pwq_settings: Mapping[str, list[tuple[str, str]]],
    common_password: str | None,
) -> dict[str, Any]:
    if not login_defs and not pwquality:
        return make_check(
            "HOST-04", "not_applicable", None, None, "login.defs and pwquality are not managed"
        )
    problems = []
    observed: dict[str, Any] = {"login.defs": {}, "pwquality": {}}
    if login_defs:
        if live_defs is None:
            problems.append("/etc/login.defs cannot be read")
        for key, want in login_defs.items():
            got = (live_defs or {}).get(key)
            observed["login.defs"][key] = got
            if live_defs is not None and not _same(key, got, want):
                problems.append(f"login.defs {key} is {got}, not {_text(want)}")
    if pwquality:
        for key, want in pwquality.items():
            values = pwq_settings.get(key, [])
            observed["pwquality"][key] = [v for _f, v in values]
            if not values:
                problems.append(f"pwquality {key} is not set")
            problems += [
                f"pwquality {key} is {v} in {f}, not {_text(want)}"
                for f, v in values
                if v != _text(want)
            ]
        modules = [line["module"] for line in pam_lines(common_password or "", "password")]
        observed["common-password"] = modules
        if "pam_pwquality.so" not in modules:
            problems.append("pam_pwquality is not in /etc/pam.d/common-password")
    expected = {"login.defs": dict(login_defs), "pwquality": dict(pwquality)}
    if problems:
        return make_check("HOST-04", "fail", observed, expected, "; ".join(problems))
    return make_check(
        "HOST-04", "pass", observed, expected, "login.defs and password quality as intended"
    )


# ---------------------------------------------------------------- HOST-05 faillock
def assess_faillock(
    wanted: Mapping[str, Any],
    common_auth: str | None,
    common_account: str | None,
    conf: Mapping[str, list[tuple[str, str]]],
) -> dict[str, Any]:
    if not wanted:
        return make_check("HOST-05", "not_applicable", None, None, "no lockout is managed here")
    problems = []
    auth = pam_lines(common_auth or "", "auth")
    names = [f"{a['module']} {' '.join(a['args'])}".strip() for a in auth]
    pre = [
        i for i, a in enumerate(auth) if a["module"] == "pam_faillock.so" and "preauth" in a["args"]
    ]
    fail = [
        i
        for i, a in enumerate(auth)
        if a["module"] == "pam_faillock.so" and "authfail" in a["args"]
    ]
    unix = [i for i, a in enumerate(auth) if a["module"] == "pam_unix.so"]
    if common_auth is None:
        problems.append("/etc/pam.d/common-auth cannot be read")
    elif not unix:
        problems.append("common-auth has no pam_unix")
    else:
        if not pre or pre[0] > unix[0]:
            problems.append("common-auth has no pam_faillock preauth before pam_unix")
        if not fail or fail[-1] < unix[0]:
            problems.append("common-auth has no pam_faillock authfail after pam_unix")
        else:
            # A failed pam_unix must go on to authfail: its control may not end the stack.
            control = auth[unix[0]]["control"]
            if control in ("requisite", "sufficient") or "default=die" in control:
                problems.append(f"pam_unix ({control}) ends the stack before pam_faillock authfail")
    account = [a["module"] for a in pam_lines(common_account or "", "account")]
    if "pam_faillock.so" not in account:
        problems.append("common-account has no pam_faillock (the tally is never reset)")
    settings = {}
    for key, want in wanted.items():
        values = conf.get(key, [])
        # A setting given as an argument on the PAM lines wins over faillock.conf.
        args = [
            arg.split("=", 1)[1]
            for a in auth
            if a["module"] == "pam_faillock.so"
            for arg in a["args"]
            if arg.startswith(f"{key}=")
        ]
        settings[key] = [v for _f, v in values] + args
        if not values and not args:
            problems.append(f"faillock {key} is not set")
        problems += [
            f"faillock {key} is {v}, not {_text(want)}" for v in settings[key] if v != _text(want)
        ]
    observed = {"common-auth": names, "common-account": account, "faillock.conf": settings}
    expected = {"pam": "faillock preauth, pam_unix, faillock authfail", **dict(wanted)}
    if problems:
        return make_check("HOST-05", "fail", observed, expected, "; ".join(problems))
    summary = ", ".join(f"{k}={_text(v)}" for k, v in wanted.items())
    return make_check(
        "HOST-05", "pass", observed, expected, f"pam_faillock locks accounts ({summary})"
    )


# ---------------------------------------------------------------- HOST-06 banner
def assess_banner(text: str, files: Mapping[str, str | None]) -> dict[str, Any]:
    if not text.strip():
        return make_check("HOST-06", "not_applicable", None, None, "no login banner is managed")
    want = text.rstrip()
    problems = []
    for path, got in files.items():
        if got is None:
            problems.append(f"{path} does not exist")
        elif got.rstrip() != want:
            problems.append(f"{path} differs from the banner")
    observed = {path: (None if got is None else got.rstrip()[:200]) for path, got in files.items()}
    if problems:
        return make_check("HOST-06", "fail", observed, want, "; ".join(problems))
    return make_check("HOST-06", "pass", observed, want, f"banner in {', '.join(files)}")


# ---------------------------------------------------------------- HOST-07 idle timeout
TMOUT_DECLARE_RE = re.compile(r"^declare -(\S+) TMOUT=\"?(\d+)\"?$", re.M)
TMOUT_SCRIPT = 'printf "value=%s\\n" "${TMOUT-unset}"; readonly -p; export -p'


def assess_tmout(wanted: int, out: str | None, why: str | None) -> dict[str, Any]:
    if wanted <= 0:
        return make_check("HOST-07", "not_applicable", None, None, "no idle timeout is managed")
    expected = f"TMOUT at most {wanted}, read-only, exported"
    if out is None:
        return make_check("HOST-07", "error", None, expected, why or "no login shell")
    value = re.search(r"^value=(.*)$", out, re.M)
    got = value.group(1) if value else "unset"
    flags = "".join(m.group(1) for m in TMOUT_DECLARE_RE.finditer(out))
    readonly = "r" in flags or bool(re.search(r"^(readonly|export -r) TMOUT", out, re.M))
    exported = "x" in flags or bool(re.search(r"^export TMOUT", out, re.M))
    observed = {"TMOUT": got, "readonly": readonly, "exported": exported}
    problems = []
    if not got.isdigit() or not 0 < int(got) <= wanted:
        problems.append(f"a login shell's TMOUT is {got}")
    if not readonly:
        problems.append("TMOUT is not read-only")
    if not exported:
        problems.append("TMOUT is not exported")
    if problems:
        return make_check("HOST-07", "fail", observed, expected, "; ".join(problems))
    return make_check("HOST-07", "pass", observed, expected, f"idle login shells end after {got} s")


# ---------------------------------------------------------------- HOST-08 file modes
def _name(lookup: Any, ident: int) -> str:
    try:
        return str(lookup(ident)[0])
    except KeyError:
        return str(ident)


def assess_files(items: Sequence[Mapping[str, Any]], stats: Mapping[str, Any]) -> dict[str, Any]:
    """``stats``: path -> {mode (int), owner, group} or None when the file does not exist."""
    if not items:
        return make_check("HOST-08", "not_applicable", None, None, "no file permission is managed")
    problems = []
    observed = {}
    absent = []
    for item in items:
        path = item["path"]
        got = stats.get(path)
        if got is None:
            absent.append(path)
            continue
        observed[path] = f"{got['mode']:04o} {got['owner']}:{got['group']}"
        extra = got["mode"] & ~int(str(item["mode"]), 8) & 0o7777
        if extra:
            problems.append(
                f"{path} is {got['mode']:04o} (bits {extra:04o} beyond {int(item['mode'], 8):04o})"
            )
        want_owner, want_group = item.get("owner") or "root", item.get("group") or "root"
        if got["owner"] != want_owner or got["group"] != want_group:
            problems.append(
                f"{path} is {got['owner']}:{got['group']}, not {want_owner}:{want_group}"
            )
    expected = {i["path"]: f"at most {i['mode']} {i.get('owner')}:{i.get('group')}" for i in items}
    note = f"; absent: {', '.join(absent)}" if absent else ""
    if problems:
        return make_check("HOST-08", "fail", observed, expected, "; ".join(problems) + note)
    return make_check(
        "HOST-08", "pass", observed, expected, f"{len(observed)} sensitive files restricted{note}"
    )


def stat_files(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        try:
            st = os.lstat(item["path"])
        except OSError:
            out[item["path"]] = None
            continue
        out[item["path"]] = {
            "mode": stat.S_IMODE(st.st_mode),
            "owner": _name(pwd.getpwuid, st.st_uid),
            "group": _name(grp.getgrgid, st.st_gid),
        }
    return out


# ---------------------------------------------------------------- HOST-09 egress
def _terminal_verdicts(rules: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for rule in rules:
        for stmt in rule.get("expr") or []:
            if isinstance(stmt, dict):
                out += [k for k in ("accept", "drop", "reject") if k in stmt]
    return out


def assess_egress(
    mode: str, table_name: str, table: Mapping[str, Any] | None, why: str | None
) -> dict[str, Any]:
    if not mode:
        return make_check("HOST-09", "not_applicable", None, None, "the egress mode is not managed")
    expected = {"accept": "output policy accept", "allowlist": "output policy drop"}[mode]
    label = f"inet {table_name}"
    if why is not None:
        return make_check("HOST-09", "error", None, expected, f"cannot read the ruleset: {why}")
    if table is None:
        if mode == "accept":
            return make_check(
                "HOST-09", "pass", None, expected, f"no table {label}: output is not restricted"
            )
        return make_check("HOST-09", "fail", None, expected, f"table {label} is not loaded")
    chain = table["chains"].get("output")
    rules = table["rules"].get("output", [])
    if chain is None or chain.get("hook") != "output":
        return make_check("HOST-09", "fail", None, expected, f"{label} has no output hook chain")
    policy = chain.get("policy", "accept")
    verdicts = _terminal_verdicts(rules)
    comments = [r.get("comment") for r in rules]
    observed = {"policy": policy, "rules": len(rules), "comments": comments}
    if mode == "accept":
        if policy != "accept" or "drop" in verdicts or "reject" in verdicts:
            return make_check(
                "HOST-09",
                "fail",
                observed,
                expected,
                f"{label} output is restricted (policy {policy}) where accept is intended",
            )
        return make_check("HOST-09", "pass", observed, expected, "output accepted, as intended")
    problems = []
    if policy != "drop":
        problems.append(f"output policy is {policy}, not drop")
    if "soc2:established" not in comments:
        problems.append("output has no established/related accept rule")
    if "soc2:loopback" not in comments:
        problems.append("output has no loopback accept rule")
    if problems:
        return make_check("HOST-09", "fail", observed, expected, "; ".join(problems))
    allowed = sum(1 for v in verdicts if v == "accept")
    return make_check(
        "HOST-09",
        "pass",
        observed,
        expected,
        f"output allow-list: policy drop, {allowed} accept rules",
    )


# ---------------------------------------------------------------- the part
def login_shell(module: Any) -> tuple[str | None, str | None]:
    """What a login shell (bash -l, else sh -l) says about TMOUT."""
    for shell in ("bash", "sh"):
        path, _ = find_binary(module, shell)
        if path:
            rc, out, err = run(module, [path, "-l", "-c", TMOUT_SCRIPT])
            if rc == 0:
                return out, None
            return None, f"`{shell} -l` exited {rc}: {err.strip()[:200]}"
    return None, "no shell found"


def verify(module: Any, p: Mapping[str, Any]) -> dict[str, Any]:
    container = detect_container(module)
    intended = dict(p.get("sysctl") or {})
    if p.get("coredump"):
        intended.setdefault("fs.suid_dumpable", 0)
    skip = list(p.get("container_skip") or [])
    skipped = sorted(n for n in intended if container and is_skipped(n, skip))
    live = read_sysctls(n for n in intended if n not in skipped)
    sysctl = {k: v for k, v in (p.get("sysctl") or {}).items()}
    checks = [assess_sysctl(sysctl, live, [n for n in skipped if n in sysctl], container)]

    limits = parse_limits(read_files(LIMITS_FILES))
    coredump = parse_ini(read_files(COREDUMP_FILES), "Coredump")
    suid = None if "fs.suid_dumpable" in skipped else live.get("fs.suid_dumpable")
    checks.append(assess_coredump(bool(p.get("coredump")), limits, coredump, suid, container))

    modprobe = parse_modprobe(read_files(MODPROBE_FILES))
    proc_modules = None if container else read_file("/proc/modules")
    loaded = parse_proc_modules(proc_modules) if proc_modules is not None else None
    checks.append(
        assess_modules(list(p.get("module_blacklist") or []), modprobe, loaded, container)
    )

    defs_text = read_file("/etc/login.defs")
    checks.append(
        assess_login(
            p.get("login_defs") or {},
            parse_login_defs(defs_text) if defs_text is not None else None,
            p.get("pwquality") or {},
            parse_kv_files(read_files(PWQUALITY_FILES)),
            read_file(f"{PAM_DIR}/common-password"),
        )
    )
    checks.append(
        assess_faillock(
            p.get("faillock") or {},
            read_file(f"{PAM_DIR}/common-auth"),
            read_file(f"{PAM_DIR}/common-account"),
            parse_kv_files(read_files((FAILLOCK_CONF,))),
        )
    )
    banner_files = list(p.get("banner_files") or [])
    checks.append(assess_banner(p.get("banner") or "", {f: read_file(f) for f in banner_files}))

    tmout = int(p.get("tmout") or 0)
    out, why = login_shell(module) if tmout > 0 else (None, None)
    checks.append(assess_tmout(tmout, out, why))

    items = list(p.get("file_modes") or [])
    checks.append(assess_files(items, stat_files(items)))

    mode = p.get("egress_mode") or ""
    table, nft_why = None, None
    if mode:
        nft, missing = find_binary(module, p.get("nft") or "nft")
        if nft is None:
            nft_why = missing
            if mode == "accept":  # no nft at all: nothing restricts output
                nft_why = None
        else:
            objs, nft_why = read_live(module, nft)
            if objs is not None:
                table = normalise_table(objs, "inet", p.get("egress_table") or "soc2_filter")
    checks.append(assess_egress(mode, p.get("egress_table") or "soc2_filter", table, nft_why))

    facts = {
        "container": container,
        "sysctl": live,
        "sysctl_skipped": skipped,
    }
    return {"checks": checks, "observations": [], "facts": facts}
