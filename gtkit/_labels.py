"""An output manifest's lines as label tables: objects, boxes, classes and cuboids.

The engine reads the manifest twice. A first pass lists every distinct set of top-level keys
with one example line of each: from those few lines gtkit learns the label attributes (a key
``X`` whose ``X-metadata`` is Ground Truth metadata, judged by its content) and each one's kind
(2D boxes, 3D cuboids, or any other label). The second pass reads every line with an explicit
schema built from that; SQL over the result makes a row per label, and Arrow compute
functions make the tables from those rows a batch at a time (what is the same on many lines,
such as class maps and task types, is worked out once per distinct value). Every key of every
line is read: what is not a label or its metadata is kept as the line's ``extra`` fields.

A line the engine rejects (not JSON, or a value of the wrong type where a number, a list or an
object belongs) stops a strict read with the file and line of every such line; a lenient read
lists them in ``problems`` and reads the rest. Lines count from 1, blank ones included;
``index`` (the datasetObjectId) counts the non-blank lines from 0, rejected ones included.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gtkit._engine import (
    MAX_LINE_BYTES,
    EngineError,
    batches,
    connect,
    fetch,
    json_string,
    release_memory,
    timestamp_sql,
    utc,
)
from gtkit._errors import MAX_PROBLEMS, OutputError, Problem, excerpt
from gtkit._lines import describe_records, record_lines, typed_problems

__all__ = [
    "BOX_COLUMNS",
    "CLASS_COLUMNS",
    "CUBOID_COLUMNS",
    "OBJECT_COLUMNS",
    "LabelTables",
    "is_groundtruth_metadata",
    "read_label_tables",
]

OBJECT_COLUMNS = (
    "index", "line", "source", "attribute", "task_type", "human", "confidence",
    "creation_date", "job_name", "failure_reason", "iteration", "value", "adjustment_status",
    "image_width", "image_height", "extra",
)  # fmt: skip
BOX_COLUMNS = (
    "index", "attribute", "class_id", "class_name", "left", "top", "width", "height",
    "confidence", "image_width", "image_height",
)  # fmt: skip
CLASS_COLUMNS = ("index", "attribute", "class_id", "class_name", "confidence", "color")
CUBOID_COLUMNS = (
    "index", "attribute", "object_name", "class_id", "class_name", "center_x", "center_y",
    "center_z", "length", "width", "height", "roll", "pitch", "yaw", "confidence",
    "label_attributes",
)  # fmt: skip

Kind = Literal["boxes", "cuboids", "other"]
_TYPE_PREFIX = "groundtruth/"  # of a built-in task's label type, in any case
_BOXES_TYPE = f"{_TYPE_PREFIX}object-detection"
_CUBOIDS_TYPE = f"{_TYPE_PREFIX}point_cloud_object_detection"
_JOB_PREFIX = "labeling-job/"

# What the engine reads of each label attribute and its metadata, by kind. Maps are read as
# maps (class maps list only the classes of their line); anything else is kept as JSON text.
_COLOR_MAP = 'MAP(VARCHAR, STRUCT("class-name" VARCHAR, confidence DOUBLE, "hex-color" VARCHAR))'
_COMMON = {
    "type": "VARCHAR",
    "human-annotated": "VARCHAR",
    "creation-date": "VARCHAR",
    "job-name": "VARCHAR",
    "failure-reason": "VARCHAR",
    "adjustment-status": "VARCHAR",
}
_CONFIDENCES = "STRUCT(confidence DOUBLE)[]"
_CLASS_MAP = "MAP(VARCHAR, VARCHAR)"
# A boxes or cuboids line's class map is kept as its JSON text: a job's lines repeat a few
# maps, and each distinct text is made a map once (see _class_maps), not once a line.
_METADATA: dict[Kind, dict[str, str]] = {
    "boxes": {**_COMMON, "objects": _CONFIDENCES, "class-map": "JSON"},
    # The guide's 3D example spells its class map with an underscore.
    "cuboids": {**_COMMON, "objects": _CONFIDENCES, "class-map": "JSON", "class_map": "JSON"},
    "other": {
        **_COMMON,
        "creation_date": "VARCHAR",  # custom tasks spell some keys with underscores
        "job_name": "VARCHAR",
        "class-name": "VARCHAR",
        "confidence": "DOUBLE",
        "class-map": _CLASS_MAP,
        "class_map": _CLASS_MAP,
        "confidence-map": "MAP(VARCHAR, DOUBLE)",
        "internal-color-map": _COLOR_MAP,
        "color-map": _COLOR_MAP,  # 3D point cloud segmentation
        "entities": _CONFIDENCES,
        "objects": "JSON",  # 3D tracking: [{"frame-no", "confidence": [...]}]
    },
}
_VALUES: dict[Kind, str] = {
    "boxes": (
        'STRUCT(annotations STRUCT(class_id DOUBLE, "left" DOUBLE, top DOUBLE, width DOUBLE, '
        "height DOUBLE)[], image_size STRUCT(width DOUBLE, height DOUBLE, depth DOUBLE)[])"
    ),
    "cuboids": (
        'STRUCT(annotations STRUCT("object-name" VARCHAR, "class-id" DOUBLE, "center-x" DOUBLE, '
        '"center-y" DOUBLE, "center-z" DOUBLE, length DOUBLE, width DOUBLE, height DOUBLE, '
        'roll DOUBLE, pitch DOUBLE, yaw DOUBLE, "label-category-attributes" JSON)[])'
    ),
    "other": "JSON",
}
# The same, as :func:`gtkit._lines.type_problem` describes a rejected line's values.
_BOX_SHAPE = dict.fromkeys(("class_id", "left", "top", "width", "height"), "number")
_CUBOID_SHAPE = dict.fromkeys(
    ("class-id", "center-x", "center-y", "center-z", "length", "width", "height", "roll",
     "pitch", "yaw"),
    "number",
)  # fmt: skip
_METADATA_SHAPE = {
    "confidence": "number",
    "class-map": ("map", "text"),
    "class_map": ("map", "text"),
    "confidence-map": ("map", "number"),
    "internal-color-map": ("map", {"confidence": "number"}),
    "color-map": ("map", {"confidence": "number"}),
    "entities": [{"confidence": "number"}],
}
_VALUE_SHAPES: dict[Kind, Any] = {
    "boxes": {
        "annotations": [_BOX_SHAPE],
        "image_size": [{"width": "number", "height": "number", "depth": "number"}],
    },
    "cuboids": {"annotations": [_CUBOID_SHAPE]},
    "other": "any",
}


def is_groundtruth_metadata(value: object) -> bool:
    """Whether ``value`` is a Ground Truth label-metadata object, judged by its content: a
    ``type`` starting with ``groundtruth/`` (any case), or a ``human-annotated`` or
    ``failure-reason`` key.

    >>> is_groundtruth_metadata({"type": "groundtruth/image-classification"})
    True
    >>> is_groundtruth_metadata({"author": "me"})
    False
    """
    if not isinstance(value, dict):
        return False
    kind = value.get("type")
    return (isinstance(kind, str) and kind.lower().startswith(_TYPE_PREFIX)) or (
        "human-annotated" in value or "failure-reason" in value
    )


def _kind_of(value: object, metadata: Mapping[str, Any]) -> Kind | None:
    """The kind of one example label: None where the example does not tell (a failed object)."""
    kind = metadata.get("type")
    if isinstance(kind, str):
        lowered = kind.lower()
        if lowered == _BOXES_TYPE:
            return "boxes"
        if lowered == _CUBOIDS_TYPE:
            return "cuboids"
        return "other"
    if isinstance(value, dict) and "annotations" in value and "image_size" in value:
        return "boxes"  # a detection label whose metadata lost its type
    if value is None:
        return None
    return "other"


@dataclass(frozen=True)
class _Attribute:
    name: str
    kind: Kind
    position: int  # order within a line, for lines with several attributes


@dataclass(frozen=True)
class _Layout:
    """What the first pass found: label attributes, other keys, and unreadable lines."""

    attributes: tuple[_Attribute, ...]
    extras: tuple[str, ...]
    records: int
    unreadable: int  # lines that are not a JSON object
    text_bytes: int | None  # bytes of the lines' text (trimmed), where every line has one
    unnamed: tuple[str, ...] = ()  # keys the engine cannot name a column by (see _discover)
    details: bool = True  # read what a label says beyond itself (see _DETAILS)

    def schema(self) -> dict[str, str]:
        """The engine's type of every top-level key it reads (without details, no other
        keys, and of the metadata only what the labels need)."""
        columns = {"source-ref": "VARCHAR", "source": "VARCHAR"}
        for a in self.attributes:
            fields = ", ".join(
                f"{_ident(k)} {t}"
                for k, t in _METADATA[a.kind].items()
                if self.details or k not in _DETAIL_FIELDS
            )
            columns[a.name] = _VALUES[a.kind]
            columns[f"{a.name}-metadata"] = f"STRUCT({fields})"
        for key in self.extras if self.details else ():
            columns[key] = "JSON"
        return columns

    def shapes(self) -> dict[str, Any]:
        """The same as :meth:`schema`, for finding and describing rejected lines: only what
        the schema reads with a type a value can fail (boxes and cuboids read their class map
        as JSON, and their ``objects`` only with details)."""
        shapes: dict[str, Any] = {}
        for a in self.attributes:
            shapes[a.name] = _VALUE_SHAPES[a.kind]
            if a.kind == "other":
                metadata = dict(_METADATA_SHAPE)
            else:
                metadata = {"objects": [{"confidence": "number"}]} if self.details else {}
            shapes[f"{a.name}-metadata"] = metadata
        return shapes


def _ident(name: str) -> str:
    """A SQL identifier for any key."""
    return '"' + name.replace('"', '""') + '"'


# Each JSON function parses its text anew: the kind of a line is asked only of the few lines
# with no keys (an empty object, or not an object at all).
_DISCOVER = f"""
SELECT keys, CASE WHEN json IS NULL THEN 'MALFORMED' WHEN keys = [] THEN json_type(json)
                   ELSE 'OBJECT' END AS kind,
       count(*) AS lines, any_value(json) AS example,
       sum(strlen(CAST(json AS VARCHAR))) AS bytes, count(*) - count(json) AS unmeasured
