# Log shipping across the fleet: every edge host's audit trail reaches an aggregator.
package soc2.logs

import data.soc2lib

# METADATA
# title: Every edge host ships its audit log to an aggregator of the inventory over mutual TLS
# description: >-
#   The shipper on each edge host holds its mTLS session (LOG-02 passes), its forwarding target
#   is a host of the aggregators group (by name or address), and an aggregator stored its records recently (LOG-07).
# custom:
#   id: POL-01
#   severity: critical
#   tsc:
#     primary: [CC7.2]
#     secondary: [CC4.1]
pol_01 := {"items": edges, "violations": shipping_violations}

# Rules, not functions, throughout: the embedded engine re-evaluates the rules a function
# refers to on every call (docs/policies.md, "How a policy is written").
edges := object.get(input.inventory.groups, "edge", [])

aggregators := {host | some host in object.get(input.inventory.groups, "aggregators", [])}

# What a shipper may name as its target: an aggregator's inventory name or one of its addresses.
aggregator_targets := aggregators | {address |
	some aggregator in aggregators
	some address in input.hosts[aggregator].addresses
}

shipping_violations contains {"item": host, "reason": reason} if {
	some host in edges
	outcome := object.get(soc2lib.results, [host, "LOG-02", "result"], "absent")
	not outcome in soc2lib.ok_results
	reason := sprintf("LOG-02 is %s: no proven mTLS session to an aggregator", [outcome])
}

shipping_violations contains {"item": host, "reason": reason} if {
	some host in edges

	# The forwarding target the shipper's configuration names (LOG-02's observation).
	target := soc2lib.results[host]["LOG-02"].observed.config.target
	not target in aggregator_targets
	reason := sprintf("ships to %s, which is not a host of the aggregators group", [target])
}

shipping_violations contains {"item": host, "reason": "no aggregator stored its records recently"} if {
	count(aggregators) > 0
	some host in edges
	not host in stored
}

shipping_violations contains {"item": host, "reason": "the inventory has no aggregator"} if {
	count(aggregators) == 0
	some host in edges
}

# Hosts whose newest stored file an aggregator's LOG-07 saw written recently (seconds ago).
stored contains host if {
	some aggregator in aggregators
	object.get(soc2lib.results, [aggregator, "LOG-07", "result"], "absent") in {"pass", "waived", "fail", "at_risk"}
	some host, age in soc2lib.results[aggregator]["LOG-07"].observed
	is_number(age)
	age <= input.params.log_silence_max_seconds
}
