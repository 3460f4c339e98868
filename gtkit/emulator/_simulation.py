"""The emulated labeling job: simulated workers, consolidation, automated labeling, output tree.

A job advances one iteration per step on a simulated clock (no sleeping). Every step is
deterministic given the seed. The procedure follows the documented one (facts, section 1):
a probe batch of 10 objects, random human batches until a validation set (20% of the objects
under 5,000, else 10%) and a training set of the same size exist, then per iteration a model
whose error shrinks as its training set grows, image confidences, the threshold theta chosen on
the validation set so that auto labels reach the quality target, auto labels above theta, and
the model choosing the hardest objects for the next human batch.
"""

from __future__ import annotations

import base64
import hashlib
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson

from gtkit._arrays import FloatArray, IntArray
from gtkit._boxes import iou_matrix
from gtkit._masks import mask_score, read_mask, write_png
from gtkit._tasks import get_task

Writer = Callable[[str, bytes], None]

ITERATION_TIME = timedelta(minutes=45)  # simulated time one iteration takes
#: The quality machine labels must reach, by task (mIoU, or accuracy for classes).
TARGETS = {
    name: target
    for name in ("bounding-box", "image-classification", "text-classification",
                 "semantic-segmentation")
    if (target := get_task(name).auto_labeling_target) is not None
}  # fmt: skip
#: The colours masks are painted in: class 0 (BACKGROUND) white, then the job's classes in order.
PALETTE = (
    "#ffffff", "#2ca02c", "#1f77b4", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


@dataclass(frozen=True)
class Worker:
    """One simulated worker of a crew (see :meth:`Workforce.with_crew`).

    ``name``: the last part of the worker's ``workerId`` in a public workforce
    (``public.<region>.<name>``); in a private workforce the id ends in 16 hexadecimal digits
    made from the name, as private ids do (:meth:`worker_id` gives either). ``skill``: the
    chance (a fraction) that one answer is right: the right class, or for boxes every box
    drawn with care (the workforce's ``box_noise``, ``miss`` and ``extra`` still apply);
    otherwise another class at random, or a careless drawing (a box or two anywhere).
    ``seconds_per_task``: the worker's typical time on one task (seconds; each task varies by
    about a quarter). ``careless``: planted as careless, for tests to expect a flag.
    """

    name: str
    skill: float
    seconds_per_task: float
    careless: bool = False

    def worker_id(self, prefix: str) -> str:
        """The ``workerId`` the service writes, for a prefix such as ``public.us-east-1.``."""
        if prefix.startswith("private."):
            return prefix + hashlib.sha256(self.name.encode()).hexdigest()[:16]
        return prefix + self.name

    @property
    def sub(self) -> str:
        """The worker's Cognito user id (private workforces), made from the name."""
        return str(uuid.UUID(hashlib.sha256(b"sub:" + self.name.encode()).hexdigest()[:32]))


@dataclass(frozen=True)
class Workforce:
    """How simulated workers err. ``box_noise`` is the standard deviation of a box edge as a
    fraction of the box size; ``miss`` and ``extra`` are per-box probabilities; ``accuracy`` is
    the chance a worker picks the right class (else any label at random); ``mask_shift`` the
    standard deviation (pixels) of how far a worker's painted mask is off.

    Without a ``crew`` every answer comes from a new anonymous worker with these traits. With
    one (individual :class:`Worker` s, made by :meth:`with_crew`), each object's answers come
    from that many distinct crew members drawn at random, each answering with their own skill
    and speed; a crew smaller than the workers per object answers with all its members.
    """

    box_noise: float = 0.06
    miss: float = 0.05
    extra: float = 0.03
    accuracy: float = 0.9
    seconds_per_task: float = 40.0
    mask_shift: float = 1.0
    crew: tuple[Worker, ...] = ()

    def __post_init__(self) -> None:
        # A crew read back from saved state arrives as a list of dicts.
        members = tuple(w if isinstance(w, Worker) else Worker(**w) for w in self.crew)
        object.__setattr__(self, "crew", members)
        for w in members:
            if not 0 <= w.skill <= 1 or not w.seconds_per_task > 0:
                raise ValueError(f"worker {w.name}: skill must be 0-1 and seconds above 0")

    @classmethod
    def with_crew(
        cls,
        size: int = 20,
        *,
        careless: int = 2,
        seed: int = 0,
        skill: tuple[float, float] = (0.85, 0.97),
        careless_skill: float = 0.25,
        seconds: float = 40.0,
        careless_seconds: float = 6.0,
        **traits: float,
    ) -> Workforce:
        """A workforce of ``size`` individual workers, ``careless`` of them careless.

        Careful workers' skills are drawn evenly from the ``skill`` range and their typical
        seconds per task spread by about 30% around ``seconds``; careless workers have
        ``careless_skill`` and ``careless_seconds`` (seconds). Seeded by ``seed``; ``traits``
        sets the other fields (``box_noise``, ``miss``, ``extra``).
        """
        if size < 1 or not 0 <= careless <= size:
            raise ValueError("a crew needs at least 1 worker and at most size careless ones")
        rng = np.random.default_rng(seed)
        planted = set(rng.choice(size, size=careless, replace=False).tolist())
        crew = []
        for k in range(size):
            name = _worker_id(rng)
            if k in planted:
                crew.append(Worker(name, careless_skill, careless_seconds, careless=True))
            else:
                crew.append(
                    Worker(
                        name,
                        round(float(rng.uniform(*skill)), 4),
                        round(float(seconds * rng.lognormal(0.0, 0.3)), 2),
                    )
                )
        return cls(crew=tuple(crew), **traits)


@dataclass(frozen=True)
class ModelBehaviour:
    """The simulated auto-labeling model: its box error (fraction of box size) and mask error
    (pixels) with 100 training objects, shrinking with the square root of the training set, and
    its class accuracy."""

    box_noise_at_100: float = 0.30
    accuracy_at_100: float = 0.80
    mask_shift_at_100: float = 6.0


@dataclass
class Truth:
    """Reference labels of one object: boxes (k, 4) px, class names, image size in px, and for
    segmentation a (height, width) mask of class ids (0 background, i the job's class i)."""

    boxes: FloatArray
    classes: list[str]
    width: int
    height: int
    mask: IntArray | None = None


@dataclass
class JobState:
    """Everything the emulator knows and has decided about one job."""

    name: str
    attribute: str
    task: str  # one of gtkit.emulator.SUPPORTED_TASKS
    labels: list[str]
    sources: list[str]
    truth: list[Truth | None]
    workers: int
    worker_prefix: str
    auto_labeling: bool
    output_prefix: str
    max_batch: int
    created: datetime
    rng: np.random.Generator
    workforce: Workforce
    model: ModelBehaviour
    max_human: int | None = None
    iteration: int = 0
    # per object: None unlabeled, else (iteration, human?, label value, metadata)
    results: list[tuple[int, bool, Any, dict[str, Any]] | None] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    validation: list[int] = field(default_factory=list)
    training: list[int] = field(default_factory=list)
    done: bool = False
    inline: bool = False  # sources are inline texts (``source``), not ``source-ref`` URIs
    # The human masks written (S3 URI -> base64 PNG), which validation compares predictions with.
    masks: dict[str, str] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.sources)

    def counters(self) -> dict[str, int]:
        human = sum(1 for r in self.results if r is not None and r[1])
        machine = sum(1 for r in self.results if r is not None and not r[1])
        failed = len(self.failed)
        return {
            "TotalLabeled": human + machine,
            "HumanLabeled": human,
            "MachineLabeled": machine,
            "FailedNonRetryableError": failed,
            "Unlabeled": self.n - human - machine - failed,
        }

    def now(self) -> datetime:
        return self.created + ITERATION_TIME * self.iteration

    def unlabeled(self) -> list[int]:
        return [i for i in range(self.n) if self.results[i] is None and i not in self.failed]


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _file_stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%d_%H:%M:%S")


