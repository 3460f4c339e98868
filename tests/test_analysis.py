"""Analysis: the blog's counts and dollars, quality against an independent computation, every
reference format, and the report."""

from __future__ import annotations

import json
import re
from itertools import permutations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gtkit._analysis import analyze, resolve_pricing
from gtkit._boxes import iou_matrix
from gtkit._cli import main
from gtkit._describe import pricing_from_describe
from gtkit._errors import GtkitError
from gtkit._output import read_manifest, read_output
from gtkit._plots import plot_worst
from gtkit._pricing import Pricing, dollars
from gtkit._references import (
    read_coco,
    read_cub,
    read_gt_manifest,
    read_open_images,
    read_references,
)
from gtkit._report import write_report

from .blog_tree import JOB, write_blog_tree, write_coco

IC = (
    "aws__amazon-sagemaker-examples/prepare_data/"
    "sm-ground_truth_annotation_consolidation_image_classification/ic_data.tar.gz.extracted/ic_data"
)


@pytest.fixture
def blog(tmp_path: Path) -> tuple[Path, Path, dict[str, list[list[float]]]]:
    refs = write_blog_tree(tmp_path)
    # category id 7: COCO category ids need not match Ground Truth class ids; names match
    ref = write_coco(refs, tmp_path / "reference.json", category_id=7)
    return tmp_path / JOB, ref, refs


def test_blog_numbers_through_the_cli(
    blog: tuple[Path, Path, dict[str, list[list[float]]]], capsys: pytest.CaptureFixture[str]
) -> None:
    job, ref, _ = blog
    args = [
        "analyze",
        str(job),
        "--workers",
        "5",
        "--task-price",
        "0.036",
        "--object-fee",
        "0.08",
        "--reference",
        str(ref),
        "--json",
    ]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["job_name"] == "birds-job" and doc["label_attribute"] == "birds"
    assert doc["task_type"] == "object-detection"
    counts = [(i["iteration"], i["human_objects"], i["auto_objects"]) for i in doc["iterations"]]
    assert counts == [(1, 10, 0), (2, 190, 0), (3, 200, 0), (4, 200, 27), (5, 8, 365)]
    t = doc["totals"]
    assert (t["human_objects"], t["auto_objects"], t["failed_objects"]) == (608, 392, 0)
    assert t["cost"] == pytest.approx(189.44, abs=1e-9)
    assert sum(i["human_cost"] for i in doc["iterations"]) == pytest.approx(158.08, abs=1e-9)
    assert sum(i["auto_cost"] for i in doc["iterations"]) == pytest.approx(31.36, abs=1e-9)
    assert t["cost_without_auto"] == pytest.approx(260.0, abs=1e-9)
    assert round(t["savings_fraction"], 2) == 0.27
    q = doc["quality"]
    assert q["matching"] == "optimal" and q["objects_compared"] == 1000
    assert set(q) >= {"human", "auto", "all"}


def _brute_image_score(labels: np.ndarray, refs: np.ndarray) -> float:
    if len(labels) == 0 and len(refs) == 0:
        return 1.0
    if len(labels) == 0 or len(refs) == 0:
        return 0.0
    iou = iou_matrix(labels, refs)
    if iou.shape[0] > iou.shape[1]:
        iou = iou.T
    best = (0.0, 0)
    for perm in permutations(range(iou.shape[1]), iou.shape[0]):
        vals = [iou[i, j] for i, j in enumerate(perm)]
        cand = (sum(v for v in vals if v > 0), sum(v > 0 for v in vals))
        if cand[0] > best[0] + 1e-12 or (abs(cand[0] - best[0]) <= 1e-12 and cand[1] > best[1]):
            best = cand
    return best[0] / (len(labels) + len(refs) - best[1])


