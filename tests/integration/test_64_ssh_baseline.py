# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""sshd on the converged lab (roles/ssh_hardening): the control node still gets in over a new
connection on every host, a client offering only a SHA-1 MAC is refused, a user is let in while
in an AllowGroups group and refused once outside it, and an unknown cipher fails the role's
preflight with nothing changed. The drift fault (an sshd option edited on edge1 fails exactly
SSH-03 there) is FAULTS["SSH"] in test_50_drift.py.

Every connection goes from this machine to a lab container. The probe user and its key exist
only for the test and are removed at its end.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ansible_playbook, get_host, recap
from test_60_nftables import fresh_ssh, sha

PROBE_USER = "soc2sshprobe"
CONFIG = "sha256sum /etc/ssh/sshd_config /etc/ssh/ssh_host_*"


def new_ssh(
    host: str, *options: str, user: str | None = None, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    """test_60's fresh connection with this module's timeouts (5 s to connect, 30 s in all)."""
    return fresh_ssh(host, *options, timeout=5, user=user, key=key, run_timeout=30)


def test_control_node_gets_in_over_a_new_connection_on_every_host(
    converged: dict, lab_hosts: list[str]
) -> None:
    for host in lab_hosts:
        res = new_ssh(host)
        assert res.returncode == 0, f"{host}: {res.stderr}"
        # The lab's key logs in with the ed25519 host key (ECDSA was removed by the role).
        res = new_ssh(host, "-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256")
        assert res.returncode == 255 and "no matching host key type" in res.stderr, res.stderr


def test_weak_client_algorithms_are_refused(converged: dict, lab_hosts: list[str]) -> None:
    for host in lab_hosts:
        # With a CTR cipher: an AEAD cipher (chacha20-poly1305, AES-GCM) carries its own MAC
        # and the MAC list is not negotiated at all.
        res = new_ssh(host, "-o", "Ciphers=aes128-ctr", "-o", "MACs=hmac-sha1")
        assert res.returncode == 255 and "no matching MAC found" in res.stderr, (host, res.stderr)
    res = new_ssh("edge2", "-o", "Ciphers=aes128-cbc")
    assert res.returncode == 255 and "no matching cipher found" in res.stderr, res.stderr


@pytest.fixture
def probe_user(converged: dict, tmp_path: Path) -> Iterator[str]:
    """A user on edge1 with a fresh key of its own (private key in tmp_path), in ssh-users."""
    key = tmp_path / "probe_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public = key.with_suffix(".pub").read_text().strip()
    edge1 = get_host("edge1")
    made = edge1.run(
        f"useradd -m -s /bin/sh -G ssh-users {PROBE_USER} && "
        f"install -d -m 0700 -o {PROBE_USER} -g {PROBE_USER} /home/{PROBE_USER}/.ssh && "
        f"echo '{public}' > /home/{PROBE_USER}/.ssh/authorized_keys && "
        f"chown {PROBE_USER}:{PROBE_USER} /home/{PROBE_USER}/.ssh/authorized_keys"
    )
    assert made.rc == 0, made.stderr
    try:
        yield str(key)
    finally:
        edge1.run(f"userdel -r {PROBE_USER} 2>/dev/null; groupdel {PROBE_USER} 2>/dev/null; true")


def test_allow_groups_lets_members_in_and_keeps_others_out(probe_user: str) -> None:
    inside = new_ssh("edge1", user=PROBE_USER, key=probe_user)
    assert inside.returncode == 0, inside.stderr
    edge1 = get_host("edge1")
    since = edge1.check_output("date -u '+%Y-%m-%d %H:%M:%S'")
    assert edge1.run(f"gpasswd -d {PROBE_USER} ssh-users").rc == 0
    outside = new_ssh("edge1", user=PROBE_USER, key=probe_user)
    assert outside.returncode == 255 and "Permission denied" in outside.stderr, outside.stderr
    # sshd says why (LogLevel VERBOSE logs it with the source address).
    log = edge1.check_output(f"journalctl -u ssh --since '{since}' --no-pager -o cat")
    assert (
        f"User {PROBE_USER} from" in log
        and "none of user's groups are listed in AllowGroups" in log
    )


def test_unknown_cipher_fails_in_preflight_and_changes_nothing(converged: dict) -> None:
    before = sha("edge1", CONFIG)
    proc = ansible_playbook(
        "playbooks/ssh_hardening.yml",
        "-l",
        "edge1",
        "-e",
        json.dumps({"ssh_hardening_ciphers": ["aes256-gcm@openssh.com", "aes512-gcm@openssh.com"]}),
    )
    assert proc.returncode != 0
    assert "unknown to OpenSSH on edge1 (ssh -Q): cipher aes512-gcm@openssh.com" in proc.stdout
    assert "Nothing was changed" in proc.stdout
    assert recap(proc.stdout)["edge1"]["changed"] == 0
    assert sha("edge1", CONFIG) == before
