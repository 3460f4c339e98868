"""How much did machine labels save, and how good are they? Per-iteration counts, cost in
dollars, and label quality against reference labels (mIoU for boxes, accuracy for classes).

>>> from gtkit._pricing import Pricing
>>> p = Pricing(object_fee=0.08, workers=5, task_price=0.036)
>>> round(p.cost(human_objects=608) , 2), round(p.cost(human_objects=0, machine_objects=392), 2)
(158.08, 31.36)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gtkit._boxes import MATCHING_RULES, class_codes, image_scores
from gtkit._errors import GtkitError, excerpt
from gtkit._output import JobOutput
from gtkit._pricing import DEFAULT_OBJECT_FEE, Pricing, dollars
from gtkit._references import References, file_names, image_positions

__all__ = [
    "Analysis",
    "analyze",
    "pricing_from_describe",
    "read_describe",
    "resolve_pricing",
]


def read_describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a saved ``DescribeLabelingJob`` response (JSON), checking the fields gtkit reads
    from it (the workers and price of :func:`pricing_from_describe`): GtkitError names the file
    and field where one is missing or of the wrong type."""
    try:
        doc = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise GtkitError(f"{path}: not a saved DescribeLabelingJob response ({exc})") from None
    if not isinstance(doc, dict) or "HumanTaskConfig" not in doc:
        raise GtkitError(f"{path}: no HumanTaskConfig; expected a DescribeLabelingJob response")
    _prices(doc, str(path))
    return doc


#: The service's ranges of what a describe response says about prices (ground-truth-facts.md 2).
_DESCRIBE_RANGES = {
    "NumberOfHumanWorkersPerDataObject": (1, 9),
    "Dollars": (0, 2),
    "Cents": (0, 99),
    "TenthFractionsOfACent": (0, 9),
}


def _whole(value: Any, where: str, field: str, *, default: int | None = None) -> int:
    """``value`` if a whole number in the field's range (``default`` where absent or null)."""
    low, high = _DESCRIBE_RANGES[field]
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise GtkitError(
            f"{where}: {field} is {excerpt(value)}; expected a whole number from {low} to {high}"
        )
    return value


def _prices(describe: Mapping[str, Any], where: str) -> tuple[int, float]:
    """Workers per object and task price (dollars) of a describe response, checked."""
    human = describe.get("HumanTaskConfig")
    if not isinstance(human, Mapping):
        raise GtkitError(f"{where}: HumanTaskConfig is {excerpt(human)}; expected an object")
    field = "NumberOfHumanWorkersPerDataObject"
    workers = _whole(human.get(field), f"{where}: HumanTaskConfig", field)
    price = human.get("PublicWorkforceTaskPrice")
    amount = price.get("AmountInUsd") if isinstance(price, Mapping) else price
    if amount is None:
        return workers, 0.0
    if not isinstance(amount, Mapping):
        raise GtkitError(
            f"{where}: HumanTaskConfig.PublicWorkforceTaskPrice is {excerpt(price)}; expected "
            "an object with AmountInUsd (Dollars, Cents, TenthFractionsOfACent)"
        )
    part = f"{where}: HumanTaskConfig.PublicWorkforceTaskPrice.AmountInUsd"
    fields = ("Dollars", "Cents", "TenthFractionsOfACent")
    checked = {k: _whole(amount.get(k), part, k, default=0) for k in fields}
    return workers, float(dollars(checked))


def pricing_from_describe(
    describe: Mapping[str, Any], *, object_fee: float = DEFAULT_OBJECT_FEE
) -> Pricing:
    """Workers and task price (dollars) from a DescribeLabelingJob response; private and vendor
    workforces have no task price. A field of the wrong type or out of the service's range is
    a GtkitError naming it."""
    workers, price = _prices(describe, "describe")
    return Pricing(object_fee, workers, price)