def test_quality_agrees_with_brute_force(
    blog: tuple[Path, Path, dict[str, list[list[float]]]],
) -> None:
    job, ref, refs = blog
    out = read_output(job)
    a = analyze(out, reference=read_coco(ref))
    assert a.scores is not None and a.quality is not None
    by_file: dict[str, float] = {}
    for index, source in zip(out.objects["index"], out.objects["source"], strict=True):
        name = source.rsplit("/", 1)[1]
        mine = out.boxes[out.boxes["index"] == index][["left", "top", "width", "height"]].to_numpy()
        by_file[name] = _brute_image_score(mine, np.array(refs[name]).reshape(-1, 4))
    human = out.objects.set_index("index")["human"]
    auto_files = {
        s.rsplit("/", 1)[1]
        for s, h in zip(out.objects["source"], out.objects["human"], strict=True)
        if not h
    }
    assert a.quality["auto"] == pytest.approx(np.mean([by_file[f] for f in auto_files]), abs=1e-12)
    assert a.quality["all"] == pytest.approx(np.mean(list(by_file.values())), abs=1e-12)
    human_files = set(by_file) - auto_files
    assert a.quality["human"] == pytest.approx(
        np.mean([by_file[f] for f in human_files]), abs=1e-12
    )
    per_iteration: dict[str, list[float]] = {}
    for source, iteration in zip(out.objects["source"], out.objects["iteration"], strict=True):
        per_iteration.setdefault(str(iteration), []).append(by_file[source.rsplit("/", 1)[1]])
    assert len(per_iteration) == 5
    expected = {it: float(np.mean(scores)) for it, scores in per_iteration.items()}
    assert a.quality["by_iteration"] == pytest.approx(expected, abs=1e-12)
    assert len(human) == 1000
    # machine labels were drawn noisier than human ones
    assert a.quality["auto"] < a.quality["human"]


def test_objects_without_references_are_left_out_not_misaligned(
    blog: tuple[Path, Path, dict[str, list[list[float]]]], tmp_path: Path
) -> None:
    job, ref, refs = blog
    out = read_output(job)
    doc = json.loads(ref.read_text())
    dropped = {img["id"] for img in doc["images"][::3]}  # a third of the images lose references
    doc["images"] = [img for img in doc["images"] if img["id"] not in dropped]
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] not in dropped]
    (tmp_path / "partial.json").write_text(json.dumps(doc))
    a = analyze(out, reference=read_coco(tmp_path / "partial.json"))
    kept = {img["file_name"] for img in doc["images"]}
    assert a.quality is not None and a.quality["objects_compared"] == len(kept)
    assert len(a.unmatched_objects) == 1000 - len(kept)
    expected = []
    for index, source in zip(out.objects["index"], out.objects["source"], strict=True):
        name = source.rsplit("/", 1)[1]
        if name in kept:
            mine = out.boxes[out.boxes["index"] == index][
                ["left", "top", "width", "height"]
            ].to_numpy()
            expected.append(_brute_image_score(mine, np.array(refs[name]).reshape(-1, 4)))
    assert a.quality["all"] == pytest.approx(np.mean(expected), abs=1e-12)


def test_theta_is_the_largest_confident_set_reaching_the_target(
    blog: tuple[Path, Path, dict[str, list[list[float]]]],
) -> None:
    job, ref, _ = blog
    a = analyze(read_output(job), reference=read_coco(ref))
    assert a.scores is not None
    machine = a.scores[~a.scores["human"]].sort_values("confidence", ascending=False)
    theta = a.threshold_for(0.5)
    assert theta is not None
    above = machine[machine["confidence"] >= theta]["score"]
    assert above.mean() >= 0.5
    curve = a.threshold_curve()
    assert len(curve) == 20 and curve["objects"].iloc[0] == len(machine)
    assert a.threshold_for(1.01) is None


def test_failed_objects_are_counted_apart_and_not_charged(real_fixtures: Path) -> None:
    path = (
        real_fixtures / "aws-samples__amazon-comprehend-semi-structured-documents-annotation-tools"
        "/test/unit/resources/output_with_expired_tasks_manifest.jsonl"
    )
    a = analyze(read_manifest(path), pricing=Pricing(0.08, 1, 0.0))
    assert a.totals["failed_objects"] == 2 and a.totals["human_objects"] == 1
    assert a.totals["cost"] == pytest.approx(0.08)
    assert a.iterations["iteration"].tolist() == [None]  # a lone manifest: one group


def test_real_classification_job_accuracy_against_its_true_labels(real_fixtures: Path) -> None:
    job = real_fixtures / IC
    out = read_output(job)
    truth = {
        f"{t['ImageId']}.jpg": t["Label"]
        for t in json.loads((job / "true_labels.json").read_text())
    }
    a = analyze(out, reference=read_references(job / "true_labels.json"))
    assert a.quality is not None and a.quality["matching"] == "accuracy"
    given = {}
    for line in (job / "output.manifest").read_text().splitlines():
        r = json.loads(line)
        given[r["source-ref"].rsplit("/", 1)[1]] = r["birds-open-images-clone-metadata"][
            "class-name"
        ]
    shared = [f for f in given if f in truth]
    expected = sum(given[f] == truth[f] for f in shared) / len(shared)
    assert a.quality["objects_compared"] == len(shared)
    assert a.quality["all"] == pytest.approx(expected)
    assert a.iterations["human_objects"].tolist() == [10, 292]


