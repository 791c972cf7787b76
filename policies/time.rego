# Time across the fleet and across the day.
package soc2.time

import data.soc2lib

# METADATA
# title: Every host's clock error bound stayed under the limit in every run of the day
# description: >-
#   The clock error bound (chrony's root dispersion + half the root delay, TIME-02's observation)
#   of every host was under params.clock_error_bound_max_seconds (50 ms) in this run and in every
#   earlier run of the same UTC day kept in the history.
# custom:
#   id: POL-03
#   severity: high
#   tsc:
#     primary: [CC7.2]
#     secondary: [PI1.4]
pol_03 := {"items": {host | some host in input.inventory.hosts}, "violations": bound_violations}

limit := input.params.clock_error_bound_max_seconds

# host -> its clock error bound in this run (the unlabelled observation).
bounds[host] := item.value if {
	some host in input.inventory.hosts
	some item in input.hosts[host].observations
	item.key == "clock_error_bound"
	count(object.get(item, "labels", {})) == 0
}

bound_violations contains {"item": host, "reason": reason} if {
	some host in input.inventory.hosts
	not bounds[host]
	reason := "no clock error bound in this run"
}

bound_violations contains {"item": host, "reason": reason} if {
	some host, bound in bounds
	bound >= limit
	reason := concat("", [soc2lib.ms(bound), " in this run (limit ", soc2lib.ms(limit), ")"])
}

bound_violations contains {"item": host, "reason": reason} if {
	some run in input.history
	run.started_epoch >= soc2lib.day_start
	some host, seen in run.hosts
	host in soc2lib.inventory_hosts
	bound := seen.observations.clock_error_bound
	bound >= limit
	reason := concat("", [soc2lib.ms(bound), " in the run of ", run.started, " (limit ", soc2lib.ms(limit), ")"])
}

# METADATA
# title: Every host takes its time from the fleet's time servers
# description: >-
#   The time source chrony selected on each host outside the timeservers group (TIME-01's
#   observation: a name or an address) is a host of the timeservers group, by name or by one
#   of its addresses, so the whole fleet shares one time base.
# custom:
#   id: POL-11
#   severity: medium
#   tsc:
#     primary: [CC7.2]
pol_11 := {"items": clients, "violations": source_violations}

timeservers := {host | some host in object.get(input.inventory.groups, "timeservers", [])}

clients := {host | some host in input.inventory.hosts; not host in timeservers}

source_violations contains {"item": host, "reason": reason} if {
	some host in clients
	outcome := object.get(soc2lib.results, [host, "TIME-01", "result"], "absent")
	not outcome in soc2lib.ok_results
	reason := sprintf("TIME-01 is %s: not synchronised to a selected source", [outcome])
}

source_violations contains {"item": host, "reason": reason} if {
	some host in clients
	object.get(soc2lib.results, [host, "TIME-01", "result"], "absent") in soc2lib.ok_results
	source := soc2lib.results[host]["TIME-01"].observed.selected_source
	not source in fleet_sources
	reason := sprintf("synchronised to %s, not a host of the timeservers group", [source])
}

# What a client may have selected: a time server's name or one of its addresses.
fleet_sources := timeservers | {address |
	some server in timeservers
	some address in input.hosts[server].addresses
}
