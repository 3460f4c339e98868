"""Reference readers: every format read whole and in order, bad rows named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gtkit import ReferenceLabelError, read_coco, read_cub, read_open_images, read_references
from gtkit._references import file_name, file_names, image_keys, match_images


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


def test_open_images_rows_are_read_in_order(tmp_path: Path) -> None:
    expected = _write(tmp_path / "boxes.csv", 2000)
    refs = read_open_images(tmp_path / "boxes.csv")
    boxes = refs.boxes
    assert boxes["file_name"].tolist() == [f"{i}.jpg" for i in expected["ImageID"]]
    assert boxes["class_name"].tolist() == expected["LabelName"].tolist()
    np.testing.assert_allclose(boxes["left"], expected["XMin"])
    np.testing.assert_allclose(boxes["top"], expected["YMin"])
    np.testing.assert_allclose(boxes["width"], expected["XMax"] - expected["XMin"])
    np.testing.assert_allclose(boxes["height"], expected["YMax"] - expected["YMin"])
    assert boxes["normalized"].all()
    assert refs.images == {f"{i}.jpg" for i in expected["ImageID"]}
    assert "img00000.jpg" in refs.images and repr(refs.images) == "<667 image names>"
    codes, names = refs.image_codes()
    assert names.take(codes).to_pylist() == boxes["file_name"].tolist()


def test_a_quoted_newline_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    expected = _write(path, 600)
    path.write_text(path.read_text().replace(",human,", ',"hu\nman",', 1))
    boxes = read_open_images(path).boxes
    assert len(boxes) == 600
    assert boxes["class_name"].tolist() == expected["LabelName"].tolist()


def test_bad_rows_are_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    _write(path, 900)
    lines = path.read_text().splitlines()

    def fails(changed: str, match: str) -> None:
        text = [*lines[:700], changed, *lines[701:]]
        path.write_text("\n".join(text) + "\n")
        with pytest.raises(ReferenceLabelError, match=match):
            read_open_images(path)

    fails(lines[700].rsplit(",", 1)[0] + ",oops", r"boxes\.csv:701: .*YMax.*oops")
    # One comma too many shifts no column: the row is an error (pandas read it shifted).
    fails(lines[700] + ",0.9", r"boxes\.csv:701: Expected Number of Columns: 8 Found: 9")
    fails(lines[700].rsplit(",", 1)[0], r"boxes\.csv:701: Expected Number of Columns: 8 Found: 7")
    fails('"' + lines[700], r"boxes\.csv:701: .*unterminated quote")
    path.write_bytes(b"\n".join([*(x.encode() for x in lines[:700]), b"\xff\xfe,1,2,3,4,5,6,7"]))
    with pytest.raises(ReferenceLabelError, match=r"boxes\.csv:701: .*utf-8"):
        read_open_images(path)
    path.write_text("ImageID,XMin,XMax\n")
    with pytest.raises(ReferenceLabelError, match=r"missing column\(s\) YMin, YMax"):
        read_open_images(path)


def test_a_header_alone_is_no_boxes(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    path.write_text("ImageID,LabelName,XMin,XMax,YMin,YMax\n")
    refs = read_open_images(path)
    assert len(refs.boxes) == 0 and refs.images == frozenset()


def test_without_labels_every_class_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    expected = _write(path, 900).drop(columns=["LabelName"])
    expected.to_csv(path, index=False)
    boxes = read_open_images(path).boxes
    assert boxes["class_name"].tolist() == [""] * 900
    assert boxes["file_name"].tolist() == [f"{i}.jpg" for i in expected["ImageID"]]


def _basename(source: object) -> str | None:
    """The rule written plainly, as a user would: the last path part of a source-ref."""
    if not isinstance(source, str):
        return None
    return source.strip().rstrip("/").rpartition("/")[2] or None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.integers(),
            st.text(alphabet=st.sampled_from("ab/. \t\u00a0\u200bé"), max_size=12),
        ),
        max_size=20,
    )
)
def test_file_names_are_the_plain_rule(sources: list[object]) -> None:
    assert file_names(sources).to_pylist() == [_basename(s) for s in sources]
    assert [file_name(s) for s in sources] == [_basename(s) for s in sources]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab/. "), max_size=8), max_size=20))
def test_image_keys_keep_images_apart_and_plain(sources: list[str]) -> None:
    keys = image_keys(sources).to_pylist()
    path = {s: s.strip().rstrip("/") for s in sources}
    paths_of: dict[str | None, set[str]] = {}
    for s in sources:
        paths_of.setdefault(_basename(s), set()).add(path[s])
    for s, key in zip(sources, keys, strict=True):
        name = _basename(s)
        # The file name where no other path has it; else the whole path, telling them apart.
        expected = name if name is None or len(paths_of[name]) == 1 else path[s]
        assert key == expected, (s, key)
    # One key a path, one path a key (images without a name excepted).
    pairs = {(path[s], k) for s, k in zip(sources, keys, strict=True) if k is not None}
    assert len({p for p, _ in pairs}) == len(pairs) == len({k for _, k in pairs})


def test_objects_find_their_reference_image_by_path_then_by_file_name() -> None:
    keys = image_keys(["s3://r/a/p.png", "s3://r/b/p.png", "s3://r/x.png"])
    assert keys.to_pylist() == ["s3://r/a/p.png", "s3://r/b/p.png", "x.png"]
    found = match_images(
        keys,
        ["s3://r/b/p.png", "s3://j/a/p.png", "s3://j/x.png", "s3://j/x.png", " s3://r/a/p.png/"],
    )
    # Its very path; a p.png of neither path (which one?); x.png twice at one path; a path
    # written with a space and a slash.
    assert found.image.tolist() == [1, -1, 2, 2, 0]
    assert found.ambiguous.tolist() == [False, True, False, False, False]
    # One reference image, objects at two paths with its file name: none is compared.
    found = match_images(image_keys(["x.png"]), ["s3://a/x.png", "s3://b/x.png", "s3://a/x.png"])
    assert found.image.tolist() == [0, 0, 0] and found.ambiguous.all()
    # A reference image without a folder beside one of its name in a folder: the longest
    # path an object's path ends with.
    keys = image_keys(["b", "x/b"])
    found = match_images(keys, ["s3://j/b", "s3://j/x/b", None])
    assert found.image.tolist() == [0, 1, -1] and not found.ambiguous.any()
    assert match_images(keys, ["b", "x/b"]).image.tolist() == [0, 1]
    # References of relative paths (COCO, CUB): an object's path ends with one of them.
    keys = image_keys(["train/x.jpg", "val/x.jpg"])
    found = match_images(keys, ["s3://b/data/val/x.jpg", "s3://b/data/train/x.jpg", "s3://b/x.jpg"])
    assert found.image.tolist() == [1, 0, -1]
    assert found.ambiguous.tolist() == [False, False, True]


def _coco(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_coco_boxes_names_sizes_and_categories(tmp_path: Path) -> None:
    doc = {
        "images": [
            {"id": 1, "file_name": "a/x.jpg", "width": 640, "height": 480},
            {"id": 2, "file_name": "y.jpg", "width": 10, "height": 20},
            {"id": 3, "file_name": "empty.jpg"},
        ],
        "annotations": [
            {"id": 1, "image_id": 2, "category_id": 7, "bbox": [1, 2, 3, 4]},
            {"id": 2, "image_id": 1, "category_id": 8, "bbox": [5.5, 6, 7, 8]},
        ],
        "categories": [{"id": 7, "name": "bird"}],
    }
    refs = read_coco(_coco(tmp_path / "c.json", doc))
    rows = sorted(refs.boxes[["file_name", "class_name", "left", "top", "width", "height"]]
                  .astype(object).itertuples(index=False, name=None))  # fmt: skip
    assert rows == [("x.jpg", "8", 5.5, 6.0, 7.0, 8.0), ("y.jpg", "bird", 1.0, 2.0, 3.0, 4.0)]
    assert not refs.boxes["normalized"].any()
    assert refs.images == {"x.jpg", "y.jpg", "empty.jpg"}
    assert refs.image_sizes["x.jpg"] == (640, 480) and "empty.jpg" not in refs.image_sizes
    # Some writers give categories as an {id: name} object.
    doc["categories"] = {"7": "bird", "8": "nest"}
    refs = read_coco(_coco(tmp_path / "c2.json", doc))
    assert sorted(refs.boxes["class_name"].astype(str)) == ["bird", "nest"]
    # Two images of one file name in different folders stay apart, keyed by their paths.
    doc["images"][1]["file_name"] = "b/x.jpg"
    refs = read_coco(_coco(tmp_path / "c3.json", doc))
    assert refs.images == {"a/x.jpg", "b/x.jpg", "empty.jpg"}
    assert refs.boxes.set_index("file_name")["left"].to_dict() == {"a/x.jpg": 5.5, "b/x.jpg": 1}
    assert refs.image_sizes["a/x.jpg"] == (640, 480) and refs.image_sizes["b/x.jpg"] == (10, 20)


def test_coco_mistakes_are_named(tmp_path: Path) -> None:
    base = {"images": [{"id": 1, "file_name": "x.jpg"}], "categories": []}
    orphan = {**base, "annotations": [{"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1]}]}
    with pytest.raises(ReferenceLabelError, match=r"image_id 9 names no image"):
        read_coco(_coco(tmp_path / "o.json", orphan))
    twice = {**base, "images": base["images"] * 2, "annotations": []}
    with pytest.raises(ReferenceLabelError, match=r"image id 1 is listed twice"):
        read_coco(_coco(tmp_path / "t.json", twice))
    short = {**base, "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}]}
    with pytest.raises(
        ReferenceLabelError, match=r"not a COCO file .*length 4.*\$\.annotations\[0\]\.bbox"
    ):
        read_coco(_coco(tmp_path / "s.json", short))
    (tmp_path / "broken.json").write_text('{"images": [')
    with pytest.raises(ReferenceLabelError, match=r"broken\.json: not a COCO file"):
        read_coco(tmp_path / "broken.json")


def test_a_json_list_of_classes(tmp_path: Path) -> None:
    path = tmp_path / "classes.json"
    path.write_text(
        json.dumps([{"ImageId": "a", "Label": "cat"}, {"file_name": "b.png", "class_name": "dog"}])
    )
    refs = read_references(path)
    assert refs.classes.values.tolist() == [["a.jpg", "cat"], ["b.png", "dog"]]
    assert refs.images == {"a.jpg", "b.png"} and len(refs.boxes) == 0
    path.write_text(json.dumps([{"ImageId": "a"}]))
    with pytest.raises(
        ReferenceLabelError, match=r"item 0 needs ImageId \(or file_name, or source\) and Label"
    ):
        read_references(path)


def test_cub_folders(tmp_path: Path) -> None:
    (tmp_path / "images.txt").write_text("1 001.Albatross/a_1.jpg\n2 002.Auklet/b_2.jpg\n")
    (tmp_path / "bounding_boxes.txt").write_text("1 10.0 20.0 30.0 40.0\n2 1 2 3 4\n")
    refs = read_cub(tmp_path)
    assert refs.boxes[["file_name", "class_name"]].astype(str).values.tolist() == [
        ["a_1.jpg", "001.Albatross"], ["b_2.jpg", "002.Auklet"],
    ]  # fmt: skip
    assert refs.boxes["left"].tolist() == [10.0, 1.0]
    (tmp_path / "images.txt").write_text("1 001.Albatross/a_1.jpg\n2 002.Auklet/a_1.jpg\n")
    refs = read_cub(tmp_path)  # one file name in two folders: the images stay apart
    assert refs.boxes[["file_name", "class_name"]].astype(str).values.tolist() == [
        ["001.Albatross/a_1.jpg", "001.Albatross"], ["002.Auklet/a_1.jpg", "002.Auklet"],
    ]  # fmt: skip
    (tmp_path / "images.txt").write_text("1 001.Albatross/a_1.jpg\n2 002.Auklet/b_2.jpg\n")
    (tmp_path / "bounding_boxes.txt").write_text("1 10.0 20.0 30.0 40.0\n3 1 2 3 4\n")
    with pytest.raises(ReferenceLabelError, match=r"image id '3' is not in images.txt"):
        read_cub(tmp_path)
    (tmp_path / "bounding_boxes.txt").write_text("1 10.0 twenty 30.0 40.0\n")
    with pytest.raises(ReferenceLabelError, match=r":1: .*twenty"):
        read_cub(tmp_path)


def test_renamed_maps_or_merges_classes(tmp_path: Path) -> None:
    _write(tmp_path / "boxes.csv", 30)
    refs = read_open_images(tmp_path / "boxes.csv")
    one = refs.renamed(single_class="bird")
    assert set(one.boxes["class_name"]) == {"bird"} and len(one.boxes) == 30
    mapped = refs.renamed(names={"/m/015p6": "bird"})
    expected = ["bird" if c == "/m/015p6" else c for c in refs.boxes["class_name"]]
    assert mapped.boxes["class_name"].tolist() == expected
    assert refs.boxes["class_name"].tolist() != expected  # the original is left as it was


def test_an_open_images_row_without_an_image_id_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    path.write_text(
        "ImageID,LabelName,XMin,XMax,YMin,YMax\na,bird,0.1,0.2,0.1,0.2\n,bird,0.1,0.2,0.1,0.2\n"
    )
    with pytest.raises(ReferenceLabelError, match=r"data row\(s\) 2 .*ImageID is empty"):
        read_references(path)


def _detection_line(name: str, left: float, **metadata: str) -> str:
    box = {"class_id": 0, "left": left, "top": 1, "width": 5, "height": 5}
    return json.dumps(
        {
            "source-ref": f"s3://bucket/{name}",
            "truth": {"annotations": [box], "image_size": [{"width": 10, "height": 10}]},
            "truth-metadata": {
                "class-map": {"0": "bird"},
                "type": "groundtruth/object-detection",
                "objects": [{"confidence": 1}],
                **metadata,
            },
        }
    )


def test_a_manifest_named_json_is_read_as_one(tmp_path: Path) -> None:
    # Ground Truth's samples name some output manifests *-manifest.json: the first line
    # tells a manifest from a COCO document, whether the COCO file is on one line or many.
    lines = [_detection_line("a.jpg", 1, **{"human-annotated": "yes"}),
             _detection_line("b.jpg", 2, **{"human-annotated": "yes"})]  # fmt: skip
    path = tmp_path / "OD-manifest.json"
    path.write_text("\n\n" + "\n".join(lines) + "\n")  # blank lines first, as the reader skips
    refs = read_references(path)
    assert refs.boxes[["file_name", "left"]].values.tolist() == [["a.jpg", 1.0], ["b.jpg", 2.0]]
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [3, 4, 5, 6]}],
        "categories": [{"id": 1, "name": "bird"}],
    }
    for text in (json.dumps(coco), json.dumps(coco, indent=2)):
        path.write_text(text)
        assert read_references(path).boxes["left"].tolist() == [3.0]


def test_a_failed_objects_labels_are_no_reference(tmp_path: Path) -> None:
    # A failed line that still carries a label: neither the object nor its box is a reference,
    # and the next object keeps only its own box.
    path = tmp_path / "truth.manifest"
    path.write_text(
        "\n".join(
            [
                _detection_line("a.jpg", 1, **{"human-annotated": "yes"}),
                _detection_line("b.jpg", 2, **{"failure-reason": "ClientError: timed out"}),
                _detection_line("c.jpg", 3, **{"human-annotated": "yes"}),
            ]
        )
        + "\n"
    )
    refs = read_references(path)
    assert refs.boxes[["file_name", "left"]].values.tolist() == [["a.jpg", 1.0], ["c.jpg", 3.0]]
    assert sorted(refs.images) == ["a.jpg", "c.jpg"]
    codes, names = refs.image_codes()
    assert names.take(codes).to_pylist() == ["a.jpg", "c.jpg"]
