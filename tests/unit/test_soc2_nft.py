# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/module_utils/soc2_nft.py on RECORDED real `nft -j list ruleset` outputs.

The fixtures (tests/unit/fixtures/nft, see README.txt there) come from lab containers running the
nftables role: Debian 12 (nftables 1.0.6) and Debian 13 (nftables 1.1.3). `*_desired.json` is
the role's rendered file loaded into a scratch network namespace after the sentinel table, the
way the verifier builds the desired table; the other files are the live ruleset in one state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import soc2_nft

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nft"
TABLE = "soc2_filter"


def objs(name: str) -> list[dict[str, Any]]:
    return soc2_nft.parse_json((FIXTURES / f"{name}.json").read_text())


def table(name: str) -> dict[str, Any] | None:
    return soc2_nft.normalise_table(objs(name), "inet", TABLE)


def desired(version: str = "bookworm") -> dict[str, Any]:
    got = table(f"{version}_desired")
    assert got is not None
    return got


def checks(live_name: str, version: str = "bookworm") -> dict[str, dict[str, Any]]:
    """NET-01 .. NET-03 and NET-05 for a live fixture against the desired table."""
    want = desired(version)
    live_objs = objs(live_name)
    live = soc2_nft.normalise_table(live_objs, "inet", TABLE)
    diff = soc2_nft.compare(want, live)
    ports = soc2_nft.protected_ports(want)
    label = f"inet {TABLE}"
    out = [
        soc2_nft.check_policy(live, want, diff, label, None),
        soc2_nft.check_rules(diff, want, label, None),
        soc2_nft.check_sets(diff, want, live, label, None),
        soc2_nft.check_foreign(
            soc2_nft.foreign_openings(live_objs, "inet", TABLE, ports),
            soc2_nft.table_names(live_objs),
            ports,
            label,
            None,
        ),
    ]
    return {c["check_id"]: c for c in out}


# ---------------------------------------------------------------- reading


def test_metainfo_and_tables_of_both_versions() -> None:
    assert soc2_nft.metainfo(objs("bookworm_converged"))["version"] == "1.0.6"
    assert soc2_nft.metainfo(objs("trixie_converged"))["version"] == "1.1.3"
    assert soc2_nft.table_names(objs("bookworm_foreign_tables")) == [
        ("inet", "soc2_filter"),
        ("ip", "foreign"),
        ("inet", "f2b-table"),
        ("ip", "nat"),
    ]


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"nftables": {}}', '{"nftables": [{"a": 1, "b": 2}]}'],
)
def test_malformed_listing_is_a_parse_error(text: str) -> None:
    with pytest.raises(soc2_nft.ParseError):
        soc2_nft.parse_json(text)


def test_empty_output_and_empty_ruleset() -> None:
    assert soc2_nft.parse_json("") == []
    assert soc2_nft.normalise_table(objs("bookworm_empty"), "inet", TABLE) is None


def test_normalised_table_drops_handles_and_counter_values() -> None:
    live = table("bookworm_converged")
    assert live is not None
    text = json.dumps(live)
    assert '"handle"' not in text and '"packets"' not in text
    assert live["chains"]["input"] == {
        "type": "filter",
        "hook": "input",
        "prio": 0,
        "policy": "drop",
    }
    assert live["sets"]["ntp_v4"]["elements"] == [
        "10.89.2.2",
        "10.89.2.3",
        "10.89.2.4",
        "10.89.2.5",
    ]
    rules = [soc2_nft.rule_text(r) for r in live["rules"]["input"]]
    assert rules[0] == 'ct state established,related accept comment "soc2:established"'
    assert (
        'ip saddr @log_ingest_v4 tcp dport 6514 counter accept comment "soc2:log_ingest"' in rules
    )
    assert rules[-1] == 'counter drop comment "soc2:default-deny"'
    assert (
        rules[-2] == 'limit rate 5/minute burst 10 packets log prefix "soc2-nft-drop: " level info'
    )


def test_live_counters_are_real_but_do_not_count() -> None:
    raw = objs("bookworm_converged")
    counted = soc2_nft.dropped(raw, "inet", TABLE)
    assert counted is not None and set(counted) == {"packets", "bytes"}
    control = [
        o["rule"] for o in raw if "rule" in o and o["rule"].get("comment") == "soc2:control-node"
    ]
    assert control[0]["expr"][2]["counter"]["packets"] > 0  # the SSH session was counted
    assert soc2_nft.compare(desired(), table("bookworm_converged"))["equal"]


