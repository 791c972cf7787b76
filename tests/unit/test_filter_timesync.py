# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/filter/timesync.py: fleet sources and allow list from inventory, chrony
source lines, the PTP records the verifier gets, and Debian version strings.

Host variables are plain dicts, shaped like Ansible's ``hostvars`` for these keys.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError
from plugin_loader import load_plugin

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = REPO_ROOT / "roles" / "timesync"


def _load_filter() -> ModuleType:
    return load_plugin("plugins/filter/timesync.py")


ts = _load_filter()

HOSTVARS: dict[str, dict[str, Any]] = {
    "aggregator": {"ansible_host": "10.89.0.13"},
    "timeserver2": {"ansible_host": "10.89.0.14"},
    "named": {"ansible_host": "ntp1.example.internal"},
    "bare": {},
}


# ---------------------------------------------------------------- fleet_sources


def test_fleet_sources_uses_ansible_host_in_server_order() -> None:
    assert ts.fleet_sources(["timeserver2", "aggregator"], HOSTVARS) == [
        {"hostname": "10.89.0.14", "type": "server", "iburst": True, "nts": False},
        {"hostname": "10.89.0.13", "type": "server", "iburst": True, "nts": False},
    ]


def test_fleet_sources_falls_back_to_the_inventory_name() -> None:
    sources = ts.fleet_sources(["bare", "named"], HOSTVARS)
    assert [s["hostname"] for s in sources] == ["bare", "ntp1.example.internal"]


def test_fleet_sources_empty_ansible_host_falls_back_to_the_inventory_name() -> None:
    assert ts.fleet_sources(["x"], {"x": {"ansible_host": ""}})[0]["hostname"] == "x"


def test_fleet_sources_stringifies_the_address() -> None:
    sources = ts.fleet_sources(["a"], {"a": {"ansible_host": 1234}})
    assert sources[0]["hostname"] == "1234"


@pytest.mark.parametrize(("flag", "expected"), [(True, True), (1, True), (False, False)])
def test_fleet_sources_nts_flag(flag: Any, expected: bool) -> None:
    sources = ts.fleet_sources(["aggregator", "timeserver2"], HOSTVARS, flag)
    assert [s["nts"] for s in sources] == [expected, expected]
    assert all(s["nts"] is expected for s in sources)


def test_fleet_sources_nts_defaults_to_false() -> None:
    assert ts.fleet_sources(["aggregator"], HOSTVARS)[0]["nts"] is False


def test_fleet_sources_of_no_servers_is_empty() -> None:
    assert ts.fleet_sources([], HOSTVARS) == []


def test_fleet_sources_unknown_host_is_an_error() -> None:
    with pytest.raises(KeyError):
        ts.fleet_sources(["nowhere"], HOSTVARS)


def test_fleet_sources_render_as_server_lines() -> None:
    lines = [ts.source_line(s) for s in ts.fleet_sources(["aggregator"], HOSTVARS, True)]
    assert lines == ["server 10.89.0.13 iburst nts"]


# ---------------------------------------------------------------- fleet_allow


def _facts(ipv4: str | None = None, ipv6: str | None = None) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if ipv4 is not None:
        facts["default_ipv4"] = {"address": ipv4, "interface": "eth0"}
    if ipv6 is not None:
        facts["default_ipv6"] = {"address": ipv6, "interface": "eth0"}
    return {"ansible_facts": facts}


def test_fleet_allow_from_ansible_host() -> None:
    hostvars = {"edge1": {"ansible_host": "10.89.0.11"}, "edge2": {"ansible_host": "10.89.0.12"}}
    assert ts.fleet_allow(["edge2", "edge1"], hostvars) == ["10.89.0.11", "10.89.0.12"]


def test_fleet_allow_from_gathered_facts() -> None:
    hostvars = {"edge1": _facts("192.0.2.11", "2001:db8::11")}
    assert ts.fleet_allow(["edge1"], hostvars) == ["192.0.2.11", "2001:db8::11"]


