# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""plugins/action/soc2audit_policy_check.py, run by ansible-playbook on the control node as the
drift run runs it: the project's policies pass; a policy that does not compile or names a check
id the catalog lacks fails the task with the file, before any host would be read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from soc2audit.policy import load_policies

REPO = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, policies: Path) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "check.yml"
    playbook.write_text(
        "- hosts: localhost\n"
        "  gather_facts: false\n"
        "  tasks:\n"
        "    - name: Fleet policies compile and match the catalog\n"
        "      soc2audit_policy_check:\n"
        f"        dir: {policies}\n"
        f"        catalog: {REPO / 'controls' / 'catalog.yml'}\n"
        "      register: checked\n"
        "    - name: Count\n"
        "      ansible.builtin.debug:\n"
        "        msg: 'policies={{ checked.policies }}'\n"
    )
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         str(playbook)],
        capture_output=True, text=True, env=env, cwd=REPO, check=False,
    )  # fmt: skip


def test_the_projects_policies_pass(tmp_path: Path) -> None:
    proc = run(tmp_path, REPO / "policies")
    assert proc.returncode == 0, proc.stdout[-2000:]
    policies, _ = load_policies(REPO / "policies")
    assert f"policies={len(policies.policies)}" in proc.stdout


def test_a_policy_that_does_not_compile_or_an_unknown_id_fails_with_the_file(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "policies"
    shutil.copytree(REPO / "policies", broken)
    text = (broken / "time.rego").read_text()
    (broken / "time.rego").write_text(text.replace("limit := input", "limit := := input", 1))
    proc = run(tmp_path, broken)
    assert proc.returncode != 0
    assert "the fleet policies cannot be used" in proc.stdout and "time.rego" in proc.stdout

    (broken / "time.rego").write_text(text.replace("id: POL-03", "id: POL-99", 1))
    proc = run(tmp_path, broken)
    assert proc.returncode != 0
    assert "POL-99" in proc.stdout, proc.stdout[-2000:]
