# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Incidents and alert notifications in the evidence trail (docs/evidence.md "Incidents").

An incident records an outage or a control failure with its ticket and root cause analysis, as
auditors accept for a gap: the time range it covers, the hosts and checks it concerns, the
ticket and the RCA's URL. ``soc2audit incident add`` (or ``incident import FILE`` for a YAML
list) validates it against the catalog and appends one JSON line per incident to
``<evidence>/incidents-YYYY-MM-DD.jsonl`` (the UTC day it was recorded) with
``soc2audit.evidence.append_evidence``, the trail's one writer, so the digest chain covers it
like every other ``*.jsonl``.

An incident line::

    {"record": "incident", "id", "from", "to", "hosts", "checks", "ticket", "rca_url",
     "summary", "recorded_at"}

``id`` is a hash of the incident's content (not of ``recorded_at``): importing the same file
twice records nothing new, and readers keep the first line of an id.

Alert notifications come from the Alertmanager evidence webhook receiver (roles/prometheus,
``soc2audit/alert_receiver.py`` where present) as ``<evidence>/alerts-YYYY-MM-DD.jsonl``. The
reader here is tolerant of the shapes seen so far: one line per alert with ``alertname``,
``labels``, ``status`` (firing/resolved) and ``starts_at``/``ends_at`` (or Alertmanager's own
``startsAt``/``endsAt``), or a whole webhook payload with an ``alerts`` list. An alert's host is
its ``host``, ``hostname``, ``nodename`` or ``instance`` label (port removed). Alerts are linked
to an incident when their times overlap and the host matches the incident's hosts.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from soc2audit.catalog import Catalog
from soc2audit.evidence import ALERTS_PREFIX, INCIDENTS_PREFIX, append_evidence
from soc2audit.fsutil import iso_utc, parse_moment, parse_utc

RECORD = "incident"
FIELDS = ("from", "to", "hosts", "checks", "ticket", "rca_url", "summary")
REQUIRED = ("from", "to", "hosts", "checks", "ticket", "rca_url")
#: Alertmanager's zero time, sent as endsAt while an alert fires.
ZERO_TIME_PREFIX = "0001-01-01"
HOST_LABELS = ("host", "hostname", "nodename", "instance")

_HELP = (
    "each incident needs from and to (ISO 8601 times, or YYYY-MM-DD: from the day's start, to "
    "its end), hosts (host names, fnmatch patterns such as edge* or all), checks (catalog "
    "ids, patterns such as TIME-* or all), ticket and rca_url (http(s) URL of the root cause "
    "analysis); "
    "summary is optional"
)


class IncidentError(ValueError):
    """An incident is not valid; nothing was recorded."""


@dataclass(frozen=True)
class Incident:
    start: dt.datetime
    end: dt.datetime
    hosts: tuple[str, ...]
    checks: tuple[str, ...]
    ticket: str
    rca_url: str
    summary: str = ""
    recorded_at: str | None = None
    where: str = ""

    @property
    def id(self) -> str:
        body = {k: v for k, v in self.content().items() if k != "recorded_at"}
        raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")
        return hashlib.sha256(raw).hexdigest()[:16]

    def content(self) -> dict[str, Any]:
        return {
            "from": iso_utc(self.start),
            "to": iso_utc(self.end),
            "hosts": list(self.hosts),
            "checks": list(self.checks),
            "ticket": self.ticket,
            "rca_url": self.rca_url,
            "summary": self.summary,
        }

    def to_row(self, recorded_at: dt.datetime) -> dict[str, Any]:
        return {
            "record": RECORD,
            "id": self.id,
            **self.content(),
            "recorded_at": iso_utc(recorded_at),
        }

    def matches_host(self, host: str) -> bool:
        return any(p == "all" or fnmatch.fnmatchcase(host, p) for p in self.hosts)

    def matches_check(self, check_id: str) -> bool:
        return any(p == "all" or fnmatch.fnmatchcase(check_id, p) for p in self.checks)

    @property
    def everything(self) -> bool:
        """Covers every host and check: the only kind that explains an interval with no run."""
        return "all" in self.hosts and "all" in self.checks

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.start < end and start < self.end

    def contains(self, moment: dt.datetime) -> bool:
        return self.start <= moment <= self.end


