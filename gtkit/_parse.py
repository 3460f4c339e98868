"""Manifest lines to columns: the hot path under :mod:`gtkit._output`.

A block of output-manifest lines (bytes that end at a line boundary) becomes a :class:`Block` of
numpy columns, on threads of this process or in worker processes (:func:`map_blocks`), so that
a large manifest is read on every core and never held in memory whole.

Object-detection lines of the usual shape (``source-ref``, one label attribute and its
metadata) are read by the compiled reader ``gtkit._scan`` where it was built (``_scan.c``), or
else by a Python fast path that moves whole annotation lists into columns with C-level ``map``
calls. Any other line, or a detection line that differs in any detail, takes the general path.
All three give a line the same columns; tests hold them to it.
"""

from __future__ import annotations

import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import chain
from multiprocessing.context import BaseContext
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import orjson
import pandas as pd

DETECTION = "groundtruth/object-detection"
_JOB_PREFIX = "labeling-job/"
_PLAIN_DATE_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\Z", re.ASCII)
_FEW_DATES = 64
_JS_DATE_RE = re.compile(r"^\w{3} (\w{3}) (\d{1,2}) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT([+-]\d{4})")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1
    )
}
_ID_MAX = 2**53  # class ids beyond this are not exact as float64
_NAN = float("nan")

#: Bytes per block handed to a worker: large enough that pickling results is cheap per line,
#: small enough that a worker's peak memory stays modest.
BLOCK_BYTES = 8 << 20
#: Tests turn the fast path off to compare it with the general one.
FAST_PATH = True

Scanned = tuple[int, int, list[str], list[str], list[str], list[str], bytes, bytes, list[bytes]]


def _compiled_reader() -> Callable[[bytes, int, bytes], Scanned] | None:
    try:
        from gtkit._scan import scan
    except ImportError:  # installed where it could not be compiled: the Python reader alone
        return None
    return scan


def _compiled_codes() -> Callable[[object], tuple[bytes, list[object]] | None] | None:
    try:
        from gtkit._match import text_codes
    except ImportError:  # installed where it could not be compiled
        return None
    return text_codes


_SCAN = _compiled_reader()
_TEXT_CODES = _compiled_codes()
#: Whether the compiled parts are used, where they were built (tests turn them off to compare).
COMPILED = _SCAN is not None


def text_codes(values: np.ndarray) -> tuple[np.ndarray, list[object]] | None:
    """A column (an object array) of texts and Nones as int64 codes and its distinct values in
    order of first appearance, by the compiled part (neighbours, usually the very same object,
    compared by identity first); None where it was not built or is turned off, or a value is
    neither text nor None: the caller asks pandas."""
    if not COMPILED or _TEXT_CODES is None:
        return None
    found = _TEXT_CODES(values.tolist())  # a list: read in place
    if found is None:
        return None
    return np.frombuffer(found[0], dtype=np.int64), found[1]


def distinct_values(values: np.ndarray) -> list[object]:
    """The distinct values of a column (an object array), in order of first appearance, as
    pandas.unique gives them (label attributes, job names: one text many times over)."""
    found = text_codes(values)
    return found[1] if found is not None else list(pd.unique(values))


#: A compiled run this long sends the Python reader back to taking one line at a time.
_LONG_RUN = 256
#: Class ids below this are looked up in a table by id rather than sorted (they are small).
_CLASS_TABLE = 1 << 16


