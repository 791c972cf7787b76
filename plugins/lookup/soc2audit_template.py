# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Lookup soc2audit_template: ansible.builtin.template's lookup without the copy of every variable.

ansible-core's template lookup deep-copies all of the task's variables before each render (its
own source marks it "FIXME: why isn't this a chainmap"); in the drift run, where each family's
expected files are rendered per host on the control node, those copies were the largest
control-node cost per host (docs/scale.md). This lookup renders the same file with the same
search path, the same template variables (template_path, ansible_managed, ...) and template_vars
layered over the task's variables in a ChainMap, so nothing is copied and the task's variables
stay as they are (a template cannot assign to them: Jinja's sandbox, and a ChainMap writes only
to its top).
On an ansible-core without that templating API (before 2.19: Debian 12's 2.14, which the pull
mode's hosts run) it hands the call to ansible.builtin.template's lookup.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: soc2audit_template
short_description: Render a template as ansible.builtin.template's lookup does, copying nothing
description:
  - Returns the rendered content of each template file, found and rendered as
    C(ansible.builtin.template)'s lookup does (the role's C(templates/) search path, the
    template variables C(template_path), C(template_fullpath), C(ansible_managed) and the rest),
    with the task's variables seen through a ChainMap instead of a deep copy.
  - Used by the roles' C(vars/main.yml) for the expected content of the files the verifiers
    compare (docs/scale.md "What was changed").
options:
  _terms:
    description: The template files, relative to the role's C(templates/) or absolute.
    required: true
  template_vars:
    description: Variables the template sees on top of every other (as the builtin lookup's).
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: The expected nftables ruleset
  ansible.builtin.debug:
    msg: "{{ lookup('soc2audit_template', 'etc/nftables.d/soc2_filter.nft.j2') }}"
"""

RETURN = r"""
_raw:
  description: The rendered content of each file.
  type: list
  elements: str
"""

import os
from collections import ChainMap
from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

try:  # ansible-core 2.19 and later: the templating API this lookup renders with
    from ansible._internal._templating import _template_vars
    from ansible._internal._templating._engine import TemplateOptions
    from ansible.template import trust_as_template
except ImportError:  # older ansible-core (Debian 12's 2.14 on a pull-mode host): the builtin
    _template_vars = None


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: Any = None, **kwargs: Any) -> list[Any]:
        if _template_vars is None:
            from ansible.plugins.loader import lookup_loader

            builtin = lookup_loader.get(
                "ansible.builtin.template", loader=self._loader, templar=self._templar
            )
            return builtin.run(terms, variables, **kwargs)
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables if variables is not None else {}
        extra = dict(self.get_option("template_vars") or {})
        rendered = []
        for term in terms:
            path = self.find_file_in_search_path(variables, "templates", term)
            if not path:
                raise AnsibleLookupError(f"the template file {term} could not be found")
            data = trust_as_template(self._loader.get_text_file_contents(path))
            # Jinja's include/import search path, as the builtin lookup builds it.
            searchpath = [os.path.dirname(path)]
            for entry in variables.get("ansible_search_path", []):
                searchpath.extend((os.path.join(entry, "templates"), entry))
            overlay = _template_vars.generate_ansible_template_vars(
                path=term,
                fullpath=path,
                include_ansible_managed="ansible_managed" not in variables,
            )
            templar = self._templar.copy_with_new_env(
                available_variables=ChainMap(extra, overlay, variables), searchpath=searchpath
            )
            rendered.append(
                templar._engine.template(data, options=TemplateOptions(escape_backslashes=False))
            )
        return rendered