# --------------------------------------------------------------------------- validation


def _moment(value: Any, name: str, where: str, end_of_day: bool = False) -> dt.datetime:
    hint = "write an ISO 8601 time such as 2026-11-02T10:00:00Z, or a date YYYY-MM-DD"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise IncidentError(f"{where}: '{name}' is missing or empty; {hint}")
    try:
        return parse_moment(value, end_of_day)
    except ValueError:
        raise IncidentError(f"{where}: '{name}' is not a time: {value!r}; {hint}") from None


def _names(value: Any, name: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part for part in value.split(",")]
    if not isinstance(value, (list, tuple)):
        raise IncidentError(f"{where}: '{name}' must be a list (or comma-separated); {_HELP}")
    items = tuple(str(item).strip() for item in value if str(item).strip())
    if not items:
        raise IncidentError(f"{where}: '{name}' is missing or empty; {_HELP}")
    return items


def _text(value: Any, name: str, where: str, required: bool = True) -> str:
    if value is None or not str(value).strip():
        if required:
            raise IncidentError(f"{where}: '{name}' is missing or empty; {_HELP}")
        return ""
    if isinstance(value, (dict, list)):
        raise IncidentError(f"{where}: '{name}' must be text")
    return " ".join(str(value).split())


def validate(entry: Mapping[str, Any], catalog: Catalog, where: str = "incident") -> Incident:
    """An Incident from a mapping with the FIELDS; IncidentError names the field and the fix."""
    unknown = sorted(str(k) for k in entry if k not in FIELDS)
    if unknown:
        raise IncidentError(
            f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}"
        )
    start = _moment(entry.get("from"), "from", where)
    end = _moment(entry.get("to"), "to", where, end_of_day=True)
    if end <= start:
        raise IncidentError(
            f"{where}: 'to' ({iso_utc(end)}) is not after 'from' ({iso_utc(start)}); "
            "an incident covers [from, to]"
        )
    checks = _names(entry.get("checks"), "checks", where)
    for pattern in checks:
        if pattern != "all" and not fnmatch.filter(catalog.ids, pattern):
            raise IncidentError(
                f"{where}: check {pattern!r} matches no check in the catalog; use a catalog id "
                "such as TIME-02, a pattern such as TIME-*, or all"
            )
    ticket = _text(entry.get("ticket"), "ticket", where)
    rca = _text(entry.get("rca_url"), "rca_url", where)
    if not rca.startswith(("https://", "http://")) or " " in rca:
        raise IncidentError(
            f"{where}: 'rca_url' {rca!r} is not an http(s) URL; give the address of the root "
            "cause analysis (wiki page, ticket comment)"
        )
    return Incident(
        start=start,
        end=end,
        hosts=_names(entry.get("hosts"), "hosts", where),
        checks=checks,
        ticket=ticket,
        rca_url=rca,
        summary=_text(entry.get("summary"), "summary", where, required=False),
        where=where,
    )


def parse_yaml(raw: bytes | str, catalog: Catalog, origin: str = "incidents") -> list[Incident]:
    """``incidents: [ {from, to, hosts, checks, ticket, rca_url, summary?}, ... ]`` (or a bare
    list); every entry is validated before any is returned."""
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise IncidentError(f"{origin}: not valid YAML: {exc}") from None
    if isinstance(data, dict) and set(data) == {"incidents"}:
        data = data["incidents"]
    if not isinstance(data, list) or not data:
        raise IncidentError(
            f"{origin}: expected a mapping with a non-empty 'incidents' list (or a list); {_HELP}"
        )
    out = []
    for index, entry in enumerate(data):
        where = f"{origin}: incidents[{index}]"
        if not isinstance(entry, dict):
            raise IncidentError(f"{where}: is not a mapping; {_HELP}")
        out.append(validate(entry, catalog, where))
    return out


# --------------------------------------------------------------------------- the trail


