"""Reference labels to compare a job's labels with, matched to job objects by file name.

Readers for COCO JSON, Open Images box CSVs (``XMin, XMax, YMin, YMax`` as fractions), CUB-200
(``images.txt`` and ``bounding_boxes.txt`` in pixels), a JSON list of image classes, and another
Ground Truth output manifest. Each file is read by the engine (:mod:`gtkit._engine`) with an
explicit schema, column by column: no Python object is made per image or box. Every reader
returns :class:`References`: columnar boxes keyed by file name (the basename of ``source-ref``;
the whole path where several images have one file name, see :func:`image_keys`),
the images that have references (images with zero boxes included), and for classification the
reference class of each image.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gtkit._engine import EngineError, connect, fetch, release_memory
from gtkit._errors import ReferenceLabelError, excerpt
from gtkit._labels import is_groundtruth_metadata
from gtkit._output import attribute_rows, distinct_texts, read_labels_only

__all__ = [
    "ImageMatches",
    "References",
    "file_name",
    "file_names",
    "image_keys",
    "image_positions",
    "match_images",
    "read_coco",
    "read_cub",
    "read_gt_manifest",
    "read_masks",
    "read_open_images",
    "read_references",
]


def _paths(sources: Any) -> pa.Array:
    """``sources`` (any column of texts: a pandas Series, numpy array, list or Arrow array) as
    an Arrow array of texts without surrounding whitespace and trailing slashes, null where a
    value is no text."""
    if isinstance(sources, pa.ChunkedArray):
        texts = sources.combine_chunks()
    elif isinstance(sources, pa.Array):
        texts = sources
    else:
        try:  # texts and nulls, as Arrow holds them (a column backed by Arrow: no copy)
            texts = pa.array(sources, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # a value that is not text: no name
            values = sources.tolist() if hasattr(sources, "tolist") else list(sources)
            texts = pa.array([v if isinstance(v, str) else None for v in values], pa.string())
    if isinstance(texts, pa.ChunkedArray):  # a pandas column backed by Arrow
        texts = texts.combine_chunks()
    if not pa.types.is_string(texts.type) and not pa.types.is_large_string(texts.type):
        texts = pc.cast(texts, pa.string())
    trimmed: pa.Array = pc.utf8_rtrim(pc.utf8_trim_whitespace(texts), characters="/")
    return trimmed


def _last_parts(paths: pa.Array) -> pa.Array:
    """The part after the last ``/`` of each of :func:`_paths`' texts, null where empty."""
    parts = pc.split_pattern(paths, pattern="/", reverse=True, max_splits=1)
    last = np.asarray(parts.offsets)[1:] - 1  # each text's last part (a null text: none)
    missing = parts.is_null().to_numpy(zero_copy_only=False)
    names = pc.take(pc.list_flatten(parts), pa.array(np.maximum(last, 0), mask=missing))
    out: pa.Array = pc.if_else(pc.equal(names, ""), pa.scalar(None, pa.string()), names)
    return out


def file_names(sources: Any) -> pa.Array:
    """The matching key of each object: the basename of its ``source-ref`` (surrounding
    whitespace and trailing slashes ignored), null where there is none (inline text, say).

    ``sources`` is any column of texts (a pandas Series, numpy array, list or Arrow array).

    >>> file_names(["s3://bucket/birds/0001.jpg ", "local/0002.jpg/", None, "x/"]).to_pylist()
    ['0001.jpg', '0002.jpg', None, 'x']
    """
    return _last_parts(_paths(sources))


def _held_by_several(values: pa.Array, paths: pa.Array) -> pa.Array:
    """The distinct ``values`` (file names, say, or image positions) that rows of several
    different ``paths`` have."""
    counted = pc.value_counts(values)
    repeated = counted.field("values").filter(pc.greater(counted.field("counts"), 1))
    if not len(repeated):  # each value once (the usual): none held by several
        return repeated
    rows = pc.fill_null(pc.is_in(values, value_set=repeated), False)
    table = pa.table({"value": values.filter(rows), "path": paths.filter(rows)})
    counts = table.group_by("value").aggregate([("path", "count_distinct")])
    several: pa.Array = counts.filter(pc.greater(counts["path_count_distinct"], 1))[
        "value"
    ].combine_chunks()
    return several


