# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The prerequisites list (soc2audit/prereqs.py) covers every command the lab code runs on the
control node, and the doctor names what is missing with its package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from soc2audit import lab, prereqs

REPO = Path(__file__).resolve().parents[2]
# Python code that runs commands on the control node: the lab, the CLI, the tests against the
# lab and the benchmarks. Commands inside `podman exec` or testinfra run in the containers.
LAB_CODE = [
    *sorted((REPO / "soc2audit").glob("*.py")),
    *sorted((REPO / "tests" / "integration").glob("*.py")),
    *sorted((REPO / "bench").glob("*.py")),
]
# Shell entry points: every command word they start.
SHELL_CODE = [REPO / ".ci" / "run", REPO / ".ci" / "stages.sh"]
# Programs from the virtualenv (requirements.txt), not from the operating system.
VENV = {
    "ansible",
    "ansible-playbook",
    "ansible-inventory",
    "ansible-lint",
    "molecule",
    "pytest",
    "ruff",
    "yamllint",
    "soc2audit",
    "promtool",
}
RUNNERS = {"run", "Popen", "check_output", "check_call", "call"}


def _literal_commands(path: Path) -> set[str]:
    """First words of subprocess-style calls with a literal argument list, and names passed to
    shutil.which."""
    tree = ast.parse(path.read_text(), str(path))
    # `cmd = ["ssh", ...]` then `subprocess.run(cmd)`: the list a name was bound to.
    bound: dict[str, list[ast.List]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound.setdefault(target.id, []).append(node.value)
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        first = node.args[0]
        if name == "which" and isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.add(first.value)
        if name not in RUNNERS:
            continue
        lists = [first] if isinstance(first, ast.List) else []
        if isinstance(first, ast.Name):
            lists = bound.get(first.id, [])
        for lst in lists:
            head = lst.elts[0] if lst.elts else None
            if isinstance(head, ast.Constant) and isinstance(head.value, str):
                found.add(Path(head.value).name)
    return found


def _shell_commands(path: Path) -> set[str]:
    """Command words a shell script starts, less the functions it defines."""
    text = path.read_text()
    functions = set(re.findall(r"^\s*([a-z_][a-z0-9_]*)\(\)\s*\{", text, re.M))
    words: set[str] = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        for part in re.split(r"\|\||&&|[|;]|\$\(|\(", line):
            tokens = part.split()
            while tokens and ("=" in tokens[0] or tokens[0] in {"if", "then", "!", "exec"}):
                tokens.pop(0)
            if tokens and re.fullmatch(r"[a-z][a-z0-9.+-]*", tokens[0]):
                words.add(tokens[0])
    return words - functions


BUILTINS = {
    "cd", "set", "export", "echo", "printf", "local", "declare", "trap", "exit", "command",
    "return", "shift", "true", "false", "test", "stage", "cleanup", "else", "fi", "do", "done",
    "for", "while", "then", "elif", "report", "start", "rc", "name", "wait", "read", "case",
    "esac", "in",
}  # fmt: skip
# Standard Debian base-system tools (essential packages), present on every Debian machine.
ESSENTIAL = {
    "dirname", "date", "sort", "head", "tail", "cat", "grep", "sed", "awk", "mktemp", "mkdir",
    "rm", "install", "id", "sha256sum",
}  # fmt: skip


def test_every_command_the_lab_code_runs_is_in_the_list() -> None:
    used: dict[str, set[str]] = {}
    for path in LAB_CODE:
        for cmd in _literal_commands(path):
            used.setdefault(cmd, set()).add(str(path.relative_to(REPO)))
    for path in SHELL_CODE:
        for cmd in _shell_commands(path) - BUILTINS:
            used.setdefault(cmd, set()).add(str(path.relative_to(REPO)))
    assert "podman" in used and "debootstrap" in used, "the scan found the lab's own commands"
    covered = prereqs.commands() | VENV | ESSENTIAL
    uncovered = {cmd: sorted(where) for cmd, where in used.items() if cmd not in covered}
    assert not uncovered, (
        f"commands run on the control node but not in soc2audit/prereqs.py: {uncovered}"
    )


def test_netavark_needs_iptables_and_both_are_lab_prerequisites() -> None:
    lab_packages = prereqs.packages(list(prereqs.needs("lab")))
    for pkg in ("podman", "runc", "netavark", "iptables", "debootstrap", "openssh-client"):
        assert pkg in lab_packages
    assert "openssl" not in lab_packages, "openssl is a test prerequisite, not the lab's"
    assert "openssl" in prereqs.packages(list(prereqs.needs("test")))


def test_doctor_names_each_missing_command_and_its_package(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # An empty PATH and no helper directories: every program is missing.
    monkeypatch.setattr(prereqs, "SEARCH_PATH", str(tmp_path))
    monkeypatch.setattr(prereqs.Need, "present", _absent_unless_python)
    rc = lab.main(["doctor", "--scope", "lab"])
    out = capsys.readouterr().out
    assert rc == 1
    assert re.search(r"^MISSING iptables\s+iptables\s", out, re.M)
    assert re.search(r"^MISSING /usr/lib/podman/netavark\s+netavark\s", out, re.M)
    assert re.search(r"^MISSING ssh-keyscan\s+openssh-client\s", out, re.M)
    hint = out.strip().splitlines()[-1]
    assert "apt-get install" in hint and " iptables" in hint
    assert hint.count("openssh-client") == 1, "each package once"
    assert "openssl" not in hint, "lab scope only"


def _absent_unless_python(self: prereqs.Need) -> bool:
    return self.command.startswith("python3")


def test_doctor_is_clean_when_everything_is_there(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(prereqs.Need, "present", lambda self: True)
    assert lab.main(["doctor"]) == 0
    assert "MISSING" not in capsys.readouterr().out


def test_lab_refuses_with_the_package_names_when_it_cannot_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prereqs.Need, "present", lambda self: self.command != "iptables")
    monkeypatch.setattr(prereqs, "can_install", lambda: False)
    with pytest.raises(lab.LabError, match=r"iptables \(iptables\).*apt-get install iptables"):
        lab.ensure_host_tools()


def test_presence_is_looked_up_for_real() -> None:
    assert prereqs.Need("sh", "dash", "").present()
    assert not prereqs.Need("no-such-program-soc2", "x", "").present()
    assert prereqs.Need("python3:json", "python3", "").present()
    assert not prereqs.Need("python3:no_such_module_soc2", "x", "").present()
    assert prereqs.Need("/", "base-files", "").present()


def test_the_scan_sees_a_new_command(tmp_path: Path) -> None:
    code = tmp_path / "new_tool.py"
    code.write_text(
        "import shutil, subprocess\n"
        "def f():\n"
        "    cmd = ['/usr/bin/frobnicate', '-x']\n"
        "    subprocess.run(cmd, check=True)\n"
        "    subprocess.Popen(['tcpdump', '-i', 'any'])\n"
        "    shutil.which('skopeo')\n"
    )
    assert _literal_commands(code) == {"frobnicate", "tcpdump", "skopeo"}
    script = tmp_path / "run"
    script.write_text(
        "set -e\nhelper() {\n  true\n}\nFOO=1 jq . x | gzip -c && cd /x; skopeo copy # not: curl\n"
        "helper\n"
    )
    assert _shell_commands(script) - BUILTINS == {"jq", "gzip", "skopeo"}


def test_a_toolchain_not_from_apt_is_named_never_installed() -> None:
    go = next(n for n in prereqs.NEEDS if n.command == "go")
    assert not go.apt and go.scope == "components"
    assert go not in prereqs.needs("test"), "make test's apt install never pulls Debian's old Go"
    assert go in prereqs.needs("components")
    assert prereqs.packages([go]) == []
    hint = prereqs.install_hint([go, next(n for n in prereqs.NEEDS if n.command == "podman")])
    assert hint == "apt-get install podman; go from go.dev/dl"
