#!/usr/bin/python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kafka tests' client side, run INSIDE a Debian 12 container with Debian's
python3-confluent-kafka (librdkafka 2.0.2), never with a client from PyPI: what the hosts run.

    kafka_tool.py CONF topic-create TOPIC PARTITIONS REPLICAS
    kafka_tool.py CONF produce TOPIC HOST FIRST COUNT       # soc2_wire lines, numbered events
    kafka_tool.py CONF offsets TOPIC GROUP                  # committed, high, lag per partition
    kafka_tool.py CONF read TOPIC '{"0": 100}'              # "msg" of each message below
    kafka_tool.py CONF leaders TOPIC                        # leader node id per partition

CONF is a JSON file of librdkafka settings (bootstrap.servers, ssl.*). Output is JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def wire(host: str, n: int) -> str:
    """One message as the aggregator's rsyslog template soc2_wire writes it (a socket message
    from ``host``'s certificate-checked listener), the event numbered ``n``."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return json.dumps(
        {
            "input": f"peer:{host}",
            "received": now,
            "source_address": "127.0.0.1",
            "timereported": now,
            "hostname": host,
            "app_name": "soc2-kafka-test",
            "procid": "-",
            "msgid": "-",
            "pri": "13",
            "structured_data": f'[soc2@32473 host="{host}"]',
            "msg": f"soc2-kafka-test host={host} n={n}",
        }
    )


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as fh:
        conf = json.load(fh)
    cmd, args = sys.argv[2], sys.argv[3:]
    if cmd == "topic-create":
        topic, parts, replicas = args[0], int(args[1]), int(args[2])
        admin = AdminClient(conf)  # kept alive until the futures are done
        fs = admin.create_topics([NewTopic(topic, parts, replicas)])
        for future in fs.values():
            try:
                future.result()
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
        print(json.dumps({"topic": topic}))
    elif cmd == "produce":
        topic, host, first, count = args[0], args[1], int(args[2]), int(args[3])
        errors: list[str] = []
        producer = Producer({**conf, "acks": "all", "enable.idempotence": True, "linger.ms": 20})
        for n in range(first, first + count):
            producer.produce(
                topic,
                value=wire(host, n).encode(),
                key=host.encode(),
                on_delivery=lambda err, _m: errors.append(str(err)) if err else None,
            )
            producer.poll(0)
        left = producer.flush(120)
        print(json.dumps({"produced": count, "unflushed": left, "errors": errors[:5]}))
        return 1 if left or errors else 0
    elif cmd == "offsets":
        topic, group = args[0], args[1]
        consumer = Consumer({**conf, "group.id": group, "enable.auto.commit": False})
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        tps = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
        committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
        out = {}
        for tp in tps:
            _low, high = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            done = max(committed[tp.partition], 0)
            out[str(tp.partition)] = {"committed": done, "high": high, "lag": high - done}
        consumer.close()
        print(json.dumps(out, sort_keys=True))
    elif cmd == "read":
        # The "msg" field of every message below the given offsets: {"<partition>": offset}.
        topic, upto = args[0], {int(k): v for k, v in json.loads(args[1]).items()}
        consumer = Consumer(
            {**conf, "group.id": "soc2audit-test-reader", "enable.auto.commit": False}
        )
        consumer.assign([TopicPartition(topic, p, 0) for p, end in upto.items() if end > 0])
        left = {p: end for p, end in upto.items() if end > 0}
        out: list[str] = []
        while left:
            msg = consumer.poll(10)
            if msg is None:
                raise SystemExit(f"read: nothing more, still wanted {left}")
            if msg.error() or msg.partition() not in left or msg.offset() >= left[msg.partition()]:
                continue
            out.append(json.loads(msg.value())["msg"])
            if msg.offset() + 1 >= left[msg.partition()]:
                del left[msg.partition()]
        consumer.close()
        print(json.dumps(out))
    elif cmd == "leaders":
        consumer = Consumer({**conf, "group.id": "soc2audit-test-reader"})
        meta = consumer.list_topics(args[0], timeout=10).topics[args[0]]
        print(json.dumps({str(p): m.leader for p, m in sorted(meta.partitions.items())}))
        consumer.close()
    else:
        raise SystemExit(f"unknown command {cmd}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
