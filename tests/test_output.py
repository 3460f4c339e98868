"""Reading job output: every real fixture parses, counts agree with an independent count, and
iterations come from whatever evidence a tree holds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from pycocotools.coco import COCO

from gtkit._cli import main
from gtkit._errors import GtkitError, OutputError
from gtkit._export import to_augmented_manifest, to_coco, write_export
from gtkit._output import read_manifest, read_output, read_seqlabel

from .blog_tree import JOB, PLAN, write_blog_tree

IC = (
    "aws__amazon-sagemaker-examples/prepare_data/"
    "sm-ground_truth_annotation_consolidation_image_classification/ic_data.tar.gz.extracted/ic_data"
)


def manifests(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.name.endswith((".manifest", ".jsonl"))
    )


def independent_counts(path: Path) -> dict[str, int]:
    """Count records, boxes, empty images and failures with plain json, a different route."""
    records = [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    boxes = empty = failures = 0
    attrs: set[str] = set()
    for r in records:
        for key, meta in r.items():
            if not (key.endswith("-metadata") and isinstance(meta, dict)):
                continue
            if not (
                str(meta.get("type", "")).startswith("groundtruth/") or "human-annotated" in meta
            ):
                continue
            attr = key[: -len("-metadata")]
            attrs.add(attr)
            failures += "failure-reason" in meta
            if meta.get("type") == "groundtruth/object-detection":
                n = len(r[attr]["annotations"])
                boxes += n
                empty += n == 0
    return {
        "records": len(records),
        "boxes": boxes,
        "empty": empty,
        "failures": failures,
        "attributes": len(attrs),
    }


def test_every_real_fixture_parses_with_counts_that_agree(real_fixtures: Path) -> None:
    files = manifests(real_fixtures)
    assert len(files) >= 30
    for path in files:
        out = read_manifest(path)
        expect = independent_counts(path)
        assert out.problems == [], path
        assert out.objects["index"].nunique() == expect["records"], path
        assert len(out.boxes) == expect["boxes"], path
        per_image = out.boxes.groupby("index").size()
        detection = out.objects[out.objects["task_type"] == "object-detection"]
        assert int((~detection["index"].isin(per_image.index)).sum()) >= expect["empty"], path
        assert int(out.objects["failure_reason"].notna().sum()) == expect["failures"], path
        assert len(out.attributes) == expect["attributes"], path
        labeled = out.objects[
            out.objects["attribute"].notna() & out.objects["failure_reason"].isna()
        ]
        dated = labeled["creation_date"].notna()
        assert dated.all(), (path, labeled.loc[~dated, "line"].tolist())


def test_numbers_the_fixtures_readme_gives(real_fixtures: Path) -> None:
    bees = read_manifest(real_fixtures / "paasovaara__sagemaker-img-classification/output.manifest")
    assert bees.objects["index"].nunique() == 500
    assert bees.boxes["confidence"].between(0, 1).all() and bees.boxes["confidence"].nunique() > 5
    yolo = "aws__amazon-sagemaker-examples/archived/pytorch_yolov5_training_and_hpo/sample_output.manifest"
    assert read_manifest(real_fixtures / yolo).objects["index"].nunique() == 100
    logos = read_manifest(real_fixtures / "dannymorris__gluoncv-logo-detection/output.manifest")
    assert len(logos.objects) == 470 and len(logos.job_names) == 2
    ocr = read_manifest(real_fixtures / "tingxin__sagemaker-ocr-workshop/output.manifest")
    assert sorted(ocr.boxes["class_id"].unique()) == [0, 1, 3]
    assert "设备 " in set(ocr.boxes["class_name"])  # trailing space kept
    assert ocr.boxes["image_width"].max() == 7168 and ocr.boxes["image_height"].max() == 4562
    chained = read_manifest(real_fixtures / "YeongJun-Jeon__1to100_Korean/output.manifest")
    assert len(chained.attributes) == 2 and chained.objects["index"].nunique() == 404
    failures = read_manifest(
        real_fixtures / "aws-samples__amazon-comprehend-semi-structured-documents-annotation-tools"
        "/test/unit/resources/output_with_expired_tasks_manifest.jsonl"
    )
    failed = failures.objects[failures.objects["failure_reason"].notna()]
    assert len(failed) == 2 and failed["human"].all()  # "human-annotated": "true"
    assert failed["failure_reason"].str.contains("Annotation tasks expired").all()
    text = read_manifest(
        real_fixtures / "aws-samples__amazon-comprehend-examples/src/comprehend_customer_scripts"
        "/GroundTruth/DocumentClassifier/output.manifest"
    )
    assert len(text.objects) == 90  # 89 newlines, no final newline
    assert (text.objects["task_type"] == "text-classification-multilabel").all()
    ner = read_manifest(
        real_fixtures
        / "aws-samples__amazon-sagemaker-groundtruth-and-amazon-comprehend-ner-examples"
        "/refdata/output.manifest"
    )
    assert (ner.objects["task_type"] == "text-span").all() and ner.classes[
        "confidence"
    ].notna().all()
    seg = read_manifest(
        real_fixtures
        / "aws-samples__amazon-lookout-for-vision-image-augmentation-pipeline/output.manifest"
    )
    assert seg.objects["value"].iloc[0].endswith(".png")
    assert set(seg.classes["class_name"]) == {"BACKGROUND", "IC", "resistor1", "resistor2"}


def test_real_image_classification_job_tree(real_fixtures: Path) -> None:
    out = read_output(real_fixtures / IC)
    assert len(out.objects) == 302
    answers = out.worker_answers
    assert answers.groupby("iteration")["index"].nunique().to_dict() == {1: 10, 2: 292}
    assert answers.groupby("iteration").size().to_dict() == {1: 50, 2: 1460}
    assert (answers.groupby("index").size() == 5).all()
    assert answers["worker"].nunique() == 97
    assert out.objects["iteration"].value_counts().to_dict() == {2: 292, 1: 10}
    labels = json.loads((real_fixtures / IC / "true_labels.json").read_text())
    assert len(labels) > 0


def test_seqlabel_files(real_fixtures: Path) -> None:
    for path in real_fixtures.rglob("SeqLabel.json"):
        frames = read_seqlabel(path)
        doc = json.loads(path.read_text())
        expected = sum(len(f["annotations"]) for f in doc["tracking-annotations"])
        assert len(frames) == expected > 0


def test_creation_date_formats(tmp_path: Path) -> None:
    """Every date form real files carry reads as the same instant in UTC; an offset counts."""
    dates = {
        "2019-05-16T00:15:58.914553": "2019-05-16T00:15:58.914553Z",
        "2021-08-04T17:02:49.583": "2021-08-04T17:02:49.583Z",
        "2022-08-22T20:52:51.851Z": "2022-08-22T20:52:51.851Z",
        "2020-05-25T12:53:54+0000": "2020-05-25T12:53:54Z",
        "2020-05-25T14:53:54+02:00": "2020-05-25T12:53:54Z",
        "Mon Aug 22 2022 13:52:52 GMT-0700 (Pacific Daylight Time)": "2022-08-22T20:52:52Z",
        "0001-01-01T00:00:00": "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59": "9999-12-31T23:59:59Z",
    }
    lines = [
        {"source-ref": f"s3://b/{n}.jpg", "c": 0,
         "c-metadata": {"type": "groundtruth/image-classification", "class-name": "x",
                        "human-annotated": "yes", "creation-date": d}}
        for n, d in enumerate(dates)
    ]  # fmt: skip
    lines.append(
        {"source-ref": "s3://b/none.jpg", "c": 0, "c-metadata": {"human-annotated": "yes"}}
    )
    path = tmp_path / "dates.manifest"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    got = read_manifest(path).objects["creation_date"]
    assert str(got.dtype) == "datetime64[us, UTC]"
    for n, expected in enumerate(dates.values()):
        assert got[n].isoformat() == pd.Timestamp(expected.replace("Z", "+00:00")).isoformat(), n
    assert pd.isna(got[len(dates)])


def test_a_date_the_reader_cannot_take_is_an_error_or_a_listed_problem(tmp_path: Path) -> None:
    line = {"source-ref": "s3://b/a.jpg", "c": 0,
            "c-metadata": {"human-annotated": "yes", "creation-date": "2019-01-44T00:00:00"}}  # fmt: skip
    path = tmp_path / "bad-date.manifest"
    path.write_text(json.dumps(line) + "\n" + json.dumps({**line, "source-ref": "s3://b/b.jpg"}))
    with pytest.raises(OutputError, match=r"bad-date.manifest:1: .*2019-01-44.* is not a date"):
        _ = read_manifest(path).objects
    out = read_manifest(path, lenient=True)
    assert out.objects["creation_date"].isna().all() and len(out.objects) == 2
    assert [p.where.rsplit(":", 1)[1] for p in out.problems] == ["1", "2"]


def test_blog_tree_iterations_from_its_evidence(tmp_path: Path) -> None:
    write_blog_tree(tmp_path)
    out = read_output(tmp_path / JOB)
    assert out.has_iterations
    objects = out.objects
    assert objects["iteration"].notna().all()
    for it, (human, auto) in PLAN.items():
        at = objects[objects["iteration"] == it]
        assert int(at["human"].sum()) == human
        assert int((~at["human"]).sum()) == auto


def test_iterations_past_nine_and_the_first_human_place_wins(tmp_path: Path) -> None:
    job = tmp_path / "j"
    (job / "manifests/output").mkdir(parents=True)
    line = {
        "source-ref": "s3://b/a.jpg",
        "x": 1,
        "x-metadata": {
            "type": "groundtruth/image-classification",
            "human-annotated": "yes",
            "class-name": "c",
        },
    }
    (job / "manifests/output/output.manifest").write_text(json.dumps(line) + "\n")
    for it in (12, 3):
        d = job / f"annotations/worker-response/iteration-{it}/0"
        d.mkdir(parents=True)
        (d / "t.json").write_text(json.dumps({"answers": [{"workerId": "w", "answerContent": {}}]}))
    d = job / "manifests/intermediate/11"
    d.mkdir(parents=True)
    (d / "output.manifest").write_text(json.dumps(line) + "\n")
    assert read_output(job).objects["iteration"].tolist() == [3]


def test_malformed_lines_name_file_and_line_or_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "out.manifest"
    good = {
        "source-ref": "s3://b/a.jpg",
        "x": 1,
        "x-metadata": {"type": "groundtruth/image-classification"},
    }
    path.write_text(json.dumps(good) + "\n{broken\n[1, 2]\n")
    with pytest.raises(OutputError, match=r"out.manifest:2: not JSON") as error:
        _ = read_manifest(path).objects  # tables are read on first use
    assert "out.manifest:3: expected a JSON object, got a list" in str(error.value)
    lenient = read_manifest(path, lenient=True)
    assert [p.where.rsplit(":", 1)[1] for p in lenient.problems] == ["2", "3"]
    assert len(lenient.objects) == 1


_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_meta = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["groundtruth/object-detection", "groundtruth/image-classification",
                                 "groundtruth/text-classification-multilabel", "groundtruth/semantic-segmentation", "other"]),
        "human-annotated": st.sampled_from(["yes", "no", "true", 1]),
        "class-map": st.dictionaries(st.text(max_size=2), _scalar, max_size=3),
        "objects": st.lists(st.one_of(st.fixed_dictionaries({"confidence": _scalar}), _scalar), max_size=3),
        "creation-date": st.one_of(st.text(max_size=12), st.just("2019-05-16T00:15:58.914553")),
        "confidence-map": _value, "internal-color-map": _value, "failure-reason": _scalar, "class-name": _scalar,
        "job-name": _scalar, "confidence": _scalar, "entities": _value,
    },
)  # fmt: skip
_box = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("class_id", "left", "top", "width", "height"), _scalar)
)
_label = st.one_of(
    _value,
    st.fixed_dictionaries({}, optional={"annotations": st.one_of(st.lists(_box, max_size=3), _value),
                                        "image_size": st.one_of(st.lists(st.dictionaries(st.sampled_from(["width", "height"]), _scalar), max_size=2), _value)}),
)  # fmt: skip
_record = st.builds(
    lambda src, meta, label, extra, order: dict(sorted({**extra, "source-ref": src, "a": label, "a-metadata": meta}.items(), reverse=order)),
    st.one_of(st.text(max_size=10), _scalar), st.one_of(_meta, _value), _label,
    st.dictionaries(st.text(max_size=4), _value, max_size=2), st.booleans(),
)  # fmt: skip
_line = st.one_of(_record.map(json.dumps), st.text(max_size=30), st.just(""))


@settings(max_examples=int(os.environ.get("GTKIT_FUZZ_EXAMPLES", 100)), deadline=None)
@given(st.lists(_line, max_size=8), st.booleans())
@example(
    ['{"a": 1.8446744073709552e+19, "a-metadata": {"type": "groundtruth/image-classification"}}'],
    False,
)
@example(['{"a": {}, "a-metadata": {}, "source-ref": ""}', "0\r0"], True)
@example(  # a top-level field named like an SQL lambda's parameter
    ['{"E": null, "a": {}, "a-metadata": {"type": "groundtruth/image-classification"}}'], True
)
def test_generated_manifests_never_crash_with_a_foreign_error(
    lines: list[str], lenient: bool
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.manifest"
        path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
        out = read_manifest(path, lenient=lenient)
        try:
            objects = out.objects
        except OutputError:
            assert not lenient
            return
        # JSON Lines: records are separated by "\n" only (a bare "\r" is not a separator).
        records = sum(1 for line in path.read_bytes().split(b"\n") if line.strip())
        skipped = [p for p in out.problems if p.kind == "skipped"]
        assert objects["index"].nunique() + len(skipped) == records


def test_a_line_whose_metadata_is_not_ground_truths_has_no_label(tmp_path: Path) -> None:
    """Between labeled lines, a line with the same keys but metadata Ground Truth did not
    write (no type, no human-annotated, no failure-reason) gives an object with no label:
    none of its boxes, classes or confidences."""
    box = {"class_id": 0, "left": 1, "top": 1, "width": 2, "height": 2}
    labeled = {"type": "groundtruth/object-detection", "class-map": {"0": "x"},
               "objects": [{"confidence": 0.5}]}  # fmt: skip
    other = {"class-map": {"0": "x"}, "objects": [{"confidence": 0.9}]}
    lines = [
        {"source-ref": f"s3://b/{n}.jpg", "a": {"annotations": [box]}, "a-metadata": metadata}
        for n, metadata in enumerate([labeled, other, labeled, other])
    ]
    path = tmp_path / "out.manifest"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = read_manifest(path)
    assert out.objects["attribute"].isna().tolist() == [False, True, False, True]
    assert out.boxes["index"].tolist() == [0, 2]
    assert out.boxes["confidence"].tolist() == [0.5, 0.5]
    assert out.objects["confidence"].iloc[[1, 3]].isna().all()


_class_key = st.sampled_from(["0", "1", "2", "03", "-1", "1.0", "x", ""])
_class_map = st.one_of(
    st.none(),
    st.dictionaries(_class_key, st.one_of(st.none(), st.text(max_size=4)), max_size=4),
    st.text(max_size=3),  # not a map: no names
    st.lists(st.text(max_size=2), max_size=2),
)


@settings(max_examples=int(os.environ.get("GTKIT_FUZZ_EXAMPLES", 100)), deadline=None)
@given(
    st.lists(
        st.tuples(
            _class_map,
            st.lists(st.sampled_from([0, 1, 2, 3, -1, 1.0, 1.5, "1", None]), max_size=3),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_box_class_names_come_from_their_own_lines_class_map(
    lines: list[tuple[object, list[object]]],
) -> None:
    """Every line its own class map (or none, or one that is no map): a box's name is the
    entry whose key is its class id written plainly, computed here with plain json."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.manifest"
        records = []
        for n, (class_map, ids) in enumerate(lines):
            metadata: dict[str, object] = {"type": "groundtruth/object-detection"}
            if class_map is not None:
                metadata["class-map"] = class_map
            boxes = [{"class_id": i, "left": 0, "top": 0, "width": 1, "height": 1} for i in ids]
            records.append(
                {
                    "source-ref": f"s3://b/{n}.jpg",
                    "a": {"annotations": boxes},
                    "a-metadata": metadata,
                }
            )
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        out = read_manifest(path)
        boxes = out.boxes
        noted = sorted(int(p.where.rsplit(":", 1)[1]) for p in out.problems if p.kind == "note")
    # A class map that is no map is said, line by line (1-based), never passed silently.
    assert noted == [n for n, (m, _) in enumerate(lines, start=1) if isinstance(m, (str, list))]
    expected = []
    for class_map, ids in lines:
        for i in ids:
            number = float(i) if i is not None else None  # a number as text is read as one
            whole = number is not None and number == int(number)
            found = class_map.get(str(int(i))) if whole and isinstance(class_map, dict) else None
            expected.append(found)
    assert [None if pd.isna(v) else v for v in boxes["class_name"]] == expected


