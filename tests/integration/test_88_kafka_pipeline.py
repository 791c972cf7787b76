# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The log pipeline through Kafka, on loopback (issue 17): the aggregator's rsyslog (the role's
own rsyslog.conf.j2 with Kafka forwarding on, checked with rsyslogd -N1) produces to a real
Kafka 4.4.0 broker (soc2audit.kafka_testbroker: the Maven Central classpath, TLS with client
certificates) through Debian 12's rsyslog-kafka (librdkafka 2.0.2), and the archive consumer
(roles/log_aggregator/files/log-kafka-archive, Debian's python3-confluent-kafka) writes the
write-once store with log-store's writer and dedup.

The clients run in a Debian 12 container (the warm lab image, host network so that they reach
the broker on 127.0.0.1): the packages the hosts run, never a client from PyPI.

What must hold: K numbered events from each sending host reach the store exactly once, while
the broker is killed with SIGKILL mid-stream and restarted, and while the consumer is frozen,
killed with SIGKILL and left stopped; a frozen consumer's committed offsets never run ahead of
what the store holds (offsets are committed only after the fsynced write); after the restart the
lag is 0 on every partition. The figures are printed (pytest -s) for the note.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from conftest import REPO, wait_for
from kafka_checks import EVENT_TEXT, count_records, event_of, verdict

from soc2audit import components, kafka_testbroker, lab

pytestmark = pytest.mark.own_containers

ROLE = REPO / "roles" / "log_aggregator"
ARCHIVE = "/src/roles/log_aggregator/files/log-kafka-archive"
TOOL = "/src/tests/integration/kafka_tool.py"
TOPIC = "soc2audit.audit"
GROUP = "soc2audit-archive"
HOSTS = ("edge1", "edge2")
K = int(os.environ.get("SOC2_KAFKA_TEST_K", "1500"))
CONSUMER_STOPPED_SECONDS = float(os.environ.get("SOC2_KAFKA_TEST_STOPPED_SECONDS", "60"))


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka_testbroker.KafkaTestBroker]:
    tmp = tmp_path_factory.mktemp("kafka")
    tmp.chmod(0o755)
    try:
        kafka_testbroker.classpath()
    except (components.ComponentError, OSError) as exc:
        pytest.skip(f"no Kafka broker classpath on this machine: {exc}")
    with kafka_testbroker.running(tmp) as running:
        yield running


