# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/filter/nftables.py and the ruleset template: service layers, input
problems, address resolution from the inventory, the rule plan, the control node's SSH source.

Host variables are plain dicts shaped like Ansible's ``hostvars``; the template is rendered with
jinja2 and the role defaults, and compared with the file the role rendered on the lab aggregator
(tests/unit/fixtures/nft/bookworm_aggregator.nft, the source of the recorded *_desired.json).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError
from plugin_loader import load_plugin

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = REPO_ROOT / "roles" / "nftables"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nft"


def _load_filter() -> ModuleType:
    return load_plugin("plugins/filter/nftables.py")


nf = _load_filter()
DEFAULTS: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())

# The lab: edge1, edge2 (edge), aggregator (aggregators, timeservers), monitor (monitors).
HOSTVARS: dict[str, dict[str, Any]] = {
    "edge1": {"ansible_host": "10.89.2.2"},
    "edge2": {"ansible_host": "10.89.2.3"},
    "aggregator": {"ansible_host": "10.89.2.4"},
    "monitor": {"ansible_host": "10.89.2.5"},
}
GROUPS: dict[str, list[str]] = {
    "all": ["edge1", "edge2", "aggregator", "monitor"],
    "ungrouped": [],
    "edge": ["edge1", "edge2"],
    "aggregators": ["aggregator"],
    "timeservers": ["aggregator"],
    "monitors": ["monitor"],
}
MEMBERSHIP = {
    "edge1": ["edge"],
    "edge2": ["edge"],
    "aggregator": ["aggregators", "timeservers"],
    "monitor": ["monitors"],
}
CONTROL = {"addresses": ["10.89.2.1"], "ports": [22]}

# The log services' ports are the filter call the role's defaults hold (one source with the
# log_aggregator and log_shipper roles): resolved here as Ansible would, with these hostvars.
LOG_PORTS = "{{ hostvars | soc2audit_log_ports(groups) }}"
log_pipeline = load_plugin("plugins/filter/log_pipeline.py")
for _service in DEFAULTS["nftables_default_services"]:
    if _service["ports"] == LOG_PORTS:
        _service["ports"] = log_pipeline.log_ports(HOSTVARS, GROUPS)


# node_exporter's port: the node_exporter role's variable, 9100 where it is not set (one source
# for the node_exporter and scrape services, the exporter and Prometheus' targets); the opa
# service's port (roles/opa's opa_port) is rendered the same way.
EXPORTER_PORT = "{{ node_exporter_port | default(9100) }}"


def _exporter_ports(services: list[dict[str, Any]], **variables: Any) -> list[dict[str, Any]]:
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined)
    return [
        {**s, "ports": [env.from_string(str(p)).render(**variables) for p in s["ports"]]}
        if isinstance(s["ports"], list) and any("{{" in str(p) for p in s["ports"])
        else s
        for s in services
    ]


DEFAULTS["nftables_default_services"] = _exporter_ports(DEFAULTS["nftables_default_services"])


def settings(**extra: Any) -> dict[str, Any]:
    return {
        "table": "soc2_filter",
        "control": CONTROL,
        "admin_networks": [],
        "admin_ports": [22],
        "control_node_addresses": [],
        "output_policy": "accept",
        "log_drops": True,
        "log_rate": "5/minute",
        **extra,
    }


def no_dns(name: str) -> list[str]:
    raise OSError(f"no DNS in unit tests ({name})")


def lab_plan(host: str, services: list[dict[str, Any]] | None = None, **extra: Any) -> dict:
    merged = nf.merge_services(DEFAULTS["nftables_default_services"], services or [])
    problems = nf.problems(
        merged, [], MEMBERSHIP[host], GROUPS, HOSTVARS, settings(**extra), no_dns
    )
    assert problems == []
    return nf.plan(merged, [], MEMBERSHIP[host], GROUPS, HOSTVARS, settings(**extra), no_dns)


# ---------------------------------------------------------------- layers


def test_layers_merge_by_name_and_absent_removes() -> None:
    merged = nf.merge_services(
        [{"name": "a", "ports": [1]}, {"name": "b", "ports": [2]}],
        [{"name": "a", "ports": [10]}],
        None,
        [{"name": "b", "state": "absent"}, {"name": "c", "ports": [3]}],
    )
    assert merged == [{"name": "a", "ports": [10]}, {"name": "c", "ports": [3]}]
    with pytest.raises(AnsibleFilterError):
        nf.merge_services(["not a mapping"])
    assert nf.merge_raw_rules([{"rule": "x"}], None, [{"rule": "y"}]) == [
        {"rule": "x"},
        {"rule": "y"},
    ]


