# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The installed-package list site.yml reads once per host (plugins/filter/packages.py)."""

from __future__ import annotations

from pathlib import Path

from plugin_loader import load_plugin

F = load_plugin("plugins/filter/packages.py")

DPKG = (
    "chrony\t4.3-2+deb12u1\tii \n"
    "auditd\t1:3.0.9-1\tii \n"
    "ntp\t1:4.2.8p15\trc \n"
    "libc6:amd64\t2.36-9\tii \n"
    "half\t1.0\tiU \n"
    "\n"
    "garbage line\n"
)


def test_only_installed_packages_with_their_versions() -> None:
    assert F.dpkg_installed(DPKG) == {
        "chrony": "4.3-2+deb12u1",
        "auditd": "1:3.0.9-1",
        "libc6": "2.36-9",
    }
    assert F.dpkg_installed("") == {}


def test_missing_packages_and_unknown_inventory() -> None:
    installed = F.dpkg_installed(DPKG)
    assert F.packages_missing(["chrony", "auditd"], installed) == []
    assert F.packages_missing(["chrony", "ntp", "nftables"], installed) == ["ntp", "nftables"]
    # Nothing known (the role on its own): everything counts as missing, apt decides.
    assert F.packages_missing(["chrony"], None) == ["chrony"]


def test_package_facts_give_the_same_mapping_as_dpkg_query() -> None:
    # Recorded on one Debian 12 host: ansible.builtin.package_facts (apt manager) and the
    # dpkg-query line of playbooks/site.yml, for the same five packages.
    import json

    fixtures = Path(__file__).parent / "fixtures"
    facts = json.loads((fixtures / "package_facts_bookworm.json").read_text())
    dpkg = (fixtures / "dpkg_query_bookworm.txt").read_text()
    assert F.package_facts_installed(facts) == F.dpkg_installed(dpkg)
    assert F.package_facts_installed(facts)["libc6"] == "2.36-9+deb12u14"
    # Not gathered (package_facts skipped or failed): nothing known.
    assert F.package_facts_installed(None) == {}
    assert F.package_facts_installed({"broken": []}) == {}
