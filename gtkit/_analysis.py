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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gtkit._boxes import MATCHING_RULES, class_codes, image_scores
from gtkit._describe import JobSummary, find_describe, pricing_from_describe, read_describe
from gtkit._engine import release_memory
from gtkit._errors import GtkitError, _MissingPriceError
from gtkit._masks import mask_score, read_mask
from gtkit._output import JobOutput
from gtkit._pricing import DEFAULT_OBJECT_FEE, Pricing
from gtkit._references import References, file_names, image_positions, match_images
from gtkit._tasks import TASKS

__all__ = [
    "NO_PRICES",
    "QUALITY_TARGETS",
    "Analysis",
    "analyze",
    "resolve_pricing",
]

#: What automated labeling aims at for what it labels, by the output's task type (mIoU for
#: boxes and segmentation, accuracy for classification; the AWS guide).
QUALITY_TARGETS: Mapping[str, float] = {
    task.output_type.removeprefix("groundtruth/"): task.auto_labeling_target
    for task in TASKS.values()
    if task.auto_labeling_target is not None
}  # from the task registry: object-detection 0.6, classification 0.95, segmentation 0.7

#: Said wherever a cost would stand when no prices are known.
NO_PRICES = (
    "prices unknown, so no cost is computed: no describe.json beside the output and none given "
    "(pass describe= or pricing=; on the command line --describe, or --workers and --task-price)"
)


