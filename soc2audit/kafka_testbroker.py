# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway single-node Apache Kafka 4.x broker (KRaft, combined broker and controller) on
loopback, for tests of the log pipeline's Kafka clients (rsyslog omkafka, the archive consumer):
the real broker from its Maven Central classpath (``python -m soc2audit.components kafka``, or
``SOC2_KAFKA_CLASSPATH`` naming a file with a ``:``-joined classpath), TLS only with client
certificates from a throwaway CA made by openssl, principal = the certificate's CN. No
authorizer: the ACLs are the kafka role's business (roles/kafka); this broker tests the clients.
Never reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from soc2audit import components

#: Client certificates the throwaway CA issues (principal = CN).
CLIENTS = ("aggregator", "archive", "edge1", "edge2")


def classpath() -> str:
    """The broker's classpath: SOC2_KAFKA_CLASSPATH (a file), else the components cache."""
    named = os.environ.get("SOC2_KAFKA_CLASSPATH")
    if named:
        return Path(named).read_text(encoding="utf-8").strip()
    libs = components.ensure_kafka(log=False)
    return ":".join(str(p) for p in sorted(libs.glob("*.jar")))


def _openssl(tmp: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)


def throwaway_pki(tmp: Path, clients: tuple[str, ...] = CLIENTS) -> Path:
    """ca.pem, broker.pem/.key (server and client auth, IP:127.0.0.1) and <client>.pem/.key."""
    tmp.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(tmp, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=soc2audit kafka test CA")  # fmt: skip
    for name, ext in [
        (
            "broker",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
        ),
        *[(c, "extendedKeyUsage=clientAuth\n") for c in clients],
    ]:
        (tmp / f"{name}.ext").write_text(ext)
        _openssl(tmp, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}")  # fmt: skip
        _openssl(tmp, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                 "-extfile", f"{name}.ext")  # fmt: skip
        # Kafka's PEM key store: the PKCS#8 key and the certificate in one file.
        _openssl(tmp, "pkcs8", "-topk8", "-nocrypt", "-in", f"{name}.key", "-out", f"{name}.p8")
        (tmp / f"{name}.keystore.pem").write_text(
            (tmp / f"{name}.p8").read_text() + (tmp / f"{name}.pem").read_text()
        )
    for path in tmp.glob("*.key"):
        path.chmod(0o644)  # read by clients in a container running as root: fine on a tmp dir
    return tmp


@dataclass
class KafkaTestBroker:
    tmp: Path
    port: int
    controller_port: int
    pki: Path
    cp: str = ""
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.tmp / "broker.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client_conf(self, name: str) -> dict[str, str]:
        """librdkafka settings of client ``name`` (paths on this machine)."""
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "ssl",
            "ssl.ca.location": str(self.pki / "ca.pem"),
            "ssl.certificate.location": str(self.pki / f"{name}.pem"),
            "ssl.key.location": str(self.pki / f"{name}.key"),
        }

    def properties(self) -> str:
        ks = self.pki / "broker.keystore.pem"
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=SSL://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=SSL://127.0.0.1:{self.port}",
                "listener.security.protocol.map=SSL:SSL,CONTROLLER:SSL",
                "inter.broker.listener.name=SSL",
                "controller.listener.names=CONTROLLER",
                "ssl.client.auth=required",
                "ssl.keystore.type=PEM",
                f"ssl.keystore.location={ks}",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={self.pki / 'ca.pem'}",
                "ssl.endpoint.identification.algorithm=",
                "ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT",
                f"log.dirs={self.tmp / 'data'}",
                "num.partitions=3",
                "default.replication.factor=1",
                "min.insync.replicas=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=3",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "auto.create.topics.enable=false",
                "group.initial.rebalance.delay.ms=0",
                "",
            ]
        )

    def java(self, main: str, *args: str, heap: str = "-Xmx512m") -> list[str]:
        log4j = self.tmp / "log4j2.properties"
        if not log4j.exists():
            log4j.write_text(
                "appender.out.type=Console\nappender.out.name=out\n"
                "appender.out.layout.type=PatternLayout\n"
                "appender.out.layout.pattern=[%d] %p %m (%c)%n\n"
                "rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=out\n"
                "logger.kafka.name=org.apache.kafka\nlogger.kafka.level=WARN\n"
                "logger.server.name=kafka.server.KafkaRaftServer\nlogger.server.level=INFO\n",
                encoding="utf-8",
            )
        return [
            "java",
            heap,
            f"-Dlog4j2.configurationFile={log4j}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
            "-cp",
            self.cp,
            main,
            *args,
        ]

    def start(self) -> None:
        config = self.tmp / "server.properties"
        if not (self.tmp / "data" / "meta.properties").exists():
            config.write_text(self.properties(), encoding="utf-8")
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = subprocess.run(
                self.java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster,
                    "-c",
                    str(config),
                    heap="-Xmx256m",
                ),
                check=False,
                capture_output=True,
                text=True,
                timeout=180,
            )
            if fmt.returncode != 0:
                raise RuntimeError(f"StorageTool format: {fmt.stdout[-2000:]}{fmt.stderr[-2000:]}")
        start_at = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.java("kafka.Kafka", str(config)),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while True:
            with self.log_path.open("rb") as fh:
                fh.seek(start_at)
                text = fh.read().decode(errors="replace")
            if "Kafka Server started" in text:
                with contextlib.suppress(OSError):
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(text[-3000:])
            time.sleep(0.5)

    def kill(self) -> None:
        """SIGKILL (a crash), waited for."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None:
            components.stop(self.process, grace=30)


@contextlib.contextmanager
def running(tmp: Path) -> Iterator[KafkaTestBroker]:
    """A broker on 127.0.0.1:<free port> until the block ends."""
    cp = classpath()
    pki = throwaway_pki(tmp / "pki")
    broker = KafkaTestBroker(tmp, components.free_port(), components.free_port(), pki)
    broker.cp = cp
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