@dataclass
class Analysis:
    """The result of :func:`analyze`. Dollars unrounded; quality scores are fractions (0-1).

    ``iterations`` has one row per iteration (``iteration`` NA where the output has none):
    ``human_objects``, ``human_boxes``, ``auto_objects``, ``auto_boxes``, ``human_cost``,
    ``auto_cost``. ``scores`` has one row per object compared with a reference.
    """

    job_name: str | None
    label_attribute: str
    task_type: str | None
    pricing: Pricing | None
    iterations: pd.DataFrame
    totals: dict[str, Any]
    matching: str
    scores: pd.DataFrame | None = None
    quality: dict[str, Any] | None = None
    unmatched_objects: list[str] = field(default_factory=list)
    unmatched_references: list[str] = field(default_factory=list)

    def threshold_curve(self, *, steps: int = 20) -> pd.DataFrame:
        """Quality of the objects whose confidence is at or above each confidence quantile.

        Uses machine labels where there are any (human and machine confidences are not
        comparable), else all compared objects. Columns: ``quantile``, ``threshold``,
        ``objects``, ``quality``.
        """
        pool = self._confidence_pool()
        if pool is None or pool.empty:
            empty: pd.DataFrame = pd.DataFrame(
                columns=["quantile", "threshold", "objects", "quality"]
            )
            return empty
        rows = []
        for q in np.linspace(0, 1, steps, endpoint=False):
            t = float(pool["confidence"].quantile(q))
            above = pool[pool["confidence"] >= t]
            rows.append((float(q), t, len(above), float(above["score"].mean())))
        curve: pd.DataFrame = pd.DataFrame(
            rows, columns=["quantile", "threshold", "objects", "quality"]
        )
        return curve

    def threshold_for(self, target: float = 0.6) -> float | None:
        """The lowest confidence theta such that objects at or above it reach ``target`` quality.

        This is the blog's theta recomputed from the output: the largest confident set whose
        mean quality (mIoU or accuracy) is at least ``target``. None if no set reaches it.
        """
        pool = self._confidence_pool()
        if pool is None or pool.empty:
            return None
        ordered = pool.sort_values("confidence", ascending=False, kind="stable")
        running = ordered["score"].cumsum().to_numpy() / np.arange(1, len(ordered) + 1)
        ok = np.flatnonzero(running >= target)
        return float(ordered["confidence"].iloc[ok[-1]]) if len(ok) else None

    def _confidence_pool(self) -> pd.DataFrame | None:
        if self.scores is None:
            return None
        s = self.scores[self.scores["confidence"].notna()]
        machine = s[~s["human"]]
        pool: pd.DataFrame = machine if len(machine) else s
        return pool

    def to_dict(self) -> dict[str, Any]:
        """The analysis as plain JSON-ready values (the ``gtkit analyze --json`` document)."""

        def clean(value: Any) -> Any:
            if value is None or value is pd.NA:
                return None
            if isinstance(value, (np.integer,)):
                return int(value)
            if isinstance(value, (float, np.floating)):
                return None if math.isnan(value) else float(value)
            return value

        iterations = [
            {k: clean(v) for k, v in row.items()} for row in self.iterations.to_dict("records")
        ]
        out: dict[str, Any] = {
            "job_name": self.job_name,
            "label_attribute": self.label_attribute,
            "task_type": self.task_type,
            "pricing": None
            if self.pricing is None
            else {
                "object_fee": self.pricing.object_fee,
                "workers": self.pricing.workers,
                "task_price": self.pricing.task_price,
            },
            "iterations": iterations,
            "totals": {k: clean(v) for k, v in self.totals.items()},
        }
        if self.quality is not None:
            out["quality"] = {k: clean(v) for k, v in self.quality.items()}
            out["quality"]["threshold_for_0.6"] = self.threshold_for(0.6)
        return out


