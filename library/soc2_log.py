#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_log: read-only verification of the edge log shipper (LOG-01 .. LOG-05)
and the log aggregator (LOG-06 .. LOG-11)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_log
short_description: Verify the edge log shipper (LOG-01 to 05) and the aggregator (LOG-06 to 11)
description:
  - "Shipper (rsyslog engine), with one C(systemctl show) and otherwise in Python: the unit's
    state, rsyslogd's ESTABLISHED sessions (C(/proc/net/tcp), C(tcp6) joined with the socket
    inodes of every C(rsyslogd) process), the rendered rsyslog configuration, imfile's state
    file for the audit log's current inode (C(imfile-state:<inode>[:<file id>]) in
    O(shipper.work_dir)), the disk queue's C(.qi) and files, and the newest impstats objects
    of the forwarding action and its queue (the tail of O(shipper.stats_file))."
  - "C(LOG-01): the unit O(shipper.service) is loaded, active and enabled."
  - "C(LOG-02): rsyslogd holds an ESTABLISHED TCP session to O(shipper.aggregator_host) (its
    resolved addresses) on O(shipper.aggregator_port), and the omfwd action
    O(shipper.action_name) forwards there with C(StreamDriverMode) 1, C(x509/name) with
    O(shipper.aggregator_name) as the permitted peer, octet-counted framing, a Disk queue and
    C(action.resumeRetryCount) -1."
  - "C(LOG-03): the audit log's size minus imfile's read offset is at most
    O(shipper.max_lag_bytes) (no state file: the lag is the whole file)."
  - "C(LOG-04): the forwarding queue's C(size) (plus its C([DA]) part) is at most
    O(shipper.max_backlog_messages) and its unsent disk bytes under 80 % of
    C(queue.maxDiskSpace). impstats older than three O(shipper.stats_interval_seconds) is an
    V(error)."
  - "C(LOG-05): C(discarded.full), C(discarded.nf) and the action's C(failed) are 0 and the
    global C(maxMessageSize) is at least O(shipper.max_message_size_bytes)."
  - "fluent_bit engine (O(shipper.engine)): C(LOG-01) the unit; C(LOG-02) a C(fluent-bit)
    process's ESTABLISHED session to the aggregator and the first output of its YAML
    configuration (syslog, C(tls), C(tls.verify), C(tls.verify_hostname) on, C(tls.vhost) the
    aggregator's name, C(retry_limit) no_limits); C(LOG-03) the lag behind the tail input's
    C(offset) in the position DB O(shipper.db_path); C(LOG-04) C(/api/v1/storage) and every
    output's C(fluentbit_output_chunk_available_capacity_percent) at least
    O(shipper.min_free_capacity_percent); C(LOG-05) C(fluentbit_output_dropped_records_total)
    and C(fluentbit_output_retries_failed_total) 0 and C(syslog_maxsize) at least
    O(shipper.max_message_size_bytes). The HTTP server on 127.0.0.1:O(shipper.http_port)."
  - The shipper checks are V(not_applicable) when O(shipper.enabled) is V(false).
  - Aggregator, without running commands, rsyslogd's listening sockets, the rendered
    configuration, the store's day files with their inode flags (C(FS_IOC_GETFLAGS)), their
    C(.sha256) files, the store writer's C(stats.json) and the S3 uploader's state file.
  - Returns one result per check id, always all of them (C(LOG-01) .. C(LOG-14)), plus
    the facts it read. The aggregator's are V(not_applicable) when O(aggregator.enabled) is
    V(false).
  - "C(LOG-06): rsyslogd listens on every peer's port (on O(aggregator.listen_address)), the
    configuration gives each of those inputs TLS (driver mode 1) with C(x509/name) permitting
    exactly that peer's name, and rsyslogd listens on no other TCP or UDP socket than the
    O(aggregator.plain_listeners)."
  - "C(LOG-07): the newest day file of every peer was written within
    O(aggregator.max_silence_seconds)."
  - "C(LOG-08): active day files are append-only (C(+a)); sealed files and their C(.sha256)
    are immutable (C(+i))."
  - "C(LOG-09): every file sealed within O(aggregator.verify_hash_days) matches its
    C(.sha256); no C(.sha256) without its file; no past day's file left unsealed longer than
    O(aggregator.max_seal_delay_seconds) after its UTC day ended."
  - "C(LOG-10): from the uploader's state file (O(aggregator.upload_state_path), no network
    call), every file sealed more than O(aggregator.upload_max_delay_seconds) ago has an upload
    record, and every record of a sealed file carries the seal's SHA-256, COMPLIANCE mode, a
    version id and a retain-until of at least the sealing time plus
    O(aggregator.review_period_days). V(not_applicable) when O(aggregator.upload_enabled) is
    V(false)."
  - "C(LOG-11): the writer counted no record whose claimed host differs from its certificate
    identity and no quarantined message, today or yesterday (UTC)."
  - "C(LOG-12): with the Kafka tier's archive consumer on this host
    (O(aggregator.kafka_archive_enabled)), its state file (O(aggregator.kafka_archive_state_path),
    no network call) is at most O(aggregator.kafka_max_state_age_seconds) old, the lag summed
    over the topic's partitions (high watermark minus committed offset) is at most
    O(aggregator.kafka_max_lag_messages), and no store error was counted.
    V(not_applicable) otherwise."
  - "C(LOG-13): with Kafka forwarding on this aggregator (O(aggregator.kafka_producer_enabled)),
    the omkafka action's queue (O(aggregator.kafka_action_name), its Disk part included) holds
    at most O(aggregator.kafka_max_queue_messages) messages, from the newest objects of
    rsyslogd's impstats JSON log (O(aggregator.kafka_stats_file), at most three
    O(aggregator.kafka_stats_interval_seconds) old). V(not_applicable) otherwise."
  - "C(LOG-14): on a Kafka broker (O(broker.enabled)), from the state file of
    C(soc2-kafka-topic-state) (O(broker.state_path): the audit topic's TopicCommand
    C(--describe), written on a timer; no JVM and no network call here), at most
    O(broker.max_state_age_seconds) old, every partition of O(broker.topic) has a leader, all
    its replicas in sync, and at least the topic's C(min.insync.replicas) in sync.
    V(not_applicable) on other hosts."
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
requirements:
  - Linux (C(/proc), C(FS_IOC_GETFLAGS), systemd for C(LOG-01)); the shipper converged by the
    log_shipper role, the aggregator by the log_aggregator role
