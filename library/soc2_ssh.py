#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_ssh: read-only verification of the SSH daemon, SSH-01 .. SSH-08."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_ssh
short_description: Verify sshd's effective settings (SOC 2 checks SSH-01 to SSH-08)
description:
  - Reads what the daemon itself makes of its configuration with ONE C(sshd -T -f O(config_path)
    -C user=O(match_user),host=O(match_host),addr=O(match_addr)) (Match blocks applied, the
    first value of a keyword across the main file and its drop-ins already chosen), never the
    files. Adds one C(systemctl show) of O(service) and one C(ssh-keygen -lf) per host key sshd
    serves.
  - "C(SSH-01): the service is active and enabled, and sshd accepts its configuration (C(sshd -T)
    exits 0)."
  - "C(SSH-02): every cipher, MAC, key exchange and host key algorithm sshd offers is in the
    allowed lists (O(ciphers), O(macs), O(kex_algorithms), O(host_key_algorithms)) and none is
    weak (CBC, 3DES, SHA-1 or MD5 MACs, SHA-1 key exchanges, DSA, SHA-1 RSA signatures)."
  - "C(SSH-03): agent, TCP, stream-local and X11 forwarding, tunnels and gateway ports are as in
    O(forwarding) (all V(no) when not given)."
  - "C(SSH-04): MaxAuthTries and LoginGraceTime at most O(max_auth_tries) and
    O(login_grace_time) (LoginGraceTime 0, no limit, fails), PermitRootLogin O(permit_root_login)
    or V(no), PasswordAuthentication as O(password_authentication), no empty passwords, no
    host-based authentication, rhosts ignored."
  - "C(SSH-05): an unresponsive session is dropped (ClientAliveInterval above 0 and at most
    O(client_alive_interval), interval times ClientAliveCountMax at most O(client_alive_interval)
    times O(client_alive_count_max))."
  - "C(SSH-06): AllowGroups is exactly O(allow_groups) (in any order)."
  - "C(SSH-07): LogLevel is O(log_level) and Banner is O(banner), a non-empty file."
  - "C(SSH-08): every host key sshd serves is of a type in O(host_key_types), RSA keys at least
    O(rsa_min_bits) bits."
  - When C(sshd -T) fails, C(SSH-01) fails and C(SSH-02) .. C(SSH-08) are V(error) with the
    reason.
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
requirements:
  - OpenSSH server 9.2 or later (C(sshd -T -C)), systemd, root (C(sshd -T) reads the host keys)
options:
  service:
    description: The systemd unit of sshd (Debian V(ssh)).
    type: str
    default: ssh
  sshd:
    description: sshd to run, a name looked up on PATH (and the sbin directories) or a path.
    type: str
    default: sshd
  ssh_keygen:
    description: ssh-keygen to run, a name or a path.
    type: str
    default: ssh-keygen
  config_path:
    description: The main configuration file sshd reads.
    type: path
    default: /etc/ssh/sshd_config
  match_user:
    description: The user of the connection whose effective settings are read (C(sshd -T -C)).
    type: str
    default: root
  match_host:
    description: The client host name of that connection.
    type: str
    default: localhost
  match_addr:
    description: The client address of that connection.
    type: str
    default: 127.0.0.1
  ciphers:
    description: The allowed ciphers.
    type: list
    elements: str
    required: true
  macs:
    description: The allowed MACs.
    type: list
    elements: str
    required: true
  kex_algorithms:
    description: The allowed key exchange algorithms.
    type: list
    elements: str
    required: true
  host_key_algorithms:
    description: The allowed host key (signature) algorithms.
    type: list
    elements: str
    required: true
  forwarding:
    description:
      - C(sshd -T) keyword to its expected value, for C(allowagentforwarding),
        C(allowtcpforwarding), C(allowstreamlocalforwarding), C(x11forwarding), C(permittunnel),
        C(gatewayports); a keyword not given must be V(no).
    type: dict
    default: {}
  max_auth_tries:
    description: The highest MaxAuthTries allowed.
    type: int
    default: 3
  login_grace_time:
    description: The highest LoginGraceTime allowed, in seconds.
    type: int
    default: 30
  permit_root_login:
    description: The PermitRootLogin expected (V(no) always passes).
    type: str
    default: prohibit-password
    choices: ["no", prohibit-password]
  password_authentication:
    description: Whether PasswordAuthentication is expected on.
    type: bool
    default: false
  client_alive_interval:
    description: The highest ClientAliveInterval allowed, in seconds.
    type: int
    default: 300
  client_alive_count_max:
    description: ClientAliveCountMax expected (the bound is the product with the interval).
    type: int
    default: 2
  allow_groups:
    description: The groups AllowGroups must list, exactly.
    type: list
    elements: str
    required: true
  log_level:
    description: The LogLevel expected.
    type: str
    default: VERBOSE
  banner:
    description: The Banner file expected.
    type: path
    required: true
  host_key_types:
    description: Host key types allowed (V(ed25519), V(rsa), V(ecdsa), V(dsa)).
    type: list
    elements: str
    default: [ed25519, rsa]
  rsa_min_bits:
    description: The smallest RSA host key allowed, in bits.
    type: int
    default: 3072
notes:
  - Commands run with C(LC_ALL=C).
  - The effective settings are those of the configuration on disk; a configuration changed but
    not reloaded shows here before the running daemon uses it.
"""

EXAMPLES = r"""
- name: Verify sshd against the role's settings
  soc2_ssh: "{{ _ssh_hardening_verify_params }}"
  check_mode: false
  register: __ssh_hardening_verify
"""

RETURN = r"""
changed:
  description: Always V(false); the module is read-only.
  returned: always
  type: bool
checks:
  description: One result per check id, always C(SSH-01) .. C(SSH-08) in that order.
  returned: always
  type: list
  elements: dict
settings:
  description: The effective settings from C(sshd -T), keyword to value (lists for C(hostkey),
    C(listenaddress), C(acceptenv), C(subsystem)); V(null) when sshd refused its configuration.
  returned: always
  type: dict
host_keys:
  description: Per host key sshd serves, C(path), C(type), C(bits), C(fingerprint) (or C(error)).
  returned: always
  type: list
  elements: dict
unit:
  description: The service's unit, load, active, sub and enabled states.
  returned: always
  type: dict
errors:
  description: Why the unit or the settings could not be read.
  returned: always
  type: dict
"""

from ansible.module_utils import soc2_ssh_family
from ansible.module_utils.soc2_family import run_module

ARGUMENT_SPEC = soc2_ssh_family.ARGUMENT_SPEC

__all__ = ["ARGUMENT_SPEC", "main"]


def main() -> None:
    run_module(soc2_ssh_family)


if __name__ == "__main__":
    main()
