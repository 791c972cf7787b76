# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""LOG-10, the S3 Object Lock upload is current (plugins/module_utils/soc2_log_family.py), on a
state file written by the real uploader (roles/log_aggregator/files/log-upload) against a real
versitygw v1.7.0 with Object Lock (tests/unit/fixtures/log/upload/README.md), and the role's
upload unit rendered from its defaults."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import jinja2
import pytest
import soc2_log
import yaml
from ansible.module_utils import soc2_log_family as fam
from module_runner import invoke

from soc2audit import metrics

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "log_aggregator"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "log" / "upload"
STATE = json.loads((FIXTURES / "upload-state.json").read_text())
# The recorded run uploaded at 2026-12-06T17:30:16Z with --retention-days 366.
UPLOADED = dt.datetime(2026, 12, 6, 17, 30, 16, tzinfo=dt.UTC).timestamp()
SEALED = UPLOADED - 60
SEALED_FILES = ["edge1/2026-12-04.jsonl", "edge1/2026-12-05.jsonl", "edge2/2026-12-05.jsonl"]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The recorded store (three sealed files, one open), sealed a minute before the upload."""
    root = tmp_path / "store"
    shutil.copytree(FIXTURES / "store", root)
    for rel in SEALED_FILES:
        os.utime(root / f"{rel}.sha256", (SEALED, SEALED))
    return root


def assess(root: Path, state: dict[str, Any] | None, now: float, **kw: Any) -> dict[str, Any]:
    return fam.assess_upload(
        fam.scan_store(str(root)),
        str(root),
        state,
        now,
        kw.get("max_delay", 7200),
        kw.get("review_period_days", 365),
    )


def test_the_recorded_upload_passes(store: Path) -> None:
    got = assess(store, STATE, UPLOADED + 10)
    assert got == {"problems": [], "overdue": [], "bad": [], "uploaded": 3, "pending": 0}


def test_a_missing_record_fails_only_after_the_allowed_delay(store: Path) -> None:
    state = copy.deepcopy(STATE)
    del state["objects"]["edge2/2026-12-05.jsonl"]
    within = assess(store, state, SEALED + 7000)
    assert within["problems"] == [] and within["pending"] == 1 and within["uploaded"] == 2
    late = assess(store, state, SEALED + 7300)
    assert late["overdue"] == ["edge2/2026-12-05.jsonl"]
    assert late["problems"] == [
        "edge2/2026-12-05.jsonl: sealed 7300 s ago and no upload record (allowed 7200 s)"
    ]


def test_no_state_file_fails_every_overdue_sealed_file(store: Path) -> None:
    got = assess(store, None, SEALED + 86400)
    assert got["overdue"] == SEALED_FILES
    assert assess(store, None, SEALED + 10)["problems"] == []


def test_a_record_whose_hash_is_not_the_seals_fails_at_any_age(store: Path) -> None:
    state = copy.deepcopy(STATE)
    state["objects"]["edge1/2026-12-04.jsonl"]["sha256"] = "0" * 64
    got = assess(store, state, UPLOADED + 1)
    assert got["bad"] == ["edge1/2026-12-04.jsonl"]
    assert "recorded SHA-256 000000000000... is not the seal's" in got["problems"][0]


def test_a_file_changed_after_upload_is_caught_through_its_seal(store: Path) -> None:
    """Re-sealing an edited file gives a new .sha256, which the locked version does not carry."""
    path = store / "edge2" / "2026-12-05.jsonl"
    path.write_text('{"host": "edge2", "n": "rewritten"}\n')
    side = store / "edge2" / "2026-12-05.jsonl.sha256"
    side.write_text(f"{'a' * 64}  2026-12-05.jsonl\n")
    os.utime(side, (SEALED, SEALED))
    got = assess(store, STATE, UPLOADED + 1)
    assert got["bad"] == ["edge2/2026-12-05.jsonl"]


def test_retention_shorter_than_the_review_period_fails(store: Path) -> None:
    # 366 days from the upload covers a 366-day review period from the sealing a minute earlier,
    # but not a 367-day one.
    assert assess(store, STATE, UPLOADED + 1, review_period_days=366)["problems"] == []
    got = assess(store, STATE, UPLOADED + 1, review_period_days=367)
    assert got["bad"] == SEALED_FILES
    assert "days short of sealing time + the 367-day review period" in got["problems"][0]


def test_governance_mode_or_no_version_fails(store: Path) -> None:
    state = copy.deepcopy(STATE)
    state["objects"]["edge1/2026-12-05.jsonl"]["mode"] = "GOVERNANCE"
    state["objects"]["edge2/2026-12-05.jsonl"]["version_id"] = ""
    got = assess(store, state, UPLOADED + 1)
    assert got["bad"] == ["edge1/2026-12-05.jsonl", "edge2/2026-12-05.jsonl"]
    assert "mode 'GOVERNANCE', not COMPLIANCE" in got["problems"][0]
    assert "no object key or version id recorded" in got["problems"][1]


def test_a_foreign_state_file_fails(store: Path) -> None:
    got = assess(store, {"objects": {}}, UPLOADED)
    assert got["problems"] == ["the upload state is not a soc2audit.log-upload/1 file"]


def test_records_of_pruned_files_are_not_a_finding(store: Path) -> None:
    """Files past the local retention go to cold storage and are removed; their record stays."""
    for name in ("2026-12-04.jsonl", "2026-12-04.jsonl.sha256"):
        (store / "edge1" / name).unlink()
    got = assess(store, STATE, UPLOADED + 1)
    assert got["problems"] == [] and got["uploaded"] == 2


def agg_params(root: Path, state_path: Path, **over: Any) -> dict[str, Any]:
    params = {k: v.get("default") for k, v in fam.AGGREGATOR_SPEC.items()}
    params.update(
        enabled=True, storage_root=str(root), upload_enabled=True, upload_state_path=str(state_path)
    )
    params.update(over)
    return params


def test_check_upload_result_and_observations(store: Path, tmp_path: Path) -> None:
    state_path = tmp_path / "upload-state.json"
    shutil.copy(FIXTURES / "upload-state.json", state_path)
    files = fam.scan_store(str(store))
    observations: list[dict[str, Any]] = []
    check = fam.check_upload(agg_params(store, state_path), files, UPLOADED + 5, observations)
    assert check["check_id"] == "LOG-10" and check["result"] == "pass", check
    assert check["observed"]["uploaded"] == 3
    assert {o["key"]: o["value"] for o in observations} == {
        "log_upload_overdue_files": 0,
        "log_upload_last_success": UPLOADED,
    }
    for obs in observations:  # every key is a metric of the textfile
        assert obs["key"] in metrics.OBSERVATIONS

    state_path.unlink()
    check = fam.check_upload(agg_params(store, state_path), files, SEALED + 86400, [])
    assert check["result"] == "fail"
    assert check["observed"]["overdue"] == SEALED_FILES and check["observed"]["state_file"] is None

    state_path.write_text("{not json")
    check = fam.check_upload(agg_params(store, state_path), files, UPLOADED, [])
    assert check["result"] == "error" and str(state_path) in check["message"]

    off = agg_params(store, state_path, upload_enabled=False)
    assert fam.check_upload(off, files, UPLOADED, [])["result"] == "not_applicable"


def test_module_reports_log10(
    store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through soc2_log: LOG-10 sits between LOG-09 and LOG-11 and names the missing file."""
    state = copy.deepcopy(STATE)
    del state["objects"]["edge1/2026-12-05.jsonl"]
    state_path = tmp_path / "upload-state.json"
    state_path.write_text(json.dumps(state))
    monkeypatch.setattr(fam, "get_flags", lambda path: fam.FS_IMMUTABLE_FL)
    (tmp_path / "proc").mkdir()
    args = {
        "aggregator": {
            "enabled": True,
            "config_path": str(tmp_path / "absent.conf"),
            "storage_root": str(store),
            "state_dir": str(tmp_path),
            "proc_root": str(tmp_path / "proc"),
            "peers": [],
            "upload_enabled": True,
            "upload_state_path": str(state_path),
            "upload_max_delay_seconds": 0,
        }
    }
    rc, result = invoke(soc2_log.main, args, capsys)
    assert rc == 0, result
    ids = [c["check_id"] for c in result["checks"]]
    assert ids[-6:] == ["LOG-09", "LOG-10", "LOG-11", "LOG-12", "LOG-13", "LOG-14"]
    log10 = result["checks"][ids.index("LOG-10")]
    assert log10["result"] == "fail"
    assert log10["message"].startswith("edge1/2026-12-05.jsonl: sealed ")