# ---------------------------------------------------------------------- workers
def _worker_boxes(state: JobState, truth: Truth) -> list[dict[str, Any]]:
    wf, rng = state.workforce, state.rng
    out = []
    for (x, y, w, h), cls in zip(truth.boxes, truth.classes, strict=True):
        if rng.random() < wf.miss:
            continue
        label = _label_for(state, cls)
        if label is None:
            continue
        dx, dy, dw, dh = rng.normal(0, wf.box_noise, 4)
        out.append(
            {
                "label": label,
                "left": round(float(max(0.0, x + dx * w))),
                "top": round(float(max(0.0, y + dy * h))),
                "width": max(1, round(float(w * (1 + dw)))),
                "height": max(1, round(float(h * (1 + dh)))),
            }
        )
    if rng.random() < wf.extra:
        w, h = truth.width * 0.15, truth.height * 0.15
        out.append(
            {
                "label": state.labels[int(rng.integers(len(state.labels)))],
                "left": round(float(rng.uniform(0, truth.width - w))),
                "top": round(float(rng.uniform(0, truth.height - h))),
                "width": round(w),
                "height": round(h),
            }
        )
    return out


def _label_for(state: JobState, reference_class: str) -> str | None:
    """The label a worker gives a reference object: its own name if offered; in a one-label job,
    that label; otherwise the worker cannot draw it."""
    if reference_class in state.labels:
        return reference_class
    return state.labels[0] if len(state.labels) == 1 else None


