# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2audit.results: merging a run, drift state, grace period, waivers and exit codes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from results_data import (
    FINISHED,
    GROUPS,
    HOSTS,
    NOW,
    SHA,
    STARTED,
    all_pass,
    check,
    make_catalog,
    waiver,
    write_waivers,
)

from soc2audit import results
from soc2audit.catalog import Catalog, load_catalog
from soc2audit.exitcodes import EXIT_FAILING, EXIT_INCOMPLETE, EXIT_OK, EXIT_RUN_FAILED
from soc2audit.results import (
    PolicyError,
    State,
    StateError,
    exit_code,
    load_state,
    load_waivers,
    merge_run,
    save_state,
)

REPO = Path(__file__).resolve().parents[2]
ROW_KEYS = {
    "run_id",
    "host",
    "check_id",
    "result",
    "observed",
    "expected",
    "message",
    "started",
    "finished",
    "suite_version",
    "policy_sha256",
    "drift_since",
    "waiver",
}


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return make_catalog(tmp_path)


def merge(catalog: Catalog, host_checks: dict[str, Any] | None = None, **kwargs: Any):
    checks = {h: all_pass(h) for h in HOSTS}
    checks.update(host_checks or {})
    args: dict[str, Any] = {
        "catalog": catalog,
        "hosts": HOSTS,
        "host_groups": GROUPS,
        "host_checks": checks,
        "run_id": "run-1",
        "started": STARTED,
        "finished": FINISHED,
        "suite_version": "0.1.0",
        "policy_sha256": SHA,
        "now": NOW,
    }
    args.update(kwargs)
    return merge_run(**args)


def row(rows: list[dict[str, Any]], host: str, check_id: str) -> dict[str, Any]:
    (found,) = [r for r in rows if r["host"] == host and r["check_id"] == check_id]
    return found


# --------------------------------------------------------------------------- vocabulary


def test_vocabulary_comes_from_module_utils() -> None:
    from soc2audit.module_utils import soc2_results as module

    # soc2audit.module_utils is plugins/module_utils (pyproject.toml), the modules' own file.
    assert Path(module.__file__) == REPO / "plugins/module_utils/soc2_results.py"
    assert results.RESULTS is module.RESULTS
    assert results.RESULT_PRECEDENCE is module.RESULT_PRECEDENCE
    assert set(results.RESULTS) == {
        "pass",
        "fail",
        "error",
        "not_applicable",
        "not_run",
        "waived",
        "at_risk",
    }
    # Imported, not spelled out again in results.py.
    assert not re.search(r'\(\s*"pass",\s*"fail",', Path(results.__file__).read_text())


def test_real_catalog_and_waivers_load() -> None:
    real = load_catalog(REPO / "controls/catalog.yml")
    assert "PKI-01" in real.ids
    assert real.raw == (REPO / "controls/catalog.yml").read_bytes()
    assert load_waivers(REPO / "controls/waivers.yml", real) == []


def test_catalog_defaults_and_applicability(catalog: Catalog) -> None:
    pki2 = catalog.by_id["PKI-02"]
    assert pki2.applies_to == ("all",)
    assert pki2.tsc_primary == ("CC6.1",)
    assert pki2.tsc_secondary == ("CC6.7",)
    assert [c.id for c in catalog.applicable(["edge"])] == ["PKI-01", "PKI-02", "TIME-01"]
    assert "TIME-06" in [c.id for c in catalog.applicable(["timeservers"])]


def test_policy_sha_covers_catalog_and_waivers() -> None:
    base = results.policy_sha256(b"checks: []\n", b"")
    assert base != results.policy_sha256(b"checks: []\n", b"waivers: []\n")
    assert base != results.policy_sha256(b"checks: [] \n", b"")
    expected = hashlib.sha256(b"cat\n--- waivers\nw").hexdigest()
    assert results.policy_sha256(b"cat", b"w") == expected


