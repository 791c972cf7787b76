# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The os_hardening role on the converged lab (lean: the drift of a run-time sysctl change,
HOST-01 on edge2 only and repaired by a converge, is one of test_50_drift's FAULTS).

* Six failed logins lock an account: a user with a password, driven through PAM by `su` from a
  non-root user on a pty (the login path of common-auth, where pam_faillock sits); then even
  the right password is refused, until `faillock --reset` unlocks it.
* Bad input: a sysctl name the kernel does not know fails the preflight with the name, before
  anything changes on the host.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

import pytest
from conftest import ansible_playbook, get_host

HOST = "edge1"
USER = "soc2lock"
PROBE_USER = "soc2probe"
PASSWORD = "Lab-only-8c1e7a2f-Pass"  # a throw-away account of the test
# su run by a non-root user on a pseudo-terminal (su reads the password from the tty): prints
# "rc=<exit status of su>" after the password was typed.
SU_TRY = r"""
import os, pty, sys, time
user, password = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execvp("su", ["su", "-c", "true", user])
out = b""
deadline = time.monotonic() + 20
while b"assword" not in out and time.monotonic() < deadline:
    try:
        out += os.read(fd, 1024)
    except OSError:
        break
os.write(fd, password.encode() + b"\n")
while time.monotonic() < deadline:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
print("rc=%d" % os.waitstatus_to_exitcode(status))
"""


def su(password: str) -> int:
    """The exit status of `su -c true soc2lock` typed by soc2probe with ``password``."""
    cmd = (
        f"runuser -u {PROBE_USER} -- python3 -c {shlex.quote(SU_TRY)} "
        f"{USER} {shlex.quote(password)}"
    )
    out = get_host(HOST).check_output(cmd)
    found = re.search(r"rc=(-?\d+)", out)
    assert found, out
    return int(found.group(1))


@pytest.fixture
def accounts(converged: dict) -> Iterator[None]:
    host = get_host(HOST)
    hashed = host.check_output(f"openssl passwd -6 {shlex.quote(PASSWORD)}")
    for name, pw in ((USER, hashed), (PROBE_USER, "!")):
        host.run(f"userdel -r {name} 2>/dev/null")
        host.check_output(f"useradd -m -s /bin/sh -p {shlex.quote(pw)} {name}")
    yield
    for name in (USER, PROBE_USER):
        host.run(f"faillock --user {name} --reset; userdel -r {name}")


def test_six_failed_logins_lock_the_account_until_reset(accounts: None) -> None:
    host = get_host(HOST)
    assert su(PASSWORD) == 0, "the right password works before any failure"
    for _ in range(6):
        assert su("wrong-" + PASSWORD) != 0
    tally = host.check_output(f"faillock --user {USER}")
    assert len(re.findall(r"^\d{4}-\d\d-\d\d .* V$", tally, re.M)) >= 5, tally
    assert su(PASSWORD) != 0, "locked: the right password is refused"
    host.check_output(f"faillock --user {USER} --reset")
    assert su(PASSWORD) == 0, "unlocked by faillock --reset"


def test_unknown_sysctl_fails_before_anything_changes(converged: dict) -> None:
    host = get_host("edge2")
    before = host.check_output("stat -c '%Y %s' /etc/sysctl.d/60-soc2-hardening.conf")
    proc = ansible_playbook(
        "playbooks/os_hardening.yml",
        "-l",
        "edge2",
        "-e",
        '{"os_hardening_sysctl_overrides": {"net.ipv4.conf.all.no_such_setting": 1}}',
    )
    assert proc.returncode != 0
    assert "net.ipv4.conf.all.no_such_setting does not exist on edge2" in proc.stdout
    assert "Preflight | unknown sysctl names" in proc.stdout
    after = host.check_output("stat -c '%Y %s' /etc/sysctl.d/60-soc2-hardening.conf")
    assert after == before
