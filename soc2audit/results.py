# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Merge one drift run into the full result set (docs/architecture.md "Check results",
docs/drift.md "Results").

Inputs are what the hosts' verifiers and the testinfra plugin reported; the output is one row
per (host, applicable check) in the result schema (docs/drift.md "The result row"), plus
``drift_since`` and ``waiver``:

* a host that produced nothing is ``not_run`` for every check that applies to it, and a check a
  reporting host left out is ``not_run`` too: silence is never a pass;
* drift is remembered between runs in a small JSON state file: the first run that saw the current
  drift (``drift_since``) and, per check, when it last ran;
* an optional grace period turns a young ``fail`` into ``at_risk``;
* unexpired waivers (``controls/waivers.yml``) turn ``fail`` and ``at_risk`` into ``waived``; an
  expired one leaves the failure standing and says so. ``error`` and ``not_run`` are never waived.

The result vocabulary comes from ``plugins/module_utils/soc2_results.py``, the file the
verification modules use, imported as ``soc2audit.module_utils.soc2_results`` (pyproject.toml).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from soc2audit.catalog import Catalog, Check
from soc2audit.exitcodes import EXIT_FAILING, EXIT_INCOMPLETE, EXIT_OK
from soc2audit.fsutil import atomic_write, iso_utc, parse_utc

# The vocabulary the verification modules use: every result value in the order reports list them,
# and the aggregation precedence of the results a verifier can return.
from soc2audit.module_utils.soc2_results import RESULT_PRECEDENCE as RESULT_PRECEDENCE
from soc2audit.module_utils.soc2_results import RESULTS as RESULTS

#: Results that prove nothing is wrong (EXIT_OK when every row is one of these).
OK_RESULTS = frozenset({"pass", "waived", "not_applicable"})
#: Results that keep (or start) a check's drift; not_run leaves the drift state untouched.
DRIFT_RESULTS = frozenset(RESULTS) - {"pass", "not_applicable", "not_run"}
#: Results a waiver can turn into ``waived``.
WAIVABLE = frozenset({"fail", "at_risk"})

STATE_VERSION = 1
WAIVER_FIELDS = ("check", "hosts", "justification", "approver", "ticket", "expires")
_WAIVER_HELP = (
    "each entry needs check (id or pattern such as TIME-*), hosts (list of host names, group "
    "names, patterns or all), justification, approver, ticket and expires (YYYY-MM-DD)"
)


class PolicyError(ValueError):
    """controls/waivers.yml (or the catalog it refers to) is not usable; nothing was written."""


class StateError(ValueError):
    """The drift state file exists but cannot be read."""


# --------------------------------------------------------------------------- waivers


@dataclass(frozen=True)
class Waiver:
    """One entry of controls/waivers.yml; ``index`` is its position in the file."""

    index: int
    check: str
    hosts: tuple[str, ...]
    justification: str
    approver: str
    ticket: str
    expires: dt.date

    def matches(self, check_id: str, host: str, groups: Iterable[str]) -> bool:
        """True for the check on the host (by name, one of its groups, a pattern, or all)."""
        if not fnmatch.fnmatchcase(check_id, self.check):
            return False
        names = [host, *groups]
        return any(
            pattern == "all" or fnmatch.fnmatchcase(name, pattern)
            for pattern in self.hosts
            for name in names
        )

    def expired(self, now: dt.datetime) -> bool:
        """Waivers are valid through their ``expires`` day (inclusive, UTC)."""
        return now.astimezone(dt.UTC).date() > self.expires

    @property
    def expires_at(self) -> dt.datetime:
        """The first instant the waiver no longer covers (midnight UTC after ``expires``)."""
        day = self.expires + dt.timedelta(days=1)
        return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)

    def as_row(self) -> dict[str, str]:
        """What a waived result row records about the waiver."""
        return {
            "ticket": self.ticket,
            "approver": self.approver,
            "expires": self.expires.isoformat(),
        }


