# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""nftables: read `nft -j` output, normalise one table to its meaning, compare, and assess.

Shared by the verifier (soc2_nft / soc2_verify, checks NET-01 .. NET-05) and by the enforcing
module of the nftables role (soc2_nft_apply), so the role decides `changed` with exactly the
comparison the drift check uses.

Meaning, not bytes: handles, counter values, quota usage, comments and the order of elements in
sets are dropped; the order of rules inside a chain is kept (it decides what a packet meets
first). The desired table is whatever the kernel makes of the role's rendered file, obtained by
loading that file into a throw-away network namespace (``unshare --net``): both sides then come
from the same nft and kernel, whatever their JSON dialect.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ansible.module_utils.soc2_command import run
from ansible.module_utils.soc2_results import make_check

# Comments the role puts on the rules the verifier looks for.
DROP_COMMENT = "soc2:default-deny"
# A table loaded into the scratch namespace before the file: if it is gone afterwards, the file
# touched tables that are not ours (`flush ruleset`, `delete table ...`).
SENTINEL_FAMILY = "ip"
SENTINEL_TABLE = "soc2_scratch_sentinel"

# Keys that carry identity or state, not meaning.
_VOLATILE = frozenset({"handle", "family", "table", "index"})
_CHAIN_KEYS = ("type", "hook", "prio", "policy", "dev")
_TERMINAL = ("accept", "drop", "reject", "queue", "return", "jump", "goto", "continue")


class ParseError(ValueError):
    """Output that is not the nft JSON this module knows."""


# ---------------------------------------------------------------- reading


def parse_json(text: str) -> list[dict[str, Any]]:
    """The object list of `nft -j list ...` output."""
    if not text.strip():
        # nft prints nothing for an empty ruleset on some versions.
        return []
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("nftables"), list):
        raise ParseError('expected an object with an "nftables" list')
    objs = doc["nftables"]
    for index, obj in enumerate(objs):
        if not isinstance(obj, dict) or len(obj) != 1:
            raise ParseError(f"object {index} is not a single-key mapping")
    return objs


