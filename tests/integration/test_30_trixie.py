# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Debian 13 (trixie) as the second lab platform: its image builds, the lab boots, and site.yml
(every role) converges from a bare host, re-runs with no change and verifies, like on Debian 12.

It runs a separate, short-lived lab (own prefix, inventory and fact cache) so the main lab that
the other integration tests use is not touched, and removes it afterwards. Two hosts are enough
for every role path and cost half of four: the aggregator (time server) and edge1 (a client).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BIN, REPO, env, recap

HOSTS = ("aggregator", "edge1")
# Its own lab: can run beside the main lab's tests (`python -m soc2audit.ci integration`).
pytestmark = pytest.mark.own_containers


@pytest.fixture(scope="module")
def trixie_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("trixie")
    prefix = subprocess.run(
        [sys.executable, "-m", "soc2audit.lab", "prefix"],
        cwd=REPO,
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    lab_env = dict(
        os.environ,
        SOC2_LAB_PREFIX=f"{prefix}-t13"[:31],
        SOC2_LAB_INVENTORY=str(tmp / "hosts.yml"),
        SOC2_LAB_SUITE="trixie",
        SOC2_LAB_HOSTS=",".join(HOSTS),
        # From the base image, whatever the four-host lab uses: this lab is the suite's cold
        # path (every package installed by the roles), docs/testing.md.
        SOC2_LAB_WARM="0",
        # Its own fact cache: `lab up` drops a recreated host's cached facts, and the four-host
        # lab's converge (running beside this test) owns .cache/facts.
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp / "facts"),
    )
    run_env = env() | {
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp / "facts"),
        "SOC2_LAB_INVENTORY": str(tmp / "hosts.yml"),
    }
    lab = [str(BIN / "python"), "-m", "soc2audit.lab"]
    up = subprocess.run([*lab, "up"], cwd=REPO, env=lab_env, text=True, capture_output=True)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield tmp / "hosts.yml", run_env
    finally:
        subprocess.run([*lab, "down"], cwd=REPO, env=lab_env, capture_output=True, check=False)


def _play(inventory: Path, run_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), *args],
        cwd=REPO,
        env=run_env,
        text=True,
        capture_output=True,
        check=False,
    )


def test_trixie_lab_converges_idempotently_and_verifies(trixie_lab: tuple[Path, dict]) -> None:
    inventory, run_env = trixie_lab
    text = inventory.read_text()
    assert "soc2_lab_suite: trixie" in text
    release = subprocess.run(
        [
            str(BIN / "ansible"),
            "-i",
            str(inventory),
            "all",
            "-o",
            "-m",
            "ansible.builtin.command",
            "-a",
            "cat /etc/debian_version",
        ],
        cwd=REPO,
        env=run_env,
        text=True,
        capture_output=True,
        check=False,
    )
    assert release.returncode == 0, release.stdout + release.stderr
    versions = [line.rsplit(" ", 1)[-1] for line in release.stdout.splitlines()]
    assert len(versions) == len(HOSTS), release.stdout
    assert all(v.startswith("13") for v in versions), release.stdout
    first = _play(inventory, run_env, "playbooks/site.yml")
    assert first.returncode == 0, first.stdout[-4000:]
    second = _play(inventory, run_env, "playbooks/site.yml")
    assert second.returncode == 0, second.stdout[-4000:]
    counts = recap(second.stdout)
    assert set(counts) == set(HOSTS)
    assert {h: c["changed"] for h, c in counts.items()} == dict.fromkeys(counts, 0)
    out = inventory.parent / "drift"
    drift = _play(
        inventory,
        run_env,
        "playbooks/drift_check.yml",
        "-e",
        json.dumps(
            {
                "soc2audit_output_dir": str(out),
                "soc2audit_evidence_dir": str(inventory.parent / "evidence"),
            }
        ),
    )
    assert drift.returncode == 0, drift.stdout[-4000:]
    rows = [json.loads(x) for x in (out / "last_run.jsonl").read_text().splitlines()]
    pki = [r for r in rows if r["check_id"].startswith("PKI")]
    time_checks = [r for r in rows if r["check_id"].startswith("TIME")]
    # PKI-01..06 from the verifier and PKI-07 (an mTLS handshake) from the testinfra checks.
    assert len(pki) == len(HOSTS) * 7 and {r["result"] for r in pki} == {"pass"}, pki
    assert {r["check_id"] for r in time_checks} >= {f"TIME-{n:02d}" for n in range(1, 11)}
    # Clients sync to the aggregator on Debian 13 too; PTP is not configured here.
    assert {r["result"] for r in time_checks if r["check_id"] in ("TIME-01", "TIME-05")} == {"pass"}
    assert {r["result"] for r in time_checks} <= {"pass", "not_applicable"}