# ---------------------------------------------------------------------- values
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
    Each distinct string is parsed once.
    """
    out: pd.Series = pd.Series(_utc_dates(values), dtype="datetime64[us]").dt.tz_localize("UTC")
    return out


def _utc_dates(values: Iterable[Any]) -> np.ndarray:
    """:func:`parse_creation_dates` as a datetime64[us] array of naive UTC times (a block's
    column, made time-zone aware once the blocks are joined)."""
    texts = values if isinstance(values, np.ndarray) else _objects(list(values))
    if pd.api.types.infer_dtype(texts, skipna=True) not in ("string", "empty"):
        texts = _objects([v if isinstance(v, str) else None for v in texts])
    codes, uniques = pd.factorize(texts)
    out: np.ndarray = _date_table(uniques)[codes]
    return out


def _date_table(texts: Sequence[str] | np.ndarray) -> np.ndarray:
    """Distinct creation-date texts as naive UTC datetime64[us] values, NaT appended (the
    value of code -1, a missing date)."""
    if len(texts) <= _FEW_DATES and all(
        isinstance(t, str) and _PLAIN_DATE_RE.match(t) and 1678 <= int(t[:4]) <= 2261 for t in texts
    ):
        # Ground Truth's own form, a handful a block: numpy reads it as pandas does, without
        # pandas' fixed cost (2 ms a call, most of a block's finishing time). Years within
        # what pandas 2 holds in nanoseconds: beyond them, pandas 2 reads NaT, pandas 3 a date.
        try:
            plain = np.array(list(texts), dtype="datetime64[us]")
        except ValueError:  # no such day, say: pandas' rules decide
            pass
        else:
            return np.append(plain, np.datetime64("NaT", "us"))
    distinct = pd.Series(texts, dtype="object")
    parsed = pd.to_datetime(distinct, format="ISO8601", utc=True, errors="coerce")
    parsed = parsed.astype("datetime64[us, UTC]")
    missing = parsed.isna()
    if missing.any():
        fixed = [_js_date(str(v)) for v in distinct[missing]]
        parsed[missing] = pd.Series(fixed, index=distinct[missing].index, dtype="object").astype(
            "datetime64[us, UTC]"
        )
    table: np.ndarray = np.append(parsed.dt.tz_convert(None).to_numpy(), np.datetime64("NaT", "us"))
    return table


def source_of(record: Mapping[str, Any]) -> str | None:
    """A line's data object: ``source-ref`` (a URI) or ``source`` (inline text)."""
    ref = record.get("source-ref")
    if isinstance(ref, str):
        return ref
    text = record.get("source")
    return text if isinstance(text, str) else None


def number(value: Any) -> float:
    """A JSON value as a float; NaN where it is not a number (or a numeric string)."""
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if value is None or kind is bool:  # no exception on the common missing case: it is hot
        return _NAN
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return _NAN


def to_int(value: Any) -> int:
    """A class id as an int: an integral JSON number or numeric text (``3``, ``3.0``, ``"3"``);
    -1 for anything else (``3.5``, other text, null, a bool, beyond +-2**53)."""
    if type(value) is int:
        return value if -_ID_MAX <= value <= _ID_MAX else -1
    f = number(value)
    return int(f) if f.is_integer() and -_ID_MAX <= f <= _ID_MAX else -1


def class_ids(values: np.ndarray) -> np.ndarray:
    """:func:`to_int` of a float64 column made by :func:`float_column`."""
    with np.errstate(invalid="ignore"):
        ok = (np.abs(values) <= _ID_MAX) & (values == np.trunc(values))
    out: np.ndarray = np.where(ok, values, -1).astype(np.int64)
    return out


def float_column(values: Sequence[Any]) -> np.ndarray:
    """Raw JSON values as float64; anything not a number (or numeric text) becomes NaN."""
    try:
        # numpy converts text as float() does, and None to NaN, as number() does; ...
        out = np.fromiter(values, dtype=np.float64, count=len(values))
    except (TypeError, ValueError, OverflowError):
        return _numbers(values)
    # ... but a bool to 0 or 1, where number() says NaN: look at those values only.
    suspects = np.flatnonzero((out == 0.0) | (out == 1.0)).tolist()
    if suspects and any(type(values[i]) is bool for i in suspects):
        return _numbers(values)
    return out


def _numbers(values: Iterable[Any]) -> np.ndarray:
    return np.fromiter(map(number, values), dtype=np.float64)


_CLASS_ID_AT = itemgetter(4)


def box_columns(boxes: Sequence[tuple[Any, ...]]) -> np.ndarray:
    """Rows of raw (left, top, width, height, class_id) values as a float64 (n, 5) array, each
    value converted as :func:`float_column` converts it."""
    shape = (len(boxes), 5)
    try:
        out = np.fromiter(chain.from_iterable(boxes), dtype=np.float64, count=5 * len(boxes))
    except (TypeError, ValueError, OverflowError):
        return _numbers(chain.from_iterable(boxes)).reshape(shape)
    out = out.reshape(shape)
    # Bools show as 0 or 1 (see float_column). Class ids are nearly all 0 or 1 in jobs of one
    # or two classes, so that column is checked by type; the coordinates rarely are.
    coords = out[:, :4]
    rows = np.flatnonzero(((coords == 0.0) | (coords == 1.0)).any(axis=1)).tolist()
    if any(type(v) is bool for i in rows for v in boxes[i]) or bool in set(
        map(type, map(_CLASS_ID_AT, boxes))
    ):
        return _numbers(chain.from_iterable(boxes)).reshape(shape)
    return out


