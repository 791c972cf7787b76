# Whether the controls operated across the whole fleet in this run and over time.
package soc2.coverage

# METADATA
# title: Every inventory host reported in this run
# description: >-
#   Every host of the inventory returned its verifier's results: an unreachable host is not_run
#   for every check, and at fleet level silence is never a pass either.
# custom:
#   id: POL-05
#   severity: high
#   tsc:
#     primary: [CC7.1]
#     secondary: [A1.1]
pol_05 := {"items": {host | some host in input.inventory.hosts}, "violations": silent_hosts}

silent_hosts contains {"item": host, "reason": reason} if {
	some host in input.inventory.hosts
	not input.hosts[host].reported
	reason := "no results from the host (every check not_run)"
}

# METADATA
# title: Every critical control operates on every host
# description: >-
#   No check of severity critical is failing, at_risk, in error or not run on any host (waived is
#   an approved exception): the fleet view of the controls an auditor tests first.
# custom:
#   id: POL-06
#   severity: critical
#   tsc:
#     primary: [CC7.1]
#     secondary: [CC4.1]
pol_06 := {"items": {host | some host in input.inventory.hosts}, "violations": critical_gaps}

critical_gaps contains {"item": row.host, "reason": reason} if {
	some row in input.results
	input.catalog[row.check_id].severity == "critical"
	not row.result in {"pass", "waived", "not_applicable"}
	reason := sprintf("%s %s", [row.check_id, row.result])
}

# METADATA
# title: No drift stays open longer than the remediation limit
# description: >-
#   No check on any host has been drifting (fail, at_risk or error without a pass in between)
#   for more than params.drift_max_days (7) days, unless a waiver covers it.
# custom:
#   id: POL-07
#   severity: medium
#   tsc:
#     primary: [CC7.4]
#     secondary: [CC7.5]
pol_07 := {"items": {host | some host in input.inventory.hosts}, "violations": old_drift}

old_drift contains {"item": row.host, "reason": reason} if {
	some row in input.results
	is_number(row.drift_since_epoch)
	row.result != "waived"
	days := (input.run.started_epoch - row.drift_since_epoch) / 86400
	days > input.params.drift_max_days
	reason := sprintf("%s drifting since %s (%d days)", [row.check_id, row.drift_since, floor(days)])
}

# METADATA
# title: Drift runs ran without a gap
# description: >-
#   Consecutive drift runs in the history (and this one) started at most
#   params.run_gap_max_seconds (2 hours) apart: a Type 2 audit needs the control checked
#   throughout the period, and a gap is visible here as well as in the evidence chain.
# custom:
#   id: POL-08
#   severity: medium
#   tsc:
#     primary: [CC4.1]
#     secondary: [CC7.1]
pol_08 := {"items": {run.started | some run in runs}, "violations": gaps}

runs := array.concat(
	[{"started": run.started, "epoch": run.started_epoch} | some run in input.history],
	[{"started": input.run.started, "epoch": input.run.started_epoch}],
)

gaps contains {"item": runs[i].started, "reason": reason} if {
	some i in numbers.range(1, count(runs) - 1)
	gap := runs[i].epoch - runs[i - 1].epoch
	gap > input.params.run_gap_max_seconds
	limit := input.params.run_gap_max_seconds
	reason := sprintf("%d s after the previous run of %s (limit %d s)", [floor(gap), runs[i - 1].started, limit])
}