def image_keys(sources: Any) -> pa.Array:
    """The key reference images are matched by: each image's file name (:func:`file_names`),
    or its whole path (surrounding whitespace and trailing slashes ignored) where several
    different paths have that file name, so that those images stay apart.

    >>> image_keys(["s3://b/a/x.jpg", "s3://b/c/x.jpg", "s3://b/a/y.jpg", "y.jpg"]).to_pylist()
    ['s3://b/a/x.jpg', 's3://b/c/x.jpg', 's3://b/a/y.jpg', 'y.jpg']
    >>> image_keys(["s3://b/a/x.jpg", "s3://b/a/x.jpg", "s3://b/a/z.jpg"]).to_pylist()
    ['x.jpg', 'x.jpg', 'z.jpg']
    """
    paths = _paths(sources)
    names = _last_parts(paths)
    shared = _held_by_several(names, paths)  # file names several different paths have
    if not len(shared):
        return names
    keys: pa.Array = pc.if_else(pc.is_in(names, value_set=shared), paths, names)
    return keys


@dataclass(frozen=True)
class ImageMatches:
    """Each object's reference image, by :func:`match_images`."""

    image: np.ndarray  # a position among the reference's image keys; -1 where none is
    ambiguous: np.ndarray  # the file name stands for several images: the object is compared
    # with none (``image`` is then the one reference image several paths would share, or -1)
    names: pa.Array  # each object's file name (:func:`file_names`)
    paths: pa.Array  # each object's path (surrounding whitespace, trailing slashes left out)


def match_images(keys: pa.Array, sources: Any) -> ImageMatches:
    """Each object's reference image among ``keys`` (distinct, see :func:`image_keys`),
    by the object's ``source-ref``: its file name, or where the references keep images of
    that file name apart by path, the longest of their paths that the object's path ends
    with (whole, or after a ``/``): ``s3://job/train/x.jpg`` finds ``train/x.jpg``.

    An object is ambiguous, to be compared with none, where its file name stands for several
    images: on the reference side (several reference images have it, and the object's path
    ends with none of their paths), or on the job's (objects at different paths have it, and
    would all be compared with one reference image). An image listed twice at one path is not.
    """
    paths = _paths(sources)
    names = _last_parts(paths)
    image = image_positions(keys, names)
    ambiguous = np.zeros(len(paths), dtype=bool)
    whole = pc.fill_null(pc.match_substring(keys, "/"), False)  # no file name holds one
    if pc.any(whole).as_py():
        key_names = file_names(keys)
        shared = pc.unique(key_names.filter(whole))  # file names kept apart by path
        by_path = pc.fill_null(pc.is_in(key_names, value_set=shared), False)
        named = pc.fill_null(pc.is_in(names, value_set=shared), False).to_numpy(
            zero_copy_only=False
        )
        place = np.flatnonzero(named)
        con = connect()
        try:
            con.register("wanted", pa.table({"place": place, "name": names.take(pa.array(place)),
                                             "path": paths.take(pa.array(place))}))  # fmt: skip
            at = np.flatnonzero(by_path.to_numpy(zero_copy_only=False))
            con.register("known", pa.table({"image": at, "name": key_names.take(pa.array(at)),
                                            "key": keys.take(pa.array(at))}))  # fmt: skip
            found = fetch(
                con,
                """SELECT place, arg_max(image, strlen(key)) AS image
                   FROM wanted JOIN known USING (name)
                   WHERE path = key OR ends_with(path, '/' || key) GROUP BY place""",
            )
        finally:
            con.close()
        image[place] = -1
        image[found.column("place").to_numpy()] = found.column("image").to_numpy()
        ambiguous[place] = image[place] < 0
    matched = np.flatnonzero(image >= 0)
    per_image = np.bincount(image[matched], minlength=len(keys))
    repeated = matched[per_image[image[matched]] > 1]  # objects that share their image
    if len(repeated):
        at = pa.array(repeated)
        several = _held_by_several(pa.array(image[repeated]), paths.take(at))  # of 2+ paths
        ambiguous |= np.isin(image, several.to_numpy())
    return ImageMatches(image, ambiguous, names, paths)


def image_positions(image_names: pa.Array, names: pa.Array) -> np.ndarray:
    """Each file name's position among ``image_names`` (distinct), -1 where it is not there:
    how objects find their reference images, matched as columns by the engine's hash join."""
    con = connect()
    try:
        con.register("wanted", pa.table({"name": names, "place": np.arange(len(names))}))
        con.register("known", pa.table({"name": image_names, "image": np.arange(len(image_names))}))
        found = fetch(con, "SELECT place, image FROM wanted JOIN known USING (name)")
    finally:
        con.close()
    out = np.full(len(names), -1, dtype=np.int64)
    out[found.column("place").to_numpy()] = found.column("image").to_numpy()
    return out