def resolve_pricing(
    *,
    describe: Mapping[str, Any] | None = None,
    workers: int | None = None,
    task_price: float | None = None,
    object_fee: float | None = None,
) -> Pricing | None:
    """Prices from explicit values, falling back field by field to a describe response.

    Returns None when workers or task price is known from neither (costs are then not computed,
    never guessed). ``object_fee`` defaults to $0.08; ``task_price`` is dollars per task.
    """
    fee = DEFAULT_OBJECT_FEE if object_fee is None else object_fee
    if describe is not None:
        base = pricing_from_describe(describe, object_fee=fee)
        workers = base.workers if workers is None else workers
        task_price = base.task_price if task_price is None else task_price
    if workers is None and task_price is None:
        return None
    if workers is None or task_price is None:
        missing = "--workers" if workers is None else "--task-price"
        raise GtkitError(f"cost needs workers and task price: give {missing} (or --describe)")
    if workers < 1 or task_price < 0 or fee < 0:
        raise GtkitError("workers must be at least 1; task price and object fee not negative")
    return Pricing(fee, workers, task_price)


def _pricing(
    pricing: Pricing | None, describe: Mapping[str, Any] | None, object_fee: float | None
) -> Pricing | None:
    if pricing is not None:
        return pricing
    return resolve_pricing(describe=describe, object_fee=object_fee)


def analyze(
    output: JobOutput,
    *,
    reference: References | None = None,
    pricing: Pricing | None = None,
    describe: Mapping[str, Any] | None = None,
    object_fee: float | None = None,
    matching: str = "optimal",
    attribute: str | None = None,
) -> Analysis:
    """Counts, cost and (with ``reference``) quality of one label attribute of a job's output.

    Cost needs the per-object fee, workers per object and task price: pass ``pricing``, or a
    saved ``describe`` response (plus ``object_fee``, default $0.08); without either, cost
    figures are None rather than guessed. Failed objects are counted apart and not charged.
    An object without ``human-annotated`` is counted as human (Ground Truth marks every machine
    label ``"no"``).
    """
    if matching not in MATCHING_RULES:
        raise GtkitError(f"matching {matching!r}; allowed: {', '.join(MATCHING_RULES)}")
    attributes = output.attributes
    if attribute is None:
        if len(attributes) != 1:
            raise GtkitError(
                f"{output.manifest}: choose one label attribute (--attribute, or attribute=) "
                f"of: {', '.join(attributes) or '(none found)'}"
            )
        attribute = attributes[0]
    elif attribute not in attributes:
        raise GtkitError(f"no label attribute {attribute!r}; found: {', '.join(attributes)}")
    view = output.for_attribute(attribute)
    labeled = _Labeled.of(view)
    prices = _pricing(pricing, describe, object_fee)
    iterations = _per_iteration(labeled, prices)
    human, boxes = labeled.human, labeled.boxes
    n_human = int(human.sum())
    n_auto = len(human) - n_human
    totals: dict[str, Any] = {
        "human_objects": n_human,
        "auto_objects": n_auto,
        "failed_objects": labeled.failed,
        "human_boxes": int(boxes[human].sum()),
        "auto_boxes": int(boxes[~human].sum()),
        "human_cost": None,
        "auto_cost": None,
        "cost": None,
        "cost_without_auto": None,
        "savings": None,
        "savings_fraction": None,
    }
    if prices is not None:
        human_cost = n_human * prices.human_object_cost
        auto_cost = n_auto * prices.machine_object_cost
        without = (n_human + n_auto) * prices.human_object_cost
        totals.update(
            human_cost=human_cost,
            auto_cost=auto_cost,
            cost=human_cost + auto_cost,
            cost_without_auto=without,
            savings=without - human_cost - auto_cost,
            savings_fraction=(without - human_cost - auto_cost) / without if without else None,
        )
    result = Analysis(
        job_name=_first_text(labeled.take(view.objects["job_name"]), last=True),
        label_attribute=attribute,
        task_type=_first_text(labeled.take(view.objects["task_type"])),
        pricing=prices,
        iterations=iterations,
        totals=totals,
        matching=matching,
    )
    if reference is not None:
        _quality(result, labeled, view, reference, matching)
    return result


