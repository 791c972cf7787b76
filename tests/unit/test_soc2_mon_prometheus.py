# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The monitor's MON checks (plugins/module_utils/soc2_mon_prometheus.py) on API answers shaped
as Prometheus 2.42 and Alertmanager 0.25 give them, and the family's interface."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils import soc2_mon_family as fam
from ansible.module_utils import soc2_mon_prometheus as mon
from ansible.module_utils.soc2_family import family_params, interface_problems

OK = 200


def targets(*entries: tuple[str, str, str]) -> mon.Answer:
    active = [
        {
            "labels": {"instance": instance, "job": job},
            "health": health,
            "lastError": "" if health == "up" else "connection refused",
            "scrapeUrl": f"https://{instance}:9100/metrics",
        }
        for instance, job, health in entries
    ]
    return OK, {"status": "success", "data": {"activeTargets": active, "droppedTargets": []}}, None


def test_every_inventory_host_up_passes() -> None:
    answer = targets(
        ("edge1", "node", "up"), ("monitor", "node", "up"), ("monitor", "prometheus", "up")
    )
    check = mon.check_targets(answer, ["edge1", "monitor"], "node")
    assert check["result"] == "pass", check


def test_a_missing_or_down_host_fails_and_is_named() -> None:
    answer = targets(("edge1", "node", "down"), ("edge2", "prometheus", "up"))
    check = mon.check_targets(answer, ["edge1", "edge2"], "node")
    assert check["result"] == "fail"
    assert "not a target: edge2" in check["message"]
    assert "edge1 down: connection refused" in check["message"]


def test_an_unreachable_prometheus_is_an_error() -> None:
    check = mon.check_targets((0, None, "ConnectionRefusedError: refused"), ["edge1"], "node")
    assert check["result"] == "error" and "refused" in check["message"]


RULES_PATH = "/etc/prometheus/rules/soc2audit.rules.yml"
EXPECTED = [
    {
        "path": RULES_PATH,
        "sha256": hashlib.sha256(b"rules").hexdigest(),
        "groups": [
            {
                "name": "soc2audit-pki",
                "rules": ["SOC2PKICheckFailed", "SOC2CertificateExpiringSoon"],
            }
        ],
    }
]


def rules_answer(groups: list[dict[str, Any]]) -> mon.Answer:
    return OK, {"status": "success", "data": {"groups": groups}}, None


def loaded(
    name: str = "soc2audit-pki", file: str = RULES_PATH, health: str = "ok"
) -> dict[str, Any]:
    return {
        "name": name,
        "file": file,
        "interval": 15,
        "rules": [
            {
                "name": "SOC2PKICheckFailed",
                "type": "alerting",
                "health": health,
                "lastError": "boom" if health == "err" else "",
            },
            {"name": "SOC2CertificateExpiringSoon", "type": "alerting", "health": "unknown"},
        ],
    }


RUNTIME: mon.Answer = (
    OK,
    {
        "status": "success",
        "data": {"reloadConfigSuccess": True, "lastConfigTime": "2026-12-06T18:00:00.123456789Z"},
    },
    None,
)
LOADED_AT = 1796580000.123  # 2026-12-06T18:00:00Z
DISK = {RULES_PATH: {"sha256": hashlib.sha256(b"rules").hexdigest(), "mtime": LOADED_AT - 60}}


def test_rules_as_rendered_pass() -> None:
    check = mon.check_rules(rules_answer([loaded()]), RUNTIME, DISK, EXPECTED)
    assert check["result"] == "pass", check


