"""Reading Open Images box CSVs in byte ranges on several workers changes no result."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gtkit import _references as references
from gtkit._errors import ReferenceLabelError
from gtkit._references import read_open_images


def _write(path: Path, rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 0.5, (rows, 2))
    frame = pd.DataFrame(
        {
            "ImageID": [f"img{i // 3:05d}" for i in range(rows)],  # three boxes an image
            "Source": "human",
            "LabelName": rng.choice(["/m/015p6", "/m/0bt9lr", "/m/01yrx"], rows),
            "Confidence": 1,
            "XMin": x[:, 0].round(5),
            "XMax": (x[:, 0] + 0.25).round(5),
            "YMin": x[:, 1].round(5),
            "YMax": (x[:, 1] + 0.125).round(5),
        }
    )
    frame.to_csv(path, index=False)
    return frame


def _in_ranges(monkeypatch: pytest.MonkeyPatch, block: int = 4096) -> None:
    monkeypatch.setattr(references, "_CSV_BLOCK", block)
    monkeypatch.setenv("GTKIT_WORKERS", "2")


def test_ranges_on_workers_read_every_row_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _write(tmp_path / "boxes.csv", 2000)
    _in_ranges(monkeypatch)
    refs = read_open_images(tmp_path / "boxes.csv")
    boxes = refs.boxes
    assert boxes["file_name"].tolist() == [f"{i}.jpg" for i in expected["ImageID"]]
    assert boxes["class_name"].tolist() == expected["LabelName"].tolist()
    np.testing.assert_allclose(boxes["left"], expected["XMin"])
    np.testing.assert_allclose(boxes["top"], expected["YMin"])
    np.testing.assert_allclose(boxes["width"], expected["XMax"] - expected["XMin"])
    np.testing.assert_allclose(boxes["height"], expected["YMax"] - expected["YMin"])
    assert refs.images == {f"{i}.jpg" for i in expected["ImageID"]}
    assert "img00000.jpg" in refs.images and repr(refs.images) == "<667 image names>"
    codes, names = refs.image_codes()
    assert names[codes].tolist() == boxes["file_name"].tolist()


def test_a_quoted_newline_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "boxes.csv"
    expected = _write(path, 600)
    text = path.read_text().replace(",human,", ',"hu\nman",', 1)
    path.write_text(text)
    _in_ranges(monkeypatch, block=512)
    boxes = read_open_images(path).boxes
    assert len(boxes) == 600
    assert boxes["class_name"].tolist() == expected["LabelName"].tolist()


def test_errors_name_the_file_line_in_any_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "boxes.csv"
    _write(path, 900)
    lines = path.read_text().splitlines()
    lines[700] = lines[700].rsplit(",", 1)[0] + ",oops"
    path.write_text("\n".join(lines) + "\n")
    _in_ranges(monkeypatch)
    with pytest.raises(ReferenceLabelError, match=r"boxes\.csv:701: XMin, XMax"):
        read_open_images(path)
    lines[700] = '"' + lines[700].rsplit(",", 1)[0] + ",0.5"  # a quote left open
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReferenceLabelError, match=r"cannot read as CSV .*EOF inside string"):
        read_open_images(path)
    path.write_bytes(b"\n".join([*(x.encode() for x in lines[:700]), b"\xff\xfe,1,2,3,4"]))
    with pytest.raises(ReferenceLabelError, match=r"cannot read as CSV .*utf-8"):
        read_open_images(path)


def test_a_header_alone_is_no_boxes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "boxes.csv"
    path.write_text("ImageID,LabelName,XMin,XMax,YMin,YMax\n")
    _in_ranges(monkeypatch)
    refs = read_open_images(path)
    assert len(refs.boxes) == 0 and refs.images == frozenset()


def test_without_labels_every_class_is_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "boxes.csv"
    expected = _write(path, 900).drop(columns=["LabelName"])
    expected.to_csv(path, index=False)
    _in_ranges(monkeypatch)
    boxes = read_open_images(path).boxes
    assert boxes["class_name"].tolist() == [""] * 900
    assert boxes["file_name"].tolist() == [f"{i}.jpg" for i in expected["ImageID"]]


# ---------------------------------------------------------------------- compiled matching
_source = st.one_of(
    st.text(alphabet=st.sampled_from("ab/. \t\n\x1c\u3000\u00a0é😀"), max_size=10),
    st.text(max_size=8),
    st.none(),
    st.integers(),
)


@given(st.lists(_source, max_size=30))
def test_compiled_file_names_are_file_name(sources: list[object]) -> None:
    series = pd.Series(sources, dtype=object)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(references, "COMPILED", False)
        expected = references.file_names(series).tolist()
    assert references.file_names(series).tolist() == expected
    assert expected == [references.file_name(s) for s in sources]


_name = st.text(alphabet="abé😀.", max_size=3)


@given(
    st.lists(_name, unique=True, max_size=20),
    st.lists(st.one_of(_name, st.none(), _name.map(lambda n: f" s3://b/é/{n} ")), max_size=30),
    st.booleans(),
)
def test_compiled_image_positions_are_pandas_get_indexer(
    keys: list[str], sources: list[object], ordered: bool
) -> None:
    if ordered:  # sources in the keys' order: the compiled matcher's shortcut
        sources = [*keys, *sources]
    k, s = np.array(keys, dtype=object), pd.Series(sources, dtype=object)
    names = [references.file_name(x) for x in sources]
    expected = pd.Index(k, dtype=object).get_indexer(np.array(names, dtype=object)).tolist()
    assert references.image_positions(k, s).tolist() == expected
    with pytest.MonkeyPatch.context() as m:
        m.setattr(references, "COMPILED", False)
        assert references.image_positions(k, s).tolist() == expected


def test_image_positions_take_names_of_any_kind() -> None:
    keys = np.array(["a.jpg", 3], dtype=object)
    sources = pd.Series(["s3://b/a.jpg", "b", None], dtype=object)
    assert references.image_positions(keys, sources).tolist() == [0, -1, -1]


def test_image_positions_need_distinct_names() -> None:
    keys = np.array(["a.jpg", "b.jpg", "a.jpg"], dtype=object)
    with pytest.raises(ValueError, match="distinct"):
        references.image_positions(keys, pd.Series(["b.jpg", "a.jpg"], dtype=object))


def test_the_compiled_matching_is_built() -> None:
    assert references._compiled() is not None, "gtkit._match was not built: see setup.py"


# Fields of an Open Images row as a file may hold them; now and then an odd one.
_id = st.one_of(
    st.sampled_from(["a", "b", "0001", "é", ""]),
    st.text(st.characters(exclude_characters=',"\r\n', exclude_categories=["Cs"]), max_size=3),
)
_corner = st.one_of(
    st.floats(0, 1, allow_nan=False).map(lambda x: f"{x:.5f}"),
    st.floats(-1e6, 1e6).map(lambda x: repr(round(x, 4))),
    st.integers(-3, 3).map(str),
    st.sampled_from(["1e-3", "-0.0", "1e22", "123456789012345"]),
)
_odd = st.sampled_from(
    [
        "0.1234567890123456",
        "1e30",
        " 0.5",
        "0.5 ",
        ".5",
        "1.",
        "",
        "x",
        "nan",
        "1,2",
        '"a"',
        "\ud800",
        "a\rb",
    ]
)


@st.composite
def _csv_rows(draw: st.DrawFn) -> bytes:
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        fields = [draw(_id), "human", draw(_id), "1", *(draw(_corner) for _ in range(4))]
        rows.append(fields)
    if rows and draw(st.integers(0, 2)) == 0:
        row = draw(st.sampled_from(rows))
        row[draw(st.sampled_from([0, 2, 4, 5, 6, 7]))] = draw(_odd)
    end = draw(st.sampled_from(["", "\n", "\n", "\n\n", "\r\n"]))
    return ("\n".join(",".join(row) for row in rows) + end).encode("utf-8", "surrogatepass")


_HEADER = ["ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax"]


@settings(max_examples=300, deadline=None)
@given(_csv_rows())
@example(b"a,human,a,1,0,0,0,0\na,human,\x00,1,0,0,0,0")  # pandas 2 reads a NUL as "", 3 not
def test_compiled_csv_rows_read_as_pandas_reads_them(rows: bytes) -> None:
    # Where the compiled reader takes a range, pandas reads it to the same part; where it
    # declines (None), pandas reads it.
    scanned = references._compiled_part(rows, _HEADER)
    if scanned is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        path.write_bytes(b"\n" + rows)  # the first range starts after the header line
        with pytest.MonkeyPatch.context() as m:
            m.setattr(references, "COMPILED", False)
            expected = references._open_images_part((str(path), 0, len(rows) + 1), _HEADER)
    assert isinstance(expected, references._Part)
    assert expected.bad_row == scanned.bad_row == -1
    for got, want in ((scanned.images, expected.images), (scanned.labels, expected.labels)):
        assert got is not None and want is not None
        assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()
    assert scanned.coords.tobytes() == expected.coords.tobytes()  # bit for bit, -0.0 included


def test_the_compiled_csv_reader_takes_usual_rows() -> None:
    rows = b"a,human,/m/1,1,0.1,0.5,0.2,0.25\nb,human,/m/2,1,0,1,0,1\n"
    part = references._compiled_part(rows, _HEADER)
    assert part is not None
    assert part.images[1].tolist() == ["a.jpg", "b.jpg"] and part.coords.shape == (2, 4)
    assert part.coords[0].tolist() == [0.1, 0.2, 0.5 - 0.1, 0.25 - 0.2]


@given(st.lists(st.text(alphabet="ab.é", max_size=3), max_size=30), st.booleans())
def test_factorizing_ordered_names_is_pandas_factorize(names: list[str], ordered: bool) -> None:
    values = np.array(sorted(names) if ordered else names, dtype=object)
    codes, distinct = references._factorize_sorted(values)
    expected_codes, expected = pd.factorize(values)
    assert codes.tolist() == expected_codes.tolist()
    assert distinct.tolist() == list(expected)
