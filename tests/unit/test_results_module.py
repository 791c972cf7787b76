"""Unit tests for library/soc2audit_results.py: merging one drift run into the full result set.

``merge`` is tested directly; ``main()`` runs end to end through AnsibleModule with the module
arguments injected via ``ansible.module_utils.basic._ANSIBLE_ARGS`` and the result JSON read back
from stdout, like ansible's own module unit tests.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import soc2audit_results
import yaml
from module_runner import invoke

SCHEMA_KEYS = {
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
}

CATALOG: dict[str, Any] = {
    "checks": [
        {"id": "PKI-01", "title": "Chain", "family": "PKI", "applies_to": ["all"]},
        {"id": "PKI-02", "title": "Validity", "family": "PKI"},
        {"id": "NET-01", "title": "Edge firewall", "family": "NET", "applies_to": ["edge"]},
        {
            "id": "TIME-01",
            "title": "Serves time",
            "family": "TIME",
            "applies_to": ["timeservers", "monitors"],
        },
    ]
}
CATALOG_IDS = [c["id"] for c in CATALOG["checks"]]

HOSTS = ["edge1", "edge2", "aggregator", "monitor"]
GROUPS = {
    "edge1": ["edge"],
    "edge2": ["edge"],
    "aggregator": ["aggregators", "timeservers"],
    "monitor": ["monitors"],
}
APPLICABLE = {
    "edge1": ["PKI-01", "PKI-02", "NET-01"],
    "edge2": ["PKI-01", "PKI-02", "NET-01"],
    "aggregator": ["PKI-01", "PKI-02", "TIME-01"],
    "monitor": ["PKI-01", "PKI-02", "TIME-01"],
}
NOW = "2026-01-15T12:00:00+00:00"
RUN_ID = "3f1c2a9e-0000-4000-8000-000000000001"
POLICY = "ab" * 32


def check(check_id: str, result: str = "pass", **extra: Any) -> dict[str, Any]:
    row = {
        "check_id": check_id,
        "result": result,
        "observed": {"value": f"{check_id}-observed"},
        "expected": {"value": f"{check_id}-expected"},
        "message": f"{check_id} is {result}",
    }
    row.update(extra)
    return row


def all_pass(host: str) -> list[dict[str, Any]]:
    return [check(cid) for cid in APPLICABLE[host]]


def merge(host_checks: dict[str, Any], hosts: list[str] | None = None) -> list[dict[str, Any]]:
    return soc2audit_results.merge(
        CATALOG["checks"], hosts or HOSTS, GROUPS, host_checks, RUN_ID, NOW, POLICY
    )


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    keyed = {(r["host"], r["check_id"]): r for r in rows}
    assert len(keyed) == len(rows), "one result per (host, check)"
    return keyed


# ---------------------------------------------------------------- merge


def test_merge_host_with_checks_carries_every_schema_key() -> None:
    rows = merge({h: all_pass(h) for h in HOSTS})
    assert len(rows) == sum(len(v) for v in APPLICABLE.values())
    for row in rows:
        assert set(row) == SCHEMA_KEYS
        assert row["run_id"] == RUN_ID
        assert row["started"] == NOW
        assert row["finished"] == NOW
        assert row["suite_version"] == soc2audit_results.SUITE_VERSION
        assert row["policy_sha256"] == POLICY
        assert row["result"] == "pass"
    row = by_key(rows)[("edge1", "NET-01")]
    assert row["observed"] == {"value": "NET-01-observed"}
    assert row["expected"] == {"value": "NET-01-expected"}
    assert row["message"] == "NET-01 is pass"


def test_merge_keeps_host_and_catalog_order() -> None:
    rows = merge({h: list(reversed(all_pass(h))) for h in HOSTS})
    assert [(r["host"], r["check_id"]) for r in rows] == [
        (h, cid) for h in HOSTS for cid in CATALOG_IDS if cid in APPLICABLE[h]
    ]


def test_merge_host_with_null_checks_is_not_run_for_every_applicable_check() -> None:
    rows = merge({"edge1": all_pass("edge1"), "edge2": None})
    keyed = by_key(rows)
    for host in ("edge2", "aggregator", "monitor"):  # null, and absent from host_checks
        for cid in APPLICABLE[host]:
            row = keyed[(host, cid)]
            assert row["result"] == "not_run"
            assert row["observed"] is None
            assert row["expected"] is None
            assert row["message"] == "host unreachable or verifier failed"
            assert set(row) == SCHEMA_KEYS
    assert not any(r["result"] == "pass" for r in rows if r["host"] != "edge1")
    assert [r["result"] for r in rows if r["host"] == "edge1"] == ["pass"] * 3


def test_merge_check_missing_from_one_host_is_not_run_with_its_own_message() -> None:
    edge1 = [c for c in all_pass("edge1") if c["check_id"] != "PKI-02"]
    rows = merge({"edge1": edge1, "edge2": all_pass("edge2")}, hosts=["edge1", "edge2"])
    keyed = by_key(rows)
    missing = keyed[("edge1", "PKI-02")]
    assert missing["result"] == "not_run"
    assert missing["message"] == "verifier did not report this check"
    assert missing["observed"] is None
    assert keyed[("edge1", "PKI-01")]["result"] == "pass"
    assert keyed[("edge2", "PKI-02")]["result"] == "pass"


def test_merge_empty_check_list_is_not_run_not_pass() -> None:
    rows = merge({"edge1": []}, hosts=["edge1"])
    assert [r["result"] for r in rows] == ["not_run"] * 3
    assert {r["message"] for r in rows} == {"verifier did not report this check"}


def test_merge_applies_to_by_group() -> None:
    rows = merge({h: all_pass(h) for h in HOSTS})
    per_host = {h: [r["check_id"] for r in rows if r["host"] == h] for h in HOSTS}
    assert per_host == APPLICABLE
    # A host in no group gets only the checks for all (explicit or implied by no applies_to).
    rows = soc2audit_results.merge(
        CATALOG["checks"], ["stray"], {}, {"stray": None}, RUN_ID, NOW, POLICY
    )
    assert [r["check_id"] for r in rows] == ["PKI-01", "PKI-02"]


def test_merge_check_that_does_not_apply_is_not_reported() -> None:
    rows = merge({"monitor": [*all_pass("monitor"), check("NET-01", "fail")]}, hosts=["monitor"])
    assert [r["check_id"] for r in rows] == ["PKI-01", "PKI-02", "TIME-01"]


def test_merge_emitted_check_missing_from_catalog_raises() -> None:
    with pytest.raises(
        ValueError, match=r"^edge2: check AUD-99 is emitted but not in the catalog$"
    ):
        merge({"edge1": all_pass("edge1"), "edge2": [*all_pass("edge2"), check("AUD-99")]})


@pytest.mark.parametrize("bad", ["passed", "FAIL", "ok", "", None, 1])
def test_merge_unknown_result_is_error_never_pass_or_fail(bad: Any) -> None:
    rows = merge({"edge1": [check("PKI-01", bad), check("PKI-02"), check("NET-01", "fail")]})
    keyed = by_key(rows)
    row = keyed[("edge1", "PKI-01")]
    assert row["result"] == "error"
    assert row["message"] == f"verifier returned unknown result {bad!r}"
    assert row["observed"] == {"value": "PKI-01-observed"}
    assert keyed[("edge1", "PKI-02")]["result"] == "pass"
    assert keyed[("edge1", "NET-01")]["result"] == "fail"


@pytest.mark.parametrize("result", soc2audit_results.RESULTS)
def test_merge_every_known_result_is_kept(result: str) -> None:
    rows = merge({"edge1": [check("PKI-01", result)]}, hosts=["edge1"])
    assert by_key(rows)[("edge1", "PKI-01")]["result"] == result


def test_merge_missing_message_defaults_to_empty() -> None:
    row = {"check_id": "PKI-01", "result": "fail", "observed": 1, "expected": 2}
    [first, *_] = merge({"edge1": [row]}, hosts=["edge1"])
    assert first["message"] == ""
    assert (first["observed"], first["expected"]) == (1, 2)


# ---------------------------------------------------------------- main() end to end


RunModule = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.yml"
    path.write_text("---\n# test catalog\n" + yaml.safe_dump(CATALOG, sort_keys=False))
    return path


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "drift" / "last_run.jsonl"


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture[str], catalog_file: Path, dest: Path) -> RunModule:
    def run(
        host_checks: dict[str, Any], *, drop: tuple[str, ...] = (), **overrides: Any
    ) -> tuple[int, dict[str, Any]]:
        args = {
            "catalog": str(catalog_file),
            "hosts": HOSTS,
            "host_groups": GROUPS,
            "host_checks": host_checks,
            "dest": str(dest),
        }
        args.update(overrides)
        for name in drop:
            del args[name]
        return invoke(soc2audit_results.main, args, capsys)

    return run


def read_lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_main_writes_full_result_set_as_json_lines(
    run_module: RunModule, catalog_file: Path, dest: Path
) -> None:
    rc, out = run_module({h: all_pass(h) for h in HOSTS})
    assert rc == 0
    assert out["changed"] is False
    assert "failed" not in out
    results = out["results"]
    assert len(results) == 12
    for row in results:
        assert set(row) == SCHEMA_KEYS
        assert row["suite_version"] == soc2audit_results.SUITE_VERSION
        assert row["policy_sha256"] == hashlib.sha256(catalog_file.read_bytes()).hexdigest()
        assert row["started"] == row["finished"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", row["started"])
    run_ids = {row["run_id"] for row in results}
    assert len(run_ids) == 1
    uuid.UUID(run_ids.pop())
    assert read_lines(dest) == results
    for line in dest.read_text().splitlines():
        assert list(json.loads(line)) == sorted(SCHEMA_KEYS)  # sort_keys=True
    assert out["counts"] == {
        "pass": 12,
        "fail": 0,
        "error": 0,
        "not_applicable": 0,
        "not_run": 0,
        "waived": 0,
        "at_risk": 0,
    }
    assert out["summary"] == [f"{h}: 3 pass" for h in HOSTS]


def test_main_null_host_is_not_run(run_module: RunModule, dest: Path) -> None:
    checks: dict[str, Any] = {h: all_pass(h) for h in HOSTS}
    checks["monitor"] = None
    rc, out = run_module(checks)
    assert rc == 0
    monitor = [r for r in read_lines(dest) if r["host"] == "monitor"]
    assert [r["check_id"] for r in monitor] == APPLICABLE["monitor"]
    assert {r["result"] for r in monitor} == {"not_run"}
    assert out["counts"]["not_run"] == 3
    assert out["counts"]["pass"] == 9
    assert (
        out["summary"][3] == "monitor: 3 not_run [PKI-01=not_run; PKI-02=not_run; TIME-01=not_run]"
    )


def test_main_second_run_replaces_the_file(run_module: RunModule, dest: Path) -> None:
    rc, first = run_module({h: all_pass(h) for h in HOSTS})
    assert rc == 0
    assert len(read_lines(dest)) == 12
    rc, second = run_module({"edge1": all_pass("edge1")}, hosts=["edge1"])
    assert rc == 0
    lines = read_lines(dest)
    assert lines == second["results"]
    assert len(lines) == 3
    assert {r["run_id"] for r in lines} == {second["results"][0]["run_id"]}
    assert second["results"][0]["run_id"] != first["results"][0]["run_id"]
    assert [p.name for p in dest.parent.iterdir()] == [dest.name]  # no temp files left


def test_main_summary_lists_failing_checks(run_module: RunModule) -> None:
    checks: dict[str, Any] = {h: all_pass(h) for h in HOSTS}
    checks["edge1"] = [check("PKI-01", "fail"), check("PKI-02", "at_risk"), check("NET-01")]
    checks["aggregator"] = [check("PKI-01", "bogus"), check("PKI-02", "waived")]
    rc, out = run_module(checks)
    assert rc == 0
    assert out["summary"] == [
        "edge1: 1 pass, 1 fail, 1 at_risk [PKI-01=fail; PKI-02=at_risk]",
        "edge2: 3 pass",
        "aggregator: 1 error, 1 not_run, 1 waived [PKI-01=error; TIME-01=not_run]",
        "monitor: 3 pass",
    ]
    assert out["counts"]["error"] == 1
    assert out["counts"]["fail"] == 1


def test_main_unknown_result_is_error(run_module: RunModule, dest: Path) -> None:
    rc, out = run_module({"edge1": [check("PKI-01", "passed")]}, hosts=["edge1"])
    assert rc == 0
    row = next(r for r in read_lines(dest) if r["check_id"] == "PKI-01")
    assert row["result"] == "error"
    assert row["message"] == "verifier returned unknown result 'passed'"
    assert out["counts"]["pass"] == 0
    assert out["counts"]["fail"] == 0


def test_main_fails_on_check_missing_from_catalog(run_module: RunModule, dest: Path) -> None:
    rc, out = run_module({"edge1": [*all_pass("edge1"), check("LOG-42", "pass")]})
    assert rc == 1
    assert out["failed"] is True
    assert out["msg"] == "edge1: check LOG-42 is emitted but not in the catalog"
    assert not dest.exists()


def test_main_applies_to_groups(run_module: RunModule, dest: Path) -> None:
    rc, _ = run_module({h: None for h in HOSTS})
    assert rc == 0
    per_host: dict[str, list[str]] = {}
    for row in read_lines(dest):
        per_host.setdefault(row["host"], []).append(row["check_id"])
    assert per_host == APPLICABLE


def test_main_requires_its_arguments(run_module: RunModule, dest: Path) -> None:
    rc, out = run_module({}, drop=("host_groups",))
    assert rc == 1
    assert out["failed"] is True
    assert "host_groups" in out["msg"]
    assert not dest.exists()
