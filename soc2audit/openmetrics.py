# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""One host's drift results as a node_exporter textfile (docs/drift.md "Metrics").

The textfile collector parses the Prometheus text exposition format 0.0.4, not OpenMetrics, so:
every family is a ``gauge`` with ``# HELP`` and ``# TYPE``, there is no ``# EOF`` and no sample
carries a timestamp. Output is deterministic: families sorted by name, series by their labels
(label names sorted within a series). There is no ``host`` label: ``instance`` comes from the
scrape of the host's node_exporter.

Decisions:

* ``soc2audit_check_result{check_id,result}`` is a StateSet: one series per value of the result
  vocabulary, exactly one of them 1.
* ``soc2audit_check_passed`` is 1 only for ``pass``. ``waived`` is 0: a waiver is an authorised
  exception, not evidence that the control operated, and ``min_over_time(...[1d])`` must not turn
  an exception into a day of "operated". ``not_applicable`` is 0 too; select or exclude it with
  ``soc2audit_check_result{result="not_applicable"}``.
* ``soc2audit_check_last_run_timestamp_seconds`` is when the check last produced a result other
  than ``not_run`` (from the drift state); a check that never ran has no series.
* ``soc2audit_check_drift_since_timestamp_seconds`` only exists for checks whose drift is open.
* ``soc2audit_waiver_expiry_timestamp_seconds{check_id,ticket}`` (beyond the per-check series) is
  the first instant a waiver applied in this run no longer covers, to alert before it lapses.
* Observations from the verifiers (``{key, labels, value}``) are rendered as the metric their
  key names in soc2audit/metrics.py (name, HELP, type and label names live there); an unknown
  key, labels other than the metric's or a value that is not a finite number is skipped and
  reported in the returned warnings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from soc2audit.catalog import Catalog
from soc2audit.fsutil import parse_utc
from soc2audit.metrics import OBSERVATIONS, SUITE, Metric
from soc2audit.results import RESULTS, State

#: HELP text of the suite's own families (soc2audit/metrics.py owns them).
HELP: dict[str, str] = {name: metric.help for name, metric in SUITE.items()}

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RunInfo:
    """Run-level facts the textfile needs; ``state`` is the state after the run was merged."""

    started: str
    finished: str
    suite_version: str
    policy_sha256: str
    state: State | None = None


