# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin for soc2_verify: work out each family's verifier parameters on the control node,
then run the module once on the host.

With ``family_vars`` (a list of ``{family, key, var}``) each named variable (a role's
``_<role>_verify_params`` in roles/<role>/vars/main.yml) is resolved here, one family at a time:
a family whose parameters cannot be worked out is left out of the module call and comes back in
``family_errors`` as ``{family, reason}``, and the other families still run. ``var`` may be a
list of variables whose dicts are merged in order (a family fed by two roles, LOG). This is
the drift run's only task per host that costs anything (docs/drift.md "Cost of a drift run"):
the parameters and the round trip in one task, where a loop of set_fact tasks and a record
task cost one task executor each per host.

``families`` (values, as the module takes them) still works and is passed straight through.
Documentation: library/soc2_verify.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ansible.plugins.action import ActionBase

from soc2audit.module_utils.soc2_verify_spec import ARGUMENT_SPEC, RULES

# How Ansible words an undefined or failing variable; the part after it is the reason.
_RESOLVING = re.compile(r"^.*Error while resolving value for [^:]*: ", re.S)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return _RESOLVING.sub("", text[0] if text else type(exc).__name__) or "failed"


def _value(templar: Any, var: Any) -> Any:
    """One variable's templated value; for a list of names, their dicts merged in order."""
    if not isinstance(var, list):
        return templar.template(templar.resolve_variable_expression(str(var)))
    if not var:
        raise ValueError("var is an empty list")
    merged: dict[str, Any] = {}
    for name in var:
        value = templar.template(templar.resolve_variable_expression(str(name)))
        if not isinstance(value, Mapping):
            raise TypeError(f"{name} is not a dict, so it cannot be merged")
        merged.update(value)
    return merged


def _shared(templar: Any) -> Any:
    """A templar whose variables are one lazy mapping for every family of the host.

    ansible-core 2.19 wraps a templar's variables (a plain dict: the task's 800-odd variables)
    in a new lazy mapping for every template it renders, and renders a variable again each
    time another template names it; the families' parameters are hundreds of such templates,
    so that was most of the drift run's control-node time per host (docs/scale.md). Wrapped
    once here, every render reuses the mapping and each variable is rendered once per host.
    The wrapper is ansible-core's own (an internal API): where it is missing or changed, the
    templar is used as it is, which gives the same values, slower."""
    try:
        from ansible._internal._templating._engine import TemplateOptions
        from ansible._internal._templating._lazy_containers import _AnsibleLazyTemplateMixin
        from ansible._internal._templating._utils import TemplateContext

        engine = templar._engine
        variables = engine.available_variables
        if type(variables) is not dict:
            return templar
        shared = templar.copy_with_new_env()
        with TemplateContext(
            template_value=None, templar=shared._engine, options=TemplateOptions.DEFAULT
        ):
            shared._engine.available_variables = _AnsibleLazyTemplateMixin._try_create(
                dict(variables)
            )
        return shared
    except Exception:  # any change inside ansible-core: the plain templar
        return templar


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _resolve(
        self, entries: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], list[dict[str, str]]]:
        """Each entry's variable (or variables, merged), resolved on its own: (families,
        {family, reason} errors)."""
        families: dict[str, Any] = {}
        errors: list[dict[str, str]] = []
        templar = _shared(self._templar)
        for entry in entries:
            try:
                families[str(entry["key"])] = _value(templar, entry["var"])
            except Exception as exc:  # undefined variable, failing filter: this family only
                errors.append({"family": str(entry["family"]), "reason": _reason(exc)})
        return families, errors

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC, **RULES)
        errors: list[dict[str, str]] = []
        args = dict(self._task.args)
        if params.get("family_vars") is not None:
            families, errors = self._resolve(params["family_vars"])
            args = {"families": families}
        result.update(
            self._execute_module(
                module_name="soc2_verify", module_args=args, task_vars=task_vars or {}
            )
        )
        result["family_errors"] = errors
        return result