def _consolidate_boxes(
    answers: list[list[dict[str, Any]]], workers: int
) -> list[tuple[dict[str, Any], float]]:
    """Boxes matched across workers by IoU (> 0.5, same label) and averaged; kept when at least
    half the workers drew them. Confidence: the share of workers agreeing times their mean IoU
    with the averaged box."""
    pool = [(w, b) for w, boxes in enumerate(answers) for b in boxes]
    used = [False] * len(pool)
    out = []
    for i, (wi, box) in enumerate(pool):
        if used[i]:
            continue
        members = [box]
        used[i] = True
        seen_workers = {wi}
        anchor = np.array(
            [[box["left"], box["top"], box["width"], box["height"]]], dtype=np.float64
        )
        for j in range(i + 1, len(pool)):
            wj, other = pool[j]
            if used[j] or wj in seen_workers or other["label"] != box["label"]:
                continue
            cand = np.array(
                [[other["left"], other["top"], other["width"], other["height"]]], dtype=np.float64
            )
            if iou_matrix(anchor, cand)[0, 0] > 0.5:
                members.append(other)
                used[j] = True
                seen_workers.add(wj)
        if len(members) * 2 < workers:
            continue
        arr = np.array(
            [[m["left"], m["top"], m["width"], m["height"]] for m in members], dtype=np.float64
        )
        mean = arr.mean(axis=0)
        agreement = float(iou_matrix(mean[None, :], arr).mean())
        merged = {
            "label": box["label"],
            "left": round(float(mean[0])),
            "top": round(float(mean[1])),
            "width": round(float(mean[2])),
            "height": round(float(mean[3])),
        }
        out.append((merged, round(len(members) / workers * agreement, 2)))
    return out


def _careless_boxes(state: JobState, truth: Truth) -> list[dict[str, Any]]:
    """A careless answer: one or two boxes of any label, anywhere, none of them looked for."""
    rng = state.rng
    extent = truth.boxes[:, :2] + truth.boxes[:, 2:] if len(truth.boxes) else np.zeros((0, 2))
    width = truth.width or float(extent[:, 0].max(initial=100.0))
    height = truth.height or float(extent[:, 1].max(initial=100.0))
    w, h = width * 0.15, height * 0.15
    return [
        {
            "label": state.labels[int(rng.integers(len(state.labels)))],
            "left": round(float(rng.uniform(0, width - w))),
            "top": round(float(rng.uniform(0, height - h))),
            "width": max(1, round(w)),
            "height": max(1, round(h)),
        }
        for _ in range(int(rng.integers(1, 3)))
    ]


def _crew_class(state: JobState, truth: Truth, worker: Worker) -> str:
    """A crew member's class: the right one with the worker's skill, else another at random."""
    right = _label_for(state, truth.classes[0]) if truth.classes else None
    if right is None:
        return state.labels[int(state.rng.integers(len(state.labels)))]
    if state.rng.random() < worker.skill:
        return right
    wrong = [label for label in state.labels if label != right] or [right]
    return wrong[int(state.rng.integers(len(wrong)))]


def _worker_class(state: JobState, truth: Truth) -> str:
    right = _label_for(state, truth.classes[0]) if truth.classes else None
    if right is not None and state.rng.random() < state.workforce.accuracy:
        return right
    return state.labels[int(state.rng.integers(len(state.labels)))]


