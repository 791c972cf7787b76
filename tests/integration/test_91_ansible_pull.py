# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pull mode on a lab of its own (roles/ansible_pull, docs/roles/ansible_pull.md): one host of
the warm image on its own podman network; the repository served from the control node with
`git daemon` on the network's gateway address (read-only git://, the way a fleet reaches a
mirror; its trust rests on the pinned hash, not the transport); versitygw with Object Lock on the
same gateway address as the evidence store.

The role is applied, then the timer's service is started once (`systemctl start`, no waiting for
the timer): the host checks out the pinned commit, converges its host-local profile, runs its
drift check, and its signed segment is in pull/<host>/ under COMPLIANCE retention;
`soc2audit evidence pull-verify` accepts it with the host's collected public key. Then the
forgeries: the segment edited after signing (re-uploaded with a valid lock and checksum) is
reported forged; a pinned commit the repository does not have is refused before anything of
the checkout runs (drift made on the host is left alone, nothing is uploaded).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import BIN, REPO, env, podman

from soc2audit import components, lab, s3_testserver

pytestmark = pytest.mark.own_containers

BUCKET = "soc2-evidence"
PREFIX = os.environ.get("SOC2_LAB_PREFIX") or "s2a"
NET, HOST = f"{PREFIX}-pull-net", f"{PREFIX}-pull-h1"
NAME = "pullhost1"  # the name the host signs and uploads under


def _ok(proc: subprocess.CompletedProcess[str], what: str) -> str:
    assert proc.returncode == 0, (
        f"{what}: rc {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def _exec(*argv: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    envs = dict(os.environ, CONTAINERS_CONF=str(REPO / ".lab" / "containers.conf"))
    return subprocess.run(
        ["podman", "exec", HOST, *argv], text=True, capture_output=True, env=envs,
        timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pull_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not shutil.which("git"):
        pytest.skip("no git on the control node")
    tmp = tmp_path_factory.mktemp("pull")
    lab.write_containers_conf()
    image = lab.ensure_warm_image(lab.lab_suite(None))
    podman("rm", "-f", "-t", "2", HOST)
    podman("network", "rm", "-f", NET)
    _ok(podman("network", "create", NET), "network")
    gateway = _ok(
        podman("network", "inspect", NET, "--format", "{{range .Subnets}}{{.Gateway}}{{end}}"),
        "gateway",
    ).strip()
    daemon = None
    try:
        _ok(
            podman("run", "-d", "--name", HOST, "--hostname", NAME, "--network", NET,
                   "--privileged", "--systemd=always", image, "/sbin/init"),
            "container",
        )  # fmt: skip
        # The repository as the control node has it committed: a bare clone, served read-only.
        commit = _ok(
            subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], text=True,
                           capture_output=True, check=False), "HEAD",
        ).strip()  # fmt: skip
        _ok(
            subprocess.run(["git", "clone", "-q", "--bare", "--no-local", str(REPO),
                            str(tmp / "git" / "soc2.git")], text=True, capture_output=True,
                           check=False), "bare clone",
        )  # fmt: skip
        port = components.free_port()
        daemon = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={tmp / 'git'}",
             f"--listen={gateway}", f"--port={port}", str(tmp / "git")],
            stdout=subprocess.DEVNULL, stderr=(tmp / "git-daemon.log").open("w"),
        )  # fmt: skip
        (tmp / "s3").mkdir()
        with s3_testserver.running(tmp / "s3", (BUCKET,), address=gateway) as s3:
            yield {
                "tmp": tmp,
                "commit": commit,
                "repo": f"git://{gateway}:{port}/soc2.git",
                "s3": s3,
                "keys": tmp / "keys",
            }
    finally:
        if daemon is not None:
            components.stop(daemon)
        podman("rm", "-f", "-t", "2", HOST)
        podman("network", "rm", "-f", NET)


