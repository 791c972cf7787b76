# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The MON family's node_exporter checks (plugins/module_utils/soc2_mon_family.py) and the
soc2_mon module, on outputs recorded in molecule/node_exporter_default from Debian 12's
prometheus-node-exporter 1.5.0 with the role's configuration (SOC2_MON_RECORD_DIR, see
molecule/node_exporter_default/verify.yml), and on the role's web config template rendered with
jinja2."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2
import pytest
import soc2_mon
import yaml
from ansible.module_utils import soc2_mon_family as fam
from module_runner import invoke

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "node_exporter"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mon"
CA = "/etc/ssl/soc2audit/ca-chain.pem"


def exporter(**over: Any) -> dict[str, Any]:
    params = {name: spec.get("default") for name, spec in fam.EXPORTER_SPEC.items()}
    return {**params, "enabled": True, **over}


def render(**over: Any) -> str:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["comment"] = lambda text: f"#\n# {text}\n#"
    env.filters["to_nice_json"] = lambda value, indent=4, sort_keys=True: __import__("json").dumps(
        value, indent=indent, sort_keys=sort_keys
    )
    text = (ROLE / "templates" / "etc" / "node_exporter" / "web-config.yml.j2").read_text()
    return env.from_string(text).render(
        **{**defaults, "ansible_managed": "Ansible managed", **over}
    )


# ---------------------------------------------------------------- web configuration
def test_recorded_web_config_requires_verified_client_certificates() -> None:
    config = fam.parse_web_config((FIXTURES / "web-config.txt").read_text())
    assert config["tls_server_config"]["key_file"] == "tls.key"
    assert fam.assess_web_config(config, CA) == []


def test_template_renders_what_the_verifier_accepts() -> None:
    config = fam.parse_web_config(render())
    assert fam.assess_web_config(config, CA) == []
    assert config == fam.parse_web_config((FIXTURES / "web-config.txt").read_text())
    sans = fam.parse_web_config(render(node_exporter_client_allowed_sans=["monitor"]))
    assert sans["tls_server_config"]["client_allowed_sans"] == ["monitor"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"client_auth_type": "NoClientCert"}, "client_auth_type is NoClientCert"),
        ({"client_auth_type": "VerifyClientCertIfGiven"}, "not RequireAndVerifyClientCert"),
        ({"client_ca_file": "/tmp/other-ca.pem"}, "client_ca_file is '/tmp/other-ca.pem'"),
        ({"min_version": "TLS11"}, "min_version is TLS11, below TLS12"),
    ],
)
def test_weakened_web_config_is_named(change: dict[str, str], problem: str) -> None:
    config = fam.parse_web_config((FIXTURES / "web-config.txt").read_text())
    config["tls_server_config"].update(change)
    assert any(problem in p for p in fam.assess_web_config(config, CA))


def test_plain_http_and_missing_config() -> None:
    assert "plain HTTP" in fam.assess_web_config({"basic_auth_users": {}}, CA)[0]
    assert fam.assess_web_config(None, CA) == ["no web configuration"]
    with pytest.raises(ValueError):
        fam.parse_web_config("tls_server_config:\n  cert_file: x\n")


# ---------------------------------------------------------------- unit and scrape
def test_recorded_unit_is_running_and_enabled() -> None:
    from ansible.module_utils.soc2_log_family import assess_unit, parse_systemctl_show

    (props,) = parse_systemctl_show((FIXTURES / "systemctl_show.txt").read_text())
    assert assess_unit(props)["problems"] == []
    assert props["Id"] == "prometheus-node-exporter.service"


def test_recorded_scrape_shows_the_textfile() -> None:
    facts = fam.scrape_facts((FIXTURES / "metrics.txt").read_text(), "soc2audit.prom")
    assert facts["textfile_scrape_error"] == 0.0
    assert facts["textfile_mtime"] is not None and facts["textfile_mtime"] > 1.7e9
    assert 'version="1.5.0"' in facts["build_info"]
    assert fam.scrape_facts("", "soc2audit.prom")["textfile_mtime"] is None


# ---------------------------------------------------------------- MON-02
OK = {
    "status": 200,
    "body": (FIXTURES / "metrics.txt").read_text(),
    "version": "TLSv1.3",
    "error": None,
}
REFUSED = {
    "status": None,
    "body": "",
    "version": None,
    "error": "SSLError: tlsv13 alert certificate required",
}


def test_mtls_pass_with_and_without_a_client_certificate() -> None:
    assert fam.assess_mtls([], OK, REFUSED)[0] == "pass"
    result, message, _ = fam.assess_mtls([], None, REFUSED)
    assert result == "pass" and "no client certificate" in message


def test_mtls_fails_when_a_client_without_certificate_is_served() -> None:
    result, message, observed = fam.assess_mtls([], OK, {**OK, "version": None})
    assert result == "fail" and "without a certificate got HTTP 200" in message
    assert observed["without_certificate"] == 200


def test_mtls_fails_when_our_certificate_is_not_served() -> None:
    result, message, _ = fam.assess_mtls(
        [], {**REFUSED, "error": "ConnectionRefusedError"}, REFUSED
    )
    assert result == "fail" and "was not served (ConnectionRefusedError)" in message
    result, message, _ = fam.assess_mtls([], {**OK, "body": "hello"}, REFUSED)
    assert result == "fail" and "not node_exporter's" in message


def test_probe_of_a_closed_port_is_no_answer(tmp_path: Path) -> None:
    out = fam.probe("127.0.0.1", 1, "", "")
    assert out["status"] is None and out["error"]