# ---------------------------------------------------------------------- labels
def _written_by(state: JobState, task_type: str, human: bool) -> dict[str, str]:
    """The metadata fields every label of the job carries: its type, who labeled it, when,
    and the job's name."""
    return {
        "type": task_type,
        "human-annotated": "yes" if human else "no",
        "creation-date": _stamp(state.now()),
        "job-name": f"labeling-job/{state.name}",
    }


def _box_label(
    state: JobState, boxes: list[tuple[dict[str, Any], float]], truth: Truth, human: bool
) -> tuple[Any, dict[str, Any]]:
    used = sorted({b["label"] for b, _ in boxes}, key=state.labels.index)
    value = {
        "image_size": [{"width": truth.width, "height": truth.height, "depth": 3}],
        "annotations": [
            {"class_id": state.labels.index(b["label"]), "left": b["left"], "top": b["top"],
             "width": b["width"], "height": b["height"]}
            for b, _ in boxes
        ],
    }  # fmt: skip
    meta = {
        "objects": [{"confidence": c} for _, c in boxes],
        "class-map": {str(state.labels.index(name)): name for name in used},
        **_written_by(state, "groundtruth/object-detection", human),
    }
    return value, meta


def _class_label(
    state: JobState, label: str, confidence: float, human: bool
) -> tuple[Any, dict[str, Any]]:
    meta = {
        "class-name": label,
        "confidence": round(confidence, 2),
        **_written_by(state, f"groundtruth/{state.task}", human),
    }
    return state.labels.index(label), meta


def _box_quality(pred: FloatArray, ref: FloatArray) -> float:
    """Optimal-rule quality of one image (greedy is exact enough for a simulated model)."""
    if len(pred) == 0 and len(ref) == 0:
        return 1.0
    if len(pred) == 0 or len(ref) == 0:
        return 0.0
    iou = iou_matrix(pred, ref)
    total, pairs = 0.0, 0
    while iou.size and iou.max() > 0:
        i, j = np.unravel_index(int(iou.argmax()), iou.shape)
        total += float(iou[i, j])
        pairs += 1
        iou[i, :] = 0
        iou[:, j] = 0
    return total / (len(pred) + len(ref) - pairs)


# ---------------------------------------------------------------------- one iteration
def step(state: JobState, write: Writer) -> None:
    """Run the next iteration: pick objects, label them, write that iteration's files."""
    state.iteration += 1
    it = state.iteration
    pending = state.unlabeled()
    batch = max(1, min(state.max_batch, round((0.2 if state.n < 5000 else 0.1) * state.n)))
    auto: dict[int, tuple[Any, dict[str, Any]]] = {}
    if it == 1:
        humans = list(state.rng.choice(pending, size=min(10, len(pending)), replace=False))
    elif not state.auto_labeling or len(state.validation) + len(state.training) < 2 * batch:
        # Random human batches that fill up to the next batch boundary (10, then 190, 200, ...).
        labeled = len(state.validation) + len(state.training)
        if state.auto_labeling:
            size = min(len(pending), batch - labeled % batch)
        else:  # without a model, objects go out MaxConcurrentTaskCount at a time
            size = min(len(pending), state.max_batch)
        humans = list(state.rng.choice(pending, size=size, replace=False))
    else:
        auto, confidence = _auto_label(state, pending, write)
        rest = [i for i in pending if i not in auto]
        rest.sort(key=lambda i: confidence.get(i, 0.0))  # the model sends its hardest to humans
        humans = rest[:batch] if len(rest) > batch else rest
    if state.max_human is not None:
        done_human = sum(1 for r in state.results if r is not None and r[1])
        humans = humans[: max(0, state.max_human - done_human)]
    humans = [int(i) for i in humans]
    consolidated = []
    for i in humans:
        truth = state.truth[i]
        if truth is None:
            state.failed[i] = (
                "ClientError: gtkit emulator: no reference label for "
                f"{state.sources[i].rsplit('/', 1)[-1]}, so no simulated worker can label it"
            )
            continue
        crew = state.workforce.crew
        people = (
            [
                crew[int(k)]
                for k in state.rng.choice(len(crew), min(state.workers, len(crew)), False)
            ]
            if crew
            else []
        )
        answers, value, meta = _human_label(state, truth, i, write, people)
        state.results[i] = (it, True, value, meta)
        if people:
            _write_crew_response(state, i, answers, people, write)
        else:
            _write_worker_response(state, i, answers, write)
        consolidated.append(
            {
                "datasetObjectId": str(i),
                "consolidatedAnnotation": {
                    "content": {state.attribute: value, f"{state.attribute}-metadata": meta}
                },
            }
        )
        (state.validation if len(state.validation) < batch else state.training).append(i)
    for i, (value, meta) in auto.items():
        state.results[i] = (it, False, value, meta)
    prefix = state.output_prefix
    if consolidated:
        folder = f"{prefix}/annotations/consolidated-annotation/consolidation-response"
        key = f"{folder}/iteration-{it}/{_file_stamp(state.now())}.json"
        write(key, orjson.dumps(consolidated))
    if auto:
        lines = b"".join(
            f"{i} ".encode()
            + orjson.dumps({state.attribute: v, f"{state.attribute}-metadata": m})
            + b"\n"
            for i, (v, m) in sorted(auto.items())
        )
        write(
            f"{prefix}/activelearning/auto-annotation/{it}/output/auto_annotator_output.txt", lines
        )
        write(
            f"{prefix}/inference/{it}/inference-summary.json",
            orjson.dumps({"objects": len(pending)}),
        )
        write(
            f"{prefix}/training/{it}/training-summary.json",
            orjson.dumps(
                {
                    "training_objects": len(state.training),
                    "validation_objects": len(state.validation),
                }
            ),
        )
    write(
        f"{prefix}/manifests/intermediate/{it}/output.manifest",
        manifest_bytes(state, labeled_only=True),
    )
    if not state.unlabeled() or (state.max_human is not None and not humans and not auto):
        finish(state, write)


