"""Every real-file kind read faithfully: the names of the contract users and exports rely on.

Real files where the fixtures have them; elsewhere lines written from the documented format
(ground-truth-facts.md, the AWS guide's output-data page)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest

from gtkit import (
    OutputError,
    OverwriteError,
    analyze,
    read_manifest,
    read_output,
    read_references,
    to_coco,
    write_export,
)

COMPREHEND = (
    "aws-samples__amazon-comprehend-semi-structured-documents-annotation-tools/test/unit/resources"
)


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _write(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _box_line(
    source: str, boxes: list[list[float]], width: int = 640, height: int = 480
) -> dict[str, object]:
    return {
        "source-ref": source,
        "b": {
            "annotations": [
                {"class_id": 0, "left": x, "top": y, "width": w, "height": h}
                for x, y, w, h in boxes
            ],
            "image_size": [{"width": width, "height": height, "depth": 3}],
        },
        "b-metadata": {
            "objects": [{"confidence": 0.9} for _ in boxes],
            "class-map": {"0": "bird"} if boxes else {},
            "type": "groundtruth/object-detection",
            "human-annotated": "yes",
            "creation-date": "2020-01-01T00:00:00",
            "job-name": "labeling-job/birds",
        },
    }


def test_exports_keep_every_image_size_boxes_or_not(real_fixtures: Path, tmp_path: Path) -> None:
    path = real_fixtures / "dannymorris__gluoncv-logo-detection/output.manifest"
    out = read_manifest(path)
    coco = to_coco(out)
    # An independent count: each line's own image_size, and which lines have no boxes.
    attribute = out.attributes[0]
    sizes, empty = [], []
    for n, line in enumerate(_lines(path)):
        size = line[attribute]["image_size"][0]  # type: ignore[index]
        sizes.append((n + 1, size["width"], size["height"]))
        if not line[attribute]["annotations"]:  # type: ignore[index]
            empty.append(n + 1)
    assert empty, "the fixture has images without boxes"
    assert [(i["id"], i["width"], i["height"]) for i in coco["images"]] == sizes
    voc = write_export(out, "voc", tmp_path / "voc")
    name = Path(coco["images"][empty[0] - 1]["file_name"]).with_suffix(".xml")
    size = ET.parse(voc / name).getroot().find("size")
    assert size is not None
    assert (int(size.findtext("width") or 0), int(size.findtext("height") or 0)) == sizes[
        empty[0] - 1
    ][1:]
    yolo = write_export(out, "yolo", tmp_path / "yolo")
    assert (yolo / name.with_suffix(".txt")).read_text() == ""  # trainers expect the empty file


def test_equal_file_names_in_different_folders_stay_distinct(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "out.manifest",
        [
            _box_line("s3://b/site-a/img.jpg", [[10, 10, 20, 20]]),
            _box_line("s3://b/site-b/img.jpg", [[30, 30, 40, 40], [1, 1, 5, 5]]),
            _box_line("s3://b/site-c/img.jpg", []),
            _box_line("s3://b/site-a/img.jpg", [[11, 11, 20, 20]]),  # the same image again
        ],
    )
    out = read_manifest(path)
    names = [i["file_name"] for i in to_coco(out)["images"]]
    assert names == ["site-a/img.jpg", "site-b/img.jpg", "site-c/img.jpg", "site-a/img-3.jpg"]
    yolo = write_export(out, "yolo", tmp_path / "yolo")
    files = sorted(p.relative_to(yolo).as_posix() for p in yolo.rglob("*.txt"))
    assert files == [
        "classes.txt", "site-a/img-3.txt", "site-a/img.txt", "site-b/img.txt", "site-c/img.txt",
    ]  # fmt: skip
    assert len((yolo / "site-b/img.txt").read_text().splitlines()) == 2
    assert (yolo / "site-c/img.txt").read_text() == ""
    voc = write_export(out, "voc", tmp_path / "voc")  # no file of this run is ever "exists"
    assert len(list(voc.rglob("*.xml"))) == 4
    with pytest.raises(OverwriteError):
        write_export(out, "voc", tmp_path / "voc")
    write_export(out, "voc", tmp_path / "voc", overwrite=True)


def test_adjustment_status_and_fields_copied_from_the_input(real_fixtures: Path) -> None:
    path = real_fixtures / "YeongJun-Jeon__1to100_Korean/output.manifest"
    objects = read_manifest(path).objects
    expected: dict[str, list[object]] = {}
    for line in _lines(path):
        for key, meta in line.items():
            if key.endswith("-metadata"):
                expected.setdefault(key[:-9], []).append(meta.get("adjustment-status"))  # type: ignore[attr-defined]
    for attribute, statuses in expected.items():
        got = objects.loc[objects["attribute"] == attribute, "adjustment_status"]
        assert [None if pd.isna(v) else v for v in got] == statuses, attribute
    assert set(objects["adjustment_status"].dropna()) <= {"adjusted", "unadjusted"}

    path = real_fixtures / "aws-samples__aws-legal-entity-extraction/output.manifest"
    objects = read_manifest(path).objects
    for line, extra in zip(_lines(path), objects["extra"], strict=True):
        kept = {
            k: v for k, v in line.items() if k not in ("source-ref",) and "legal-entity" not in k
        }
        assert json.loads(extra) == kept


def _cuboid(name: str, class_id: int, x: float) -> dict[str, object]:
    return {
        "label-category-attributes": {"Occlusion": "Partial"},
        "object-name": name, "class-id": class_id, "center-x": x, "center-y": 125.04,
        "center-z": 0.31, "length": 2.99, "width": 1.83, "height": 1.32, "roll": 0,
        "pitch": 0, "yaw": 1.64,
    }  # fmt: skip


def test_3d_cuboids_as_the_guide_writes_them(tmp_path: Path) -> None:
    meta = {
        "objects": [],
        "type": "groundtruth/point_cloud_object_detection",
        "human-annotated": "yes",
        "creation-date": "2018-10-18T22:18:13.527256",
        "job-name": "identify-3d-objects",
        "adjustment-status": "adjusted",
    }
    lines = [
        {"source-ref": "s3://b/frame1.txt", "cuboids": {"annotations": [_cuboid("Car:1", 0, -2.6), _cuboid("Car:2", 0, 4.0)]},
         "cuboids-metadata": {**meta, "class_map": {"0": "Car"}}},
        {"source-ref": "s3://b/frame2.txt", "cuboids": {"annotations": [_cuboid("Bus:1", 1, 7.5)]},
         "cuboids-metadata": {**meta, "objects": [{"confidence": 0.8}], "class-map": {"1": "Bus"}}},
    ]  # fmt: skip
    out = read_manifest(_write(tmp_path / "out.manifest", lines))
    cuboids = out.cuboids
    assert cuboids[["index", "object_name", "class_id", "class_name"]].astype(object).values.tolist() == [
        [0, "Car:1", 0, "Car"], [0, "Car:2", 0, "Car"], [1, "Bus:1", 1, "Bus"],
    ]  # fmt: skip
    assert cuboids["center_x"].tolist() == [-2.6, 4.0, 7.5]
    assert cuboids[["center_y", "center_z", "length", "width", "height", "roll", "pitch", "yaw"]].iloc[0].tolist() == [
        125.04, 0.31, 2.99, 1.83, 1.32, 0.0, 0.0, 1.64,
    ]  # fmt: skip
    assert pd.isna(cuboids["confidence"][0]) and cuboids["confidence"][2] == 0.8
    assert json.loads(cuboids["label_attributes"][0]) == {"Occlusion": "Partial"}
    assert len(out.boxes) == 0 and len(out.classes) == 0
    # objects: [] beside two cuboids is listed, never passed silently.
    assert [(p.where.rsplit(":", 1)[1], p.kind) for p in out.problems] == [("1", "note")]
    assert "objects has 0 entries for 2 annotations" in out.problems[0].message


def test_color_maps_and_labels_stored_in_s3(real_fixtures: Path, tmp_path: Path) -> None:
    # 3D point cloud segmentation names its colour map color-map (2D: internal-color-map).
    line = {
        "source-ref": "s3://b/frame.bin",
        "paint-ref": "s3://b/out/annotations/consolidated-annotation/output/0/frame.zlib",
        "paint-ref-metadata": {
            "color-map": {"0": {"class-name": "Background", "hex-color": "#ffffff", "confidence": 0.5},
                          "1": {"class-name": "Car", "hex-color": "#2ca02c", "confidence": 0.5}},
            "type": "groundtruth/point_cloud_single_frame_semantic_segmentation",
            "human-annotated": "yes", "creation-date": "2020-01-01T00:00:00", "job-name": "j",
        },
    }  # fmt: skip
    out = read_manifest(_write(tmp_path / "seg.manifest", [line]))
    assert out.classes[["class_id", "class_name"]].astype(object).values.tolist() == [
        [0, "Background"], [1, "Car"],
    ]  # fmt: skip
    assert out.objects["value"][0] == line["paint-ref"] and out.objects["confidence"][0] == 0.5
    # Video tracking labels are a SeqLabel.json in S3: their classes are the line's class map.
    for fixture in ("iprivit__object-tracking-project/output.manifest",
                    "deepaliaws__Sagemaker-GroundTruth/output (3).manifest"):  # fmt: skip
        path = real_fixtures / fixture
        classes = read_manifest(path).classes
        expected = [
            (n, int(k), v)
            for n, record in enumerate(_lines(path))
            for key, meta in record.items()
            if key.endswith("-metadata")
            for k, v in meta["class-map"].items()  # type: ignore[index]
        ]
        got = list(
            classes[["index", "class_id", "class_name"]]
            .astype(object)
            .itertuples(index=False, name=None)
        )
        assert got == expected, fixture
        assert classes["class_name"].notna().all()


def test_a_job_against_itself_scores_one_where_pages_share_a_file_name(
    real_fixtures: Path,
) -> None:
    # An AWS sample's adjustment job: two banks' "...-0001-1.png" pages in two folders. As
    # its own reference each page is compared with its own boxes, so every score is 1.
    path = (
        real_fixtures / "aws-samples__amazon-textract-transformer-pipeline"
        / "notebooks/data/annotations/augmentation-1/manifests/output/output.manifest"
    )  # fmt: skip
    sources = [str(r["source-ref"]) for r in _lines(path)]
    shared = {
        s for s in sources if sum(t.rsplit("/", 1)[1] == s.rsplit("/", 1)[1] for t in sources) > 1
    }
    assert len(shared) == 2 and len(set(sources)) == len(sources) == 50
    refs = read_references(path)
    assert shared <= set(refs.images) and len(refs.images) == 50
    result = analyze(read_manifest(path), reference=refs)
    assert result.quality is not None and result.quality["objects_compared"] == 50
    assert result.scores["score"].tolist() == [1.0] * 50
    assert result.ambiguous_objects == [] and result.unmatched_references == []


def test_a_label_in_s3_under_a_detection_type_keeps_its_uri_and_classes(
    real_fixtures: Path,
) -> None:
    # An AWS sample: a 3D tracking label (a SeqLabel.json in S3) typed point cloud object
    # detection. Its URI is the value and its class map its classes, as for any label in S3.
    path = (
        real_fixtures / "aws-samples__amazon-sagemaker-groundtruth-immersionday"
        / "04-module-label-3D-point-cloud/sample_files/manifests/OT-adjustment-manifest.json"
    )  # fmt: skip
    (record,) = _lines(path)
    out = read_manifest(path)
    assert out.objects["value"].tolist() == [record["pointcloud-ref"]]
    meta = record["pointcloud-ref-metadata"]
    assert out.classes[["class_id", "class_name"]].astype(object).values.tolist() == [
        [int(k), v]
        for k, v in meta["class-map"].items()  # type: ignore[index]
    ]
    assert len(out.cuboids) == 0 and out.problems == []


def test_a_value_of_the_wrong_type_is_told_never_read_as_unknown(tmp_path: Path) -> None:
    # Read leniently, the engine would take a text coordinate, or a text where boxes belong,
    # as unknown and keep the rest of the line: the reader names those lines instead.
    lines = [
        _box_line("s3://b/1.jpg", [[1, 2, 3, 4]]),
        _box_line("s3://b/2.jpg", [[1, 2, 3, 4]]),
        _box_line("s3://b/3.jpg", [[5, 6, 7, 8]]),
        _box_line("s3://b/4.jpg", [[5, 6, 7, 8]]),
    ]
    lines[1]["b"]["annotations"][0]["left"] = "one"  # type: ignore[index]
    lines[3]["b"] = "s3://b/labels/4.json"
    path = _write(tmp_path / "mixed.manifest", lines)
    with pytest.raises(OutputError) as e:
        _ = read_manifest(path).objects
    assert "lines the reader cannot take (2):" in str(e.value)
    assert "mixed.manifest:2: b.annotations[0].left: expected a number, got text" in str(e.value)
    assert "mixed.manifest:4: b: expected an object, got text" in str(e.value)
    out = read_manifest(path, lenient=True)
    assert out.objects["source"].tolist() == ["s3://b/1.jpg", "s3://b/3.jpg"]
    assert out.boxes["left"].tolist() == [1.0, 5.0]
    assert [(p.where, p.kind) for p in out.problems] == [
        (f"{path}:2", "skipped"), (f"{path}:4", "skipped"),
    ]  # fmt: skip


def test_one_text_among_box_labels_is_told_not_taken_for_the_kind(tmp_path: Path) -> None:
    # Lines of the same keys are discovered through one example: a text value on it must not
    # make every line's boxes unknown.
    lines = [_box_line(f"s3://b/{n}.jpg", [[n, 2, 3, 4]]) for n in range(6)]
    lines[0]["b"] = "s3://b/labels/0.json"
    path = _write(tmp_path / "one-text.manifest", lines)
    with pytest.raises(OutputError, match=r"one-text\.manifest:1: b: expected an object, got text"):
        _ = read_manifest(path).objects
    out = read_manifest(path, lenient=True)
    assert out.boxes["left"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [p.where for p in out.problems] == [f"{path}:1"]


def test_only_the_lines_at_fault_are_refused(tmp_path: Path) -> None:
    # Beside a line at fault: values the reader takes as they are (a box label's metadata
    # confidence and class map of another shape, a number written after a space, NaN) stay.
    lines = [_box_line(f"s3://b/{n}.jpg", [[n, 2, 3, 4]]) for n in range(4)]
    lines[0]["b-metadata"].update(confidence="high")  # type: ignore[attr-defined]
    lines[1]["b"]["annotations"][0]["top"] = " 6"  # type: ignore[index]
    lines[3]["b"]["annotations"][0]["left"] = "one"  # type: ignore[index]
    path = tmp_path / "fault.manifest"
    text = "".join(json.dumps(line) + "\n" for line in lines)
    path.write_text(text.replace('"width": 640', '"width": NaN', 1))  # line 1's image width
    with pytest.raises(OutputError) as e:
        _ = read_manifest(path).objects
    assert "lines the reader cannot take (1):" in str(e.value)
    assert "fault.manifest:4: b.annotations[0].left: expected a number, got text" in str(e.value)
    out = read_manifest(path, lenient=True)
    assert out.boxes["left"].tolist() == [0.0, 1.0, 2.0] and out.boxes["top"][1] == 6.0
    assert [p.where for p in out.problems] == [f"{path}:4"]


@pytest.mark.parametrize(
    "text", [" 6", "6 ", "1_000", "1e3", "inf", "nan", "0x10", "+5", "-5", ".5", "5.", "", "1,5"]
)
def test_a_number_as_text_is_judged_as_the_engine_reads_it(text: str) -> None:
    import duckdb

    from gtkit._lines import type_problem

    con = duckdb.connect()
    try:
        con.execute("SELECT json_transform_strict(?, '\"DOUBLE\"')", [json.dumps(text)]).fetchall()
        engine_reads = True
    except duckdb.Error:
        engine_reads = False
    assert (type_problem(text, "number", "x") is None) == engine_reads


def test_a_refusal_no_rule_explains_is_never_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Should the engine refuse a value the reader's type rules take, the read still says so.
    lines = [_box_line("s3://b/0.jpg", [[1, 2, 3, 4]]), _box_line("s3://b/1.jpg", [[1, 2, 3, 4]])]
    lines[1]["b"]["annotations"][0]["left"] = "one"  # type: ignore[index]
    path = _write(tmp_path / "m.manifest", lines)
    monkeypatch.setattr("gtkit._labels.typed_problems", lambda *args: [])
    with pytest.raises(OutputError, match=r"m\.manifest: the reader refused a value \(.*line 2"):
        _ = read_manifest(path).objects
    out = read_manifest(path, lenient=True)
    assert [p.kind for p in out.problems] == ["value"]
    assert "such values are read as unknown" in str(out.problems[0])


def test_consolidation_requests_become_worker_answers(real_fixtures: Path, tmp_path: Path) -> None:
    resources = real_fixtures / COMPREHEND
    job = tmp_path / "job"
    (job / "manifests/output").mkdir(parents=True)
    shutil.copy(
        resources / "sample_output_manifest.jsonl", job / "manifests/output/output.manifest"
    )
    requests = job / "annotations/consolidated-annotation/consolidation-request/iteration-1"
    requests.mkdir(parents=True)
    request = next((resources / "sample_consolidation_request").glob("*.json"))
    shutil.copy(request, requests / request.name)
    answers = read_output(job).worker_answers
    expected = [
        (int(item["datasetObjectId"]), a["workerId"], json.loads(a["annotationData"]["content"]))
        for item in json.loads(request.read_text())
        for a in item["annotations"]
    ]
    got = [
        (i, w, json.loads(a))
        for i, w, a in zip(answers["index"], answers["worker"], answers["answer"], strict=True)
    ]
    assert got == expected and set(answers["iteration"]) == {1}
    assert answers["seconds"].isna().all()


def test_a_detection_objects_list_of_the_wrong_length_is_a_problem(tmp_path: Path) -> None:
    line = _box_line("s3://b/a.jpg", [[1, 2, 3, 4], [5, 6, 7, 8]])
    line["b-metadata"]["objects"] = [{"confidence": 0.5}]  # type: ignore[index]
    out = read_manifest(
        _write(tmp_path / "o.manifest", [_box_line("s3://b/ok.jpg", [[0, 0, 1, 1]]), line])
    )
    assert out.boxes["confidence"].tolist()[0] == 0.9
    assert out.boxes["confidence"][1:].isna().all() and pd.isna(out.objects["confidence"][1])
    assert [p.where.rsplit(":", 1)[1] for p in out.problems] == ["2"]
    assert "b-metadata.objects has 1 entries for 2 annotations" in out.problems[0].message
