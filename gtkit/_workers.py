"""Worker quality: who answered what, how well, how fast and for how much; the recorded answers
consolidated again offline; and what fewer or more workers per object would have cost and given.

:func:`analyze_workers` reads a job's worker answers (``JobOutput.worker_answers``) for one label
attribute and returns a :class:`WorkerAnalysis` of DataFrames:

- ``workers``: one row per worker (answers, objects, seconds, agreement with the service's
  consolidated labels, accuracy against reference labels, pay, flags);
- ``methods``: each consolidation method (``majority-vote`` and ``dawid-skene`` for classes,
  ``iou-clustering`` for boxes, and the ``service``'s own labels) scored against the references
  and against the service;
- ``what_if``: for k = 1 to the most answers any object has, k of each object's recorded
  answers drawn at random (seeded draws), consolidated by each method, scored, beside the job's
  cost at k workers per object.

Agreement and quality of one answer or label: for classes 1 where it equals the other label,
else 0; for boxes the image score of :mod:`gtkit._boxes` under the named matching rule
(``optimal`` or ``tutorial``), a fraction from 0 to 1. Single-label classification (image or
text) and bounding boxes are analysed; other tasks' answers raise GtkitError.

The flags (see :class:`FlagThresholds`): a worker is ``low-agreement`` when their agreement is
at least ``agreement_gap`` below the crowd's (the median worker's) and that gap is at least
``agreement_z`` standard errors; ``too-fast`` when their median time on a task is under
``fast_fraction`` of the crowd's median; both only with ``min_answers`` answers or more.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from gtkit._analysis import _pricing
from gtkit._arrays import FloatArray, IntArray
from gtkit._boxes import MATCHING_RULES, image_scores
from gtkit._consensus import (
    cluster_boxes,
    dawid_skene,
    frequency_rank,
    majority_vote,
)
from gtkit._engine import EngineError, connect, fetch, local_file, timestamp_sql
from gtkit._errors import GtkitError, excerpt
from gtkit._output import JobOutput
from gtkit._pricing import Pricing
from gtkit._references import References, match_images

__all__ = [
    "BOX_RIGHT_SCORE",
    "METHODS",
    "FlagThresholds",
    "WorkerAnalysis",
    "analyze_workers",
    "read_worker_activity",
]


#: The image score against the reference (a fraction) at which a worker's box answer counts as
#: right, for a box worker's ``accuracy``: the usual "found the object" IoU bar.
BOX_RIGHT_SCORE = 0.5
#: The consolidation methods by task, as named in tables and JSON.
METHODS: Mapping[str, tuple[str, ...]] = {
    "classes": ("majority-vote", "dawid-skene"),
    "boxes": ("iou-clustering",),
}
_SERVICE = "service"
_TASK_OF = {
    "image-classification": "classes",
    "text-classification": "classes",
    "object-detection": "boxes",
}


@dataclass(frozen=True)
class FlagThresholds:
    """When a worker is flagged (all fractions are of 0-1 scores; times are seconds).

    ``min_answers``: answers (timed answers, for speed) a worker needs before being judged.
    ``agreement_gap``: how far below the crowd's agreement (the median judged worker's) a
    worker's mean agreement must be. ``agreement_z``: and in standard errors of the worker's
    mean (the per-answer spread of the whole crowd over the square root of their answers), so
    that a few unlucky answers flag nobody. ``fast_fraction``: a worker whose median time on a
    task is under this fraction of the crowd's median time per task is too fast to have looked.
    """

    min_answers: int = 10
    agreement_gap: float = 0.2
    agreement_z: float = 3.0
    fast_fraction: float = 0.25

    def __post_init__(self) -> None:
        if self.min_answers < 1 or not 0 <= self.agreement_gap <= 1:
            raise GtkitError("min_answers must be >= 1 and agreement_gap between 0 and 1")
        if self.agreement_z < 0 or not 0 <= self.fast_fraction <= 1:
            raise GtkitError("agreement_z must be >= 0 and fast_fraction between 0 and 1")


@dataclass
class WorkerAnalysis:
    """The result of :func:`analyze_workers`. Scores are fractions (0-1), money dollars,
    times seconds.

    ``workers``: ``worker``, ``answers``, ``objects``, ``seconds_median``, ``seconds_total``
    (over the answers whose time is known, NaN without any), ``agreement`` (mean score of
    their answers against the service's consolidated labels), ``accuracy`` (share of their
    answers right against the reference: the same class, or for boxes an image score of at
    least :data:`BOX_RIGHT_SCORE`), ``reference_score`` (mean score against the reference),
    ``estimated_accuracy`` (without references: for classes the Dawid-Skene probability that
    their answers are right, for boxes the share scoring at least BOX_RIGHT_SCORE against the
    service), ``pay`` and ``hourly_pay`` (dollars; per hour of known time), and the flags
    ``low_agreement``, ``too_fast`` and ``flagged`` (either). Sorted by answers, most first.

    ``methods``: ``method``, ``quality`` (against the references, NaN without),
    ``agreement_with_service``, ``objects`` (compared with a reference; not an object whose
    file name stands for several images, see :func:`gtkit.analyze`). ``what_if``: ``k``,
    ``method``, ``quality_mean``, ``quality_sd`` (over the draws), ``draws``, ``cost`` (the
    job at k workers per object, NaN without prices), ``against`` (``reference``, or
    ``full-crowd``: the same method's labels from every answer). ``labels``: per object
    (classes: each method's label) or per
    consolidated box (boxes). ``answers``: one row per answer analysed, with its scores.
    """

    job_name: str | None
    label_attribute: str
    task: str
    matching: str
    pricing: Pricing | None
    thresholds: FlagThresholds
    tolerance: float
    against: str
    workers: pd.DataFrame
    methods: pd.DataFrame
    what_if: pd.DataFrame
    labels: pd.DataFrame
    answers: pd.DataFrame
    crowd: dict[str, float | None] = field(default_factory=dict)
    skipped_answers: int = 0

    @property
    def flagged(self) -> list[str]:
        """The ids of the flagged workers, in the table's order."""
        return [str(w) for w in self.workers.loc[self.workers["flagged"], "worker"]]

    def cheapest(self, tolerance: float | None = None) -> dict[str, Any] | None:
        """The cheapest k (and method) whose mean quality is within ``tolerance`` (a fraction;
        default the analysis's) of the full crowd's best: ``k``, ``method``, ``quality_mean``,
        ``cost`` (dollars, None without prices) and ``target`` (the full crowd's best quality).
        Fewer workers win cost ties (and without prices); then the better quality."""
        tol = self.tolerance if tolerance is None else tolerance
        table = self.what_if
        if table.empty or table["quality_mean"].isna().all():
            return None
        full = table[table["k"] == table["k"].max()]
        target = float(full["quality_mean"].max())
        good = table[table["quality_mean"] >= target - tol - 1e-12]
        cost = good["cost"].fillna(np.inf)
        chosen = good.assign(_cost=cost).sort_values(
            ["_cost", "k", "quality_mean"], ascending=[True, True, False], kind="stable"
        )
        row = chosen.iloc[0]
        return {
            "k": int(row["k"]),
            "method": str(row["method"]),
            "quality_mean": float(row["quality_mean"]),
            "cost": _clean(row["cost"]),
            "target": target,
            "tolerance": tol,
        }

    def to_dict(self) -> dict[str, Any]:
        """The analysis as plain JSON-ready values (the ``gtkit workers --json`` document):
        ``workers`` (one object per worker, its flags as a list of names), ``methods``
        (``method``, ``quality``, ``agreement_with_service``, ``objects``), ``what_if`` (``k``,
        ``method``, ``quality_mean``, ``quality_sd``, ``draws``, ``cost``), and the settings
        and crowd figures they rest on."""
        workers = []
        for row in self.workers.to_dict("records"):
            flags = [
                name
                for name, key in (("low-agreement", "low_agreement"), ("too-fast", "too_fast"))
                if row.pop(key)
            ]
            row.pop("flagged")
            workers.append({**{k: _clean(v) for k, v in row.items()}, "flags": flags})
        return {
            "job_name": self.job_name,
            "label_attribute": self.label_attribute,
            "task": self.task,
            "matching": self.matching if self.task == "boxes" else "equality",
            "quality_against": self.against,
            "pricing": None
            if self.pricing is None
            else {"object_fee": self.pricing.object_fee, "task_price": self.pricing.task_price},
            "thresholds": asdict(self.thresholds),
            "crowd": {k: _clean(v) for k, v in self.crowd.items()},
            "skipped_answers": self.skipped_answers,
            "workers": workers,
            "methods": [
                {k: _clean(v) for k, v in r.items()} for r in self.methods.to_dict("records")
            ],
            "what_if": [
                {k: _clean(v) for k, v in r.items() if k != "against"}
                for r in self.what_if.to_dict("records")
            ],
            "cheapest": self.cheapest(),
        }


def _clean(value: Any) -> Any:
    """One table value as plain JSON: numpy numbers as Python ones, NaN and NA as None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


# ---------------------------------------------------------------------- reading the answers
@dataclass
class _Answers:
    """The answers analysed, as codes: each answer's object (a position among the objects
    analysed), worker, slot (its place among its object's answers, in file order)."""

    index: IntArray  # (n_objects,) each object's datasetObjectId
    obj: IntArray  # (A,)
    worker: IntArray  # (A,)
    worker_ids: npt.NDArray[np.object_]  # (W,)
    slot: IntArray  # (A,)
    seconds: FloatArray  # (A,) NaN where unknown
    iteration: IntArray  # (A,)
    skipped: int

    @property
    def n_objects(self) -> int:
        return len(self.index)

    @property
    def per_object(self) -> IntArray:
        counts: IntArray = np.bincount(self.obj, minlength=self.n_objects).astype(np.int64)
        return counts


def _slots(obj: IntArray, key: FloatArray | IntArray) -> IntArray:
    """Each entry's rank among its object's entries, ordered by ``key`` (0, 1, ...)."""
    order = np.lexsort((key, obj))
    counts = np.bincount(obj, minlength=int(obj.max(initial=-1)) + 1)
    starts = np.cumsum(counts) - counts
    rank = np.empty(len(obj), dtype=np.int64)
    rank[order] = np.arange(len(obj)) - starts[obj[order]]
    return rank


def _class_answers(answers: pd.DataFrame) -> npt.NDArray[np.object_]:
    """Each answer's single label (None where it gives none), by the engine's JSON functions:
    the ``label`` of the answer's one top-level element (``crowd-image-classifier``,
    ``crowd-classifier`` or a custom template's name)."""
    con = connect()
    try:
        con.register("a", pa.table({"answer": pa.array(answers["answer"], pa.string())}))
        found = fetch(
            con,
            """SELECT list_filter(json_extract_string(TRY_CAST(answer AS JSON), '$.*.label'),
                                  lambda x: x IS NOT NULL)[1] AS label FROM a""",
        )
    finally:
        con.close()
    out: npt.NDArray[np.object_] = np.asarray(
        found.column("label").to_numpy(zero_copy_only=False), dtype=object
    )
    return out


_BOX = (
    '[{"label": "VARCHAR", "left": "DOUBLE", "top": "DOUBLE", "width": "DOUBLE", '
    '"height": "DOUBLE"}]'
)


def _box_answers(
    answers: pd.DataFrame,
) -> tuple[pd.DataFrame, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Every box of the answers (``row``: the answer's row, ``label``, ``left``, ``top``,
    ``width``, ``height`` in pixels; boxes missing any of them left out), each answer's image
    width and height (NaN where not given), and whether each answer holds a
    ``boundingBoxes`` list at all (an empty list is an answer: "nothing to box")."""
    con = connect()
    try:
        con.register(
            "a",
            pa.table(
                {
                    "row": np.arange(len(answers), dtype=np.int64),
                    "answer": pa.array(answers["answer"], pa.string()),
                }
            ),
        )
        parsed = """(SELECT row, TRY_CAST(answer AS JSON) AS j FROM a)"""
        boxes = fetch(
            con,
            f"""SELECT row, b.label AS label, b."left" AS "left", b.top AS top,
                       b.width AS width, b.height AS height
                FROM (SELECT row, UNNEST(from_json(list_filter(json_extract(j, '$.*.boundingBoxes'),
                                 lambda x: x IS NOT NULL)[1], '{_BOX}')) AS b FROM {parsed})
                ORDER BY row""",
        ).to_pandas()
        sizes = fetch(
            con,
            f"""SELECT row,
                  list_filter(json_extract(j, '$.*.boundingBoxes'), lambda x: x IS NOT NULL)[1]
                      IS NOT NULL AS has_boxes,
                  TRY_CAST(list_filter(json_extract_string(j, '$.*.inputImageProperties.width'),
                      lambda x: x IS NOT NULL)[1] AS DOUBLE) AS width,
                  TRY_CAST(list_filter(json_extract_string(j, '$.*.inputImageProperties.height'),
                      lambda x: x IS NOT NULL)[1] AS DOUBLE) AS height
                FROM {parsed} ORDER BY row""",
        ).to_pandas()
    finally:
        con.close()
    listed = sizes["has_boxes"].fillna(False).to_numpy(dtype=bool)
    width = sizes["width"].to_numpy(dtype=np.float64, na_value=np.nan)
    height = sizes["height"].to_numpy(dtype=np.float64, na_value=np.nan)
    xywh = ["left", "top", "width", "height"]
    complete = boxes[xywh].notna().all(axis=1) & boxes["label"].notna()
    kept: pd.DataFrame = boxes[complete].reset_index(drop=True)
    return kept, width, height, listed


def _seconds(answers: pd.DataFrame) -> FloatArray:
    """Seconds spent on each answer: ``timeSpentInSeconds``, else submitted minus accepted."""
    seconds: FloatArray = answers["seconds"].to_numpy(dtype=np.float64, na_value=np.nan).copy()
    accepted = pd.to_datetime(answers["accepted"], utc=True, errors="coerce")
    submitted = pd.to_datetime(answers["submitted"], utc=True, errors="coerce")
    span = (submitted - accepted).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(seconds)
    seconds[missing] = span[missing]
    seconds[seconds < 0] = np.nan
    return seconds


# ---------------------------------------------------------------------- worker activity
_ACTIVITY_FIELDS = (
    "worker_id", "cognito_sub_id", "task_accepted_time", "task_submitted_time",
    "labeling_job_arn", "workteam_arn", "event_type",
)  # fmt: skip


def read_worker_activity(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read CloudWatch worker-activity events (log group
    ``/aws/sagemaker/groundtruth/WorkerActivity``, private workforces) exported as JSON Lines:
    each line an event, or a log record whose ``message`` is the event as text (what
    ``aws logs filter-log-events`` and the console's export give).

    Columns: ``worker`` (the event's ``worker_id``, the last part of a private worker's
    ``workerId``), ``cognito_sub``, ``accepted`` and ``submitted`` (UTC), ``seconds``
    (submitted minus accepted), ``labeling_job`` (ARN), ``workteam`` (ARN), ``event_type``.
    Events without a submission (returned or declined tasks) have NaN seconds.
    """
    text = str(path)
    if not Path(text).is_file():
        raise GtkitError(f"{text}: no such worker-activity file")
    columns = ", ".join(f"'{f}': 'VARCHAR'" for f in (*_ACTIVITY_FIELDS, "message"))
    pick = ", ".join(
        f"COALESCE(NULLIF({f}, ''), NULLIF(json_extract_string(TRY_CAST(message AS JSON), "
        f"'$.{f}'), '')) AS {f}"
        for f in _ACTIVITY_FIELDS
    )

    def when(column: str) -> str:
        cloudwatch = f"CAST(try_strptime({column}, '%a %b %d %H:%M:%S UTC %Y') AS TIMESTAMP)"
        return f"COALESCE({cloudwatch}, {timestamp_sql(column)})"

    query = f"""
    SELECT worker_id AS worker, cognito_sub_id AS cognito_sub,
           {when("task_accepted_time")} AS accepted, {when("task_submitted_time")} AS submitted,
           labeling_job_arn AS labeling_job, workteam_arn AS workteam, event_type,
           task_accepted_time AS accepted_text, task_submitted_time AS submitted_text
    FROM (SELECT {pick} FROM read_json(?, format = 'newline_delimited', records = true,
                                       auto_detect = false, columns = {{{columns}}}))
    WHERE worker_id IS NOT NULL"""
    con = connect()
    try:
        with local_file(text) as local:
            frame: pd.DataFrame = fetch(con, query, [local]).to_pandas()
    except EngineError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GtkitError(f"{text}: not worker-activity JSON Lines ({first})") from None
    finally:
        con.close()
    unreadable = [
        f"task_{column}_time {excerpt(value)}"
        for column in ("accepted", "submitted")
        for value in pd.unique(
            frame.loc[frame[f"{column}_text"].notna() & frame[column].isna(), f"{column}_text"]
        )
    ]
    if unreadable:
        more = f"; and {len(unreadable) - 10} more" if len(unreadable) > 10 else ""
        shown = "; ".join(unreadable[:10]) + more
        raise GtkitError(
            f"{text}: times that are no time: {shown} (allowed: CloudWatch's "
            "'Wed Aug 14 16:00:00 UTC 2019', ISO 8601, or empty for a task not submitted)"
        )
    for column in ("accepted", "submitted"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["seconds"] = (frame["submitted"] - frame["accepted"]).dt.total_seconds()
    ordered: pd.DataFrame = frame[
        ["worker", "cognito_sub", "accepted", "submitted", "seconds", "labeling_job",
         "workteam", "event_type"]
    ]  # fmt: skip
    return ordered


# ---------------------------------------------------------------------- the analysis
def _choose_attribute(output: JobOutput, attribute: str | None) -> str:
    attributes = output.attributes
    if attribute is None:
        if len(attributes) != 1:
            raise GtkitError(
                f"{output.manifest}: choose one label attribute (--attribute, or attribute=) "
                f"of: {', '.join(attributes) or '(none found)'}"
            )
        return attributes[0]
    if attribute not in attributes:
        raise GtkitError(f"no label attribute {attribute!r}; found: {', '.join(attributes)}")
    return attribute


def _expand(group: IntArray, n_groups: int, wanted: IntArray) -> tuple[IntArray, IntArray]:
    """For each entry of ``wanted`` (a group each, -1 for none), every item of that group:
    pairs (entry, item), items in their order within the group."""
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    wanted = np.asarray(wanted, dtype=np.int64)
    per = np.where(wanted >= 0, counts[np.maximum(wanted, 0)], 0)
    entry = np.repeat(np.arange(len(wanted)), per)
    offset = np.arange(len(entry)) - np.repeat(np.cumsum(per) - per, per)
    item = order[np.repeat(starts[np.maximum(wanted, 0)], per) + offset]
    return entry.astype(np.int64), item.astype(np.int64)


@dataclass
class _BoxSet:
    """Boxes of some "images" (answers, objects, or clusters' objects): image, geometry
    (k, 4) pixels, class code, confidence."""

    image: IntArray
    xywh: FloatArray
    code: IntArray
    confidence: FloatArray

    def take(self, rows: IntArray, image: IntArray | None = None) -> _BoxSet:
        return _BoxSet(
            self.image[rows] if image is None else image,
            self.xywh[rows],
            self.code[rows],
            self.confidence[rows],
        )


def _scores(n: int, label: _BoxSet, ref: _BoxSet, matching: str) -> FloatArray:
    return image_scores(
        n, label.image, label.xywh, label.code, ref.image, ref.xywh, ref.code,
        label_confidence=label.confidence, matching=matching,
    )  # fmt: skip


def _against_objects(
    n_images: int, image_obj: IntArray, label: _BoxSet, per_object: _BoxSet, n_objects: int,
    matching: str,
) -> FloatArray:  # fmt: skip
    """Scores of ``n_images`` images (each showing object ``image_obj[i]``) against the boxes
    ``per_object`` holds for their objects."""
    entry, item = _expand(per_object.image, n_objects, image_obj)
    return _scores(n_images, label, per_object.take(item, image=entry), matching)


def analyze_workers(
    output: JobOutput,
    *,
    reference: References | None = None,
    pricing: Pricing | None = None,
    describe: Mapping[str, Any] | None = None,
    object_fee: float | None = None,
    matching: str = "optimal",
    attribute: str | None = None,
    activity: pd.DataFrame | None = None,
    draws: int = 20,
    seed: int = 0,
    tolerance: float = 0.01,
    thresholds: FlagThresholds | None = None,
) -> WorkerAnalysis:
    """Per-worker table, offline re-consolidation and the what-if by workers per object for one
    label attribute of a job's output (see the module docstring).

    ``reference``: reference labels (any :func:`gtkit.read_references` format); without them,
    quality in the what-if is measured against the full crowd's labels. ``pricing`` (or a saved
    ``describe`` response and ``object_fee``) gives the task price for pay and cost; its
    ``workers`` is not used (k comes from the answers). ``activity``: worker-activity events
    (:func:`read_worker_activity`), whose times stand in for a worker's answers without times.
    ``draws`` seeded draws (``seed``) per k; ``tolerance`` (a fraction) for
    :meth:`WorkerAnalysis.cheapest`.
    """
    if matching not in MATCHING_RULES:
        raise GtkitError(f"matching {matching!r}; allowed: {', '.join(MATCHING_RULES)}")
    if draws < 1 or not 0 <= tolerance <= 1:
        raise GtkitError("draws must be at least 1 and tolerance between 0 and 1")
    rules = thresholds or FlagThresholds()
    attribute = _choose_attribute(output, attribute)
    view = output.for_attribute(attribute)
    objects = view.objects
    ok = objects["failure_reason"].isna().to_numpy()
    labeled = objects[ok]
    human = labeled["human"].to_numpy(dtype=bool, na_value=True)
    n_human, n_machine = int(human.sum()), int((~human).sum())
    prices = _pricing(pricing, describe, object_fee, output)
    raw = output.worker_answers
    index_values = labeled["index"].to_numpy(dtype=np.int64)
    raw = raw[np.isin(raw["index"].to_numpy(dtype=np.int64), index_values)].reset_index(drop=True)
    if raw.empty:
        raise GtkitError(
            f"{output.manifest}: no worker answers for {attribute!r} (worker-response files or "
            "consolidation requests are read from a job's output tree, not from a manifest alone)"
        )
    task_type = (
        str(labeled["task_type"].dropna().iloc[0]) if labeled["task_type"].notna().any() else ""
    )
    if task_type not in (*_TASK_OF, "", "custom"):
        raise GtkitError(
            f"{output.manifest}: worker analysis covers single-label classification and "
            f"bounding boxes; {attribute!r} is a {task_type} job"
        )
    task = _TASK_OF.get(task_type, "")
    names = _class_answers(raw) if task != "boxes" else np.zeros(0, dtype=object)
    if not task:  # a custom template (or no type): by what the answers hold
        task = "classes" if (~pd.isna(names)).any() else "boxes"
    job_name_values = labeled["job_name"].dropna()
    job_name = str(job_name_values.iloc[-1]) if len(job_name_values) else None
    common = {
        "job_name": job_name, "attribute": attribute, "matching": matching, "prices": prices,
        "rules": rules, "tolerance": tolerance, "draws": draws, "seed": seed,
        "n_human": n_human, "n_machine": n_machine, "activity": activity,
    }  # fmt: skip
    if task == "classes":
        keep = ~pd.isna(names)
        if not keep.any():
            raise GtkitError(
                f"{output.manifest}: the worker answers hold no single class label "
                f"(task {task_type or 'unknown'}); worker analysis covers single-label "
                "classification and bounding boxes"
            )
        return _classes(view, labeled, raw, names, keep, reference, **common)
    return _boxes_analysis(view, labeled, raw, reference, **common)


def _answers(raw: pd.DataFrame, keep: npt.NDArray[np.bool_]) -> _Answers:
    """The kept answers as codes; objects are those with at least one kept answer."""
    rows = np.flatnonzero(keep)
    index_all = raw["index"].to_numpy(dtype=np.int64)[rows]
    index, obj = np.unique(index_all, return_inverse=True)
    ids, worker = np.unique(
        raw["worker"].to_numpy(dtype=object)[rows].astype(str), return_inverse=True
    )
    obj = obj.astype(np.int64)
    return _Answers(
        index=index.astype(np.int64),
        obj=obj,
        worker=worker.astype(np.int64),
        worker_ids=ids.astype(object),
        slot=_slots(obj, np.arange(len(rows))),
        seconds=_seconds(raw)[rows],
        iteration=raw["iteration"].to_numpy(dtype=np.int64)[rows],
        skipped=int(len(raw) - len(rows)),
    )


def _reference_positions(
    labeled: pd.DataFrame, index: IntArray, ref: References
) -> tuple[IntArray, pa.Array]:
    """Each analysed object's reference image (a position among the reference's image names,
    -1 for none, or where the object's file name stands for several images), and those
    names."""
    first = labeled.drop_duplicates("index").set_index("index")["source"]
    _, image_names = ref.image_codes()
    # Matched over every labeled object, as the analysis matches them (objects at other paths
    # with the same file name make one ambiguous, answered or not), then taken for ``index``.
    matches = match_images(image_names, first)
    position = pd.Series(np.where(matches.ambiguous, -1, matches.image), index=first.index)
    found: IntArray = position.reindex(index, fill_value=-1).to_numpy(dtype=np.int64)
    return found, image_names


def _classes(
    view: JobOutput,
    labeled: pd.DataFrame,
    raw: pd.DataFrame,
    names: npt.NDArray[np.object_],
    keep: npt.NDArray[np.bool_],
    reference: References | None,
    **common: Any,
) -> WorkerAnalysis:
    a = _answers(raw, keep)
    given = names[keep].astype(str)
    service_frame = view.classes.drop_duplicates("index").set_index("index")["class_name"]
    service_names = service_frame.reindex(a.index).to_numpy(dtype=object)
    truth_names = np.full(a.n_objects, None, dtype=object)
    if reference is not None and not len(reference.classes) and len(reference.boxes):
        raise GtkitError(
            f"{reference.source}: these references hold boxes but no image classes; a "
            "classification job's workers are scored against image classes (a JSON list of "
            "image classes, a CUB folder, or a classification output manifest)"
        )
    if reference is not None:
        positions, image_names = _reference_positions(labeled, a.index, reference)
        truth_by_name = reference.classes.drop_duplicates("file_name").set_index("file_name")[
            "class_name"
        ]
        has = positions >= 0
        shown = image_names.take(pa.array(positions[has])).to_pylist()
        truth_names[has] = truth_by_name.reindex(shown).to_numpy(dtype=object)
    known = [
        x
        for x in (*given.tolist(), *service_names.tolist(), *truth_names.tolist())
        if isinstance(x, str)
    ]
    vocabulary = np.unique(np.asarray(known, dtype=object).astype(str))
    n_labels = len(vocabulary)

    def codes(values: npt.NDArray[np.object_]) -> IntArray:
        present = np.array([isinstance(v, str) for v in values], dtype=bool)
        out = np.full(len(values), -1, dtype=np.int64)
        out[present] = np.searchsorted(vocabulary, values[present].astype(str))
        return out

    label = codes(given.astype(object))
    service = codes(service_names)
    truth = codes(truth_names)
    n_workers = len(a.worker_ids)
    rank = frequency_rank(label, n_labels)

    def consolidate(mask: npt.NDArray[np.bool_], slot: IntArray) -> dict[str, Any]:
        o, w, lab = a.obj[mask], a.worker[mask], label[mask]
        ds = dawid_skene(o, w, lab, n_objects=a.n_objects, n_workers=n_workers, n_labels=n_labels)
        return {
            "majority-vote": majority_vote(
                o, lab, n_objects=a.n_objects, n_labels=n_labels, tie_rank=rank
            ),
            "dawid-skene": ds.labels,
        }

    full_ds = dawid_skene(
        a.obj, a.worker, label, n_objects=a.n_objects, n_workers=n_workers, n_labels=n_labels
    )
    full = consolidate(np.ones(len(a.obj), dtype=bool), a.slot)
    has_truth = truth >= 0
    has_service = service >= 0
    against = "reference" if has_truth.any() else "full-crowd"

    def accuracy(values: IntArray, other: IntArray, where: npt.NDArray[np.bool_]) -> float:
        return float((values[where] == other[where]).mean()) if where.any() else math.nan

    rows = []
    for method, values in {**full, _SERVICE: service}.items():
        rows.append({
            "method": method,
            "quality": accuracy(values, truth, has_truth),
            "agreement_with_service": accuracy(values, service, has_service),
            "objects": int(has_truth.sum()),
        })  # fmt: skip
    methods = pd.DataFrame(rows, columns=["method", "quality", "agreement_with_service", "objects"])

    def quality(method: str, labels: Any) -> float:
        if against == "reference":
            return accuracy(labels, truth, has_truth)
        return float((labels == full[method]).mean())

    what_if = _what_if(a, consolidate, quality, common, against)
    agreement = np.where(service[a.obj] >= 0, (label == service[a.obj]).astype(float), np.nan)
    reference_score = np.where(truth[a.obj] >= 0, (label == truth[a.obj]).astype(float), np.nan)
    estimated = full_ds.answer_correct(a.obj, label)
    table_labels = pd.DataFrame(
        {
            "index": a.index,
            "service": _names(vocabulary, service),
            "majority-vote": _names(vocabulary, full["majority-vote"]),
            "dawid-skene": _names(vocabulary, full["dawid-skene"]),
            "dawid-skene_confidence": full_ds.posterior.max(axis=1),
            "reference": _names(vocabulary, truth),
        }
    )
    return _finish(a, agreement, reference_score, reference_score, estimated, methods, what_if,
                   table_labels, against, common, task="classes")  # fmt: skip


def _names(vocabulary: np.ndarray, values: IntArray) -> npt.NDArray[np.object_]:
    out = np.full(len(values), None, dtype=object)
    present = values >= 0
    out[present] = vocabulary[values[present]]
    return out


Consolidate = Callable[[npt.NDArray[np.bool_], IntArray], dict[str, Any]]
Quality = Callable[[str, Any], float]


def _what_if(
    a: _Answers, consolidate: Consolidate, quality: Quality, common: Mapping[str, Any], against: str
) -> pd.DataFrame:
    """Quality of each method with k of each object's answers and the job's cost at k workers
    per object. Each draw orders every object's answers at random and takes the first k, for
    each k (so a draw's answer sets are nested); with every answer there is one result."""
    top = int(a.per_object.max(initial=0))
    draws, prices = int(common["draws"]), common["prices"]
    rng = np.random.default_rng(common["seed"])
    results: dict[tuple[int, str], list[float]] = {}
    for _ in range(draws):
        rank = _slots(a.obj, rng.random(len(a.obj)))
        for k in range(1, top):
            for method, labels in consolidate(rank < k, rank).items():
                results.setdefault((k, method), []).append(quality(method, labels))
    for method, labels in consolidate(np.ones(len(a.obj), dtype=bool), a.slot).items():
        results[(top, method)] = [quality(method, labels)]
    rows = []
    for (k, method), values in sorted(results.items()):
        cost = math.nan
        if prices is not None:
            cost = Pricing(prices.object_fee, k, prices.task_price).cost(
                human_objects=common["n_human"], machine_objects=common["n_machine"]
            )
        v = np.asarray(values, dtype=np.float64)
        rows.append({
            "k": k, "method": method, "quality_mean": float(v.mean()),
            "quality_sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "draws": len(v), "cost": cost, "against": against,
        })  # fmt: skip
    table: pd.DataFrame = pd.DataFrame(
        rows, columns=["k", "method", "quality_mean", "quality_sd", "draws", "cost", "against"]
    )
    return table


def _boxes_analysis(
    view: JobOutput,
    labeled: pd.DataFrame,
    raw: pd.DataFrame,
    reference: References | None,
    **common: Any,
) -> WorkerAnalysis:
    if reference is not None and not len(reference.boxes) and len(reference.classes):
        raise GtkitError(
            f"{reference.source}: these references hold image classes but no boxes; a "
            "bounding-box job's workers are scored against reference boxes (COCO .json, Open "
            "Images .csv, CUB folder, or a bounding-box output manifest)"
        )
    found, width, height, listed = _box_answers(raw)
    if not listed.any():
        raise GtkitError(
            f"{view.manifest}: the worker answers hold no boundingBoxes list; worker analysis "
            "covers single-label classification and bounding boxes"
        )
    a = _answers(raw, listed)
    position = np.cumsum(listed) - 1  # each raw answer's place among the kept ones
    box_answer = position[found["row"].to_numpy(dtype=np.int64)]
    matching = str(common["matching"])
    n = a.n_objects

    service_boxes = view.boxes
    in_job = np.isin(service_boxes["index"].to_numpy(dtype=np.int64), a.index)
    service_boxes = service_boxes[in_job]
    service_obj = np.searchsorted(a.index, service_boxes["index"].to_numpy(dtype=np.int64))

    ref_obj = np.zeros(0, dtype=np.int64)
    has_ref = np.zeros(n, dtype=bool)
    ref_rows: IntArray = np.zeros(0, dtype=np.int64)
    if reference is not None:
        positions, image_names = _reference_positions(labeled, a.index, reference)
        box_image, _ = reference.image_codes()
        has_ref = positions >= 0
        ref_obj, ref_rows = _expand(box_image, len(image_names), positions)
    texts = [
        found["label"].to_numpy(dtype=object),
        service_boxes["class_name"].to_numpy(dtype=object),
        reference.boxes["class_name"].to_numpy(dtype=object)[ref_rows]
        if reference is not None
        else np.zeros(0, dtype=object),
    ]
    as_text = [
        np.array([v if isinstance(v, str) else "\0" for v in t], dtype=object) for t in texts
    ]
    vocabulary = (
        np.unique(np.concatenate(as_text).astype(str)) if sum(map(len, as_text)) else np.array([""])
    )
    worker_code, service_code, ref_code = (
        np.searchsorted(vocabulary, t.astype(str)).astype(np.int64) for t in as_text
    )
    xywh = ["left", "top", "width", "height"]
    worker_set = _BoxSet(
        box_answer, found[xywh].to_numpy(dtype=np.float64).reshape(-1, 4), worker_code,
        np.ones(len(found)),
    )  # fmt: skip
    service_set = _BoxSet(
        service_obj.astype(np.int64),
        service_boxes[xywh].to_numpy(dtype=np.float64).reshape(-1, 4),
        service_code,
        service_boxes["confidence"].to_numpy(dtype=np.float64, na_value=np.nan),
    )
    ref_set = _BoxSet(ref_obj, np.zeros((0, 4)), ref_code, np.zeros(len(ref_obj)))
    if reference is not None:
        ref_xywh = reference.boxes[xywh].to_numpy(dtype=np.float64).reshape(-1, 4)[ref_rows]
        normalized = reference.boxes["normalized"].to_numpy(dtype=bool)[ref_rows]
        if normalized.any():
            size = _image_sizes(labeled, a, width, height, listed)
            scale = size[ref_obj][:, [0, 1, 0, 1]]
            if np.isnan(scale[normalized]).any():
                raise GtkitError(
                    "references are fractions of the image size, but some objects' image sizes "
                    "are not in the output or the answers"
                )
            ref_xywh = np.where(normalized[:, None], ref_xywh * scale, ref_xywh)
        ref_set = _BoxSet(ref_obj, ref_xywh, ref_code, np.zeros(len(ref_obj)))
    against = "reference" if has_ref.any() else "full-crowd"

    def clusters_set(mask: npt.NDArray[np.bool_], slot: IntArray) -> _BoxSet:
        chosen = mask[box_answer]
        made = cluster_boxes(
            a.obj[box_answer[chosen]], slot[box_answer[chosen]], worker_set.xywh[chosen],
            worker_code[chosen], np.bincount(a.obj[mask], minlength=n),
        )  # fmt: skip
        return _BoxSet(made.obj, made.boxes, made.label, made.confidence)

    def consolidate(mask: npt.NDArray[np.bool_], slot: IntArray) -> dict[str, Any]:
        return {"iou-clustering": clusters_set(mask, slot)}

    full = consolidate(np.ones(len(a.obj), dtype=bool), a.slot)

    def mean(values: FloatArray) -> float:
        return float(values.mean()) if len(values) else math.nan

    def quality(method: str, made: Any) -> float:
        if against == "reference":
            return mean(_scores(n, made, ref_set, matching)[has_ref])
        return mean(_scores(n, made, full[method], matching))

    rows = []
    for method, made in {**full, _SERVICE: service_set}.items():
        rows.append({
            "method": method,
            "quality": mean(_scores(n, made, ref_set, matching)[has_ref]),
            "agreement_with_service": mean(_scores(n, made, service_set, matching)),
            "objects": int(has_ref.sum()),
        })  # fmt: skip
    methods = pd.DataFrame(rows, columns=["method", "quality", "agreement_with_service", "objects"])
    what_if = _what_if(a, consolidate, quality, common, against)
    answers = len(a.obj)
    agreement = _against_objects(answers, a.obj, worker_set, service_set, n, matching)
    reference_score = np.full(answers, np.nan)
    if reference is not None:
        scored = _against_objects(answers, a.obj, worker_set, ref_set, n, matching)
        reference_score = np.where(has_ref[a.obj], scored, np.nan)
    right = np.where(np.isnan(reference_score), np.nan, reference_score >= BOX_RIGHT_SCORE)
    estimated = (agreement >= BOX_RIGHT_SCORE).astype(np.float64)
    made = full["iou-clustering"]
    table_labels = pd.DataFrame(
        {
            "index": a.index[made.image],
            "class_name": vocabulary[made.code],
            **{c: made.xywh[:, j] for j, c in enumerate(xywh)},
            "confidence": made.confidence,
        }
    )
    return _finish(a, agreement, reference_score, right, estimated, methods, what_if,
                   table_labels, against, common, task="boxes")  # fmt: skip


def _image_sizes(
    labeled: pd.DataFrame,
    a: _Answers,
    width: FloatArray,
    height: FloatArray,
    listed: npt.NDArray[np.bool_],
) -> FloatArray:
    """Each analysed object's image width and height in pixels: the output's ``image_size``,
    else the largest the workers' answers give; NaN where neither says."""
    first = labeled.drop_duplicates("index").set_index("index")
    size = np.column_stack(
        [
            first["image_width"].reindex(a.index).to_numpy(dtype=np.float64, na_value=np.nan),
            first["image_height"].reindex(a.index).to_numpy(dtype=np.float64, na_value=np.nan),
        ]
    )
    for j, given in enumerate((width[listed], height[listed])):
        largest = np.full(a.n_objects, -np.inf)
        np.maximum.at(largest, a.obj, np.nan_to_num(given, nan=-np.inf))
        largest[~np.isfinite(largest)] = np.nan
        size[:, j] = np.where(np.isnan(size[:, j]), largest, size[:, j])
    return size


# ---------------------------------------------------------------------- the per-worker table
def _group_mean(group: IntArray, values: FloatArray, n: int) -> FloatArray:
    """Mean of the non-NaN ``values`` of each group (NaN for a group with none)."""
    known = ~np.isnan(values)
    total = np.bincount(group[known], weights=values[known], minlength=n)
    count = np.bincount(group[known], minlength=n)
    out: FloatArray = np.divide(total, count, out=np.full(n, np.nan), where=count > 0)
    return out


def _group_median(group: IntArray, values: FloatArray, n: int) -> FloatArray:
    """Median of the non-NaN ``values`` of each group (NaN for a group with none)."""
    known = ~np.isnan(values)
    g, v = group[known], values[known]
    order = np.lexsort((v, g))
    g, v = g[order], v[order]
    counts = np.bincount(g, minlength=n)
    starts = np.cumsum(counts) - counts
    out = np.full(n, np.nan)
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = (v[lo] + v[hi]) / 2
    return out


def _activity_times(
    activity: pd.DataFrame, worker_ids: npt.NDArray[np.object_], job_name: str | None
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Median and total seconds and timed tasks per worker from worker-activity events of the
    job (by ARN where the events name one), matched by the last part of the worker's id."""
    events = activity[activity["seconds"].notna()]
    if job_name and events["labeling_job"].notna().any():
        arn = events["labeling_job"].fillna("").str.lower()
        events = events[arn.str.endswith(f"labeling-job/{job_name.lower()}")]
    tails = pd.Series([str(w).rsplit(".", 1)[-1] for w in worker_ids])
    position = pd.Series(np.arange(len(worker_ids)), index=tails).groupby(level=0).first()
    matched = position.reindex(events["worker"].astype(str)).to_numpy(dtype=np.float64)
    keep = ~np.isnan(matched)
    group = matched[keep].astype(np.int64)
    seconds = events["seconds"].to_numpy(dtype=np.float64)[keep]
    n = len(worker_ids)
    total = np.bincount(group, weights=seconds, minlength=n).astype(np.float64)
    return _group_median(group, seconds, n), total, np.bincount(group, minlength=n).astype(np.int64)


def _finish(
    a: _Answers,
    agreement: FloatArray,
    reference_score: FloatArray,
    right: FloatArray,
    estimated: FloatArray,
    methods: pd.DataFrame,
    what_if: pd.DataFrame,
    labels: pd.DataFrame,
    against: str,
    common: Mapping[str, Any],
    *,
    task: str,
) -> WorkerAnalysis:
    rules: FlagThresholds = common["rules"]
    prices: Pricing | None = common["prices"]
    n = len(a.worker_ids)
    w = a.worker
    answers = np.bincount(w, minlength=n)
    pairs = np.unique(w * a.n_objects + a.obj)
    objects = np.bincount(pairs // a.n_objects, minlength=n)
    timed = ~np.isnan(a.seconds)
    timed_n = np.bincount(w[timed], minlength=n)
    seconds_total = np.bincount(w[timed], weights=a.seconds[timed], minlength=n)
    seconds_median = _group_median(w, a.seconds, n)
    if common["activity"] is not None and len(common["activity"]):
        median, total, count = _activity_times(common["activity"], a.worker_ids, common["job_name"])
        fill = (timed_n == 0) & (count > 0)
        seconds_median[fill], seconds_total[fill], timed_n[fill] = (
            median[fill],
            total[fill],
            count[fill],
        )
    seconds_total = np.where(timed_n > 0, seconds_total, np.nan)
    mean_agreement = _group_mean(w, agreement, n)
    agreed_n = np.bincount(w[~np.isnan(agreement)], minlength=n)
    judged = agreed_n >= rules.min_answers
    pool = mean_agreement[judged] if judged.any() else mean_agreement[~np.isnan(mean_agreement)]
    crowd_agreement = float(np.median(pool)) if len(pool) else math.nan
    spread = float(np.nanstd(agreement)) if (~np.isnan(agreement)).any() else math.nan
    error = spread / np.sqrt(np.maximum(agreed_n, 1))
    gap = crowd_agreement - mean_agreement
    low = (
        judged
        & (gap >= rules.agreement_gap)
        & (gap >= rules.agreement_z * np.maximum(error, 1e-12))
    )
    crowd_seconds = float(np.median(a.seconds[timed])) if timed.any() else math.nan
    if not timed.any() and common["activity"] is not None and (timed_n > 0).any():
        crowd_seconds = float(np.median(seconds_median[timed_n > 0]))
    fast = (timed_n >= rules.min_answers) & (seconds_median < rules.fast_fraction * crowd_seconds)
    price = math.nan if prices is None else prices.task_price
    pay = answers * price
    hours = seconds_total / 3600
    hourly = np.divide(timed_n * price, hours, out=np.full(n, np.nan), where=hours > 0)
    table = pd.DataFrame(
        {
            "worker": a.worker_ids.astype(str),
            "answers": answers.astype(np.int64),
            "objects": objects.astype(np.int64),
            "seconds_median": seconds_median,
            "seconds_total": seconds_total,
            "agreement": mean_agreement,
            "accuracy": _group_mean(w, right, n),
            "reference_score": _group_mean(w, reference_score, n),
            "estimated_accuracy": _group_mean(w, estimated, n),
            "pay": pay,
            "hourly_pay": hourly,
            "low_agreement": low,
            "too_fast": fast,
            "flagged": low | fast,
        }
    )
    table = table.sort_values(["answers", "worker"], ascending=[False, True], kind="stable")
    per_answer = pd.DataFrame(
        {
            "index": a.index[a.obj],
            "iteration": a.iteration,
            "worker": a.worker_ids[a.worker].astype(str),
            "seconds": a.seconds,
            "agreement": agreement,
            "reference_score": reference_score,
            "estimated_right": estimated,
        }
    )
    crowd: dict[str, float | None] = {
        "workers": float(n),
        "answers": float(len(a.obj)),
        "objects": float(a.n_objects),
        "agreement": crowd_agreement,
        "agreement_sd": spread,
        "seconds_median": crowd_seconds,
    }
    return WorkerAnalysis(
        job_name=common["job_name"],
        label_attribute=common["attribute"],
        task=task,
        matching=common["matching"],
        pricing=prices,
        thresholds=rules,
        tolerance=common["tolerance"],
        against=against,
        workers=table.reset_index(drop=True),
        methods=methods,
        what_if=what_if,
        labels=labels,
        answers=per_answer,
        crowd=crowd,
        skipped_answers=a.skipped,
    )
