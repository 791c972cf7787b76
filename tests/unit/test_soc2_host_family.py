# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HOST family's frame (plugins/module_utils/soc2_host_family.py): three parts, each with
its own option, a part's ids not_applicable where its ``enabled`` is false, the same results
through soc2_host and soc2_verify, and every part keeping the part interface."""

from __future__ import annotations

from typing import Any

import pytest
import soc2_host
import soc2_verify
from ansible.module_utils import soc2_host_family as fam
from module_runner import invoke

PART_INTERFACE = ("CHECK_IDS", "ARGUMENT_SPEC", "validate", "verify")


def test_check_ids_literal_is_the_parts_ids_in_order() -> None:
    ids: list[str] = []
    for _name, part, _role in fam.PARTS:
        ids += list(part.CHECK_IDS)
    assert tuple(ids) == fam.CHECK_IDS
    assert len(set(ids)) == len(ids) == 14


@pytest.mark.parametrize("name", [name for name, _part, _role in fam.PARTS])
def test_each_part_keeps_the_interface(name: str) -> None:
    part = dict((n, p) for n, p, _r in fam.PARTS)[name]
    for attr in PART_INTERFACE:
        assert hasattr(part, attr), f"{name} lacks {attr}"
    assert isinstance(part.CHECK_IDS, tuple)
    assert part.ARGUMENT_SPEC["enabled"] == {"type": "bool", "default": False}
    assert fam.ARGUMENT_SPEC[name]["options"] is part.ARGUMENT_SPEC
    assert part.__doc__ and "soc2_host_family.py" in part.__doc__  # where the interface is


def test_every_part_off_is_not_applicable_with_the_role(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, out = invoke(soc2_host.main, {}, capsys)
    assert rc == 0, out
    got = {c["check_id"]: (c["result"], c["message"]) for c in out["checks"]}
    assert list(got) == list(fam.CHECK_IDS)
    assert got["HOST-01"] == ("not_applicable", "the os_hardening role is not applied here")
    assert got["HOST-10"] == ("not_applicable", "the patching role is not applied here")
    assert got["HOST-14"] == ("not_applicable", "the file_integrity role is not applied here")
    assert out["os"] == out["patching"] == out["fim"] == {}
    assert "observations" not in out


def test_soc2_verify_runs_the_host_family_with_the_same_results(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args: dict[str, Any] = {"os": {"enabled": False}}
    _rc, alone = invoke(soc2_host.main, args, capsys)
    rc, combined = invoke(soc2_verify.main, {"families": {"host": args}}, capsys)
    assert rc == 0, combined
    assert "host" in soc2_verify.FAMILIES
    assert combined["checks"] == alone["checks"]


def test_invalid_parameters_name_the_part_and_fail_before_reading(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = {"os": {"enabled": True, "sysctl": {"net.ipv4.conf.all.rp_filter": "loose"}}}
    rc, out = invoke(soc2_host.main, bad, capsys)
    assert rc == 1 and out["failed"]
    assert "os: sysctl net.ipv4.conf.all.rp_filter: value 'loose' is not an integer" in out["msg"]
    rc, verified = invoke(soc2_verify.main, {"families": {"host": bad}}, capsys)
    assert {c["result"] for c in verified["checks"]} == {"error"}
    assert "os: sysctl" in verified["errors"]["host"]
    # A part that is off is not validated: its parameters do not matter there.
    rc, off = invoke(soc2_host.main, {"os": {"sysctl": {"Not A Name": 1}}}, capsys)
    assert rc == 0, off


def test_a_part_that_leaves_out_an_id_gets_an_error_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from ansible.module_utils import soc2_host_os
    from ansible.module_utils.soc2_results import make_check

    def partial(module: Any, p: Any) -> dict[str, Any]:
        return {"checks": [make_check("HOST-01", "pass", None, None, "ok")], "facts": {"x": 1}}

    monkeypatch.setattr(soc2_host_os, "verify", partial)
    out = fam.verify(None, {"os": {"enabled": True}, "patching": {}, "fim": {}})
    results = {c["check_id"]: c["result"] for c in out["checks"]}
    assert results["HOST-01"] == "pass"
    assert results["HOST-02"] == "error" and results["HOST-09"] == "error"
    assert out["os"] == {"x": 1} and out["observations"] == []