def human_code(value: Any) -> int:
    """1 for a human label, 0 for a machine label, -1 where ``human-annotated`` says neither."""
    if value in ("yes", "true", True):
        return 1
    if value in ("no", "false", False):
        return 0
    return -1


def _codes(
    values: Sequence[Any] | np.ndarray, convert: Callable[[Any], Any], dtype: Any
) -> np.ndarray:
    """``convert`` applied to each distinct value once (yes/no, job names, dates repeat)."""
    array = _objects(values)
    try:
        codes, uniques = pd.factorize(array)
    except TypeError:  # unhashable values, such as an object where text belongs
        converted = [convert(v) for v in values]
        return _objects(converted) if dtype is object else np.array(converted, dtype=dtype)
    return _decoded(codes, uniques, convert, dtype)


def _decoded(
    codes: np.ndarray,
    distinct: Sequence[Any] | np.ndarray,
    convert: Callable[[Any], Any],
    dtype: Any,
) -> np.ndarray:
    """``convert`` of each distinct value, taken by code (code -1, a missing value, takes
    ``convert(None)``)."""
    table = [convert(u) for u in distinct] + [convert(None)]
    lookup = _objects(table) if dtype is object else np.array(table, dtype=dtype)
    out: np.ndarray = lookup[codes]
    return out


