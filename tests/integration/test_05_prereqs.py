# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The prerequisite path on a machine that lacks the packages: a bare container of the lab's base
image (Debian minbase: no podman, runc, netavark, iptables, debootstrap, make, python3-venv,
git) runs the doctor from this checkout, which names what is missing, installs it with apt and
then finds everything. This is the path `.ci/run` and `make lab` take on a fresh machine."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from conftest import REPO

from soc2audit import lab, prereqs

# A bare container of its own: can run beside the lab tests
# (`python -m soc2audit.ci integration`).
pytestmark = pytest.mark.own_containers


def test_doctor_installs_every_prerequisite_on_a_bare_debian() -> None:
    image = lab.image_ref(os.environ.get("SOC2_LAB_SUITE", "bookworm"))
    script = (
        "cd /src; python3 -m soc2audit.lab doctor; echo doctor-before=$?; "
        "python3 -m soc2audit.lab doctor --install; echo doctor-install=$?; "
        "python3 -m soc2audit.lab doctor; echo doctor-after=$?"
    )
    mount = f"{REPO}:/src:ro"
    proc = subprocess.run(
        ["podman", "run", "--rm", "--network", "podman", "-v", mount, image, "sh", "-c", script],
        env=dict(os.environ, CONTAINERS_CONF=str(REPO / ".lab" / "containers.conf")),
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    before, _, rest = out.partition("doctor-before=")
    # Absent on a bare Debian, each named with the package that provides it.
    for command, package in (
        ("podman", "podman"),
        ("iptables", "iptables"),
        ("/usr/lib/podman/netavark", "netavark"),
        ("debootstrap", "debootstrap"),
        ("make", "make"),
        ("python3:ensurepip", "python3-venv"),
    ):
        assert re.search(rf"^MISSING {re.escape(command)}\s+{package}\s", before, re.M), before
    assert rest.startswith("1"), "the doctor exits 1 while something is missing"
    assert "installing " in rest and "doctor-install=0" in rest, rest[-3000:]
    after = rest.split("doctor-install=0", 1)[1]
    assert "MISSING" not in after and "doctor-after=0" in after, after
    # Everything in the list was checked again after the install.
    assert len(re.findall(r"^ok ", after, re.M)) == len(prereqs.needs("test"))
