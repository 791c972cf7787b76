# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/lookup/soc2audit_template.py renders what ansible.builtin.template's lookup renders.

Both lookups run in this process on real files (a DataLoader, a Templar over the task's
variables and ansible's lookup_loader, as a task's templating does): a template of this test's
own with an include, template_vars, a template that assigns, a missing file, and every file under
roles/*/templates rendered with its role's defaults/main.yml.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, lookup_loader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader import AnsibleCollectionConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
ROLES = REPO_ROOT / "roles"
BUILTIN = "ansible.builtin.template"
OURS = "soc2audit_template"

MAIN = """\
# {{ ansible_managed }} ({{ template_path }})
{% set x = 5 %}
name={{ name | upper }} alias={{ alias }}
{% for port in ports | sort %}
port {{ port }}{{ ',' if not loop.last else '' }}
{% endfor %}
{% include 'part.j2' %}
"""
PART = (
    "part {{ name }} x={{ x | default('unset') }}"
    " {{ cfg | dict2items | map(attribute='key') | join('/') }}\n"
)
# Assigns at the top level and through the containers it was given.
ASSIGNS = """\
{% set x = 7 %}{% set name = 'changed' %}{% set _ = ports.append(1) %}\
{% set _ = cfg.update({'k': 'v'}) %}{{ name }} {{ ports }} {{ cfg }} {{ x }}
"""


@pytest.fixture(scope="module", autouse=True)
def plugins() -> Iterator[None]:
    # ansible.builtin.* names resolve through the collection loader, as in ansible-playbook.
    if AnsibleCollectionConfig.collection_finder is None:
        init_plugin_loader()
    lookup_loader.add_directory(str(REPO_ROOT / "plugins" / "lookup"))
    yield


@pytest.fixture
def role(tmp_path: Path) -> Path:
    templates = tmp_path / "role" / "templates"
    (templates / "sub").mkdir(parents=True)
    (templates / "sub" / "main.j2").write_text(MAIN)
    (templates / "sub" / "part.j2").write_text(PART)
    (templates / "assigns.j2").write_text(ASSIGNS)
    return tmp_path / "role"


def task_vars(role_dir: Path, **extra: Any) -> dict[str, Any]:
    """What a role task's templar sees: role_path, the search path and the variables, whose
    strings are trusted templates as the ones loaded from YAML are."""
    variables: dict[str, Any] = {
        "role_path": str(role_dir),
        "ansible_search_path": [str(role_dir)],
        "name": "web",
        "alias": trust_as_template("{{ name }}-1"),
        "ports": [443, 80, 8443],
        "cfg": {"a": 1, "b": 2},
    }
    variables.update(extra)
    return variables


def run(name: str, terms: list[str], variables: dict[str, Any], **kwargs: Any) -> list[str]:
    """The lookup's run() as the templar calls it (loader, templar over the same variables)."""
    loader = DataLoader()
    lookup = lookup_loader.get(name, loader=loader, templar=Templar(loader, variables=variables))
    assert lookup is not None, name
    return lookup.run(terms, variables, **kwargs)


def expression(name: str, term: str, variables: dict[str, Any]) -> str:
    """`{{ lookup(name, term) }}` templated in a task's context, as the roles write it."""
    templar = Templar(DataLoader(), variables=variables)
    return templar.template(trust_as_template(f"{{{{ lookup('{name}', '{term}') }}}}"))


def test_a_template_with_a_filter_a_loop_and_an_include_renders_as_the_builtin(
    role: Path,
) -> None:
    variables = task_vars(role)
    ours = run(OURS, ["sub/main.j2", "assigns.j2"], variables)
    builtin = run(BUILTIN, ["sub/main.j2", "assigns.j2"], task_vars(role))
    assert [r.encode() for r in ours] == [r.encode() for r in builtin]
    assert ours[0] == (
        "# Ansible managed (sub/main.j2)\n"
        "name=WEB alias=web-1\n"
        "port 80,\nport 443,\nport 8443\n"
        # The included file sees the including template's variables and its own filters.
        "part web x=5 a/b\n"
    )
    # Through a template expression, as the roles' tasks and vars call it.
    assert expression(OURS, "sub/main.j2", task_vars(role)) == expression(
        BUILTIN, "sub/main.j2", task_vars(role)
    )
    assert expression(OURS, "sub/main.j2", task_vars(role)) == ours[0]


def test_an_absolute_path_and_a_set_ansible_managed_render_as_the_builtin(role: Path) -> None:
    term = str(role / "templates" / "sub" / "main.j2")
    variables = task_vars(role, ansible_managed="managed by soc2audit")
    ours = run(OURS, [term], variables)
    assert ours == run(BUILTIN, [term], task_vars(role, ansible_managed="managed by soc2audit"))
    assert ours[0].startswith(f"# managed by soc2audit ({term})\n")


def test_template_vars_override_a_task_variable_as_in_the_builtin(role: Path) -> None:
    over = {"name": "db", "ports": [5432], "x": "ignored: the template sets x"}
    ours = run(OURS, ["sub/main.j2"], task_vars(role), template_vars=over)
    builtin = run(BUILTIN, ["sub/main.j2"], task_vars(role), template_vars=over)
    assert ours == builtin
    # A task variable templated from the overridden one (alias) sees the override too.
    assert ours[0].splitlines()[1:3] == ["name=DB alias=db-1", "port 5432"]
    assert "part db x=5 a/b" in ours[0]
    # template_vars also win over the template variables ansible adds.
    (ours,) = run(OURS, ["sub/main.j2"], task_vars(role), template_vars={"template_path": "t"})
    assert ours.startswith("# Ansible managed (t)\n")


def test_a_render_that_assigns_leaves_the_task_variables_as_they_were(role: Path) -> None:
    variables = task_vars(role)
    before = copy.deepcopy(variables)
    template_vars = {"extra": ["e"]}
    first = run(OURS, ["assigns.j2", "assigns.j2"], variables, template_vars=template_vars)
    assert first == run(BUILTIN, ["assigns.j2", "assigns.j2"], task_vars(role))
    # Each render starts from the same variables: nothing from the first leaked into the second.
    assert first[0] == first[1] == "changed [443, 80, 8443, 1] {'a': 1, 'b': 2, 'k': 'v'} 7\n"
    assert variables == before
    assert variables["ports"] == [443, 80, 8443] and variables["cfg"] == {"a": 1, "b": 2}
    assert not {"x", "template_path", "ansible_managed"} & variables.keys()
    assert template_vars == {"extra": ["e"]}
    # The templar's own variables (what a lookup inside a task template is given) also stay.
    templar = Templar(DataLoader(), variables=variables)
    templar.template(trust_as_template("{{ lookup('soc2audit_template', 'assigns.j2') }}"))
    assert variables == before


def test_a_missing_file_raises_a_lookup_error_naming_it(role: Path) -> None:
    with pytest.raises(AnsibleLookupError, match=r"nowhere/missing\.j2"):
        run(OURS, ["sub/main.j2", "nowhere/missing.j2"], task_vars(role))
    # The builtin fails on it too (with AnsibleError and its own wording).
    with pytest.raises(AnsibleError, match=r"nowhere/missing\.j2"):
        run(BUILTIN, ["nowhere/missing.j2"], task_vars(role))


def role_defaults(role_dir: Path) -> dict[str, Any]:
    """defaults/main.yml as a role's task sees it (strings trusted as templates), with the
    role's own path and search path."""
    defaults = role_dir / "defaults" / "main.yml"
    loaded = DataLoader().load_from_file(str(defaults)) if defaults.exists() else None
    return {**(loaded or {}), "role_path": str(role_dir), "ansible_search_path": [str(role_dir)]}


def render_role(name: str, role_dir: Path) -> dict[str, str | AnsibleError]:
    """Each of the role's templates rendered by lookup `name`, or the error it raised."""
    out: dict[str, str | AnsibleError] = {}
    for path in sorted((role_dir / "templates").rglob("*")):
        if path.is_file():
            term = str(path.relative_to(role_dir / "templates"))
            try:
                (out[term],) = run(name, [term], role_defaults(role_dir))
            except AnsibleError as exc:
                out[term] = exc
    return out


ROLES_WITH_TEMPLATES = sorted(p.parent.name for p in ROLES.glob("*/templates") if p.is_dir())