def test_fleet_allow_ipv4_before_ipv6_and_numeric_order() -> None:
    hostvars = {
        "a": {"ansible_host": "2001:db8::2"},
        "b": {"ansible_host": "10.0.0.10"},
        "c": {"ansible_host": "10.0.0.9"},
        "d": {"ansible_host": "2001:db8::10"},
        "e": {"ansible_host": "9.9.9.9"},
    }
    assert ts.fleet_allow(list(hostvars), hostvars) == [
        "9.9.9.9",
        "10.0.0.9",
        "10.0.0.10",
        "2001:db8::2",
        "2001:db8::10",
    ]


def test_fleet_allow_dedups_across_hosts_and_sources() -> None:
    hostvars = {
        "edge1": {"ansible_host": "10.89.0.11", **_facts("10.89.0.11")},
        "alias": {"ansible_host": "10.89.0.11"},
        "v6": {"ansible_host": "FD00:0:0::11", **_facts(ipv6="fd00::11")},
    }
    assert ts.fleet_allow(["edge1", "alias", "v6", "edge1"], hostvars) == [
        "10.89.0.11",
        "fd00::11",
    ]


def test_fleet_allow_skips_names_and_empty_values() -> None:
    hostvars = {
        "named": {"ansible_host": "edge1.example.internal", **_facts("10.89.0.11")},
        "bare": {},
        "nofacts": {"ansible_facts": {}},
        "nullfacts": {"ansible_facts": None},
        "empty": {"ansible_host": "", **_facts("")},
        "cidr": {"ansible_host": "10.0.0.0/24"},
    }
    assert ts.fleet_allow(list(hostvars), hostvars) == ["10.89.0.11"]


def test_fleet_allow_adds_facts_to_ansible_host() -> None:
    hostvars = {"edge1": {"ansible_host": "10.89.0.11", **_facts("192.0.2.11")}}
    assert ts.fleet_allow(["edge1"], hostvars) == ["10.89.0.11", "192.0.2.11"]


def test_fleet_allow_only_the_listed_hosts() -> None:
    hostvars = {"edge1": {"ansible_host": "10.89.0.11"}, "edge2": {"ansible_host": "10.89.0.12"}}
    assert ts.fleet_allow(["edge1"], hostvars) == ["10.89.0.11"]
    assert ts.fleet_allow([], hostvars) == []


# ---------------------------------------------------------------- source_line


def test_source_line_minimal_defaults_to_server() -> None:
    assert ts.source_line({"hostname": "10.0.0.1"}) == "server 10.0.0.1"


def test_source_line_pool() -> None:
    source = {"hostname": "2.debian.pool.ntp.org", "type": "pool", "iburst": True}
    assert ts.source_line(source) == "pool 2.debian.pool.ntp.org iburst"


def test_source_line_every_option_in_fixed_order() -> None:
    # Keys deliberately given in another order than the line uses.
    source = {
        "port": 11123,
        "maxsources": 4,
        "key": 7,
        "maxpoll": 6,
        "minpoll": 4,
        "nts": True,
        "prefer": True,
        "iburst": True,
        "type": "pool",
        "hostname": "time.example.internal",
    }
    assert ts.source_line(source) == (
        "pool time.example.internal iburst prefer nts "
        "minpoll 4 maxpoll 6 key 7 maxsources 4 port 11123"
    )


def test_source_line_false_flags_and_none_options_are_left_out() -> None:
    source = {
        "hostname": "10.0.0.1",
        "iburst": False,
        "prefer": None,
        "nts": False,
        "minpoll": None,
        "key": None,
    }
    assert ts.source_line(source) == "server 10.0.0.1"


def test_source_line_zero_valued_options_are_kept() -> None:
    assert ts.source_line({"hostname": "h", "minpoll": 0, "key": 0}) == "server h minpoll 0 key 0"


def test_source_line_negative_poll() -> None:
    assert ts.source_line({"hostname": "h", "minpoll": -2}) == "server h minpoll -2"


@pytest.mark.parametrize(
    "source",
    [{}, {"type": "server"}, {"hostname": ""}, {"hostname": None, "type": "pool"}],
    ids=["empty", "no-hostname", "empty-hostname", "null-hostname"],
)
def test_source_line_without_hostname_is_an_error(source: dict[str, Any]) -> None:
    with pytest.raises(AnsibleFilterError, match="a source has no hostname"):
        ts.source_line(source)


