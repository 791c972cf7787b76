# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Audit rules as data, the rules.d files made from them, and auditd.conf per major version.

Shared by the role's planner (``library/soc2_auditd_plan.py``: validates the request and renders
the files before anything changes) and the AUD verifier (``soc2_auditd_family.py``: works out
the same desired rules on the host and compares them with the kernel and the files). Standard
library only.

A rule record (``auditd_rules_*`` in the role) is a dict:

* ``id`` (unique), ``description``, ``key`` (carries the SOC 2 criterion, ``soc2-cc6.1-identity``),
* ``kind``: ``watch`` (file or directory, ``paths`` + ``perms``), ``exe`` (executions of
  ``paths``), ``syscall`` (``syscalls`` on the exit list, or a filter on another ``list``),
* ``arch`` (``b64``/``b32``; syscall rules default to the host's arches), ``filters``
  (``-F`` fields, ``auid>=1000``), ``compare`` (``-C`` pairs, ``euid!=uid``),
* ``action`` (``always``/``never``), ``list`` (``exit``, ``exclude``, ``user``, ``task``,
  ``filesystem``), ``enabled``, ``optional`` (drop quietly when a user, group or watched
  directory does not exist here), ``expensive`` (documentation: a rule that costs on busy hosts).

Never rules and exclude-list rules go to the exclusions file, read before the main rules
(audit is first match wins); discovered setuid/setgid programs go to their own file.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping, Sequence
from fnmatch import fnmatch
from typing import Any

from ansible.module_utils.soc2_auditctl import (
    ACTIONS,
    COMPARE_PAIRS,
    KNOWN_FIELDS,
    LIST_ORDER,
    PERMS,
    Context,
    Rule,
    RuleSyntaxError,
    UnresolvedName,
    canonical,
    canonical_rules,
)

RECORD_KINDS: tuple[str, ...] = ("watch", "syscall", "exe")
ARCHES: tuple[str, ...] = ("b64", "b32")
WATCH_STYLES: tuple[str, ...] = ("watch", "syscall")
DEFAULT_FILES: dict[str, str] = {
    "base": "10-soc2-base.rules",
    "exclusions": "20-soc2-exclusions.rules",
    "main": "30-soc2-main.rules",
    "privileged": "25-soc2-privileged.rules",
    "finalize": "99-soc2-finalize.rules",
}
RECORD_SPEC: dict[str, dict[str, Any]] = {
    "id": {"type": "str", "required": True},
    "description": {"type": "str", "default": ""},
    "key": {"type": "str", "default": ""},
    "kind": {"type": "str", "choices": list(RECORD_KINDS), "required": True},
    "paths": {"type": "list", "elements": "str", "default": []},
    "perms": {"type": "str", "default": ""},
    "syscalls": {"type": "list", "elements": "str", "default": []},
    "arch": {"type": "list", "elements": "str", "default": []},
    "filters": {"type": "list", "elements": "str", "default": []},
    "compare": {"type": "list", "elements": "str", "default": []},
    "action": {"type": "str", "choices": list(ACTIONS), "default": "always"},
    "list": {
        "type": "str",
        "choices": ["exit", "user", "task", "exclude", "filesystem"],
        "default": "exit",
    },
    "enabled": {"type": "bool", "default": True},
    "optional": {"type": "bool", "default": False},
    "expensive": {"type": "bool", "default": False},
    "late": {"type": "bool", "default": False},
}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]*$")
SYSCALL_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
MAX_KEY_LEN = 256
# Pseudo and network file systems never searched for setuid/setgid programs.
DEFAULT_EXCLUDE_FSTYPES: tuple[str, ...] = (
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "cifs",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fuse.*",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nfs",
    "nfs4",
    "nsfs",
    "proc",
    "pstore",
    "securityfs",
    "smb3",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
)


def _paths_ok(paths: Sequence[str]) -> list[str]:
    problems = []
    for path in paths:
        if not path.startswith("/"):
            problems.append(f"path {path!r} is not absolute (the kernel needs a full path)")
        elif any(c.isspace() for c in path):
            problems.append(f"path {path!r} contains white space (rules files cannot quote)")
    return problems