class Client:
    """The Debian 12 container the Kafka clients run in (host network, /src = the checkout)."""

    def __init__(self, name: str, broker: kafka_testbroker.KafkaTestBroker) -> None:
        self.name = name
        self.broker = broker

    def run(
        self, *argv: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["podman", "exec", self.name, *argv],
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv}: rc {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def tool(self, who: str, *argv: str) -> Any:
        conf = self.broker.tmp / f"{who}.json"
        if not conf.exists():
            conf.write_text(json.dumps(self.broker.client_conf(who)))
        return json.loads(self.run("python3", TOOL, str(conf), *argv).stdout)

    def offsets(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = self.tool("archive", "offsets", TOPIC, GROUP)
        return out

    def start(self, pidfile: Path, *argv: str) -> subprocess.Popen[str]:
        log = (pidfile.with_suffix(".log")).open("a")
        return subprocess.Popen(
            [
                "podman",
                "exec",
                self.name,
                "sh",
                "-c",
                f'echo $$ > {pidfile}; exec "$@"',
                "sh",
                *argv,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def signal(self, pidfile: Path, sig: str) -> None:
        self.run("kill", f"-{sig}", pidfile.read_text().strip())


@pytest.fixture(scope="module")
def client(broker: kafka_testbroker.KafkaTestBroker) -> Iterator[Client]:
    name = f"{lab.lab_prefix()}-kclient"
    image = lab.warm_image_ref("bookworm")
    for _ in range(3):  # a busy podman store can answer "no" for a moment
        if lab.image_exists(image):
            break
        time.sleep(2)
    else:
        image = lab.ensure_warm_image("bookworm")
    subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(
        [
            "podman",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            "-v",
            f"{broker.tmp}:{broker.tmp}",
            "-v",
            f"{REPO}:/src:ro",
            image,
            "sleep",
            "infinity",
        ],
        check=True,
        capture_output=True,
    )
    try:
        box = Client(name, broker)
        packages = "rsyslog rsyslog-kafka python3-confluent-kafka"
        apt = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends"
        box.run(
            "sh",
            "-c",
            f"{apt} {packages}",
            timeout=600,
        )
        yield box
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "2", name], capture_output=True, check=False)


# ---------------------------------------------------------------- helpers
def render_rsyslog_conf(overrides: dict[str, Any]) -> str:
    """The role's rsyslog.conf.j2 with its defaults and ``overrides`` (what Ansible renders)."""
    values: dict[str, Any] = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values.update(overrides)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["to_json"] = json.dumps
    for _ in range(3):  # defaults that name other defaults
        values = {
            k: env.from_string(v).render(**values) if isinstance(v, str) and "{{" in v else v
            for k, v in values.items()
        }
    template = (ROLE / "templates" / "etc" / "rsyslog.conf.j2").read_text()
    return env.from_string(template).render(**values)


def send(port: int, host: str, first: int, count: int) -> None:
    """RFC 5424 messages over plain TCP (LF-framed), numbered events of ``host``."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for n in range(first, first + count):
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
            line = f"<13>1 {stamp} {host} soc2kt - - - {EVENT_TEXT.format(host=host, n=n)}\n"
            sock.sendall(line.encode())


def stored_count(state: Path) -> int:
    db = state / "index.sqlite"
    if not db.exists():
        return 0
    with sqlite3.connect(db, timeout=10) as conn:
        # The writer creates the file before its schema: no table yet is no record yet (a
        # probe in that moment failed the fresh-clone run of aa4d2b8).
        made = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'records'")
        if made.fetchone() is None:
            return 0
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])


def store_events(root: Path) -> Any:
    """(host, n) of every stored record, counted (a duplicate shows as 2)."""
    return count_records(
        line for path in root.glob("*/*.jsonl") for line in path.read_text().splitlines()
    )


# ---------------------------------------------------------------- the test
def test_rsyslog_to_kafka_to_store_exactly_once_through_broker_and_consumer_kills(
    broker: kafka_testbroker.KafkaTestBroker, client: Client
) -> None:
    started = time.monotonic()
    tmp, pki = broker.tmp, broker.pki
    client.tool("aggregator", "topic-create", TOPIC, "3", "1")

    # The aggregator's rsyslog: the role's template, Kafka forwarding on, a plain listener on
    # loopback to send into (the TLS listeners are the role's molecule scenarios' business).
    spool = tmp / "spool"
    spool.mkdir()
    plain_port, peer_port = components.free_port(), components.free_port()
    conf = tmp / "rsyslog.conf"
    conf.write_text(
        render_rsyslog_conf(
            {
                "ansible_managed": "test_87",
                "inventory_hostname": "aggregator",
                "_log_aggregator_spool_dir": str(spool),
                "_log_aggregator_peers": [{"name": "edge1", "port": peer_port}],
                "_log_aggregator_gnutls_priority": "NORMAL",
                "_log_aggregator_store_bin": "/nonexistent",
                "_log_aggregator_state_dir": "/nonexistent",
                # impstats of the omkafka queue (LOG-13), written where the test can read it.
                "_log_aggregator_stats_file": str(tmp / "impstats.json"),
                "log_aggregator_relp_enabled": False,
                "log_aggregator_local_files_enabled": False,
                "log_aggregator_plain_listener_enabled": True,
                "log_aggregator_plain_listen_addresses": ["127.0.0.1"],
                "log_aggregator_plain_port": plain_port,
                "log_aggregator_ca_path": str(pki / "ca.pem"),
                "log_aggregator_cert_path": str(pki / "broker.pem"),
                "log_aggregator_key_path": str(pki / "broker.key"),
                "log_aggregator_kafka_enabled": True,
                "log_aggregator_kafka_brokers": [broker.bootstrap],
                "log_aggregator_kafka_cert_path": str(pki / "aggregator.pem"),
                "log_aggregator_kafka_key_path": str(pki / "aggregator.key"),
            }
        )
    )
    checked = client.run("rsyslogd", "-N1", "-f", str(conf), check=False)
    assert checked.returncode == 0, checked.stderr
    client.run("rsyslogd", "-f", str(conf), "-i", str(tmp / "rsyslogd.pid"))
    wait_for("rsyslog's plain listener", lambda: _listening(plain_port), 30)

    # The archive consumer, in the background.
    root, state = tmp / "store", tmp / "state"
    pidfile = tmp / "archive.pid"
    archive_argv = [
        "python3", ARCHIVE, "--brokers", broker.bootstrap, "--topic", TOPIC, "--group", GROUP,
        "--root", str(root), "--state-dir", str(state), "--ca", str(pki / "ca.pem"),
        "--cert", str(pki / "archive.pem"), "--key", str(pki / "archive.key"), "--no-attrs",
    ]  # fmt: skip
    consumer = client.start(pidfile, *archive_argv)

    # First third of each host's events; then the broker dies (SIGKILL) mid-stream.
    third = K // 3
    for host in HOSTS:
        send(plain_port, host, 0, third)
    wait_for("the first records in the store", lambda: stored_count(state) > 0, 120)
    broker.kill()
    for host in HOSTS:
        send(plain_port, host, third, third)  # into rsyslog's queue / librdkafka's retries
    time.sleep(3)
    broker.start()  # same data directory: the committed offsets and the log survive

    # The consumer frozen mid-stream: what it committed is never ahead of the store.
    wait_for("the second third flowing", lambda: stored_count(state) > third * 2 + 50, 180)
    client.signal(pidfile, "STOP")
    try:
        at_freeze = client.offsets()
        in_store = store_events(root)
        committed = sum(p["committed"] for p in at_freeze.values())
        below = {k: p["committed"] for k, p in at_freeze.items()}
        behind = [
            text
            for text in client.tool("archive", "read", TOPIC, json.dumps(below))
            if event_of(text) not in in_store
        ]
        # Every message below a committed offset is in the store (durable before committed).
        assert committed > 0 and not behind, (committed, behind[:5])
        held = sum(in_store.values())
    finally:
        client.signal(pidfile, "KILL")
    consumer.wait(timeout=30)

    # The last third arrives while no consumer runs (stopped for a while), then it restarts.
    for host in HOSTS:
        send(plain_port, host, 2 * third, K - 2 * third)
    time.sleep(CONSUMER_STOPPED_SECONDS)
    total = len(HOSTS) * K
    wait_for(
        "rsyslog to deliver every event to Kafka",
        lambda: sum(p["high"] for p in client.offsets().values()) >= total,
        240,
        step=3,
    )
    lag_while_stopped = sum(p["lag"] for p in client.offsets().values())
    restarted = client.run(*archive_argv, "--exit-when-caught-up", "5", timeout=600)
    assert restarted.returncode == 0, restarted.stderr

    # Everything produced is in Kafka before we conclude: rsyslog's queue is drained.
    offsets = client.offsets()
    seen = store_events(root)
    expected = {(h, n) for h in HOSTS for n in range(K)}
    judged = verdict(seen, expected)
    lost, duplicates = judged["lost"], judged["duplicates"]
    run_state = json.loads((state / "kafka-archive.json").read_text())
    figures = {
        "K_per_host": K,
        "hosts": len(HOSTS),
        "stored": sum(seen.values()),
        "lost": len(lost),
        "duplicates_in_store": len(duplicates),
        "replayed_and_absorbed_by_dedup": run_state["counts"]["duplicate"],
        "lag_while_consumer_stopped": lag_while_stopped,
        "lag_after": sum(p["lag"] for p in offsets.values()),
        "kafka_messages": sum(p["high"] for p in offsets.values()),
        "committed_at_freeze": committed,
        "stored_at_freeze": held,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    print("\nKAFKA PIPELINE FIGURES", json.dumps(figures, sort_keys=True), file=sys.stderr)
    assert not lost, lost[:20]
    assert not duplicates, duplicates[:20]
    assert not judged["unexpected"], judged["unexpected"][:20]
    assert figures["lag_after"] == 0, offsets
    assert run_state["lag_total"] == 0 and run_state["counts"]["store_errors"] == 0, run_state
    assert lag_while_stopped > 0, "the consumer was stopped while events arrived"
    client.run("sh", "-c", f"kill $(cat {tmp / 'rsyslogd.pid'})", check=False)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True