def test_element_order_and_anonymous_set_order_do_not_count() -> None:
    want = desired()
    shuffled = json.loads(json.dumps(want))
    shuffled["sets"]["ntp_v4"]["elements"].reverse()
    icmp = shuffled["rules"]["input"][3]["expr"][0]["match"]["right"]["set"]
    icmp.reverse()
    again = soc2_nft.normalise_table(
        [
            {"table": {"family": "inet", "name": TABLE}},
            {
                "set": {
                    "family": "inet",
                    "table": TABLE,
                    "name": "s",
                    "type": "ipv4_addr",
                    "elem": ["10.0.0.2", {"prefix": {"addr": "10.1.0.0", "len": 16}}, "10.0.0.1"],
                }
            },
        ],
        "inet",
        TABLE,
    )
    assert again is not None
    assert again["sets"]["s"]["elements"] == sorted(again["sets"]["s"]["elements"], key=json.dumps)
    canon = soc2_nft.canonical(
        {
            "match": {
                "op": "==",
                "left": {"meta": {"key": "l4proto"}},
                "right": {"set": ["udp", "tcp"]},
            }
        }
    )
    assert canon["match"]["right"] == {"set": ["tcp", "udp"]}


# ---------------------------------------------------------------- the comparison


@pytest.mark.parametrize("version", ["bookworm", "trixie"])
def test_equal(version: str) -> None:
    got = checks(f"{version}_converged", version)
    assert {k: v["result"] for k, v in got.items()} == {
        "NET-01": "pass",
        "NET-02": "pass",
        "NET-03": "pass",
        "NET-05": "pass",
    }


def test_the_same_file_means_the_same_on_both_versions() -> None:
    """nft 1.1 lists chains before sets; the meaning is identical."""
    assert soc2_nft.compare(desired("bookworm"), desired("trixie"))["equal"]
    assert soc2_nft.compare(desired("bookworm"), table("trixie_converged"))["equal"]


@pytest.mark.parametrize("version", ["bookworm", "trixie"])
def test_extra_rule_inserted_by_hand(version: str) -> None:
    got = checks(f"{version}_extra_rule", version)
    net02 = got["NET-02"]
    assert net02["result"] == "fail"
    assert net02["observed"]["extra"] == ["input: tcp dport 9100 accept"]
    assert net02["observed"]["missing"] == []
    assert "1 rule(s) not in the desired ruleset: input: tcp dport 9100 accept" in net02["message"]
    assert got["NET-01"]["result"] == "pass"
    assert got["NET-03"]["result"] == "pass"
    # Our own table is not "another table": NET-05 looks elsewhere.
    assert got["NET-05"]["result"] == "pass"


def test_missing_rule() -> None:
    got = checks("bookworm_missing_rule")
    assert got["NET-02"]["result"] == "fail"
    assert got["NET-02"]["observed"]["missing"] == [
        'input: ip saddr @log_ingest_v4 tcp dport 6514 counter accept comment "soc2:log_ingest"'
    ]
    assert got["NET-02"]["observed"]["extra"] == []
    assert "1 desired rule(s) missing" in got["NET-02"]["message"]


@pytest.mark.parametrize("version", ["bookworm", "trixie"])
def test_policy_flipped(version: str) -> None:
    got = checks(f"{version}_policy_accept", version)
    assert got["NET-01"]["result"] == "fail"
    assert got["NET-01"]["message"] == "input policy is accept, not drop"
    assert got["NET-01"]["observed"]["input"]["policy"] == "accept"
    assert got["NET-02"]["result"] == "pass"
    assert got["NET-03"]["result"] == "pass"


def test_table_deleted() -> None:
    got = checks("bookworm_table_missing")
    assert got["NET-01"]["result"] == "fail"
    assert "not loaded" in got["NET-01"]["message"]
    assert got["NET-02"]["result"] == "fail"
    assert got["NET-03"]["result"] == "fail"


def test_set_member_removed() -> None:
    got = checks("bookworm_set_member_removed")
    assert got["NET-03"]["result"] == "fail"
    assert got["NET-03"]["message"] == "set ntp_v4 lacks 10.89.2.5"
    assert got["NET-03"]["observed"]["ntp_v4"] == ["10.89.2.2", "10.89.2.3", "10.89.2.4"]
    assert got["NET-01"]["result"] == "pass"
    assert got["NET-02"]["result"] == "pass"