def _filter_ok(text: str) -> str | None:
    match = re.match(r"^([A-Za-z0-9_]+)(!=|>=|<=|&=|=|>|<|&)(\S+)$", text)
    if not match:
        return f"filter {text!r} is not <field><op><value>"
    name = match.group(1).lower()
    if name in ("key", "arch"):
        return f"filter {text!r}: use the record's key/arch instead"
    if name not in KNOWN_FIELDS and name != "loginuid":
        return f"filter {text!r}: unknown field {name!r}"
    return None


def _compare_ok(text: str) -> str | None:
    match = re.match(r"^([a-z_]+)(!=|=)([a-z_]+)$", text)
    if not match:
        return f"compare {text!r} is not <field>=<field> or <field>!=<field>"
    left, _, right = match.groups()
    if (left, right) not in COMPARE_PAIRS and (right, left) not in COMPARE_PAIRS:
        return f"compare {text!r}: the kernel cannot compare {left} with {right}"
    return None


def validate_record(rec: Mapping[str, Any]) -> list[str]:
    """Problems with one record that need no host information."""
    rid = str(rec.get("id") or "")
    where = f"rule {rid or '?'}"
    problems: list[str] = []
    if not ID_RE.match(rid):
        problems.append(f"{where}: id must match {ID_RE.pattern}")
    kind = rec.get("kind")
    key = rec.get("key") or ""
    paths = list(rec.get("paths") or [])
    syscalls = list(rec.get("syscalls") or [])
    perms = rec.get("perms") or ""
    action = rec.get("action", "always")
    lst = rec.get("list", "exit")
    if kind not in RECORD_KINDS:
        problems.append(f"{where}: kind must be one of {', '.join(RECORD_KINDS)}")
        return problems
    if action not in ACTIONS:
        problems.append(f"{where}: action must be always or never")
    if lst not in LIST_ORDER:
        problems.append(f"{where}: unknown list {lst!r}")
    if key:
        if not KEY_RE.match(key) or len(key) > MAX_KEY_LEN:
            problems.append(f"{where}: key {key!r} must match {KEY_RE.pattern}")
    elif action == "always" and lst == "exit":
        problems.append(f"{where}: an always rule needs a key (the SOC 2 criterion it serves)")
    for arch in rec.get("arch") or []:
        if arch not in ARCHES:
            problems.append(f"{where}: arch {arch!r} must be b64 or b32")
    for text in rec.get("filters") or []:
        why = _filter_ok(str(text))
        if why:
            problems.append(f"{where}: {why}")
    for text in rec.get("compare") or []:
        why = _compare_ok(str(text))
        if why:
            problems.append(f"{where}: {why}")
    if kind in ("watch", "exe"):
        if not paths:
            problems.append(f"{where}: a {kind} rule needs paths")
        problems += [f"{where}: {p}" for p in _paths_ok(paths)]
        if syscalls:
            problems.append(f"{where}: a {kind} rule takes no syscalls")
        if lst != "exit" or action != "always":
            problems.append(f"{where}: a {kind} rule is always on the exit list")
    if kind == "watch" and perms and any(c not in PERMS for c in perms):
        problems.append(f"{where}: perms {perms!r} must be letters of rwxa")
    if kind == "exe" and perms not in ("", "x"):
        problems.append(f"{where}: an exe rule watches executions (perms x)")
    if kind == "syscall":
        if paths:
            problems.append(f"{where}: a syscall rule takes no paths (use filters path=...)")
        if lst == "exit":
            if not syscalls:
                problems.append(f"{where}: a syscall rule on the exit list needs syscalls")
            for name in syscalls:
                if not SYSCALL_RE.match(str(name)):
                    problems.append(f"{where}: syscall {name!r} is not a syscall name")
        elif syscalls or rec.get("arch"):
            problems.append(f"{where}: the {lst} list takes no syscalls or arch")
    return problems


# ---------------------------------------------------------------- syscall tables


