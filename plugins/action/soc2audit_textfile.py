# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin soc2audit_textfile: write a host's metrics file with one shell command.

The module of the same name (library/soc2audit_textfile.py, the documentation) starts Python on
the host. This action does the same work with a single command over the task's connection: the
host's shell prints the old file, then writes the new content (stdin) to a temporary file in the
same directory, syncs it, sets its mode and renames it over the old one. ``changed`` is decided
here, on the control node, with the module's own comparison (plugins/module_utils/soc2_textfile.py).
``method: module`` runs the module instead (the drift run's ``soc2audit_textfile_method``).
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from soc2audit.module_utils import soc2_textfile as TEXTFILE

ARGUMENT_SPEC: dict[str, Any] = {
    **TEXTFILE.ARGUMENT_SPEC,
    "method": {"type": "str", "choices": ["shell", "module"], "default": "shell"},
}
# First line of the command's output: whether the file existed; its old content follows.
_HEADER = "soc2audit-textfile-old:"


def command(path: str, mode: str, create_dir: bool, write: bool) -> str:
    """The shell command: print the old file; when ``write``, replace it with stdin atomically."""
    p, d = shlex.quote(path), shlex.quote(str(Path(path).parent))
    read = (
        f"if [ -f {p} ]; then printf '%s1\\n' '{_HEADER}' && cat -- {p} || exit 2; "
        f"else printf '%s0\\n' '{_HEADER}'; fi"
    )
    if not write:
        return read
    make_dir = f"mkdir -p -m 0755 -- {d} || exit 3" if create_dir else f"[ -d {d} ] || exit 4"
    replace = (
        f"t=$(mktemp {d}/.soc2audit-XXXXXX.tmp) || exit 5; "
        f'if cat > "$t" && chmod {shlex.quote(mode)} "$t"; then sync -- "$t" 2>/dev/null; '
        f'mv -f -- "$t" {p} || {{ rm -f -- "$t"; exit 6; }}; else rm -f -- "$t"; exit 6; fi'
    )
    return f"umask 022; {read}; {make_dir}; {replace}"


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if args["method"] == "module":
            module_args = {k: v for k, v in args.items() if k != "method"}
            return self._execute_module(module_args=module_args, task_vars=task_vars)
        content = args["content"] if args["content"].endswith("\n") else args["content"] + "\n"
        try:
            int(args["mode"], 8)
        except ValueError as exc:
            raise AnsibleActionFail(f"mode {args['mode']!r} is not an octal file mode") from exc
        bad = TEXTFILE.bad_line(content)
        if bad:
            raise AnsibleActionFail(f"content line {bad[0]} is not a sample: {bad[1][:120]!r}")
        path = args["path"]
        write = not self._task.check_mode
        res = self._low_level_execute_command(
            command(path, args["mode"], args["create_dir"], write),
            sudoable=True,
            in_data=content.encode() if write else None,
        )
        out = str(res.get("stdout", ""))
        if res.get("rc") != 0 or not out.startswith(_HEADER):
            codes = {2: "cannot read", 3: "cannot create the directory of", 4: "no directory for"}
            why = codes.get(int(res.get("rc") or 0), "cannot write")
            result.update(
                failed=True,
                changed=False,
                rc=res.get("rc"),
                stderr=res.get("stderr", ""),
                msg=f"{why} {path}: {str(res.get('stderr', '')).strip()[:500]}",
            )
            return result
        header, _, old = out.partition("\n")
        names = set(args["compare_metrics"])
        before = TEXTFILE.samples(old, names) if header.endswith("1") else None
        after = TEXTFILE.samples(content, names)
        # method: the file was written by one shell command, no Python on the host (bench/run.py
        # counts round trips that start Python by it).
        result.update(
            changed=before != after,
            path=path,
            series=TEXTFILE.count_samples(content),
            method="shell",
        )
        if self._task.diff:
            result["diff"] = TEXTFILE.diff(path, before, after)
        return result
