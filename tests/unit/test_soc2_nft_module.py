# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""library/soc2_nft.py and library/soc2_nft_apply.py, run through AnsibleModule in-process.

nft, unshare, systemctl and systemd-run are replaced by small stub programs in tmp_path (first on
PATH) that print the RECORDED real outputs of tests/unit/fixtures/nft. The unshare stub stands for
a scratch namespace: it prints the fixture named by a `# fixture: <name>` line of the file it is
asked to load (the desired ruleset or the boot file), or fails like nft with a
`# fixture-error: <message>` line. Every stub logs its arguments, so the tests also check which
commands one module run executes and that the verifier never loads anything on the host.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import soc2_nft
import soc2_nft_apply
import soc2_verify
from module_runner import invoke

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nft"
CHECK_IDS = ["NET-01", "NET-02", "NET-03", "NET-04", "NET-05"]

STUB = """\
#!{python}
import json, os, re, sys
name = os.path.basename(sys.argv[0])
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps([name, *args]) + "\\n")
config = json.load(open({config!r}))
if name == "unshare":
    path = args[7]
    text = open(path).read()
    err = re.search(r"^# fixture-error: (.*)$", text, re.M)
    if err:
        sys.stderr.write(err.group(1) + "\\n")
        sys.exit(1)
    found = re.search(r"^# fixture: (\\S+)$", text, re.M)
    sys.stdout.write(open(os.path.join({fixtures!r}, found.group(1) + ".json")).read())
    sys.exit(0)
key = " ".join(args)
for pattern, (out, err, rc, *then) in config.get(name, {{}}).items():
    if re.fullmatch(pattern, key):
        if then:  # the command changes what later commands print (nft -f changes the listing)
            for prog, updates in then[0].items():
                config.setdefault(prog, {{}}).update(updates)
            json.dump(config, open({config!r}, "w"))
        if out is not None:
            sys.stdout.write(open(out).read() if out.startswith("/") else out)
        if err:
            sys.stderr.write(err)
        sys.exit(rc)
sys.stderr.write("stub %s: unexpected arguments: %s\\n" % (name, key))
sys.exit(99)
"""


class Host:
    """Stub programs plus their configuration: pattern (regex over the joined arguments) ->
    (stdout: text or an absolute fixture path, stderr, exit code)."""

    def __init__(self, base: Path) -> None:
        self.bin = base / "bin"
        self.bin.mkdir()
        self.log = base / "calls.log"
        self.log.touch()
        self.config_path = base / "stubs.json"
        self.config: dict[str, dict[str, list[Any]]] = {}
        for name in ("nft", "unshare", "systemctl", "systemd-run"):
            path = self.bin / name
            path.write_text(
                STUB.format(
                    python=sys.executable,
                    log=str(self.log),
                    config=str(self.config_path),
                    fixtures=str(FIXTURES),
                )
            )
            path.chmod(0o755)
        self.save()

    def save(self) -> None:
        self.config_path.write_text(json.dumps(self.config))

    def on(
        self,
        program: str,
        pattern: str,
        out: str | None = "",
        err: str = "",
        rc: int = 0,
        then: dict[str, dict[str, list[Any]]] | None = None,
    ) -> None:
        self.config.setdefault(program, {})[pattern] = [out, err, rc] + ([then] if then else [])
        self.save()

    def live(self, fixture: str) -> None:
        self.on("nft", r"-j list ruleset", str(FIXTURES / f"{fixture}.json"))

    def enabled(self, word: str = "enabled", rc: int = 0) -> None:
        self.on("systemctl", r"is-enabled nftables", f"{word}\n", rc=rc)

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Host:
    h = Host(tmp_path)
    monkeypatch.setenv("PATH", f"{h.bin}:/usr/bin:/bin")
    return h


@pytest.fixture
def files(tmp_path: Path) -> Callable[..., dict[str, str]]:
    """Boot and persisted files whose fixture markers say what a scratch load of them gives."""

    def make(
        boot: str | None = "bookworm_boot", persist: str | None = "bookworm_desired"
    ) -> dict[str, str]:
        out = {}
        for key, fixture in (("boot_config", boot), ("persist_path", persist)):
            path = tmp_path / f"{key}.nft"
            if fixture is not None:
                marker = fixture if fixture.startswith("# ") else f"# fixture: {fixture}"
                path.write_text(f"{marker}\n")
            out[key] = str(path)
        return out

    return make


