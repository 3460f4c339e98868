"""A synthetic bounding-box job of any size, for the benchmarks: manifest lines and references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson


def write_job(folder: Path, objects: int, *, seed: int = 0) -> tuple[Path, Path]:
    """Write ``output.manifest`` (about 2 boxes per object, a third machine-labeled) and an Open
    Images box CSV of reference boxes (fractions of the 500 x 500 images, as the AWS blog's
    references were); return both paths."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 5, objects)  # 0-4 boxes, mean 2
    xy = rng.uniform(0, 400, (int(counts.sum()), 2)).round(1)
    wh = rng.uniform(20, 100, (int(counts.sum()), 2)).round(1)
    conf = rng.uniform(0.5, 1.0, int(counts.sum())).round(2)
    jitter = rng.normal(0, 5, (int(counts.sum()), 2)).round(1)
    human = rng.random(objects) > 0.33
    manifest = folder / "output.manifest"
    rows: list[str] = ["ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax"]
    at = 0
    with manifest.open("wb") as f:
        for i in range(objects):
            n = int(counts[i])
            boxes = [
                {"class_id": 0, "left": float(xy[at + k, 0]), "top": float(xy[at + k, 1]),
                 "width": float(wh[at + k, 0]), "height": float(wh[at + k, 1])}
                for k in range(n)
            ]  # fmt: skip
            line = {
                "source-ref": f"s3://bench/images/{i:08d}.jpg",
                "birds": {
                    "annotations": boxes,
                    "image_size": [{"width": 500, "height": 500, "depth": 3}],
                },
                "birds-metadata": {
                    "objects": [{"confidence": float(conf[at + k])} for k in range(n)],
                    "class-map": {"0": "bird"},
                    "type": "groundtruth/object-detection",
                    "human-annotated": "yes" if human[i] else "no",
                    "creation-date": "2019-01-01T00:00:00.000000",
                    "job-name": "labeling-job/bench",
                },
            }
            f.write(orjson.dumps(line) + b"\n")
            for k in range(n):
                x, y = (xy[at + k] + jitter[at + k]) / 500
                w, h = wh[at + k] / 500
                rows.append(f"{i:08d},human,/m/015p6,1,{x:.5f},{x + w:.5f},{y:.5f},{y + h:.5f}")
            at += n
    reference = folder / "reference.csv"
    reference.write_text("\n".join(rows) + "\n")
    return manifest, reference