@pytest.mark.parametrize("role_name", ROLES_WITH_TEMPLATES)
def test_the_role_templates_render_with_the_defaults_as_with_the_builtin(role_name: str) -> None:
    builtin = render_role(BUILTIN, ROLES / role_name)
    ours = render_role(OURS, ROLES / role_name)
    assert ours.keys() == builtin.keys() and ours
    for term, expected in builtin.items():
        got = ours[term]
        if isinstance(expected, AnsibleError):
            # Needs more than the defaults (facts, role vars): ours fails the same way.
            assert type(got) is type(expected), (term, got, expected)
            assert str(got) == str(expected), term
        else:
            assert isinstance(got, str) and got.encode() == expected.encode(), term


def test_the_modprobe_blacklist_renders_from_the_defaults() -> None:
    role_dir = ROLES / "os_hardening"
    defaults = role_defaults(role_dir)
    modules = defaults["os_hardening_modules_blacklist"]
    assert modules, "the default blacklist is not empty"
    term = "etc/modprobe.d/soc2-blacklist.conf.j2"
    (ours,) = run(OURS, [term], role_defaults(role_dir))
    assert ours == run(BUILTIN, [term], role_defaults(role_dir))[0]
    lines = ours.splitlines()
    assert lines[0] == "# Ansible managed"
    for module in modules:
        assert f"install {module} /bin/false" in lines and f"blacklist {module}" in lines


def test_most_role_templates_render_from_the_defaults_alone() -> None:
    """Guards the role comparison against passing vacuously (every template failing alike)."""
    rendered = {
        f"{role}/{term}"
        for role in ROLES_WITH_TEMPLATES
        for term, out in render_role(OURS, ROLES / role).items()
        if isinstance(out, str)
    }
    assert "os_hardening/etc/modprobe.d/soc2-blacklist.conf.j2" in rendered
    assert len(rendered) >= 10, sorted(rendered)
