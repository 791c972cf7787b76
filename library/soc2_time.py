#!/usr/bin/python
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ansible module soc2_time: read-only verification of the time controls TIME-01 .. TIME-07."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: soc2_time
short_description: Verify chrony and PTP time synchronisation (SOC 2 checks TIME-01 to TIME-07)
description:
  - Reads the live state of chrony (C(chronyc -n -c tracking), C(chronyc -n -c sources)), the
    systemd state of the chrony unit and of conflicting time daemons (C(systemctl is-active),
    C(systemctl is-enabled)) and, when O(ptp.enabled), each ptp4l instance through its UNIX
    socket (C(pmc -u -b 0 'GET CURRENT_DATA_SET' 'GET PORT_DATA_SET' 'GET TIME_STATUS_NP')),
    all in one module run.
  - Returns one result per check id C(TIME-01) .. C(TIME-07), always all seven, plus the raw
    facts it read.
  - When chronyc cannot be run or read (binary missing, chronyd not running so chronyc prints
    C(506 Cannot talk to daemon), unparseable output) C(TIME-01) .. C(TIME-04) are V(error),
    never V(pass) or V(fail), and C(TIME-05) is still assessed from systemctl. A pmc failure
    makes C(TIME-06)/C(TIME-07) V(error) for that instance.
  - "C(TIME-01): leap status C(Normal) and a source in state C(*) pass; leap status
    C(Not synchronised) or no selected source fail; C(Insert second)/C(Delete second) with a
    selected source is V(at_risk) (a leap second is pending)."
  - "C(TIME-02): the clock error bound |system time offset| + root dispersion + root delay / 2
    (the bound documented in chronyc(1) under C(tracking)) must be at most O(max_error) seconds.
    It is computed and reported even when the clock is not synchronised."
  - "C(TIME-03): sources with a non-zero reach register that are not falsetickers (C(x)) must
    number at least O(min_sources)."
  - "C(TIME-04): the set of source addresses chrony uses equals O(expected_sources) after name
    resolution; V(not_applicable) when O(expected_sources) is empty."
  - "C(TIME-05): O(service) is active and enabled and none of O(conflicting_services) is
    running."
  - "C(TIME-06): a C(client) instance's port is C(SLAVE); a C(grandmaster) instance's ports
    are C(MASTER) or C(GRAND_MASTER). C(TIME-07): a client's |offsetFromMaster| is at most
    O(ptp.max_offset_ns); not applicable to grandmasters. Both are V(not_applicable) when PTP is
    not enabled. Several instances are folded into one result."
version_added: "0.1.0"
author:
  - soc2-audit-metrics contributors
extends_documentation_fragment:
  - soc2_checks
requirements:
  - chrony 4.x (chronyc) and systemd on the managed host; linuxptp (pmc) when O(ptp.enabled)
