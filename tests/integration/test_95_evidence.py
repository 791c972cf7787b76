# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The evidence chain on the lab (docs/evidence.md): the pki role made the evidence key on the
control node, real drift runs extend the lab's chain (with RFC 3161 tokens from a local TSA:
real ``openssl ts -reply`` on 127.0.0.1), ``soc2audit evidence verify`` passes, the window
export of the lab's day opened in headless chromium shows the failure injected in one of those
runs (edge1's host key made world-readable: PKI-06) on edge1's row and today's column, with no
network request (the screenshot is kept as .cache/artifacts/report-heatmap-lab.png), and each
tampering case is detected with its finding and exit status.

Lean by design: no converge; the drift runs are edge1 only, without testinfra, in check mode
(the hosts are only read); they extend a COPY of the lab's evidence directory (the lab's own
trail stays intact) with a 60 s digest interval, so three runs close intervals of their own.
Each tampering case works on its own copy of the verified trail and runs the CLI once.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import BIN, REPO, ansible_playbook, env, get_host

sys.path.insert(0, str(REPO / "tests" / "unit"))

from local_tsa import LABEL, LocalTsa
from test_report_browser import ARTIFACTS, CHROMIUM, browse, page_requests

from soc2audit.chain import digest_files, fingerprint, load_private_key
from soc2audit.exitcodes import (
    EXIT_EVIDENCE_ALTERED,
    EXIT_EVIDENCE_ANCHOR,
    EXIT_EVIDENCE_CHAIN,
    EXIT_EVIDENCE_UNREFERENCED,
    EXIT_OK,
)
from soc2audit.fsutil import iso_utc
from soc2audit.timestamp import token_path

KEY = REPO / ".evidence-key" / "evidence-ed25519.pem"
INTERVAL = 60
HOST_KEY = "/etc/ssl/soc2audit/private/host.key"


@dataclass
class Trail:
    pristine: Path
    tsa_ca: Path
    #: The verification time: just after the digest that covers the last drift run.
    now: dt.datetime
    work: Path
    #: The UTC day of the drift run in which edge1's PKI-06 failed.
    failed_on: str

    def copy(self, name: str) -> Path:
        target = self.work / name
        shutil.copytree(self.pristine, target)
        return target

    def verify(self, evidence: Path, *extra: str) -> tuple[int, dict]:
        cmd = [str(BIN / "soc2audit"), "evidence", "verify", "--evidence-dir", str(evidence)]
        cmd += ["--tsa-ca", str(self.tsa_ca), "--now", iso_utc(self.now), "--json", *extra]
        proc = subprocess.run(cmd, cwd=REPO, env=env(), text=True, capture_output=True)
        return proc.returncode, json.loads(proc.stdout)


def kinds(report: dict) -> set[str]:
    return {f["kind"] for f in report["findings"] if f["severity"] == "error"}


