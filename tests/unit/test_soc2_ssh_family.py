# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The SSH family (plugins/module_utils/soc2_ssh_family.py, library/soc2_ssh.py) and the
ssh_hardening role's preflight filters, over RECORDED real outputs (tests/unit/fixtures/ssh,
from a Debian 12 lab container, OpenSSH 9.2p1):

* ``sshd_T_bookworm_stock.txt``: ``sshd -T -C user=root,host=localhost,addr=127.0.0.1`` of the
  image's stock configuration (plus the lab's drop-in: root by key, no passwords);
* ``sshd_T_bookworm_hardened.txt``: the same after the ssh_hardening role with its defaults;
* ``keygen_*.txt``: ``ssh-keygen -lf`` of the host keys (stock: ECDSA, ED25519, RSA 3072;
  weak: a 2048-bit RSA and a DSA key made for the recording);
* ``sshd_T_bad_cipher.stderr``: sshd refusing an unknown cipher name;
* ``ssh_Q_bookworm.txt``: the role's preflight command (``ssh -Q`` lists and the RSA key size);
* ``systemctl_show_ssh.txt``: ``systemctl show`` of ssh.service, running and enabled;
* ``ssh_Q_trixie.txt``, ``sshd_T_trixie_hardened.txt``: the same ``ssh -Q`` lists from the
  Debian 13 image (OpenSSH 10.0p2), and its ``sshd -T`` of the file the role wrote on Debian 12.

The module runs in-process with stub ``sshd``, ``ssh-keygen`` and ``systemctl`` programs that
print those recordings.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import soc2_ssh
import soc2_verify
from ansible.module_utils import soc2_ssh_family as fam
from module_runner import invoke
from plugin_loader import load_plugin

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ssh"
FILTERS = load_plugin(REPO / "plugins" / "filter" / "ssh_hardening.py", "ssh_hardening_filters")
DEFAULTS: dict[str, Any] = {
    "ciphers": [
        "chacha20-poly1305@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-ctr",
        "aes192-ctr",
        "aes128-ctr",
    ],
    "macs": [
        "hmac-sha2-512-etm@openssh.com",
        "hmac-sha2-256-etm@openssh.com",
        "umac-128-etm@openssh.com",
    ],
    "kex_algorithms": [
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256",
        "curve25519-sha256@libssh.org",
        "diffie-hellman-group16-sha512",
        "diffie-hellman-group18-sha512",
        "diffie-hellman-group-exchange-sha256",
    ],
    "host_key_algorithms": [
        "ssh-ed25519-cert-v01@openssh.com",
        "ssh-ed25519",
        "rsa-sha2-512-cert-v01@openssh.com",
        "rsa-sha2-512",
        "rsa-sha2-256-cert-v01@openssh.com",
        "rsa-sha2-256",
    ],
    "allow_groups": ["root", "ssh-users"],
    "banner": "/etc/ssh/soc2audit-banner",
}


def params(**over: Any) -> dict[str, Any]:
    """The verifier's parameters as the role renders them with its defaults."""
    out = {k: v["default"] for k, v in fam.ARGUMENT_SPEC.items() if "default" in v}
    out.update(DEFAULTS)
    out.update(over)
    return out


def settings(name: str, suite: str = "bookworm") -> dict[str, Any]:
    return fam.parse_sshd_t((FIXTURES / f"sshd_T_{suite}_{name}.txt").read_text())


def keys(name: str) -> list[dict[str, Any]]:
    lines = (FIXTURES / f"keygen_bookworm_{name}.txt").read_text().splitlines()
    out = []
    for line in lines:
        info = fam.parse_keygen(line)
        assert info is not None, line
        out.append({"path": f"/etc/ssh/ssh_host_{info['type'].lower()}_key", **info})
    return out