# ---------------------------------------------------------------- MON-03
def _textfile(tmp_path: Path, mode: int = 0o2775, age: float | None = 10.0) -> dict[str, Any]:
    d = tmp_path / "tf"
    d.mkdir()
    os.chmod(d, mode)
    prom = d / "soc2audit.prom"
    if age is not None:
        prom.write_text("x 1\n")
        os.utime(prom, (1000.0 - age, 1000.0 - age))
    return {
        "exp": exporter(textfile_dir=str(d), textfile_group="grp"),
        "dir_stat": os.stat(d),
        "file_stat": os.stat(prom) if age is not None else None,
    }


def test_textfile_in_order(tmp_path: Path) -> None:
    t = _textfile(tmp_path)
    result, _, observed = fam.assess_textfile(
        t["exp"],
        t["dir_stat"],
        "grp",
        t["file_stat"],
        {"textfile_scrape_error": 0.0, "textfile_mtime": 990.0},
        1000.0,
    )
    assert result == "pass" and observed["age_seconds"] == 10.0


@pytest.mark.parametrize(
    ("mode", "age", "group", "scraped", "problem"),
    [
        (0o2775, 7300.0, "grp", None, "s old, more than 7200 s"),
        (0o2775, None, "grp", None, "does not exist (no drift run has written it)"),
        (0o0755, 10.0, "grp", None, "mode is 0755, not 2775"),
        (0o2775, 10.0, "root", None, "group is root, not grp"),
        (
            0o2775,
            10.0,
            "grp",
            {"textfile_scrape_error": 1.0, "textfile_mtime": 1.0},
            "scrape_error 1",
        ),
        (
            0o2775,
            10.0,
            "grp",
            {"textfile_scrape_error": 0.0, "textfile_mtime": None},
            "does not serve",
        ),
    ],
)
def test_textfile_faults(
    tmp_path: Path, mode: int, age: float | None, group: str, scraped: Any, problem: str
) -> None:
    t = _textfile(tmp_path, mode, age)
    result, message, _ = fam.assess_textfile(
        t["exp"], t["dir_stat"], group, t["file_stat"], scraped, 1000.0
    )
    assert result == "fail" and problem in message


def test_textfile_directory_missing() -> None:
    result, message, _ = fam.assess_textfile(exporter(), None, None, None, None, 0.0)
    assert result == "fail" and "does not exist" in message


# ---------------------------------------------------------------- the module
def test_module_not_applicable_when_disabled(capsys: pytest.CaptureFixture[str]) -> None:
    rc, result = invoke(soc2_mon.main, {}, capsys)
    assert rc == 0 and not result["changed"]
    assert [c["check_id"] for c in result["checks"]] == list(fam.CHECK_IDS)
    assert {c["result"] for c in result["checks"]} == {"not_applicable"}


def test_module_rejects_bad_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    args = {
        "exporter": {
            "enabled": True,
            "port": 70000,
            "textfile_mode": "rwx",
            "client_cert_path": "/c",
            "client_key_path": "",
        }
    }
    rc, result = invoke(soc2_mon.main, args, capsys)
    assert rc == 1
    for part in ("port 70000", "textfile_mode 'rwx'", "go together"):
        assert part in result["msg"]


def test_verify_on_a_host_without_exporter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stopped = {
        "Id": "prometheus-node-exporter.service",
        "LoadState": "loaded",
        "ActiveState": "inactive",
        "SubState": "dead",
        "UnitFileState": "enabled",
    }
    monkeypatch.setattr(fam, "read_unit", lambda module, service: (stopped, None))
    exp = exporter(
        port=1, web_config_path=str(tmp_path / "absent.yml"), textfile_dir=str(tmp_path / "no")
    )
    out = fam.verify(None, {"exporter": exp, "prometheus": {"enabled": False}})
    assert [c["result"] for c in out["checks"]] == ["fail", "fail", "fail"] + ["not_applicable"] * 4
    assert "does not exist" in out["checks"][1]["message"]


def test_mon03_a_missing_drift_file_is_due_from_when_the_exporter_started(
    tmp_path: Path,
) -> None:
    """The first drift run after a deployment verifies before it writes its first file: not
    stale while node_exporter has served for less than the age limit, stale after it."""
    t = _textfile(tmp_path, age=None)
    exp, dir_stat, group = t["exp"], t["dir_stat"], "grp"
    limit = exp["max_metrics_age_seconds"]
    fresh = fam.assess_textfile(exp, dir_stat, group, None, None, 1000.0, limit / 2)
    assert fresh[0] == "pass", fresh
    assert fresh[2]["due_within_seconds"] == limit / 2
    late = fam.assess_textfile(exp, dir_stat, group, None, None, 1000.0, limit + 1)
    assert late[0] == "fail" and "does not exist" in late[1]
    unknown = fam.assess_textfile(exp, dir_stat, group, None, None, 1000.0, None)
    assert unknown[0] == "fail"


def test_serving_seconds_from_systemd_monotonic_timestamp() -> None:
    import time as _time

    entered = int((_time.monotonic() - 30) * 1e6)
    props = {"ActiveState": "active", "ActiveEnterTimestampMonotonic": str(entered)}
    got = fam.serving_seconds(props)
    assert got is not None and 29 < got < 40
    assert fam.serving_seconds({**props, "ActiveState": "inactive"}) is None
    assert fam.serving_seconds({"ActiveState": "active"}) is None
    assert fam.serving_seconds(None) is None
