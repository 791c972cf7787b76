# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Record the configuration drift the roles themselves report when a playbook runs in check mode."""

from __future__ import annotations

import datetime
import functools
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from ansible import constants as C
from ansible import context
from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase

try:
    # The soc2audit package (installed in the control-node virtualenv by `make setup`) owns how
    # evidence is written: the same day files, modes, append and fsync as the drift runs.
    from soc2audit.evidence import DIR_MODE, FILE_MODE, append_evidence, jsonl
    from soc2audit.fsutil import atomic_write, ensure_dir
except ImportError as _exc:  # this callback is enabled for every playbook: warn, do not break
    IMPORT_ERROR: str | None = f"{type(_exc).__name__}: {_exc}"
else:
    IMPORT_ERROR = None

if TYPE_CHECKING:
    from ansible.executor.stats import AggregateStats
    from ansible.executor.task_result import CallbackTaskResult
    from ansible.playbook import Playbook
    from ansible.playbook.play import Play
    from ansible.playbook.task import Task

DOCUMENTATION = r"""
---
name: soc2audit_drift
type: aggregate
short_description: Record configuration drift found by the roles in check mode
description:
  - Does nothing unless the run is in check mode (C(--check) or a play with C(check_mode=true)).
    A task with C(check_mode=true) in a play that is not in check mode is a preview the role
    acts on (ssh_hardening's "would sshd_config change"), not drift, since that run changes the
    host.
  - In check mode, every task that reports C(changed) while it ran in check mode is configuration
    drift (the role would have changed the host). Each becomes one C(config_drift) record (a loop
    is one record with the number of changed items). Tasks that actually ran
    (C(check_mode=false), the roles' discovery) are not drift, and neither are handlers (they
    follow a drifted task), tasks tagged C(soc2audit_no_drift) or actions that are not
    configuration (debug, set_fact, assert, include_*, import_*, meta, ...).
  - A task that failed (not ignored; rescued failures count) or a host that was unreachable
    becomes a C(not_evaluated) record, whatever the action (a failed preflight assert means the
    role could not evaluate the host). Only the C(soc2audit_no_drift) tag exempts a task from it.
  - At the end of the run, writes this run's records and one C(host_summary) record per host
    (with zero counts too, so silence is visible) to C(<output_dir>/config_drift.jsonl), replacing
    it atomically, and appends the same lines to C(<evidence_dir>/config-drift-YYYY-MM-DD.jsonl)
    (UTC day the run started, like the results evidence files; directory 0750, file 0640, fsync).
  - Prints one line per host with drift or unevaluated tasks; with C(-v) also hosts without drift
    and the files written.
  - Never fails the play; a file it cannot write becomes a warning.
requirements:
  - Enabled in ansible.cfg, C(callbacks_enabled = soc2audit_drift), with
    C(callback_plugins = plugins/callback).
options:
  output_dir:
    description:
      - Directory of C(config_drift.jsonl), the last check-mode run's records (replaced each run).
      - Defaults to C(<playbook dir>/../.cache/drift) of the first playbook of the run.
    type: path
    env:
      - name: SOC2AUDIT_DRIFT_OUTPUT_DIR
    ini:
      - section: callback_soc2audit_drift
        key: output_dir
  evidence_dir:
    description:
      - Directory of the append-only C(config-drift-YYYY-MM-DD.jsonl) evidence files.
      - Defaults to C(<playbook dir>/../evidence) of the first playbook of the run.
    type: path
    env:
      - name: SOC2AUDIT_DRIFT_EVIDENCE_DIR
    ini:
      - section: callback_soc2audit_drift
        key: evidence_dir
  skip_actions:
    description:
      - More actions (FQCN or short names) whose changes are not configuration drift, in addition
        to the built-in list (debug, set_fact, set_stats, assert, fail, pause, meta, include_*,
        import_*, add_host, group_by, validate_argument_spec, setup, gather_facts, ping,
        async_status).
    type: list
    elements: str
    default: []
    env:
      - name: SOC2AUDIT_DRIFT_SKIP_ACTIONS
    ini:
      - section: callback_soc2audit_drift
        key: skip_actions
"""

P = ParamSpec("P")

NO_DRIFT_TAG = "soc2audit_no_drift"
OUTPUT_NAME = "config_drift.jsonl"
EVIDENCE_PREFIX = "config-drift"  # <evidence_dir>/config-drift-YYYY-MM-DD.jsonl

# ansible.builtin actions whose "changed" is not a configuration change.
NOT_CONFIGURATION = (
    "add_host",
    "assert",
    "async_status",
    "debug",
    "fail",
    "gather_facts",
    "group_by",
    "import_playbook",
    "import_role",
    "import_tasks",
    "include",
    "include_role",
    "include_tasks",
    "include_vars",
    "meta",
    "pause",
    "ping",
    "set_fact",
    "set_stats",
    "setup",
    "validate_argument_spec",
)


