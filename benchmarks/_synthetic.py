"""Synthetic bounding-box jobs of any size for the benchmarks: whole output trees and references.

A job is written the way Ground Truth lays one out (``ground-truth-facts.md``, section 4), with
the variety real files show, so that a speed measured on it is not a speed of one line shape:

- ``manifests/output/output.manifest``: lines in three shapes taken at random: the 2019
  key order (metadata ``job-name, class-map, human-annotated, objects, creation-date, type``,
  ``annotations`` before ``image_size``, integer pixels), the later order with decimal pixels and
  microsecond dates, and images with no boxes (``annotations: []``, ``class-map: {}``); three
  classes, each line's ``class-map`` listing only the classes it uses; some file names with
  spaces; a creation date of its own on every line; 12 iterations, the first three human only,
  about 40% machine labels in all;
- with ``tree=True`` also what a downloaded job holds besides: one worker-response file per
  human-labeled object (5 workers), two consolidation-response files per iteration, and the
  auto-annotator output of each iteration that auto-labeled;
- references for every object in three formats: COCO JSON (pixels), an Open Images box CSV
  (fractions of the image size) and a Ground Truth output manifest.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ATTRIBUTE = "birds"
JOB = "bench-job"
CLASSES = ("bird", "nest", "egg")
ITERATIONS = 12
WORKERS = 5


def _plan(objects: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Iteration (1-12) and human flag of each object: 10 objects first, then two human-only
    iterations of a tenth each, then nine iterations that each auto-label some and send others
    to humans (about 40% machine labels in all)."""
    order = rng.permutation(objects)
    iteration = np.zeros(objects, dtype=np.int64)
    human = np.ones(objects, dtype=bool)
    first = min(10, objects)
    second = max(0, min(objects - first, objects // 10 - first))
    third = max(0, min(objects - first - second, objects // 10))
    at = 0
    for it, size in ((1, first), (2, second), (3, third)):
        iteration[order[at : at + size]] = it
        at += size
    rest = order[at:]
    for k, part in enumerate(np.array_split(rest, ITERATIONS - 3)):
        iteration[part] = 4 + k
        human[part[: int(len(part) * 0.35)]] = False  # machine labels
    return iteration, human


def write_tree(folder: Path, objects: int, *, seed: int = 0, tree: bool = True) -> Path:
    """Write a job's output under ``folder/bench-job`` (see the module docstring) and its
    references beside it (``reference.json``, ``reference.csv``, ``reference.manifest``);
    return the job folder."""
    rng = np.random.default_rng(seed)
    job = folder / JOB
    manifest = job / "manifests" / "output" / "output.manifest"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    iteration, human = _plan(objects, rng)
    shape = rng.choice(3, size=objects, p=[0.46, 0.46, 0.08])  # 2 = an image with no boxes
    counts = np.where(shape == 2, 0, rng.integers(1, 5, objects))
    total = int(counts.sum())
    ref_xy = rng.uniform(0, 380, (total, 2))
    ref_wh = rng.uniform(20, 120, (total, 2))
    label_xy = (
        ref_xy + rng.normal(0, 4, (total, 2)) * np.repeat(np.where(human, 1, 3), counts)[:, None]
    )
    classes = rng.choice(3, size=total, p=[0.7, 0.2, 0.1])
    confidence = rng.uniform(0.5, 1.0, total).round(2)
    width = np.where(rng.random(objects) < 0.5, 640, 500)
    height = np.full(objects, 480)
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    # Every line its own time, as real lines have (microseconds within its iteration's hour).
    offsets = rng.integers(0, 3_600_000_000, objects)
    names = [f"bird {i:08d}.jpg" if i % 7 == 0 else f"bird_{i:08d}.jpg" for i in range(objects)]
    ends = np.cumsum(counts)
    consolidated: dict[int, list[bytes]] = {}
    auto: dict[int, list[bytes]] = {}
    with manifest.open("wb") as out:
        for i in range(objects):
            b0, b1 = int(ends[i] - counts[i]), int(ends[i])
            line, value, meta = _line(
                i, names[i], int(shape[i]), label_xy[b0:b1], ref_wh[b0:b1], classes[b0:b1],
                confidence[b0:b1], int(width[i]), int(height[i]), bool(human[i]),
                start + timedelta(hours=int(iteration[i]), microseconds=int(offsets[i])),
            )  # fmt: skip
            out.write(line)
            it = int(iteration[i])
            content = {ATTRIBUTE: value, f"{ATTRIBUTE}-metadata": meta}
            if human[i]:
                consolidated.setdefault(it, []).append(
                    orjson.dumps(
                        {"datasetObjectId": str(i), "consolidatedAnnotation": {"content": content}}
                    )
                )
                if tree:
                    _worker_response(job, it, i, value, rng)
            else:
                auto.setdefault(it, []).append(f"{i} ".encode() + orjson.dumps(content))
    if tree:
        for it, items in consolidated.items():
            folder_ = job / "annotations/consolidated-annotation/consolidation-response"
            folder_ = folder_ / f"iteration-{it}"
            folder_.mkdir(parents=True, exist_ok=True)
            half = (len(items) + 1) // 2
            for k, part in enumerate((items[:half], items[half:])):
                stamp = (start + timedelta(hours=it, minutes=k)).strftime("%Y-%m-%d_%H:%M:%S")
                (folder_ / f"{stamp}.json").write_bytes(b"[" + b",".join(part) + b"]")
        for it, lines in auto.items():
            path = job / "activelearning" / "auto-annotation" / str(it) / "output"
            path.mkdir(parents=True, exist_ok=True)
            (path / "auto_annotator_output.txt").write_bytes(b"\n".join(lines) + b"\n")
    _references(folder, names, counts, ref_xy, ref_wh, classes, width, height)
    return job


def _line(
    index: int,
    name: str,
    shape: int,
    xy: np.ndarray,
    wh: np.ndarray,
    classes: np.ndarray,
    confidence: np.ndarray,
    width: int,
    height: int,
    human: bool,
    when: datetime,
) -> tuple[bytes, Any, Any]:
    used = sorted(set(classes.tolist()))
    class_map = {str(c): CLASSES[c] for c in used}
    source = f"s3://bench-bucket/birds/images/{name}"
    size = {"width": width, "height": height, "depth": 3}
    if shape == 0:  # the 2019 order and integer pixels
        boxes = [
            {"class_id": int(c), "width": int(w), "top": int(y), "height": int(h), "left": int(x)}
            for (x, y), (w, h), c in zip(xy.tolist(), wh.tolist(), classes.tolist(), strict=True)
        ]
        value = {"annotations": boxes, "image_size": [size]}
        meta = {
            "job-name": f"labeling-job/{JOB}",
            "class-map": class_map,
            "human-annotated": "yes" if human else "no",
            "objects": [{"confidence": float(c)} for c in confidence.tolist()],
            "creation-date": when.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "type": "groundtruth/object-detection",
        }
    else:  # the later order, decimal pixels (and shape 2: no boxes at all)
        boxes = [
            {"class_id": int(c), "left": round(x, 1), "top": round(y, 1), "width": round(w, 1),
             "height": round(h, 1)}
            for (x, y), (w, h), c in zip(xy.tolist(), wh.tolist(), classes.tolist(), strict=True)
        ]  # fmt: skip
        value = {"image_size": [size], "annotations": boxes}
        meta = {
            "objects": [{"confidence": float(c)} for c in confidence.tolist()],
            "class-map": class_map,
            "type": "groundtruth/object-detection",
            "human-annotated": "yes" if human else "no",
            "creation-date": when.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "job-name": f"labeling-job/{JOB}",
        }
    line = {"source-ref": source, ATTRIBUTE: value, f"{ATTRIBUTE}-metadata": meta}
    return orjson.dumps(line) + b"\n", value, meta


def _worker_response(job: Path, it: int, index: int, value: Any, rng: np.random.Generator) -> None:
    folder = job / "annotations" / "worker-response" / f"iteration-{it}" / str(index)
    folder.mkdir(parents=True, exist_ok=True)
    size = value["image_size"][0]
    answers = []
    for w in range(WORKERS):
        boxes = [
            {"label": CLASSES[b["class_id"]], "left": int(b["left"]) + int(rng.integers(-3, 4)),
             "top": int(b["top"]), "width": int(b["width"]), "height": int(b["height"])}
            for b in value["annotations"]
        ]  # fmt: skip
        answers.append(
            {
                "answerContent": {
                    "boundingBox": {
                        "boundingBoxes": boxes,
                        "inputImageProperties": {"width": size["width"], "height": size["height"]},
                    }
                },
                "submissionTime": f"2024-05-01T{it:02d}:{w:02d}:30.000Z",
                "acceptanceTime": f"2024-05-01T{it:02d}:{w:02d}:00.000Z",
                "timeSpentInSeconds": 30.0 + w,
                "workerId": f"private.us-east-1.{(index * 7 + w) % 97:026d}",
            }
        )
    (folder / f"2024-05-01_{it:02d}:00:00.json").write_bytes(orjson.dumps({"answers": answers}))


def _references(
    folder: Path,
    names: list[str],
    counts: np.ndarray,
    xy: np.ndarray,
    wh: np.ndarray,
    classes: np.ndarray,
    width: np.ndarray,
    height: np.ndarray,
) -> None:
    owner = np.repeat(np.arange(len(names)), counts)
    coco = {
        "images": [
            {"id": i + 1, "file_name": n, "width": int(width[i]), "height": int(height[i])}
            for i, n in enumerate(names)
        ],
        "annotations": [
            {
                "id": k + 1,
                "image_id": int(o) + 1,
                "category_id": int(c) + 1,
                "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                "area": w * h,
                "iscrowd": 0,
            }
            for k, (o, (x, y), (w, h), c) in enumerate(
                zip(owner.tolist(), xy.tolist(), wh.tolist(), classes.tolist(), strict=True)
            )
        ],
        "categories": [{"id": k + 1, "name": n} for k, n in enumerate(CLASSES)],
    }
    (folder / "reference.json").write_bytes(orjson.dumps(coco))
    with (folder / "reference.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax"]
        )
        for o, (x, y), (w, h), c in zip(
            owner.tolist(), xy.tolist(), wh.tolist(), classes.tolist(), strict=True
        ):
            fw, fh = float(width[o]), float(height[o])
            stem = names[o].rsplit(".", 1)[0]
            writer.writerow(
                [stem, "human", CLASSES[c], 1, f"{x / fw:.6f}", f"{(x + w) / fw:.6f}",
                 f"{y / fh:.6f}", f"{(y + h) / fh:.6f}"]
            )  # fmt: skip
    ends = np.cumsum(counts)
    with (folder / "reference.manifest").open("wb") as f:
        for i, n in enumerate(names):
            b0, b1 = int(ends[i] - counts[i]), int(ends[i])
            boxes = [
                {"class_id": int(c), "left": round(x, 2), "top": round(y, 2), "width": round(w, 2),
                 "height": round(h, 2)}
                for (x, y), (w, h), c in zip(xy[b0:b1].tolist(), wh[b0:b1].tolist(),
                                             classes[b0:b1].tolist(), strict=True)
            ]  # fmt: skip
            line = {
                "source-ref": f"s3://reference-bucket/birds/{n}",
                "truth": {
                    "annotations": boxes,
                    "image_size": [{"width": int(width[i]), "height": int(height[i]), "depth": 3}],
                },
                "truth-metadata": {
                    "objects": [{"confidence": 1.0} for _ in boxes],
                    "class-map": {str(k): CLASSES[k] for k in range(3)},
                    "type": "groundtruth/object-detection",
                    "human-annotated": "yes",
                    "creation-date": "2024-04-01T00:00:00",
                    "job-name": "labeling-job/reference",
                },
            }
            f.write(orjson.dumps(line) + b"\n")
