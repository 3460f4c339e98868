"""The whole Ground Truth workflow in one call, offline by default.

:func:`run_demo` makes a seeded synthetic dataset with reference labels for one of the four
task types Ground Truth labels automatically (by default small pictures of "birds" with
reference boxes), uploads it, builds the manifest, plans and submits a job with automated
labeling (for boxes 5 workers at $0.036, as in the AWS blog), follows it, downloads the output,
analyses it against the references and writes an HTML report and a JSON summary. Without
``aws=True`` it runs against gtkit's Ground Truth emulator and moto: no AWS account, no network.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gtkit._errors import GtkitError, OverwriteError
from gtkit._io import new_session
from gtkit._masks import write_png
from gtkit._pricing import check_object_count

__all__ = ["DEMO_TASKS", "DemoResult", "make_dataset", "run_demo"]

WIDTH, HEIGHT = 200, 150  # pixels of each synthetic picture
DEMO_CREW, DEMO_CARELESS = 30, 2  # the offline demo's simulated workers, and careless ones

#: The task types the demo runs: the four Ground Truth labels automatically.
DEMO_TASKS = (
    "bounding-box", "image-classification", "text-classification", "semantic-segmentation",
)  # fmt: skip


@dataclass(frozen=True)
class _Job:
    """What the demo's job of one task type asks for."""

    name: str
    labels: tuple[str, ...]
    workers: int
    task_price: str
    title: str
    description: str
    keywords: tuple[str, ...]
    instructions: str


_JOBS = {
    "bounding-box": _Job(
        "gtkit-demo-birds", ("bird",), 5, "0.036", "Draw a box around each bird",
        "Draw a tight box around every bird in the picture", ("images", "bounding box", "birds"),
        "Draw one tight box around each bird.",
    ),
    "image-classification": _Job(
        "gtkit-demo-pictures", ("bird", "plane"), 3, "0.012", "Birds or planes?",
        "Say whether the picture shows birds or planes", ("images", "classification"),
        "Choose bird if the picture shows birds, plane if it shows planes.",
    ),
    "text-classification": _Job(
        "gtkit-demo-reviews", ("positive", "negative"), 3, "0.012", "Is this review positive?",
        "Say whether a short review is positive or negative", ("text", "classification"),
        "Choose positive or negative for the review.",
    ),
    "semantic-segmentation": _Job(
        "gtkit-demo-masks", ("bird", "plane"), 3, "0.840", "Paint the birds and planes",
        "Paint every bird and every plane in the picture", ("images", "segmentation"),
        "Paint each bird with the bird colour and each plane with the plane colour.",
    ),
}  # fmt: skip


@dataclass
class DemoResult:
    """Where the demo wrote its files, and its analysis summary (``gtkit analyze --json``)."""

    folder: Path
    report: Path
    summary: Path
    output: Path
    figures: dict[str, Any]
    headline: list[str]
    workers: Path | None = None  # the worker analysis (``gtkit workers --json``), where made
    reference: Path | None = None  # the reference labels the demo wrote


def _check_task(task: str) -> None:
    if task not in DEMO_TASKS:
        raise GtkitError(f"demo task {task!r}; allowed: {', '.join(DEMO_TASKS)}")


