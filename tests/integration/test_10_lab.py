"""The lab behaves like a fleet and recovers from being half dead."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO, get_host, inventory

PY = str(REPO / ".venv" / "bin" / "python")


def podman(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CONTAINERS_CONF=str(REPO / ".lab" / "containers.conf"))
    return subprocess.run(["podman", *args], text=True, capture_output=True, env=env, check=False)


def lab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PY if os.path.exists(PY) else sys.executable, "-m", "soc2audit.lab", *args],
        cwd=REPO,
        text=True,
        capture_output=True,
        check=False,
    )


def test_inventory_has_the_four_hosts_in_their_groups(lab_inventory: dict) -> None:
    children = lab_inventory["all"]["children"]
    assert set(children["edge"]["hosts"]) == {"edge1", "edge2"}
    assert set(children["aggregators"]["hosts"]) == {"aggregator"}
    assert set(children["timeservers"]["hosts"]) == {"aggregator"}
    assert set(children["monitors"]["hosts"]) == {"monitor"}


def test_every_host_answers_over_ssh_with_systemd_running(lab_hosts: list[str]) -> None:
    for name in lab_hosts:
        h = get_host(name)
        assert h.backend.NAME == "ssh", "lab hosts must be reached over SSH, not podman exec"
        assert h.check_output("hostname") == name
        state = h.run("systemctl is-system-running").stdout.strip()
        assert state in ("running", "degraded"), f"{name}: systemd {state}"
        assert h.service("ssh").is_running


def test_containers_resolve_each_other_by_name() -> None:
    h = get_host("edge1")
    out = h.check_output("getent hosts aggregator monitor edge2")
    assert len(out.splitlines()) == 3, out


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


def test_lab_resources_carry_this_checkouts_prefix() -> None:
    prefix = lab("prefix").stdout.strip()
    names = podman("ps", "--filter", f"label=soc2audit.lab={prefix}", "--format", "{{.Names}}")
    assert sorted(names.stdout.split()) == sorted(
        f"{prefix}-{h}" for h in ("edge1", "edge2", "aggregator", "monitor")
    )
    assert podman("network", "exists", f"{prefix}-net").returncode == 0
