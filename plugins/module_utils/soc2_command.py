# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Finding and running the host's programs, for every module of the suite.

One owner for three things each family used to carry its own copy of: the C locale commands
run in (so messages are the documented English ones), looking a program up (an absolute path,
or a name on PATH and then the sbin directories, as ``AnsibleModule.get_bin_path`` does) and
running it without raising on a non-zero exit.
"""

from __future__ import annotations

import os
from typing import Any

# Commands run in the C locale so messages are the ones documented.
C_LOCALE: dict[str, str] = {"LC_ALL": "C", "LANG": "C"}


def find_binary(module: Any, name: str) -> tuple[str | None, str | None]:
    """(path, None) for a runnable program, else (None, why).

    ``name`` with a slash is taken as a path and must be an executable file; a bare name is
    looked up on PATH first, then in the sbin directories (where nft, auditctl and pmc live).
    """
    if "/" in name:
        if os.path.isfile(name) and os.access(name, os.X_OK):
            return name, None
        return None, f"{name} is not an executable file"
    path = module.get_bin_path(name)
    if not path:
        return None, f"{name} not found on PATH"
    return path, None


def run(module: Any, argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``argv`` run in the C locale; never raises on rc != 0."""
    rc, out, err = module.run_command(argv, environ_update=C_LOCALE, check_rc=False)
    return rc, out or "", err or ""
