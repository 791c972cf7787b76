# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""python -m soc2audit: the soc2audit command (see soc2audit/cli.py)."""

import sys

from soc2audit.cli import main

sys.exit(main())
