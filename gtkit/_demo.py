"""The whole Ground Truth workflow in one call, offline by default.

:func:`run_demo` makes a seeded synthetic dataset (small pictures of "birds" with reference
boxes), uploads it, builds the manifest, plans and submits a bounding-box job with automated
labeling (5 workers at $0.036, as in the AWS blog), follows it, downloads the output, analyses it
against the references and writes an HTML report and a JSON summary. Without ``aws=True`` it runs
against gtkit's Ground Truth emulator and moto: no AWS account, no network.
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
from gtkit._pricing import check_object_count

__all__ = ["DemoResult", "make_dataset", "run_demo"]

WIDTH, HEIGHT = 200, 150  # pixels of each synthetic picture
DEMO_CREW, DEMO_CARELESS = 30, 2  # the offline demo's simulated workers, and careless ones


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


def make_dataset(folder: str | os.PathLike[str], *, objects: int = 1000, seed: int = 0) -> Path:
    """Write ``objects`` small PNG pictures with 1-4 "birds" each and a COCO reference file.

    Returns the COCO path (``reference.json``); boxes are pixels, images 200 x 150.
    """
    check_object_count(objects)
    import matplotlib.image as mpimg

    rng = np.random.default_rng(seed)
    root = Path(folder)
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for i in range(objects):
        sky = np.empty((HEIGHT, WIDTH, 3))
        sky[..., 0] = 0.55 + 0.25 * yy / HEIGHT
        sky[..., 1] = 0.70 + 0.20 * yy / HEIGHT
        sky[..., 2] = 0.95
        name = f"bird-{i:05d}.png"
        for _ in range(int(rng.integers(1, 5))):
            w, h = float(rng.uniform(18, 60)), float(rng.uniform(12, 40))
            x, y = float(rng.uniform(0, WIDTH - w)), float(rng.uniform(0, HEIGHT - h))
            inside = ((xx - x - w / 2) / (w / 2)) ** 2 + ((yy - y - h / 2) / (h / 2)) ** 2 <= 1
            sky[inside] = rng.uniform(0.05, 0.45, 3)
            annotations.append(
                {"id": len(annotations) + 1, "image_id": i + 1, "category_id": 1,
                 "bbox": [round(x, 1), round(y, 1), round(w, 1), round(h, 1)],
                 "area": round(w * h, 1), "iscrowd": 0}
            )  # fmt: skip
        mpimg.imsave(images_dir / name, np.clip(sky, 0, 1))
        images.append({"id": i + 1, "file_name": name, "width": WIDTH, "height": HEIGHT})
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "bird"}]}
    path = root / "reference.json"
    path.write_text(json.dumps(coco))
    return path


def _confirm(question: str, ask: Callable[[str], str]) -> bool:
    try:
        return ask(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run_demo(
    out: str | os.PathLike[str] = "gtkit-demo",
    *,
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
    """Run the blog's workflow end to end and write ``report.html`` and ``summary.json``.

    Offline (the default) everything runs in gtkit's emulator with moto. With ``aws=True`` it
    uses your AWS credentials, ``bucket`` and ``role_arn`` (a SageMaker execution role for Ground
    Truth): it prints the plan and cost estimate and asks before anything is uploaded or paid
    for; it returns None if you decline. Dollars use the $0.08 object fee. ``objects`` must be
    at least 1; nothing is made before the arguments are checked.
    """
    check_object_count(objects)
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
    echo(f"making {objects} synthetic bird pictures with reference boxes in {folder}/data")
    reference = make_dataset(folder / "data", objects=objects, seed=seed)
    if aws:
        assert bucket is not None and role_arn is not None  # checked above
        return _run(folder, reference, bucket, role_arn, region, progress, ask, echo, real=True)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "gtkit-demo")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "gtkit-demo")
    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    from gtkit.emulator import Workforce, emulate

    # Individual workers, a few careless, so that the report's workers section has some to find.
    crew = Workforce.with_crew(DEMO_CREW, careless=DEMO_CARELESS, seed=seed)
    with emulate(references=reference, seed=seed, workforce=crew):
        from gtkit.emulator import setup_account

        ready = setup_account(bucket="gtkit-demo", region=region, role_name="GroundTruthDemo")
        return _run(
            folder, reference, ready.bucket, ready.role_arn, region, progress, ask, echo,
            real=False,
        )  # fmt: skip


def _run(
    folder: Path,
    reference: Path,
    bucket: str,
    role_arn: str,
    region: str,
    progress: bool,
    ask: Callable[[str], str],
    echo: Callable[[str], None],
    *,
    real: bool,
) -> DemoResult | None:

    from gtkit._analysis import analyze
    from gtkit._client import LabelingJobClient
    from gtkit._manifest import records_from_uris, upload_folder, write_manifest
    from gtkit._output import read_output
    from gtkit._references import read_coco
    from gtkit._report import headline, workers_headline, write_report
    from gtkit._spec import LabelingJobSpec
    from gtkit._workers import analyze_workers

    images = sorted((folder / "data" / "images").iterdir())
    name = "gtkit-demo-birds" if not real else f"gtkit-demo-birds-{os.getpid()}"
    spec = LabelingJobSpec(
        name=name,
        task="bounding-box",
        region=region,
        manifest=f"s3://{bucket}/gtkit-demo/{name}/input.manifest",
        output=f"s3://{bucket}/gtkit-demo/output",
        role_arn=role_arn,
        labels=("bird",),
        title="Draw a box around each bird",
        description="Draw a tight box around every bird in the picture",
        keywords=("images", "bounding box", "birds"),
        workers=5,
        task_price="0.036",
        auto_labeling=True,
    )
    estimate = spec.estimate(len(images))
    echo(
        f"plan: {spec.task} job {spec.name} on {len(images)} images in {region}, "
        f"{spec.workers_per_object} workers at ${spec.price} per task, automated labeling on"
    )
    for warning in spec.warnings(objects=len(images)):
        echo(f"  warning: {warning}")
    echo(
        f"  estimated cost: ${estimate.low:,.2f} to ${estimate.high:,.2f} "
        f"(${estimate.without_auto_labeling:,.2f} without automated labeling)"
    )
    if real and not _confirm(f"Upload {len(images)} images and start this PAID job?", ask):
        echo("nothing was uploaded or started")
        return None
    s3 = new_session().client("s3", region_name=region)
    uploaded = upload_folder(
        folder / "data" / "images", f"s3://{bucket}/gtkit-demo/images", client=s3
    )
    write_manifest(records_from_uris(uploaded.uris), spec.manifest, client=s3)
    echo(f"uploaded {uploaded.uploaded} images and the manifest to s3://{bucket}/gtkit-demo/")
    client = LabelingJobClient(
        s3=s3, region=region, sleep=(lambda _: None) if not real else __import__("time").sleep
    )
    client.create(spec, short_instructions="Draw one tight box around each bird.")
    echo(f"submitted {spec.name}; following it" + ("" if real else " (emulated, simulated clock)"))
    client.wait(spec.name, progress=progress, initial_delay=0.0 if not real else 30.0)
    output = client.download(spec.name, folder / "output")
    result = read_output(output)
    describe = json.loads((output / "describe.json").read_text())
    ref = read_coco(reference)
    analysis = analyze(result, reference=ref, describe=describe)
    crowd = analyze_workers(result, reference=ref, describe=describe)
    report = write_report(
        folder / "report.html", analysis, result, ref, image_dir=folder / "data" / "images",
        workers=crowd,
    )  # fmt: skip
    summary = folder / "summary.json"
    figures = analysis.to_dict()
    summary.write_text(json.dumps(figures, indent=2))
    workers = folder / "workers.json"
    workers.write_text(json.dumps(crowd.to_dict(), indent=2))
    lines = headline(analysis) + workers_headline(crowd)
    echo("")
    for line in lines:
        echo(line)
    echo(f"report: {report}")
    echo(f"summary: {summary}")
    echo(f"workers: {workers}")
    echo(f"output tree: {output}")
    return DemoResult(folder, report, summary, output, figures, lines, workers)
