#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_toy: the toy family's thin module (tests only)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_toy
short_description: Verify a file exists and is big enough (toy checks TOY-01 and TOY-02)
description:
  - A test family; see tests/unit/test_toy_family.py.
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
options:
  path:
    description: The file.
    type: path
    required: true
  min_size:
    description: Smallest acceptable size in bytes.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Verify the toy file
  soc2_toy:
    path: /etc/hostname
"""

RETURN = r"""
checks:
  description: TOY-01 and TOY-02.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils import soc2_toy_family  # noqa: E402
from ansible.module_utils.soc2_family import run_module  # noqa: E402

ARGUMENT_SPEC = soc2_toy_family.ARGUMENT_SPEC


def main() -> None:
    run_module(soc2_toy_family)


if __name__ == "__main__":
    main()
