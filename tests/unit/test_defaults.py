# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Each default has one source: the role default users set (roles/*/defaults/main.yml).

The verifier modules keep their own defaults for ad-hoc use (their ARGUMENT_SPEC); these tests
fail when a module default that a role passes straight through differs from the role's, and
when the catalog's or the module's words for the 50 ms bound drift from the constant.
(meta/argument_specs.yml against defaults/main.yml is `python -m soc2audit.argspecs`.)
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from soc2audit.catalog import CATALOG, load_catalog

REPO = Path(__file__).resolve().parents[2]
PASSTHROUGH = re.compile(r"^\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}$")
# `{{ _auditd_params | combine(...) }}`: the parameters are another variable of vars/main.yml.
INDIRECT = re.compile(r"^\{\{\s*(_[a-z0-9_]+)\s*\|")
# `{{ {'table': nftables_table, ...} if ... }}`: a dict written in Jinja.
JINJA_ITEM = re.compile(r"'([a-z_]+)':\s*([a-z][a-z0-9_]*)\s*[,}]")


def families() -> list[tuple[str, str, Any]]:
    """(role, its verify_params variable, family module) for each family of the drift run."""
    play = yaml.safe_load((REPO / "playbooks" / "drift_check.yml").read_text())
    entries = next(p["vars"]["__families"] for p in play if "__families" in p.get("vars", {}))
    modules = {}
    for path in (REPO / "plugins" / "module_utils").glob("soc2_*_family.py"):
        found = re.search(r'^FAMILY = "([A-Z]+)"', path.read_text(), re.MULTILINE)
        assert found, path
        modules[found.group(1)] = importlib.import_module(f"ansible.module_utils.{path.stem}")
    out = []
    for entry in entries:
        # `var` may list several roles' variables, merged (LOG: shipper and aggregator).
        names = entry["var"] if isinstance(entry["var"], list) else [entry["var"]]
        for params in map(str, names):
            role = params.removeprefix("_").removesuffix("_verify_params")
            out.append((role, params, modules[entry["family"]]))
    return out


def passthroughs(
    params: dict[str, Any], spec: dict[str, Any], where: str = ""
) -> list[tuple[str, str, Any]]:
    """(parameter path, role variable, module spec) for every parameter set to `{{ var }}`."""
    out = []
    for name, value in params.items():
        if name not in spec:
            continue
        if isinstance(value, dict):
            out += passthroughs(value, spec[name].get("options") or {}, f"{where}{name}.")
            continue
        match = PASSTHROUGH.match(str(value).strip())
        if match:
            out.append((f"{where}{name}", match.group(1), spec[name]))
    return out


FAMILIES = families()


@pytest.mark.parametrize(("role", "params", "module"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_module_defaults_equal_the_role_defaults_they_stand_for(
    role: str, params: str, module: Any
) -> None:
    role_vars = yaml.safe_load((REPO / "roles" / role / "vars" / "main.yml").read_text())
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    params_value = role_vars[params]
    if isinstance(params_value, str):
        indirect = INDIRECT.match(params_value.strip())
        if indirect and isinstance(role_vars.get(indirect.group(1)), dict):
            params_value = role_vars[indirect.group(1)]
        else:
            params_value = {k: f"{{{{ {v} }}}}" for k, v in JINJA_ITEM.findall(params_value)}
    pairs = passthroughs(params_value, module.ARGUMENT_SPEC)
    compared = 0
    for param, variable, spec in pairs:
        if "default" not in spec or variable not in defaults:
            continue
        assert spec["default"] == defaults[variable], (
            f"{role}: module default of {param} is {spec['default']!r}, "
            f"roles/{role}/defaults/main.yml {variable} is {defaults[variable]!r}"
        )
        compared += 1
    assert compared, f"{role}: no parameter of {params} passes a role default through"


def test_the_50_ms_bound_has_one_value() -> None:
    from ansible.module_utils import soc2_chrony, soc2_time_family

    bound = soc2_chrony.DEFAULT_MAX_ERROR
    defaults = yaml.safe_load((REPO / "roles/timesync/defaults/main.yml").read_text())
    assert defaults["timesync_max_error"] == bound
    assert soc2_time_family.ARGUMENT_SPEC["max_error"]["default"] == bound
    assert inspect.signature(soc2_chrony.assess).parameters["max_error"].default == bound
    time_02 = load_catalog(CATALOG).by_id["TIME-02"]
    assert f"(default {bound * 1000:g} ms)" in time_02.title