FROM (SELECT json, json_keys(json) AS keys
      FROM read_json_objects(?, format = 'newline_delimited', ignore_errors = true,
                             maximum_object_size = {MAX_LINE_BYTES}))
GROUP BY ALL
"""


_VALUE_TYPES = f"""
SELECT count(*) FILTER (WHERE json_type(json, ?) NOT IN ('VARCHAR', 'NULL')) AS others
FROM read_json_objects(?, format = 'newline_delimited', ignore_errors = true,
                       maximum_object_size = {MAX_LINE_BYTES})
"""


def _only_texts(con: duckdb.DuckDBPyConnection, path: str, name: str) -> bool:
    """Whether every value of the label attribute ``name`` is a text (or null): a label kept
    in a file of its own, whatever its type says. (Asked only where an example line holds a
    text: an example stands for all the lines of its keys, which need not all be alike.)"""
    pointer = "/" + name.replace("~", "~0").replace("/", "~1")
    others: int = fetch(con, _VALUE_TYPES, [pointer, path]).column("others")[0].as_py()
    return others == 0


def _discover(con: duckdb.DuckDBPyConnection, path: str) -> _Layout:
    groups = fetch(con, _DISCOVER, [path]).to_pylist()
    votes: dict[str, Counter[Kind]] = {}
    texts: set[str] = set()  # attributes whose value is a text on some example line
    first_seen: dict[str, tuple[int, int]] = {}
    keys_seen: dict[str, tuple[int, int]] = {}
    records = unreadable = measured = unmeasured = 0
    for g, group in enumerate(sorted(groups, key=lambda row: -int(row["lines"]))):
        records += int(group["lines"])
        measured += int(group["bytes"] or 0)
        unmeasured += int(group["unmeasured"])
        if group["kind"] != "OBJECT":
            unreadable += int(group["lines"])
            continue
        # The standard library, as the engine, takes NaN and Infinity, which orjson refuses.
        example = json.loads(group["example"])
        for position, key in enumerate(group["keys"]):
            keys_seen.setdefault(key, (g, position))
            if not key.endswith("-metadata") or not is_groundtruth_metadata(example.get(key)):
                continue
            name = key[: -len("-metadata")]
            first_seen.setdefault(name, (g, position))
            shown = _kind_of(example.get(name), example[key])
            votes.setdefault(name, Counter())
            if shown is not None:
                votes[name][shown] += int(group["lines"])
            if isinstance(example.get(name), str):
                texts.add(name)
    attributes: list[tuple[tuple[int, int], str, Kind]] = []
    for name, counts in votes.items():
        # The kind most lines show; lines of another kind are rejected by the typed read.
        kind: Kind = counts.most_common(1)[0][0] if counts else "other"
        if kind != "other" and name in texts and _only_texts(con, path, name):
            kind = "other"  # boxes or cuboids by type, kept in files of their own (S3 URIs)
        attributes.append((first_seen[name], name, kind))
    attributes.sort()
    labels = {name for _, name, _ in attributes}
    taken = {"source-ref", "source"} | labels | {f"{n}-metadata" for n in labels}
    ordered = sorted(keys_seen, key=lambda k: keys_seen[k])
    # The engine's column names are not case-sensitive and not empty: a key it cannot name
    # apart from another is left out of ``extra`` (and said so in the problems).
    names: set[str] = {k.casefold() for k in taken}
    extras, unnamed = [], []
    for key in ordered:
        if key in taken:
            continue
        if not key or key.casefold() in names:
            unnamed.append(key)
        else:
            extras.append(key)
            names.add(key.casefold())
    return _Layout(
        attributes=tuple(
            _Attribute(name, kind, position) for position, (_, name, kind) in enumerate(attributes)
        ),
        extras=tuple(extras),
        unnamed=tuple(unnamed),
        records=records,
        unreadable=unreadable,
        text_bytes=None if unmeasured else measured,
    )


# ---------------------------------------------------------------------- the read
def _source_sql(layout: _Layout, *, tolerate: bool) -> str:
    """The engine reading every line by the layout's schema (a line it rejects is a row of
    nulls with ``tolerate``, else an error)."""
    columns = ", ".join(f"{json_string(k)}: {json_string(t)}" for k, t in layout.schema().items())
    return (
        f"read_json(?, format = 'newline_delimited', records = true, auto_detect = false, "
        f"columns = {{{columns}}}, maximum_object_size = {MAX_LINE_BYTES}, "
        f"ignore_errors = {str(tolerate).lower()})"
    )


_SUSPECT = f"""
SELECT json IS NULL OR json_type(json) <> 'OBJECT' OR json_keys(json) <> [] AS suspect
FROM read_json_objects(?, format = 'newline_delimited', ignore_errors = true,
                       maximum_object_size = {MAX_LINE_BYTES})
