"""python -m soc2audit: the soc2audit command (see soc2audit/cli.py)."""

import sys

from soc2audit.cli import main

sys.exit(main())
