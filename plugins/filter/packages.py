# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters shared by the roles' install steps: the host's installed packages, read once a play."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dpkg_installed(text: str) -> dict[str, str]:
    """{package: version} of the installed packages in the output of
    ``dpkg-query -W -f='${Package}\\t${Version}\\t${db:Status-Abbrev}\\n'`` (playbooks/site.yml).

    Packages dpkg only remembers (removed, config-files, half-installed) are left out: for an
    install step they are missing.
    """
    out: dict[str, str] = {}
    for line in str(text or "").splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not parts[0]:
            continue
        name, version, status = parts[0], parts[1], parts[2]
        if status.startswith("ii"):
            out[name.split(":", 1)[0]] = version
    return out


def package_facts_installed(packages: Any) -> dict[str, str]:
    """{package: version} from ``ansible_facts['packages']`` (ansible.builtin.package_facts: a list
    of installed versions per name), the same shape as :func:`dpkg_installed`; {} when unknown."""
    if not isinstance(packages, Mapping):
        return {}
    return {
        str(name): str(versions[0].get("version", ""))
        for name, versions in packages.items()
        if isinstance(versions, list) and versions and isinstance(versions[0], Mapping)
    }


def packages_missing(wanted: list[str], installed: Any) -> list[str]:
    """The packages of ``wanted`` not in ``installed`` (a {name: version} mapping); all of them
    when nothing is known (``installed`` undefined or not a mapping)."""
    if not isinstance(installed, Mapping):
        return list(wanted)
    return [name for name in wanted if name not in installed]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "soc2audit_dpkg_installed": dpkg_installed,
            "soc2audit_package_facts_installed": package_facts_installed,
            "soc2audit_packages_missing": packages_missing,
        }
