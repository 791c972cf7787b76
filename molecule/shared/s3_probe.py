#!/usr/bin/python3
# Copyright: soc2-audit-metrics contributors
# SPDX-License-Identifier: GPL-3.0-or-later
"""What an S3 administrator and an auditor do to the lab's Object Lock bucket, for the molecule
tests (runs on the host under test with Debian's python3-boto3; credentials from the
environment, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).

  s3_probe.py ENDPOINT CA BUCKET create-bucket            bucket with Object Lock (idempotent)
  s3_probe.py ENDPOINT CA BUCKET inspect KEY VERSION      retention, head, bytes' SHA-256, and a
                                                          delete of that version (must be refused)

Prints one JSON object.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def client(endpoint: str, ca: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        verify=ca or True,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "unknown"))


def create_bucket(s3: Any, bucket: str) -> dict[str, Any]:
    try:
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        created = True
    except ClientError as exc:
        if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        created = False
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    return {"created": created, "object_lock": lock.get("ObjectLockEnabled")}


def inspect(s3: Any, bucket: str, key: str, version: str) -> dict[str, Any]:
    retention = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
    head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
    body = s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()
    try:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
        delete = "deleted"
    except ClientError as exc:
        delete = error_code(exc)
    still = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
    return {
        "mode": retention.get("Mode"),
        "retain_until": retention["RetainUntilDate"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metadata_sha256": head.get("Metadata", {}).get("sha256"),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "delete_version": delete,
        "version_still_there": still.get("VersionId") == version,
    }


def main(argv: list[str]) -> int:
    endpoint, ca, bucket, action, *rest = argv
    s3 = client(endpoint, ca)
    if action == "create-bucket":
        out = create_bucket(s3, bucket)
    elif action == "inspect":
        out = inspect(s3, bucket, rest[0], rest[1])
    else:
        print(f"unknown action {action}", file=sys.stderr)
        return 2
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
