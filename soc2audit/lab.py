# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The local lab: four systemd containers reached over SSH like production hosts.

`python -m soc2audit.lab up` builds (or reuses) the Debian base image, creates this checkout's
podman network and containers, injects the lab SSH key, regenerates per-container SSH host keys,
records them in a known_hosts file and writes `inventory/lab/hosts.yml`.
`down` removes everything `up` made for this checkout; `down --purge` also drops the cached image.

Every podman resource carries a prefix derived from the checkout's absolute path, so a second
checkout on the same machine (CI beside a developer's lab) neither sees nor breaks this one.
Facts this relies on (runc, explicit ulimits, debootstrap + podman import, systemd as PID 1
inside privileged containers) are in docs/architecture.md "Design decisions" and docs/runbook.md
"Troubleshooting".
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from soc2audit import components, prereqs

REPO = Path(__file__).resolve().parent.parent
STATE = REPO / ".lab"
INVENTORY = Path(os.environ.get("SOC2_LAB_INVENTORY") or REPO / "inventory" / "lab" / "hosts.yml")

SUITES = ("bookworm", "trixie")
BASE_PACKAGES = (
    "systemd",
    "systemd-sysv",
    "python3",
    "python3-apt",
    "openssh-server",
    "sudo",
    "iproute2",
    "procps",
    "ca-certificates",
    "gnupg",
)

# name -> inventory groups. The aggregator also serves time to the fleet.
HOSTS: dict[str, tuple[str, ...]] = {
    "edge1": ("edge",),
    "edge2": ("edge",),
    "aggregator": ("aggregators", "timeservers"),
    "monitor": ("monitors",),
    # The Kafka tier (roles/kafka): three combined brokers and KRaft controllers. Not part of the
    # default lab (CI's budget): they come up when named in SOC2_LAB_HOSTS, as `make lab-scale`
    # does (the Kafka fleet lab under its own prefix, <prefix>-kfk).
    "kafka1": ("kafka",),
    "kafka2": ("kafka",),
    "kafka3": ("kafka",),
}
#: Hosts a lab has only when SOC2_LAB_HOSTS names them.
OPTIONAL_HOSTS = ("kafka1", "kafka2", "kafka3")
GROUPS = ("edge", "aggregators", "timeservers", "monitors", "kafka")
#: The host of the lab's OPA server (group opa_servers, when the binary can be had).
OPA_HOST = "monitor"
# Group variables of the generated inventory (YAML lines under the group), as in
# inventory/example/group_vars/: the log pipeline's certificates besides `host`. The aggregator's
# listeners present `rsyslog-server` (rsyslogd reads it only at start: restart on re-issue); each
# edge host presents `shipper-client`, named exactly by its inventory name (the permitted peer).
GROUP_VARS: dict[str, list[str]] = {
    "aggregators": [
        "vars:",
        "  pki_certificate_requests:",
        "    - name: host",
        "      usage: both",
        "    - name: rsyslog-server",
        "      usage: server",
        # On a fresh host the pki role issues this before log_aggregator installs rsyslog, and
        # `systemctl try-restart` fails for a unit that does not exist (rc 5): only when it does.
        "      run_after: \"sh -c '! systemctl cat rsyslog.service >/dev/null 2>&1"
        " || systemctl try-restart rsyslog.service'\"",
    ],
    "edge": [
        "vars:",
        "  pki_certificate_requests:",
        "    - name: host",
        "      usage: both",
        "    - name: shipper-client",
        "      usage: client",
        '      sans: ["{{ inventory_hostname }}"]',
        # impstats every 10 s instead of 60: the first counters (LOG-04, LOG-05) exist 10 s
        # after a fresh install, so the cold converge waits that long, not a minute.
        "  log_shipper_stats_interval_seconds: 10",
    ],
    "monitors": [
        "vars:",
        "  pki_certificate_requests:",
        "    - name: host",
        "      usage: both",
        # Prometheus' client certificate for node_exporter, Alertmanager and the receiver, and
        # its server certificate (local clients use localhost); the keys to group prometheus
        # (created before pki by the prometheus role's `user` tasks in site.yml).
        "    - name: prometheus-scrape",
        "      usage: client",
        "      group: prometheus",
        '      mode: "0640"',
        "    - name: prometheus-web",
        "      usage: server",
        "      extra_sans: [localhost]",
        "      group: prometheus",
        '      mode: "0640"',
        # Fast notifications in the lab: a drift shows in Alertmanager seconds after its scrape,
        # and the resolved notification follows as quickly (tests/integration/test_90).
        "  prometheus_scrape_interval: 5s",
        "  prometheus_scrape_timeout: 4s",
        "  prometheus_evaluation_interval: 5s",
        "  prometheus_alertmanager_group_wait: 1s",
        "  prometheus_alertmanager_group_interval: 5s",
    ],
    # The brokers present their host certificate (usage both: also their client certificate
    # towards each other) and hold the admin identity's (a super user) for the role's topic and
    # ACL management and soc2-kafka-admin. Heaps and buffers sized for three JVMs on two shared
    # cores; the classpath is the Maven one (kafka_local_path, added by write_inventory).
    "kafka": [
        "vars:",
        "  pki_certificate_requests:",
        "    - name: host",
        "      usage: both",
        "    - name: kafka-admin",
        "      usage: client",
        "      common_name: kafka-admin",
        "      sans: [kafka-admin]",
        "  kafka_install_method: local_path",
        "  kafka_heap_opts: -Xms256m -Xmx256m",
        "  kafka_jvm_opts: [-XX:+UseSerialGC, -XX:TieredStopAtLevel=1, -XX:-UseContainerSupport,"
        " -Djava.awt.headless=true]",
        "  kafka_limit_nofile: 8192",
        "  kafka_extra_properties:",
        "    log.cleaner.dedupe.buffer.size: 16777216",
        # The aggregator produces (its host certificate, CN aggregator); the archive consumer's
        # certificate CN is archive-consumer (issued where it runs).
        "  kafka_producer_principals: [aggregator]",
        "  kafka_consumer_principals: [archive-consumer]",
        "  nftables_group_services:",
        "    - name: kafka",
        "      ports: [9092, 9093]",
        "      protocol: tcp",
        "      apply_to: [kafka]",
        "      allow_groups: [kafka, aggregators, edge]",
    ],
}

# The aggregator's side of the Kafka tier, when the lab has brokers (`make lab-scale`): it
# forwards to the audit topic (omkafka with its host name as the producer principal, certificate
# kafka-client) and runs the archive consumer (certificate archive-consumer, the consumer
# principal). LOG-12 judges the consumer's state file stale after 30 s (it is rewritten every
# 10 s), so a consumer stopped for a minute fails the drift run (test_89_kafka_lab).
KAFKA_AGGREGATOR_CERTIFICATES = [
    "    - name: kafka-client",
    "      usage: client",
    "    - name: archive-consumer",
    "      usage: client",
    "      common_name: archive-consumer",
    "      sans: [archive-consumer]",
]


def kafka_aggregator_vars(brokers: list[str]) -> list[str]:
    """The lines the Kafka tier adds under the aggregators' `vars:` (brokers: host names)."""
    return [
        "  log_aggregator_kafka_enabled: true",
        f"  log_aggregator_kafka_brokers: {json.dumps([f'{b}:9092' for b in brokers])}",
        "  log_aggregator_kafka_archive_cert_path: /etc/ssl/soc2audit/archive-consumer.crt",
        "  log_aggregator_kafka_archive_key_path: /etc/ssl/soc2audit/private/archive-consumer.key",
        "  log_aggregator_kafka_max_state_age_seconds: 30",
    ]


# The lab's write-once store (docs/s3-object-lock.md, "The lab's store"): versitygw with Object
# Lock on the monitor, deployed by playbooks/lab_s3_store.yml (lab code, not a role: users bring
# their own S3). It exists when the lab has both the monitor and the aggregator.
S3_PORT = 7070
S3_BUCKET = "soc2-evidence"
S3_STORE_HOST = "monitor"
# Object Lock retention of the lab's uploads and anchors: one day more than the review period
# (log_aggregator_review_period_days and the evidence retention, both 365 by default).
S3_RETENTION_DAYS = 366
S3_ACCESS_KEY = "s3-access-key"
S3_SECRET_KEY = "s3-secret-key"


def lab_hosts() -> dict[str, tuple[str, ...]]:
    """The lab's hosts: all four, or the subset named in SOC2_LAB_HOSTS (comma-separated), for
    a smaller second lab such as the Debian 13 one in the integration tests."""
    wanted = [h.strip() for h in os.environ.get("SOC2_LAB_HOSTS", "").split(",") if h.strip()]
    if not wanted:
        return {h: g for h, g in HOSTS.items() if h not in OPTIONAL_HOSTS}
    unknown = [h for h in wanted if h not in HOSTS]
    if unknown:
        raise LabError(
            f"SOC2_LAB_HOSTS: unknown host(s) {', '.join(unknown)}; known: {', '.join(HOSTS)}"
        )
    return {h: g for h, g in HOSTS.items() if h in wanted}


CONTAINERS_CONF = """\
# Generated by soc2audit.lab. Podman settings this machine needs (docs/runbook.md):
# crun fails on hybrid cgroups, and podman cannot raise RLIMIT_NOFILE without CAP_SYS_RESOURCE.
[containers]
default_ulimits = ["nofile=10000:10000", "nproc=4096:4096"]
[engine]
runtime = "runc"
"""

# Steps run inside the unpacked root file system before import. Part of the image recipe hash.
IMAGE_CUSTOMISE = """\
set -eu
rm -f etc/ssh/ssh_host_*
: > etc/machine-id
rm -f var/lib/dbus/machine-id
printf 'PermitRootLogin prohibit-password\\nPasswordAuthentication no\\n' \
  > etc/ssh/sshd_config.d/10-lab.conf
mkdir -p root/.ssh && chmod 700 root/.ssh
ln -sf /lib/systemd/system/ssh.service etc/systemd/system/multi-user.target.wants/ssh.service
# Each container makes its own SSH host keys on first boot (the image carries none).
cat > etc/systemd/system/lab-ssh-hostkeys.service <<'UNIT'
[Unit]
Description=Generate SSH host keys for this lab container
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=multi-user.target ssh.service
UNIT
ln -sf /etc/systemd/system/lab-ssh-hostkeys.service \
  etc/systemd/system/multi-user.target.wants/lab-ssh-hostkeys.service
# A container has no kernel modules or hardware clock to manage; these units only fail here.
for u in systemd-modules-load.service systemd-remount-fs.service getty@tty1.service \
         console-getty.service systemd-timesyncd.service; do
  ln -sf /dev/null "etc/systemd/system/$u"
done
apt-get clean 2>/dev/null || true
rm -rf var/lib/apt/lists/* var/cache/apt/*.bin
# No package lists in the image: make them look ancient so the first apt run updates them.
touch -d @0 var/lib/apt/lists
"""


class LabError(RuntimeError):
    """A problem the user can fix; printed without a traceback."""


def log(msg: str) -> None:
    print(f"[lab] {msg}", flush=True)


def run(
    cmd: list[str],
    *,
    check: bool = True,
    capture: bool = True,
    input_text: str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd,
        check=False,
        text=True,
        capture_output=capture,
        input=input_text,
        timeout=timeout,
        env=podman_env(),
    )
    if check and proc.returncode != 0:
        err = (proc.stderr or "").strip() if capture else ""
        raise LabError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return proc


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(STATE / "containers.conf")
    return env


@dataclass(frozen=True)
class Lab:
    prefix: str
    suite: str

    @property
    def network(self) -> str:
        return f"{self.prefix}-net"

    def container(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    @property
    def label(self) -> str:
        return f"soc2audit.lab={self.prefix}"


def lab_prefix() -> str:
    """Stable per checkout: two clones on one machine never share a container name."""
    explicit = os.environ.get("SOC2_LAB_PREFIX")
    if explicit:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,30}", explicit):
            raise LabError("SOC2_LAB_PREFIX must be 2-31 chars of [a-z0-9-]")
        return explicit
    digest = hashlib.sha256(str(REPO).encode()).hexdigest()[:8]
    return f"s2a-{digest}"


def lab_warm(arg: bool = False) -> bool:
    """Start the lab's hosts from the warm image (the roles' packages already installed).

    `make suite` sets SOC2_LAB_WARM=1: the lab tests then spend their converge on configuration,
    not on apt (CI budget). The cold path (every package installed by the roles) stays tested by
    test_30's Debian 13 lab, which never inherits the setting, and by `make lab`.
    """
    return arg or os.environ.get("SOC2_LAB_WARM", "") not in ("", "0")


def lab_suite(arg: str | None) -> str:
    suite = arg or os.environ.get("SOC2_LAB_SUITE", "bookworm")
    if suite not in SUITES:
        raise LabError(f"unknown lab suite {suite!r}; choose one of {', '.join(SUITES)}")
    return suite


# ---------------------------------------------------------------- prerequisites


def ensure_host_tools() -> None:
    """Install what the lab needs on this machine (soc2audit/prereqs.py is the one list)."""
    short = inotify_headroom(prereqs.can_install())
    if short:
        log(f"warning: {short}")
    absent = prereqs.missing("lab")
    if not absent:
        return
    names = ", ".join(f"{n.command} ({n.package})" for n in absent)
    if not prereqs.can_install():
        raise LabError(
            f"the lab needs {names}. Install them ({prereqs.install_hint(absent)}) and run "
            "again; automatic install only happens as root on Debian or Ubuntu. "
            "`python -m soc2audit.lab doctor` lists what is missing."
        )
    try:
        prereqs.install(absent, log)
    except RuntimeError as exc:
        raise LabError(str(exc)) from None


#: systemd in every container holds inotify instances of the machine's user; the kernel's
#: default of 128 runs out with the lab, two molecule scenarios and the own-container tests up
#: at once (units then fail to start with "Too many open files").
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
MIN_INOTIFY_INSTANCES = 1024


def inotify_headroom(fix: bool, path: Path = INOTIFY_INSTANCES) -> str | None:
    """None when fs.inotify.max_user_instances is high enough (or fixed, with ``fix`` as
    root: the running kernel only, nothing persisted); else what to do about it."""
    try:
        now = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if now >= MIN_INOTIFY_INSTANCES:
        return None
    if fix and os.geteuid() == 0:
        try:
            path.write_text(f"{MIN_INOTIFY_INSTANCES}\n")
            log(f"raised fs.inotify.max_user_instances from {now} to {MIN_INOTIFY_INSTANCES}")
            return None
        except OSError as exc:
            return f"cannot raise fs.inotify.max_user_instances ({now}): {exc}"
    return (
        f"fs.inotify.max_user_instances is {now}, below {MIN_INOTIFY_INSTANCES}: containers' "
        f"systemd may fail to start units; as root: sysctl -w "
        f"fs.inotify.max_user_instances={MIN_INOTIFY_INSTANCES}"
    )


def doctor(scope: str, install: bool, quiet: bool = False) -> int:
    """Name each missing command and its package; with `install`, install them (root)."""
    short = inotify_headroom(install)
    if short:
        print(f"[lab] warning: {short}")
    lines, absent = prereqs.report(scope)
    for line in lines:
        if not quiet or line.startswith("MISSING"):
            print(line)
    if absent and install:
        if not prereqs.can_install():
            print(f"[lab] cannot install as this user: {prereqs.install_hint(absent)}")
            return 1
        try:
            prereqs.install(absent, log)
        except RuntimeError as exc:
            print(f"[lab] error: {exc}", file=sys.stderr)
            return 1
        lines, absent = prereqs.report(scope)
    if absent:
        print(f"[lab] {len(absent)} missing; install with: {prereqs.install_hint(absent)}")
        return 1
    if not quiet:
        print(f"[lab] everything `make {scope}` needs on this machine is here")
    return 0


def write_containers_conf() -> None:
    STATE.mkdir(mode=0o700, exist_ok=True)
    conf = STATE / "containers.conf"
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)


