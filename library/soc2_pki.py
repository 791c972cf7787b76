#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_pki: read-only verification of the PKI controls PKI-01 .. PKI-06."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_pki
short_description: Verify mTLS certificates and keys on a host (SOC 2 checks PKI-01 to PKI-06)
description:
  - Reads the certificates, private keys and CA chain file named in O(certificates) and
    O(ca_chain_path) and compares them by meaning (certificate fields, normalised names,
    public keys) with what was requested.
  - Returns one aggregated result per check id C(PKI-01) .. C(PKI-06) for the host, always all
    six, plus per-certificate facts, per-certificate results and the list of certificates the
    C(pki) role has to (re-)issue.
  - With C(--diff) the result carries a C(diff) with the drifting fields of each certificate
    (the default stdout callback prints diffs of changed tasks only, so register the result to
    see it).
  - A missing certificate or key file is V(fail) (the control is absent); a file that exists but
    cannot be read or parsed, or a host without the Python C(cryptography) library, is
    V(error), never V(fail).
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
requirements:
  - python cryptography >= 38.0.4 on the managed host (Debian 12 python3-cryptography works)
options:
  certificates:
    description:
      - The certificates expected on this host. An empty list makes every check
        V(not_applicable).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Unique name of the certificate, used in messages and in RV(reissue).
        type: str
        required: true
      cert_path:
        description:
          - PEM file with the leaf certificate first (further certificates in it are ignored).
        type: path
        required: true
      key_path:
        description:
          - Unencrypted PEM (or DER) private key belonging to the certificate.
        type: path
        required: true
      common_name:
        description:
          - Expected subject common name. When omitted the CN is not compared.
        type: str
      sans:
        description:
          - Expected subject alternative names, compared as a set with the certificate's.
          - Normalised form C(DNS:name) (compared lowercase, a trailing dot is dropped) and
            C(IP:address) (compared by value, so C(IP:0:0::1) equals C(IP:::1)); C(email:) and
            C(URI:) are accepted too. A bare value is an IP address when it parses as one, else
            a DNS name.
        type: list
        elements: str
        required: true
      key_usage:
        description:
          - Expected key usage bits as OpenSSL camel names, compared as a set, for example
            V(digitalSignature), V(keyEncipherment), V(keyAgreement). The community.crypto
            spellings such as C(Digital Signature) are accepted.
          - When omitted key usage is not compared; V([]) expects none.
        type: list
        elements: str
      extended_key_usage:
        description:
          - Expected extended key usages, compared as a set, for example V(serverAuth),
            V(clientAuth); dotted OIDs are accepted.
          - When omitted extended key usage is not compared; V([]) expects none.
        type: list
        elements: str
      owner:
        description:
          - Expected owner (name or uid) of the private key file.
        type: str
      group:
        description:
          - Expected group (name or gid) of the private key file.
        type: str
      mode:
        description:
          - Most permissive mode allowed for the private key file, as an octal string such as
            V("0600"); an unquoted YAML octal (already an integer) is taken as is, as in
            M(ansible.builtin.file).
          - Whatever is requested, group write and any access for others fail. Without
            O(certificates[].mode) the ceiling is V("0640").
        type: raw
      key_type:
        description:
          - Expected private key type. A key of another type fails C(PKI-05) and triggers
            re-issue (with a new key).
        type: str
        choices: [ecdsa, rsa, ed25519]
  ca_chain_path:
    description:
      - PEM file on the host holding the intermediate CA certificate(s) and the self-signed
        root. Only certificates from this file are used to build the chain.
      - Each certificate must chain to a root in it with valid signatures; every CA
        certificate needs basicConstraints CA:TRUE, keyCertSign when it has a key usage
        extension, and must be inside its validity period.
    type: path
    required: true
  ca_root_fingerprints:
    description:
      - SHA-256 fingerprints of the expected trust anchors (hex; colons, spaces and upper case
        are accepted). When non-empty, a chain ending in another root fails C(PKI-01).
    type: list
    elements: str
    default: []
  renewal_days:
    description:
      - A certificate expiring within this many days is V(at_risk) for C(PKI-02) and is
        re-issued.
    type: int
    default: 30
  force_reissue:
    description:
      - Mark every certificate for re-issue with reason V(forced).
    type: bool
    default: false
  now:
    description:
      - Evaluation time in epoch seconds, for tests. Defaults to the host's current time.
    type: int
notes:
  - Supports C(diff).
  - File owner, group or mode problems fail C(PKI-06) but are not re-issue reasons; the role's
    file tasks fix them. A missing or unreadable CA chain file fails or errors C(PKI-01) without
    marking certificates for re-issue.
  - RSA-PSS signed certificates are only verified with cryptography 41 or later.
seealso:
  - module: community.crypto.x509_certificate_info
"""

EXAMPLES = r"""
- name: Verify the host's mTLS certificates
  soc2_pki:
    ca_chain_path: /etc/soc2/pki/ca-chain.pem
    ca_root_fingerprints:
      - "{{ pki_root_fingerprint }}"
    renewal_days: 30
    certificates:
      - name: "{{ inventory_hostname }}-host"
        cert_path: /etc/soc2/pki/host.crt
        key_path: /etc/soc2/pki/host.key
        common_name: "{{ inventory_hostname }}"
        sans:
          - "DNS:{{ inventory_hostname }}.lab"
          - "IP:{{ ansible_default_ipv4.address }}"
        key_usage: [digitalSignature]
        extended_key_usage: [serverAuth, clientAuth]
        owner: root
        group: fluent-bit
        mode: "0640"
        key_type: ecdsa
  check_mode: false
  register: __pki_state