# ---------------------------------------------------------------- the recordings
def test_parse_collects_repeated_keywords() -> None:
    hard = settings("hardened")
    assert hard["hostkey"] == ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_rsa_key"]
    # sshd -T prints AllowGroups one group per line.
    assert hard["allowgroups"] == ["root", "ssh-users"]
    assert hard["x11forwarding"] == "no" and hard["loglevel"] == "VERBOSE"
    assert "allowgroups" not in settings("stock")


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_hardened_recording_passes_every_setting_check(suite: str) -> None:
    hard, p = settings("hardened", suite), params()
    forwarding = {**fam.FORWARDING_DEFAULTS}
    assert fam.assess_crypto(hard, p)[0] == "pass"
    assert fam.assess_equal(hard, forwarding, "forwarding")[0] == "pass"
    assert fam.assess_auth(hard, p)[0] == "pass", fam.assess_auth(hard, p)
    assert fam.assess_idle(hard, p)[0] == "pass"
    assert fam.assess_groups(hard, p)[0] == "pass"
    assert fam.assess_logging(hard, p, 120)[0] == "pass"
    assert fam.assess_host_keys(keys("hardened"), p)[0] == "pass"


def test_stock_recording_fails_each_check_with_the_reason() -> None:
    stock, p = settings("stock"), params()
    result, observed, message = fam.assess_crypto(stock, p)
    assert result == "fail"
    # Debian 12's default MACs include SHA-1 and umac-64; its KEX the NIST curves.
    assert "weak umac-64-etm@openssh.com" in message and "hmac-sha1" in message
    assert "ecdh-sha2-nistp256" in message
    assert "hmac-sha1" in observed["macs"]
    result, observed, message = fam.assess_equal(stock, fam.FORWARDING_DEFAULTS, "forwarding")
    assert result == "fail"
    assert observed["x11forwarding"] == "yes" and observed["allowagentforwarding"] == "yes"
    assert "x11forwarding is yes" in message and "gatewayports" not in message
    result, observed, message = fam.assess_auth(stock, p)
    assert result == "fail"
    assert observed["maxauthtries"] == 6 and observed["logingracetime"] == 120
    # The lab's drop-in keeps root by key and passwords off: those two pass.
    assert observed["permitrootlogin"] == "prohibit-password"
    assert "PermitRootLogin" not in message and "PasswordAuthentication" not in message
    assert fam.assess_idle(stock, p)[0:2] == (
        "fail",
        {"clientaliveinterval": 0, "clientalivecountmax": 3},
    )
    assert fam.assess_groups(stock, p)[0] == "fail"
    result, _, message = fam.assess_logging(stock, p, None)
    assert result == "fail" and "LogLevel INFO" in message and "Banner none" in message
    # The stock host keys: ECDSA is not an allowed type.
    result, _, message = fam.assess_host_keys(keys("stock"), p)
    assert result == "fail" and "is ECDSA" in message and "bits" not in message


def test_weak_host_keys_are_named() -> None:
    result, _, message = fam.assess_host_keys(keys("weak"), params())
    assert result == "fail"
    assert "RSA 2048 bits (< 3072)" in message and "is DSA" in message
    assert fam.assess_host_keys([], params())[0] == "fail"


@pytest.mark.parametrize(
    ("change", "result", "says"),
    [
        ({"passwordauthentication": "yes"}, "fail", "PasswordAuthentication yes"),
        ({"permitrootlogin": "yes"}, "fail", "PermitRootLogin yes"),
        ({"permitrootlogin": "no"}, "pass", ""),
        ({"logingracetime": "0"}, "fail", "LoginGraceTime 0"),
        ({"maxauthtries": "4"}, "fail", "MaxAuthTries 4 above 3"),
        ({"permitemptypasswords": "yes"}, "fail", "permitemptypasswords yes"),
    ],
)
def test_authentication_limits(change: dict[str, str], result: str, says: str) -> None:
    got = fam.assess_auth({**settings("hardened"), **change}, params())
    assert got[0] == result and says in got[2], got


def test_password_authentication_on_when_wanted() -> None:
    hard = {**settings("hardened"), "passwordauthentication": "yes"}
    assert fam.assess_auth(hard, params(password_authentication=True))[0] == "pass"
    assert fam.assess_auth(settings("hardened"), params(password_authentication=True))[0] == "fail"


