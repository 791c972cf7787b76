# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A container that shares this machine's PID namespace, so the auditd role and verifier reach
the REAL kernel's audit system (docs/roles/auditd.md "Containers and the kernel": the kernel
answers audit netlink only from the initial PID namespace; `--pid=host --privileged`, no systemd
inside, auditd through its init script).

Rules loaded from here are global to the machine. The scenario never sets -e 2, records the
kernel's audit state before it starts (and refuses to run when rules are loaded or an audit
daemon is registered: that state belongs to someone else), and puts it back at the end: rules
deleted, auditd stopped, enabled flag, backlog limit, backlog wait time and failure mode restored.

Reached over SSH like the lab (testinfra native backend, Ansible ssh connection): sshd runs in
the container on its own podman network; the lab's SSH key and a known_hosts file of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STATE = REPO / ".lab"
BIN = REPO / ".venv" / "bin"
PREFIX = os.environ.get("SOC2_AUDK_PREFIX", "s2a-audk")
# Status fields the scenario restores at the end (auditctl option for each).
RESTORE = {
    "backlog_limit": "-b",
    "backlog_wait_time": "--backlog_wait_time",
    "failure": "-f",
    "enabled": "-e",
}


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(STATE / "containers.conf")
    return env


def podman(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["podman", *args],
        text=True,
        capture_output=True,
        env=podman_env(),
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed: {proc.stderr.strip()[-2000:]}")
    return proc


def lab_image(suite: str) -> str:
    proc = subprocess.run(
        [str(BIN / "python"), "-m", "soc2audit.lab", "image", "--suite", suite],
        text=True,
        capture_output=True,
        cwd=REPO,
        check=True,
    )
    return proc.stdout.strip().splitlines()[-1]


def parse_status(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


@dataclass
class KernelHost:
    suite: str = "bookworm"
    name: str = f"{PREFIX}-host"
    network: str = f"{PREFIX}-net"
    address: str = ""
    baseline: dict[str, Any] = field(default_factory=dict)

    @property
    def inventory(self) -> Path:
        return STATE / "aud" / "kernel_hosts.yml"

    @property
    def known_hosts(self) -> Path:
        return STATE / f"known_hosts.{PREFIX}"

    def sh(
        self, script: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, "sh", "-c", script, check=check, timeout=timeout)

    # ------------------------------------------------------------ life cycle

    def up(self) -> None:
        self.remove()
        image = lab_image(self.suite)
        podman("network", "create", "--label", f"soc2audit.lab={PREFIX}", self.network)
        podman(
            "run",
            "-d",
            "--name",
            self.name,
            "--hostname",
            "audk",
            "--network",
            self.network,
            "--label",
            f"soc2audit.lab={PREFIX}",
            "--pid=host",
            "--privileged",
            # /var/log/audit on a file system of its own, as AUD-07 asks (small: tests only).
            "--mount",
            "type=tmpfs,destination=/var/log/audit,tmpfs-size=268435456,tmpfs-mode=0700",
            image,
            "sleep",
            "infinity",
        )
        key = (STATE / "id_ed25519.pub").read_text()
        subprocess.run(
            [
                "podman",
                "exec",
                "-i",
                self.name,
                "sh",
                "-c",
                "set -e; install -d -m 700 /root/.ssh; cat > /root/.ssh/authorized_keys; "
                "chmod 600 /root/.ssh/authorized_keys; ssh-keygen -A >/dev/null; "
                "mkdir -p /run/sshd; /usr/sbin/sshd",
            ],
            input=key,
            text=True,
            capture_output=True,
            env=podman_env(),
            check=True,
        )
        info = json.loads(podman("container", "inspect", self.name).stdout)[0]
        self.address = info["NetworkSettings"]["Networks"][self.network]["IPAddress"]
        deadline = time.monotonic() + 30
        lines: list[str] = []
        while time.monotonic() < deadline and not lines:
            scan = subprocess.run(
                ["ssh-keyscan", "-T", "3", self.address],
                text=True,
                capture_output=True,
                check=False,
            )
            lines = [ln for ln in scan.stdout.splitlines() if ln and not ln.startswith("#")]
            if not lines:
                time.sleep(0.5)
        if not lines:
            raise RuntimeError(f"{self.name}: sshd did not answer on {self.address}:22")
        self.known_hosts.write_text("\n".join(sorted(lines)) + "\n")
        self.write_inventory()

    def write_inventory(self, extra_vars: dict[str, Any] | None = None) -> None:
        ssh_args = (
            f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes "
            "-o IdentitiesOnly=yes"
        )
        host_vars: dict[str, Any] = {
            "ansible_host": self.address,
            "ansible_user": "root",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_private_key_file": str(STATE / "id_ed25519"),
            "ansible_ssh_common_args": ssh_args,
            # No systemd in this container: auditd runs through its init script.
            "auditd_service_manager": "sysvinit",
            # Safe actions on a shared test machine (the defaults stop the system when the disk
            # fills), bounded logs on the small tmpfs.
            "auditd_admin_space_left_action": "SUSPEND",
            "auditd_disk_full_action": "SUSPEND",
            "auditd_disk_error_action": "SUSPEND",
            "auditd_max_log_file_action": "ROTATE",
            "auditd_max_log_file": 8,
            "auditd_num_logs": 3,
            "auditd_log_min_free_mb": 64,
        }
        host_vars.update(extra_vars or {})
        inventory = {"all": {"children": {"kernel": {"hosts": {"audk": host_vars}}}}}
        self.inventory.parent.mkdir(parents=True, exist_ok=True)
        self.inventory.write_text(json.dumps(inventory, indent=2) + "\n")

    def remove(self) -> None:
        podman("rm", "-f", "-t", "2", self.name, check=False)
        podman("network", "rm", "-f", self.network, check=False)
        self.known_hosts.unlink(missing_ok=True)

    # ------------------------------------------------------------ the machine's audit state

    def install_audit_tools(self) -> None:
        self.sh(
            "DEBIAN_FRONTEND=noninteractive apt-get update -qq && "
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd >/dev/null"
        )

    def status(self) -> dict[str, int]:
        return parse_status(self.sh("auditctl -s").stdout)

    def listing(self) -> str:
        return self.sh("auditctl -l").stdout

    def record_baseline(self) -> dict[str, Any]:
        """The machine's audit state before the scenario; raises when it is in use."""
        status = self.status()
        listing = self.listing().strip()
        self.baseline = {"status": status, "listing": listing}
        if listing != "No rules" or status.get("pid"):
            raise RuntimeError(
                "this machine's kernel already has audit rules loaded or an audit daemon "
                f"registered (pid {status.get('pid')}): left as found, scenario not run"
            )
        return self.baseline

    def restore(self) -> dict[str, int]:
        """Delete every rule, stop auditd, put the recorded settings back."""
        self.sh("auditctl -D >/dev/null 2>&1; /etc/init.d/auditd stop >/dev/null 2>&1", check=False)
        self.sh("auditctl -D >/dev/null", check=False)
        status = self.baseline.get("status") or {}
        for name, option in RESTORE.items():
            if name in status:
                self.sh(f"auditctl {option} {int(status[name])} >/dev/null", check=False)
        # Time processes spent waiting on a full backlog (while auditd was stopped on purpose):
        # back to what it was. The lost counter is left alone: a loss stays visible.
        if status.get("backlog_wait_time_actual") == 0:
            self.sh("auditctl --reset_backlog_wait_time_actual >/dev/null", check=False)
        return self.status()


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    return env


def playbook(
    inventory: Path, path: str, *args: str, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), path, *args],
        cwd=REPO,
        env=ansible_env(),
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def have_podman() -> bool:
    return shutil.which("podman") is not None and (STATE / "id_ed25519.pub").exists()