@dataclass
class _Labeled:
    """The objects of one label attribute that did not fail, as numpy columns: ``rows`` are
    their rows in the objects table (all of them, the usual case, as a slice)."""

    rows: np.ndarray | slice
    failed: int
    index: np.ndarray
    source: pd.Series  # the objects' sources (texts stay in their column: no object per row)
    human: np.ndarray  # bool; an object without human-annotated counts as human
    iteration: pd.api.extensions.ExtensionArray  # Int64, NA where unknown
    confidence: np.ndarray  # float64, NaN where unknown
    boxes: np.ndarray  # boxes of each object

    @classmethod
    def of(cls, view: JobOutput) -> _Labeled:
        objects = view.objects
        ok = objects["failure_reason"].isna().to_numpy()
        rows: np.ndarray | slice = slice(None) if ok.all() else np.flatnonzero(ok)
        index = objects["index"].to_numpy(dtype=np.int64)[rows]
        return cls(
            rows=rows,
            failed=int(len(ok) - ok.sum()),
            index=index,
            source=objects["source"].iloc[rows].reset_index(drop=True),
            human=objects["human"].to_numpy(dtype=bool, na_value=True)[rows],
            iteration=objects["iteration"].array[rows],
            confidence=objects["confidence"].to_numpy(dtype=np.float64, na_value=np.nan)[rows],
            boxes=_boxes_per_object(index, view.boxes["index"].to_numpy(dtype=np.int64)),
        )

    def take(self, column: pd.Series) -> pd.Series:
        """Another column of the objects table at these objects' rows."""
        out: pd.Series = column.iloc[self.rows].reset_index(drop=True)
        return out


def _boxes_per_object(index: np.ndarray, box_index: np.ndarray) -> np.ndarray:
    """How many of the boxes (each given by its object's index) each object has."""
    if box_index.min(initial=0) < 0 or index.min(initial=0) < 0:
        counts = pd.Series(box_index).value_counts()  # indexes of gtkit's making are >= 0
        mapped: np.ndarray = pd.Series(index).map(counts).fillna(0).to_numpy(dtype=np.int64)
        return mapped
    top = max(int(index.max(initial=-1)), int(box_index.max(initial=-1))) + 1
    out: np.ndarray = np.bincount(box_index, minlength=top)[index]
    return out


def _per_iteration(labeled: _Labeled, prices: Pricing | None) -> pd.DataFrame:
    """Objects, boxes and cost per iteration, human and machine labels apart."""
    it = labeled.iteration.to_numpy(dtype=np.float64, na_value=np.nan)
    group = np.where(np.isnan(it), -1.0, it)
    values, inverse = np.unique(group, return_inverse=True)
    human, boxes = labeled.human, labeled.boxes

    def count(weights: np.ndarray | None = None) -> list[int]:
        return [int(c) for c in np.bincount(inverse, weights, minlength=len(values))]

    human_objects, all_objects = count(human.astype(np.float64)), count()
    human_boxes, all_boxes = count(np.where(human, boxes, 0)), count(boxes)
    rows = []
    for k, value in enumerate(values.tolist()):
        auto_objects = all_objects[k] - human_objects[k]
        rows.append(
            {
                "iteration": None if value < 0 else int(value),
                "human_objects": human_objects[k],
                "human_boxes": human_boxes[k],
                "auto_objects": auto_objects,
                "auto_boxes": all_boxes[k] - human_boxes[k],
                "human_cost": None
                if prices is None
                else human_objects[k] * prices.human_object_cost,
                "auto_cost": None if prices is None else auto_objects * prices.machine_object_cost,
            }
        )
    iterations: pd.DataFrame = pd.DataFrame(
        rows,
        columns=["iteration", "human_objects", "human_boxes", "auto_objects", "auto_boxes",
                 "human_cost", "auto_cost"],
    )  # fmt: skip
    return iterations