def test_open_images_cub_and_manifest_references(
    tmp_path: Path, blog: tuple[Path, Path, dict[str, list[list[float]]]]
) -> None:
    job, ref, refs = blog
    out = read_output(job)
    coco_quality = analyze(out, reference=read_coco(ref)).quality
    assert coco_quality is not None
    # The same boxes as Open Images fractions of the 500 x 400 images, with an unknown image.
    rows = ["ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax"]
    for name, boxes in refs.items():
        for x, y, w, h in boxes:
            rows.append(
                f"{name[:-4]},human,/m/015p6,1,{x / 500},{(x + w) / 500},{y / 400},{(y + h) / 400}"
            )
    rows.append("ffffffff,human,/m/015p6,1,0.1,0.2,0.1,0.2")
    (tmp_path / "boxes.csv").write_text("\n".join(rows) + "\n")
    oi = read_references(tmp_path / "boxes.csv").renamed(single_class="bird")
    a = analyze(out, reference=oi)
    assert a.quality is not None
    assert a.quality["all"] == pytest.approx(coco_quality["all"], abs=1e-9)
    assert a.unmatched_references == ["ffffffff.jpg"]
    # CUB: image list and pixel boxes, class from the folder name
    cub = tmp_path / "cub"
    cub.mkdir()
    names = list(refs)
    (cub / "images.txt").write_text("".join(f"{i} 001.Bird/{n}\n" for i, n in enumerate(names)))
    (cub / "bounding_boxes.txt").write_text(
        "".join(f"{i} {b[0]} {b[1]} {b[2]} {b[3]}\n" for i, n in enumerate(names) for b in refs[n])
    )
    cub_refs = read_cub(cub)
    assert set(cub_refs.boxes["class_name"]) == {"001.Bird"}
    a = analyze(out, reference=cub_refs.renamed(single_class="bird"))
    assert a.quality is not None and a.quality["all"] == pytest.approx(
        coco_quality["all"], abs=1e-9
    )
    # Another job's manifest as reference: a job compared with itself scores 1
    self_ref = read_gt_manifest(job / "manifests/output/output.manifest")
    same = analyze(out, reference=self_ref).quality
    assert same is not None and same["all"] == pytest.approx(1.0)
    with pytest.raises(GtkitError, match="XMin"):
        (tmp_path / "bad.csv").write_text("ImageID,XMin\nabc,0.1\n")
        read_open_images(tmp_path / "bad.csv")