options:
  shipper:
    description:
      - The edge shipper's settings (the log_shipper role's C(_log_shipper_verify_params.shipper)).
    type: dict
    suboptions:
      enabled:
        description:
          - Whether this host is a log shipper; V(false) makes C(LOG-01) .. C(LOG-05)
            V(not_applicable).
        type: bool
        default: false
      engine:
        description:
          - The shipper engine; the checks are built for V(rsyslog) only.
        type: str
        choices: [rsyslog, fluent_bit]
        default: rsyslog
      transport:
        description:
          - How the rsyslog engine forwards, which sets what LOG-02 expects of the action named
            O(shipper.action_name). V(relp), an C(omprog) action running relp-forward (the
            acknowledged RELP client) with C(confirmMessages) on; V(tcp), C(omfwd) over TLS with
            octet-counted framing.
        type: str
        choices: [relp, tcp]
        default: relp
      service:
        description:
          - The shipper's systemd unit (C(.service) is added when no suffix is given).
        type: str
        default: rsyslog
      config_path:
        description:
          - The rendered rsyslog configuration.
        type: path
        default: /etc/rsyslog.conf
      work_dir:
        description:
          - rsyslog's C(workDirectory) (imfile state files, disk queue files).
        type: path
        default: /var/spool/rsyslog
      audit_log_path:
        description:
          - The shipped audit log.
        type: path
        default: /var/log/audit/audit.log
      stats_file:
        description:
          - impstats' C(log.file) (JSON objects, one per line after a ctime prefix).
        type: path
        default: /var/lib/soc2audit/log-shipper/impstats.json
      stats_interval_seconds:
        description:
          - impstats' interval; the file is stale after three intervals.
        type: int
        default: 60
      action_name:
        description:
          - Name of the omfwd action; impstats names its queue C(<name> queue).
        type: str
        default: soc2_forward
      queue_name:
        description:
          - The action queue's C(queue.filename) (its C(.qi) and numbered files).
        type: str
        default: soc2_ship
      aggregator_host:
        description:
          - Address or name the shipper dials.
        type: str
        default: ""
      aggregator_port:
        description:
          - Port the shipper dials.
        type: int
        default: 0
      aggregator_name:
        description:
          - The aggregator's certificate name, the one permitted peer ('' accepts any non-empty
            permitted peer).
        type: str
        default: ""
      max_message_size_bytes:
        description:
          - Least C(maxMessageSize) the configuration must set (C(LOG-05)).
        type: int
        default: 65536
      max_lag_bytes:
        description:
          - Largest allowed read position lag (C(LOG-03)).
        type: int
        default: 1048576
      max_backlog_messages:
        description:
          - Largest allowed forwarding queue size (C(LOG-04)).
        type: int
        default: 10000
      proc_root:
        description:
          - Where procfs is mounted (tests point it elsewhere).
        type: path
        default: /proc
      http_port:
        description:
          - fluent_bit engine, the local HTTP server's port (C(/api/v1/storage),
            C(/api/v2/metrics/prometheus) on 127.0.0.1).
        type: int
        default: 2020
      db_path:
        description:
          - fluent_bit engine, the tail input's position DB (sqlite, table C(in_tail_files)).
        type: path
        default: /var/lib/fluent-bit/tail-audit.db
      min_free_capacity_percent:
        description:
          - fluent_bit engine, least free share of each output's C(storage.total_limit_size)
            (C(fluentbit_output_chunk_available_capacity_percent), C(LOG-04)).
        type: int
        default: 20
      http_timeout:
        description:
          - fluent_bit engine, seconds to wait for its HTTP server.
        type: float
        default: 3.0
  aggregator:
    description:
      - The aggregator's settings (the role's C(_log_aggregator_verify_params.aggregator)).
    type: dict
    suboptions:
      enabled:
        description:
          - Whether this host is a log aggregator; V(false) makes every check
            V(not_applicable).
        type: bool
        default: false
      config_path:
        description:
          - The rendered rsyslog configuration.
        type: path
        default: /etc/rsyslog.conf
      storage_root:
        description:
          - Root of the per-host per-day record files.
        type: path
        default: /srv/soc2audit/logs
      state_dir:
        description:
          - The store writer's state directory (C(stats.json), C(index.sqlite)).
        type: path
        default: /var/lib/soc2audit/log-store
      peers:
        description:
          - The shipping hosts' certificate names and their listener ports.
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description:
              - Certificate name the peer presents.
            type: str
            required: true
          port:
            description:
              - TCP port of the peer's TLS listener.
            type: int
            required: true
          relp_port:
            description:
              - TCP port of the peer's RELP-over-TLS listener (imrelp), when the aggregator opens
                one; LOG-06 then expects it too.
            type: int
      listen_address:
        description:
          - Address the TLS listeners bind to; empty means every address.
        type: str
        default: ""
      plain_listeners:
        description:
          - Plain-text listeners that are allowed (and expected).
        type: list
        elements: dict
        default: []
        suboptions:
          address:
            description:
              - Bound address.
            type: str
            required: true
          port:
            description:
              - Port.
            type: int
            required: true
          protocol:
            description:
              - Transport.
            type: str
            choices: [tcp, udp]
            default: tcp
      max_silence_seconds:
        description:
          - Longest time without a record from a peer (C(LOG-07)).
        type: int
        default: 900
      verify_hash_days:
        description:
          - Files sealed within this many days are re-hashed in full (C(LOG-09)).
        type: int
        default: 2
      max_seal_delay_seconds:
        description:
          - Longest time after its UTC day ended that a day file may stay unsealed (C(LOG-09)).
        type: int
        default: 7200
      upload_enabled:
        description:
          - Whether the S3 Object Lock upload is on; V(false) makes C(LOG-10) V(not_applicable).
        type: bool
        default: false
      upload_state_path:
        description:
          - The uploader's (C(log-upload)) state file, read for C(LOG-10).
        type: path
        default: /var/lib/soc2audit/log-store/upload-state.json
      upload_max_delay_seconds:
        description:
          - Longest time after sealing that a sealed file may lack an upload record (C(LOG-10)).
        type: int
        default: 7200
      review_period_days:
        description:
          - The review period; each upload record's retain-until must be at least the file's
            sealing time plus this many days (C(LOG-10)).
        type: int
        default: 365
      proc_root:
        description:
          - Where procfs is mounted (tests point it elsewhere).
        type: path
        default: /proc
      kafka_archive_enabled:
        description:
          - The Kafka tier's archive consumer (C(log-kafka-archive)) runs on this host (C(LOG-12)).
        type: bool
        default: false
      kafka_archive_state_path:
        description:
          - The archive consumer's state file, read for C(LOG-12).
        type: path
        default: /var/lib/soc2audit/log-store/kafka-archive.json
      kafka_max_lag_messages:
        description:
          - Most messages the archive consumer may be behind the topic, summed over its
            partitions (C(LOG-12)).
        type: int
        default: 10000
      kafka_max_state_age_seconds:
        description:
          - Oldest the consumer's state file may be (it is rewritten every 10 s while it
            runs) (C(LOG-12)).
        type: int
        default: 300
      kafka_producer_enabled:
        description:
          - This aggregator forwards to Kafka with omkafka (C(LOG-13)).
        type: bool
        default: false
      kafka_stats_file:
        description:
          - rsyslogd's impstats JSON log on the aggregator, read for C(LOG-13).
        type: path
        default: /var/lib/soc2audit/log-store/impstats.json
      kafka_stats_interval_seconds:
        description:
          - impstats' interval; the file is stale after three of them (C(LOG-13)).
        type: int
        default: 60
      kafka_action_name:
        description:
          - The omkafka action's name (impstats names its queue C(<name> queue)) (C(LOG-13)).
        type: str
        default: soc2_kafka
      kafka_max_queue_messages:
        description:
          - Most messages the omkafka action's queue may hold (C(LOG-13)).
        type: int
        default: 10000
  broker:
    description:
      - The Kafka tier's broker part (the kafka role's C(_kafka_verify_params.broker)): C(LOG-14).
    type: dict
    suboptions:
      enabled:
        description:
          - This host is a broker of the Kafka tier (the kafka role applies to it).
        type: bool
        default: false
      state_path:
        description:
          - The state file C(soc2-kafka-topic-state) writes (the describe output, its exit
            status and time).
        type: path
        default: /var/lib/soc2audit/kafka/topic-state.json
      topic:
        description:
          - The audit topic.
        type: str
        default: soc2audit.audit
      max_state_age_seconds:
        description:
          - Oldest the state file may be (C(LOG-14)).
        type: int
        default: 900
