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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import orjson
import pandas as pd
from botocore.exceptions import ClientError

from gtkit._io import is_s3, join_uri, parse_s3_uri, s3_client
from gtkit.errors import OutputError, Problem

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

_DETECTION = "groundtruth/object-detection"
_ITERATION_RE = re.compile(r"^iteration-(\d+)$")
_JS_DATE_RE = re.compile(r"^\w{3} (\w{3}) (\d{1,2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT([+-]\d{4})")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}


def is_groundtruth_metadata(value: object) -> bool:
    """Whether ``value`` is a Ground Truth label-metadata object (judged by its content)."""
    if not isinstance(value, dict):
        return False
    kind = value.get("type")
    return (isinstance(kind, str) and kind.startswith("groundtruth/")) or (
        "human-annotated" in value or "failure-reason" in value
    )


def find_label_attributes(record: Mapping[str, Any]) -> list[str]:
    """The label attributes of one manifest line, in the line's key order.

    An attribute is any ``X`` whose ``X-metadata`` is Ground Truth metadata, whether or not the
    line also has a value under ``X`` (failures and mismatched keys have none).

    >>> find_label_attributes({"source-ref": "s3://b/a.jpg", "cat": 1,
    ...     "cat-metadata": {"type": "groundtruth/image-classification"},
    ...     "notes-metadata": {"author": "me"}})
    ['cat']
    """
    return [
        key[:-9]
        for key, value in record.items()
        if key.endswith("-metadata") and is_groundtruth_metadata(value)
    ]


def _js_date(text: str) -> datetime | None:
    m = _JS_DATE_RE.match(text)
    if not m:
        return None
    month, day, year, hh, mm, ss, offset = m.groups()
    sign = 1 if offset[0] == "+" else -1
    minutes = sign * (int(offset[1:3]) * 60 + int(offset[3:5]))
    local = datetime(int(year), _MONTHS[month], int(day), int(hh), int(mm), int(ss))
    return (local - timedelta(minutes=minutes)).replace(tzinfo=timezone.utc)


def parse_creation_dates(values: Iterable[str | None]) -> pd.Series:
    """Parse ``creation-date`` strings of every format seen in real files, to UTC.

    ISO 8601 with or without microseconds, milliseconds, ``Z`` or ``+0000`` (naive times are
    UTC, as Ground Truth writes them), and JavaScript date strings such as
    ``Mon Aug 22 2022 13:52:52 GMT-0700 (Pacific Daylight Time)``. Unparseable dates are NaT.
    """
    raw = pd.Series(list(values), dtype="object")
    parsed = pd.to_datetime(raw, format="ISO8601", utc=True, errors="coerce")
    missing = parsed.isna() & raw.notna()
    if missing.any():
        fixed = [_js_date(str(v)) for v in raw[missing]]
        parsed[missing] = pd.Series(fixed, index=raw[missing].index, dtype="object").astype(
            "datetime64[ns, UTC]"
        )
    return parsed


def _frame(data: Mapping[str, Any]) -> pd.DataFrame:
    df: pd.DataFrame = pd.DataFrame(dict(data))
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


def _number(value: Any) -> float:
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if value is None or kind is bool:  # no exception on the common missing case: it is hot
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _human(value: Any) -> Any:
    if value in ("yes", "true", True):
        return True
    if value in ("no", "false", False):
        return False
    return pd.NA


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
        return [str(a) for a in self.objects["attribute"].dropna().unique()]

    @property
    def job_names(self) -> list[str]:
        """The job names found (without ``labeling-job/``), in order of first appearance."""
        return [str(a) for a in self.objects["job_name"].dropna().unique()]

    def for_attribute(self, attribute: str) -> JobOutput:
        """The same output restricted to one label attribute."""

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


# ---------------------------------------------------------------------- manifest parsing
_OBJECT_COLS = (
    "index", "line", "source", "attribute", "task_type", "human", "confidence",
    "job_name", "failure_reason", "value",
)  # fmt: skip
_BOX_COLS = (
    "index", "attribute", "class_id", "class_name", "left", "top", "width", "height",
    "confidence", "image_width", "image_height",
)  # fmt: skip
_CLASS_COLS = ("index", "attribute", "class_id", "class_name", "confidence")