def syscall_problems(
    rec: Mapping[str, Any],
    arches: Sequence[str],
    host_tables: Mapping[str, Mapping[str, int]],
    all_tables: Mapping[str, Mapping[str, int]],
) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """Per arch the syscalls that exist there; warnings for names dropped on an arch because
    they exist only elsewhere; errors for names that exist on no architecture at all."""
    names = [str(n) for n in rec.get("syscalls") or []]
    known_anywhere: set[str] = set()
    for table in host_tables.values():
        known_anywhere.update(table)
    # The other machines' tables only tell "elsewhere" from "nowhere" for a name this host
    # lacks; the verifier reads them on demand (ausyscall once per machine, soc2_auditd_family).
    if any(n != "all" and n not in known_anywhere for n in names):
        for table in all_tables.values():
            known_anywhere.update(table)
    errors, warnings = [], []
    per_arch: dict[str, list[str]] = {}
    for name in names:
        if name != "all" and name not in known_anywhere:
            errors.append(
                f"rule {rec['id']}: syscall {name!r} exists on no architecture "
                "(ausyscall --dump); check the spelling"
            )
    if errors:
        return {}, warnings, errors
    for arch in arches:
        table = host_tables.get(arch)
        if table is None:
            warnings.append(f"rule {rec['id']}: no {arch} syscall table on this host, skipped")
            continue
        here = [n for n in names if n == "all" or n in table]
        gone = [n for n in names if n != "all" and n not in table]
        if gone:
            warnings.append(
                f"rule {rec['id']}: {', '.join(gone)} not on {arch} here, dropped for {arch}"
            )
        if here:
            per_arch[arch] = here
        else:
            warnings.append(f"rule {rec['id']}: no syscall of it exists on {arch}, no {arch} rule")
    return per_arch, warnings, errors


# ---------------------------------------------------------------- rules from records


