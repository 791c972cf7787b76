# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""PKI checks from outside the soc2_pki module: does the host's credential actually work?

PKI-07 runs a real mutual-TLS handshake on the host itself, over loopback only: `openssl s_server`
with the host's certificate and key on 127.0.0.1 (a free port, killed by `timeout` and on exit)
requiring a client certificate, and `openssl s_client` presenting the same certificate, both
trusting only the CA bundle the pki role installed. A client without a certificate must be refused,
which also proves the test server really demanded one.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from testinfra.host import Host

if TYPE_CHECKING:
    from conftest import HostCredential

# The probe sends this line; `s_server -rev` answers it reversed once both sides have verified.
PING = "soc2audit-mtls"
SERVER_FAILED = 91

MTLS_SCRIPT = r"""
set -u
cert=$1 key=$2 bundle=$3 ping=$4
command -v openssl >/dev/null || { echo "openssl: command not found" >&2; exit 127; }
t=$(mktemp -d) || exit 90
srv=
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$t"' EXIT
timeout 10 openssl s_server -accept 127.0.0.1:0 -naccept 2 -rev \
  -cert "$cert" -key "$key" -cert_chain "$bundle" \
  -CAfile "$bundle" -no-CApath -no-CAstore -Verify 4 -verify_return_error \
  >"$t/server" 2>&1 </dev/null &
srv=$!
port= i=0
while [ "$i" -lt 60 ]; do
  port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$t/server")
  [ -n "$port" ] && break
  kill -0 "$srv" 2>/dev/null || break
  sleep 0.05; i=$((i + 1))
done
if [ -z "$port" ]; then echo "== server"; cat "$t/server"; exit 91; fi
client() {
  printf '%s\nCLOSE\n' "$ping" | timeout 5 openssl s_client -connect "127.0.0.1:$port" \
    -CAfile "$bundle" -no-CApath -no-CAstore -verify_return_error -brief -ign_eof "$@" 2>&1
  echo "== rc $?"
}
echo "== with-certificate"; client -cert "$cert" -key "$key"
echo "== without-certificate"; client
wait "$srv" 2>/dev/null; srv=
echo "== server"; cat "$t/server"
"""


def sections(output: str) -> dict[str, list[str]]:
    """The probe's output split at its `== name` lines."""
    out: dict[str, list[str]] = {}
    current = "preamble"
    for line in output.splitlines():
        if line.startswith("== ") and not line.startswith("== rc "):
            current = line[3:].strip()
            out[current] = []
        else:
            out.setdefault(current, []).append(line.rstrip())
    return out


def problem(lines: list[str]) -> str:
    """The most telling line of an openssl transcript: a verify error, a file it could not
    load, else an error's reason (`<id>:error:<code>:<library>:<function>:<reason>:...`)."""
    for line in lines:
        if line.startswith("verify error:"):
            return line.removeprefix("verify error:").split(":", 1)[-1]
    for line in lines:
        if line.startswith(("Could not", "unable to")):
            return line
    for line in lines:
        fields = line.split(":")
        if "error" in fields[:2] and len(fields) > fields.index("error") + 4:
            return fields[fields.index("error") + 4]
    return "no error reported"


def verification(lines: list[str]) -> str:
    """`OK` when openssl verified the peer's certificate, else what it reported."""
    for line in lines:
        if line.startswith("Verification:"):
            return line.split(":", 1)[1].strip()
    return problem(lines)


@pytest.mark.soc2_check("PKI-07")
def test_mtls_handshake_with_the_host_certificate(
    host: Host, pki_credential: HostCredential, soc2_record: Callable[..., None]
) -> None:
    """Mutual TLS with the host's own certificate verified both ways; no certificate, no entry."""
    cred = pki_credential
    script = shlex.join(["sh", "-c", MTLS_SCRIPT, "mtls", cred.cert, cred.key, cred.ca_chain, PING])
    run = host.run_expect([0, SERVER_FAILED], script)
    parts = sections(run.stdout)
    server = parts.get("server", [])
    expected = {
        "server_certificate_verified_by_client": "OK",
        "client_certificate_verified_by_server": "OK",
        "echo_over_mtls": True,
        "client_without_certificate": "refused",
    }
    if run.rc == SERVER_FAILED:
        soc2_record(observed={"server": problem(server)}, expected=expected)
        pytest.fail(f"openssl s_server cannot use {cred.cert} with {cred.key}: {problem(server)}")

    with_cert = parts.get("with-certificate", [])
    without = parts.get("without-certificate", [])
    reversed_ping = PING[::-1]
    server_view = verification(server)  # the first connection is the one with a certificate
    observed = {
        "server_certificate_verified_by_client": verification(with_cert),
        "client_certificate_verified_by_server": server_view,
        "echo_over_mtls": reversed_ping in with_cert,
        "client_without_certificate": (
            "accepted" if reversed_ping in without else f"refused ({problem(without)})"
        ),
        "peer_certificate": next(
            (line.split(":", 1)[1].strip() for line in with_cert if line.startswith("Peer cert")),
            None,
        ),
        "protocol": next(
            (line.split(":", 1)[1].strip() for line in with_cert if line.startswith("Protocol")),
            None,
        ),
    }
    soc2_record(observed=observed, expected=expected)
    assert observed["server_certificate_verified_by_client"] == "OK", (
        f"a client trusting only {cred.ca_chain} rejects the host certificate: "
        f"{observed['server_certificate_verified_by_client']}"
    )
    assert observed["echo_over_mtls"] and server_view == "OK", (
        f"a server trusting only {cred.ca_chain} rejects the host certificate as a client: "
        f"{server_view if server_view != 'OK' else problem(with_cert)}"
    )
    assert observed["client_without_certificate"].startswith("refused"), (
        "the TLS server accepted a client that presented no certificate"
    )