def make_dataset(
    folder: str | os.PathLike[str],
    *,
    objects: int = 1000,
    seed: int = 0,
    task: str = "bounding-box",
) -> Path:
    """Write a seeded synthetic dataset of ``objects`` (a count, at least 1) for ``task`` and
    its reference labels under ``folder``, as ``gtkit demo --data-only`` does; return the
    references' path, which :func:`gtkit.read_references` reads and
    ``gtkit.emulator.emulate(references=...)`` labels from. The same ``seed`` gives the same
    files. Pictures are 200 x 150-pixel PNGs in ``images/``.

    - ``bounding-box``: pictures of 1-4 "birds" each, and a COCO ``reference.json`` (boxes in
      pixels);
    - ``image-classification``: pictures of birds or of planes, and ``reference.json``, a list
      of ``{"file_name", "class_name"}``;
    - ``text-classification``: short reviews, one ``{"source": text}`` line each in
      ``input.manifest``, and ``reference.json``, a list of ``{"source", "class_name"}``;
    - ``semantic-segmentation``: pictures of birds and planes, and ``reference-masks/``, one
      PNG of class ids per picture named by its file-name stem (0 background, 1 bird, 2 plane:
      class i is the job's class i of its ``internal-color-map``).
    """
    check_object_count(objects)
    _check_task(task)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if task == "text-classification":
        return _texts(root, objects, rng)
    import matplotlib.image as mpimg

    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    masks_dir = root / "reference-masks"
    if task == "semantic-segmentation":
        masks_dir.mkdir(exist_ok=True)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    classes: list[dict[str, str]] = []
    for i in range(objects):
        sky = np.empty((HEIGHT, WIDTH, 3))
        sky[..., 0] = 0.55 + 0.25 * yy / HEIGHT
        sky[..., 1] = 0.70 + 0.20 * yy / HEIGHT
        sky[..., 2] = 0.95
        mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
        stem = {"bounding-box": "bird", "image-classification": "picture"}.get(task, "sky")
        name = f"{stem}-{i:05d}.png"
        picture_class = int(rng.integers(1, 3))  # classification: 1 birds, 2 planes
        for _ in range(int(rng.integers(1, 5))):
            w, h = float(rng.uniform(18, 60)), float(rng.uniform(12, 40))
            x, y = float(rng.uniform(0, WIDTH - w)), float(rng.uniform(0, HEIGHT - h))
            kind = 1
            if task == "image-classification":
                kind = picture_class
            elif task == "semantic-segmentation":
                kind = int(rng.integers(1, 3))
            if kind == 1:  # a bird: an ellipse
                inside = ((xx - x - w / 2) / (w / 2)) ** 2 + ((yy - y - h / 2) / (h / 2)) ** 2 <= 1
            else:  # a plane: a fuselage and a wing
                body = (np.abs(yy - y - h / 2) <= h / 6) & (xx >= x) & (xx <= x + w)
                wing = (np.abs(xx - x - w / 2) <= w / 8) & (yy >= y) & (yy <= y + h)
                inside = body | wing
            sky[inside] = rng.uniform(0.05, 0.45, 3)
            mask[inside] = kind
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i + 1, "category_id": 1,
                 "bbox": [round(x, 1), round(y, 1), round(w, 1), round(h, 1)],
                 "area": round(w * h, 1), "iscrowd": 0}
            )  # fmt: skip
        mpimg.imsave(images_dir / name, np.clip(sky, 0, 1))
        images.append({"id": i + 1, "file_name": name, "width": WIDTH, "height": HEIGHT})
        classes.append({"file_name": name, "class_name": ("bird", "plane")[picture_class - 1]})
        if task == "semantic-segmentation":
            (masks_dir / f"{Path(name).stem}.png").write_bytes(write_png(mask))
    if task == "semantic-segmentation":
        return masks_dir
    path = root / "reference.json"
    if task == "image-classification":
        path.write_text(json.dumps(classes))
        return path
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "bird"}]}
    path.write_text(json.dumps(coco))
    return path


_GOOD = ("great", "lovely", "excellent", "friendly", "delicious", "superb", "charming", "quick")
_BAD = ("awful", "dull", "rude", "cold", "broken", "slow", "bland", "overpriced")
_THINGS = ("food", "service", "room", "staff", "coffee", "view", "music", "delivery", "price")


