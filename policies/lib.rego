# Helpers shared by the fleet policies (docs/policies.md). Not a policy: no check ids here.
package soc2lib

# The merged result rows of the run (input.results) by host and check id.
rows_by_host[host][check_id] := row if {
	some row in input.results
	host := row.host
	check_id := row.check_id
}

# The same, materialised once (a complete rule is evaluated once per query and kept): lookups
# into it never scan input.results again.
results := rows_by_host

# Results that show a control operating, or an authorised exception to it.
ok_results := {"pass", "waived"}

# Hosts of an inventory group (empty when the group does not exist).
group(name) := object.get(input.inventory.groups, [name], [])

# Look results up as object.get(results, [host, check_id, "result"], "absent") in rule bodies,
# not through a function: the embedded engine re-evaluates a rule a function refers to on every
# call (minutes for a thousand hosts), OPA does not.
# Every inventory host, as a set.
inventory_hosts := {host | some host in input.inventory.hosts}

# Seconds as milliseconds with one decimal, for messages (integer arithmetic: OPA's sprintf
# refuses %f for a whole number, and both engines must write the same text).
ms(seconds) := sprintf("%d.%d ms", [floor(tenths / 10), tenths % 10]) if tenths := round(seconds * 10000)

# Start of the UTC day of the run (Unix time).
day_start := floor(input.run.started_epoch / 86400) * 86400