def test_pricing_is_never_guessed(
    blog: tuple[Path, Path, dict[str, list[list[float]]]], capsys: pytest.CaptureFixture[str]
) -> None:
    job, _, _ = blog
    assert analyze(read_output(job)).totals["cost"] is None
    # Called from Python, the message names resolve_pricing's (and analyze's) parameters.
    with pytest.raises(GtkitError) as exc:
        resolve_pricing(workers=5)
    assert str(exc.value) == "cost needs workers and task price: pass task_price= (or describe=)"
    with pytest.raises(GtkitError, match=r"pass workers= \(or describe=\)$"):
        resolve_pricing(task_price=0.036)
    describe = {
        "HumanTaskConfig": {
            "NumberOfHumanWorkersPerDataObject": 5,
            "PublicWorkforceTaskPrice": {
                "AmountInUsd": {"Dollars": 0, "Cents": 3, "TenthFractionsOfACent": 6}
            },
        }
    }
    p = resolve_pricing(describe=describe)
    assert p is not None and p.human_object_cost == pytest.approx(0.26)
    # The one conversion of an AmountInUsd (exact to a tenth of a cent, as in _pricing): a sum
    # of float fractions would give 1.2029999999999998 here.
    amount = {"Dollars": 1, "Cents": 20, "TenthFractionsOfACent": 3}
    priced = {"HumanTaskConfig": {**describe["HumanTaskConfig"], "PublicWorkforceTaskPrice": {
        "AmountInUsd": amount}}}  # fmt: skip
    assert pricing_from_describe(priced).task_price == 1.203 == float(dollars(amount))
    (job / "describe.json").write_text(json.dumps(describe))
    assert main(["analyze", str(job), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["totals"]["cost"] == pytest.approx(189.44)
    assert (
        main(["analyze", str(job), "--workers", "3", "--json"]) == 0
    )  # flag wins, describe fills price
    assert json.loads(capsys.readouterr().out)["pricing"] == {
        "object_fee": 0.08,
        "workers": 3,
        "task_price": 0.036,
    }
    (job / "describe.json").unlink()
    # From the command line, the same error names its flags instead.
    assert main(["analyze", str(job), "--workers", "5"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "gtkit: error: cost needs workers and task price: give --task-price (or --describe)\n"
    )


def test_report_is_self_contained(
    blog: tuple[Path, Path, dict[str, list[list[float]]]], tmp_path: Path
) -> None:
    job, ref, _ = blog
    out = read_output(job)
    reference = read_coco(ref)
    a = analyze(out, reference=reference, pricing=Pricing(0.08, 5, 0.036))
    path = write_report(tmp_path / "report.html", a, out, reference)
    text = path.read_text()
    assert "$189.44 with automated labeling, $260.00 without (27.1% saved)" in text
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 10
    assert not re.search(r'(src|href)="https?://', text)
    with pytest.raises(GtkitError, match="exists"):
        write_report(tmp_path / "report.html", a, out, reference)


def test_cli_report(
    blog: tuple[Path, Path, dict[str, list[list[float]]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job, ref, _ = blog
    out = tmp_path / "r.html"
    assert (
        main(
            [
                "report",
                str(job),
                "--reference",
                str(ref),
                "--workers",
                "5",
                "--task-price",
                "0.036",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "608 human, 392 machine" in printed and out.exists()


def _box_line(source: str, box: list[float]) -> str:
    """A human bounding-box label of one box (left, top, width, height in pixels)."""
    left, top, width, height = box
    return json.dumps(
        {
            "source-ref": source,
            "bb": {
                "annotations": [
                    {"class_id": 0, "left": left, "top": top, "width": width, "height": height}
                ],
                "image_size": [{"width": 100, "height": 100, "depth": 3}],
            },
            "bb-metadata": {
                "objects": [{"confidence": 0.9}],
                "class-map": {"0": "bird"},
                "type": "groundtruth/object-detection",
                "human-annotated": "yes",
            },
        }
    )


def test_an_image_listed_twice_is_compared_twice(tmp_path: Path) -> None:
    manifest = tmp_path / "output.manifest"
    manifest.write_text(
        "\n".join(
            [
                _box_line("s3://b/a/1.jpg", [0, 0, 10, 10]),
                _box_line("s3://b/2.jpg", [0, 0, 10, 10]),
                _box_line("s3://b/a/1.jpg", [5, 0, 10, 10]),
            ]
        )
        + "\n"
    )
    csv = tmp_path / "boxes.csv"
    # Image 1: x 5-15 px, y 0-10 px of 100 x 100; image 2: no boxes listed (so not compared)
    csv.write_text("ImageID,LabelName,XMin,XMax,YMin,YMax\n1,/m/x,0.05,0.15,0.0,0.1\n")
    result = analyze(
        read_manifest(manifest), reference=read_open_images(csv).renamed(single_class="bird")
    )
    # First listing: IoU 50 / 150 (hand-worked); the second lies exactly on the reference.
    assert result.scores["score"].tolist() == pytest.approx([1 / 3, 1.0])
    assert result.scores["index"].tolist() == [0, 2]
    assert result.unmatched_objects == ["2.jpg"]
    # Every reference box matched once: the references must come through unchanged.
    refs = read_open_images(csv).renamed(single_class="bird")
    before = refs.boxes.copy()
    manifest.write_text(manifest.read_text().splitlines()[0] + "\n")
    once = analyze(read_manifest(manifest), reference=refs)
    assert once.scores["score"].tolist() == pytest.approx([1 / 3])
    pd.testing.assert_frame_equal(refs.boxes, before)


def test_objects_at_different_paths_with_one_file_name_are_not_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two images named 1.jpg in different folders: which of them the reference's image 1 is,
    # nothing tells. Compared with it, one of them would be scored against another's boxes.
    manifest = tmp_path / "output.manifest"
    manifest.write_text(
        "\n".join(
            [
                _box_line("s3://b/a/1.jpg", [5, 0, 10, 10]),
                _box_line("s3://b/c/1.jpg", [5, 0, 10, 10]),
                _box_line("s3://b/2.jpg", [0, 0, 10, 10]),
            ]
        )
        + "\n"
    )
    csv = tmp_path / "boxes.csv"
    # Image 1: x 5-15 px, y 0-10 px of 100 x 100; image 2: x 0-10, y 0-10.
    csv.write_text(
        "ImageID,LabelName,XMin,XMax,YMin,YMax\n1,/m/x,0.05,0.15,0.0,0.1\n2,/m/x,0,0.1,0,0.1\n"
    )
    refs = read_open_images(csv).renamed(single_class="bird")
    result = analyze(read_manifest(manifest), reference=refs)
    assert result.scores["index"].tolist() == [2]
    assert result.scores["score"].tolist() == pytest.approx([1.0])
    assert result.ambiguous_objects == ["s3://b/a/1.jpg", "s3://b/c/1.jpg"]
    assert result.quality is not None and result.quality["objects_ambiguous"] == 2
    assert result.unmatched_objects == [] and result.unmatched_references == []
    main(["analyze", str(manifest), "--reference", str(csv), "--reference-class", "bird"])
    printed = capsys.readouterr().out
    assert "not compared: 2 objects whose file name stands for several images" in printed


def test_reference_images_with_one_file_name_stay_apart(tmp_path: Path) -> None:
    # A Ground Truth manifest as references, with two images named page-1.png in different
    # folders: each keeps its own box, and an object at either path is compared with its own.
    reference = tmp_path / "truth.manifest"
    reference.write_text(
        "\n".join(
            [
                _box_line("s3://r/bankA/page-1.png", [0, 0, 10, 10]),
                _box_line("s3://r/bankB/page-1.png", [50, 50, 10, 10]),
                _box_line("s3://r/x.png", [0, 0, 10, 10]),
            ]
        )
        + "\n"
    )
    refs = read_gt_manifest(reference)
    assert set(refs.images) == {"s3://r/bankA/page-1.png", "s3://r/bankB/page-1.png", "x.png"}
    by_image = refs.boxes.set_index("file_name")["left"].to_dict()
    assert by_image == {"s3://r/bankA/page-1.png": 0, "s3://r/bankB/page-1.png": 50, "x.png": 0}

    manifest = tmp_path / "output.manifest"
    manifest.write_text(
        "\n".join(
            [
                _box_line("s3://r/bankB/page-1.png", [50, 50, 10, 10]),  # its very path
                _box_line("s3://job/bankA/page-1.png", [0, 0, 10, 10]),  # which page-1.png?
                _box_line("s3://job/x.png", [0, 0, 10, 10]),  # one x.png: by file name
            ]
        )
        + "\n"
    )
    result = analyze(read_manifest(manifest), reference=refs)
    assert result.scores["index"].tolist() == [0, 2]
    assert result.scores["score"].tolist() == pytest.approx([1.0, 1.0])
    assert result.ambiguous_objects == ["s3://job/bankA/page-1.png"]
    assert result.unmatched_objects == []
    assert result.unmatched_references == ["s3://r/bankA/page-1.png"]
    # Drawn, the first object shows its own image's reference box (dashed), not the other's.
    fig = plot_worst(result, read_manifest(manifest), refs, count=2)
    (ax,) = [ax for ax in fig.axes if ax.get_title().startswith("page-1.png")]
    dashed = [p for p in ax.patches if p.get_linestyle() == "--"]
    assert [(p.get_x(), p.get_y()) for p in dashed] == [(50, 50)]


def test_references_renamed_by_a_mapping(tmp_path: Path) -> None:
    csv = tmp_path / "boxes.csv"
    csv.write_text(
        "ImageID,LabelName,XMin,XMax,YMin,YMax\n"
        "1,/m/015p6,0,0.5,0,0.5\n2,/m/other,0,0.5,0,0.5\n3,/m/015p6,0.1,0.2,0.1,0.2\n"
    )
    refs = read_open_images(csv)
    renamed = refs.renamed(names={"/m/015p6": "bird"})
    assert renamed.boxes["class_name"].tolist() == ["bird", "/m/other", "bird"]
    assert refs.boxes["class_name"].tolist() == ["/m/015p6", "/m/other", "/m/015p6"]
