#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_nft_apply: replace the nftables role's table atomically, with rollback."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_nft_apply
short_description: Replace one nftables table atomically when it differs by meaning, with rollback
description:
  - The enforcing half of the nftables role. Decides C(changed) with the comparison the verifier
    M(soc2_nft) uses (C(plugins/module_utils/soc2_nft.py)), the live table against what the kernel
    makes of the staged file in a throw-away network namespace. Handles, counters, comments and
    set element order do not count, so a second run changes nothing.
  - When they differ, saves the live table (C(nft -s list table)) as a rollback file that replaces
    only this table, checks it with C(nft -c -f), schedules it with C(systemd-run --on-active)
    when O(rollback_timeout) is above 0, then loads O(path) with C(nft -f) (one transaction; if
    it fails, nothing changed and the timer is cancelled). The caller confirms by calling the
    module again with O(confirm=true) over a new connection, which cancels the timer; if the new
    ruleset cut the caller off, the timer puts the previous table back by itself.
  - Never touches other tables. A staged file that removes or creates any other table (checked in
    the scratch namespace with a sentinel table) is refused before anything is loaded.
  - In check mode nothing is loaded or scheduled; C(changed) and the diff say what would happen.
    O(content) lets check mode compare the ruleset about to be staged.
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
options:
  path:
    description:
      - The staged, already validated ruleset file to load.
    type: path
    required: true
  content:
    description:
      - The ruleset text the file will hold. Used instead of O(path) to build the desired table in
        check mode (when the staged file was not written).
    type: str
  table:
    description:
      - Name of the table in family C(inet) the file replaces.
    type: str
    default: soc2_filter
  state_dir:
    description:
      - Directory for the rollback file (C(<table>.rollback.nft)).
    type: path
    default: /var/lib/soc2audit/nftables
  rollback_timeout:
    description:
      - Seconds after loading until the previous table comes back unless confirmed. V(0) applies
        without a rollback timer.
    type: int
    default: 0
  rollback_unit:
    description:
      - Name of the transient systemd unit (timer and service) that rolls back.
    type: str
    default: soc2-nft-rollback
  confirm:
    description:
      - Only cancel a pending rollback (the new ruleset let the caller back in). C(changed) is
        V(true) when a timer was pending.
    type: bool
    default: false
  nft:
    description: nft to run (name or absolute path).
    type: str
    default: nft
  unshare:
    description: unshare to run (name or absolute path).
    type: str
    default: unshare
notes:
  - Supports C(check_mode) and C(diff).
  - Needs systemd (C(systemd-run), C(systemctl)) when O(rollback_timeout) is above 0 or with
    O(confirm).
"""

EXAMPLES = r"""
- name: Load the staged table with a 90 s rollback guard
  soc2_nft_apply:
    path: /var/lib/soc2audit/nftables/soc2_filter.nft
    rollback_timeout: 90
  register: __nftables_apply

- name: Confirm after a new connection got through
  soc2_nft_apply:
    path: /var/lib/soc2audit/nftables/soc2_filter.nft
    confirm: true
  when: __nftables_apply is changed
"""

RETURN = r"""
changed:
  description: Whether the table was (or in check mode would be) replaced, or a rollback cancelled.
  returned: always
  type: bool
comparison:
  description: The comparison of the desired table with the live one before loading.
  returned: unless O(confirm)
  type: dict
rollback:
  description: C(scheduled), C(unit), C(timeout), C(file) and C(previous_table) (whether a table
    existed before and comes back, or the rollback removes ours).
  returned: when a change was applied
  type: dict
rollback_pending:
  description: A rollback timer from an earlier, unconfirmed run was active when the module started.
  returned: always
  type: bool
diff:
  description: Live and desired tables as text.
  returned: when changed and run with C(--diff)
  type: dict