def read_waivers_bytes(path: Path | str | None) -> bytes:
    """The waivers file's bytes, b"" when there is none."""
    if path is None:
        return b""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the waivers file: {exc}") from None


def _text_field(entry: Mapping[str, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PolicyError(f"{where}: field '{name}' is missing or empty; {_WAIVER_HELP}")
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise PolicyError(f"{where}: field '{name}' must be text, got {type(value).__name__}")
    return " ".join(str(value).split())


def _expiry(value: Any, where: str) -> dt.date:
    hint = "write the last day the waiver is valid as YYYY-MM-DD, e.g. expires: 2026-06-30"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PolicyError(f"{where}: field 'expires' is missing or empty; {hint}")
    if isinstance(value, dt.datetime):
        raise PolicyError(f"{where}: field 'expires' must be a date without a time; {hint}")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            if len(value.strip()) == 10:
                return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PolicyError(f"{where}: field 'expires' is not a valid date ({value!r}); {hint}")


def _hosts_field(value: Any, where: str) -> tuple[str, ...]:
    hint = (
        "use a list of host names, group names or patterns, e.g. hosts: [edge1, 'edge*'] or [all]"
    )
    if value is None or value == [] or value == "":
        raise PolicyError(f"{where}: field 'hosts' is missing or empty; {hint}")
    if not isinstance(value, list):
        raise PolicyError(f"{where}: field 'hosts' must be a list; {hint}")
    hosts = []
    for position, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise PolicyError(
                f"{where}: field 'hosts' item {position} is empty or not text; {hint}"
            )
        hosts.append(item.strip())
    return tuple(hosts)


def parse_waivers(raw: bytes, catalog: Catalog, origin: str = "waivers") -> list[Waiver]:
    """Validate the waivers YAML against the catalog; PolicyError names the entry and the field."""
    if not raw.strip():
        return []
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{origin}: not valid YAML: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, dict) or "waivers" not in data:
        raise PolicyError(
            f"{origin}: expected a mapping with a 'waivers' list (waivers: [] for none)"
        )
    unknown_top = sorted(str(key) for key in data if key != "waivers")
    if unknown_top:
        raise PolicyError(f"{origin}: unknown top-level key(s) {', '.join(unknown_top)}")
    entries = data["waivers"]
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise PolicyError(f"{origin}: 'waivers' must be a list (waivers: [] for none)")
    ids = catalog.ids
    waivers = []
    for index, entry in enumerate(entries):
        where = f"{origin}: waivers[{index}]"
        if not isinstance(entry, dict):
            raise PolicyError(f"{where}: is not a mapping; {_WAIVER_HELP}")
        unknown = sorted(str(key) for key in entry if key not in WAIVER_FIELDS)
        if unknown:
            raise PolicyError(
                f"{where}: unknown field(s) {', '.join(unknown)}; "
                f"allowed fields: {', '.join(WAIVER_FIELDS)}"
            )
        check = _text_field(entry, "check", where)
        if not fnmatch.filter(ids, check):
            raise PolicyError(
                f"{where}: field 'check' {check!r} matches no check in the catalog; "
                "use a catalog id such as PKI-02 or a pattern such as TIME-*"
            )
        waivers.append(
            Waiver(
                index=index,
                check=check,
                hosts=_hosts_field(entry.get("hosts"), where),
                justification=_text_field(entry, "justification", where),
                approver=_text_field(entry, "approver", where),
                ticket=_text_field(entry, "ticket", where),
                expires=_expiry(entry.get("expires"), where),
            )
        )
    return waivers


def load_waivers(path: Path | str | None, catalog: Catalog) -> list[Waiver]:
    """Read controls/waivers.yml (a missing file means no waivers). PolicyError when invalid."""
    return parse_waivers(read_waivers_bytes(path), catalog, str(path))


def policy_sha256(catalog_raw: bytes, waivers_raw: bytes = b"") -> str:
    """Hash of the policy a run was judged against: catalog, separator, waivers."""
    return hashlib.sha256(catalog_raw + b"\n--- waivers\n" + waivers_raw).hexdigest()


def policy_sha256_of(catalog_path: Path | str, waivers_path: Path | str | None) -> str:
    """``policy_sha256`` of the files themselves (a missing waivers file counts as empty)."""
    return policy_sha256(Path(catalog_path).read_bytes(), read_waivers_bytes(waivers_path))


# --------------------------------------------------------------------------- state


@dataclass
class HostState:
    """What one host's results carry from run to run."""

    drift_since: dict[str, str] = field(default_factory=dict)
    last_run: dict[str, str] = field(default_factory=dict)
    last_success: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "drift_since": dict(sorted(self.drift_since.items())),
            "last_run": dict(sorted(self.last_run.items())),
            "last_success": self.last_success,
        }


