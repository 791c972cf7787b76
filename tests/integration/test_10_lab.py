# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab behaves like a fleet (its repair is tested last, in test_99_lab_repair.py)."""

from __future__ import annotations

from conftest import get_host, lab, podman


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


def test_lab_resources_carry_this_checkouts_prefix() -> None:
    prefix = lab("prefix").stdout.strip()
    names = podman("ps", "--filter", f"label=soc2audit.lab={prefix}", "--format", "{{.Names}}")
    assert sorted(names.stdout.split()) == sorted(
        f"{prefix}-{h}" for h in ("edge1", "edge2", "aggregator", "monitor")
    )
    assert podman("network", "exists", f"{prefix}-net").returncode == 0
