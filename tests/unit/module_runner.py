# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run an Ansible module's main() in-process, the way ansible-core's own unit tests do."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from ansible.module_utils import basic


@contextlib.contextmanager
def module_args(args: dict[str, Any]) -> Iterator[None]:
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(basic, "_ANSIBLE_ARGS", payload))
        if hasattr(basic, "_ANSIBLE_PROFILE"):  # ansible-core >= 2.19
            stack.enter_context(mock.patch.object(basic, "_ANSIBLE_PROFILE", "legacy"))
        yield


def invoke(
    main: Callable[[], None], args: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    """(exit code, parsed JSON result) of one module run."""
    capsys.readouterr()
    with module_args(args), pytest.raises(SystemExit) as exc:
        main()
    return int(exc.value.code or 0), json.loads(capsys.readouterr().out)
