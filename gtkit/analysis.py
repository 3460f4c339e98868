"""How much did machine labels save, and how good are they? Per-iteration counts, cost in
dollars, and label quality against reference labels (mIoU for boxes, accuracy for classes).

>>> from gtkit.pricing import Pricing
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

from gtkit.boxes import MATCHING_RULES, image_scores
from gtkit.errors import GtkitError
from gtkit.output import JobOutput
from gtkit.pricing import DEFAULT_OBJECT_FEE, Pricing
from gtkit.references import References, file_names, image_positions

__all__ = [
    "Analysis",
    "analyze",
    "pricing_from_describe",
    "read_describe",
    "resolve_pricing",
]


def read_describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a saved ``DescribeLabelingJob`` response (JSON)."""
    try:
        doc = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise GtkitError(f"{path}: not a saved DescribeLabelingJob response ({exc})") from None
    if not isinstance(doc, dict) or "HumanTaskConfig" not in doc:
        raise GtkitError(f"{path}: no HumanTaskConfig; expected a DescribeLabelingJob response")
    return doc


def pricing_from_describe(
    describe: Mapping[str, Any], *, object_fee: float = DEFAULT_OBJECT_FEE
) -> Pricing:
    """Workers and task price (dollars) from a DescribeLabelingJob response; private and vendor
    workforces have no task price."""
    human = describe["HumanTaskConfig"]
    amount = human.get("PublicWorkforceTaskPrice", {}).get("AmountInUsd")
    price = 0.0
    if amount:
        price = (
            amount.get("Dollars", 0)
            + amount.get("Cents", 0) / 100
            + amount.get("TenthFractionsOfACent", 0) / 1000
        )
    return Pricing(object_fee, int(human["NumberOfHumanWorkersPerDataObject"]), price)


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
    objects = view.objects
    failed = objects["failure_reason"].notna()
    needed = ["index", "source", "human", "confidence", "iteration", "task_type", "job_name"]
    labeled = objects.loc[~failed, needed]
    labeled["human"] = labeled["human"].fillna(True).astype(bool)
    box_counts = view.boxes.groupby("index").size()
    labeled["boxes"] = labeled["index"].map(box_counts).fillna(0).astype(np.int64)
    prices = _pricing(pricing, describe, object_fee)

    group = labeled["iteration"].astype("float64").fillna(-1)
    rows = []
    for it in sorted(group.unique()):
        at = labeled[group == it]
        human, auto = at[at["human"]], at[~at["human"]]
        rows.append(
            {
                "iteration": None if it < 0 else int(it),
                "human_objects": len(human),
                "human_boxes": int(human["boxes"].sum()),
                "auto_objects": len(auto),
                "auto_boxes": int(auto["boxes"].sum()),
                "human_cost": None if prices is None else len(human) * prices.human_object_cost,
                "auto_cost": None if prices is None else len(auto) * prices.machine_object_cost,
            }
        )
    iterations = pd.DataFrame(
        rows,
        columns=["iteration", "human_objects", "human_boxes", "auto_objects", "auto_boxes",
                 "human_cost", "auto_cost"],
    )  # fmt: skip
    n_human = int(labeled["human"].sum())
    n_auto = len(labeled) - n_human
    totals: dict[str, Any] = {
        "human_objects": n_human,
        "auto_objects": n_auto,
        "failed_objects": int(failed.sum()),
        "human_boxes": int(labeled.loc[labeled["human"], "boxes"].sum()),
        "auto_boxes": int(labeled.loc[~labeled["human"], "boxes"].sum()),
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
    task_types = labeled["task_type"].dropna()
    jobs = labeled["job_name"].dropna()
    result = Analysis(
        job_name=str(jobs.iloc[-1]) if len(jobs) else None,
        label_attribute=attribute,
        task_type=str(task_types.iloc[0]) if len(task_types) else None,
        pricing=prices,
        iterations=iterations,
        totals=totals,
        matching=matching,
    )
    if reference is not None:
        _quality(result, labeled, view, reference, matching)
    return result


def _quality(
    result: Analysis, labeled: pd.DataFrame, view: JobOutput, ref: References, matching: str
) -> None:
    box_image, image_names = ref.image_codes()
    image = image_positions(image_names, labeled["source"])
    has_ref = image >= 0
    unmatched = file_names(labeled.loc[~has_ref, "source"])
    result.unmatched_objects = sorted(str(f) for f in unmatched if f is not None)
    seen = np.zeros(len(image_names), dtype=bool)
    seen[image[has_ref]] = True
    result.unmatched_references = sorted(image_names[~seen].tolist())
    # Only the columns needed: the source and the raw value would be copies of no use.
    needed = ["index", "human", "iteration", "confidence"]
    compared = labeled.loc[has_ref, needed].reset_index(drop=True)
    compared["file_name"] = image_names[image[has_ref]]
    if result.task_type == "object-detection" or (len(view.boxes) and not len(ref.classes)):
        scores = _box_scores(compared, image[has_ref], box_image, view.boxes, ref, matching)
    else:
        truth = ref.classes.drop_duplicates("file_name").set_index("file_name")["class_name"]
        given = view.classes.drop_duplicates("index").set_index("index")["class_name"]
        label = compared["index"].map(given)
        scores = (label.to_numpy() == compared["file_name"].map(truth).to_numpy()).astype(float)
    result.scores = pd.DataFrame(
        {
            "index": compared["index"].to_numpy(),
            "file_name": compared["file_name"].to_numpy(),
            "human": compared["human"].to_numpy(dtype=bool),
            "iteration": compared["iteration"].to_numpy(),
            "confidence": compared["confidence"].to_numpy(dtype="float64", na_value=np.nan),
            "score": scores,
        }
    )
    s = result.scores

    def mean(values: pd.Series) -> float | None:
        return float(values.mean()) if len(values) else None

    by_iteration = {
        str(int(it)): mean(s.loc[s["iteration"] == it, "score"])
        for it in sorted(pd.Series(s["iteration"]).dropna().unique())
    }
    result.quality = {
        "matching": matching if result.task_type == "object-detection" else "accuracy",
        "human": mean(s.loc[s["human"], "score"]),
        "auto": mean(s.loc[~s["human"], "score"]),
        "all": mean(s["score"]),
        "objects_compared": len(s),
        "objects_without_reference": len(result.unmatched_objects),
        "references_without_object": len(result.unmatched_references),
        "by_iteration": by_iteration,
    }


def _class_codes(names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of class names, and the distinct names. Most jobs have one class: that
    case is one comparison per box instead of a hash-table lookup."""
    if len(names) and (names == names[0]).all():
        return np.zeros(len(names), dtype=np.int64), names[:1]
    codes, distinct = pd.factorize(names, use_na_sentinel=False)
    return codes, np.asarray(distinct, dtype=object)


def _shared_codes(labels: np.ndarray, refs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class names of label and reference boxes as integer codes, one code per name across
    both sides (classes are matched by name)."""
    l_codes, l_names = _class_codes(labels)
    r_codes, r_names = _class_codes(refs)
    both = pd.factorize(
        np.concatenate([np.asarray(l_names, object), np.asarray(r_names, object)]),
        use_na_sentinel=False,
    )[0].astype(np.int64)
    return both[: len(l_names)][l_codes], both[len(l_names) :][r_codes]


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
    compared: pd.DataFrame,
    image: np.ndarray,
    box_image: np.ndarray,
    label_boxes: pd.DataFrame,
    ref: References,
    matching: str,
) -> np.ndarray:
    """Per-object quality of ``compared`` (one object per row, showing reference image
    ``image[row]``) against the reference boxes (of images ``box_image``).

    Works on numpy columns (no copies of the box tables). An image listed twice in a manifest
    is compared twice, each object with the image's reference boxes.
    """
    n = len(compared)
    # Each step is its own function, so that its temporaries (arrays of millions) go with it.
    l_img, l_rows = _label_rows(compared["index"], label_boxes["index"])
    r_img, r_rows = _reference_rows(image, box_image)
    xywh = ["left", "top", "width", "height"]
    r_xywh = _columns(ref.boxes, xywh, r_rows)
    normalized = ref.boxes["normalized"].to_numpy(dtype=bool)[r_rows]
    if normalized.any():
        sizes = [label_boxes[c].to_numpy(dtype=np.float64)[l_rows] for c in _SIZE]
        _to_pixels(r_xywh, r_img, normalized, l_img, sizes, n)
    del normalized
    l_class, r_class = _shared_codes(
        label_boxes["class_name"].to_numpy(dtype=object)[l_rows],
        ref.boxes["class_name"].to_numpy(dtype=object)[r_rows],
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


def _label_rows(compared: pd.Series, label_index: pd.Series) -> tuple[np.ndarray, Rows]:
    """Each compared label box's object (as a row of ``compared``), and the rows of the box
    table those boxes are (all of it, the usual case, as a slice: views, not copies)."""
    l_img = pd.Index(compared).get_indexer(label_index).astype(np.int64, copy=False)
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
