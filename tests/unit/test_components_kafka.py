# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Kafka broker classpath from Maven Central (soc2audit.components kafka)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from soc2audit import components

NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def test_the_pom_asks_for_the_broker_the_tools_and_a_log4j2_binding() -> None:
    root = ET.fromstring(components.kafka_pom())
    deps = {
        (d.findtext("m:groupId", namespaces=NS), d.findtext("m:artifactId", namespaces=NS)): (
            d.findtext("m:version", namespaces=NS)
        )
        for d in root.iterfind("m:dependencies/m:dependency", NS)
    }
    assert deps[("org.apache.kafka", "kafka_2.13")] == "4.4.0"
    assert deps[("org.apache.kafka", "kafka-tools")] == "4.4.0"
    assert deps[("org.apache.logging.log4j", "log4j-core")] == "2.26.1"
    assert deps[("org.apache.logging.log4j", "log4j-slf4j2-impl")] == "2.26.1"
    # slf4j 2: with kafka's 1.7.36 the log4j2 provider is never found and the broker logs nothing.
    assert deps[("org.slf4j", "slf4j-api")].startswith("2.")


def test_the_cache_is_versioned_under_the_machine_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert components.kafka_dir() == tmp_path / "soc2audit" / "kafka-4.4.0"


def test_a_classpath_without_the_tools_is_named(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "kafka_2.13-4.4.0.jar", "w") as jar:
        jar.writestr("kafka/Kafka.class", b"")
        jar.writestr("kafka/tools/StorageTool.class", b"")
    absent = components.missing_classes(tmp_path)
    assert "kafka/Kafka.class" not in absent
    assert "org/apache/kafka/tools/TopicCommand.class" in absent
    assert "org/apache/kafka/tools/AclCommand.class" in absent


def test_without_maven_it_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(components.shutil, "which", lambda _name: None)
    monkeypatch.setattr(components, "MVN_FALLBACK", str(tmp_path / "no-mvn"))
    with pytest.raises(components.ComponentError, match="no Maven"):
        components.ensure_kafka(log=False)


def test_a_cached_classpath_holds_every_class_the_tier_runs() -> None:
    """The real cache, when this machine has resolved it (make lab-scale / the molecule
    scenarios do): every main class the role and the tests start is in it."""
    libs = components.kafka_dir() / "libs"
    if not (components.kafka_dir() / ".complete").exists():
        pytest.skip(f"no resolved Kafka classpath at {libs} (python -m soc2audit.components kafka)")
    assert components.missing_classes(libs) == []
    jars = {p.name for p in libs.glob("*.jar")}
    assert "kafka_2.13-4.4.0.jar" in jars and "log4j-slf4j2-impl-2.26.1.jar" in jars
    assert not any(j.startswith("slf4j-api-1.") for j in jars)
