# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for plugins/filter/fluent_bit.py and the fluent_bit role's templates.

fluent-bit cannot be installed here, so its configuration is tested without the binary: the
role's variables (defaults/main.yml, then vars/main.yml rendered in file order, as Ansible would)
go through the filter AND the role's real templates, rendered with jinja2 and Ansible's own core
filters; the YAML is parsed and every key and pitfall of the plan (docs/plans/log-pipeline.md
§4.3) is asserted, for the default settings and an alternative (target 5, TLS 1.3, extra file,
heartbeat excludes, explicit aggregator, other paths). Key names are checked against the allowed
set of each plugin, because before 5.0 `fluent-bit --dry-run` does not check them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import jinja2.nativetypes
import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import FilterModule as CoreFilters
from plugin_loader import load_plugin

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLE = REPO_ROOT / "roles" / "fluent_bit"

fb: ModuleType = load_plugin("plugins/filter/fluent_bit.py")
DEFAULTS: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
VARS_TEXT: dict[str, Any] = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())

LAB_GROUPS = {"aggregators": ["aggregator"], "edge": ["edge1", "edge2"]}
LAB_HOSTVARS = {"aggregator": {"ansible_host": "10.89.2.4"}, "edge1": {}, "edge2": {}}
FACTS = {"os_family": "Debian", "distribution": "Debian", "distribution_release": "bookworm"}

ALTERNATIVE: dict[str, Any] = {
    "fluent_bit_version_target": 5,
    "fluent_bit_tls_min_version": "TLSv1.3",
    "fluent_bit_aggregator_host": "logs.example.internal",
    "fluent_bit_aggregator_name": "logs.example.internal",
    "fluent_bit_aggregator_port": 16514,
    "fluent_bit_extra_files": [{"path": "/var/log/auth.log", "tag": "auth"}],
    "fluent_bit_heartbeat_excludes": [
        {"key": "audit_type", "regex": "^(CRED_REFR)$"},
        {"key": "log", "regex": 'comm="node_exporter"'},
    ],
    "fluent_bit_storage_path": "/srv/fluent-bit/buffer",
    "fluent_bit_db_path": "/srv/fluent-bit/db/tail-audit.db",
    "fluent_bit_storage_total_limit_size": "20G",
    "fluent_bit_max_message_size_bytes": 131072,
    "fluent_bit_syslog_max_size_bytes": 262144,
    "fluent_bit_tail_buffer_max_size": "2M",
    "fluent_bit_workers": 2,
    "fluent_bit_http_port": 2021,
    "fluent_bit_supplementary_groups": ["adm", "auditlog"],
}

# Keys each plugin accepts (components.md §1.2, §1.4, §1.6, §1.7: config maps of v4.2.8 plus
# the generic input/output properties). A key outside these is a typo fluent-bit 4 would only
# report at run time.
SERVICE_KEYS = {
    "flush", "grace", "daemon", "log_level", "log_file", "http_server", "http_listen",
    "http_port", "health_check", "hc_errors_count", "hc_retry_failure_count", "hc_period",
    "hot_reload", "storage.path", "storage.sync", "storage.checksum", "storage.metrics",
    "storage.backlog.mem_limit", "storage.max_chunks_up", "storage.backlog.flush_on_shutdown",
    "storage.keep.rejected", "storage.rejected.path",
}  # fmt: skip
V5_ONLY_SERVICE_KEYS = {
    "storage.backlog.flush_on_shutdown", "storage.keep.rejected", "storage.rejected.path",
}  # fmt: skip
TAIL_KEYS = {
    "name", "tag", "path", "db", "db.sync", "db.locking", "storage.type", "buffer_chunk_size",
    "buffer_max_size", "skip_long_lines", "rotate_wait", "refresh_interval", "read_from_head",
    "path_key", "offset_key", "key",
}  # fmt: skip
FILTER_KEYS = {
    "grep": {"name", "match", "logical_op", "exclude"},
    "parser": {"name", "match", "key_name", "parser", "preserve_key", "reserve_data"},
    "record_modifier": {"name", "match", "record"},
    "modify": {"name", "match", "copy"},
    "nest": {"name", "match", "operation", "wildcard", "nest_under", "remove_prefix"},
}
SYSLOG_KEYS = {
    "name", "match", "host", "port", "mode", "tls", "tls.verify", "tls.verify_hostname",
    "tls.vhost", "tls.ca_file", "tls.crt_file", "tls.key_file", "tls.min_version",
    "syslog_format", "syslog_maxsize", "syslog_hostname_key", "syslog_appname_key",
    "syslog_sd_key", "syslog_message_key", "syslog_facility_preset", "syslog_severity_preset",
    "retry_limit", "workers", "storage.total_limit_size",
}  # fmt: skip
PARSER_KEYS = {"name", "format", "regex", "time_key", "time_format", "time_keep", "types"}