def test_idle_and_groups_bounds() -> None:
    hard = settings("hardened")
    longer = {**hard, "clientalivecountmax": "5"}
    assert fam.assess_idle(longer, params())[0] == "fail"
    assert fam.assess_idle(hard, params(client_alive_interval=600))[0] == "pass"
    extra = {**hard, "allowgroups": ["root", "ssh-users", "users"]}
    result, _, message = fam.assess_groups(extra, params())
    assert result == "fail" and "added ['users']" in message
    assert fam.assess_groups(hard, params(allow_groups=["ssh-users", "root"]))[0] == "pass"


def test_forwarding_allowed_by_variable() -> None:
    hard = {**settings("hardened"), "allowtcpforwarding": "yes"}
    wanted = {**fam.FORWARDING_DEFAULTS, "allowtcpforwarding": "yes"}
    assert fam.assess_equal(hard, wanted, "forwarding")[0] == "pass"
    assert fam.assess_equal(hard, fam.FORWARDING_DEFAULTS, "forwarding")[0] == "fail"


def test_validate_refuses_weak_and_empty() -> None:
    assert fam.validate(params()) == []
    problems = fam.validate(
        params(
            macs=["hmac-sha1", "hmac-sha2-256-etm@openssh.com"],
            ciphers=["aes128-cbc"],
            allow_groups=[],
            forwarding={"x11": "no"},
            client_alive_count_max=0,
        )
    )
    text = "; ".join(problems)
    assert "macs holds weak algorithms: hmac-sha1" in text
    assert "ciphers holds weak algorithms: aes128-cbc" in text
    assert "allow_groups must not be empty" in text
    assert "unknown keywords ['x11']" in text
    assert "client_alive_count_max" in text


def test_weak_pattern_matches_the_role_s() -> None:
    import yaml

    role_vars = yaml.safe_load((REPO / "roles/ssh_hardening/vars/main.yml").read_text())
    assert role_vars["_ssh_hardening_weak_re"] == fam.WEAK_RE.pattern
    # Every name of the role's default profile is known to OpenSSH 9.2 and 10.0, none is weak.
    defaults = yaml.safe_load((REPO / "roles/ssh_hardening/defaults/main.yml").read_text())
    profile = {
        "cipher": defaults["ssh_hardening_ciphers"],
        "mac": defaults["ssh_hardening_macs"],
        "kex": defaults["ssh_hardening_kex_algorithms"],
        "key-sig": defaults["ssh_hardening_host_key_algorithms"],
    }
    for suite in ("bookworm", "trixie"):
        known = FILTERS.ssh_query((FIXTURES / f"ssh_Q_{suite}.txt").read_text())
        assert FILTERS.ssh_unknown(profile, known) == [], suite
    # OpenSSH 10 dropped DSA: the trixie lists have no ssh-dss.
    assert "ssh-dss" not in known["key-sig"]
    assert not fam.weak([n for names in profile.values() for n in names])


# ---------------------------------------------------------------- preflight filters
def test_preflight_filters_over_the_recorded_ssh_q() -> None:
    known = FILTERS.ssh_query((FIXTURES / "ssh_Q_bookworm.txt").read_text())
    assert set(known) == {"cipher", "mac", "kex", "key-sig", "rsa"}
    assert "aes128-cbc" in known["cipher"] and "hmac-sha1" in known["mac"]
    assert known["rsa"] == ["3072"]
    unknown = FILTERS.ssh_unknown(
        {"cipher": ["aes256-gcm@openssh.com", "no-such-cipher"], "mac": ["hmac-sha3"]}, known
    )
    assert unknown == ["cipher no-such-cipher", "mac hmac-sha3"]
    assert FILTERS.ssh_unknown({"nosuch": ["x"]}, known) == ["nosuch x"]


