# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one list of what the control node needs from its operating system, and the doctor.

Everything the lab, `make test` and `.ci/run` run on the control node itself (not inside the lab
containers) is named here once: the command (or file) that must exist and the Debian package
that provides it. `python -m soc2audit.lab doctor` checks the list and names what is missing;
with `--install` it installs the missing packages with apt (root on Debian or Ubuntu only).
`soc2audit.lab up` installs what the lab needs through the same list, and `.ci/run` installs
everything with `doctor --install` before `make test`.

A unit test (tests/unit/test_prereqs.py) reads the lab code and fails when it runs a command
this list does not cover, so a new tool cannot reach CI without its package.

Standard library only: `.ci/run` calls this with the system python3, before the venv exists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Where apt puts programs that are not on a user's PATH (netavark, aardvark-dns), and the upstream
# Go toolchain's usual place.
SEARCH_PATH = os.pathsep.join(
    [
        os.environ.get("PATH", ""),
        "/usr/local/sbin",
        "/usr/sbin",
        "/sbin",
        "/usr/lib/podman",
        "/usr/local/go/bin",
    ]
)


@dataclass(frozen=True)
class Need:
    """One thing the control node must have. `command` is a program name looked up on PATH (and
    the sbin and podman helper directories), an absolute path, or `python3:<module>` for a
    module of the system Python. `scope` says who needs it: `lab` (make lab) or `test` (make
    test, on top of the lab)."""

    command: str
    package: str
    why: str
    scope: str = "lab"
    # False: not from apt (a toolchain Debian ships too old); the doctor names it, never
    # installs it, and `package` says where it comes from.
    apt: bool = True

    def present(self) -> bool:
        if self.command.startswith("python3:"):
            module = self.command.split(":", 1)[1]
            python = shutil.which("python3") or "/usr/bin/python3"
            proc = subprocess.run(
                [python, "-c", f"import {module}"], capture_output=True, check=False
            )
            return proc.returncode == 0
        if self.command.startswith("/"):
            return Path(self.command).exists()
        return shutil.which(self.command, path=SEARCH_PATH) is not None


NEEDS: tuple[Need, ...] = (
    # The lab: podman with the runtime and network stack that work on this kind of machine.
    Need("podman", "podman", "runs the lab and molecule containers"),
    Need("runc", "runc", "the OCI runtime (crun fails on hybrid cgroups)"),
    Need("/usr/lib/podman/netavark", "netavark", "podman's network backend"),
    Need("/usr/lib/podman/aardvark-dns", "aardvark-dns", "name resolution on lab networks"),
    Need("iptables", "iptables", "netavark programs NAT and forwarding with it"),
    Need("newuidmap", "uidmap", "podman's user namespace helper"),
    Need("debootstrap", "debootstrap", "builds the lab's base image"),
    Need("tar", "tar", "packs the image root file system for podman import"),
    Need("sh", "dash", "runs the image customisation script"),
    Need("chattr", "e2fsprogs", "clears the log store's immutable flags before a lab host goes"),
    Need("ssh", "openssh-client", "reaches the lab hosts like production hosts"),
    Need("ssh-keygen", "openssh-client", "makes the lab SSH key"),
    Need("ssh-keyscan", "openssh-client", "records the lab hosts' keys in known_hosts"),
    Need("make", "make", "the entry points (make lab, make test)"),
    Need("python3", "python3", "the control node's Python"),
    # Debian's python3 has the venv module but not ensurepip, without which `python3 -m venv`
    # fails: python3-venv provides it.
    Need("python3:ensurepip", "python3-venv", "creates the control-node virtualenv .venv/"),
    Need("apt-get", "apt", "fetches the promtool package and installs these prerequisites"),
    Need("dpkg-deb", "dpkg", "unpacks promtool from the prometheus package into .venv/"),
    # make test on top of the lab.
    # Also what requests and checks RFC 3161 tokens (openssl ts) when a TSA timestamps the
    # evidence digests (soc2audit/timestamp.py; the local TSA of the tests).
    Need("openssl", "openssl", "molecule's PKI checks, the mTLS and RFC 3161 tests", "test"),
    Need("git", "git", "the benchmark and CI record the commit they measured", "test"),
    # The window export's browser test (tests/unit/test_report_browser.py): report.html opened
    # headless, heatmap checked, screenshot kept, network log read. About 2 minutes to install
    # on the reference machine (measured 111 s without recommends, 2026-12-06).
    Need("chromium", "chromium", "opens the auditor report headless in its browser test", "test"),
    # Components built from language registries (soc2audit/components.py), for the tests that
    # run them. Debian 12's golang-go (1.19) is too old for versitygw: the upstream toolchain,
    # preinstalled on the reference machines; components.py names an older one.
    Need(
        "go",
        "go.dev/dl",
        "builds versitygw, the S3 Object Lock server of the log pipeline tests (Go 1.25+)",
        "components",
        apt=False,
    ),
    # The Kafka tier (roles/kafka): the broker classpath is resolved from Maven Central with
    # Maven (soc2audit.components kafka) and the Kafka CLI tools of the tests run on the control
    # node's Java 17. The broker hosts get openjdk-17-jre-headless from the role (the lab image
    # carries it).
    Need(
        "java",
        "openjdk-17-jre-headless",
        "runs the Kafka admin and client tools of the Kafka tier's tests (Java 17)",
        "components",
    ),
    Need(
        "mvn",
        "maven",
        "resolves the Kafka broker classpath from Maven Central (soc2audit.components kafka)",
        "components",
    ),
)

