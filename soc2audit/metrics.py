# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every metric the suite writes: name, HELP text, type and label names, in one place.

Three kinds:

* ``SUITE``: the families the control node derives from the merged results (check results, run
  facts, build info); soc2audit/openmetrics.py renders them.
* ``EVIDENCE_VERIFY``: the control node's own file from ``soc2audit evidence verify --metrics``.
* ``OBSERVATIONS``: numeric facts the verifiers report from the hosts. A verifier's observation
  carries only a stable key, its labels and its value (``{"key": "clock_error_bound",
  "labels": {}, "value": 0.0004}``); the key names its metric here. A new family that reports
  a number adds its key to this table (docs/drift.md lists the metrics for operators).

The textfile collector reads the Prometheus text format 0.0.4, so every family is a ``gauge``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One metric family of the textfile."""

    name: str
    help: str
    labels: tuple[str, ...] = ()
    type: str = "gauge"


def _table(*metrics: Metric) -> dict[str, Metric]:
    return {metric.name: metric for metric in metrics}


#: The suite's own families, by metric name.
SUITE: dict[str, Metric] = _table(
    Metric(
        "soc2audit_build_info",
        "Suite version and policy (catalog + waivers) hash behind these results, value 1",
        ("policy_sha256", "version"),
    ),
    Metric(
        "soc2audit_check_criterion_info",
        "SOC 2 Trust Services Criteria a check supports (mapping: primary or secondary)",
        ("check_id", "criterion", "mapping"),
    ),
    Metric(
        "soc2audit_check_drift_since_timestamp_seconds",
        "Start of the drift run that first saw the check's current drift (Unix time)",
        ("check_id",),
    ),
    Metric(
        "soc2audit_policy_result",
        "Result of a fleet policy (policies/*.rego) in the last drift run: StateSet, one series "
        "per result value, 1 for the current one",
        ("check_id", "result"),
    ),
    Metric(
        "soc2audit_policy_passed",
        "1 when the fleet policy passed in the last drift run, else 0",
        ("check_id",),
    ),
    Metric(
        "soc2audit_policy_items",
        "Items (hosts, waivers, runs) the fleet policy judged in the last drift run, by outcome "
        "(pass or fail): the policy's pass and fail counts",
        ("check_id", "outcome"),
    ),
    Metric(
        "soc2audit_policy_info",
        "Catalog metadata of a fleet policy, value 1",
        ("check_id", "severity", "title"),
    ),
    Metric(
        "soc2audit_policy_evaluation_seconds",
        "Seconds the policy engine took to evaluate every fleet policy in the last drift run",
        ("engine",),
    ),
    Metric(
        "soc2audit_policy_checks",
        "Number of fleet policies per result in the last drift run",
        ("result",),
    ),
    Metric(
        "soc2audit_check_info",
        "Catalog metadata of a check, value 1",
        ("check_id", "family", "severity", "title"),
    ),
    Metric(
        "soc2audit_check_last_run_timestamp_seconds",
        "End of the last drift run in which the check produced a result (Unix time)",
        ("check_id",),
    ),
    Metric(
        "soc2audit_check_passed",
        "1 when the check's last result is pass, else 0 (waived is 0)",
        ("check_id",),
    ),
    Metric(
        "soc2audit_check_result",
        "Result of the check in the last drift run (StateSet: 1 = current)",
        ("check_id", "result"),
    ),
    Metric(
        "soc2audit_run_checks",
        "Number of this host's checks per result in the last drift run",
        ("result",),
    ),
    Metric("soc2audit_run_duration_seconds", "Wall time of the last drift run"),
    Metric(
        "soc2audit_run_last_success_timestamp_seconds",
        "End of the last drift run in which this host's verifier reported (Unix time)",
    ),
    Metric(
        "soc2audit_waiver_expiry_timestamp_seconds",
        "First instant the waiver applied to the check no longer covers (Unix time)",
        ("check_id", "ticket"),
    ),
)

_NFT_DROPPED = "dropped by the default-deny rule of the soc2 nftables table since it was loaded"

#: Observation key (what a verifier reports) -> its metric.
OBSERVATIONS: dict[str, Metric] = {
    # TIME (plugins/module_utils/soc2_time_family.py)
    "clock_error_bound": Metric(
        "soc2audit_clock_error_bound_seconds",
        "chrony's bound on the system clock error: |offset| + dispersion + delay/2",
    ),
    # PKI (plugins/module_utils/soc2_pki_family.py)
    "certificate_expiry": Metric(
        "soc2audit_certificate_expiry_timestamp_seconds",
        "notAfter of the installed certificate (Unix time)",
        ("name", "path"),
    ),
    # NET (plugins/module_utils/soc2_nft_family.py)
    "nft_dropped_packets": Metric(
        "soc2audit_nft_dropped_packets", f"Packets {_NFT_DROPPED}", ("chain", "table")
    ),
    "nft_dropped_bytes": Metric(
        "soc2audit_nft_dropped_bytes", f"Bytes {_NFT_DROPPED}", ("chain", "table")
    ),
    # AUD (plugins/module_utils/soc2_auditd_family.py)
    "audit_enabled": Metric(
        "soc2audit_audit_enabled", "kernel audit enabled flag (0 off, 1 on, 2 immutable)"
    ),
    "audit_lost_events": Metric(
        "soc2audit_audit_lost_events",
        "audit records the kernel dropped since boot or the last reset",
    ),
    "audit_backlog": Metric("soc2audit_audit_backlog", "audit records waiting in the kernel queue"),
    "audit_backlog_limit": Metric(
        "soc2audit_audit_backlog_limit", "the kernel's audit backlog limit"
    ),
    "audit_rules_loaded": Metric("soc2audit_audit_rules_loaded", "audit rules in the kernel"),
    "audit_rules_expected": Metric(
        "soc2audit_audit_rules_expected", "audit rules the policy asks for on this host"
    ),
    "audit_log_free_bytes": Metric(
        "soc2audit_audit_log_free_bytes", "free bytes on the audit log file system"
    ),
    # LOG (plugins/module_utils/soc2_log_family.py), on the shipper
    "log_shipper_lag": Metric(
        "soc2audit_log_shipper_lag_bytes",
        "Bytes of the audit log beyond the shipper's read position (imfile state)",
        ("path",),
    ),
    "log_shipper_backlog_messages": Metric(
        "soc2audit_log_shipper_backlog_messages",
        "Messages waiting in the shipper's forwarding queue (latest impstats)",
    ),
    "log_shipper_backlog_bytes": Metric(
        "soc2audit_log_shipper_backlog_bytes",
        "Unsent bytes in the shipper's disk queue files (from the queue's .qi read position)",
    ),
    "log_shipper_discarded": Metric(
        "soc2audit_log_shipper_discarded_messages",
        "Messages the shipper discarded since it started (rsyslog: its forwarding queue; "
        "fluent-bit: records its outputs dropped)",
    ),
    "log_shipper_backlog_chunks": Metric(
        "soc2audit_log_shipper_backlog_chunks",
        "Chunks in fluent-bit's storage layer (/api/v1/storage), fluent_bit engine",
    ),
    "log_shipper_backlog_free_ratio": Metric(
        "soc2audit_log_shipper_backlog_free_ratio",
        "Free share of fluent-bit's storage.total_limit_size (lowest output), fluent_bit engine",
    ),
    # LOG (plugins/module_utils/soc2_log_family.py), on the aggregator
    "log_last_record": Metric(
        "soc2audit_log_last_record_timestamp_seconds",
        "Last write to the newest stored day file of a shipping host (Unix time)",
        ("source_host",),
    ),
    "log_store_tampered_files": Metric(
        "soc2audit_log_store_tampered_files",
        "Sealed log files that no longer match their .sha256, or .sha256 files without a file",
    ),
    "log_upload_overdue_files": Metric(
        "soc2audit_log_upload_overdue_files",
        "Sealed log files without an S3 upload record past the allowed delay (LOG-10)",
    ),
    "log_upload_last_success": Metric(
        "soc2audit_log_upload_last_success_timestamp_seconds",
        "Last run of the S3 uploader that uploaded everything sealed (Unix time)",
    ),
    "log_kafka_consumer_lag": Metric(
        "soc2audit_log_kafka_consumer_lag_messages",
        "Messages of the Kafka audit topic not yet committed by the archive consumer (LOG-12)",
        ("topic", "partition"),
    ),
    "log_kafka_archive_state_age": Metric(
        "soc2audit_log_kafka_archive_state_age_seconds",
        "Age of the Kafka archive consumer's state file at the drift run (LOG-12)",
    ),
    "log_kafka_producer_queue": Metric(
        "soc2audit_log_kafka_producer_queue_messages",
        "Messages in the aggregator's omkafka action queue, its disk part included (LOG-13)",
    ),
    "log_kafka_under_replicated_partitions": Metric(
        "soc2audit_log_kafka_under_replicated_partitions",
        "Partitions of the audit topic with fewer in-sync replicas than replicas (LOG-14)",
        ("topic",),
    ),
    "log_kafka_offline_partitions": Metric(
        "soc2audit_log_kafka_offline_partitions",
        "Partitions of the audit topic without a leader (LOG-14)",
        ("topic",),
    ),
    "log_kafka_below_min_isr_partitions": Metric(
        "soc2audit_log_kafka_below_min_isr_partitions",
        "Partitions of the audit topic with fewer in-sync replicas than its min.insync.replicas "
        "(LOG-14)",
        ("topic",),
    ),
    "log_kafka_topic_state_age": Metric(
        "soc2audit_log_kafka_topic_state_age_seconds",
        "Age of the broker's recorded audit topic state at the drift run (LOG-14)",
    ),
    # HOST, the patching part (plugins/module_utils/soc2_host_patching.py)
    "patching_pending_security_updates": Metric(
        "soc2audit_patching_pending_security_updates",
        "Security updates pending on the host, held ones included",
    ),
    "patching_oldest_pending_age": Metric(
        "soc2audit_patching_oldest_pending_security_update_age_seconds",
        "Time since the oldest pending security update was first seen (0 when none)",
    ),
    "patching_restart_pending_age": Metric(
        "soc2audit_patching_restart_pending_age_seconds",
        "Time since the oldest pending reboot or service restart was first seen (0 when none)",
    ),
    # HOST, the fim part (plugins/module_utils/soc2_host_fim.py)
    "fim_last_check": Metric(
        "soc2audit_fim_last_check_timestamp_seconds",
        "When the last AIDE check ran (Unix time)",
    ),
    "fim_unapproved_entries": Metric(
        "soc2audit_fim_unapproved_entries",
        "Entries the last AIDE check found added, removed or changed against the approved database",
        ("kind",),
    ),
}


#: ``soc2audit evidence verify --metrics FILE`` (the control node's own textfile; docs/evidence.md).
EVIDENCE_VERIFY: dict[str, Metric] = _table(
    Metric(
        "soc2audit_evidence_verify_ok",
        "1 when the last evidence verify found the chain and every evidence file intact, else 0",
    ),
    Metric(
        "soc2audit_evidence_verify_exit_code",
        "Exit status of the last evidence verify (docs/evidence.md lists them)",
    ),
    Metric(
        "soc2audit_evidence_verify_last_run_timestamp_seconds",
        "When the last evidence verify ran (Unix time)",
    ),
    Metric("soc2audit_evidence_verify_duration_seconds", "Wall time of the last evidence verify"),
    Metric(
        "soc2audit_evidence_verify_findings",
        "Findings of the last evidence verify per kind (errors only; pending bytes excluded)",
        ("kind",),
    ),
    Metric("soc2audit_evidence_verify_digests", "Digests in the chain at the last verify"),
    Metric(
        "soc2audit_evidence_verify_bytes_hashed",
        "Evidence bytes hashed by the last evidence verify",
    ),
    Metric(
        "soc2audit_evidence_verify_head_timestamp_seconds",
        "End of the interval the newest digest covers (Unix time)",
    ),
)


def all_metrics() -> dict[str, Metric]:
    """Every family a host's textfile can hold, by metric name (not EVIDENCE_VERIFY)."""
    return {**SUITE, **{m.name: m for m in OBSERVATIONS.values()}}