class HostMetrics(NamedTuple):
    """The textfile and the observations that were skipped (why, one line each)."""

    text: str
    warnings: list[str]


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """Shortest exact text for a sample value (integers without a decimal point)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    number = float(value)
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def _labels(**pairs: str) -> Labels:
    return tuple(sorted(pairs.items()))


class _Families:
    """Metric families collected before rendering: name -> (metric, {labels: value})."""

    def __init__(self) -> None:
        self.metrics: dict[str, Metric] = {}
        self.samples: dict[str, dict[Labels, float]] = {}

    def add(self, name: str, labels: Labels, value: float, metric: Metric | None = None) -> None:
        self.metrics.setdefault(name, metric or SUITE[name])
        self.samples.setdefault(name, {})[labels] = value

    def has(self, name: str, labels: Labels) -> bool:
        return labels in self.samples.get(name, {})

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted(self.samples):
            series = self.samples[name]
            if not series:
                continue
            metric = self.metrics[name]
            lines.append(f"# HELP {name} {escape_help(' '.join(metric.help.split()))}")
            lines.append(f"# TYPE {name} {metric.type}")
            for labels in sorted(series):
                if labels:
                    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels)
                    lines.append(f"{name}{{{inner}}} {format_value(series[labels])}")
                else:
                    lines.append(f"{name} {format_value(series[labels])}")
        return "\n".join(lines) + "\n" if lines else ""


def _timestamp(value: str) -> float:
    return parse_utc(value).timestamp()


def _observation_value(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _add_observations(
    families: _Families, observations: Iterable[Mapping[str, Any]], host: str
) -> list[str]:
    warnings: list[str] = []
    for index, obs in enumerate(observations):
        where = f"{host}: observation {index}"
        if not isinstance(obs, Mapping):
            warnings.append(f"{where}: not a mapping, skipped")
            continue
        key = obs.get("key")
        metric = OBSERVATIONS.get(key) if isinstance(key, str) else None
        if metric is None:
            warnings.append(
                f"{where}: unknown observation key {key!r} (soc2audit/metrics.py lists them), "
                "skipped"
            )
            continue
        name = metric.name
        value = _observation_value(obs.get("value"))
        if value is None:
            warnings.append(
                f"{where}: {name} value {obs.get('value')!r} is not a finite number, skipped"
            )
            continue
        raw_labels = obs.get("labels") or {}
        if not isinstance(raw_labels, Mapping):
            warnings.append(f"{where}: {name} labels are not a mapping, skipped")
            continue
        if sorted(str(k) for k in raw_labels) != sorted(metric.labels):
            warnings.append(
                f"{where}: {name} labels {sorted(str(k) for k in raw_labels)} are not "
                f"{sorted(metric.labels)}, skipped"
            )
            continue
        labels = tuple(
            sorted((k, "" if val is None else str(val)) for k, val in raw_labels.items())
        )
        if families.has(name, labels):
            warnings.append(f"{where}: {name}{dict(labels)} reported twice, second one skipped")
            continue
        families.add(name, labels, value, metric)
    return warnings


def _add_result(families: _Families, prefix: str, check_id: str, result: str) -> None:
    """``<prefix>_result`` (StateSet: one series per result value, 1 for ``result``) and
    ``<prefix>_passed`` (1 only for ``pass``) of one check or policy."""
    for value in RESULTS:
        families.add(
            f"{prefix}_result",
            _labels(check_id=check_id, result=value),
            1 if value == result else 0,
        )
    families.add(f"{prefix}_passed", _labels(check_id=check_id), 1 if result == "pass" else 0)


def render_metrics(samples: Iterable[tuple[Metric, Mapping[str, str], float]]) -> str:
    """Text for any set of (metric, labels, value) samples, in this module's deterministic
    format (used by ``soc2audit evidence verify --metrics`` for the control node's file)."""
    families = _Families()
    for metric, labels, value in samples:
        families.add(metric.name, tuple(sorted(labels.items())), value, metric)
    return families.render()


def render_host(
    host: str,
    rows_for_host: Sequence[Mapping[str, Any]],
    catalog: Catalog,
    observations: Iterable[Mapping[str, Any]],
    run: RunInfo,
) -> HostMetrics:
    """The textfile (``soc2audit.prom``) for one host and the warnings for skipped observations."""
    families = _Families()
    by_id = catalog.by_id
    host_state = run.state.host(host) if run.state is not None else None
    tally = dict.fromkeys(RESULTS, 0)
    for row in rows_for_host:
        check_id = str(row["check_id"])
        result = str(row["result"])
        tally[result] = tally.get(result, 0) + 1
        _add_result(families, "soc2audit_check", check_id, result)
        last_run = host_state.last_run.get(check_id) if host_state is not None else None
        if last_run is None and host_state is None and result != "not_run":
            last_run = run.finished
        if last_run is not None:
            families.add(
                "soc2audit_check_last_run_timestamp_seconds",
                _labels(check_id=check_id),
                _timestamp(last_run),
            )
        if row.get("drift_since"):
            families.add(
                "soc2audit_check_drift_since_timestamp_seconds",
                _labels(check_id=check_id),
                _timestamp(str(row["drift_since"])),
            )
        waiver = row.get("waiver")
        if result == "waived" and isinstance(waiver, Mapping) and waiver.get("expires"):
            expires = parse_utc(f"{waiver['expires']}T00:00:00+00:00").timestamp() + 86400
            families.add(
                "soc2audit_waiver_expiry_timestamp_seconds",
                _labels(check_id=check_id, ticket=str(waiver.get("ticket", ""))),
                expires,
            )
        check = by_id.get(check_id)
        if check is None:
            continue
        families.add(
            "soc2audit_check_info",
            _labels(
                check_id=check_id,
                family=check.family,
                severity=check.severity,
                title=check.title,
            ),
            1,
        )
        for mapping, criteria in (
            ("primary", check.tsc_primary),
            ("secondary", check.tsc_secondary),
        ):
            for criterion in criteria:
                families.add(
                    "soc2audit_check_criterion_info",
                    _labels(check_id=check_id, criterion=criterion, mapping=mapping),
                    1,
                )
    for value, number in tally.items():
        families.add("soc2audit_run_checks", _labels(result=value), number)
    last_success = host_state.last_success if host_state is not None else run.finished
    if last_success:
        families.add("soc2audit_run_last_success_timestamp_seconds", (), _timestamp(last_success))
    families.add(
        "soc2audit_run_duration_seconds",
        (),
        max(0.0, _timestamp(run.finished) - _timestamp(run.started)),
    )
    families.add(
        "soc2audit_build_info",
        _labels(version=run.suite_version, policy_sha256=run.policy_sha256),
        1,
    )
    warnings = _add_observations(families, observations, host)
    return HostMetrics(families.render(), warnings)


def render_policy(rows: Sequence[Mapping[str, Any]], catalog: Catalog, evaluation: Any) -> str:
    """The ``soc2audit_policy_*`` families for the fleet policies' rows of a run (added to the
    monitors' textfiles). ``evaluation`` is the run's soc2audit.policy.Evaluation."""
    families = _Families()
    tally = dict.fromkeys(RESULTS, 0)
    by_id = catalog.by_id
    for row in rows:
        check_id, result = str(row["check_id"]), str(row["result"])
        tally[result] = tally.get(result, 0) + 1
        _add_result(families, "soc2audit_policy", check_id, result)
        observed = row.get("observed") if isinstance(row.get("observed"), Mapping) else {}
        for outcome, key in (("pass", "passed"), ("fail", "failed")):
            number = observed.get(key) if observed else None
            if isinstance(number, int) and not isinstance(number, bool):
                families.add(
                    "soc2audit_policy_items", _labels(check_id=check_id, outcome=outcome), number
                )
        check = by_id.get(check_id)
        if check is not None:
            families.add(
                "soc2audit_policy_info",
                _labels(check_id=check_id, severity=check.severity, title=check.title),
                1,
            )
    for value, number in tally.items():
        families.add("soc2audit_policy_checks", _labels(result=value), number)
    families.add(
        "soc2audit_policy_evaluation_seconds",
        _labels(engine=str(evaluation.engine)),
        round(float(evaluation.seconds), 6),
    )
    return families.render()
