# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The molecule connection (plugins/connection/soc2audit_podman_nsenter.py): the container's PID
is cached and never reused for a process that is not the one cached."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from ansible.errors import AnsibleConnectionFailure
from plugin_loader import load_plugin

NS = load_plugin("plugins/connection/soc2audit_podman_nsenter.py")


def test_start_time_is_field_22_of_proc_stat() -> None:
    own = Path(f"/proc/{os.getpid()}/stat").read_text()
    assert NS.start_time(os.getpid()) == own.rsplit(")", 1)[1].split()[19]
    assert NS.start_time(os.getpid()).isdigit()


def test_start_time_of_a_command_with_spaces_and_parentheses(tmp_path: Path) -> None:
    # The command name in /proc/PID/stat is "(...)" and may itself hold ") (".
    odd = tmp_path / "a) (b c"
    odd.symlink_to("/bin/sleep")
    proc = subprocess.Popen([str(odd), "30"])
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        assert ") (" in stat.split(" ", 1)[1]
        assert NS.start_time(proc.pid) == stat.rsplit(")", 1)[1].split()[19]
    finally:
        proc.kill()
        proc.wait()


def test_gone_process_has_no_start_time() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert NS.start_time(proc.pid) == ""


def test_cached_pid_of_a_live_process_is_used_without_podman(tmp_path: Path) -> None:
    pid = os.getpid()
    (tmp_path / "ctr").write_text(f"{pid} {NS.start_time(pid)}\n")
    # A podman that cannot run proves the cache answered.
    assert NS.container_pid("ctr", podman=str(tmp_path / "no-podman"), cache_dir=tmp_path) == pid


def test_stale_cache_asks_podman_again(tmp_path: Path) -> None:
    pid = os.getpid()
    # Same PID, another start time: a recreated container that got a reused PID.
    (tmp_path / "ctr").write_text(f"{pid} 1\n")
    fake = tmp_path / "podman"
    fake.write_text(f"#!/bin/sh\necho {pid}\n")
    fake.chmod(0o755)
    assert NS.container_pid("ctr", podman=str(fake), cache_dir=tmp_path) == pid
    assert (tmp_path / "ctr").read_text().split() == [str(pid), NS.start_time(pid)]


def test_container_that_is_not_running_is_a_connection_failure(tmp_path: Path) -> None:
    fake = tmp_path / "podman"
    # What podman prints for a stopped container: PID 0.
    fake.write_text("#!/bin/sh\necho 0\n")
    fake.chmod(0o755)
    with pytest.raises(AnsibleConnectionFailure, match="ctr is not running"):
        NS.container_pid("ctr", podman=str(fake), cache_dir=tmp_path)


def test_a_new_container_is_waited_for_and_a_cached_one_is_not(tmp_path: Path) -> None:
    pid = os.getpid()
    fake = tmp_path / "podman"
    fake.write_text(f"#!/bin/sh\necho {pid}\n")
    fake.chmod(0o755)
    seen: list[int] = []
    assert NS.container_pid("ctr", str(fake), tmp_path, on_new=seen.append) == pid
    assert seen == [pid]  # first connection: the boot wait ran before the PID was cached
    assert NS.container_pid("ctr", str(fake), tmp_path, on_new=seen.append) == pid
    assert seen == [pid]  # from the cache: no second wait


def test_the_boot_wait_answers_a_state_and_never_raises() -> None:
    # Entering this process's own namespaces: whatever systemctl says here (running, degraded,
    # offline, or no systemctl at all), the wait reports it as text instead of failing the task.
    state = NS.wait_for_boot(os.getpid(), 2)
    assert isinstance(state, str) and state
    assert NS.wait_for_boot(os.getpid(), 0) == "not waited"


def test_the_boot_wait_asks_again_until_systemd_answers_a_state(tmp_path: Path) -> None:
    # Like systemctl in a container created a moment ago: no socket yet, so no state on stdout
    # (the error goes to stderr) for the first two questions, then the state.
    counter = tmp_path / "asked"
    script = tmp_path / "systemctl"
    script.write_text(
        "#!/bin/sh\n"
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {counter}\n"
        'if [ "$n" -lt 3 ]; then echo "Failed to connect to bus" >&2; exit 1; fi\n'
        "echo running\n"
    )
    script.chmod(0o755)
    assert NS.wait_for_boot(1, 20, [str(script)]) == "running"
    assert counter.read_text().strip() == "3"
    # One that never answers is given up on (here after the 1 s timeout), without raising.
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nexit 1\n")
    silent.chmod(0o755)
    assert NS.wait_for_boot(1, 1, [str(silent)]) == "still booting after 1 s"


def test_the_documentation_parses_with_its_options() -> None:
    # Ansible parses DOCUMENTATION when it loads any connection plugin: a YAML error there fails
    # every molecule scenario at its first playbook.
    import yaml

    doc = yaml.safe_load(NS.DOCUMENTATION)
    assert set(doc["options"]) == {"container", "podman_executable", "boot_timeout"}
    assert doc["options"]["boot_timeout"]["default"] > 0