SCOPES = ("lab", "test", "components")


def needs(scope: str = "test") -> tuple[Need, ...]:
    """What `scope` needs: `lab` is the lab's part, `test` what `make test` installs with apt,
    `components` also the toolchains that build the registry components (not from apt)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    wanted = SCOPES[: SCOPES.index(scope) + 1]
    return tuple(n for n in NEEDS if n.scope in wanted)


def commands(scope: str = SCOPES[-1]) -> set[str]:
    """Every command name the list covers (programs only, by base name)."""
    return {Path(n.command).name for n in needs(scope) if not n.command.startswith("python3:")}


def missing(scope: str = "test") -> list[Need]:
    return [n for n in needs(scope) if not n.present()]


def packages(items: list[Need]) -> list[str]:
    """The apt packages that provide `items`, each once, in list order."""
    out: list[str] = []
    for n in items:
        if n.apt and n.package not in out:
            out.append(n.package)
    return out


def report(scope: str = "test") -> tuple[list[str], list[Need]]:
    """One line per need (ok / MISSING with its package), and the missing ones."""
    lines: list[str] = []
    absent: list[Need] = []
    for n in needs(scope):
        ok = n.present()
        if not ok:
            absent.append(n)
        state = "ok     " if ok else "MISSING"
        lines.append(f"{state} {n.command:<30} {n.package:<15} {n.why}")
    return lines, absent


def install_hint(absent: list[Need]) -> str:
    hints = []
    if packages(absent):
        hints.append("apt-get install " + " ".join(packages(absent)))
    hints += [f"{n.command} from {n.package}" for n in absent if not n.apt]
    return "; ".join(hints)


def can_install() -> bool:
    return (
        os.geteuid() == 0 and Path("/etc/debian_version").exists() and bool(shutil.which("apt-get"))
    )


def install(absent: list[Need], log: object = print) -> None:
    """apt-get update and install the packages of `absent`. Raises RuntimeError with apt's
    words when it fails; the caller decides how to show it."""
    pkgs = packages(absent)
    if not pkgs:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"installing {' '.join(pkgs)}")  # type: ignore[operator]
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", *pkgs],
    ):
        proc = subprocess.run(cmd, env=env, text=True, capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-2000:]}")
    still = [n for n in absent if n.apt and not n.present()]
    if still:
        raise RuntimeError(
            "installed "
            + " ".join(pkgs)
            + " but still missing: "
            + ", ".join(f"{n.command} ({n.package})" for n in still)
        )
