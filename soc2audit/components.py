# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""Real components the lab and the tests build from language registries, once per machine.

Some services the suite works with are not Debian packages: the S3 server with Object Lock
(versitygw) and the policy server (OPA) come from the Go module proxy. Each is built once per
machine and cached machine-wide (like the podman images), under
``$XDG_CACHE_HOME/soc2audit/bin`` (default ``~/.cache/soc2audit/bin``), named by its pinned
version and the Go toolchain that built it, so a fresh clone (CI) reuses it and a new pin or
toolchain builds anew. Users get these components
from upstream releases; this module only serves the lab and the tests.

``python -m soc2audit.components versitygw`` (or ``opa``) builds (or reuses) the binary and
prints its path. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# The oldest Go that builds each pinned module (its go.mod `go` line).
GO_MIN = {"versitygw": (1, 25), "opa": (1, 24)}


@dataclass(frozen=True)
class GoComponent:
    name: str
    package: str  # the `go install` path of the main package
    version: str

    @property
    def ref(self) -> str:
        return f"{self.package}@{self.version}"


COMPONENTS = {
    # An S3 gateway with Object Lock: the write-once store of the log pipeline in the lab.
    "versitygw": GoComponent("versitygw", "github.com/versity/versitygw/cmd/versitygw", "v1.7.0"),
    # Open Policy Agent: the policy server on the monitor and `opa test/fmt/check` in lint.
    "opa": GoComponent("opa", "github.com/open-policy-agent/opa", "v1.22.3"),
}


class ComponentError(RuntimeError):
    """A problem the user can fix; printed without a traceback."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "soc2audit" / "bin"


def find_go() -> str:
    """The go command: on PATH, else the upstream toolchain's usual place."""
    found = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if not found:
        raise ComponentError(
            "no Go toolchain: install Go 1.25 or newer (https://go.dev/dl/) and put `go` on PATH"
        )
    return found


def go_version(go: str) -> tuple[int, int]:
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False)
    match = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if out.returncode != 0 or not match:
        raise ComponentError(f"`{go} env GOVERSION` failed: {out.stderr.strip()[:200]}")
    return int(match.group(1)), int(match.group(2))


def binary_path(component: GoComponent, go_ver: tuple[int, int]) -> Path:
    return cache_dir() / f"{component.name}-{component.version}-go{go_ver[0]}.{go_ver[1]}"


def ensure(name: str, log: bool = True) -> Path:
    """Build ``name`` with ``go install`` unless this machine has it cached; return its path."""
    component = COMPONENTS[name]
    go = find_go()
    have = go_version(go)
    need = GO_MIN.get(name, (1, 0))
    if have < need:
        raise ComponentError(
            f"{component.ref} needs Go {need[0]}.{need[1]} or newer; `{go}` is "
            f"{have[0]}.{have[1]} (Debian 12's golang-go is 1.19: use the upstream toolchain)"
        )
    path = binary_path(component, have)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        env = dict(os.environ, CGO_ENABLED="0", GOBIN=tmp, GOFLAGS="-trimpath")
        proc = subprocess.run(
            [go, "install", component.ref], env=env, capture_output=True, text=True, check=False
        )
        built = Path(tmp) / Path(component.package).name
        if proc.returncode != 0 or not built.exists():
            raise ComponentError(
                f"go install {component.ref} failed:\n{proc.stderr.strip()[-2000:]}"
            )
        os.replace(built, path)  # atomic: a parallel build never leaves half a binary
    if log:
        took = time.monotonic() - started
        print(f"[components] built {component.ref} in {took:.0f}s: {path}", file=sys.stderr)
    return path


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now, for a component run by the tests."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 10.0) -> None:
    """Stop a component the tests started: SIGTERM, then SIGKILL after ``grace`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="soc2audit-components", description=__doc__.split("\n")[0]
    )
    parser.add_argument("name", choices=sorted(COMPONENTS))
    args = parser.parse_args(argv)
    try:
        print(ensure(args.name))
    except ComponentError as exc:
        print(f"[components] error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