def evidence_objects(evidence_dir: Path, prefix: str) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(file, line number, object) of every parsable JSON object line of ``prefix-*.jsonl``."""
    for path in sorted(evidence_dir.glob(f"{prefix}-*.jsonl")):
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(obj, dict):
                    yield path.name, number, obj


def read_incidents(evidence_dir: Path | str) -> list[Incident]:
    """Every recorded incident (first line of each id), in the order they were recorded.

    Lines that are not incident records are skipped (the chain verifier is what checks the
    files; a malformed line is visible there and in the report's counts).
    """
    seen: set[str] = set()
    found: list[Incident] = []
    for name, number, obj in evidence_objects(Path(evidence_dir), INCIDENTS_PREFIX):
        if obj.get("record") != RECORD:
            continue
        try:
            incident = Incident(
                start=parse_utc(obj["from"]),
                end=parse_utc(obj["to"]),
                hosts=tuple(str(h) for h in obj["hosts"]),
                checks=tuple(str(c) for c in obj["checks"]),
                ticket=str(obj["ticket"]),
                rca_url=str(obj["rca_url"]),
                summary=str(obj.get("summary") or ""),
                recorded_at=obj.get("recorded_at"),
                where=f"{name}:{number}",
            )
        except (KeyError, TypeError, ValueError):
            continue
        if incident.id in seen:
            continue
        seen.add(incident.id)
        found.append(incident)
    return found


def record_incidents(
    evidence_dir: Path | str,
    incidents: Sequence[Incident],
    now: dt.datetime | None = None,
) -> tuple[list[Incident], list[Incident]]:
    """Append the incidents not recorded yet; (recorded, already present)."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    known = {incident.id for incident in read_incidents(evidence_dir)}
    new: list[Incident] = []
    old: list[Incident] = []
    for incident in incidents:
        (old if incident.id in known else new).append(incident)
        known.add(incident.id)
    if new:
        append_evidence(
            evidence_dir, [i.to_row(moment) for i in new], moment, prefix=INCIDENTS_PREFIX
        )
    return new, old


# --------------------------------------------------------------------------- alerts


@dataclass
class Alert:
    alertname: str
    status: str
    labels: dict[str, str]
    start: dt.datetime | None
    end: dt.datetime | None
    where: str
    incidents: list[str] = field(default_factory=list)

    @property
    def host(self) -> str | None:
        for label in HOST_LABELS:
            value = self.labels.get(label)
            if value:
                host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
                return host.strip("[]")
        return None

    def span(self) -> tuple[dt.datetime, dt.datetime] | None:
        if self.start is None:
            return None
        return self.start, self.end or self.start


def _time(value: Any) -> dt.datetime | None:
    text = str(value or "")
    if not text or text.startswith(ZERO_TIME_PREFIX):
        return None
    try:
        return parse_utc(text)
    except ValueError:
        return None


def _alert(obj: Mapping[str, Any], where: str) -> Alert | None:
    labels = obj.get("labels")
    labels = {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}
    name = str(obj.get("alertname") or labels.get("alertname") or "")
    status = str(obj.get("status") or "")
    start = _time(obj.get("starts_at", obj.get("startsAt")))
    if not name and start is None:
        return None
    return Alert(
        alertname=name,
        status=status,
        labels=labels,
        start=start,
        end=_time(obj.get("ends_at", obj.get("endsAt"))),
        where=where,
    )


def read_alerts(evidence_dir: Path | str) -> list[Alert]:
    """Every alert notification in ``alerts-*.jsonl`` (see the module docstring for shapes)."""
    found: list[Alert] = []
    for name, number, obj in evidence_objects(Path(evidence_dir), ALERTS_PREFIX):
        where = f"{name}:{number}"
        items = obj.get("alerts") if isinstance(obj.get("alerts"), list) else [obj]
        for item in items:
            if isinstance(item, Mapping):
                merged = {"status": obj.get("status"), **item}
                alert = _alert(merged, where)
                if alert is not None:
                    found.append(alert)
    return found


def link_alerts(alerts: Iterable[Alert], incidents: Sequence[Incident]) -> None:
    """Set each alert's ``incidents`` (ids): those whose time range overlaps the alert's (an
    alert with no end counts as an instant) and whose hosts match the alert's host (an alert
    without a host label is linked by time only)."""
    for alert in alerts:
        span = alert.span()
        alert.incidents = []
        if span is None:
            continue
        start, end = span
        host = alert.host
        for incident in incidents:
            if not (incident.start <= end and start <= incident.end):
                continue
            if host is not None and not incident.matches_host(host):
                continue
            alert.incidents.append(incident.id)