def args(files: dict[str, str], ruleset: str = "bookworm_desired", **extra: Any) -> dict[str, Any]:
    marker = ruleset if ruleset.startswith("# ") else f"# fixture: {ruleset}"
    return {"ruleset": f"{marker}\ntable inet soc2_filter {{\n}}\n", **files, **extra}


Run = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def go(
        main: Callable[[], None], params: dict[str, Any], **flags: bool
    ) -> tuple[int, dict[str, Any]]:
        payload = dict(params)
        if flags.get("check_mode"):
            payload["_ansible_check_mode"] = True
        if flags.get("diff"):
            payload["_ansible_diff"] = True
        return invoke(main, payload, capsys)

    return go


def results(out: dict[str, Any]) -> dict[str, str]:
    return {c["check_id"]: c["result"] for c in out["checks"]}


def by_id(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["check_id"]: c for c in out["checks"]}


# ---------------------------------------------------------------- soc2_nft


def test_converged_host_passes_everything_in_one_listing(host: Host, files: Any, run: Run) -> None:
    host.live("bookworm_converged")
    host.enabled()
    rc, out = run(soc2_nft.main, args(files()))
    assert rc == 0, out
    assert out["changed"] is False
    assert [c["check_id"] for c in out["checks"]] == CHECK_IDS
    assert results(out) == dict.fromkeys(CHECK_IDS, "pass")
    assert out["nft_version"] == "1.0.6"
    assert out["comparison"]["equal"] is True
    assert out["tables"] == ["inet soc2_filter"]
    assert out["dropped"]["packets"] >= 0
    assert "observations" not in out
    calls = host.calls()
    # The live ruleset is read exactly once; nothing is ever loaded outside a scratch namespace.
    assert calls.count(["nft", "-j", "list", "ruleset"]) == 1
    assert not [c for c in calls if c[0] == "nft" and "-f" in c]
    assert [c[0] for c in calls].count("unshare") == 2  # desired + boot file
    assert all(c[1:3] == ["--net", "--"] for c in calls if c[0] == "unshare")


@pytest.mark.parametrize(
    ("live", "failing"),
    [
        ("bookworm_extra_rule", {"NET-02"}),
        ("bookworm_missing_rule", {"NET-02"}),
        ("bookworm_policy_accept", {"NET-01"}),
        ("bookworm_set_member_removed", {"NET-03"}),
        ("bookworm_table_missing", {"NET-01", "NET-02", "NET-03", "NET-05"}),
        ("bookworm_foreign_tables", {"NET-05"}),
        ("bookworm_dormant", {"NET-01"}),
    ],
)
def test_each_drift_fails_the_right_check(
    host: Host, files: Any, run: Run, live: str, failing: set[str]
) -> None:
    host.live(live)
    host.enabled()
    rc, out = run(soc2_nft.main, args(files()))
    assert rc == 0
    assert {k for k, v in results(out).items() if v == "fail"} == failing, out["checks"]
    assert {k for k, v in results(out).items() if v != "fail"} == set(CHECK_IDS) - failing
    assert all(v in ("pass", "fail") for v in results(out).values())


def test_trixie_listing_against_trixie_desired(host: Host, files: Any, run: Run) -> None:
    host.live("trixie_policy_accept")
    host.enabled()
    rc, out = run(soc2_nft.main, args(files(), ruleset="trixie_desired"))
    assert rc == 0
    assert results(out) == {**dict.fromkeys(CHECK_IDS, "pass"), "NET-01": "fail"}
    assert out["nft_version"] == "1.1.3"


def test_diff_mode_shows_live_and_desired_tables(host: Host, files: Any, run: Run) -> None:
    host.live("bookworm_extra_rule")
    host.enabled()
    rc, out = run(soc2_nft.main, args(files()), diff=True)
    assert rc == 0
    before = out["diff"]["before"].splitlines()
    after = out["diff"]["after"].splitlines()
    assert "    tcp dport 9100 accept" in before
    assert "    tcp dport 9100 accept" not in after
    assert out["diff"]["before_header"] == "live table inet soc2_filter"


def test_service_disabled_fails_net04_only(host: Host, files: Any, run: Run) -> None:
    host.live("bookworm_converged")
    host.enabled("disabled", rc=1)
    _rc, out = run(soc2_nft.main, args(files()))
    net04 = by_id(out)["NET-04"]
    assert net04["result"] == "fail"
    assert "nftables is disabled at boot" in net04["message"]
    assert results(out)["NET-01"] == "pass"


