# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""A throwaway S3 server with Object Lock on loopback, for tests: the real versitygw (built once
per machine by soc2audit.components), over TLS with a throwaway CA made by openssl, posix
backend with a versioning directory, and a bucket created with Object Lock as an administrator
would. Used by tests/integration/test_85_object_lock.py (the log uploader) and
tests/unit/test_anchor_s3.py (the evidence anchors); on a lab network's gateway address for
tests/integration/test_91_ansible_pull.py. Never reaches beyond loopback and the lab.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soc2audit import components
from soc2audit.anchor_s3 import S3AnchorStore

ACCESS, SECRET = "soc2labroot", "soc2-lab-root-secret-0123456789"


@dataclass
class S3TestServer:
    url: str
    ca: Path
    tmp: Path
    client: Any  # a boto3 client with the root credentials
    access_key: str = ACCESS
    secret_key: str = SECRET

    def anchor_store(self, bucket: str, prefix: str, **extra: Any) -> S3AnchorStore:
        """The evidence store settings (soc2audit.anchor_s3) that reach this server's
        ``bucket`` under ``prefix`` with the root credentials, retention 366 days unless
        ``extra`` says otherwise."""
        settings: dict[str, Any] = {"retention_days": 366, **extra}
        return S3AnchorStore(
            bucket=bucket,
            endpoint_url=self.url,
            ca_bundle=str(self.ca),
            prefix=prefix,
            access_key_id=self.access_key,
            secret_access_key=self.secret_key,
            **settings,
        )


def throwaway_tls(tmp: Path, address: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """A CA and a server certificate for ``address`` (openssl, as an operator would)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=soc2audit test CA")  # fmt: skip
    openssl("req", *ec, "-keyout", "s3.key", "-out", "s3.csr", "-subj", "/CN=s3")
    (tmp / "ext").write_text(f"subjectAltName=IP:{address}\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "s3.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "s3.pem", "-days", "2", "-extfile", "ext")  # fmt: skip
    return tmp / "ca.pem", tmp / "s3.pem", tmp / "s3.key"


@contextlib.contextmanager
def running(
    tmp: Path, buckets: tuple[str, ...] = ("soc2-evidence",), address: str = "127.0.0.1"
) -> Iterator[S3TestServer]:
    """versitygw on <address>:<free port> until the block ends, with ``buckets`` created.
    ``address``: loopback, or a lab network's gateway address for the lab's containers (the
    pull-mode test; never a public address)."""
    binary = components.ensure("versitygw")
    ca, cert, key = throwaway_tls(tmp, address)
    data, versions = tmp / "data", tmp / "versions"
    data.mkdir()
    versions.mkdir()
    port = components.free_port()
    env = dict(os.environ, ROOT_ACCESS_KEY_ID=ACCESS, ROOT_SECRET_ACCESS_KEY=SECRET)
    log = (tmp / "versitygw.log").open("w")
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            f"{address}:{port}",
            "--cert",
            str(cert),
            "--key",
            str(key),
            "posix",
            "--versioning-dir",
            str(versions),
            str(data),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((address, port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp / "versitygw.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3",
            endpoint_url=f"https://{address}:{port}",
            aws_access_key_id=ACCESS,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
            verify=str(ca),
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
        for bucket in buckets:
            client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        yield S3TestServer(url=f"https://{address}:{port}", ca=ca, tmp=tmp, client=client)
    finally:
        components.stop(proc)
        log.close()