notes:
  - The fluent_bit engine's shipper checks are not part of this module yet.
"""

EXAMPLES = r"""
- name: Verify an edge log shipper
  soc2_log:
    shipper:
      enabled: true
      aggregator_host: 10.0.0.5
      aggregator_port: 6515
      aggregator_name: aggregator
  check_mode: false
  register: __log_shipper_verify

- name: Verify the log aggregator
  soc2_log:
    aggregator:
      enabled: true
      storage_root: /srv/soc2audit/logs
      peers:
        - name: edge1
          port: 6514
        - name: edge2
          port: 6515
  check_mode: false
  register: __log_aggregator_verify
"""

RETURN = r"""
changed:
  description: Always V(false); the module is read-only.
  returned: always
  type: bool
  sample: false
checks:
  description:
    - One result per check id, always C(LOG-01) .. C(LOG-14) in that order.
  returned: always
  type: list
  elements: dict
shipper:
  description:
    - What the shipper checks read (unit state, rsyslogd pids, sessions, imfile state file
      names, the newest impstats objects).
  returned: when O(shipper.enabled)
  type: dict
rsyslogd_pids:
  description: Process ids of the running rsyslogd processes.
  returned: when O(aggregator.enabled)
  type: list
  elements: int
listening:
  description: rsyslogd's listening sockets as C(<protocol> <address>:<port>).
  returned: when O(aggregator.enabled)
  type: list
  elements: str
files:
  description: The store's day files and C(.sha256) files (path, host, day, kind, size, mtime).
  returned: when O(aggregator.enabled)
  type: list
  elements: dict
stats:
  description: The store writer's C(stats.json), or V(null) when it could not be read.
  returned: when O(aggregator.enabled)
  type: dict
"""

from ansible.module_utils import soc2_log_family
from ansible.module_utils.soc2_family import run_module

ARGUMENT_SPEC = soc2_log_family.ARGUMENT_SPEC

__all__ = ["ARGUMENT_SPEC", "main"]


def main() -> None:
    run_module(soc2_log_family)


if __name__ == "__main__":
    main()
