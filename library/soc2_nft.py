#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_nft: read-only verification of the host firewall, NET-01 .. NET-05."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_nft
short_description: Verify the nftables host firewall by meaning (SOC 2 checks NET-01 to NET-05)
description:
  - Reads the live ruleset once (C(nft -j list ruleset)) and compares the role's table (family
    C(inet), name O(table)) with the desired one by meaning. Handles, counter values, quota use,
    comments and the order of set elements are ignored; the order of rules in a chain is not.
  - The desired table is what the kernel makes of O(ruleset), the text the nftables role renders.
    The module loads it into a throw-away network namespace (C(unshare --net), so nothing on the
    host changes) after a sentinel table, lists that namespace as JSON and refuses a ruleset that
    removes or creates any other table.
  - The boot configuration (O(boot_config), which C(nftables.service) loads) is loaded the same
    way and compared with the desired table; when it exists but cannot be loaded in a scratch
    namespace (it names interfaces that do not exist there, for example) the persisted file
    O(persist_path) is loaded alone instead and C(NET-04) is at best V(at_risk).
  - Returns one result per check id C(NET-01) .. C(NET-05), always all five, plus the facts it
    read. With C(--diff) the result
    carries the live and desired tables as text.
  - "C(NET-01): the table is loaded and not dormant, chain C(input) is a filter chain on the input
    hook with policy C(drop), and every chain's type, hook, priority and policy are as desired."
  - "C(NET-02): every chain holds exactly the desired rules in the desired order; the result lists
    rules missing and rules added out of band."
  - "C(NET-03): every set exists with the desired definition and exactly the desired members (the
    inventory-derived allow lists)."
  - "C(NET-04): O(service) is C(enabled) and the boot configuration loads the desired table."
  - "C(NET-05): no rule in another table accepts traffic to a port our input chain opens only
    selectively (explicit C(dport) matches with an C(accept) verdict)."
  - When the live ruleset cannot be read every check is V(error); when the desired table cannot be
    built (no C(unshare), O(ruleset) does not load, or it touches other tables) C(NET-02) ..
    C(NET-05) are V(error) and C(NET-01) still checks the input policy. V(error) is never folded
    into V(fail) or V(pass).
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
requirements:
  - nftables (nft) 1.0 or later, util-linux C(unshare) and systemd on the managed host; root (the
    scratch namespace needs CAP_SYS_ADMIN, nft needs CAP_NET_ADMIN)
options:
  table:
    description:
      - Name of the role's table in family C(inet).
    type: str
    default: soc2_filter
  ruleset:
    description:
      - The desired ruleset as nft text, exactly as the role renders it (its own table replaced in
        one transaction, nothing else).
    type: str
    required: true
  boot_config:
    description:
      - The file the distribution's nftables service loads at boot.
    type: str
    default: /etc/nftables.conf
  persist_path:
    description:
      - The role's persisted copy of the ruleset, included by O(boot_config).
    type: str
    default: /etc/nftables.d/soc2_filter.nft
  service:
    description:
      - The nftables systemd unit that must be enabled.
    type: str
    default: nftables
  nft:
    description:
      - nft to run, a name looked up on PATH (and the sbin directories) or an absolute path.
    type: str
    default: nft
  unshare:
    description:
      - unshare (util-linux) to run, a name or an absolute path.
    type: str
    default: unshare
  systemctl:
    description:
      - systemctl to run, a name or an absolute path.
    type: str
    default: systemctl
notes:
  - Supports C(diff).
  - Commands run with C(LC_ALL=C).
  - iptables-nft rules that use C(xt) compatibility matches carry no port in the JSON listing;
    C(NET-05) cannot see their ports.
seealso:
  - name: libnftables-json(5)
    description: The JSON schema of C(nft -j).
    link: https://manpages.debian.org/bookworm/libnftables1/libnftables-json.5.en.html
"""

EXAMPLES = r"""
- name: Verify the firewall against the role's rendered ruleset
  soc2_nft:
    table: soc2_filter
    ruleset: "{{ lookup('ansible.builtin.template', 'etc/nftables.d/soc2_filter.nft.j2') }}"
  check_mode: false
  register: __nftables_verify

- name: Show the firewall check results
  ansible.builtin.debug:
    msg: "{{ item.check_id }} {{ item.result }}: {{ item.message }}"
  loop: "{{ __nftables_verify.checks }}"
"""

RETURN = r"""
changed:
  description: Always V(false); the module is read-only.
  returned: always
  type: bool
  sample: false
checks:
  description:
    - One result per check id, always C(NET-01) .. C(NET-05) in that order, each with
      C(check_id), C(result), C(observed), C(expected) and C(message).
    - C(NET-01) C(observed) maps each chain to its type, hook, priority and policy.
    - C(NET-02) C(observed) lists C(missing) and C(extra) rules as C(<chain>) colon C(<rule text>),
      and the C(reordered) chains.
    - C(NET-03) C(observed) and C(expected) map each set to its members.
    - C(NET-04) C(observed) holds the unit state, the file compared and notes.
    - C(NET-05) C(observed) lists the other tables and their accepting rules on protected ports.
  returned: always
  type: list
  elements: dict
nft_version:
  description: Version of nft from the listing's metainfo.
  returned: always
  type: str
  sample: 1.0.6
live:
  description: The live table, normalised (chains, sets with members, rules per chain); V(null)
    when it is not loaded.
  returned: always
  type: dict
desired:
  description: The desired table, normalised the same way; V(null) when it could not be built.
  returned: always
  type: dict
comparison:
  description: What differs (C(table_missing), C(chains), C(rules) per chain with C(missing),
    C(extra) and C(reordered), C(sets), C(equal)); V(null) when either side is unknown.
  returned: always
  type: dict
boot:
  description: The boot file compared (C(source)), its comparison with the desired table and notes.
  returned: always
  type: dict
service:
  description: The unit and its C(systemctl is-enabled) word.
  returned: always
  type: dict
tables:
  description: Every table of the live ruleset as C(<family> <name>).
  returned: always
  type: list
  elements: str
dropped:
  description: C(packets) and C(bytes) counted by the default-deny rule of the input chain
    (V(null) when not found).
  returned: always
  type: dict
errors:
  description: Why a side could not be read (C(live), C(desired), C(service)).
  returned: always
  type: dict
diff:
  description: The live and desired tables as text.
  returned: when run with C(--diff)
  type: dict
"""

from ansible.module_utils import soc2_nft_family
from ansible.module_utils.soc2_family import run_module

ARGUMENT_SPEC = soc2_nft_family.ARGUMENT_SPEC

__all__ = ["ARGUMENT_SPEC", "main"]


def main() -> None:
    run_module(soc2_nft_family)


if __name__ == "__main__":
    main()