@pytest.mark.parametrize(("version", "flags"), [("bookworm", ["inet"]), ("trixie", ["dormant"])])
def test_dormant_table_fails_net01(version: str, flags: list[str]) -> None:
    """nft 1.0.6 prints a dormant table's flags as "inet" in JSON (a bug); 1.1 says dormant.
    Any flag the desired table lacks fails NET-01."""
    live = table(f"{version}_dormant")
    assert live is not None and live["flags"] == flags
    got = checks(f"{version}_dormant", version)
    assert got["NET-01"]["result"] == "fail"
    assert str(flags) in got["NET-01"]["message"]


def test_foreign_tables_are_ignored_but_their_openings_are_reported() -> None:
    raw = objs("bookworm_foreign_tables")
    assert soc2_nft.compare(desired(), soc2_nft.normalise_table(raw, "inet", TABLE))["equal"]
    got = checks("bookworm_foreign_tables")
    assert [got[c]["result"] for c in ("NET-01", "NET-02", "NET-03")] == ["pass"] * 3
    net05 = got["NET-05"]
    assert net05["result"] == "fail"
    # 9100 and udp 123 are protected; 8000-8100, tcp 22 (a reject) and the DNAT are not openings.
    assert net05["observed"]["accepting_foreign_rules"] == [
        {"table": "ip foreign", "chain": "input", "rule": "tcp dport 9100 accept"},
        {"table": "ip foreign", "chain": "input", "rule": "udp dport { 53, 123 } accept"},
    ]
    assert net05["observed"]["other_tables"] == ["ip foreign", "inet f2b-table", "ip nat"]
    assert set(net05["expected"]["protected_ports"]) == {
        "tcp/22",
        "tcp/6514",
        "tcp/9100",
        "udp/123",
    }


def test_protected_ports_ranges_and_th() -> None:
    protected = [{"protocol": "tcp", "low": 9000, "high": 9200}]
    rule = {
        "rule": {
            "family": "ip",
            "table": "x",
            "chain": "c",
            "expr": [
                {
                    "match": {
                        "op": "==",
                        "left": {"payload": {"protocol": "th", "field": "dport"}},
                        "right": {"range": [9100, 9101]},
                    }
                },
                {"accept": None},
            ],
        }
    }
    assert soc2_nft.foreign_openings([rule], "inet", TABLE, protected)
    rule["rule"]["expr"][0]["match"]["right"] = {"range": [9300, 9400]}
    assert not soc2_nft.foreign_openings([rule], "inet", TABLE, protected)
    rule["rule"]["expr"][0]["match"]["right"] = "@named"
    assert not soc2_nft.foreign_openings([rule], "inet", TABLE, protected)


def test_reordered_rules_are_drift() -> None:
    want = desired()
    live = json.loads(json.dumps(want))
    rules = live["rules"]["input"]
    rules[5], rules[6] = rules[6], rules[5]
    diff = soc2_nft.compare(want, live)
    assert not diff["equal"]
    assert diff["rules"]["input"] == {"missing": [], "extra": [], "reordered": True}
    check = soc2_nft.check_rules(diff, want, "inet soc2_filter", None)
    assert check["result"] == "fail" and "reordered in input" in check["message"]


def test_chain_policy_of_output_is_compared() -> None:
    want = desired()
    live = json.loads(json.dumps(want))
    live["chains"]["output"]["policy"] = "drop"
    diff = soc2_nft.compare(want, live)
    check = soc2_nft.check_policy(live, want, diff, "inet soc2_filter", None)
    assert check["result"] == "fail"
    assert check["message"] == "chain output policy is drop, desired accept"


# ---------------------------------------------------------------- scratch loads


def test_scratch_load_of_our_file_keeps_the_sentinel() -> None:
    assert soc2_nft.scratch_tables_ok(objs("bookworm_desired"), "inet", TABLE) is None
    assert soc2_nft.scratch_tables_ok(objs("trixie_desired"), "inet", TABLE) is None


def test_a_file_that_flushes_the_ruleset_is_refused() -> None:
    why = soc2_nft.scratch_tables_ok(objs("bookworm_scratch_flushes"), "inet", TABLE)
    assert why is not None
    assert "removes other tables" in why
    assert "creates other tables (inet filter)" in why
    assert f"does not create table inet {TABLE}" in why
    table_, error = soc2_nft.desired_table(objs("bookworm_scratch_flushes"), None, TABLE)
    assert (
        table_ is None and error is not None and error.startswith("the desired ruleset is refused")
    )