# ---------------------------------------------------------------- the role's unit
def render_unit(name: str, **over: Any) -> str:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    values: dict[str, Any] = {
        **defaults,
        "ansible_managed": "Ansible managed",
        "_log_aggregator_seal_unit": role_vars["_log_aggregator_seal_unit"],
        "_log_aggregator_state_dir": role_vars["_log_aggregator_state_dir"],
        "_log_aggregator_upload_bin": "/usr/local/libexec/soc2audit/log-upload",
        "_log_aggregator_upload_env_path": role_vars["_log_aggregator_upload_env_path"],
        "_log_aggregator_upload_state_path": "/var/lib/soc2audit/log-store/upload-state.json",
        "log_aggregator_upload_bucket": "soc2-evidence",
        "log_aggregator_upload_endpoint_url": "https://s3.example.internal:7070",
        **over,
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template(f"etc/systemd/system/{name}.j2").render(**values)


def unit_settings(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            out[key] = value
    return out


def test_upload_service_is_hardened_and_carries_no_secret() -> None:
    text = render_unit(
        "soc2-log-upload.service",
        log_aggregator_upload_ca_path="/etc/ssl/soc2audit/ca-chain.pem",
        log_aggregator_upload_access_key_id="AKIAEXAMPLE",
        log_aggregator_upload_secret_access_key="never-in-the-unit",
    )
    unit = unit_settings(text)
    assert "never-in-the-unit" not in text and "AKIAEXAMPLE" not in text
    assert unit["EnvironmentFile"] == "/etc/soc2audit/log-upload.env"
    assert unit["After"].startswith("soc2-log-seal.service")
    assert unit["ExecStart"].split() == [
        "/usr/local/libexec/soc2audit/log-upload",
        "--root", "/srv/soc2audit/logs",
        "--state", "/var/lib/soc2audit/log-store/upload-state.json",
        "--bucket", "soc2-evidence",
        "--endpoint-url", "https://s3.example.internal:7070",
        "--region", "us-east-1",
        "--ca-bundle", "/etc/ssl/soc2audit/ca-chain.pem",
        "--prefix", "logs",
        "--retention-days", "400",
    ]  # fmt: skip
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "CapabilityBoundingSet": "",
        "ReadWritePaths": "/var/lib/soc2audit/log-store",
        "ReadOnlyPaths": "/srv/soc2audit/logs",
        "PrivateTmp": "yes",
    }.items():
        assert unit[key] == value, key
    no_ca = unit_settings(render_unit("soc2-log-upload.service", log_aggregator_upload_prefix=""))
    assert "--ca-bundle" not in no_ca["ExecStart"] and "--prefix" not in no_ca["ExecStart"]


def test_upload_timer_runs_after_the_sealer() -> None:
    timer = unit_settings(render_unit("soc2-log-upload.timer"))
    assert timer["OnCalendar"] == "*-*-* *:20:00" and timer["Persistent"] == "true"
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    assert defaults["log_aggregator_seal_interval"] == "hourly"
    assert not defaults["log_aggregator_upload_enabled"]
    assert (
        defaults["log_aggregator_upload_retention_days"]
        >= defaults["log_aggregator_review_period_days"]
    )