# ---------------------------------------------------------------- the lab's plan


def test_lab_plan_per_host() -> None:
    agg = lab_plan("aggregator")
    assert [s["name"] for s in agg["sets"]] == [
        "control_node_v4",
        "log_ingest_v4",
        "node_exporter_v4",
        "ntp_v4",
    ]
    assert {s["name"]: s["elements"] for s in agg["sets"]}["ntp_v4"] == [
        "10.89.2.2",
        "10.89.2.3",
        "10.89.2.4",
        "10.89.2.5",
    ]
    assert agg["input"] == [
        'ip saddr @control_node_v4 tcp dport 22 counter accept comment "soc2:control-node"',
        'ip saddr @log_ingest_v4 tcp dport 6514 counter accept comment "soc2:log_ingest"',
        'ip saddr @node_exporter_v4 tcp dport 9100 counter accept comment "soc2:node_exporter"',
        'ip saddr @ntp_v4 udp dport 123 counter accept comment "soc2:ntp"',
    ]
    assert agg["output"] == []  # output services only with an output policy of drop
    monitor = lab_plan("monitor")
    assert [line.split()[2] for line in monitor["input"]] == [
        "@control_node_v4",
        "@node_exporter_v4",
        "@prometheus_v4",
    ]
    edge = lab_plan("edge1")
    assert [line.split()[2] for line in edge["input"]] == ["@control_node_v4", "@node_exporter_v4"]


def test_output_services_with_output_policy_drop() -> None:
    edge = lab_plan("edge1", output_policy="drop")
    assert edge["output"] == [
        'ip daddr @log_shipping_v4 tcp dport 6514 counter accept comment "soc2:log_shipping"',
        'ip daddr @ntp_client_v4 udp dport 123 counter accept comment "soc2:ntp_client"',
    ]
    monitor = lab_plan("monitor", output_policy="drop")
    assert (
        'ip daddr @scrape_v4 tcp dport { 9090, 9100 } counter accept comment "soc2:scrape"'
        in monitor["output"]
    )