def test_boot_file_missing_or_stale_fails_net04(host: Host, files: Any, run: Run) -> None:
    host.live("bookworm_converged")
    host.enabled()
    paths = files(boot=None, persist="bookworm_desired")
    _, out = run(soc2_nft.main, args(paths))
    net04 = by_id(out)["NET-04"]
    assert net04["result"] == "fail"
    assert "does not create table inet soc2_filter" in net04["message"]
    assert f"{paths['boot_config']} does not exist" in net04["observed"]["notes"]
    _rc, out = run(soc2_nft.main, args(files(boot="bookworm_missing_rule")))
    assert by_id(out)["NET-04"]["result"] == "fail"
    assert "other rules than desired" in by_id(out)["NET-04"]["message"]


def test_boot_file_that_cannot_load_falls_back_to_the_persisted_file_at_risk(
    host: Host, files: Any, run: Run
) -> None:
    host.live("bookworm_converged")
    host.enabled()
    paths = files(boot="# fixture-error: Error: Could not process rule: No such file or directory")
    _rc, out = run(soc2_nft.main, args(paths))
    net04 = by_id(out)["NET-04"]
    assert net04["result"] == "at_risk", net04
    assert net04["observed"]["boot_source"] == paths["persist_path"]
    assert "could not be loaded in a scratch namespace" in net04["observed"]["notes"][0]


def test_boot_file_flushing_the_ruleset_is_noted(host: Host, files: Any, run: Run) -> None:
    host.live("bookworm_converged")
    host.enabled()
    _rc, out = run(soc2_nft.main, args(files(boot="bookworm_scratch_flushes")))
    net04 = by_id(out)["NET-04"]
    assert net04["result"] == "fail"  # Debian's stock file: no table of ours at all
    assert any("flushes the whole ruleset" in n for n in net04["observed"]["notes"])


def test_unreadable_live_ruleset_is_error_everywhere(host: Host, files: Any, run: Run) -> None:
    host.on(
        "nft",
        r"-j list ruleset",
        "",
        "netlink: Error: cache initialization failed: Operation not permitted\n",
        1,
    )
    host.enabled()
    rc, out = run(soc2_nft.main, args(files()))
    assert rc == 0
    got = results(out)
    assert got["NET-01"] == got["NET-02"] == got["NET-03"] == got["NET-05"] == "error"
    assert "Operation not permitted" in by_id(out)["NET-01"]["message"]
    # The boot file does not need the live ruleset.
    assert got["NET-04"] == "pass"


def test_desired_ruleset_that_does_not_load_is_error_not_fail(
    host: Host, files: Any, run: Run
) -> None:
    host.live("bookworm_converged")
    host.enabled()
    _rc, out = run(
        soc2_nft.main,
        args(files(), ruleset="# fixture-error: unshare: unshare failed: Operation not permitted"),
    )
    got = results(out)
    assert got["NET-01"] == "pass"  # the input policy is still checked
    assert {got[c] for c in ("NET-02", "NET-03", "NET-04", "NET-05")} == {"error"}
    assert "Operation not permitted" in by_id(out)["NET-02"]["message"]


def test_desired_ruleset_touching_other_tables_is_refused(host: Host, files: Any, run: Run) -> None:
    host.live("bookworm_converged")
    host.enabled()
    _rc, out = run(soc2_nft.main, args(files(), ruleset="bookworm_scratch_flushes"))
    assert results(out)["NET-02"] == "error"
    assert "refused: it removes other tables" in by_id(out)["NET-02"]["message"]


def test_missing_nft_is_error(host: Host, files: Any, run: Run, tmp_path: Path) -> None:
    host.enabled()
    _rc, out = run(soc2_nft.main, args(files(), nft=str(tmp_path / "no-nft")))
    assert set(results(out).values()) == {"error"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"table": "bad name"}, "not an nft identifier"),
        ({"ruleset": "  "}, "ruleset must not be empty"),
        ({"boot_config": "relative.conf"}, "boot_config must be an absolute path"),
    ],
)
def test_invalid_parameters_fail(
    host: Host, files: Any, run: Run, extra: dict, message: str
) -> None:
    rc, out = run(soc2_nft.main, {**args(files()), **extra})
    assert rc == 1
    assert out["failed"] and message in out["msg"]
    assert host.calls() == []


def test_check_mode_is_the_same_read(host: Host, files: Any, run: Run) -> None:
    host.live("bookworm_converged")
    host.enabled()
    rc, out = run(soc2_nft.main, args(files()), check_mode=True)
    assert rc == 0 and results(out) == dict.fromkeys(CHECK_IDS, "pass")