def test_coco_export_loads_in_pycocotools(real_fixtures: Path, tmp_path: Path) -> None:
    out = read_manifest(real_fixtures / "t04glovern__aws-ground-truth-cat-labels/output.manifest")
    coco = to_coco(out)
    assert len(coco["images"]) == 4  # the image with no boxes is kept
    path = write_export(out, "coco", tmp_path / "coco.json")
    api = COCO(str(path))
    assert len(api.getImgIds()) == 4 and len(api.getAnnIds()) == len(out.boxes)
    assert isinstance(coco["categories"], list) and coco["categories"][0] == {
        "id": 0,
        "name": "Cat",
    }
    with pytest.raises(GtkitError, match="exists"):
        write_export(out, "coco", tmp_path / "coco.json")


def test_yolo_and_voc_exports(tmp_path: Path) -> None:
    write_blog_tree(tmp_path)
    out = read_output(tmp_path / JOB)
    yolo = write_export(out, "yolo", tmp_path / "yolo")
    files = sorted(p for p in yolo.glob("*.txt") if p.name != "classes.txt")
    assert len(files) == 1000 and (yolo / "classes.txt").read_text() == "bird\n"
    first = out.boxes[out.boxes["index"] == 0].iloc[0]
    row = (yolo / "img0000.txt").read_text().splitlines()[0].split()
    assert float(row[1]) == pytest.approx((first["left"] + first["width"] / 2) / 500, abs=1e-6)
    voc = write_export(out, "voc", tmp_path / "voc")
    assert "<name>bird</name>" in (voc / "img0000.xml").read_text()
    n = to_augmented_manifest(out, tmp_path / "train.manifest")
    assert n == 1000
    again = read_manifest(tmp_path / "train.manifest")
    assert len(again.boxes) == len(out.boxes)
    assert int((~again.objects["human"]).sum()) == 392


