#!/usr/bin/python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
# Append numbered audit-format lines to a file, the way auditd writes them (containers cannot run
# kernel audit). Each line: type=USER_CMD msg=audit(EPOCH:SERIAL): ... comm="<token>-<seq>".
# --size pads each line to that many bytes (without the newline). --kill-at N sends SIGKILL to
# the process in --kill-pidfile after line N (a crash of the shipper mid-stream). --rotate-at N
# rotates the file after line N as auditd does: rename it to <path>.1 and go on in a new file.
import argparse
import json
import os
import signal
import time

p = argparse.ArgumentParser()
p.add_argument("--path", required=True)
p.add_argument("--token", required=True)
p.add_argument("--count", type=int, default=1)
p.add_argument("--serial", type=int, default=1000)
p.add_argument("--size", type=int, default=0)
p.add_argument("--delay", type=float, default=0.0)
p.add_argument("--kill-at", type=int, default=0)
p.add_argument("--kill-pid", type=int, default=0)
p.add_argument("--rotate-at", type=int, default=0)
a = p.parse_args()

killed = None
rotated = None
f = open(a.path, "a", encoding="utf-8")  # noqa: SIM115 - reopened on rotation
try:
    for i in range(a.count):
        now = time.time()
        line = (
            f"type=USER_CMD msg=audit({int(now)}.{int(now * 1000) % 1000:03d}:{a.serial + i}): "
            f'pid=4242 uid=0 auid=1000 ses=7 subj=unconfined msg=\'cwd="/" cmd=true '
            f'exe="/usr/bin/sudo" terminal=pts/0 res=success\' '
            f'comm="{a.token}-{i:05d}" key="soc2-test"'
        )
        if a.size:
            line += " pad=" + "x" * max(0, a.size - len(line) - 5)
        f.write(line + "\n")
        f.flush()
        if a.kill_at and i + 1 == a.kill_at and a.kill_pid:
            os.kill(a.kill_pid, signal.SIGKILL)
            killed = a.kill_pid
        if a.rotate_at and i + 1 == a.rotate_at:
            f.close()
            os.replace(a.path, a.path + ".1")
            f = open(a.path, "a", encoding="utf-8")  # noqa: SIM115
            os.chmod(a.path, 0o600)
            rotated = os.stat(a.path + ".1").st_ino
        if a.delay:
            time.sleep(a.delay)
finally:
    f.close()
print(
    json.dumps(
        {
            "written": a.count,
            "killed": killed,
            "rotated_inode": rotated,
            "size": os.path.getsize(a.path),
        }
    )
)