# --------------------------------------------------------------------------- merging


def test_all_pass_rows_have_the_schema(catalog: Catalog) -> None:
    rows, state = merge(catalog)
    assert len(rows) == 3 * 4 + 1
    assert all(set(r) == ROW_KEYS for r in rows)
    assert {r["result"] for r in rows} == {"pass"}
    assert [r["host"] for r in rows][:3] == ["edge1"] * 3  # inventory order
    assert all(r["drift_since"] is None and r["waiver"] is None for r in rows)
    assert state.hosts["edge1"].last_success == FINISHED
    assert exit_code(rows) == 0


def test_silent_host_is_not_run_with_its_error(catalog: Catalog) -> None:
    rows, state = merge(
        catalog,
        {"edge2": None},
        host_errors={"edge2": "UNREACHABLE: ssh timed out"},
    )
    edge2 = [r for r in rows if r["host"] == "edge2"]
    assert len(edge2) == 3
    assert {r["result"] for r in edge2} == {"not_run"}
    assert {r["message"] for r in edge2} == {"UNREACHABLE: ssh timed out"}
    assert state.hosts["edge2"].last_success is None
    assert exit_code(rows) == 2


def test_host_missing_from_host_checks_is_not_run(catalog: Catalog) -> None:
    checks = {h: all_pass(h) for h in HOSTS if h != "monitor"}
    rows, _ = merge_run(
        catalog=catalog,
        hosts=HOSTS,
        host_groups=GROUPS,
        host_checks=checks,
        run_id="r",
        started=STARTED,
        finished=FINISHED,
        suite_version="0.1.0",
        policy_sha256=SHA,
        now=NOW,
    )
    monitor = [r for r in rows if r["host"] == "monitor"]
    assert {r["result"] for r in monitor} == {"not_run"}
    assert "no results" in monitor[0]["message"]


def test_missing_check_is_not_run(catalog: Catalog) -> None:
    rows, _ = merge(catalog, {"edge1": [check("PKI-01"), check("TIME-01")]})
    missing = row(rows, "edge1", "PKI-02")
    assert missing["result"] == "not_run"
    assert missing["message"] == "verifier did not report this check"
    assert missing["observed"] is None


def test_unknown_check_raises(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match=r"edge1.*NET-99"):
        merge(catalog, {"edge1": [*all_pass("edge1"), check("NET-99")]})


def test_unknown_result_becomes_error(catalog: Catalog) -> None:
    rows, _ = merge(catalog, {"edge1": [check("PKI-01", "maybe", "hm"), check("PKI-02")]})
    bad = row(rows, "edge1", "PKI-01")
    assert bad["result"] == "error"
    assert "'maybe'" in bad["message"]
    assert bad["message"].endswith("hm")


def test_verifier_cannot_waive_itself(catalog: Catalog) -> None:
    rows, _ = merge(catalog, {"edge1": [check("PKI-01", "waived"), check("PKI-02")]})
    assert row(rows, "edge1", "PKI-01")["result"] == "error"


def test_check_not_applicable_to_host_is_dropped(catalog: Catalog) -> None:
    rows, _ = merge(catalog, {"edge1": [*all_pass("edge1"), check("TIME-06")]})
    assert not [r for r in rows if r["host"] == "edge1" and r["check_id"] == "TIME-06"]


def test_testinfra_rows_are_merged(catalog: Catalog) -> None:
    edge1 = [c for c in all_pass("edge1") if c["check_id"] != "TIME-01"]
    testinfra = [
        {
            **check("TIME-01", "fail", "from outside"),
            "host": "edge1",
            "started": "2026-01-15T12:00:10Z",
            "finished": "2026-01-15T12:00:12Z",
        }
    ]
    rows, _ = merge(catalog, {"edge1": edge1}, testinfra_rows=testinfra)
    got = row(rows, "edge1", "TIME-01")
    assert got["result"] == "fail"
    assert got["message"] == "from outside"
    assert (got["started"], got["finished"]) == ("2026-01-15T12:00:10Z", "2026-01-15T12:00:12Z")
    assert row(rows, "edge1", "PKI-01")["started"] == STARTED


