# Helpers shared by the fleet policies (docs/policies.md). Not a policy: no check ids here.
package soc2lib

# results[host][check_id]: the merged result row of the run (input.results).
results[host][check_id] := row if {
	some row in input.results
	host := row.host
	check_id := row.check_id
}

# The result of a check on a host, "absent" when the check has no row there.
result(host, check_id) := results[host][check_id].result

result(host, check_id) := "absent" if not results[host][check_id]

# Results that show a control operating, or an authorised exception to it.
ok_results := {"pass", "waived"}

# Hosts of an inventory group (empty when the group does not exist).
group(name) := object.get(input.inventory.groups, [name], [])

# The host's unlabelled observation named key (undefined when absent).
observation(host, key) := item.value if {
	some item in input.hosts[host].observations
	item.key == key
	count(object.get(item, ["labels"], {})) == 0
}

# Seconds as milliseconds with one decimal, for messages (integer arithmetic: OPA's sprintf
# refuses %f for a whole number, and both engines must write the same text).
ms(seconds) := sprintf("%d.%d ms", [floor(tenths / 10), tenths % 10]) if tenths := round(seconds * 10000)

# Start of the UTC day of the run (Unix time).
day_start := floor(input.run.started_epoch / 86400) * 86400