def _human_label(
    state: JobState, truth: Truth, index: int, write: Writer, people: Sequence[Worker] = ()
) -> tuple[list[Any], Any, dict[str, Any]]:
    """Every worker's answer (answer contents), and the consolidated label and metadata.
    ``people``: the crew members answering, else the workforce's anonymous workers. A mask is
    written as object ``index``'s file (``write``)."""
    if state.task == "bounding-box":
        if people:
            answers = [
                _worker_boxes(state, truth)
                if state.rng.random() < w.skill
                else _careless_boxes(state, truth)
                for w in people
            ]
        else:
            answers = [_worker_boxes(state, truth) for _ in range(state.workers)]
        value, meta = _box_label(state, _consolidate_boxes(answers, len(answers)), truth, True)
        content = [
            {
                "boundingBox": {
                    "boundingBoxes": a,
                    "inputImageProperties": {"width": truth.width, "height": truth.height},
                }
            }
            for a in answers
        ]  # fmt: skip
        return content, value, meta
    if state.task == "semantic-segmentation":
        return _human_mask(state, truth, index, write, people)
    if people:
        votes = [_crew_class(state, truth, w) for w in people]
    else:
        votes = [_worker_class(state, truth) for _ in range(state.workers)]
    winner = max(state.labels, key=lambda label: (votes.count(label), -state.labels.index(label)))
    value, meta = _class_label(state, winner, votes.count(winner) / len(votes), True)
    image = state.task == "image-classification"
    element = "crowd-image-classifier" if image else "crowd-classifier"
    return [{element: {"label": v}} for v in votes], value, meta


# ---------------------------------------------------------------------- masks
def _colors(state: JobState) -> dict[int, str]:
    """Each class id's colour: 0 the background, i the job's class i (labels[i - 1])."""
    return {i: PALETTE[i % len(PALETTE)] for i in range(len(state.labels) + 1)}


def _truth_mask(state: JobState, truth: Truth) -> IntArray:
    if truth.mask is not None:
        return truth.mask
    return np.zeros((max(1, truth.height), max(1, truth.width)), dtype=np.int64)