def _job_name(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value[len(_JOB_PREFIX) :] if value.startswith(_JOB_PREFIX) else value


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# ---------------------------------------------------------------------- one block
OBJECT_COLUMNS = (
    "index", "line", "source", "attribute", "task_type", "human", "confidence",
    "job_name", "failure_reason", "value", "creation_date",
)  # fmt: skip
BOX_COLUMNS = (
    "index", "attribute", "class_id", "class_name", "left", "top", "width", "height",
    "confidence", "image_width", "image_height",
)  # fmt: skip
CLASS_COLUMNS = ("index", "attribute", "class_id", "class_name", "confidence")


@dataclass
class Block:
    """The columns of one block of lines; ``index`` and ``line`` count from the block's start."""

    lines: int
    records: int
    objects: dict[str, np.ndarray]
    boxes: dict[str, np.ndarray]
    classes: dict[str, np.ndarray]
    problems: list[tuple[int, str]] = field(default_factory=list)


_BOX_FIELDS = ("left", "top", "width", "height", "class_id")
_BOX_VALUES, _CONFIDENCE = itemgetter(*_BOX_FIELDS), itemgetter("confidence")
# The six fields of a detection label's metadata, and its value's two, on the fast path.
_META_VALUES = itemgetter(
    "type", "objects", "class-map", "human-annotated", "creation-date", "job-name"
)
_VALUE_VALUES = itemgetter("annotations", "image_size")


class _Builder:
    """The columns of one block, gathered as rows and moved into numpy every few hundred
    lines, while the numbers are still in the CPU cache and their Python objects can be freed.
    """

    # One row per object: (index, line, source, attribute, task_type, human-annotated,
    # confidence, confidence from boxes, creation-date, job-name, failure-reason, value,
    # boxes, class-map code, image width, image height); metadata values raw.
    _OBJ = (
        "index", "line", "source", "attribute", "task_type", "human", "confidence", "from_boxes",
        "date", "job", "failure", "value", "nboxes", "cmap", "image_width", "image_height",
    )  # fmt: skip
    _OBJ_TYPES: ClassVar[dict[str, Any]] = {
        "index": np.int64, "line": np.int64, "confidence": np.float64, "from_boxes": bool,
        "nboxes": np.int64, "cmap": np.int64, "image_width": float, "image_height": float,
    }  # fmt: skip
    _BOX = (*_BOX_FIELDS, "confidence")

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.boxes: list[tuple[Any, ...]] = []  # raw values of _BOX_FIELDS, one tuple per box
        self.scores: list[Any] = []  # raw confidence of each box
        self.c: dict[str, list[Any]] = {k: [] for k in CLASS_COLUMNS}
        self.done_objects: dict[str, list[np.ndarray]] = {k: [] for k in self._OBJ}
        self.done_boxes: dict[str, list[np.ndarray]] = {k: [] for k in self._BOX}
        self.maps: list[Any] = []  # distinct class maps; objects hold a code into this list
        self.last_map: Any = None
        self.last_code = -1

    def map_code(self, class_map: Any) -> int:
        """The code of a line's ``class-map`` (lines nearly always share one)."""
        if not isinstance(class_map, dict):
            return -1
        if class_map == self.last_map:
            return self.last_code
        if class_map in self.maps:
            code = self.maps.index(class_map)
        else:
            code = len(self.maps)
            self.maps.append(class_map)
        self.last_map, self.last_code = class_map, code
        return code

    def flush(self) -> None:
        """Move the rows and box lists gathered so far into numpy."""
        if self.rows:
            for key, column in zip(self._OBJ, zip(*self.rows, strict=True), strict=True):
                kind = self._OBJ_TYPES.get(key)
                if kind is float:
                    array = float_column(column)
                else:  # ints and bools of this module's making, or raw values as objects
                    array = np.fromiter(column, dtype=kind or object, count=len(column))
                self.done_objects[key].append(array)
            self.rows.clear()
        if self.boxes:
            self.add_boxes(box_columns(self.boxes), float_column(self.scores))
            self.boxes.clear()
            self.scores.clear()

    def add_boxes(self, numbers: np.ndarray, scores: np.ndarray) -> None:
        """Boxes as numbers: (n, 5) in ``_BOX_FIELDS`` order, and n confidences."""
        for i, key in enumerate(_BOX_FIELDS):
            values = numbers[:, i]
            self.done_boxes[key].append(class_ids(values) if key == "class_id" else values)
        self.done_boxes["confidence"].append(scores)

    def mark(self) -> tuple[int, int, int]:
        return len(self.rows), len(self.boxes), len(self.c["index"])

    def rollback(self, mark: tuple[int, int, int]) -> None:
        """Drop whatever a failed line appended, so every column keeps one length."""
        del self.rows[mark[0] :]
        del self.boxes[mark[1] :]
        del self.scores[mark[1] :]
        for values in self.c.values():
            del values[mark[2] :]

    # ------------------------------------------------------------------ general path
    def add(self, index: int, line: int, record: dict[str, Any]) -> None:
        """Any manifest line: every label attribute it has, of any task type."""
        source = source_of(record)
        attributes = find_label_attributes(record)
        if not attributes:
            self._object(index, line, source, None, {}, None, _NAN, False, 0, -1, None)
            return
        for attr in attributes:
            meta = record[attr + "-metadata"]
            value = record.get(attr)
            kind = meta.get("type")
            nboxes, cmap, size = 0, -1, None
            from_boxes = kind == DETECTION or (
                kind is None
                and isinstance(value, dict)
                and "annotations" in value
                and "image_size" in value
            )
            if from_boxes:
                nboxes, cmap, size = self._boxes(value, meta)
            elif value is not None or "class-name" in meta:
                self._classes(index, attr, value, meta)
            raw = None
            if value is not None and kind != DETECTION and not isinstance(value, (int, str)):
                raw = orjson.dumps(value).decode()
            elif isinstance(value, str):
                raw = value
            confidence = _NAN if from_boxes else number(meta.get("confidence"))
            self._object(
                index, line, source, attr, meta, raw, confidence, from_boxes, nboxes, cmap, size
            )

    def _object(
        self,
        index: int,
        line: int,
        source: str | None,
        attr: str | None,
        meta: Mapping[str, Any],
        raw: str | None,
        confidence: float,
        from_boxes: bool,
        nboxes: int,
        cmap: int,
        size: Mapping[str, Any] | None,
    ) -> None:
        kind = meta.get("type")
        size = size if size is not None else {}
        self.rows.append(
            (
                index, line, source, attr,
                kind[len("groundtruth/") :] if isinstance(kind, str) else None,
                meta.get("human-annotated"), confidence, from_boxes, meta.get("creation-date"),
                meta.get("job-name"), meta.get("failure-reason"), raw, nboxes, cmap,
                size.get("width"), size.get("height"),
            )
        )  # fmt: skip

    def _boxes(self, value: Any, meta: Mapping[str, Any]) -> tuple[int, int, Any]:
        """Append a detection label's boxes; return (boxes, class-map code, image size)."""
        if not isinstance(value, dict):
            return 0, -1, None
        annotations = value.get("annotations") or ()
        if not annotations:
            return 0, -1, None
        sizes = value.get("image_size")
        size = sizes[0] if isinstance(sizes, list) and sizes and isinstance(sizes[0], dict) else {}
        confidences = meta.get("objects")
        if not isinstance(confidences, list):
            confidences = []
        n = 0
        for i, box in enumerate(annotations):
            get = box.get
            self.boxes.append(tuple(map(get, _BOX_FIELDS)))
            score = confidences[i] if i < len(confidences) else None
            self.scores.append(score.get("confidence") if type(score) is dict else None)
            n += 1
        return n, self.map_code(meta.get("class-map")), size

    def _classes(self, index: int, attr: str, value: Any, meta: Mapping[str, Any]) -> None:
        c = self.c

        def add(class_id: int, name: Any, conf: float) -> None:
            c["index"].append(index)
            c["attribute"].append(attr)
            c["class_id"].append(class_id)
            c["class_name"].append(name if isinstance(name, str) else None)
            c["confidence"].append(conf)

        color_map = meta.get("internal-color-map")
        if isinstance(color_map, dict):
            for key, entry in color_map.items():
                if isinstance(entry, dict):
                    add(to_int(key), entry.get("class-name"), number(entry.get("confidence")))
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
                add(-1, ent.get("label") if isinstance(ent, dict) else None, number(conf))
            return
        if isinstance(value, list):
            class_map = meta.get("class-map") or {}
            conf_map = meta.get("confidence-map") or {}
            for item in value:
                add(to_int(item), class_map.get(str(item)), number(conf_map.get(str(item))))
            return
        if isinstance(value, (int, str)) or "class-name" in meta:
            add(to_int(value), meta.get("class-name"), number(meta.get("confidence")))

    # ------------------------------------------------------------------ to numpy
    def finish(
        self,
        lines: int,
        records: int,
        problems: list[tuple[int, str]],
        coded: Mapping[str, tuple[np.ndarray, list[str]]] | None = None,
    ) -> Block:
        """The block's columns; ``coded`` gives the ``human``, ``job``, ``date`` and
        ``failure`` columns as codes into their distinct texts instead of ``done_objects`` (the
        compiled reader's)."""
        self.flush()
        o = {
            k: _concatenate(v, self._OBJ_TYPES.get(k, object)) for k, v in self.done_objects.items()
        }
        b = {
            k: _concatenate(v, np.int64 if k == "class_id" else np.float64)
            for k, v in self.done_boxes.items()
        }
        c = self.c
        owner = np.repeat(np.arange(len(o["index"])), o["nboxes"])  # the object row of each box
        index, attribute = o["index"], o["attribute"]
        confidence = o["confidence"]
        if o["from_boxes"].any():
            # An image's confidence is the mean of its boxes' (as automated labeling defines it).
            known = ~np.isnan(b["confidence"])
            total = np.bincount(owner[known], weights=b["confidence"][known], minlength=len(index))
            counted = np.bincount(owner[known], minlength=len(index))
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(counted > 0, total / np.maximum(counted, 1), np.nan)
            confidence = np.where(o["from_boxes"], mean, confidence)

        def texts(key: str, convert: Callable[[Any], Any], dtype: Any) -> np.ndarray:
            if coded:
                return _decoded(*coded[key], convert, dtype)
            return _codes(o[key], convert, dtype)

        if coded:
            codes, distinct = coded["date"]
            dates = _date_table(distinct)[codes]
        else:
            dates = _utc_dates(o["date"])
        objects = {
            "index": index,
            "line": o["line"],
            "source": o["source"],
            "attribute": attribute,
            "task_type": o["task_type"],
            "human": texts("human", human_code, np.int8),
            "confidence": confidence,
            "job_name": texts("job", _job_name, object),
            "failure_reason": texts("failure", _text, object),
            "value": o["value"],
            "creation_date": dates,
        }
        boxes = {
            "index": index[owner],
            "attribute": attribute[owner],
            "class_id": b["class_id"],
            "class_name": self._class_names(o["cmap"][owner], b["class_id"]),
            "left": b["left"],
            "top": b["top"],
            "width": b["width"],
            "height": b["height"],
            "confidence": b["confidence"],
            "image_width": o["image_width"][owner],
            "image_height": o["image_height"][owner],
        }
        classes = {
            "index": np.array(c["index"], dtype=np.int64),
            "attribute": _objects(c["attribute"]),
            "class_id": np.array(c["class_id"], dtype=np.int64),
            "class_name": _objects(c["class_name"]),
            "confidence": np.array(c["confidence"], dtype=np.float64),
        }
        return Block(lines, records, objects, boxes, classes, problems)

    def _class_names(self, cmap: np.ndarray, class_id: np.ndarray) -> np.ndarray:
        """Each box's class name: its class id looked up in its line's ``class-map``."""
        names = np.full(len(cmap), None, dtype=object)
        for code, class_map in enumerate(self.maps):
            same = cmap == code
            mine: np.ndarray | slice = slice(None) if same.all() else same  # usually all
            given = class_id[mine]
            if len(given) and given.min() >= 0 and given.max() < _CLASS_TABLE:
                ids, inverse = np.arange(given.max() + 1), given  # a table by class id
            else:
                ids, inverse = np.unique(given, return_inverse=True)
            found = [class_map.get(str(i)) for i in ids.tolist()]
            table = np.array([n if isinstance(n, str) else None for n in found], dtype=object)
            names[mine] = table[inverse]
        return names


def _concatenate(arrays: list[np.ndarray], dtype: Any) -> np.ndarray:
    if len(arrays) == 1:
        return arrays[0]  # blocks are concatenated (copied) again when they are joined
    out: np.ndarray = np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)
    return out