# ---------------------------------------------------------------- rendering like Ansible


def _add_filters(env: jinja2.Environment) -> None:
    """Ansible's core filters the role uses (regex_replace, dirname, to_nice_yaml, ...) and the
    project's; jinja2's own builtins (default, map) stay, as in Ansible's templar."""
    for name, func in CoreFilters().filters().items():
        env.filters.setdefault(name, func)
    env.filters.update(fb.FilterModule().filters())


def _render_value(env: jinja2.Environment, value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        out = env.from_string(value).render(context)
        return out.strip() if isinstance(out, str) else out
    if isinstance(value, dict):
        return {k: _render_value(env, v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(env, v, context) for v in value]
    return value


def role_vars(
    overrides: Mapping[str, Any] | None = None,
    groups: Mapping[str, list[str]] | None = None,
    hostvars: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """defaults + overrides (inventory), then vars/main.yml rendered in file order."""
    env = jinja2.nativetypes.NativeEnvironment(undefined=jinja2.StrictUndefined)
    _add_filters(env)
    context: dict[str, Any] = {
        **DEFAULTS,
        **(overrides or {}),
        "groups": dict(LAB_GROUPS if groups is None else groups),
        "hostvars": dict(LAB_HOSTVARS if hostvars is None else hostvars),
        "ansible_facts": FACTS,
        "inventory_hostname": "edge1",
    }
    for name, value in VARS_TEXT.items():
        context[name] = _render_value(env, value, context)
    return context


def render(template: str, variables: Mapping[str, Any]) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(ROLE / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    _add_filters(env)
    return env.get_template(template).render({**variables, "ansible_managed": "Ansible managed"})


def rendered_config(overrides: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    text = render("etc/fluent-bit/fluent-bit.yaml.j2", role_vars(overrides))
    return text, yaml.safe_load(text)


@pytest.fixture(params=["default", "alternative"])
def variant(request: pytest.FixtureRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    overrides = {} if request.param == "default" else ALTERNATIVE
    settings = {**DEFAULTS, **overrides}
    return settings, rendered_config(overrides)[1]


# ---------------------------------------------------------------- the configuration


def test_file_starts_with_the_managed_header_and_parses_as_yaml() -> None:
    text, config = rendered_config()
    assert text.startswith("# Ansible managed\n")
    assert set(config) == {"service", "parsers", "pipeline"}
    assert set(config["pipeline"]) == {"inputs", "filters", "outputs"}


def test_output_is_deterministic_and_sorted() -> None:
    first, _ = rendered_config(ALTERNATIVE)
    second, _ = rendered_config(dict(reversed(list(ALTERNATIVE.items()))))
    assert first == second
    body = [line for line in first.splitlines() if not line.startswith("#")]
    top = [line.rstrip(":") for line in body if line and not line[0].isspace() and line[0] != "-"]
    assert top == sorted(top)
    # No folded long lines (the parser regex stays on one line).
    assert any(line.strip().startswith("regex: ") and "(?<message>" in line for line in body)


def test_tls_is_really_on_with_chain_and_name_checked(variant: Any) -> None:
    settings, config = variant
    (out,) = config["pipeline"]["outputs"]
    assert out["name"] == "syslog"
    # mode tls only selects a stream transport; tls on is what enables TLS in out_syslog.
    assert out["mode"] == "tls"
    assert out["tls"] is True
    assert out["tls.verify"] is True
    assert out["tls.verify_hostname"] is True
    expected_name = settings["fluent_bit_aggregator_name"] or "aggregator"
    assert out["tls.vhost"] == expected_name
    assert out["tls.ca_file"] == settings["fluent_bit_tls_ca_path"]
    assert out["tls.crt_file"] == settings["fluent_bit_tls_cert_path"]
    assert out["tls.key_file"] == "/run/credentials/fluent-bit.service/soc2-tls-key"
    assert out["tls.min_version"] == settings["fluent_bit_tls_min_version"]
    assert out["host"] == (settings["fluent_bit_aggregator_host"] or "10.89.2.4")
    assert out["port"] == settings["fluent_bit_aggregator_port"]


def test_no_truncation_no_discard(variant: Any) -> None:
    settings, config = variant
    (out,) = config["pipeline"]["outputs"]
    assert out["syslog_format"] == "rfc5424"
    assert out["syslog_maxsize"] > 2048
    assert out["syslog_maxsize"] >= settings["fluent_bit_max_message_size_bytes"] >= 65536
    assert str(out["retry_limit"]).lower() in {"no_limits", "false", "off"}
    assert out["storage.total_limit_size"] == settings["fluent_bit_storage_total_limit_size"]
    assert fb.size_bytes(out["storage.total_limit_size"]) > 0
    assert out["workers"] == settings["fluent_bit_workers"]
    assert out["syslog_message_key"] == "log"
    assert out["syslog_sd_key"] == "soc2@32473"
    assert out["syslog_hostname_key"] == "host"
    for tail in config["pipeline"]["inputs"]:
        assert tail["skip_long_lines"] is True
        assert (
            fb.size_bytes(tail["buffer_max_size"]) >= settings["fluent_bit_max_message_size_bytes"]
        )


def test_filesystem_storage_on_every_input(variant: Any) -> None:
    settings, config = variant
    service = config["service"]
    assert service["storage.path"] == settings["fluent_bit_storage_path"].rstrip("/") + "/"
    assert service["storage.sync"] == "full"
    assert service["storage.checksum"] is True
    assert service["storage.metrics"] is True
    inputs = config["pipeline"]["inputs"]
    assert len(inputs) == 1 + len(settings["fluent_bit_extra_files"])
    for tail in inputs:
        assert tail["name"] == "tail"
        assert tail["storage.type"] == "filesystem"
        assert tail["db"].startswith("/")
        assert tail["db.sync"] == "full"
        assert tail["path_key"] == "stream" and tail["offset_key"] == "offset"
    dbs = [tail["db"] for tail in inputs]
    assert len(set(dbs)) == len(dbs), "each tail needs a DB file of its own"
    assert inputs[0]["path"] == "/var/log/audit/audit.log"
    assert inputs[0]["db"] == settings["fluent_bit_db_path"]


def test_http_on_loopback_hot_reload_explicit_health(variant: Any) -> None:
    settings, config = variant
    service = config["service"]
    assert service["http_server"] is True
    assert service["http_listen"] == "127.0.0.1"
    assert service["http_port"] == settings["fluent_bit_http_port"]
    assert service["health_check"] is True
    assert "hot_reload" in service and service["hot_reload"] is False
    assert service["daemon"] is False
    assert service["flush"] > 0


def test_v5_keys_and_v2_health_only_for_target_5(variant: Any) -> None:
    settings, config = variant
    target = settings["fluent_bit_version_target"]
    present = V5_ONLY_SERVICE_KEYS & set(config["service"])
    assert present == (V5_ONLY_SERVICE_KEYS if target == 5 else set())
    endpoints = fb.endpoints(target, settings["fluent_bit_http_port"])
    assert endpoints["health"].startswith(f"http://127.0.0.1:{settings['fluent_bit_http_port']}/")
    assert endpoints["health"].endswith("/api/v2/health" if target == 5 else "/api/v1/health")
    assert "/api/v2/health" not in fb.endpoints(4)["health"]
    assert endpoints["metrics"].endswith("/api/v2/metrics/prometheus")


def test_every_key_is_one_the_plugin_knows(variant: Any) -> None:
    _, config = variant
    assert set(config["service"]) <= SERVICE_KEYS
    for parser in config["parsers"]:
        assert set(parser) <= PARSER_KEYS
    for tail in config["pipeline"]["inputs"]:
        assert set(tail) <= TAIL_KEYS
    for each in config["pipeline"]["filters"]:
        assert set(each) <= FILTER_KEYS[each["name"]], each
    for out in config["pipeline"]["outputs"]:
        assert set(out) <= SYSLOG_KEYS


def test_filters_add_the_record_metadata_and_drop_noise(variant: Any) -> None:
    settings, config = variant
    filters = config["pipeline"]["filters"]
    names = [f["name"] for f in filters]
    # parse first (audit_type exists for grep), then noise, then metadata, then the SD element.
    assert names[0] == "parser"
    assert names[-2:] == ["modify", "nest"]
    parser = filters[0]
    assert parser["match"] == "audit.log" and parser["key_name"] == "log"
    assert parser["preserve_key"] is True and parser["reserve_data"] is True
    greps = [f for f in filters if f["name"] == "grep"]
    excludes = settings["fluent_bit_heartbeat_excludes"]
    if excludes:
        (grep,) = greps
        assert names.index("grep") == 1
        assert grep["logical_op"] == "or"
        assert grep["exclude"] == sorted(f"{e['key']} {e['regex']}" for e in excludes)
    else:
        assert greps == []
    modifiers = {f["match"]: f["record"] for f in filters if f["name"] == "record_modifier"}
    assert modifiers["audit.log"] == ["host ${HOSTNAME}", "app_name auditd"]
    for extra in settings["fluent_bit_extra_files"]:
        assert modifiers[f"file.{extra['tag']}"][1] == f"app_name {extra['tag']}"
    nest = filters[-1]
    assert nest["nest_under"] == "soc2@32473" and nest["remove_prefix"] == "sd_"
    assert filters[-2]["copy"] == ["host sd_host", "stream sd_stream", "offset sd_off"]


AUDIT_LINES = [
    (
        "type=SYSCALL msg=audit(1764979200.123:4711): arch=c000003e syscall=257 success=yes "
        'exit=3 auid=1000 uid=0 key="soc2_identity"',
        {"audit_type": "SYSCALL", "audit_time": "1764979200.123", "audit_serial": "4711"},
    ),
    (
        "node=edge1 type=USER_LOGIN msg=audit(1764979201.000:12): pid=42 uid=0 auid=1000 "
        'msg=\'op=login acct="alice" res=success\'\x1dUID="root" AUID="alice"',
        {"node": "edge1", "audit_type": "USER_LOGIN", "audit_serial": "12"},
    ),
    ("type=PROCTITLE msg=audit(1.5:1):", {"audit_type": "PROCTITLE", "message": ""}),
]


@pytest.mark.parametrize(("line", "expected"), AUDIT_LINES)
def test_audit_parser_regex_matches_real_record_layouts(line: str, expected: dict) -> None:
    _, config = rendered_config()
    (parser,) = config["parsers"]
    assert parser["time_key"] == "audit_time" and parser["time_format"] == "%s.%L"
    python_regex = parser["regex"].replace("(?<", "(?P<")
    match = re.match(python_regex, line)
    assert match, line
    for key, value in expected.items():
        assert match.group(key) == value


def test_audit_parser_rejects_other_lines() -> None:
    python_regex = fb.AUDIT_REGEX.replace("(?<", "(?P<")
    assert not re.match(python_regex, "Dec  6 14:00:00 edge1 sshd[1]: Accepted publickey")


# ---------------------------------------------------------------- drop-in and sources


def test_dropin_runs_without_root_hardened_with_credentials(variant: Any) -> None:
    settings, _ = variant
    overrides = {} if settings == DEFAULTS else ALTERNATIVE
    text = render("etc/systemd/system/fluent-bit.service.d/10-soc2.conf.j2", role_vars(overrides))
    assert text.startswith("# Ansible managed\n")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines[0] == "[Service]"
    assignments: dict[str, list[str]] = {}
    for line in lines[1:]:
        key, _, value = line.partition("=")
        assignments.setdefault(key, []).append(value)
    assert assignments["ExecStart"] == [
        "",
        "/opt/fluent-bit/bin/fluent-bit -c /etc/fluent-bit/fluent-bit.yaml",
    ]
    (user,) = assignments["User"]
    assert user == settings["fluent_bit_user"] and user not in ("root", "0", "")
    assert assignments["SupplementaryGroups"] == [
        " ".join(settings["fluent_bit_supplementary_groups"])
    ]
    assert assignments["StateDirectory"] == ["fluent-bit"]
    assert assignments["LoadCredential"] == [f"soc2-tls-key:{settings['fluent_bit_tls_key_path']}"]
    rw = assignments["ReadWritePaths"][0].split()
    assert f"-{settings['fluent_bit_storage_path']}" in rw
    assert f"-{os.path.dirname(settings['fluent_bit_db_path'])}" in rw
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
        "Restart": "always",
    }.items():
        assert assignments[key] == [value], key


@pytest.mark.parametrize(
    ("overrides", "uri"),
    [
        ({}, "https://packages.fluentbit.io/debian/bookworm"),
        (
            {
                "fluent_bit_install_method": "mirror",
                "fluent_bit_mirror_url": "https://m.internal/fb/",
            },
            "https://m.internal/fb/debian/bookworm",
        ),
    ],
)
def test_sources_are_deb822_signed_by_the_pinned_keyring(overrides: dict, uri: str) -> None:
    variables = role_vars(overrides)
    text = render("etc/apt/sources.list.d/fluent-bit.sources.j2", variables)
    fields = dict(
        line.split(": ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert fields == {
        "Types": "deb",
        "URIs": uri,
        "Suites": "bookworm",
        "Components": "main",
        "Signed-By": "/usr/share/keyrings/fluentbit-keyring.asc",
    }
    assert "C3C0A28534B9293EAF51FABD9F9DDC083888C1CD" in text


def test_key_url_follows_the_install_method() -> None:
    assert role_vars()["_fluent_bit_key_url"] == "https://packages.fluentbit.io/fluentbit.key"
    mirror = role_vars(
        {"fluent_bit_install_method": "mirror", "fluent_bit_mirror_url": "https://m/x/"}
    )
    assert mirror["_fluent_bit_key_url"] == "https://m/x/fluentbit.key"


def test_validation_helper_checks_a_copy_named_yaml() -> None:
    text = render("usr/local/libexec/soc2audit/fluent-bit-validate.j2", role_vars())
    assert text.startswith("#!/bin/sh\n# Ansible managed\n")
    assert 'cp -- "$1" "$dir/fluent-bit.yaml"' in text
    assert '/opt/fluent-bit/bin/fluent-bit --dry-run -c "$dir/fluent-bit.yaml"' in text


def test_without_aggregators_the_output_host_is_empty_and_refused() -> None:
    variables = role_vars(groups={}, hostvars={})
    assert variables["_fluent_bit_params"]["aggregator_host"] == ""
    assert any("output host is empty" in p for p in fb.problems(variables["_fluent_bit_params"]))
    with pytest.raises(AnsibleFilterError, match="output host is empty"):
        fb.config(variables["_fluent_bit_params"])


# ---------------------------------------------------------------- preflight problems


def params(**changes: Any) -> dict[str, Any]:
    base = dict(role_vars()["_fluent_bit_params"])
    base.update(changes)
    return base


def test_defaults_have_no_problems() -> None:
    assert fb.problems(params()) == []
    assert fb.problems(dict(role_vars(ALTERNATIVE)["_fluent_bit_params"])) == []


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"install_method": "curl_pipe_sh"}, "fluent_bit_install_method is 'curl_pipe_sh'"),
        ({"key_fingerprint": "C3C0A285"}, "40 hex digits"),
        ({"key_fingerprint": "Z" * 40}, "40 hex digits"),
        ({"install_method": "mirror", "mirror_url": ""}, "fluent_bit_mirror_url"),
        ({"install_method": "package_path", "package_path": ""}, "does not name a .deb"),
        ({"install_method": "package_path", "package_path": "/tmp/fb.rpm"}, "does not name a .deb"),
        ({"version_target": 3}, "use 4 or 5"),
        ({"retry_limit": "10"}, "discards the chunk"),
        ({"retry_limit": "no_retries"}, "discards the chunk"),
        ({"syslog_max_size_bytes": 2048}, "must be above 2048"),
        ({"syslog_max_size_bytes": 32768}, "at least fluent_bit_max_message_size_bytes (65536)"),
        ({"buffer_max_size": "64k"}, "64k is 64000 bytes"),
        ({"storage_total_limit_size": "5 gigs"}, "fluent_bit_storage_total_limit_size"),
        ({"aggregator_host": ""}, "output host is empty"),
        ({"aggregator_name": " "}, "fluent_bit_aggregator_name"),
        ({"storage_path": "var/lib/fb"}, "fluent_bit_storage_path must be an absolute path"),
        ({"tls_key_path": ""}, "fluent_bit_tls_key_path must be an absolute path"),
        ({"user": "root"}, "non-root"),
        ({"extra_files": [{"path": "auth.log", "tag": "auth"}]}, "fluent_bit_extra_files[0]"),
        ({"extra_files": [{"path": "/var/log/x", "tag": "a b"}]}, "fluent_bit_extra_files[0]"),
        ({"heartbeat_excludes": [{"key": "log"}]}, "fluent_bit_heartbeat_excludes[0]"),
    ],
)
def test_each_bad_input_is_named(changes: dict[str, Any], needle: str) -> None:
    found = fb.problems(params(**changes))
    assert any(needle in p for p in found), found
    with pytest.raises(AnsibleFilterError):
        fb.config(params(**changes))


@pytest.mark.parametrize("value", ["no_limits", "False", "off", False])
def test_unlimited_retry_spellings(value: Any) -> None:
    assert fb.problems(params(retry_limit=value)) == []


def test_fingerprint_with_spaces_is_accepted() -> None:
    spaced = "C3C0 A285 34B9 293E AF51  FABD 9F9D DC08 3888 C1CD"
    assert fb.problems(params(key_fingerprint=spaced)) == []
    assert fb.fingerprint(spaced) == DEFAULTS["fluent_bit_repository_key_fingerprint"]


@pytest.mark.parametrize(
    ("text", "value"),
    [("64k", 64000), ("64K", 64000), ("1M", 1_000_000), ("5G", 5_000_000_000), (65536, 65536),
     ("2MB", 2_000_000), ("1.5M", 1_500_000)],
)  # fmt: skip
def test_sizes_are_decimal(text: Any, value: int) -> None:
    assert fb.size_bytes(text) == value


@pytest.mark.parametrize("text", ["", "five", "5T", True, "-1M"])
def test_bad_sizes(text: Any) -> None:
    with pytest.raises(AnsibleFilterError):
        fb.size_bytes(text)


# ---------------------------------------------------------------- OpenPGP fingerprints

GPG = shutil.which("gpg")


def _gpg(home: Path, *args: str) -> str:
    env = {**os.environ, "GNUPGHOME": str(home)}
    return subprocess.run(
        [GPG or "gpg", "--batch", "--no-tty", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def _new_key(home: Path, uid: str, algo: str) -> str:
    _gpg(home, "--passphrase", "", "--quick-gen-key", uid, algo, "sign", "1d")
    colons = _gpg(home, "--with-colons", "--fingerprint", uid)
    return next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:"))


@pytest.mark.skipif(GPG is None, reason="gpg is not installed on this control node")
def test_fingerprints_match_gpg(tmp_path: Path) -> None:
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    first = _new_key(home, "Release Key <rel@example.invalid>", "ed25519")
    second = _new_key(home, "Other Key <other@example.invalid>", "rsa2048")
    one = _gpg(home, "--armor", "--export", first)
    both = _gpg(home, "--armor", "--export", first, second)
    assert fb.openpgp_fingerprints(one) == [first]
    assert sorted(fb.openpgp_fingerprints(both)) == sorted([first, second])
    # The role's check: exactly the pinned key, nothing more.
    assert fb.openpgp_fingerprints(both) != [first]


@pytest.mark.parametrize(
    "text",
    [
        "not a key",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n!!!!\n-----END PGP PUBLIC KEY BLOCK-----\n",
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n",
    ],
)
def test_garbage_is_no_key(text: str) -> None:
    with pytest.raises(AnsibleFilterError):
        fb.openpgp_fingerprints(text)


# ---------------------------------------------------------------- role structure


def _tasks(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((ROLE / "tasks" / name).read_text())


def _module(task: dict[str, Any]) -> str:
    keys = set(task) - {
        "name", "when", "vars", "loop", "loop_control", "register", "check_mode", "tags",
        "changed_when", "failed_when", "notify", "ignore_errors", "no_log",
    }  # fmt: skip
    (module,) = keys
    return module


def test_preflight_only_reads() -> None:
    modules = {_module(task) for task in _tasks("preflight.yml")}
    assert modules <= {"ansible.builtin.assert", "ansible.builtin.stat", "ansible.builtin.getent"}
    for task in _tasks("preflight.yml"):
        if _module(task) != "ansible.builtin.assert":
            assert task.get("check_mode") is False, task["name"]  # reads run in check mode too


def test_main_runs_preflight_first_with_every_tag() -> None:
    steps = _tasks("main.yml")
    assert [s["ansible.builtin.import_tasks"] for s in steps] == [
        "preflight.yml",
        "install.yml",
        "configure.yml",
        "service.yml",
    ]
    assert set(steps[0]["tags"]) == {
        "fluent_bit", "fluent_bit_install", "fluent_bit_configure", "fluent_bit_run", "always",
    }  # fmt: skip
    for step, tag in zip(steps[1:], ("install", "configure", "run"), strict=True):
        assert step["tags"] == ["fluent_bit", f"fluent_bit_{tag}"]


def test_every_notify_names_a_handler() -> None:
    handlers = {h["name"] for h in yaml.safe_load((ROLE / "handlers" / "main.yml").read_text())}
    notified: set[str] = set()
    for path in (ROLE / "tasks").glob("*.yml"):
        for task in yaml.safe_load(path.read_text()) or []:
            value = task.get("notify", [])
            notified |= {value} if isinstance(value, str) else set(value)
    assert notified and notified <= handlers


def test_the_key_is_checked_before_it_is_written() -> None:
    names = [t["name"] for t in _tasks("key.yml")]
    modules = [_module(t) for t in _tasks("key.yml")]
    assert modules == ["ansible.builtin.uri", "ansible.builtin.assert", "ansible.builtin.copy"]
    assert "pinned" in names[1]
    install = [_module(t) for t in _tasks("install.yml")]
    # The sources (which make apt use the key) come after the key step.
    assert install.index("ansible.builtin.include_tasks") < install.index(
        "ansible.builtin.template"
    )
