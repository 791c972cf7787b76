#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_files: several files, directories and removals in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_files
short_description: Put several files and directories in place (or remove them) in one round trip
description:
  - What a loop of M(ansible.builtin.file), M(ansible.builtin.copy) and M(ansible.builtin.template)
    tasks does, in one module run on the host instead of one or two per item. The roles render
    templates on the control node (P(ansible.builtin.template#lookup)) and pass the text here.
  - Entries are applied in order, so a directory listed first exists before the files in it.
  - A file whose content differs is written to a temporary file in the same directory, given its
    owner, group and mode, checked with O(entries[].validate) when set (nothing is replaced when
    the command fails), then renamed over the old one (Ansible's C(atomic_move)). Owner, group
    and mode of files whose content is right are fixed in place, as M(ansible.builtin.file) does.
  - O(purge) removes the files a role does not manage from a directory (what a
    M(ansible.builtin.find) task followed by a loop of M(ansible.builtin.file) C(state=absent) did).
  - Check mode changes nothing and reports what would change; with C(--diff) the content and
    attribute differences are returned.
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
options:
  entries:
    description: Files and directories, applied in this order.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path on the host.
        type: path
        required: true
      state:
        description: V(file), V(directory), or V(absent).
        type: str
        choices: [file, directory, absent]
        default: file
      content:
        description: The whole content of the file. Without it, V(file) only fixes the owner,
          group and mode of a file that must exist (like M(ansible.builtin.file) C(state=file)).
        type: str
      owner:
        description: Owner name; left alone when not set.
        type: str
      group:
        description: Group name; left alone when not set.
        type: str
      mode:
        description: Octal mode as a string (V("0644")); left alone when not set.
        type: str
      validate:
        description: Command run on the new content before it replaces the file; C(%s) is the
          temporary file's path. Only run when the content changes.
        type: str
      backup:
        description: Keep a timestamped copy of a file whose content is replaced.
        type: bool
        default: false
  purge:
    description: Directories to clear of files the role does not manage.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory (nothing happens when it does not exist).
        type: path
        required: true
      patterns:
        description: Shell patterns of the file names considered.
        type: list
        elements: str
        required: true
      excludes:
        description: File names that are kept.
        type: list
        elements: str
        default: []
"""

EXAMPLES = r"""
- name: Sources directory, the managed sources file, no other sources files
  soc2_files:
    entries:
      - {path: /etc/chrony/sources.d, state: directory, owner: root, group: root, mode: "0755"}
      - path: /etc/chrony/sources.d/soc2audit.sources
        content: >-
          {{ lookup('ansible.builtin.template', 'etc/chrony/sources.d/soc2audit.sources.j2') }}
        owner: root
        group: root
        mode: "0644"
    purge:
      - {path: /etc/chrony/sources.d, patterns: ["*.sources"], excludes: [soc2audit.sources]}
"""

RETURN = r"""
changed_paths:
  description: Paths created, rewritten, removed or whose attributes were changed, in order.
  type: list
  elements: str
  returned: always
backups:
  description: Path of the backup copy per file that was backed up.
  type: dict
  returned: always
"""

import fnmatch
import os
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_text

ENTRY_SPEC: dict[str, Any] = {
    "path": {"type": "path", "required": True},
    "state": {"type": "str", "choices": ["file", "directory", "absent"], "default": "file"},
    "content": {"type": "str"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "mode": {"type": "str"},
    "validate": {"type": "str"},
    "backup": {"type": "bool", "default": False},
}
PURGE_SPEC: dict[str, Any] = {
    "path": {"type": "path", "required": True},
    "patterns": {"type": "list", "elements": "str", "required": True},
    "excludes": {"type": "list", "elements": "str", "default": []},
}


class Files:
    """Applies the entries; collects what changed, diffs and backups."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.changed_paths: list[str] = []
        self.diffs: list[dict[str, Any]] = []
        self.backups: dict[str, str] = {}

    def note(self, path: str) -> None:
        if path not in self.changed_paths:
            self.changed_paths.append(path)

    def attributes(self, entry: dict[str, Any]) -> None:
        """Owner, group and mode as asked (the file module's own helpers; honour check mode)."""
        args = self.module.load_file_common_arguments(
            {"owner": entry["owner"], "group": entry["group"], "mode": entry["mode"]},
            path=entry["path"],
        )
        diff: dict[str, Any] = {"before": {"path": entry["path"]}, "after": {"path": entry["path"]}}
        if self.module.set_fs_attributes_if_different(args, False, diff=diff):
            self.note(entry["path"])
            if self.module._diff:
                self.diffs.append(diff)

    def directory(self, entry: dict[str, Any]) -> None:
        path = entry["path"]
        if os.path.lexists(path) and not os.path.isdir(path):
            self.module.fail_json(msg=f"{path} exists and is not a directory", **self.result())
        if not os.path.isdir(path):
            self.note(path)
            if self.module._diff:
                self.diffs.append(
                    {
                        "before": {"path": path, "state": "absent"},
                        "after": {"path": path, "state": "directory"},
                    }
                )
            if self.module.check_mode:
                return
            os.makedirs(path)
        self.attributes(entry)

    def absent(self, path: str) -> None:
        if os.path.isdir(path) and not os.path.islink(path):
            self.module.fail_json(
                msg=f"{path} is a directory; only files are removed", **self.result()
            )
        if not os.path.lexists(path):
            return
        self.note(path)
        if self.module._diff:
            self.diffs.append(
                {
                    "before": {"path": path, "state": "file"},
                    "after": {"path": path, "state": "absent"},
                }
            )
        if not self.module.check_mode:
            os.unlink(path)

    def file(self, entry: dict[str, Any]) -> None:
        path = entry["path"]
        if entry["content"] is None:
            if not os.path.isfile(path):
                self.module.fail_json(
                    msg=f"{path} does not exist (no content given)", **self.result()
                )
            self.attributes(entry)
            return
        new = to_bytes(entry["content"], errors="surrogate_or_strict")
        if os.path.isdir(path):
            self.module.fail_json(msg=f"{path} is a directory", **self.result())
        try:
            with open(path, "rb") as handle:
                old: bytes | None = handle.read()
        except FileNotFoundError:
            old = None
        if old == new:
            self.attributes(entry)
            return
        self.note(path)
        if self.module._diff:
            self.diffs.append(
                {
                    "before_header": path,
                    "after_header": path,
                    "before": to_text(old or b"", errors="surrogate_or_replace"),
                    "after": entry["content"],
                }
            )
        if self.module.check_mode:
            return
        directory = os.path.dirname(path) or "."
        if not os.path.isdir(directory):
            self.module.fail_json(
                msg=f"{directory} does not exist (list it first as a directory)", **self.result()
            )
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".soc2_files-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(new)
                handle.flush()
                os.fsync(handle.fileno())
            if entry["validate"]:
                if "%s" not in entry["validate"]:
                    self.module.fail_json(msg=f"{path}: validate must contain %s", **self.result())
                rc, out, err = self.module.run_command(entry["validate"] % tmp)
                if rc != 0:
                    self.module.fail_json(
                        msg=f"failed to validate {path}: {entry['validate']} exited {rc}",
                        stdout=out,
                        stderr=err,
                        exit_status=rc,
                        **self.result(),
                    )
            if entry["backup"] and old is not None:
                self.backups[path] = self.module.backup_local(path)
            self.module.atomic_move(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.attributes(entry)

    def purge(self, spec: dict[str, Any]) -> None:
        directory = spec["path"]
        if not os.path.isdir(directory):
            return
        for name in sorted(os.listdir(directory)):
            if name in spec["excludes"] or not any(
                fnmatch.fnmatch(name, p) for p in spec["patterns"]
            ):
                continue
            path = os.path.join(directory, name)
            if os.path.isfile(path) or os.path.islink(path):
                self.absent(path)

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "changed": bool(self.changed_paths),
            "changed_paths": self.changed_paths,
            "backups": self.backups,
        }
        if self.module._diff and self.diffs:
            out["diff"] = self.diffs
        return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "entries": {"type": "list", "elements": "dict", "default": [], "options": ENTRY_SPEC},
            "purge": {"type": "list", "elements": "dict", "default": [], "options": PURGE_SPEC},
        },
        supports_check_mode=True,
    )
    files = Files(module)
    for entry in module.params["entries"]:
        if entry["state"] == "directory":
            files.directory(entry)
        elif entry["state"] == "absent":
            files.absent(entry["path"])
        else:
            files.file(entry)
    for spec in module.params["purge"]:
        files.purge(spec)
    module.exit_json(**files.result())


if __name__ == "__main__":
    main()
