# `opa test policies/`: every policy's cases in policies/testdata/cases.json (a passing and a
# failing input at least), the same cases tests/unit/test_policies.py runs through the embedded
# engine. A case's input is merged over the healthy base fleet (object.union).
package soc2_test

import data.testdata

outcome(value) := "fail" if count(value.violations) > 0

outcome(value) := "pass" if {
	count(value.violations) == 0
	count(value.items) > 0
}

outcome(value) := "not_applicable" if {
	count(value.violations) == 0
	count(value.items) == 0
}

decides(case) if {
	document := object.union(testdata.base, case.input)
	value := data.soc2[case.area][case.rule] with input as document
	outcome(value) == case.expect.result
	{v.item | some v in value.violations} == {item | some item in case.expect.failed}
}

cases_of(id) := [case | some case in testdata.cases; case.policy == id]

holds(id) if {
	count(cases_of(id)) >= 2
	every case in cases_of(id) {
		decides(case)
	}
}

test_pol_01 if holds("POL-01")

test_pol_02 if holds("POL-02")

test_pol_03 if holds("POL-03")

test_pol_04 if holds("POL-04")

test_pol_05 if holds("POL-05")

test_pol_06 if holds("POL-06")

test_pol_07 if holds("POL-07")

test_pol_08 if holds("POL-08")

test_pol_09 if holds("POL-09")

test_pol_10 if holds("POL-10")

test_pol_11 if holds("POL-11")

test_pol_12 if holds("POL-12")