def test_one_pass_verifier_gives_the_same_net_results(host: Host, files: Any, run: Run) -> None:
    host.live("bookworm_foreign_tables")
    host.enabled()
    params = args(files())
    rc, alone = run(soc2_nft.main, params)
    rc2, combined = run(soc2_verify.main, {"families": {"net": params}})
    assert rc == rc2 == 0
    assert combined["checks"] == alone["checks"]
    assert combined["errors"] == {}
    assert combined["families"]["net"]["comparison"] == alone["comparison"]
    metrics = {o["key"]: o for o in combined["observations"]}
    assert set(metrics) == {"nft_dropped_packets", "nft_dropped_bytes"}
    assert metrics["nft_dropped_packets"]["labels"] == {
        "table": "soc2_filter",
        "chain": "input",
    }
    assert isinstance(metrics["nft_dropped_packets"]["value"], int)


def test_one_pass_verifier_reports_bad_net_parameters_as_errors(host: Host, run: Run) -> None:
    rc, out = run(soc2_verify.main, {"families": {"net": {"table": "x"}}})
    assert rc == 0
    assert [c["check_id"] for c in out["checks"]] == CHECK_IDS
    assert {c["result"] for c in out["checks"]} == {"error"}
    assert "ruleset" in out["errors"]["net"]


# ---------------------------------------------------------------- soc2_nft_apply


def apply_args(tmp_path: Path, ruleset: str = "bookworm_desired", **extra: Any) -> dict[str, Any]:
    staged = tmp_path / "soc2_filter.nft"
    staged.write_text(f"# fixture: {ruleset}\n")
    return {"path": str(staged), "state_dir": str(tmp_path / "state"), **extra}


def test_apply_equal_changes_nothing(host: Host, run: Run, tmp_path: Path) -> None:
    host.live("bookworm_converged")
    host.on("systemctl", r"is-active soc2-nft-rollback\.timer", "inactive\n", rc=3)
    rc, out = run(soc2_nft_apply.main, apply_args(tmp_path, rollback_timeout=90))
    assert rc == 0, out
    assert out["changed"] is False and out["rollback_pending"] is False
    assert not [c for c in host.calls() if c[0] == "nft" and "-f" in c]
    assert not [c for c in host.calls() if c[0] == "systemd-run"]


def test_apply_check_mode_reports_without_loading(host: Host, run: Run, tmp_path: Path) -> None:
    host.live("bookworm_extra_rule")
    rc, out = run(soc2_nft_apply.main, apply_args(tmp_path), check_mode=True, diff=True)
    assert rc == 0 and out["changed"] is True
    assert out["comparison"]["rules"]["input"]["extra"] == ["tcp dport 9100 accept"]
    assert "tcp dport 9100 accept" in out["diff"]["before"]
    assert [c for c in host.calls() if c[0] == "nft"] == [["nft", "-j", "list", "ruleset"]]


def test_apply_check_mode_uses_the_content_about_to_be_staged(
    host: Host, run: Run, tmp_path: Path
) -> None:
    host.live("bookworm_extra_rule")
    # The staged file is stale (it would even be refused); check mode must use `content`.
    params = apply_args(
        tmp_path, ruleset="bookworm_scratch_flushes", content="# fixture: bookworm_desired\n"
    )
    rc, out = run(soc2_nft_apply.main, params, check_mode=True)
    assert rc == 0, out
    assert out["changed"] is True
    assert out["comparison"]["rules"]["input"]["extra"] == ["tcp dport 9100 accept"]


def rollback_stubs(host: Host) -> None:
    host.on("nft", r"-s list table inet soc2_filter", "table inet soc2_filter {\n}\n")
    host.on("nft", r"-c -f .*", "")
    host.on("systemctl", r"is-active soc2-nft-rollback\.timer", "inactive\n", rc=3)
    host.on("systemctl", r"(stop|reset-failed) .*", "")
    host.on("systemd-run", r".*", "Running timer as unit: soc2-nft-rollback.timer\n")