def _apply(pull_lab: dict[str, Any], **overrides: Any) -> subprocess.CompletedProcess[str]:
    s3 = pull_lab["s3"]
    settings = {
        "ansible_pull_repository_url": pull_lab["repo"],
        "ansible_pull_commit": pull_lab["commit"],
        "ansible_pull_host_name": NAME,
        "ansible_pull_s3_bucket": BUCKET,
        "ansible_pull_s3_endpoint_url": s3.url,
        "ansible_pull_s3_ca_pem": s3.ca.read_text(),
        "ansible_pull_s3_access_key_id": s3.access_key,
        "ansible_pull_s3_secret_access_key": s3.secret_key,
        "ansible_pull_public_keys_dir": str(pull_lab["keys"]),
        **overrides,
    }
    inventory = pull_lab["tmp"] / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {HOST: {
        "ansible_connection": "containers.podman.podman",
        "ansible_python_interpreter": "/usr/bin/python3",
    }}}}))  # fmt: skip
    extra = pull_lab["tmp"] / "vars.json"
    extra.write_text(json.dumps(settings))
    playbook = pull_lab["tmp"] / "apply.yml"
    playbook.write_text("- hosts: all\n  gather_facts: true\n  roles: [{role: ansible_pull}]\n")
    envs = dict(env(), ANSIBLE_ROLES_PATH=str(REPO / "roles"),
                CONTAINERS_CONF=str(REPO / ".lab" / "containers.conf"))  # fmt: skip
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), "-e", f"@{extra}", str(playbook)],
        cwd=REPO, env=envs, text=True, capture_output=True, check=False, timeout=600,
    )  # fmt: skip


