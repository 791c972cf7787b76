# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real components the lab and the tests build from language registries, once per machine.

Some services the suite works with are not Debian packages: the S3 server with Object Lock
(versitygw) and the policy server (OPA) come from the Go module proxy. Each is built once per
machine and cached machine-wide (like the podman images), under
``$XDG_CACHE_HOME/soc2audit/bin`` (default ``~/.cache/soc2audit/bin``), named by its pinned
version and the Go toolchain that built it, so a fresh clone (CI) reuses it and a new pin or
toolchain builds anew. Users get these components
from upstream releases; this module only serves the lab and the tests.

``python -m soc2audit.components versitygw`` (or ``opa``) builds (or reuses) the binary and
prints its path.

``python -m soc2audit.components kafka`` resolves the Apache Kafka broker's classpath from Maven
Central (``org.apache.kafka:kafka_2.13`` with its runtime dependencies, ``kafka-tools`` for the
admin tools and a log4j2 binding: Maven has no bin/ scripts and no logging backend) with Maven
(``mvn dependency:copy-dependencies`` on a pom this module writes), caches the jars under
``~/.cache/soc2audit/kafka-<version>/libs`` (beside it ``libs.tar.gz``, what the lab copies to
the broker hosts in one transfer) and prints the directory. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# The oldest Go that builds each pinned module (its go.mod `go` line).
GO_MIN = {"versitygw": (1, 25), "opa": (1, 24)}


@dataclass(frozen=True)
class GoComponent:
    name: str
    package: str  # the `go install` path of the main package
    version: str

    @property
    def ref(self) -> str:
        return f"{self.package}@{self.version}"


COMPONENTS = {
    # An S3 gateway with Object Lock: the write-once store of the log pipeline in the lab.
    "versitygw": GoComponent("versitygw", "github.com/versity/versitygw/cmd/versitygw", "v1.7.0"),
    # Open Policy Agent: the policy server on the monitor and `opa test/fmt/check` in lint.
    "opa": GoComponent("opa", "github.com/open-policy-agent/opa", "v1.22.3"),
}


class ComponentError(RuntimeError):
    """A problem the user can fix; printed without a traceback."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "soc2audit" / "bin"


def find_go() -> str:
    """The go command: on PATH, else the upstream toolchain's usual place."""
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if not found:
        raise ComponentError(
            "no Go toolchain: install Go 1.25 or newer (https://go.dev/dl/) and put `go` on PATH"
        )
    return found


def go_version(go: str) -> tuple[int, int]:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    match = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if out.returncode != 0 or not match:
        raise ComponentError(f"`{go} env GOVERSION` failed: {out.stderr.strip()[:200]}")
    return int(match.group(1)), int(match.group(2))


def binary_path(component: GoComponent, go_ver: tuple[int, int]) -> Path:
    return cache_dir() / f"{component.name}-{component.version}-go{go_ver[0]}.{go_ver[1]}"


def ensure(name: str, log: bool = True) -> Path:
    """Build ``name`` with ``go install`` unless this machine has it cached; return its path."""
    component = COMPONENTS[name]
    go = find_go()
    have = go_version(go)
    need = GO_MIN.get(name, (1, 0))
    if have < need:
        raise ComponentError(
            f"{component.ref} needs Go {need[0]}.{need[1]} or newer; `{go}` is "
            f"{have[0]}.{have[1]} (Debian 12's golang-go is 1.19: use the upstream toolchain)"
        )
    path = binary_path(component, have)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        env = dict(os.environ, CGO_ENABLED="0", GOBIN=tmp, GOFLAGS="-trimpath")
        proc = subprocess.run(
            [go, "install", component.ref], env=env, capture_output=True, text=True, check=False
        )
        built = Path(tmp) / Path(component.package).name
        if proc.returncode != 0 or not built.exists():
            raise ComponentError(
                f"go install {component.ref} failed:\n{proc.stderr.strip()[-2000:]}"
            )
        os.replace(built, path)  # atomic: a parallel build never leaves half a binary
    if log:
        took = time.monotonic() - started
        print(f"[components] built {component.ref} in {took:.0f}s: {path}", file=sys.stderr)
    return path