# ---------------------------------------------------------------- the module, end to end
STUB = """#!{python}
import os, re, sys
fixtures = {fixtures!r}
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
if name == "systemctl":
    sys.stdout.write(open(os.path.join(fixtures, "systemctl_show_ssh.txt")).read())
elif name == "sshd":
    with open({sshd_out!r}) as f:
        out = f.read()
    if out.startswith("FAIL:"):
        sys.stderr.write(open(os.path.join(fixtures, out[5:].strip())).read())
        sys.exit(255)
    sys.stdout.write(out)
elif name == "ssh-keygen":
    kind = re.search(r"ssh_host_([a-z0-9]+)_key", args[-1]).group(1).upper()
    for line in open(os.path.join(fixtures, {keygen!r})):
        if line.rstrip().endswith("(" + kind + ")"):
            sys.stdout.write(line)
            sys.exit(0)
    sys.stderr.write(args[-1] + " is not a public key file.\\n")
    sys.exit(255)
"""


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Stub programs first on PATH; the recorded sshd -T with its banner pointing at a real
    file in tmp_path."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    banner = tmp_path / "banner"
    banner.write_text("Authorised access only.\n")
    sshd_out = tmp_path / "sshd.out"
    text = (FIXTURES / "sshd_T_bookworm_hardened.txt").read_text()
    sshd_out.write_text(text.replace("/etc/ssh/soc2audit-banner", str(banner)))
    for name in ("sshd", "ssh-keygen", "systemctl"):
        path = bindir / name
        path.write_text(
            STUB.format(
                python=sys.executable,
                fixtures=str(FIXTURES),
                sshd_out=str(sshd_out),
                keygen="keygen_bookworm_hardened.txt",
            )
        )
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    return {"bin": bindir, "banner": banner, "sshd_out": sshd_out}


def test_module_passes_on_the_hardened_recording(
    host: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = params(banner=str(host["banner"]), sshd=str(host["bin"] / "sshd"))
    rc, out = invoke(soc2_ssh.main, args, capsys)
    assert rc == 0, out
    assert [c["check_id"] for c in out["checks"]] == list(fam.CHECK_IDS)
    assert {c["check_id"]: c["result"] for c in out["checks"]} == dict.fromkeys(
        fam.CHECK_IDS, "pass"
    ), [c["message"] for c in out["checks"] if c["result"] != "pass"]
    assert out["changed"] is False
    assert [k["type"] for k in out["host_keys"]] == ["ED25519", "RSA"]
    assert out["unit"]["active"] == "active"
    # The same family through the one-pass soc2_verify gives the same checks.
    rc, one = invoke(soc2_verify.main, {"families": {"ssh": args}}, capsys)
    assert rc == 0, one
    assert one["checks"] == out["checks"] and one["errors"] == {}


def test_module_drift_fails_exactly_the_check(
    host: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    text = host["sshd_out"].read_text().replace("x11forwarding no", "x11forwarding yes")
    host["sshd_out"].write_text(text)
    args = params(banner=str(host["banner"]), sshd=str(host["bin"] / "sshd"))
    _, out = invoke(soc2_ssh.main, args, capsys)
    failing = {c["check_id"]: c["message"] for c in out["checks"] if c["result"] != "pass"}
    assert list(failing) == ["SSH-03"] and "x11forwarding is yes" in failing["SSH-03"]


def test_module_when_sshd_refuses_its_configuration(
    host: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    host["sshd_out"].write_text("FAIL: sshd_T_bad_cipher.stderr")
    args = params(banner=str(host["banner"]), sshd=str(host["bin"] / "sshd"))
    _, out = invoke(soc2_ssh.main, args, capsys)
    results = {c["check_id"]: c["result"] for c in out["checks"]}
    assert results["SSH-01"] == "fail"
    assert {results[c] for c in fam.CHECK_IDS[1:]} == {"error"}
    assert "Bad SSH2 cipher spec 'nosuch-cipher'" in out["checks"][0]["message"]


def test_module_rejects_bad_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = invoke(soc2_ssh.main, params(allow_groups=[], macs=["hmac-md5"]), capsys)
    assert rc == 1 and out["failed"]
    assert "allow_groups must not be empty" in out["msg"] and "hmac-md5" in out["msg"]
