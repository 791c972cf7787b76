# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HOST family's verification (the host baseline), shared by the soc2_host module and the
one-pass soc2_verify module. Three parts, each with its own option and its own module_utils file,
each fed by its own role:

* ``os`` (the os_hardening role's ``_os_hardening_verify_params``): kernel and network sysctls,
  core dumps, module blacklist, login.defs and pwquality, faillock, banner, idle timeout,
  sensitive file permissions, egress mode: HOST-01 .. HOST-09, in ``soc2_host_os.py``;
* ``patching`` (the patching role): HOST-10 .. HOST-12, in ``soc2_host_patching.py``;
* ``fim`` (the file_integrity role): HOST-13 .. HOST-14, in ``soc2_host_fim.py``.

A part's ids are ``not_applicable`` ("the <role> role is not applied here") where its
``enabled`` is false, without calling the part; the drift run merges the roles' parameters
(``var: [_os_hardening_verify_params, ...]`` in playbooks/drift_check.yml), so one module run
returns all fourteen ids on every host.

The part interface (the parts' docstrings point here):

``CHECK_IDS``
    The literal tuple of the part's ids, in order.
``ARGUMENT_SPEC``
    The part's options; always ``enabled: {type: bool, default: False}``.
``validate(p: Mapping) -> list[str]``
    Parameter problems that need no host; called only when ``p["enabled"]``.
``verify(module, p) -> dict``
    Called only when ``p["enabled"]``: ``checks`` (one per id of the part, in order),
    ``observations`` (a list, for the metrics file) and ``facts`` (a dict, returned under the
    part's name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.module_utils import soc2_host_fim, soc2_host_os, soc2_host_patching
from ansible.module_utils.soc2_results import make_check

__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "FAMILY", "PARTS", "validate", "verify"]

FAMILY = "HOST"
# The three parts' ids in order (os, patching, fim), written out: the catalog check reads the
# literal; tests/unit/test_soc2_host_family.py checks it equals the parts' CHECK_IDS.
CHECK_IDS: tuple[str, ...] = (
    "HOST-01",
    "HOST-02",
    "HOST-03",
    "HOST-04",
    "HOST-05",
    "HOST-06",
    "HOST-07",
    "HOST-08",
    "HOST-09",
    "HOST-10",
    "HOST-11",
    "HOST-12",
    "HOST-13",
    "HOST-14",
)

# (option, part module_utils, the role that enables it), in CHECK_IDS order.
PARTS: tuple[tuple[str, Any, str], ...] = (
    ("os", soc2_host_os, "os_hardening"),
    ("patching", soc2_host_patching, "patching"),
    ("fim", soc2_host_fim, "file_integrity"),
)

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    name: {"type": "dict", "options": part.ARGUMENT_SPEC, "apply_defaults": True}
    for name, part, _role in PARTS
}


def validate(params: Mapping[str, Any]) -> list[str]:
    """Every enabled part's parameter problems, each prefixed with the part's option."""
    problems: list[str] = []
    for name, part, _role in PARTS:
        p = params.get(name) or {}
        if p.get("enabled"):
            problems += [f"{name}: {problem}" for problem in part.validate(p)]
    return problems


def _part_checks(name: str, part: Any, checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The part's checks in its CHECK_IDS order; an id it did not return becomes an error."""
    by_id = {c["check_id"]: c for c in checks}
    return [
        by_id.get(cid)
        or make_check(cid, "error", None, None, f"the {name} part returned no result for {cid}")
        for cid in part.CHECK_IDS
    ]


def verify(module: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Every HOST id, every time: each part's checks, or not_applicable where it is off."""
    checks: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    for name, part, role in PARTS:
        p = params.get(name) or {}
        if not p.get("enabled"):
            checks += [
                make_check(
                    cid, "not_applicable", None, None, f"the {role} role is not applied here"
                )
                for cid in part.CHECK_IDS
            ]
            out[name] = {}
            continue
        result = part.verify(module, p)
        checks += _part_checks(name, part, list(result.get("checks") or []))
        observations += list(result.get("observations") or [])
        out[name] = dict(result.get("facts") or {})
    return {"checks": checks, "observations": observations, **out}