def file_name(source: object) -> str | None:
    """:func:`file_names` of one source.

    >>> file_name("s3://bucket/birds/0001.jpg ")
    '0001.jpg'
    """
    found: str | None = file_names([source if isinstance(source, str) else None])[0].as_py()
    return found


class _Names(AbstractSet[str]):
    """Distinct names held in an Arrow array, as a set made on first use (a million names
    take 0.15 s to hash, and the analysis matches by the array instead)."""

    def __init__(self, names: pa.Array) -> None:
        self._names = names
        self._set: frozenset[str] | None = None

    @property
    def array(self) -> pa.Array:
        """The names, each once, as an Arrow array of texts."""
        return self._names

    def _made(self) -> frozenset[str]:
        if self._set is None:
            self._set = frozenset(self._names.to_pylist())
        return self._set

    def __contains__(self, name: object) -> bool:
        return name in self._made()

    def __iter__(self) -> Iterator[str]:
        return iter(self._made())

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<{len(self._names):,} image names>"


class _Sizes(Mapping[str, tuple[int, int]]):
    """Image sizes (width, height in pixels) by file name, held as columns, a dict made on
    first use."""

    def __init__(self, names: pa.Array, width: np.ndarray, height: np.ndarray) -> None:
        self._columns = (names, width, height)
        self._dict: dict[str, tuple[int, int]] | None = None

    def _made(self) -> dict[str, tuple[int, int]]:
        if self._dict is None:
            names, width, height = self._columns
            known = ~(np.isnan(width) | np.isnan(height))
            self._dict = dict(
                zip(
                    names.filter(pa.array(known)).to_pylist(),
                    zip(
                        width[known].astype(np.int64).tolist(),
                        height[known].astype(np.int64).tolist(),
                        strict=True,
                    ),
                    strict=True,
                )
            )
        return self._dict

    def __getitem__(self, name: str) -> tuple[int, int]:
        return self._made()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._made())

    def __len__(self) -> int:
        return len(self._made())


@dataclass
class References:
    """Reference labels: ``boxes`` (file_name, class_name, left, top, width, height, and
    ``normalized`` True where coordinates are fractions of the image size, else pixels),
    ``classes`` (file_name, class_name) and ``images``, every file name that has references
    (the whole path instead where several of the file's images have that file name; an
    object finds its image by its file name, or by the longest of those paths its own path ends
    with, and is compared with none where its file name stands for several images).
    ``image_sizes`` gives (width, height) in pixels where the file states them. For semantic
    segmentation, ``masks`` maps each image's file-name stem to its mask PNG, whose pixels are
    class ids (0 the background), or colours named by ``mask_colors`` (class id ->
    ``#rrggbb``). For text classification, ``classes`` file names are the texts themselves."""

    boxes: pd.DataFrame
    classes: pd.DataFrame
    images: AbstractSet[str]
    source: str
    image_sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    masks: Mapping[str, str] = field(default_factory=dict)
    mask_colors: Mapping[int, str] | None = None
    _codes: tuple[np.ndarray, pa.Array] | None = field(default=None, repr=False, compare=False)

    def image_codes(self) -> tuple[np.ndarray, pa.Array]:
        """Each box's image as a position in an array of image names (every image with
        references, each once; an Arrow array of texts): matching by integer rather than by
        string, for millions of boxes. Computed once."""
        if self._codes is None:
            names = self.boxes["file_name"]
            if isinstance(names.dtype, pd.CategoricalDtype):
                codes = names.cat.codes.to_numpy(dtype=np.int64)
                distinct = pa.array(names.cat.categories.to_numpy(object), pa.string())
            else:
                factorized, uniques = pd.factorize(names.to_numpy(dtype=object))
                codes, distinct = factorized.astype(np.int64), pa.array(uniques, pa.string())
            images = (
                self.images.array
                if isinstance(self.images, _Names)
                else pa.array(sorted(self.images), pa.string())
            )
            without_boxes = images.filter(pc.invert(pc.is_in(images, value_set=distinct)))
            if len(without_boxes):
                distinct = pa.concat_arrays([distinct, without_boxes])
            self._codes = (codes, distinct)
        return self._codes

    def renamed(
        self, single_class: str | None = None, names: Mapping[str, str] | None = None
    ) -> References:
        """The same references with class names mapped (``names``) or all set to one name."""
        # Shallow copies: the class column is replaced, never changed in place.
        boxes, classes = self.boxes.copy(deep=False), self.classes.copy(deep=False)
        for df in (boxes, classes):
            column = df["class_name"]
            if single_class is not None:
                df["class_name"] = pd.Categorical.from_codes(
                    np.zeros(len(df), dtype=np.int8), dtype=pd.CategoricalDtype([single_class])
                )
            elif names and len(df):
                as_categories = column.astype("category")
                categories = [names.get(c, c) for c in as_categories.cat.categories]
                df["class_name"] = pd.Categorical(
                    np.asarray(categories, dtype=object)[as_categories.cat.codes.to_numpy()]
                )
        return References(
            boxes, classes, self.images, self.source, self.image_sizes, self.masks,
            self.mask_colors, self._codes,
        )  # fmt: skip


