# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The AUD family's verification (AUD-01 .. AUD-07), shared by the soc2_auditd module, the
one-pass soc2_verify module, and the role's planner and loader (which use the same host reads
and the same desired rules).

One round trip reads: ``auditctl -v``, ``-s`` and ``-l``; the syscall tables (``ausyscall
<arch> --dump``, or libaudit when the auditd package is not installed yet); the unit state;
every file in rules.d, the compiled audit.rules and auditd.conf; /proc/self/mounts and the log
directory's file system. The desired rules are worked out on the host from the rule records
(soc2_auditd_rules.build), so setuid programs installed since the last converge show up as
missing rules.

Kernel-level checks (AUD-02, AUD-03, AUD-06) need audit netlink. The kernel answers it only in
the initial PID and user namespace: in a container ``auditctl -s`` fails with "Operation not
permitted" (EPERM). Those checks are then ``not_applicable`` with that reason, and so are
AUD-01 (auditd cannot run there; an enabled unit is still required, a disabled one fails) and
AUD-07 (no audit log is written there). Any other failure to read is ``error``. File-level
checks (AUD-04, AUD-05) are assessed everywhere.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from ansible.module_utils.soc2_auditctl import (
    KNOWN_MACHINES,
    NATIVE_TABLES,
    Context,
    Rule,
    augenrules_order,
    canonical,
    canonical_rules,
    compare,
    control_settings,
    kernel_refused,
    libaudit_tables,
    listing_rules,
    merge_rules_files,
    parse_conf,
    parse_status,
    parse_syscall_dump,
    parse_text,
)
from ansible.module_utils.soc2_auditd_rules import (
    ARCHES,
    DEFAULT_EXCLUDE_FSTYPES,
    DEFAULT_FILES,
    RECORD_SPEC,
    WATCH_STYLES,
    build,
    discover_privileged,
    expected_conf,
    parse_mounts,
    same_conf_value,
)
from ansible.module_utils.soc2_command import find_binary, run
from ansible.module_utils.soc2_results import make_check

# The family interface (plugins/module_utils/soc2_family.py) the runner, soc2_verify and the
# catalog check rely on: FAMILY, CHECK_IDS, ARGUMENT_SPEC, validate(), verify().
FAMILY = "AUD"
CHECK_IDS: tuple[str, ...] = (
    "AUD-01",
    "AUD-02",
    "AUD-03",
    "AUD-04",
    "AUD-05",
    "AUD-06",
    "AUD-07",
)

PRIVILEGED_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": True},
    "key": {"type": "str", "default": "soc2-cc6.3-privileged-cmd"},
    "filters": {"type": "list", "elements": "str", "default": ["auid>=1000", "auid!=unset"]},
    "roots": {"type": "list", "elements": "str", "default": ["/"]},
    "exclude_paths": {
        "type": "list",
        "elements": "str",
        "default": ["/proc", "/sys", "/dev", "/run", "/var/lib/containers", "/var/lib/docker"],
    },
    "exclude_fstypes": {
        "type": "list",
        "elements": "str",
        "default": list(DEFAULT_EXCLUDE_FSTYPES),
    },
    "paths": {"type": "list", "elements": "str", "default": []},
}
SETTINGS_SPEC: dict[str, dict[str, Any]] = {
    "backlog_limit": {"type": "int", "default": 8192},
    "backlog_wait_time": {"type": "int", "default": 60000},
    "failure_mode": {"type": "int", "choices": [0, 1, 2], "default": 1},
    "rate_limit": {"type": "int", "default": 0},
    "immutable": {"type": "bool", "default": False},
    "loginuid_immutable": {"type": "bool", "default": False},
}
FILES_SPEC: dict[str, dict[str, Any]] = {
    role: {"type": "str", "default": name} for role, name in DEFAULT_FILES.items()
}
LOG_SPEC: dict[str, dict[str, Any]] = {
    "enabled": {"type": "bool", "default": True},
    "own_filesystem": {"type": "bool", "default": True},
    "min_free_mb": {"type": "int", "default": 1024},
    "min_free_percent": {"type": "int", "default": 10},
    "result": {"type": "str", "choices": ["at_risk", "fail"], "default": "at_risk"},
}
ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "rules": {"type": "list", "elements": "dict", "default": [], "options": RECORD_SPEC},
    "arches": {"type": "list", "elements": "str", "default": list(ARCHES)},
    "watch_style": {"type": "str", "choices": list(WATCH_STYLES), "default": "watch"},
    "privileged": {"type": "dict", "options": PRIVILEGED_SPEC, "apply_defaults": True},
    "settings": {"type": "dict", "options": SETTINGS_SPEC, "apply_defaults": True},
    "rules_dir": {"type": "path", "default": "/etc/audit/rules.d"},
    "rules_file": {"type": "path", "default": "/etc/audit/audit.rules"},
    "files": {"type": "dict", "options": FILES_SPEC, "apply_defaults": True},
    "purge_unmanaged": {"type": "bool", "default": True},
    "keep_files": {"type": "list", "elements": "str", "default": []},
    "config_path": {"type": "path", "default": "/etc/audit/auditd.conf"},
    "config": {"type": "dict", "default": {}},
    "major": {"type": "int", "default": 0},
    "service": {"type": "str", "default": "auditd"},
    "service_manager": {"type": "str", "choices": ["systemd", "sysvinit"], "default": "systemd"},
    "max_lost": {"type": "int", "default": 0},
    "backlog_warn_ratio": {"type": "float", "default": 0.8},
    "log_partition": {"type": "dict", "options": LOG_SPEC, "apply_defaults": True},
    "auditctl": {"type": "str", "default": "auditctl"},
    "ausyscall": {"type": "str", "default": "ausyscall"},
}

