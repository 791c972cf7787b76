# Waivers (controls/waivers.yml) as a whole: short-lived and about hosts that exist.
package soc2.waivers

# METADATA
# title: No waiver lasts more than 90 days
# description: >-
#   Every waiver in controls/waivers.yml expires at most params.waiver_max_days (90) days after
#   this run: an exception is re-approved at least quarterly, never left open-ended.
# custom:
#   id: POL-04
#   severity: high
#   tsc:
#     primary: [CC3.4]
#     secondary: [CC7.4]
pol_04 := {"items": {w.ticket | some w in input.waivers}, "violations": long_waivers}

long_waivers contains {"item": w.ticket, "reason": reason} if {
	some w in input.waivers
	days := (w.expires_epoch - input.run.started_epoch) / 86400
	days > input.params.waiver_max_days
	limit := input.params.waiver_max_days
	reason := concat("", [
		w.check, " on ", concat(",", w.hosts), " expires ", w.expires,
		sprintf(", %d days from now (limit %d)", [floor(days), limit]),
	])
}

# METADATA
# title: Every waiver names hosts or groups of the inventory
# description: >-
#   Each host entry of every waiver (a name, a group or a pattern; all, and fleet for the fleet
#   policies, always exist) matches at least one host or group of the inventory: a waiver for a host that is gone is stale and hides nothing, or will
#   silently cover a new host that takes the name.
# custom:
#   id: POL-09
#   severity: low
#   tsc:
#     primary: [CC3.4]
pol_09 := {"items": {w.ticket | some w in input.waivers}, "violations": stale_waivers}

names := {name | some name in input.inventory.hosts} | {group | input.inventory.groups[group]}

stale_waivers contains {"item": w.ticket, "reason": reason} if {
	some w in input.waivers
	some pattern in w.hosts
	not pattern in {"all", "fleet"}
	not matches_any(pattern)
	reason := sprintf("%s matches no host or group of the inventory", [pattern])
}

matches_any(pattern) if {
	some name in names
	glob.match(pattern, [], name)
}