@dataclass
class Analysis:
    """The result of :func:`analyze`. Dollars unrounded; quality scores are fractions (0-1).

    ``iterations`` has one row per iteration (``iteration`` NA where the output has none):
    ``human_objects``, ``human_boxes``, ``auto_objects``, ``auto_boxes``, ``human_cost``,
    ``auto_cost``. ``scores`` has one row per object compared with a reference. ``job`` holds
    what the describe response says about the job (task, region, workers, prices, dates);
    ``machine_confidence`` the confidence of every machine label (NaN where none is given);
    ``pricing_source`` where the prices came from (None where no prices are known).
    Segmentation scores each image by the mean IoU of the foreground classes in its label or
    reference mask (1.0 with neither); text classification matches objects to references by
    their text. Other objects find their reference image by file name, or by path where the
    references keep several images of one file name apart (the longest reference path the
    object's path ends with). An object whose file name
    still stands for several images (several reference images, or objects at different paths
    that would share one reference image) is not compared: ``ambiguous_objects`` lists their
    paths, beside ``unmatched_objects`` (file names without references) and
    ``unmatched_references``.
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
    ambiguous_objects: list[str] = field(default_factory=list)
    job: JobSummary = field(default_factory=JobSummary)
    machine_confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pricing_source: str | None = None

    @property
    def target(self) -> float | None:
        """The quality automated labeling aims at for this task type (None where unknown)."""
        return QUALITY_TARGETS.get(self.task_type or "")

    @property
    def pricing_note(self) -> str:
        """The pricing assumptions behind every dollar figure, or that no prices are known."""
        p = self.pricing
        if p is None:
            return NO_PRICES[0].upper() + NO_PRICES[1:] + "."
        source = f" ({self.pricing_source})" if self.pricing_source else ""
        human = (
            f"each human-labeled object also pays {p.workers} worker(s) x ${p.task_price:,.3f} "
            f"per task{source}"
            if p.task_price
            else f"human-labeled objects pay no task price (a private or vendor workforce{source})"
        )
        return (
            f"Every labeled object, human or machine, pays the ${p.object_fee:,.2f} object fee "
            "(a parameter: object_fee=, --object-fee; $0.08 is AWS's examples' figure, volume "
            f"tiers and the free tier are not applied); {human}. Failed objects are "
            "not charged. The SageMaker instance time automated labeling uses for training and "
            "inference is not included. Without automated labeling, every labeled object is "
            "counted at the human price."
        )

    def cumulative_cost(self) -> pd.DataFrame:
        """Dollars spent by the end of each iteration, with automated labeling and as if
        humans had labeled the same objects (the blog's figure); NaN where no prices are known.

        Columns: ``iteration`` (NA last: objects no file places), ``objects`` (labeled so far),
        ``cost``, ``cost_without_auto``, ``savings`` (dollars, cumulative).
        """
        unknown = self.iterations["iteration"].isna().to_numpy(dtype=bool)
        it = self.iterations.iloc[np.argsort(unknown, kind="stable")]  # when unknown: last
        objects = (it["human_objects"] + it["auto_objects"]).cumsum().to_numpy(dtype=np.int64)
        if self.pricing is None:
            cost = without = np.full(len(it), np.nan)
        else:
            spent = it["human_cost"].astype("float64") + it["auto_cost"].astype("float64")
            cost = spent.cumsum().to_numpy(dtype=np.float64)
            without = objects * self.pricing.human_object_cost
        frame: pd.DataFrame = pd.DataFrame(
            {
                "iteration": it["iteration"].astype("Int64").array,
                "objects": objects,
                "cost": cost,
                "cost_without_auto": without,
                "savings": without - cost,
            }
        )
        return frame

    def quality_by_iteration(self) -> pd.DataFrame:
        """Mean quality of the compared labels of each iteration, human and machine apart.

        Columns: ``iteration``, ``human_objects``, ``human_quality``, ``machine_objects``,
        ``machine_quality`` (NaN where an iteration has none of that kind). Empty without
        reference labels.
        """
        columns = ["iteration", "human_objects", "human_quality", "machine_objects",
                   "machine_quality"]  # fmt: skip
        s = self.scores
        if s is None or s.empty:
            empty: pd.DataFrame = pd.DataFrame(columns=columns)
            return empty
        it = s["iteration"].to_numpy(dtype=np.float64, na_value=np.nan)
        group = np.where(np.isnan(it), -1, it).astype(np.int64)
        values = np.unique(group)
        human = s["human"].to_numpy(dtype=bool)
        score = s["score"].to_numpy(dtype=np.float64)
        rows = []
        for value in values:
            mine = group == value
            h, m = score[mine & human], score[mine & ~human]
            rows.append(
                (
                    None if value < 0 else int(value),
                    len(h),
                    float(h.mean()) if len(h) else np.nan,
                    len(m),
                    float(m.mean()) if len(m) else np.nan,
                )
            )
        frame: pd.DataFrame = pd.DataFrame(rows, columns=columns)
        frame["iteration"] = frame["iteration"].astype("Int64")
        return frame

    def threshold_table(
        self, *, steps: int = 10, thresholds: Sequence[float] | None = None
    ) -> pd.DataFrame:
        """For each confidence threshold (``thresholds``, else ``steps`` quantiles of the
        machine labels' confidences, lowest first): the machine labels at or above it, their
        mean quality against the reference, and the dollars they save over human labels.

        Columns: ``threshold``, ``machine_labels``, ``quality`` (NaN without reference labels),
        ``dollars_saved`` (NaN without prices). Empty when there are no machine labels with a
        confidence.
        """
        conf = self.machine_confidence[~np.isnan(self.machine_confidence)]
        columns = ["threshold", "machine_labels", "quality", "dollars_saved"]
        if not len(conf):
            empty: pd.DataFrame = pd.DataFrame(columns=columns)
            return empty
        if thresholds is None:
            grid = np.unique(np.quantile(conf, np.linspace(0, 1, steps, endpoint=False)))
        else:
            grid = np.asarray(thresholds, dtype=np.float64)
        kept = len(conf) - np.searchsorted(np.sort(conf), grid, side="left")
        quality = np.full(len(grid), np.nan)
        pool = self._confidence_pool()
        if pool is not None and len(pool):
            order = np.argsort(pool["confidence"].to_numpy(dtype=np.float64), kind="stable")
            c = pool["confidence"].to_numpy(dtype=np.float64)[order]
            v = pool["score"].to_numpy(dtype=np.float64)[order]
            tail = np.concatenate([np.cumsum(v[::-1])[::-1], [0.0]])  # sum of v[i:]
            first = np.searchsorted(c, grid, side="left")  # first label at or above each
            n = len(c) - first
            quality = np.divide(tail[first], n, out=quality, where=n > 0)
        saving = np.nan
        if self.pricing is not None:
            saving = self.pricing.human_object_cost - self.pricing.machine_object_cost
        table: pd.DataFrame = pd.DataFrame(
            {"threshold": grid, "machine_labels": kept, "quality": quality,
             "dollars_saved": kept * saving}
        )  # fmt: skip
        return table

    def worst(self, count: int = 5, *, human: bool | None = None) -> pd.DataFrame:
        """The ``count`` compared labels that score lowest against the reference (all, or
        only human or only machine ones), worst first: rows of :attr:`scores`."""
        s = self.scores
        if s is None:
            none: pd.DataFrame = pd.DataFrame()
            return none
        if human is not None:
            s = s[s["human"] == human]
        worst: pd.DataFrame = s.sort_values(["score", "index"], kind="stable").head(count)
        return worst

    def threshold_curve(self, *, steps: int = 20) -> pd.DataFrame:
        """Quality of the machine labels whose confidence is at or above each confidence
        quantile (human and machine confidences are not comparable, so human labels are left
        out). Columns: ``quantile``, ``threshold``, ``objects``, ``quality``; empty without
        machine labels compared with a reference.
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

    def threshold_for(self, target: float | None = None) -> float | None:
        """The lowest confidence theta such that machine labels at or above it reach
        ``target`` quality (default: the task's :attr:`target`).

        This is the blog's theta recomputed from the output: the largest confident set of
        machine labels whose mean quality (mIoU or accuracy) is at least ``target``. None if
        no set reaches it, or there are no machine labels compared with a reference.
        """
        target = self.target if target is None else target
        pool = self._confidence_pool()
        if target is None or pool is None or pool.empty:
            return None
        ordered = pool.sort_values("confidence", ascending=False, kind="stable")
        running = ordered["score"].cumsum().to_numpy() / np.arange(1, len(ordered) + 1)
        ok = np.flatnonzero(running >= target)
        return float(ordered["confidence"].iloc[ok[-1]]) if len(ok) else None

    def _confidence_pool(self) -> pd.DataFrame | None:
        """The compared machine labels that have a confidence."""
        if self.scores is None:
            return None
        s = self.scores
        pool: pd.DataFrame = s[s["confidence"].notna() & ~s["human"]]
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
            "pricing_note": self.pricing_note,
            "job": self.job.to_dict(),
            "iterations": iterations,
            "totals": {k: clean(v) for k, v in self.totals.items()},
        }
        if self.quality is not None:
            out["quality"] = {k: clean(v) for k, v in self.quality.items()}
            out["quality"]["threshold_for_0.6"] = self.threshold_for(0.6)
            out["quality"]["target"] = self.target
            out["quality"]["threshold_for_target"] = self.threshold_for()
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
        raise _MissingPriceError("workers" if workers is None else "task_price")
    if workers < 1 or task_price < 0 or fee < 0:
        raise GtkitError("workers must be at least 1; task price and object fee not negative")
    return Pricing(fee, workers, task_price)


def _describe_and_source(
    output: JobOutput, describe: Mapping[str, Any] | str | os.PathLike[str] | None
) -> tuple[Mapping[str, Any] | None, str | None]:
    """The describe response (given, read from a given path, or found beside the output by
    :func:`find_describe`) and where it came from."""
    if describe is None:
        found = find_describe(output)
        if found is None:
            return None, None
        describe = found
    if isinstance(describe, (str, os.PathLike)):
        return read_describe(describe), str(describe)
    return describe, "the describe response given"


def _pricing(
    pricing: Pricing | None,
    describe: Mapping[str, Any] | None,
    object_fee: float | None,
    output: JobOutput | None = None,
) -> Pricing | None:
    """``pricing``, else the prices of ``describe`` (else of the describe.json found beside
    ``output``, as :func:`analyze` finds it), else None."""
    if pricing is not None:
        return pricing
    if describe is None and output is not None:
        describe, _ = _describe_and_source(output, None)
    return resolve_pricing(describe=describe, object_fee=object_fee)


def _pricing_source(origin: str | None, *, workers: int | None, task_price: float | None) -> str:
    """Where the prices came from, in words."""
    given = [
        name for name, v in (("workers", workers), ("task price", task_price)) if v is not None
    ]
    if len(given) == 2 or origin is None:
        return " and ".join(given) + " as given"
    if not given:
        return f"from {origin}"
    return f"{given[0]} as given, the rest from {origin}"


def analyze(
    output: JobOutput,
    *,
    reference: References | None = None,
    pricing: Pricing | None = None,
    describe: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    workers: int | None = None,
    task_price: float | None = None,
    object_fee: float | None = None,
    matching: str = "optimal",
    attribute: str | None = None,
) -> Analysis:
    """Counts, cost and (with ``reference``) quality of one label attribute of a job's output.

    Cost needs the per-object fee, workers per object and task price (dollars per task per
    worker). They come from ``pricing`` if given; else from ``workers`` and ``task_price``,
    each falling back to a ``describe`` response (a dict, or the path of a saved one); without
    ``describe``, from the ``describe.json`` that ``LabelingJobClient.download`` saved beside a
    local output tree. The object fee is ``object_fee`` (default $0.08). Where no prices are
    known, cost figures are None rather than guessed, and :attr:`Analysis.pricing_note` says so.
    Failed objects are counted apart and not charged. An object without ``human-annotated`` is
    counted as human (Ground Truth marks every machine label ``"no"``).
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
    response, origin = _describe_and_source(output, describe)
    prices: Pricing | None = pricing
    source = "as given"
    if pricing is None:
        prices = resolve_pricing(
            describe=response, workers=workers, task_price=task_price, object_fee=object_fee
        )
        source = _pricing_source(origin, workers=workers, task_price=task_price)
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
    task_type = _first_text(labeled.take(view.objects["task_type"]))
    job = JobSummary.of(
        response,
        job_name=_first_text(labeled.take(view.objects["job_name"]), last=True),
        task=task_type,
        reference=None if reference is None else reference.source,
        describe=origin,
    )
    if prices is not None:
        job = replace(
            job,
            workers=prices.workers,
            task_price=prices.task_price,
            object_fee=prices.object_fee,
        )
    result = Analysis(
        job_name=_first_text(labeled.take(view.objects["job_name"]), last=True),
        label_attribute=attribute,
        task_type=task_type,
        pricing=prices,
        iterations=iterations,
        totals=totals,
        matching=matching,
        job=job,
        machine_confidence=labeled.confidence[~human],
        pricing_source=None if prices is None else source,
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
    segmentation = result.task_type == "semantic-segmentation" or bool(ref.masks)
    text = result.task_type == "text-classification"
    if segmentation or text:
        box_image = np.zeros(0, dtype=np.int64)
        if segmentation:
            image_names = pa.array(list(ref.masks), pa.string())
            names = _stems(file_names(labeled.source))  # file-name stems: the masks' key
        else:  # inline texts are their own key, matched whole
            image_names = pc.unique(
                pa.array(ref.classes["file_name"].to_numpy(object), pa.string(), from_pandas=True)
            )
            names = pc.utf8_trim_whitespace(pa.array(labeled.source.to_numpy(object), pa.string()))
        image = image_positions(image_names, names)
        ambiguous = np.zeros(len(image), dtype=bool)
    else:
        box_image, image_names = ref.image_codes()
        matches = match_images(image_names, labeled.source)
        names, image, ambiguous = matches.names, matches.image, matches.ambiguous
        paths = pc.unique(matches.paths.filter(pa.array(ambiguous)))
        result.ambiguous_objects = sorted(paths.to_pylist())
    release_memory()  # what naming and matching the images held, before the boxes' arrays
    has_ref = (image >= 0) & ~ambiguous
    unmatched = pc.drop_null(names.filter(pa.array((image < 0) & ~ambiguous)))
    result.unmatched_objects = sorted(unmatched.to_pylist())
    seen = np.zeros(len(image_names), dtype=bool)
    seen[image[image >= 0]] = True  # an image several objects' paths share has objects too
    result.unmatched_references = sorted(image_names.filter(pa.array(~seen)).to_pylist())
    compared = np.flatnonzero(has_ref)
    image = image[compared]
    index = labeled.index[compared]
    file_name: pa.Array = pc.take(image_names, pa.array(image))
    if segmentation:
        scores = _mask_scores(index, file_name.to_pylist(), view, ref)
        file_name = file_names(labeled.source.iloc[compared])  # the images', not the masks'
    elif result.task_type == "object-detection" or (len(view.boxes) and not len(ref.classes)):
        scores = _box_scores(index, image, box_image, view.boxes, ref, matching)
    else:
        truth = ref.classes.drop_duplicates("file_name").set_index("file_name")["class_name"]
        given = view.classes.drop_duplicates("index").set_index("index")["class_name"]
        label = pd.Series(index).map(given).to_numpy()
        scores = (label == pd.Series(file_name.to_pylist()).map(truth).to_numpy()).astype(float)
    iteration = labeled.iteration[compared]
    human = labeled.human[compared]
    result.scores = pd.DataFrame(
        {
            "index": index,
            "file_name": file_name.to_pandas(),
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
        "matching": "per-class"
        if segmentation
        else matching
        if result.task_type == "object-detection"
        else "accuracy",
        "human": mean(scores[human]),
        "auto": mean(scores[~human]),
        "all": mean(scores),
        "objects_compared": len(scores),
        "objects_without_reference": len(result.unmatched_objects),
        "objects_ambiguous": int(ambiguous.sum()),
        "references_without_object": len(result.unmatched_references),
        "by_iteration": by_iteration,
    }


def _stems(names: pa.Array) -> pa.Array:
    """File names without their last extension (``a.b.png`` -> ``a.b``; ``a`` stays)."""
    stripped: pa.Array = pc.replace_substring_regex(
        names, pattern=r"(.)\.[^.]*$", replacement=r"\1"
    )
    return stripped


def _mask_scores(
    index: np.ndarray, stem: list[str], view: JobOutput, ref: References
) -> np.ndarray:
    """Per-object segmentation quality (:func:`gtkit._masks.mask_score`): each object's label
    mask, decoded with its line's colour map, against the reference mask of its stem."""
    values = view.objects.drop_duplicates("index").set_index("index")["value"]
    classes = view.classes
    colors = classes[classes["color"].notna()]
    by_object: dict[int, dict[int, str]] = {}
    for i, class_id, color in zip(
        colors["index"].to_numpy(np.int64),
        colors["class_id"].to_numpy(np.int64),
        colors["color"].to_numpy(object),
        strict=True,
    ):  # one entry per class of each line's colour map: a few per object, not per pixel
        by_object.setdefault(int(i), {})[int(class_id)] = str(color)
    out = np.empty(len(index), dtype=np.float64)
    for k, (i, name) in enumerate(zip(index.tolist(), stem, strict=True)):
        value = values.get(i)
        if not isinstance(value, str) or int(i) not in by_object:
            raise GtkitError(
                f"{view.manifest}: object {i} has no mask and colour map "
                "(<attribute>-ref and internal-color-map) to compare with its reference"
            )
        where = view.label_file(value)
        label = read_mask(view.read_label_file(value), by_object[int(i)], name=where)
        ref_path = ref.masks[name]
        truth = read_mask(Path(ref_path).read_bytes(), ref.mask_colors, name=ref_path)
        out[k] = mask_score(label, truth, name=f"{where} against {ref_path}")
    return out


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