"""


def _rejected_records(con: duckdb.DuckDBPyConnection, path: str, layout: _Layout) -> np.ndarray:
    """Records the engine could not read under the schema: lines that are not JSON objects,
    and objects with keys whose every column came out null (read leniently, a row of nulls in
    their place; a line of nothing but nulls is a suspect too, and describing it clears it);
    and lines with a value of another type than the schema's (read leniently, that value alone
    comes out null: see :func:`gtkit._lines.typed_problems`)."""
    suspect = fetch(con, _SUSPECT, [path]).column("suspect").to_numpy(zero_copy_only=False)
    nulls = " AND ".join(f"{_ident(k)} IS NULL" for k in layout.schema())
    found = fetch(con, f"SELECT ({nulls}) AS n FROM {_source_sql(layout, tolerate=True)}", [path])
    all_null = found.column("n").to_numpy(zero_copy_only=False)
    if len(suspect) != len(all_null):
        raise OutputError(f"{path}: the reader counted {len(all_null)} lines, then {len(suspect)}")
    unread = np.flatnonzero(np.asarray(suspect, dtype=bool) & np.asarray(all_null, dtype=bool))
    mistyped = np.array(typed_problems(path, layout.shapes()), dtype=np.int64)
    out: np.ndarray = np.union1d(unread, mistyped)
    return out


@dataclass
class LabelTables:
    """The tables of one manifest; see :class:`gtkit.JobOutput` for their columns."""

    objects: pd.DataFrame
    boxes: pd.DataFrame
    classes: pd.DataFrame
    cuboids: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)


#: Lines the engine hands over at a time: the tables are made batch by batch, so that a large
#: manifest's lines are never held whole beside the tables made from them.
_BATCH_LINES = 1 << 17


def read_label_tables(
    path: str,
    con: duckdb.DuckDBPyConnection,
    *,
    name: str,
    lenient: bool,
    details: bool = True,
    max_problems: int = MAX_PROBLEMS,
) -> LabelTables:
    """Read the manifest at the local ``path`` (named ``name`` in messages) into tables;
    without ``details``, only what labels are (see :data:`_DETAILS`: for reference labels)."""
    problems: list[Problem] = []
    try:
        layout = replace(_discover(con, path), details=details)
        line_of = record_lines(path, layout.records, layout.text_bytes)
        parts = None
        refusal: Exception | None = None
        if not layout.unreadable:
            try:
                parts = _read(con, path, layout, rejected=None)
            except EngineError as exc:
                refusal = exc  # some line has a value of the wrong type: find which below
        if parts is None:
            rejected = _rejected_records(con, path, layout)
            rejected, problems = _described(path, rejected, line_of, layout, name, max_problems)
            if refusal is not None and not len(rejected):  # refused, yet no line found at fault
                said = f"the reader refused a value ({_first_line(refusal)})"
                if not lenient:
                    raise OutputError(f"{name}: {said}; read with lenient=True (--lenient) to "
                                      "take such values as unknown")  # fmt: skip
                problems.append(Problem(name, f"{said}; such values are read as unknown", "value"))
            if len(rejected) and not lenient:
                raise OutputError(
                    _many(
                        f"{name}: lines the reader cannot take",
                        [p for p in problems if p.where != name],  # not the count of the rest
                        len(rejected),
                    )
                )
            parts = _read(con, path, layout, rejected=rejected)
    except EngineError as exc:
        raise OutputError(f"{name}: cannot read as JSON Lines ({_first_line(exc)})") from None
    bad_dates = [_problem(name, line_of, r, m, "value") for r, m in parts.bad_dates]
    if bad_dates and not lenient:
        raise OutputError(
            _many(
                f"{name}: values the reader cannot take",
                bad_dates,
                len(bad_dates) + parts.more_dates,
            )
        )
    notes = [_problem(name, line_of, r, m, "note") for r, m in parts.notes]
    unnamed = [
        Problem(name, f"top-level key {excerpt(key)} is left out of 'extra': the reader cannot "
                "tell it from another key (no name, or one that differs only in case)", "note")
        for key in layout.unnamed
    ]  # fmt: skip
    more = [
        Problem(name, f"and {n} more {what}", kind)
        for n, what, kind in (
            (parts.more_dates, "values the reader cannot take, read as unknown", "value"),
            (parts.more_notes, "notes", "note"),
        )
        if n
    ]
    tables = parts.tables(line_of)
    del parts
    release_memory()
    tables.problems = problems + sorted(bad_dates + notes, key=_line_number) + more + unnamed
    return tables


def _described(
    path: str,
    rejected: np.ndarray,
    line_of: np.ndarray,
    layout: _Layout,
    name: str,
    max_problems: int,
) -> tuple[np.ndarray, list[Problem]]:
    """The records the engine rejected, each told (the first ``max_problems``; a line of
    nothing but nulls is cleared), and what is wrong with them."""
    shown = rejected[:max_problems]
    found = describe_records(path, {int(r): int(line_of[r]) for r in shown}, layout.shapes())
    cleared = {r for r, m in found.items() if not m}
    problems = [Problem(f"{name}:{line_of[r]}", m, "skipped") for r, m in found.items() if m]
    rejected = rejected[~np.isin(rejected, np.array(sorted(cleared), dtype=np.int64))]
    if len(rejected) > len(problems):
        more = len(rejected) - len(problems)
        problems.append(Problem(name, f"and {more} more lines the reader cannot take", "skipped"))
    return rejected, problems


def _problem(name: str, line_of: np.ndarray, record: int, message: str, kind: str) -> Problem:
    return Problem(f"{name}:{line_of[record]}", message, kind)


@dataclass
class _Parts:
    """The tables of a manifest as the batches of lines give them (Arrow), and what the lines
    say is wrong (record, message)."""

    objects: list[pa.Table] = field(default_factory=list)
    boxes: list[pa.Table] = field(default_factory=list)
    classes: list[pa.Table] = field(default_factory=list)
    cuboids: list[pa.Table] = field(default_factory=list)
    bad_dates: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_PROBLEMS
    notes: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_PROBLEMS
    more_dates: int = 0  # bad dates not kept
    more_notes: int = 0
    details: bool = True  # notes are details (see _DETAILS): told only with them
    owned: bool = True  # each part in memory of its own (see _owned)

    def add(self, rows: pa.Table) -> None:
        rows = _label_texts(rows)
        maps = _ClassMaps.of(rows)
        dates = pa.table({"record": rows.column("record"), "said": rows.column("bad_date")})
        self.more_dates += _first_said(dates, self.bad_dates)
        if self.details:
            self.more_notes += _first_said(_notes(rows, maps), self.notes)
        made = _batch_tables(rows, maps)
        objects, boxes, classes, cuboids = (_owned(t) for t in made) if self.owned else made
        self.objects.append(objects)
        self.boxes.append(boxes)
        self.classes.append(classes)
        self.cuboids.append(cuboids)

    def tables(self, line_of: np.ndarray) -> LabelTables:
        """The parts joined, as the pandas tables (each part released as it is converted)."""

        def joined(parts: list[pa.Table], columns: tuple[str, ...]) -> pd.DataFrame:
            table = pa.concat_tables(parts)
            parts.clear()
            return _frame(table, columns)

        objects = joined(self.objects, (*_ROW_COLUMNS,))
        n = len(objects)
        objects["line"] = line_of[objects["index"].to_numpy()]
        objects["iteration"] = pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, dtype=bool))
        return LabelTables(
            objects=objects[list(OBJECT_COLUMNS)],
            boxes=joined(self.boxes, BOX_COLUMNS),
            classes=joined(self.classes, CLASS_COLUMNS),
            cuboids=joined(self.cuboids, CUBOID_COLUMNS),
        )


def _first_said(said: pa.Table, found: list[tuple[int, str]]) -> int:
    """Add to ``found`` the (record, message) of the rows of ``said`` where a message is,
    up to :data:`MAX_PROBLEMS` in all; return how many were left out."""
    stated = said.filter(pc.is_valid(said.column("said")))
    kept = stated.slice(0, max(MAX_PROBLEMS - len(found), 0))
    found += zip(kept.column("record").to_pylist(), kept.column("said").to_pylist(), strict=True)
    left_out: int = stated.num_rows - kept.num_rows
    return left_out


def _owned(table: pa.Table) -> pa.Table:
    """``table`` in memory of its own: a column taken from a batch the engine made (a field of
    its boxes, say) would otherwise keep the whole batch alive. (A manifest read in a single
    batch keeps it until its parts become pandas tables, rather than copy them.)"""
    if table.num_rows == 0:
        return table
    return pa.table(
        {name: pa.concat_arrays(table.column(name).chunks) for name in table.column_names},
        schema=table.schema,
    )


def _read(
    con: duckdb.DuckDBPyConnection,
    path: str,
    layout: _Layout,
    *,
    rejected: np.ndarray | None,
) -> _Parts:
    """Every line's label rows, a batch at a time (``rejected``: records read as nulls and
    left out, reading leniently; None: a line the engine rejects is an error)."""
    query = _rows_sql(layout, tolerate=rejected is not None)
    reader = batches(con, query, [path], _BATCH_LINES)
    # At most a row per label attribute of each line, or one: in one batch if that fits.
    most_rows = layout.records * max(1, len(layout.attributes))
    parts = _Parts(details=layout.details, owned=most_rows > _BATCH_LINES)
    read = 0
    numbered = len(layout.attributes) <= 1  # a row per line, in the file's order
    for rows in _gathered(reader, _BATCH_LINES):
        if numbered:
            rows = rows.set_column(0, "record", pa.array(np.arange(read, read + rows.num_rows)))
            read += rows.num_rows
        if rejected is not None and len(rejected):
            rows = rows.filter(pa.array(~np.isin(rows.column("record").to_numpy(), rejected)))
        parts.add(rows)
    if not parts.objects:  # an empty file: empty tables of the right kinds
        parts.add(pa.Table.from_batches([], reader.schema))
    return parts


def _gathered(reader: pa.RecordBatchReader, rows: int) -> Iterator[pa.Table]:
    """The reader's batches (the engine hands over a few thousand rows at a time) gathered
    into tables of at least ``rows`` rows, the last one excepted: each table's work has a
    fixed cost."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield pa.Table.from_batches(pending)
            pending, count = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _line_number(problem: Problem) -> int:
    return int(problem.where.rsplit(":", 1)[1])


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _many(heading: str, problems: list[Problem], total: int, shown: int = 20) -> str:
    """The message of a strict read's error: ``total`` problems, the first ``shown`` told."""
    lines = [f"{heading} ({total}):"] + [f"  {p}" for p in problems[: min(shown, total)]]
    if total > shown:
        lines.append(f"  and {total - shown} more")
    lines.append("read with lenient=True (--lenient) to skip them, listing each")
    return "\n".join(lines)