@pytest.fixture(scope="module")
def trail(converged: dict, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trail]:
    work = tmp_path_factory.mktemp("evidence")
    tsa = LocalTsa(work / "tsa").start()
    print(f"\nRFC 3161 tokens from a {LABEL} at {tsa.url}")
    try:
        evidence = work / "pristine"
        if (REPO / "evidence").is_dir():
            shutil.copytree(REPO / "evidence", evidence)
        extra: dict[str, object] = {
            "soc2audit_evidence_dir": str(evidence),
            "soc2audit_output_dir": str(work / "out"),
            "soc2audit_testinfra": False,
            "soc2audit_evidence_digest_interval": INTERVAL,
        }
        edge1 = get_host("edge1")
        failed_on = ""
        for run in range(3):
            # The first run catches the copied chain up to now (up to 60 empty one-minute
            # digests after the lab's hourly head), untimestamped; the next ones with the TSA.
            # The second one sees a fault: edge1's host key world-readable (PKI-06).
            if run == 1:
                extra["soc2audit_evidence_tsa_url"] = tsa.url
                extra["soc2audit_evidence_tsa_ca"] = str(tsa.ca)
                assert edge1.run(f"chmod 0644 {HOST_KEY}").rc == 0
            try:
                ansible_playbook(
                    "playbooks/drift_check.yml", "-l", "edge1", "--check", "-e",
                    json.dumps(extra), check=True,
                )  # fmt: skip
            finally:
                if run == 1:
                    edge1.run(f"chmod 0600 {HOST_KEY}")
            rows = (work / "out" / "last_run.jsonl").read_text().splitlines()
            pki06 = [r for r in map(json.loads, rows) if r["check_id"] == "PKI-06"]
            assert pki06[0]["result"] == ("fail" if run == 1 else "pass"), pki06
            if run == 1:
                failed_on = pki06[0]["started"][:10]
        # Close the interval of the last run's lines, as the hourly timer would after it, and
        # two more (empty) intervals: the chain then has a digest in the middle whose deletion
        # leaves every evidence byte covered (test_a_deleted_digest_is_missing).
        start = dt.datetime.now(dt.UTC)
        for minutes in (1, 2, 3):
            now = start + dt.timedelta(minutes=minutes)
            digest = subprocess.run(
                [str(BIN / "soc2audit"), "evidence", "digest", "--evidence-dir", str(evidence),
                 "--key", str(KEY), "--interval", str(INTERVAL), "--now", iso_utc(now),
                 "--tsa-url", tsa.url, "--tsa-ca", str(tsa.ca)],
                cwd=REPO, env=env(), text=True, capture_output=True,
            )  # fmt: skip
            assert digest.returncode == 0, digest.stderr
        yield Trail(evidence, tsa.ca, now + dt.timedelta(seconds=5), work, failed_on)
    finally:
        tsa.stop()


def test_the_pki_role_made_the_evidence_key_on_the_control_node(converged: dict) -> None:
    assert KEY.is_file() and KEY.stat().st_mode & 0o777 == 0o600
    fp = fingerprint(load_private_key(KEY).public_key())
    assert (REPO / "evidence" / "keys" / f"{fp}.pem").is_file()