# The Kafka broker tier (roles/kafka) in the lab and its tests: the jars from Maven Central.
KAFKA_VERSION = "4.4.0"
KAFKA_SCALA = "2.13"
LOG4J_VERSION = "2.26.1"
# log4j-slf4j2-impl binds slf4j 2.x; kafka_2.13 would bring slf4j-api 1.7.36 (nearest wins), which
# finds no provider and logs nothing: pinned to the version log4j 2.26.1 is built against.
SLF4J_VERSION = "2.0.17"
KAFKA_ARTIFACTS = (
    # (groupId, artifactId, version): the broker (kafka.Kafka, kafka.tools.StorageTool), the
    # admin and client tools (org.apache.kafka.tools.*: TopicCommand, MetadataQuorumCommand,
    # ConsumerGroupCommand, the console producer and consumer; ACLs through kafka-tools'
    # AclCommand), the logging backend.
    ("org.apache.kafka", f"kafka_{KAFKA_SCALA}", KAFKA_VERSION),
    ("org.apache.kafka", "kafka-tools", KAFKA_VERSION),
    ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
    ("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J_VERSION),
    ("org.slf4j", "slf4j-api", SLF4J_VERSION),
)
# A class from each part the tier uses: a classpath without one of them is not cached.
KAFKA_MAIN_CLASSES = (
    "kafka/Kafka.class",
    "kafka/tools/StorageTool.class",
    "org/apache/kafka/tools/TopicCommand.class",
    "org/apache/kafka/tools/AclCommand.class",
    "org/apache/kafka/tools/MetadataQuorumCommand.class",
    "org/apache/kafka/tools/consumer/ConsoleConsumer.class",
    "org/apache/kafka/tools/ConsoleProducer.class",
    "org/apache/kafka/tools/consumer/group/ConsumerGroupCommand.class",
    "org/apache/logging/log4j/core/Logger.class",
    "org/apache/logging/slf4j/SLF4JServiceProvider.class",
)
MAVEN_DEPENDENCY_PLUGIN = "3.8.1"
MVN_FALLBACK = "/usr/bin/mvn"  # Debian's maven, when PATH is cut down (CI's environment)


def kafka_dir(version: str = KAFKA_VERSION) -> Path:
    """The versioned cache of the broker classpath: ``<cache>/kafka-<version>``."""
    return cache_dir().parent / f"kafka-{version}"


def kafka_pom() -> str:
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in KAFKA_ARTIFACTS
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by soc2audit.components: the Kafka broker classpath of the lab. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.soc2audit</groupId>
  <artifactId>kafka-classpath</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>{MAVEN_DEPENDENCY_PLUGIN}</version>
      </plugin>
    </plugins>
  </build>
</project>
"""


def missing_classes(libs: Path) -> list[str]:
    """Which of KAFKA_MAIN_CLASSES no jar in ``libs`` holds."""
    import zipfile

    wanted = set(KAFKA_MAIN_CLASSES)
    for jar in sorted(libs.glob("*.jar")):
        try:
            with zipfile.ZipFile(jar) as archive:
                wanted -= set(archive.namelist())
        except zipfile.BadZipFile as exc:
            raise ComponentError(f"{jar} is not a jar: {exc}") from exc
        if not wanted:
            break
    return sorted(wanted)


def ensure_kafka(log: bool = True) -> Path:
    """Resolve the Kafka classpath with Maven unless this machine has it cached; return the
    directory of jars. Raises ComponentError (a sentence a test can skip with) when Maven or
    the artifacts cannot be had."""
    top = kafka_dir()
    libs = top / "libs"
    if (top / ".complete").exists() and libs.is_dir():
        return libs
    mvn = shutil.which("mvn") or (MVN_FALLBACK if Path(MVN_FALLBACK).exists() else None)
    if not mvn:
        raise ComponentError(
            "no Maven: install Java 17 and Maven (apt-get install openjdk-17-jdk-headless maven) "
            "to build the Kafka broker classpath"
        )
    top.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=top) as tmp:
        work = Path(tmp)
        (work / "pom.xml").write_text(kafka_pom())
        out = work / "libs"
        proc = subprocess.run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(work / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={out}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not out.is_dir():
            tail = (proc.stdout + proc.stderr).strip()[-1500:]
            raise ComponentError(
                f"Maven could not resolve org.apache.kafka:kafka_{KAFKA_SCALA}:{KAFKA_VERSION} "
                f"(is Maven Central reachable?):\n{tail}"
            )
        absent = missing_classes(out)
        if absent:
            raise ComponentError(f"the resolved Kafka classpath lacks {', '.join(absent)}")
        # The archive the lab copies to each broker host (one transfer instead of ~90 files).
        # Laid out like the upstream tarball (one top directory, the jars in libs/), so the
        # role unpacks either the same way.
        subprocess.run(
            [
                "tar",
                "-C",
                str(work),
                f"--transform=s,^libs,kafka-{KAFKA_VERSION}/libs,",
                "-czf",
                str(work / "libs.tar.gz"),
                "libs",
            ],
            check=True,
        )
        if libs.exists():
            shutil.rmtree(libs)
        os.replace(out, libs)
        os.replace(work / "libs.tar.gz", top / "libs.tar.gz")
        (work / "pom.xml").replace(top / "pom.xml")
    (top / ".complete").write_text(f"{KAFKA_VERSION}\n")
    if log:
        took = time.monotonic() - started
        count = len(list(libs.glob("*.jar")))
        print(
            f"[components] resolved Kafka {KAFKA_VERSION} ({count} jars) in {took:.0f}s: {libs}",
            file=sys.stderr,
        )
    return libs


def kafka_archive() -> Path:
    """``libs.tar.gz`` beside the cached classpath (resolved first when absent)."""
    ensure_kafka()
    return kafka_dir() / "libs.tar.gz"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now, for a component run by the tests."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 10.0) -> None:
    """Stop a component the tests started: SIGTERM, then SIGKILL after ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="soc2audit-components", description=__doc__.split("\n")[0]
    )
    parser.add_argument("name", choices=sorted([*COMPONENTS, "kafka"]))
    parser.add_argument(
        "--archive",
        action="store_true",
        help="kafka: print the path of libs.tar.gz (what the lab copies to the brokers)",
    )
    args = parser.parse_args(argv)
    try:
        if args.name == "kafka":
            print(kafka_archive() if args.archive else ensure_kafka())
        else:
            print(ensure(args.name))
    except ComponentError as exc:
        print(f"[components] error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
