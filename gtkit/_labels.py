"""An output manifest's lines as label tables: objects, boxes, classes and cuboids.

The engine reads the manifest twice. A first pass lists every distinct set of top-level keys
with one example line of each: from those few lines gtkit learns the label attributes (a key
``X`` whose ``X-metadata`` is Ground Truth metadata, judged by its content) and each one's kind
(2D boxes, 3D cuboids, or any other label). The second pass reads every line with an explicit
schema built from that, and SQL over the result makes the tables. Every key of every line is
read: what is not a label or its metadata is kept as the line's ``extra`` fields.

A line the engine rejects (not JSON, or a value of the wrong type where a number, a list or an
object belongs) stops a strict read with the file and line of every such line; a lenient read
lists them in ``problems`` and reads the rest. Lines count from 1, blank ones included;
``index`` (the datasetObjectId) counts the non-blank lines from 0, rejected ones included.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gtkit._engine import (
    MAX_LINE_BYTES,
    EngineError,
    fetch,
    json_string,
    timestamp_sql,
)
from gtkit._errors import OutputError, Problem
from gtkit._lines import describe_records, record_lines

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
CLASS_COLUMNS = ("index", "attribute", "class_id", "class_name", "confidence")
CUBOID_COLUMNS = (
    "index", "attribute", "object_name", "class_id", "class_name", "center_x", "center_y",
    "center_z", "length", "width", "height", "roll", "pitch", "yaw", "confidence",
    "label_attributes",
)  # fmt: skip

Kind = Literal["boxes", "cuboids", "other"]
_BOXES_TYPE = "groundtruth/object-detection"
_CUBOIDS_TYPE = "groundtruth/point_cloud_object_detection"
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
_METADATA: dict[Kind, dict[str, str]] = {
    "boxes": {**_COMMON, "objects": _CONFIDENCES, "class-map": _CLASS_MAP},
    # The guide's 3D example spells its class map with an underscore.
    "cuboids": {
        **_COMMON,
        "objects": _CONFIDENCES,
        "class-map": _CLASS_MAP,
        "class_map": _CLASS_MAP,
    },
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
    return (isinstance(kind, str) and kind.lower().startswith("groundtruth/")) or (
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
    unnamed: tuple[str, ...] = ()  # keys the engine cannot name a column by (see _discover)

    def schema(self) -> dict[str, str]:
        """The engine's type of every top-level key."""
        columns = {"source-ref": "VARCHAR", "source": "VARCHAR"}
        for a in self.attributes:
            fields = ", ".join(f"{_ident(k)} {t}" for k, t in _METADATA[a.kind].items())
            columns[a.name] = _VALUES[a.kind]
            columns[f"{a.name}-metadata"] = f"STRUCT({fields})"
        for key in self.extras:
            columns[key] = "JSON"
        return columns

    def shapes(self) -> dict[str, Any]:
        """The same as :meth:`schema`, for describing rejected lines."""
        shapes: dict[str, Any] = {}
        for a in self.attributes:
            shapes[a.name] = _VALUE_SHAPES[a.kind]
            metadata = dict(_METADATA_SHAPE)
            if a.kind != "other":
                metadata["objects"] = [{"confidence": "number"}]
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
       count(*) AS lines, any_value(json) AS example
FROM (SELECT json, json_keys(json) AS keys
      FROM read_json_objects(?, format = 'newline_delimited', ignore_errors = true,
                             maximum_object_size = {MAX_LINE_BYTES}))