def _objects(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """A list as a 1-D object array (never split into a 2-D array when items are lists)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def parse_block(block: bytes, lenient: bool) -> Block:
    """Parse the lines of ``block`` into columns.

    Reading strictly, parsing stops at the first malformed line, which is reported in
    ``problems`` (with its line number in the block); leniently, every one is reported.
    """
    if _SCAN is None or not COMPILED:
        return _parse_lines(block, lenient)
    return _parse_compiled(block, lenient, _SCAN)


def _parse_compiled(
    block: bytes, lenient: bool, scan: Callable[[bytes, int, bytes], Scanned]
) -> Block:
    """:func:`parse_block` with the compiled reader taking every run of usual detection lines
    and :func:`_parse_lines` the lines between (one, then twice as many each time the compiled
    reader takes few, so that a manifest of other lines costs little more than before)."""
    parts: list[Block] = []
    pos, size, run = 0, len(block), 1
    attribute = _first_attribute(block)  # then that of the first detection line read
    while pos < size:
        if attribute is not None:
            scanned = scan(block, pos, attribute)
            pos, count = scanned[0], scanned[1]
            if count:
                parts.append(_scanned(attribute.decode(), scanned))
            run = 1 if count >= _LONG_RUN else min(2 * run, 1 << 14)
            if pos >= size:
                break
        else:
            run = min(2 * run, 1 << 14) if parts else 1
        end = pos
        for _ in range(run):
            end = block.find(b"\n", end) + 1 or size
            if end >= size:
                break
        part = _parse_lines(block[pos:end], lenient)
        parts.append(part)
        pos = end
        if part.problems and not lenient:
            break
        if attribute is None:
            attribute = _detection_attribute(part)
    if len(parts) == 1:
        return parts[0]  # the usual case: the whole block read in one run
    return join_blocks(parts) if parts else _parse_lines(block, lenient)


def _first_attribute(block: bytes) -> bytes | None:
    """The label attribute of the block's first line, if it is a detection line (a guess:
    the compiled reader checks every line)."""
    end = block.find(b"\n")
    try:
        record = orjson.loads(block if end < 0 else block[:end])
    except orjson.JSONDecodeError:
        return None
    if type(record) is dict:
        for attribute in find_label_attributes(record):
            if record[f"{attribute}-metadata"].get("type") == DETECTION:
                return _utf8(attribute)
    return None


def _utf8(text: str) -> bytes | None:
    try:
        return text.encode()
    except UnicodeEncodeError:  # a lone surrogate, escaped in the file: never the usual shape
        return None


def _detection_attribute(block: Block) -> bytes | None:
    """The label attribute of a block's first detection object, as UTF-8."""
    found = np.flatnonzero(block.objects["task_type"] == "object-detection")
    if not len(found):
        return None
    return _utf8(str(block.objects["attribute"][found[0]]))