def test_boot_file_loads_the_desired_table() -> None:
    boot = soc2_nft.normalise_table(objs("bookworm_boot"), "inet", TABLE)
    assert soc2_nft.compare(desired(), boot)["equal"]
    assert ("ip", soc2_nft.SENTINEL_TABLE) in soc2_nft.table_names(objs("bookworm_boot"))


# ---------------------------------------------------------------- errors and text


def test_error_never_becomes_pass_or_fail() -> None:
    label = "inet soc2_filter"
    assert soc2_nft.check_policy(None, None, None, label, "boom")["result"] == "error"
    assert soc2_nft.check_rules(None, None, label, "boom")["result"] == "error"
    assert soc2_nft.check_sets(None, None, None, label, "boom")["result"] == "error"
    assert soc2_nft.check_foreign(None, [], [], label, "boom")["result"] == "error"
    assert (
        soc2_nft.check_boot(None, None, "/etc/nftables.conf", "nftables", label, "boom")["result"]
        == "error"
    )


def test_net01_without_a_desired_table_still_checks_the_input_policy() -> None:
    live = table("bookworm_policy_accept")
    check = soc2_nft.check_policy(live, None, None, "inet soc2_filter", None)
    assert check["result"] == "fail"
    live = table("bookworm_converged")
    check = soc2_nft.check_policy(live, None, None, "inet soc2_filter", None)
    assert check["result"] == "pass"


def test_boot_check() -> None:
    want = desired()
    same = soc2_nft.compare(want, want)
    label = "inet soc2_filter"
    ok = soc2_nft.check_boot("enabled", same, "/etc/nftables.conf", "nftables", label, None)
    assert ok["result"] == "pass"
    off = soc2_nft.check_boot("disabled", same, "/etc/nftables.conf", "nftables", label, None)
    assert off["result"] == "fail" and "nftables is disabled at boot" in off["message"]
    missing = soc2_nft.compare(want, None)
    gone = soc2_nft.check_boot("enabled", missing, "/etc/nftables.conf", "nftables", label, None)
    assert gone["result"] == "fail" and "does not create table" in gone["message"]
    other = soc2_nft.compare(want, table("bookworm_missing_rule"))
    stale = soc2_nft.check_boot("enabled", other, "/etc/nftables.conf", "nftables", label, None)
    assert stale["result"] == "fail" and "other rules than desired" in stale["message"]


def test_table_lines_render_every_part() -> None:
    lines = soc2_nft.table_lines(desired())
    assert lines[0] == "table inet soc2_filter"
    assert (
        "  set ntp_v4 type ipv4_addr flags interval { 10.89.2.2, 10.89.2.3, 10.89.2.4, 10.89.2.5 }"
        in lines
    )
    assert "  chain input type filter hook input priority 0 policy drop" in lines
    assert (
        "    icmpv6 type { destination-unreachable, echo-request, mld-listener-query,"
        " nd-neighbor-advert, nd-neighbor-solicit, nd-router-advert, packet-too-big,"
        " parameter-problem, time-exceeded } accept" in lines
    )
    assert soc2_nft.table_lines(None) == []


@pytest.mark.parametrize(
    ("stmt", "text"),
    [
        ({"jump": {"target": "x"}}, "jump x"),
        ({"dnat": {"addr": "10.0.0.1", "port": 80}}, "dnat to 10.0.0.1:80"),
        ({"redirect": {"port": 22}}, "redirect to :22"),
        ({"limit": {"rate": 1, "per": "second", "inv": True}}, "limit rate over 1/second"),
        ({"reject": None}, "reject"),
        ({"counter": "named"}, 'counter name "named"'),
        ({"xt": {"type": "match", "name": "conntrack"}}, "xt match conntrack"),
        (
            {"match": {"op": "!=", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
            "meta l4proto != tcp",
        ),
        (
            {
                "match": {
                    "op": "==",
                    "left": {"payload": {"base": "th", "offset": 16, "len": 16}},
                    "right": 1,
                }
            },
            "@th,16,16 1",
        ),
        ({"unknown": {"a": 1}}, '{"unknown":{"a":1}}'),
    ],
)
def test_rule_text(stmt: dict[str, Any], text: str) -> None:
    assert soc2_nft.rule_text([stmt]) == text