def _fields(rec: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    out: list[tuple[str, str, str, str]] = []
    for text in rec.get("compare") or []:
        left, op, right = re.match(r"^([a-z_]+)(!=|=)([a-z_]+)$", str(text)).groups()  # type: ignore[union-attr]
        out.append(("C", left, op, right))
    for text in rec.get("filters") or []:
        name, op, value = re.match(  # type: ignore[union-attr]
            r"^([A-Za-z0-9_]+)(!=|>=|<=|&=|=|>|<|&)(\S+)$", str(text)
        ).groups()
        name = name.lower()
        out.append(("F", "auid" if name == "loginuid" else name, op, value))
    return out


def _line(rule: Rule) -> str:
    """The line written to the rules file for a rule built here."""
    if rule.source:
        return rule.source
    parts = [f"-a {rule.action},{rule.list_name}"]
    if rule.arch:
        parts.append(f"-F arch={rule.arch}")
    if rule.syscalls:
        parts.append("-S " + ",".join(rule.syscalls))
    for kind, name, op, value in rule.fields:
        parts.append(f"-{kind} {name}{op}{value}")
    parts.extend(f"-F key={k}" for k in rule.keys)
    return " ".join(parts)


def record_rules(
    rec: Mapping[str, Any],
    *,
    arches: Sequence[str],
    per_arch: Mapping[str, list[str]],
    watch_style: str,
    exists: Callable[[str], bool],
) -> tuple[list[Rule], list[str]]:
    """The rules one record stands for, and warnings (a watch whose directory is missing)."""
    keys = [rec["key"]] if rec.get("key") else []
    fields = _fields(rec)
    kind = rec["kind"]
    out: list[Rule] = []
    warnings: list[str] = []
    if kind == "syscall":
        if rec.get("list", "exit") != "exit":
            rule = Rule(action=rec.get("action", "always"), list_name=rec["list"], fields=fields)
            rule.keys = keys
            return [rule], warnings
        for arch in arches:
            if arch not in per_arch:
                continue
            rule = Rule(
                action=rec.get("action", "always"),
                arch=arch,
                syscalls=list(per_arch[arch]),
                fields=list(fields),
                keys=list(keys),
            )
            out.append(rule)
        return out, warnings
    # ``arches`` is already the record's arch narrowed to the run's; no arch: none for exe
    # rules and filtered watches (one rule, like auditctl -w), all of them for syscall-style
    # watches.
    rec_arches = list(arches) if rec.get("arch") else []
    perms = "x" if kind == "exe" else (rec.get("perms") or "wa")
    for path in rec["paths"]:
        # A path written with a trailing slash is a directory (-F dir=, the whole tree); the
        # choice is the record's, not the host's, so it is the same before and after the
        # directory exists. -w decides by itself and lists the same either way.
        as_dir = path.endswith("/") and path != "/"
        target = path.rstrip("/") or "/"
        parent = os.path.dirname(target) or "/"
        if not exists(parent):
            if not rec.get("optional"):
                warnings.append(
                    f"rule {rec['id']}: {parent} does not exist here, no watch on {target}"
                )
            continue
        if kind == "watch" and not fields and not rec_arches and watch_style == "watch":
            rule = Rule(
                fields=[("F", "dir" if as_dir else "path", "=", target), ("F", "perm", "=", perms)],
                keys=list(keys),
            )
            rule.source = f"-w {target} -p {perms}" + "".join(f" -k {k}" for k in keys)
            out.append(rule)
            continue
        use_arches = rec_arches or (list(arches) if kind == "watch" and not fields else [])
        base = [("F", "dir" if as_dir else "path", "=", target), ("F", "perm", "=", perms)]
        for arch in use_arches or [None]:
            out.append(
                Rule(
                    arch=arch,
                    syscalls=["all"] if arch else [],
                    fields=base + list(fields),
                    keys=list(keys),
                )
            )
    return out, warnings


def build(
    records: Sequence[Mapping[str, Any]],
    *,
    arches: Sequence[str],
    host_tables: Mapping[str, Mapping[str, int]],
    all_tables: Mapping[str, Mapping[str, int]],
    watch_style: str,
    ctx: Context,
    exists: Callable[[str], bool] = os.path.exists,
    privileged: Sequence[str] = (),
    privileged_key: str = "",
    privileged_filters: Sequence[str] = (),
) -> dict[str, Any]:
    """Every enabled record (plus the privileged programs) as rules, grouped by the file they
    go to, with the desired canonical listing. ``errors`` are reasons to stop before changing
    anything; ``warnings`` are rules dropped on purpose."""
    errors: list[str] = []
    warnings: list[str] = []
    seen_ids: set[str] = set()
    groups: dict[str, list[dict[str, Any]]] = {"exclusions": [], "main": [], "privileged": []}
    for rec in records:
        rid = str(rec.get("id"))
        if rid in seen_ids:
            errors.append(f"rule id {rid!r} is used twice")
        seen_ids.add(rid)
        errors.extend(validate_record(rec))
    if errors:
        return {"errors": errors, "warnings": warnings, "groups": groups, "rules": []}
    entries: list[tuple[str, dict[str, Any], list[Rule]]] = []
    for rec in records:
        if not rec.get("enabled", True):
            continue
        per_arch: dict[str, list[str]] = {}
        # A record's own arch narrows the run's arches, never widens them (auditd_arches: [b64]
        # means no b32 rule at all).
        rec_arches = [a for a in (rec.get("arch") or arches) if a in arches]
        if not rec_arches:
            continue
        if rec["kind"] == "syscall" and rec.get("list", "exit") == "exit":
            per_arch, warn, errs = syscall_problems(rec, rec_arches, host_tables, all_tables)
            warnings += warn
            errors += errs
            if errs:
                continue
        rules, warn = record_rules(
            rec,
            arches=rec_arches,
            per_arch=per_arch,
            watch_style=watch_style,
            exists=exists,
        )
        warnings += warn
        if rec.get("action") == "never" or rec.get("list") == "exclude":
            group = "exclusions"
        else:
            group = "late" if rec.get("late") else "main"
        entries.append((group, dict(rec), rules))
    if privileged:
        rec = {
            "id": "privileged-programs",
            "description": "executions of the setuid/setgid programs found on this host",
            "key": privileged_key,
            "kind": "exe",
            "paths": list(privileged),
            "filters": list(privileged_filters),
        }
        errors += validate_record(rec)
        rules, warn = record_rules(rec, arches=[], per_arch={}, watch_style="watch", exists=exists)
        warnings += warn
        entries.append(("privileged", rec, rules))
    if errors:
        return {"errors": errors, "warnings": warnings, "groups": groups, "rules": []}

    # Canonical form of each rule: catches unknown users/groups and values the kernel refuses,
    # and spots two records that ask for the same rule (the kernel refuses the second one).
    texts: dict[str, str] = {}
    by_group: dict[str, list[Rule]] = {"exclusions": [], "main": [], "privileged": []}
    groups["late"] = []
    late: list[Rule] = []
    for group, rec, rules in entries:
        kept: list[Rule] = []
        for rule in rules:
            try:
                text = canonical(rule, ctx)
            except UnresolvedName as exc:
                if not rec.get("optional"):
                    warnings.append(f"rule {rec['id']}: {exc}; rule dropped")
                continue
            except RuleSyntaxError as exc:
                errors.append(f"rule {rec['id']}: {exc}")
                continue
            if text in texts:
                warnings.append(
                    f"rule {rec['id']}: same rule as {texts[text]} ({text}); loaded once"
                )
                continue
            texts[text] = rec["id"]
            kept.append(rule)
        if kept:
            groups[group].append(
                {
                    "id": rec["id"],
                    "description": rec.get("description") or "",
                    "lines": [_line(r) for r in kept],
                }
            )
            (late if group == "late" else by_group[group]).extend(kept)
    # Audit is first match wins and an event carries the key of the first rule it matches:
    # the general rules (late) go after every more specific one in the main file.
    groups["main"] += groups.pop("late")
    by_group["main"] += late
    # The order augenrules loads them (default names): exclusions, privileged programs, main.
    load_order = by_group["exclusions"] + by_group["privileged"] + by_group["main"]
    desired = [c.text for c in canonical_rules(load_order, ctx)] if not errors else []
    return {
        "errors": errors,
        "warnings": warnings,
        "groups": groups,
        "rules": load_order,
        "by_group": by_group,
        "desired": desired,
    }


# ---------------------------------------------------------------- files


def base_lines(settings: Mapping[str, Any]) -> list[str]:
    lines = [
        "-D",
        f"-b {int(settings['backlog_limit'])}",
        f"--backlog_wait_time {int(settings['backlog_wait_time'])}",
        f"-f {int(settings['failure_mode'])}",
    ]
    if int(settings.get("rate_limit") or 0) > 0:
        lines.append(f"-r {int(settings['rate_limit'])}")
    if settings.get("loginuid_immutable"):
        lines.append("--loginuid-immutable")
    return lines


def finalize_lines(settings: Mapping[str, Any]) -> list[str]:
    return ["-e 2" if settings.get("immutable") else "-e 1"]


def render_files(
    groups: Mapping[str, Sequence[Mapping[str, Any]]],
    settings: Mapping[str, Any],
    files: Mapping[str, str],
) -> dict[str, str]:
    """File name -> body (the role's template adds the ansible_managed header)."""
    out: dict[str, str] = {}
    out[files["base"]] = (
        "## Kernel audit settings: delete every rule, backlog, backlog wait, failure mode.\n"
        + "\n".join(base_lines(settings))
        + "\n"
    )
    titles = {
        "exclusions": "## Exclusions first: audit is first match wins, so never rules go here.",
        "main": "## The rule set: every key names the SOC 2 criterion the events serve.",
        "privileged": "## Executions of the setuid/setgid programs found on this host (sorted).",
    }
    for group in ("exclusions", "main", "privileged"):
        body = [titles[group]]
        for entry in groups.get(group) or []:
            text = f"# {entry['id']}"
            if entry.get("description"):
                text += f": {entry['description']}"
            body.append(text)
            body.extend(entry["lines"])
        out[files[group]] = "\n".join(body) + "\n"
    out[files["finalize"]] = (
        "## Finalize: 1 enables auditing; 2 locks the rules until the next boot.\n"
        + "\n".join(finalize_lines(settings))
        + "\n"
    )
    return out


# ---------------------------------------------------------------- privileged programs


def parse_mounts(text: str) -> list[tuple[str, str]]:
    """(mount point, fstype) from /proc/self/mounts (octal escapes decoded)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[1])
            out.append((point, parts[2]))
    return out


def excluded_mounts(mounts: Iterable[tuple[str, str]], exclude_fstypes: Sequence[str]) -> list[str]:
    return sorted(
        {
            point
            for point, fstype in mounts
            if point != "/" and any(fnmatch(fstype, pattern) for pattern in exclude_fstypes)
        }
    )


def discover_privileged(
    roots: Sequence[str],
    exclude_paths: Sequence[str],
    mounts: Iterable[tuple[str, str]],
    exclude_fstypes: Sequence[str],
) -> dict[str, Any]:
    """Every regular file with the setuid or setgid bit under ``roots``, sorted, never
    crossing into an excluded path or a mount of an excluded file system type."""
    skip = sorted(
        {p.rstrip("/") or "/" for p in exclude_paths}
        | set(excluded_mounts(mounts, exclude_fstypes))
    )

    skip_set = set(skip)

    def skipped(path: str) -> bool:
        return any(path == s or path.startswith(s.rstrip("/") + "/") for s in skip)

    # os.scandir instead of os.walk + os.lstat: the entry's type comes from the directory listing,
    # so only regular files are stat'ed (once), and a directory is skipped by a set lookup (its
    # parents were not skipped, or it would not be reached). About 3x faster on a Debian host.
    found: set[str] = set()
    for root in roots:
        if skipped(root) or not os.path.isdir(root):
            continue
        pending = [root]
        while pending:
            try:
                listing = os.scandir(pending.pop())
            except OSError:
                continue
            with listing:
                for entry in listing:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if entry.path.rstrip("/") not in skip_set:
                                pending.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            mode = entry.stat(follow_symlinks=False).st_mode
                            if mode & (stat.S_ISUID | stat.S_ISGID):
                                found.add(entry.path)
                    except OSError:
                        continue
    return {"paths": sorted(found), "skipped": skip}


# ---------------------------------------------------------------- auditd.conf

_YESNO = ("yes", "no")
_ACTIONS_SPACE = ("IGNORE", "SYSLOG", "ROTATE", "EMAIL", "EXEC", "SUSPEND", "SINGLE", "HALT")
_ACTIONS_FULL = ("IGNORE", "SYSLOG", "ROTATE", "EXEC", "SUSPEND", "SINGLE", "HALT")
_ACTIONS_ERROR = ("IGNORE", "SYSLOG", "EXEC", "SUSPEND", "SINGLE", "HALT")
# (kind, choices or None) per key; "enum" values are upper-case words, "action" may be
# "EXEC /path".
_CONF_COMMON: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "local_events": ("yesno", _YESNO),
    "write_logs": ("yesno", _YESNO),
    "log_file": ("path", None),
    "log_group": ("name", None),
    "log_format": ("enum", ("RAW", "ENRICHED")),
    "flush": ("enum", ("NONE", "INCREMENTAL", "INCREMENTAL_ASYNC", "DATA", "SYNC")),
    "freq": ("int", None),
    "max_log_file": ("int", None),
    "num_logs": ("int", None),
    "priority_boost": ("int", None),
    "name_format": ("enum", ("NONE", "HOSTNAME", "FQD", "NUMERIC", "USER")),
    "name": ("name", None),
    "max_log_file_action": ("enum", ("IGNORE", "SYSLOG", "SUSPEND", "ROTATE", "KEEP_LOGS")),
    "verify_email": ("yesno", _YESNO),
    "action_mail_acct": ("text", None),
    "space_left": ("space", None),
    "space_left_action": ("action", _ACTIONS_SPACE),
    "admin_space_left": ("space", None),
    "admin_space_left_action": ("action", _ACTIONS_SPACE),
    "disk_full_action": ("action", _ACTIONS_FULL),
    "disk_error_action": ("action", _ACTIONS_ERROR),
    "use_libwrap": ("yesno", _YESNO),
    "tcp_listen_port": ("port", None),
    "tcp_listen_queue": ("int", None),
    "tcp_max_per_addr": ("int", None),
    "tcp_client_ports": ("ports", None),
    "tcp_client_max_idle": ("int", None),
    "transport": ("enum", ("TCP", "KRB5")),
    "krb5_principal": ("name", None),
    "krb5_key_file": ("path", None),
    "distribute_network": ("yesno", _YESNO),
}
_CONF_V3: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "q_depth": ("int", None),
    "overflow_action": ("action", ("IGNORE", "SYSLOG", "SUSPEND", "SINGLE", "HALT")),
    "max_restarts": ("int", None),
    "plugin_dir": ("path", None),
    "end_of_event_timeout": ("int", None),
}
_CONF_V2: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "dispatcher": ("path", None),
    "disp_qos": ("enum", ("LOSSY", "LOSSLESS")),
}
# auditd.conf keys per audit userspace major version (auditd.conf(5) of 2.8, 3.0.9 and 4.0.2;
# 3.0 folded audispd into auditd: dispatcher/disp_qos went, q_depth/overflow_action/plugin_dir
# came; the 4.0.2 page lists the same keys as 3.0.9).
CONF_KEYS: dict[int, dict[str, tuple[str, tuple[str, ...] | None]]] = {
    2: {**_CONF_COMMON, **_CONF_V2},
    3: {**_CONF_COMMON, **_CONF_V3},
    4: {**_CONF_COMMON, **_CONF_V3},
}


def conf_keys(major: int) -> dict[str, tuple[str, tuple[str, ...] | None]]:
    return CONF_KEYS.get(major) or CONF_KEYS[max(CONF_KEYS) if major > max(CONF_KEYS) else 3]


def conf_value(key: str, value: Any, major: int) -> str:
    """The value as written to auditd.conf; ValueError when auditd would refuse it."""
    kind, choices = conf_keys(major)[key]
    text = ("yes" if value else "no") if isinstance(value, bool) else str(value).strip()
    if kind == "yesno":
        if text.lower() not in _YESNO:
            raise ValueError(f"{key} must be yes or no, got {text!r}")
        return text.lower()
    if kind in ("enum", "action"):
        word, _, rest = text.partition(" ")
        upper = word.upper()
        if choices is None or upper not in choices:
            raise ValueError(f"{key} must be one of {', '.join(choices or ())}, got {text!r}")
        if upper == "EXEC":
            script = rest.strip()
            if not script.startswith("/"):
                raise ValueError(f"{key} = exec needs an absolute script path: exec /path")
            return f"EXEC {script}"
        if rest.strip():
            raise ValueError(f"{key} takes one word, got {text!r}")
        return upper
    if kind in ("int", "port"):
        if not re.fullmatch(r"[0-9]+", text):
            raise ValueError(f"{key} must be a non-negative number, got {text!r}")
        number = int(text)
        if kind == "port" and not 1 <= number <= 65535:
            raise ValueError(f"{key} must be 1..65535, got {number}")
        if key == "num_logs" and number > 999:
            raise ValueError("num_logs must be 999 or less")
        return str(number)
    if kind == "space":
        match = re.fullmatch(r"([0-9]+)(%?)", text)
        if not match or (match.group(2) and not 1 <= int(match.group(1)) <= 99):
            raise ValueError(f"{key} must be megabytes or 1%..99%, got {text!r}")
        return text
    if kind == "ports":
        if not re.fullmatch(r"[0-9]+(-[0-9]+)?", text):
            raise ValueError(f"{key} must be a port or a range low-high, got {text!r}")
        return text
    if kind == "path":
        if not text.startswith("/") or any(c.isspace() for c in text):
            raise ValueError(f"{key} must be an absolute path, got {text!r}")
        return text
    if kind == "name":
        if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*", text):
            raise ValueError(f"{key} must be a name, got {text!r}")
        return text
    if not text or "\n" in text:
        raise ValueError(f"{key} must be one line of text")
    return text


def expected_conf(config: Mapping[str, Any], major: int) -> tuple[list[tuple[str, str]], list[str]]:
    """auditd.conf as (key, value) pairs in a stable order, and problems (unknown keys for this
    major version, values auditd would refuse)."""
    keys = conf_keys(major)
    problems: list[str] = []
    pairs: list[tuple[str, str]] = []
    order = list(keys)
    for key in sorted(config, key=lambda k: (order.index(k) if k in order else len(order), k)):
        value = config[key]
        if value is None or value == "":
            continue
        if key not in keys:
            # A key of another audit version (q_depth before 3.0, dispatcher after) is left
            # out: the file is written for the installed version.
            if not any(key in table for table in CONF_KEYS.values()):
                problems.append(f"auditd.conf key {key!r} is not an auditd.conf option")
            continue
        try:
            pairs.append((key, conf_value(key, value, major)))
        except ValueError as exc:
            problems.append(f"auditd.conf {exc}")
    sl, asl = dict(pairs).get("space_left"), dict(pairs).get("admin_space_left")
    same_unit = bool(sl and asl) and sl.endswith("%") == asl.endswith("%")  # type: ignore[union-attr]
    if same_unit and int(asl.rstrip("%")) >= int(sl.rstrip("%")):  # type: ignore[union-attr]
        problems.append("auditd.conf admin_space_left must be below space_left")
    return pairs, problems


def same_conf_value(key: str, want: str, have: str, major: int) -> bool:
    """auditd reads option values case-insensitively; paths and names stay exact."""
    try:
        return conf_value(key, have, major) == want
    except (ValueError, KeyError):
        return False