def _first_text(values: pd.Series, *, last: bool = False) -> str | None:
    """The first (or last) text of a column, None where it has none."""
    found = values.last_valid_index() if last else values.first_valid_index()
    return None if found is None else str(values[found])


def _quality(
    result: Analysis, labeled: _Labeled, view: JobOutput, ref: References, matching: str
) -> None:
    box_image, image_names = ref.image_codes()
    names = file_names(labeled.source)
    image = image_positions(image_names, names)
    has_ref = image >= 0
    unmatched = pc.drop_null(names.filter(pa.array(~has_ref)))
    result.unmatched_objects = sorted(unmatched.to_pylist())
    seen = np.zeros(len(image_names), dtype=bool)
    seen[image[has_ref]] = True
    result.unmatched_references = sorted(image_names[~seen].tolist())
    compared = np.flatnonzero(has_ref)
    image = image[compared]
    index = labeled.index[compared]
    file_name = image_names[image]
    if result.task_type == "object-detection" or (len(view.boxes) and not len(ref.classes)):
        scores = _box_scores(index, image, box_image, view.boxes, ref, matching)
    else:
        truth = ref.classes.drop_duplicates("file_name").set_index("file_name")["class_name"]
        given = view.classes.drop_duplicates("index").set_index("index")["class_name"]
        label = pd.Series(index).map(given).to_numpy()
        scores = (label == pd.Series(file_name).map(truth).to_numpy()).astype(float)
    iteration = labeled.iteration[compared]
    human = labeled.human[compared]
    result.scores = pd.DataFrame(
        {
            "index": index,
            "file_name": file_name,
            "human": human,
            "iteration": iteration.to_numpy(),
            "confidence": labeled.confidence[compared],
            "score": scores,
        }
    )

    def mean(values: np.ndarray) -> float | None:
        return float(values.mean()) if len(values) else None

    it = iteration.to_numpy(dtype=np.float64, na_value=np.nan)
    by_iteration = {
        str(int(value)): mean(scores[it == value]) for value in np.unique(it[~np.isnan(it)])
    }
    result.quality = {
        "matching": matching if result.task_type == "object-detection" else "accuracy",
        "human": mean(scores[human]),
        "auto": mean(scores[~human]),
        "all": mean(scores),
        "objects_compared": len(scores),
        "objects_without_reference": len(result.unmatched_objects),
        "references_without_object": len(result.unmatched_references),
        "by_iteration": by_iteration,
    }


Rows = np.ndarray | slice  # rows of a table: positions, or all of them


def _columns(frame: pd.DataFrame, names: list[str], rows: Rows) -> np.ndarray:
    """The given float columns at ``rows`` as one new (rows, columns) array, made in place
    (no whole-table intermediate: box tables run to millions of rows)."""
    first = frame[names[0]].to_numpy(dtype=np.float64)[rows]
    out = np.empty((len(first), len(names)), order="F")  # each column contiguous
    out[:, 0] = first
    for j, name in enumerate(names[1:], start=1):
        out[:, j] = frame[name].to_numpy(dtype=np.float64)[rows]
    return out


def _box_scores(
    index: np.ndarray,
    image: np.ndarray,
    box_image: np.ndarray,
    label_boxes: pd.DataFrame,
    ref: References,
    matching: str,
) -> np.ndarray:
    """Per-object quality of the objects ``index`` (each showing reference image ``image[k]``)
    against the reference boxes (of images ``box_image``).

    Works on numpy columns (no copies of the box tables). An image listed twice in a manifest
    is compared twice, each object with the image's reference boxes.
    """
    n = len(index)
    # Each step is its own function, so that its temporaries (arrays of millions) go with it.
    l_img, l_rows = _label_rows(index, label_boxes["index"].to_numpy(dtype=np.int64))
    r_img, r_rows = _reference_rows(image, box_image)
    xywh = ["left", "top", "width", "height"]
    r_xywh = _columns(ref.boxes, xywh, r_rows)
    normalized = ref.boxes["normalized"].to_numpy(dtype=bool)[r_rows]
    if normalized.any():
        sizes = [label_boxes[c].to_numpy(dtype=np.float64)[l_rows] for c in _SIZE]
        _to_pixels(r_xywh, r_img, normalized, l_img, sizes, n)
    del normalized
    l_class, r_class = class_codes(
        label_boxes["class_name"].iloc[l_rows], ref.boxes["class_name"].iloc[r_rows]
    )
    return image_scores(
        n,
        l_img,
        [label_boxes[c].to_numpy(dtype=np.float64)[l_rows] for c in xywh],  # views, usually
        l_class,
        r_img,
        r_xywh,
        r_class,
        label_confidence=label_boxes["confidence"].to_numpy(dtype=np.float64)[l_rows],
        matching=matching,
    )


