# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters for the fluent_bit role: the whole fluent-bit YAML configuration as data, the checks
preflight runs on the role's variables, the HTTP endpoints per version, and the fingerprints of
an ASCII-armored OpenPGP key (the repository key is pinned before apt is told to trust it).

Kept free of Ansible state so tests/unit/test_filter_fluent_bit.py can drive them with plain
dicts and render the role's real template with jinja2.

Key names follow the fluent-bit YAML reference (service section, tail input, grep/modify/nest/
record_modifier/parser filters, syslog output, storage and TLS properties); which version has
which key is in ../shared/reference/components.md §1 and the role page (docs/roles/fluent_bit.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

# out_syslog's own default for RFC 5424 (syslog_conf.c): every longer message is cut, silently.
SYSLOG_DEFAULT_MAXSIZE = 2048
# What fluent-bit accepts as "retry forever" (src/flb_output.c); anything else is a bounded count.
UNLIMITED_RETRIES = frozenset({"no_limits", "false", "off"})
VERSION_TARGETS = (4, 5)
LOG_LEVELS = ("off", "error", "warn", "info", "debug", "trace")
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")
# fluent-bit's size units are decimal (administration/configuring-fluent-bit.md, "Unit sizes").
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgG][bB]?)?\s*$")
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3}
_FPR_RE = re.compile(r"^[0-9A-F]{40}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
# The audit record layout: optional node= prefix, type, msg=audit(EPOCH.MS:SERIAL). Not from
# fluent-bit (it ships no audit parser); checked with Python re in the unit tests.
AUDIT_REGEX = (
    r"^(?:node=(?<node>\S+) )?type=(?<audit_type>[A-Z_0-9]+) "
    r"msg=audit\((?<audit_time>[0-9]+\.[0-9]+):(?<audit_serial>[0-9]+)\): ?(?<message>.*)$"
)
AUDIT_PARSER = "soc2_auditd"
# The client key as the service sees it: systemd's LoadCredential copies the root-only key there
# for the unit's user (drop-in 10-soc2.conf), so the pki role's key stays 0600 root.
CREDENTIAL_KEY_FILE = "/run/credentials/fluent-bit.service/soc2-tls-key"


def size_bytes(value: Any) -> int:
    """Bytes of a fluent-bit size ("64k" = 64000, "5G" = 5e9, 65536 = 65536)."""
    if isinstance(value, bool):
        raise AnsibleFilterError(f"fluent_bit: {value!r} is not a size")
    match = _SIZE_RE.match(str(value))
    if not match:
        raise AnsibleFilterError(f"fluent_bit: {value!r} is not a size (digits, then k, M or G)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[(unit or "")[:1].lower()])


def _is_unlimited(retry_limit: Any) -> bool:
    if retry_limit is False:
        return True
    return str(retry_limit).strip().lower() in UNLIMITED_RETRIES


def _fingerprint(value: Any) -> str:
    return re.sub(r"\s+", "", str(value or "")).upper()


def problems(params: Mapping[str, Any]) -> list[str]:
    """Every reason the role's variables cannot make a safe shipper, one sentence each naming the
    variable and the fix. Empty when the configuration is acceptable."""
    out: list[str] = []
    method = params.get("install_method")
    if method not in ("repository", "mirror", "package_path"):
        out.append(
            f"fluent_bit_install_method is {method!r}; use repository (the official package "
            "repository), mirror (fluent_bit_mirror_url) or package_path (a local .deb)."
        )
    if method in ("repository", "mirror") and not _FPR_RE.match(
        _fingerprint(params.get("key_fingerprint"))
    ):
        out.append(
            "fluent_bit_repository_key_fingerprint must be the signing key's full fingerprint: "
            f"40 hex digits (spaces allowed); got {params.get('key_fingerprint')!r}."
        )
    if method == "mirror" and not re.match(r"^https?://\S+$", str(params.get("mirror_url") or "")):
        out.append(
            "fluent_bit_install_method is mirror but fluent_bit_mirror_url is not an http(s) URL "
            f"({params.get('mirror_url')!r}); give the mirror's base URL (the layout of the "
            "official repository: <url>/debian/<codename>)."
        )
    if method == "package_path":
        path = str(params.get("package_path") or "")
        if not path.endswith(".deb"):
            out.append(
                "fluent_bit_install_method is package_path but fluent_bit_package_path "
                f"({path!r}) does not name a .deb file on the control node."
            )
    if params.get("version_target") not in VERSION_TARGETS:
        out.append(
            f"fluent_bit_version_target is {params.get('version_target')!r}; use 4 or 5 "
            "(the major version of the fluent-bit you install)."
        )
    if not _is_unlimited(params.get("retry_limit")):
        out.append(
            f"fluent_bit_retry_limit is {params.get('retry_limit')!r}: after that many retries "
            "fluent-bit discards the chunk (audit records lost). Use no_limits."
        )
    required = int(params.get("max_message_size_bytes") or 0)
    try:
        maxsize = int(params.get("syslog_max_size_bytes") or 0)
    except (TypeError, ValueError):
        maxsize = 0
    if maxsize <= SYSLOG_DEFAULT_MAXSIZE or maxsize < required:
        out.append(
            f"fluent_bit_syslog_max_size_bytes is {params.get('syslog_max_size_bytes')!r}; it "
            f"must be above {SYSLOG_DEFAULT_MAXSIZE} (out_syslog cuts longer messages silently) "
            f"and at least fluent_bit_max_message_size_bytes ({required})."
        )
    for key, name in (
        ("buffer_max_size", "fluent_bit_tail_buffer_max_size"),
        ("buffer_chunk_size", "fluent_bit_tail_buffer_chunk_size"),
        ("storage_total_limit_size", "fluent_bit_storage_total_limit_size"),
        ("storage_backlog_mem_limit", "fluent_bit_storage_backlog_mem_limit"),
    ):
        try:
            size_bytes(params.get(key))
        except AnsibleFilterError as err:
            out.append(f"{name}: {err}")
    try:
        if size_bytes(params.get("buffer_max_size")) < required:
            out.append(
                f"fluent_bit_tail_buffer_max_size ({params.get('buffer_max_size')}) is below "
                f"fluent_bit_max_message_size_bytes ({required}): tail skips longer lines "
                "(sizes are decimal: 64k is 64000 bytes)."
            )
    except AnsibleFilterError:
        pass
    if not str(params.get("aggregator_host") or "").strip():
        out.append(
            "the output host is empty: set fluent_bit_aggregator_host, or put the aggregator in "
            f"the inventory group {params.get('aggregators_group', 'aggregators')!r}."
        )
    if not str(params.get("aggregator_name") or "").strip():
        out.append(
            "fluent_bit_aggregator_name (the name on the aggregator's certificate, checked with "
            "tls.verify_hostname) is empty."
        )
    for key, name in (
        ("storage_path", "fluent_bit_storage_path"),
        ("db_path", "fluent_bit_db_path"),
        ("audit_log_path", "fluent_bit_audit_log_path"),
        ("tls_ca_path", "fluent_bit_tls_ca_path"),
        ("tls_cert_path", "fluent_bit_tls_cert_path"),
        ("tls_key_path", "fluent_bit_tls_key_path"),
    ):
        if not str(params.get(key) or "").startswith("/"):
            out.append(f"{name} must be an absolute path; got {params.get(key)!r}.")
    if str(params.get("user") or "") in ("", "root") or params.get("user") == 0:
        out.append(
            "fluent_bit_user must be a non-root account: the shipper reads the audit log through "
            "fluent_bit_supplementary_groups (auditd's log_group) and its key via systemd "
            "LoadCredential."
        )
    for i, extra in enumerate(params.get("extra_files") or []):
        if not isinstance(extra, Mapping) or not str(extra.get("path", "")).startswith("/"):
            out.append(f"fluent_bit_extra_files[{i}] needs an absolute 'path'; got {extra!r}.")
        elif not _TAG_RE.match(str(extra.get("tag", ""))):
            out.append(
                f"fluent_bit_extra_files[{i}] needs a 'tag' of [A-Za-z0-9_.-]; got {extra!r}."
            )
    for i, rule in enumerate(params.get("heartbeat_excludes") or []):
        if not isinstance(rule, Mapping) or not rule.get("key") or not rule.get("regex"):
            out.append(f"fluent_bit_heartbeat_excludes[{i}] needs 'key' and 'regex'; got {rule!r}.")
        elif re.search(r"\s", str(rule["key"])):
            out.append(f"fluent_bit_heartbeat_excludes[{i}]: the key may not contain spaces.")
    return out


def _tail(path: str, tag: str, db: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": "tail",
        "tag": tag,
        "path": path,
        "db": db,
        "db.sync": "full",
        # Off, so the verifier can read the read position (in_tail_files) while fluent-bit runs.
        "db.locking": False,
        "storage.type": "filesystem",
        "buffer_chunk_size": str(params["buffer_chunk_size"]),
        "buffer_max_size": str(params["buffer_max_size"]),
        # A line above buffer_max_size would otherwise stop the file being followed.
        "skip_long_lines": True,
        "rotate_wait": int(params.get("rotate_wait_seconds", 30)),
        "refresh_interval": int(params.get("refresh_interval_seconds", 10)),
        "read_from_head": True,
        "path_key": "stream",
        "offset_key": "offset",
        "key": "log",
    }


def _db_for(db_path: str, tag: str) -> str:
    base = db_path.rsplit("/", 1)[0]
    return f"{base}/tail-{tag}.db"


def config(params: Mapping[str, Any]) -> dict[str, Any]:
    """The fluent-bit YAML configuration (a dict; the template dumps it with sorted keys)."""
    found = problems(params)
    if found:
        raise AnsibleFilterError("fluent_bit: " + " ".join(found))
    target = int(params["version_target"])
    sd_id = str(params.get("sd_id", "soc2@32473"))
    tag = str(params.get("tag", "audit.log"))
    match = "*"

    service: dict[str, Any] = {
        "flush": params.get("flush_seconds", 1),
        "grace": int(params.get("grace_seconds", 5)),
        "daemon": False,
        "log_level": params.get("log_level", "info"),
        "http_server": True,
        "http_listen": "127.0.0.1",
        "http_port": int(params["http_port"]),
        "health_check": True,
        "hc_errors_count": int(params.get("hc_errors_count", 5)),
        "hc_retry_failure_count": int(params.get("hc_retry_failure_count", 5)),
        "hc_period": int(params.get("hc_period_seconds", 60)),
        # The documented default is on, the source default is off: say which.
        "hot_reload": False,
        "storage.path": str(params["storage_path"]).rstrip("/") + "/",
        "storage.sync": "full",
        "storage.checksum": True,
        "storage.metrics": True,
        "storage.backlog.mem_limit": str(params["storage_backlog_mem_limit"]),
        "storage.max_chunks_up": int(params.get("storage_max_chunks_up", 128)),
    }
    if target >= 5:
        # 4.1+/4.2+ keys, emitted only where every release of the target has them.
        service["storage.backlog.flush_on_shutdown"] = True
        service["storage.keep.rejected"] = True
        service["storage.rejected.path"] = "rejected"

    inputs = [_tail(str(params["audit_log_path"]), tag, str(params["db_path"]), params)]
    for extra in sorted(params.get("extra_files") or [], key=lambda e: str(e["tag"])):
        extra_tag = f"file.{extra['tag']}"
        inputs.append(
            _tail(str(extra["path"]), extra_tag, _db_for(str(params["db_path"]), extra_tag), params)
        )

    filters: list[dict[str, Any]] = [
        # The audit fields beside the raw line (kept as `log`, the RFC 5424 MSG); the record's
        # time becomes the audit event time.
        {
            "name": "parser",
            "match": tag,
            "key_name": "log",
            "parser": AUDIT_PARSER,
            "preserve_key": True,
            "reserve_data": True,
        },
    ]
    # Heartbeat noise dropped at the source, after the parser so audit_type can be matched.
    excludes = [f"{r['key']} {r['regex']}" for r in params.get("heartbeat_excludes") or []]
    if excludes:
        filters.append(
            {"name": "grep", "match": match, "logical_op": "or", "exclude": sorted(excludes)}
        )
    # Claimed host name (fluent-bit sets HOSTNAME from gethostname() when the unit has none; the
    # aggregator stores the certificate name as the host and keeps this one as host_claimed) and
    # the RFC 5424 APP-NAME of each stream.
    for each in inputs:
        app = "auditd" if each["tag"] == tag else each["tag"].removeprefix("file.")
        filters.append(
            {
                "name": "record_modifier",
                "match": each["tag"],
                "record": ["host ${HOSTNAME}", f"app_name {app}"],
            }
        )
    filters += [
        # Structured data [soc2@32473 host=.. stream=.. off=..]: copies nested under the SD-ID.
        {
            "name": "modify",
            "match": match,
            "copy": ["host sd_host", "stream sd_stream", "offset sd_off"],
        },
        {
            "name": "nest",
            "match": match,
            "operation": "nest",
            "wildcard": ["sd_*"],
            "nest_under": sd_id,
            "remove_prefix": "sd_",
        },
    ]

    output = {
        "name": "syslog",
        "match": match,
        "host": str(params["aggregator_host"]),
        "port": int(params["aggregator_port"]),
        # mode tls only picks a stream transport; `tls: on` is what turns TLS on.
        "mode": "tls",
        "tls": True,
        "tls.verify": True,
        "tls.verify_hostname": True,
        "tls.vhost": str(params["aggregator_name"]),
        "tls.ca_file": str(params["tls_ca_path"]),
        "tls.crt_file": str(params["tls_cert_path"]),
        "tls.key_file": CREDENTIAL_KEY_FILE,
        "tls.min_version": str(params.get("tls_min_version", "TLSv1.2")),
        "syslog_format": "rfc5424",
        "syslog_maxsize": int(params["syslog_max_size_bytes"]),
        "syslog_hostname_key": "host",
        "syslog_appname_key": "app_name",
        "syslog_sd_key": sd_id,
        "syslog_message_key": "log",
        "syslog_facility_preset": int(params.get("syslog_facility", 13)),
        "syslog_severity_preset": 6,
        "retry_limit": "no_limits",
        "workers": int(params.get("workers", 1)),
        "storage.total_limit_size": str(params["storage_total_limit_size"]),
    }

    return {
        "service": service,
        "parsers": [
            {
                "name": AUDIT_PARSER,
                "format": "regex",
                "regex": AUDIT_REGEX,
                "time_key": "audit_time",
                "time_format": "%s.%L",
                "time_keep": True,
                "types": "audit_serial:integer",
            }
        ],
        "pipeline": {"inputs": inputs, "filters": filters, "outputs": [output]},
    }


def endpoints(version_target: Any, port: Any = 2020) -> dict[str, str]:
    """The local HTTP endpoints to probe: /api/v2/health exists only from fluent-bit 5.0."""
    base = f"http://127.0.0.1:{int(port)}"
    health = "/api/v2/health" if int(version_target) >= 5 else "/api/v1/health"
    return {
        "health": base + health,
        "metrics": base + "/api/v2/metrics/prometheus",
        "storage": base + "/api/v1/storage",
    }


# ---------------------------------------------------------------- OpenPGP key pinning


def _dearmor(armored: str) -> bytes:
    lines = [line.strip() for line in str(armored).splitlines()]
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP"))
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("-----END PGP"))
    except StopIteration as err:
        raise AnsibleFilterError("fluent_bit: not an ASCII-armored OpenPGP key") from err
    body = lines[start + 1 : end]
    if "" in body:  # armor headers end at the first empty line
        body = body[body.index("") + 1 :]
    data = [line for line in body if line and not line.startswith("=")]
    try:
        return base64.b64decode("".join(data), validate=True)
    except (binascii.Error, ValueError) as err:
        raise AnsibleFilterError(f"fluent_bit: bad armor: {err}") from err


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(data):
        head = data[i]
        if not head & 0x80:
            raise AnsibleFilterError("fluent_bit: not an OpenPGP packet stream")
        if head & 0x40:  # new format
            tag = head & 0x3F
            first = data[i + 1]
            if first < 192:
                length, i = first, i + 2
            elif first < 224:
                length, i = ((first - 192) << 8) + data[i + 2] + 192, i + 3
            elif first == 255:
                length, i = int.from_bytes(data[i + 2 : i + 6], "big"), i + 6
            else:
                raise AnsibleFilterError("fluent_bit: partial packet lengths are not keys")
        else:  # old format
            tag = (head >> 2) & 0x0F
            kind = head & 0x03
            size = {0: 1, 1: 2, 2: 4}.get(kind)
            if size is None:
                raise AnsibleFilterError("fluent_bit: indeterminate packet length")
            length = int.from_bytes(data[i + 1 : i + 1 + size], "big")
            i += 1 + size
        if i + length > len(data):
            raise AnsibleFilterError("fluent_bit: truncated OpenPGP packet")
        out.append((tag, data[i : i + length]))
        i += length
    return out


def openpgp_fingerprints(armored: str) -> list[str]:
    """Fingerprints (upper-case hex) of the primary keys in an ASCII-armored OpenPGP public key
    block, in order. Only v4 keys (SHA-1 over 0x99, length, body; RFC 4880 §12.2)."""
    out: list[str] = []
    for tag, body in _packets(_dearmor(armored)):
        if tag != 6:  # public-key packet (subkeys are tag 14)
            continue
        if not body or body[0] != 4:
            raise AnsibleFilterError(f"fluent_bit: key version {body[:1].hex()} is not v4")
        digest = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body, usedforsecurity=False)
        out.append(digest.hexdigest().upper())
    return out


def fingerprint(value: Any) -> str:
    """A fingerprint as written by people ("C3C0 A285 ...") in the form compared: 40 hex, upper."""
    return _fingerprint(value)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "soc2audit_fluent_bit_config": config,
            "soc2audit_fluent_bit_problems": problems,
            "soc2audit_fluent_bit_endpoints": endpoints,
            "soc2audit_fluent_bit_size_bytes": size_bytes,
            "soc2audit_openpgp_fingerprints": openpgp_fingerprints,
            "soc2audit_openpgp_fingerprint": fingerprint,
        }
