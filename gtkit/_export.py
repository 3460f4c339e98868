"""Exporting a job's boxes and classes: COCO JSON, YOLO text files, Pascal VOC XML, and an
augmented manifest for SageMaker training.

Images with zero boxes are kept in every format; box confidences and the human/machine flag are
kept where the format has room (COCO ``score`` and ``human_annotated``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import orjson
import pandas as pd

from gtkit._errors import GtkitError, OverwriteError
from gtkit._io import atomic_writer
from gtkit._output import JobOutput

__all__ = ["EXPORT_FORMATS", "image_names", "to_augmented_manifest", "to_coco", "write_export"]

EXPORT_FORMATS = ("coco", "yolo", "voc")


def _detection(output: JobOutput, attribute: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    objects = output.objects
    detections = objects[objects["task_type"] == "object-detection"]
    attributes = list(dict.fromkeys(detections["attribute"].dropna()))
    if not attributes:
        raise GtkitError(f"{output.manifest}: no object-detection labels to export")
    if attribute is None:
        if len(attributes) > 1:
            raise GtkitError(
                f"{output.manifest} has several box attributes ({', '.join(attributes)}); "
                "choose one with attribute="
            )
        attribute = attributes[0]
    elif attribute not in attributes:
        raise GtkitError(f"no box attribute {attribute!r}; found: {', '.join(attributes)}")
    images = detections[detections["attribute"] == attribute].drop_duplicates("index")
    boxes = output.boxes[output.boxes["attribute"] == attribute]
    return images.reset_index(drop=True), boxes.reset_index(drop=True)


def _categories(boxes: pd.DataFrame) -> list[tuple[int, str]]:
    pairs = boxes[["class_id", "class_name"]].drop_duplicates("class_id").sort_values("class_id")
    return [
        (int(cid), str(name) if isinstance(name, str) else f"class_{cid}")
        for cid, name in zip(pairs["class_id"], pairs["class_name"], strict=True)
    ]


def _image_sizes(images: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each image's width and height (pixels) from its line's ``image_size``, boxes or not."""
    width = images["image_width"].to_numpy(dtype="float64", na_value=np.nan)
    height = images["image_height"].to_numpy(dtype="float64", na_value=np.nan)
    return width, height


def _path_parts(source: object) -> list[str]:
    """The folders and file name of a source-ref, without its scheme, with no part that could
    lead out of an export folder (empty, ``.``, ``..``) or end a file name early (NUL)."""
    if not isinstance(source, str) or not source.strip():
        return []
    path = source.strip().split("://", 1)[-1]
    return [
        p.replace("\0", "") for p in path.split("/") if p.replace("\0", "") not in ("", ".", "..")
    ]


def image_names(
    sources: Sequence[object], indexes: Sequence[int], *, stems: bool = False
) -> list[str]:
    """A name for each image, unique within one export: its file name, with as many of the
    folders above it as tell it from another image of the same file name (``a/0001.jpg``,
    ``b/0001.jpg``); an image listed twice gets its object index after the stem of every
    listing but the first; an object with no source is ``object-<index>``. With ``stems``,
    names without the extension, unique as such (``a.jpg`` and ``a.png`` would share a YOLO
    or VOC label file ``a.txt``).

    >>> image_names(["s3://b/a/1.jpg", "s3://b/c/1.jpg", "s3://b/2.jpg", "s3://b/2.jpg"],
    ...             [0, 1, 2, 3])
    ['a/1.jpg', 'c/1.jpg', '2.jpg', '2-3.jpg']
    >>> image_names(["s3://b/x.jpg", "s3://b/x.png"], [0, 1], stems=True)
    ['x', 'x-1']
    """
    parts = [_path_parts(s) or [f"object-{i}"] for s, i in zip(sources, indexes, strict=True)]
    if stems:
        parts = [[*p[:-1], PurePosixPath(p[-1]).stem or p[-1]] for p in parts]
    depth = [1] * len(parts)
    names = [p[-1] for p in parts]
    while True:
        sources_of: dict[str, set[tuple[str, ...]]] = {}
        for p, name in zip(parts, names, strict=True):
            sources_of.setdefault(name, set()).add(tuple(p))
        clashing = [
            k for k, name in enumerate(names)
            if len(sources_of[name]) > 1 and depth[k] < len(parts[k])
        ]  # fmt: skip
        if not clashing:
            break
        for k in clashing:
            depth[k] += 1
            names[k] = "/".join(parts[k][-depth[k] :])
    seen: set[str] = set()
    for k, name in enumerate(names):
        if name in seen:
            stem, dot, extension = name.rpartition(".")
            names[k] = (
                f"{stem}-{indexes[k]}.{extension}" if dot and stem else f"{name}-{indexes[k]}"
            )
        seen.add(names[k])
    return names