REFUSED = (
    "the kernel refuses audit netlink from this PID/user namespace (auditctl -s: Operation not "
    "permitted), as it does in containers; the kernel's audit belongs to its host"
)


def validate(params: Mapping[str, Any]) -> list[str]:
    """Parameter problems that need no host (record shapes are checked again by build())."""
    problems: list[str] = []
    for arch in params["arches"]:
        if arch not in ARCHES:
            problems.append(f"arches: {arch!r} must be b64 or b32")
    settings = params["settings"]
    if settings["backlog_limit"] < 1:
        problems.append("settings.backlog_limit must be at least 1")
    # auditctl(8): --backlog_wait_time must be >= 0 and < 10 times the default (60 * HZ).
    if not 0 <= settings["backlog_wait_time"] < 600000:
        problems.append("settings.backlog_wait_time must be 0 .. 599999 (kernel ticks)")
    if settings["rate_limit"] < 0:
        problems.append("settings.rate_limit must not be negative")
    if params["max_lost"] < 0:
        problems.append("max_lost must not be negative")
    if not 0 < params["backlog_warn_ratio"] <= 1:
        problems.append("backlog_warn_ratio must be above 0 and at most 1")
    names = list(params["files"].values())
    if len(set(names)) != len(names):
        problems.append("files: two roles share one file name")
    for name in names:
        if not name.endswith(".rules") or "/" in name:
            problems.append(f"files: {name!r} must be a plain name ending in .rules")
    for path in params["privileged"]["roots"] + params["privileged"]["paths"]:
        if not path.startswith("/"):
            problems.append(f"privileged: {path!r} is not an absolute path")
    log = params["log_partition"]
    if log["min_free_mb"] < 0 or not 0 <= log["min_free_percent"] <= 100:
        problems.append("log_partition: min_free_mb >= 0 and min_free_percent 0..100")
    return problems


# ---------------------------------------------------------------- reading the host


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def _dump_tables(module: Any, ausyscall: str, names: Iterable[str]) -> dict[str, dict[str, int]]:
    """``ausyscall <name> --dump`` per arch or machine name: the tables it could print."""
    tables: dict[str, dict[str, int]] = {}
    for name in names:
        rc, out, _ = run(module, [ausyscall, name, "--dump"])
        if rc == 0:
            try:
                tables[name] = parse_syscall_dump(out)[1]
            except ValueError:
                continue
    return tables