def test_cli_export_and_reading_from_s3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_blog_tree(tmp_path)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="out")
        for p in (tmp_path / JOB).rglob("*"):
            if p.is_file():
                s3.upload_file(str(p), "out", f"jobs/{p.relative_to(tmp_path).as_posix()}")
        remote = read_output(f"s3://out/jobs/{JOB}")
        local = read_output(tmp_path / JOB)
        pd.testing.assert_frame_equal(remote.boxes, local.boxes)
        assert remote.objects["iteration"].tolist() == local.objects["iteration"].tolist()
        assert (
            main(
                [
                    "export",
                    f"s3://out/jobs/{JOB}",
                    "--format",
                    "coco",
                    "--out",
                    str(tmp_path / "c.json"),
                ]
            )
            == 0
        )
    assert json.loads((tmp_path / "c.json").read_text())["categories"] == [
        {"id": 0, "name": "bird"}
    ]
    assert (
        main(
            [
                "export",
                str(tmp_path / "missing"),
                "--format",
                "coco",
                "--out",
                str(tmp_path / "d.json"),
            ]
        )
        == 2
    )
    assert "no such folder" in capsys.readouterr().err


_json_line = st.builds(
    lambda n, pad: json.dumps({"source-ref": f"s3://b/{n}.jpg"}) + pad,
    st.integers(0, 99),
    st.sampled_from(["", " ", "\r", "\t "]),
)