# ---------------------------------------------------------------------- SQL, a row per label
def _metadata(a: _Attribute) -> str:
    return _ident(f"{a.name}-metadata")


def _field(a: _Attribute, *keys: str) -> str:
    """The first non-null of some metadata fields of ``a`` (those its kind reads)."""
    m = _metadata(a)
    present = [f"{m}.{_ident(k)}" for k in keys if k in _METADATA[a.kind]]
    if not present:
        return "NULL"
    return present[0] if len(present) == 1 else f"COALESCE({', '.join(present)})"


def _labeled(a: _Attribute) -> str:
    """Whether a line's metadata for ``a`` is Ground Truth's (it may be something else)."""
    m = _metadata(a)
    return (
        f"COALESCE({m}.type ILIKE '{_TYPE_PREFIX}%' OR {m}.\"human-annotated\" IS NOT NULL "
        f'OR {m}."failure-reason" IS NOT NULL, false)'
    )


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _extra_sql(layout: _Layout) -> str:
    """The line's other top-level fields as one JSON object (a merge patch drops the absent
    ones), NULL where there are none."""
    if not layout.extras:
        return "NULL::VARCHAR"
    pairs = ", ".join(f"{_text(k)}, CAST({_ident(k)} AS JSON)" for k in layout.extras)
    return f"CAST(nullif(json_merge_patch('{{}}', json_object({pairs})), '{{}}') AS VARCHAR)"