_SIZE = ["image_width", "image_height"]


def _label_rows(compared: np.ndarray, label_index: np.ndarray) -> tuple[np.ndarray, Rows]:
    """Each compared label box's object (as a position in ``compared``, the distinct indexes
    of the objects compared), and the rows of the box table those boxes are (all of it, the
    usual case, as a slice: views, not copies)."""
    if compared.min(initial=0) < 0 or label_index.min(initial=0) < 0:
        l_img = pd.Index(compared).get_indexer(label_index).astype(np.int64, copy=False)
    else:  # indexes are line numbers: a table by index instead of a hash table
        top = max(int(compared.max(initial=-1)), int(label_index.max(initial=-1))) + 1
        position = np.full(top, -1, dtype=np.int64)
        position[compared] = np.arange(len(compared))
        l_img = position[label_index]
    keep = l_img >= 0
    if keep.all():
        return l_img, slice(None)
    rows = np.flatnonzero(keep)
    return l_img[rows], rows


def _reference_rows(image: np.ndarray, box_image: np.ndarray) -> tuple[np.ndarray, Rows]:
    """Reference boxes, once for each compared object that shows their image: each one's
    object (a row among the compared), and its row in the reference table."""
    n = len(image)
    per_image = np.bincount(image, minlength=int(box_image.max(initial=-1)) + 1)
    per_box = per_image[box_image] if len(box_image) else np.zeros(0, dtype=np.int64)
    r_keep = np.flatnonzero(per_box > 0)
    if per_image.max(initial=0) <= 1:
        row_of_image = np.full(len(per_image), -1, dtype=np.int64)
        row_of_image[image] = np.arange(n)
        r_rows: Rows = slice(None) if len(r_keep) == len(box_image) else r_keep
        return row_of_image[box_image[r_rows]], r_rows
    # An image shown by several objects: its boxes repeated, once for each.
    rows_by_image = np.argsort(image, kind="stable")
    first = np.cumsum(per_image) - per_image
    repeat = per_box[r_keep]
    repeated = np.repeat(r_keep, repeat)
    nth = np.arange(len(repeated)) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    return rows_by_image[first[box_image[repeated]] + nth].astype(np.int64), repeated


def _to_pixels(
    r_xywh: np.ndarray,
    r_img: np.ndarray,
    normalized: np.ndarray,
    l_img: np.ndarray,
    l_size: list[np.ndarray],
    n: int,
) -> None:
    """Scale reference boxes given as fractions of the image size to pixels, in place, with
    the image size the job recorded; an image without label boxes scores the same at any scale.
    """
    size = np.full((n, 2), np.nan)
    size[l_img, 0], size[l_img, 1] = l_size  # width, height of each label box's image
    has_boxes = (np.bincount(l_img, minlength=n) > 0)[r_img]
    for axis, columns in ((0, (0, 2)), (1, (1, 3))):
        factor = size[r_img, axis]
        unknown = np.isnan(factor)
        if (unknown & normalized & has_boxes).any():
            raise GtkitError(
                "references are fractions of the image size, but some matched images have no "
                "image_size in the output"
            )
        factor[unknown | ~normalized] = 1.0
        for column in columns:
            r_xywh[:, column] *= factor