@settings(max_examples=int(os.environ.get("GTKIT_FUZZ_EXAMPLES", 60)), deadline=None)
@given(
    st.lists(
        st.one_of(_json_line, st.sampled_from(["", " ", "\r", "\t"])), min_size=1, max_size=12
    ),
    st.booleans(),
)
def test_lines_are_numbered_as_the_file_has_them(lines: list[str], final_newline: bool) -> None:
    """Each object's ``line`` is its 1-based line in the file, blank lines counted."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.manifest"
        path.write_bytes(("\n".join(lines) + ("\n" if final_newline else "")).encode())
        expected = [n for n, line in enumerate(lines, start=1) if line.strip()]
        assert read_manifest(path).objects["line"].tolist() == expected


def test_each_kind_of_evidence_alone_gives_the_iterations(tmp_path: Path) -> None:
    """Worker-response folders, consolidation responses, auto-annotations and intermediate
    manifests each tell iterations on their own; a consolidation response still counts for an
    iteration with no worker-response folder beside others that have one."""
    lines = [
        {"source-ref": f"s3://b/{n}.jpg", "x": 0,
         "x-metadata": {"type": "groundtruth/image-classification", "class-name": "c",
                        "human-annotated": "no" if n == 3 else "yes"}}
        for n in range(5)
    ]  # fmt: skip
    job = tmp_path / "job"
    (job / "manifests/output").mkdir(parents=True)
    (job / "manifests/output/output.manifest").write_text(
        "".join(json.dumps(x) + "\n" for x in lines)
    )
    for it, index in ((1, 0), (2, 1)):
        folder = job / f"annotations/worker-response/iteration-{it}/{index}"
        folder.mkdir(parents=True)
        (folder / "2020-01-01_00:00:00.json").write_text('{"answers": []}')
    responses = job / "annotations/consolidated-annotation/consolidation-response"
    for it, indexes in ((2, [1]), (7, [2])):  # iteration 7 has no worker-response folder
        (responses / f"iteration-{it}").mkdir(parents=True)
        items = [
            {"datasetObjectId": str(i), "consolidatedAnnotation": {"content": {}}} for i in indexes
        ]
        (responses / f"iteration-{it}/2020-01-01_00:00:00.json").write_text(json.dumps(items))
    auto = job / "activelearning/auto-annotation/11/output"
    auto.mkdir(parents=True)
    (auto / "auto_annotator_output.txt").write_text("3 " + json.dumps({"x": 0}) + "\n")
    intermediate = job / "manifests/intermediate/12"
    intermediate.mkdir(parents=True)
    (intermediate / "output.manifest").write_text(json.dumps(lines[4]) + "\n")
    out = read_output(job)
    assert out.objects["iteration"].tolist() == [1, 2, 7, 11, 12]
    assert out.consolidations[["index", "iteration"]].values.tolist() == [[1, 2], [2, 7]]
