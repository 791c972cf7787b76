# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The pki role on the lab: converged, idempotent, check-mode clean, and real mTLS.

The mTLS cases run openssl s_server on the aggregator with client verification required and
connect from edge1 with openssl s_client: our certificate is accepted; no certificate, a
certificate from a foreign CA, and an expired certificate from our own CA are each refused.
"""

from __future__ import annotations

import datetime
import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, ansible_playbook, get_host, recap
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_DIR = "/etc/ssl/soc2audit"
# The log ingest port (RFC 5424 over TLS): the host firewall lets the edge hosts reach it on the
# aggregator, which is exactly the mTLS link these tests stand in for.
PORT = 6514


def test_second_converge_changes_nothing(converged: dict, lab_hosts: list[str]) -> None:
    assert set(converged) >= set(lab_hosts)
    assert {h: converged[h]["changed"] for h in lab_hosts} == dict.fromkeys(lab_hosts, 0)


# Check mode on the converged lab (zero changes on every host but the one edited by hand) is
# test_50_drift.py::test_check_mode_changes_nothing_but_records_hand_made_drift: one check-mode
# run of site.yml proves both.


def test_drift_check_passes_every_pki_check(converged: dict, lab_hosts: list[str]) -> None:
    ansible_playbook("playbooks/drift_check.yml", check=True)
    rows = [json.loads(x) for x in (REPO / ".cache/drift/last_run.jsonl").read_text().splitlines()]
    got = {(r["host"], r["check_id"]): r["result"] for r in rows if r["check_id"].startswith("PKI")}
    # PKI-01..06 from the verifier, PKI-07 (an mTLS handshake) from the testinfra checks.
    expected = {(h, f"PKI-0{i}"): "pass" for h in lab_hosts for i in range(1, 8)}
    assert got == expected


def test_private_keys_stay_on_their_hosts(converged: dict, lab_hosts: list[str]) -> None:
    fingerprints = set()
    for name in lab_hosts:
        h = get_host(name)
        key = h.file(f"{CERT_DIR}/private/host.key")
        assert key.exists and key.mode == 0o600 and key.user == "root"
        fingerprints.add(h.check_output(f"sha256sum {CERT_DIR}/private/host.key").split()[0])
        assert not h.run("find / -xdev -name '*-ca.key' -print -quit").stdout.strip()
    assert len(fingerprints) == len(lab_hosts), "every host has its own key"


# ---------------------------------------------------------------- mTLS handshakes


def _issue(
    subject: str,
    issuer_cert: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey | None,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    ca: bool = False,
) -> tuple[bytes, bytes, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        ).add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key, cert, key


@pytest.fixture(scope="module")
def client_material(converged: dict, lab_inventory: dict) -> Iterator[str]:
    """Put a foreign-CA client certificate and an expired one (from our CA) on edge1."""
    now = datetime.datetime.now(datetime.UTC)
    ca_dir = Path(lab_inventory["all"]["vars"]["pki_ca_dir"])
    inter_cert = x509.load_pem_x509_certificate((ca_dir / "intermediate-ca.pem").read_bytes())
    inter_key = serialization.load_pem_private_key(
        (ca_dir / "private/intermediate-ca.key").read_bytes(), None
    )
    _, _, foreign_ca, foreign_key = _issue(
        "Foreign Root",
        None,
        None,
        now - datetime.timedelta(days=1),
        now + datetime.timedelta(days=30),
        ca=True,
    )
    foreign_pem, foreign_pem_key, _, _ = _issue(
        "edge1",
        foreign_ca,
        foreign_key,
        now - datetime.timedelta(days=1),
        now + datetime.timedelta(days=30),
    )
    expired_pem, expired_pem_key, _, _ = _issue(
        "edge1",
        inter_cert,
        inter_key,
        now - datetime.timedelta(days=60),
        now - datetime.timedelta(days=1),
    )
    h = get_host("edge1")
    workdir = "/tmp/soc2-mtls-test"
    h.check_output(f"rm -rf {workdir} && install -d -m 700 {workdir}")
    files = {
        "foreign.crt": foreign_pem,
        "foreign.key": foreign_pem_key,
        "expired.crt": expired_pem,
        "expired.key": expired_pem_key,
    }
    for fname, data in files.items():
        h.check_output(f"printf %s {shlex.quote(data.decode())} > {workdir}/{fname}")
    yield workdir
    h.run(f"rm -rf {workdir}")


@pytest.fixture(scope="module")
def tls_server(converged: dict) -> Iterator[str]:
    """openssl s_server on the aggregator demanding a client certificate from our CA, on the
    log port the firewall opens from the edge hosts. The log aggregator's rsyslog listens there
    (edge1's listener, which would take edge1's host certificate and store the HTTP request as a
    log record under a claimed name that is not edge1's: LOG-11), and edge1's shipper dials it
    (it would hold s_server's only session with its own valid certificate): both are stopped
    meanwhile, with their sockets; edge1's disk queue and imfile position keep its audit log."""
    h = get_host("aggregator")
    get_host("edge1").check_output("systemctl stop syslog.socket rsyslog.service")
    h.check_output("systemctl stop syslog.socket rsyslog.service")
    h.run("pkill -f 'openssl s_server -accept {PORT}' || true")
    cmd = (
        f"openssl s_server -accept {PORT} -www -Verify 2 -verify_return_error "
        f"-cert {CERT_DIR}/host-fullchain.crt -key {CERT_DIR}/private/host.key "
        f"-CAfile {CERT_DIR}/ca-chain.pem"
    )
    h.check_output(f"nohup timeout 300 {cmd} > /tmp/s_server.log 2>&1 < /dev/null & sleep 1")
    assert h.socket(f"tcp://0.0.0.0:{PORT}").is_listening
    yield "aggregator"
    h.run(f"pkill -f 'openssl s_server -accept {PORT}'")
    h.check_output("systemctl start syslog.socket rsyslog.service")
    get_host("edge1").check_output("systemctl start syslog.socket rsyslog.service")


def _client(cert_args: str) -> tuple[int, str]:
    """An HTTP request over TLS from edge1; returns (rc, output)."""
    h = get_host("edge1")
    cmd = (
        "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 20 openssl s_client -quiet -connect "
        f"aggregator:{PORT} -verify_hostname aggregator -verify_return_error "
        f"-CAfile {CERT_DIR}/ca-chain.pem {cert_args} 2>&1"
    )
    res = h.run(cmd)
    return res.rc, res.stdout


def test_mtls_with_our_certificates_succeeds(tls_server: str) -> None:
    rc, out = _client(f"-cert {CERT_DIR}/host.crt -key {CERT_DIR}/private/host.key")
    assert "HTTP/1.0 200 ok" in out, out
    assert rc == 0


def test_mtls_without_client_certificate_is_refused(tls_server: str) -> None:
    rc, out = _client("")
    assert "HTTP/1.0 200 ok" not in out
    assert "alert" in out.lower() or rc != 0, out


def test_mtls_with_foreign_ca_certificate_is_refused(tls_server: str, client_material: str) -> None:
    _, out = _client(f"-cert {client_material}/foreign.crt -key {client_material}/foreign.key")
    assert "HTTP/1.0 200 ok" not in out
    assert "unknown ca" in out.lower() or "alert" in out.lower(), out


def test_mtls_with_expired_certificate_is_refused(tls_server: str, client_material: str) -> None:
    _, out = _client(f"-cert {client_material}/expired.crt -key {client_material}/expired.key")
    assert "HTTP/1.0 200 ok" not in out
    assert "certificate expired" in out.lower() or "alert" in out.lower(), out
    log = get_host("aggregator").check_output("cat /tmp/s_server.log")
    assert "certificate has expired" in log, log


# ---------------------------------------------------------------- drift and bad input


def test_drift_on_key_mode_is_detected_and_repaired(converged: dict) -> None:
    h = get_host("edge2")
    h.check_output(f"chmod 0644 {CERT_DIR}/private/host.key")
    ansible_playbook("playbooks/drift_check.yml", check=True)
    rows = [json.loads(x) for x in (REPO / ".cache/drift/last_run.jsonl").read_text().splitlines()]
    result = {(r["host"], r["check_id"]): r for r in rows}
    assert result[("edge2", "PKI-06")]["result"] == "fail"
    assert (
        "0644" in json.dumps(result[("edge2", "PKI-06")]["observed"])
        or "644" in result[("edge2", "PKI-06")]["message"]
    )
    assert result[("edge1", "PKI-06")]["result"] == "pass"
    ansible_playbook("playbooks/pki.yml", "-l", "edge2", check=True)
    assert h.file(f"{CERT_DIR}/private/host.key").mode == 0o600


def test_replaced_key_is_detected_and_certificate_reissued(converged: dict) -> None:
    h = get_host("edge1")
    before = h.check_output(f"openssl x509 -noout -serial -in {CERT_DIR}/host.crt")
    h.check_output(
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
        f"-out {CERT_DIR}/private/host.key"
    )
    ansible_playbook("playbooks/drift_check.yml", check=True)
    rows = [json.loads(x) for x in (REPO / ".cache/drift/last_run.jsonl").read_text().splitlines()]
    result = {(r["host"], r["check_id"]): r["result"] for r in rows}
    assert result[("edge1", "PKI-05")] == "fail"
    ansible_playbook("playbooks/pki.yml", "-l", "edge1", check=True)
    after = h.check_output(f"openssl x509 -noout -serial -in {CERT_DIR}/host.crt")
    assert before != after
    h.check_output(
        f"openssl verify -CAfile {CERT_DIR}/ca-chain.pem {CERT_DIR}/host.crt && "
        f"cmp <(openssl x509 -noout -pubkey -in {CERT_DIR}/host.crt) "
        f"<(openssl pkey -pubout -in {CERT_DIR}/private/host.key)"
    )


def test_unreachable_host_is_not_run_never_pass(converged: dict, lab_inventory: dict) -> None:
    import os
    import subprocess

    container = lab_inventory["all"]["children"]["edge"]["hosts"]["edge2"]["soc2_lab_container"]
    podman_env = dict(os.environ, CONTAINERS_CONF=str(REPO / ".lab" / "containers.conf"))

    def exec_in(cmd: str) -> None:
        subprocess.run(["podman", "exec", container, "sh", "-c", cmd], env=podman_env, check=True)

    exec_in("systemctl stop ssh.socket ssh.service 2>/dev/null; pkill -x sshd; true")
    try:
        proc = ansible_playbook("playbooks/drift_check.yml")
        assert proc.returncode == 0, "the merge must run even when a host is unreachable"
        rows = [
            json.loads(x) for x in (REPO / ".cache/drift/last_run.jsonl").read_text().splitlines()
        ]
        edge2 = [r for r in rows if r["host"] == "edge2"]
        others = [r for r in rows if r["host"] != "edge2"]
        assert len(edge2) == len([r for r in rows if r["host"] == "edge1"]) > 6
        assert {r["result"] for r in edge2} == {"not_run"}, proc.stdout[-3000:]
        assert all("10." in r["message"] or "reach" in r["message"] for r in edge2), edge2[0]
        # The other hosts are still evaluated (never not_run or error because of edge2). Their TIME
        # checks may legitimately fail for a while after the lab was recreated (a client not yet
        # synchronised), so only the PKI results are pinned to pass here; test_50 covers the rest.
        # Except the shipper's impstats counters (LOG-04/05): the certificate rotation earlier in
        # this file restarts rsyslog, and until its stats are current again they cannot be
        # decided (error), which has nothing to do with edge2.
        errors = [
            (r["host"], r["check_id"], r["message"])
            for r in others
            if r["result"] == "error"
            and not (r["check_id"] in ("LOG-04", "LOG-05") and "impstats" in r["message"])
        ]
        assert not errors, errors
        assert {r["result"] for r in others} <= {"pass", "not_applicable", "fail", "error"}
        # A fail elsewhere may be real but transient here: the rotations earlier in this file
        # restart the shipper (LOG-01 while rsyslog restarts) and the exporter (MON-05 until
        # Prometheus scrapes it again). What this test pins is that edge2's absence turns no
        # other host's result into not_run or error; test_50 pins a clean lab to all pass.
        assert {r["result"] for r in others if r["check_id"].startswith("PKI")} == {"pass"}
    finally:
        exec_in("systemctl start ssh.service")


def test_deleted_full_chain_is_restored_without_reissue(converged: dict) -> None:
    h = get_host("monitor")
    serial = f"openssl x509 -noout -serial -in {CERT_DIR}/host.crt"
    before = h.check_output(serial)
    h.check_output(f"rm {CERT_DIR}/host-fullchain.crt")
    ansible_playbook("playbooks/pki.yml", "-l", "monitor", check=True)
    assert h.check_output(serial) == before, "the leaf itself was fine: no re-issue"
    chain = h.check_output(f"grep -c 'BEGIN CERTIFICATE' {CERT_DIR}/host-fullchain.crt")
    assert chain == "2"
    h.check_output(f"openssl verify -CAfile {CERT_DIR}/ca-chain.pem {CERT_DIR}/host-fullchain.crt")


def test_rotation_reissues_and_the_fleet_converges_again(converged: dict) -> None:
    h = get_host("edge2")
    serial = f"openssl x509 -noout -serial -in {CERT_DIR}/host.crt"
    key_sum = f"sha256sum {CERT_DIR}/private/host.key"
    before, key_before = h.check_output(serial), h.check_output(key_sum)
    rotated = ansible_playbook("playbooks/rotate_certs.yml", "-l", "edge2", check=True)
    assert recap(rotated.stdout)["edge2"]["changed"] > 0
    assert h.check_output(serial) != before
    assert h.check_output(key_sum) == key_before, "rotation keeps the key unless asked"
    rekeyed = ansible_playbook(
        "playbooks/rotate_certs.yml", "-l", "edge2", "-e", "pki_rotate_keys=true", check=True
    )
    assert recap(rekeyed.stdout)["edge2"]["changed"] > 0
    assert h.check_output(key_sum) != key_before
    again = ansible_playbook("playbooks/pki.yml", "-l", "edge2", check=True)
    assert recap(again.stdout)["edge2"]["changed"] == 0


# Each bad input against the pki role's own playbook (its preflight is the same in site.yml);
# the first also against site.yml, which must stop there too, before any role or its file
# integrity check changes anything. (A site.yml run first checks every host's files with AIDE,
# some 10 s of CPU per host: once is enough to prove the whole play stops.)
BAD_INPUTS = [
    (["-e", "pki_key_type=dsa"], "pki_key_type", "site.yml"),
    (
        ["-e", "pki_cert_validity_days=20", "-e", "pki_renewal_days=30"],
        "lifetimes do not nest",
        "pki.yml",
    ),
    (
        ["-e", '{"pki_certificate_requests": [{"name": "x", "sans": []}]}'],
        "'sans' is empty",
        "pki.yml",
    ),
    (["-e", "pki_ca_dir=/etc/hostname/pki"], "is not a writable", "pki.yml"),
    (
        ["-e", '{"pki_certificate_requests": [{"name": "x", "usage": "everything"}]}'],
        "usage",
        "pki.yml",
    ),
    (
        ["-e", '{"pki_certificate_requests": [{"name": "x", "mode": "0644"}]}'],
        "world-accessible",
        "pki.yml",
    ),
]


@pytest.mark.parametrize(
    ("extra", "message", "playbook"), BAD_INPUTS, ids=[b[1] for b in BAD_INPUTS]
)
def test_bad_input_fails_before_any_host_changes(
    converged: dict, lab_hosts: list[str], extra: list[str], message: str, playbook: str
) -> None:
    h = get_host("edge1")
    before = h.check_output(
        f"sha256sum {CERT_DIR}/host.crt {CERT_DIR}/private/host.key {CERT_DIR}/ca-chain.pem"
    )
    proc = ansible_playbook(f"playbooks/{playbook}", *extra)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    counts = recap(proc.stdout)
    assert all(c["changed"] == 0 for c in counts.values()), counts
    after = h.check_output(
        f"sha256sum {CERT_DIR}/host.crt {CERT_DIR}/private/host.key {CERT_DIR}/ca-chain.pem"
    )
    assert before == after