class _OnDemand(Mapping[str, dict[str, int]]):
    """Every machine's syscall table, dumped the first time it is read: only a rule naming a
    syscall the host's own tables lack needs them (soc2_auditd_rules.syscall_problems), and
    nine ausyscall runs were most of the AUD verifier's time on a host (docs/scale.md)."""

    def __init__(self, load: Callable[[], dict[str, dict[str, int]]]) -> None:
        self._load = load
        self._tables: dict[str, dict[str, int]] | None = None

    def _all(self) -> dict[str, dict[str, int]]:
        if self._tables is None:
            self._tables = self._load()
        return self._tables

    def __getitem__(self, key: str) -> dict[str, int]:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def read_tables(module: Any, ausyscall: str | None) -> dict[str, Any]:
    """The host's b64/b32 tables and every machine's table (for "exists elsewhere")."""
    host: dict[str, dict[str, int]] = {}
    machines: Mapping[str, dict[str, int]] = {}
    source = None
    if ausyscall:
        host = _dump_tables(module, ausyscall, ARCHES)
        machines = _OnDemand(lambda: _dump_tables(module, ausyscall, KNOWN_MACHINES))
        source = "ausyscall" if host else None
    if not host:
        machines = libaudit_tables(KNOWN_MACHINES)
        native = NATIVE_TABLES.get(os.uname().machine)
        if machines and native:
            host = {"b64": machines.get(native[0], {})}
            if native[1] and machines.get(native[1]):
                host["b32"] = machines[native[1]]
            host = {k: v for k, v in host.items() if v}
            source = "libaudit" if host else None
    return {"host": host, "machines": machines, "source": source}


def read_version(module: Any, auditctl: str | None) -> tuple[str | None, int | None]:
    if not auditctl:
        return None, None
    rc, out, err = run(module, [auditctl, "-v"])
    match = re.search(r"version\s+([0-9]+)\.([0-9.]+)", out + err)
    if rc != 0 or not match:
        return None, None
    return f"{match.group(1)}.{match.group(2)}", int(match.group(1))


def read_kernel(module: Any, auditctl: str | None) -> dict[str, Any]:
    """``auditctl -s`` and ``auditctl -l``: status, listing, whether the kernel refused."""
    facts: dict[str, Any] = {
        "status": None,
        "listing": None,
        "refused": False,
        "error": None,
    }
    if not auditctl:
        facts["error"] = "auditctl not found (the auditd package is not installed)"
        return facts
    rc, out, err = run(module, [auditctl, "-s"])
    if rc != 0:
        if kernel_refused(err):
            facts["refused"] = True
        facts["error"] = f"`auditctl -s` exited {rc}: {_first_line(err) or _first_line(out)}"
        return facts
    try:
        facts["status"] = parse_status(out)
    except ValueError as exc:
        facts["error"] = f"cannot read `auditctl -s`: {exc}"
        return facts
    rc, out, err = run(module, [auditctl, "-l"])
    if rc != 0:
        facts["error"] = f"`auditctl -l` exited {rc}: {_first_line(err) or _first_line(out)}"
        return facts
    facts["listing"] = out
    return facts


def _read(path: str) -> tuple[str | None, str | None]:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(), None
    except OSError as exc:
        return None, f"{path}: {exc.strerror}"


def read_rules_dir(rules_dir: str) -> dict[str, Any]:
    facts: dict[str, Any] = {"files": {}, "order": [], "other": [], "error": None}
    try:
        names = sorted(os.listdir(rules_dir))
    except OSError as exc:
        facts["error"] = f"{rules_dir}: {exc.strerror}"
        return facts
    facts["order"] = augenrules_order(names)
    facts["other"] = [n for n in names if not n.endswith(".rules")]
    for name in facts["order"]:
        text, why = _read(os.path.join(rules_dir, name))
        facts["files"][name] = text
        if why:
            facts["error"] = why
    return facts


def read_service(module: Any, name: str, manager: str) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "manager": manager,
        "active": None,
        "enabled": None,
        "rules_unit": None,
        "error": None,
    }
    if manager == "sysvinit":
        script = f"/etc/init.d/{name}"
        if not os.path.exists(script):
            facts["error"] = f"{script} does not exist"
            return facts
        facts["enabled"] = "enabled" if glob.glob(f"/etc/rc[2345].d/S*{name}") else "disabled"
        pid = None
        for pidfile in (f"/run/{name}.pid", f"/var/run/{name}.pid"):
            text, _ = _read(pidfile)
            if text and text.strip().isdigit():
                pid = int(text.strip())
                break
        comm, _ = _read(f"/proc/{pid}/comm") if pid else (None, None)
        facts["active"] = "active" if comm and comm.strip() == name else "inactive"
        facts["pid"] = pid
        return facts
    systemctl, _ = find_binary(module, "systemctl")
    if not systemctl:
        facts["error"] = "systemctl not found"
        return facts
    units = [f"{name}.service", "audit-rules.service"]
    props = "--property=Id,LoadState,ActiveState,SubState,UnitFileState"
    rc, out, err = run(module, [systemctl, "show", props, *units])
    blocks = [b for b in out.strip().split("\n\n") if b.strip()]
    parsed = []
    for block in blocks:
        parsed.append(dict(line.split("=", 1) for line in block.splitlines() if "=" in line))
    if rc != 0 or len(parsed) != len(units):
        facts["error"] = f"`systemctl show {' '.join(units)}` exited {rc}: {_first_line(err)}"
        return facts
    main, rules = parsed
    if main.get("LoadState") == "not-found":
        facts["active"], facts["enabled"] = "inactive", "not-found"
        return facts
    facts["active"] = main.get("ActiveState")
    facts["sub"] = main.get("SubState")
    facts["enabled"] = main.get("UnitFileState")
    if rules.get("LoadState") == "loaded":
        facts["rules_unit"] = rules.get("UnitFileState")
    return facts