_BOX = 'STRUCT(class_id DOUBLE, "left" DOUBLE, top DOUBLE, width DOUBLE, height DOUBLE)'
_CUBOID = (
    'STRUCT("object-name" VARCHAR, "class-id" DOUBLE, "center-x" DOUBLE, "center-y" DOUBLE, '
    '"center-z" DOUBLE, length DOUBLE, width DOUBLE, height DOUBLE, roll DOUBLE, pitch DOUBLE, '
    'yaw DOUBLE, "label-category-attributes" JSON)'
)
_CLASS = "STRUCT(class_id BIGINT, class_name VARCHAR, confidence DOUBLE, color VARCHAR)"
# The columns of a label row (see _label_columns), with the type a row without a label gets.
_ROW_TYPES = {
    "attribute": "VARCHAR",
    "type": "VARCHAR",
    "human": "VARCHAR",
    "confidence": "DOUBLE",
    "date": "VARCHAR",
    "job": "VARCHAR",
    "failure_reason": "VARCHAR",
    "value": "VARCHAR",
    "adjustment_status": "VARCHAR",
    "image_width": "DOUBLE",
    "image_height": "DOUBLE",
    "kind": "VARCHAR",  # boxes or cuboids (for notes about them), else null
    "boxes": f"{_BOX}[]",
    "cuboids": f"{_CUBOID}[]",
    "objects": "STRUCT(confidence DOUBLE)[]",
    "class_map": "VARCHAR",  # a boxes or cuboids line's class map, as JSON text
    "classes": f"{_CLASS}[]",
}


def _class_id(number: str) -> str:
    """A class id (a number) as BIGINT, -1 where it is missing or not a whole number."""
    return (
        f"CASE WHEN {number} = trunc({number}) AND abs({number}) <= 9007199254740992 "
        f"THEN CAST({number} AS BIGINT) ELSE -1 END"
    )


def _classes(a: _Attribute) -> str:
    """The classes a label that is not boxes or cuboids gives, by its shape: colour maps
    (segmentation), entities (named entities), lists (multi-label), S3 URIs (video and 3D
    labels: their class maps), else one class (classification, verification)."""
    m, v = _metadata(a), _ident(a.name)
    colors = _field(a, "internal-color-map", "color-map")
    class_map = _field(a, "class-map", "class_map")
    entities = f"json_transform({v} -> '$.annotations.entities', '[{{\"label\": \"VARCHAR\"}}]')"
    confidences = f"list_transform({m}.entities, lambda e: (e).confidence)"
    number = f"TRY_CAST(json_extract_string({v}, '$') AS DOUBLE)"
    return f"""CASE
        WHEN {colors} IS NOT NULL THEN list_transform(map_entries({colors}), lambda e:
            {{'class_id': TRY_CAST((e).key AS BIGINT), 'class_name': (e).value."class-name",
              'confidence': (e).value.confidence, 'color': (e).value."hex-color"}})
        WHEN json_type({v}, '$.annotations') = 'OBJECT' THEN
            list_transform(range(1, len({entities}) + 1), lambda i:
                {{'class_id': -1, 'class_name': {entities}[i].label,
                  'confidence': CASE WHEN len({confidences}) = len({entities})
                                     THEN {confidences}[i] END, 'color': NULL::VARCHAR}})
        WHEN json_type({v}) = 'ARRAY' THEN
            list_transform(json_transform({v}, '["VARCHAR"]'), lambda item:
                {{'class_id': TRY_CAST(item AS BIGINT),
                  'class_name': map_extract_value({class_map}, item),
                  'confidence': map_extract_value({m}."confidence-map", item),
                  'color': NULL::VARCHAR}})
        WHEN json_type({v}) = 'VARCHAR' AND ({_text(a.name)} LIKE '%-ref'
             OR starts_with(json_extract_string({v}, '$'), 's3://')) THEN
            list_transform(map_entries({class_map}), lambda e:
                {{'class_id': TRY_CAST((e).key AS BIGINT), 'class_name': (e).value,
                  'confidence': NULL::DOUBLE, 'color': NULL::VARCHAR}})
        WHEN json_type({v}) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'VARCHAR')
             OR {m}."class-name" IS NOT NULL THEN
            [{{'class_id': {_class_id(number)}, 'class_name': {m}."class-name",
               'confidence': {m}.confidence, 'color': NULL::VARCHAR}}]
        END"""


