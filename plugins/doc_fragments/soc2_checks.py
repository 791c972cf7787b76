# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What every verifier module says about its check results: soc2_pki, soc2_time, soc2_nft,
soc2_auditd and the one-pass soc2_verify (plugins/module_utils/soc2_family.py runs them all)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
notes:
  - Read-only and safe in check mode; the module never changes the host and C(changed) is
    always V(false).
  - Each check's C(result) is one of V(pass), V(fail), V(at_risk), V(error) and
    V(not_applicable). V(error) says the host could not be read (or the request was unusable);
    it is never folded into V(fail), V(pass) or V(not_applicable).
  - Where one check covers several objects (certificates, PTP instances), the worst result
    wins, V(error) before V(fail) before V(at_risk) before V(pass).
  - The drift run calls the same verifier through M(soc2_verify), one module run per host for
    every family, with the same results.
"""
