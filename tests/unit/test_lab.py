# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests for soc2audit/lab.py parts that need no podman: mirror discovery, names, inventory.

The apt configurations are shaped like the ones Debian 12/13 images ship (deb822
``debian.sources``) and older hosts use (one-line ``sources.list``), with placeholder hosts.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader

from soc2audit import lab

MIRROR = "http://mirror.invalid/debian"
SECURITY = "http://security.invalid/debian-security"

DEBIAN_SOURCES = f"""\
Types: deb
# {MIRROR}-snapshot/20250101T000000Z
URIs: {MIRROR}/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# {SECURITY}-snapshot/20250101T000000Z
URIs: {SECURITY}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SOC2_LAB_MIRROR", "SOC2_LAB_PREFIX", "SOC2_LAB_SUITE"):
        monkeypatch.delenv(name, raising=False)


def apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (apt / name).write_text(text)
    return apt


# ---------------------------------------------------------------- debian_mirror


def test_mirror_from_deb822_main_stanza(tmp_path: Path) -> None:
    apt = apt_dir(tmp_path, {"sources.list.d/debian.sources": DEBIAN_SOURCES})
    assert lab.debian_mirror(apt) == MIRROR


def test_mirror_skips_security_stanza_listed_first(tmp_path: Path) -> None:
    main, security = DEBIAN_SOURCES.split("\n\n")
    apt = apt_dir(tmp_path, {"sources.list.d/debian.sources": f"{security}\n\n{main}\n"})
    assert lab.debian_mirror(apt) == MIRROR


def test_mirror_skips_security_suite_even_on_a_neutral_uri(tmp_path: Path) -> None:
    # A local proxy serving the security archive under a path without "security" in it.
    main, security = DEBIAN_SOURCES.split("\n\n")
    security = security.replace(SECURITY, "http://proxy.invalid/debsec")
    apt = apt_dir(tmp_path, {"sources.list.d/debian.sources": f"{security}\n\n{main}\n"})
    assert lab.debian_mirror(apt) == MIRROR


def test_mirror_skips_disabled_and_source_only_stanzas(tmp_path: Path) -> None:
    text = (
        "Types: deb\n"
        "URIs: http://disabled.invalid/debian\n"
        "Suites: trixie\n"
        "Components: main\n"
        "Enabled: no\n"
        "\n"
        "Types: deb-src\n"
        "URIs: http://sources.invalid/debian\n"
        "Suites: trixie\n"
        "Components: main\n"
        "\n"
        "Types: deb deb-src\n"
        "URIs: http://mirror.invalid/debian\n"
        "Suites: trixie trixie-updates\n"
        "Components: main contrib\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    apt = apt_dir(tmp_path, {"sources.list.d/debian.sources": text})
    assert lab.debian_mirror(apt) == MIRROR


def test_mirror_only_disabled_stanza_is_no_mirror(tmp_path: Path) -> None:
    text = DEBIAN_SOURCES.split("\n\n")[0] + "\nEnabled: no\n"
    apt = apt_dir(tmp_path, {"sources.list.d/debian.sources": text})
    with pytest.raises(lab.LabError, match="SOC2_LAB_MIRROR"):
        lab.debian_mirror(apt)


def test_mirror_from_legacy_sources_list_with_options(tmp_path: Path) -> None:
    text = (
        "# See /etc/apt/sources.list.d/ for more\n"
        "# deb http://commented.invalid/debian bookworm main\n"
        "deb-src http://sources.invalid/debian bookworm main\n"
        "deb [arch=amd64] http://proxy.invalid/debsec bookworm-security main\n"
        "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64] "
        "http://mirror.invalid/debian/ bookworm main contrib non-free-firmware\n"
    )
    apt = apt_dir(tmp_path, {"sources.list": text})
    assert lab.debian_mirror(apt) == MIRROR


def test_mirror_from_list_file_in_sources_list_d(tmp_path: Path) -> None:
    apt = apt_dir(
        tmp_path, {"sources.list.d/mirror.list": "deb https://mirror.invalid/debian trixie main\n"}
    )
    assert lab.debian_mirror(apt) == "https://mirror.invalid/debian"


def test_mirror_ignores_non_http_uris(tmp_path: Path) -> None:
    text = "deb file:/srv/debian bookworm main\ndeb cdrom:[Debian 12]/ bookworm main\n"
    apt = apt_dir(tmp_path, {"sources.list": text})
    with pytest.raises(lab.LabError, match="SOC2_LAB_MIRROR"):
        lab.debian_mirror(apt)


def test_mirror_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    apt = apt_dir(tmp_path, {"sources.list.d/debian.sources": DEBIAN_SOURCES})
    monkeypatch.setenv("SOC2_LAB_MIRROR", "http://override.invalid/debian///")
    assert lab.debian_mirror(apt) == "http://override.invalid/debian"
    # The override needs no apt configuration at all.
    assert lab.debian_mirror(tmp_path / "missing") == "http://override.invalid/debian"


def test_no_mirror_names_the_override(tmp_path: Path) -> None:
    apt = apt_dir(tmp_path, {})
    with pytest.raises(lab.LabError) as exc:
        lab.debian_mirror(apt)
    assert "SOC2_LAB_MIRROR" in str(exc.value)
    assert "could not find a Debian mirror" in str(exc.value)


# ---------------------------------------------------------------- names


def test_lab_prefix_is_stable_and_per_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    first = lab.lab_prefix()
    assert first == lab.lab_prefix()
    assert lab.Lab(prefix=first, suite="bookworm").network == f"{first}-net"
    assert first.startswith("s2a-")
    assert len(first) == len("s2a-") + 8
    monkeypatch.setattr(lab, "REPO", Path("/srv/ci/other-checkout"))
    other = lab.lab_prefix()
    assert other != first
    assert other == lab.lab_prefix()


def test_lab_prefix_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOC2_LAB_PREFIX", "ci-42")
    assert lab.lab_prefix() == "ci-42"
    assert lab.Lab(prefix="ci-42", suite="trixie").container("edge1") == "ci-42-edge1"


@pytest.mark.parametrize("bad", ["CI", "x", "-lead", "has_underscore", "a" * 32, "sp ace"])
def test_lab_prefix_rejects_bad_env(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("SOC2_LAB_PREFIX", bad)
    with pytest.raises(lab.LabError, match="SOC2_LAB_PREFIX"):
        lab.lab_prefix()


def test_image_ref_stable_per_suite() -> None:
    bookworm = lab.image_ref("bookworm")
    assert bookworm == lab.image_ref("bookworm")
    assert bookworm.startswith("localhost/soc2audit-base:bookworm-")
    trixie = lab.image_ref("trixie")
    assert trixie.startswith("localhost/soc2audit-base:trixie-")
    assert bookworm.rsplit("-", 1)[1] != trixie.rsplit("-", 1)[1]


def test_image_ref_changes_with_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    before = lab.image_ref("bookworm")
    monkeypatch.setattr(lab, "BASE_PACKAGES", (*lab.BASE_PACKAGES, "vim-tiny"))
    assert lab.image_ref("bookworm") != before


def test_lab_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    assert lab.lab_suite(None) == "bookworm"
    assert lab.lab_suite("trixie") == "trixie"
    monkeypatch.setenv("SOC2_LAB_SUITE", "trixie")
    assert lab.lab_suite(None) == "trixie"
    with pytest.raises(lab.LabError, match=r"unknown lab suite 'sid'; choose one of bookworm"):
        lab.lab_suite("sid")
    monkeypatch.setenv("SOC2_LAB_SUITE", "buster")
    with pytest.raises(lab.LabError, match="'buster'"):
        lab.lab_suite(None)


# ---------------------------------------------------------------- write_inventory

ADDRESSES = {
    "edge1": "10.89.0.11",
    "edge2": "10.89.0.12",
    "aggregator": "10.89.0.13",
    "monitor": "10.89.0.14",
}


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    state.mkdir()
    path = tmp_path / "inventory" / "lab" / "hosts.yml"
    monkeypatch.setattr(lab, "STATE", state)
    monkeypatch.setattr(lab, "INVENTORY", path)
    test_lab = lab.Lab(prefix="t-lab", suite="trixie")
    lab.write_inventory(test_lab, ADDRESSES, state / "id_ed25519")
    return path


def test_write_inventory_yaml(inventory: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    data = yaml.safe_load(inventory.read_text())
    top = data["all"]
    assert top["vars"]["ansible_user"] == "root"
    assert top["vars"]["ansible_ssh_private_key_file"] == str(state / "id_ed25519")
    assert top["vars"]["soc2_lab_prefix"] == "t-lab"
    assert top["vars"]["soc2_lab_suite"] == "trixie"
    assert top["vars"]["soc2_lab_network"] == "t-lab-net"
    assert top["vars"]["pki_ca_dir"] == str(state / "pki")
    children = top["children"]
    assert {g: sorted(body["hosts"]) for g, body in children.items()} == {
        "edge": ["edge1", "edge2"],
        "aggregators": ["aggregator"],
        "timeservers": ["aggregator"],
        "monitors": ["monitor"],
        # The Kafka brokers are not in the default lab (make lab-scale names them).
        "kafka": [],
    }
    for body in children.values():
        for host, hvars in body["hosts"].items():
            assert hvars["ansible_host"] == ADDRESSES[host]
            assert hvars["soc2_lab_container"] == f"t-lab-{host}"
    args = top["vars"]["ansible_ssh_common_args"]
    assert f"-o UserKnownHostsFile={state / 'known_hosts.t-lab'}" in args
    assert "-o StrictHostKeyChecking=yes" in args
    assert "StrictHostKeyChecking=no" not in args


def test_write_inventory_as_ansible_reads_it(inventory: Path, tmp_path: Path) -> None:
    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    groups = manager.get_groups_dict()
    assert sorted(groups["edge"]) == ["edge1", "edge2"]
    assert groups["aggregators"] == ["aggregator"]
    assert groups["timeservers"] == ["aggregator"]
    assert groups["monitors"] == ["monitor"]
    assert sorted(groups["all"]) == sorted(ADDRESSES)
    for host, ip in ADDRESSES.items():
        hvars = manager.get_host(host).get_vars()
        assert hvars["ansible_host"] == ip
    all_vars = manager.groups["all"].get_vars()
    assert all_vars["ansible_ssh_common_args"] == (
        f"-o UserKnownHostsFile={tmp_path / 'state' / 'known_hosts.t-lab'} "
        "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
    )


def test_warm_image_ref_follows_its_base_and_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    warm = lab.warm_image_ref("bookworm")
    assert warm.startswith("localhost/soc2audit-molecule:bookworm-")
    assert warm == lab.warm_image_ref("bookworm") != lab.warm_image_ref("trixie")
    monkeypatch.setattr(lab, "WARM_PACKAGES", (*lab.WARM_PACKAGES, "jq"))
    assert lab.warm_image_ref("bookworm") != warm
    monkeypatch.undo()
    monkeypatch.setattr(lab, "BASE_PACKAGES", (*lab.BASE_PACKAGES, "vim-tiny"))
    assert lab.warm_image_ref("bookworm") != warm, "a new base image means a new warm image"


def test_warm_image_installs_like_the_roles() -> None:
    # With recommends, as ansible's apt module does by default (nft needs netbase's
    # /etc/protocols, a recommends of its dependencies), and never a service started; the
    # packages the roles install with install_recommends: false are installed without them.
    lines = lab.WARM_CUSTOMISE.splitlines()
    plain = [line for line in lines if line.startswith("apt-get install") and "{packages}" in line]
    bare = [line for line in lines if "{packages_no_recommends}" in line]
    assert plain and "--no-install-recommends" not in plain[0]
    assert bare and "--no-install-recommends" in bare[0]
    assert "policy-rc.d" in lab.WARM_CUSTOMISE and "systemctl disable" in lab.WARM_CUSTOMISE
    every_suite = set(lab.WARM_PACKAGES).union(*lab.WARM_SUITE_PACKAGES.values())
    assert set(lab.WARM_NO_RECOMMENDS) <= every_suite
    for role, key in (("node_exporter", "tasks/install.yml"), ("prometheus", "tasks/install.yml")):
        text = (lab.REPO / "roles" / role / key).read_text()
        assert "install_recommends: false" in text, role


def _role_packages() -> set[str]:
    """Every package a role installs on Debian: `*packages` lists under a Debian key in
    vars/main.yml, and `*_packages` lists in defaults/main.yml (but `*_legacy_packages`)."""
    import yaml

    found: set[str] = set()
    for role in sorted((lab.REPO / "roles").iterdir()):
        for rel in ("vars/main.yml", "defaults/main.yml"):
            path = role / rel
            data = yaml.safe_load(path.read_text()) if path.exists() else None
            for key, value in (data or {}).items():
                # *_legacy_packages are removed, not installed (fluent_bit: td-agent-bit).
                if key.endswith("_packages") and "legacy" not in key and isinstance(value, list):
                    found |= set(value)
                if isinstance(value, dict) and isinstance(value.get("Debian"), dict):
                    for sub, items in value["Debian"].items():
                        if sub.endswith("packages") and isinstance(items, list):
                            found |= set(items)
    return found


def test_warm_image_has_every_package_the_roles_install() -> None:
    packages = _role_packages()
    assert {"chrony", "nftables", "auditd"} <= packages, "the scan found the roles' packages"
    # ca-certificates is in the base image already.
    missing = packages - set(lab.warm_packages("bookworm")) - set(lab.BASE_PACKAGES)
    assert not missing, f"add to WARM_PACKAGES in soc2audit/lab.py: {sorted(missing)}"


def test_lab_hosts_subset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The default lab: the four hosts, not the optional Kafka brokers (CI's budget).
    assert list(lab.lab_hosts()) == ["edge1", "edge2", "aggregator", "monitor"]
    monkeypatch.setenv("SOC2_LAB_HOSTS", "aggregator,kafka1,kafka2,kafka3")
    assert lab.lab_hosts()["kafka2"] == ("kafka",)
    monkeypatch.setenv("SOC2_LAB_HOSTS", "edge1, aggregator")
    assert list(lab.lab_hosts()) == ["edge1", "aggregator"]
    monkeypatch.setenv("SOC2_LAB_HOSTS", "edge1,db1")
    with pytest.raises(lab.LabError, match=r"unknown host.*db1"):
        lab.lab_hosts()
    # The inventory of a two-host lab: empty groups stay (as empty mappings Ansible accepts).
    monkeypatch.setattr(lab, "STATE", tmp_path)
    monkeypatch.setattr(lab, "INVENTORY", tmp_path / "hosts.yml")
    two = {h: ADDRESSES[h] for h in ("edge1", "aggregator")}
    lab.write_inventory(lab.Lab(prefix="t-lab", suite="trixie"), two, tmp_path / "id_ed25519")
    manager = InventoryManager(loader=DataLoader(), sources=[str(tmp_path / "hosts.yml")])
    groups = manager.get_groups_dict()
    assert groups["edge"] == ["edge1"] and groups["timeservers"] == ["aggregator"]
    assert groups.get("monitors", []) == []
    assert sorted(groups["all"]) == ["aggregator", "edge1"]


def test_a_recreated_host_drops_only_its_own_cached_facts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another lab's converge may be writing the same cache (the Debian 13 lab beside the
    # four-host lab): removing the whole directory broke its fact writes in CI.
    for name in ("s1_edge1", "s1_edge10", "s1_edge2", "edge1", "s1_monitor"):
        (tmp_path / name).write_text("{}")
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path))
    lab.drop_cached_facts("edge1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s1_edge10", "s1_edge2", "s1_monitor"]
    monkeypatch.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(tmp_path / "absent"))
    lab.drop_cached_facts("edge1")  # no cache yet: nothing to do


def test_inventory_gives_the_log_pipeline_its_certificates(inventory: Path) -> None:
    """The aggregator presents rsyslog-server, each edge host shipper-client (its inventory
    name), each besides `host`; no LOG scoping: the checks run on every host."""
    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    agg = manager.groups["aggregators"].get_vars()["pki_certificate_requests"]
    edge = manager.groups["edge"].get_vars()["pki_certificate_requests"]
    assert [r["name"] for r in agg] == ["host", "rsyslog-server"]
    assert agg[1] == {
        "name": "rsyslog-server",
        "usage": "server",
        "run_after": "sh -c '! systemctl cat rsyslog.service >/dev/null 2>&1"
        " || systemctl try-restart rsyslog.service'",
    }
    assert [r["name"] for r in edge] == ["host", "shipper-client"]
    assert edge[1]["usage"] == "client" and edge[1]["sans"] == ["{{ inventory_hostname }}"]
    assert "log_aggregator_group" not in manager.groups["all"].get_vars()


def test_the_lab_store_is_wired_through_the_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the monitor and the aggregator: versitygw's certificate on the monitor, 7070 open to
    the aggregators and the control node only, the aggregator's upload and the control node's
    anchors on, credentials by file lookup (never their values in the inventory)."""
    monkeypatch.setattr(lab, "STATE", tmp_path)
    monkeypatch.setattr(lab, "INVENTORY", tmp_path / "hosts.yml")
    access, secret = lab.ensure_s3_credentials()
    assert {oct(p.stat().st_mode & 0o777) for p in (access, secret)} == {"0o600"}
    assert lab.ensure_s3_credentials() == (access, secret)
    assert access.read_text() == lab.ensure_s3_credentials()[0].read_text()  # generated once
    store = {"binary": "/cache/versitygw-v1.7.0-go1.26", "control_node": "10.89.0.1"}
    lab.write_inventory(lab.Lab(prefix="t-lab", suite="trixie"), ADDRESSES, tmp_path / "k", store)
    text = (tmp_path / "hosts.yml").read_text()
    assert secret.read_text() not in text and access.read_text() not in text
    manager = InventoryManager(loader=DataLoader(), sources=[str(tmp_path / "hosts.yml")])
    mon = manager.groups["monitors"].get_vars()
    assert [r["name"] for r in mon["pki_certificate_requests"]] == [
        "host", "prometheus-scrape", "prometheus-web", "s3-endpoint"
    ]  # fmt: skip
    assert mon["prometheus_scrape_interval"] == "5s"
    assert mon["nftables_group_services"] == [
        {
            "name": "s3_object_lock",
            "ports": [7070],
            "protocol": "tcp",
            "apply_to": ["monitors"],
            "allow_groups": ["aggregators"],
            "allow_networks": ["10.89.0.1"],
        }
    ]
    agg = manager.groups["aggregators"].get_vars()
    assert agg["log_aggregator_upload_enabled"] is True
    assert agg["log_aggregator_upload_endpoint_url"] == "https://monitor:7070"
    assert agg["log_aggregator_upload_retention_days"] >= 365
    assert str(access) in agg["log_aggregator_upload_access_key_id"]
    top = manager.groups["all"].get_vars()
    assert top["soc2_lab_versitygw_binary"] == store["binary"]
    assert top["soc2audit_evidence_anchor_s3_endpoint_url"] == "https://10.89.0.14:7070"
    assert top["soc2audit_evidence_anchor_s3_ca_bundle"] == str(tmp_path / "pki/ca-chain.pem")
    # Without a store (a lab without the monitor): none of it.
    lab.write_inventory(lab.Lab(prefix="t-lab", suite="trixie"), ADDRESSES, tmp_path / "k")
    assert "s3" not in (tmp_path / "hosts.yml").read_text().replace("soc2", "")


