# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for tests that run against this checkout's podman lab (`make integration`).

Hosts are reached over SSH with the lab inventory, like production; testinfra's ansible backend
maps them to its native SSH backend (one ssh command per check, multiplexed).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml

REPO = Path(__file__).resolve().parents[2]
# SOC2_LAB_INVENTORY points the tests at another lab of this checkout (as soc2audit.lab does).
INVENTORY = Path(os.environ.get("SOC2_LAB_INVENTORY") or REPO / "inventory" / "lab" / "hosts.yml")
BIN = REPO / ".venv" / "bin"


def inventory() -> dict:
    if not INVENTORY.exists():
        pytest.exit("no lab inventory: run `make lab-up` (or `make integration`)", returncode=2)
    return yaml.safe_load(INVENTORY.read_text())


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    e["ANSIBLE_FORCE_COLOR"] = "0"
    e["ANSIBLE_NOCOLOR"] = "1"
    e["PATH"] = f"{BIN}:{e.get('PATH', '')}"
    return e


def ansible_playbook(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "ansible-playbook"), "-i", str(INVENTORY), *args]
    proc = subprocess.run(cmd, cwd=REPO, env=env(), text=True, capture_output=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


RECAP = re.compile(
    r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


def recap(output: str) -> dict[str, dict[str, int]]:
    """The PLAY RECAP counters per host."""
    out: dict[str, dict[str, int]] = {}
    for m in RECAP.finditer(output.split("PLAY RECAP", 1)[-1]):
        out[m.group(1)] = {
            "ok": int(m.group(2)),
            "changed": int(m.group(3)),
            "unreachable": int(m.group(4)),
            "failed": int(m.group(5)),
        }
    return out


@pytest.fixture(scope="session")
def lab_inventory() -> dict:
    return inventory()


@pytest.fixture(scope="session")
def lab_hosts(lab_inventory: dict) -> list[str]:
    hosts: list[str] = []
    for body in lab_inventory["all"]["children"].values():
        for host in body.get("hosts") or {}:
            if host not in hosts:
                hosts.append(host)
    return hosts


def get_host(name: str) -> testinfra.host.Host:
    """A testinfra host over plain SSH (multiplexed), with the inventory's key and known_hosts."""
    inv = inventory()
    lab_vars = inv["all"]["vars"]
    for body in inv["all"]["children"].values():
        hvars = (body.get("hosts") or {}).get(name)
        if hvars:
            return testinfra.get_host(
                f"ssh://{lab_vars['ansible_user']}@{hvars['ansible_host']}",
                ssh_identity_file=lab_vars["ansible_ssh_private_key_file"],
                ssh_extra_args=lab_vars["ansible_ssh_common_args"],
            )
    raise KeyError(f"{name} is not in {INVENTORY}")


@pytest.fixture(scope="session")
def host() -> object:
    return get_host


@pytest.fixture(scope="session")
def converged(lab_hosts: list[str]) -> dict[str, dict[str, int]]:
    """Converge the lab (playbooks/lab.yml: site.yml, then the lab's write-once store) once (a
    fresh lab from `make integration`: the cold install path), then once more; returns the
    second run's recap, which the idempotence tests assert on. The only full converges of the
    run: later tests re-converge just the host and layer they broke."""
    ansible_playbook("playbooks/lab.yml", check=True)
    second = ansible_playbook("playbooks/lab.yml", check=True)
    return recap(second.stdout)


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    """podman with the lab's settings (.lab/containers.conf: runc, explicit ulimits)."""
    env = dict(os.environ, CONTAINERS_CONF=str(REPO / ".lab" / "containers.conf"))
    return subprocess.run(["podman", *args], text=True, capture_output=True, env=env, check=False)


def lab(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m soc2audit.lab ARGS` with the venv's Python when there is one."""
    python = str(BIN / "python") if (BIN / "python").exists() else sys.executable
    return subprocess.run(
        [python, "-m", "soc2audit.lab", *args],
        cwd=REPO,
        text=True,
        capture_output=True,
        check=False,
    )


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0, step: float = 0.5) -> Any:
    """Poll ``probe`` until it returns something true (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(step)