def ensure_ssh_key() -> Path:
    key = STATE / "id_ed25519"
    if not key.exists():
        log("generating the lab SSH key")
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "soc2audit-lab", "-f", str(key)],
            check=True,
        )
    key.chmod(0o600)
    return key


def ensure_s3_credentials() -> tuple[Path, Path]:
    """The lab store's root credentials: generated once, 0600 under .lab/, never in the repo;
    the inventory reads them with a file lookup and the roles deliver them with no_log."""
    STATE.mkdir(mode=0o700, exist_ok=True)
    paths = (STATE / S3_ACCESS_KEY, STATE / S3_SECRET_KEY)
    for path, value in zip(
        paths, (f"soc2lab{secrets.token_hex(6)}", secrets.token_urlsafe(30)), strict=True
    ):
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(value)
        path.chmod(0o600)
    return paths


def versitygw_binary() -> Path:
    """versitygw for the lab's store, built once per machine (soc2audit.components)."""
    try:
        return components.ensure("versitygw")
    except components.ComponentError as exc:
        raise LabError(
            f"the lab's S3 Object Lock store needs versitygw: {exc} "
            "(`python -m soc2audit.lab doctor --scope components`)"
        ) from None


def network_gateway(lab: Lab) -> str:
    """The control node's address on the lab network (the bridge's gateway)."""
    proc = run(["podman", "network", "inspect", lab.network])
    data = json.loads(proc.stdout or "[]")
    for subnet in (data[0].get("subnets") or []) if data else []:
        if subnet.get("gateway"):
            return str(subnet["gateway"])
    raise LabError(f"{lab.network} has no gateway address")