def _label_columns(a: _Attribute, details: bool = True) -> dict[str, str]:
    """:func:`_all_label_columns`, those of :data:`_DETAILS` null without ``details``."""
    columns = _all_label_columns(a)
    if not details:
        columns.update({k: f"NULL::{_ROW_TYPES[k]}" for k in _DETAILS})
    return columns


def _all_label_columns(a: _Attribute) -> dict[str, str]:
    """SQL for each column of a label row of ``a`` (see :data:`_ROW_TYPES`): per-line values,
    raw (:func:`_rows_sql` makes them what the tables hold), and the lists that become rows
    of other tables."""
    m, v = _metadata(a), _ident(a.name)
    columns = {k: f"NULL::{t}" for k, t in _ROW_TYPES.items()}
    columns.update(
        attribute=_text(a.name),
        type=f"{m}.type",
        human=f'{m}."human-annotated"',
        date=_field(a, "creation-date", "creation_date"),
        job=_field(a, "job-name", "job_name"),
        failure_reason=f'{m}."failure-reason"',
        adjustment_status=f'{m}."adjustment-status"',
    )
    if a.kind == "other":
        colors = _field(a, "internal-color-map", "color-map")
        columns["confidence"] = (
            f"COALESCE({m}.confidence, "
            f"list_avg(list_transform(map_values({colors}), lambda e: (e).confidence)))"
        )
        columns["value"] = (
            f"CASE WHEN json_type({v}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN NULL "
            f"WHEN json_type({v}) = 'VARCHAR' THEN json_extract_string({v}, '$') "
            f"ELSE CAST({v} AS VARCHAR) END"
        )
        columns["classes"] = _classes(a)
        return columns
    # Boxes and cuboids: the confidence of each is the objects entry at its place, and the
    # label's the mean of its items' (automated labeling's definition): see _confidences.
    # What is wrong with them is told by _notes.
    columns.update(
        kind=_text(a.kind),
        objects=f"{m}.objects",
        class_map=f"CAST({_field(a, 'class-map', 'class_map')} AS VARCHAR)",
    )
    columns[a.kind] = f"{v}.annotations"
    if a.kind == "boxes":
        columns.update(
            image_width=f"{v}.image_size[1].width", image_height=f"{v}.image_size[1].height"
        )
    return columns


#: What a label row says beyond its labels: left null where only the labels are wanted (a
#: manifest read as reference labels); the metadata fields only they read are not read then.
_DETAILS = ("type", "human", "date", "job", "value", "adjustment_status", "objects")
_DETAIL_FIELDS = frozenset(
    ("creation-date", "creation_date", "job-name", "job_name", "adjustment-status", "objects")
)


def _rows_sql(layout: _Layout, *, tolerate: bool) -> str:
    """One row per (line, label attribute), a line with none getting one row too, in the
    file's order: with at most one attribute, a row for each line as the engine reads it (its
    record number given by its place); with several, their union, ordered. Without
    the layout's details, the columns of :data:`_DETAILS` and ``extra`` are null."""
    source = _source_sql(layout, tolerate=tolerate)
    details = layout.details
    extra = _extra_sql(layout) if details else "NULL::VARCHAR"
    common = f'COALESCE("source-ref", "source") AS source, {extra} AS extra'
    empty = ", ".join(f"NULL::{t} AS {k}" for k, t in _ROW_TYPES.items())
    if len(layout.attributes) <= 1:
        if layout.attributes:
            (a,) = layout.attributes
            labeled = _labeled(a)
            columns = ", ".join(
                f"CASE WHEN {labeled} THEN {sql} END AS {k}"
                for k, sql in _label_columns(a, details).items()
            )
        else:
            columns = empty
        rows = f"SELECT NULL::BIGINT AS record, {common}, {columns} FROM {source}"
        order = ""
    else:
        parts = [
            f"SELECT record, {a.position} AS position, {common}, "
            + ", ".join(f"{sql} AS {k}" for k, sql in _label_columns(a, details).items())
            + f" FROM lines WHERE {_labeled(a)}"
            for a in layout.attributes
        ]
        nothing = " AND ".join(f"NOT {_labeled(x)}" for x in layout.attributes)
        parts.append(f"SELECT record, -1 AS position, {common}, {empty} FROM lines WHERE {nothing}")
        union = "\nUNION ALL\n".join(parts)
        rows = f"WITH lines AS (SELECT row_number() OVER () - 1 AS record, * FROM {source}) {union}"
        order = "ORDER BY record, position"
    return f"""
    SELECT record, source, attribute, type, human, confidence, creation_date, job,
        failure_reason, value, adjustment_status, image_width, image_height, extra,
        CASE WHEN date IS NOT NULL AND creation_date IS NULL
             THEN attribute || '-metadata.creation-date: ' || date[:80]
                  || ' is not a date (ISO 8601, or a JavaScript date text)' END AS bad_date,
        kind, boxes, cuboids, objects, class_map, classes
    FROM (
        SELECT record, source, attribute, type, human, confidence, date,
            {timestamp_sql("date") if details else "NULL::TIMESTAMP"} AS creation_date, job,
            failure_reason, value, adjustment_status, image_width, image_height, extra,
            kind, boxes, cuboids, objects, class_map, classes
        FROM ({rows}) {order})"""


# ---------------------------------------------------------------------- to tables
_CATEGORIES = ("attribute", "task_type", "job_name", "class_name", "adjustment_status")


def _frame(table: pa.Table, columns: tuple[str, ...]) -> pd.DataFrame:
    """Columns as a DataFrame with gtkit's dtypes: repeated texts as categories, true/false/
    unknown as pandas' boolean, dates as UTC microseconds."""
    arrays = {}
    for name in columns:
        column = table.column(name)
        if name in _CATEGORIES and not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        arrays[name] = column
    frame: pd.DataFrame = utc(pa.table(arrays)).to_pandas(
        types_mapper={pa.bool_(): pd.BooleanDtype()}.get, split_blocks=True, self_destruct=True
    )
    return frame


def _items(rows: pa.Table, column: str, fields: dict[str, str]) -> tuple[np.ndarray, pa.Table]:
    """The items of a list column (a row's boxes, say): the row each belongs to, and their
    struct ``fields``, renamed as given."""
    lists = rows.column(column).combine_chunks()
    owner: np.ndarray = pc.list_parent_indices(lists).to_numpy()
    flat = pc.list_flatten(lists)
    return owner, pa.table({new: pc.struct_field(flat, old) for old, new in fields.items()})


