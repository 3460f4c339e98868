"""Reference labels to compare a job's labels with, matched to job objects by file name.

Readers for COCO JSON, Open Images box CSVs (``XMin, XMax, YMin, YMax`` as fractions), CUB-200
(``images.txt`` and ``bounding_boxes.txt`` in pixels), and another Ground Truth output manifest.
Every reader returns :class:`References`: columnar boxes keyed by file name (the basename of
``source-ref``), the set of images that have references (images with zero boxes included), and
for classification the reference class of each image.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

import numpy as np
import orjson
import pandas as pd

from gtkit._errors import ReferenceLabelError
from gtkit._output import read_manifest
from gtkit._parse import file_ranges, map_blocks

__all__ = [
    "References",
    "file_name",
    "file_names",
    "image_positions",
    "read_coco",
    "read_cub",
    "read_gt_manifest",
    "read_open_images",
    "read_references",
]


def file_name(source: object) -> str | None:
    """The matching key of an object: the basename of its ``source-ref`` (None for text).

    >>> file_name("s3://bucket/birds/0001.jpg ")
    '0001.jpg'
    """
    if not isinstance(source, str) or not source:
        return None
    return source.strip().rstrip("/").rpartition("/")[2] or None


def file_names(sources: pd.Series | np.ndarray) -> pd.Series:
    """:func:`file_name` of every source in a column (None where there is none), with the
    column's index."""
    values = sources.tolist()
    compiled = _compiled()
    names = compiled.file_names(values) if compiled else [file_name(s) for s in values]
    index = sources.index if isinstance(sources, pd.Series) else None
    return pd.Series(names, index=index, dtype="object")


def image_positions(image_names: np.ndarray, sources: pd.Series | np.ndarray) -> np.ndarray:
    """Each source's reference image: the position of its file name (:func:`file_name`) in
    ``image_names`` (distinct file names), or -1. How objects find their references."""
    compiled = _compiled()
    if compiled:
        try:
            found = compiled.image_positions(image_names.tolist(), sources.tolist())
        except TypeError:  # a name that is not text: pandas handles any kind
            pass
        else:
            return np.frombuffer(found, dtype=np.int64)
    names = file_names(sources).to_numpy(dtype=object)
    out: np.ndarray = pd.Index(image_names, dtype=object).get_indexer(names).astype(np.int64)
    return out


#: Whether the compiled matching is used, where it was built (tests turn it off to compare).
COMPILED = True


def _compiled() -> ModuleType | None:
    if not COMPILED:
        return None
    try:
        from gtkit import _match
    except ImportError:  # installed where it could not be compiled
        return None
    return _match


class _Names(AbstractSet[str]):
    """Distinct names held in an array, as a set made on first use (a million names take
    0.15 s to hash, and the analysis matches by the array instead)."""

    def __init__(self, names: np.ndarray) -> None:
        self._names = names
        self._set: frozenset[str] | None = None

    def _made(self) -> frozenset[str]:
        if self._set is None:
            self._set = frozenset(self._names.tolist())
        return self._set

    def __contains__(self, name: object) -> bool:
        return name in self._made()

    def __iter__(self) -> Iterator[str]:
        return iter(self._made())

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<{len(self._names):,} image names>"


@dataclass
class References:
    """Reference labels: ``boxes`` (file_name, class_name, left, top, width, height, and
    ``normalized`` True where coordinates are fractions of the image size), ``classes``
    (file_name, class_name) and ``images``, every file name that has references."""

    boxes: pd.DataFrame
    classes: pd.DataFrame
    images: AbstractSet[str]
    source: str
    image_sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # width, height px
    _codes: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def image_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """Each box's image as a position in an array of image names (every image with
        references, each once): matching by integer rather than by string, for millions of
        boxes. Computed once."""
        if self._codes is None:
            codes, names = pd.factorize(self.boxes["file_name"].to_numpy(dtype=object))
            names = np.asarray(names, dtype=object)
            without_boxes = set(self.images).difference(names.tolist())
            if without_boxes:
                names = np.concatenate([names, np.array(sorted(without_boxes), dtype=object)])
            self._codes = (codes.astype(np.int64), names)
        return self._codes

    def renamed(
        self, single_class: str | None = None, names: Mapping[str, str] | None = None
    ) -> References:
        """The same references with class names mapped (``names``) or all set to one name."""
        # Shallow copies: the class column is replaced, never changed in place.
        boxes, classes = self.boxes.copy(deep=False), self.classes.copy(deep=False)
        for df in (boxes, classes):
            if single_class is not None:
                df["class_name"] = single_class
            elif names and len(df):
                # Each distinct name mapped once: reference files run to millions of rows.
                codes, distinct = pd.factorize(
                    df["class_name"].to_numpy(dtype=object), use_na_sentinel=False
                )
                mapped = np.empty(len(distinct), dtype=object)
                mapped[:] = [names.get(c, c) for c in distinct]
                df["class_name"] = mapped[codes]
        return References(boxes, classes, self.images, self.source, self.image_sizes, self._codes)


