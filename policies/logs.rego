# Log shipping across the fleet: every edge host's audit trail reaches an aggregator.
package soc2.logs

import data.soc2lib

# METADATA
# title: Every edge host ships its audit log to an aggregator of the inventory over mutual TLS
# description: >-
#   The shipper on each edge host holds its mTLS session (LOG-02 passes), its forwarding target
#   is a host of the aggregators group, and an aggregator stored its records recently (LOG-07).
# custom:
#   id: POL-01
#   severity: critical
#   tsc:
#     primary: [CC7.2]
#     secondary: [CC4.1]
pol_01 := {"items": soc2lib.group("edge"), "violations": shipping_violations}

shipping_violations contains {"item": host, "reason": reason} if {
	some host in soc2lib.group("edge")
	outcome := soc2lib.result(host, "LOG-02")
	not outcome in soc2lib.ok_results
	reason := sprintf("LOG-02 is %s: no proven mTLS session to an aggregator", [outcome])
}

shipping_violations contains {"item": host, "reason": reason} if {
	some host in soc2lib.group("edge")
	target := shipper_target(host)
	not target in soc2lib.group("aggregators")
	reason := sprintf("ships to %s, which is not in the aggregators group", [target])
}

shipping_violations contains {"item": host, "reason": "no aggregator stored its records recently"} if {
	count(soc2lib.group("aggregators")) > 0
	some host in soc2lib.group("edge")
	not stored_somewhere(host)
}

shipping_violations contains {"item": host, "reason": "the inventory has no aggregator"} if {
	count(soc2lib.group("aggregators")) == 0
	some host in soc2lib.group("edge")
}

# The forwarding target the shipper's configuration names (LOG-02's observation).
shipper_target(host) := soc2lib.results[host]["LOG-02"].observed.config.target

# LOG-07 on an aggregator observed a recent file of the host (seconds since its last write).
stored_somewhere(host) if {
	some aggregator in soc2lib.group("aggregators")
	soc2lib.result(aggregator, "LOG-07") in {"pass", "waived", "fail", "at_risk"}
	age := soc2lib.results[aggregator]["LOG-07"].observed[host]
	is_number(age)
	age <= input.params.log_silence_max_seconds
}