options:
  max_error:
    description:
      - Largest acceptable clock error bound in seconds (C(TIME-02)). Must be above 0.
    type: float
    default: 0.05
  min_sources:
    description:
      - Minimum number of reachable sources (C(TIME-03)). V(0) accepts a host with no sources,
        for example a time server that serves its local clock on purpose.
    type: int
    default: 1
  expected_sources:
    description:
      - Host names or IP addresses of the sources the host must be using (C(TIME-04)). Host
        names are resolved with getaddrinfo on the managed host; an entry is present when any
        of its addresses is a source, and every source address must belong to an entry. An
        entry equal to a source's name in C(chronyc -n sources) (a reference clock such as
        C(PHC0)) matches as is.
      - A name that does not resolve makes C(TIME-04) V(error).
      - Pools resolve to changing addresses; leave this empty for pool-based configurations.
      - Empty means the set is not compared (C(TIME-04) V(not_applicable)).
    type: list
    elements: str
    default: []
  local_reference_ok:
    description:
      - Accept the host's own local reference clock (chrony C(local) directive, reference id
        C(7F7F0101)) as synchronised for C(TIME-01) when no source is selected, for a time
        server that has no upstream on purpose. The leap status must still be C(Normal).
    type: bool
    default: false
  service:
    description:
      - The chrony systemd unit (Debian V(chrony); its alias C(chronyd) reports C(alias) to
        C(systemctl is-enabled), so use the real name).
    type: str
    default: chrony
  conflicting_services:
    description:
      - Units that must not be running next to chrony (C(TIME-05)). Units that do not exist
        count as not running.
    type: list
    elements: str
    default: [systemd-timesyncd, ntp, ntpsec, openntpd]
  chronyc:
    description:
      - chronyc to run, a name looked up on PATH (and the sbin directories) or an absolute path.
    type: str
    default: chronyc
  ptp:
    description:
      - PTP (linuxptp ptp4l) instances to verify for C(TIME-06) and C(TIME-07).
    type: dict
    suboptions:
      enabled:
        description:
          - Whether PTP is used on this host. When V(false) C(TIME-06)/C(TIME-07) are
            V(not_applicable) and pmc is not run. When V(true) without O(ptp.instances) both
            are V(error).
        type: bool
        default: false
      instances:
        description:
          - One entry per ptp4l instance (usually one per interface).
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description:
              - Instance name, usually the interface (used in messages and facts).
            type: str
            required: true
          role:
            description:
              - V(client) must reach port state C(SLAVE); V(grandmaster) must be C(MASTER) (or
                C(GRAND_MASTER)).
            type: str
            choices: [client, grandmaster]
            default: client
          uds:
            description:
              - The instance's C(uds_address) socket that pmc talks to (C(pmc -s)).
              - Defaults to C(/var/run/ptp4l-<name>).
            type: str
      max_offset_ns:
        description:
          - Largest acceptable |offsetFromMaster| of a client, in nanoseconds (C(TIME-07)).
        type: float
        default: 1000
notes:
  - Commands run with C(LC_ALL=C). chronyc is called with C(-n) (no DNS), so sources are IP
    addresses.
  - A client port in a state other than C(SLAVE) or C(UNCALIBRATED) has no current offset, pmc
    keeps showing the last one. C(TIME-07) fails for it rather than passing on a stale value.
  - linuxptp before 4.0 with C(free_running 1) never reports a locked servo, so such a client
    stays C(UNCALIBRATED) and fails C(TIME-06).
seealso:
  - name: chronyc(1)
    description: The tracking and sources reports and the clock error bound.
    link: https://chrony-project.org/doc/4.6/chronyc.html
"""

EXAMPLES = r"""
- name: Verify time synchronisation
  soc2_time:
    max_error: 0.05
    min_sources: 1
    expected_sources:
      - time1.example.net
      - 10.0.0.2
  check_mode: false
  register: __timesync_verify

- name: Verify a PTP client and grandmaster on one host
  soc2_time:
    ptp:
      enabled: true
      max_offset_ns: 1000
      instances:
        - name: eth0
          role: client
        - name: eth1
          role: grandmaster
          uds: /run/ptp4l-eth1

- name: Show the time check results
  ansible.builtin.debug:
    msg: "{{ item.check_id }} {{ item.result }}: {{ item.message }}"
  loop: "{{ __timesync_verify.checks }}"
"""

RETURN = r"""
changed:
  description: Always V(false); the module is read-only.
  returned: always
  type: bool
  sample: false
checks:
  description:
    - One result per check id, always C(TIME-01) .. C(TIME-07) in that order.
    - C(TIME-02) C(observed) is the clock error bound in seconds (a number, or V(null) when
      chronyc could not be read); C(expected) is the limit as text, for example C(<= 0.05).
    - C(TIME-03) C(observed) is the number of reachable sources.
    - C(TIME-04) C(observed) and C(expected) are sorted address lists.
    - C(TIME-06) and C(TIME-07) C(observed) hold C(by_instance) maps (port states, offsets in
      nanoseconds).
  returned: always
  type: list
  elements: dict
  contains:
    check_id:
      description: Check id.
      type: str
      sample: TIME-02
    result:
      description: V(pass), V(fail), V(at_risk), V(error) or V(not_applicable).
      type: str
      sample: pass
    observed:
      description: What was read on the host.
      type: raw
    expected:
      description: What was requested.
      type: raw
    message:
      description: Says what passed or what is wrong.
      type: str
      sample: "clock error bound 0.000046698 s within 0.05 s"