def _texts(root: Path, objects: int, rng: np.random.Generator) -> Path:
    """Short reviews, positive or negative, as an input manifest and their reference classes."""
    lines, reference = [], []
    for i in range(objects):
        positive = bool(rng.random() < 0.5)
        words = _GOOD if positive else _BAD
        first, second = (words[int(k)] for k in rng.choice(len(words), 2, replace=False))
        thing, other = (_THINGS[int(k)] for k in rng.choice(len(_THINGS), 2, replace=False))
        text = f"Review {i + 1}: the {thing} was {first} and the {other} {second}."
        lines.append(json.dumps({"source": text}))
        reference.append({"source": text, "class_name": "positive" if positive else "negative"})
    (root / "input.manifest").write_text("\n".join(lines) + "\n")
    path = root / "reference.json"
    path.write_text(json.dumps(reference))
    return path


def _confirm(question: str, ask: Callable[[str], str]) -> bool:
    try:
        return ask(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run_demo(
    out: str | os.PathLike[str] = "gtkit-demo",
    *,
    task: str = "bounding-box",
    objects: int = 1000,
    seed: int = 0,
    aws: bool = False,
    bucket: str | None = None,
    role_arn: str | None = None,
    region: str = "us-east-1",
    overwrite: bool = False,
    progress: bool = True,
    ask: Callable[[str], str] = input,
    echo: Callable[[str], None] = print,
) -> DemoResult | None:
    """Run the blog's workflow end to end for ``task`` (``"bounding-box"``, the blog's job,
    ``"image-classification"``, ``"text-classification"`` or ``"semantic-segmentation"``: the
    task types Ground Truth labels automatically) and write ``report.html`` and
    ``summary.json``.

    Offline (the default) everything runs in gtkit's emulator with moto. With ``aws=True`` it
    uses your AWS credentials, ``bucket`` and ``role_arn`` (a SageMaker execution role for Ground
    Truth): it prints the plan and cost estimate and asks before anything is uploaded or paid
    for; it returns None if you decline. Dollars use the $0.08 object fee. ``objects`` must be
    at least 1; nothing is made before the arguments are checked. The reference labels are
    written under ``out/data`` and named in ``summary.json`` as ``"reference"``, for
    ``gtkit analyze OUT/output --reference REFERENCE``.
    """
    check_object_count(objects)
    _check_task(task)
    if aws and (not bucket or not role_arn):
        raise GtkitError("aws=True needs bucket and role_arn (your bucket and Ground Truth role)")
    if not aws and importlib.util.find_spec("moto") is None:
        raise GtkitError("the offline demo runs on moto: pip install 'gtkit[emulator]'")
    folder = Path(out)
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise OverwriteError(target=str(folder))
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    what = "short reviews" if task == "text-classification" else "synthetic pictures"
    echo(f"making {objects} {what} with reference labels for a {task} job in {folder}/data")
    reference = make_dataset(folder / "data", objects=objects, seed=seed, task=task)
    run = _Run(folder, reference, task, region, progress, ask, echo)
    if aws:
        assert bucket is not None and role_arn is not None  # checked above
        return run.go(bucket, role_arn, real=True)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "gtkit-demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "gtkit-demo")
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    from gtkit.emulator import Workforce, emulate

    # Individual workers, a few careless, so that the report's workers section has some to find.
    crew = Workforce.with_crew(DEMO_CREW, careless=DEMO_CARELESS, seed=seed)
    with emulate(references=reference, seed=seed, workforce=crew):
        from gtkit.emulator import setup_account

        ready = setup_account(bucket="gtkit-demo", region=region, role_name="GroundTruthDemo")
        return run.go(ready.bucket, ready.role_arn, real=False)


@dataclass
class _Run:
    """One demo run: its folder, references and task, and how it talks to the user."""

    folder: Path
    reference: Path
    task: str
    region: str
    progress: bool
    ask: Callable[[str], str]
    echo: Callable[[str], None]

    def go(self, bucket: str, role_arn: str, *, real: bool) -> DemoResult | None:
        from gtkit._analysis import analyze
        from gtkit._client import LabelingJobClient
        from gtkit._manifest import (
            records_from_texts,
            records_from_uris,
            upload_folder,
            write_manifest,
        )
        from gtkit._output import read_output
        from gtkit._references import read_references
        from gtkit._report import headline, workers_headline, write_report
        from gtkit._spec import LabelingJobSpec
        from gtkit._workers import analyze_workers

        echo, region, folder = self.echo, self.region, self.folder
        job = _JOBS[self.task]
        data = folder / "data"
        text = self.task == "text-classification"
        texts: list[str] = []
        if text:
            lines = (data / "input.manifest").read_text().splitlines()
            texts = [json.loads(line)["source"] for line in lines if line.strip()]
            count, kind = len(texts), "texts"
        else:
            count, kind = sum(1 for _ in (data / "images").iterdir()), "images"
        name = job.name if not real else f"{job.name}-{os.getpid()}"
        spec = LabelingJobSpec(
            name=name,
            task=self.task,
            region=region,
            manifest=f"s3://{bucket}/gtkit-demo/{name}/input.manifest",
            output=f"s3://{bucket}/gtkit-demo/output",
            role_arn=role_arn,
            labels=job.labels,
            title=job.title,
            description=job.description,
            keywords=job.keywords,
            workers=job.workers,
            task_price=job.task_price,
            auto_labeling=True,
        )
        estimate = spec.estimate(count)
        echo(
            f"plan: {spec.task} job {spec.name} on {count} {kind} in {region}, "
            f"{spec.workers_per_object} workers at ${spec.price} per task, automated labeling on"
        )
        for warning in spec.warnings(objects=count):
            echo(f"  warning: {warning}")
        echo(
            f"  estimated cost: ${estimate.low:,.2f} to ${estimate.high:,.2f} "
            f"(${estimate.without_auto_labeling:,.2f} without automated labeling)"
        )
        if real and not _confirm(f"Upload {count} {kind} and start this PAID job?", self.ask):
            echo("nothing was uploaded or started")
            return None
        s3 = new_session().client("s3", region_name=region)
        if text:
            write_manifest(records_from_texts(texts), spec.manifest, client=s3)
            echo(f"uploaded the manifest of {count} texts to s3://{bucket}/gtkit-demo/")
        else:
            uploaded = upload_folder(data / "images", f"s3://{bucket}/gtkit-demo/images", client=s3)
            write_manifest(records_from_uris(uploaded.uris), spec.manifest, client=s3)
            echo(
                f"uploaded {uploaded.uploaded} images and the manifest to s3://{bucket}/gtkit-demo/"
            )
        client = LabelingJobClient(s3=s3, region=region)
        client.create(spec, short_instructions=job.instructions)
        echo(f"submitted {spec.name}; following it" + ("" if real else " (emulated)"))
        client.wait(spec.name, progress=self.progress, initial_delay=0.0 if not real else 30.0)
        output = client.download(spec.name, folder / "output")
        result = read_output(output)
        describe = json.loads((output / "describe.json").read_text())
        ref = read_references(self.reference)
        analysis = analyze(result, reference=ref, describe=describe)
        # The worker analysis reads boxes and classes; masks' answers it does not take.
        crowd = (
            None
            if self.task == "semantic-segmentation"
            else analyze_workers(result, reference=ref, describe=describe)
        )
        report = write_report(
            folder / "report.html", analysis, result, ref,
            image_dir=None if text else data / "images", workers=crowd,
        )  # fmt: skip
        summary = folder / "summary.json"
        figures = {**analysis.to_dict(), "reference": str(self.reference.resolve())}
        summary.write_text(json.dumps(figures, indent=2))
        lines = headline(analysis)
        workers = None
        if crowd is not None:
            workers = folder / "workers.json"
            workers.write_text(json.dumps(crowd.to_dict(), indent=2))
            lines += workers_headline(crowd)
        echo("")
        for line in lines:
            echo(line)
        echo(f"report: {report}")
        echo(f"summary: {summary}")
        if workers is not None:
            echo(f"workers: {workers}")
        echo(f"output tree: {output}")
        return DemoResult(folder, report, summary, output, figures, lines, workers, self.reference)
