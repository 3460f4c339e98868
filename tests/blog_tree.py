"""A synthetic output tree shaped like the AWS blog's job, written the way Ground Truth lays it out.

1,000 images; iterations 1-3 send 10, 190 and 200 images to humans; iteration 4 auto-labels 27
and sends 200 more to humans; iteration 5 auto-labels 365 and sends the last 8 to humans
(608 human and 392 machine labels). Reference boxes are returned for quality tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ATTR = "birds"
JOB = "birds-job"
PLAN = {1: (10, 0), 2: (190, 0), 3: (200, 0), 4: (200, 27), 5: (8, 365)}  # human, auto


def write_blog_tree(root: Path, *, seed: int = 0) -> dict[str, list[list[float]]]:
    """Write the tree under ``root``/birds-job; return reference boxes by file name (xywh px)."""
    rng = np.random.default_rng(seed)
    job = root / JOB
    order = rng.permutation(1000)
    plan: list[tuple[int, int, bool]] = []  # (object index, iteration, human)
    at = 0
    for it, (human, auto) in PLAN.items():
        for k in range(auto):
            plan.append((int(order[at + k]), it, False))
        for k in range(human):
            plan.append((int(order[at + auto + k]), it, True))
        at += human + auto
    lines: list[dict[str, object]] = [{} for _ in range(1000)]
    references: dict[str, list[list[float]]] = {}
    al_lines: dict[int, list[str]] = {}
    responses: dict[int, list[dict[str, object]]] = {}
    for index, it, human in plan:
        name = f"img{index:04d}.jpg"
        n = int(rng.integers(1, 5)) if human and it == 4 else int(rng.integers(1, 3))
        ref = [
            [float(rng.integers(0, 300)), float(rng.integers(0, 300)), 80.0, 60.0] for _ in range(n)
        ]
        references[name] = ref
        jitter = 4.0 if human else 12.0
        boxes = [[x + rng.normal(0, jitter), y + rng.normal(0, jitter), w, h] for x, y, w, h in ref]
        conf = [round(float(rng.uniform(0.6, 0.99)), 2) for _ in boxes]
        label = {
            ATTR: {
                "annotations": [
                    {"class_id": 0, "left": round(b[0], 1), "top": round(b[1], 1),
                     "width": b[2], "height": b[3]}
                    for b in boxes
                ],
                "image_size": [{"width": 500, "height": 400, "depth": 3}],
            },
            f"{ATTR}-metadata": {
                "objects": [{"confidence": c} for c in conf],
                "class-map": {"0": "bird"},
                "type": "groundtruth/object-detection",
                "human-annotated": "yes" if human else "no",
                "creation-date": f"2019-01-01T0{it}:00:00.000000",
                "job-name": f"labeling-job/{JOB}",
            },
        }  # fmt: skip
        lines[index] = {"source-ref": f"s3://bucket/birds/{name}", **label}
        if human:
            responses.setdefault(it, []).append({"datasetObjectId": str(index), **label})
            answers = {
                "answers": [
                    {
                        "answerContent": {"boundingBox": {"boundingBoxes": []}},
                        "workerId": f"public.us-east-1.W{w}",
                        "submissionTime": f"2019-01-01T0{it}:00:0{w}Z",
                    }
                    for w in range(5)
                ]
            }
            folder = job / "annotations" / "worker-response" / f"iteration-{it}" / str(index)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "2019-01-01_00:00:00.json").write_text(json.dumps(answers))
        else:
            al_lines.setdefault(it, []).append(f"{index} {json.dumps(label)}")
    for it, items in responses.items():
        folder = (
            job / "annotations/consolidated-annotation/consolidation-response" / f"iteration-{it}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        body = [
            {"datasetObjectId": r["datasetObjectId"],
             "consolidatedAnnotation": {"content": {k: v for k, v in r.items() if k != "datasetObjectId"}}}
            for r in items
        ]  # fmt: skip
        (folder / "2019-01-01_00:00:00.json").write_text(json.dumps(body))
    for it, rows in al_lines.items():
        folder = job / "activelearning" / "auto-annotation" / str(it) / "work"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "auto_annotator_output.txt").write_text("\n".join(rows) + "\n")
    out = job / "manifests" / "output"
    out.mkdir(parents=True)
    (out / "output.manifest").write_text("".join(json.dumps(line) + "\n" for line in lines))
    return references


def write_coco(
    references: dict[str, list[list[float]]], path: Path, *, category_id: int = 1
) -> Path:
    """Write reference boxes (by file name, xywh px, 500 x 400 images) as a COCO file."""
    coco = {
        "images": [{"id": i, "file_name": n, "width": 500, "height": 400} for i, n in enumerate(references)],
        "annotations": [
            {"id": 1000 * i + k, "image_id": i, "category_id": category_id, "bbox": b}
            for i, boxes in enumerate(references.values()) for k, b in enumerate(boxes)
        ],
        "categories": [{"id": category_id, "name": "bird"}],
    }  # fmt: skip
    path.write_text(json.dumps(coco))
    return path