"""

import os
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.soc2_command import find_binary, run
from ansible.module_utils.soc2_nft import (
    compare,
    desired_table,
    failure,
    normalise_table,
    read_live,
    scratch_load,
    scratch_load_text,
    table_lines,
    unit_word,
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "path": {"type": "path", "required": True},
    "content": {"type": "str"},
    "table": {"type": "str", "default": "soc2_filter"},
    "state_dir": {"type": "path", "default": "/var/lib/soc2audit/nftables"},
    "rollback_timeout": {"type": "int", "default": 0},
    "rollback_unit": {"type": "str", "default": "soc2-nft-rollback"},
    "confirm": {"type": "bool", "default": False},
    "nft": {"type": "str", "default": "nft"},
    "unshare": {"type": "str", "default": "unshare"},
}


def need(module: Any, name: str) -> str:
    path, why = find_binary(module, name)
    if path is None:
        module.fail_json(msg=f"soc2_nft_apply: {why}", changed=False)
    return str(path)


def timer_active(module: Any, systemctl: str, unit: str) -> bool:
    word, _ = unit_word(module, systemctl, "is-active", f"{unit}.timer")
    return word in ("active", "activating")


def cancel(module: Any, systemctl: str, unit: str) -> None:
    run(module, [systemctl, "stop", f"{unit}.timer"])
    run(module, [systemctl, "reset-failed", f"{unit}.timer", f"{unit}.service"])


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    table = p["table"]
    label = f"inet {table}"
    wants_systemd = p["confirm"] or p["rollback_timeout"] > 0
    systemctl = need(module, "systemctl") if wants_systemd else None

    if p["confirm"]:
        assert systemctl is not None
        pending = timer_active(module, systemctl, p["rollback_unit"])
        if pending and not module.check_mode:
            cancel(module, systemctl, p["rollback_unit"])
        module.exit_json(changed=pending, rollback_pending=pending)

    nft = need(module, p["nft"])
    unshare = need(module, p["unshare"])
    if p["content"] is not None and (module.check_mode or not os.path.exists(p["path"])):
        objs, why = scratch_load_text(module, unshare, nft, p["content"], table)
    else:
        objs, why = scratch_load(module, unshare, nft, p["path"])
    desired, desired_error = desired_table(objs, why, table)
    if desired is None:
        module.fail_json(msg=f"soc2_nft_apply: {desired_error}", changed=False)
    live_objs, live_error = read_live(module, nft)
    if live_objs is None:
        module.fail_json(msg=f"soc2_nft_apply: {live_error}", changed=False)
    live = normalise_table(live_objs, "inet", table)
    diff = compare(desired, live)
    pending = bool(systemctl) and timer_active(module, systemctl, p["rollback_unit"])
    result: dict[str, Any] = {
        "changed": not diff["equal"],
        "comparison": diff,
        "rollback_pending": pending,
    }
    if not diff["equal"] and module._diff:
        result["diff"] = {
            "before_header": f"live table {label}",
            "after_header": f"desired table {label}",
            "before": "\n".join(table_lines(live)) + "\n",
            "after": "\n".join(table_lines(desired)) + "\n",
        }
    if diff["equal"] or module.check_mode:
        module.exit_json(**result)

    # The rollback replaces our table with the one live now (or removes ours if there was none).
    previous = ""
    if live is not None:
        rc, out, err = run(module, [nft, "-s", "list", "table", "inet", table])
        if rc != 0:
            module.fail_json(
                msg="soc2_nft_apply: cannot save the live table for rollback: "
                + failure(["nft", "-s", "list", "table", "inet", table], rc, out, err),
                changed=False,
            )
        previous = out
    os.makedirs(p["state_dir"], mode=0o700, exist_ok=True)
    rollback_file = os.path.join(p["state_dir"], f"{table}.rollback.nft")
    with open(rollback_file, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(f"table inet {table} {{\n}}\ndelete table inet {table}\n{previous}")
    rc, out, err = run(module, [nft, "-c", "-f", rollback_file])
    if rc != 0:
        module.fail_json(
            msg="soc2_nft_apply: the rollback file does not check, nothing was loaded: "
            + failure(["nft", "-c", "-f", rollback_file], rc, out, err),
            changed=False,
        )
    rollback = {
        "scheduled": False,
        "unit": p["rollback_unit"],
        "timeout": p["rollback_timeout"],
        "file": rollback_file,
        "previous_table": live is not None,
    }
    if p["rollback_timeout"] > 0:
        assert systemctl is not None
        systemd_run = need(module, "systemd-run")
        cancel(module, systemctl, p["rollback_unit"])
        argv = [
            systemd_run,
            f"--unit={p['rollback_unit']}",
            f"--description=soc2audit: restore the previous nftables table {label}",
            f"--on-active={p['rollback_timeout']}s",
            "--timer-property=AccuracySec=1s",
            "--collect",
            nft,
            "-f",
            rollback_file,
        ]
        rc, out, err = run(module, argv)
        if rc != 0:
            module.fail_json(
                msg="soc2_nft_apply: cannot schedule the rollback, nothing was loaded: "
                + failure(["systemd-run", "..."], rc, out, err),
                changed=False,
            )
        rollback["scheduled"] = True
    result["rollback"] = rollback

    rc, out, err = run(module, [nft, "-f", p["path"]])
    if rc != 0:
        if rollback["scheduled"]:
            cancel(module, systemctl or "systemctl", p["rollback_unit"])
        module.fail_json(
            msg="soc2_nft_apply: loading failed, the previous ruleset is unchanged: "
            + failure(["nft", "-f", p["path"]], rc, out, err),
            changed=False,
        )
    after_objs, after_error = read_live(module, nft)
    after = normalise_table(after_objs or [], "inet", table)
    check = compare(desired, after)
    if after_error or not check["equal"]:
        module.fail_json(
            msg="soc2_nft_apply: the loaded table is not the desired one"
            + (f" ({after_error})" if after_error else "")
            + "; the rollback timer (if any) restores the previous table",
            changed=True,
            comparison_after=check,
            rollback=rollback,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
