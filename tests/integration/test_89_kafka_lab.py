# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The audit-log pipeline through a three-broker Kafka cluster, end to end on a lab (issue 17):

    logger on edge1, edge2 -> log_shipper (rsyslog, mTLS) -> aggregator (log_aggregator:
    rsyslog omkafka, acks=all, idempotence, disk queue) -> kafka1..3 (roles/kafka: KRaft, TLS
    with client certificates, ACLs, the audit topic with 3 replicas and min.insync.replicas 2)
    -> the archive consumer on the aggregator (soc2-log-kafka-archive) -> the write-once store

The Kafka fleet lab of `make lab-scale` (same `soc2audit.lab up --warm`, same lean playbook
playbooks/lab_kafka.yml), under a prefix of its own (<prefix>-k89) beside the main lab, with its
own inventory and fact cache; removed at the end, also when a test fails.

1. K numbered events from each edge reach the store exactly once.
2. K more from each edge while the archive consumer is killed with SIGKILL and kept stopped for
   a minute and one broker, the leader of the partition carrying the events, is killed with
   SIGKILL mid-stream (systemd restarts it): nothing lost, nothing stored twice, the consumer lag
   (committed offset vs high watermark, asked from the brokers) is at least 2K while it is
   stopped and 0 after; the replays after the SIGKILL are absorbed by the store's dedup.
3. While the consumer is stopped, the drift run's LOG-12 fails on the aggregator (its state file
   goes stale); after it caught up, LOG-12 passes again.

The figures are printed (pytest -s) for the note: KAFKA LAB FIGURES {...}. K and the stop are
SOC2_KAFKA_LAB_K (500) and SOC2_KAFKA_LAB_STOPPED_SECONDS (60); SOC2_KAFKA_LAB_KEEP=1 leaves the
lab up for the next run (development only: a second run reuses its containers).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BIN, REPO, env, wait_for
from kafka_checks import EVENT_TEXT, count_records, verdict

from soc2audit import components, lab

pytestmark = pytest.mark.own_containers

HOSTS = ("edge1", "edge2", "aggregator", "kafka1", "kafka2", "kafka3")
EDGES = ("edge1", "edge2")
K = int(os.environ.get("SOC2_KAFKA_LAB_K", "500"))
CONSUMER_STOPPED_SECONDS = float(os.environ.get("SOC2_KAFKA_LAB_STOPPED_SECONDS", "60"))
STORE = "/srv/soc2audit/logs"
STATE_FILE = "/var/lib/soc2audit/log-store/kafka-archive.json"
ARCHIVE = "soc2-log-kafka-archive.service"
TOPIC = "soc2audit.audit"
GROUP = "soc2audit-archive"
TOOL = "/root/kafka_tool.py"
TOOL_CONF = "/root/kafka_tool.json"
# LOG-12 in this lab: the state file is stale after 30 s (lab.py kafka_aggregator_vars).
STALE_AFTER = 30
# This run's events carry it as their tag (app_name): a kept lab's older events are not counted.
TAG = f"soc2kt{secrets.token_hex(4)}"