def to_coco(output: JobOutput, *, attribute: str | None = None) -> dict[str, Any]:
    """Boxes as a COCO dataset dict (boxes in pixels, ids numeric, categories a list).

    Image sizes come from each line's ``image_size``; an image with no boxes and no size keeps
    width and height 0. Each annotation carries ``score`` (the box confidence, or 1.0 where
    none) and ``human_annotated``.
    """
    images, boxes = _detection(output, attribute)
    width, height = _image_sizes(images)
    indexes = images["index"].tolist()
    sources = images["source"].tolist()
    coco_images = [
        {
            "id": int(i) + 1,
            "file_name": name,
            "width": int(w) if w == w else 0,
            "height": int(h) if h == h else 0,
            "source_ref": src,
        }
        for i, name, src, w, h in zip(
            indexes, image_names(sources, indexes), sources, width, height, strict=True
        )
    ]
    human = dict(zip(images["index"], images["human"], strict=True))
    b = boxes
    score = b["confidence"].fillna(1.0).to_numpy()
    area = (b["width"] * b["height"]).to_numpy()
    annotations = [
        {
            "id": n + 1,
            "image_id": int(i) + 1,
            "category_id": int(c),
            "bbox": [float(x), float(y), float(w), float(h)],
            "area": float(a),
            "iscrowd": 0,
            "score": float(s),
            "human_annotated": None if pd.isna(human.get(i)) else bool(human.get(i)),
        }
        for n, (i, c, x, y, w, h, a, s) in enumerate(
            zip(
                b["index"],
                b["class_id"],
                b["left"],
                b["top"],
                b["width"],
                b["height"],
                area,
                score,
                strict=True,
            )
        )
    ]
    return {
        "info": {"description": f"Ground Truth labels from {output.manifest}"},
        "images": coco_images,
        "annotations": annotations,
        "categories": [{"id": cid, "name": name} for cid, name in _categories(boxes)],
    }


