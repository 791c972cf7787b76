# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/filter/log_pipeline.py: the aggregator's listeners and each shipper's port agree."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from plugin_loader import load_plugin

lp = load_plugin("plugins/filter/log_pipeline.py")

HOSTVARS = {
    "edge2": {"pki_certificate_requests": [{"name": "shipper-client", "usage": "client"}]},
    "edge1": {"pki_certificate_requests": [{"name": "shipper-client", "common_name": "edge1.lab"}]},
    "nocert": {"pki_certificate_requests": [{"name": "other"}]},
}
GROUPS = {"edge": ["edge2", "edge1"], "more": ["nocert", "edge1"]}


def test_names_sorted_by_host_with_common_name_default_and_missing() -> None:
    names = lp.peer_names(HOSTVARS, GROUPS, ["edge", "more", "absent"], "shipper-client")
    assert names == [
        {"host": "edge1", "name": "edge1.lab"},
        {"host": "edge2", "name": "edge2"},
        {"host": "nocert", "name": ""},
    ]


def test_derived_peers_from_base_by_name_and_each_shipper_finds_its_port() -> None:
    names = lp.peer_names(HOSTVARS, GROUPS, ["edge"], "shipper-client")
    peers = lp.log_peers(names, [], 6514)
    assert peers == [{"name": "edge1.lab", "port": 6514}, {"name": "edge2", "port": 6515}]
    assert lp.log_peer_port(peers, "edge2") == 6515
    assert lp.log_peer_port(peers, "unknown") is None


def test_explicit_peers_keep_given_ports_and_fill_missing_ones() -> None:
    peers = lp.log_peers([], [{"name": "b", "port": 7000}, {"name": "a"}], "7514")
    assert peers == [{"name": "a", "port": 7514}, {"name": "b", "port": 7000}]


def test_relp_ports_from_their_own_base_or_given_and_looked_up_by_transport() -> None:
    names = lp.peer_names(HOSTVARS, GROUPS, ["edge"], "shipper-client")
    peers = lp.log_peers(names, [], 6514, 2514)
    assert peers == [
        {"name": "edge1.lab", "port": 6514, "relp_port": 2514},
        {"name": "edge2", "port": 6515, "relp_port": 2515},
    ]
    assert lp.log_peer_port(peers, "edge2", "relp") == 2515
    assert lp.log_peer_port(peers, "edge2", "tcp") == 6515
    explicit = lp.log_peers(
        [], [{"name": "b", "port": 7000, "relp_port": 3000}, {"name": "a"}], 7514, "2514"
    )
    assert explicit == [
        {"name": "a", "port": 7514, "relp_port": 2514},
        {"name": "b", "port": 7000, "relp_port": 3000},
    ]
    # The aggregator's RELP listeners off: no relp_port, so a RELP shipper finds no port.
    assert lp.log_peer_port(lp.log_peers(names, [], 6514), "edge2", "relp") is None


def test_bad_port_base() -> None:
    with pytest.raises(AnsibleFilterError):
        lp.log_peers([], [], "x")
    with pytest.raises(AnsibleFilterError):
        lp.log_peers([], [], 6514, "y")


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("/var/log/audit/audit.log", True),
        ("/var/log/soc2-audit/audit.log", True),
        ("var/log/audit.log", False),
        ("/", False),
        ('/var/log/a"b', False),
        ("/var/log/a\\b", False),
        ("/var/log/a]b", False),
        ("/var/log/a b", False),
        ("/var/log/*.log", False),
        ("/var/log/a[1]", False),
    ],
)
def test_stream_paths_that_fit_an_sd_param(path: str, ok: bool) -> None:
    assert lp.log_stream_ok(path) is ok