def test_testinfra_rows_ignored_for_unreachable_host(catalog: Catalog) -> None:
    testinfra = [{**check("TIME-01"), "host": "edge2"}]
    rows, _ = merge(
        catalog, {"edge2": None}, host_errors={"edge2": "unreachable"}, testinfra_rows=testinfra
    )
    assert {r["result"] for r in rows if r["host"] == "edge2"} == {"not_run"}


def test_testinfra_row_for_unknown_host_or_check_raises(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="ghost"):
        merge(catalog, testinfra_rows=[{**check("TIME-01"), "host": "ghost"}])
    with pytest.raises(ValueError, match=r"edge1.*LOG-42"):
        merge(catalog, testinfra_rows=[{**check("LOG-42"), "host": "edge1"}])


def test_duplicate_report_is_an_error(catalog: Catalog) -> None:
    testinfra = [{**check("PKI-01", "fail", "outside"), "host": "edge1"}]
    rows, _ = merge(catalog, testinfra_rows=testinfra)
    dup = row(rows, "edge1", "PKI-01")
    assert dup["result"] == "error"
    assert "reported twice" in dup["message"]


def test_bad_timestamps_raise(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        merge(catalog, started="yesterday")


# --------------------------------------------------------------------------- drift and grace


def test_drift_since_kept_across_runs_and_cleared_on_pass(catalog: Catalog) -> None:
    failing = {"edge1": [check("PKI-01", "fail", "wrong CA"), check("PKI-02"), check("TIME-01")]}
    rows1, state1 = merge(catalog, failing)
    assert row(rows1, "edge1", "PKI-01")["drift_since"] == STARTED
    assert state1.hosts["edge1"].drift_since == {"PKI-01": STARTED}

    later = "2026-01-16T12:00:00Z"
    rows2, state2 = merge(
        catalog,
        failing,
        state=state1,
        started=later,
        finished="2026-01-16T12:00:30Z",
        now=NOW + dt.timedelta(days=1),
    )
    assert row(rows2, "edge1", "PKI-01")["drift_since"] == STARTED
    assert state2.hosts["edge1"].last_run["PKI-01"] == "2026-01-16T12:00:30Z"
    assert state1.hosts["edge1"].last_run["PKI-01"] == FINISHED  # input state untouched

    rows3, state3 = merge(catalog, state=state2, started="2026-01-17T12:00:00Z")
    assert row(rows3, "edge1", "PKI-01")["drift_since"] is None
    assert state3.hosts["edge1"].drift_since == {}


def test_not_run_leaves_drift_untouched(catalog: Catalog) -> None:
    failing = {"edge1": [check("PKI-01", "error", "boom"), check("PKI-02"), check("TIME-01")]}
    _, state1 = merge(catalog, failing)
    rows2, state2 = merge(
        catalog,
        {"edge1": None},
        host_errors={"edge1": "down"},
        state=state1,
        started="2026-01-16T12:00:00Z",
        finished="2026-01-16T12:00:30Z",
    )
    assert row(rows2, "edge1", "PKI-01")["drift_since"] == STARTED
    assert state2.hosts["edge1"].drift_since == {"PKI-01": STARTED}
    assert state2.hosts["edge1"].last_success == FINISHED  # previous value kept
    assert state2.hosts["edge1"].last_run["PKI-01"] == FINISHED


def test_verifier_at_risk_is_kept_and_drifts(catalog: Catalog) -> None:
    rows, state = merge(
        catalog,
        {"edge1": [check("PKI-01"), check("PKI-02", "at_risk", "renew soon"), check("TIME-01")]},
    )
    got = row(rows, "edge1", "PKI-02")
    assert (got["result"], got["message"]) == ("at_risk", "renew soon")
    assert state.hosts["edge1"].drift_since == {"PKI-02": STARTED}
    assert exit_code(rows) == 1


def test_at_risk_inside_grace_then_fail_after(catalog: Catalog) -> None:
    failing = {"edge1": [check("PKI-01", "fail", "wrong CA"), check("PKI-02"), check("TIME-01")]}
    rows1, state1 = merge(catalog, failing, grace_seconds=3600)
    first = row(rows1, "edge1", "PKI-01")
    assert first["result"] == "at_risk"
    assert "wrong CA" in first["message"]
    assert f"failing since {STARTED}" in first["message"]
    assert "3600 s grace period" in first["message"]

    rows2, _ = merge(
        catalog,
        failing,
        state=state1,
        grace_seconds=3600,
        started="2026-01-15T13:30:00Z",
        finished="2026-01-15T13:30:30Z",
        now=dt.datetime(2026, 1, 15, 13, 30, 30, tzinfo=dt.UTC),
    )
    second = row(rows2, "edge1", "PKI-01")
    assert second["result"] == "fail"
    assert second["message"] == "wrong CA"
    assert second["drift_since"] == STARTED


def test_grace_off_by_default(catalog: Catalog) -> None:
    rows, _ = merge(
        catalog, {"edge1": [check("PKI-01", "fail"), check("PKI-02"), check("TIME-01")]}
    )
    assert row(rows, "edge1", "PKI-01")["result"] == "fail"


# --------------------------------------------------------------------------- waivers


def _waived_run(catalog: Catalog, tmp_path: Path, *entries: dict[str, Any], **kwargs: Any):
    waivers = load_waivers(write_waivers(tmp_path, *entries), catalog)
    failing = {
        h: [check("PKI-01"), check("PKI-02", "fail", "expired cert"), check("TIME-01")]
        for h in ("edge1", "edge2", "monitor")
    }
    return merge(catalog, failing, waivers=waivers, **kwargs)


def test_waiver_turns_fail_into_waived(catalog: Catalog, tmp_path: Path) -> None:
    rows, state = _waived_run(catalog, tmp_path, waiver())
    got = row(rows, "edge1", "PKI-02")
    assert got["result"] == "waived"
    assert got["message"].startswith("expired cert")
    assert "CHG-1" in got["message"]
    assert got["waiver"] == {
        "ticket": "CHG-1",
        "approver": "security-lead",
        "expires": "2026-01-31",
    }
    # Still drifting: the waiver is an exception, not a fix.
    assert state.hosts["edge1"].drift_since == {"PKI-02": STARTED}
    # Another host is not covered.
    assert row(rows, "edge2", "PKI-02")["result"] == "fail"
    assert row(rows, "edge2", "PKI-02")["waiver"] is None


def test_waiver_valid_through_its_expiry_day(catalog: Catalog, tmp_path: Path) -> None:
    last_moment = dt.datetime(2026, 1, 31, 23, 59, 59, tzinfo=dt.UTC)
    rows, _ = _waived_run(catalog, tmp_path, waiver(), now=last_moment)
    assert row(rows, "edge1", "PKI-02")["result"] == "waived"


def test_expired_waiver_fails_and_says_so(catalog: Catalog, tmp_path: Path) -> None:
    rows, _ = _waived_run(catalog, tmp_path, waiver(expires="2026-01-14"))
    got = row(rows, "edge1", "PKI-02")
    assert got["result"] == "fail"
    assert "waiver expired on 2026-01-14 (CHG-1)" in got["message"]
    assert got["waiver"] is None
    assert exit_code(rows) == 1


def test_group_and_pattern_scoped_waivers(catalog: Catalog, tmp_path: Path) -> None:
    rows, _ = _waived_run(catalog, tmp_path, waiver(check="PKI-*", hosts=["edge"]))
    assert row(rows, "edge1", "PKI-02")["result"] == "waived"
    assert row(rows, "edge2", "PKI-02")["result"] == "waived"
    assert row(rows, "monitor", "PKI-02")["result"] == "fail"
    rows, _ = _waived_run(catalog, tmp_path, waiver(hosts=["mon*"]))
    assert row(rows, "monitor", "PKI-02")["result"] == "waived"
    assert row(rows, "edge1", "PKI-02")["result"] == "fail"
    rows, _ = _waived_run(catalog, tmp_path, waiver(hosts=["all"]))
    assert {row(rows, h, "PKI-02")["result"] for h in ("edge1", "edge2", "monitor")} == {"waived"}


def test_waiver_never_covers_error_not_run_or_pass(catalog: Catalog, tmp_path: Path) -> None:
    waivers = load_waivers(write_waivers(tmp_path, waiver(check="*", hosts=["all"])), catalog)
    rows, _ = merge(
        catalog,
        {
            "edge1": [check("PKI-01", "error", "boom"), check("TIME-01")],
            "edge2": None,
        },
        host_errors={"edge2": "down"},
        waivers=waivers,
    )
    assert row(rows, "edge1", "PKI-01")["result"] == "error"
    assert row(rows, "edge1", "PKI-02")["result"] == "not_run"
    assert row(rows, "edge1", "TIME-01")["result"] == "pass"
    assert row(rows, "edge1", "TIME-01")["waiver"] is None
    assert {r["result"] for r in rows if r["host"] == "edge2"} == {"not_run"}


def test_waiver_covers_at_risk(catalog: Catalog, tmp_path: Path) -> None:
    waivers = load_waivers(write_waivers(tmp_path, waiver()), catalog)
    rows, _ = merge(
        catalog,
        {"edge1": [check("PKI-01"), check("PKI-02", "at_risk", "renew"), check("TIME-01")]},
        waivers=waivers,
    )
    assert row(rows, "edge1", "PKI-02")["result"] == "waived"
    assert exit_code(rows) == 0


def test_longest_lasting_waiver_wins(catalog: Catalog, tmp_path: Path) -> None:
    rows, _ = _waived_run(
        catalog,
        tmp_path,
        waiver(ticket="OLD", expires="2026-01-10"),
        waiver(ticket="SHORT", expires="2026-01-20"),
        waiver(ticket="LONG", expires="2026-03-01"),
    )
    assert row(rows, "edge1", "PKI-02")["waiver"]["ticket"] == "LONG"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"check": ...}, "check"),
        ({"check": ""}, "check"),
        ({"check": "NET-01"}, "check"),
        ({"check": "LOG-*"}, "check"),
        ({"hosts": ...}, "hosts"),
        ({"hosts": []}, "hosts"),
        ({"hosts": "edge1"}, "hosts"),
        ({"hosts": ["edge1", ""]}, "hosts"),
        ({"justification": ...}, "justification"),
        ({"justification": "  "}, "justification"),
        ({"approver": ...}, "approver"),
        ({"approver": None}, "approver"),
        ({"ticket": ...}, "ticket"),
        ({"ticket": ""}, "ticket"),
        ({"expires": ...}, "expires"),
        ({"expires": "2026-02-30"}, "expires"),
        ({"expires": "31/01/2026"}, "expires"),
        ({"expires": "2026-1-5"}, "expires"),
        ({"expires": dt.datetime(2026, 1, 31, 12, 0)}, "expires"),
    ],
)
def test_waiver_validation_names_entry_and_field(
    catalog: Catalog, tmp_path: Path, bad: dict[str, Any], field: str
) -> None:
    path = write_waivers(tmp_path, waiver(ticket="OK"), waiver(**bad))
    with pytest.raises(PolicyError) as info:
        load_waivers(path, catalog)
    text = str(info.value)
    assert "waivers[1]" in text
    assert f"'{field}'" in text


