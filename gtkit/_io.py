"""Small I/O helpers shared by the modules that touch disk and S3: URIs, clients, safe writes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from gtkit._errors import GtkitError, OverwriteError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

__all__ = [
    "RETRY_CONFIG",
    "atomic_writer",
    "iam_client",
    "is_s3",
    "join_uri",
    "new_session",
    "parse_s3_uri",
    "s3_client",
    "s3_size",
    "sagemaker_client",
    "upload_file_safely",
]

#: Adaptive retries: botocore backs off on throttling and transient errors by itself.
RETRY_CONFIG = Config(retries={"max_attempts": 10, "mode": "adaptive"})


# Parsed service models, shared by every session gtkit makes: loading SageMaker's alone takes a
# few tenths of a second per session, while credentials and region must still be read anew.
_LOADER = botocore.loaders.create_loader()


def new_session() -> boto3.session.Session:
    """A new boto3 session (credentials and region read afresh) sharing parsed service models."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    session = boto3.session.Session(botocore_session=core)
    # boto3 adds its own data folder to the loader's search paths on every session: keep one.
    _LOADER.search_paths[:] = list(dict.fromkeys(_LOADER.search_paths))
    return session


def is_s3(uri: str | os.PathLike[str]) -> bool:
    """Whether ``uri`` is an ``s3://`` URI (rather than a local path)."""
    return isinstance(uri, str) and uri.startswith("s3://")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/key`` into bucket and key (key may be empty)."""
    if not uri.startswith("s3://") or len(uri) <= 5:
        raise GtkitError(f"{uri!r} is not an S3 URI (s3://bucket/key)")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise GtkitError(f"{uri!r} has no bucket (s3://bucket/key)")
    return bucket, key


def join_uri(base: str, *parts: str) -> str:
    """Join an S3 URI or path with more parts, with exactly one slash between them."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def s3_client(
    *, client: S3Client | None = None, session: boto3.session.Session | None = None
) -> S3Client:
    """The client to use: ``client`` if given, else one from ``session`` (or boto3's default)."""
    if client is not None:
        return client
    return (session or new_session()).client("s3", config=RETRY_CONFIG)


def sagemaker_client(
    *,
    client: SageMakerClient | None = None,
    session: boto3.session.Session | None = None,
    region: str | None = None,
) -> SageMakerClient:
    """The SageMaker client to use: ``client`` if given, else one from ``session``."""
    if client is not None:
        return client
    return (session or new_session()).client("sagemaker", region_name=region, config=RETRY_CONFIG)


def iam_client(
    *, client: IAMClient | None = None, session: boto3.session.Session | None = None
) -> IAMClient:
    """The IAM client to use: ``client`` if given, else one from ``session`` (or the default)."""
    if client is not None:
        return client
    return (session or new_session()).client("iam", config=RETRY_CONFIG)


def s3_size(client: S3Client, uri: str) -> int | None:
    """Size in bytes of the object at ``uri``, or None if there is none."""
    bucket, key = parse_s3_uri(uri)
    try:
        return client.head_object(Bucket=bucket, Key=key)["ContentLength"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_writer(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[IO[bytes]]:
    """Write a local file atomically (bytes): to a temporary file beside it, renamed on success.

    Raises OverwriteError if the file exists and ``overwrite`` is false.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise OverwriteError(target=str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    Path(tmp).chmod(0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        if target.exists() and not overwrite:  # someone else wrote it meanwhile
            raise OverwriteError(target=str(target), reason="appeared while writing", argument=None)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def upload_file_safely(
    client: S3Client, local: str | os.PathLike[str], uri: str, *, overwrite: bool = False
) -> None:
    """Upload a local file to ``uri``, refusing to replace an existing object unless told to."""
    if not overwrite and s3_size(client, uri) is not None:
        raise OverwriteError(target=uri)
    bucket, key = parse_s3_uri(uri)
    client.upload_file(str(local), bucket, key)


def put_bytes_safely(
    client: S3Client,
    uri: str,
    data: bytes,
    *,
    overwrite: bool = False,
    keep_identical: bool = False,
) -> None:
    """Put ``data`` at ``uri``, refusing to replace an existing object unless told to.

    With ``keep_identical``, an existing object with exactly these bytes is left as it is and is
    not an error (a retried operation); one with other bytes still is.
    """
    bucket, key = parse_s3_uri(uri)
    if not overwrite and s3_size(client, uri) is not None:
        if not keep_identical:
            raise OverwriteError(target=uri)
        if client.get_object(Bucket=bucket, Key=key)["Body"].read() != data:
            raise OverwriteError(target=uri, reason="exists with other content", argument=None)
        return
    client.put_object(Bucket=bucket, Key=key, Body=data)
