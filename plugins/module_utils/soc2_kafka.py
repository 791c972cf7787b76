# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reading and planning the Kafka tier's topic and ACLs from the Kafka admin tools' own output.

The kafka role manages its audit topic and the ACLs on it with the tools every Kafka
distribution ships (org.apache.kafka.tools.TopicCommand, ConfigCommand, AclCommand), run with
the host's Java on the broker classpath. This module parses what those tools print (Kafka 4.x;
recorded outputs in tests/unit/fixtures/kafka/) and works out what differs from the wanted
state, so the module soc2_kafka_admin changes only that and a second run changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# `Topic: t\tTopicId: x\tPartitionCount: 3\tReplicationFactor: 3\tConfigs: a=1,b=2`
_TOPIC_HEAD = re.compile(
    r"^Topic:\s*(?P<name>\S+)\s+TopicId:\s*\S+\s+PartitionCount:\s*(?P<count>\d+)\s+"
    r"ReplicationFactor:\s*(?P<rf>\d+)\s+Configs:\s*(?P<configs>.*)$"
)
# `\tTopic: t\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\tElr: \tLastKnownElr: `
_PARTITION = re.compile(
    r"^\s*Topic:\s*(?P<name>\S+)\s+Partition:\s*(?P<partition>\d+)\s+Leader:\s*(?P<leader>-?\d+|none)"
    r"\s+Replicas:\s*(?P<replicas>[\d,]*)\s+Isr:\s*(?P<isr>[\d,]*)"
)
# "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=t, patternType=LITERAL)`:"
_ACL_RESOURCE = re.compile(
    r"ResourcePattern\(resourceType=(?P<type>\w+), name=(?P<name>.*), "
    r"patternType=(?P<pattern>\w+)\)"
)
# "\t(principal=User:p, host=*, operation=WRITE, permissionType=ALLOW)"
_ACL_ENTRY = re.compile(
    r"^\s*\(principal=(?P<principal>[^,]+), host=(?P<host>[^,]+), operation=(?P<op>\w+), "
    r"permissionType=(?P<perm>\w+)\)"
)
# What the tools print when the topic is absent.
TOPIC_ABSENT = re.compile(r"Topic '[^']+' does not exist as expected|UnknownTopicOrPartition")

# The topic configurations this tier insists on (docs/roles/kafka.md): the role's preflight
# refuses less, and the module compares them as numbers where they are numbers.
RESOURCE_TYPES = {"topic": "TOPIC", "group": "GROUP", "cluster": "CLUSTER"}
CLUSTER_NAME = "kafka-cluster"


@dataclass
class Partition:
    partition: int
    leader: int
    replicas: list[int]
    isr: list[int]


@dataclass
class Topic:
    name: str
    partition_count: int
    replication_factor: int
    configs: dict[str, str]
    partitions: list[Partition] = field(default_factory=list)

    def under_replicated(self) -> list[int]:
        return [p.partition for p in self.partitions if len(p.isr) < len(p.replicas)]

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "partitions": self.partition_count,
            "replication_factor": self.replication_factor,
            "configs": dict(sorted(self.configs.items())),
            "leaders": [p.leader for p in self.partitions],
            "isr_sizes": [len(p.isr) for p in self.partitions],
            "under_replicated_partitions": self.under_replicated(),
        }


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_configs(text: str) -> dict[str, str]:
    """`a=1,b=2` (TopicCommand's Configs: field) as a dict. Values with commas are not used by
    this tier; a piece without `=` continues the previous value."""
    out: dict[str, str] = {}
    last = None
    for piece in text.strip().split(","):
        if "=" in piece:
            key, value = piece.split("=", 1)
            out[key.strip()] = value.strip()
            last = key.strip()
        elif last is not None and piece:
            out[last] += "," + piece
    return out


def parse_topic(text: str, name: str) -> Topic | None:
    """TopicCommand --describe --topic NAME output; None when the topic is not there."""
    topic: Topic | None = None
    for line in text.splitlines():
        head = _TOPIC_HEAD.match(line.strip())
        if head and head.group("name") == name:
            topic = Topic(
                name=name,
                partition_count=int(head.group("count")),
                replication_factor=int(head.group("rf")),
                configs=parse_configs(head.group("configs")),
            )
            continue
        part = _PARTITION.match(line)
        if part and topic is not None and part.group("name") == name:
            leader = part.group("leader")
            topic.partitions.append(
                Partition(
                    partition=int(part.group("partition")),
                    leader=-1 if leader == "none" else int(leader),
                    replicas=_ints(part.group("replicas")),
                    isr=_ints(part.group("isr")),
                )
            )
    return topic