@pytest.mark.parametrize("kind", ["peer", "Server", "refclock", ""])
def test_source_line_bad_type_is_an_error(kind: str) -> None:
    with pytest.raises(AnsibleFilterError, match="type must be server or pool") as exc:
        ts.source_line({"hostname": "10.0.0.1", "type": kind})
    assert repr(kind) in str(exc.value)


# ---------------------------------------------------------------- ptp_verify_instances


def test_ptp_verify_instances_names_roles_and_sockets() -> None:
    instances = [
        {"interface": "eth1", "role": "grandmaster", "time_stamping": "hardware", "domain": 3},
        {"interface": "eth0"},
    ]
    assert ts.ptp_verify_instances(instances) == [
        {"name": "eth1", "role": "grandmaster", "uds": "/var/run/ptp4l-eth1"},
        {"name": "eth0", "role": "client", "uds": "/var/run/ptp4l-eth0"},
    ]


def test_ptp_verify_instances_socket_matches_the_ptp4l_template() -> None:
    template = (ROLE / "templates" / "etc" / "linuxptp" / "ptp4l.conf.j2").read_text()
    assert re.search(r"^uds_address\s+\{\{ item\.uds \}\}$", template, re.MULTILINE)
    tasks = (ROLE / "tasks" / "ptp.yml").read_text()
    assert "soc2audit_ptp_plan" in tasks, "ptp4l configs must be rendered from ptp_plan"
    uds = ts.ptp_verify_instances([{"interface": "enp3s0"}])[0]["uds"]
    assert uds == ts.ptp_plan([{"interface": "enp3s0"}])[0]["uds"] == "/var/run/ptp4l-enp3s0"


def test_ptp_verify_instances_empty() -> None:
    assert ts.ptp_verify_instances([]) == []


def test_ptp_verify_instances_needs_an_interface() -> None:
    with pytest.raises(KeyError):
        ts.ptp_verify_instances([{"role": "client"}])


# ---------------------------------------------------------------- ptp_refids


def test_ptp_refids_counts_clients_only() -> None:
    instances = [
        {"interface": "eth2", "role": "client"},
        {"interface": "eth0", "role": "grandmaster"},
        {"interface": "eth1"},
    ]
    assert ts.ptp_refids(instances) == ["PTP0", "PTP1"]


def test_ptp_refids_none_without_clients() -> None:
    assert ts.ptp_refids([]) == []
    assert ts.ptp_refids([{"interface": "eth0", "role": "grandmaster"}]) == []


