# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kafka tier's topic and ACL management (module_utils/soc2_kafka.py, soc2_kafka_admin).

The outputs under fixtures/kafka/ were recorded from a real Apache Kafka 4.4.0 broker (the Maven
classpath of soc2audit.components, TLS listeners, StandardAuthorizer) with its own tools:
TopicCommand --describe, AclCommand --list, MetadataQuorumCommand describe --status.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.module_utils import soc2_kafka

FIXTURES = Path(__file__).parent / "fixtures" / "kafka"
TOPIC = "soc2audit.audit"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_a_described_topic() -> None:
    topic = soc2_kafka.parse_topic(fixture("topic_describe.out"), TOPIC)
    assert topic is not None
    assert (topic.partition_count, topic.replication_factor) == (3, 1)
    assert topic.configs == {
        "min.insync.replicas": "1",
        "retention.ms": "604800000",
        "unclean.leader.election.enable": "false",
    }
    assert [p.partition for p in topic.partitions] == [0, 1, 2]
    assert topic.under_replicated() == []


def test_three_replicas_and_an_under_replicated_partition() -> None:
    topic = soc2_kafka.parse_topic(fixture("topic_describe_rf3.out"), TOPIC)
    assert topic is not None and topic.replication_factor == 3
    assert all(len(p.replicas) == 3 for p in topic.partitions)
    assert topic.under_replicated() == []
    # The same output with broker 3 out of the ISR of partition 1 (after a broker stopped).
    text = fixture("topic_describe_rf3.out").replace(
        "Replicas: 1,2,3\tIsr: 1,2,3", "Replicas: 1,2,3\tIsr: 1,2"
    )
    shrunk = soc2_kafka.parse_topic(text, TOPIC)
    assert shrunk is not None and shrunk.under_replicated() == [1]
    assert shrunk.as_dict()["isr_sizes"] == [3, 2, 3]


def test_the_lab_clusters_acls_are_exactly_the_wanted_ones() -> None:
    """Recorded from molecule kafka_default after the converge: a second run plans nothing."""
    present = soc2_kafka.parse_acls(fixture("acl_list_lab.out"))
    wanted = soc2_kafka.wanted_acls(
        [
            {
                "principal": "producer",
                "resource_type": "topic",
                "resource_name": TOPIC,
                "operation": "Write",
            },
            {"principal": "producer", "resource_type": "cluster", "operation": "IdempotentWrite"},
            {
                "principal": "archive",
                "resource_type": "topic",
                "resource_name": TOPIC,
                "operation": "Read",
            },
            {
                "principal": "archive",
                "resource_type": "group",
                "resource_name": "soc2audit-archive",
                "operation": "Read",
            },
        ]
    )
    managed = {(a.resource_type, a.resource_name) for a in wanted}
    assert soc2_kafka.plan_acls(present, wanted, managed) == ([], [])


def test_the_absent_topic_is_recognised() -> None:
    assert soc2_kafka.TOPIC_ABSENT.search(fixture("topic_absent.err"))
    assert soc2_kafka.parse_topic("", TOPIC) is None


def test_acls_as_listed() -> None:
    acls = soc2_kafka.parse_acls(fixture("acl_list.out"))
    labels = [a.label() for a in acls]
    assert "ALLOW User:producer IDEMPOTENT_WRITE on cluster:kafka-cluster from *" in labels
    assert "ALLOW User:producer WRITE on topic:soc2audit.audit from *" in labels
    assert "ALLOW User:consumer READ on group:soc2audit-archive from *" in labels
    assert len(acls) == 5


def test_the_plan_adds_what_is_missing_and_removes_the_stray() -> None:
    present = soc2_kafka.parse_acls(fixture("acl_list.out"))
    wanted = soc2_kafka.wanted_acls(
        [
            {
                "principal": "producer",
                "resource_type": "topic",
                "resource_name": TOPIC,
                "operation": "Write",
            },
            {"principal": "producer", "resource_type": "cluster", "operation": "IdempotentWrite"},
            {
                "principal": "consumer",
                "resource_type": "topic",
                "resource_name": TOPIC,
                "operation": "Read",
            },
            {
                "principal": "consumer",
                "resource_type": "group",
                "resource_name": "soc2audit-archive",
                "operation": "Read",
            },
            {
                "principal": "User:archive",
                "resource_type": "topic",
                "resource_name": TOPIC,
                "operation": "Read",
            },
        ]
    )
    managed = {(a.resource_type, a.resource_name) for a in wanted}
    add, remove = soc2_kafka.plan_acls(present, wanted, managed)
    assert [a.label() for a in add] == ["ALLOW User:archive READ on topic:soc2audit.audit from *"]
    # User:stray had Describe on the topic: not wanted, removed.
    assert [a.label() for a in remove] == [
        "ALLOW User:stray DESCRIBE on topic:soc2audit.audit from *"
    ]
    assert remove[0].cli_args() == [
        "--allow-principal",
        "User:stray",
        "--allow-host",
        "*",
        "--operation",
        "Describe",
        "--topic",
        TOPIC,
    ]
    # Once applied, nothing to do: the second run changes nothing.
    after = sorted((set(present) | set(add)) - set(remove))
    assert soc2_kafka.plan_acls(after, wanted, managed) == ([], [])


def test_acls_on_other_resources_are_left_alone() -> None:
    present = soc2_kafka.parse_acls(fixture("acl_list.out"))
    add, remove = soc2_kafka.plan_acls(present, [], {("TOPIC", "another.topic")})
    assert (add, remove) == ([], [])


@pytest.mark.parametrize(
    ("printed", "cli"),
    [
        ("IDEMPOTENT_WRITE", "IdempotentWrite"),
        ("READ", "Read"),
        ("DESCRIBE_CONFIGS", "DescribeConfigs"),
    ],
)
def test_operation_names_round_trip(printed: str, cli: str) -> None:
    assert soc2_kafka.cli_operation(printed) == cli
    assert soc2_kafka.printed_operation(cli) == printed


def test_the_topic_plan() -> None:
    topic = soc2_kafka.parse_topic(fixture("topic_describe.out"), TOPIC)
    assert soc2_kafka.plan_topic(None, 3, 3, {})["create"] is True
    plan = soc2_kafka.plan_topic(
        topic, 6, 1, {"min.insync.replicas": "1", "retention.ms": "691200000"}
    )
    assert plan["partitions"] == 6 and plan["configs"] == {"retention.ms": "691200000"}
    assert plan["errors"] == []
    same = soc2_kafka.plan_topic(topic, 3, 1, {"min.insync.replicas": "1"})
    assert same == {"create": False, "partitions": None, "configs": {}, "errors": []}
    bad = soc2_kafka.plan_topic(topic, 2, 3, {})
    assert any("cannot remove partitions" in e for e in bad["errors"])  # type: ignore[union-attr]
    assert any("reassignment" in e for e in bad["errors"])  # type: ignore[union-attr]


def test_the_quorum_status() -> None:
    status = soc2_kafka.quorum_status(fixture("quorum_status.out"))
    assert status["leader_id"] in status["voters"]  # type: ignore[operator]
    assert len(status["voters"]) == 3  # type: ignore[arg-type]
