# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drift runs on the lab, end to end through the `soc2audit drift` CLI (ansible-runner).

A clean lab passes every check; for each control family, drifts injected by hand on ONE host
turn exactly the expected checks to fail on exactly that host (no false positives anywhere
else), the metrics files and the JSON lines agree, and re-converging turns them back to pass.
An unreachable host is not_run, never silent; waivers, expired waivers and the grace period
change the result as documented; a check-mode site.yml records the roles' own drift; the
schedule playbook installs a working timer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import BIN, INVENTORY, REPO, ansible_playbook, env, get_host, inventory, recap
from prometheus_client.parser import text_string_to_metric_families
from test_40_timesync import address, wait_selected

OUT = REPO / ".cache" / "drift"
TEXTFILE = "/var/lib/prometheus/node-exporter/soc2audit.prom"
CLEAN = {"pass", "not_applicable"}
Rows = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(autouse=True)
def fresh_policy_history() -> None:
    """Each test judges the fleet policies on its own runs: the history of earlier runs
    (<out>/policy_history.jsonl) keeps the faults earlier test modules injected, and POL-03
    rightly fails all day after test_40's 200 ms clock fault (seen in CI)."""
    (OUT / "policy_history.jsonl").unlink(missing_ok=True)


def soc2audit_drift(*args: str) -> tuple[int, dict[str, Any], Rows]:
    """Run the CLI; (exit status, its --json outcome, this run's rows by (host, check))."""
    cmd = [str(BIN / "soc2audit"), "drift", "--json", "-q", "-i", str(INVENTORY), *args]
    proc = subprocess.run(cmd, cwd=REPO, env=env(), text=True, capture_output=True, check=False)
    try:
        outcome = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        msg = f"no JSON outcome (rc {proc.returncode}): {proc.stderr[-3000:]}"
        raise AssertionError(msg) from exc
    lines = (OUT / "last_run.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    assert rows and {r["run_id"] for r in rows} == {outcome["run_id"]}
    return proc.returncode, outcome, {(r["host"], r["check_id"]): r for r in rows}


def metrics(host: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The host's soc2audit.prom, checked by promtool, as {metric: {labels: value}}."""
    text = get_host(host).file(TEXTFILE).content_string
    promtool = BIN / "promtool"
    assert promtool.exists(), "make setup fetches promtool into .venv/bin"
    check = subprocess.run(
        [str(promtool), "check", "metrics"], input=text, text=True, capture_output=True
    )
    assert check.returncode == 0, f"{host}: promtool: {check.stdout}{check.stderr}"
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def current_results(series: dict[tuple[tuple[str, str], ...], float]) -> dict[str, str]:
    """check_id -> the result whose StateSet series is 1 (exactly one per check)."""
    out: dict[str, str] = {}
    for labels, value in series.items():
        d = dict(labels)
        if value == 1:
            assert d["check_id"] not in out, f"two current results for {d['check_id']}"
            out[d["check_id"]] = d["result"]
    return out


def assert_metrics_match_rows(host: str, rows: Rows) -> None:
    m = metrics(host)
    mine = {c: r["result"] for (h, c), r in rows.items() if h == host}
    assert current_results(m["soc2audit_check_result"]) == mine
    passed = {dict(k)["check_id"]: v for k, v in m["soc2audit_check_passed"].items()}
    assert passed == {c: 1.0 if r == "pass" else 0.0 for c, r in mine.items()}
    policy = {r["policy_sha256"] for r in rows.values()}
    assert {dict(k)["policy_sha256"] for k in m["soc2audit_build_info"]} == policy


def catalog() -> list[dict[str, Any]]:
    return yaml.safe_load((REPO / "controls" / "catalog.yml").read_text())["checks"]


def applicable(host: str) -> set[str]:
    groups = {"all"}
    for group, body in inventory()["all"]["children"].items():
        if host in (body.get("hosts") or {}):
            groups.add(group)
    return {c["id"] for c in catalog() if groups & set(c.get("applies_to") or ["all"])}


def not_clean(rows: Rows) -> dict[tuple[str, str], str]:
    return {k: r["result"] for k, r in rows.items() if r["result"] not in CLEAN}


@pytest.fixture(scope="module")
def lab_ready(converged: dict, lab_hosts: list[str]) -> list[str]:
    agg = address("aggregator")
    for host in lab_hosts:
        if host != "aggregator":
            wait_selected(host, agg)
    return lab_hosts


def reconverge(host: str, layer: str) -> None:
    """Converge only the layer that was broken (its playbook) on the one drifted host, then
    wait until the host syncs again."""
    ansible_playbook(f"playbooks/{layer}.yml", "-l", host, check=True)
    if host != "aggregator":
        wait_selected(host, address("aggregator"))


# ------------------------------------------------------------------------------ clean lab


def test_clean_lab_passes_every_check_and_writes_every_output(lab_ready: list[str]) -> None:
    rc, outcome, rows = soc2audit_drift()
    assert not_clean(rows) == {}, [r["message"] for r in rows.values() if r["result"] not in CLEAN]
    assert rc == 0 and outcome["exit_code"] == 0
    for host in lab_ready:
        assert {c for (h, c) in rows if h == host} == applicable(host), host
        assert_metrics_match_rows(host, rows)
    # Both kinds of source ran: the modules and the testinfra checks.
    assert rows[("edge1", "PKI-07")]["result"] == "pass"
    assert rows[("aggregator", "TIME-10")]["result"] == "pass"
    # Evidence: this run's rows appended to the day's file, earlier runs kept.
    day = outcome["run_id"] and dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    evidence = [
        json.loads(line)
        for line in (REPO / "evidence" / f"results-{day}.jsonl").read_text().splitlines()
    ]
    mine = [r for r in evidence if r["run_id"] == outcome["run_id"]]
    assert len(mine) == len(rows)
    # JUnit for CI systems: one test case per result.
    suites = ET.parse(OUT / "junit.xml").getroot()
    cases = suites.findall(".//testcase")
    assert len(cases) == len(rows)
    assert not suites.findall(".//failure") and not suites.findall(".//error")
    assert "Total:" in (OUT / "summary.txt").read_text()


# -------------------------------------------------------------- check-mode drift (callback)


def test_check_mode_changes_nothing_but_records_hand_made_drift(lab_ready: list[str]) -> None:
    """site.yml in check mode on the converged lab: no host reports a change except edge2, whose
    chrony.conf was edited by hand, and that change is recorded as timesync config drift. (The
    lab's only check-mode run of the whole site: it also proves check mode clean elsewhere. One
    host of each kind: edge1 runs the same roles with the same settings as edge2, and leaving it
    out spares a quarter of the run.)"""
    checked = [h for h in lab_ready if h != "edge1"]
    edited = get_host("edge2").run("echo 'maxdistance 16' >> /etc/chrony/chrony.conf")
    assert edited.rc == 0
    try:
        proc = ansible_playbook(
            "playbooks/site.yml", "--check", "-l", ",".join(checked), check=True
        )
        records = [
            json.loads(line) for line in (OUT / "config_drift.jsonl").read_text().splitlines()
        ]
        drift = [r for r in records if r["kind"] == "config_drift"]
        assert drift, proc.stdout[-3000:]
        assert {r["host"] for r in drift} == {"edge2"}
        assert all(r["role"] == "timesync" for r in drift), drift
        assert any("chrony" in r["task"].lower() for r in drift), drift
        summaries = {r["host"]: r for r in records if r["kind"] == "host_summary"}
        assert set(summaries) == set(checked)
        assert summaries["edge2"]["changed_tasks"] == len(drift)
        assert all(summaries[h]["changed_tasks"] == 0 for h in checked if h != "edge2")
        counts = recap(proc.stdout)
        assert set(counts) == set(checked)
        assert counts["edge2"]["changed"] >= 1
        assert {h: counts[h]["changed"] for h in checked if h != "edge2"} == {
            h: 0 for h in checked if h != "edge2"
        }
    finally:
        reconverge("edge2", "timesync")


# ------------------------------------------------------------------------ fault injection

FAULTS: dict[str, dict[str, Any]] = {
    # PKI on edge2: the private key made world-readable, and the CA bundle swapped for a
    # foreign self-signed CA (the chain no longer ends in our root; peers' handshakes fail).
    "PKI": {
        "host": "edge2",
        "inject": (
            "chmod 0644 /etc/ssl/soc2audit/private/host.key && "
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
            "-subj /CN=rogue-ca -keyout /tmp/rogue.key -out /etc/ssl/soc2audit/ca-chain.pem "
            "2>/dev/null && rm -f /tmp/rogue.key"
        ),
        # MON-02 too: the exporter's own mTLS probe verifies against the swapped CA bundle.
        "expected": {"PKI-01", "PKI-06", "PKI-07", "MON-02"},
        # The exporter reads its client CA per handshake, so once Prometheus has scraped edge2
        # after the swap, the monitor sees the target down (MON-05): whether that scrape came
        # before the drift run is a race of seconds, so it may or may not be in the result.
        "maybe": {("monitor", "MON-05")},
        # The fleet policies that see it: critical PKI checks failing (POL-06), an exporter not
        # proven to serve over mTLS (POL-10).
        "fleet": {"POL-06", "POL-10"},
        "layer": "pki",
    },
    # NET on edge2: an accept rule inserted by hand, and the monitor dropped from the
    # node_exporter allow-list (only the monitor may scrape).
    "NET": {
        "host": "edge2",
        "inject": (
            "nft insert rule inet soc2_filter input tcp dport 2222 accept && "
            "nft delete element inet soc2_filter node_exporter_v4 '{ MONITOR }'"
        ),
        "expected": {"NET-02", "NET-03"},
        "layer": "nftables",
    },
    # TIME on edge1: an extra NTP server added by hand, and edge1 made to serve NTP to anyone.
    "TIME": {
        "host": "edge1",
        "inject": (
            "echo 'server 192.0.2.10 iburst' >> /etc/chrony/sources.d/soc2audit.sources && "
            "echo 'allow all' >> /etc/chrony/chrony.conf && systemctl restart chrony"
        ),
        "expected": {"TIME-04", "TIME-09"},
        "layer": "timesync",
    },
    # SSH on edge1: X11 forwarding turned on in sshd_config by hand and sshd reloaded (the
    # verifier reads the effective settings, sshd -T, so only SSH-03 sees it).
    "SSH": {
        "host": "edge1",
        "inject": (
            "sed -i 's/^X11Forwarding no$/X11Forwarding yes/' /etc/ssh/sshd_config && "
            "grep -qx 'X11Forwarding yes' /etc/ssh/sshd_config && systemctl reload ssh"
        ),
        "expected": {"SSH-03"},
        "layer": "ssh_hardening",
    },
    # HOST on edge2: a network sysctl changed at run time (ICMP redirects accepted again); the
    # file in /etc/sysctl.d is untouched, the live value is what HOST-01 reads.
    "HOST": {
        "host": "edge2",
        "inject": "sysctl -qw net.ipv4.conf.all.accept_redirects=1",
        "expected": {"HOST-01"},
        "layer": "os_hardening",
    },
}


@pytest.mark.parametrize("family", sorted(FAULTS))
def test_injected_drift_fails_exactly_the_expected_checks(
    lab_ready: list[str], family: str
) -> None:
    fault = FAULTS[family]
    target: str = fault["host"]
    res = get_host(target).run(fault["inject"].replace("MONITOR", address("monitor")))
    assert res.rc == 0, res.stderr
    try:
        if family == "TIME":
            wait_selected(target, address("aggregator"))
        rc, outcome, rows = soc2audit_drift()
        failing = not_clean(rows)
        for key in fault.get("maybe", ()):
            if failing.get(key) == "fail":
                del failing[key]
        expected = {(target, c): "fail" for c in fault["expected"]}
        expected |= {("fleet", c): "fail" for c in fault.get("fleet", ())}
        assert failing == expected, {k: rows[k]["message"] for k in failing}
        assert rc == 1 and outcome["exit_code"] == 1
        for host in lab_ready:
            assert_metrics_match_rows(host, rows)
        drifting = metrics(target).get("soc2audit_check_drift_since_timestamp_seconds", {})
        assert {dict(k)["check_id"] for k in drifting} == fault["expected"]
    finally:
        reconverge(target, fault["layer"])
    rc, _, rows = soc2audit_drift()
    assert not_clean(rows) == {} and rc == 0
    assert "soc2audit_check_drift_since_timestamp_seconds" not in metrics(target)


# ------------------------------------------------------------ waivers and the grace period


def _waivers(path: Path, expires: dt.date) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "waivers": [
                    {
                        "check": "PKI-06",
                        "hosts": ["edge2"],
                        "justification": "integration test: key mode drift accepted",
                        "approver": "ciso@example.org",
                        "ticket": "SEC-1234",
                        "expires": expires.isoformat(),
                    }
                ]
            }
        )
    )
    return path


