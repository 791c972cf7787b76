# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Monitoring on the lab, end to end: node_exporter on every host (roles/node_exporter),
Prometheus, Alertmanager and the evidence receiver on the monitor (roles/prometheus).

- Targets: Prometheus on the monitor has all four hosts as up targets, scraped over https.
- mTLS: a scrape of edge1:9100 from the monitor without a client certificate is refused; the
  same request with the monitor's prometheus-scrape certificate is served (so the refusal is
  not an artefact of the client).
- Firewall: edge2 cannot reach edge1:9100 at all (only the monitors may).
- Drift to evidence: a fault injected on edge1 (its host key made world-readable: PKI-06) shows
  in Prometheus after the next drift run and one scrape, fires SOC2PKICheckFailed into
  Alertmanager, and the firing and then (after the fault is repaired and the next drift run)
  the resolved notification appear in the alerts evidence file on the monitor; the next drift
  run of the monitor brings each of them into the control node's evidence (its MON verifier
  returns the lines past the cursor, soc2audit/alert_import.py appends them), where a digest
  covers them, `soc2audit evidence verify` passes and `soc2audit report` lists the alert. The
  drift runs are limited to edge1 or the monitor, skip testinfra and write a test-owned evidence
  directory (no digest key of their own: the test writes the digest); the times from injection
  to the firing record on the monitor and in the control node's evidence, and from repair to the
  resolved record, are printed (`pytest -s`).

The lab's monitor group vars (soc2audit/lab.py) scrape and evaluate every 5 s and let
Alertmanager notify after 1 s (group_interval 5 s).
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BIN, REPO, env, get_host, inventory, wait_for
from test_50_drift import soc2audit_drift
from test_60_nftables import address, connect

HOSTS = ("edge1", "edge2", "aggregator", "monitor")
CA = "/etc/ssl/soc2audit/ca-chain.pem"
CERT = "/etc/ssl/soc2audit/prometheus-scrape-fullchain.crt"
KEY = "/etc/ssl/soc2audit/private/prometheus-scrape.key"
EVIDENCE = "/var/lib/soc2audit/evidence"
ALERT = "SOC2PKICheckFailed"
CHECK = "PKI-06"
# Runs on the monitor: one HTTPS GET, with or without the client certificate; prints JSON
# {"status", "body"} or {"error"} (the exception's type and text).
GET = (
    """\
import json, ssl, sys, urllib.request
url, cert = sys.argv[1], sys.argv[2] == "cert"
ctx = ssl.create_default_context(cafile="@CA@")
ctx.check_hostname = False
if cert:
    ctx.load_cert_chain("@CERT@", "@KEY@")
try:
    with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
        print(json.dumps({"status": r.status, "body": r.read().decode()}))
except Exception as exc:
    print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
""".replace("@CA@", CA)
    .replace("@CERT@", CERT)
    .replace("@KEY@", KEY)
)


def get(url: str, cert: bool = True) -> dict[str, Any]:
    cmd = f"python3 -c {shlex.quote(GET)} {shlex.quote(url)} {'cert' if cert else 'none'}"
    return json.loads(get_host("monitor").check_output(cmd))


def api(url: str) -> Any:
    answer = get(url)
    assert answer.get("status") == 200, answer
    return json.loads(answer["body"])


def alert_records(since: float) -> list[dict[str, Any]]:
    """The evidence receiver's records of ALERT for edge1 written after `since` (Unix time)."""
    out = get_host("monitor").run(f"cat {EVIDENCE}/alerts-*.jsonl 2>/dev/null")
    rows = []
    for line in out.stdout.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        labels = row.get("labels") or {}
        if row.get("alertname") != ALERT or labels.get("instance") != "edge1":
            continue
        if labels.get("check_id") != CHECK:
            continue
        rows.append(row)
    return [r for r in rows if _epoch(str(r.get("received") or "")) >= since]