def _boxes_frame(
    names: Sequence[str] | np.ndarray,
    classes: Sequence[str] | np.ndarray,
    xywh: np.ndarray,
    *,
    normalized: bool,
) -> pd.DataFrame:
    xywh = xywh.reshape(-1, 4).astype(np.float64, copy=False)  # columns of Fortran order: views
    # Columns made here are wrapped, not copied (copy=False): reference files run to millions.
    frame: pd.DataFrame = pd.DataFrame(
        {
            "file_name": pd.Series(names, dtype="object"),
            "class_name": pd.Series(classes, dtype="object"),
            "left": np.ascontiguousarray(xywh[:, 0]),
            "top": np.ascontiguousarray(xywh[:, 1]),
            "width": np.ascontiguousarray(xywh[:, 2]),
            "height": np.ascontiguousarray(xywh[:, 3]),
            "normalized": np.full(len(names), normalized),
        },
        copy=False,
    )
    return frame


def _empty_classes() -> pd.DataFrame:
    frame: pd.DataFrame = pd.DataFrame(
        {"file_name": pd.Series(dtype="object"), "class_name": pd.Series(dtype="object")}
    )
    return frame


def read_coco(path: str | os.PathLike[str]) -> References:
    """Read a COCO JSON file: ``images`` with ``file_name``, ``annotations`` with ``bbox`` (px)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ReferenceLabelError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        doc = orjson.loads(data)
        if isinstance(doc, list):
            return _class_list(doc, p)
        images = {
            int(img["id"]): PurePosixPath(str(img["file_name"])).name for img in doc["images"]
        }
        sizes = {
            PurePosixPath(str(img["file_name"])).name: (int(img["width"]), int(img["height"]))
            for img in doc["images"]
            if "width" in img and "height" in img
        }
        categories = doc.get("categories") or []
        if isinstance(categories, dict):  # some writers emit {id: name}
            cat_names = {int(k): str(v) for k, v in categories.items()}
        else:
            cat_names = {int(c["id"]): str(c["name"]) for c in categories}
        anns = doc.get("annotations") or []
        # Column by column, not one Python object per box: COCO files run to millions of boxes.
        image_ids = np.fromiter((a["image_id"] for a in anns), dtype=np.int64, count=len(anns))
        cat_ids = np.fromiter(
            (a.get("category_id", -1) for a in anns), dtype=np.int64, count=len(anns)
        )
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        id_order = np.array(sorted(images), dtype=np.int64)
        id_names = np.array([images[i] for i in id_order.tolist()], dtype=object)
        at = np.searchsorted(id_order, image_ids)
        if len(anns) and (at.max() >= len(id_order) or (id_order[at] != image_ids).any()):
            raise KeyError("an annotation's image_id names no image")
        names = id_names[at].tolist() if len(anns) else []
        categories_seen = {int(c): cat_names.get(int(c), str(int(c))) for c in np.unique(cat_ids)}
        classes = [categories_seen[c] for c in cat_ids.tolist()]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ReferenceLabelError(f"{p}: not a COCO file ({exc!r})") from None
    return References(
        _boxes_frame(names, classes, xywh, normalized=False),
        _empty_classes(),
        frozenset(images.values()),
        str(p),
        sizes,
    )


def _class_list(doc: list[object], p: Path) -> References:
    """A JSON list of image classes: ``[{"ImageId" or "file_name": ..., "Label": ...}]``."""
    names: list[str] = []
    labels: list[str] = []
    for n, item in enumerate(doc):
        if not isinstance(item, dict):
            raise ReferenceLabelError(f"{p}: item {n} is not an object")
        name = item.get("file_name") or item.get("ImageId")
        label = item.get("class_name") or item.get("Label")
        if not isinstance(name, str) or not isinstance(label, str):
            raise ReferenceLabelError(f"{p}: item {n} needs ImageId (or file_name) and Label")
        names.append(name if "." in name else f"{name}.jpg")
        labels.append(label)
    classes = pd.DataFrame({"file_name": names, "class_name": labels})
    boxes = _boxes_frame([], [], np.zeros((0, 4)), normalized=False)
    return References(boxes, classes, frozenset(names), str(p))


def read_open_images(path: str | os.PathLike[str]) -> References:
    """Read an Open Images box CSV (``ImageID, LabelName, XMin, XMax, YMin, YMax`` fractions).

    File names are ``<ImageID>.jpg``; classes are the ``LabelName`` values (use
    :meth:`References.renamed` to map them to the job's label names). The full Open Images box
    file has millions of rows: it is read column-wise with pandas' C parser, in byte ranges on
    every core as manifests are (``GTKIT_WORKERS`` applies), each image's file name made once.
    """
    p = Path(path)
    needed = ["ImageID", "XMin", "XMax", "YMin", "YMax"]
    try:
        header = [str(c) for c in pd.read_csv(p, nrows=0).columns]
        size = p.stat().st_size
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReferenceLabelError(f"{p}: cannot read as CSV ({exc})") from None
    missing = [c for c in needed if c not in header]
    if missing:
        raise ReferenceLabelError(
            f"{p}: missing column(s) {', '.join(missing)}; expected {', '.join(needed)}"
        )
    read = partial(_open_images_part, header=header)
    try:
        threads = _compiled_csv() is not None  # it reads without the GIL
        ranges = file_ranges(str(p), _CSV_BLOCK)
        found = list(map_blocks(read, ranges, threads=threads))
        if any(part is None for part in found):
            found = [read((str(p), 0, size), whole=True)]  # never None
    except OSError as exc:
        raise ReferenceLabelError(f"{p}: cannot read ({exc.strerror})") from None
    done: list[_Part] = []
    rows = 0
    for part in found:
        if not isinstance(part, _Part):
            raise ReferenceLabelError(f"{p}: cannot read as CSV ({part})")
        if part.bad_row >= 0:
            line = rows + part.bad_row + 2  # 1-based, after the header
            raise ReferenceLabelError(f"{p}:{line}: XMin, XMax, YMin and YMax must be numbers")
        rows += len(part.coords)
        done.append(part)
    image, files = _factorize_parts([part.images for part in done])
    names = files[image]
    labels = [part.labels for part in done if part.labels is not None]
    if labels:
        label, label_names = _factorize_parts(labels)
        classes = label_names[label]
    else:
        classes = np.full(len(names), "", dtype=object)
    xywh = np.empty((rows, 4), order="F")  # one copy, each column contiguous
    at = 0
    for part in done:
        xywh[at : at + len(part.coords)] = part.coords
        at += len(part.coords)
    return References(
        _boxes_frame(names, classes, xywh, normalized=True),
        _empty_classes(),
        _Names(files),  # distinct: factorized
        str(p),
        _codes=(image, files),
    )


_CSV_BLOCK = 8 << 20  # bytes of a reference CSV read at a time, by one worker


@dataclass
class _Part:
    """One byte range of an Open Images CSV: file names (``<ImageID>.jpg``) and labels
    factorized, and the coordinates; ``bad_row`` is the first row (from 0) whose coordinates
    are not numbers."""

    images: tuple[np.ndarray, np.ndarray]
    labels: tuple[np.ndarray, np.ndarray] | None  # None where the file has no LabelName
    coords: np.ndarray  # left, top, width, height (fractions), in Fortran order
    bad_row: int


def _open_images_part(
    part: tuple[str, int, int], header: list[str], whole: bool = False
) -> _Part | str | None:
    """Read one byte range of an Open Images CSV (the first holds the header), or with
    ``whole`` the whole file. A range that holds a quote (a quoted field may hold a newline)
    or that is not CSV gives None: the caller reads the whole file, and a parser's message
    then names the right line."""
    columns = ["ImageID", "XMin", "XMax", "YMin", "YMax"]
    labels = "LabelName" in header
    options: dict[str, Any] = {
        "usecols": [*columns, "LabelName"] if labels else columns,
        "dtype": {"ImageID": str, "LabelName": str},
        "keep_default_na": False,
    }
    path, start, end = part
    try:
        if whole:
            chunk = pd.read_csv(path, **options)
        else:
            with Path(path).open("rb") as f:
                f.seek(start)
                data = f.read(end - start)
            if start == 0:
                data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
            if b'"' in data:
                return None
            compiled = _compiled_part(data, header)
            if compiled is not None:
                return compiled
            if not data.strip():
                data = ",".join(header).encode()  # the header alone: no rows
            else:
                options.update(header=None, names=header)
            chunk = pd.read_csv(io.BytesIO(data), **options)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        return str(exc) if whole else None
    coords = chunk[columns[1:]]
    if not all(kind.kind in "fi" for kind in coords.dtypes):
        coords = coords.apply(pd.to_numeric, errors="coerce")
    bad = np.flatnonzero(coords.isna().any(axis=1).to_numpy())
    codes, ids = _factorize(chunk["ImageID"])
    return _Part(
        images=(codes, np.array([f"{i}.jpg" for i in ids], dtype=object)),
        labels=_factorize(chunk["LabelName"]) if labels else None,
        coords=_xywh(coords.to_numpy(dtype=np.float64)),
        bad_row=int(bad[0]) if len(bad) else -1,
    )


def _compiled_part(rows: bytes, header: list[str]) -> _Part | None:
    """A range's rows read by the compiled reader, where it was built and the rows are of
    the simple kind it reads (see ``_scan.c``); else None, and pandas reads them."""
    scan_csv = _compiled_csv()
    if scan_csv is None or len(set(header)) != len(header):
        return None
    label = header.index("LabelName") if "LabelName" in header else -1
    columns = (header.index("ImageID"), label, *(header.index(c) for c in _CORNERS))
    found = scan_csv(rows, len(header), columns, b".jpg")  # file names: <ImageID>.jpg
    if found is None:
        return None
    codes, corners, images, labels = found
    code = np.frombuffer(codes).reshape(-1, 2).astype(np.int64)
    return _Part(
        images=(code[:, 0], np.array(images, dtype=object)),
        labels=(code[:, 1], np.array(labels, dtype=object)) if label >= 0 else None,
        coords=_xywh(np.frombuffer(corners).reshape(-1, 4)),
        bad_row=-1,
    )


_CORNERS = ("XMin", "XMax", "YMin", "YMax")


def _compiled_csv() -> (
    Callable[[bytes, int, tuple[int, ...], bytes], tuple[bytes, bytes, list[str], list[str]] | None]
    | None
):
    if not COMPILED:
        return None
    try:
        from gtkit._scan import scan_csv
    except ImportError:  # installed where it could not be compiled
        return None
    return scan_csv


def _xywh(corners: np.ndarray) -> np.ndarray:
    """XMin, XMax, YMin, YMax columns as left, top, width, height, in Fortran order."""
    out = np.empty((len(corners), 4), order="F")
    out[:, 0] = corners[:, 0]
    out[:, 1] = corners[:, 2]
    out[:, 2] = corners[:, 1] - corners[:, 0]
    out[:, 3] = corners[:, 3] - corners[:, 2]
    return out


def _factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, distinct = pd.factorize(values.astype(object))
    return codes, np.asarray(distinct, dtype=object)


def _factorize_parts(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Codes and distinct values of several factorized parts taken together."""
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    sizes = [len(distinct) for _, distinct in parts]
    offsets = np.cumsum([0, *sizes[:-1]])
    merged, values = _factorize_sorted(np.concatenate([distinct for _, distinct in parts]))
    codes = np.concatenate([merged[o + c] for o, (c, _) in zip(offsets, parts, strict=True)])
    return codes, np.asarray(values, dtype=object)


def _factorize_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pandas.factorize of text values, without hashing where they are already in order (as
    the parts of a file sorted by image are: equal values then sit side by side)."""
    try:
        ordered = len(values) > 1 and bool((values[1:] >= values[:-1]).all())
    except TypeError:  # values that do not compare: hash them
        ordered = False
    if not ordered:
        codes, distinct = pd.factorize(values)
        return codes, np.asarray(distinct, dtype=object)
    new = np.empty(len(values), dtype=bool)
    new[0] = True
    np.not_equal(values[1:], values[:-1], out=new[1:])
    return np.cumsum(new) - 1, values[new]


def read_cub(folder: str | os.PathLike[str]) -> References:
    """Read CUB-200: ``images.txt`` (id, path) and ``bounding_boxes.txt`` (id x y w h, pixels).

    The class is the image's folder name (``001.Black_footed_Albatross``).
    """
    root = Path(folder)
    try:
        paths: dict[str, str] = {}
        for number, line in enumerate(
            (root / "images.txt").read_text(encoding="utf-8").splitlines(), 1
        ):
            if line.strip():
                parts = line.split(maxsplit=1)
                if len(parts) != 2:
                    raise ReferenceLabelError(f"{root / 'images.txt'}:{number}: expected 'id path'")
                paths[parts[0]] = parts[1].strip()
        names: list[str] = []
        classes: list[str] = []
        rows: list[list[float]] = []
        boxes_file = root / "bounding_boxes.txt"
        for number, line in enumerate(boxes_file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 5 or parts[0] not in paths:
                raise ReferenceLabelError(f"{boxes_file}:{number}: expected 'id x y width height'")
            path = PurePosixPath(paths[parts[0]])
            names.append(path.name)
            classes.append(path.parent.name)
            rows.append([float(v) for v in parts[1:]])
    except OSError as exc:
        raise ReferenceLabelError(f"{root}: cannot read CUB files ({exc.strerror})") from None
    except ValueError as exc:
        raise ReferenceLabelError(f"{root}: bad number in bounding_boxes.txt ({exc})") from None
    images = frozenset(PurePosixPath(p).name for p in paths.values())
    classes_df = pd.DataFrame({"file_name": names, "class_name": classes}).drop_duplicates(
        "file_name"
    )
    return References(
        _boxes_frame(names, classes, np.array(rows), normalized=False),
        classes_df,
        images,
        str(root),
    )


def read_gt_manifest(path: str | os.PathLike[str], *, attribute: str | None = None) -> References:
    """Use another Ground Truth output manifest (boxes or classes) as references."""
    out = read_manifest(path)
    if attribute is None:
        attributes = out.attributes
        if len(attributes) != 1:
            raise ReferenceLabelError(
                f"{path}: choose one attribute of {', '.join(attributes) or 'none found'}"
            )
        attribute = attributes[0]
    out = out.for_attribute(attribute)
    names = file_names(out.objects.drop_duplicates("index").set_index("index")["source"])
    boxes = out.boxes
    frame = _boxes_frame(
        [str(n) for n in boxes["index"].map(names)],
        [str(c) for c in boxes["class_name"]],
        boxes[["left", "top", "width", "height"]].to_numpy(),
        normalized=False,
    )
    classes = pd.DataFrame(
        {"file_name": out.classes["index"].map(names), "class_name": out.classes["class_name"]}
    ).drop_duplicates("file_name")
    labeled = out.objects[out.objects["failure_reason"].isna()]
    return References(
        frame,
        classes,
        frozenset(str(n) for n in file_names(labeled["source"]).dropna()),
        str(path),
    )


def read_references(path: str | os.PathLike[str]) -> References:
    """Read references, choosing the reader by what ``path`` is.

    A folder with ``images.txt`` is CUB-200; ``.csv`` is Open Images; ``.manifest`` or
    ``.jsonl`` is a Ground Truth output manifest; ``.json`` is COCO, or a JSON list of image
    classes (``[{"ImageId": ..., "Label": ...}]``).
    """
    p = Path(path)
    if p.is_dir():
        if (p / "images.txt").exists():
            return read_cub(p)
        raise ReferenceLabelError(f"{p}: a folder of references must hold CUB's images.txt")
    if p.suffix == ".csv":
        return read_open_images(p)
    if p.suffix in (".manifest", ".jsonl"):
        return read_gt_manifest(p)
    if p.suffix == ".json":
        return read_coco(p)
    raise ReferenceLabelError(
        f"{p}: unknown reference format; "
        "use COCO .json, Open Images .csv, a CUB folder or a .manifest"
    )