def test_waiver_expired_waiver_and_grace_period(lab_ready: list[str], tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    key = get_host("edge2").run("chmod 0644 /etc/ssl/soc2audit/private/host.key")
    assert key.rc == 0
    try:
        live = _waivers(tmp_path / "live.yml", today + dt.timedelta(days=30))
        rc, _, rows = soc2audit_drift("--waivers", str(live), "--no-testinfra")
        row = rows[("edge2", "PKI-06")]
        assert row["result"] == "waived" and "SEC-1234" in row["message"], row
        assert row["waiver"]["ticket"] == "SEC-1234"
        others = {k: v for k, v in not_clean(rows).items() if k != ("edge2", "PKI-06")}
        # --no-testinfra: the outside-in checks were not run this time.
        assert set(others.values()) <= {"not_run"}
        assert rc == 2  # no failure left, but checks not evaluated

        expired = _waivers(tmp_path / "expired.yml", today - dt.timedelta(days=1))
        rc, _, rows = soc2audit_drift("--waivers", str(expired))
        row = rows[("edge2", "PKI-06")]
        assert row["result"] == "fail" and "expired" in row["message"], row
        assert rc == 1

        # The drift is minutes old: inside a one-hour grace period it is at_risk, not fail.
        rc, _, rows = soc2audit_drift("--grace", "3600")
        row = rows[("edge2", "PKI-06")]
        assert row["result"] == "at_risk" and row["drift_since"], row
        # POL-06 (a critical check not passing) has drifted since the expired-waiver run: the
        # grace period applies to the fleet's rows too.
        assert not_clean(rows) == {("edge2", "PKI-06"): "at_risk", ("fleet", "POL-06"): "at_risk"}
        assert rc == 1

        bad = tmp_path / "bad.yml"
        bad.write_text("waivers:\n  - check: PKI-06\n    hosts: [edge2]\n")
        before = (OUT / "last_run.jsonl").read_bytes()
        proc = subprocess.run(
            [str(BIN / "soc2audit"), "drift", "-q", "-i", str(INVENTORY), "--waivers", str(bad)],
            cwd=REPO,
            env=env(),
            text=True,
            capture_output=True,
        )
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "justification" in proc.stderr + proc.stdout
        assert (OUT / "last_run.jsonl").read_bytes() == before, "nothing written on bad policy"
    finally:
        reconverge("edge2", "pki")
    rc, _, rows = soc2audit_drift()
    assert not_clean(rows) == {} and rc == 0


# ------------------------------------------------------------------- unreachable host


def test_unreachable_host_is_not_run_and_keeps_its_last_metrics(
    lab_ready: list[str], lab_inventory: dict
) -> None:
    container = lab_inventory["all"]["children"]["monitors"]["hosts"]["monitor"][
        "soc2_lab_container"
    ]
    podman_env = dict(os.environ, CONTAINERS_CONF=str(REPO / ".lab" / "containers.conf"))
    stat = ["stat", "-c", "%Y", TEXTFILE]
    mtime = subprocess.run(
        ["podman", "exec", container, *stat], env=podman_env, text=True, capture_output=True
    ).stdout
    subprocess.run(
        [
            "podman",
            "exec",
            container,
            "sh",
            "-c",
            "systemctl stop ssh.socket ssh.service 2>/dev/null; pkill -x sshd; true",
        ],
        env=podman_env,
        check=True,
    )
    try:
        rc, outcome, rows = soc2audit_drift()
        monitor = {c: r for (h, c), r in rows.items() if h == "monitor"}
        assert set(monitor) == applicable("monitor")
        assert {r["result"] for r in monitor.values()} == {"not_run"}
        assert all(r["message"] for r in monitor.values())
        others = {k: v for k, v in not_clean(rows).items() if k[0] != "monitor"}
        # The fleet policies that see a silent monitor: it did not report (POL-05), its critical
        # checks and its clock bound are unknown (POL-06, POL-03), no monitor proves the scrape
        # (POL-10), its time source is unknown (POL-11). They fail, so the run exits 1.
        fleet = {("fleet", c): "fail" for c in ("POL-03", "POL-05", "POL-06", "POL-10", "POL-11")}
        assert others == fleet, {k: rows[k]["message"] for k in others}
        assert rc == 1 and outcome["exit_code"] == 1
        after = subprocess.run(
            ["podman", "exec", container, *stat], env=podman_env, text=True, capture_output=True
        ).stdout
        assert after == mtime, "an unreachable host's metrics file is not touched"
    finally:
        subprocess.run(
            ["podman", "exec", container, "systemctl", "start", "ssh.service"],
            env=podman_env,
            check=True,
        )


# ------------------------------------------------------------------------ scheduled runs


SCHEDULE_VARS = {
    "soc2audit_schedule_host": "monitor",
    "soc2audit_schedule_project_dir": "/root",
    "soc2audit_schedule_python": "/usr/bin/python3",
    "soc2audit_schedule_user": "root",
    "soc2audit_schedule_interval": "*:0/30",
    "soc2audit_schedule_uptime_prometheus": "https://monitor:9090",
    "soc2audit_schedule_uptime_args": ["--server-name", "monitor"],
}


@pytest.fixture
def scheduled(lab_ready: list[str]) -> Iterator[None]:
    yield
    ansible_playbook(
        "playbooks/schedule.yml",
        "-e",
        json.dumps({**SCHEDULE_VARS, "soc2audit_schedule_state": "disabled"}),
    )
    get_host("monitor").run(
        "rm -f /etc/systemd/system/soc2audit-drift.* /etc/systemd/system/soc2audit-uptime.*"
        " && systemctl daemon-reload"
    )


def test_schedule_installs_an_idempotent_timer(scheduled: None) -> None:
    first = ansible_playbook("playbooks/schedule.yml", "-e", json.dumps(SCHEDULE_VARS), check=True)
    assert recap(first.stdout)["monitor"]["failed"] == 0
    second = ansible_playbook("playbooks/schedule.yml", "-e", json.dumps(SCHEDULE_VARS), check=True)
    assert recap(second.stdout)["monitor"]["changed"] == 0
    monitor = get_host("monitor")
    timer = monitor.service("soc2audit-drift.timer")
    assert timer.is_enabled and timer.is_running
    shown = monitor.check_output(
        "systemctl show soc2audit-drift.timer -p TimersCalendar -p Unit --value"
    )
    assert "*:0/30" in shown or "*-*-* *:00/30:00" in shown, shown
    unit = monitor.file("/etc/systemd/system/soc2audit-drift.service").content_string
    assert "ExecStart=/usr/bin/python3 -m soc2audit drift --project-dir /root --quiet" in unit
    assert "TimeoutStartSec=2100" in unit
    assert "SuccessExitStatus=1 2" in unit
    # The lab inventory anchors the evidence chain in its S3 store: the digest timer gets the
    # settings and credentials in a root-only EnvironmentFile (playbooks/schedule.yml).
    anchor_env = monitor.file("/etc/soc2audit/evidence-anchor-s3.env")
    assert anchor_env.mode == 0o600 and anchor_env.user == "root"
    assert "SOC2AUDIT_EVIDENCE_ANCHOR_S3_BUCKET=soc2-evidence\n" in anchor_env.content_string
    assert "AWS_SECRET_ACCESS_KEY=" in anchor_env.content_string
    digest_unit = monitor.file("/etc/systemd/system/soc2audit-evidence-digest.service")
    assert "EnvironmentFile=-/etc/soc2audit/evidence-anchor-s3.env" in digest_unit.content_string
    assert (REPO / ".lab" / "s3-secret-key").read_text().strip() not in first.stdout
    # With the monitor's URL set, the uptime timer records the intervals of the last 26 hours.
    assert monitor.service("soc2audit-uptime.timer").is_enabled
    uptime_unit = monitor.file("/etc/systemd/system/soc2audit-uptime.service").content_string
    assert (
        "-m soc2audit uptime --project-dir /root --last 26 --prometheus https://monitor:9090"
        " --server-name monitor\n"
    ) in uptime_unit, uptime_unit

    before = unit
    bad = ansible_playbook(
        "playbooks/schedule.yml",
        "-e",
        json.dumps({**SCHEDULE_VARS, "soc2audit_schedule_interval": "every blue moon"}),
    )
    assert bad.returncode != 0
    assert "not a systemd calendar expression" in bad.stdout
    assert monitor.file("/etc/systemd/system/soc2audit-drift.service").content_string == before


# ------------------------------------------------------- one family's parameters broken


def test_broken_family_parameters_are_errors_the_other_family_still_runs(
    lab_ready: list[str], tmp_path: Path
) -> None:
    bad = {
        "pki_certificate_requests": [{"name": "host", "sans": []}],
        "soc2audit_output_dir": str(tmp_path / "out"),
        "soc2audit_evidence_dir": str(tmp_path / "evidence"),
        "soc2audit_testinfra": False,
    }
    proc = ansible_playbook("playbooks/drift_check.yml", "-e", json.dumps(bad))
    assert proc.returncode == 0, proc.stdout[-3000:]
    lines = (tmp_path / "out" / "last_run.jsonl").read_text().splitlines()
    rows = {(r["host"], r["check_id"]): r for r in map(json.loads, lines)}
    for host in lab_ready:
        for n in range(1, 7):
            row = rows[(host, f"PKI-0{n}")]
            assert row["result"] == "error", row
            assert "parameters failed" in row["message"] and "sans" in row["message"], row
        assert rows[(host, "TIME-01")]["result"] == "pass"
