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
