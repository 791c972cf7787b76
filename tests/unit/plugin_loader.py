# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Load one of the project's Ansible plugins (filter, action, callback, connection, module) by
its path, as a plain Python module, for the unit tests."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_plugin(relative: str | Path, name: str | None = None) -> ModuleType:
    """The module at REPO_ROOT / relative (e.g. "plugins/filter/pki.py"; an absolute path as it
    is), imported under `name` (default: soc2audit_test_<kind>_<stem>)."""
    path = REPO_ROOT / relative
    name = name or f"soc2audit_test_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_script(path: str | Path, name: str) -> ModuleType:
    """A Python script the roles install without a .py suffix (roles/*/files/...), imported
    from REPO_ROOT / path (an absolute path as it is) under ``name``."""
    loader = importlib.machinery.SourceFileLoader(name, str(REPO_ROOT / path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None, path
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