def _pull_verify(pull_lab: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    s3 = pull_lab["s3"]
    envs = dict(env(), AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key)
    proc = subprocess.run(
        [str(BIN / "python"), "-m", "soc2audit", "evidence", "pull-verify",
         "--store", f"s3://{BUCKET}/pull", "--keys-dir", str(pull_lab["keys"]),
         "--s3-endpoint-url", s3.url, "--s3-ca-bundle", str(s3.ca), "--json"],
        cwd=REPO, env=envs, text=True, capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode in (0, 10, 11, 13), proc.stderr
    return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()]


def _segments(pull_lab: dict[str, Any]) -> list[dict[str, Any]]:
    listed = pull_lab["s3"].client.list_object_versions(Bucket=BUCKET, Prefix="pull/")
    return listed.get("Versions") or []


def test_pull_mode_converges_checks_signs_and_ships(pull_lab: dict[str, Any]) -> None:
    started = time.monotonic()
    applied = _apply(pull_lab)
    _ok(applied, "the ansible_pull role")
    public = pull_lab["keys"] / f"{NAME}.pem"
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert "PRIVATE" not in "".join(p.read_text() for p in pull_lab["keys"].iterdir())
    assert _exec("systemctl", "is-active", "soc2audit-pull.timer").stdout.strip() == "active"
    assert _exec("stat", "-c", "%a", "/etc/soc2audit-pull/host-ed25519.pem").stdout.strip() == "600"
    print(f"role applied: {time.monotonic() - started:.0f} s")

    # The timer's service, once, now.
    run = _exec("systemctl", "start", "soc2audit-pull.service")
    journal = _exec("journalctl", "-u", "soc2audit-pull.service", "--no-pager", "-n", "200").stdout
    assert run.returncode == 0, journal[-6000:]
    print(f"pull run: {time.monotonic() - started:.0f} s since the role was applied")
    head = _exec("git", "-C", "/var/lib/soc2audit-pull/checkout", "rev-parse", "HEAD").stdout
    assert head.strip() == pull_lab["commit"]
    # It converged itself: the profile's sshd_config (sshd -t clean) is in place.
    assert _exec("sshd", "-t").returncode == 0
    assert "Ansible managed" in _exec("cat", "/etc/ssh/sshd_config").stdout

    versions = _segments(pull_lab)
    assert len(versions) == 1 and versions[0]["Key"].startswith(f"pull/{NAME}/"), versions
    key, version = versions[0]["Key"], versions[0]["VersionId"]
    retention = pull_lab["s3"].client.get_object_retention(
        Bucket=BUCKET, Key=key, VersionId=version
    )
    assert retention["Retention"]["Mode"] == "COMPLIANCE"
    body = pull_lab["s3"].client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    segment = json.loads(body)["segment"]
    assert segment["host"] == NAME and segment["commit"] == pull_lab["commit"]
    assert segment["converge_rc"] == 0 and segment["drift_rc"] == 0, segment
    checks = segment["results"]["checks"]
    ssh = [c for c in checks if str(c.get("check_id", "")).startswith("SSH-")]
    assert ssh and all(c["result"] in ("pass", "not_applicable") for c in ssh), ssh
    assert any(str(c.get("check_id", "")).startswith("HOST-") for c in checks), checks

    rc, rows = _pull_verify(pull_lab)
    assert rc == 0, rows
    assert [(r["host"], r["status"]) for r in rows] == [(NAME, "ok")]
    pull_lab["segment"] = {"key": key, "body": body}


def test_a_segment_edited_after_signing_is_forged(pull_lab: dict[str, Any]) -> None:
    if "segment" not in pull_lab:
        pytest.skip("no shipped segment (the first test failed)")
    from soc2audit.anchor_s3 import uploader
    from soc2audit.chain import sha256_hex

    body = pull_lab["segment"]["body"]
    envelope = json.loads(body)
    envelope["segment"]["results"]["checks"][0]["result"] = "fail"
    envelope["segment"]["drift_rc"] = 0
    envelope["segment"]["finished"] = "2099-01-01T00:00:00Z"  # and claim to be the newest
    edited = json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    edited = edited if edited != body else edited.replace(b'"pass"', b'"fail"', 1)
    import datetime as dt

    uploader().put_locked(
        pull_lab["s3"].client, BUCKET, f"pull/{NAME}/20990101T000000Z.json", edited,
        sha256_hex(edited), dt.datetime.now(dt.UTC) + dt.timedelta(days=1), "application/json",
    )  # fmt: skip
    rc, rows = _pull_verify(pull_lab)
    assert rc == 10, rows
    statuses = {r.get("key"): r["status"] for r in rows}
    assert statuses[f"pull/{NAME}/20990101T000000Z.json"] == "forged"
    assert statuses[pull_lab["segment"]["key"]] == "ok"


def test_a_wrong_pinned_commit_is_refused_before_anything_runs(pull_lab: dict[str, Any]) -> None:
    if "segment" not in pull_lab:
        pytest.skip("no shipped segment (the first test failed)")
    wrong = "0" * 39 + "1"  # a full hash the repository does not have
    _ok(_apply(pull_lab, ansible_pull_commit=wrong), "the role with another pinned commit")
    before = len(_segments(pull_lab))
    # Drift the converge would repair if anything of the checkout ran.
    _exec("sh", "-c", "echo '# drift made by test_91' >> /etc/ssh/sshd_config")
    run = _exec("systemctl", "start", "soc2audit-pull.service")
    journal = _exec("journalctl", "-u", "soc2audit-pull.service", "--no-pager", "-n", "60").stdout
    assert run.returncode != 0
    assert "refused" in journal, journal[-4000:]
    assert "status=3" in journal, journal[-4000:]
    assert "# drift made by test_91" in _exec("cat", "/etc/ssh/sshd_config").stdout
    assert _exec("test", "-e", "/var/lib/soc2audit-pull/results.json").returncode != 0
    assert len(_segments(pull_lab)) == before
    # A pin that is not a full hash never reaches the host: the role's preflight refuses it.
    refused = _apply(pull_lab, ansible_pull_commit="main")
    assert refused.returncode != 0 and "40-hex" in refused.stdout, refused.stdout[-3000:]
