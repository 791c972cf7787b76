# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Generated evidence for the window export tests: three days of hourly drift runs on the four
lab-like hosts of results_data, merged by soc2audit.results.merge_run, appended by
soc2audit.evidence.append_evidence and digested hourly with a fresh key, with injected faults:

* edge2 PKI-02 fails in the runs of 2026-11-02 10:00, 11:00 and 12:00 (an incident covers it);
* edge1 produces nothing in the run of 2026-11-03 05:00 (not_run, no incident: unexplained);
* no run at all at 2026-11-01 15:00 (unexplained) and 2026-11-03 20:00 (an all/all incident);
* aggregator PKI-01 fails throughout, waived by CHG-9 (waived rows).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from results_data import GROUPS, HOSTS, all_pass, check, make_catalog, waiver, write_waivers

from soc2audit.catalog import Catalog
from soc2audit.chain import Settings, keygen, write_due_digests
from soc2audit.evidence import append_evidence
from soc2audit.incidents import Incident, record_incidents, validate
from soc2audit.results import State, load_waivers, merge_run, policy_sha256_of

DAYS = [dt.date(2026, 11, 1), dt.date(2026, 11, 2), dt.date(2026, 11, 3)]
SKIPPED_RUNS = {
    dt.datetime(2026, 11, 1, 15, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 3, 20, tzinfo=dt.UTC),
}
FAILING = {dt.datetime(2026, 11, 2, h, tzinfo=dt.UTC) for h in (10, 11, 12)}
SILENT = dt.datetime(2026, 11, 3, 5, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 4, 0, 10, tzinfo=dt.UTC)


@dataclass
class Trail:
    root: Path
    evidence: Path
    key: Path
    catalog_path: Path
    waivers_path: Path
    catalog: Catalog
    policy: str
    incidents: list[Incident]


def build(tmp_path: Path, *, incidents: bool = True) -> Trail:
    catalog = make_catalog(tmp_path)
    catalog_path = tmp_path / "catalog.yml"
    waivers_path = write_waivers(
        tmp_path, waiver(check="PKI-01", hosts=["aggregator"], ticket="CHG-9", expires="2027-01-31")
    )
    waivers = load_waivers(waivers_path, catalog)
    policy = policy_sha256_of(catalog_path, waivers_path)
    evidence = tmp_path / "evidence"
    key = tmp_path / "secret" / "evidence.pem"
    keygen(key, evidence)
    settings = Settings(policy_sha256=policy)
    state = State()
    recorded: list[Incident] = []
    moment = dt.datetime.combine(DAYS[0], dt.time(), dt.UTC)
    while moment.date() <= DAYS[-1]:
        if moment not in SKIPPED_RUNS:
            checks: dict[str, Any] = {}
            for host in HOSTS:
                found = all_pass(host)
                if host == "edge2" and moment in FAILING:
                    found = [
                        check(c["check_id"], "fail", "key mode 0644")
                        if c["check_id"] == "PKI-02"
                        else c
                        for c in found
                    ]
                if host == "aggregator":
                    found = [
                        check("PKI-01", "fail", "expired") if c["check_id"] == "PKI-01" else c
                        for c in found
                    ]
                checks[host] = None if (host == "edge1" and moment == SILENT) else found
            started = moment + dt.timedelta(seconds=90)
            finished = started + dt.timedelta(seconds=30)
            rows, state = merge_run(
                catalog=catalog,
                hosts=HOSTS,
                host_groups=GROUPS,
                host_checks=checks,
                waivers=waivers,
                state=state,
                run_id=f"run-{moment:%Y%m%dT%H}",
                started=started.isoformat().replace("+00:00", "Z"),
                finished=finished.isoformat().replace("+00:00", "Z"),
                suite_version="0.1.0",
                policy_sha256=policy,
                now=finished,
            )
            append_evidence(evidence, rows, started)
        moment += dt.timedelta(hours=1)
        if moment.date() > DAYS[-1] and incidents:
            recorded = record(evidence, catalog)
        write_due_digests(evidence, key, settings, moment + dt.timedelta(minutes=5))
    return Trail(tmp_path, evidence, key, catalog_path, waivers_path, catalog, policy, recorded)


def record(evidence: Path, catalog: Catalog) -> list[Incident]:
    """The two incidents of the module docstring, recorded at 2026-11-03 23:30."""
    recorded = [
        validate(
            {
                "from": "2026-11-02T09:30:00Z",
                "to": "2026-11-02T12:45:00Z",
                "hosts": ["edge2"],
                "checks": ["PKI-*"],
                "ticket": "INC-7",
                "rca_url": "https://wiki.example/rca/7",
            },
            catalog,
        ),
        validate(
            {
                "from": "2026-11-03T19:55:00Z",
                "to": "2026-11-03T21:00:00Z",
                "hosts": ["all"],
                "checks": ["all"],
                "ticket": "INC-8",
                "rca_url": "https://wiki.example/rca/8",
                "summary": "control node maintenance",
            },
            catalog,
        ),
    ]
    record_incidents(evidence, recorded, dt.datetime(2026, 11, 3, 23, 30, tzinfo=dt.UTC))
    return recorded
