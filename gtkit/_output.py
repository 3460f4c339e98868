"""Reading any Ground Truth job's output into tidy, columnar tables.

A job's output tree (``<S3OutputPath>/<job-name>/``, locally or in S3) or a single output
manifest becomes a :class:`JobOutput` of pandas DataFrames:

- ``objects``: one row per labeled attribute of each manifest line (a line with no label attribute
  still gets one row): ``index`` (the datasetObjectId, 0-based among non-blank lines), ``line``
  (1-based line in the file), ``source``, ``attribute``, ``task_type``, ``human`` (bool or NA),
  ``confidence``, ``creation_date`` (UTC), ``job_name``, ``failure_reason``, ``iteration``,
  ``value`` (the raw label as JSON, for segmentation, video, NER and custom tasks);
- ``boxes``: one row per box, ``index``, ``attribute``, ``class_id``, ``class_name``, ``left``,
  ``top``, ``width``, ``height`` (pixels), ``confidence``, ``image_width``, ``image_height``;
- ``classes``: one row per class given to an object (single- and multi-label classification,
  segmentation colour maps, NER entities), with ``confidence``;
- ``worker_answers``: one row per worker answer (``index``, ``iteration``, ``worker``,
  ``seconds`` spent where known, ``submitted``, ``answer`` as JSON);
- ``consolidations``: one row per object in a consolidation response (``index``, ``iteration``).

Ground Truth metadata is recognised by its content (``type`` starting with ``groundtruth/``, or a
``human-annotated`` or ``failure-reason`` key), not by a ``-metadata`` suffix alone.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import orjson
import pandas as pd
from botocore.exceptions import ClientError

from gtkit._errors import OutputError, Problem
from gtkit._io import is_s3, join_uri, parse_s3_uri, s3_client
from gtkit._parse import (
    BOX_COLUMNS,
    CLASS_COLUMNS,
    OBJECT_COLUMNS,
    Block,
    compiled_detection,
    concat_column,
    distinct_values,
    file_ranges,
    find_label_attributes,
    is_groundtruth_metadata,
    iter_blocks,
    map_blocks,
    number,
    parse_block,
    parse_creation_dates,
    parse_range,
    shift,
    source_of,
    to_int,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "JobOutput",
    "find_label_attributes",
    "is_groundtruth_metadata",
    "parse_creation_dates",
    "read_manifest",
    "read_output",
    "read_seqlabel",
]

_CHUNK_BYTES = 1 << 20
_HEAD_BYTES = 1 << 16  # enough for a manifest's first line, to choose how to read the rest
_ITERATION_RE = re.compile(r"^iteration-(\d+)$")


def _frame(data: Mapping[str, Any]) -> pd.DataFrame:
    """A DataFrame that wraps the given columns (freshly made here) instead of copying them."""
    df: pd.DataFrame = pd.DataFrame(dict(data), copy=False)
    return df


class _Columns:
    """Column lists that become a DataFrame in one step (never one object per row)."""

    def __init__(self, *names: str) -> None:
        self.cols: dict[str, list[Any]] = {n: [] for n in names}

    def frame(self, dtypes: Mapping[str, str] | None = None) -> pd.DataFrame:
        df: pd.DataFrame = pd.DataFrame(self.cols)
        if dtypes:
            df = cast("pd.DataFrame", df.astype(dict(dtypes)))
        return df


@dataclass
class JobOutput:
    """A job's output as tables; see the module docstring for their columns."""

    objects: pd.DataFrame
    boxes: pd.DataFrame
    classes: pd.DataFrame
    worker_answers: pd.DataFrame
    consolidations: pd.DataFrame
    manifest: str
    skipped: list[Problem] = field(default_factory=list)
    has_iterations: bool = False

    @property
    def attributes(self) -> list[str]:
        """The label attributes found, in order of first appearance."""
        found = distinct_values(self.objects["attribute"].to_numpy(dtype=object))
        return [a for a in found if isinstance(a, str)]

    @property
    def job_names(self) -> list[str]:
        """The job names found (without ``labeling-job/``), in order of first appearance."""
        found = distinct_values(self.objects["job_name"].to_numpy(dtype=object))
        return [a for a in found if isinstance(a, str)]

    def for_attribute(self, attribute: str) -> JobOutput:
        """The same output restricted to one label attribute."""
        if distinct_values(self.objects["attribute"].to_numpy(dtype=object)) == [attribute]:
            return self  # nothing to leave out: no copy of what may be millions of rows

        def pick(df: pd.DataFrame) -> pd.DataFrame:
            picked: pd.DataFrame = df[df["attribute"] == attribute].reset_index(drop=True)
            return picked

        return JobOutput(
            objects=pick(self.objects),
            boxes=pick(self.boxes),
            classes=pick(self.classes),
            worker_answers=self.worker_answers,
            consolidations=self.consolidations,
            manifest=self.manifest,
            skipped=self.skipped,
            has_iterations=self.has_iterations,
        )