def test_drift_runs_extend_the_chain_and_it_verifies(trail: Trail) -> None:
    code, report = trail.verify(trail.pristine)
    assert code == EXIT_OK, report["findings"]
    ours = [d for d in digest_files(trail.pristine) if token_path(d).is_file()]
    assert ours and report["timestamps"] == len(ours)
    assert report["digests"] >= 3
    results = list(trail.pristine.glob("results-*.jsonl"))
    runs = {json.loads(line)["run_id"] for p in results for line in p.read_text().splitlines()}
    assert len(runs) >= 3


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_the_lab_window_in_a_browser_shows_the_injected_failure(trail: Trail) -> None:
    out = trail.work / "package"
    made = subprocess.run(
        [str(BIN / "soc2audit"), "report", "--evidence-dir", str(trail.pristine),
         "--from", trail.failed_on, "--to", trail.failed_on, "--out", str(out), "--json"],
        cwd=REPO, env=env(), text=True, capture_output=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["signed"], made.stdout
    dom, requests = browse(out / "report.html", trail.work, "--dump-dom")
    table = dom[dom.index('data-check="PKI-06"') :].split("</table>")[0]
    days = re.findall(r'<th class="d">([0-9-]+)</th>', table)
    row = re.search(r'<tr data-host="edge1">(.*?)</tr>', table, re.S)
    assert row is not None and trail.failed_on in days
    cells = re.findall(r'<td class="([^"]+)"', row.group(1))
    assert cells[days.index(trail.failed_on)] == "r-fail"
    assert page_requests(requests) == []
    shot = trail.work / "lab.png"
    _, requests = browse(
        out / "report.html", trail.work, "--window-size=1200,1500", f"--screenshot={shot}"
    )
    assert page_requests(requests) == [] and shot.stat().st_size > 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report-heatmap-lab.png")


def newest_results(evidence: Path) -> Path:
    return max(evidence.glob("results-*.jsonl"))


def test_a_flipped_byte_is_altered_content(trail: Trail) -> None:
    evidence = trail.copy("flip")
    target = newest_results(evidence)
    data = bytearray(target.read_bytes())
    at = data.index(b'"pass"') + 1
    data[at] ^= 0x01  # "pass" -> "qass": same length
    target.write_bytes(bytes(data))
    code, report = trail.verify(evidence)
    assert (code, kinds(report)) == (EXIT_EVIDENCE_ALTERED, {"altered_content"})
    finding = report["findings"][0]
    assert finding["file"] == target.name and finding["line"] >= 1


def test_a_deleted_digest_is_missing(trail: Trail) -> None:
    evidence = trail.copy("delete")
    # A digest whose files later digests reference again (an empty one qualifies): its bytes
    # stay covered by their file_sha256, so the gap itself is the one finding.
    chain = [json.loads(p.read_bytes()) for p in digest_files(evidence)]
    later: set[str] = set()
    victim = None
    for index in range(len(chain) - 1, 0, -1):
        paths = {entry["path"] for entry in chain[index]["files"]}
        if index < len(chain) - 1 and paths <= later:
            victim = digest_files(evidence)[index]
            break
        later |= paths
    assert victim is not None, "no digest whose bytes later digests cover again"
    for suffix in ("", ".sig", ".tsr"):
        victim.with_name(victim.name + suffix).unlink(missing_ok=True)
    code, report = trail.verify(evidence)
    assert (code, kinds(report)) == (EXIT_EVIDENCE_CHAIN, {"missing_digest"})


def test_two_swapped_digests_are_reordered(trail: Trail) -> None:
    evidence = trail.copy("swap")
    first, second = digest_files(evidence)[-3:-1]
    for suffix in ("", ".sig", ".tsr"):
        a, b = first.with_name(first.name + suffix), second.with_name(second.name + suffix)
        data_a = a.read_bytes() if a.exists() else None
        data_b = b.read_bytes() if b.exists() else None
        for target, data in ((a, data_b), (b, data_a)):
            if data is None:
                target.unlink(missing_ok=True)
            else:
                target.write_bytes(data)
    code, report = trail.verify(evidence)
    assert (code, kinds(report)) == (EXIT_EVIDENCE_CHAIN, {"reordered_digest"})


def test_the_newest_file_truncated(trail: Trail) -> None:
    evidence = trail.copy("truncate")
    target = newest_results(evidence)
    lines = target.read_bytes().splitlines(keepends=True)
    target.write_bytes(b"".join(lines[:-2]))
    code, report = trail.verify(evidence)
    assert (code, kinds(report)) == (EXIT_EVIDENCE_ALTERED, {"truncated_file"})
    assert report["findings"][0]["line"] == len(lines) - 1


def test_a_forged_line_appended_is_unreferenced(trail: Trail) -> None:
    evidence = trail.copy("forge")
    target = newest_results(evidence)
    row = json.loads(target.read_text().splitlines()[-1])
    row.update(result="pass", message="forged")
    with target.open("a") as handle:
        handle.write(json.dumps(row, sort_keys=True) + "\n")
    code, report = trail.verify(evidence)
    assert (code, kinds(report)) == (EXIT_EVIDENCE_UNREFERENCED, {"unreferenced_bytes"})


def test_the_tail_cut_below_an_anchor_and_a_removed_token(trail: Trail) -> None:
    evidence = trail.copy("tail")
    anchor = trail.work / "anchor.json"
    made = subprocess.run(
        [str(BIN / "soc2audit"), "evidence", "anchor", "--evidence-dir", str(evidence),
         "--out", str(anchor)],
        cwd=REPO, env=env(), text=True, capture_output=True,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    head = digest_files(evidence)[-1]
    for suffix in ("", ".sig", ".tsr"):
        head.with_name(head.name + suffix).unlink(missing_ok=True)
    stamped = [d for d in digest_files(evidence) if token_path(d).is_file()]
    token_path(stamped[-1]).unlink()
    code, report = trail.verify(evidence, "--anchor", str(anchor))
    assert code == EXIT_EVIDENCE_ANCHOR
    assert kinds(report) >= {"head_behind_anchor", "missing_timestamp"}