_XYWH = ("left", "top", "width", "height")


def _categories(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Texts as a dictionary (pandas' categories), unless they already are one."""
    if pa.types.is_dictionary(column.type):
        return column
    encoded: pa.Array = pc.dictionary_encode(column)
    return encoded


def _boxes_frame(table: pa.Table, *, normalized: bool) -> pd.DataFrame:
    """Engine rows (file_name, class_name, left, top, width, height) as the boxes frame: names
    as categories (their codes match boxes to images), coordinates as float64."""
    frame: pd.DataFrame = pa.table(
        {
            "file_name": table.column("file_name"),
            "class_name": _categories(table.column("class_name")),
            **{
                k: pc.cast(table.column(k), pa.float64())
                for k in ("left", "top", "width", "height")
            },
        }
    ).to_pandas()
    frame["normalized"] = np.full(len(frame), normalized)
    return frame


def _empty_boxes() -> pd.DataFrame:
    return _boxes_frame(
        pa.table(
            {
                "file_name": pa.array([], pa.string()),
                "class_name": pa.array([], pa.string()),
                **{k: pa.array([], pa.float64()) for k in ("left", "top", "width", "height")},
            }
        ),
        normalized=False,
    )


def _empty_classes() -> pd.DataFrame:
    frame: pd.DataFrame = pd.DataFrame(
        {"file_name": pd.Series(dtype="object"), "class_name": pd.Series(dtype="object")}
    )
    return frame


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


#: How much of a ``.json`` file's first line is read to tell a manifest (its lines are at most
#: about 100,000 characters) from a COCO document written on one line.
_FIRST_LINE_BYTES = 1 << 20


def _is_manifest(path: Path) -> bool:
    """Whether the file's first line is a whole manifest line: a JSON object with a
    ``source-ref`` or ``source``, or a label attribute's metadata (as
    :func:`gtkit._labels.is_groundtruth_metadata` tells it)."""
    try:
        with path.open("rb") as f:
            line = f.readline(_FIRST_LINE_BYTES)
            while line and not line.strip() and f.tell() < _FIRST_LINE_BYTES:  # blank lines
                line = f.readline(_FIRST_LINE_BYTES)
    except OSError:
        return False  # the reader says what is wrong with it
    try:
        first = json.loads(line) if line.endswith(b"\n") or len(line) < _FIRST_LINE_BYTES else None
    except ValueError:  # a document spread over lines (COCO, written indented), or broken
        return False
    if not isinstance(first, dict):
        return False
    return (
        "source-ref" in first
        or "source" in first
        or any(
            isinstance(k, str) and k.endswith("-metadata") and is_groundtruth_metadata(v)
            for k, v in first.items()
        )
    )


def _first_byte(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(4096).lstrip()[:1]


class _CocoImage(msgspec.Struct, gc=False):
    id: int | str
    file_name: str
    width: float | None = None
    height: float | None = None


class _CocoAnnotation(msgspec.Struct, gc=False):
    image_id: int | str
    bbox: tuple[float, float, float, float]
    category_id: int | str | None = None


class _CocoCategory(msgspec.Struct, gc=False):
    id: int | str
    name: str


class _Coco(msgspec.Struct, gc=False):
    images: list[_CocoImage] = msgspec.field(default_factory=list)
    annotations: list[_CocoAnnotation] = msgspec.field(default_factory=list)
    categories: list[_CocoCategory] | dict[str, str] = msgspec.field(default_factory=list)


class _ClassItem(msgspec.Struct, gc=False):
    source: str | None = None  # an inline text (text classification)
    file_name: str | None = None
    ImageId: str | None = None
    class_name: str | None = None
    Label: str | None = None


def _decode(p: Path, kind: Any, what: str) -> Any:
    """A JSON document decoded into typed structures: only the fields gtkit reads are made
    into values, and a value of the wrong type is an error naming its place in the document."""
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ReferenceLabelError(f"{p}: cannot read ({exc.strerror})") from None
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as exc:
        raise ReferenceLabelError(f"{p}: not {what} ({exc})") from None


def read_coco(path: str | os.PathLike[str]) -> References:
    """Read a COCO JSON file: ``images`` with ``id`` and ``file_name`` (and ``width``,
    ``height`` in pixels), ``annotations`` with ``image_id``, ``category_id`` and ``bbox`` (x,
    y, width, height in pixels), ``categories`` as a list of ``{id, name}`` (or an ``{id:
    name}`` object). A file holding a JSON list is read as a list of image classes instead
    (``[{"ImageId" or "file_name": ..., "Label" or "class_name": ...}]``).

    A COCO file is one JSON document, which no columnar engine streams: it is decoded into
    typed records holding just these fields (about a third of the memory and time of the
    engine's whole-document parse), then into columns.
    """
    p = Path(path)
    try:
        if _first_byte(p) == b"[":
            return _class_list(p)
    except OSError as exc:
        raise ReferenceLabelError(f"{p}: cannot read ({exc.strerror})") from None
    doc: _Coco = _decode(p, _Coco, "a COCO file")
    if not doc.images and not doc.annotations:
        raise ReferenceLabelError(f"{p}: not a COCO file (no 'images' and no 'annotations')")
    image_ids = pd.Index(_ids([i.id for i in doc.images]))
    if not image_ids.is_unique:
        twice = image_ids[image_ids.duplicated()].tolist()[0]
        raise ReferenceLabelError(f"{p}: image id {twice!r} is listed twice in 'images'")
    anns = doc.annotations
    image = image_ids.get_indexer(_ids([a.image_id for a in anns]))
    if (image < 0).any():
        orphan = anns[int(np.flatnonzero(image < 0)[0])].image_id
        raise ReferenceLabelError(f"{p}: an annotation's image_id {orphan!r} names no image")
    categories = (
        doc.categories if isinstance(doc.categories, dict)
        else {str(c.id): c.name for c in doc.categories}
    )  # fmt: skip
    codes, distinct = pd.factorize(
        _ids([-1 if a.category_id is None else a.category_id for a in anns])
    )
    labels = pa.array([categories.get(str(c), str(c)) for c in distinct], pa.string())
    xywh = np.fromiter(
        chain.from_iterable(a.bbox for a in anns), dtype=np.float64, count=4 * len(anns)
    ).reshape(-1, 4)
    names = image_keys([i.file_name for i in doc.images])
    width = np.fromiter((np.nan if i.width is None else i.width for i in doc.images), np.float64)
    height = np.fromiter((np.nan if i.height is None else i.height for i in doc.images), np.float64)
    del doc, anns
    release_memory()
    box_image, image_names = _image_codes(names, image)
    table = pa.table(
        {
            "file_name": pc.take(names, pa.array(image)),
            "class_name": pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), labels),
            **{k: pa.array(xywh[:, n]) for n, k in enumerate(_XYWH)},
        }
    )
    return References(
        _boxes_frame(table, normalized=False),
        _empty_classes(),
        _Names(image_names),
        str(p),
        _Sizes(names, width, height),
        _codes=(box_image, image_names),
    )


def _ids(values: list[int | str]) -> np.ndarray:
    """Ids as given (numbers or texts): an int64 array where all are numbers, else objects."""
    if all(type(v) is int for v in values):
        return np.array(values, dtype=np.int64)
    return np.array(values, dtype=object)


def _image_codes(names: pa.Array, image: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """For :attr:`References._codes`: each box's image as a position among the distinct image
    names (``names`` holds one per image, ``image`` each box's image), and those names."""
    encoded = pc.dictionary_encode(pc.fill_null(names, ""))
    codes = encoded.indices.to_numpy().astype(np.int64)
    return codes[image], encoded.dictionary


def _class_list(p: Path) -> References:
    """A JSON list of image or text classes: ``[{"ImageId" or "file_name" or "source": ...,
    "Label" or "class_name": ...}]``; an ImageId without an extension names
    ``<ImageId>.jpg``; a ``source`` is an inline text (text classification), matched whole."""
    items: list[_ClassItem] = _decode(p, list[_ClassItem], "a list of image classes")
    names, labels, problems = [], [], []
    for n, item in enumerate(items):
        label = item.class_name or item.Label
        if item.source is not None and label is not None:
            names.append(item.source.strip())
            labels.append(label)
            continue
        name = item.file_name or item.ImageId
        if name is None or label is None:
            problems.append(f"item {n} needs ImageId (or file_name, or source) and Label")
            continue
        names.append(name if "." in name else f"{name}.jpg")
        labels.append(label)
    if problems:
        raise ReferenceLabelError(f"{p}: " + "; ".join(problems[:20]))
    classes = pd.DataFrame({"file_name": names, "class_name": labels})
    distinct = pc.unique(pa.array(names, pa.string()))
    return References(_empty_boxes(), classes, _Names(distinct), str(p))


_CORNERS = ("XMin", "XMax", "YMin", "YMax")


def read_open_images(path: str | os.PathLike[str]) -> References:
    """Read an Open Images box CSV (``ImageID, LabelName, XMin, XMax, YMin, YMax``, fractions
    of the image size; other columns are ignored).

    File names are ``<ImageID>.jpg``; classes are the ``LabelName`` values (use
    :meth:`References.renamed` to map them to the job's label names). A row with a field too
    many or too few, or a corner that is not a number, is an error naming its line.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            first = f.readline().decode("utf-8-sig")
        header = next(csv.reader([first]), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReferenceLabelError(f"{p}: cannot read the CSV header ({exc})") from None
    con = connect()
    try:
        missing = [c for c in ("ImageID", *_CORNERS) if c not in header]
        if missing:
            raise ReferenceLabelError(
                f"{p}: missing column(s) {', '.join(missing)}; "
                f"expected ImageID, LabelName, {', '.join(_CORNERS)}"
            )
        types = dict.fromkeys(header, "VARCHAR")
        types.update(dict.fromkeys(_CORNERS, "DOUBLE"))
        spec = ", ".join(f"'{k.replace(chr(39), chr(39) * 2)}': '{t}'" for k, t in types.items())
        label = '"LabelName"' if "LabelName" in header else "''"
        boxes = fetch(
            con,
            f"""SELECT "ImageID" || '.jpg' AS file_name, {label} AS class_name,
                       "XMin" AS "left", "YMin" AS top, "XMax" - "XMin" AS width,
                       "YMax" - "YMin" AS height
                FROM read_csv(?, header = true, auto_detect = false, columns = {{{spec}}},
                              quote = '"', escape = '"', strict_mode = true,
                              null_padding = false)""",
            [str(p)],
        )
    except EngineError as exc:
        raise _csv_error(p, exc) from None
    except OSError as exc:
        raise ReferenceLabelError(f"{p}: cannot read ({exc.strerror})") from None
    finally:
        con.close()
    empty = boxes.column("file_name").is_null().to_numpy(zero_copy_only=False)
    if empty.any():
        rows = np.flatnonzero(empty) + 1
        shown = ", ".join(map(str, rows[:5])) + (
            f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        )
        raise ReferenceLabelError(
            f"{p}: data row(s) {shown} (counted after the header): ImageID is empty; "
            "every box needs the ID of its image"
        )
    encoded = pc.dictionary_encode(boxes.column("file_name")).combine_chunks()
    codes = encoded.indices.to_numpy().astype(np.int64)
    images = encoded.dictionary
    return References(
        _boxes_frame(boxes, normalized=True),
        _empty_classes(),
        _Names(images),
        str(p),
        _codes=(codes, images),
    )


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
# What the engine says was wrong, among the lines of its message (which also quote the row).
_CSV_WHAT = re.compile(
    r"Error when converting|Expected Number of Columns|unterminated quote|Invalid unicode"
    r"|Maximum line size|not utf-8"
)


def _csv_error(where: Path, exc: Exception) -> ReferenceLabelError:
    """The engine's CSV error as ``file:line: what was wrong``."""
    text = str(exc).strip()
    found = _CSV_LINE.search(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    what = next((line for line in lines if _CSV_WHAT.search(line)), lines[0] if lines else "")
    if found is None:
        return ReferenceLabelError(f"{where}: cannot read as CSV ({what})")
    return ReferenceLabelError(f"{where}:{found.group(1)}: {what}")


def read_cub(folder: str | os.PathLike[str]) -> References:
    """Read CUB-200: ``images.txt`` (id path) and ``bounding_boxes.txt`` (id x y width height,
    pixels). The class is the image's folder name (``001.Black_footed_Albatross``)."""
    root = Path(folder)
    images_txt, boxes_txt = root / "images.txt", root / "bounding_boxes.txt"
    con = connect()
    reading = images_txt
    try:
        images = fetch(
            con,
            """SELECT id, path, regexp_extract(path, '([^/]*)/[^/]*$', 1) AS class_name
               FROM read_csv(?, header = false, delim = ' ', quote = '', escape = '',
                             auto_detect = false, strict_mode = true,
                             columns = {'id': 'VARCHAR', 'path': 'VARCHAR'})""",
            [str(images_txt)],
        )
        images = images.append_column("file_name", image_keys(images["path"]))
        con.register("cub_images", images)
        reading = boxes_txt
        boxes = fetch(
            con,
            """SELECT i.file_name AS file_name, i.class_name AS class_name, b.x AS "left",
                      b.y AS top, b.w AS width, b.h AS height, b.id AS id
               FROM read_csv(?, header = false, delim = ' ', quote = '', escape = '',
                             auto_detect = false, strict_mode = true,
                             columns = {'id': 'VARCHAR', 'x': 'DOUBLE', 'y': 'DOUBLE',
                                        'w': 'DOUBLE', 'h': 'DOUBLE'}) AS b
               LEFT JOIN cub_images AS i ON i.id = b.id""",
            [str(boxes_txt)],
        )
    except EngineError as exc:
        raise _csv_error(reading, exc) from None
    except OSError as exc:
        raise ReferenceLabelError(f"{reading}: cannot read ({exc.strerror})") from None
    finally:
        con.close()
    unknown = pc.is_null(boxes.column("file_name"))
    if pc.any(unknown).as_py():
        first = boxes.filter(unknown).column("id")[0].as_py()
        raise ReferenceLabelError(f"{boxes_txt}: image id {excerpt(first)} is not in images.txt")
    classes = (
        pd.DataFrame(
            {
                "file_name": images.column("file_name").to_numpy(zero_copy_only=False),
                "class_name": images.column("class_name").to_numpy(zero_copy_only=False),
            }
        )
        .drop_duplicates("file_name")
        .reset_index(drop=True)
    )
    distinct = pa.array(classes["file_name"].to_numpy(object), pa.string())
    return References(_boxes_frame(boxes, normalized=False), classes, _Names(distinct), str(root))


def read_gt_manifest(path: str | os.PathLike[str], *, attribute: str | None = None) -> References:
    """Use another Ground Truth output manifest (boxes or classes) as references. Objects that
    failed (a ``failure-reason``) are no references: they and any labels on their lines are
    left out."""
    tables = read_labels_only(path)
    attributes = distinct_texts(tables.objects["attribute"])
    if attribute is None:
        if len(attributes) != 1:
            raise ReferenceLabelError(
                f"{path}: choose one attribute of {', '.join(attributes) or 'none found'}"
            )
        attribute = attributes[0]
    elif attribute not in attributes:
        raise ReferenceLabelError(
            f"{path}: no label attribute {attribute!r}; found: {', '.join(attributes)}"
        )

    objects = attribute_rows(tables.objects, attribute)
    labeled = objects["failure_reason"].isna().to_numpy()
    names = image_keys(_paths(objects["source"]).filter(pa.array(labeled)))  # in index order
    index = objects["index"].to_numpy(dtype=np.int64)[labeled]

    def of_labeled(rows: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows that belong to a labeled object, and that object's place in ``index``."""
        wanted = rows["index"].to_numpy(dtype=np.int64)
        place = np.minimum(np.searchsorted(index, wanted), max(len(index) - 1, 0))
        kept = index[place] == wanted if len(index) else np.zeros(len(wanted), dtype=bool)
        if kept.all():
            return rows, place
        return rows[kept], place[kept]

    boxes, box_object = of_labeled(attribute_rows(tables.boxes, attribute))
    frame = _boxes_frame(
        pa.table(
            {
                "file_name": names.take(pa.array(box_object)),
                "class_name": pa.array(boxes["class_name"]),
                **{k: pa.array(boxes[k].to_numpy(np.float64)) for k in _XYWH},
            }
        ),
        normalized=False,
    )
    given, given_object = of_labeled(
        attribute_rows(tables.classes, attribute).drop_duplicates("index")
    )
    classes = pd.DataFrame(
        {
            "file_name": names.take(pa.array(given_object)).to_numpy(zero_copy_only=False),
            "class_name": given["class_name"].astype(object).to_numpy(),
        }
    ).drop_duplicates("file_name")
    box_image, image_names = _image_codes(names, box_object)
    return References(
        frame, classes, _Names(image_names), str(path), _codes=(box_image, image_names)
    )


MASK_COLOR_MAP = "color-map.json"


def read_masks(
    folder: str | os.PathLike[str], *, colors: Mapping[int, str] | None = None
) -> References:
    """Reference masks for semantic segmentation: a folder of PNGs, one per image, matched to
    objects by file-name stem (``img-7.png`` is the mask of ``s3://b/img-7.jpg``).

    Each PNG holds class ids (0 the background; id i is class i of the job's
    ``internal-color-map``), or colours: then ``colors`` (class id -> ``#rrggbb``), or a
    ``color-map.json`` in the folder in the ``internal-color-map`` shape
    (``{"1": {"class-name": "cat", "hex-color": "#ff0000"}}``), says which colour is which id.
    Masks are read when compared, not here.
    """
    root = Path(folder)
    pngs = sorted(p for p in root.iterdir() if p.suffix.lower() == ".png")
    if not pngs:
        raise ReferenceLabelError(f"{root}: no .png masks in this folder")
    stems: dict[str, str] = {}
    clashes = []
    for png in pngs:
        if png.stem in stems:
            clashes.append(png.name)
        stems[png.stem] = str(png)
    if clashes:
        raise ReferenceLabelError(
            f"{root}: several masks share a file-name stem ({', '.join(clashes[:5])}); "
            "masks are matched by stem, one per image"
        )
    map_path = root / MASK_COLOR_MAP
    if colors is None and map_path.exists():
        colors = _color_map(map_path)
    return References(
        _empty_boxes(),
        _empty_classes(),
        _Names(pa.array(list(stems), pa.string())),
        str(root),
        masks=stems,
        mask_colors=None if colors is None else dict(colors),
    )


def _color_map(path: Path) -> dict[int, str]:
    """A colour map file: class id -> ``{"hex-color": ...}`` or ``"#rrggbb"``."""
    raw = _decode(path, dict[str, Any], "a colour map (class id -> hex colour)")
    out: dict[int, str] = {}
    problems = []
    for key, value in raw.items():
        color = value.get("hex-color") if isinstance(value, dict) else value
        if not key.strip().isdigit() or not isinstance(color, str):
            problems.append(f"{key!r}: needs a whole-number class id and a #rrggbb hex-color")
            continue
        out[int(key)] = color
    if problems:
        raise ReferenceLabelError(f"{path}: " + "; ".join(problems[:20]))
    return out


def read_references(path: str | os.PathLike[str]) -> References:
    """Read references, choosing the reader by what ``path`` is.

    A folder with ``images.txt`` is CUB-200, one of PNGs segmentation masks
    (:func:`read_masks`); ``.csv`` is Open Images; ``.manifest`` or
    ``.jsonl`` is a Ground Truth output manifest; ``.json`` is COCO, or a JSON list of image
    classes (``[{"ImageId": ..., "Label": ...}]``), or a Ground Truth output manifest where
    its first line is one (Ground Truth's samples name some manifests ``*-manifest.json``).
    """
    p = Path(path)
    if p.is_dir():
        if (p / "images.txt").exists():
            return read_cub(p)
        if any(c.suffix.lower() == ".png" for c in p.iterdir()):
            return read_masks(p)
        raise ReferenceLabelError(
            f"{p}: a folder of references must hold CUB's images.txt, or segmentation masks "
            "(.png, one per image)"
        )
    if not p.exists():
        raise ReferenceLabelError(f"{p}: no such file or folder")
    if p.suffix == ".csv":
        return read_open_images(p)
    if p.suffix in (".manifest", ".jsonl"):
        return read_gt_manifest(p)
    if p.suffix == ".json":
        return read_gt_manifest(p) if _is_manifest(p) else read_coco(p)
    raise ReferenceLabelError(
        f"{p}: unknown reference format; "
        "use COCO .json, Open Images .csv, a CUB folder or a .manifest"
    )
