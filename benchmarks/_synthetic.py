"""A synthetic bounding-box job of any size, for the benchmarks: manifest lines and references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson


def write_job(folder: Path, objects: int, *, seed: int = 0) -> tuple[Path, Path]:
    """Write ``output.manifest`` (about 2 boxes per object, a third machine-labeled) and a COCO
    reference file; return both paths."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 5, objects)  # 0-4 boxes, mean 2
    xy = rng.uniform(0, 400, (int(counts.sum()), 2)).round(1)
    wh = rng.uniform(20, 100, (int(counts.sum()), 2)).round(1)
    conf = rng.uniform(0.5, 1.0, int(counts.sum())).round(2)
    jitter = rng.normal(0, 5, (int(counts.sum()), 2)).round(1)
    human = rng.random(objects) > 0.33
    manifest = folder / "output.manifest"
    images, annotations = [], []
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
            images.append({"id": i, "file_name": f"{i:08d}.jpg", "width": 500, "height": 500})
            for k in range(n):
                x, y = xy[at + k] + jitter[at + k]
                b = [float(x), float(y), float(wh[at + k, 0]), float(wh[at + k, 1])]
                annotations.append(
                    {"id": len(annotations), "image_id": i, "category_id": 1, "bbox": b}
                )
            at += n
    reference = folder / "reference.json"
    reference.write_bytes(
        orjson.dumps(
            {
                "images": images,
                "annotations": annotations,
                "categories": [{"id": 1, "name": "bird"}],
            }
        )
    )
    return manifest, reference
