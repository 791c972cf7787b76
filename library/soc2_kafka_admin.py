#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_kafka_admin: the Kafka tier's topic and ACLs, changed where they differ."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_kafka_admin
short_description: Create the audit topic and set exactly the wanted ACLs on a Kafka cluster
description:
  - Reads the topic (C(org.apache.kafka.tools.TopicCommand --describe)) and every ACL
    (C(AclCommand --list)) with the Kafka admin tools, run with the host's Java on the broker
    classpath over TLS with an admin client certificate (O(command_config)).
  - Creates the topic when it is absent, raises its partition count when it is lower, sets the
    topic configurations that differ (C(ConfigCommand --alter --add-config)). It never lowers
    the partition count or changes the replication factor (a reassignment); it fails saying so.
  - On each managed resource (the topic, the groups and the cluster named in O(acls), plus
    O(acl_resources)) the ACLs become exactly O(acls); missing ones are added, others removed.
    ACLs on other resources are not touched.
  - In check mode nothing is changed; C(changed) and the diff say what would be.
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
options:
  java:
    description: The Java 17 (or newer) launcher.
    type: str
    default: java
  classpath:
    description: The Kafka classpath, for example C(/opt/kafka/kafka-4.4.0/libs/*).
    type: str
    required: true
  jvm_options:
    description: Options of the tools' JVM (small heap, quick start).
    type: list
    elements: str
    default: ["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
  log4j_config:
    description: A log4j2 configuration for the tools (warnings to stderr); empty for none.
    type: path
    default: ""
  bootstrap_servers:
    description: The brokers' TLS listeners, as a comma-separated list of host and port.
    type: str
    required: true
  command_config:
    description: Client properties file of the admin identity (security.protocol=SSL, PEM keystore).
    type: path
    required: true
  timeout:
    description: Seconds each tool run may take.
    type: int
    default: 90
  topic:
    description: The topic to create and keep configured; omit to manage ACLs only.
    type: dict
    suboptions:
      name:
        description: Topic name.
        type: str
        required: true
      partitions:
        description: Partition count (raised, never lowered).
        type: int
        required: true
      replication_factor:
        description: Replication factor (set at creation; a difference fails).
        type: int
        required: true
      configs:
        description: Topic configurations, for example min.insync.replicas and retention.ms.
        type: dict
        default: {}
  acls:
    description:
      - The ALLOW ACLs wanted, host C(*), literal resources.
    type: list
    elements: dict
    default: []
    suboptions:
      principal:
        description: C(User:<name>) or a bare certificate CN (then C(User:) is added).
        type: str
        required: true
      resource_type:
        description: Kind of resource.
        type: str
        choices: [topic, group, cluster]
        required: true
      resource_name:
        description: Topic or group name (ignored for the cluster).
        type: str
        default: kafka-cluster
      operation:
        description: Operation, for example Write, Read, Describe or IdempotentWrite.
        type: str
        required: true
  acl_resources:
    description:
      - More resources whose ACLs are managed (exactly O(acls) on them, so none if O(acls)
        names none), besides those O(acls) names and the topic.
    type: list
    elements: dict
    default: []
    suboptions:
      resource_type:
        description: Kind of resource.
        type: str
        choices: [topic, group, cluster]
        required: true
      resource_name:
        description: Its name (ignored for the cluster).
        type: str
        default: kafka-cluster
"""

EXAMPLES = r"""
- name: Audit topic and its ACLs
  soc2_kafka_admin:
    classpath: /opt/kafka/kafka-4.4.0/libs/*
    bootstrap_servers: kafka1:9092,kafka2:9092,kafka3:9092
    command_config: /etc/kafka/admin.properties
    topic:
      name: soc2audit.audit
      partitions: 3
      replication_factor: 3
      configs: {min.insync.replicas: "2", retention.ms: "604800000"}
    acls:
      - principal: aggregator
        resource_type: topic
        resource_name: soc2audit.audit
        operation: Write
      - {principal: aggregator, resource_type: cluster, operation: IdempotentWrite}
"""

RETURN = r"""
topic:
  description: The topic as read after the changes (partitions, replication factor, configs,
    leaders, ISR sizes, under-replicated partitions); empty in check mode when it would be created.
  returned: when O(topic) is given
  type: dict
acls:
  description: The ACLs on the managed resources after the changes (labels).
  returned: always
  type: list
  elements: str
added:
  description: ACLs added (or that would be).
  returned: always
  type: list
  elements: str
removed:
  description: ACLs removed (or that would be).
  returned: always
  type: list
  elements: str
topic_changes:
  description: What was (or would be) done to the topic.
  returned: always
  type: list
  elements: str
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.soc2_command import run
from ansible.module_utils.soc2_kafka import (
    CLUSTER_NAME,
    RESOURCE_TYPES,
    TOPIC_ABSENT,
    Acl,
    Topic,
    parse_acls,
    parse_topic,
    plan_acls,
    plan_topic,
    wanted_acls,
)

TOOLS = "org.apache.kafka.tools"

ARGUMENT_SPEC: dict[str, Any] = {
    "java": {"type": "str", "default": "java"},
    "classpath": {"type": "str", "required": True},
    "jvm_options": {
        "type": "list",
        "elements": "str",
        "default": ["-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"],
    },
    "log4j_config": {"type": "path", "default": ""},
    "bootstrap_servers": {"type": "str", "required": True},
    "command_config": {"type": "path", "required": True},
    "timeout": {"type": "int", "default": 90},
    "topic": {
        "type": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "partitions": {"type": "int", "required": True},
            "replication_factor": {"type": "int", "required": True},
            "configs": {"type": "dict", "default": {}},
        },
    },
    "acls": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "principal": {"type": "str", "required": True},
            "resource_type": {
                "type": "str",
                "required": True,
                "choices": ["topic", "group", "cluster"],
            },
            "resource_name": {"type": "str", "default": "kafka-cluster"},
            "operation": {"type": "str", "required": True},
        },
    },
    "acl_resources": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "resource_type": {
                "type": "str",
                "required": True,
                "choices": ["topic", "group", "cluster"],
            },
            "resource_name": {"type": "str", "default": "kafka-cluster"},
        },
    },
}


class Tools:
    """The Kafka admin tools, each one JVM run."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.base = [params["java"], *params["jvm_options"]]
        if params["log4j_config"]:
            self.base.append(f"-Dlog4j2.configurationFile={params['log4j_config']}")
        self.base += ["-cp", params["classpath"]]
        self.conn = [
            "--bootstrap-server",
            params["bootstrap_servers"],
            "--command-config",
            params["command_config"],
        ]
        self.timeout = params["timeout"]

    def __call__(self, tool: str, *args: str, ok: bool = False) -> tuple[int, str, str]:
        argv = ["timeout", str(self.timeout), *self.base, f"{TOOLS}.{tool}", *self.conn, *args]
        rc, out, err = run(self.module, argv)
        if rc != 0 and not ok:
            self.module.fail_json(
                msg=f"{tool} {' '.join(args)} failed (rc {rc}): {(err or out).strip()[-1500:]}",
                rc=rc,
            )
        return rc, out, err

    def topic(self, name: str) -> Topic | None:
        rc, out, err = self("TopicCommand", "--describe", "--topic", name, ok=True)
        if rc != 0:
            if TOPIC_ABSENT.search(out + err):
                return None
            self.module.fail_json(
                msg=f"reading topic {name} failed (rc {rc}): {(err or out).strip()[-1500:]}"
            )
        return parse_topic(out, name)


def _managed(params: dict[str, Any], wanted: list[Acl]) -> set[tuple[str, str]]:
    managed = {(a.resource_type, a.resource_name) for a in wanted}
    for res in params["acl_resources"]:
        rtype = RESOURCE_TYPES[res["resource_type"]]
        managed.add((rtype, CLUSTER_NAME if rtype == "CLUSTER" else res["resource_name"]))
    if params["topic"]:
        managed.add(("TOPIC", params["topic"]["name"]))
    return managed


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    tools = Tools(module)
    check = module.check_mode
    changes: list[str] = []
    topic_out: dict[str, object] = {}

    spec = params["topic"]
    if spec:
        configs = {k: str(v) for k, v in spec["configs"].items()}
        present = tools.topic(spec["name"])
        plan = plan_topic(present, spec["partitions"], spec["replication_factor"], configs)
        if plan["errors"]:
            module.fail_json(msg="; ".join(plan["errors"]))  # type: ignore[arg-type]
        if plan["create"]:
            changes.append(
                f"create topic {spec['name']} (partitions {spec['partitions']}, replication "
                f"factor {spec['replication_factor']}, {configs})"
            )
            if not check:
                args = [
                    "--create",
                    "--topic",
                    spec["name"],
                    "--partitions",
                    str(spec["partitions"]),
                ]
                args += ["--replication-factor", str(spec["replication_factor"])]
                for key, value in sorted(configs.items()):
                    args += ["--config", f"{key}={value}"]
                tools("TopicCommand", *args)
        if plan["partitions"]:
            changes.append(f"raise partitions of {spec['name']} to {plan['partitions']}")
            if not check:
                tools(
                    "TopicCommand",
                    "--alter",
                    "--topic",
                    spec["name"],
                    "--partitions",
                    str(plan["partitions"]),
                )
        if plan["configs"]:
            todo: dict[str, str] = plan["configs"]  # type: ignore[assignment]
            changes.append(f"set {todo} on topic {spec['name']}")
            if not check:
                tools(
                    "ConfigCommand",
                    "--alter",
                    "--entity-type",
                    "topics",
                    "--entity-name",
                    spec["name"],
                    "--add-config",
                    ",".join(f"{k}={v}" for k, v in sorted(todo.items())),
                )
        after = present if check else tools.topic(spec["name"])
        topic_out = after.as_dict() if after else {}

    wanted = wanted_acls(params["acls"])
    managed = _managed(params, wanted)
    _, listed, _ = tools("AclCommand", "--list")
    present_acls = parse_acls(listed)
    add, remove = plan_acls(present_acls, wanted, managed)
    if not check:
        for acl in add:
            tools("AclCommand", "--add", *acl.cli_args())
        for acl in remove:
            tools("AclCommand", "--remove", "--force", *acl.cli_args())
    before = sorted(
        a.label() for a in present_acls if (a.resource_type, a.resource_name) in managed
    )
    after_acls = sorted({*before, *(a.label() for a in add)} - {a.label() for a in remove})
    changed = bool(changes or add or remove)
    module.exit_json(
        changed=changed,
        topic=topic_out,
        acls=after_acls,
        added=[a.label() for a in add],
        removed=[a.label() for a in remove],
        topic_changes=changes,
        diff={
            "before": "\n".join(before) + "\n",
            "after": "\n".join([*changes, *after_acls]) + "\n",
            "before_header": "Kafka ACLs on the managed resources",
            "after_header": "Kafka topic changes and ACLs",
        },
    )


if __name__ == "__main__":
    main()