@dataclass
class KafkaLab:
    inventory: Path
    run_env: dict[str, str]
    containers: dict[str, str]
    tmp: Path
    seconds: dict[str, float] = field(default_factory=dict)

    def sh(self, host: str, script: str, check: bool = True, timeout: float = 120) -> str:
        proc = subprocess.run(
            ["podman", "exec", self.containers[host], "sh", "-c", script],
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{host}: {script}: rc {proc.returncode}\n{proc.stderr}")
        return proc.stdout

    def tool(self, *argv: str) -> Any:
        """kafka_tool.py on the aggregator, with the archive consumer's certificate."""
        return json.loads(self.sh("aggregator", shlex.join(["python3", TOOL, TOOL_CONF, *argv])))

    def lag(self, timeout: float = 60) -> int:
        """The archive group's lag summed over the partitions, asked from the brokers; asked
        again while a killed broker's partitions and the group coordinator move (not leader,
        connection refused) for up to ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return sum(p["lag"] for p in self.tool("offsets", TOPIC, GROUP).values())
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def stored(self, first: int, count: int) -> Counter[tuple[str, int]]:
        """The store's test events numbered first..first+count-1, counted."""
        out = self.sh(
            "aggregator",
            f"find {STORE} -name '*.jsonl' -print0 | xargs -0r grep -hF '\"{TAG}\"' || true",
        )
        seen = count_records(out.splitlines())
        return Counter({k: v for k, v in seen.items() if first <= k[1] < first + count})

    def send(self, first: int, count: int) -> list[subprocess.Popen[str]]:
        """logger on each edge (one process per event, as applications log), in the
        background; events first..first+count-1."""
        text = EVENT_TEXT.format(host="$h", n="$i")
        return [
            subprocess.Popen(
                [
                    "podman",
                    "exec",
                    self.containers[edge],
                    "sh",
                    "-c",
                    f"h=$(hostname); for i in $(seq {first} {first + count - 1}); do"
                    f' logger -t {TAG} "{text}" || exit 1; done',
                ],
                text=True,
            )
            for edge in EDGES
        ]

    def unit(self, host: str, unit: str, prop: str) -> str:
        return self.sh(host, f"systemctl show -P {prop} {unit}", check=False).strip()

    def log12(self, name: str) -> dict[str, Any]:
        """A drift run (playbooks/drift_check.yml) limited to the aggregator: its LOG-12 row."""
        out = self.tmp / name
        started = time.monotonic()
        proc = subprocess.run(
            [
                str(BIN / "ansible-playbook"), "-i", str(self.inventory),
                "playbooks/drift_check.yml", "--limit", "aggregator", "-e",
                json.dumps({
                    "soc2audit_output_dir": str(out),
                    "soc2audit_evidence_dir": str(self.tmp / "evidence"),
                    "soc2audit_testinfra": False,
                    "soc2audit_policies": False,
                }),
            ],
            cwd=REPO, env=self.run_env, text=True, capture_output=True, check=False,
        )  # fmt: skip
        self.seconds[name] = round(time.monotonic() - started, 1)
        rows_file = out / "last_run.jsonl"
        assert rows_file.exists(), proc.stdout[-3000:] + proc.stderr[-2000:]
        rows = [json.loads(x) for x in rows_file.read_text().splitlines() if x.strip()]
        found = [r for r in rows if r["host"] == "aggregator" and r["check_id"] == "LOG-12"]
        assert len(found) == 1, rows
        return found[0]


def _play(kfk: KafkaLab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(kfk.inventory), *args],
        cwd=REPO,
        env=kfk.run_env,
        text=True,
        capture_output=True,
        check=False,
    )


