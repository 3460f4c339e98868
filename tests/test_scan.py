"""The compiled reader (gtkit/_scan.c) reads a line exactly as the Python reader does, or
leaves it to the Python reader: byte-level variants of detection lines, and damaged ones, come
out the same either way."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gtkit import _parse


def test_the_compiled_reader_is_built() -> None:
    # gtkit installs without it where there is no C compiler; our own CI has one, and a build
    # that failed quietly would leave the tests below comparing the Python reader with itself.
    assert _parse._SCAN is not None, "gtkit._scan was not built: see setup.py"


def parse(data: bytes, *, compiled: bool, lenient: bool) -> _parse.Block:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_parse, "COMPILED", compiled)
        m.setattr(_parse, "FAST_PATH", compiled)
        return _parse.parse_block(data, lenient)


def assert_same_block(got: _parse.Block, expected: _parse.Block) -> None:
    assert (got.lines, got.records, got.problems) == (
        expected.lines,
        expected.records,
        expected.problems,
    )
    for table in ("objects", "boxes", "classes"):
        pd.testing.assert_frame_equal(
            pd.DataFrame(getattr(got, table)), pd.DataFrame(getattr(expected, table))
        )


def assert_reads_alike(data: bytes) -> None:
    for lenient in (True, False):
        compiled = parse(data, compiled=True, lenient=lenient)
        python = parse(data, compiled=False, lenient=lenient)
        assert_same_block(compiled, python)


# Number texts as they may appear in a file: JSON's forms, and some that are not JSON.
_number_text = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(-1000, 1000, allow_nan=False).map(lambda x: f"{x:.{len(str(x))}g}"),
    st.sampled_from(
        ["0", "-0", "-0.0", "1E2", "1e+2", "2.5e-3", "0.1e1", "1e400", "-1e400", "1e-400",
         "123456789012345678", "1234567890123456789", "0.30000000000000004", "9007199254740993.0",
         "00", "1.", ".5", "+1", "1e", "--1", "0x10", "NaN", "Infinity", "true", "null", '"3"'],
    ),
)  # fmt: skip
# Creation dates repeat or differ from line to line, in every form real files hold.
_date = st.sampled_from(
    [
        '"2019-01-01T00:00:00.000000"',
        '"2020-05-13T23:47:20.514087"',
        '"2021-03-02T10:00:00Z"',
        '"Mon May 13 2019 23:47:20 GMT+0200 (CEST)"',
        '"not a date"',
    ]
)
_space = st.sampled_from(["", "", " ", "\t", "\r", "  "])
_text = st.one_of(
    st.sampled_from(["s3://b/a.jpg", "s3://b/é ü.jpg", "s3://b/\\u00e9.jpg", 's3://b/\\".jpg']),
    st.text(max_size=6).map(lambda t: json.dumps(t, ensure_ascii=False)[1:-1]),
)


@st.composite
def raw_line(draw: st.DrawFn) -> bytes:
    """A detection line written out byte by byte: spacing, key order and number forms vary."""

    def ws() -> str:
        return draw(_space)

    def obj(members: list[tuple[str, str]]) -> str:
        members = draw(st.permutations(members))
        inner = ",".join(f"{ws()}{json.dumps(k)}{ws()}:{ws()}{v}{ws()}" for k, v in members)
        return "{" + inner + ws() + "}"

    def arr(items: list[str]) -> str:
        return "[" + ",".join(f"{ws()}{i}{ws()}" for i in items) + ws() + "]"

    n = draw(st.integers(0, 3))
    fields = ("class_id", "left", "top", "width", "height")
    boxes = [obj([(f, draw(_number_text)) for f in fields]) for _ in range(n)]
    scores = [obj([("confidence", draw(_number_text))]) for _ in range(n)]
    size = [("width", draw(_number_text)), ("height", draw(_number_text))]
    if draw(st.booleans()):
        size.append(("depth", "3"))
    class_map = draw(st.sampled_from(['{"0":"bird"}', '{ "1" : "cat" , "0":"dog"}', "{}"]))
    meta = [
        ("type", '"groundtruth/object-detection"'),
        ("objects", arr(scores)),
        ("class-map", class_map),
        ("human-annotated", draw(st.sampled_from(['"yes"', '"no"', '"maybe"']))),
        ("creation-date", draw(_date)),
        ("job-name", draw(st.sampled_from(['"labeling-job/a"', '"b"', '""']))),
    ]
    if draw(st.integers(0, 3)) == 0:  # an adjustment job's line
        meta.append(("adjustment-status", draw(st.sampled_from(['"adjusted"', '"unadjusted"']))))
    value = [("annotations", arr(boxes)), ("image_size", arr([obj(size)]))]
    record = [
        ("source-ref", '"' + draw(_text) + '"'),
        ("bb", obj(value)),
        ("bb-metadata", obj(meta)),
    ]
    line = (ws() + obj(record) + ws()).encode()
    if draw(st.integers(0, 3)) == 0:  # damage one byte: drop, repeat or replace it
        at = draw(st.integers(0, len(line) - 1))
        kind = draw(st.sampled_from(["drop", "repeat", "replace"]))
        byte = bytes([draw(st.sampled_from(b'{}[]",:0-.e \\\x00\x80\xff'))])
        line = {
            "drop": line[:at] + line[at + 1 :],
            "repeat": line[: at + 1] + line[at:],
            "replace": line[:at] + byte + line[at + 1 :],
        }[kind]
    return line


_usual = json.dumps(
    {
        "source-ref": "s3://b/a.jpg",
        "bb": {
            "annotations": [{"class_id": 0, "left": 1, "top": 2, "width": 3, "height": 4}],
            "image_size": [{"width": 10, "height": 20, "depth": 3}],
        },
        "bb-metadata": {
            "objects": [{"confidence": 0.5}],
            "class-map": {"0": "bird"},
            "type": "groundtruth/object-detection",
            "human-annotated": "yes",
            "creation-date": "2019-01-01T00:00:00.000000",
            "job-name": "labeling-job/a",
        },
    }
).encode()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(raw_line(), st.just(_usual), st.sampled_from([b"", b" ", b"{"])), max_size=8)
)
@example([_usual, _usual.replace(b"1,", b"1e999,", 1), _usual])
@example([_usual, _usual.replace(b'"yes"', b'"y\\u00e9s"'), _usual])
def test_compiled_and_python_readers_agree(lines: list[bytes]) -> None:
    # The attribute comes from the first line where it is a usual detection line, else from
    # the first detection line the Python reader reads.
    assert_reads_alike(b"\n".join([_usual, *lines]))
    assert_reads_alike(b"\n".join([_usual, *lines]) + b"\n")
    assert_reads_alike(b"\n".join([*lines, _usual, *lines]))


def test_numbers_are_correctly_rounded_as_python_reads_them() -> None:
    rng = np.random.default_rng(7)
    texts = [repr(float(x)) for x in rng.normal(0, 1e3, 2000)]
    texts += [f"{x:.17e}" for x in rng.uniform(-1, 1, 2000)]
    texts += ["0.1", "0.7", "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308"]
    lines = [
        _usual.replace(b'"left": 1', b'"left": ' + t.encode()).replace(
            b'"confidence": 0.5', b'"confidence": ' + t.encode()
        )
        for t in texts
    ]
    block = parse(b"\n".join([_usual, *lines]), compiled=True, lenient=False)
    expected = [1.0] + [float(t) for t in texts]
    assert block.boxes["left"].tolist() == expected
    assert block.boxes["confidence"].tolist() == [0.5] + [float(t) for t in texts]
    assert all(
        math.copysign(1, a) == math.copysign(1, b)
        for a, b in zip(block.boxes["left"], expected, strict=True)
    )
    # The compiled reader took every one of them (none was left to Python).
    assert _parse._SCAN is not None
    data = b"\n".join(lines)
    assert _parse._SCAN(data, 0, b"bb")[:2] == (len(data), len(lines))


def test_without_the_compiled_parts_gtkit_reads_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # As where gtkit was installed without a C compiler: the imports fail, Python reads.
    import sys

    from gtkit import _boxes as boxes
    from gtkit import _references as references

    data = b"\n".join([_usual] * 5)
    compiled = parse(data, compiled=True, lenient=False)
    import gtkit

    for name in ("_scan", "_match"):
        monkeypatch.setitem(sys.modules, f"gtkit.{name}", None)  # import raises ImportError
        monkeypatch.delattr(gtkit, name, raising=False)
    assert _parse._compiled_reader() is None
    assert references._compiled() is None and references._compiled_csv() is None
    assert boxes._compiled_scores() is None
    monkeypatch.setattr(_parse, "_SCAN", None)
    assert_same_block(_parse.parse_block(data, False), compiled)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["birds", "birds-2", "é", "", None, math.nan]), max_size=20))
def test_distinct_values_are_pandas_unique(values: list[object]) -> None:
    column = np.empty(len(values), dtype=object)
    column[:] = [(v + ".")[:-1] if isinstance(v, str) and len(v) > 1 else v for v in values]
    expected = [repr(v) for v in pd.unique(column)]
    for compiled in (True, False):
        with pytest.MonkeyPatch.context() as m:
            m.setattr(_parse, "COMPILED", compiled)
            assert [repr(v) for v in _parse.distinct_values(column)] == expected


_plain_date = st.builds(
    lambda y, mo, d, h, mi, s, frac: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}",
    st.integers(1, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", ".5", ".000000", ".123456", ".1234567", "Z", "+01:00"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_plain_date, max_size=5))
def test_few_plain_dates_read_as_pandas_reads_them(texts: list[str]) -> None:
    # A handful of distinct dates a block is read by numpy (pandas' fixed cost is most of a
    # block's finishing time); pandas' ISO 8601 reading is what it must agree with.
    fast = _parse._date_table(texts)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_parse, "_FEW_DATES", -1)
        slow = _parse._date_table(texts)
    assert fast.dtype == slow.dtype
    assert fast.tolist() == slow.tolist()
