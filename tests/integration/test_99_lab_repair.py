# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab recovers from being half dead: a killed container is started again, a removed one is
recreated. Last of the lab tests on purpose: a recreated container is a bare host again, and
re-converging it from scratch here would cost a cold install in the middle of the run. The lab
is left repaired (containers up, SSH working) but not converged: `make lab` converges it."""

from __future__ import annotations

from conftest import get_host, inventory, lab, podman


def test_lab_up_recovers_a_killed_container() -> None:
    prefix = lab("prefix").stdout.strip()
    name = f"{prefix}-edge2"
    assert podman("kill", name).returncode == 0
    assert (
        podman("container", "inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        == "false"
    )
    proc = lab("up")
    assert proc.returncode == 0, proc.stderr
    assert "edge2: not running, starting it again" in proc.stdout
    h = get_host("edge2")
    assert h.check_output("hostname") == "edge2"
    assert set(inventory()["all"]["children"]["edge"]["hosts"]) == {"edge1", "edge2"}


def test_lab_up_recovers_a_removed_container() -> None:
    prefix = lab("prefix").stdout.strip()
    assert podman("rm", "-f", f"{prefix}-monitor").returncode == 0
    proc = lab("up")
    assert proc.returncode == 0, proc.stderr
    assert f"starting {prefix}-monitor" in proc.stdout
    assert get_host("monitor").check_output("hostname") == "monitor"


def test_lab_down_removes_a_dead_aggregator_with_a_sealed_store() -> None:
    """Sealed log files are immutable (+i) and active ones append-only (+a): even root cannot
    remove them, so `podman rm` fails unless `lab down` clears the flags first. The aggregator
    is killed first, so its flags are cleared through its mounted root file system (the path a
    container whose processes are gone takes); the running hosts' inside them. Then `lab up`
    brings the whole lab back (bare: `make lab` converges it)."""
    prefix = lab("prefix").stdout.strip()
    name = f"{prefix}-aggregator"
    day = "2026-01-01"
    path = f"/srv/soc2audit/logs/edge1/{day}.jsonl"
    agg = get_host("aggregator")
    agg.check_output(
        f"echo '{{}}' > {path} && touch -d '{day} 12:00' {path}"
        " && systemctl start soc2-log-seal.service"
    )
    flags = agg.check_output(f"lsattr {path} {path}.sha256")
    assert all("i" in row.split()[0] for row in flags.splitlines()), flags
    assert podman("kill", name).returncode == 0
    down = lab("down")
    assert down.returncode == 0, down.stderr
    assert podman("container", "exists", name).returncode == 1, down.stdout + down.stderr
    names = podman(
        "ps", "-a", "--filter", f"label=soc2audit.lab={prefix}", "--format", "{{.Names}}"
    )
    assert names.stdout.split() == []
    up = lab("up")
    assert up.returncode == 0, up.stderr
    assert get_host("aggregator").check_output("hostname") == "aggregator"