def s3_bucket(endpoint_url: str, ca_bundle: str, bucket: str) -> bool:
    """Create the lab store's bucket with Object Lock once (True when created)."""
    from soc2audit.anchor_s3 import AnchorError, S3AnchorStore, ensure_bucket

    access, secret = (p.read_text().strip() for p in ensure_s3_credentials())
    store = S3AnchorStore(
        bucket=bucket,
        endpoint_url=endpoint_url,
        ca_bundle=ca_bundle,
        access_key_id=access,
        secret_access_key=secret,
    )
    try:
        return ensure_bucket(store)
    except AnchorError as exc:
        raise LabError(str(exc)) from None


# ---------------------------------------------------------------- mirror and image


def debian_mirror(apt: Path = Path("/etc/apt")) -> str:
    """The Debian archive this machine's apt uses, read at run time (never stored in the repo)."""
    env = os.environ.get("SOC2_LAB_MIRROR")
    if env:
        return env.rstrip("/")
    candidates: list[str] = []
    for src in sorted(apt.glob("sources.list.d/*.sources")):
        for stanza in src.read_text().split("\n\n"):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            if fields.get("enabled", "yes").lower() == "no":
                continue
            if "deb" not in fields.get("types", "").split():
                continue
            suites = fields.get("suites", "").split()
            if any("security" in s for s in suites):
                continue
            candidates += fields.get("uris", "").split()
    lists = [apt / "sources.list", *sorted(apt.glob("sources.list.d/*.list"))]
    for src in lists:
        if not src.exists():
            continue
        for line in src.read_text().splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and "security" not in m.group(2):
                candidates.append(m.group(1))
    for uri in candidates:
        if uri.startswith(("http://", "https://")) and "security" not in uri:
            return uri.rstrip("/")
    raise LabError(
        "could not find a Debian mirror in /etc/apt; set SOC2_LAB_MIRROR to a Debian archive URL"
    )