def metainfo(objs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    for obj in objs:
        if "metainfo" in obj:
            return dict(obj["metainfo"])
    return {}


def _kind_body(obj: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    ((kind, body),) = obj.items()
    return kind, body if isinstance(body, dict) else {}


def table_names(objs: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(family, name) of every table, in listing order."""
    out = []
    for obj in objs:
        kind, body = _kind_body(obj)
        if kind == "table":
            out.append((str(body.get("family")), str(body.get("name"))))
    return out


def table_objects(
    objs: Iterable[Mapping[str, Any]], family: str, name: str
) -> list[tuple[str, dict[str, Any]]]:
    """(kind, body) of the table itself and everything that belongs to it."""
    out = []
    for obj in objs:
        kind, body = _kind_body(obj)
        if kind == "metainfo" or body.get("family") != family:
            continue
        owner = body.get("name") if kind == "table" else body.get("table")
        if owner == name:
            out.append((kind, body))
    return out


# ---------------------------------------------------------------- normalising


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _order(value: Any) -> tuple[int, Any]:
    """Sort key for set elements: numbers numerically, then words, then structures."""
    if isinstance(value, bool):
        return (2, _key(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, _key(value))


def canonical(value: Any, in_match_right: bool = False) -> Any:
    """An expression or statement without state (counters, quota use) and with sets sorted."""
    if isinstance(value, list):
        items = [canonical(v) for v in value]
        # A list on the right of a match is a flag combination (ct state a,b): order-free.
        if in_match_right and all(not isinstance(i, (dict, list)) for i in items):
            return sorted(items, key=_order)
        return items
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, inner),) = value.items()
        if key == "counter" and (inner is None or isinstance(inner, dict)):
            return {"counter": None}
        if key == "quota" and isinstance(inner, dict):
            kept = {k: v for k, v in inner.items() if k not in ("used", "used_unit")}
            return {"quota": canonical(kept)}
        if key == "set" and isinstance(inner, list):
            return {"set": sorted((element(i) for i in inner), key=_order)}
        if key == "elem" and isinstance(inner, dict) and "val" in inner:
            return canonical(inner["val"])
        if key == "match" and isinstance(inner, dict):
            out = {k: canonical(v) for k, v in inner.items() if k != "right"}
            if "right" in inner:
                out["right"] = canonical(inner["right"], in_match_right=True)
            return {"match": out}
    return {k: canonical(v) for k, v in value.items()}


def element(value: Any) -> Any:
    """A set element without its per-element state (counters, comments, expiry)."""
    if isinstance(value, dict) and "elem" in value and isinstance(value["elem"], dict):
        return canonical(value["elem"].get("val"))
    return canonical(value)


def normalise_table(objs: Iterable[Mapping[str, Any]], family: str, name: str) -> dict | None:
    """One table's meaning, or None when the table is not in the listing.

    ``{"family", "name", "flags", "chains": {name: attrs}, "sets": {name: attrs},
    "objects": {"<kind>:<name>": attrs}, "rules": {chain: [{"expr", "comment"}]}}``
    """
    found = table_objects(objs, family, name)
    if not any(kind == "table" for kind, _ in found):
        return None
    table: dict[str, Any] = {
        "family": family,
        "name": name,
        "flags": [],
        "chains": {},
        "sets": {},
        "objects": {},
        "rules": {},
    }
    for kind, body in found:
        if kind == "table":
            flags = body.get("flags") or []
            table["flags"] = sorted([flags] if isinstance(flags, str) else list(flags))
        elif kind == "chain":
            attrs = {k: body[k] for k in _CHAIN_KEYS if k in body}
            table["chains"][str(body.get("name"))] = attrs
            table["rules"].setdefault(str(body.get("name")), [])
        elif kind in ("set", "map"):
            attrs = {
                k: canonical(v)
                for k, v in body.items()
                if k not in _VOLATILE and k not in ("name", "elem", "comment")
            }
            flags = attrs.get("flags")
            if isinstance(flags, list):
                attrs["flags"] = sorted(flags)
            elif isinstance(flags, str):
                attrs["flags"] = [flags]
            attrs["kind"] = kind
            attrs["elements"] = sorted((element(e) for e in body.get("elem") or []), key=_order)
            table["sets"][str(body.get("name"))] = attrs
        elif kind == "rule":
            chain = str(body.get("chain"))
            table["rules"].setdefault(chain, []).append(
                {"expr": canonical(body.get("expr") or []), "comment": body.get("comment")}
            )
        else:
            # Named stateful objects (counter, quota, limit, ct helper, ...): drop their state.
            attrs = {
                k: canonical(v)
                for k, v in body.items()
                if k not in _VOLATILE and k not in ("name", "packets", "bytes", "used", "comment")
            }
            table["objects"][f"{kind}:{body.get('name')}"] = attrs
    return table


# ---------------------------------------------------------------- text for people


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return ",".join(_value_text(v) for v in value)
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "set" and isinstance(inner, list):
            return "{ " + ", ".join(_value_text(v) for v in inner) + " }"
        if key == "range" and isinstance(inner, list) and len(inner) == 2:
            return f"{_value_text(inner[0])}-{_value_text(inner[1])}"
        if key == "prefix" and isinstance(inner, dict):
            return f"{_value_text(inner.get('addr'))}/{inner.get('len')}"
        if key == "payload" and isinstance(inner, dict):
            if "protocol" in inner:
                return f"{inner['protocol']} {inner.get('field')}"
            return f"@{inner.get('base')},{inner.get('offset')},{inner.get('len')}"
        if key == "meta" and isinstance(inner, dict):
            mkey = str(inner.get("key"))
            return mkey if mkey in ("iif", "oif", "iifname", "oifname", "mark") else f"meta {mkey}"
        if key == "ct" and isinstance(inner, dict):
            parts = ["ct"]
            if inner.get("dir"):
                parts.append(str(inner["dir"]))
            parts.append(str(inner.get("key")))
            return " ".join(parts)
        if key == "elem" and isinstance(inner, dict):
            return _value_text(inner.get("val"))
    return _key(value)


def _statement_text(stmt: Any) -> str:
    if not isinstance(stmt, dict) or len(stmt) != 1:
        return _key(stmt)
    ((key, inner),) = stmt.items()
    if key == "match" and isinstance(inner, dict):
        op = inner.get("op", "==")
        shown = "" if op in ("==", "in") else f"{op} "
        return f"{_value_text(inner.get('left'))} {shown}{_value_text(inner.get('right'))}"
    if key in ("accept", "drop", "continue", "return") and inner is None:
        return key
    if key in ("jump", "goto") and isinstance(inner, dict):
        return f"{key} {inner.get('target')}"
    if key == "counter":
        if isinstance(inner, dict) and "packets" in inner:
            return f"counter packets {inner['packets']} bytes {inner.get('bytes')}"
        return "counter" if not isinstance(inner, str) else f'counter name "{inner}"'
    if key == "log" and isinstance(inner, dict):
        parts = ["log"]
        if "prefix" in inner:
            parts.append(f'prefix "{inner["prefix"]}"')
        for opt in ("level", "group"):
            if opt in inner:
                parts.append(f"{opt} {inner[opt]}")
        return " ".join(parts)
    if key == "log":
        return "log"
    if key == "limit" and isinstance(inner, dict):
        over = "over " if inner.get("inv") else ""
        unit = f" {inner['rate_unit']}" if inner.get("rate_unit", "packets") != "packets" else ""
        text = f"limit rate {over}{inner.get('rate')}{unit}/{inner.get('per')}"
        if inner.get("burst"):
            text += f" burst {inner['burst']} packets"
        return text
    if key == "reject":
        return "reject" if not inner else f"reject with {_key(inner)}"
    if key in ("dnat", "snat") and isinstance(inner, dict):
        target = _value_text(inner.get("addr", ""))
        if "port" in inner:
            target += f":{_value_text(inner['port'])}"
        return f"{key} to {target}"
    if key == "redirect":
        port = inner.get("port") if isinstance(inner, dict) else None
        return "redirect" if port is None else f"redirect to :{_value_text(port)}"
    if key == "masquerade":
        return "masquerade"
    if key == "xt" and isinstance(inner, dict):
        return f"xt {inner.get('type', '')} {inner.get('name', '')}".strip()
    return _key(stmt)


def rule_text(rule: Mapping[str, Any] | Sequence[Any]) -> str:
    """Roughly the nft syntax of a rule (for messages and diffs, never for comparison)."""
    expr = rule.get("expr", []) if isinstance(rule, Mapping) else rule
    text = " ".join(_statement_text(s) for s in expr)
    comment = rule.get("comment") if isinstance(rule, Mapping) else None
    return f'{text} comment "{comment}"' if comment else text


def set_text(name: str, attrs: Mapping[str, Any]) -> str:
    flags = f" flags {','.join(attrs['flags'])}" if attrs.get("flags") else ""
    elems = ", ".join(_value_text(e) for e in attrs.get("elements", []))
    kind = attrs.get("kind", "set")
    return f"{kind} {name} type {_value_text(attrs.get('type'))}{flags} {{ {elems} }}"


def chain_text(name: str, attrs: Mapping[str, Any]) -> str:
    if "hook" not in attrs:
        return f"chain {name}"
    prio = attrs.get("prio")
    return (
        f"chain {name} type {attrs.get('type')} hook {attrs.get('hook')} priority {prio}"
        f" policy {attrs.get('policy', 'accept')}"
    )


def table_lines(table: Mapping[str, Any] | None) -> list[str]:
    """A stable text rendering of a normalised table, for `--diff` before/after."""
    if table is None:
        return []
    lines = [f"table {table['family']} {table['name']}"]
    if table.get("flags"):
        lines.append(f"  flags {','.join(table['flags'])}")
    for name in sorted(table["sets"]):
        lines.append("  " + set_text(name, table["sets"][name]))
    for key in sorted(table.get("objects", {})):
        lines.append(f"  {key.replace(':', ' ', 1)} {_key(table['objects'][key])}")
    for name in sorted(table["chains"]):
        lines.append("  " + chain_text(name, table["chains"][name]))
        for rule in table["rules"].get(name, []):
            lines.append("    " + rule_text({"expr": rule["expr"]}))
    return lines


# ---------------------------------------------------------------- comparing


def _elements_text(values: Iterable[Any]) -> list[str]:
    return [_value_text(v) for v in values]


def compare(desired: Mapping[str, Any] | None, live: Mapping[str, Any] | None) -> dict[str, Any]:
    """What differs between two normalised tables (empty lists and maps when equal).

    Rules are compared per chain as ordered lists of expressions (comments ignored); sets by
    definition and by members; chains by type, hook, priority and policy.
    """
    diff: dict[str, Any] = {
        "table_missing": live is None,
        "table_unexpected": desired is None and live is not None,
        "flags": None,
        "chains": {"missing": [], "extra": [], "changed": {}},
        "rules": {},
        "sets": {"missing": [], "extra": [], "changed": {}},
        "objects": {"missing": [], "extra": [], "changed": []},
    }
    if desired is None or live is None:
        diff["equal"] = desired is None and live is None
        return diff
    if desired["flags"] != live["flags"]:
        diff["flags"] = {"desired": desired["flags"], "live": live["flags"]}
    dch, lch = desired["chains"], live["chains"]
    diff["chains"]["missing"] = sorted(set(dch) - set(lch))
    diff["chains"]["extra"] = sorted(set(lch) - set(dch))
    for name in sorted(set(dch) & set(lch)):
        if dch[name] != lch[name]:
            diff["chains"]["changed"][name] = {"desired": dch[name], "live": lch[name]}
    for chain in sorted(set(desired["rules"]) | set(live["rules"])):
        want = desired["rules"].get(chain, [])
        have = live["rules"].get(chain, [])
        want_keys = [_key(r["expr"]) for r in want]
        have_keys = [_key(r["expr"]) for r in have]
        if want_keys == have_keys:
            continue
        missing_count = Counter(want_keys) - Counter(have_keys)
        extra_count = Counter(have_keys) - Counter(want_keys)
        missing = _pick(want, want_keys, missing_count)
        extra = _pick(have, have_keys, extra_count)
        diff["rules"][chain] = {
            "missing": [rule_text(r) for r in missing],
            "extra": [rule_text({"expr": r["expr"]}) for r in extra],
            "reordered": not missing and not extra,
        }
    dsets, lsets = desired["sets"], live["sets"]
    diff["sets"]["missing"] = sorted(set(dsets) - set(lsets))
    diff["sets"]["extra"] = sorted(set(lsets) - set(dsets))
    for name in sorted(set(dsets) & set(lsets)):
        want_set, have_set = dsets[name], lsets[name]
        want_defn = {k: v for k, v in want_set.items() if k != "elements"}
        have_defn = {k: v for k, v in have_set.items() if k != "elements"}
        want_el = {_key(e): e for e in want_set["elements"]}
        have_el = {_key(e): e for e in have_set["elements"]}
        change: dict[str, Any] = {}
        if want_defn != have_defn:
            change["definition"] = {"desired": want_defn, "live": have_defn}
        if set(want_el) != set(have_el):
            change["missing_elements"] = _elements_text(
                want_el[k] for k in sorted(set(want_el) - set(have_el))
            )
            change["extra_elements"] = _elements_text(
                have_el[k] for k in sorted(set(have_el) - set(want_el))
            )
        if change:
            diff["sets"]["changed"][name] = change
    dobj, lobj = desired.get("objects", {}), live.get("objects", {})
    diff["objects"]["missing"] = sorted(set(dobj) - set(lobj))
    diff["objects"]["extra"] = sorted(set(lobj) - set(dobj))
    diff["objects"]["changed"] = sorted(k for k in set(dobj) & set(lobj) if dobj[k] != lobj[k])
    diff["equal"] = not (
        diff["flags"]
        or any(diff["chains"][k] for k in ("missing", "extra", "changed"))
        or diff["rules"]
        or any(diff["sets"][k] for k in ("missing", "extra", "changed"))
        or any(diff["objects"][k] for k in ("missing", "extra", "changed"))
    )
    return diff


def _pick(
    rules: Sequence[Mapping[str, Any]], keys: Sequence[str], wanted: Counter[str]
) -> list[Mapping[str, Any]]:
    left = Counter(wanted)
    out = []
    for rule, key in zip(rules, keys, strict=True):
        if left[key] > 0:
            out.append(rule)
            left[key] -= 1
    return out


# ---------------------------------------------------------------- protected ports


def _terminal(expr: Sequence[Any]) -> str | None:
    for stmt in reversed(expr):
        if isinstance(stmt, dict) and len(stmt) == 1:
            key = next(iter(stmt))
            if key in _TERMINAL:
                return key
    return None


def _dport_matches(expr: Sequence[Any]) -> list[tuple[str, Any]]:
    """(protocol, right side) of every `<tcp|udp|th|sctp> dport` match of a rule."""
    out = []
    for stmt in expr:
        if not (isinstance(stmt, dict) and "match" in stmt and isinstance(stmt["match"], dict)):
            continue
        match = stmt["match"]
        left = match.get("left")
        if not (isinstance(left, dict) and isinstance(left.get("payload"), dict)):
            continue
        payload = left["payload"]
        if payload.get("field") != "dport" or match.get("op", "==") not in ("==", "in"):
            continue
        out.append((str(payload.get("protocol")), match.get("right")))
    return out


def _port_ranges(right: Any) -> list[tuple[int, int]] | None:
    """Port ranges a match's right side covers; None when it is not literal (a named set)."""
    if isinstance(right, bool):
        return None
    if isinstance(right, int):
        return [(right, right)]
    if isinstance(right, str):
        return [(int(right), int(right))] if right.isdigit() else None
    if isinstance(right, dict):
        if "range" in right and isinstance(right["range"], list) and len(right["range"]) == 2:
            low, high = right["range"]
            if isinstance(low, int) and isinstance(high, int):
                return [(low, high)]
            return None
        if "set" in right and isinstance(right["set"], list):
            out: list[tuple[int, int]] = []
            for item in right["set"]:
                got = _port_ranges(item)
                if got is None:
                    return None
                out.extend(got)
            return out
    return None


def protected_ports(desired: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The ports our input chain opens selectively: ``[{"protocol", "low", "high"}]``."""
    if desired is None:
        return []
    found: set[tuple[str, int, int]] = set()
    for rule in desired["rules"].get("input", []):
        if _terminal(rule["expr"]) != "accept":
            continue
        for proto, right in _dport_matches(rule["expr"]):
            for low, high in _port_ranges(right) or []:
                found.add((proto, low, high))
    return [{"protocol": p, "low": lo, "high": hi} for p, lo, hi in sorted(found)]


def _overlaps(proto: str, ranges: Iterable[tuple[int, int]], protected: Sequence[dict]) -> bool:
    for item in protected:
        # `th dport` matches any transport protocol.
        if not (proto == item["protocol"] or "th" in (proto, item["protocol"])):
            continue
        for low, high in ranges:
            if low <= item["high"] and item["low"] <= high:
                return True
    return False


def foreign_openings(
    objs: Iterable[Mapping[str, Any]], family: str, name: str, protected: Sequence[dict]
) -> list[dict[str, str]]:
    """Rules of other tables that accept traffic to a port our table protects."""
    out = []
    for obj in objs:
        kind, body = _kind_body(obj)
        if kind != "rule" or (body.get("family") == family and body.get("table") == name):
            continue
        expr = canonical(body.get("expr") or [])
        if _terminal(expr) != "accept":
            continue
        for proto, right in _dport_matches(expr):
            ranges = _port_ranges(right)
            if ranges and _overlaps(proto, ranges, protected):
                out.append(
                    {
                        "table": f"{body.get('family')} {body.get('table')}",
                        "chain": str(body.get("chain")),
                        "rule": rule_text(expr),
                    }
                )
                break
    return out


def dropped(objs: Iterable[Mapping[str, Any]], family: str, name: str) -> dict[str, int] | None:
    """Packets and bytes counted by our default-deny rule of the input chain."""
    for kind, body in table_objects(objs, family, name):
        if kind != "rule" or body.get("chain") != "input" or body.get("comment") != DROP_COMMENT:
            continue
        for stmt in body.get("expr") or []:
            if isinstance(stmt, dict) and isinstance(stmt.get("counter"), dict):
                counter = stmt["counter"]
                if "packets" in counter:
                    return {
                        "packets": int(counter["packets"]),
                        "bytes": int(counter.get("bytes", 0)),
                    }
    return None


def scratch_tables_ok(objs: Iterable[Mapping[str, Any]], family: str, name: str) -> str | None:
    """Why a scratch load of our file is not acceptable (None when it is): the sentinel table
    loaded first must survive, and no other table may appear."""
    names = table_names(objs)
    problems = []
    if (SENTINEL_FAMILY, SENTINEL_TABLE) not in names:
        problems.append("it removes other tables (flush ruleset or delete table)")
    others = [
        f"{f} {n}"
        for f, n in names
        if (f, n) not in ((family, name), (SENTINEL_FAMILY, SENTINEL_TABLE))
    ]
    if others:
        problems.append(f"it creates other tables ({', '.join(others)})")
    if (family, name) not in names:
        problems.append(f"it does not create table {family} {name}")
    return "; ".join(problems) or None


# ---------------------------------------------------------------- reading the host

# Loads a file into a fresh network namespace and lists what the kernel made of it. The sentinel
# table goes in first (only when asked), so a file that flushes or deletes other tables shows.
_SCRATCH_SCRIPT = (
    f'set -e; if [ "$3" = sentinel ]; then "$1" add table {SENTINEL_FAMILY} {SENTINEL_TABLE}; fi; '
    '"$1" -f "$2"; "$1" -j list ruleset'
)


def failure(shown: Sequence[str], rc: int, out: str, err: str) -> str:
    """One line saying how a command failed."""
    detail = " ".join((err.strip() or out.strip() or "no output").split())
    return f"`{' '.join(shown)}` exited {rc}: {detail[:400]}"


def read_live(module: Any, nft: str) -> tuple[list[dict[str, Any]] | None, str | None]:
    """`nft -j list ruleset`, parsed: (objects, None) or (None, why)."""
    rc, out, err = run(module, [nft, "-j", "list", "ruleset"])
    if rc != 0:
        return None, failure(["nft", "-j", "list", "ruleset"], rc, out, err)
    try:
        return parse_json(out), None
    except ParseError as exc:
        return None, f"cannot parse `nft -j list ruleset` output: {exc}"


def scratch_load(
    module: Any, unshare: str, nft: str, path: str, sentinel: bool = True
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """What the kernel makes of ``path``, loaded into a throw-away network namespace."""
    argv = [
        unshare,
        "--net",
        "--",
        "/bin/sh",
        "-c",
        _SCRATCH_SCRIPT,
        "soc2-nft-scratch",
        nft,
        path,
        "sentinel" if sentinel else "none",
    ]
    rc, out, err = run(module, argv)
    if rc != 0:
        return None, failure(["unshare", "--net", "nft", "-f", path], rc, out, err)
    try:
        return parse_json(out), None
    except ParseError as exc:
        return None, f"cannot parse the scratch namespace listing of {path}: {exc}"


def scratch_load_text(
    module: Any, unshare: str, nft: str, text: str, table: str
) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Like scratch_load for a ruleset given as text (written to a private temporary file)."""
    fd, path = tempfile.mkstemp(prefix=f".{table}-", suffix=".nft")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return scratch_load(module, unshare, nft, path)
    finally:
        os.unlink(path)


def desired_table(
    objs: list[dict[str, Any]] | None, error: str | None, table: str
) -> tuple[dict[str, Any] | None, str | None]:
    """Our table from a scratch listing, refusing files that touch other tables."""
    if objs is None:
        return None, f"the desired ruleset could not be loaded: {error}"
    bad = scratch_tables_ok(objs, "inet", table)
    if bad:
        return None, f"the desired ruleset is refused: {bad}"
    return normalise_table(objs, "inet", table), None


def unit_word(module: Any, systemctl: str, verb: str, unit: str) -> tuple[str | None, str | None]:
    """The one word `systemctl is-enabled|is-active <unit>` prints."""
    rc, out, err = run(module, [systemctl, verb, unit])
    word = out.strip().splitlines()[0].strip() if out.strip() else ""
    if word:
        return word, None
    if "No such file or directory" in err or "not found" in err:
        return "not-found", None
    return None, failure(["systemctl", verb, unit], rc, out, err)


# ---------------------------------------------------------------- checks


def _summary(items: Sequence[str], limit: int = 3) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _chain_view(table: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if table is None:
        return None
    return {name: dict(attrs) for name, attrs in sorted(table["chains"].items())}


def check_policy(
    live: Mapping[str, Any] | None,
    desired: Mapping[str, Any] | None,
    diff: Mapping[str, Any] | None,
    label: str,
    live_error: str | None,
) -> dict[str, Any]:
    """NET-01: our table is loaded, not dormant, input hooked with policy drop, chains as
    desired."""
    expected = _chain_view(desired) or {"input": {"hook": "input", "policy": "drop"}}
    if live_error:
        return make_check("NET-01", "error", None, expected, live_error)
    if live is None:
        return make_check(
            "NET-01", "fail", None, expected, f"table {label} is not loaded: nothing filters input"
        )
    problems = []
    if "dormant" in live["flags"]:
        problems.append(f"table {label} is dormant (its chains do not run)")
    inp = live["chains"].get("input")
    if inp is None:
        problems.append("chain input is missing")
    else:
        if inp.get("hook") != "input" or inp.get("type") != "filter":
            problems.append(
                f"chain input is type {inp.get('type')} hook {inp.get('hook')}, not filter input"
            )
        if inp.get("policy") != "drop":
            problems.append(f"input policy is {inp.get('policy', 'accept')}, not drop")
    if diff is not None:
        for name, change in diff["chains"]["changed"].items():
            want, have = change["desired"], change["live"]
            for attr in sorted(set(want) | set(have)):
                if want.get(attr) == have.get(attr):
                    continue
                if name == "input" and attr in ("type", "hook", "policy"):
                    continue  # reported above
                problems.append(
                    f"chain {name} {attr} is {have.get(attr)}, desired {want.get(attr)}"
                )
        problems += [f"chain {n} is missing" for n in diff["chains"]["missing"] if n != "input"]
        problems += [f"unexpected chain {n}" for n in diff["chains"]["extra"]]
        if diff["flags"]:
            problems.append(
                f"table flags {diff['flags']['live']}, desired {diff['flags']['desired']}"
            )
    observed = _chain_view(live)
    if problems:
        return make_check("NET-01", "fail", observed, expected, _summary(problems, 5))
    return make_check(
        "NET-01",
        "pass",
        observed,
        expected,
        f"table {label} is loaded; input policy drop"
        + (", chains as desired" if diff is not None else ""),
    )


def check_rules(
    diff: Mapping[str, Any] | None,
    desired: Mapping[str, Any] | None,
    label: str,
    error: str | None,
) -> dict[str, Any]:
    """NET-02: the rules of every chain equal the desired ones, in order."""
    expected = (
        {"rules": sum(len(r) for r in desired["rules"].values())} if desired is not None else None
    )
    if error:
        return make_check("NET-02", "error", None, expected, error)
    assert diff is not None
    if diff["table_missing"]:
        return make_check(
            "NET-02", "fail", None, expected, f"table {label} is not loaded: every rule is missing"
        )
    rules = diff["rules"]
    if not rules:
        return make_check(
            "NET-02",
            "pass",
            {"missing": [], "extra": []},
            expected,
            "rules as desired in every chain",
        )
    missing = [f"{c}: {r}" for c, d in rules.items() for r in d["missing"]]
    extra = [f"{c}: {r}" for c, d in rules.items() for r in d["extra"]]
    reordered = sorted(c for c, d in rules.items() if d["reordered"])
    parts = []
    if extra:
        parts.append(f"{len(extra)} rule(s) not in the desired ruleset: {_summary(extra)}")
    if missing:
        parts.append(f"{len(missing)} desired rule(s) missing: {_summary(missing)}")
    if reordered:
        parts.append(f"rules reordered in {', '.join(reordered)}")
    observed = {"missing": missing, "extra": extra, "reordered": reordered}
    return make_check("NET-02", "fail", observed, expected, ". ".join(parts))


def check_sets(
    diff: Mapping[str, Any] | None,
    desired: Mapping[str, Any] | None,
    live: Mapping[str, Any] | None,
    label: str,
    error: str | None,
) -> dict[str, Any]:
    """NET-03: every allow-list set exists as desired with exactly the desired members."""
    expected = (
        {n: _elements_text(s["elements"]) for n, s in sorted(desired["sets"].items())}
        if desired is not None
        else None
    )
    if error:
        return make_check("NET-03", "error", None, expected, error)
    assert diff is not None
    if diff["table_missing"]:
        return make_check(
            "NET-03", "fail", None, expected, f"table {label} is not loaded: no allow-list set"
        )
    observed = (
        {n: _elements_text(s["elements"]) for n, s in sorted(live["sets"].items())}
        if live is not None
        else None
    )
    sets = diff["sets"]
    problems = [f"set {n} is missing" for n in sets["missing"]]
    problems += [f"unexpected set {n}" for n in sets["extra"]]
    for name, change in sets["changed"].items():
        if "definition" in change:
            problems.append(f"set {name} is defined differently")
        if change.get("missing_elements"):
            problems.append(f"set {name} lacks {', '.join(change['missing_elements'])}")
        if change.get("extra_elements"):
            problems.append(f"set {name} also holds {', '.join(change['extra_elements'])}")
    if problems:
        return make_check("NET-03", "fail", observed, expected, _summary(problems, 5))
    count = len(desired["sets"]) if desired is not None else 0
    return make_check(
        "NET-03",
        "pass",
        observed,
        expected,
        f"{count} allow-list set(s) hold exactly their members",
    )


def check_boot(
    enabled: str | None,
    boot_diff: Mapping[str, Any] | None,
    boot_source: str,
    service: str,
    label: str,
    error: str | None,
    notes: Sequence[str] = (),
    fallback: bool = False,
) -> dict[str, Any]:
    """NET-04: the service loads the desired table at boot. ``fallback``: the boot file could not
    be loaded in a scratch namespace and ``boot_source`` is the persisted file instead, which
    proves less (at_risk at best)."""
    expected = {"service": "enabled", "boot": "desired table"}
    observed = {
        "service": enabled,
        "boot_source": boot_source,
        "boot_equal": None if boot_diff is None else boot_diff["equal"],
        "notes": list(notes),
    }
    if error:
        return make_check("NET-04", "error", observed, expected, error)
    assert boot_diff is not None
    problems = []
    if enabled != "enabled":
        problems.append(f"{service} is {enabled or 'unknown'} at boot, not enabled")
    if boot_diff["table_missing"]:
        problems.append(f"{boot_source} does not create table {label}")
    elif not boot_diff["equal"]:
        what = []
        if boot_diff["rules"]:
            what.append("rules")
        if any(boot_diff["sets"][k] for k in ("missing", "extra", "changed")):
            what.append("sets")
        if any(boot_diff["chains"][k] for k in ("missing", "extra", "changed")):
            what.append("chains")
        problems.append(
            f"{boot_source} loads table {label} with other {' and '.join(what) or 'content'}"
            " than desired"
        )
    if problems:
        return make_check("NET-04", "fail", observed, expected, "; ".join(problems))
    if fallback:
        return make_check(
            "NET-04",
            "at_risk",
            observed,
            expected,
            f"{service} is enabled and {boot_source} holds the desired table, but the boot file"
            " could not be loaded to prove it includes it (see notes)",
        )
    return make_check(
        "NET-04",
        "pass",
        observed,
        expected,
        f"{service} is enabled and {boot_source} loads the desired table {label}",
    )


def check_foreign(
    openings: Sequence[Mapping[str, str]] | None,
    tables: Sequence[tuple[str, str]],
    protected: Sequence[Mapping[str, Any]],
    label: str,
    error: str | None,
) -> dict[str, Any]:
    """NET-05: no other table accepts traffic on a port our table protects."""
    ports = [
        f"{p['protocol']}/{p['low']}" + (f"-{p['high']}" if p["high"] != p["low"] else "")
        for p in protected
    ]
    expected = {"protected_ports": ports, "accepting_foreign_rules": []}
    if error:
        return make_check("NET-05", "error", None, expected, error)
    assert openings is not None
    others = [f"{f} {n}" for f, n in tables if f"{f} {n}" != label]
    observed = {"other_tables": others, "accepting_foreign_rules": list(openings)}
    if openings:
        shown = [f"{o['table']} chain {o['chain']}: {o['rule']}" for o in openings]
        return make_check(
            "NET-05",
            "fail",
            observed,
            expected,
            f"{len(openings)} rule(s) in other tables accept protected ports: {_summary(shown)}",
        )
    return make_check(
        "NET-05",
        "pass",
        observed,
        expected,
        f"no rule in the {len(others)} other table(s) accepts any of the {len(ports)}"
        " protected port(s)",
    )
