# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The scale lab (soc2audit.fleet, docs/scale.md): one command builds N hosts reachable over SSH
with their own inventory, a second one shrinks the fleet, one command removes it all.

Its own prefix, inventory and fact cache (never the four-host lab's); four hosts, no converge:
the machinery the benchmark (bench/scale.py) stands on, not the benchmark.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BIN, REPO, env

pytestmark = pytest.mark.own_containers


def _fleet(fleet_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "python"), "-m", "soc2audit.fleet", *args],
        cwd=REPO,
        env=fleet_env,
        text=True,
        capture_output=True,
        check=False,
    )


def _containers(fleet_env: dict[str, str], prefix: str) -> list[str]:
    proc = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label=soc2audit.lab={prefix}-fleet",
         "--format", "{{.Names}}"],
        env=fleet_env, text=True, capture_output=True, check=True,
    )  # fmt: skip
    return sorted(proc.stdout.split())


def test_fleet_up_shrink_and_down(tmp_path: Path) -> None:
    base = subprocess.run(
        [sys.executable, "-m", "soc2audit.lab", "prefix"],
        cwd=REPO, text=True, capture_output=True, check=True,
    ).stdout.strip()  # fmt: skip
    prefix = f"{base}-ft"[:24]
    inventory = tmp_path / "hosts.yml"
    fleet_env = env() | {
        "SOC2_LAB_PREFIX": prefix,
        "SOC2_FLEET_INVENTORY": str(inventory),
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts"),
        "CONTAINERS_CONF": str(REPO / ".lab" / "containers.conf"),
    }
    try:
        up = _fleet(fleet_env, "up", "--hosts", "4")
        assert up.returncode == 0, up.stdout + up.stderr
        names = [f"{prefix}-fleet-scale{i:04d}" for i in range(1, 5)]
        assert _containers(fleet_env, prefix) == names
        graph = subprocess.run(
            [str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"],
            cwd=REPO, env=fleet_env, text=True, capture_output=True, check=True,
        )  # fmt: skip
        groups = json.loads(graph.stdout)
        assert sorted(groups["scale"]["hosts"]) == [f"scale{i:04d}" for i in range(1, 5)]
        # Over SSH with the lab key and strict host key checking (the scanned known_hosts).
        ping = subprocess.run(
            [str(BIN / "ansible"), "all", "-i", str(inventory), "-m", "ansible.builtin.ping"],
            cwd=REPO, env=fleet_env, text=True, capture_output=True, check=False,
        )  # fmt: skip
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert ping.stdout.count(" | SUCCESS") == 4, ping.stdout
        # Growing or shrinking touches only the difference.
        shrink = _fleet(fleet_env, "up", "--hosts", "2")
        assert shrink.returncode == 0, shrink.stdout + shrink.stderr
        assert _containers(fleet_env, prefix) == names[:2]
        assert "scale0003" not in inventory.read_text()
    finally:
        down = _fleet(fleet_env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert _containers(fleet_env, prefix) == []
    assert not inventory.exists()
    net = subprocess.run(
        ["podman", "network", "exists", f"{prefix}-fleet-net"], env=fleet_env, check=False
    )
    assert net.returncode != 0
