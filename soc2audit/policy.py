# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fleet-level policies in Rego (policies/*.rego, docs/policies.md): load, check, evaluate.

A policy is one Rego v1 rule with a METADATA block (OPA's annotation syntax) that names its check
id, title and SOC 2 mapping::

    # METADATA
    # title: No two hosts share a certificate key
    # custom:
    #   id: POL-02
    #   severity: critical
    #   tsc: {primary: [CC6.1], secondary: [CC6.7]}
    pol_02 := {"items": ..., "violations": ...}

Its value is an object: ``items``, the names it judged (hosts, waivers, runs), and
``violations``, a set of ``{"item", "reason"}`` objects. Any item with a violation fails; the
result is ``fail`` when there is one, ``pass`` when there are items and none, ``not_applicable``
when there is nothing in scope, and ``error`` when the rule is undefined, has another shape or its
evaluation failed (that policy only; never ``pass``).

Two engines behind one interface (``Engine.evaluate``): :class:`EmbeddedEngine` (regopy, a Rego
v1 implementation in process, the default) and :class:`OpaEngine` (a real OPA server over HTTPS
with a client certificate: the modules are pushed through the REST API, the decision is asked
for over ``POST /v1/data/soc2``). Both query the whole ``data.soc2`` tree once and, when that
fails, each policy alone, so an evaluation error marks only the policies it touches.

``python -m soc2audit.policy check`` validates the policies against the catalog (file and line
of each problem); ``eval`` evaluates them on an input document.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import re
import ssl
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import yaml

from soc2audit.catalog import REPO, Catalog, CatalogError, load_catalog

POLICY_DIR = REPO / "policies"
#: The pseudo-host whose rows carry the fleet-level policy results.
FLEET_HOST = "fleet"
#: Every policy lives under this package prefix (``package soc2.<area>``).
ROOT_PACKAGE = "soc2"
#: Shared helpers (policies/lib.rego): outside data.soc2, so the decision does not carry them.
LIB_PACKAGE = "soc2lib"
POLICY_ID_RE = re.compile(r"^POL-[0-9]{2}$")
RULE_HEAD_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?::=|=|contains\b|if\b|\[|\{)")
PACKAGE_RE = re.compile(r"^package\s+([A-Za-z_][A-Za-z0-9_.]*)\s*$")
#: Items a failing policy names in its message before "and N more".
MESSAGE_ITEMS = 10

#: Thresholds the policies read from ``input.params`` (drift playbook: soc2audit_policy_params).
DEFAULT_PARAMS: dict[str, Any] = {
    "clock_error_bound_max_seconds": 0.05,
    "waiver_max_days": 90,
    "drift_max_days": 7,
    "run_gap_max_seconds": 7200,
    "history_runs": 96,
    "log_silence_max_seconds": 3600,
}


class PolicyLoadError(ValueError):
    """The policies cannot be used; the message names each file and line."""


@dataclass(frozen=True)
class Policy:
    """One policy rule and its METADATA."""

    check_id: str
    title: str
    package: str
    rule: str
    path: str  # relative to the repository (or the policy directory's parent)
    line: int
    severity: str = ""
    tsc_primary: tuple[str, ...] = ()
    tsc_secondary: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"data.{self.package}.{self.rule}"

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class PolicySet:
    """Every policy of a directory, the modules' text by name and their combined SHA-256."""

    policies: tuple[Policy, ...]
    modules: dict[str, str]
    sha256: str

    @property
    def by_id(self) -> dict[str, Policy]:
        return {p.check_id: p for p in self.policies}


def _metadata_blocks(text: str) -> list[tuple[int, str, int]]:
    """(line of '# METADATA', YAML text, line of the statement that follows) per block."""
    lines = text.splitlines()
    out = []
    index = 0
    while index < len(lines):
        if lines[index].strip() == "# METADATA":
            start = index + 1
            body = []
            index += 1
            while index < len(lines) and lines[index].lstrip().startswith("#"):
                stripped = lines[index].lstrip()[1:]
                body.append(stripped[1:] if stripped.startswith(" ") else stripped)
                index += 1
            while index < len(lines) and not lines[index].strip():
                index += 1
            out.append((start, "\n".join(body), index + 1))
            continue
        index += 1
    return out


def parse_module(rel: str, text: str) -> tuple[list[Policy], list[str]]:
    """The policies of one module and the problems found (``file:line: what``)."""
    problems: list[str] = []
    lines = text.splitlines()
    package = ""
    for line in lines:
        match = PACKAGE_RE.match(line.strip())
        if match:
            package = match.group(1)
            break
    if not package:
        return [], [f"{rel}:1: no package declaration"]
    if package not in (ROOT_PACKAGE, LIB_PACKAGE) and not package.startswith(ROOT_PACKAGE + "."):
        problems.append(f"{rel}:1: package {package} is outside {ROOT_PACKAGE}.*")
    policies: list[Policy] = []
    annotated: set[int] = set()
    for start, body, head_line in _metadata_blocks(text):
        where = f"{rel}:{start}"
        try:
            meta = yaml.safe_load(body) or {}
        except yaml.YAMLError as exc:
            problems.append(f"{where}: METADATA is not valid YAML: {exc}")
            continue
        if not isinstance(meta, dict):
            problems.append(f"{where}: METADATA is not a mapping")
            continue
        if meta.get("scope") in ("package", "subpackages", "document"):
            continue
        head = lines[head_line - 1] if head_line - 1 < len(lines) else ""
        match = RULE_HEAD_RE.match(head)
        if not match:
            problems.append(f"{where}: METADATA is not followed by a rule")
            continue
        annotated.add(head_line)
        custom = meta.get("custom") if isinstance(meta.get("custom"), dict) else {}
        check_id = str(custom.get("id") or "")
        title = " ".join(str(meta.get("title") or "").split())
        if not check_id:
            problems.append(f"{rel}:{head_line}: rule {match.group(1)} has no check id (custom.id)")
            continue
        if not POLICY_ID_RE.match(check_id):
            problems.append(f"{rel}:{head_line}: check id {check_id!r} is not POL-NN")
            continue
        if not title:
            problems.append(f"{rel}:{head_line}: {check_id} has no title")
        tsc = custom.get("tsc") if isinstance(custom.get("tsc"), dict) else {}
        primary = tuple(str(c) for c in tsc.get("primary") or ())
        if not primary:
            problems.append(f"{rel}:{head_line}: {check_id} has no custom.tsc.primary")
        policies.append(
            Policy(
                check_id=check_id,
                title=title,
                package=package,
                rule=match.group(1),
                path=rel,
                line=head_line,
                severity=str(custom.get("severity") or ""),
                tsc_primary=primary,
                tsc_secondary=tuple(str(c) for c in tsc.get("secondary") or ()),
            )
        )
    # A rule named pol_* is a policy: it must carry METADATA with its id.
    for number, line in enumerate(lines, start=1):
        match = RULE_HEAD_RE.match(line)
        if match and match.group(1).startswith("pol_") and number not in annotated:
            problems.append(f"{rel}:{number}: rule {match.group(1)} has no METADATA check id")
    return policies, problems


def load_policies(directory: Path | str = POLICY_DIR) -> tuple[PolicySet, list[str]]:
    """Every ``*.rego`` under ``directory`` except ``*_test.rego``, and the problems found."""
    root = Path(directory)
    base = root.parent
    modules: dict[str, str] = {}
    policies: list[Policy] = []
    problems: list[str] = []
    if not root.is_dir():
        return PolicySet((), {}, ""), [f"{root}: no policy directory"]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.rego")):
        if path.name.endswith("_test.rego"):
            continue
        rel = path.relative_to(base).as_posix()
        text = path.read_text(encoding="utf-8")
        modules[rel] = text
        digest.update(rel.encode() + b"\0" + text.encode() + b"\0")
        found, issues = parse_module(rel, text)
        policies += found
        problems += issues
    seen: dict[str, Policy] = {}
    for policy in policies:
        if policy.check_id in seen:
            problems.append(
                f"{policy.where}: {policy.check_id} already used at {seen[policy.check_id].where}"
            )
        seen.setdefault(policy.check_id, policy)
    ordered = tuple(sorted(seen.values(), key=lambda p: p.check_id))
    return PolicySet(ordered, modules, digest.hexdigest()), problems


def catalog_problems(policies: PolicySet, catalog: Catalog) -> list[str]:
    """Each policy needs a POL catalog entry with the same title and primary criteria."""
    problems = []
    for policy in policies.policies:
        check = catalog.get(policy.check_id)
        if check is None:
            problems.append(
                f"{policy.where}: {policy.check_id} is not in controls/catalog.yml (add it)"
            )
            continue
        if check.title != policy.title:
            problems.append(
                f"{policy.where}: {policy.check_id} title differs from the catalog's "
                f"({policy.title!r} vs {check.title!r})"
            )
        if tuple(check.tsc_primary) != policy.tsc_primary:
            problems.append(
                f"{policy.where}: {policy.check_id} tsc.primary {list(policy.tsc_primary)} "
                f"differs from the catalog's {list(check.tsc_primary)}"
            )
        if check.source != policy.path:
            problems.append(
                f"{policy.where}: {policy.check_id} catalog source is {check.source!r}, "
                f"expected {policy.path!r}"
            )
    return problems


# --------------------------------------------------------------------------- decisions


@dataclass
class Decision:
    """What an engine said about one policy: its value, or why there is none."""

    value: Any = None
    error: str | None = None


@dataclass
class Evaluation:
    """One evaluation of a policy set: decisions by check id and how it went."""

    engine: str
    decisions: dict[str, Decision]
    input_sha256: str
    policies_sha256: str
    seconds: float
    decision_id: str | None = None
    notes: list[str] = field(default_factory=list)


def failed_evaluation(
    engine: str, policies: PolicySet, document: Mapping[str, Any], why: str
) -> Evaluation:
    """The evaluation of an engine that could not run at all: every policy is ``error``."""
    return Evaluation(
        engine=engine,
        decisions={p.check_id: Decision(error=why) for p in policies.policies},
        input_sha256=hashlib.sha256(canonical_json(document)).hexdigest(),
        policies_sha256=policies.sha256,
        seconds=0.0,
    )


def canonical_json(document: Any) -> bytes:
    """The bytes an input is hashed and sent as: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str).encode()


class Engine(Protocol):
    """A Rego engine: evaluate every policy of ``policies`` on ``document``."""

    name: str

    def evaluate(self, policies: PolicySet, document: Mapping[str, Any]) -> Evaluation: ...


def _split(value: Any, policies: PolicySet) -> dict[str, Decision]:
    """Decisions from the value of ``data.soc2``: each policy's rule, or undefined."""
    out: dict[str, Decision] = {}
    for policy in policies.policies:
        node = value
        for part in [*policy.package.split(".")[1:], policy.rule]:
            node = node.get(part) if isinstance(node, Mapping) else None
        out[policy.check_id] = (
            Decision(value=node) if node is not None else Decision(error="policy is undefined")
        )
    return out


class _Engine:
    """The query strategy both engines share: the whole tree once, else one policy at a time."""

    name = "engine"

    def _prepare(self, policies: PolicySet, raw_input: bytes) -> None:
        raise NotImplementedError

    def _query(self, path: str) -> Decision:
        raise NotImplementedError

    def evaluate(self, policies: PolicySet, document: Mapping[str, Any]) -> Evaluation:
        raw = canonical_json(document)
        started = time.monotonic()
        self._prepare(policies, raw)
        whole = self._query(ROOT_PACKAGE)
        notes = []
        if whole.error is None:
            decisions = _split(whole.value, policies)
        else:
            notes.append(f"data.{ROOT_PACKAGE} failed ({whole.error}); each policy alone")
            decisions = {p.check_id: self._query(p.ref[5:]) for p in policies.policies}
            for decision in decisions.values():
                if decision.error is None and decision.value is None:
                    decision.error = "policy is undefined"
        return Evaluation(
            engine=self.name,
            decisions=decisions,
            input_sha256=hashlib.sha256(raw).hexdigest(),
            policies_sha256=policies.sha256,
            seconds=time.monotonic() - started,
            decision_id=getattr(self, "last_decision_id", None),
            notes=notes,
        )


class EmbeddedEngine(_Engine):
    """regopy (rego-cpp) in this process: no daemon."""

    name = "embedded"

    def __init__(self) -> None:
        self._interpreter: Any = None
        self._loaded = ""

    def _prepare(self, policies: PolicySet, raw_input: bytes) -> None:
        from regopy import Interpreter  # imported here: lint and unit tests without it still run

        if self._interpreter is None or self._loaded != policies.sha256:
            interpreter = Interpreter()
            for name, text in policies.modules.items():
                interpreter.add_module(name, text)
            self._interpreter, self._loaded = interpreter, policies.sha256
        self._interpreter.set_input_term(raw_input.decode())

    def _query(self, path: str) -> Decision:
        from regopy import RegoError

        try:
            output = self._interpreter.query(f"data.{path}")
        except RegoError as exc:
            return Decision(error=f"compile error: {' '.join(str(exc).split())[:500]}")
        except ValueError as exc:
            # regopy writes strings without escaping their quotes: keep them out of messages.
            return Decision(error=f"the embedded engine's output is not JSON: {exc}")
        if not output.ok():
            return Decision(error="evaluation error in the embedded engine (regopy)")
        text = str(output)
        if text == "undefined":
            return Decision(value=None)
        try:
            return Decision(value=json.loads(text)["expressions"][0])
        except (ValueError, KeyError, IndexError) as exc:
            return Decision(error=f"unreadable engine output: {exc}")


@dataclass(frozen=True)
class OpaSettings:
    """Where the OPA server is and the client certificate the control node presents."""

    url: str
    ca_file: str
    cert_file: str
    key_file: str
    timeout: float = 30.0


class OpaEngine(_Engine):
    """A real OPA server: modules pushed over the REST API, decisions over mTLS."""

    name = "opa"
    #: Policy ids on the server are <prefix><module path>; stale ones under it are deleted.
    PREFIX = "soc2audit/"

    def __init__(self, settings: OpaSettings) -> None:
        self.settings = settings
        parts = urlsplit(settings.url)
        if parts.scheme != "https" or not parts.hostname:
            raise PolicyLoadError(f"soc2audit_opa_url must be an https:// URL, got {settings.url}")
        self._host, self._port = parts.hostname, parts.port or 443
        self._base = parts.path.rstrip("/")
        context = ssl.create_default_context(cafile=settings.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(settings.cert_file, settings.key_file)
        self._context = context
        self._conn: http.client.HTTPSConnection | None = None
        self._input = b""
        self.last_decision_id: str | None = None

    def _request(self, method: str, path: str, body: bytes | None = None, ctype: str = "") -> Any:
        headers = {"Content-Type": ctype} if ctype else {}
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, context=self._context, timeout=self.settings.timeout
                )
            try:
                self._conn.request(method, self._base + path, body=body, headers=headers)
                response = self._conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
                continue
            data = json.loads(payload) if payload.strip() else {}
            if response.status >= 400:
                message = data.get("message") if isinstance(data, dict) else payload[:300]
                detail = ""
                if isinstance(data, dict) and data.get("errors"):
                    detail = "; ".join(
                        f"{e.get('location', {}).get('file', '')}:"
                        f"{e.get('location', {}).get('row', '')}: {e.get('message')}"
                        for e in data["errors"][:5]
                    )
                raise OpaError(f"{method} {path}: HTTP {response.status}: {message} {detail}")
            return data
        return {}

    def _prepare(self, policies: PolicySet, raw_input: bytes) -> None:
        self.push(policies)
        self._input = b'{"input":' + raw_input + b"}"

    def push(self, policies: PolicySet) -> None:
        """Make the server hold exactly these modules under PREFIX (PUT changed, DELETE stale)."""
        listed = self._request("GET", "/v1/policies").get("result") or []
        have = {p.get("id"): p.get("raw") for p in listed if isinstance(p, dict)}
        want = {self.PREFIX + name: text for name, text in policies.modules.items()}
        for policy_id in sorted(set(have) - set(want)):
            if str(policy_id).startswith(self.PREFIX):
                self._request("DELETE", f"/v1/policies/{policy_id}")
        for policy_id, text in want.items():
            if have.get(policy_id) != text:
                self._request("PUT", f"/v1/policies/{policy_id}", text.encode(), "text/plain")

    def _query(self, path: str) -> Decision:
        try:
            data = self._request(
                "POST", "/v1/data/" + path.replace(".", "/"), self._input, "application/json"
            )
        except OpaError as exc:
            return Decision(error=str(exc))
        self.last_decision_id = data.get("decision_id") or self.last_decision_id
        return Decision(value=data.get("result"))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class OpaError(RuntimeError):
    """The OPA server refused a request or could not be reached."""


def compile_problems(policies: PolicySet) -> list[str]:
    """Compile every module in the embedded engine; parse and type errors with file and line."""
    engine = EmbeddedEngine()
    try:
        from regopy import RegoError
    except ImportError:
        return ["regopy is not installed: run `make setup`"]
    try:
        engine._prepare(policies, b"{}")
    except RegoError as exc:
        return [_located(f"compile error: {' '.join(str(exc).split())[:500]}", policies)]
    problems = []
    for policy in policies.policies:
        decision = engine._query(policy.ref[5:])
        if decision.error and decision.error.startswith("compile error"):
            problems.append(_located(decision.error, policies, policy))
            break
    return problems


def _located(error: str, policies: PolicySet, policy: Policy | None = None) -> str:
    """``file:line: does not compile: ...`` from regopy's error text (``-- file:line:col`` or
    ``(error N:file|offset|length``), else the policy's own place."""
    locs = re.findall(r"-- ([^\s:]+\.rego):(\d+):\d+", error)
    if locs:
        return f"{locs[0][0]}:{locs[0][1]}: does not compile: {error}"
    offsets = re.findall(r"\(error \d+:([^|\s]+\.rego)\|(\d+)\|", error)
    if offsets and offsets[0][0] in policies.modules:
        name, offset = offsets[0][0], int(offsets[0][1])
        line = policies.modules[name][:offset].count("\n") + 1
        return f"{name}:{line}: does not compile: {error}"
    where = policy.where if policy else next(iter(policies.modules), "policies")
    return f"{where}: does not compile: {error}"


# --------------------------------------------------------------------------- results


def judge(policy: Policy, decision: Decision) -> dict[str, Any]:
    """A check result (module result schema) from one policy's decision."""
    base = {"check_id": policy.check_id, "expected": {"violations": 0}}
    if decision.error is not None:
        return {**base, "result": "error", "observed": None, "message": decision.error}
    value = decision.value
    items = value.get("items") if isinstance(value, Mapping) else None
    violations = value.get("violations") if isinstance(value, Mapping) else None
    if not isinstance(items, list) or not isinstance(violations, list):
        return {
            **base,
            "result": "error",
            "observed": None,
            "message": "policy value is not {items: [...], violations: [...]}",
        }
    names = sorted({str(item) for item in items})
    reasons: dict[str, list[str]] = {}
    for violation in violations:
        if isinstance(violation, Mapping):
            item, reason = str(violation.get("item")), str(violation.get("reason") or "")
        else:
            item, reason = str(violation), ""
        reasons.setdefault(item, []).append(reason)
    failed = sorted(reasons)
    passed = [name for name in names if name not in reasons]
    observed = {
        "items": len(set(names) | set(failed)),
        "passed": len(passed),
        "failed": len(failed),
        "violations": [
            {"item": item, "reason": reason} for item in failed for reason in sorted(reasons[item])
        ],
    }
    if failed:
        shown = [f"{item}: {'; '.join(sorted(reasons[item]))}" for item in failed[:MESSAGE_ITEMS]]
        more = f" and {len(failed) - MESSAGE_ITEMS} more" if len(failed) > MESSAGE_ITEMS else ""
        message = f"{len(failed)} of {observed['items']} failing: {' | '.join(shown)}{more}"
        return {**base, "result": "fail", "observed": observed, "message": message}
    if not names:
        return {
            **base,
            "result": "not_applicable",
            "observed": observed,
            "message": "nothing in scope",
        }
    message = f"all {len(names)} pass"
    return {**base, "result": "pass", "observed": observed, "message": message}


def policy_checks(policies: PolicySet, evaluation: Evaluation) -> list[dict[str, Any]]:
    """One check per policy, each with the decision record auditors re-verify."""
    out = []
    for policy in policies.policies:
        decision = evaluation.decisions.get(policy.check_id) or Decision(error="not evaluated")
        check = judge(policy, decision)
        check["decision"] = {
            "engine": evaluation.engine,
            "query": policy.ref,
            "input_sha256": evaluation.input_sha256,
            "policies_sha256": evaluation.policies_sha256,
            "decision_id": evaluation.decision_id,
            "value": decision.value if decision.error is None else None,
            "error": decision.error,
        }
        out.append(check)
    return out


# --------------------------------------------------------------------------- input document


@dataclass(frozen=True)
class InputNeeds:
    """The parts of the input document that grow with the fleet and that a policy set names
    (docs/policies.md "What the input carries"): the families of each host's ``facts``
    (None: every family), the rows' ``observed``, the rows' ``message``, the per-check
    ``results`` of each run in the history. What no policy names is left out of the document: the
    verifiers' facts and every row's observed value are most of its size, and the embedded
    engine's time grows with it (docs/scale.md)."""

    facts: frozenset[str] | None = None
    row_observed: bool = True
    row_message: bool = True
    history_results: bool = True


EVERYTHING = InputNeeds()
# A policy reading facts, rows or history entries by a computed key, as a whole object or via
# walk() cannot be read from its text: the document is then complete.
_WHOLE_FACTS = re.compile(r"""\.facts\s*\[|\.facts\b(?!\s*\.)|"facts"|\bwalk\(""")
_FACT_FAMILY = re.compile(r"\.facts\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_ROW_OBSERVED = re.compile(r"""\.observed\b|"observed"|\bwalk\(""")
_ROW_MESSAGE = re.compile(r"""\.message\b|"message"|\bwalk\(""")
# `.results` other than `input.results` (the rows) and soc2lib.results (the rows by host and
# check, policies/lib.rego): a history entry's per-host results.
_HISTORY_RESULTS = re.compile(r"""(?<!input)(?<!soc2lib)\.results\b|"results"|\bwalk\(""")


def input_needs(policies: PolicySet) -> InputNeeds:
    """What the policies' text names of the fleet-sized parts of the input (comments too: a
    mention there only keeps a part in)."""
    text = "\n".join(policies.modules.values())
    facts = None if _WHOLE_FACTS.search(text) else frozenset(_FACT_FAMILY.findall(text))
    return InputNeeds(
        facts=facts,
        row_observed=bool(_ROW_OBSERVED.search(text)),
        row_message=bool(_ROW_MESSAGE.search(text)),
        history_results=bool(_HISTORY_RESULTS.search(text)),
    )


def _epoch(value: Any) -> float | None:
    from soc2audit.fsutil import parse_utc

    try:
        return parse_utc(str(value)).timestamp()
    except (ValueError, TypeError):
        return None


def run_summary(
    rows: Sequence[Mapping[str, Any]],
    observations: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, Any]:
    """What the history keeps of one run: results per host and check, unlabelled observations."""
    hosts: dict[str, dict[str, Any]] = {}
    first = rows[0] if rows else {}
    for row in rows:
        if row["host"] == FLEET_HOST:
            continue
        entry = hosts.setdefault(str(row["host"]), {"results": {}, "observations": {}})
        entry["results"][str(row["check_id"])] = str(row["result"])
    for host, items in observations.items():
        entry = hosts.setdefault(str(host), {"results": {}, "observations": {}})
        for item in items:
            if isinstance(item, Mapping) and not item.get("labels") and item.get("key"):
                entry["observations"][str(item["key"])] = item.get("value")
    return {
        "run_id": first.get("run_id"),
        "started": first.get("started"),
        "started_epoch": _epoch(first.get("started")),
        "hosts": hosts,
    }


def read_history(path: Path | str) -> list[dict[str, Any]]:
    """The run summaries of a history file (JSON lines), oldest first; skips damaged lines."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def build_input(
    *,
    run: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    hosts: Sequence[str],
    host_groups: Mapping[str, Sequence[str]],
    host_observations: Mapping[str, Sequence[Mapping[str, Any]]],
    host_facts: Mapping[str, Any],
    waivers: Sequence[Any],
    history: Sequence[Mapping[str, Any]],
    catalog: Catalog,
    params: Mapping[str, Any] | None = None,
    host_addresses: Mapping[str, Sequence[str]] | None = None,
    needs: InputNeeds = EVERYTHING,
) -> dict[str, Any]:
    """The document every policy sees (docs/policy-input.schema.json), less what ``needs``
    leaves out of its fleet-sized parts (trim_input)."""
    groups: dict[str, list[str]] = {}
    for host in hosts:
        for group in host_groups.get(host) or ():
            groups.setdefault(str(group), []).append(host)
    reported = {str(r["host"]) for r in rows if r["result"] != "not_run"}
    result_rows = [
        {
            k: row.get(k)
            for k in ("host", "check_id", "result", "observed", "message", "drift_since")
        }
        | {"drift_since_epoch": _epoch(row["drift_since"]) if row.get("drift_since") else None}
        for row in rows
    ]
    merged_params = {**DEFAULT_PARAMS, **(params or {})}
    document = {
        "run": {
            **{k: run.get(k) for k in ("run_id", "started", "suite_version", "policy_sha256")},
            "started_epoch": _epoch(run.get("started")),
        },
        "params": merged_params,
        "inventory": {"hosts": list(hosts), "groups": {g: sorted(v) for g, v in groups.items()}},
        "hosts": {
            host: {
                "groups": sorted(str(g) for g in host_groups.get(host) or ()),
                "reported": host in reported,
                "addresses": sorted({str(a) for a in (host_addresses or {}).get(host) or () if a}),
                "observations": list(host_observations.get(host) or []),
                "facts": host_facts.get(host) or {},
            }
            for host in hosts
        },
        "results": result_rows,
        "catalog": {
            c.id: {"family": c.family, "severity": c.severity, "applies_to": list(c.applies_to)}
            for c in catalog.checks
        },
        "waivers": [
            {
                "check": w.check,
                "hosts": list(w.hosts),
                "approver": w.approver,
                "ticket": w.ticket,
                "expires": w.expires.isoformat(),
                "expires_epoch": w.expires_at.timestamp(),
            }
            for w in waivers
        ],
        "history": list(history)[-int(merged_params["history_runs"]) :],
    }
    return trim_input(document, needs)


def trim_input(document: Mapping[str, Any], needs: InputNeeds) -> dict[str, Any]:
    """``document`` without the fleet-sized parts ``needs`` does not name (a shallow copy;
    the parts kept are shared with ``document``)."""
    out = dict(document)
    if needs.facts is not None:
        out["hosts"] = {
            host: {**seen, "facts": _facts(seen.get("facts") or {}, needs.facts)}
            for host, seen in (document.get("hosts") or {}).items()
        }
    dropped = {
        k
        for k, kept in (("observed", needs.row_observed), ("message", needs.row_message))
        if not kept
    }
    if dropped:
        out["results"] = [
            {k: v for k, v in row.items() if k not in dropped}
            for row in document.get("results") or []
        ]
    if not needs.history_results:
        out["history"] = [_without_results(entry) for entry in document.get("history") or []]
    return out


def _facts(facts: Mapping[str, Any], families: frozenset[str]) -> dict[str, Any]:
    return {k: v for k, v in facts.items() if k in families}


def _without_results(entry: Mapping[str, Any]) -> dict[str, Any]:
    hosts = entry.get("hosts")
    if not isinstance(hosts, Mapping):
        return dict(entry)
    return {
        **entry,
        "hosts": {
            host: {k: v for k, v in seen.items() if k != "results"}
            if isinstance(seen, Mapping)
            else seen
            for host, seen in hosts.items()
        },
    }


# --------------------------------------------------------------------------- CLI


def checked(
    directory: Path | str = POLICY_DIR, catalog_path: Path | str | None = None
) -> tuple[PolicySet, list[str]]:
    """The policies of ``directory`` and every problem with them: METADATA, ids, catalog
    entries, compilation."""
    policies, problems = load_policies(directory)
    try:
        catalog = load_catalog(catalog_path or REPO / "controls" / "catalog.yml")
    except CatalogError as exc:
        return policies, [*problems, str(exc)]
    problems += catalog_problems(policies, catalog)
    if not problems:
        problems += compile_problems(policies)
    return policies, problems


def check(directory: Path | str = POLICY_DIR, catalog_path: Path | str | None = None) -> list[str]:
    """Every problem with the policies (checked)."""
    return checked(directory, catalog_path)[1]


def find_opa() -> Path | None:
    """The OPA binary soc2audit.components built on this machine, without building one."""
    from soc2audit import components

    cached = sorted(components.cache_dir().glob(f"opa-{components.COMPONENTS['opa'].version}-go*"))
    return cached[-1] if cached else None


def opa_lint(directory: Path | str = POLICY_DIR, opa: Path | None = None) -> list[str]:
    """`opa fmt -l`, `opa check --strict` and `opa test` on the policies; problems found."""
    import subprocess

    binary = opa or find_opa()
    if binary is None:
        return []
    problems = []
    steps = (
        ("fmt", ["fmt", "--list", str(directory)]),
        ("check", ["check", "--strict", str(directory)]),
        ("test", ["test", str(directory)]),
    )
    for name, args in steps:
        proc = subprocess.run([str(binary), *args], capture_output=True, text=True, check=False)
        out = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0 or (name == "fmt" and out):
            what = "not formatted (run opa fmt -w)" if name == "fmt" and out else "failed"
            problems.append(f"opa {name} {what}: {out[-2000:]}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soc2audit.policy", description=__doc__[:80])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_check = sub.add_parser("check", help="validate policies/ against the catalog")
    p_check.add_argument("--dir", type=Path, default=POLICY_DIR)
    p_lint = sub.add_parser("opa-lint", help="opa fmt, check --strict and test, when OPA is here")
    p_lint.add_argument("--dir", type=Path, default=POLICY_DIR)
    p_eval = sub.add_parser("eval", help="evaluate the policies on an input document (JSON)")
    p_eval.add_argument("input", type=Path)
    p_eval.add_argument("--dir", type=Path, default=POLICY_DIR)
    args = parser.parse_args(argv)
    if args.cmd == "check":
        policies, problems = checked(args.dir)
        for problem in problems:
            print(f"policy: {problem}", file=sys.stderr)
        if problems:
            return 1
        print(f"policy: {len(policies.policies)} policies compile and match the catalog")
        return 0
    if args.cmd == "opa-lint":
        binary = find_opa()
        if binary is None:
            print("policy: no OPA binary here: opa fmt/check/test skipped (embedded checks ran)")
            return 0
        problems = opa_lint(args.dir, binary)
        for problem in problems:
            print(f"policy: {problem}", file=sys.stderr)
        if not problems:
            print(f"policy: opa fmt, check --strict and test pass ({binary.name})")
        return 1 if problems else 0
    policies, problems = load_policies(args.dir)
    if problems:
        for problem in problems:
            print(f"policy: {problem}", file=sys.stderr)
        return 1
    document = json.loads(args.input.read_text(encoding="utf-8"))
    evaluation = EmbeddedEngine().evaluate(policies, document)
    for check_row in policy_checks(policies, evaluation):
        print(f"{check_row['check_id']} {check_row['result']}: {check_row['message']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