def _skip(problem: Problem, lenient: bool, skipped: list[Problem]) -> None:
    """Raise OutputError for malformed input or, reading leniently, list it as skipped."""
    if not lenient:
        raise OutputError(str(problem)) from None
    skipped.append(problem)


def _parse_manifest(
    src: _Source, path: str, *, lenient: bool, name: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[Problem]]:
    """Parse a manifest (JSON Lines) into tables, block by block on every core.

    Workers read their own ranges of a local file; an S3 object is streamed to them in blocks.
    """
    name = name or path
    skipped: list[Problem] = []
    blocks: list[Block] = []
    lines_before = records_before = 0
    with _reading(path), _workers_alive(path):
        for block in src.parsed_blocks(path, lenient):
            shift(block, lines_before, records_before)
            for line, message in block.problems:
                _skip(Problem(f"{name}:{line}", message), lenient, skipped)
            lines_before += block.lines
            records_before += block.records
            blocks.append(block)
    if not blocks:
        blocks.append(parse_block(b"", lenient))
    o: dict[str, Any] = {k: concat_column(blocks, "objects", k) for k in OBJECT_COLUMNS}
    human = o["human"]
    o["human"] = pd.arrays.BooleanArray(human == 1, human < 0)
    dates = o["creation_date"]
    o["creation_date"] = pd.Series(dates, dtype="datetime64[us]").dt.tz_localize("UTC")
    n = len(dates)
    o["iteration"] = pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, dtype=bool))
    objects = _frame({k: o[k] for k in (*OBJECT_COLUMNS, "iteration")})
    boxes = _frame({k: concat_column(blocks, "boxes", k) for k in BOX_COLUMNS})
    classes = _frame({k: concat_column(blocks, "classes", k) for k in CLASS_COLUMNS})
    return objects, boxes, classes, skipped


def read_manifest(
    path: str | os.PathLike[str], *, lenient: bool = False, client: S3Client | None = None
) -> JobOutput:
    """Read one output manifest (local path or ``s3://`` URI) into tables.

    Malformed lines raise OutputError naming the file and line; with ``lenient=True`` they are
    listed in ``JobOutput.skipped`` with reasons instead (never dropped silently).
    """
    src = _Source.for_path(path, client)
    objects, boxes, classes, skipped = _parse_manifest(src, str(path), lenient=lenient)
    return JobOutput(
        objects, boxes, classes, _empty_answers(), _empty_consolidations(), str(path), skipped
    )


@contextmanager
def _workers_alive(path: str) -> Iterator[None]:
    """Turn a reading worker's death (killed for memory, say) into an OutputError."""
    try:
        yield
    except BrokenProcessPool:
        raise OutputError(
            f"{path}: a worker process reading it died (out of memory?); "
            "GTKIT_WORKERS=1 reads in this process alone"
        ) from None


