# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The MON family (docs/architecture.md, "Adding a control family"): monitoring operates.

Two parts, each in a module_utils file of its own so the two sides are built apart:

* the exporter's checks, MON-01 .. MON-04 (node_exporter answers over mTLS to the monitor and
  refuses a client without a certificate, ...), from the node_exporter role's side;
* the monitor's checks, MON-05 .. MON-08, in ``soc2_mon_prometheus.py`` (option
  ``prometheus``, the prometheus role's ``_prometheus_verify_params.prometheus``).

This file joins them. Until the exporter's part lands it carries the monitor's part only; the
join is: ``CHECK_IDS`` = the exporter's ids then ``soc2_mon_prometheus.CHECK_IDS`` (written out,
the catalog check reads the literal), one more option in ``ARGUMENT_SPEC``, its problems in
``validate`` and its checks before the monitor's in ``verify``.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils import soc2_mon_prometheus

__all__ = ["ARGUMENT_SPEC", "CHECK_IDS", "FAMILY", "validate", "verify"]

FAMILY = "MON"
CHECK_IDS: tuple[str, ...] = ("MON-05", "MON-06", "MON-07", "MON-08")

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "prometheus": {
        "type": "dict",
        "options": soc2_mon_prometheus.ARGUMENT_SPEC,
        "apply_defaults": True,
    },
}


def validate(params: dict[str, Any]) -> list[str]:
    """Parameter problems that need no host."""
    return soc2_mon_prometheus.validate(params["prometheus"])


def verify(module: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Every MON id this family emits, every time (not_applicable off the monitors)."""
    monitor = soc2_mon_prometheus.verify_prometheus(params["prometheus"])
    checks = monitor.pop("checks")
    return {"checks": checks, "observations": [], "prometheus": monitor}
