# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shared runner of the control families' modules (docs/architecture.md, "Adding a control
family").

A family is a module_utils file ``soc2_<name>_family.py`` with the interface below. Its own
module in library/ has a ``main()`` that is one call, ``run_module(<family>)``; the one-pass
``soc2_verify`` module registers every family with ``registry(...)`` and calls
``run_families(FAMILIES)``. Both go through ``family_params`` and the family's ``verify``, so
a family gives the same checks either way.

The interface of a family module_utils file:

``FAMILY``
    The catalog family code (``PKI``); its lower case (``pki``) is the family's key in
    ``soc2_verify``'s ``families`` option and in playbooks/drift_check.yml.
``CHECK_IDS``
    The literal tuple of check ids it emits, always all of them, in order (the catalog check
    reads it without running the code).
``ARGUMENT_SPEC``
    The module's argument spec, also used to validate the family's ``soc2_verify`` parameters.
``validate(params) -> list[str]``
    Parameter problems that need no host (empty when the request is usable).
``verify(module, params) -> dict``
    The module result without ``changed``: ``checks`` (one per id in ``CHECK_IDS``), the facts
    read, ``observations`` for the metrics file and, with ``--diff``, ``diff``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Mapping
from typing import Any

from ansible.module_utils import soc2_verify_spec
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.soc2_results import make_check

INTERFACE: tuple[str, ...] = ("FAMILY", "CHECK_IDS", "ARGUMENT_SPEC", "validate", "verify")

# soc2_verify's own options (plugins/module_utils/soc2_verify_spec.py, shared with its action).
VERIFY_SPEC = soc2_verify_spec.ARGUMENT_SPEC


def interface_problems(family: Any) -> list[str]:
    """What a family module_utils file lacks of the interface (empty when it is complete)."""
    name = getattr(family, "__name__", repr(family))
    problems = [f"{name}: no {attr}" for attr in INTERFACE if not hasattr(family, attr)]
    if problems:
        return problems
    code = family.FAMILY
    if not isinstance(code, str) or not code.isalpha() or not code.isupper():
        problems.append(f"{name}: FAMILY {code!r} is not an upper-case family code")
    ids = family.CHECK_IDS
    if not isinstance(ids, tuple) or not ids:
        problems.append(f"{name}: CHECK_IDS must be a non-empty tuple")
    else:
        problems += [
            f"{name}: check id {cid!r} is not {code}-<NN>"
            for cid in ids
            if not (isinstance(cid, str) and cid.startswith(f"{code}-"))
        ]
    if not isinstance(family.ARGUMENT_SPEC, dict):
        problems.append(f"{name}: ARGUMENT_SPEC is not a dict")
    problems += [
        f"{name}: {attr} is not callable"
        for attr in ("validate", "verify")
        if not callable(getattr(family, attr))
    ]
    return problems


def registry(*families: Any) -> dict[str, Any]:
    """soc2_verify's families, keyed by lower-case family code; refuses an incomplete family
    or two families with one code."""
    out: dict[str, Any] = {}
    for family in families:
        problems = interface_problems(family)
        if problems:
            raise ValueError("; ".join(problems))
        key = family.FAMILY.lower()
        if key in out:
            raise ValueError(f"family {family.FAMILY} registered twice")
        out[key] = family
    return out


def open_module(
    family: Any, argument_spec: Mapping[str, dict[str, Any]] | None = None
) -> AnsibleModule:
    """The AnsibleModule of a module over a family's parameters (``argument_spec`` when the
    module adds options of its own), failing with the family's ``validate`` problems."""
    spec = dict(argument_spec if argument_spec is not None else family.ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    problems = family.validate(module.params)
    if problems:
        module.fail_json(msg="invalid parameters: " + "; ".join(problems), changed=False)
    return module


def run_module(family: Any) -> None:
    """The whole ``main()`` of a family's own module: validate, verify, exit. Read-only, so
    ``changed`` is always false; observations are only for the drift run's metrics."""
    module = open_module(family)
    result: dict[str, Any] = {"changed": False, **family.verify(module, module.params)}
    result.pop("observations", None)
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


def family_params(family: Any, raw: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """Validate one family's parameters against its module's argument spec."""
    validated = ArgumentSpecValidator(family.ARGUMENT_SPEC).validate(raw)
    if validated.error_messages:
        return None, list(validated.error_messages)
    params = validated.validated_parameters
    return params, family.validate(params)


def run_family(module: Any, family: Any, raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(the family's result, None) or (error checks, why)."""
    params, problems = family_params(family, raw)
    why = None
    if problems:
        why = "invalid parameters: " + "; ".join(problems)
    else:
        try:
            return family.verify(module, params), None
        except Exception as exc:  # any verifier crash becomes error results
            last = traceback.extract_tb(exc.__traceback__)[-1]
            why = f"verifier crashed: {type(exc).__name__}: {exc} (at {last.name}:{last.lineno})"
    checks = [
        make_check(check_id, "error", None, None, f"{family.FAMILY} verifier: {why}")
        for check_id in family.CHECK_IDS
    ]
    return {"checks": checks, "observations": []}, why


def run_families(families: Mapping[str, Any]) -> None:
    """The whole ``main()`` of soc2_verify: every requested family in one module run. A family
    whose parameters are invalid or whose verifier raises gives error checks; the others run."""
    module = AnsibleModule(
        argument_spec=dict(VERIFY_SPEC), supports_check_mode=True, **soc2_verify_spec.RULES
    )
    requested = module.params["families"]
    if requested is None:
        module.fail_json(
            msg="family_vars is resolved by the soc2_verify action plugin "
            "(plugins/action/soc2_verify.py); is action_plugins set as in ansible.cfg?",
            changed=False,
        )
    unknown = sorted(set(requested) - set(families))
    if unknown:
        module.fail_json(
            msg=f"unknown families {unknown}; known: {sorted(families)}",
            changed=False,
        )
    checks: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    errors: dict[str, str] = {}
    durations: dict[str, float] = {}
    diffs: list[dict[str, Any]] = []
    for name in sorted(requested):
        raw = requested[name]
        if raw is None:
            continue
        if not isinstance(raw, dict):
            module.fail_json(msg=f"families.{name} must be a dict of parameters", changed=False)
        began = time.monotonic()
        out, why = run_family(module, families[name], raw)
        durations[name] = round(time.monotonic() - began, 4)
        checks.extend(out.pop("checks"))
        observations.extend(out.pop("observations", []))
        if "diff" in out:
            diffs.append(out.pop("diff"))
        if why:
            errors[name] = why
        facts[name] = out
    result: dict[str, Any] = {
        "changed": False,
        "checks": checks,
        "observations": observations,
        "families": facts,
        "errors": errors,
        "durations": durations,
    }
    if module._diff and diffs:
        result["diff"] = diffs
    module.exit_json(**result)