def _check_free(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise OverwriteError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")


def write_export(
    output: JobOutput,
    fmt: str,
    out: str | os.PathLike[str],
    *,
    attribute: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write boxes as ``coco`` (one JSON file), ``yolo`` or ``voc`` (a folder of files).

    YOLO files hold ``class x_center y_center width height`` as fractions of the image size, one
    file per image (empty for images with no boxes) and ``classes.txt``; VOC writes one XML per
    image. Returns the path written.
    """
    if fmt not in EXPORT_FORMATS:
        raise GtkitError(f"format {fmt!r}; allowed: {', '.join(EXPORT_FORMATS)}")
    target = Path(out)
    if fmt == "coco":
        data = to_coco(output, attribute=attribute)
        with atomic_writer(target, overwrite=overwrite) as f:
            f.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        return target
    images, boxes = _detection(output, attribute)
    width, height = _image_sizes(images)
    categories = _categories(boxes)
    grouped = dict(tuple(boxes.groupby("index", observed=True)))
    sources, indexes = images["source"].tolist(), images["index"].tolist()
    suffix = ".txt" if fmt == "yolo" else ".xml"
    files = [f"{stem}{suffix}" for stem in image_names(sources, indexes, stems=True)]
    names = image_names(sources, indexes)
    for file in files:
        _check_free(target / file, overwrite)
    target.mkdir(parents=True, exist_ok=True)
    if fmt == "yolo":
        order = {cid: n for n, (cid, _) in enumerate(categories)}
        with atomic_writer(target / "classes.txt", overwrite=True) as f:
            f.write("".join(f"{name}\n" for _, name in categories).encode())
    for file, name, index, src, w, h in zip(
        files, names, images["index"], images["source"], width, height, strict=True
    ):
        b = grouped.get(index, boxes.iloc[0:0])
        if fmt == "yolo":
            if len(b) and not (w > 0 and h > 0):
                raise GtkitError(f"{src}: no image_size, so boxes cannot be written as fractions")
            xc = (b["left"] + b["width"] / 2) / w
            yc = (b["top"] + b["height"] / 2) / h
            lines = [
                f"{order[int(c)]} {x:.6f} {y:.6f} {bw / w:.6f} {bh / h:.6f}\n"
                for c, x, y, bw, bh in zip(
                    b["class_id"], xc, yc, b["width"], b["height"], strict=True
                )
            ]
            body = "".join(lines)
        else:
            body = _voc_xml(PurePosixPath(name).name, w, h, b, dict(categories))
        with atomic_writer(target / file, overwrite=overwrite) as f:
            f.write(body.encode())
    return target


def _voc_xml(name: str, w: float, h: float, b: pd.DataFrame, names: dict[int, str]) -> str:
    objects = "".join(
        "  <object>\n"
        f"    <name>{escape(names.get(int(c), str(c)))}</name>\n"
        "    <difficult>0</difficult>\n"
        "    <bndbox>\n"
        f"      <xmin>{x:g}</xmin>\n      <ymin>{y:g}</ymin>\n"
        f"      <xmax>{x + bw:g}</xmax>\n      <ymax>{y + bh:g}</ymax>\n"
        "    </bndbox>\n"
        "  </object>\n"
        for c, x, y, bw, bh in zip(
            b["class_id"], b["left"], b["top"], b["width"], b["height"], strict=True
        )
    )
    return (
        "<annotation>\n"
        f"  <filename>{escape(name)}</filename>\n"
        f"  <size>\n    <width>{int(w) if w == w else 0}</width>\n"
        f"    <height>{int(h) if h == h else 0}</height>\n    <depth>3</depth>\n  </size>\n"
        f"{objects}</annotation>\n"
    )


def to_augmented_manifest(
    output: JobOutput,
    dest: str | os.PathLike[str],
    *,
    attribute: str | None = None,
    overwrite: bool = False,
) -> int:
    """Write an augmented manifest for SageMaker's built-in object detection training.

    One line per labeled, non-failed image: ``source-ref``, the attribute's boxes and
    ``image_size``, and its metadata with ``class-map``. Returns the number of lines written.
    """
    images, boxes = _detection(output, attribute)
    attr = str(images["attribute"].iloc[0])
    images = images[images["failure_reason"].isna()]
    width, height = _image_sizes(images)
    names = dict(_categories(boxes))
    grouped = dict(tuple(boxes.groupby("index", observed=True)))
    count = 0
    with atomic_writer(dest, overwrite=overwrite) as f:
        for index, src, human, w, h in zip(
            images["index"], images["source"], images["human"], width, height, strict=True
        ):
            b = grouped.get(index, boxes.iloc[0:0])
            line = {
                "source-ref": src,
                attr: {
                    "image_size": [
                        {
                            "width": int(w) if w == w else 0,
                            "height": int(h) if h == h else 0,
                            "depth": 3,
                        }
                    ],
                    "annotations": [
                        {
                            "class_id": int(c),
                            "left": float(x),
                            "top": float(y),
                            "width": float(bw),
                            "height": float(bh),
                        }
                        for c, x, y, bw, bh in zip(
                            b["class_id"], b["left"], b["top"], b["width"], b["height"], strict=True
                        )
                    ],
                },
                f"{attr}-metadata": {
                    "objects": [
                        {"confidence": float(c) if c == c else 0.0} for c in b["confidence"]
                    ],
                    "class-map": {str(c): names[int(c)] for c in sorted(set(b["class_id"]))},
                    "type": "groundtruth/object-detection",
                    "human-annotated": "yes" if pd.isna(human) or bool(human) else "no",
                },
            }
            f.write(orjson.dumps(line) + b"\n")
            count += 1
    return count