def _shifted(mask: IntArray, dx: int, dy: int) -> IntArray:
    """The mask moved ``dx`` pixels right and ``dy`` down, background where it moved from."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    if abs(dx) >= w or abs(dy) >= h:
        return out
    out[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)] = mask[
        max(0, -dy) : h + min(0, -dy), max(0, -dx) : w + min(0, -dx)
    ]
    return out


def _painted(state: JobState, mask: IntArray, shift: float) -> IntArray:
    """A mask as someone off by a random shift (standard deviation ``shift`` pixels) paints it."""
    dx, dy = (round(float(v)) for v in state.rng.normal(0, shift, 2))
    return _shifted(mask, dx, dy)


def _mask_label(
    state: JobState, mask: IntArray, confidence: float, index: int, write: Writer,
    *, human: bool,
) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """Write a consolidated mask as a colour PNG; its S3 URI and metadata."""
    colors = _colors(state)
    folder = f"{state.output_prefix}/annotations/consolidated-annotation/output"
    uri = f"{folder}/{index}_{_stamp(state.now())}.png"
    png = write_png(mask, colors)
    write(uri, png)
    if human:
        state.masks[uri] = base64.b64encode(png).decode()
    names = ["BACKGROUND", *state.labels]
    meta = {
        "internal-color-map": {
            str(i): {"class-name": names[i], "hex-color": colors[i], "confidence": confidence}
            for i in range(len(names))
        },
        **_written_by(state, "groundtruth/semantic-segmentation", human),
    }
    return uri, meta


def _human_mask(
    state: JobState, truth: Truth, index: int, write: Writer, people: Sequence[Worker] = ()
) -> tuple[list[Any], Any, dict[str, Any]]:
    """Each worker paints the reference mask a little off (a crew member without care, by
    their skill, ten times as far); the consolidated mask is the pixel-wise majority (ties to
    the lower class id); its confidence the workers' mean share of agreement over the pixels."""
    mask = _truth_mask(state, truth)
    shift = state.workforce.mask_shift
    shifts = (
        [shift if state.rng.random() < w.skill else 10 * shift for w in people]
        if people
        else [shift] * state.workers
    )
    painted = np.stack([_painted(state, mask, s) for s in shifts])
    top = len(state.labels) + 1
    votes = np.stack([(painted == c).sum(axis=0) for c in range(top)])
    consolidated = votes.argmax(axis=0).astype(np.int64)
    confidence = round(float(votes.max(axis=0).mean() / len(shifts)), 2)
    colors = _colors(state)
    mappings = {name: {"color": colors[i + 1]} for i, name in enumerate(state.labels)}
    answers = [
        {
            "crowd-semantic-segmentation": {
                "inputImageProperties": {"width": mask.shape[1], "height": mask.shape[0]},
                "labelMappings": mappings,
                "labeledImage": {"pngImageData": base64.b64encode(write_png(p, colors)).decode()},
            }
        }
        for p in painted
    ]
    value, meta = _mask_label(state, consolidated, confidence, index, write, human=True)
    return answers, value, meta


def _write_worker_response(state: JobState, index: int, answers: list[Any], write: Writer) -> None:
    started = state.now()
    body = {
        "answers": [
            {
                "acceptanceTime": (started + timedelta(seconds=5 * w)).strftime(
                    "%Y-%m-%dT%H:%M:%S.000Z"
                ),
                "answerContent": content,
                "submissionTime": (
                    started + timedelta(seconds=5 * w + state.workforce.seconds_per_task)
                ).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "timeSpentInSeconds": state.workforce.seconds_per_task,
                "workerId": f"{state.worker_prefix}{_worker_id(state.rng)}",
            }
            for w, content in enumerate(answers)
        ]
    }
    folder = f"{state.output_prefix}/annotations/worker-response/iteration-{state.iteration}"
    key = f"{folder}/{index}/{_file_stamp(started)}.json"
    write(key, orjson.dumps(body))