def _scanned(attribute: str, scanned: Scanned) -> Block:
    """The compiled reader's columns as a :class:`Block`, finished as the Python reader's are
    (see ``_scan.c`` for what each holds)."""
    _, count, sources, humans, dates, jobs, per_line, per_box, class_maps = scanned
    builder = _Builder()
    lines = np.frombuffer(per_line).reshape(-1, 7)
    human, date, job = (lines[:, k].astype(np.int64) for k in (4, 5, 6))
    boxes = np.frombuffer(per_box).reshape(-1, 6)
    codes = np.array([builder.map_code(orjson.loads(m)) for m in class_maps], dtype=np.int64)
    columns = {
        "index": np.arange(count),
        "line": np.arange(1, count + 1),
        "source": _objects(sources),
        "attribute": _same(attribute, count),
        "task_type": _same(DETECTION[len("groundtruth/") :], count),
        "confidence": np.full(count, _NAN),
        "from_boxes": np.ones(count, dtype=bool),
        "value": np.empty(count, dtype=object),
        "nboxes": lines[:, 0].astype(np.int64),
        "cmap": codes[lines[:, 3].astype(np.int64)],
        "image_width": lines[:, 1],
        "image_height": lines[:, 2],
    }
    for key, values in columns.items():
        builder.done_objects[key].append(values)
    builder.add_boxes(boxes[:, :5], boxes[:, 5])
    coded = {
        "human": (human, humans),
        "date": (date, dates),
        "job": (job, jobs),
        "failure": (np.full(count, -1), []),  # none: the reader takes no failure-reason
    }
    return builder.finish(count, count, [], coded)


