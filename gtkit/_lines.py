"""Lines of a JSON Lines file, for what the engine does not say: which physical line a record
is on, and why a line it rejected is wrong.

The engine (:mod:`gtkit._engine`) reads the data; nothing here produces a value of a table.
Records are the non-blank lines, numbered from 0 (a record's number is the ``index`` of its
objects, the datasetObjectId); lines are numbered from 1, blank ones included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from gtkit._errors import OutputError

__all__ = ["describe_records", "record_lines", "type_problem", "typed_problems"]


def _line_count(path: str) -> int:
    """Lines in a file, a last line without a newline included."""
    count, last = 0, b"\n"
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 24):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (last != b"\n")


def record_lines(path: str, records: int, text_bytes: int | None = None) -> np.ndarray:
    """The 1-based line of each of the ``records`` non-blank lines of the file at ``path``, as
    an int64 array. ``text_bytes`` is what the lines' text takes without surrounding white
    space, where known: a file of exactly that and a newline a line has no blank line (the
    usual case), and is not read; else its lines are counted, and numbered where need be."""
    if text_bytes is not None:
        with Path(path).open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - 1))
            ends_in_newline = f.read(1) == b"\n"
        if size == text_bytes + records - (not ends_in_newline):
            return np.arange(1, records + 1, dtype=np.int64)
    if _line_count(path) == records:
        return np.arange(1, records + 1, dtype=np.int64)
    data = Path(path).read_bytes()
    numbers = [n for n, line in enumerate(data.split(b"\n"), start=1) if line.strip()]
    if len(numbers) != records:
        raise OutputError(
            f"{path}: {len(numbers)} non-blank lines, but the reader found {records} records"
        )
    return np.array(numbers, dtype=np.int64)


def _loads(line: bytes) -> Any:
    """A line's JSON value, read as the engine reads it: orjson, else (for NaN and Infinity,
    which the engine takes and orjson refuses) the standard library. Raises ValueError with
    orjson's message where neither reads it."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(line)
        except ValueError:
            raise exc from None


def _lines_at(path: str, numbers: Iterable[int]) -> dict[int, bytes]:
    """The text of the given 1-based lines."""
    wanted = set(numbers)
    found: dict[int, bytes] = {}
    if not wanted:
        return found
    last = max(wanted)
    with Path(path).open("rb") as f:
        for n, line in enumerate(f, start=1):
            if n in wanted:
                found[n] = line
            if n >= last:
                break
    return found


def describe_records(
    path: str,
    lines: Mapping[int, int],
    schema: Mapping[str, Any],
) -> dict[int, str]:
    """Why each record the engine rejected is wrong: ``lines`` maps a record number to its
    line; ``schema`` is the expected type of each top-level key (see :func:`type_problem`).
    Returns a message for each record, by record number."""
    texts = _lines_at(path, lines.values())
    out: dict[int, str] = {}
    for record, line in lines.items():
        raw = texts.get(line, b"")
        try:
            value = _loads(raw)
        except ValueError as exc:
            out[record] = f"not JSON ({exc})"
            continue
        if not isinstance(value, dict):
            out[record] = f"expected a JSON object, got {_kind(value)}"
            continue
        found = _schema_problem(value, schema)
        out[record] = found or "a value the reader cannot take (unexpected shape)"
    return out


def typed_problems(path: str, schema: Mapping[str, Any]) -> list[int]:
    """The records (non-blank lines, numbered from 0) with a value of another type than
    ``schema`` expects (see :func:`type_problem`): a text where a number or a list of boxes
    belongs, say. Reading leniently, the engine takes such a value as unknown and keeps the
    rest of its line without a word, so the lines are found here, to be told and skipped.
    A line that is not JSON is left to the engine. A pass over every line: made only where
    the engine has refused one."""
    found: list[int] = []
    record = 0
    with Path(path).open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                value = _loads(line)
            except ValueError:
                value = None  # not JSON: the engine's to tell
            if isinstance(value, dict) and _schema_problem(value, schema):
                found.append(record)
            record += 1
    return found


def _schema_problem(line: Mapping[str, Any], schema: Mapping[str, Any]) -> str | None:
    """What is wrong with the first of a line's values that ``schema`` types wrongly (see
    :func:`type_problem`); None if nothing is."""
    for key, expected in schema.items():
        if key in line:
            found = type_problem(line[key], expected, key)
            if found:
                return found
    return None


def _kind(value: object) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _number(value: object) -> bool:
    """Whether the engine reads ``value`` as a number: a JSON number, true/false (1 and 0), or
    a text of one (``"1e3"``, ``" 6"``, ``"nan"``; not ``"6 "``, ``"+5"`` or ``"1_000"``)."""
    if isinstance(value, (int, float)):  # bools included
        return True
    if isinstance(value, str):
        text = value.lstrip()
        if text != text.rstrip() or "_" in text or text.startswith("+"):
            return False
        try:
            float(text)
        except ValueError:
            return False
        return True
    return False


def type_problem(value: object, expected: Any, where: str) -> str | None:
    """What is wrong with ``value`` for the ``expected`` type, named by its path ``where``; None
    if nothing is. ``expected`` is ``"number"``, ``"text"`` or ``"any"``, a list of one
    expected type (a list of those), a dict of field types (an object with those fields, each
    optional), or ``("map", type)`` (an object of any keys with values of that type). null is
    always allowed (a missing value)."""
    if value is None or expected == "any" or expected == "text":
        return None
    if expected == "number":
        return None if _number(value) else f"{where}: expected a number, got {_kind(value)}"
    if isinstance(expected, list):
        if not isinstance(value, list):
            return f"{where}: expected a list, got {_kind(value)}"
        for i, item in enumerate(value):
            found = type_problem(item, expected[0], f"{where}[{i}]")
            if found:
                return found
        return None
    if isinstance(expected, tuple):
        if not isinstance(value, dict):
            return f"{where}: expected an object, got {_kind(value)}"
        for key, item in value.items():
            found = type_problem(item, expected[1], f"{where}.{key}")
            if found:
                return found
        return None
    if not isinstance(value, dict):
        return f"{where}: expected an object, got {_kind(value)}"
    for key, item_type in expected.items():
        if key in value:
            found = type_problem(value[key], item_type, f"{where}.{key}")
            if found:
                return found
    return None