def _fake_podman(monkeypatch: pytest.MonkeyPatch, results: dict[str, int], root: str) -> list:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], check: bool = True, **_: object) -> object:
        calls.append(cmd)
        rc = next((v for k, v in results.items() if " ".join(cmd).startswith(k)), 0)
        out = root if cmd[:2] == ["podman", "mount"] else ""
        return subprocess.CompletedProcess(cmd, rc, out, "")

    monkeypatch.setattr(lab, "run", fake_run)
    return calls


def test_removing_a_running_host_clears_the_store_flags_inside_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _fake_podman(monkeypatch, {}, "")
    lab.remove_container("t-aggregator")
    assert calls[1][:3] == ["podman", "exec", "t-aggregator"]
    assert "chattr -R -ia /srv/soc2audit/logs" in calls[1][-1]
    assert calls[-1][:2] == ["podman", "rm"]


def test_removing_a_dead_host_clears_the_flags_through_its_mounted_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "srv/soc2audit/logs").mkdir(parents=True)
    calls = _fake_podman(monkeypatch, {"podman exec": 1}, str(tmp_path))
    lab.remove_container("t-aggregator")
    names = [c[0] if c[0] != "podman" else " ".join(c[:2]) for c in calls]
    assert names == [
        "podman container",
        "podman exec",
        "podman mount",
        "chattr",
        "podman umount",
        "podman rm",
    ]
    assert calls[3] == ["chattr", "-R", "-ia", str(tmp_path / "srv/soc2audit/logs")]


