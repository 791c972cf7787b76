#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_auditd_load: load the rules.d files into the kernel when it differs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_auditd_load
short_description: Load the audit rules with augenrules when the kernel lacks the desired ones
description:
  - Compares the kernel's rules (C(auditctl -l)) and settings (C(auditctl -s)) with the desired
    ones worked out from the same options as M(soc2_auditd), normalised the same way, and runs
    C(augenrules --load) only when they differ; C(changed) says whether it loaded.
  - When O(compile_only) or when the kernel refuses audit netlink here (a container, EPERM),
    only compiles the rules file (C(augenrules) without C(--load)) when it is stale, and says
    why nothing was loaded.
  - On an immutable kernel (C(auditctl -s) C(enabled 2)) rules cannot change until the next
    boot; the module does not fail but returns RV(reboot_required) (and a warning) when the
    kernel differs. augenrules still compiles the file, so the next boot loads it.
  - After loading it reads the kernel again and fails, with augenrules' output, when the kernel
    still does not hold the desired rules (a rule the kernel refused).
  - In check mode it loads nothing and reports C(changed) when it would load.
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_auditd
options:
  compile_only:
    description: Never load, only compile O(rules_file) when it is stale.
    type: bool
    default: false
  augenrules:
    description: augenrules to run.
    type: str
    default: augenrules
notes:
  - Supports C(check_mode) and C(diff_mode) (kernel rules before, desired rules after).
  - Never restarts auditd; loading rules does not need the daemon.
  - Takes the options of M(soc2_auditd) so the role passes one parameter set; O(config),
    O(max_lost), O(backlog_warn_ratio) and O(log_partition) are accepted but not used here.
"""

EXAMPLES = r"""
- name: Rules in the kernel are the desired ones
  soc2_auditd_load:
    rules: "{{ _auditd_params.rules }}"
    settings: "{{ _auditd_params.settings }}"
  register: __auditd_loaded
"""

RETURN = r"""
loaded:
  description: Whether C(augenrules --load) ran.
  returned: always
  type: bool
compiled:
  description: Whether C(augenrules) rewrote the compiled rules file.
  returned: always
  type: bool
reboot_required:
  description: The kernel is immutable and does not hold the desired rules; they load at the
    next boot.
  returned: always
  type: bool
reason:
  description: Why the kernel was or was not loaded.
  returned: always
  type: str
differences:
  description: Missing and extra rules and differing settings before loading.
  returned: always
  type: dict
output:
  description: augenrules' output when it ran.
  returned: when augenrules ran
  type: str
"""

from typing import Any

from ansible.module_utils import soc2_auditd_family
from ansible.module_utils.soc2_auditctl import compare, listing_rules, merge_rules_files
from ansible.module_utils.soc2_auditd_family import (
    ARGUMENT_SPEC,
    expected_kernel,
    expected_load,
    foreign_rules,
    read_host,
    read_kernel,
    read_rules_dir,
)
from ansible.module_utils.soc2_command import find_binary, run
from ansible.module_utils.soc2_family import open_module

SPEC: dict[str, dict[str, Any]] = {
    **ARGUMENT_SPEC,
    "compile_only": {"type": "bool", "default": False},
    "augenrules": {"type": "str", "default": "augenrules"},
}


def compiled_stale(params: dict[str, Any], rules_dir: dict[str, Any]) -> bool:
    merged = [
        ln.strip()
        for ln in merge_rules_files(
            [(n, rules_dir["files"].get(n) or "") for n in rules_dir["order"]]
        )
        if ln.strip()
    ]
    try:
        with open(params["rules_file"], encoding="utf-8") as handle:
            current = [
                ln.strip()
                for ln in handle.read().splitlines()
                if ln.strip() and not ln.strip().startswith("#")
            ]
    except OSError:
        return True
    return current != merged


def settings_drift(status: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    want = expected_kernel(settings)
    return {k: status.get(k) for k, v in want.items() if status.get(k) != v}


def main() -> None:
    module = open_module(soc2_auditd_family, SPEC)
    params = module.params
    host = read_host(module, params)
    desired = host["desired"]
    if desired.get("errors"):
        module.fail_json(msg="desired rules unknown: " + "; ".join(desired["errors"]))
    ctx = host["ctx"]
    rules_dir = read_rules_dir(params["rules_dir"])
    want = expected_load(params, desired, foreign_rules(params, rules_dir, ctx), ctx)
    augenrules, _ = find_binary(module, params["augenrules"])
    result: dict[str, Any] = {
        "changed": False,
        "loaded": False,
        "compiled": False,
        "reboot_required": False,
        "differences": {},
    }

    def compile_if_stale(reason: str) -> None:
        result["reason"] = reason
        if augenrules and compiled_stale(params, rules_dir):
            result["changed"] = result["compiled"] = True
            if not module.check_mode:
                rc, out, err = run(module, [augenrules])
                result["output"] = (out + err).strip()
                if rc != 0:
                    module.fail_json(msg=f"augenrules exited {rc}: {result['output']}", **result)
        module.exit_json(**result)

    if params["compile_only"]:
        compile_if_stale("compile_only: the kernel is left alone")
    kernel = read_kernel(module, host["auditctl"])
    if kernel.get("refused"):
        compile_if_stale(f"not loaded: {kernel['error']} (no audit from this namespace)")
    if kernel.get("status") is None or kernel.get("listing") is None:
        module.fail_json(msg=f"cannot read the kernel's audit state: {kernel.get('error')}")
    status = kernel["status"]
    have, _ = listing_rules(kernel["listing"], ctx)
    diff = compare(want, have)
    drift = settings_drift(status, params["settings"])
    if status.get("enabled") == 2 and params["settings"]["immutable"]:
        drift.pop("enabled", None)
    result["differences"] = {
        "missing": diff["missing"],
        "extra": diff["extra"],
        "order_differs": diff["order_differs"],
        "settings": drift,
    }
    if diff["equal"] and not drift:
        # Same rules in the kernel; the compiled file may still lag behind rules.d (an edit
        # that means the same): recompile so the next boot loads exactly rules.d.
        compile_if_stale(f"the kernel holds the {len(want)} desired rules")
    if module._diff:
        result["diff"] = {
            "before_header": "kernel rules (auditctl -l)",
            "after_header": "desired rules",
            "before": "".join(f"{line}\n" for line in have),
            "after": "".join(f"{line}\n" for line in want),
        }
    if status.get("enabled") == 2:
        result["reboot_required"] = True
        module.warn(
            "the kernel's audit rules are immutable (enabled 2) and differ from the desired "
            "ones: they load at the next boot"
        )
        compile_if_stale("immutable kernel: rules load at the next boot")
    if not augenrules:
        module.fail_json(msg="augenrules not found (package auditd)", **result)
    result["changed"] = result["loaded"] = True
    result["reason"] = "the kernel did not hold the desired rules"
    if module.check_mode:
        module.exit_json(**result)
    rc, out, err = run(module, [augenrules, "--load"])
    result["output"] = (out + err).strip()
    after = read_kernel(module, host["auditctl"])
    now, _ = listing_rules(after.get("listing") or "", ctx)
    still = compare(want, now)
    left = settings_drift(after.get("status") or {}, params["settings"])
    if rc != 0 or not still["equal"] or left:
        module.fail_json(
            msg=(
                f"augenrules --load exited {rc} and the kernel still differs: "
                f"missing {still['missing'][:10]}, extra {still['extra'][:10]}, settings {left}; "
                f"output: {result['output'][-2000:]}"
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
