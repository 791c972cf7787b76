# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""controls/: testinfra checks that look at hosts from outside the verification modules.

They run only with the soc2audit plugin (``-p soc2audit.pytest_plugin``, see that module), which
turns their outcomes into check results; any other pytest run (tests/unit, tests/integration, a
bare ``pytest .``) ignores this directory.

Settings come from the roles' defaults overlaid with the host's inventory variables, the way the
roles themselves see them (soc2audit.pytest_plugin.role_settings; a templated value is not
evaluated here: it is an error). Each check file keeps the settings only it needs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from testinfra.host import Host

from soc2audit.pytest_plugin import role_settings, setting

PLUGIN = "soc2audit.pytest_plugin"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        return True
    return None


@dataclasses.dataclass(frozen=True)
class HostCredential:
    """The pki role's `host` certificate on a host: what its mTLS services present."""

    cert: str
    key: str
    fullchain: str
    ca_chain: str


@pytest.fixture(scope="module")
def pki_credential(host: Host) -> HostCredential:
    """Paths of the `host` certificate request (pki role defaults, inventory overrides)."""
    values = role_settings(host, "pki")
    cert_dir = setting(values, "pki_cert_dir")
    key_dir = setting(values, "pki_key_dir")
    requests = setting(values, "pki_certificate_requests") or []
    request = next((r for r in requests if r.get("name") == "host"), None)
    if request is None:
        pytest.skip("not applicable: pki_certificate_requests has no `host` certificate")
    return HostCredential(
        cert=str(request.get("cert_path", f"{cert_dir}/host.crt")),
        key=str(request.get("key_path", f"{key_dir}/host.key")),
        fullchain=str(request.get("fullchain_path", f"{cert_dir}/host-fullchain.crt")),
        ca_chain=str(setting(values, "pki_ca_chain_path")),
    )