@dataclass(frozen=True, order=True)
class Acl:
    resource_type: str  # TOPIC, GROUP, CLUSTER (as AclCommand prints them)
    resource_name: str
    principal: str  # User:<name>
    operation: str  # WRITE, IDEMPOTENT_WRITE, READ, ... (as printed)
    permission: str = "ALLOW"
    host: str = "*"
    pattern: str = "LITERAL"

    def label(self) -> str:
        return (
            f"{self.permission} {self.principal} {self.operation} on "
            f"{self.resource_type.lower()}:{self.resource_name} from {self.host}"
        )

    def cli_args(self) -> list[str]:
        """AclCommand arguments selecting exactly this ACL (for --add and --remove)."""
        side = "--allow" if self.permission == "ALLOW" else "--deny"
        args = [f"{side}-principal", self.principal, f"{side}-host", self.host]
        args += ["--operation", cli_operation(self.operation)]
        if self.resource_type == "CLUSTER":
            args.append("--cluster")
        elif self.resource_type == "TOPIC":
            args += ["--topic", self.resource_name]
        elif self.resource_type == "GROUP":
            args += ["--group", self.resource_name]
        else:
            raise ValueError(f"resource type {self.resource_type} is not managed here")
        if self.pattern != "LITERAL":
            args += ["--resource-pattern-type", self.pattern.lower()]
        return args


def cli_operation(printed: str) -> str:
    """IDEMPOTENT_WRITE (as listed) -> IdempotentWrite (as AclCommand takes it)."""
    return "".join(part.capitalize() for part in printed.split("_"))


def printed_operation(name: str) -> str:
    """IdempotentWrite / idempotent_write / IDEMPOTENT_WRITE -> IDEMPOTENT_WRITE."""
    if "_" in name or name.isupper():
        return name.upper()
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def parse_acls(text: str) -> list[Acl]:
    """AclCommand --list output: every ACL with its resource."""
    out: list[Acl] = []
    resource: tuple[str, str, str] | None = None
    for line in text.splitlines():
        found = _ACL_RESOURCE.search(line)
        if found:
            resource = (found.group("type"), found.group("name"), found.group("pattern"))
            continue
        entry = _ACL_ENTRY.match(line)
        if entry and resource is not None:
            out.append(
                Acl(
                    resource_type=resource[0],
                    resource_name=resource[1],
                    principal=entry.group("principal"),
                    operation=entry.group("op"),
                    permission=entry.group("perm"),
                    host=entry.group("host"),
                    pattern=resource[2],
                )
            )
    return sorted(out)


def wanted_acls(specs: list[dict[str, str]]) -> list[Acl]:
    """The module's `acls` option (principal, resource_type topic|group|cluster, resource_name,
    operation) as Acl records; a principal without `User:` gets it."""
    out = set()
    for spec in specs:
        rtype = RESOURCE_TYPES[spec["resource_type"]]
        principal = spec["principal"]
        if ":" not in principal:
            principal = f"User:{principal}"
        name = CLUSTER_NAME if rtype == "CLUSTER" else spec["resource_name"]
        out.add(Acl(rtype, name, principal, printed_operation(spec["operation"])))
    return sorted(out)


def plan_acls(
    present: list[Acl], wanted: list[Acl], managed: set[tuple[str, str]]
) -> tuple[list[Acl], list[Acl]]:
    """(to add, to remove): on the managed resources ((TYPE, name) pairs), exactly `wanted`.
    ACLs on other resources are left alone."""
    mine = {a for a in present if (a.resource_type, a.resource_name) in managed}
    want = set(wanted)
    return sorted(want - mine), sorted(mine - want)


def plan_topic(
    present: Topic | None, partitions: int, replication_factor: int, configs: dict[str, str]
) -> dict[str, object]:
    """What to do to the topic: {'create': bool, 'partitions': N or None (increase to),
    'configs': {k: v} to set, 'errors': [why it cannot be done]}."""
    plan: dict[str, object] = {"create": False, "partitions": None, "configs": {}, "errors": []}
    errors: list[str] = []
    if present is None:
        plan["create"] = True
        return plan
    if present.partition_count < partitions:
        plan["partitions"] = partitions
    elif present.partition_count > partitions:
        errors.append(
            f"topic {present.name} has {present.partition_count} partitions, more than the "
            f"{partitions} wanted: Kafka cannot remove partitions (raise kafka_topic_partitions)"
        )
    if present.replication_factor != replication_factor:
        errors.append(
            f"topic {present.name} has replication factor {present.replication_factor}, not "
            f"{replication_factor}: changing it is a partition reassignment "
            "(kafka-reassign-partitions), which this role does not do"
        )
    plan["configs"] = {k: v for k, v in configs.items() if present.configs.get(k) != str(v)}
    plan["errors"] = errors
    return plan


def quorum_status(text: str) -> dict[str, object]:
    """MetadataQuorumCommand describe --status output: leader id and the voter ids."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    voters = [int(v) for v in re.findall(r'"id":\s*(\d+)', fields.get("CurrentVoters", ""))]
    leader = fields.get("LeaderId", "")
    return {
        "cluster_id": fields.get("ClusterId", ""),
        "leader_id": int(leader) if leader.lstrip("-").isdigit() else -1,
        "voters": voters,
        "high_watermark": int(fields["HighWatermark"])
        if fields.get("HighWatermark", "").isdigit()
        else -1,
    }