def _same(value: str, count: int) -> np.ndarray:
    """``value`` ``count`` times, as objects (np.full would make it a numpy string first)."""
    out = np.empty(count, dtype=object)
    out[:] = value
    return out


def shift(block: Block, lines: int, records: int) -> None:
    """Number a block's lines and records as if ``lines`` and ``records`` came before it."""
    for columns in (block.objects, block.boxes, block.classes):
        columns["index"] += records
    block.objects["line"] += lines
    block.problems = [(line + lines, message) for line, message in block.problems]


def join_blocks(blocks: list[Block]) -> Block:
    """Consecutive blocks as one (``blocks`` are renumbered in place, then emptied)."""
    lines = records = 0
    for block in blocks:
        shift(block, lines, records)
        lines += block.lines
        records += block.records

    def join(table: str) -> dict[str, np.ndarray]:
        return {k: concat_column(blocks, table, k) for k in list(getattr(blocks[0], table))}

    problems = [p for b in blocks for p in b.problems]
    return Block(lines, records, join("objects"), join("boxes"), join("classes"), problems)


def concat_column(blocks: list[Block], table: str, column: str) -> np.ndarray:
    """One column of every block, the blocks' own copies released as it goes (peak memory)."""
    out: np.ndarray = np.concatenate([getattr(b, table).pop(column) for b in blocks])
    return out


def _parse_lines(block: bytes, lenient: bool) -> Block:
    """:func:`parse_block` in Python alone."""
    builder = _Builder()
    rows, boxes, box_scores = builder.rows, builder.boxes, builder.scores
    problems: list[tuple[int, str]] = []
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    fast_attr: str | None = None  # the attribute of the first detection line
    fast_fields: Callable[[dict[str, Any]], tuple[Any, ...]] | None = None
    boxes_so_far = 0
    last_map: Any = None
    last_code = -1
    index = -1
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    number_ = 0
    for number_, raw in enumerate(lines, start=1):
        if not number_ & 511:
            builder.flush()
            boxes_so_far = 0
        try:
            record = loads(raw)
        except decode_error as exc:
            if not raw.strip():
                continue
            index += 1
            problems.append((number_, f"not JSON: {exc}"))
            if not lenient:
                break
            continue
        index += 1
        if type(record) is not dict:
            problems.append((number_, f"expected a JSON object, got {type(record).__name__}"))
            if not lenient:
                break
            continue
        if len(record) == 3 and fast_fields is not None and FAST_PATH:
            # The fast path: exactly source-ref, the attribute, and its metadata with the six
            # usual fields. A line that differs fails a check or raises, and takes the general
            # path.
            try:
                source, value, meta = fast_fields(record)
                if type(source) is str and len(meta) == 6:
                    kind, scores, class_map, human, date, job = _META_VALUES(meta)
                    annotations, sizes = _VALUE_VALUES(value)
                    n = len(annotations)
                    if kind == DETECTION and len(scores) == n:
                        if class_map != last_map:
                            last_map, last_code = class_map, builder.map_code(class_map)
                        size = sizes[0]
                        row = (
                            index, number_, source, fast_attr, "object-detection", human, _NAN,
                            True, date, job, None, None, n, last_code, size["width"],
                            size["height"],
                        )  # fmt: skip
                        # Boxes first: a box without a field raises here, before the row is kept.
                        boxes.extend(map(_BOX_VALUES, annotations))
                        box_scores.extend(map(_CONFIDENCE, scores))
                        boxes_so_far += n
                        rows.append(row)
                        continue
            except (KeyError, TypeError, IndexError):
                del boxes[boxes_so_far:]
                del box_scores[boxes_so_far:]
        mark = builder.mark()
        try:
            builder.add(index, number_, record)
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            builder.rollback(mark)
            problems.append((number_, f"unexpected label shape ({exc!r})"))
            if not lenient:
                break
            continue
        boxes_so_far = len(boxes)
        if fast_attr is None and rows and rows[-1][4] == "object-detection":
            fast_attr = rows[-1][3]
            fast_fields = itemgetter("source-ref", fast_attr, f"{fast_attr}-metadata")
    return builder.finish(number_, index + 1, problems)