def read_log_dir(path: str) -> dict[str, Any]:
    facts: dict[str, Any] = {"path": path, "exists": os.path.isdir(path), "error": None}
    if not facts["exists"]:
        return facts
    try:
        vfs = os.statvfs(path)
    except OSError as exc:
        facts["error"] = f"statvfs {path}: {exc.strerror}"
        return facts
    facts["own_filesystem"] = os.path.ismount(path)
    facts["size_bytes"] = vfs.f_blocks * vfs.f_frsize
    facts["free_bytes"] = vfs.f_bavail * vfs.f_frsize
    facts["free_percent"] = round(100.0 * vfs.f_bavail / vfs.f_blocks, 2) if vfs.f_blocks else 0.0
    return facts


def host_context(tables: Mapping[str, Any], major: int | None) -> Context:
    native = "b64" if "b64" in tables["host"] else "b32"
    return Context(tables=tables["host"], native=native, major=major or 3)


def desired_rules(
    params: Mapping[str, Any], tables: Mapping[str, Any], ctx: Context, mounts_text: str
) -> dict[str, Any]:
    """The rules the records ask for on this host (soc2_auditd_rules.build) plus what was
    discovered (setuid/setgid programs)."""
    priv = params["privileged"]
    privileged: list[str] = []
    skipped: list[str] = []
    if priv["enabled"]:
        if priv["paths"]:
            privileged = sorted(set(priv["paths"]))
        else:
            found = discover_privileged(
                priv["roots"],
                priv["exclude_paths"],
                parse_mounts(mounts_text),
                priv["exclude_fstypes"],
            )
            privileged, skipped = found["paths"], found["skipped"]
    if not tables["host"]:
        return {
            "errors": [
                "no syscall tables on this host: neither ausyscall (package auditd) nor "
                "libaudit (package libaudit1) could be used"
            ],
            "warnings": [],
            "groups": {},
            "rules": [],
            "desired": [],
            "privileged": privileged,
        }
    out = build(
        params["rules"],
        arches=[a for a in params["arches"] if a in tables["host"]] or ["b64"],
        host_tables=tables["host"],
        all_tables=tables["machines"],
        watch_style=params["watch_style"],
        ctx=ctx,
        privileged=privileged,
        privileged_key=priv["key"],
        privileged_filters=priv["filters"],
    )
    missing_arches = [a for a in params["arches"] if a not in tables["host"]]
    if missing_arches:
        out["warnings"].append(
            f"no {', '.join(missing_arches)} syscall table on this host: no rules for it"
        )
    out["privileged"] = privileged
    out["privileged_skipped"] = skipped
    return out