def test_template_renders_the_file_the_role_wrote_on_the_lab() -> None:
    variables = {
        **DEFAULTS,
        "ansible_managed": "Ansible managed",
        "__nftables_plan": lab_plan("aggregator"),
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    text = env.get_template("etc/nftables.d/soc2_filter.nft.j2").render(variables)
    assert text == (FIXTURES / "bookworm_aggregator.nft").read_text()
    assert not [line for line in text.splitlines() if line.strip().startswith(("flush", "destroy"))]


def test_admin_networks_ipv6_any_and_ranges() -> None:
    services = [
        {"name": "https", "ports": [443, "8000-8010", 8005, "443"], "allow_any": True},
        {
            "name": "db",
            "ports": [5432],
            "allow_networks": ["2001:db8::/64", "2001:db8::5", "192.0.2.0/24", "192.0.2.7"],
        },
    ]
    plan = lab_plan(
        "edge1", services, admin_networks=["198.51.100.0/24", "fd00::/8"], admin_ports=[22, 2222]
    )
    sets = {s["name"]: s for s in plan["sets"]}
    # Addresses inside a listed network are dropped (an interval set refuses overlaps).
    assert sets["db_v4"]["elements"] == ["192.0.2.0/24"]
    assert sets["db_v6"] == {"name": "db_v6", "type": "ipv6_addr", "elements": ["2001:db8::/64"]}
    assert sets["admin_v6"]["elements"] == ["fd00::/8"]
    assert (
        'ip6 saddr @admin_v6 tcp dport { 22, 2222 } counter accept comment "soc2:admin"'
        in plan["input"]
    )
    # 8005 lies inside 8000-8010 but stays a listed element; "443" and 443 are one port.
    assert 'tcp dport { 443, 8000-8010, 8005 } counter accept comment "soc2:https"' in plan[
        "input"
    ] or ('tcp dport { 443, 8005, 8000-8010 } counter accept comment "soc2:https"' in plan["input"])


def test_raw_rules_positions() -> None:
    merged = nf.merge_services(DEFAULTS["nftables_default_services"])
    raw = [
        {"rule": "ip saddr 192.0.2.66 drop", "position": "before_services", "comment": "blocked"},
        {"rule": "tcp dport 8443 accept"},
        {"chain": "forward", "rule": 'iifname "docker0" accept'},
        {"chain": "output", "rule": "tcp dport 25 drop", "position": "before_services"},
    ]
    plan = nf.plan(merged, raw, ["edge"], GROUPS, HOSTVARS, settings(), no_dns)
    assert plan["input_first"] == ['ip saddr 192.0.2.66 drop comment "blocked"']
    assert plan["input_last"] == ["tcp dport 8443 accept"]
    assert plan["forward_last"] == ['iifname "docker0" accept']
    assert plan["output_first"] == ["tcp dport 25 drop"]


# ---------------------------------------------------------------- problems


def problems(
    services: list[dict[str, Any]],
    raw: list[dict[str, Any]] | None = None,
    host: str = "edge1",
    **extra: Any,
) -> list[str]:
    return nf.problems(
        services, raw or [], MEMBERSHIP[host], GROUPS, HOSTVARS, settings(**extra), no_dns
    )


@pytest.mark.parametrize(
    ("service", "message"),
    [
        (
            {"name": "web", "ports": [8080], "allow_groups": ["nosuchgroup"]},
            "service web: unknown inventory group 'nosuchgroup' in allow_groups",
        ),
        (
            {"name": "web", "ports": [8080], "allow_hosts": ["ghost"]},
            "service web: unknown inventory host 'ghost' in allow_hosts",
        ),
        ({"name": "web", "ports": [70000]}, "service web: port 70000 is out of range (1-65535)"),
        ({"name": "web", "ports": [0]}, "service web: port 0 is out of range (1-65535)"),
        (
            {"name": "web", "ports": ["90-80"]},
            "service web: port range '90-80' ends before it starts",
        ),
        (
            {"name": "web", "ports": ["http"]},
            "service web: port 'http' is not a number or a low-high range",
        ),
        ({"name": "web", "ports": [True]}, "service web: port True is not a number"),
        ({"name": "web", "ports": []}, "service web: ports must be a non-empty list"),
        (
            {"name": "web", "ports": [80], "protocol": "tpc"},
            "service web: protocol 'tpc' is not one of tcp, udp",
        ),
        (
            {"name": "web", "ports": [80], "direction": "in"},
            "service web: direction 'in' is not input or output",
        ),
        ({"name": "Web-1", "ports": [80]}, "service Web-1: name must match"),
        ({"name": "admin", "ports": [80]}, "service admin: the name is reserved"),
        (
            {"name": "web", "ports": [80], "allow_networks": ["10.0.0.300"]},
            "'10.0.0.300' in allow_networks is not an address or network",
        ),
        (
            {"name": "web", "ports": [80], "alow_groups": ["edge"]},
            "service web: unknown field(s) alow_groups",
        ),
        (
            {"name": "web", "ports": [80], "apply_to": "edge"},
            "service web: apply_to must be a list of strings",
        ),
        (
            {"name": "web", "ports": [80], "comment": 'say "hi"'},
            "comment must not contain double quotes",
        ),
    ],
)
def test_bad_service_input(service: dict[str, Any], message: str) -> None:
    found = problems([service])
    assert any(message in p for p in found), found


def test_unknown_group_only_matters_where_the_service_is_rendered() -> None:
    service = {"name": "web", "ports": [80], "apply_to": ["monitors"], "allow_groups": ["nosuch"]}
    assert problems([service], host="edge1") == []
    assert problems([service], host="monitor") != []
    out = {**service, "direction": "output", "apply_to": ["all"]}
    assert problems([out], output_policy="accept") == []
    assert problems([out], output_policy="drop") != []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"rule": "tcp dport 22 accept; flush ruleset"}, "one rule on one line without ';'"),
        ({"rule": "accept }\n}\nflush ruleset"}, "one rule on one line"),
        ({"rule": "tcp dport { 22, 80 accept"}, "balanced braces"),
        ({"rule": ""}, "'rule' must be a non-empty string"),
        (
            {"rule": "accept", "chain": "prerouting"},
            "chain 'prerouting' is not input, forward or output",
        ),
        ({"rule": "accept", "position": "top"}, "position 'top' is not one of"),
    ],
)
def test_bad_raw_rules(raw: dict[str, Any], message: str) -> None:
    found = problems([], [raw])
    assert any(message in p for p in found), found


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"table": "soc2-filter"}, "nftables_table 'soc2-filter' is not an nft identifier"),
        ({"log_rate": "5/min"}, "nftables_log_rate '5/min' is not N/second|minute|hour|day"),
        (
            {"admin_networks": ["nope"]},
            "nftables_admin_networks: 'nope' is not an address or network",
        ),
        ({"admin_ports": [22, 99999]}, "nftables_admin_ports: port 99999 is out of range"),
    ],
)
def test_bad_settings(extra: dict[str, Any], message: str) -> None:
    found = problems([], **extra)
    assert any(message in p for p in found), found