clock_error_bound:
  description:
    - The bound C(|system time offset| + root dispersion + root delay / 2) in seconds, V(null)
      when chronyc could not be read.
  returned: always
  type: float
  sample: 0.000046698
tracking:
  description: C(chronyc -n -c tracking), parsed; V(null) when it could not be read.
  returned: always
  type: dict
  contains:
    ref_id:
      description: Reference id, 8 upper-case hex digits.
      type: str
      sample: 0A590102
    ref_name:
      description: Reference address (empty when none).
      type: str
    stratum:
      description: Stratum.
      type: int
    ref_time:
      description: Time of the last reference update, epoch seconds.
      type: float
    system_offset:
      description: System time offset in seconds (positive means the clock is slow).
      type: float
    last_offset:
      description: Offset at the last clock update, seconds.
      type: float
    rms_offset:
      description: Long-term average offset, seconds.
      type: float
    frequency_ppm:
      description: Frequency error, ppm.
      type: float
    residual_freq_ppm:
      description: Residual frequency, ppm.
      type: float
    skew_ppm:
      description: Frequency error bound, ppm.
      type: float
    root_delay:
      description: Root delay, seconds.
      type: float
    root_dispersion:
      description: Root dispersion, seconds.
      type: float
    update_interval:
      description: Interval between the last two clock updates, seconds.
      type: float
    leap_status:
      description: V(Normal), V(Insert second), V(Delete second) or V(Not synchronised).
      type: str
sources:
  description: C(chronyc -n -c sources), parsed; V(null) when it could not be read.
  returned: always
  type: list
  elements: dict
  contains:
    mode:
      description: C(^) server, C(=) peer, C(#) reference clock.
      type: str
    state:
      description: C(*) selected, C(+) combined, C(-) not combined, C(?) unusable,
        C(x) falseticker, C(~) too variable.
      type: str
    address:
      description: Source address (or reference clock name).
      type: str
    stratum:
      description: Stratum of the source.
      type: int
    poll:
      description: Polling interval, log2 seconds.
      type: int
    reach:
      description: Reach register as a number (chronyc prints it in octal, 377 = 255).
      type: int
    last_rx:
      description: Seconds since the last sample (4294967295 when none).
      type: int
    adjusted_offset:
      description: Offset of the last sample adjusted for later corrections, seconds.
      type: float
    measured_offset:
      description: Measured offset of the last sample, seconds.
      type: float
    error:
      description: Error margin of the last sample, seconds.
      type: float
services:
  description: Unit states read with systemctl.
  returned: always
  type: dict
  contains:
    service:
      description: The chrony unit.
      type: str
    conflicting:
      description: The conflicting units checked.
      type: list
      elements: str
    active:
      description: Unit -> C(systemctl is-active) word, V(null) when systemctl failed.
      type: dict
    enabled:
      description: C(systemctl is-enabled) word of the chrony unit (C(not-found) when the
        unit does not exist), V(null) when systemctl failed.
      type: str
    error:
      description: Why the unit states could not be read, else V(null).
      type: str
ptp:
  description: What pmc returned per instance.
  returned: always
  type: dict
  contains:
    enabled:
      description: O(ptp.enabled).
      type: bool
    max_offset_ns:
      description: O(ptp.max_offset_ns).
      type: float
    instances:
      description: Per instance C(name), C(role), C(uds), C(data) (parsed pmc output with
        C(portState), C(port_states), C(offsetFromMaster), C(meanPathDelay),
        C(stepsRemoved), C(master_offset), C(gmPresent), C(gmIdentity), C(responses)) and
        C(error).
      type: list
      elements: dict
"""

from ansible.module_utils import soc2_time_family
from ansible.module_utils.soc2_family import run_module

ARGUMENT_SPEC = soc2_time_family.ARGUMENT_SPEC

__all__ = ["ARGUMENT_SPEC", "main"]


def main() -> None:
    run_module(soc2_time_family)


if __name__ == "__main__":
    main()