@dataclass
class State:
    """The drift state file: per host, drift starts, last runs per check and last success."""

    hosts: dict[str, HostState] = field(default_factory=dict)

    def host(self, name: str) -> HostState:
        return self.hosts.get(name) or HostState()

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "hosts": {name: self.hosts[name].to_json() for name in sorted(self.hosts)},
        }

    @classmethod
    def from_json(cls, data: Any, origin: str = "state") -> State:
        hint = "restore it from a backup or delete it (drift ages restart from the next run)"
        if not isinstance(data, dict) or not isinstance(data.get("hosts"), dict):
            raise StateError(f"{origin}: not a drift state file (no 'hosts' mapping); {hint}")
        if data.get("version") != STATE_VERSION:
            raise StateError(
                f"{origin}: state version {data.get('version')!r}, expected {STATE_VERSION}; {hint}"
            )
        hosts = {}
        for name, body in data["hosts"].items():
            if not isinstance(body, dict):
                raise StateError(f"{origin}: hosts.{name} is not a mapping; {hint}")
            maps = {}
            for key in ("drift_since", "last_run"):
                value = body.get(key) or {}
                if not isinstance(value, dict) or not all(_is_time(v) for v in value.values()):
                    raise StateError(f"{origin}: hosts.{name}.{key} is malformed; {hint}")
                maps[key] = {str(k): v for k, v in value.items()}
            last_success = body.get("last_success")
            if last_success is not None and not _is_time(last_success):
                raise StateError(f"{origin}: hosts.{name}.last_success is malformed; {hint}")
            hosts[str(name)] = HostState(
                drift_since=maps["drift_since"],
                last_run=maps["last_run"],
                last_success=last_success,
            )
        return cls(hosts=hosts)


