"""Benchmark: building an input manifest from an S3 prefix, against a bare paginator loop.

Both list the same moto bucket in the same run. moto's ListObjectsV2 rescans the whole bucket
for every page, so listing cost grows with the square of the key count: the default of 20,000
keys keeps the run short; pass a count to go bigger (100,000 takes several minutes).

    python benchmarks/bench_manifest.py [KEYS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from gtkit._manifest import iter_s3_uris, records_from_uris, write_manifest


def main(keys: int) -> None:
    with mock_aws(), tempfile.TemporaryDirectory() as tmp:
        client = boto3.client("s3")
        client.create_bucket(Bucket="bench-data")
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for i in range(keys):
            backend.put_object("bench-data", f"images/{i:08d}.jpg", b"")

        start = time.perf_counter()
        bare = 0
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket="bench-data", Prefix="images/"
        ):
            bare += len(page.get("Contents", ()))
        bare_s = time.perf_counter() - start

        start = time.perf_counter()
        uris = iter_s3_uris("s3://bench-data/images/", client=client)
        built = write_manifest(records_from_uris(uris), Path(tmp) / "input.manifest")
        gtkit_s = time.perf_counter() - start

    assert bare == built == keys
    print(f"manifest build, {keys:,} keys in moto S3")
    print(f"  bare boto3 paginator loop: {keys / bare_s:12,.0f} keys/s ({bare_s:.2f} s)")
    print(f"  gtkit manifest build:      {keys / gtkit_s:12,.0f} keys/s ({gtkit_s:.2f} s)")
    print(f"  ratio gtkit/bare: {gtkit_s / bare_s:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
