"""Small I/O helpers shared by the modules that touch disk and S3: URIs, clients, safe writes."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

import boto3
import botocore.loaders
import botocore.session
import orjson
from botocore.config import Config
from botocore.exceptions import ClientError

from gtkit._errors import GtkitError, OverwriteError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

__all__ = [
    "FOLDER_MARKER",
    "RETRY_CONFIG",
    "atomic_folder",
    "atomic_writer",
    "check_folder",
    "iam_client",
    "is_s3",
    "join_uri",
    "new_session",
    "parse_s3_uri",
    "s3_client",
    "s3_size",
    "sagemaker_client",
    "unsafe_part",
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


#: The file gtkit writes last into each folder it makes whole (a job download, a YOLO or VOC
#: export): what the folder holds. Only a folder holding it is replaced, and only when asked.
FOLDER_MARKER = ".gtkit.json"
#: The longest file or folder name gtkit writes, in bytes of UTF-8 (file systems allow 255).
MAX_NAME_BYTES = 255


def unsafe_part(part: str) -> str | None:
    """Why one part of a relative path (between slashes) must not be written, or None.

    >>> for part in ("a.json", "", "..", "a\\0b"):
    ...     print(unsafe_part(part))
    None
    an empty part (a leading, doubled or trailing /)
    '..' leaves the folder
    a NUL byte
    """
    if part == "":
        return "an empty part (a leading, doubled or trailing /)"
    if part == "..":
        return "'..' leaves the folder"
    if part == ".":
        return "'.' names the folder itself"
    if "\0" in part:
        return "a NUL byte"
    if any(sep in part for sep in (os.sep, os.altsep or "/") if sep != "/"):  # on Windows, \\
        return f"a path separator of this system ({os.sep!r})"
    if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"a name longer than {MAX_NAME_BYTES} bytes"
    return None


def _folder_state(target: Path) -> str:
    """``"free"`` (absent, or an empty folder), ``"ours"`` (a folder gtkit made whole: it holds
    :data:`FOLDER_MARKER`) or ``"other"`` (a file, or a folder of anything else)."""
    if not target.exists() and not target.is_symlink():
        return "free"
    if target.is_dir() and not target.is_symlink():
        if (target / FOLDER_MARKER).is_file():
            return "ours"
        if not any(target.iterdir()):
            return "free"
    return "other"


def check_folder(path: str | os.PathLike[str], *, overwrite: bool) -> None:
    """Raise OverwriteError unless :func:`atomic_folder` may write the folder ``path``."""
    target = Path(path).resolve()
    state = _folder_state(target)
    if state == "ours" and not overwrite:
        raise OverwriteError(target=str(target), reason="holds an earlier gtkit download or export")
    if state == "other":
        raise OverwriteError(
            target=str(target),
            reason="exists and is not a folder gtkit wrote (no "
            f"{FOLDER_MARKER}); choose a new or empty folder",
            argument=None,
        )


@contextmanager
def atomic_folder(
    path: str | os.PathLike[str], *, what: str, overwrite: bool = False
) -> Iterator[Path]:
    """Write a whole folder at once: yield a temporary folder beside ``path`` to fill, then
    write :data:`FOLDER_MARKER` (saying ``what`` the folder holds) and rename it into place.

    An interrupted or failed run removes the temporary folder, so nothing at ``path`` ever looks
    complete when it is not. ``path`` must be absent, an empty folder, or (with ``overwrite``)
    a folder gtkit made this way, which is then replaced whole, never mixed with the new one;
    anything else raises OverwriteError and is left untouched.
    """
    target = Path(path).resolve()
    check_folder(target, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    work.chmod(0o777 & ~_umask())
    try:
        yield work
        marker = {"written_by": "gtkit", "holds": what, "written": time.time()}
        (work / FOLDER_MARKER).write_bytes(orjson.dumps(marker))
        check_folder(
            target, overwrite=overwrite
        )  # again: another process may have written meanwhile
        if target.is_dir() and any(target.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.replaced-", dir=target.parent))
            target.replace(old / "old")
            try:
                work.replace(target)
            except BaseException:
                (old / "old").replace(target)  # put the earlier folder back
                raise
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            work.replace(target)  # onto nothing, or onto an empty folder
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
