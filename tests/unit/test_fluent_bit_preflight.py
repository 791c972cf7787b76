# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fluent_bit role's preflight and key pinning, run for real with ansible-playbook against
localhost in check mode (no fluent-bit, no root, nothing outside tmp_path touched).

* Every bad input fails in preflight with its own message, and the play reports no change.
* The repository key is fetched from a loopback HTTP server: a key whose fingerprint is not the
  pinned one is refused before the task that would trust it; the pinned key passes.

One ansible-playbook run per test: each case is a block that includes the role's tasks and
rescues the failure, recording the message; the json callback returns them all.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK_BIN = REPO / ".venv" / "bin" / "ansible-playbook"
GPG = shutil.which("gpg")


def _play(cases: dict[str, dict[str, Any]], tasks_from: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    for name, case_vars in cases.items():
        tasks.append(
            {
                "name": f"Case {name}",
                "block": [
                    {
                        "name": f"Run {tasks_from} ({name})",
                        "ansible.builtin.include_role": {
                            "name": "fluent_bit",
                            "tasks_from": tasks_from,
                        },
                        "vars": case_vars,
                    },
                    {
                        "name": f"Passed ({name})",
                        "ansible.builtin.set_fact": {
                            "case_results": (
                                f"{{{{ case_results | combine({{'{name}': 'passed'}}) }}}}"
                            )
                        },
                    },
                ],
                "rescue": [
                    {
                        "name": f"Failed ({name})",
                        "ansible.builtin.set_fact": {
                            "case_results": (
                                f"{{{{ case_results | combine({{'{name}': "
                                "ansible_failed_result.msg | default('?')}) }}"
                            )
                        },
                    }
                ],
            }
        )
    tasks.append({"name": "Report", "ansible.builtin.debug": {"var": "case_results"}})
    return [
        {
            "name": "Preflight cases",
            "hosts": "all",
            "gather_facts": False,
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "case_results": {},
            },
            "tasks": tasks,
        }
    ]


def run_cases(
    tmp_path: Path, cases: dict[str, dict[str, Any]], tasks_from: str = "preflight"
) -> tuple[dict[str, str], dict[str, Any]]:
    """{case: 'passed' | failure message}, and the play's stats for localhost."""
    results, stats, _ = run_cases_report(tmp_path, cases, tasks_from)
    return results, stats