def test_removing_an_absent_host_only_runs_rm(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_podman(monkeypatch, {"podman container exists": 1}, "")
    lab.remove_container("t-gone")
    assert [c[:2] for c in calls] == [["podman", "container"], ["podman", "rm"]]


def test_inotify_headroom_names_a_low_limit_and_raises_it_only_when_asked(tmp_path: Path) -> None:
    limit = tmp_path / "max_user_instances"
    limit.write_text("128\n")
    why = lab.inotify_headroom(False, limit)
    assert why and "is 128, below 1024" in why and "sysctl -w" in why
    assert limit.read_text() == "128\n"
    if os.geteuid() == 0:
        assert lab.inotify_headroom(True, limit) is None
        assert limit.read_text() == "1024\n"
    limit.write_text("8192\n")
    assert lab.inotify_headroom(True, limit) is None
    assert limit.read_text() == "8192\n"
    assert lab.inotify_headroom(True, tmp_path / "absent") is None


def test_the_kafka_lab_installs_the_maven_classpath(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """make lab-scale: the brokers' group gets the cached Maven classpath as its install source,
    the certificates of the broker and of the admin identity, and the Kafka ports in nftables."""
    monkeypatch.setattr(lab, "STATE", tmp_path)
    monkeypatch.setattr(lab, "INVENTORY", tmp_path / "hosts.yml")
    hosts = {"aggregator": "10.89.0.4", "kafka1": "10.89.0.6", "kafka2": "10.89.0.7"}
    archive = tmp_path / "libs.tar.gz"
    lab.write_inventory(
        lab.Lab(prefix="t-kfk", suite="bookworm"),
        hosts,
        tmp_path / "id_ed25519",
        None,
        None,
        archive,
    )
    kafka = yaml.safe_load((tmp_path / "hosts.yml").read_text())["all"]["children"]["kafka"]
    assert sorted(kafka["hosts"]) == ["kafka1", "kafka2"]
    assert kafka["vars"]["kafka_install_method"] == "local_path"
    assert kafka["vars"]["kafka_local_path"] == str(archive)
    names = [r["name"] for r in kafka["vars"]["pki_certificate_requests"]]
    assert names == ["host", "kafka-admin"]
    assert kafka["vars"]["nftables_group_services"][0]["ports"] == [9092, 9093]
    # The aggregator produces to the brokers and runs the archive consumer: its certificates
    # name the principals the brokers' ACLs allow (kafka_producer/consumer_principals).
    agg = yaml.safe_load((tmp_path / "hosts.yml").read_text())["all"]["children"]["aggregators"]
    assert agg["vars"]["log_aggregator_kafka_enabled"] is True
    assert agg["vars"]["log_aggregator_kafka_brokers"] == ["kafka1:9092", "kafka2:9092"]
    requests = {r["name"]: r for r in agg["vars"]["pki_certificate_requests"]}
    assert "common_name" not in requests["kafka-client"]  # the host name: aggregator
    assert kafka["vars"]["kafka_producer_principals"] == ["aggregator"]
    assert requests["archive-consumer"]["common_name"] == "archive-consumer"
    assert kafka["vars"]["kafka_consumer_principals"] == ["archive-consumer"]
    assert agg["vars"]["log_aggregator_kafka_archive_cert_path"].endswith("/archive-consumer.crt")


def test_the_main_lab_aggregator_has_no_kafka(inventory: Path) -> None:
    agg = yaml.safe_load(inventory.read_text())["all"]["children"]["aggregators"]["vars"]
    assert "log_aggregator_kafka_enabled" not in agg
    assert [r["name"] for r in agg["pki_certificate_requests"]] == ["host", "rsyslog-server"]


def test_up_starts_from_the_warm_image_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """`lab up --warm` (make lab-scale, test_89): the warm molecule image, else the base one."""
    seen: list[bool] = []

    def fake_up(_lab: lab.Lab, retry_network: bool = True, warm: bool = False) -> dict[str, str]:
        seen.append(warm)
        return {}

    monkeypatch.setattr(lab, "up", fake_up)
    assert lab.main(["up", "--warm"]) == 0
    assert lab.main(["up"]) == 0
    assert seen == [True, False]