def test_apply_loads_with_a_rollback_timer(host: Host, run: Run, tmp_path: Path) -> None:
    host.live("bookworm_extra_rule")
    rollback_stubs(host)
    converged = str(FIXTURES / "bookworm_converged.json")
    # `nft -f <staged>` makes the live listing the converged one, as the kernel would.
    host.on(
        "nft", r"-f .*/soc2_filter\.nft", "", then={"nft": {r"-j list ruleset": [converged, "", 0]}}
    )
    params = apply_args(tmp_path, rollback_timeout=60)
    rc, out = run(soc2_nft_apply.main, params, diff=True)
    assert rc == 0, out
    assert out["changed"] is True
    assert out["comparison"]["rules"]["input"]["extra"] == ["tcp dport 9100 accept"]
    rollback = out["rollback"]
    assert rollback["scheduled"] is True and rollback["previous_table"] is True
    # The rollback file replaces only our table with what was live, private to root.
    text = Path(rollback["file"]).read_text()
    replace = "table inet soc2_filter {\n}\ndelete table inet soc2_filter\n"
    assert text == replace + "table inet soc2_filter {\n}\n"
    assert Path(rollback["file"]).stat().st_mode & 0o777 == 0o600
    calls = host.calls()
    order = [c[:2] for c in calls if c[0] in ("nft", "systemd-run") and c[1] != "-j"]
    assert order == [
        ["nft", "-s"],  # save the live table
        ["nft", "-c"],  # check the rollback file
        ["systemd-run", "--unit=soc2-nft-rollback"],  # schedule it
        ["nft", "-f"],  # then load
    ]
    timer = next(c for c in calls if c[0] == "systemd-run")
    assert "--on-active=60s" in timer and "--collect" in timer
    assert timer[-2:] == ["-f", rollback["file"]]


def test_apply_without_a_previous_table_rolls_back_to_none(
    host: Host, run: Run, tmp_path: Path
) -> None:
    host.live("bookworm_table_missing")
    rollback_stubs(host)
    converged = str(FIXTURES / "bookworm_converged.json")
    host.on(
        "nft", r"-f .*/soc2_filter\.nft", "", then={"nft": {r"-j list ruleset": [converged, "", 0]}}
    )
    rc, out = run(soc2_nft_apply.main, apply_args(tmp_path))
    assert rc == 0 and out["changed"] is True
    assert out["rollback"] == {**out["rollback"], "scheduled": False, "previous_table": False}
    assert Path(out["rollback"]["file"]).read_text() == (
        "table inet soc2_filter {\n}\ndelete table inet soc2_filter\n"
    )
    assert not [c for c in host.calls() if c[0] in ("systemd-run", "systemctl")]


def test_apply_failed_load_cancels_the_timer_and_changes_nothing(
    host: Host, run: Run, tmp_path: Path
) -> None:
    host.live("bookworm_extra_rule")
    rollback_stubs(host)
    host.on("nft", r"-f .*", "", "Error: Could not process rule: No such file or directory\n", 1)
    rc, out = run(soc2_nft_apply.main, apply_args(tmp_path, rollback_timeout=60))
    assert rc == 1 and out["changed"] is False
    assert "loading failed, the previous ruleset is unchanged" in out["msg"]
    stops = [c for c in host.calls() if c[:2] == ["systemctl", "stop"]]
    assert len(stops) == 2  # once before scheduling, once to cancel


def test_apply_refuses_a_file_that_touches_other_tables(
    host: Host, run: Run, tmp_path: Path
) -> None:
    host.live("bookworm_converged")
    rc, out = run(soc2_nft_apply.main, apply_args(tmp_path, ruleset="bookworm_scratch_flushes"))
    assert rc == 1 and "refused: it removes other tables" in out["msg"]
    assert [c for c in host.calls() if c[0] == "nft"] == []


def test_confirm_cancels_a_pending_rollback(host: Host, run: Run, tmp_path: Path) -> None:
    host.on("systemctl", r"is-active soc2-nft-rollback\.timer", "active\n")
    host.on("systemctl", r"(stop|reset-failed) .*", "")
    rc, out = run(soc2_nft_apply.main, {**apply_args(tmp_path), "confirm": True})
    assert rc == 0 and out == {**out, "changed": True, "rollback_pending": True}
    assert ["systemctl", "stop", "soc2-nft-rollback.timer"] in host.calls()
    host.on("systemctl", r"is-active soc2-nft-rollback\.timer", "inactive\n", rc=3)
    rc, out = run(soc2_nft_apply.main, {**apply_args(tmp_path), "confirm": True})
    assert out["changed"] is False


@pytest.mark.parametrize("module", [soc2_nft, soc2_nft_apply], ids=["soc2_nft", "soc2_nft_apply"])
def test_documentation_parses_and_matches_the_argument_spec(module: Any) -> None:
    import yaml

    doc = yaml.safe_load(module.DOCUMENTATION)
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    assert set(doc["options"]) == set(module.ARGUMENT_SPEC)
    for name, spec in module.ARGUMENT_SPEC.items():
        assert doc["options"][name]["type"] == spec["type"], name
        assert doc["options"][name].get("default") == spec.get("default"), name
        assert bool(doc["options"][name].get("required")) == bool(spec.get("required")), name