def _render_chrony_conf(instances: list[dict[str, Any]]) -> str:
    """Render the role's chrony.conf.j2 with its defaults, PTP on, the given instances."""
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    os_vars = role_vars["_timesync_os"]
    # No old names set: each renamed variable's fallback (_<new>) is the new name's default.
    renamed = role_vars["_timesync_renamed_variables"].values()
    variables = {
        **defaults,
        **{f"_{new}": defaults[new] for new in renamed},
        "ansible_managed": "managed",
        "__timesync_os": os_vars["Debian"],
        "__timesync_is_server": False,
        "__timesync_sources": [{"hostname": "10.89.0.13", "type": "server"}],
        "__timesync_allow": [],
        "timesync_ptp_enabled": True,
        "timesync_ptp_instances": instances,
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(ts.FilterModule().filters())
    return env.get_template("etc/chrony/chrony.conf.j2").render(variables)


def test_ptp_refids_match_the_refclocks_chrony_conf_numbers() -> None:
    # Clients listed out of interface order, a grandmaster in between: chrony.conf numbers the
    # clients' SHM segments and refids in interface order and skips the grandmaster.
    instances = [
        {"interface": "eth3", "role": "client"},
        {"interface": "eth1", "role": "grandmaster"},
        {"interface": "eth0"},
        {"interface": "eth2", "role": "client"},
    ]
    conf = _render_chrony_conf(instances)
    refclocks = re.findall(r"^refclock SHM (\d+) refid (\S+) ", conf, re.MULTILINE)
    assert refclocks == [("0", "PTP0"), ("1", "PTP1"), ("2", "PTP2")]
    assert ts.ptp_refids(instances) == [refid for _, refid in refclocks]


# ---------------------------------------------------------------- upstream_version


@pytest.mark.parametrize(
    ("debian_version", "expected"),
    [
        ("1:4.3-2+deb12u3", "4.3"),
        ("4.6.1-1", "4.6.1"),
        ("4.6.1-3+deb13u2", "4.6.1"),
        ("3.1.1-4", "3.1.1"),
        ("4.2-1", "4.2"),
        ("2:4.0~pre1-1", "4.0"),
        ("  4.3-2+deb12u3\n", "4.3"),
        ("4.3", "4.3"),
        ("", "0"),
        ("(none)", "0"),
        (None, "0"),
    ],
)
def test_upstream_version(debian_version: Any, expected: str) -> None:
    assert ts.upstream_version(debian_version) == expected


def test_upstream_version_of_no_version_compares_below_4() -> None:
    # The role gates NTS on `version('4.0', '>=')`; "0" (unknown) must never pass that gate.
    from ansible.plugins.test.core import version_compare

    assert not version_compare(ts.upstream_version("(none)"), "4.0", ">=")
    assert version_compare(ts.upstream_version("1:4.3-2+deb12u3"), "4.0", ">=")
    assert not version_compare(ts.upstream_version("3.4-4+deb10u1"), "4.0", ">=")


# ---------------------------------------------------------------- FilterModule


def test_filter_module_exposes_every_filter_the_role_uses() -> None:
    filters = ts.FilterModule().filters()
    assert filters == {
        "soc2audit_fleet_sources": ts.fleet_sources,
        "soc2audit_fleet_allow": ts.fleet_allow,
        "soc2audit_chrony_source_line": ts.source_line,
        "soc2audit_ptp_verify_instances": ts.ptp_verify_instances,
        "soc2audit_upstream_version": ts.upstream_version,
        "soc2audit_ptp_refids": ts.ptp_refids,
        "soc2audit_ptp_plan": ts.ptp_plan,
        "soc2audit_ptp_timestamping": ts.ptp_timestamping,
    }
    used = set()
    for path in ROLE.rglob("*"):
        if path.is_file() and path.suffix in (".yml", ".j2"):
            used |= set(re.findall(r"\|\s*(soc2audit_[a-z_]+)", path.read_text()))
    assert used, "no soc2audit_* filter found in the role: the search is broken"
    # Besides its own, the role uses the install step's shared filters (plugins/filter/packages.py).
    packages = load_plugin("plugins/filter/packages.py")
    shared = set(packages.FilterModule().filters())
    assert used <= set(filters) | shared, used - set(filters) - shared


def test_ptp_plan_fills_defaults_numbers_clients_and_sorts() -> None:
    plan = ts.ptp_plan(
        [
            {"interface": "eth2"},
            {"interface": "eth1", "role": "grandmaster", "domain": 4},
            {"interface": "eth0", "role": "client", "time_stamping": "software"},
        ]
    )
    assert [p["interface"] for p in plan] == ["eth0", "eth1", "eth2"]
    assert plan[0] == {
        "interface": "eth0",
        "role": "client",
        "time_stamping": "software",
        "domain": 0,
        "shm": 0,
        "uds": "/var/run/ptp4l-eth0",
    }
    assert (plan[1]["role"], plan[1]["domain"], plan[1]["time_stamping"]) == (
        "grandmaster",
        4,
        "auto",
    )
    assert (plan[2]["role"], plan[2]["shm"]) == ("client", 1)


@pytest.mark.parametrize(
    ("stdout", "wanted", "decided"),
    [
        ("Capabilities:\n\thardware-raw-clock\nPTP Hardware Clock: 0\n", "auto", "hardware"),
        ("Capabilities:\n\tsoftware-transmit\nPTP Hardware Clock: none\n", "auto", "software"),
        ("hardware-raw-clock\nPTP Hardware Clock: none\n", "auto", "software"),
        ("", "auto", "software"),
        ("Capabilities:\n\thardware-raw-clock\nPTP Hardware Clock: 0\n", "software", "software"),
    ],
)
def test_ptp_timestamping_decides_auto_only(stdout: str, wanted: str, decided: str) -> None:
    inst = {"interface": "eth0", "time_stamping": wanted}
    assert ts.ptp_timestamping((inst, {"stdout": stdout}))["time_stamping"] == decided