# ---------------------------------------------------------------- addresses


def test_host_addresses_order_of_sources() -> None:
    hostvars = {
        "explicit": {
            "ansible_host": "10.0.0.1",
            "nftables_host_addresses": ["10.0.0.9", "2001:db8::9"],
        },
        "single": {"nftables_host_addresses": "10.0.0.8"},
        "ip": {
            "ansible_host": "10.0.0.2",
            "ansible_facts": {"default_ipv4": {"address": "10.9.9.9"}},
        },
        "facts": {
            "ansible_host": "box",
            "ansible_facts": {
                "default_ipv4": {"address": "10.0.0.3"},
                "default_ipv6": {"address": "2001:db8::3"},
            },
        },
        "dns": {"ansible_host": "box.example"},
        "bare": {},
    }
    resolver = {"box.example": ["10.0.0.4", "2001:db8::4"], "bare": ["10.0.0.5"]}
    resolve = resolver.__getitem__
    assert nf.host_addresses("explicit", hostvars, resolve) == ["10.0.0.9", "2001:db8::9"]
    assert nf.host_addresses("single", hostvars, resolve) == ["10.0.0.8"]
    assert nf.host_addresses("ip", hostvars, resolve) == ["10.0.0.2"]
    assert nf.host_addresses("facts", hostvars, resolve) == ["10.0.0.3", "2001:db8::3"]
    assert nf.host_addresses("dns", hostvars, resolve) == ["10.0.0.4", "2001:db8::4"]
    assert nf.host_addresses("bare", hostvars, resolve) == ["10.0.0.5"]
    with pytest.raises(ValueError, match="does not resolve"):
        nf.host_addresses("dns", hostvars, no_dns)


def test_a_host_that_does_not_resolve_is_a_problem() -> None:
    hostvars = {**HOSTVARS, "ghost": {"ansible_host": "ghost.invalid"}}
    groups = {**GROUPS, "monitors": ["monitor", "ghost"]}
    found = nf.problems(
        nf.merge_services(DEFAULTS["nftables_default_services"]),
        [],
        ["edge"],
        groups,
        hostvars,
        settings(),
        no_dns,
    )
    assert found == [
        "service node_exporter: host ghost: ghost.invalid does not resolve"
        " (no DNS in unit tests (ghost.invalid))"
    ]


def test_collapse_drops_contained_keeps_adjacent() -> None:
    nets = [
        ipaddress.ip_network(n)
        for n in (
            "10.0.0.2/32",
            "10.0.0.3/32",
            "10.0.0.0/24",
            "10.1.0.1/32",
            "10.1.0.1/32",
            "::1/128",
        )
    ]
    assert [str(n) for n in nf.collapse(nets)] == ["10.0.0.0/24", "10.1.0.1/32", "::1/128"]
    adjacent = [ipaddress.ip_network(n) for n in ("10.0.0.2/32", "10.0.0.3/32")]
    assert len(nf.collapse(adjacent)) == 2


# ---------------------------------------------------------------- the control node


@pytest.mark.parametrize(
    ("value", "peer"),
    [
        ("10.89.2.1 39690 10.89.2.2 22", {"address": "10.89.2.1", "port": 22}),
        ("10.89.2.1 39690 2222", {"address": "10.89.2.1", "port": 2222}),
        ("::ffff:10.0.0.1 5000 ::ffff:10.0.0.2 22", {"address": "10.0.0.1", "port": 22}),
        ("2001:db8::1 5000 2001:db8::2 22", {"address": "2001:db8::1", "port": 22}),
        ("", {}),
        (None, {}),
        ("garbage", {}),
        ("host.example 1 2 22", {}),
    ],
)
def test_ssh_peer(value: Any, peer: dict[str, Any]) -> None:
    assert nf.ssh_peer(value) == peer