def recipe_ref(name: str, suite: str, recipe: dict[str, object]) -> str:
    """An image name that changes whenever its recipe does: `localhost/<name>:<suite>-<hash>`."""
    text = json.dumps({**recipe, "version": 1}, sort_keys=True)
    return f"localhost/{name}:{suite}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def image_ref(suite: str) -> str:
    """The base image (debootstrap minbase), used by the lab."""
    recipe = {"suite": suite, "variant": "minbase", "packages": sorted(BASE_PACKAGES)}
    return recipe_ref("soc2audit-base", suite, {**recipe, "customise": IMAGE_CUSTOMISE})


def image_exists(ref: str) -> bool:
    return run(["podman", "image", "exists", ref], check=False).returncode == 0


def ensure_image(suite: str) -> str:
    """Build the base image with debootstrap unless one with the same recipe hash exists."""
    ref = image_ref(suite)
    if image_exists(ref):
        return ref
    mirror = debian_mirror()
    log(f"building {ref} with debootstrap (about a minute)")
    workdir = Path(tempfile.mkdtemp(prefix="soc2audit-rootfs-", dir="/var/tmp"))
    try:
        proc = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                suite,
                str(workdir),
                mirror,
            ],
            text=True,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-3000:]
            raise LabError(f"debootstrap {suite} failed:\n{tail}")
        subprocess.run(["sh", "-c", IMAGE_CUSTOMISE], cwd=workdir, check=True)
        tar = subprocess.Popen(["tar", "-C", str(workdir), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            ["podman", "import", "--change", "CMD=/sbin/init", "-", ref],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            env=podman_env(),
            check=False,
        )
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise LabError(f"podman import failed: {imp.stderr}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ref


# The warm image for molecule: the base image plus the distribution packages the roles install,
# so a scenario spends its time on the role, not on apt. The cold install path (bare image,
# empty package lists) stays covered by the lab, which keeps using the base image.
WARM_PACKAGES = (
    "aide",
    "ansible-core",
    "auditd",
    "chrony",
    "ethtool",
    "git",
    "libpam-pwquality",
    "linuxptp",
    "needrestart",
    "nftables",
    "openssl",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "python3-boto3",
    "python3-cryptography",
    "rsyslog",
    "rsyslog-gnutls",
    "rsyslog-relp",
    "unattended-upgrades",
)
# Per suite: the Kafka brokers' JRE (roles/kafka: Debian 13 has no openjdk-17; installed without
# recommends, as the role installs it) and the Kafka clients of log_aggregator.
WARM_SUITE_PACKAGES = {
    "bookworm": ("openjdk-17-jre-headless", "python3-confluent-kafka", "rsyslog-kafka"),
    "trixie": ("openjdk-21-jre-headless", "python3-confluent-kafka", "rsyslog-kafka"),
}
# Installed without recommends, as the roles install them: prometheus-node-exporter-collectors
# would add timers writing into the textfile directory; aide and unattended-upgrades recommend a
# mail transport agent, which the host baseline does not want.
WARM_NO_RECOMMENDS = (
    "aide",
    "ansible-core",
    "git",
    "openjdk-17-jre-headless",
    "openjdk-21-jre-headless",
    "libpam-pwquality",
    "needrestart",
    "prometheus",
    "prometheus-alertmanager",
    "prometheus-node-exporter",
    "unattended-upgrades",
)
# Runs inside a container of the base image (no systemd). Services stay disabled: the roles
# enable and start them with their own options (chronyd must never start without -x here).
WARM_CUSTOMISE = """\
set -eu
export DEBIAN_FRONTEND=noninteractive
printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
apt-get update -qq
# With recommends, as the roles install them (nft needs /etc/protocols from netbase).
apt-get install -y -qq {packages} >/dev/null
apt-get install -y -qq --no-install-recommends {packages_no_recommends} >/dev/null
for unit in chrony chronyd auditd nftables ptp4l phc2sys rsyslog prometheus \
    prometheus-alertmanager prometheus-node-exporter; do
  systemctl disable "$unit.service" >/dev/null 2>&1 || true
done
rm -f /usr/sbin/policy-rc.d
apt-get clean
# Package lists stay (fresh as of the build), so cache_valid_time spares each scenario an update.
"""


def warm_packages(suite: str) -> tuple[str, ...]:
    """WARM_PACKAGES and the suite's own (the JRE of its release)."""
    return tuple(sorted(set(WARM_PACKAGES) | set(WARM_SUITE_PACKAGES.get(suite, ()))))


def warm_image_ref(suite: str) -> str:
    """The molecule image: the base image plus warm_packages(suite)."""
    recipe = {
        "base": image_ref(suite),
        "packages": list(warm_packages(suite)),
        "no_recommends": sorted(set(WARM_NO_RECOMMENDS) & set(warm_packages(suite))),
    }
    return recipe_ref("soc2audit-molecule", suite, {**recipe, "customise": WARM_CUSTOMISE})


def ensure_warm_image(suite: str) -> str:
    """The molecule image: built once from the base image, cached by the hash of its recipe."""
    ref = warm_image_ref(suite)
    if image_exists(ref):
        return ref
    base = ensure_image(suite)
    packages = set(warm_packages(suite))
    log(f"building {ref} (base image + {' '.join(sorted(packages))})")
    name = f"soc2audit-warm-build-{os.getpid()}"
    script = WARM_CUSTOMISE.format(
        packages=" ".join(sorted(packages - set(WARM_NO_RECOMMENDS))),
        packages_no_recommends=" ".join(sorted(packages & set(WARM_NO_RECOMMENDS))),
    )
    try:
        run(["podman", "run", "--name", name, "--network", "podman", base, "sh", "-c", script])
        run(["podman", "commit", "-q", "--change", "CMD=/sbin/init", name, ref])
    finally:
        remove_container(name)
    # Older warm images of this suite (an earlier recipe) are dead weight; one still used by a
    # running scenario stays (no -f).
    repo = ref.rsplit(":", 1)[0]
    listed = run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}", repo], check=False)
    for old in listed.stdout.split():
        if old != ref and old.startswith(f"{repo}:{suite}-"):
            run(["podman", "rmi", old], check=False)
    return ref


# ---------------------------------------------------------------- network and containers


def inspect_container(name: str) -> dict | None:
    proc = run(["podman", "container", "inspect", name], check=False)
    if proc.returncode != 0:
        return None
    data = json.loads(proc.stdout or "[]")
    return data[0] if data else None


def ensure_network(lab: Lab) -> None:
    if run(["podman", "network", "exists", lab.network], check=False).returncode == 0:
        return
    log(f"creating network {lab.network}")
    run(["podman", "network", "create", "--label", lab.label, lab.network])


def container_ip(info: dict, network: str) -> str | None:
    nets = info.get("NetworkSettings", {}).get("Networks", {}) or {}
    ip = (nets.get(network) or {}).get("IPAddress")
    return ip or None


def start_container(lab: Lab, host: str, image: str) -> None:
    name = lab.container(host)
    run(
        [
            "podman",
            "run",
            "-d",
            "--name",
            name,
            "--hostname",
            host,
            "--network",
            lab.network,
            "--network-alias",
            host,
            "--label",
            lab.label,
            "--label",
            f"soc2audit.image={image}",
            "--privileged",
            "--systemd=always",
            image,
            "/sbin/init",
        ]
    )


def wait_systemd(name: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        proc = run(["podman", "exec", name, "systemctl", "is-system-running"], check=False)
        state = (proc.stdout or "").strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise LabError(f"{name}: systemd did not finish booting (state {state or 'unknown'})")


def prepare_ssh(name: str, pubkey: str) -> None:
    """Install the lab key and give the container host keys of its own."""
    script = (
        "set -e; install -d -m 700 /root/.ssh; cat > /root/.ssh/authorized_keys; "
        "chmod 600 /root/.ssh/authorized_keys; "
        "if ! systemctl is-active -q ssh; then ssh-keygen -A >/dev/null; "
        "systemctl reset-failed ssh; systemctl restart ssh; fi; systemctl is-active -q ssh"
    )
    run(["podman", "exec", "-i", name, "sh", "-c", script], input_text=pubkey)


# What the warm image's build left undone that installing its packages on a running host does: the
# image is built with services disabled and never started (molecule scenarios start clean), but
# on a host `apt-get install auditd` enables auditd and starts it, and its first start writes
# /var/log/audit/audit.log (its DAEMON_START record) before it fails in a container (the kernel
# answers audit netlink only in the initial PID namespace). The log shipper tails that file
# (LOG-03 is an error while it does not exist); the four-host lab from the warm image gets the
# same state as from the base image's cold path.
WARM_HOST_SETTLE = (
    "systemctl enable auditd.service >/dev/null 2>&1; "
    "systemctl start auditd.service >/dev/null 2>&1; true"
)


def settle_warm_host(name: str) -> None:
    """A fresh container of the warm image as the packages' installation leaves a host."""
    run(["podman", "exec", name, "sh", "-c", WARM_HOST_SETTLE])


def wait_port(ip: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, port), timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise LabError(f"{ip}:{port} did not accept connections")


def healthy(lab: Lab, host: str, image: str) -> dict | None:
    info = inspect_container(lab.container(host))
    if info is None:
        return None
    labels = info.get("Config", {}).get("Labels") or {}
    if labels.get("soc2audit.image") != image:
        log(f"{host}: built from another image, recreating")
        return None
    if not info.get("State", {}).get("Running"):
        log(f"{host}: not running, starting it again")
        if run(["podman", "start", lab.container(host)], check=False).returncode != 0:
            return None
        info = inspect_container(lab.container(host))
        if info is None or not info.get("State", {}).get("Running"):
            return None
    if container_ip(info, lab.network) is None:
        return None
    # podman's record can say "running" for a container whose processes are gone (the machine
    # was restored or rebooted under it): only a container we can exec into is alive.
    if run(["podman", "exec", lab.container(host), "true"], check=False).returncode != 0:
        log(f"{host}: recorded as running but its processes are gone, recreating")
        return None
    return info


# The log_aggregator role's storage root in the lab (its default). Sealed day files are immutable
# (chattr +i) and active ones append-only (+a): not even root can remove them, so `podman rm`
# fails on a container that holds them until the flags are cleared.
LOG_STORAGE_ROOTS = ("/srv/soc2audit/logs",)


def clear_store_flags(name: str) -> None:
    """Clear the append-only and immutable flags under the log storage roots of container
    `name`: inside it when it runs, else through its root file system mounted on this machine
    (a container whose processes are gone, the repair path)."""
    if run(["podman", "container", "exists", name], check=False).returncode != 0:
        return
    script = "".join(f"[ -d {r} ] && chattr -R -ia {r}; " for r in LOG_STORAGE_ROOTS) + "true"
    if run(["podman", "exec", name, "sh", "-c", script], check=False).returncode == 0:
        return
    mounted = run(["podman", "mount", name], check=False)
    root = mounted.stdout.strip()
    if mounted.returncode != 0 or not root:
        return
    try:
        for store in LOG_STORAGE_ROOTS:
            path = Path(root) / store.lstrip("/")
            if path.is_dir():
                run(["chattr", "-R", "-ia", str(path)], check=False)
    finally:
        run(["podman", "umount", name], check=False)


def remove_container(name: str) -> None:
    clear_store_flags(name)
    run(["podman", "rm", "-f", "-t", "2", name], check=False)


def container_cpu_files(name_prefix: str | tuple[str, ...]) -> list[Path]:
    """The CPU accounting files of the running containers whose names start with
    ``name_prefix`` (or with one of a tuple of them; cgroup v2 `cpu.stat`, else v1
    `cpuacct.usage`); empty when podman or the cgroups cannot be read. For benchmarks and CI's
    job table: what a run cost the managed hosts (bench/, soc2audit.ci)."""
    proc = subprocess.run(
        ["podman", "ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}"],
        env=podman_env(),
        text=True,
        capture_output=True,
        check=False,
    )
    files: list[Path] = []
    for line in proc.stdout.splitlines():
        cid, _, name = line.partition(" ")
        if not name.startswith(name_prefix):
            continue
        # cgroup v2 (or the v1 host's unified tree) has usage_usec in cpu.stat; v1's cpu.stat
        # only has throttling counters, so v1 falls back to cpuacct.usage.
        candidates = sorted(glob.glob(f"/sys/fs/cgroup/**/libpod-{cid}*/cpu.stat", recursive=True))
        usable = [c for c in candidates if "usage_usec" in Path(c).read_text()]
        usable += sorted(
            glob.glob(f"/sys/fs/cgroup/**/libpod-{cid}*/cpuacct.usage", recursive=True)
        )
        if usable:
            files.append(Path(usable[0]))
    return files


def cpu_seconds(files: list[Path]) -> float:
    """The CPU seconds used so far by the cgroups of ``files`` (container_cpu_files)."""
    total = 0.0
    for f in files:
        try:
            text = f.read_text()
        except OSError:
            continue
        if f.name == "cpu.stat":
            usec = next(
                int(ln.split()[1]) for ln in text.splitlines() if ln.startswith("usage_usec")
            )
            total += usec / 1e6
        else:
            total += int(text) / 1e9
    return total


def fact_cache_dir() -> Path:
    """The jsonfile fact cache Ansible uses for this lab (ansible.cfg's, unless the environment
    points this lab's runs elsewhere); a file per inventory host, named by the host."""
    return Path(os.environ.get("ANSIBLE_CACHE_PLUGIN_CONNECTION") or REPO / ".cache" / "facts")


def drop_cached_facts(host: str) -> None:
    """Remove one host's cached facts. ansible-core 2.19 names the file `s<schema>_<host>`
    (older releases: `<host>`); other hosts' files are left alone."""
    pattern = re.compile(rf"(?:s\d+_)?{re.escape(host)}")
    cache = fact_cache_dir()
    if cache.is_dir():
        for path in cache.iterdir():
            if pattern.fullmatch(path.name):
                path.unlink(missing_ok=True)


def up(lab: Lab, retry_network: bool = True, warm: bool = False) -> dict[str, str]:
    """Create or repair the lab. ``warm``: from the warm molecule image (the roles' packages
    already installed: `make suite`'s four-host lab, the Kafka fleet lab of `make lab-scale` and
    tests/integration/test_89_kafka_lab.py); else from the base image (the cold install path)."""
    ensure_host_tools()
    write_containers_conf()
    key = ensure_ssh_key()
    pubkey = key.with_suffix(".pub").read_text()
    image = ensure_warm_image(lab.suite) if warm else ensure_image(lab.suite)
    ensure_network(lab)
    addresses: dict[str, str] = {}
    hosts = lab_hosts()
    kafka_archive: Path | None = None
    if any("kafka" in groups for groups in hosts.values()):
        try:
            kafka_archive = components.kafka_archive()
        except components.ComponentError as exc:
            # The lab says so and goes on without the Kafka tier.
            log(f"no Kafka broker classpath, the lab skips the Kafka tier: {exc}")
            hosts = {h: g for h, g in hosts.items() if "kafka" not in g}
    for host in hosts:
        name = lab.container(host)
        info = healthy(lab, host, image)
        fresh = info is None
        if info is None:
            # Cached facts (addresses, host names) describe the old container: drop this host's,
            # only this host's (another lab's converge may be writing the cache right now).
            drop_cached_facts(host)
            remove_container(name)
            log(f"starting {name}")
            try:
                start_container(lab, host, image)
            except LabError as exc:
                if "network" not in str(exc).lower() or not retry_network:
                    raise
                # A stale network (left by killed processes): rebuild it and every container on it.
                log("the lab network looks stale, recreating it and the lab's containers")
                for other in hosts:
                    remove_container(lab.container(other))
                remove_network(lab)
                return up(lab, retry_network=False, warm=warm)
            info = inspect_container(name)
        if info is None:
            raise LabError(f"{name} vanished after start")
        wait_systemd(name)
        if fresh and warm:
            settle_warm_host(name)
        prepare_ssh(name, pubkey)
        ip = container_ip(info, lab.network)
        if ip is None:
            raise LabError(f"{name} has no address on {lab.network}")
        addresses[host] = ip
    for ip in addresses.values():
        wait_port(ip, 22)
    store: dict[str, str] | None = None
    if {S3_STORE_HOST, "aggregator"} <= set(addresses):
        ensure_s3_credentials()
        store = {"binary": str(versitygw_binary()), "control_node": network_gateway(lab)}
    write_known_hosts(lab, addresses)
    write_inventory(lab, addresses, key, store, opa_binary(), kafka_archive)
    return addresses


def known_hosts_file(lab: Lab) -> Path:
    """One file per lab, so a second lab from this checkout (another suite) never clobbers it."""
    return STATE / f"known_hosts.{lab.prefix}"


def write_known_hosts(lab: Lab, addresses: dict[str, str], attempts: int = 5) -> None:
    """Scan every container's host keys; a scan that times out (a loaded machine: ssh-keyscan
    gave up on one host and the converge then failed strict checking) is repeated, and a host
    whose keys never come is an error here, not an unreachable host later."""
    lines: list[str] = []
    for host, ip in addresses.items():
        found: list[str] = []
        for attempt in range(attempts):
            proc = subprocess.run(
                ["ssh-keyscan", "-T", str(5 * (attempt + 1)), ip],
                text=True,
                capture_output=True,
                check=False,
            )
            found = [ln for ln in proc.stdout.splitlines() if ln and not ln.startswith("#")]
            if any(" ssh-ed25519 " in ln for ln in found):
                break
            time.sleep(1)
        else:
            raise LabError(f"{host} ({ip}): ssh-keyscan found no host key in {attempts} tries")
        lines += found
    known_hosts_file(lab).write_text("\n".join(sorted(lines)) + "\n")


def secret_lookup(name: str) -> str:
    """A file lookup of a credential under .lab/ (the value never enters the inventory)."""
    return f"\"{{{{ lookup('ansible.builtin.file', '{STATE / name}') }}}}\""


def store_group_vars(group: str, monitor_ip: str, control_node: str) -> list[str]:
    """The lines the lab's write-once store adds under a group's `vars:`."""
    if group == "all":
        pki = STATE / "pki" / "ca-chain.pem"
        return [
            # The control node anchors the evidence chain to the store (soc2audit.anchor_s3).
            f"    soc2audit_evidence_anchor_s3_bucket: {S3_BUCKET}",
            f"    soc2audit_evidence_anchor_s3_endpoint_url: https://{monitor_ip}:{S3_PORT}",
            f"    soc2audit_evidence_anchor_s3_ca_bundle: {pki}",
            f"    soc2audit_evidence_anchor_s3_retention_days: {S3_RETENTION_DAYS}",
            f"    soc2audit_evidence_anchor_s3_access_key_id: {secret_lookup(S3_ACCESS_KEY)}",
            f"    soc2audit_evidence_anchor_s3_secret_access_key: {secret_lookup(S3_SECRET_KEY)}",
        ]
    if group == "aggregators":
        return [
            "  log_aggregator_upload_enabled: true",
            f"  log_aggregator_upload_bucket: {S3_BUCKET}",
            f"  log_aggregator_upload_endpoint_url: https://{S3_STORE_HOST}:{S3_PORT}",
            "  log_aggregator_upload_ca_path: /etc/ssl/soc2audit/ca-chain.pem",
            f"  log_aggregator_upload_access_key_id: {secret_lookup(S3_ACCESS_KEY)}",
            f"  log_aggregator_upload_secret_access_key: {secret_lookup(S3_SECRET_KEY)}",
            f"  log_aggregator_upload_retention_days: {S3_RETENTION_DAYS}",
        ]
    if group == "monitors":
        return [
            # S3 from the aggregators (the upload) and from the control node (the anchors).
            "  nftables_group_services:",
            "    - name: s3_object_lock",
            f"      ports: [{S3_PORT}]",
            "      protocol: tcp",
            "      apply_to: [monitors]",
            "      allow_groups: [aggregators]",
            f"      allow_networks: [{control_node}]",
        ]
    return []


# versitygw's TLS certificate on the monitor (default SANs: its name and address); versitygw
# reads it at start, so a re-issue restarts it. Items of the group's pki_certificate_requests.
STORE_CERTIFICATE = [
    "    - name: s3-endpoint",
    "      usage: server",
    "      run_after: \"sh -c '! systemctl cat soc2-lab-versitygw.service >/dev/null 2>&1"
    " || systemctl try-restart soc2-lab-versitygw.service'\"",
]


def with_certificate(group_lines: list[str], items: list[str]) -> list[str]:
    """group_lines with `items` appended to its `pki_certificate_requests:` list."""
    start = group_lines.index("  pki_certificate_requests:")
    end = start + 1
    while end < len(group_lines) and group_lines[end].startswith(("    ", "  -")):
        end += 1
    return group_lines[:end] + items + group_lines[end:]


def inventory_header(
    lab: Lab, key: Path, generator: str = "python -m soc2audit.lab up"
) -> list[str]:
    """The first lines of a lab inventory, down to `all: vars:` (connection, lab identity, the
    lab's settings every host needs); the main lab and the scale lab (soc2audit.fleet) share
    them."""
    ssh_args = (
        f"-o UserKnownHostsFile={known_hosts_file(lab)} -o StrictHostKeyChecking=yes "
        "-o IdentitiesOnly=yes"
    )
    lines = [
        "---",
        f"# Generated by `{generator}`; do not edit (rewritten by every run of it).",
        f"# Lab {lab.prefix}, Debian {lab.suite}, podman network {lab.network}.",
        "all:",
        "  vars:",
        "    ansible_user: root",
        "    ansible_python_interpreter: /usr/bin/python3",
        f"    ansible_ssh_private_key_file: {key}",
        f"    ansible_ssh_common_args: {json.dumps(ssh_args)}",
        f"    soc2_lab_prefix: {lab.prefix}",
        f"    soc2_lab_suite: {lab.suite}",
        f"    soc2_lab_network: {lab.network}",
        f"    soc2_lab_state_dir: {STATE}",
        f"    pki_ca_dir: {STATE / 'pki'}",
        # The approved AIDE database digests of the lab's hosts (roles/file_integrity), one
        # directory per lab: the trixie test lab's hosts have the main lab's names and converge
        # beside it (the CI of 8699d1b: each overwrote the other's edge1 and aggregator digests).
        f"    file_integrity_approved_dir: {STATE / 'aide' / lab.prefix}",
        "    # The containers share this machine's clock: no daemon may set it (timesync docs).",
        "    timesync_no_clock_control: true",
        "    # No route to public NTP from here: the aggregator serves its own clock to the fleet.",
        "    timesync_upstream_sources: []",
    ]
    return lines


def write_inventory(
    lab: Lab,
    addresses: dict[str, str],
    key: Path,
    store: dict[str, str] | None = None,
    opa: Path | None = None,
    kafka_archive: Path | None = None,
) -> None:
    """The lab inventory; with ``store``, the write-once store's settings (S3 on the monitor);
    with ``opa`` (the OPA binary), the group opa_servers (the monitor) and the drift run's OPA
    settings; with ``kafka_archive`` (the Maven classpath), the brokers' install source."""
    INVENTORY.parent.mkdir(parents=True, exist_ok=True)
    lines = inventory_header(lab, key)
    if store is not None:
        lines += [f"    soc2_lab_versitygw_binary: {store['binary']}"]
        lines += store_group_vars("all", addresses[S3_STORE_HOST], store["control_node"])
    if OPA_HOST not in addresses:
        opa = None
    if opa is not None:
        # The drift run asks the OPA server on the monitor over mTLS (roles/opa issues the
        # control node's client certificate into pki_ca_dir/clients).
        clients = STATE / "pki" / "clients"
        lines += [
            "    # The fleet policies are evaluated by the OPA server on the monitor (roles/opa).",
            f"    soc2audit_opa_url: https://{addresses[OPA_HOST]}:8181",
            f"    soc2audit_opa_ca: {STATE / 'pki' / 'ca-chain.pem'}",
            f"    soc2audit_opa_cert: {clients / 'soc2audit-control.crt'}",
            f"    soc2audit_opa_key: {clients / 'soc2audit-control.key'}",
        ]
    lines.append("  children:")
    hosts = {h: g for h, g in HOSTS.items() if h in addresses}
    for group in GROUPS:
        members = [h for h, groups in hosts.items() if group in groups]
        lines.append(f"    {group}:")
        group_lines = list(GROUP_VARS.get(group, []))
        if store is not None:
            if group == "monitors":
                group_lines = with_certificate(group_lines, STORE_CERTIFICATE)
            group_lines += store_group_vars(group, addresses[S3_STORE_HOST], store["control_node"])
        if group == "kafka" and kafka_archive is not None:
            group_lines += [f"  kafka_local_path: {kafka_archive}"]
        brokers = [h for h, groups in hosts.items() if "kafka" in groups]
        if group == "aggregators" and brokers:
            group_lines = with_certificate(group_lines, KAFKA_AGGREGATOR_CERTIFICATES)
            group_lines += kafka_aggregator_vars(brokers)
        lines += [f"      {line}" for line in group_lines]
        lines.append("      hosts:" + ("" if members else " {}"))
        for host in members:
            lines.append(f"        {host}:")
            lines.append(f"          ansible_host: {addresses[host]}")
            lines.append(f"          soc2_lab_container: {lab.container(host)}")
    if opa is not None:
        lines += [
            "    opa_servers:",
            "      vars:",
            f"        opa_binary_local_path: {opa}",
            "      hosts:",
            f"        {OPA_HOST}:",
            f"          ansible_host: {addresses[OPA_HOST]}",
            f"          soc2_lab_container: {lab.container(OPA_HOST)}",
        ]
    INVENTORY.write_text("\n".join(lines) + "\n")


def opa_binary() -> Path | None:
    """OPA built with `go install` (soc2audit.components, cached per machine); None, said
    aloud, when it cannot be had here: the drift run then uses the embedded engine."""
    try:
        return components.ensure("opa")
    except components.ComponentError as exc:
        log(f"no OPA binary ({exc}); the lab evaluates the policies with the embedded engine")
        return None


# ---------------------------------------------------------------- down and status


def remove_network(lab: Lab) -> None:
    run(["podman", "network", "rm", "-f", lab.network], check=False)


def down(lab: Lab, purge: bool) -> None:
    if shutil.which("podman") is None:
        log("podman is not installed: nothing to remove")
        return
    write_containers_conf()
    proc = run(["podman", "ps", "-a", "--filter", f"label={lab.label}", "--format", "{{.Names}}"])
    names = set(proc.stdout.split()) | {lab.container(h) for h in HOSTS}
    for name in sorted(names):
        remove_container(name)
    remove_network(lab)
    if INVENTORY.exists():
        INVENTORY.unlink()
    known_hosts_file(lab).unlink(missing_ok=True)
    if purge:
        for ref in [f(suite) for suite in SUITES for f in (warm_image_ref, image_ref)]:
            # No -f: an image that another checkout's lab or a molecule run still uses stays.
            if image_exists(ref) and run(["podman", "rmi", ref], check=False).returncode != 0:
                log(f"kept {ref}: other containers still use it")
        shutil.rmtree(STATE, ignore_errors=True)
    log(f"lab {lab.prefix} removed" + (" (image cache and state purged)" if purge else ""))


def status(lab: Lab) -> int:
    write_containers_conf()
    bad = 0
    for host in lab_hosts():
        info = inspect_container(lab.container(host))
        running = bool(info and info.get("State", {}).get("Running"))
        ip = container_ip(info, lab.network) if info else None
        print(f"{host:<11} {lab.container(host):<24} {'running' if running else 'absent':<8} {ip}")
        bad += 0 if running else 1
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soc2audit-lab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="create or repair the lab and write inventory/lab/hosts.yml")
    p_up.add_argument("--suite", choices=SUITES, help="Debian release (default: SOC2_LAB_SUITE)")
    p_up.add_argument(
        "--warm",
        action="store_true",
        help="start from the molecule image (the roles' packages in it); default: SOC2_LAB_WARM",
    )
    p_down = sub.add_parser("down", help="remove this checkout's containers, network, inventory")
    p_down.add_argument("--purge", action="store_true", help="also remove images and .lab/")
    sub.add_parser("status", help="show this checkout's lab containers")
    p_img = sub.add_parser("image", help="build (or reuse) the base image and print its name")
    p_img.add_argument("--suite", choices=SUITES)
    p_img.add_argument(
        "--warm", action="store_true", help="the molecule image (base + the roles' packages)"
    )
    sub.add_parser("prefix", help="print this checkout's resource prefix")
    p_s3 = sub.add_parser(
        "s3-bucket",
        help="create the lab store's bucket with Object Lock unless it exists "
        "(playbooks/lab_s3_store.yml); prints created or exists",
    )
    p_s3.add_argument("--endpoint-url", required=True)
    p_s3.add_argument("--ca-bundle", required=True)
    p_s3.add_argument("--bucket", default=S3_BUCKET)
    p_doc = sub.add_parser(
        "doctor", help="name each missing command and its package (soc2audit/prereqs.py)"
    )
    p_doc.add_argument(
        "--scope",
        choices=prereqs.SCOPES,
        default="test",
        help="lab: make lab; test: make test; components: also the toolchains of "
        "soc2audit/components.py",
    )
    p_doc.add_argument("--install", action="store_true", help="apt-get install what is missing")
    p_doc.add_argument("--quiet", action="store_true", help="print only what is missing")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "prefix":
            print(lab_prefix())
            return 0
        if args.cmd == "doctor":
            return doctor(args.scope, args.install, args.quiet)
        if args.cmd == "s3-bucket":
            created = s3_bucket(args.endpoint_url, args.ca_bundle, args.bucket)
            print("created" if created else "exists")
            return 0
        lab = Lab(prefix=lab_prefix(), suite=lab_suite(getattr(args, "suite", None)))
        if args.cmd == "up":
            started = time.monotonic()
            addresses = up(lab, warm=lab_warm(args.warm))
            for host, ip in addresses.items():
                log(f"{host:<11} {ip}")
            took = time.monotonic() - started
            log(f"lab {lab.prefix} ready in {took:.1f}s; inventory {INVENTORY}")
            return 0
        if args.cmd == "down":
            down(lab, args.purge)
            return 0
        if args.cmd == "status":
            return status(lab)
        if args.cmd == "image":
            ensure_host_tools()
            write_containers_conf()
            print(ensure_warm_image(lab.suite) if args.warm else ensure_image(lab.suite))
            return 0
    except LabError as exc:
        print(f"[lab] error: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