def _source_of(record: Mapping[str, Any]) -> str | None:
    ref = record.get("source-ref")
    if isinstance(ref, str):
        return ref
    text = record.get("source")
    return text if isinstance(text, str) else None


class _ManifestParser:
    """Turns parsed manifest records into column lists."""

    def __init__(self) -> None:
        self.objects = _Columns(*_OBJECT_COLS)
        self.boxes = _Columns(*_BOX_COLS)
        self.classes = _Columns(*_CLASS_COLS)
        self.dates: list[str | None] = []
        self._shared: dict[Any, Any] = {}

    def intern(self, text: Any) -> Any:
        """One shared object per repeated value (attribute, job, class names): every line would
        otherwise hold its own copy, and there are millions of lines."""
        return self._shared.setdefault(text, text) if type(text) is str else text

    def mark(self) -> tuple[int, int, int]:
        """Column lengths now, to undo a line that fails half-way."""
        return (
            len(self.objects.cols["index"]),
            len(self.boxes.cols["index"]),
            len(self.classes.cols["index"]),
        )

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """Drop whatever a failed line appended, so every column keeps one length."""
        for columns, n in zip((self.objects, self.boxes, self.classes), mark, strict=True):
            for values in columns.cols.values():
                del values[n:]
        del self.dates[mark[0] :]

    def add(self, index: int, line: int, record: dict[str, Any]) -> None:
        source = _source_of(record)
        attributes = find_label_attributes(record)
        if not attributes:
            self._object(index, line, source, None, {}, None, float("nan"))
            return
        for attr in attributes:
            meta = record[attr + "-metadata"]
            value = record.get(attr)
            kind = meta.get("type")
            confidence = _number(meta.get("confidence"))
            if kind == _DETECTION or (
                kind is None
                and isinstance(value, dict)
                and "annotations" in value
                and "image_size" in value
            ):
                confidence = self._boxes(index, attr, value, meta)
            elif value is not None or "class-name" in meta:
                self._classes(index, attr, value, meta)
            raw = None
            if value is not None and kind != _DETECTION and not isinstance(value, (int, str)):
                raw = orjson.dumps(value).decode()
            elif isinstance(value, str):
                raw = value
            self._object(index, line, source, attr, meta, raw, confidence)

    def _object(
        self,
        index: int,
        line: int,
        source: str | None,
        attr: str | None,
        meta: Mapping[str, Any],
        raw: str | None,
        confidence: float,
    ) -> None:
        c = self.objects.cols
        c["index"].append(index)
        c["line"].append(line)
        c["source"].append(source)
        c["attribute"].append(self.intern(attr))
        kind = meta.get("type")
        task = kind[len("groundtruth/") :] if isinstance(kind, str) else None
        c["task_type"].append(self.intern(task))
        c["human"].append(_human(meta.get("human-annotated")))
        c["confidence"].append(confidence)
        date = meta.get("creation-date")
        self.dates.append(date if isinstance(date, str) else None)
        job = meta.get("job-name")
        if isinstance(job, str) and job.startswith("labeling-job/"):
            job = job[len("labeling-job/") :]
        c["job_name"].append(self.intern(job) if isinstance(job, str) else None)
        reason = meta.get("failure-reason")
        c["failure_reason"].append(reason if isinstance(reason, str) else None)
        c["value"].append(raw)

    def _boxes(self, index: int, attr: str, value: Any, meta: Mapping[str, Any]) -> float:
        # The hot path: raw values are appended as they are and converted column by column
        # with numpy in frames(), never one helper call per number.
        if not isinstance(value, dict):
            return float("nan")
        annotations = value.get("annotations") or ()
        if not annotations:
            return float("nan")
        sizes = value.get("image_size")
        size = sizes[0] if isinstance(sizes, list) and sizes and isinstance(sizes[0], dict) else {}
        width, height = size.get("width"), size.get("height")
        class_map = meta.get("class-map")
        names = class_map.get if isinstance(class_map, dict) else {}.get
        confidences = meta.get("objects")
        if not isinstance(confidences, list):
            confidences = []
        c = self.boxes.cols
        ids, cls, names_out = c["index"], c["class_id"], c["class_name"]
        left, top, w, h = c["left"], c["top"], c["width"], c["height"]
        conf, iw, ih, at = c["confidence"], c["image_width"], c["image_height"], c["attribute"]
        n_conf = len(confidences)
        intern = self.intern
        attr_shared = intern(attr)
        total = 0.0
        counted = 0
        for i, box in enumerate(annotations):
            get = box.get
            class_id = get("class_id")
            ids.append(index)
            at.append(attr_shared)
            cls.append(class_id)
            names_out.append(intern(names(str(class_id))))
            left.append(get("left"))
            top.append(get("top"))
            w.append(get("width"))
            h.append(get("height"))
            iw.append(width)
            ih.append(height)
            score = (
                confidences[i].get("confidence")
                if i < n_conf and type(confidences[i]) is dict
                else None
            )
            conf.append(score)
            if type(score) is float or type(score) is int:
                total += score
                counted += 1
        # The image's confidence is the mean of its boxes' (as automated labeling defines it).
        return total / counted if counted else float("nan")

    def _classes(self, index: int, attr: str, value: Any, meta: Mapping[str, Any]) -> None:
        c = self.classes.cols

        def add(class_id: int, name: Any, conf: float) -> None:
            c["index"].append(index)
            c["attribute"].append(self.intern(attr))
            c["class_id"].append(class_id)
            c["class_name"].append(self.intern(name) if isinstance(name, str) else None)
            c["confidence"].append(conf)

        color_map = meta.get("internal-color-map")
        if isinstance(color_map, dict):
            for key, entry in color_map.items():
                if isinstance(entry, dict):
                    add(_int(key), entry.get("class-name"), _number(entry.get("confidence")))
            return
        if isinstance(value, dict) and isinstance(value.get("annotations"), dict):
            entities = value["annotations"].get("entities") or []
            confs = meta.get("entities") or []
            for i, ent in enumerate(entities):
                conf = (
                    confs[i].get("confidence")
                    if i < len(confs) and isinstance(confs[i], dict)
                    else None
                )
                add(-1, ent.get("label") if isinstance(ent, dict) else None, _number(conf))
            return
        if isinstance(value, list):
            class_map = meta.get("class-map") or {}
            conf_map = meta.get("confidence-map") or {}
            for item in value:
                add(_int(item), class_map.get(str(item)), _number(conf_map.get(str(item))))
            return
        if isinstance(value, (int, str)) or "class-name" in meta:
            add(_int(value), meta.get("class-name"), _number(meta.get("confidence")))

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        objects = self.objects.frame()
        objects["human"] = objects["human"].astype("boolean")
        objects["confidence"] = objects["confidence"].astype("float64")
        objects["creation_date"] = parse_creation_dates(self.dates)
        objects["iteration"] = pd.array([pd.NA] * len(objects), dtype="Int64")
        b = self.boxes.cols
        boxes = _frame(
            {
                "index": np.array(b["index"], dtype=np.int64),
                "attribute": b["attribute"],
                "class_id": _int_column(b["class_id"]),
                "class_name": b["class_name"],
                **{
                    k: _float_column(b[k])
                    for k in ("left", "top", "width", "height", "confidence",
                              "image_width", "image_height")
                },
            }
        )  # fmt: skip
        classes = self.classes.frame(
            {"index": "int64", "class_id": "int64", "confidence": "float64"}
        )
        return objects, boxes, classes


