# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Patching and file integrity on the converged lab, in one drift run with two faults:

* edge1: a held security update. A local apt repository is built on edge1 itself
  (tests/integration/files/security_repo.sh: dpkg-deb, a hand-written Packages and Release with
  Origin Debian, Label Debian-Security, Suite and Codename <codename>-security, a file: source;
  only that source is refreshed) with version 1.1 of a tiny package whose 1.0 is installed and
  held. The role's observation records it, then the test backdates its first-seen date past
  patching_max_pending_days (default 7) in the state file. Backdated rather than N=0: the drift
  run keeps the inventory's limit, and the dates the daily record keeps are what is tested.
* edge2: a binary under /usr/bin modified (a byte appended to /usr/bin/tac, the original kept
  aside) and the AIDE check service run.

HOST-11 must fail on edge1 only and HOST-14 on edge2 only (no other HOST-10 .. HOST-14 result
moves anywhere, and nothing outside them changes); the check's report line reaches the journal
and, shipped by edge2's log shipper, the aggregator's store.
Then the package, the repository and the binary are restored, edge1's observation runs again and
edge2 is re-converged (site.yml --tags file_integrity: the role runs the check again because the
last one was not clean), and the second drift run passes HOST-10 .. HOST-14 everywhere.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from conftest import ansible_playbook, get_host, wait_for
from test_50_drift import not_clean, soc2audit_drift
from test_80_logs import stored

MINE = {"HOST-10", "HOST-11", "HOST-12", "HOST-13", "HOST-14"}
REPO_SCRIPT = Path(__file__).resolve().parent / "files" / "security_repo.sh"
ON_HOST = "/root/soc2audit-security-repo.sh"
STATE = "/var/lib/soc2audit/patching/pending.json"
BACKDATE = (
    "python3 -c 'import json, sys\n"
    "p = sys.argv[1]; s = json.load(open(p))\n"
    'for u in s["security_updates"]: u["first_seen"] -= 8 * 86400\n'
    'json.dump(s, open(p, "w"))\' ' + STATE
)
PATCHED, MODIFIED = "edge1", "edge2"


def run(host: str, command: str) -> str:
    res = get_host(host).run(command)
    assert res.rc == 0, f"{host}: {command[:80]}: {res.stdout}{res.stderr}"
    return res.stdout


def split(rows: dict[tuple[str, str], str]) -> tuple[dict[Any, str], dict[Any, str]]:
    """(the not-clean rows of HOST-10 .. HOST-14, every other not-clean row)."""
    mine = {k: v for k, v in rows.items() if k[1] in MINE}
    return mine, {k: v for k, v in rows.items() if k[1] not in MINE}


def inject() -> None:
    script = base64.b64encode(REPO_SCRIPT.read_bytes()).decode()
    run(PATCHED, f"echo {script} | base64 -d > {ON_HOST} && sh {ON_HOST} up")
    run(PATCHED, "systemctl start soc2audit-patching-pending.service")
    run(PATCHED, BACKDATE)
    run(
        MODIFIED,
        "cp -p /usr/bin/tac /root/tac.orig && printf '\\0' >> /usr/bin/tac && "
        "systemctl start soc2audit-aide-check.service",
    )


def restore() -> None:
    """Everything the faults added goes; edge2's file_integrity layer is re-converged."""
    get_host(PATCHED).run(
        f"sh {ON_HOST} down; rm -f {ON_HOST}; systemctl start soc2audit-patching-pending.service"
    )
    get_host(MODIFIED).run(
        "if test -f /root/tac.orig; then cp -p /root/tac.orig /usr/bin/tac && rm /root/tac.orig; fi"
    )
    ansible_playbook("playbooks/site.yml", "-l", MODIFIED, "--tags", "file_integrity", check=True)


def test_held_update_and_modified_binary_fail_their_check_on_their_host_only(
    converged: dict, lab_hosts: list[str]
) -> None:
    assert {PATCHED, MODIFIED} <= set(lab_hosts)
    try:
        inject()
        state = json.loads(run(PATCHED, f"cat {STATE}"))
        held = [u for u in state["security_updates"] if u["package"] == "soc2audit-probe"]
        assert held and held[0]["held"], state
        summary = json.loads(run(MODIFIED, "cat /var/log/aide/soc2-aide-summary.json"))
        assert summary["result"] == "changes" and summary["changed_paths"] == ["/usr/bin/tac"]
        journal = run(MODIFIED, "journalctl -t soc2-aide-check -o cat -n 20")
        assert '"event": "soc2audit_aide_check"' in journal
        # edge2 ships its own messages: the check's journal line reaches the aggregator's store.
        wait_for("the AIDE summary on the aggregator", lambda: stored(repr(summary["time"])), 60)

        _, _, rows = soc2audit_drift("--no-testinfra")
        mine, others_faulty = split(not_clean(rows))
        assert mine == {(PATCHED, "HOST-11"): "fail", (MODIFIED, "HOST-14"): "fail"}, {
            k: rows[k]["message"] for k in mine
        }
        assert (
            "soc2audit-probe 1.0 -> 1.1 (held) for 8.0 d" in rows[(PATCHED, "HOST-11")]["message"]
        )
        assert "changed /usr/bin/tac" in rows[(MODIFIED, "HOST-14")]["message"]
    finally:
        restore()
    _, _, rows = soc2audit_drift("--no-testinfra")
    mine, others_clean = split(not_clean(rows))
    assert mine == {}, {k: rows[k]["message"] for k in mine}
    # Nothing outside HOST-10 .. HOST-14 moved with the faults (on a fully converged lab both are
    # empty; test_50 asserts that).
    assert others_faulty == others_clean