@pytest.mark.parametrize(
    ("rules", "runtime", "disk", "why"),
    [
        ([loaded()], RUNTIME, {RULES_PATH: {"sha256": "0" * 64, "mtime": 1}}, "SHA-256 differs"),
        (
            [loaded()],
            RUNTIME,
            {RULES_PATH: {**DISK[RULES_PATH], "mtime": LOADED_AT + 5}},
            "changed after",
        ),
        (
            [loaded()],
            (
                OK,
                {"data": {"reloadConfigSuccess": False, "lastConfigTime": "2026-12-06T18:00:00Z"}},
                None,
            ),
            DISK,
            "reload failed",
        ),
        ([], RUNTIME, DISK, "Prometheus serves groups []"),
        (
            [loaded(), loaded("site", "/etc/prometheus/rules/other.yml")],
            RUNTIME,
            DISK,
            "did not render",
        ),
        (
            [loaded(health="err")],
            RUNTIME,
            DISK,
            "rules in error: soc2audit-pki/SOC2PKICheckFailed: boom",
        ),
        (
            [loaded()],
            RUNTIME,
            {RULES_PATH: {"error": "not readable: Permission denied"}},
            "not readable",
        ),
    ],
)
def test_rules_that_are_not_the_rendered_ones_fail(
    rules: list[dict[str, Any]], runtime: mon.Answer, disk: dict[str, Any], why: str
) -> None:
    check = mon.check_rules(rules_answer(rules), runtime, disk, EXPECTED)
    assert check["result"] == "fail" and why in check["message"], check