@pytest.fixture(scope="module")
def kfk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaLab]:
    try:
        components.kafka_archive()
    except (components.ComponentError, OSError) as exc:
        pytest.skip(f"no Kafka broker classpath on this machine: {exc}")
    tmp = tmp_path_factory.mktemp("kafka-lab")
    inventory = tmp / "hosts.yml"
    lab_env = dict(
        os.environ,
        SOC2_LAB_PREFIX=f"{lab.lab_prefix()[:27]}-k89",
        SOC2_LAB_INVENTORY=str(inventory),
        SOC2_LAB_HOSTS=",".join(HOSTS),
        # Its own fact cache: the main lab's converge (beside this test) owns .cache/facts.
        ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp / "facts"),
    )
    run_env = env() | {
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp / "facts"),
        "SOC2_LAB_INVENTORY": str(inventory),
    }
    cmd = [str(BIN / "python"), "-m", "soc2audit.lab"]
    seconds: dict[str, float] = {}
    started = time.monotonic()
    try:
        up = subprocess.run(
            [*cmd, "up", "--warm"], cwd=REPO, env=lab_env, text=True, capture_output=True
        )
        assert up.returncode == 0, up.stdout + up.stderr
        seconds["lab_up"] = round(time.monotonic() - started, 1)
        data = yaml.safe_load(inventory.read_text())
        containers = {
            host: vars_["soc2_lab_container"]
            for group in data["all"]["children"].values()
            for host, vars_ in (group.get("hosts") or {}).items()
        }
        assert set(containers) == set(HOSTS), (containers, up.stdout)
        kfk = KafkaLab(inventory, run_env, containers, tmp, seconds)
        mark = time.monotonic()
        converge = _play(kfk, "playbooks/lab_kafka.yml")
        assert converge.returncode == 0, converge.stdout[-6000:]
        seconds["converge"] = round(time.monotonic() - mark, 1)
        # The client side of the test: kafka_tool.py with the archive consumer's identity.
        agg = containers["aggregator"]
        subprocess.run(
            [
                "podman",
                "cp",
                str(REPO / "tests" / "integration" / "kafka_tool.py"),
                f"{agg}:{TOOL}",
            ],
            check=True,
        )
        conf = {
            "bootstrap.servers": ",".join(f"kafka{n}:9092" for n in (1, 2, 3)),
            "security.protocol": "ssl",
            "ssl.ca.location": "/etc/ssl/soc2audit/ca-chain.pem",
            "ssl.certificate.location": "/etc/ssl/soc2audit/archive-consumer.crt",
            "ssl.key.location": "/etc/ssl/soc2audit/private/archive-consumer.key",
        }
        kfk.sh("aggregator", f"echo {shlex.quote(json.dumps(conf))} > {TOOL_CONF}")
        yield kfk
    finally:
        # SOC2_KAFKA_LAB_KEEP=1 (development only): leave the lab up for the next run.
        if os.environ.get("SOC2_KAFKA_LAB_KEEP") != "1":
            subprocess.run([*cmd, "down"], cwd=REPO, env=lab_env, capture_output=True, check=False)
        seconds["total_with_teardown"] = round(time.monotonic() - started, 1)
        print("\nKAFKA LAB SECONDS", json.dumps(seconds, sort_keys=True), file=sys.stderr)


def _wait_senders(procs: list[subprocess.Popen[str]], timeout: float = 180) -> None:
    for proc in procs:
        assert proc.wait(timeout=timeout) == 0, "logger loop failed"


def _expected(first: int, count: int) -> set[tuple[str, int]]:
    return {(edge, n) for edge in EDGES for n in range(first, first + count)}


def test_1_events_from_each_edge_reach_the_store_exactly_once(kfk: KafkaLab) -> None:
    # The lean converge left the pipeline running: the consumer and every broker.
    assert kfk.unit("aggregator", ARCHIVE, "ActiveState") == "active"
    for broker in ("kafka1", "kafka2", "kafka3"):
        assert kfk.unit(broker, "kafka.service", "ActiveState") == "active", broker
    started = time.monotonic()
    _wait_senders(kfk.send(0, K))
    wait_for(
        f"{2 * K} events in the store",
        lambda: sum(kfk.stored(0, K).values()) >= 2 * K,
        timeout=240,
        step=2,
    )
    wait_for("consumer lag 0", lambda: kfk.lag() == 0, timeout=60, step=2)
    judged = verdict(kfk.stored(0, K), _expected(0, K))
    kfk.seconds["batch_1"] = round(time.monotonic() - started, 1)
    print("\nKAFKA LAB BATCH 1", json.dumps({"K_per_edge": K, **judged}), file=sys.stderr)
    assert judged["stored"] == 2 * K and not judged["lost"] and not judged["duplicates"], judged
    assert not judged["unexpected"], judged["unexpected"][:10]


