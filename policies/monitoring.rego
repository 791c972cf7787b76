# Monitoring coverage: every host is watched by a working monitor.
package soc2.monitoring

import data.soc2lib

# METADATA
# title: Every host is scraped by a monitor whose scrape and alerting work
# description: >-
#   At least one host of the monitors group passes MON-05 (Prometheus scrapes every inventory
#   host and each target is up) and MON-07 (alerts reach Alertmanager), and every host's
#   node_exporter serves over mutual TLS (MON-02).
# custom:
#   id: POL-10
#   severity: high
#   tsc:
#     primary: [CC7.2]
#     secondary: [CC7.3]
pol_10 := {"items": {host | some host in input.inventory.hosts}, "violations": unwatched}

working_monitors := {host |
	some host in soc2lib.group("monitors")
	object.get(soc2lib.results, [host, "MON-05", "result"], "absent") in soc2lib.ok_results
	object.get(soc2lib.results, [host, "MON-07", "result"], "absent") in soc2lib.ok_results
}

unwatched contains {"item": host, "reason": "no monitor passes MON-05 and MON-07"} if {
	count(working_monitors) == 0
	some host in input.inventory.hosts
}

unwatched contains {"item": host, "reason": reason} if {
	some host in input.inventory.hosts
	outcome := object.get(soc2lib.results, [host, "MON-02", "result"], "absent")
	not outcome in soc2lib.ok_results
	reason := sprintf("MON-02 is %s: its exporter is not proven to serve over mTLS", [outcome])
}
