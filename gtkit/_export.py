"""Exporting a job's boxes and classes: COCO JSON, YOLO text files, Pascal VOC XML, and an
augmented manifest for SageMaker training.

Images with zero boxes are kept in every format; box confidences and the human/machine flag are
kept where the format has room (COCO ``score`` and ``human_annotated``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import orjson
import pandas as pd

from gtkit._errors import GtkitError, excerpt
from gtkit._io import FOLDER_MARKER, atomic_folder, atomic_writer, check_folder
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


#: What a name made from a source-ref drops: control characters (NUL and line breaks among
#: them), Unicode line and paragraph separators, and lone surrogates (no file system takes them).
_UNWRITABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
#: The longest name part made from a source-ref, in bytes of UTF-8: room is left for a
#: ``-<index>`` and an extension within the file systems' 255.
_PART_BYTES = 200


def _fit(part: str) -> str:
    """``part`` cut to :data:`_PART_BYTES` bytes, keeping a short extension."""
    if len(part) * 4 <= _PART_BYTES or len(part.encode()) <= _PART_BYTES:
        return part
    stem, dot, extension = part.rpartition(".")
    if not (dot and stem and len(extension) <= 16):
        stem, dot, extension = part, "", ""
    room = _PART_BYTES - len((dot + extension).encode())
    return stem.encode()[:room].decode("utf-8", "ignore") + dot + extension


def _path_parts(source: object) -> list[str]:
    """The folders and file name of a source-ref, without its scheme, with no part that could
    lead out of an export folder (empty, ``.``, ``..``), end a file name early (NUL) or break
    a line, each short enough to be a file name."""
    if not isinstance(source, str) or not source.strip():
        return []
    path = source.strip().split("://", 1)[-1]
    parts = (_UNWRITABLE.sub("", p) for p in path.split("/"))
    return [_fit(p) for p in parts if p not in ("", ".", "..")]


def _with_index(name: str, index: int) -> str:
    """``name`` with ``-<index>`` after the stem of its last part."""
    folder, slash, last = name.rpartition("/")
    stem, dot, extension = last.rpartition(".")
    last = f"{stem}-{index}.{extension}" if dot and stem else f"{last}-{index}"
    return f"{folder}{slash}{last}"


def image_names(
    sources: Sequence[object],
    indexes: Sequence[int],
    *,
    stems: bool = False,
    suffix: str = "",
    reserved: Collection[str] = (),
) -> list[str]:
    """A name for each image, unique within one export: its file name, with as many of the
    folders above it as tell it from another image of the same file name (``a/0001.jpg``,
    ``b/0001.jpg``); an image listed twice gets its object index after the stem of every
    listing but the first; an object with no source is ``object-<index>``. With ``stems``,
    names without the extension, unique as such (``a.jpg`` and ``a.png`` would share a YOLO
    or VOC label file ``a.txt``), then ``suffix`` added. No name is one of ``reserved`` or the
    folder of another name, so that each can be written as a file of one folder.

    >>> image_names(["s3://b/a/1.jpg", "s3://b/c/1.jpg", "s3://b/2.jpg", "s3://b/2.jpg"],
    ...             [0, 1, 2, 3])
    ['a/1.jpg', 'c/1.jpg', '2.jpg', '2-3.jpg']
    >>> image_names(["s3://b/x.jpg", "s3://b/x.png", "s3://b/classes.jpg"], [0, 1, 2],
    ...             stems=True, suffix=".txt", reserved={"classes.txt"})
    ['x.txt', 'x-1.txt', 'classes-2.txt']
    """
    parts = [_path_parts(s) or [f"object-{i}"] for s, i in zip(sources, indexes, strict=True)]
    if stems:
        parts = [[*p[:-1], _stem(p[-1])] for p in parts]
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
    names = [f"{name}{suffix}" for name in names]
    folders: set[str] = set()
    for name in names:
        at = name.find("/")
        while at != -1:
            folders.add(name[:at])
            at = name.find("/", at + 1)
    taken = set(reserved)
    for k, name in enumerate(names):
        while name in taken or name in folders:  # each turn makes it longer: this ends
            name = _with_index(name, indexes[k])
        names[k] = name
        taken.add(name)
    return names


def _stem(name: str) -> str:
    stem = PurePosixPath(name).stem
    return stem if stem not in ("", ".", "..") else name


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


#: Each folder format's own files, besides one per image.
_OWN_FILES = {"yolo": ("classes.txt",), "voc": ()}


def _unwritable_class_names(categories: Sequence[tuple[int, str]]) -> list[str]:
    """What is wrong with each class name a folder export cannot write as it is: YOLO's
    ``classes.txt`` holds a name per line, so a line break in one, or a blank one (which
    readers drop), would shift every later class index; XML holds no control characters."""
    bad = []
    for cid, name in categories:
        if not name.strip():
            bad.append(f"class {cid} ({excerpt(name)}): a blank name")
        elif _UNWRITABLE.search(name):
            bad.append(f"class {cid} ({excerpt(name)}): a line break or control character")
    return bad


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
    file per image (empty for images with no boxes) and ``classes.txt``, a class name per line
    (the class index is the line's, from 0); VOC writes one XML per image. Returns the path
    written.

    A folder is written whole or not at all (a temporary folder beside it, renamed into place
    when complete, holding a ``.gtkit.json`` that says what it is): an interrupted export
    leaves nothing that looks complete. ``out`` must be new or empty, or (with ``overwrite``)
    an earlier export or download by gtkit, replaced whole: two jobs are never mixed in one
    folder. Class names that would shift YOLO's indices (line breaks, blank names) or break
    XML (control characters) are refused, every one named.
    """
    if fmt not in EXPORT_FORMATS:
        raise GtkitError(f"format {fmt!r}; allowed: {', '.join(EXPORT_FORMATS)}")
    target = Path(out)
    if fmt == "coco":
        data = to_coco(output, attribute=attribute)
        with atomic_writer(target, overwrite=overwrite) as f:
            f.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        return target
    check_folder(target, overwrite=overwrite)
    images, boxes = _detection(output, attribute)
    width, height = _image_sizes(images)
    categories = _categories(boxes)
    bad = _unwritable_class_names(categories)
    if bad:
        shown = "".join(f"\n  {b}" for b in bad[:20]) + (
            f"\n  and {len(bad) - 20} more" if len(bad) > 20 else ""
        )
        raise GtkitError(
            f"{output.manifest}: {len(bad)} class name(s) cannot be written to a {fmt} folder "
            f"(a name must be neither blank nor hold line breaks or control characters; COCO "
            f"JSON holds any name):{shown}"
        )
    grouped = dict(tuple(boxes.groupby("index", observed=True)))
    sources, indexes = images["source"].tolist(), images["index"].tolist()
    if fmt == "yolo":
        with_boxes = images["index"].isin(boxes["index"]).to_numpy()
        unsized = with_boxes & ~((width > 0) & (height > 0))
        if unsized.any():
            first = sources[int(np.flatnonzero(unsized)[0])]
            raise GtkitError(
                f"{excerpt(first)} and {int(unsized.sum()) - 1} more image(s) with boxes have "
                "no image_size, so their boxes cannot be written as fractions (YOLO)"
            )
    reserved = {*_OWN_FILES[fmt], FOLDER_MARKER}
    suffix = ".txt" if fmt == "yolo" else ".xml"
    files = image_names(sources, indexes, stems=True, suffix=suffix, reserved=reserved)
    names = image_names(sources, indexes)
    what = f"a {fmt} export of {output.manifest}"
    with atomic_folder(target, what=what, overwrite=overwrite) as work:
        if fmt == "yolo":
            order = {cid: n for n, (cid, _) in enumerate(categories)}
            (work / "classes.txt").write_text(
                "".join(f"{name}\n" for _, name in categories), encoding="utf-8"
            )
        for file, name, index, w, h in zip(
            files, names, images["index"], width, height, strict=True
        ):
            b = grouped.get(index, boxes.iloc[0:0])
            if fmt == "yolo":
                xc = (b["left"] + b["width"] / 2) / w
                yc = (b["top"] + b["height"] / 2) / h
                body = "".join(
                    f"{order[int(c)]} {x:.6f} {y:.6f} {bw / w:.6f} {bh / h:.6f}\n"
                    for c, x, y, bw, bh in zip(
                        b["class_id"], xc, yc, b["width"], b["height"], strict=True
                    )
                )
            else:
                body = _voc_xml(PurePosixPath(name).name, w, h, b, dict(categories))
            path = work / file
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("x", encoding="utf-8") as f:
                f.write(body)
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