def test_waiver_unknown_field_and_shapes(catalog: Catalog, tmp_path: Path) -> None:
    path = write_waivers(tmp_path, waiver(note="x"))
    with pytest.raises(PolicyError, match=r"waivers\[0\].*unknown field.*note"):
        load_waivers(path, catalog)
    path.write_text("waivers: {check: PKI-01}\n")
    with pytest.raises(PolicyError, match="must be a list"):
        load_waivers(path, catalog)
    path.write_text("- check: PKI-01\n")
    with pytest.raises(PolicyError, match="'waivers' list"):
        load_waivers(path, catalog)
    path.write_text("waivers: [\n")
    with pytest.raises(PolicyError, match="YAML"):
        load_waivers(path, catalog)
    path.write_text("waivers:\n  - PKI-01\n")
    with pytest.raises(PolicyError, match=r"waivers\[0\]: is not a mapping"):
        load_waivers(path, catalog)


def test_missing_or_empty_waivers_file(catalog: Catalog, tmp_path: Path) -> None:
    assert load_waivers(tmp_path / "nope.yml", catalog) == []
    assert load_waivers(None, catalog) == []
    empty = tmp_path / "empty.yml"
    empty.write_text("---\n# nothing yet\nwaivers: []\n")
    assert load_waivers(empty, catalog) == []
    empty.write_text("")
    assert load_waivers(empty, catalog) == []


