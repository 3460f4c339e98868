"""Input manifests: build them from S3, a local folder, URIs or texts; write and check them.

A manifest is JSON Lines, one object per line with ``source-ref`` (an S3 URI) or ``source``
(inline text). Building streams: a prefix of millions of keys never sits in memory at once.

>>> records = list(records_from_uris(["s3://b/1.jpg", "s3://b/2.jpg"]))
>>> records[0]
{'source-ref': 's3://b/1.jpg'}
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import ClientError

from gtkit._errors import ManifestError, OverwriteError, Problem, excerpt
from gtkit._io import (
    atomic_writer,
    is_s3,
    join_uri,
    parse_s3_uri,
    put_bytes_safely,
    s3_client,
    upload_file_safely,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from gtkit._spec import LabelingJobSpec

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_ATTRIBUTE_CHARS",
    "MAX_LINE_CHARS",
    "MAX_OBJECTS",
    "ManifestReport",
    "UploadReport",
    "check_manifest",
    "iter_s3_uris",
    "job_files",
    "records_from_texts",
    "records_from_uris",
    "upload_folder",
    "write_job_files",
    "write_json",
    "write_manifest",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MAX_LINE_CHARS = 100_000  # characters per manifest line
MAX_ATTRIBUTE_CHARS = 20_000  # characters per attribute value
MAX_OBJECTS = 100_000  # objects per job (20,000 for semantic segmentation)


def _matches(key: str, extensions: Sequence[str] | None) -> bool:
    return not key.endswith("/") and (
        not extensions or key.lower().endswith(tuple(e.lower() for e in extensions))
    )


def iter_s3_uris(
    prefix: str,
    *,
    extensions: Sequence[str] | None = IMAGE_EXTENSIONS,
    client: S3Client | None = None,
) -> Iterator[str]:
    """Yield the ``s3://`` URI of every object under ``prefix`` with one of ``extensions``.

    Pages through ListObjectsV2 lazily, so memory stays flat however many keys there are.
    ``extensions`` None or empty keeps every object.
    """
    s3 = s3_client(client=client)
    bucket, key_prefix = parse_s3_uri(prefix)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix):
        for obj in page.get("Contents", ()):
            if _matches(obj["Key"], extensions):
                yield f"s3://{bucket}/{obj['Key']}"


def records_from_uris(uris: Iterable[str]) -> Iterator[dict[str, str]]:
    """One ``{"source-ref": uri}`` record per URI (an image's ``s3://`` URI, say), lazily: give
    the records to :func:`write_manifest`, with URIs from :func:`iter_s3_uris` or
    :attr:`UploadReport.uris`."""
    for uri in uris:
        yield {"source-ref": uri}


def records_from_texts(texts: Iterable[str]) -> Iterator[dict[str, str]]:
    """One ``{"source": text}`` record per text (for text classification and NER jobs)."""
    for text in texts:
        yield {"source": text}


@dataclass
class UploadReport:
    """What :func:`upload_folder` did: URIs of every file, and which it uploaded or skipped."""

    uris: list[str] = field(default_factory=list)
    uploaded: int = 0
    skipped: int = 0


def upload_folder(
    folder: str | os.PathLike[str],
    prefix: str,
    *,
    extensions: Sequence[str] | None = IMAGE_EXTENSIONS,
    max_workers: int = 8,
    client: S3Client | None = None,
) -> UploadReport:
    """Upload the files of a local folder (recursively) under an S3 prefix.

    At most ``max_workers`` uploads run at once. A file already there with the same size is
    skipped; one there with a different size is an OverwriteError (nothing is replaced).
    """
    s3 = s3_client(client=client)
    root = Path(folder)
    if not root.is_dir():
        raise ManifestError([Problem(str(root), "not a folder")])
    files = sorted(p for p in root.rglob("*") if p.is_file() and _matches(p.name, extensions))
    bucket, key_prefix = parse_s3_uri(join_uri(prefix, ""))
    existing: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key_prefix):
        for obj in page.get("Contents", ()):
            existing[obj["Key"]] = obj["Size"]
    report = UploadReport()
    todo: list[tuple[Path, str]] = []
    clashes: list[str] = []
    for path in files:
        key = key_prefix + path.relative_to(root).as_posix()
        report.uris.append(f"s3://{bucket}/{key}")
        size = existing.get(key)
        if size is None:
            todo.append((path, key))
        elif size == path.stat().st_size:
            report.skipped += 1
        else:
            clashes.append(f"s3://{bucket}/{key}")
    if clashes:
        raise OverwriteError(
            target=clashes[0],
            reason=f"exists with a different size ({len(clashes)} such object(s) in all)",
            argument=None,
        )
    with ThreadPoolExecutor(max_workers=max(1, max_workers)) as pool:
        for _ in pool.map(lambda item: s3.upload_file(str(item[0]), bucket, item[1]), todo):
            report.uploaded += 1
    return report


def write_manifest(
    records: Iterable[Mapping[str, Any]],
    dest: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    client: S3Client | None = None,
) -> int:
    """Write records as JSON Lines to a local path or an ``s3://`` URI; returns the line count.

    Streams through a temporary file, so memory stays flat; a local file is replaced atomically,
    and nothing existing is replaced unless ``overwrite`` is true.
    """
    if is_s3(dest):
        uri = str(dest)
        s3 = s3_client(client=client)
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "manifest.jsonl"
            count = write_manifest(records, local)
            upload_file_safely(s3, local, uri, overwrite=overwrite)
        return count
    count = 0
    with atomic_writer(dest, overwrite=overwrite) as f:
        for record in records:
            f.write(orjson.dumps(record) + b"\n")
            count += 1
    return count


def _json_bytes(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC)


def write_json(
    data: Any,
    dest: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    keep_identical: bool = False,
    client: S3Client | None = None,
) -> None:
    """Write one JSON document (a label-category file, a describe response) locally or to S3.

    ``keep_identical`` (S3): an object already holding exactly this document is not an error.
    """
    body = _json_bytes(data)
    if is_s3(dest):
        s3 = s3_client(client=client)
        put_bytes_safely(s3, str(dest), body, overwrite=overwrite, keep_identical=keep_identical)
        return
    with atomic_writer(dest, overwrite=overwrite) as f:
        f.write(body)


@dataclass
class ManifestReport:
    """The result of checking a manifest: the object count and every problem, by line.

    ``source_refs`` maps each well-formed ``source-ref`` S3 URI to the line that first names it.
    """

    source: str
    objects: int = 0
    problems: list[Problem] = field(default_factory=list)
    source_refs: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the manifest has no problems."""
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise ManifestError listing every problem, if there are any."""
        if self.problems:
            raise ManifestError(self.problems)


def _iter_lines(source: str | os.PathLike[str], client: S3Client | None) -> Iterator[bytes]:
    if is_s3(source):
        bucket, key = parse_s3_uri(str(source))
        body = s3_client(client=client).get_object(Bucket=bucket, Key=key)["Body"]
        yield from body.iter_lines(keepends=True)
        return
    with Path(source).open("rb") as f:
        yield from f


def _readable_lines(source: str | os.PathLike[str], client: S3Client | None) -> Iterator[bytes]:
    """The manifest's lines, streamed; a file that cannot be read is a ManifestError."""
    try:
        yield from _iter_lines(source, client)
    except OSError as exc:
        raise ManifestError([Problem(str(source), f"cannot read: {exc.strerror}")]) from None
    except ClientError as exc:
        raise ManifestError([Problem(str(source), f"cannot read from S3: {exc}")]) from None


def check_manifest(
    source: str | os.PathLike[str],
    *,
    max_objects: int = MAX_OBJECTS,
    client: S3Client | None = None,
) -> ManifestReport:
    """Check an input manifest (local or S3) against the service's rules, line by line.

    Checks JSON per line, a ``source-ref`` S3 URI or a ``source`` text, line and attribute
    lengths, duplicate objects and the object-count limit. Blank lines are allowed and not
    counted. Problems name ``file:line``.
    """
    report = ManifestReport(str(source))
    seen: dict[str, int] = {}
    for number, raw in enumerate(_readable_lines(source, client), start=1):
        where = f"{source}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            report.problems.append(Problem(where, f"not UTF-8 ({exc.reason})"))
            continue
        if not line.strip():
            continue
        if len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
            report.problems.append(
                Problem(where, f"{len(line)} characters; a line may have {MAX_LINE_CHARS}")
            )
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            report.problems.append(Problem(where, f"not JSON: {exc}"))
            continue
        if not isinstance(record, dict):
            report.problems.append(Problem(where, "expected a JSON object"))
            continue
        report.objects += 1
        ref, text = record.get("source-ref"), record.get("source")
        if ref is None and text is None:
            report.problems.append(Problem(where, "needs 'source-ref' (S3 URI) or 'source'"))
            continue
        if ref is not None:
            if not isinstance(ref, str) or not ref.startswith("s3://") or len(ref) < 8:
                report.problems.append(
                    Problem(where, f"source-ref {excerpt(ref)} is not an S3 URI (s3://bucket/key)")
                )
            elif "/" not in ref[5:] or ref.endswith("/"):
                report.problems.append(Problem(where, f"source-ref {excerpt(ref)} names no object"))
            else:
                report.source_refs.setdefault(ref, number)
        if text is not None and not isinstance(text, str):
            report.problems.append(Problem(where, "source must be a string"))
        for name, value in record.items():
            size = len(orjson.dumps(value)) if not isinstance(value, str) else len(value)
            if size > MAX_ATTRIBUTE_CHARS:
                report.problems.append(
                    Problem(
                        where, f"attribute {excerpt(name)} has {size} characters; at most 20000"
                    )
                )
        identity = ref if isinstance(ref, str) else text if isinstance(text, str) else None
        if identity is not None:
            first = seen.setdefault(identity, number)
            if first != number:
                report.problems.append(
                    Problem(where, f"duplicate object {identity[:80]!r} (first on line {first})")
                )
    if report.objects > max_objects:
        report.problems.append(
            Problem(str(source), f"{report.objects} objects; a job takes at most {max_objects}")
        )
    if report.objects == 0:
        report.problems.append(Problem(str(source), "no objects"))
    return report


def job_files(
    spec: LabelingJobSpec, *, short_instructions: str = "", full_instructions: str = ""
) -> dict[str, bytes]:
    """The files a job needs beside its manifest, by S3 URI: the label-category file and, unless
    the task uses a built-in worker UI or your own ``template_uri``, the filled worker template."""
    from gtkit._worker_ui import render_template

    spec.check()
    files = {spec.category_uri: _json_bytes(spec.label_categories())}
    if spec.template_uri is None and spec.worker_template_uri is not None:
        body = render_template(
            spec.task,
            header=spec.title or spec.to_request()["HumanTaskConfig"]["TaskTitle"],
            short_instructions=short_instructions,
            full_instructions=full_instructions,
        )
        files[spec.worker_template_uri] = body.encode()
    return files


def write_job_files(
    spec: LabelingJobSpec,
    *,
    short_instructions: str = "",
    full_instructions: str = "",
    overwrite: bool = False,
    keep_identical: bool = False,
    client: S3Client | None = None,
) -> dict[str, str]:
    """Write a job's label-category file and filled worker template beside its manifest.

    Returns ``{"label_categories": uri, "template": uri}`` (no template where the task uses a
    built-in worker UI or your own ``template_uri``). Never replaces an existing object unless
    ``overwrite`` is true; with ``keep_identical``, files already there with the same content
    are fine (a retried create).
    """
    s3 = s3_client(client=client)
    files = job_files(
        spec, short_instructions=short_instructions, full_instructions=full_instructions
    )
    for uri, body in files.items():
        put_bytes_safely(s3, uri, body, overwrite=overwrite, keep_identical=keep_identical)
    written = {"label_categories": spec.category_uri}
    if spec.worker_template_uri in files:
        written["template"] = spec.worker_template_uri
    return written