def run_cases_report(
    tmp_path: Path, cases: dict[str, dict[str, Any]], tasks_from: str = "preflight"
) -> tuple[dict[str, str], dict[str, Any], list[dict[str, Any]]]:
    """As run_cases, plus every task's result for localhost (json callback, with diffs)."""
    playbook = tmp_path / "cases.yml"
    playbook.write_text(yaml.safe_dump(_play(cases, tasks_from), sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_HOME=str(tmp_path / "ansible-home"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
        ANSIBLE_REMOTE_TEMP=str(tmp_path / "ansible-remote"),
        ANSIBLE_CACHE_PLUGIN="memory",
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_NOCOLOR="1",
        SOC2AUDIT_DRIFT_OUTPUT_DIR=str(tmp_path / "drift"),
        SOC2AUDIT_DRIFT_EVIDENCE_DIR=str(tmp_path / "evidence"),
    )
    proc = subprocess.run(
        [str(PLAYBOOK_BIN), "-i", "localhost,", "--check", "--diff", str(playbook)],
        cwd=REPO,
        env=env,
        text=True,
        capture_output=True,
        check=False,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # The json callback's document; the drift callback may print a line of its own around it.
    start = (
        proc.stdout.index("{\n") if proc.stdout.startswith("{") else proc.stdout.index("\n{\n") + 1
    )
    report, _ = json.JSONDecoder().raw_decode(proc.stdout[start:])
    tasks = [
        {"name": task["task"]["name"].removeprefix("fluent_bit : "), **task["hosts"]["localhost"]}
        for task in report["plays"][0]["tasks"]
        if "localhost" in task["hosts"]
    ]
    return tasks[-1]["case_results"], report["stats"]["localhost"], tasks


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name in ("ca-chain.pem", "shipper-client.crt", "shipper-client.key"):
        path = tmp_path / "pki" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("placeholder: preflight only checks that the file is there\n")
        paths[name] = str(path)
    return {
        "fluent_bit_tls_ca_path": paths["ca-chain.pem"],
        "fluent_bit_tls_cert_path": paths["shipper-client.crt"],
        "fluent_bit_tls_key_path": paths["shipper-client.key"],
        "fluent_bit_aggregator_host": "10.89.2.4",
        "fluent_bit_aggregator_name": "aggregator",
    }


def test_bad_inputs_fail_in_preflight_and_nothing_changes(
    tmp_path: Path, tls_files: dict[str, str]
) -> None:
    deb = tmp_path / "fluent-bit_4.2.8_amd64.deb"  # never created: "not a file"
    cases: dict[str, dict[str, Any]] = {
        "good": {**tls_files},
        "method": {**tls_files, "fluent_bit_install_method": "script"},
        "package_missing": {
            **tls_files,
            "fluent_bit_install_method": "package_path",
            "fluent_bit_package_path": str(deb),
        },
        "fingerprint": {**tls_files, "fluent_bit_repository_key_fingerprint": "3888C1CD"},
        "retry": {**tls_files, "fluent_bit_retry_limit": "5"},
        "maxsize": {**tls_files, "fluent_bit_syslog_max_size_bytes": 2048},
        "tls_missing": {
            **tls_files,
            "fluent_bit_tls_key_path": str(tmp_path / "pki" / "missing.key"),
        },
        "no_host": {**tls_files, "fluent_bit_aggregator_host": ""},
        "no_group": {**tls_files, "fluent_bit_supplementary_groups": ["adm", "soc2-no-such-group"]},
    }
    results, stats = run_cases(tmp_path, cases)
    assert results["good"] == "passed"
    expected = {
        "method": "fluent_bit_install_method is 'script'",
        "package_missing": f"fluent_bit_package_path {deb} is not a file on the control node",
        "fingerprint": "40 hex digits",
        "retry": "fluent_bit_retry_limit is '5'",
        "maxsize": "must be above 2048",
        "tls_missing": "TLS material missing on localhost",
        "no_host": "the output host is empty",
        "no_group": "groups that do not exist on localhost: soc2-no-such-group.",
    }
    for case, needle in expected.items():
        assert needle in results[case], (case, results[case])
        assert results[case].startswith("fluent_bit: "), results[case]
    assert "shipper-client" in results["tls_missing"]
    # Preflight only reads: no task reported a change, none was skipped into a change.
    assert stats["changed"] == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["cases.yml"]


# ---------------------------------------------------------------- key pinning


def _gpg(home: Path, *args: str) -> str:
    return subprocess.run(
        [GPG or "gpg", "--batch", "--no-tty", *args],
        env={**os.environ, "GNUPGHOME": str(home)},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


@pytest.fixture
def key_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A fresh signing key served on loopback: (key URL, its fingerprint)."""
    if GPG is None:
        pytest.skip("gpg is not installed on this control node")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    uid = "Releases <releases@example.invalid>"
    _gpg(home, "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "1d")
    colons = _gpg(home, "--with-colons", "--fingerprint", uid)
    fpr = next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:"))
    www = tmp_path / "www"
    www.mkdir()
    (www / "fluentbit.key").write_text(_gpg(home, "--armor", "--export", fpr))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fluentbit.key", fpr
    finally:
        server.shutdown()
        server.server_close()


def test_key_is_trusted_only_with_the_pinned_fingerprint(
    tmp_path: Path, key_server: tuple[str, str]
) -> None:
    url, fpr = key_server
    keyring = tmp_path / "keyrings" / "fluentbit-keyring.asc"
    keyring.parent.mkdir()
    common = {"fluent_bit_repository_key_url": url, "_fluent_bit_keyring": str(keyring)}
    spaced = " ".join(fpr[i : i + 4] for i in range(0, 40, 4))
    cases = {
        "pinned": {**common, "fluent_bit_repository_key_fingerprint": spaced.lower()},
        "other_key": {
            **common,
            "fluent_bit_repository_key_fingerprint": "C3C0A28534B9293EAF51FABD9F9DDC083888C1CD",
        },
    }
    results, stats = run_cases(tmp_path, cases, tasks_from="key")
    assert results["pinned"] == "passed"
    assert "not the pinned C3C0A28534B9293EAF51FABD9F9DDC083888C1CD" in results["other_key"]
    assert fpr in results["other_key"] and "it was not trusted" in results["other_key"]
    # Check mode: the pinned key would be written (one change), the other never reached the task.
    assert stats["changed"] == 1
    assert not keyring.exists()


# ---------------------------------------------------------------- the install path, check mode


@pytest.mark.skipif(os.geteuid() != 0, reason="apt and user checks need root (still check mode)")
def test_install_path_in_check_mode_changes_nothing(
    tmp_path: Path, key_server: tuple[str, str]
) -> None:
    """install.yml for the official repository and for a mirror, in check mode on this machine:
    the key is fetched and pinned, the deb822 sources and keyring would be written, the package
    would be installed (apt cannot know it yet: tolerated in check mode only), the service
    account would be created; nothing is written, no apt cache update runs."""
    url, fpr = key_server
    mirror = url.rsplit("/", 1)[0] + "/"
    out = tmp_path / "etc"
    out.mkdir()
    common = {
        "fluent_bit_repository_key_fingerprint": fpr,
        "_fluent_bit_sources": str(out / "fluent-bit.sources"),
        "_fluent_bit_keyring": str(out / "fluentbit-keyring.asc"),
        "fluent_bit_user": "soc2-test-fluent-bit",
        "fluent_bit_group": "soc2-test-fluent-bit",
        "ansible_facts": {"distribution": "Debian", "distribution_release": "bookworm"},
    }
    cases = {
        "repository": {**common, "fluent_bit_repository_key_url": url},
        "mirror": {
            **common,
            "fluent_bit_install_method": "mirror",
            "fluent_bit_mirror_url": mirror,
        },
    }
    results, _, tasks = run_cases_report(tmp_path, cases, tasks_from="install")
    assert results == {"repository": "passed", "mirror": "passed"}
    by_case: dict[str, dict[str, dict[str, Any]]] = {"repository": {}, "mirror": {}}
    case = "repository"
    for task in tasks:
        if task["name"].startswith("Passed (mirror)"):
            break
        if task["name"].startswith("Passed (repository)"):
            case = "mirror"
        by_case[case].setdefault(task["name"], task)
    for case, seen in by_case.items():
        assert (
            seen["Key | the fetched key is the pinned one, and only that one"].get("failed")
            is not True
        )
        assert seen["Key | trusted for the fluent-bit sources only (signed-by)"]["changed"] is True
        sources = seen["Install | package sources (deb822, signed-by the pinned key)"]
        assert sources["changed"] is True
        after = (
            sources["diff"][0]["after"]
            if isinstance(sources["diff"], list)
            else sources["diff"]["after"]
        )
        base = "https://packages.fluentbit.io" if case == "repository" else mirror.rstrip("/")
        assert f"URIs: {base}/debian/bookworm\n" in after
        assert f"Signed-By: {out / 'fluentbit-keyring.asc'}\n" in after
        install = seen["Install | fluent-bit from the repository"]
        # Tolerated: check mode, the sources are not written yet, so apt cannot know it.
        assert not install.get("failed"), install
        assert "fluent-bit" in install["msg"] and "No package matching" in install["msg"], install
        assert seen["Install | service user (no login, no home)"]["changed"] is True
        assert seen["Install | the .deb copied from the control node"].get("skipped") is True
    assert sorted(p.name for p in out.iterdir()) == []
    import pwd

    with pytest.raises(KeyError):
        pwd.getpwnam("soc2-test-fluent-bit")