def test_2_broker_killed_and_consumer_stopped_nothing_lost_nothing_twice(kfk: KafkaLab) -> None:
    started = time.monotonic()
    first = K  # this batch's events are numbered K..2K-1
    # The broker killed mid-stream: the leader of the partition with the most messages (omkafka
    # without a key sends them all to one), node id N is kafkaN (roles/kafka kafka_node_ids).
    highs = {p: o["high"] for p, o in kfk.tool("offsets", TOPIC, GROUP).items()}
    leaders = kfk.tool("leaders", TOPIC)
    victim = f"kafka{leaders[max(highs, key=lambda p: highs[p])]}"
    restarts_before = int(kfk.unit(victim, "kafka.service", "NRestarts") or 0)

    # The archive consumer dies mid-run (SIGKILL: no clean commit) and stays stopped.
    kfk.sh("aggregator", f"systemctl kill -s SIGKILL {ARCHIVE}; systemctl stop {ARCHIVE}")
    stopped_at = time.monotonic()
    assert kfk.unit("aggregator", ARCHIVE, "ActiveState") != "active"
    lag_at_stop = kfk.lag()

    # The first half of the batch; one broker killed with SIGKILL while it flows (systemd's
    # Restart=on-failure brings it back after 5 s), the second half while it is down.
    half = K // 2
    senders = kfk.send(first, half)
    time.sleep(0.5)
    kfk.sh(victim, "systemctl kill -s SIGKILL kafka.service")
    _wait_senders(senders)
    _wait_senders(kfk.send(first + half, K - half))
    wait_for(
        f"{victim} restarted by systemd",
        lambda: (
            int(kfk.unit(victim, "kafka.service", "NRestarts") or 0) > restarts_before
            and kfk.unit(victim, "kafka.service", "ActiveState") == "active"
        ),
        timeout=120,
        step=2,
    )

    # Every event of the batch waits in Kafka, none in the store: the consumer is stopped.
    wait_for(
        "the batch in Kafka (lag grows by at least 2K)",
        lambda: kfk.lag() - lag_at_stop >= 2 * K,
        timeout=180,
        step=2,
    )
    assert sum(kfk.stored(first, K).values()) == 0
    assert kfk.unit("aggregator", ARCHIVE, "ActiveState") != "active"

    # (3) The drift run sees it: LOG-12 fails on the aggregator (stale state file).
    time.sleep(max(0.0, stopped_at + STALE_AFTER + 2 - time.monotonic()))
    failing = kfk.log12("drift-consumer-stopped")
    # Stopped for (at least) the minute, then started again.
    time.sleep(max(0.0, stopped_at + CONSUMER_STOPPED_SECONDS - time.monotonic()))
    lag_while_stopped = kfk.lag()
    stopped_for = round(time.monotonic() - stopped_at, 1)
    kfk.sh("aggregator", f"systemctl start {ARCHIVE}")

    wait_for(
        f"{2 * K} events of the batch in the store",
        lambda: sum(kfk.stored(first, K).values()) >= 2 * K,
        timeout=240,
        step=2,
    )
    wait_for("consumer lag 0", lambda: kfk.lag() == 0, timeout=120, step=2)
    lag_after = kfk.lag()
    judged = verdict(kfk.stored(first, K), _expected(first, K))
    whole = verdict(kfk.stored(0, 2 * K), _expected(0, 2 * K))
    state = json.loads(kfk.sh("aggregator", f"cat {STATE_FILE}"))
    passing = kfk.log12("drift-consumer-back")
    figures = {
        "K_per_edge": K,
        "edges": len(EDGES),
        "brokers": 3,
        "batch_2_stored": judged["stored"],
        "batch_2_lost": len(judged["lost"]),
        "batch_2_duplicates": len(judged["duplicates"]),
        "both_batches_stored": whole["stored"],
        "both_batches_lost": len(whole["lost"]),
        "both_batches_duplicates": len(whole["duplicates"]),
        "replayed_and_absorbed_by_dedup": state["counts"]["duplicate"],
        "store_errors": state["counts"]["store_errors"],
        "consumer_stopped_seconds": stopped_for,
        "lag_while_consumer_stopped": lag_while_stopped,
        "lag_after": lag_after,
        "broker_killed": victim,
        "LOG-12_while_stopped": failing["result"],
        "LOG-12_after": passing["result"],
        "wall_seconds": round(time.monotonic() - started, 1),
        **{f"seconds_{k}": v for k, v in kfk.seconds.items()},
    }
    print("\nKAFKA LAB FIGURES", json.dumps(figures, sort_keys=True), file=sys.stderr)
    assert not judged["lost"], judged["lost"][:20]
    assert not judged["duplicates"], judged["duplicates"][:20]
    assert judged["stored"] == 2 * K and not judged["unexpected"], judged
    assert not whole["lost"] and not whole["duplicates"], whole
    assert lag_while_stopped >= 2 * K and lag_after == 0
    assert state["counts"]["store_errors"] == 0, state
    assert failing["result"] == "fail", failing
    assert "not running or is stuck" in json.dumps(failing), failing
    assert passing["result"] == "pass", passing