GROUP BY ALL
"""


def _discover(con: duckdb.DuckDBPyConnection, path: str) -> _Layout:
    groups = fetch(con, _DISCOVER, [path]).to_pylist()
    votes: dict[str, Counter[Kind]] = {}
    first_seen: dict[str, tuple[int, int]] = {}
    keys_seen: dict[str, tuple[int, int]] = {}
    records = unreadable = 0
    for g, group in enumerate(sorted(groups, key=lambda row: -int(row["lines"]))):
        records += int(group["lines"])
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
    attributes: list[tuple[tuple[int, int], str, Kind]] = []
    for name, counts in votes.items():
        # The kind most lines show; lines of another kind are rejected by the typed read.
        kind: Kind = counts.most_common(1)[0][0] if counts else "other"
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
    )


def _load(con: duckdb.DuckDBPyConnection, path: str, layout: _Layout, *, tolerate: bool) -> int:
    """Read every line by the layout's schema into the engine's table ``gt_lines`` (one row
    per record, in order, so that a row's ``rowid`` is its record number); with ``tolerate``,
    a line the engine rejects is a row of nulls instead of an error. Returns the records."""
    columns = ", ".join(f"{json_string(k)}: {json_string(t)}" for k, t in layout.schema().items())
    con.execute(
        f"""
    CREATE OR REPLACE TEMP TABLE gt_lines AS
    SELECT * FROM read_json(?, format = 'newline_delimited', records = true,
        auto_detect = false, columns = {{{columns}}},
        maximum_object_size = {MAX_LINE_BYTES}, ignore_errors = {str(tolerate).lower()})
    """,
        [path],
    )
    return int(con.execute("SELECT count(*) FROM gt_lines").fetchall()[0][0])


_SUSPECT = f"""
SELECT json IS NULL OR json_type(json) <> 'OBJECT' OR json_keys(json) <> [] AS suspect
FROM read_json_objects(?, format = 'newline_delimited', ignore_errors = true,
                       maximum_object_size = {MAX_LINE_BYTES})
"""


def _rejected_records(
    con: duckdb.DuckDBPyConnection, path: str, layout: _Layout, records: int
) -> np.ndarray:
    """Records the engine could not read under the schema (read with nulls in their place):
    lines that are not JSON objects, and objects with keys whose every column came out null.
    A line of nothing but nulls is a suspect too; describing it clears it."""
    suspect = fetch(con, _SUSPECT, [path]).column("suspect").to_numpy(zero_copy_only=False)
    if len(suspect) != records:
        raise OutputError(f"{path}: the reader counted {records} lines, then {len(suspect)}")
    nulls = " AND ".join(f"{_ident(k)} IS NULL" for k in layout.schema())
    all_null = fetch(con, f"SELECT rowid AS r FROM gt_lines WHERE {nulls}").column("r")
    rows = all_null.to_numpy()
    out: np.ndarray = np.sort(rows[np.asarray(suspect, dtype=bool)[rows]])
    return out


@dataclass
class LabelTables:
    """The tables of one manifest; see :class:`gtkit.JobOutput` for their columns."""

    objects: pd.DataFrame
    boxes: pd.DataFrame
    classes: pd.DataFrame
    cuboids: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)


def read_label_tables(
    path: str, con: duckdb.DuckDBPyConnection, *, name: str, lenient: bool, max_problems: int = 50
) -> LabelTables:
    """Read the manifest at the local ``path`` (named ``name`` in messages) into tables."""
    try:
        layout = _discover(con, path)
        rejected = np.zeros(0, dtype=np.int64)
        records = -1
        if not layout.unreadable:
            try:
                records = _load(con, path, layout, tolerate=False)
            except EngineError:
                records = -1  # some line has a value of the wrong type: find which below
        if records < 0:
            records = _load(con, path, layout, tolerate=True)
            rejected = _rejected_records(con, path, layout, records)
    except EngineError as exc:
        raise OutputError(f"{name}: cannot read as JSON Lines ({_first_line(exc)})") from None
    line_of = record_lines(path, records)
    problems: list[Problem] = []
    if len(rejected):
        shown = rejected[:max_problems]
        found = describe_records(path, {int(r): int(line_of[r]) for r in shown}, layout.shapes())
        cleared = {r for r, m in found.items() if not m}  # lines of nothing but nulls
        problems = [Problem(f"{name}:{line_of[r]}", m, "skipped") for r, m in found.items() if m]
        rejected = np.array([r for r in rejected.tolist() if r not in cleared], dtype=np.int64)
        if len(rejected) > len(problems):
            more = len(rejected) - len(problems)
            problems.append(
                Problem(name, f"and {more} more lines the reader cannot take", "skipped")
            )
        if len(rejected) and not lenient:
            raise OutputError(_many(f"{name}: lines the reader cannot take", problems))
        if len(rejected):
            con.execute(f"DELETE FROM gt_lines WHERE rowid IN ({', '.join(map(str, rejected))})")
    con.execute("CREATE OR REPLACE TEMP VIEW lines AS SELECT rowid AS record, * FROM gt_lines")
    try:
        objects = fetch(con, _objects_sql(layout))
        bad_dates = _problems_in(objects, "bad_date", line_of, name, "value")
        if bad_dates and not lenient:
            raise OutputError(_many(f"{name}: values the reader cannot take", bad_dates))
        notes = _problems_in(objects, "note", line_of, name, "note")
        tables = _tables(con, layout, objects, line_of)
    finally:
        con.execute("DROP VIEW IF EXISTS lines")
        con.execute("DROP TABLE IF EXISTS gt_lines")
    unnamed = [
        Problem(name, f"top-level key {key!r} is left out of 'extra': the reader cannot tell "
                "it from another key (no name, or one that differs only in case)", "note")
        for key in layout.unnamed
    ]  # fmt: skip
    tables.problems = problems + sorted(bad_dates + notes, key=_line_number) + unnamed
    return tables


def _line_number(problem: Problem) -> int:
    return int(problem.where.rsplit(":", 1)[1])


def _problems_in(
    objects: pa.Table, column: str, line_of: np.ndarray, name: str, kind: str
) -> list[Problem]:
    """The problems a column of the objects query states, where it states one."""
    found = objects.filter(pc.is_valid(objects.column(column)))
    records = found.column("index").to_numpy()
    messages = found.column(column).to_pylist()
    return [
        Problem(f"{name}:{line_of[r]}", m, kind) for r, m in zip(records, messages, strict=True)
    ]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _many(heading: str, problems: list[Problem], shown: int = 20) -> str:
    lines = [f"{heading} ({len(problems)}{'+' if len(problems) >= shown else ''}):"]
    lines += [f"  {p}" for p in problems[:shown]]
    lines.append("read with lenient=True (--lenient) to skip them, listing each")
    return "\n".join(lines)


# ---------------------------------------------------------------------- SQL
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
        f"COALESCE({m}.type ILIKE 'groundtruth/%' OR {m}.\"human-annotated\" IS NOT NULL "
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


def _object_columns(a: _Attribute) -> dict[str, str]:
    """SQL for each per-attribute column of an object row of ``a`` (raw texts; see
    :func:`_objects_sql` for what they become)."""
    m, v = _metadata(a), _ident(a.name)
    name = _text(a.name + "-metadata")
    if a.kind == "other":
        colors = f'COALESCE({m}."internal-color-map", {m}."color-map")'
        confidence = (
            f"COALESCE({m}.confidence, "
            f"list_avg(list_transform(map_values({colors}), lambda e: e.confidence)))"
        )
        value = (
            f"CASE WHEN json_type({v}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN NULL "
            f"WHEN json_type({v}) = 'VARCHAR' THEN json_extract_string({v}, '$') "
            f"ELSE CAST({v} AS VARCHAR) END"
        )
        note = "NULL::VARCHAR"
    else:
        # An image's confidence is the mean of its boxes' (as automated labeling defines it).
        confidence = (
            f"CASE WHEN len({m}.objects) = len({v}.annotations) THEN "
            f"list_avg(list_transform({m}.objects, lambda o: o.confidence)) END"
        )
        value = "NULL::VARCHAR"
        note = (
            f"CASE WHEN len({m}.objects) <> len({v}.annotations) THEN {name} || '.objects has ' "
            f"|| len({m}.objects) || ' entries for ' || len({v}.annotations) || ' annotations "
            f"(objects[i] belongs to annotations[i]); their confidences are unknown' END"
        )
    boxes = a.kind == "boxes"
    return {
        "attribute": _text(a.name),
        "type": f"{m}.type",
        "human": f'{m}."human-annotated"',
        "confidence": confidence,
        "date": _field(a, "creation-date", "creation_date"),
        "job": _field(a, "job-name", "job_name"),
        "failure_reason": f'{m}."failure-reason"',
        "value": value,
        "adjustment_status": f'{m}."adjustment-status"',
        "image_width": f"{v}.image_size[1].width" if boxes else "NULL::DOUBLE",
        "image_height": f"{v}.image_size[1].height" if boxes else "NULL::DOUBLE",
        "note": note,
    }


_NO_ATTRIBUTE = {
    "attribute": "NULL::VARCHAR", "type": "NULL::VARCHAR", "human": "NULL::VARCHAR",
    "confidence": "NULL::DOUBLE", "date": "NULL::VARCHAR", "job": "NULL::VARCHAR",
    "failure_reason": "NULL::VARCHAR", "value": "NULL::VARCHAR",
    "adjustment_status": "NULL::VARCHAR", "image_width": "NULL::DOUBLE",
    "image_height": "NULL::DOUBLE", "note": "NULL::VARCHAR",
}  # fmt: skip


def _objects_sql(layout: _Layout) -> str:
    """One row per (line, label attribute), a line with none getting one row too: with one
    attribute, a row for each line in the file's order; with several, their union in order."""
    common = f'COALESCE("source-ref", "source") AS source, {_extra_sql(layout)} AS extra'
    if len(layout.attributes) == 1:
        (a,) = layout.attributes
        labeled = _labeled(a)
        columns = ", ".join(
            f"CASE WHEN {labeled} THEN {sql} END AS {k}" for k, sql in _object_columns(a).items()
        )
        rows = f"SELECT record, {common}, {columns} FROM lines"
        order = ""
    else:
        parts = []
        for a in layout.attributes:
            columns = ", ".join(f"{sql} AS {k}" for k, sql in _object_columns(a).items())
            parts.append(
                f"SELECT record, {a.position} AS position, {common}, {columns} "
                f"FROM lines WHERE {_labeled(a)}"
            )
        nothing = " AND ".join(f"NOT {_labeled(x)}" for x in layout.attributes) or "true"
        columns = ", ".join(f"{sql} AS {k}" for k, sql in _NO_ATTRIBUTE.items())
        parts.append(
            f"SELECT record, -1 AS position, {common}, {columns} FROM lines WHERE {nothing}"
        )
        rows = "\nUNION ALL\n".join(parts)
        order = "ORDER BY record, position"
    date = timestamp_sql("date")
    return f"""
    SELECT record AS "index", source, attribute,
        CASE WHEN type ILIKE 'groundtruth/%' THEN substr(type, 13) ELSE type END AS task_type,
        CASE lower(human) WHEN 'yes' THEN true WHEN 'true' THEN true
                          WHEN 'no' THEN false WHEN 'false' THEN false END AS human,
        confidence, {date} AS creation_date,
        CASE WHEN starts_with(job, '{_JOB_PREFIX}') THEN substr(job, {len(_JOB_PREFIX) + 1})
             ELSE job END AS job_name,
        failure_reason, value, adjustment_status, image_width, image_height, extra,
        CASE WHEN date IS NOT NULL AND {date} IS NULL
             THEN attribute || '-metadata.creation-date: ' || date[:80]
                  || ' is not a date (ISO 8601, or a JavaScript date text)' END AS bad_date,
        note
    FROM ({rows}) {order}"""


def _class_id(number: str) -> str:
    """A class id (a number) as BIGINT, -1 where it is missing or not a whole number."""
    return (
        f"CASE WHEN {number} = trunc({number}) AND abs({number}) <= 9007199254740992 "
        f"THEN CAST({number} AS BIGINT) ELSE -1 END"
    )


def _class_name(a: _Attribute, number: str) -> str:
    """The name the line's class map gives a class id (a number), NULL where it gives none."""
    key = f"CAST(CAST({number} AS BIGINT) AS VARCHAR)"
    return (
        f"CASE WHEN {number} = trunc({number}) AND abs({number}) <= 9007199254740992 THEN "
        f"map_extract_value({_field(a, 'class-map', 'class_map')}, {key}) END"
    )


def _boxes_sql(layout: _Layout) -> str | None:
    parts = []
    for a in layout.attributes:
        if a.kind != "boxes":
            continue
        m, v = _metadata(a), _ident(a.name)
        confidences = (
            f"CASE WHEN len({m}.objects) = len({v}.annotations) "
            f"THEN list_transform({m}.objects, lambda o: o.confidence) END"
        )
        parts.append(f"""
        SELECT record AS "index", {_text(a.name)} AS attribute,
            {_class_id("b.class_id")} AS class_id, {_class_name(a, "b.class_id")} AS class_name,
            b."left" AS "left", b.top AS top, b.width AS width, b.height AS height,
            confidence, {v}.image_size[1].width AS image_width,
            {v}.image_size[1].height AS image_height, {a.position} AS position, ordinal
        FROM (SELECT record, {m}, {v}, UNNEST({v}.annotations) AS b,
                     UNNEST({confidences}) AS confidence,
                     UNNEST(range(len({v}.annotations))) AS ordinal
              FROM lines WHERE {_labeled(a)})""")
    return _in_order(parts)


def _in_order(parts: list[str]) -> str | None:
    """The union of per-attribute row sets (each in the order of the lines and of the rows
    within a label), ordered by line, by the attribute's place in a line, and by row."""
    if len(parts) <= 1:
        return parts[0] if parts else None
    union = "\nUNION ALL\n".join(parts)
    return f'SELECT * FROM ({union}) ORDER BY "index", position, ordinal'


def _cuboids_sql(layout: _Layout) -> str | None:
    parts = []
    for a in layout.attributes:
        if a.kind != "cuboids":
            continue
        m, v = _metadata(a), _ident(a.name)
        confidences = (
            f"CASE WHEN len({m}.objects) = len({v}.annotations) "
            f"THEN list_transform({m}.objects, lambda o: o.confidence) END"
        )
        parts.append(f"""
        SELECT record AS "index", {_text(a.name)} AS attribute, c."object-name" AS object_name,
            {_class_id('c."class-id"')} AS class_id,
            {_class_name(a, 'c."class-id"')} AS class_name,
            c."center-x" AS center_x, c."center-y" AS center_y, c."center-z" AS center_z,
            c.length AS length, c.width AS width, c.height AS height,
            c.roll AS roll, c.pitch AS pitch, c.yaw AS yaw, confidence,
            CAST(c."label-category-attributes" AS VARCHAR) AS label_attributes,
            {a.position} AS position, ordinal
        FROM (SELECT record, {m}, UNNEST({v}.annotations) AS c,
                     UNNEST({confidences}) AS confidence,
                     UNNEST(range(len({v}.annotations))) AS ordinal
              FROM lines WHERE {_labeled(a)})""")
    return _in_order(parts)


def _classes_sql(layout: _Layout) -> str | None:
    """Classes of every label that is not boxes or cuboids, by the label's shape: colour maps
    (segmentation), entities (named entities), lists (multi-label), S3 URIs (video and 3D
    labels: their class maps), else one class (classification, verification)."""
    parts = []
    for a in layout.attributes:
        if a.kind != "other":
            continue
        m, v = _metadata(a), _ident(a.name)
        colors = f'COALESCE({m}."internal-color-map", {m}."color-map")'
        class_map = _field(a, "class-map", "class_map")
        shape = f"""CASE
            WHEN {colors} IS NOT NULL THEN 'colors'
            WHEN json_type({v}, '$.annotations') = 'OBJECT' THEN 'entities'
            WHEN json_type({v}) = 'ARRAY' THEN 'list'
            WHEN json_type({v}) = 'VARCHAR' AND ({_text(a.name)} LIKE '%-ref'
                 OR starts_with(json_extract_string({v}, '$'), 's3://')) THEN 'uri'
            WHEN json_type({v}) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'VARCHAR')
                 OR {m}."class-name" IS NOT NULL THEN 'one'
            END"""
        rows = f"""(SELECT record, {m}, {v}, {shape} AS shape FROM lines
                   WHERE {_labeled(a)})"""
        name, at = _text(a.name), a.position
        parts.append(f"""
        SELECT record, {name} AS attribute, TRY_CAST(e.key AS BIGINT) AS class_id,
            e.value."class-name" AS class_name, e.value.confidence AS confidence,
            {at} AS position, ordinal
        FROM (SELECT record, UNNEST(map_entries({colors})) AS e,
                     UNNEST(range(CAST(cardinality({colors}) AS BIGINT))) AS ordinal
              FROM {rows} WHERE shape = 'colors')""")
        entities = f"{v} -> '$.annotations.entities'"
        parts.append(f"""
        SELECT record, {name}, -1, entity.label, confidence, {at}, ordinal
        FROM (SELECT record,
                UNNEST(json_transform({entities}, '[{{"label": "VARCHAR"}}]')) AS entity,
                UNNEST(CASE WHEN len({m}.entities) = json_array_length({entities})
                       THEN list_transform({m}.entities, lambda e: e.confidence) END) AS confidence,
                UNNEST(range(CAST(json_array_length({entities}) AS BIGINT))) AS ordinal
              FROM {rows} WHERE shape = 'entities')""")
        parts.append(f"""
        SELECT record, {name}, TRY_CAST(item AS BIGINT), map_extract_value({class_map}, item),
            map_extract_value({m}."confidence-map", item), {at}, ordinal
        FROM (SELECT record, {m}, UNNEST(json_transform({v}, '["VARCHAR"]')) AS item,
                     UNNEST(range(CAST(json_array_length({v}) AS BIGINT))) AS ordinal
              FROM {rows} WHERE shape = 'list')""")
        parts.append(f"""
        SELECT record, {name}, TRY_CAST(e.key AS BIGINT), e.value, NULL::DOUBLE, {at}, ordinal
        FROM (SELECT record, UNNEST(map_entries({class_map})) AS e,
                     UNNEST(range(CAST(cardinality({class_map}) AS BIGINT))) AS ordinal
              FROM {rows} WHERE shape = 'uri')""")
        number = f"TRY_CAST(json_extract_string({v}, '$') AS DOUBLE)"
        parts.append(f"""
        SELECT record, {name}, {_class_id(number)}, {m}."class-name", {m}.confidence, {at}, 0
        FROM {rows} WHERE shape = 'one'""")
    if not parts:
        return None
    union = "\nUNION ALL\n".join(parts)
    return f"""SELECT record AS "index", attribute, COALESCE(class_id, -1) AS class_id,
        class_name, confidence FROM ({union}) ORDER BY "index", position, ordinal"""


# ---------------------------------------------------------------------- to pandas
_CATEGORIES = ("attribute", "task_type", "job_name", "class_name", "adjustment_status")


def _frame(table: pa.Table, columns: tuple[str, ...]) -> pd.DataFrame:
    """An engine result as a DataFrame with gtkit's dtypes: repeated texts as categories,
    true/false/unknown as pandas' boolean, dates as UTC microseconds."""
    arrays = {}
    for name in table.column_names:
        column = table.column(name)
        if name in _CATEGORIES:
            column = pc.dictionary_encode(column)
        arrays[name] = column
    frame: pd.DataFrame = pa.table(arrays).to_pandas(
        types_mapper={pa.bool_(): pd.BooleanDtype()}.get, self_destruct=True
    )
    picked: pd.DataFrame = frame[[c for c in columns if c in frame.columns]]
    return picked


def _empty(columns: tuple[str, ...], numbers: tuple[str, ...]) -> pd.DataFrame:
    data: dict[str, pd.Series] = {}
    for name in columns:
        if name in ("index", "class_id"):
            data[name] = pd.Series(dtype="int64")
        elif name in numbers:
            data[name] = pd.Series(dtype="float64")
        elif name in _CATEGORIES:
            data[name] = pd.Series(dtype="category")
        else:
            data[name] = pd.Series(dtype="object")
    frame: pd.DataFrame = pd.DataFrame(data)
    return frame


_BOX_NUMBERS = ("left", "top", "width", "height", "confidence", "image_width", "image_height")
_CUBOID_NUMBERS = (
    "center_x", "center_y", "center_z", "length", "width", "height", "roll", "pitch", "yaw",
    "confidence",
)  # fmt: skip


def _tables(
    con: duckdb.DuckDBPyConnection, layout: _Layout, found: pa.Table, line_of: np.ndarray
) -> LabelTables:
    records = found.column("index").to_numpy()
    n = found.num_rows
    found = found.drop_columns(["bad_date", "note"])
    found = found.append_column("line", pa.array(line_of[records]))
    objects = _frame(found, OBJECT_COLUMNS)
    objects["iteration"] = pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, dtype=bool))
    objects = objects[list(OBJECT_COLUMNS)]

    def table(
        query: str | None, columns: tuple[str, ...], numbers: tuple[str, ...]
    ) -> pd.DataFrame:
        if query is None:
            return _empty(columns, numbers)
        return _frame(fetch(con, query), columns)

    return LabelTables(
        objects=objects,
        boxes=table(_boxes_sql(layout), BOX_COLUMNS, _BOX_NUMBERS),
        classes=table(_classes_sql(layout), CLASS_COLUMNS, ("confidence",)),
        cuboids=table(_cuboids_sql(layout), CUBOID_COLUMNS, _CUBOID_NUMBERS),
    )