# ---------------------------------------------------------------------- output trees
@contextmanager
def _reading(path: str) -> Iterator[None]:
    """Turn a failed local or S3 read into an OutputError naming the file."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"{path}: cannot read ({exc.strerror})") from None
    except ClientError as exc:
        raise OutputError(f"{path}: cannot read from S3 ({exc})") from None


class _Source:
    """A local folder or an S3 prefix, listed once and read file by file."""

    def __init__(self, root: str, client: S3Client | None) -> None:
        self.root = root
        self.client = client

    @staticmethod
    def for_path(path: str | os.PathLike[str], client: S3Client | None) -> _Source:
        if is_s3(path):
            return _Source(str(path), s3_client(client=client))
        return _Source(str(path), None)

    def list(self) -> list[str]:
        """Paths relative to the root, POSIX style."""
        if self.client is None:
            root = Path(self.root)
            return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        bucket, prefix = parse_s3_uri(join_uri(self.root, ""))
        out: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            out.extend(obj["Key"][len(prefix) :] for obj in page.get("Contents", ()))
        return sorted(out)

    def read_bytes(self, path: str) -> bytes:
        with _reading(path):
            if self.client is None:
                return Path(path).read_bytes()
            bucket, key = parse_s3_uri(path)
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    def parsed_blocks(self, path: str, lenient: bool) -> Iterator[Block]:
        """A manifest parsed block by block, in order, on every core. Workers read their own
        byte ranges of a local file; an S3 object is streamed to them, never held whole."""
        if self.client is None:
            ranges = list(file_ranges(path))
            with Path(path).open("rb") as f:
                threads = compiled_detection(f.read(_HEAD_BYTES))
            read = partial(parse_range, lenient=lenient)
            return map_blocks(read, ranges, threads=threads)
        bucket, key = parse_s3_uri(path)
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        blocks = iter_blocks(body.iter_chunks(chunk_size=_CHUNK_BYTES))
        first = next(blocks, None)
        if first is None:
            return iter(())
        threads = compiled_detection(first[:_HEAD_BYTES])
        parse = partial(parse_block, lenient=lenient)
        everything = chain([first], blocks)
        return map_blocks(parse, everything, threads=threads)

    def full(self, relative: str) -> str:
        return join_uri(self.root, relative) if self.client else str(Path(self.root) / relative)


def _iteration_of(parts: tuple[str, ...]) -> int | None:
    """The iteration a path belongs to: its ``iteration-N`` folder, any size of N."""
    for part in parts:
        m = _ITERATION_RE.match(part)
        if m:
            return int(m.group(1))
    return None


def _auto_iteration(parts: tuple[str, ...]) -> int | None:
    """Iteration of an ``activelearning`` file: the nearest all-digit folder above it."""
    for part in reversed(parts[:-1]):
        if part.isdigit():
            return int(part)
        m = _ITERATION_RE.match(part)
        if m:
            return int(m.group(1))
    return None


def _empty_answers() -> pd.DataFrame:
    return _frame(
        {
            "index": pd.Series(dtype="int64"),
            "iteration": pd.Series(dtype="int64"),
            "worker": pd.Series(dtype="object"),
            "seconds": pd.Series(dtype="float64"),
            "submitted": pd.Series(dtype="datetime64[us, UTC]"),
            "answer": pd.Series(dtype="object"),
        }
    )


def _empty_consolidations() -> pd.DataFrame:
    return _frame({"index": pd.Series(dtype="int64"), "iteration": pd.Series(dtype="int64")})


def _find_manifest(files: list[str]) -> str:
    for candidate in ("manifests/output/output.manifest", "output.manifest"):
        if candidate in files:
            return candidate
    manifests = [f for f in files if f.endswith(".manifest") and "intermediate" not in f]
    if len(manifests) == 1:
        return manifests[0]
    raise OutputError(
        "no output manifest found (looked for manifests/output/output.manifest"
        + (f"; candidates: {', '.join(manifests[:5])}" if manifests else "")
        + ")"
    )


def _worker_answers(
    src: _Source, files: list[str], lenient: bool, skipped: list[Problem]
) -> pd.DataFrame:
    cols = _Columns("index", "iteration", "worker", "seconds", "submitted", "answer")
    for rel in files:
        parts = PurePosixPath(rel).parts
        if "worker-response" not in parts or not rel.endswith(".json"):
            continue
        iteration = _iteration_of(parts)
        try:
            index = int(parts[-2])
        except ValueError:
            index = -1
        if iteration is None or index < 0:
            problem = Problem(rel, "worker response outside iteration-<N>/<datasetObjectId>/")
            _skip(problem, lenient, skipped)
            continue
        try:
            doc = orjson.loads(src.read_bytes(src.full(rel)))
            answers = doc["answers"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            problem = Problem(f"{rel}:1", f"not a worker-response document ({exc})")
            _skip(problem, lenient, skipped)
            continue
        for answer in answers:
            cols.cols["index"].append(index)
            cols.cols["iteration"].append(iteration)
            cols.cols["worker"].append(answer.get("workerId"))
            spent = answer.get("timeSpentInSeconds")
            cols.cols["seconds"].append(number(spent) if spent is not None else float("nan"))
            cols.cols["submitted"].append(answer.get("submissionTime"))
            cols.cols["answer"].append(orjson.dumps(answer.get("answerContent")).decode())
    if not cols.cols["index"]:
        return _empty_answers()
    df = cols.frame({"index": "int64", "iteration": "int64", "seconds": "float64"})
    df["submitted"] = parse_creation_dates(cols.cols["submitted"])
    return df


def _consolidations(
    src: _Source, files: list[str], lenient: bool, skipped: list[Problem]
) -> pd.DataFrame:
    idx: list[int] = []
    its: list[int] = []
    for rel in files:
        parts = PurePosixPath(rel).parts
        if "consolidation-response" not in parts or not rel.endswith(".json"):
            continue
        iteration = _iteration_of(parts)
        try:
            doc = orjson.loads(src.read_bytes(src.full(rel)))
            ids = [int(item["datasetObjectId"]) for item in doc]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            problem = Problem(f"{rel}:1", f"not a consolidation response ({exc})")
            _skip(problem, lenient, skipped)
            continue
        if iteration is None:
            continue
        idx.extend(ids)
        its.extend([iteration] * len(ids))
    return _frame(
        {"index": np.array(idx, dtype="int64"), "iteration": np.array(its, dtype="int64")}
    )


def _auto_labels(
    src: _Source, files: list[str], sources: pd.Series, lenient: bool, skipped: list[Problem]
) -> dict[int, int]:
    """Dataset object index -> iteration, from ``activelearning/**/auto_annotator_output.txt``."""
    by_source = {s: int(str(i)) for i, s in sources.items() if isinstance(s, str)}
    out: dict[int, int] = {}
    for rel in files:
        parts = PurePosixPath(rel).parts
        if "activelearning" not in parts or parts[-1] != "auto_annotator_output.txt":
            continue
        iteration = _auto_iteration(parts)
        if iteration is None:
            continue
        for line, raw in enumerate(src.read_bytes(src.full(rel)).splitlines(), start=1):
            if not raw.strip():
                continue
            token, _, body = raw.partition(b" ")
            try:
                record = orjson.loads(body) if body.strip() else {}
            except orjson.JSONDecodeError as exc:
                problem = Problem(f"{rel}:{line}", f"not 'token JSON': {exc}")
                _skip(problem, lenient, skipped)
                continue
            key = token.decode(errors="replace")
            source = source_of(record) if isinstance(record, dict) else None
            index = int(key) if key.isdigit() else by_source.get(source or key, -1)
            if index >= 0:
                out.setdefault(index, iteration)
                out[index] = min(out[index], iteration)
    return out


def read_output(
    path: str | os.PathLike[str], *, lenient: bool = False, client: S3Client | None = None
) -> JobOutput:
    """Read a job's output: an output tree (local folder or ``s3://`` prefix) or one manifest.

    From a tree it reads the final manifest, then assigns each labeled object the iteration in
    which it was labeled from whatever evidence the tree holds: intermediate manifests, worker
    responses and consolidation responses per iteration, and auto-annotations under
    ``activelearning/``. Where the evidence disagrees, the earliest iteration wins.
    """
    src = _Source.for_path(path, client)
    single = (is_s3(path) and str(path).endswith(".manifest")) or (
        not is_s3(path) and Path(path).is_file()
    )
    if single:
        return read_manifest(path, lenient=lenient, client=client)
    if not is_s3(path) and not Path(path).is_dir():
        raise OutputError(f"{path}: no such folder or manifest file")
    files = src.list()
    manifest_rel = _find_manifest(files)
    manifest_path = src.full(manifest_rel)
    objects, boxes, classes, skipped = _parse_manifest(src, manifest_path, lenient=lenient)
    answers = _worker_answers(src, files, lenient, skipped)
    consolidations = _consolidations(src, files, lenient, skipped)

    first: dict[int, int] = {}

    def note(index: int, iteration: int) -> None:
        if index not in first or iteration < first[index]:
            first[index] = iteration

    sources = objects.drop_duplicates("index").set_index("index")["source"]
    source_index = {s: i for i, s in sources.items() if isinstance(s, str)}
    intermediate = sorted(
        (n, rel)
        for rel in files
        if (parts := PurePosixPath(rel).parts)[:2] == ("manifests", "intermediate")
        and len(parts) == 4
        and parts[2].isdigit()
        and (n := int(parts[2])) >= 0
    )
    for n, rel in intermediate:
        inter, _, _, more = _parse_manifest(src, src.full(rel), lenient=lenient, name=rel)
        skipped.extend(more)
        labeled = inter[inter["attribute"].notna() & inter["failure_reason"].isna()]
        for s in labeled["source"]:
            if isinstance(s, str) and s in source_index:
                note(source_index[s], n)
    for i, n in zip(answers["index"].tolist(), answers["iteration"].tolist(), strict=True):
        note(i, n)
    for i, n in zip(
        consolidations["index"].tolist(), consolidations["iteration"].tolist(), strict=True
    ):
        note(i, n)
    for i, n in _auto_labels(src, files, sources, lenient, skipped).items():
        note(i, n)
    has_iterations = bool(first)
    if has_iterations:
        mapped = objects["index"].map(first)
        objects["iteration"] = pd.array(mapped.where(mapped.notna(), None), dtype="Int64")
    return JobOutput(
        objects, boxes, classes, answers, consolidations, manifest_path, skipped, has_iterations
    )


def read_seqlabel(path: str | os.PathLike[str], *, client: S3Client | None = None) -> pd.DataFrame:
    """Read a video tracking or detection ``SeqLabel.json`` into one row per box per frame.

    Columns: ``frame`` (number), ``frame_name``, ``object_id``, ``object_name``, ``class_id``,
    ``label``, ``left``, ``top``, ``width``, ``height`` (pixels).
    """
    src = _Source.for_path(path, client)
    try:
        doc = orjson.loads(src.read_bytes(str(path)))
    except orjson.JSONDecodeError as exc:
        raise OutputError(f"{path}: not JSON ({exc})") from None
    frames = doc.get("tracking-annotations") or doc.get("detection-annotations")
    if not isinstance(frames, list):
        raise OutputError(f"{path}: no 'tracking-annotations' or 'detection-annotations' list")
    cols = _Columns(
        "frame", "frame_name", "object_id", "object_name", "class_id", "label",
        "left", "top", "width", "height",
    )  # fmt: skip
    c = cols.cols
    for position, frame in enumerate(frames):
        frame_no = frame.get("frame-no", position)
        for box in frame.get("annotations") or []:
            c["frame"].append(to_int(frame_no))
            c["frame_name"].append(frame.get("frame"))
            c["object_id"].append(box.get("object-id"))
            c["object_name"].append(box.get("object-name"))
            c["class_id"].append(to_int(box.get("class-id")))
            c["label"].append(box.get("label"))
            for k in ("left", "top", "width", "height"):
                c[k].append(number(box.get(k)))
    return cols.frame({"frame": "int64", "class_id": "int64"})
