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


# ---------------------------------------------------------------- the firewall's ports
def test_aggregator_defaults_equal_the_roles_defaults() -> None:
    """The filter's copy of the settings that decide the listeners is the role's own."""
    import yaml
    from plugin_loader import REPO_ROOT

    defaults = yaml.safe_load((REPO_ROOT / "roles/log_aggregator/defaults/main.yml").read_text())
    assert {k: defaults[k] for k in lp.AGGREGATOR_DEFAULTS} == lp.AGGREGATOR_DEFAULTS


def test_port_ranges_fold_consecutive_ports() -> None:
    assert lp.port_ranges([6514]) == [6514]
    assert lp.port_ranges([6515, 6514, 6516, 6514]) == ["6514-6516"]
    assert lp.port_ranges([7000, 6514, 6515, "7002"]) == ["6514-6515", 7000, 7002]
    assert lp.port_ranges([]) == []


def test_log_ports_are_the_aggregators_listeners() -> None:
    groups = {"aggregators": ["agg"], "edge": ["edge2", "edge1"]}
    hostvars = {**HOSTVARS, "agg": {}}
    assert lp.aggregator_peers(hostvars, groups, "agg") == [
        {"name": "edge1.lab", "port": 6514, "relp_port": 2514},
        {"name": "edge2", "port": 6515, "relp_port": 2515},
    ]
    # The TLS syslog and the RELP listeners: whichever transport a shipper uses gets through.
    assert lp.log_ports(hostvars, groups) == ["2514-2515", "6514-6515"]
    off = {**HOSTVARS, "agg": {"log_aggregator_relp_enabled": "false"}}
    assert lp.log_ports(off, groups) == ["6514-6515"]
    # Every port a shipper derives is inside what the firewall opens (the same function).
    names = lp.peer_names(hostvars, groups, ["edge"], "shipper-client")
    for peer in lp.log_peers(names, [], 6514):
        assert 6514 <= peer["port"] <= 6515


def test_log_ports_follow_the_aggregators_inventory_settings() -> None:
    groups = {"aggregators": ["agg"], "edge": ["edge1", "edge2"], "more": ["nocert"]}
    base = {
        **HOSTVARS,
        "agg": {"log_aggregator_peer_port_base": 7514, "log_aggregator_relp_port_base": 3514},
    }
    assert lp.log_ports(base, groups) == ["3514-3515", "7514-7515"]
    pinned = {
        **HOSTVARS,
        "agg": {
            "log_aggregator_peers": [{"name": "a", "port": 9000}, {"name": "b"}],
            "log_aggregator_relp_enabled": False,
        },
    }
    assert lp.log_ports(pinned, groups) == [6515, 9000]
    # A host without a client certificate has no listener; a third shipping host adds a port.
    more = {**HOSTVARS, "agg": {"log_aggregator_shipping_groups": ["edge", "more"]}}
    assert lp.log_ports(more, groups) == ["2514-2515", "6514-6515"]
    extra = {
        **HOSTVARS,
        "edge3": {"pki_certificate_requests": [{"name": "shipper-client"}]},
        "agg": {},
    }
    assert lp.log_ports(extra, {**groups, "edge": ["edge1", "edge2", "edge3"]}) == [
        "2514-2516",
        "6514-6516",
    ]


def test_log_ports_without_aggregator_or_shippers_is_the_base_port() -> None:
    assert lp.log_ports({}, {}) == [6514]
    assert lp.log_ports({"agg": {}}, {"aggregators": ["agg"]}) == [6514]


def test_aggregator_settings_are_the_defaults_overridden_by_the_inventory() -> None:
    hostvars = {"agg": {"log_aggregator_peer_port_base": 7514, "unrelated": 1}}
    assert lp.aggregator_settings(hostvars, "agg") == {
        **lp.AGGREGATOR_DEFAULTS,
        "log_aggregator_peer_port_base": 7514,
    }
    assert lp.aggregator_settings(hostvars, "") == lp.AGGREGATOR_DEFAULTS
