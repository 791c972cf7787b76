# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""roles/log_shipper/files/log-shipper-metrics: impstats and imfile's state turned into the
shipper's textfile metrics, on outputs recorded from a real rsyslogd 8.2302 running the role's
configuration (tests/unit/fixtures/log/shipper/), checked with promtool and held to the same
answers as the LOG checks (plugins/module_utils/soc2_log_family.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.module_utils import soc2_log_family as fam
from plugin_loader import load_script

from soc2audit.metrics import all_metrics

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "roles" / "log_shipper" / "files" / "log-shipper-metrics"
SHIP = Path(__file__).resolve().parent / "fixtures" / "log" / "shipper"
ACTION = "soc2_forward"


lsm = load_script(SCRIPT, "log_shipper_metrics")


def _promtool() -> str:
    found = shutil.which("promtool") or str(Path(sys.executable).parent / "promtool")
    if not os.access(found, os.X_OK):
        pytest.fail("promtool is missing: `make setup` installs it into .venv/bin")
    return found


def _values(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


@pytest.mark.parametrize("case", ["healthy", "outage", "molecule"])
def test_recorded_impstats_agree_with_the_log_checks(case: str) -> None:
    text = (SHIP / case / "impstats.json").read_text()
    mine = lsm.latest_objects(lsm.parse_impstats(text), ACTION)
    theirs = fam.latest_objects(fam.parse_impstats(text), ACTION)
    assert mine == theirs and "queue" in mine and "action" in mine
    values = _values(lsm.render(lsm.samples(mine, None, "/var/log/audit/audit.log", None)))
    backlog = fam.assess_backlog(theirs, 0, None, 10**9)["messages"]
    assert values["soc2audit_log_shipper_queue_size_messages"] == backlog
    discards = fam.assess_discards(theirs, 65536, 65536)["observed"]
    assert (
        values['soc2audit_log_shipper_queue_discarded_messages_total{reason="full"}']
        == (discards["discarded.full"])
    )
    assert values["soc2audit_log_shipper_action_failed_messages_total"] == discards["failed"]


def test_the_outage_recording_shows_the_backlog() -> None:
    stats = lsm.latest_objects(
        lsm.parse_impstats((SHIP / "outage" / "impstats.json").read_text()), ACTION
    )
    values = _values(lsm.render(lsm.samples(stats, 0, "/a", 1.5)))
    assert values["soc2audit_log_shipper_queue_size_messages"] == 50
    assert values["soc2audit_log_shipper_queue_enqueued_messages_total"] == 70
    assert values['soc2audit_log_shipper_read_lag_bytes{path="/a"}'] == 0
    assert values["soc2audit_log_shipper_stats_timestamp_seconds"] == 1.5


def test_read_lag_from_the_recorded_state_equals_log03(tmp_path: Path) -> None:
    """The molecule recording's imfile state (curr_offs 145118 for a 145118-byte log), put on a
    file of ours with 100 more bytes: a lag of 100, as LOG-03 computes it."""
    log = tmp_path / "audit.log"
    log.write_bytes(b"x" * (145118 + 100))
    work = tmp_path / "spool"
    work.mkdir()
    recorded = next((SHIP / "molecule").glob("imfile-state:*"))
    state = recorded.read_text().replace("\\/var\\/log\\/audit\\/audit.log", str(log))
    (work / f"imfile-state:{log.stat().st_ino}:fe04cd513a9aa7b2").write_text(state)
    (work / "imfile-state:1:other").write_text(state)  # another inode: ignored
    assert lsm.read_lag(str(log), str(work)) == 100
    states = fam._read_states(str(work), log.stat().st_ino)
    assert fam.assess_lag(log.stat().st_size, states, str(log), 10**9)["lag"] == 100
    # No state for the inode yet: the whole file is behind; no file: no series.
    for name in os.listdir(work):
        os.unlink(work / name)
    assert lsm.read_lag(str(log), str(work)) == 145218
    assert lsm.read_lag(str(tmp_path / "absent"), str(work)) is None


def test_main_writes_atomically_and_promtool_accepts_it(tmp_path: Path) -> None:
    out = tmp_path / "textfile" / "soc2audit_log_shipper.prom"
    log = tmp_path / "audit.log"
    log.write_text("line\n")
    assert (
        lsm.main(
            [
                "--stats-file",
                str(SHIP / "outage" / "impstats.json"),
                "--action",
                ACTION,
                "--audit-log",
                str(log),
                "--work-dir",
                str(tmp_path),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert os.listdir(out.parent) == [out.name]  # no temporary file left behind
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    text = out.read_text()
    got = subprocess.run(
        [_promtool(), "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert got.returncode == 0, got.stdout + got.stderr
    assert f'soc2audit_log_shipper_read_lag_bytes{{path="{log}"}} 5' in text
    # Every family has HELP and TYPE, and the cumulative ones are counters ending in _total.
    for name, (kind, _) in lsm.METRICS.items():
        if name in text:
            assert f"# TYPE {name} {kind}" in text
        assert (kind == "counter") == name.endswith("_total")


def test_missing_impstats_gives_only_the_lag(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_text("")
    text = lsm.collect(str(tmp_path / "absent.json"), ACTION, str(log), str(tmp_path))
    assert _values(text) == {f'soc2audit_log_shipper_read_lag_bytes{{path="{log}"}}': 0}


def test_names_never_collide_with_the_drift_run_textfile() -> None:
    """soc2audit.prom and soc2audit_log_shipper.prom are read by the same collector: no family
    may be in both (node_exporter rejects a series seen twice)."""
    assert not set(lsm.METRICS) & set(all_metrics())
    assert all(name.startswith("soc2audit_log_shipper_") for name in lsm.METRICS)
