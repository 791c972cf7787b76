# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""soc2-audit-metrics control-node package."""

__version__ = "0.1.0"