def test_rule_files_on_disk_are_hashed(tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    path.write_bytes(b"rules")
    os.utime(path, (100, 100))
    out = mon.rule_files_on_disk([str(path), str(tmp_path / "absent.yml")])
    assert out[str(path)] == {"sha256": hashlib.sha256(b"rules").hexdigest(), "mtime": 100}
    assert out[str(tmp_path / "absent.yml")]["error"].startswith("not readable")


MANAGERS: mon.Answer = (
    OK,
    {
        "status": "success",
        "data": {
            "activeAlertmanagers": [{"url": "https://127.0.0.1:9093/api/v2/alerts"}],
            "droppedAlertmanagers": [],
        },
    },
    None,
)


def test_alertmanager_reachable_and_used_passes() -> None:
    check = mon.check_alertmanager((OK, "OK", None), MANAGERS, "https://127.0.0.1:9093")
    assert check["result"] == "pass", check


def test_alertmanager_down_or_unused_fails() -> None:
    down = mon.check_alertmanager(
        (0, None, "ConnectionRefusedError"), MANAGERS, "https://127.0.0.1:9093"
    )
    unused = mon.check_alertmanager(
        (OK, "OK", None),
        (OK, {"data": {"activeAlertmanagers": []}}, None),
        "https://127.0.0.1:9093",
    )
    assert down["result"] == "fail" and "does not answer" in down["message"]
    assert (
        unused["result"] == "fail"
        and "no active Alertmanager at 127.0.0.1:9093" in unused["message"]
    )


AM_CONFIG = """global:
  resolve_timeout: 5m
route:
  receiver: soc2audit-evidence
receivers:
- name: soc2audit-evidence
  webhook_configs:
  - send_resolved: true
    http_config:
      tls_config:
        ca_file: /etc/ssl/soc2audit/ca-chain.pem
    url: https://127.0.0.1:9097/alerts
    max_alerts: 0
- name: team
  webhook_configs:
  - send_resolved: false
    url: http://10.0.0.9/hook
"""


def am_status(config: str) -> mon.Answer:
    return OK, {"cluster": {"status": "disabled"}, "config": {"original": config}}, None


def test_a_healthy_receiver_configured_with_send_resolved_passes() -> None:
    check = mon.check_receiver(
        (OK, {"status": "ok"}, None), am_status(AM_CONFIG), "https://127.0.0.1:9097"
    )
    assert check["result"] == "pass", check


def test_receiver_problems_fail() -> None:
    unhealthy = mon.check_receiver(
        (503, {"status": "evidence directory not writable"}, None),
        am_status(AM_CONFIG),
        "https://127.0.0.1:9097",
    )
    unknown = mon.check_receiver(
        (OK, {"status": "ok"}, None), am_status(AM_CONFIG), "https://127.0.0.1:9999"
    )
    no_resolved = mon.check_receiver(
        (OK, {"status": "ok"}, None),
        am_status(AM_CONFIG.replace("  - send_resolved: true\n", "  - send_resolved: false\n")),
        "https://127.0.0.1:9097",
    )
    assert unhealthy["result"] == "fail" and "not healthy" in unhealthy["message"]
    assert unknown["result"] == "fail" and "no webhook to 127.0.0.1:9999" in unknown["message"]
    assert no_resolved["result"] == "fail" and "does not send resolved" in no_resolved["message"]


def test_every_check_from_one_set_of_answers() -> None:
    answers = {
        "/api/v1/targets?state=active": targets(("monitor", "node", "up")),
        "/api/v1/rules": rules_answer([]),
        "/api/v1/status/runtimeinfo": RUNTIME,
        "/api/v1/alertmanagers": MANAGERS,
        "/-/healthy": (OK, "OK", None),
        "/api/v2/status": am_status(AM_CONFIG),
        "/healthz": (OK, {"status": "ok"}, None),
    }
    params = family_params(
        fam, {"prometheus": {"enabled": True, "expected_instances": ["monitor"]}}
    )[0]
    assert params is not None
    out = mon.verify_prometheus(params["prometheus"], lambda base, path: answers[path])
    assert [c["check_id"] for c in out["checks"]] == list(mon.CHECK_IDS)
    assert [c["result"] for c in out["checks"]] == ["pass", "pass", "pass", "pass"]


def test_off_the_monitors_every_check_is_not_applicable() -> None:
    params = family_params(fam, {"prometheus": {"enabled": False}})[0]
    assert params is not None
    out = fam.verify(None, params)
    assert [c["check_id"] for c in out["checks"]] == list(fam.CHECK_IDS)
    assert [c["result"] for c in out["checks"]] == ["not_applicable"] * 7


def test_the_family_interface_and_its_parameters() -> None:
    assert interface_problems(fam) == []
    assert fam.CHECK_IDS == fam.EXPORTER_IDS + mon.CHECK_IDS
    _, problems = family_params(
        fam, {"prometheus": {"enabled": True, "url": "ftp://x", "username": "u"}}
    )
    assert any("prometheus.url" in p for p in problems)
    assert any("password is required" in p for p in problems)


def test_groups_are_compared_whatever_order_the_api_lists_them_in() -> None:
    expected = [{**EXPECTED[0], "groups": [{"name": "z", "rules": ["A"]}, *EXPECTED[0]["groups"]]}]
    z = {"name": "z", "file": RULES_PATH, "rules": [{"name": "A", "health": "ok"}]}
    check = mon.check_rules(rules_answer([loaded(), z]), RUNTIME, DISK, expected)
    assert check["result"] == "pass", check


def test_a_target_not_scraped_yet_right_after_the_start_is_not_down() -> None:
    """Right after a deploy Prometheus has not scraped every target yet (health unknown): that
    passes while Prometheus has run for less than two scrape intervals, and fails after."""
    status, body, error = targets(("edge1", "node", "up"), ("monitor", "node", "unknown"))
    for t in body["data"]["activeTargets"]:
        t["scrapeInterval"] = "15s"
    runtime = (OK, {"status": "success", "data": {"startTime": "2026-12-06T19:00:00.5Z"}}, None)
    start = mon._parse_time("2026-12-06T19:00:00.5Z")
    assert start is not None
    fresh = mon.check_targets(
        (status, body, error), ["edge1", "monitor"], "node", runtime, start + 10
    )
    assert fresh["result"] == "pass", fresh
    assert fresh["observed"]["first_scrape_pending"] == ["monitor"]
    late = mon.check_targets(
        (status, body, error), ["edge1", "monitor"], "node", runtime, start + 60
    )
    assert late["result"] == "fail" and "monitor unknown" in late["message"]
    assert (
        mon.check_targets((status, body, error), ["edge1", "monitor"], "node")["result"] == "fail"
    )
    assert mon._duration("1m30s") == 90 and mon._duration("5s") == 5 and mon._duration("x") is None