def _is_time(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_utc(value)
    except ValueError:
        return False
    return True


def load_state(path: Path | str) -> State:
    """The drift state (empty when the file does not exist yet). StateError when corrupt."""
    state_path = Path(path)
    try:
        text = state_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return State()
    except OSError as exc:
        raise StateError(f"{state_path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StateError(
            f"{state_path}: corrupt drift state ({exc}); restore it from a backup or delete it "
            "(drift ages restart from the next run)"
        ) from None
    return State.from_json(data, str(state_path))


def save_state(path: Path | str, state: State) -> Path:
    """Write the state atomically (temp file + os.replace)."""
    text = json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n"
    return atomic_write(path, text, mode=0o640)


# --------------------------------------------------------------------------- merge


def _host_reports(
    host: str,
    verifier_checks: Sequence[Mapping[str, Any]],
    testinfra: Sequence[Mapping[str, Any]],
    catalog: Catalog,
) -> dict[str, dict[str, Any]]:
    """The host's reported checks by id (verifier and testinfra), duplicates turned into error."""
    known = catalog.by_id
    reported: dict[str, dict[str, Any]] = {}
    for origin, items in (("verifier", verifier_checks), ("testinfra", testinfra)):
        for item in items:
            if not isinstance(item, Mapping) or not item.get("check_id"):
                raise ValueError(f"{host}: {origin} returned a check without check_id: {item!r}")
            check_id = str(item["check_id"])
            if check_id not in known:
                raise ValueError(
                    f"{host}: check {check_id} is emitted by the {origin} but not in the "
                    "catalog (add it to controls/catalog.yml)"
                )
            entry = {**item, "_origin": origin}
            if check_id in reported:
                first = reported[check_id]
                entry = {
                    **first,
                    "result": "error",
                    "message": (
                        f"reported twice: {first['_origin']} said {first.get('result')!r} "
                        f"({first.get('message', '')}), {origin} said {item.get('result')!r} "
                        f"({item.get('message', '')})"
                    ),
                }
            reported[check_id] = entry
    return reported


def _choose_waiver(candidates: list[Waiver]) -> Waiver | None:
    """The waiver that lasts longest (then the first in the file)."""
    if not candidates:
        return None
    return sorted(candidates, key=lambda w: (-w.expires.toordinal(), w.index))[0]


def merge_run(
    *,
    catalog: Catalog,
    hosts: Sequence[str],
    host_groups: Mapping[str, Sequence[str]],
    host_checks: Mapping[str, Sequence[Mapping[str, Any]] | None],
    host_errors: Mapping[str, str] | None = None,
    testinfra_rows: Sequence[Mapping[str, Any]] = (),
    waivers: Sequence[Waiver] = (),
    state: State | None = None,
    grace_seconds: int = 0,
    run_id: str,
    started: str,
    finished: str,
    suite_version: str,
    policy_sha256: str,
    now: dt.datetime | None = None,
) -> tuple[list[dict[str, Any]], State]:
    """One row per (host, applicable check) in inventory and catalog order, and the new state.

    ``host_checks[host]`` is None (or absent) for a host that produced nothing: every applicable
    check is not_run with ``host_errors[host]`` as message, and its testinfra rows are ignored.
    Raises ValueError for a check id the catalog lacks or a testinfra row for an unknown host.
    The ``state`` passed in is not modified.
    """
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    parse_utc(started)
    parse_utc(finished)
    errors = host_errors or {}
    old_state = state or State()
    inventory = set(hosts)
    testinfra_by_host: dict[str, list[Mapping[str, Any]]] = {}
    for item in testinfra_rows:
        host = str(item.get("host", ""))
        if host not in inventory:
            raise ValueError(f"testinfra row for {host!r}, which is not in the inventory: {item!r}")
        testinfra_by_host.setdefault(host, []).append(item)

    new_state = State(
        hosts={
            name: HostState(dict(hs.drift_since), dict(hs.last_run), hs.last_success)
            for name, hs in old_state.hosts.items()
        }
    )
    rows: list[dict[str, Any]] = []
    for host in hosts:
        groups = list(host_groups.get(host) or [])
        verifier = host_checks.get(host)
        silent = verifier is None
        reported = (
            {}
            if silent
            else _host_reports(host, verifier, testinfra_by_host.get(host, []), catalog)
        )
        host_state = new_state.hosts.setdefault(host, HostState())
        applicable = catalog.applicable(groups)
        applicable_ids = {check.id for check in applicable}
        if not silent:
            host_state.last_success = finished
            # Forget checks that no longer apply to this host (catalog or inventory changed).
            for mapping in (host_state.drift_since, host_state.last_run):
                for stale in set(mapping) - applicable_ids:
                    del mapping[stale]
        for check in applicable:
            row = _merge_one(
                host=host,
                groups=groups,
                check=check,
                got=reported.get(check.id),
                silent=silent,
                host_error=errors.get(host),
                host_state=host_state,
                waivers=waivers,
                grace_seconds=grace_seconds,
                started=started,
                finished=finished,
                now=moment,
            )
            rows.append(
                {
                    "run_id": run_id,
                    "host": host,
                    "check_id": check.id,
                    "suite_version": suite_version,
                    "policy_sha256": policy_sha256,
                    **row,
                }
            )
    return rows, new_state


def _merge_one(
    *,
    host: str,
    groups: list[str],
    check: Check,
    got: Mapping[str, Any] | None,
    silent: bool,
    host_error: str | None,
    host_state: HostState,
    waivers: Sequence[Waiver],
    grace_seconds: int,
    started: str,
    finished: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The result fields of one (host, check) row; updates ``host_state`` in place."""
    row_started, row_finished = started, finished
    if got is None:
        if silent:
            message = host_error or "host produced no results (unreachable or verifier failed)"
        else:
            message = "verifier did not report this check"
        result, observed, expected = "not_run", None, None
    else:
        result = str(got.get("result"))
        message = str(got.get("message") or "")
        observed, expected = got.get("observed"), got.get("expected")
        if got.get("_origin") == "testinfra":
            row_started = str(got.get("started") or started)
            row_finished = str(got.get("finished") or finished)
        if result == "waived":
            result = "error"
            message = (
                "the verifier returned waived; waivers are only granted by controls/waivers.yml"
                + (f" ({message})" if message else "")
            )
        elif result == "not_run" and not message:
            message = "the verifier did not run this check"
        elif result not in RESULTS:
            result = "error"
            message = f"verifier returned unknown result {got.get('result')!r}" + (
                f": {message}" if message else ""
            )

    # Drift bookkeeping works on what the host reported, before grace and waivers.
    if result in DRIFT_RESULTS:
        host_state.drift_since.setdefault(check.id, started)
    elif result in ("pass", "not_applicable"):
        host_state.drift_since.pop(check.id, None)
    if result != "not_run":
        host_state.last_run[check.id] = finished
    drift_since = host_state.drift_since.get(check.id)

    if result == "fail" and grace_seconds > 0 and drift_since is not None:
        since = parse_utc(drift_since)
        deadline = since + dt.timedelta(seconds=grace_seconds)
        if now < deadline:
            result = "at_risk"
            message = (
                f"{message} (failing since {drift_since}; at_risk inside the {grace_seconds} s "
                f"grace period, fails from {iso_utc(deadline)})"
            ).lstrip()

    waiver_row: dict[str, str] | None = None
    if result in WAIVABLE:
        matching = [w for w in waivers if w.matches(check.id, host, groups)]
        active = _choose_waiver([w for w in matching if not w.expired(now)])
        lapsed = [w for w in matching if w.expired(now)]
        if active is not None:
            result = "waived"
            waiver_row = active.as_row()
            message = (
                f"{message} [waived by {active.ticket}, approved by {active.approver}, "
                f"valid through {active.expires.isoformat()}]"
            ).lstrip()
        elif lapsed:
            last = sorted(lapsed, key=lambda w: (-w.expires.toordinal(), w.index))[0]
            note = f"waiver expired on {last.expires.isoformat()} ({last.ticket})"
            if result == "fail":
                message = f"{message} [{note}]".lstrip()
            else:
                message = f"{message} [{note}; not waived]".lstrip()

    return {
        "result": result,
        "observed": observed,
        "expected": expected,
        "message": message,
        "started": row_started,
        "finished": row_finished,
        "drift_since": drift_since,
        "waiver": waiver_row,
    }


def counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Number of rows per result value (every value present, vocabulary order)."""
    tally = dict.fromkeys(RESULTS, 0)
    for row in rows:
        tally[row["result"]] = tally.get(row["result"], 0) + 1
    return tally


def exit_code(rows: Iterable[Mapping[str, Any]]) -> int:
    """EXIT_OK, EXIT_FAILING (any fail or at_risk) or EXIT_INCOMPLETE (any error or not_run).

    EXIT_RUN_FAILED (soc2audit.exitcodes) is for the commands, when no result set was merged.
    """
    results = {row["result"] for row in rows}
    if results & {"fail", "at_risk"}:
        return EXIT_FAILING
    if results - OK_RESULTS:
        return EXIT_INCOMPLETE
    return EXIT_OK