def action_aliases(names: Iterable[str]) -> frozenset[str]:
    """Every spelling of the given actions: short, ansible.builtin.* and ansible.legacy.*."""
    out: set[str] = set()
    for raw in names:
        name = str(raw).strip()
        if not name:
            continue
        out.add(name)
        short = name
        for prefix in ("ansible.builtin.", "ansible.legacy."):
            if name.startswith(prefix):
                short = name[len(prefix) :]
        if "." not in short:
            out.update({short, f"ansible.builtin.{short}", f"ansible.legacy.{short}"})
    return frozenset(out)


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def has_diff(value: Any) -> bool:
    """True when a result's ``diff`` (a dict or a list of dicts) carries any content."""
    if isinstance(value, Mapping):
        return any(bool(v) for v in value.values())
    if isinstance(value, list):
        return any(has_diff(v) for v in value)
    return False


def _guarded(
    method: Callable[Concatenate[Any, P], None],
) -> Callable[Concatenate[Any, P], None]:
    """Turn any exception in a callback method into a warning: never fail the play."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            method(self, *args, **kwargs)
        except Exception as exc:  # a callback must never raise
            self._warn(f"{method.__name__} failed: {type(exc).__name__}: {exc}")

    return wrapper


class CallbackModule(CallbackBase):
    """Collect check-mode drift per host and write it as JSON lines at the end of the run."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "soc2audit_drift"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if IMPORT_ERROR is not None:
            # Ansible skips a callback whose `disabled` is true; the playbook runs on.
            self.disabled = True
            self._display.warning(
                "soc2audit_drift: disabled, check-mode drift is NOT recorded: the soc2audit "
                f"package cannot be imported ({IMPORT_ERROR}); run `make setup` and use the "
                "ansible-playbook of .venv/bin"
            )
        self.run_id = str(uuid.uuid4())
        self.started = utc_now()  # the evidence day file is the UTC day the run started
        self.records: list[dict[str, Any]] = []
        self.check_run = False  # anything ran in check mode: write the files at the end
        self.play_check = bool(context.CLIARGS.get("check"))
        self.playbooks: list[str] = []
        self.playbook_dir: str | None = None
        self._warned: set[str] = set()
        self._skip: frozenset[str] = action_aliases(NOT_CONFIGURATION)

    # -- helpers -----------------------------------------------------------------------------

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self._display.warning(f"soc2audit_drift: {message}")

    def _option(self, name: str) -> Any:
        try:
            return self.get_option(name)
        except KeyError:
            return None

    def set_options(
        self,
        task_keys: Any = None,
        var_options: Any = None,
        direct: Any = None,
    ) -> None:
        super().set_options(task_keys=task_keys, var_options=var_options, direct=direct)
        extra = self._option("skip_actions") or []
        self._skip = action_aliases([*NOT_CONFIGURATION, *extra])

    def _directory(self, option: str, default_leaf: str) -> str | None:
        configured = self._option(option)
        if configured:
            return os.path.abspath(str(configured))
        if self.playbook_dir is None:
            return None
        return os.path.normpath(os.path.join(self.playbook_dir, "..", default_leaf))

    @staticmethod
    def _action(task: Task) -> str:
        resolved = getattr(task, "_resolved_action", None)
        if resolved:
            return str(resolved)
        action = str(task.action or "")
        if "{{" in action or "{%" in action:
            return action
        try:
            return str(task.resolved_action or action)
        except Exception:  # fall back to the action as written
            return action

    def _in_check_mode(self, result: CallbackTaskResult) -> bool:
        """In a check-mode play, whether the task ran in check mode (not check_mode: false).
        Outside one never: a task forced into check mode there is a preview the role acts on
        (ssh_hardening's "would sshd_config change"), and the run changes the host."""
        return self.play_check and result.task_fields.get("check_mode") is not False

    @staticmethod
    def _exempt(task: Task) -> bool:
        tags = task.tags or []
        if isinstance(tags, str):
            tags = [tags]
        return NO_DRIFT_TAG in tags

    def _record(
        self, result: CallbackTaskResult, kind: str, status: str, action: str
    ) -> dict[str, Any]:
        task = result.task
        data = result.result
        items = data.get("results")
        loop = [r for r in items if isinstance(r, Mapping)] if isinstance(items, list) else None
        task_diff = bool(result.task_fields.get("diff"))
        diff = has_diff(data.get("diff")) or any(has_diff(r.get("diff")) for r in loop or [])
        role = getattr(task, "_role", None)
        name = result.task_fields.get("name") or getattr(task, "name", None) or action
        record: dict[str, Any] = {
            "run_id": self.run_id,
            "recorded_at": iso(utc_now()),
            "host": result.host.get_name(),
            "role": role.get_name() if role is not None else None,
            "task": str(name),
            "action": action,
            "kind": kind,
            "status": status,
            "playbook": self.playbooks[-1] if self.playbooks else None,
            "diff_present": task_diff and diff,
            "changed_items": None,
            "failed_items": None,
        }
        if loop is not None:
            record["changed_items"] = sum(1 for r in loop if r.get("changed"))
            record["failed_items"] = sum(1 for r in loop if r.get("failed") or r.get("unreachable"))
        return record

    # -- events ------------------------------------------------------------------------------

    @_guarded
    def v2_playbook_on_start(self, playbook: Playbook) -> None:
        file_name = getattr(playbook, "_file_name", None) or ""
        base = getattr(playbook, "_basedir", None) or os.path.dirname(file_name) or os.getcwd()
        if self.playbook_dir is None:
            self.playbook_dir = os.path.abspath(str(base))
        self.playbooks.append(os.path.basename(str(file_name)) if file_name else "")
        if context.CLIARGS.get("check"):
            self.check_run = True

    @_guarded
    def v2_playbook_on_play_start(self, play: Play) -> None:
        self.play_check = bool(context.CLIARGS.get("check")) or play.check_mode is True
        if self.play_check:
            self.check_run = True

    @_guarded
    def v2_runner_on_ok(self, result: CallbackTaskResult) -> None:
        # A task that really ran (check_mode: false, the roles' discovery) changed nothing that
        # check mode would have reported: it is not drift.
        if not self._in_check_mode(result):
            return
        self.check_run = True
        if not result.is_changed() or isinstance(result.task, Handler):
            return
        action = self._action(result.task)
        if action in self._skip or self._exempt(result.task):
            return
        self.records.append(self._record(result, "config_drift", "changed", action))

    def _not_evaluated(self, result: CallbackTaskResult, status: str) -> None:
        # A failing discovery task (check_mode: false) in a check-mode play still means the role
        # could not evaluate the host.
        if not self.play_check:
            return
        self.check_run = True
        if self._exempt(result.task):
            return
        action = self._action(result.task)
        self.records.append(self._record(result, "not_evaluated", status, action))

    @_guarded
    def v2_runner_on_failed(self, result: CallbackTaskResult, ignore_errors: bool = False) -> None:
        if ignore_errors:
            return
        self._not_evaluated(result, "failed")

    @_guarded
    def v2_runner_on_unreachable(self, result: CallbackTaskResult) -> None:
        self._not_evaluated(result, "unreachable")

    @_guarded
    def v2_playbook_on_stats(self, stats: AggregateStats) -> None:
        if not self.check_run:
            return
        now = utc_now()
        processed = set(getattr(stats, "processed", None) or {})
        hosts = sorted(processed | {r["host"] for r in self.records})
        summaries: list[dict[str, Any]] = []
        for host in hosts:
            mine = [r for r in self.records if r["host"] == host]
            summaries.append(
                {
                    "run_id": self.run_id,
                    "recorded_at": iso(now),
                    "host": host,
                    "role": None,
                    "task": None,
                    "action": None,
                    "kind": "host_summary",
                    "playbook": ",".join(p for p in self.playbooks if p) or None,
                    "diff_present": any(r["diff_present"] for r in mine),
                    "changed_tasks": sum(1 for r in mine if r["kind"] == "config_drift"),
                    "not_evaluated_tasks": sum(1 for r in mine if r["kind"] == "not_evaluated"),
                }
            )
        self._write([*self.records, *summaries])
        self._show(summaries)

    def _write(self, records: list[dict[str, Any]]) -> None:
        output_dir = self._directory("output_dir", os.path.join(".cache", "drift"))
        if output_dir is None:
            self._warn("no output directory (set SOC2AUDIT_DRIFT_OUTPUT_DIR)")
        else:
            output = os.path.join(output_dir, OUTPUT_NAME)
            try:
                ensure_dir(output_dir, DIR_MODE)
                atomic_write(output, jsonl(records), mode=FILE_MODE)
                self._display.v(f"soc2audit_drift: wrote {output}")
            except OSError as exc:
                self._warn(f"could not write {output}: {exc}")
        evidence_dir = self._directory("evidence_dir", "evidence")
        if evidence_dir is None:
            self._warn("no evidence directory (set SOC2AUDIT_DRIFT_EVIDENCE_DIR)")
        elif records:
            try:
                evidence = append_evidence(evidence_dir, records, self.started, EVIDENCE_PREFIX)
                self._display.v(f"soc2audit_drift: appended to {evidence}")
            except OSError as exc:
                self._warn(f"could not append the drift evidence to {evidence_dir}: {exc}")

    def _show(self, summaries: list[dict[str, Any]]) -> None:
        for summary in summaries:
            changed = summary["changed_tasks"]
            unevaluated = summary["not_evaluated_tasks"]
            line = (
                f"soc2audit_drift: {summary['host']}: {changed} task(s) drifted, "
                f"{unevaluated} not evaluated (check mode)"
            )
            if unevaluated:
                self._display.display(line, color=C.COLOR_WARN)
            elif changed:
                self._display.display(line, color=C.COLOR_CHANGED)
            else:
                self._display.v(line)