@dataclass(frozen=True)
class _ClassMaps:
    """A batch's class maps (JSON texts): lines repeat a few, so each distinct text is made a
    map once, by the engine, and its keys read once."""

    row_map: np.ndarray  # each row's distinct text, -1 where it has no class map
    maps: pa.MapArray  # each distinct text as a map; null where it is no map of class ids
    is_object: np.ndarray  # whether each distinct text is a JSON object

    @classmethod
    def of(cls, rows: pa.Table) -> _ClassMaps:
        texts = pc.dictionary_encode(rows.column("class_map").combine_chunks())
        row_map = np.asarray(pc.fill_null(texts.indices, -1), dtype=np.int64)
        if not len(texts.dictionary):  # no class maps: nothing for the engine to make
            return cls(row_map, pa.array([], _CLASS_MAP_ARROW), np.zeros(0, dtype=bool))
        con = connect()
        try:
            con.register("class_map_texts", pa.table({"text": texts.dictionary}))
            decoded = fetch(
                con,
                f"SELECT TRY_CAST(CAST(text AS JSON) AS {_CLASS_MAP}) AS m, "
                "json_type(CAST(text AS JSON)) = 'OBJECT' AS object FROM class_map_texts",
            )
        finally:
            con.close()
        maps: pa.MapArray = decoded.column("m").combine_chunks()
        is_object = decoded.column("object").to_numpy(zero_copy_only=False).astype(bool)
        return cls(row_map, maps, is_object)


_CLASS_MAP_ARROW = pa.map_(pa.string(), pa.string())


def _names_by_class(maps: _ClassMaps, owner: np.ndarray, class_ids: np.ndarray) -> pa.Array:
    """Each item's class name from its row's class map: the name whose key is the item's
    class id (a whole number) written plainly (``"3"``, not ``"03"``); null where the map has
    no such key."""
    if not len(owner):  # no items (the cuboids of a boxes job, say): no map to read
        return pa.array([], pa.dictionary(pa.int32(), pa.string()))
    offsets = np.asarray(maps.maps.offsets, dtype=np.int64)
    starts = offsets - offsets[0]
    lengths = np.where(pc.is_valid(maps.maps).to_numpy(zero_copy_only=False), np.diff(starts), 0)
    keys = maps.maps.keys
    plain = pc.match_substring_regex(keys, r"^(0|-?[1-9][0-9]{0,15})$")
    key = np.where(
        plain.to_numpy(zero_copy_only=False),
        pc.cast(pc.if_else(plain, keys, "0"), pa.float64()).to_numpy(zero_copy_only=False),
        np.nan,
    )
    row_map = maps.row_map[owner]
    first = np.append(starts[:-1], 0)[row_map]  # -1 (no class map): an empty map
    count = np.append(lengths, 0)[row_map]
    found = np.full(len(owner), -1, dtype=np.int64)
    pending = np.flatnonzero((class_ids == np.trunc(class_ids)) & (count > 0))
    k = 0
    while len(pending):  # the k-th entry of each pending item's map (maps hold few classes)
        at = first[pending] + k
        hit = key[at] == class_ids[pending]
        found[pending[hit]] = at[hit]
        pending = pending[~hit & (k + 1 < count[pending])]
        k += 1
    names = pc.dictionary_encode(maps.maps.items)  # a few names, many items
    taken: pa.Array = pc.take(names, pa.array(found, mask=found < 0))
    return taken


def _confidences(rows: pa.Table, column: str, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each item's confidence (its row's ``objects`` entry at its place; NaN where the row's
    ``objects`` list is missing or of another length), and each row's mean of its items'
    known confidences (NaN where none is known)."""
    items = rows.column(column).combine_chunks()
    objects = rows.column("objects").combine_chunks()
    same = pc.fill_null(
        pc.equal(pc.list_value_length(objects), pc.list_value_length(items)), False
    ).to_numpy(zero_copy_only=False)
    entries = pc.list_flatten(objects)
    entry_owner = pc.list_parent_indices(objects).to_numpy()
    values = np.asarray(
        pc.fill_null(entries.field("confidence"), np.nan).to_numpy(zero_copy_only=False),
        dtype=np.float64,
    )
    out = np.full(len(owner), np.nan)
    out[same[owner]] = values[same[entry_owner]]
    known = ~np.isnan(out)
    total = np.bincount(owner[known], weights=out[known], minlength=rows.num_rows)
    counted = np.bincount(owner[known], minlength=rows.num_rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counted > 0, total / np.maximum(counted, 1), np.nan)
    return out, mean


def _classed_items(
    rows: pa.Table, column: str, fields: dict[str, str], maps: _ClassMaps
) -> tuple[pa.Table, np.ndarray]:
    """The items of a list column (``fields`` name their class id ``raw_id``) with their row's
    index, attribute and image size, a class id (-1 where missing or not a whole number), the
    name the row's class map gives it, and the item's confidence; and the mean confidence of
    each row's items."""
    owner, items = _items(rows, column, fields)
    ids = np.asarray(
        pc.fill_null(pc.cast(items.column("raw_id"), pa.float64()), np.nan).to_numpy(
            zero_copy_only=False
        ),
        dtype=np.float64,
    )
    whole = (ids == np.trunc(ids)) & (np.abs(ids) <= 2**53)
    confidence, mean = _confidences(rows, column, owner)
    at = pa.array(owner)
    table = items.drop_columns(["raw_id"])
    for name, values in (
        ("class_id", pa.array(np.where(whole, ids, -1).astype(np.int64))),
        ("class_name", _names_by_class(maps, owner, ids)),
        ("confidence", pa.array(confidence)),
        ("index", pc.take(rows.column("record"), at)),
        ("attribute", pc.take(rows.column("attribute"), at)),
        ("image_width", pc.take(rows.column("image_width"), at)),
        ("image_height", pc.take(rows.column("image_height"), at)),
    ):
        table = table.append_column(name, values)
    return table, mean