def _write_crew_response(
    state: JobState, index: int, answers: list[Any], people: Sequence[Worker], write: Writer
) -> None:
    """The worker-response file of a crew's answers: each worker's own id, times (accepted
    within ten minutes of the batch's start, about their usual time spent) and, in a private
    workforce, the ``workerMetadata`` a real file carries."""
    started = state.now()
    private = state.worker_prefix.startswith("private.")
    region = state.worker_prefix.split(".")[1] if "." in state.worker_prefix else "us-east-1"
    rows = []
    for worker, content in zip(people, answers, strict=True):
        accepted = started + timedelta(seconds=float(state.rng.uniform(0, 600)))
        spent = round(worker.seconds_per_task * float(state.rng.lognormal(0.0, 0.25)), 3)
        row: dict[str, Any] = {
            "acceptanceTime": accepted.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "answerContent": content,
            "submissionTime": (accepted + timedelta(seconds=spent)).strftime(
                "%Y-%m-%dT%H:%M:%S.%f"
            )[:-3]
            + "Z",
            "timeSpentInSeconds": spent,
            "workerId": worker.worker_id(state.worker_prefix),
        }
        if private:
            row["workerMetadata"] = {
                "identityData": {
                    "identityProviderType": "Cognito",
                    "issuer": f"https://cognito-idp.{region}.amazonaws.com/{region}_gtkitEmu",
                    "sub": worker.sub,
                }
            }
        rows.append(row)
    folder = f"{state.output_prefix}/annotations/worker-response/iteration-{state.iteration}"
    write(f"{folder}/{index}/{_file_stamp(started)}.json", orjson.dumps({"answers": rows}))


def _worker_id(rng: np.random.Generator) -> str:
    return "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[int(k)] for k in rng.integers(0, 32, 26))


@dataclass
class _Prediction:
    """What the simulated model says of one object: its label (boxes, a class or a mask) and
    the model's confidence."""

    label: Any
    confidence: float


def _auto_label(
    state: JobState, pending: Sequence[int], write: Writer
) -> tuple[dict[int, tuple[Any, dict[str, Any]]], dict[int, float]]:
    """Train on the training set, choose theta on the validation set, label above theta.

    As the service does: predict the validation objects, score each prediction against its
    human label, and take theta where the most confident predictions reach the task's target
    on validation (with a margin of the validation set's sampling error, so that what is
    labeled above theta reaches it too); then label the pending objects above theta.
    """
    trained = max(1, len(state.training))
    predict, quality, label = _MODELS[state.task]
    val = []
    for i in state.validation:
        truth, human = state.truth[i], state.results[i]
        if truth is None or human is None:
            continue
        p = predict(state, truth, trained)
        val.append((p.confidence, quality(state, p, human[2])))
    theta = _theta(sorted(val, reverse=True), TARGETS[state.task])
    auto: dict[int, tuple[Any, dict[str, Any]]] = {}
    confidence: dict[int, float] = {}
    for i in pending:
        truth = state.truth[i]
        if truth is None:
            continue
        p = predict(state, truth, trained)
        confidence[i] = p.confidence
        if theta is not None and p.confidence > theta:
            auto[i] = label(state, truth, p, i, write)
    return auto, confidence


def _confidence(state: JobState, quality: float, spread: float) -> float:
    """A model's confidence: its (unknown to it) quality, blurred."""
    return float(np.clip(quality + state.rng.normal(0, spread), 0.01, 0.99))


def _predict_boxes(state: JobState, truth: Truth, trained: int) -> _Prediction:
    noise = state.model.box_noise_at_100 * math.sqrt(100 / trained)
    boxes = truth.boxes.copy()
    if len(boxes):
        boxes[:, :2] += state.rng.normal(0, noise, (len(boxes), 2)) * boxes[:, 2:]
        boxes[:, 2:] *= 1 + state.rng.normal(0, noise / 2, (len(boxes), 2))
    return _Prediction(boxes, _confidence(state, _box_quality(boxes, truth.boxes), 0.08))


def _boxes_quality(state: JobState, p: _Prediction, human: Any) -> float:
    anns = human["annotations"]
    ref = np.array(
        [[a["left"], a["top"], a["width"], a["height"]] for a in anns], dtype=np.float64
    ).reshape(-1, 4)
    return _box_quality(p.label, ref)


def _label_boxes(
    state: JobState, truth: Truth, p: _Prediction, index: int, write: Writer
) -> tuple[Any, dict[str, Any]]:
    name = _label_for(state, truth.classes[0]) if truth.classes else state.labels[0]
    chosen = [
        (
            {
                "label": name or state.labels[0],
                "left": round(float(b[0])),
                "top": round(float(b[1])),
                "width": max(1, round(float(b[2]))),
                "height": max(1, round(float(b[3]))),
            },
            round(p.confidence, 2),
        )
        for b in p.label
    ]
    return _box_label(state, chosen, truth, False)