def test_control_node_order() -> None:
    conn = "10.89.2.1 39690 10.89.2.2 22"
    local = {"addresses": ["10.0.0.77"], "ports": [22]}
    # The role: probe, then environment facts, then the recorded local fact.
    assert nf.control_node([], 22, [conn, "", local]) == {"addresses": ["10.89.2.1"], "ports": [22]}
    assert nf.control_node([], 22, ["", "", local]) == local
    # The verifier: the recorded local fact first, even when it says "none".
    assert nf.control_node([], 22, [{"addresses": [], "ports": []}, conn]) == {
        "addresses": [],
        "ports": [],
    }
    assert nf.control_node(["10.0.0.5", "10.0.0.5"], 2222, [conn]) == {
        "addresses": ["10.0.0.5"],
        "ports": [2222],
    }
    assert nf.control_node([], 22, [conn], enabled=False) == {"addresses": [], "ports": []}
    assert nf.control_node([], 22, ["", None]) == {"addresses": [], "ports": []}


def test_filter_names() -> None:
    names = set(nf.FilterModule().filters())
    assert names == {
        "soc2audit_nft_merge_services",
        "soc2audit_nft_merge_raw_rules",
        "soc2audit_nft_problems",
        "soc2audit_nft_plan",
        "soc2audit_nft_control_node",
        "soc2audit_nft_ssh_peer",
    }


def test_the_log_services_open_every_aggregator_listener() -> None:
    """log_ingest and log_shipping take their ports from soc2audit_log_ports: with the lab's
    shipper-client certificates, one listener per edge host (6514, 6515) on the aggregator,
    and the edge hosts may dial both (each its own)."""
    raw = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    log_services = {
        s["name"]: s for s in raw["nftables_default_services"] if s["ports"] == LOG_PORTS
    }
    assert set(log_services) == {"log_ingest", "log_shipping"}
    cert = {"pki_certificate_requests": [{"name": "shipper-client", "usage": "client"}]}
    hostvars = {h: {**v, **(cert if h.startswith("edge") else {})} for h, v in HOSTVARS.items()}
    ports = log_pipeline.log_ports(hostvars, GROUPS)
    # RELP (the shippers' default transport) and TLS syslog listeners, one of each per edge.
    assert ports == ["2514-2515", "6514-6515"]
    services = [{**s, "ports": ports} for s in log_services.values()]
    merged = nf.merge_services(DEFAULTS["nftables_default_services"], services)
    plan = nf.plan(merged, [], ["aggregators", "timeservers"], GROUPS, hostvars, settings(), no_dns)
    ingest = [r for r in plan["input"] if "soc2:log_ingest" in r]
    assert len(ingest) == 1 and "2514-2515" in ingest[0] and "6514-6515" in ingest[0], ingest
    out = nf.plan(merged, [], ["edge"], GROUPS, hostvars, settings(output_policy="drop"), no_dns)
    shipping = [r for r in out["output"] if "soc2:log_shipping" in r]
    assert len(shipping) == 1 and "2514-2515" in shipping[0] and "6514-6515" in shipping[0]


def test_node_exporter_port_has_one_source() -> None:
    """The node_exporter and scrape services take the port from node_exporter_port (the
    node_exporter role's default, 9100 where the variable is not set)."""
    raw = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    users = {s["name"] for s in raw["nftables_default_services"] if EXPORTER_PORT in s["ports"]}
    assert users == {"node_exporter", "scrape"}
    assert "9100" not in (ROLE / "defaults" / "main.yml").read_text().replace(EXPORTER_PORT, "")
    exporter_defaults = yaml.safe_load(
        (ROLE.parent / "node_exporter" / "defaults" / "main.yml").read_text()
    )
    assert exporter_defaults["node_exporter_port"] == 9100
    for port, expected in ((None, "9100"), (9200, "9200")):
        variables = {} if port is None else {"node_exporter_port": port}
        merged = nf.merge_services(_exporter_ports(raw["nftables_default_services"], **variables))
        merged = [s for s in merged if s["name"] in users]
        edge = nf.plan(merged, [], ["edge"], GROUPS, HOSTVARS, settings(), no_dns)
        rules = [r for r in edge["input"] if "soc2:node_exporter" in r]
        assert len(rules) == 1 and f"dport {expected} " in rules[0], rules
        out = settings(output_policy="drop")
        monitor = nf.plan(merged, [], ["monitors"], GROUPS, HOSTVARS, out, no_dns)
        scrape = [r for r in monitor["output"] if "soc2:scrape" in r]
        assert len(scrape) == 1 and expected in scrape[0] and "9090" in scrape[0], scrape