# The pki role re-issues these (roles/pki/tasks/certificates.yml).
- name: Name the certificates that need (re-)issue
  ansible.builtin.debug:
    msg: "{{ __pki_state.reissue }}"

- name: Show the PKI check results
  ansible.builtin.debug:
    msg: "{{ item.check_id }} {{ item.result }}: {{ item.message }}"
  loop: "{{ __pki_state.checks }}"
"""

RETURN = r"""
changed:
  description: Always V(false); the module is read-only.
  returned: always
  type: bool
  sample: false
checks:
  description:
    - One aggregated result per check id, always C(PKI-01) .. C(PKI-06) in that order.
    - C(observed) and C(expected) hold C(by_certificate) maps from certificate name to the
      per-certificate values; C(PKI-02) C(observed) also has C(earliest_not_after) (epoch),
      C(earliest_not_after_iso) and C(earliest_not_after_certificate).
    - With no certificates every check is V(not_applicable).
  returned: always
  type: list
  elements: dict
  contains:
    check_id:
      description: Check id.
      type: str
      sample: PKI-03
    result:
      description: V(pass), V(fail), V(at_risk), V(error) or V(not_applicable).
      type: str
      sample: fail
    observed:
      description: What was read on the host.
      type: raw
    expected:
      description: What was requested.
      type: raw
    message:
      description: Names the certificates that do not pass and what differs.
      type: str
      sample: "edge1-host: SAN missing DNS:edge1.lab, extra DNS:evil"
certificates:
  description: Facts and results per requested certificate, in request order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The requested name.
      type: str
    cert_path:
      description: The certificate file.
      type: str
    key_path:
      description: The private key file.
      type: str
    present:
      description: Whether the certificate file exists.
      type: bool
    subject_cn:
      description: Subject common name, V(null) when absent or unknown.
      type: str
    issuer_cn:
      description: Issuer common name.
      type: str
    serial:
      description: Serial number, lowercase hex.
      type: str
      sample: 4f1c0a9d2e
    not_before:
      description: Start of validity, epoch seconds.
      type: int
    not_after:
      description: End of validity, epoch seconds.
      type: int
    sans:
      description: Normalised, sorted subject alternative names (empty when unknown).
      type: list
      elements: str
      sample: ["DNS:edge1.lab", "IP:10.0.0.11"]
    key_usage:
      description: Key usage bits, sorted camel names.
      type: list
      elements: str
    extended_key_usage:
      description: Extended key usages, sorted names (unknown ones as dotted OIDs).
      type: list
      elements: str
    public_key_sha256:
      description: SHA-256 of the certificate's SubjectPublicKeyInfo DER.
      type: str
    key_type:
      description: Certificate key type (ecdsa, rsa, ed25519, ed448, dsa).
      type: str
    fingerprint_sha256:
      description: SHA-256 fingerprint of the certificate.
      type: str
    chain:
      description: The CA path found, issuer first, root last (subject, fingerprint_sha256,
        not_after).
      type: list
      elements: dict
    root_fingerprint:
      description: SHA-256 fingerprint of the root the certificate chains to.
      type: str
    private_key_sha256:
      description: SHA-256 of the private key's public SubjectPublicKeyInfo DER.
      type: str
    private_key_type:
      description: Type of the private key.
      type: str
    checks:
      description: Per-certificate results, same schema as RV(checks), PKI-01 .. PKI-06.
      type: list
      elements: dict
    reissue:
      description: Whether the certificate has to be (re-)issued.
      type: bool
    reissue_reasons:
      description:
        - Why. Any of V(missing), V(key_missing), V(chain), V(issuer_changed),
          V(root_fingerprint), V(san_drift), V(cn_drift), V(key_usage_drift),
          V(extended_key_usage_drift), V(key_mismatch), V(key_type_drift), V(expired),
          V(renewal_window), V(forced).
        - V(key_missing), V(key_mismatch) and V(key_type_drift) mean a new key is needed.
      type: list
      elements: str
      sample: [san_drift]
    drift:
      description: Drifting fields, each C({observed, expected}).
      type: dict
reissue:
  description: Names of the certificates that need (re-)issue.
  returned: always
  type: list
  elements: str
  sample: [edge1-host]
diff:
  description: Drifting fields per certificate, before (observed) and after (requested).
  returned: when run with C(--diff)
  type: dict
  contains:
    before:
      description: Certificate name to its C(cert_path) and the observed drifting fields.
      type: dict
    after:
      description: Certificate name to its C(cert_path) and the requested drifting fields.
      type: dict
"""

from ansible.module_utils import soc2_pki_family
from ansible.module_utils.soc2_family import run_module

ARGUMENT_SPEC = soc2_pki_family.ARGUMENT_SPEC
CERTIFICATE_SPEC = soc2_pki_family.CERTIFICATE_SPEC

__all__ = ["ARGUMENT_SPEC", "CERTIFICATE_SPEC", "main"]


def main() -> None:
    run_module(soc2_pki_family)


if __name__ == "__main__":
    main()