_INT64_MAX = 2**63 - 1


def _float_column(values: list[Any]) -> np.ndarray:
    """Raw JSON values as float64 in one step; anything not a number becomes NaN."""
    try:
        return np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        series = pd.Series(values, dtype="object")
        numeric = series.map(lambda v: v if type(v) in (int, float) else None)
        out: np.ndarray = pd.to_numeric(numeric, errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        return out


def _int_column(values: list[Any]) -> np.ndarray:
    """Raw class ids as int64 in one step; anything not an int64 integer becomes -1."""
    try:
        return np.array(values, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        return np.array([_int(v) for v in values], dtype=np.int64)


def _int(value: Any) -> int:
    """A class id as an int; -1 where the value is not one (text, null, out of int64 range)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return -1
    return number if -_INT64_MAX <= number <= _INT64_MAX else -1


def _skip(problem: Problem, lenient: bool, skipped: list[Problem]) -> None:
    """Raise OutputError for malformed input or, reading leniently, list it as skipped."""
    if not lenient:
        raise OutputError(str(problem)) from None
    skipped.append(problem)


def _iter_records(
    lines: Iterable[bytes], name: str, lenient: bool, skipped: list[Problem]
) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Yield (datasetObjectId, line number, record); the id counts every non-blank line."""
    index = -1
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        index += 1
        try:
            record = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problem = Problem(f"{name}:{number}", f"not JSON: {exc}")
        else:
            if isinstance(record, dict):
                yield index, number, record
                continue
            kind = type(record).__name__
            problem = Problem(f"{name}:{number}", f"expected a JSON object, got {kind}")
        _skip(problem, lenient, skipped)


def _parse_manifest_lines(
    lines: Iterable[bytes], name: str, *, lenient: bool
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[Problem]]:
    """Parse manifest lines (split on newlines, JSON Lines style) as they stream in."""
    skipped: list[Problem] = []
    parser = _ManifestParser()
    for index, number, record in _iter_records(lines, name, lenient, skipped):
        mark = parser.mark()
        try:
            parser.add(index, number, record)
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            parser.rollback(mark)
            problem = Problem(f"{name}:{number}", f"unexpected label shape ({exc!r})")
            _skip(problem, lenient, skipped)
    objects, boxes, classes = parser.frames()
    return objects, boxes, classes, skipped


def read_manifest(
    path: str | os.PathLike[str], *, lenient: bool = False, client: S3Client | None = None
) -> JobOutput:
    """Read one output manifest (local path or ``s3://`` URI) into tables.

    Malformed lines raise OutputError naming the file and line; with ``lenient=True`` they are
    listed in ``JobOutput.skipped`` with reasons instead (never dropped silently).
    """
    lines = _Source.for_path(path, client).iter_lines(str(path))
    objects, boxes, classes, skipped = _parse_manifest_lines(lines, str(path), lenient=lenient)
    return JobOutput(
        objects, boxes, classes, _empty_answers(), _empty_consolidations(), str(path), skipped
    )


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

    def iter_lines(self, path: str) -> Iterator[bytes]:
        """The file's lines, streamed: a large manifest is never held in memory whole."""
        with _reading(path):
            if self.client is None:
                with Path(path).open("rb") as f:
                    yield from f
                return
            bucket, key = parse_s3_uri(path)
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
            yield from body.iter_lines(chunk_size=1 << 20, keepends=True)

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
            "submitted": pd.Series(dtype="datetime64[ns, UTC]"),
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
            cols.cols["seconds"].append(_number(spent) if spent is not None else float("nan"))
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
        for number, raw in enumerate(src.read_bytes(src.full(rel)).splitlines(), start=1):
            if not raw.strip():
                continue
            token, _, body = raw.partition(b" ")
            try:
                record = orjson.loads(body) if body.strip() else {}
            except orjson.JSONDecodeError as exc:
                problem = Problem(f"{rel}:{number}", f"not 'token JSON': {exc}")
                _skip(problem, lenient, skipped)
                continue
            key = token.decode(errors="replace")
            source = _source_of(record) if isinstance(record, dict) else None
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
    objects, boxes, classes, skipped = _parse_manifest_lines(
        src.iter_lines(manifest_path), manifest_path, lenient=lenient
    )
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
        inter, _, _, more = _parse_manifest_lines(
            src.iter_lines(src.full(rel)), rel, lenient=lenient
        )
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
        number = frame.get("frame-no", position)
        for box in frame.get("annotations") or []:
            c["frame"].append(_int(number))
            c["frame_name"].append(frame.get("frame"))
            c["object_id"].append(box.get("object-id"))
            c["object_name"].append(box.get("object-name"))
            c["class_id"].append(_int(box.get("class-id")))
            c["label"].append(box.get("label"))
            for k in ("left", "top", "width", "height"):
                c[k].append(_number(box.get(k)))
    return cols.frame({"frame": "int64", "class_id": "int64"})