def chain_records(evidence: Path, since: float) -> list[dict[str, Any]]:
    """Imported records of ALERT for edge1 in the control node's evidence (received after
    `since`), in evidence order."""
    rows = []
    for path in sorted(evidence.glob("alerts-*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            labels = row.get("labels") or {}
            if (row.get("alertname"), labels.get("instance"), labels.get("check_id")) != (
                ALERT,
                "edge1",
                CHECK,
            ):
                continue
            if row.get("imported", {}).get("host") == "monitor":
                rows.append(row)
    return [r for r in rows if _epoch(str(r.get("received") or "")) >= since]


def soc2audit(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(BIN / "soc2audit"), *args]
    return subprocess.run(cmd, cwd=REPO, env=env(), text=True, capture_output=True, check=False)


def _epoch(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@pytest.fixture(scope="module")
def started() -> float:
    return time.monotonic()


def test_prometheus_scrapes_every_host_over_mtls(started: float) -> None:
    answer = api("https://localhost:9090/api/v1/targets?state=active")
    targets = {
        t["labels"].get("instance"): t for t in answer["data"]["activeTargets"] if t["labels"]
    }
    assert set(HOSTS) <= set(targets), sorted(targets)
    for host in HOSTS:
        assert targets[host]["health"] == "up", targets[host].get("lastError")
        assert targets[host]["scrapeUrl"].startswith("https://"), targets[host]["scrapeUrl"]


def test_a_scrape_without_client_certificate_is_refused() -> None:
    url = f"https://{address('edge1')}:9100/metrics"
    refused = get(url, cert=False)
    assert "error" in refused, f"served without a client certificate: {refused.get('status')}"
    # The TLS handshake is refused (bad certificate alert), not a connection or HTTP error.
    assert "SSLError" in refused["error"] and "CERTIFICATE" in refused["error"].upper(), refused
    served = get(url, cert=True)
    assert served.get("status") == 200 and "node_exporter_build_info" in served["body"], served


def test_edge2_cannot_reach_edge1_exporter() -> None:
    assert connect("monitor", "edge1", 9100) == "open"
    assert connect("edge2", "edge1", 9100) != "open"


def up_value(instance: str) -> float | None:
    """Prometheus' current ``up`` of the node job's target ``instance`` (None: no sample)."""
    query = "https://localhost:9090/api/v1/query?query=up%7Binstance%3D%22" + instance + "%22%7D"
    result = api(query)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def test_uptime_records_an_exporter_outage_as_prometheus_saw_it(tmp_path: Path) -> None:
    """`soc2audit uptime` on the control node, over mTLS with the control node's client
    certificate, finds edge2's exporter outage in ``up`` and records it once."""
    lab = inventory()["all"]["vars"]
    if "soc2audit_opa_cert" not in lab:
        pytest.skip("the lab has no control node client certificate (no OPA server: no Go)")
    edge2 = get_host("edge2")
    evidence = tmp_path / "evidence"
    stopped = time.time()
    assert edge2.run("systemctl stop prometheus-node-exporter").rc == 0
    try:
        wait_for("edge2 down in Prometheus", lambda: up_value("edge2") == 0.0, timeout=30)
    finally:
        assert edge2.run("systemctl start prometheus-node-exporter").rc == 0
    wait_for("edge2 up again", lambda: up_value("edge2") == 1.0, timeout=30)
    restarted = time.time()
    time.sleep(1)

    def uptime() -> dict[str, Any]:
        since = dt.datetime.fromtimestamp(stopped - 60, dt.UTC).isoformat()
        until = dt.datetime.now(dt.UTC).isoformat()
        out = soc2audit(
            "uptime", "--from", since, "--to", until, "--step", "1", "--json",
            "--prometheus", f"https://{address('monitor')}:9090", "--server-name", "monitor",
            "--ca", lab["soc2audit_opa_ca"], "--cert", lab["soc2audit_opa_cert"],
            "--key", lab["soc2audit_opa_key"], "--evidence-dir", str(evidence),
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        return json.loads(out.stdout)

    first = uptime()
    rows = [
        json.loads(line)
        for path in sorted(evidence.glob("uptime-*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    mine = [r for r in rows if r.get("instance") == "edge2" and r.get("kind") == "up_zero"]
    assert len(mine) == 1, (first, rows)
    start, end = (_epoch(mine[0][k]) for k in ("start", "end"))
    # Within a scrape interval (5 s in the lab) plus the scrape timeout of the real changes.
    assert stopped - 1 <= start <= stopped + 10, (stopped, mine[0])
    assert start < end <= restarted + 1, (restarted, mine[0])
    # Other targets are not judged: a lab converged a minute ago may still show a target's first
    # scrape as missing samples at the range's start.
    assert [r["kind"] for r in rows if r.get("instance") == "edge2"] == ["up_zero"], rows
    # The same range again writes nothing: each interval is recorded once.
    uptime()
    again = sum(len(p.read_text().splitlines()) for p in evidence.glob("uptime-*.jsonl"))
    assert again == len(rows), again


def test_drift_reaches_prometheus_alertmanager_and_the_evidence(
    started: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge1 = get_host("edge1")
    evidence = tmp_path / "evidence"
    key = tmp_path / "key" / "evidence.pem"
    # The drift runs sign nothing here (no key at that path); the test writes the digest.
    monkeypatch.setenv("SOC2AUDIT_EVIDENCE_KEY", str(tmp_path / "no-key.pem"))

    def drift(limit: str) -> tuple[int, dict[tuple[str, str], Any]]:
        rc, _, rows = soc2audit_drift(
            "-l", limit, "--no-testinfra", "--evidence-dir", str(evidence)
        )
        return rc, rows

    query = (
        "https://localhost:9090/api/v1/query?query="
        "soc2audit_check_passed%7Binstance%3D%22edge1%22%2Ccheck_id%3D%22" + CHECK + "%22%7D"
    )
    injected = time.time()
    t0 = time.monotonic()
    assert edge1.run("chmod 0644 /etc/ssl/soc2audit/private/host.key").rc == 0
    try:
        rc, rows = drift("edge1")
        assert rows[("edge1", CHECK)]["result"] == "fail" and rc == 1
        t_drift = time.monotonic() - t0
        wait_for(
            f"{CHECK} failing in Prometheus",
            lambda: [r for r in api(query)["data"]["result"] if float(r["value"][1]) == 0.0],
            timeout=30,
        )
        t_prom = time.monotonic() - t0
        am = (
            "https://localhost:9093/api/v2/alerts?active=true&filter="
            "alertname%3D%22" + ALERT + "%22&filter=instance%3D%22edge1%22"
            "&filter=check_id%3D%22" + CHECK + "%22"
        )
        wait_for("the alert in Alertmanager", lambda: api(am), timeout=30)
        t_am = time.monotonic() - t0
        firing: list[dict[str, Any]] = wait_for(
            "the firing record in the evidence",
            lambda: [r for r in alert_records(injected - 1) if r.get("status") == "firing"],
            timeout=30,
        )
        t_fire = time.monotonic() - t0
        assert firing[0]["ends_at"] is None and firing[0]["annotations"]["runbook_url"], firing
    finally:
        repaired = time.time()
        t1 = time.monotonic()
        edge1.run("chmod 0600 /etc/ssl/soc2audit/private/host.key")
    # The monitor's next drift run brings the firing record into the control node's evidence.
    drift("monitor")
    t_chain = time.monotonic() - t0
    chained = [r for r in chain_records(evidence, injected - 1) if r["status"] == "firing"]
    assert chained and chained[0]["fingerprint"] == firing[0]["fingerprint"], chained
    rc, rows = drift("edge1")
    assert rows[("edge1", CHECK)]["result"] == "pass", rows[("edge1", CHECK)]
    wait_for(
        "the resolved record in the evidence",
        lambda: [r for r in alert_records(repaired - 1) if r.get("status") == "resolved"],
        timeout=45,
    )
    t_resolved = time.monotonic() - t1
    on_monitor = alert_records(injected - 1)
    drift("monitor")
    t_chain_resolved = time.monotonic() - t1
    records = chain_records(evidence, injected - 1)
    # Every record the monitor had, firing then resolved, each exactly once, in its order.
    seen = [(r["status"], r["received"], r["fingerprint"]) for r in records]
    assert seen[: len(on_monitor)] == [
        (r["status"], r["received"], r["fingerprint"]) for r in on_monitor
    ], (seen, on_monitor)
    assert records[0]["status"] == "firing" and "resolved" in [r["status"] for r in records]
    keys = [tuple(r["imported"][k] for k in ("host", "file", "offset")) for r in records]
    assert len(set(keys)) == len(keys), keys

    # A digest covers them, the chain verifies, and the auditor's report lists the alert.
    assert (
        soc2audit(
            "evidence", "keygen", "--evidence-dir", str(evidence), "--key", str(key)
        ).returncode
        == 0
    )
    time.sleep(1.1)
    digest = soc2audit(
        "evidence", "digest", "--evidence-dir", str(evidence), "--key", str(key), "--interval", "1"
    )
    assert digest.returncode == 0, digest.stdout + digest.stderr
    verified = soc2audit("evidence", "verify", "--evidence-dir", str(evidence), "-q")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # From the injection's UTC day to today's: a run across midnight (as the CI of stop 24 was)
    # has its firing record on the first day and its resolved record on the second.
    first = dt.datetime.fromtimestamp(injected, dt.UTC).date().isoformat()
    day = dt.datetime.now(dt.UTC).date().isoformat()
    out = tmp_path / "report"
    report = soc2audit(
        "report",
        "--evidence-dir",
        str(evidence),
        "--from",
        first,
        "--to",
        day,
        "--out",
        str(out),
        "--key",
        str(key),
        "--json",
    )
    html = (out / "report.html").read_text()
    for status in ("firing", "resolved"):
        row = f"<td>{ALERT}</td><td>{status}</td><td>edge1</td>"
        assert row in html, (status, report.stdout[-2000:], report.stderr[-2000:])
    print(
        f"\ninjection -> drift run done {t_drift:.1f} s, in Prometheus {t_prom:.1f} s, "
        f"in Alertmanager {t_am:.1f} s, firing record on the monitor {t_fire:.1f} s, "
        f"in the control node's evidence {t_chain:.1f} s; repair -> resolved record on the "
        f"monitor {t_resolved:.1f} s, in the control node's evidence {t_chain_resolved:.1f} s; "
        f"test_90 so far {time.monotonic() - started:.1f} s"
    )
