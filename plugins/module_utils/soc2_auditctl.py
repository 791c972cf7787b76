# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Parse Linux audit rules and print them the way ``auditctl -l`` does.

Shared by the auditd role (``library/soc2_auditd_plan.py``) and the AUD verifier
(``soc2_auditd_family.py``), so "the rules we asked for" and "the rules the kernel holds" are
compared in one vocabulary. Standard library only: it runs on the managed hosts.

The kernel does not keep rule text. ``auditctl -l`` rebuilds each rule from the kernel's binary
form (``src/auditctl-listing.c`` ``print_rule()`` in linux-audit/audit-userspace), so a rule
rarely lists the way it was written. :func:`canonical` applies the same rewrites to a rule we
want, so both sides can be compared as text. Every rewrite below was observed with auditctl
3.0.9 (Debian 12) and 4.0.2 (Debian 13) on a 6.x kernel; the recorded outputs are in
``tests/unit/fixtures/auditd``:

* ``-a exit,always`` lists as ``-a always,exit`` (action first).
* ``-F arch=`` comes first and lists as ``b64``/``b32`` (``x86_64`` -> ``b64``).
* every ``-S`` is merged into one comma list in ascending syscall-number order for the rule's
  arch (no arch: the machine's native table); unknown numbers stay decimal; a rule on the exit
  list without ``-S`` (or with every syscall) lists ``-S all``; other lists print no ``-S``.
* other fields keep their order; every ``-k``/``-F key=`` moves to the end, ``-F key=K`` on
  syscall rules and ``-k K`` on watches; an empty key is dropped.
* a rule that only has path/dir/perm fields, no arch and all syscalls on the exit list lists as
  a watch, ``-w PATH -p PERMS``, fields in their order, so a rule written with ``perm`` before
  ``path`` lists as `` -p wa-w /etc/hosts -k hosts`` (an auditctl quirk kept as is).
* ``-w`` drops trailing slashes and adds ``-p rwxa`` when no ``-p`` is given; ``-F dir=/x/``
  keeps the slash.
* permissions list in ``rwxa`` order.
* uid/gid fields list as signed decimal: ``unset`` and ``4294967295`` -> ``-1``, names ->
  numbers (``root`` -> ``0``); ``loginuid`` lists as ``auid``.
* ``a0``..``a3`` list as ``0x`` + upper-case hex (``0100`` octal -> ``0x40``).
* ``exit`` lists negative errnos by name (``-13`` -> ``-EACCES``).
* ``filetype=file`` lists as the mode number ``32768``; ``msgtype`` lists as the upper-case name.
* ``-C`` comparisons list in the kernel's pair order (``-C euid!=uid`` -> ``-C uid!=euid``).
* rules list grouped by filter list (user, task, exit, exclude, filesystem), then in load order.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as _errno
import grp
import os
import pwd
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Filter lists in the kernel's order (AUDIT_FILTER_USER .. AUDIT_FILTER_URING_EXIT); rules list
# grouped by this, then in the order they were added.
LIST_ORDER: dict[str, int] = {
    "user": 0,
    "task": 1,
    "entry": 2,
    "exit": 4,
    "exclude": 5,
    "filesystem": 6,
    "io_uring": 7,
}
ACTIONS: tuple[str, ...] = ("always", "never")
# Lists whose rules carry a syscall mask (and so list a -S).
SYSCALL_LISTS: frozenset[str] = frozenset({"exit", "entry", "io_uring"})
PERMS = "rwxa"

UID_FIELDS = frozenset({"uid", "euid", "suid", "fsuid", "auid", "obj_uid"})
GID_FIELDS = frozenset({"gid", "egid", "sgid", "fsgid", "obj_gid"})
ARG_FIELDS = frozenset({"a0", "a1", "a2", "a3"})
STRING_FIELDS = frozenset(
    {
        "path",
        "dir",
        "exe",
        "key",
        "subj_user",
        "subj_role",
        "subj_type",
        "subj_sen",
        "subj_clr",
        "obj_user",
        "obj_role",
        "obj_type",
        "obj_lev_low",
        "obj_lev_high",
        "fstype",
    }
)
NUMBER_FIELDS = frozenset(
    {
        "pid",
        "ppid",
        "pers",
        "devmajor",
        "devminor",
        "inode",
        "success",
        "saddr_fam",
        "sessionid",
        "exit",
    }
)
SPECIAL_FIELDS = frozenset({"arch", "perm", "filetype", "msgtype"})
FIELD_ALIASES: dict[str, str] = {"loginuid": "auid"}
KNOWN_FIELDS = UID_FIELDS | GID_FIELDS | ARG_FIELDS | STRING_FIELDS | NUMBER_FIELDS | SPECIAL_FIELDS
WATCH_FIELDS = frozenset({"path", "dir", "perm"})

FILETYPES: dict[str, int] = {
    "file": 0o100000,
    "dir": 0o040000,
    "socket": 0o140000,
    "link": 0o120000,
    "character": 0o020000,
    "block": 0o060000,
    "fifo": 0o010000,
}

# -C pairs in the order the kernel's AUDIT_COMPARE_* constants name them (lib/fieldtab and
# include/uapi/linux/audit.h): auditctl lists a comparison with its operands in this order.
COMPARE_PAIRS: tuple[tuple[str, str], ...] = (
    ("uid", "obj_uid"),
    ("gid", "obj_gid"),
    ("euid", "obj_uid"),
    ("egid", "obj_gid"),
    ("auid", "obj_uid"),
    ("suid", "obj_uid"),
    ("sgid", "obj_gid"),
    ("fsuid", "obj_uid"),
    ("fsgid", "obj_gid"),
    ("uid", "auid"),
    ("uid", "euid"),
    ("uid", "fsuid"),
    ("uid", "suid"),
    ("auid", "fsuid"),
    ("auid", "suid"),
    ("auid", "euid"),
    ("euid", "suid"),
    ("euid", "fsuid"),
    ("suid", "fsuid"),
    ("gid", "egid"),
    ("gid", "fsgid"),
    ("gid", "sgid"),
    ("egid", "sgid"),
    ("egid", "fsgid"),
    ("sgid", "fsgid"),
)

# Machines whose syscall tables ausyscall knows (audit-userspace lib/machinetab.h); "b64"/"b32"
# name the running machine's native and compat tables.
KNOWN_MACHINES: tuple[str, ...] = (
    "x86_64",
    "i386",
    "aarch64",
    "arm",
    "ppc",
    "ppc64",
    "ppc64le",
    "s390",
    "s390x",
)
MACHINE_BITS: dict[str, str] = {
    "x86_64": "b64",
    "i386": "b32",
    "i486": "b32",
    "i586": "b32",
    "i686": "b32",
    "aarch64": "b64",
    "arm": "b32",
    "armeb": "b32",
    "armv7l": "b32",
    "ppc": "b32",
    "ppc64": "b64",
    "ppc64le": "b64",
    "s390": "b32",
    "s390x": "b64",
    "b64": "b64",
    "b32": "b32",
    "64": "b64",
    "32": "b32",
}
# Native (b64) and compat (b32) table of each 64-bit machine, as `ausyscall b64/b32` picks them.
NATIVE_TABLES: dict[str, tuple[str, str | None]] = {
    "x86_64": ("x86_64", "i386"),
    "aarch64": ("aarch64", "arm"),
    "ppc64": ("ppc64", "ppc"),
    "ppc64le": ("ppc64le", "ppc"),
    "s390x": ("s390x", "s390"),
}

# Message types often used in exclude rules, for numeric msgtype values when libaudit is absent.
MSGTYPES: dict[int, str] = {
    1100: "USER_AUTH",
    1101: "USER_ACCT",
    1103: "CRED_ACQ",
    1104: "CRED_DISP",
    1105: "USER_START",
    1106: "USER_END",
    1112: "USER_LOGIN",
    1130: "SERVICE_START",
    1131: "SERVICE_STOP",
    1300: "SYSCALL",
    1302: "PATH",
    1305: "CONFIG_CHANGE",
    1307: "CWD",
    1309: "EXECVE",
    1320: "EOE",
    1327: "PROCTITLE",
    1400: "AVC",
    2404: "CRYPTO_KEY_USER",
}


class RuleSyntaxError(ValueError):
    """A rule line auditctl would refuse (or that this parser does not understand)."""


class UnresolvedName(ValueError):
    """A user, group or syscall name that does not exist on this host."""


@dataclass
class Rule:
    """One audit rule, as parsed from auditctl syntax (a rules file line or ``auditctl -l``)."""

    action: str = "always"
    list_name: str = "exit"
    arch: str | None = None
    syscalls: list[str] = field(default_factory=list)
    # ("F", name, op, value) or ("C", left, op, right), in the order given.
    fields: list[tuple[str, str, str, str]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def list_index(self) -> int:
        return LIST_ORDER.get(self.list_name, 99)


@dataclass
class Control:
    """A setting line: -D, -b N, -f N, -e N, -r N, --backlog_wait_time N, --loginuid-immutable."""

    option: str
    value: str | None = None
    source: str = ""


@dataclass
class Context:
    """What canonical() needs from the host: syscall tables and name lookups."""

    # "b64"/"b32" -> {syscall name: number}; a rule without arch uses `native`.
    tables: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    native: str = "b64"
    user: Callable[[str], int | None] = field(default=lambda name: _lookup_user(name))
    group: Callable[[str], int | None] = field(default=lambda name: _lookup_group(name))
    isdir: Callable[[str], bool] = field(default=os.path.isdir)
    msgtypes: Mapping[int, str] = field(default_factory=lambda: dict(MSGTYPES))
    # auditctl's major version: 4.x rewrites rules with an arch and perm but no -S.
    major: int = 3

    def table(self, arch: str | None) -> Mapping[str, int]:
        return self.tables.get(arch or self.native) or {}


def _lookup_user(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def _lookup_group(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


# ---------------------------------------------------------------- parsing


def _split_field(text: str) -> tuple[str, str, str]:
    match = re.match(r"^([A-Za-z0-9_]+)(!=|>=|<=|&=|=|>|<|&)(.*)$", text)
    if not match:
        raise RuleSyntaxError(f"cannot parse field {text!r} (expected name, operator, value)")
    name, op, value = match.groups()
    return name.lower(), op, value


def _action_list(text: str) -> tuple[str, str]:
    parts = [p.strip().lower() for p in text.split(",")]
    if len(parts) != 2:
        raise RuleSyntaxError(f"-a needs <list>,<action>, got {text!r}")
    actions = [p for p in parts if p in ACTIONS]
    lists = [p for p in parts if p in LIST_ORDER]
    if len(actions) != 1 or len(lists) != 1:
        raise RuleSyntaxError(f"-a {text}: need one action (always|never) and one list")
    return actions[0], lists[0]


_QUIRK_WATCH = re.compile(r"^\s*-p\s+([rwxa]+)-w\s+(\S+)((?:\s+-k\s+\S+)*)\s*$")


def parse_line(
    line: str, *, isdir: Callable[[str], bool] | None = None, listing: bool = False
) -> Rule | Control | None:
    """One line of a rules file or of ``auditctl -l`` (``listing``: paths are taken as
    stored): a Rule, a Control, or None (blank, comment, or ``No rules``)."""
    text = line.strip()
    if not text or text.startswith("#") or text == "No rules":
        return None
    quirk = _QUIRK_WATCH.match(line)
    if quirk:
        keys = re.findall(r"-k\s+(\S+)", quirk.group(3) or "")
        return Rule(
            fields=[("F", "perm", "=", quirk.group(1)), ("F", "path", "=", quirk.group(2))],
            keys=keys,
            source=text,
        )
    tokens = text.split()
    head = tokens[0]
    if head in ("-D", "--loginuid-immutable", "--reset-lost", "-c", "-i"):
        if len(tokens) != 1:
            raise RuleSyntaxError(f"{head} takes no value: {text!r}")
        return Control(head, None, text)
    if head in ("-b", "-f", "-e", "-r", "--backlog_wait_time"):
        if len(tokens) != 2 or not re.fullmatch(r"[0-9]+", tokens[1]):
            raise RuleSyntaxError(f"{head} needs one number: {text!r}")
        return Control(head, tokens[1], text)
    return _parse_rule(tokens, text, isdir or os.path.isdir, listing)


def _parse_rule(
    tokens: list[str], text: str, isdir: Callable[[str], bool], listing: bool = False
) -> Rule:
    rule = Rule(source=text)
    seen_a = False
    watch_path: str | None = None
    perm: str | None = None
    i = 0

    def value() -> str:
        nonlocal i
        if i + 1 >= len(tokens):
            raise RuleSyntaxError(f"{tokens[i]} needs a value: {text!r}")
        i += 1
        return tokens[i]

    while i < len(tokens):
        tok = tokens[i]
        if tok in ("-a", "-A"):
            if seen_a or watch_path is not None:
                raise RuleSyntaxError(f"more than one -a/-w: {text!r}")
            rule.action, rule.list_name = _action_list(value())
            seen_a = True
        elif tok == "-w":
            if seen_a or watch_path is not None:
                raise RuleSyntaxError(f"more than one -a/-w: {text!r}")
            path = value()
            if not path.startswith("/"):
                raise RuleSyntaxError(f"-w needs an absolute path, got {path!r}")
            # auditctl -w drops trailing slashes before loading; a listing shows what is stored.
            watch_path = path if listing else (path.rstrip("/") or "/")
        elif tok == "-p":
            perm = value()
            if not perm or any(c not in PERMS for c in perm.lower()):
                raise RuleSyntaxError(f"-p takes letters of rwxa, got {perm!r}")
        elif tok == "-S":
            rule.syscalls.extend(s for s in value().split(",") if s)
        elif tok == "-F":
            name, op, val = _split_field(value())
            name = FIELD_ALIASES.get(name, name)
            if name not in KNOWN_FIELDS:
                raise RuleSyntaxError(f"unknown field {name!r} in {text!r}")
            if name == "key":
                if op != "=":
                    raise RuleSyntaxError("key only takes =")
                if val:
                    rule.keys.append(val)
            elif name == "arch":
                if rule.syscalls:
                    raise RuleSyntaxError("arch must be before -S")
                if op not in ("=", "!="):
                    raise RuleSyntaxError("arch only takes = or !=")
                bits = MACHINE_BITS.get(val.lower())
                if bits is None:
                    raise RuleSyntaxError(f"unknown arch {val!r}")
                rule.arch = bits
            else:
                rule.fields.append(("F", name, op, val))
        elif tok == "-C":
            left, op, right = _split_field(value())
            if op not in ("=", "!="):
                raise RuleSyntaxError(f"-C only takes = or !=: {text!r}")
            rule.fields.append(("C", left, op, right.lower()))
        elif tok == "-k":
            key = value()
            if key:
                rule.keys.append(key)
        else:
            raise RuleSyntaxError(f"unknown option {tok!r} in {text!r}")
        i += 1

    if watch_path is not None:
        kind = "dir" if isdir(watch_path) else "path"
        fields: list[tuple[str, str, str, str]] = [("F", kind, "=", watch_path)]
        fields.append(("F", "perm", "=", perm or PERMS))
        rule.fields = fields + rule.fields
        rule.action, rule.list_name = "always", "exit"
    elif not seen_a:
        raise RuleSyntaxError(f"not a rule (no -a or -w): {text!r}")
    elif perm is not None:
        rule.fields.append(("F", "perm", "=", perm))
    if rule.syscalls and rule.list_name not in SYSCALL_LISTS:
        raise RuleSyntaxError(f"-S is only valid on the exit list: {text!r}")
    return rule


def parse_text(
    text: str, *, isdir: Callable[[str], bool] | None = None
) -> tuple[list[Rule], list[Control], list[str]]:
    """Every rule and control line of a rules file (or listing); errors as messages."""
    rules: list[Rule] = []
    controls: list[Control] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            parsed = parse_line(line, isdir=isdir)
        except RuleSyntaxError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        if isinstance(parsed, Rule):
            rules.append(parsed)
        elif isinstance(parsed, Control):
            controls.append(parsed)
    return rules, controls, errors


# ---------------------------------------------------------------- canonical text


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def _int(text: str, name: str) -> int:
    try:
        return int(text, 0) if not re.fullmatch(r"-?0[0-7]+", text) else int(text, 8)
    except ValueError:
        raise RuleSyntaxError(f"{name} needs a number, got {text!r}") from None


def _errno_name(number: int) -> str | None:
    return _errno.errorcode.get(number)


def _field_value(name: str, value: str, ctx: Context) -> str:
    if name in UID_FIELDS or name in GID_FIELDS:
        if value.lower() == "unset":
            return "-1"
        if re.fullmatch(r"-?[0-9]+", value):
            return str(_signed(int(value)))
        found = ctx.user(value) if name in UID_FIELDS else ctx.group(value)
        if found is None:
            what = "user" if name in UID_FIELDS else "group"
            raise UnresolvedName(f"unknown {what} {value!r} in -F {name}")
        return str(_signed(found))
    if name in ARG_FIELDS:
        return f"0x{_int(value, name) & 0xFFFFFFFF:X}"
    if name == "exit":
        if re.fullmatch(r"-?[0-9]+", value):
            number = int(value)
            named = _errno_name(-number) if number < 0 else None
            return f"-{named}" if named else str(_signed(number))
        bare = value.lstrip("-").upper()
        if not hasattr(_errno, bare):
            raise RuleSyntaxError(f"unknown errno {value!r} in -F exit")
        return f"-{bare}" if value.startswith("-") else bare
    if name == "perm":
        letters = value.lower()
        if not letters or any(c not in PERMS for c in letters):
            raise RuleSyntaxError(f"perm takes letters of rwxa, got {value!r}")
        return "".join(c for c in PERMS if c in letters)
    if name == "filetype":
        if value.lower() in FILETYPES:
            return str(FILETYPES[value.lower()])
        return str(_int(value, name))
    if name == "msgtype":
        if re.fullmatch(r"[0-9]+", value):
            return ctx.msgtypes.get(int(value), value)
        return value.upper()
    if name in NUMBER_FIELDS:
        return str(_signed(_int(value, name)))
    return value


def _compare(left: str, right: str) -> tuple[str, str]:
    if (left, right) in COMPARE_PAIRS:
        return left, right
    if (right, left) in COMPARE_PAIRS:
        return right, left
    raise RuleSyntaxError(f"-C {left}/{right} is not a comparison the kernel supports")


def _syscall_text(rule: Rule, ctx: Context, shown_as: str | None, listing: bool) -> str:
    """The -S list: numbers from the table the rule was loaded with (its arch, else the native
    one), names from the table auditctl -l prints it with (``shown_as``, see canonical_rules).
    For a line read back from a listing both are the printing table."""
    print_arch = rule.arch or shown_as or ctx.native
    load_arch = print_arch if listing else (rule.arch or ctx.native)
    load_table, print_table = ctx.table(load_arch), ctx.table(print_arch)
    if not rule.syscalls or "all" in rule.syscalls:
        return "all"
    numbers: set[int] = set()
    for name in rule.syscalls:
        if re.fullmatch(r"[0-9]+", name):
            numbers.add(int(name))
        elif name in load_table:
            numbers.add(load_table[name])
        else:
            raise UnresolvedName(f"syscall {name!r} does not exist on {load_arch}")
    reverse = {num: sc for sc, num in print_table.items()}
    return ",".join(reverse.get(num, str(num)) for num in sorted(numbers))


def is_watch(rule: Rule) -> bool:
    """auditctl's is_watch(): listed as -w when only path/dir/perm fields, no arch, all syscalls
    on the exit list."""
    return (
        rule.list_name == "exit"
        and rule.action == "always"
        and rule.arch is None
        and (not rule.syscalls or "all" in rule.syscalls)
        and bool(rule.fields)
        and all(kind == "F" and name in WATCH_FIELDS for kind, name, _, _ in rule.fields)
        and any(name in ("path", "dir") for _, name, _, _ in rule.fields)
    )


def canonical(rule: Rule, ctx: Context, shown_as: str | None = None, listing: bool = False) -> str:
    """The line ``auditctl -l`` prints for this rule once loaded.

    ``shown_as`` is the arch of the closest rule above it in the listing that has one: auditctl
    -l keeps the last arch it printed and names the syscalls of a following rule WITHOUT arch
    from that table (a rule loaded as ``-S open,openat`` after a b32 rule lists as
    ``-S fork,remap_file_pages`` on x86_64: the same numbers, i386 names). ``listing`` is true
    for lines read back from ``auditctl -l``.
    """
    if is_watch(rule):
        out = ""
        for _, name, _, value in rule.fields:
            if name in ("path", "dir"):
                out += f"-w {value}"
            else:
                out += f" -p {_field_value('perm', value, ctx)}"
        return out + "".join(f" -k {k}" for k in rule.keys)
    parts = [f"-a {rule.action},{rule.list_name}"]
    if rule.arch:
        parts.append(f"-F arch={rule.arch}")
    if rule.list_name in SYSCALL_LISTS:
        if (
            not listing
            and ctx.major >= 4
            and rule.arch
            and not rule.syscalls
            and any(name == "perm" for _, name, _, _ in rule.fields)
        ):
            # auditctl 4.x loads such a rule with the syscalls of the perm classes instead of
            # "all" (observed: -F arch=b64 -F path=/etc/shadow -F perm=wa lists 38 syscalls).
            raise RuleSyntaxError(
                "a rule with an arch and -F perm but no -S is expanded differently by "
                "audit 3.x and 4.x: write -S all explicitly"
            )
        parts.append(f"-S {_syscall_text(rule, ctx, shown_as, listing)}")
    for kind, name, op, value in rule.fields:
        if kind == "C":
            left, right = _compare(name, value)
            parts.append(f"-C {left}{op}{right}")
        else:
            parts.append(f"-F {name}{op}{_field_value(name, value, ctx)}")
    parts.extend(f"-F key={k}" for k in rule.keys)
    return " ".join(parts)


@dataclass(frozen=True)
class CanonicalRule:
    """A rule's canonical text with the list it lives on (for kernel listing order)."""

    text: str
    list_index: int


def canonical_rules(
    rules: Iterable[Rule], ctx: Context, listing: bool = False
) -> list[CanonicalRule]:
    """Canonical forms in the order the kernel lists them (by list, then load order), with
    auditctl -l's arch carried from one listed rule to the next (see canonical)."""
    out: list[CanonicalRule] = []
    shown_as: str | None = None
    for rule in sorted(rules, key=lambda r: r.list_index):
        out.append(CanonicalRule(canonical(rule, ctx, shown_as, listing), rule.list_index))
        if rule.arch:
            shown_as = rule.arch
    return out


def listing_rules(text: str, ctx: Context) -> tuple[list[str], list[str]]:
    """``auditctl -l`` output as canonical lines (re-rendered, so a listing compares with
    itself and with canonical_rules of the desired rules) and the lines that could not be
    parsed (kept verbatim, in place)."""
    lines: list[str] = []
    unparsed: list[str] = []
    shown_as: str | None = None
    for raw in text.splitlines():
        try:
            parsed = parse_line(raw, isdir=lambda _path: False, listing=True)
        except RuleSyntaxError:
            unparsed.append(raw.strip())
            lines.append(raw.strip())
            continue
        if not isinstance(parsed, Rule):
            continue
        try:
            lines.append(canonical(parsed, ctx, shown_as, listing=True))
        except (RuleSyntaxError, UnresolvedName):
            lines.append(raw.strip())
        if parsed.arch:
            shown_as = parsed.arch
    return lines, unparsed


def compare(desired: Sequence[str], actual: Sequence[str]) -> dict[str, Any]:
    """Missing and extra rules (as multisets) and whether the order differs."""
    want, have = Counter(desired), Counter(actual)
    missing = [line for line in desired if (want - have)[line] > 0]
    extra = [line for line in actual if (have - want)[line] > 0]
    missing = list(dict.fromkeys(missing))
    extra = list(dict.fromkeys(extra))
    return {
        "equal": list(desired) == list(actual),
        "missing": missing,
        "extra": extra,
        "order_differs": not missing and not extra and list(desired) != list(actual),
    }


# ---------------------------------------------------------------- other outputs


def parse_status(text: str) -> dict[str, Any]:
    """``auditctl -s``: ``enabled 1``, ``failure 1``, ``pid N`` ... one per line; values as
    ints (``loginuid_immutable 0 unlocked`` -> 0 plus ``loginuid_immutable_locked``)."""
    status: dict[str, Any] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, value = parts[0], parts[1]
        if not re.fullmatch(r"-?[0-9]+", value):
            continue
        status[name] = int(value)
        if name == "loginuid_immutable" and len(parts) > 2:
            status["loginuid_immutable_locked"] = parts[2] == "locked"
    for required in ("enabled", "failure", "pid", "backlog_limit", "lost", "backlog"):
        if required not in status:
            raise ValueError(f"`auditctl -s` output has no {required!r} line")
    return status


def kernel_refused(stderr: str) -> bool:
    """True when auditctl's error says the kernel refuses audit netlink to this process
    (EPERM: a container outside the initial PID/user namespace, or no CAP_AUDIT_CONTROL)."""
    return "Operation not permitted" in stderr


def parse_syscall_dump(text: str) -> tuple[str, dict[str, int]]:
    """``ausyscall <arch> --dump``: (table name, {syscall: number})."""
    lines = text.splitlines()
    if not lines:
        raise ValueError("empty ausyscall output")
    match = re.match(r"Using (\S+) syscall table", lines[0])
    if not match:
        raise ValueError(f"unexpected ausyscall header {lines[0]!r}")
    table: dict[str, int] = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            table[parts[1]] = int(parts[0])
    if not table:
        raise ValueError(f"ausyscall printed no syscalls for {match.group(1)}")
    return match.group(1), table


def libaudit_tables(machines: Sequence[str], limit: int = 1024) -> dict[str, dict[str, int]]:
    """Syscall tables straight from libaudit (the library ausyscall uses), for hosts where the
    auditd package (and ausyscall) is not installed yet. Empty when libaudit is absent."""
    name = ctypes.util.find_library("audit") or "libaudit.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return {}
    lib.audit_name_to_machine.argtypes = [ctypes.c_char_p]
    lib.audit_name_to_machine.restype = ctypes.c_int
    lib.audit_syscall_to_name.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.audit_syscall_to_name.restype = ctypes.c_char_p
    tables: dict[str, dict[str, int]] = {}
    for machine in machines:
        number = lib.audit_name_to_machine(machine.encode())
        if number < 0:
            continue
        table: dict[str, int] = {}
        for sc in range(limit):
            found = lib.audit_syscall_to_name(sc, number)
            if found:
                table[found.decode()] = sc
        if table:
            tables[machine] = table
    return tables


def parse_conf(text: str) -> tuple[dict[str, str], list[str]]:
    """auditd.conf: {lower-case key: value} and problems (malformed or repeated lines)."""
    conf: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            problems.append(f"line {number}: no '=' in {line!r}")
            continue
        key, _, value = line.partition("=")
        key = key.strip().lower()
        if key in conf:
            problems.append(f"line {number}: {key} set again")
        conf[key] = value.strip()
    return conf, problems


def _natural_key(name: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"([0-9]+)", name)]


def augenrules_order(names: Iterable[str]) -> list[str]:
    """The ``*.rules`` files of rules.d in the order augenrules reads them (``ls -1v``)."""
    return sorted((n for n in names if n.endswith(".rules")), key=_natural_key)


def merge_rules_files(texts: Sequence[tuple[str, str]]) -> list[str]:
    """augenrules' merge of (name, text) pairs, already in read order: comments and blank lines
    dropped, the last -D, -b, -f first (in that order), the last -e at the end."""
    minus: dict[str, str] = {}
    rest: list[str] = []
    for _name, text in texts:
        for raw in text.splitlines():
            line = raw.replace("\r", "")
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if re.match(r"^\s*-e", line):
                minus["e"] = line
            elif re.match(r"^\s*-D\s*$", line):
                minus["D"] = line
            elif re.match(r"^\s*-f", line):
                minus["f"] = line
            elif re.match(r"^\s*-b", line):
                minus["b"] = line
            else:
                rest.append(line)
    head = [minus[k] for k in ("D", "b", "f") if k in minus]
    tail = [minus["e"]] if "e" in minus else []
    return head + rest + tail


def control_settings(controls: Iterable[Control]) -> dict[str, Any]:
    """The effective settings of control lines (the last of each wins, as in the kernel)."""
    out: dict[str, Any] = {}
    names = {
        "-b": "backlog_limit",
        "-f": "failure",
        "-e": "enabled",
        "-r": "rate_limit",
        "--backlog_wait_time": "backlog_wait_time",
    }
    for control in controls:
        if control.option in names and control.value is not None:
            out[names[control.option]] = int(control.value)
        elif control.option == "--loginuid-immutable":
            out["loginuid_immutable"] = 1
        elif control.option == "-D":
            out["delete_all"] = True
    return out