def test_yaml_date_expiry_accepted(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "waivers.yml"
    path.write_text(
        "waivers:\n  - check: PKI-02\n    hosts: [edge1]\n    justification: j\n"
        "    approver: a\n    ticket: T-1\n    expires: 2026-01-31\n"
    )
    (parsed,) = load_waivers(path, catalog)
    assert parsed.expires == dt.date(2026, 1, 31)
    assert parsed.expires_at == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- state file


def test_state_round_trip_and_missing_file(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    assert load_state(path).hosts == {}
    _, state = merge(catalog, {"edge1": [check("PKI-01", "fail"), check("PKI-02")]})
    save_state(path, state)
    again = load_state(path)
    assert again.to_json() == state.to_json()
    assert json.loads(path.read_text())["version"] == 1
    assert not [p for p in path.parent.iterdir() if p.name != "state.json"]  # no temp left


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"version": 1}',
        '{"version": 99, "hosts": {}}',
        '{"version": 1, "hosts": {"edge1": {"drift_since": {"PKI-01": 5}}}}',
        '{"version": 1, "hosts": {"edge1": {"last_success": 5}}}',
        '{"version": 1, "hosts": {"edge1": {"last_run": {"PKI-01": "later"}}}}',
    ],
)
def test_corrupt_state_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "state.json"
    path.write_text(text)
    with pytest.raises(StateError, match=str(path)):
        load_state(path)


def test_state_prunes_checks_that_no_longer_apply(catalog: Catalog) -> None:
    old = State.from_json(
        {
            "version": 1,
            "hosts": {
                "edge1": {"drift_since": {"OLD-01": STARTED}, "last_run": {"OLD-01": STARTED}}
            },
        }
    )
    _, state = merge(catalog, state=old)
    assert state.hosts["edge1"].drift_since == {}
    assert "OLD-01" not in state.hosts["edge1"].last_run


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    ("found", "code"),
    [
        ([], 0),
        (["pass", "waived", "not_applicable"], 0),
        (["pass", "fail"], 1),
        (["pass", "at_risk"], 1),
        (["error", "at_risk"], 1),
        (["not_run", "fail"], 1),
        (["pass", "error"], 2),
        (["pass", "not_run"], 2),
        (["pass", "waived", "not_run"], 2),
    ],
)
def test_exit_code(found: list[str], code: int) -> None:
    assert exit_code([{"result": r} for r in found]) == code
    assert (EXIT_OK, EXIT_FAILING, EXIT_INCOMPLETE, EXIT_RUN_FAILED) == (0, 1, 2, 3)
