# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Connection to a local podman container through nsenter, for the molecule scenarios."""

from __future__ import annotations

DOCUMENTATION = r"""
name: soc2audit_podman_nsenter
short_description: Run tasks in a local podman container by entering its namespaces
description:
  - Runs each command with C(nsenter) in the mount, UTS, IPC, network and PID namespaces of a
    podman container on the control node, like community.docker.nsenter, but finds the
    container's init process by the container's name.
  - A C(podman exec) starts an OCI runtime for every command (about 150 ms of CPU, and a module
    task runs four to five commands); entering the namespaces costs a few milliseconds. The
    molecule scenarios use this plugin (C(.config/molecule/config.yml), docs/testing.md).
  - The PID comes from C(podman inspect) once per container and is kept in a small cache file,
    checked against the process start time in C(/proc), so a recreated container is never
    entered through a stale PID.
  - Runs as root on the control node, as nsenter needs; the remote user is ignored.
  - On the first connection to a container (a PID not yet cached) it waits, at most
    C(boot_timeout) seconds, until the container's systemd has finished booting
    (C(systemctl is-system-running --wait)). Until then systemd-tmpfiles-setup may still empty
    C(/tmp) and delete a module's payload while it runs (seen in CI on a scenario without a
    prepare step, whose converge starts right after create).
options:
  container:
    description: Name of the container (the inventory host name, as molecule names them).
    type: str
    vars:
      - name: inventory_hostname
  podman_executable:
    description: The podman command on the control node.
    type: str
    default: podman
    vars:
      - name: ansible_podman_executable
  boot_timeout:
    description: Seconds to wait for a new container's systemd to finish booting; 0 skips.
    type: int
    default: 180
    vars:
      - name: ansible_soc2audit_boot_timeout
"""

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ansible.errors import AnsibleConnectionFailure
from ansible_collections.community.docker.plugins.connection.nsenter import (
    Connection as NsenterConnection,
)

CACHE_DIR = Path(tempfile.gettempdir()) / f"soc2audit-nsenter-{os.getuid()}"


def start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), which
    tells a process apart from a later one that got the same PID; '' when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def inspect_pid(name: str, podman: str = "podman") -> int:
    proc = subprocess.run(
        [podman, "inspect", "--type", "container", "--format", "{{.State.Pid}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    out = proc.stdout.strip()
    if proc.returncode != 0 or not out.isdigit() or out == "0":
        raise AnsibleConnectionFailure(
            f"container {name} is not running here ({podman} inspect: "
            f"{(proc.stderr or out).strip() or 'no PID'})"
        )
    return int(out)


#: What systemctl answers before the container's systemd can tell its state.
NOT_YET = ("", "offline", "unknown")
#: Seconds such answers are asked again before they are taken as the state.
SETTLE = 30


def wait_for_boot(pid: int, timeout: int, command: list[str] | None = None) -> str:
    """Wait until the systemd whose host PID is ``pid`` has finished booting; its state
    (running, degraded, ...), or why there is none. Never raises: a container without systemd
    or one that does not finish in time is reported by the tasks that follow.

    A container created a moment ago may not have systemd's socket yet: `systemctl` then fails
    at once with no state ("Failed to connect to bus"), or says "offline" before systemd has
    marked the system as booted with it. For up to SETTLE seconds such an answer is asked again
    (the CI of 1514c29: a prepare step's first module ran while systemd-tmpfiles-setup emptied
    /tmp, because the one question had failed at once)."""
    if timeout <= 0:
        return "not waited"
    if command is None:
        command = ["nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-p"]
        command += ["systemctl", "is-system-running", "--wait"]
    deadline = time.monotonic() + timeout
    settle = time.monotonic() + min(timeout, SETTLE)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return f"still booting after {timeout} s"
        try:
            proc = subprocess.run(
                command, capture_output=True, text=True, timeout=left, check=False
            )
        except subprocess.TimeoutExpired:
            return f"still booting after {timeout} s"
        except OSError as exc:
            return f"not asked: {exc}"
        state = proc.stdout.strip()
        if state not in NOT_YET or time.monotonic() >= settle:
            return state or proc.stderr.strip() or f"exit {proc.returncode}"
        time.sleep(0.2)


def container_pid(
    name: str,
    podman: str = "podman",
    cache_dir: Path = CACHE_DIR,
    on_new: Callable[[int], object] | None = None,
) -> int:
    """The host PID of the container's init: from the cache when that process still runs,
    otherwise from podman (then ``on_new(pid)`` runs, and the PID is cached after it)."""
    cache = cache_dir / name
    try:
        pid_text, started = cache.read_text().split()
        if start_time(int(pid_text)) == started:
            return int(pid_text)
    except (OSError, ValueError):
        pass
    pid = inspect_pid(name, podman)
    if on_new is not None:
        on_new(pid)
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = cache.with_name(f".{name}.{os.getpid()}")
    tmp.write_text(f"{pid} {start_time(pid)}\n")
    tmp.replace(cache)
    return pid


class Connection(NsenterConnection):
    """community.docker.nsenter with the target PID looked up from the container's name."""

    transport = "soc2audit_podman_nsenter"

    def _connect(self) -> Connection:
        timeout = int(self.get_option("boot_timeout"))
        self._nsenter_pid = container_pid(
            self.get_option("container"),
            self.get_option("podman_executable"),
            on_new=lambda pid: wait_for_boot(pid, timeout),
        )
        self._play_context.remote_user = "root"
        self._connected = True
        return self