def read_host(module: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the AUD checks and the role's planner need, in one pass."""
    auditctl, _ = find_binary(module, params["auditctl"])
    ausyscall, _ = find_binary(module, params["ausyscall"])
    version, major = read_version(module, auditctl)
    tables = read_tables(module, ausyscall)
    mounts_text, _ = _read("/proc/self/mounts")
    major = major or params["major"] or 3
    ctx = host_context(tables, major)
    return {
        "auditctl": auditctl,
        "version": version,
        "major": major,
        "tables": tables,
        "ctx": ctx,
        "mounts": mounts_text or "",
        "desired": desired_rules(params, tables, ctx, mounts_text or ""),
    }


# ---------------------------------------------------------------- checks


def check_service(service: Mapping[str, Any], kernel: Mapping[str, Any]) -> dict[str, Any]:
    cid = "AUD-01"
    expected = {"active": "active", "enabled": "enabled", "kernel_pid": "non-zero"}
    status = kernel.get("status") or {}
    observed = {
        "manager": service["manager"],
        "active": service.get("active"),
        "enabled": service.get("enabled"),
        "rules_unit": service.get("rules_unit"),
        "kernel_pid": status.get("pid"),
    }
    if service.get("error"):
        return make_check(
            cid, "error", observed, expected, f"cannot read the unit: {service['error']}"
        )
    enabled_ok = service.get("enabled") in ("enabled", "static", "enabled-runtime")
    rules_ok = service.get("rules_unit") in (None, "enabled", "static")
    if kernel.get("refused"):
        if not enabled_ok or not rules_ok:
            return make_check(
                cid,
                "fail",
                observed,
                expected,
                f"auditd is not enabled at boot ({service.get('enabled')}); and auditd cannot "
                f"run here: {REFUSED}",
            )
        return make_check(
            cid,
            "not_applicable",
            observed,
            expected,
            f"auditd is enabled but cannot run here: {REFUSED}",
        )
    problems = []
    if service.get("active") != "active":
        problems.append(f"auditd is {service.get('active')}")
    if not enabled_ok:
        problems.append(f"auditd is {service.get('enabled')} at boot, not enabled")
    if not rules_ok:
        problems.append(f"audit-rules.service is {service.get('rules_unit')}, not enabled")
    if kernel.get("status") is not None and not status.get("pid"):
        problems.append("no audit daemon is registered with the kernel (auditctl -s: pid 0)")
    if problems:
        return make_check(cid, "fail", observed, expected, "; ".join(problems))
    return make_check(
        cid,
        "pass",
        observed,
        expected,
        f"auditd active and enabled, registered with the kernel as pid {status.get('pid')}",
    )


def expected_kernel(settings: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "enabled": 2 if settings["immutable"] else 1,
        "failure": settings["failure_mode"],
        "backlog_limit": settings["backlog_limit"],
        "backlog_wait_time": settings["backlog_wait_time"],
        "rate_limit": settings["rate_limit"],
    }
    if settings["loginuid_immutable"]:
        out["loginuid_immutable"] = 1
    return out


def check_kernel(kernel: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    cid = "AUD-02"
    expected = expected_kernel(settings)
    if kernel.get("refused"):
        return make_check(cid, "not_applicable", None, expected, f"not readable here: {REFUSED}")
    if kernel.get("status") is None:
        return make_check(cid, "error", None, expected, kernel.get("error") or "no status")
    status = kernel["status"]
    observed = {k: status.get(k) for k in expected}
    wrong = [f"{k} {observed[k]} (want {v})" for k, v in expected.items() if observed[k] != v]
    if status.get("enabled") == 0:
        return make_check(
            cid, "fail", observed, expected, "kernel auditing is disabled (enabled 0)"
        )
    if wrong:
        extra = ""
        if status.get("enabled") == 2 and expected["enabled"] != 2:
            extra = " (the kernel is immutable: settings change at the next boot)"
        return make_check(cid, "fail", observed, expected, "; ".join(wrong) + extra)
    mode = "immutable (enabled 2)" if status.get("enabled") == 2 else "enabled"
    return make_check(
        cid,
        "pass",
        observed,
        expected,
        f"kernel auditing {mode}, backlog limit {status.get('backlog_limit')}, "
        f"failure mode {status.get('failure')}",
    )


def _rules_summary(result: Mapping[str, Any], limit: int = 20) -> str:
    parts = []
    if result["missing"]:
        shown = result["missing"][:limit]
        parts.append(f"{len(result['missing'])} missing: " + " | ".join(shown))
    if result["extra"]:
        shown = result["extra"][:limit]
        parts.append(f"{len(result['extra'])} extra: " + " | ".join(shown))
    if result.get("order_differs"):
        parts.append("same rules in another order (first match wins: order matters)")
    return "; ".join(parts)


def check_loaded(
    kernel: Mapping[str, Any],
    desired: Mapping[str, Any],
    want: list[str],
    ctx: Context,
) -> dict[str, Any]:
    cid = "AUD-03"
    if kernel.get("refused"):
        return make_check(cid, "not_applicable", None, None, f"not readable here: {REFUSED}")
    if desired.get("errors"):
        return make_check(
            cid, "error", None, None, "desired rules unknown: " + "; ".join(desired["errors"])
        )
    if kernel.get("listing") is None:
        return make_check(cid, "error", None, None, kernel.get("error") or "no listing")
    have, unparsed = listing_rules(kernel["listing"], ctx)
    result = compare(want, have)
    observed = {
        "loaded": len(have),
        "missing": result["missing"],
        "extra": result["extra"],
        "order_differs": result["order_differs"],
        "unparsed": unparsed,
    }
    expected = {"rules": len(want)}
    if result["equal"]:
        return make_check(
            cid, "pass", observed, expected, f"the kernel holds the {len(want)} desired rules"
        )
    message = "loaded rules differ from the desired ones: " + _rules_summary(result)
    if (kernel.get("status") or {}).get("enabled") == 2:
        message += " (the kernel is immutable: the rules on disk load at the next boot)"
    return make_check(cid, "fail", observed, expected, message)


def foreign_rules(
    params: Mapping[str, Any], rules_dir: Mapping[str, Any], ctx: Context
) -> dict[str, list[Rule]]:
    """Rules of the rules.d files the role does not manage but keeps (all of them with
    purge_unmanaged off, else those in keep_files); lines that cannot be read are left out
    (AUD-04 lists them)."""
    managed = set(params["files"].values())
    out: dict[str, list[Rule]] = {}
    for name in rules_dir.get("order") or []:
        if name in managed or (params["purge_unmanaged"] and name not in params["keep_files"]):
            continue
        rules, _, _ = parse_text(rules_dir["files"].get(name) or "", isdir=ctx.isdir)
        kept = []
        for rule in rules:
            try:
                canonical(rule, ctx)
            except ValueError:
                continue
            kept.append(rule)
        out[name] = kept
    return out


def expected_load(
    params: Mapping[str, Any],
    desired: Mapping[str, Any],
    foreign: Mapping[str, list[Rule]],
    ctx: Context,
) -> list[str]:
    """The listing the kernel should show: the managed files' rules (and accepted foreign
    files' rules) in the order augenrules reads the files, as auditctl -l prints them."""
    files = params["files"]
    by_group = desired.get("by_group") or {}
    sequence: dict[str, list[Rule]] = {
        files[group]: list(by_group.get(group) or [])
        for group in ("exclusions", "main", "privileged")
    }
    sequence.update(foreign)
    rules = [rule for name in augenrules_order(sequence) for rule in sequence[name]]
    return [c.text for c in canonical_rules(rules, ctx)]


def assess_disk(
    params: Mapping[str, Any],
    rules_dir: Mapping[str, Any],
    compiled: tuple[str | None, str | None],
    desired: Mapping[str, Any],
    want: list[str],
    ctx: Context,
) -> dict[str, Any]:
    """AUD-04: the rules.d files and the compiled audit.rules hold the desired rules."""
    cid = "AUD-04"
    managed = set(params["files"].values())
    expected: dict[str, Any] = {"files": sorted(managed)}
    if rules_dir.get("error") and not rules_dir.get("order"):
        return make_check(cid, "fail", None, expected, rules_dir["error"])
    if desired.get("errors"):
        return make_check(
            cid, "error", None, expected, "desired rules unknown: " + "; ".join(desired["errors"])
        )
    order = rules_dir["order"]
    files = rules_dir["files"]
    unmanaged = [n for n in order if n not in managed and n not in params["keep_files"]]
    absent = sorted(managed - set(order))
    merged = merge_rules_files([(n, files.get(n) or "") for n in order])
    rules, controls, errors = parse_text("\n".join(merged), isdir=ctx.isdir)
    try:
        have = [c.text for c in canonical_rules(rules, ctx)]
    except ValueError as exc:
        have = []
        errors.append(str(exc))
    result = compare(want, have)
    settings = params["settings"]
    want_controls = {
        "delete_all": True,
        "backlog_limit": settings["backlog_limit"],
        "failure": settings["failure_mode"],
        "backlog_wait_time": settings["backlog_wait_time"],
        "enabled": 2 if settings["immutable"] else 1,
    }
    if settings["rate_limit"]:
        want_controls["rate_limit"] = settings["rate_limit"]
    if settings["loginuid_immutable"]:
        want_controls["loginuid_immutable"] = 1
    have_controls = control_settings(controls)
    wrong_controls = {
        k: have_controls.get(k) for k, v in want_controls.items() if have_controls.get(k) != v
    }
    text, why = compiled
    compiled_lines = None
    stale = False
    if text is not None:
        compiled_lines = [
            ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")
        ]
        stale = compiled_lines != [ln.strip() for ln in merged if ln.strip()]
    observed = {
        "files": order,
        "unmanaged": unmanaged,
        "missing_files": absent,
        "missing": result["missing"],
        "extra": result["extra"],
        "order_differs": result["order_differs"],
        "unparsed": errors,
        "settings": have_controls,
        "compiled_current": None if text is None else not stale,
    }
    expected["settings"] = want_controls
    expected["rules"] = len(want)
    problems = []
    if absent:
        problems.append("missing files: " + ", ".join(absent))
    if unmanaged and params["purge_unmanaged"]:
        problems.append("unmanaged files: " + ", ".join(unmanaged))
    if not result["equal"]:
        problems.append(_rules_summary(result))
    if errors:
        problems.append("lines auditctl would refuse: " + " | ".join(errors[:10]))
    if wrong_controls:
        problems.append(f"settings differ: {wrong_controls} (want {want_controls})")
    if text is None:
        problems.append(f"no compiled rules file ({why})")
    elif stale:
        problems.append(f"{params['rules_file']} is not the merge of rules.d (run augenrules)")
    if problems:
        return make_check(cid, "fail", observed, expected, "; ".join(problems))
    return make_check(
        cid,
        "pass",
        observed,
        expected,
        f"{len(order)} rules files and {params['rules_file']} hold the {len(want)} desired rules",
    )


def check_conf(
    params: Mapping[str, Any], text: str | None, why: str | None, major: int
) -> dict[str, Any]:
    cid = "AUD-05"
    if not params["config"]:
        return make_check(cid, "not_applicable", None, None, "no auditd.conf settings requested")
    pairs, problems = expected_conf(params["config"], major)
    expected = dict(pairs)
    if problems:
        return make_check(cid, "error", None, expected, "invalid request: " + "; ".join(problems))
    if text is None:
        return make_check(cid, "fail", None, expected, f"cannot read auditd.conf: {why}")
    have, parse_problems = parse_conf(text)
    wrong = {
        k: have.get(k)
        for k, v in expected.items()
        if k not in have or not same_conf_value(k, v, have[k], major)
    }
    unexpected = sorted(set(have) - set(expected))
    observed = {"settings": have, "different": wrong, "unexpected": unexpected}
    issues = []
    if wrong:
        issues.append(
            "different: " + ", ".join(f"{k}={have.get(k)} (want {expected[k]})" for k in wrong)
        )
    if unexpected:
        issues.append("not requested: " + ", ".join(f"{k}={have[k]}" for k in unexpected))
    if parse_problems:
        issues.append("; ".join(parse_problems))
    if issues:
        return make_check(cid, "fail", observed, expected, "auditd.conf " + "; ".join(issues))
    return make_check(
        cid, "pass", observed, expected, f"auditd.conf holds the {len(expected)} requested settings"
    )


def check_loss(kernel: Mapping[str, Any], max_lost: int, ratio: float) -> dict[str, Any]:
    cid = "AUD-06"
    expected = {"lost": f"<= {max_lost}", "backlog": f"< {ratio:g} x backlog_limit"}
    if kernel.get("refused"):
        return make_check(cid, "not_applicable", None, expected, f"not readable here: {REFUSED}")
    status = kernel.get("status")
    if status is None:
        return make_check(cid, "error", None, expected, kernel.get("error") or "no status")
    lost, backlog, limit = status["lost"], status["backlog"], status["backlog_limit"]
    observed = {
        "lost": lost,
        "backlog": backlog,
        "backlog_limit": limit,
        "backlog_wait_time_actual": status.get("backlog_wait_time_actual"),
    }
    if lost > max_lost:
        return make_check(
            cid,
            "fail",
            observed,
            expected,
            f"the kernel lost {lost} audit records since boot (or the last --reset-lost); "
            f"accepted: {max_lost}",
        )
    if limit and backlog >= limit:
        return make_check(
            cid, "fail", observed, expected, f"backlog {backlog} reached its limit {limit}"
        )
    if limit and backlog >= ratio * limit:
        return make_check(
            cid,
            "at_risk",
            observed,
            expected,
            f"backlog {backlog} is at {100 * backlog / limit:.0f}% of its limit {limit}",
        )
    return make_check(cid, "pass", observed, expected, f"lost {lost}, backlog {backlog} of {limit}")


def check_log_partition(
    log: Mapping[str, Any], opts: Mapping[str, Any], kernel: Mapping[str, Any]
) -> dict[str, Any]:
    cid = "AUD-07"
    expected = {
        "own_filesystem": opts["own_filesystem"],
        "min_free_mb": opts["min_free_mb"],
        "min_free_percent": opts["min_free_percent"],
    }
    observed = {k: log.get(k) for k in ("path", "own_filesystem", "free_bytes", "free_percent")}
    if not opts["enabled"]:
        return make_check(cid, "not_applicable", observed, expected, "log partition check is off")
    if kernel.get("refused"):
        return make_check(
            cid,
            "not_applicable",
            observed,
            expected,
            f"no audit log is written here: {REFUSED}",
        )
    if log.get("error"):
        return make_check(cid, "error", observed, expected, log["error"])
    if not log.get("exists"):
        return make_check(cid, "fail", observed, expected, f"{log['path']} does not exist")
    problems = []
    if opts["own_filesystem"] and not log["own_filesystem"]:
        problems.append(f"{log['path']} is not on its own file system (another writer can fill it)")
    free_mb = log["free_bytes"] / 1048576
    if free_mb < opts["min_free_mb"]:
        problems.append(f"{free_mb:.0f} MB free, want at least {opts['min_free_mb']} MB")
    if log["free_percent"] < opts["min_free_percent"]:
        problems.append(f"{log['free_percent']}% free, want at least {opts['min_free_percent']}%")
    if problems:
        return make_check(cid, opts["result"], observed, expected, "; ".join(problems))
    where = "its own file system" if log["own_filesystem"] else "a shared file system"
    return make_check(
        cid,
        "pass",
        observed,
        expected,
        f"{log['path']} on {where}, {free_mb:.0f} MB ({log['free_percent']}%) free",
    )


def _log_dir(config: Mapping[str, Any]) -> str:
    return os.path.dirname(str(config.get("log_file") or "/var/log/audit/audit.log")) or "/"


def verify(module: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Read the audit state; the module result minus ``changed``."""
    host = read_host(module, params)
    ctx: Context = host["ctx"]
    desired = host["desired"]
    kernel = read_kernel(module, host["auditctl"])
    service = read_service(module, params["service"], params["service_manager"])
    rules_dir = read_rules_dir(params["rules_dir"])
    compiled = _read(params["rules_file"])
    conf_text, conf_why = _read(params["config_path"])
    log = read_log_dir(_log_dir(params["config"]))

    want: list[str] = []
    if not desired.get("errors"):
        want = expected_load(params, desired, foreign_rules(params, rules_dir, ctx), ctx)
    checks = [
        check_service(service, kernel),
        check_kernel(kernel, params["settings"]),
        check_loaded(kernel, desired, want, ctx),
        assess_disk(params, rules_dir, compiled, desired, want, ctx),
        check_conf(params, conf_text, conf_why, host["major"]),
        check_loss(kernel, params["max_lost"], params["backlog_warn_ratio"]),
        check_log_partition(log, params["log_partition"], kernel),
    ]
    status = kernel.get("status") or {}
    observations: list[dict[str, Any]] = []

    def observe(key: str, value: Any) -> None:
        # The control node names the metric of each key (soc2audit/metrics.py).
        if value is not None:
            observations.append({"key": key, "labels": {}, "value": value})

    observe("audit_enabled", status.get("enabled"))
    observe("audit_lost_events", status.get("lost"))
    observe("audit_backlog", status.get("backlog"))
    observe("audit_backlog_limit", status.get("backlog_limit"))
    loaded = next(c for c in checks if c["check_id"] == "AUD-03")["observed"]
    if isinstance(loaded, dict):
        observe("audit_rules_loaded", loaded.get("loaded"))
    if not desired.get("errors"):
        observe("audit_rules_expected", len(want))
    observe("audit_log_free_bytes", log.get("free_bytes"))
    result: dict[str, Any] = {
        "checks": checks,
        "version": host["version"],
        "tables": host["tables"]["source"],
        "kernel": {
            "status": kernel.get("status"),
            "refused": kernel.get("refused"),
            "error": kernel.get("error"),
        },
        "service": service,
        "desired": want,
        "dropped": desired.get("warnings", []),
        "errors": desired.get("errors", []),
        "privileged": desired.get("privileged", []),
        "log": log,
        "observations": observations,
    }
    if kernel.get("listing") is not None and not desired.get("errors"):
        have, _ = listing_rules(kernel["listing"], ctx)
        if have != want:
            result["diff"] = {
                "before_header": "kernel rules (auditctl -l)",
                "after_header": "desired rules",
                "before": "".join(f"{line}\n" for line in have),
                "after": "".join(f"{line}\n" for line in want),
            }
    return result