# ---------------------------------------------------------------------- blocks and workers
def iter_blocks(chunks: Iterable[bytes], size: int | None = None) -> Iterator[bytes]:
    """Regroup a byte stream into blocks of about ``size`` bytes (default ``BLOCK_BYTES``)
    that end at a newline."""
    size = size or BLOCK_BYTES
    pending: list[bytes] = []
    held = 0
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held < size:
            continue
        data = b"".join(pending)
        start = 0
        while len(data) - start >= size:
            cut = data.find(b"\n", start + size - 1)
            if cut < 0:
                break
            yield data[start : cut + 1]
            start = cut + 1
        rest = data[start:]
        pending, held = ([rest] if rest else []), len(rest)
    if held:
        yield b"".join(pending)


def file_ranges(path: str, size: int | None = None) -> Iterator[tuple[str, int, int]]:
    """Split a local file into (path, start, end) byte ranges of about ``size`` bytes (default
    ``BLOCK_BYTES``) that end at a newline, reading only a little around each cut."""
    size = size or BLOCK_BYTES
    total = Path(path).stat().st_size
    start = 0
    with Path(path).open("rb") as f:
        while start < total:
            end = min(start + size, total)
            f.seek(end - 1)
            while end < total:
                piece = f.read(1 << 16)
                at = piece.find(b"\n")
                if at >= 0:
                    end = f.tell() - len(piece) + at + 1
                    break
                end = total if not piece else f.tell()
            yield path, start, end
            start = end


def compiled_detection(head: bytes) -> bool:
    """Whether the compiled reader is to read a manifest that starts with ``head``: it was
    built, and the first line is an object-detection line (a guess at the rest, which the
    reader checks line by line). Such manifests are read on threads (see :func:`map_blocks`)."""
    return _SCAN is not None and COMPILED and _first_attribute(head) is not None


def parse_range(part: tuple[str, int, int], lenient: bool) -> Block:
    """:func:`parse_block` on a byte range of a local file, read by the worker itself."""
    path, start, end = part
    with Path(path).open("rb") as f:
        f.seek(start)
        return parse_block(f.read(end - start), lenient)


def worker_count(*, threads: bool = False) -> int:
    """Processes (with ``threads``, threads) to read with: the usable cores, or
    ``GTKIT_WORKERS`` if set (1 turns it off).

    Worker processes are forked (or started by a fork server), as only Linux does cheaply;
    elsewhere there are none (1). Threads run anywhere.
    """
    setting = os.environ.get("GTKIT_WORKERS", "").strip()
    if setting.isdigit() and int(setting) >= 1:
        wanted = int(setting)
    elif hasattr(os, "sched_getaffinity"):
        wanted = len(os.sched_getaffinity(0))
    else:
        wanted = os.cpu_count() or 1
    return wanted if threads or sys.platform.startswith("linux") else 1


def _context() -> BaseContext:
    """Fork, the cheap start, from a single-threaded process; from a threaded one (a Jupyter
    kernel, say), where a fork can deadlock, a fork server that imports this module once."""
    import multiprocessing
    import threading

    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


T = TypeVar("T")
R = TypeVar("R")


def map_blocks(
    function: Callable[[T], R],
    items: Iterable[T],
    workers: int | None = None,
    *,
    threads: bool = False,
) -> Iterator[R]:
    """``map(function, items)`` in order, on ``workers`` processes (default
    :func:`worker_count`; see :func:`_context`) when there is more than one item, with at most
    two items per worker in flight (memory stays bounded). With ``threads``, on threads of this
    process instead: for functions that spend their time in compiled code without the GIL (the
    compiled readers), which then need no pickling of their results and no second copy of
    them."""
    if workers is None:
        workers = worker_count(threads=threads)
    iterator = iter(items)
    first = next(iterator, None)
    if first is None:
        return
    second = next(iterator, None)
    if second is None or workers <= 1:
        yield function(first)
        if second is not None:
            yield function(second)
            yield from map(function, iterator)
        return
    pool: Executor = (
        ThreadPoolExecutor(max_workers=workers)
        if threads
        else ProcessPoolExecutor(max_workers=workers, mp_context=_context())
    )
    with pool:
        pending: deque[Future[R]] = deque()
        pending.append(pool.submit(function, first))
        pending.append(pool.submit(function, second))
        for item in iterator:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