def _predict_class(state: JobState, truth: Truth, trained: int) -> _Prediction:
    accuracy = min(0.99, state.model.accuracy_at_100 + 0.05 * math.log2(max(1, trained / 100)))
    correct = _label_for(state, truth.classes[0]) if truth.classes else None
    right = correct is not None and state.rng.random() < accuracy
    wrong = [x for x in state.labels if x != correct] or state.labels
    name = correct if right and correct else wrong[int(state.rng.integers(len(wrong)))]
    return _Prediction(name, _confidence(state, 0.75 if right else 0.45, 0.12))


def _class_quality(state: JobState, p: _Prediction, human: Any) -> float:
    return 1.0 if state.labels.index(p.label) == human else 0.0


def _label_class(
    state: JobState, truth: Truth, p: _Prediction, index: int, write: Writer
) -> tuple[Any, dict[str, Any]]:
    return _class_label(state, p.label, p.confidence, False)


def _predict_mask(state: JobState, truth: Truth, trained: int) -> _Prediction:
    mask = _truth_mask(state, truth)
    shift = state.model.mask_shift_at_100 * math.sqrt(100 / trained)
    predicted = _painted(state, mask, shift)
    return _Prediction(predicted, _confidence(state, mask_score(predicted, mask), 0.05))


def _mask_quality(state: JobState, p: _Prediction, human: Any) -> float:
    # The human label is the consolidated mask this emulator wrote: read it back.
    png = base64.b64decode(state.masks[human])
    return mask_score(p.label, read_mask(png, _colors(state), name=human))


def _label_mask(
    state: JobState, truth: Truth, p: _Prediction, index: int, write: Writer
) -> tuple[Any, dict[str, Any]]:
    return _mask_label(state, p.label, round(p.confidence, 2), index, write, human=False)


Model = tuple[
    Callable[[JobState, Truth, int], _Prediction],
    Callable[[JobState, _Prediction, Any], float],
    Callable[[JobState, Truth, _Prediction, int, Writer], tuple[Any, dict[str, Any]]],
]
_MODELS: dict[str, Model] = {
    "bounding-box": (_predict_boxes, _boxes_quality, _label_boxes),
    "image-classification": (_predict_class, _class_quality, _label_class),
    "text-classification": (_predict_class, _class_quality, _label_class),
    "semantic-segmentation": (_predict_mask, _mask_quality, _label_mask),
}

#: How many standard errors of the validation set's mean quality theta keeps above the target.
MARGIN = 1.0


def _theta(scored: list[tuple[float, float]], target: float) -> float | None:
    """Lowest confidence whose confident set (at or above it) reaches ``target`` on validation,
    ``MARGIN`` standard errors of that set's mean above it (a set that just touches the
    target on validation falls short half the time on the objects it labels)."""
    if not scored:
        return None
    quality = np.array([q for _, q in scored], dtype=np.float64)
    k = np.arange(1, len(quality) + 1)
    mean = np.cumsum(quality) / k
    var = np.maximum(np.cumsum(quality**2) / k - mean**2, 0.0)
    error = np.sqrt(var / np.maximum(k - 1, 1))
    ok = np.flatnonzero((mean - MARGIN * error >= target) & (k >= 2))
    return float(scored[int(ok[-1])][0]) if len(ok) else None


# ---------------------------------------------------------------------- manifests
def manifest_bytes(state: JobState, *, labeled_only: bool) -> bytes:
    """Output manifest lines: each input line with its label or failure record."""
    lines = []
    for i, source in enumerate(state.sources):
        r = state.results[i]
        if labeled_only and r is None:
            continue
        line: dict[str, Any] = {"source": source} if state.inline else {"source-ref": source}
        if r is not None:
            line[state.attribute] = r[2]
            line[f"{state.attribute}-metadata"] = r[3]
        elif i in state.failed:
            line[f"{state.attribute}-metadata"] = {
                "retry-count": 1,
                "failure-reason": state.failed[i],
                "human-annotated": "yes",
            }
        lines.append(orjson.dumps(line))
    return b"".join(line + b"\n" for line in lines)


def finish(state: JobState, write: Writer) -> None:
    """Write the final output manifest; the job is over."""
    write(
        f"{state.output_prefix}/manifests/output/output.manifest",
        manifest_bytes(state, labeled_only=False),
    )
    state.done = True
