# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host-side code of the verification modules (imported on hosts as ansible.module_utils.*).

On the control node the same directory is the package ``soc2audit.module_utils`` (pyproject.toml
maps it), so the soc2audit package imports the modules' result vocabulary (soc2_results) and
metrics-file rules (soc2_textfile) by name. Only those two are imported there; the rest import
ansible.module_utils.* and run on the hosts. See docs/architecture.md, "Where code lives and how
it is imported".
"""