def _per_distinct(
    column: pa.ChunkedArray, made: Callable[[pa.Array], pa.Array], *, categories: bool
) -> pa.Array:
    """``made`` of each row's text, worked out once for each distinct text (rows repeat a
    few): as categories (a dictionary of the distinct results), or a value a row."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    values = made(encoded.dictionary)
    if not categories:
        taken: pa.Array = pc.take(values, encoded.indices)
        return taken
    distinct = pc.dictionary_encode(values)  # two texts can give the same result
    return pa.DictionaryArray.from_arrays(
        pc.take(distinct.indices, encoded.indices), distinct.dictionary
    )


def _without(prefix: str, *, ignore_case: bool) -> Callable[[pa.Array], pa.Array]:
    """Texts with ``prefix`` taken off where they start with it."""

    def made(texts: pa.Array) -> pa.Array:
        starts: pa.Array = pc.starts_with(texts, prefix, ignore_case=ignore_case)
        out: pa.Array = pc.if_else(starts, pc.utf8_slice_codeunits(texts, len(prefix)), texts)
        return out

    return made


def _yes_no(texts: pa.Array) -> pa.Array:
    """yes/true as true, no/false as false (in any case), anything else as unknown."""
    lowered = pc.utf8_lower(texts)
    unknown = pa.scalar(None, pa.bool_())
    no = pc.if_else(pc.is_in(lowered, value_set=pa.array(["no", "false"])), False, unknown)
    out: pa.Array = pc.if_else(pc.is_in(lowered, value_set=pa.array(["yes", "true"])), True, no)
    return out


def _label_texts(rows: pa.Table) -> pa.Table:
    """The engine's label rows with their texts as the tables hold them: the task type
    without its ``groundtruth/`` prefix (in any case), human-annotated as true or false (yes,
    no, true or false in any case; anything else unknown), the job name without
    ``labeling-job/``."""
    for raw, name, made, categories in (
        ("type", "task_type", _without(_TYPE_PREFIX, ignore_case=True), True),
        ("human", "human", _yes_no, False),
        ("job", "job_name", _without(_JOB_PREFIX, ignore_case=False), True),
    ):
        at = rows.schema.get_field_index(raw)
        values = _per_distinct(rows.column(raw), made, categories=categories)
        rows = rows.set_column(at, name, values)
    return rows


def _notes(rows: pa.Table, maps: _ClassMaps) -> pa.Table:
    """What is wrong with boxes or cuboids labels, a ``record`` and what is ``said`` for each
    row where something is: an ``objects`` list of another length than its annotations (their
    confidences are then unknown), a class map that is no JSON object (their class names are
    then unknown). Messages are made for those rows only."""
    n_objects = pc.list_value_length(rows.column("objects"))
    n_items = pc.coalesce(*(pc.list_value_length(rows.column(c)) for c in ("boxes", "cuboids")))
    differs = pc.fill_null(pc.not_equal(n_objects, n_items), False).to_numpy(zero_copy_only=False)
    no_map = maps.row_map >= 0
    no_map[no_map] = ~maps.is_object[maps.row_map[no_map]]
    where = np.flatnonzero(differs | no_map)
    at = pa.array(where)
    attribute = pc.take(rows.column("attribute"), at)
    none = pa.scalar(None, pa.string())
    counts = pc.binary_join_element_wise(
        attribute, "-metadata.objects has ", pc.cast(pc.take(n_objects, at), pa.string()),
        " entries for ", pc.cast(pc.take(n_items, at), pa.string()),
        " annotations (objects[i] belongs to annotations[i]); their confidences are unknown", "",
    )  # fmt: skip
    counts = pc.if_else(pa.array(differs[where]), counts, none)
    not_a_map = pc.binary_join_element_wise(
        attribute, "-metadata.class-map is not a JSON object of class ids and names; the ",
        pc.take(rows.column("kind"), at), " have no class names", "",
    )  # fmt: skip
    not_a_map = pc.if_else(pa.array(no_map[where]), not_a_map, none)
    said = pc.coalesce(pc.binary_join_element_wise(counts, not_a_map, "; "), counts, not_a_map)
    return pa.table({"record": pc.take(rows.column("record"), at), "said": said})


_CUBOID_FIELDS = {
    "object-name": "object_name", "class-id": "raw_id", "center-x": "center_x",
    "center-y": "center_y", "center-z": "center_z", "length": "length", "width": "width",
    "height": "height", "roll": "roll", "pitch": "pitch", "yaw": "yaw",
    "label-category-attributes": "label_attributes",
}  # fmt: skip
_ROW_COLUMNS = tuple(c for c in OBJECT_COLUMNS if c not in ("line", "iteration"))


def _batch_tables(
    rows: pa.Table, maps: _ClassMaps
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """One batch of label rows (their texts made by :func:`_label_texts`) as the objects,
    boxes, classes and cuboids it holds (Arrow)."""
    for name in ("attribute", "adjustment_status"):
        # Categories once a row: boxes take their row's attribute as codes, not as texts.
        at = rows.schema.get_field_index(name)
        rows = rows.set_column(at, name, pc.dictionary_encode(rows.column(name)))
    box_fields = {k: k for k in ("left", "top", "width", "height")} | {"class_id": "raw_id"}
    boxes, box_means = _classed_items(rows, "boxes", box_fields, maps)
    cuboids, cuboid_means = _classed_items(rows, "cuboids", _CUBOID_FIELDS, maps)
    cuboids = cuboids.set_column(
        cuboids.schema.get_field_index("label_attributes"),
        "label_attributes",
        pc.cast(cuboids.column("label_attributes"), pa.string()),
    )
    owner, classes = _items(
        rows, "classes", {k: k for k in ("class_id", "class_name", "confidence", "color")}
    )
    at = pa.array(owner)
    classes = classes.set_column(0, "class_id", pc.fill_null(classes.column("class_id"), -1))
    classes = classes.append_column("index", pc.take(rows.column("record"), at)).append_column(
        "attribute", pc.take(rows.column("attribute"), at)
    )
    # A boxes or cuboids label's confidence is its items' mean; any other label states its own.
    has_boxes = pc.is_valid(rows.column("boxes")).to_numpy(zero_copy_only=False)
    has_cuboids = pc.is_valid(rows.column("cuboids")).to_numpy(zero_copy_only=False)
    stated = np.asarray(
        pc.fill_null(rows.column("confidence"), np.nan).to_numpy(zero_copy_only=False),
        dtype=np.float64,
    )
    confidence = np.where(has_boxes, box_means, np.where(has_cuboids, cuboid_means, stated))
    objects = rows.select(
        ["record", *[c for c in _ROW_COLUMNS if c not in ("index", "confidence")]]
    ).rename_columns(["index", *[c for c in _ROW_COLUMNS if c not in ("index", "confidence")]])
    objects = objects.append_column("confidence", pa.array(confidence))
    return objects, boxes, classes, cuboids
