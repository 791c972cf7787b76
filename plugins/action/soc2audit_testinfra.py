# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin soc2audit_testinfra: run the controls/ testinfra checks beside the verifiers.

``state: started`` launches pytest (with the soc2audit plugin) as a detached process on the
control node and returns at once; ``state: finished`` waits for it and reports how it ended.
Starting a process directly from the action costs milliseconds, where ``async`` costs a module
run on each side. Documentation: library/soc2audit_testinfra.py.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ansible.plugins.action import ActionBase

from soc2audit.testinfra_run import pytest_argv

_REPO = Path(__file__).resolve().parents[2]

# The options documented in library/soc2audit_testinfra.py (a unit test keeps the two equal).
ARGUMENT_SPEC: dict[str, Any] = {
    "state": {"type": "str", "choices": ["started", "finished"], "required": True},
    "output_dir": {"type": "path"},
    "inventory": {"type": "path"},
    "limit": {"type": "str"},
    "python": {"type": "path"},
    "job": {"type": "dict"},
    "timeout": {"type": "int", "default": 300},
    "workers": {"type": "int", "default": 0},
}
REQUIRED_IF = [("state", "started", ("output_dir", "inventory"))]


def _start(args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
    out = Path(args["output_dir"])
    out.mkdir(parents=True, exist_ok=True)
    results = out / "testinfra.jsonl"
    done = out / "testinfra.done"
    log = out / "testinfra.log"
    for stale in (results, done):
        stale.unlink(missing_ok=True)
    python = str(args.get("python") or task_vars.get("ansible_playbook_python") or sys.executable)
    workers = int(args.get("workers") or 0)
    argv = pytest_argv(python, args["inventory"], results, args.get("limit") or "all", "", workers)
    # The exit status lands in `done` when pytest ends, whatever happens to this worker.
    mark = shlex.quote(str(done))
    script = f"{shlex.join(argv)}; echo $? > {mark}.tmp && mv {mark}.tmp {mark}"
    # The plugin is soc2audit.pytest_plugin: `python` must have the soc2audit package installed
    # (the control-node virtualenv, `make setup`).
    env = dict(os.environ)
    env.setdefault("ANSIBLE_CONFIG", str(_REPO / "ansible.cfg"))
    with open(log, "wb") as handle:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", script],
            cwd=_REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return {
        "changed": False,
        "pid": proc.pid,
        "results": str(results),
        "done": str(done),
        "log": str(log),
        "started_at": time.time(),
        "workers": workers,
    }


def _finish(args: dict[str, Any]) -> dict[str, Any]:
    job = args.get("job") or {}
    if not job.get("pid"):
        return {"changed": False, "skipped": True, "msg": "testinfra checks were not started"}
    done = Path(job["done"])
    deadline = float(job.get("started_at", time.time())) + int(args.get("timeout") or 300)
    while not done.exists() and time.time() < deadline:
        time.sleep(0.05)
    if not done.exists():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(job["pid"]), signal.SIGTERM)
        return {
            "changed": False,
            "pytest_rc": None,
            "error": f"the testinfra checks did not finish within {args.get('timeout')} s",
            "results": job["results"],
        }
    rc = int(done.read_text().strip() or "255")
    error = ""
    # pytest: 0 all passed, 1 some failed (both normal: the results say which); others broke.
    if rc not in (0, 1):
        tail = Path(job["log"]).read_text(errors="replace").strip().splitlines()[-5:]
        error = f"pytest exited {rc}: " + " | ".join(tail)
    return {"changed": False, "pytest_rc": rc, "error": error, "results": job["results"]}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF)
        if args["state"] == "started":
            result.update(_start(args, task_vars or {}))
        else:
            result.update(_finish(args))
        return result
