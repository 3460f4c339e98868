"""The four task types Ground Truth labels automatically: quality of masks and texts worked by
hand, the emulator's machine labels at each task's target, and the demo of each end to end."""

from __future__ import annotations

import json
import shutil
import stat
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gtkit import _clock
from gtkit._analysis import analyze
from gtkit._cli import main
from gtkit._demo import DEMO_TASKS, make_dataset, run_demo
from gtkit._errors import GtkitError, OverwriteError
from gtkit._masks import mask_score
from gtkit._output import read_output
from gtkit._references import References, read_masks, read_references
from gtkit._tasks import get_task
from gtkit.emulator._service import Backend, job_seed
from gtkit.emulator._simulation import JobState, ModelBehaviour, Workforce, step

COLORS = {0: "#ffffff", 1: "#ff0000", 2: "#0000ff"}
RGB = {0: (255, 255, 255), 1: (255, 0, 0), 2: (0, 0, 255)}


def _rgb_png(path: Path, ids: list[list[int]]) -> None:
    """A colour PNG painted by hand, pixel colours from RGB (no gtkit code involved)."""
    pixels = np.array([[RGB[i] for i in row] for row in ids], dtype=np.uint8)
    Image.fromarray(pixels, mode="RGB").save(path)


def _index_png(path: Path, ids: list[list[int]]) -> None:
    Image.fromarray(np.array(ids, dtype=np.uint8), mode="L").save(path)


# Three tiny images, worked by hand:
# a: label [[0,1,1],[2,2,0]] against [[0,1,0],[2,2,2]]: class 1 shares 1 pixel of 2 (0.5),
#    class 2 shares 2 of 3 (2/3): the image scores (0.5 + 2/3) / 2 = 7/12.
# b: no foreground in either: 1.0.
# c: label paints class 1 where the reference has nothing: class 1 IoU 0: 0.0.
LABELS = {
    "a": [[0, 1, 1], [2, 2, 0]],
    "b": [[0, 0, 0], [0, 0, 0]],
    "c": [[1, 0, 0], [0, 0, 0]],
}
TRUTHS = {
    "a": [[0, 1, 0], [2, 2, 2]],
    "b": [[0, 0, 0], [0, 0, 0]],
    "c": [[0, 0, 0], [0, 0, 0]],
}
BY_HAND = {"a": 7 / 12, "b": 1.0, "c": 0.0}


def _hand_output(root: Path) -> Path:
    """A segmentation output manifest: a and b labeled by humans (iteration unknown), c by
    the machine; masks as colour PNGs beside it, named relative to the manifest."""
    (root / "masks").mkdir(parents=True)
    color_map = {
        str(i): {"class-name": name, "hex-color": COLORS[i], "confidence": 0.9}
        for i, name in enumerate(["BACKGROUND", "cat", "dog"])
    }
    lines = []
    for name, human in (("a", "yes"), ("b", "yes"), ("c", "no")):
        _rgb_png(root / "masks" / f"{name}.png", LABELS[name])
        lines.append(
            {
                "source-ref": f"s3://bucket/images/{name}.jpg",
                "paint-ref": f"masks/{name}.png",
                "paint-ref-metadata": {
                    "internal-color-map": color_map,
                    "type": "groundtruth/semantic-segmentation",
                    "human-annotated": human,
                    "creation-date": "2026-01-01T00:00:00",
                    "job-name": "labeling-job/paint",
                },
            }
        )
    manifest = root / "output.manifest"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


def test_segmentation_quality_equals_a_hand_worked_example(tmp_path: Path) -> None:
    manifest = _hand_output(tmp_path / "out")
    refs = tmp_path / "refs"
    refs.mkdir()
    for name, ids in TRUTHS.items():
        _index_png(refs / f"{name}.png", ids)  # class ids; matched by stem to a.jpg
    result = analyze(read_output(manifest), reference=read_references(refs))
    assert result.scores is not None and result.quality is not None
    scores = dict(zip(result.scores["file_name"], result.scores["score"], strict=True))
    assert scores == pytest.approx({"a.jpg": 7 / 12, "b.jpg": 1.0, "c.jpg": 0.0})
    assert result.quality["human"] == pytest.approx((7 / 12 + 1.0) / 2)
    assert result.quality["auto"] == pytest.approx(0.0)
    assert result.quality["all"] == pytest.approx((7 / 12 + 1.0) / 3)
    assert result.target == 0.7 and result.task_type == "semantic-segmentation"


def test_colour_reference_masks_read_with_their_colour_map(tmp_path: Path) -> None:
    manifest = _hand_output(tmp_path / "out")
    refs = tmp_path / "refs"
    refs.mkdir()
    for name, ids in TRUTHS.items():
        _rgb_png(refs / f"{name}.png", ids)
    (refs / "color-map.json").write_text(
        json.dumps({str(k): {"hex-color": v} for k, v in COLORS.items()})
    )
    result = analyze(read_output(manifest), reference=read_references(refs))
    assert result.scores is not None
    assert result.scores["score"].tolist() == pytest.approx([7 / 12, 1.0, 0.0])
    # Without the colour map, a colour PNG is refused, saying what to give instead.
    (refs / "color-map.json").unlink()
    with pytest.raises(GtkitError, match="no colour map"):
        analyze(read_output(manifest), reference=read_masks(refs))


def test_masks_of_unknown_colours_or_other_sizes_are_refused(tmp_path: Path) -> None:
    manifest = _hand_output(tmp_path / "out")
    Image.fromarray(np.full((2, 3, 3), 7, dtype=np.uint8), mode="RGB").save(
        tmp_path / "out" / "masks" / "a.png"
    )
    refs = tmp_path / "refs"
    refs.mkdir()
    for name, ids in TRUTHS.items():
        _index_png(refs / f"{name}.png", ids)
    with pytest.raises(GtkitError, match=r"a\.png: 6 pixel\(s\) of colours not in its colour map"):
        analyze(read_output(manifest), reference=read_references(refs))
    with pytest.raises(GtkitError, match="3 x 2 pixels, its reference 4 x 2"):
        mask_score(np.zeros((2, 3)), np.zeros((2, 4)), name="x")


def test_text_classification_accuracy_by_the_text(tmp_path: Path) -> None:
    texts = ["The food was great.", "Service: slow/rude.", "Lovely view", "Cold coffee"]
    given = ["positive", "negative", "negative", "negative"]
    truth = ["positive", "negative", "positive", "negative"]
    lines = [
        {"source": text, "review": ["positive", "negative"].index(label),
         "review-metadata": {"class-name": label, "confidence": 0.9,
                             "type": "groundtruth/text-classification",
                             "human-annotated": "yes" if k < 2 else "no",
                             "creation-date": "2026-01-01T00:00:00", "job-name": "labeling-job/r"}}
        for k, (text, label) in enumerate(zip(texts, given, strict=True))
    ]  # fmt: skip
    manifest = tmp_path / "output.manifest"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    reference = tmp_path / "reference.json"
    reference.write_text(
        json.dumps([{"source": t, "class_name": c} for t, c in zip(texts, truth, strict=True)])
    )
    result = analyze(read_output(manifest), reference=read_references(reference))
    assert result.quality is not None
    # Humans got both right, the machine one of its two: "Lovely view" was positive.
    assert result.quality["human"] == 1.0 and result.quality["auto"] == 0.5
    assert result.quality["objects_compared"] == 4 and result.target == 0.95


# ---------------------------------------------------------------------- the emulator's promise
_LABELS = {
    "bounding-box": ["bird"],
    "image-classification": ["bird", "plane"],
    "text-classification": ["positive", "negative"],
    "semantic-segmentation": ["bird", "plane"],
}
_SIZES = {  # objects per job: enough for automated labeling to run, small enough to be quick
    "bounding-box": 300,
    "image-classification": 200,
    "text-classification": 200,
    "semantic-segmentation": 200,
}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], References]]:
    """Each task's demo dataset: the job's sources and its references."""
    out = {}
    for task in DEMO_TASKS:
        root = tmp_path_factory.mktemp(task)
        reference = make_dataset(root, objects=_SIZES[task], seed=1, task=task)
        if task == "text-classification":
            lines = (root / "input.manifest").read_text().splitlines()
            sources = [json.loads(line)["source"] for line in lines]
        else:
            sources = [f"s3://b/images/{p.name}" for p in sorted((root / "images").iterdir())]
        out[task] = (sources, read_references(reference))
    return out


def _emulated_job(
    task: str, name: str, seed: int, sources: list[str], refs: References, folder: Path
) -> Path:
    """Run one job through the emulator's iterations, its files written under ``folder``
    (the S3 writes of a real run, without moto: the same bytes, in a fraction of the time)."""
    backend = Backend(references=refs, seed=seed, workforce=Workforce(), model=ModelBehaviour())
    inline = task == "text-classification"
    state = JobState(
        name=name, attribute=name + ("-ref" if task == "semantic-segmentation" else ""),
        task=task, labels=_LABELS[task], sources=sources,
        truth=[backend.truth(s, inline=inline) for s in sources], workers=3,
        worker_prefix="public.", auto_labeling=True, output_prefix=f"s3://out/{name}",
        max_batch=1000, created=datetime(2026, 1, 1, tzinfo=timezone.utc),
        rng=np.random.default_rng(job_seed(name, seed) % 2**63), workforce=Workforce(),
        model=ModelBehaviour(), results=[None] * len(sources), inline=inline,
    )  # fmt: skip

    def write(uri: str, data: bytes) -> None:
        path = folder / uri.removeprefix("s3://out/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    while not state.done:
        step(state, write)
    return folder / name


@pytest.mark.parametrize("task", DEMO_TASKS)
@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True),
    seed=st.integers(0, 2**32),
)
def test_machine_labels_reach_the_target_for_any_name_and_seed(
    task: str,
    name: str,
    seed: int,
    datasets: dict[str, tuple[list[str], References]],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """As the service promises by choosing theta on the validation set: machine labels reach
    the task's target, within the sampling error of the objects they label."""
    sources, refs = datasets[task]
    folder = tmp_path_factory.mktemp("job")
    tree = _emulated_job(task, name, seed, sources, refs, folder)
    result = analyze(read_output(tree), reference=refs)
    assert result.scores is not None
    machine = result.scores[~result.scores["human"]]["score"].to_numpy()
    target = get_task(task).auto_labeling_target
    assert target is not None
    if len(machine) >= 2:
        error = machine.std(ddof=1) / np.sqrt(len(machine))
        assert machine.mean() >= target - 3 * max(error, 0.01), (name, seed, machine.mean())
    shutil.rmtree(folder)


def test_two_names_with_the_same_beginning_are_different_jobs(
    datasets: dict[str, tuple[list[str], References]], tmp_path: Path
) -> None:
    """The seed takes the whole job name: gtkit-demo-a and gtkit-demo-b differ."""
    sources, refs = datasets["image-classification"]
    a = read_output(
        _emulated_job("image-classification", "gtkit-demo-a", 0, sources, refs, tmp_path)
    )
    b = read_output(
        _emulated_job("image-classification", "gtkit-demo-b", 0, sources, refs, tmp_path)
    )
    assert a.objects["confidence"].tolist() != b.objects["confidence"].tolist()


# ---------------------------------------------------------------------- the demo of each task
def _by_hand_mask_scores(output: Path, masks: Path) -> dict[str, float]:
    """Per-image segmentation quality computed straightforwardly from the files: each label
    PNG's colours looked up in its line's colour map, class by class, against the reference
    PNG of the image's stem."""
    scores = {}
    for line in (output / "manifests" / "output" / "output.manifest").read_text().splitlines():
        record = json.loads(line)
        attribute = next(k for k in record if k.endswith("-ref") and k != "source-ref")
        uri = record[attribute]
        local = output / uri[uri.index("annotations/") :]
        rgb = np.asarray(Image.open(local).convert("RGB"))
        label = np.full(rgb.shape[:2], -1)
        for key, entry in record[f"{attribute}-metadata"]["internal-color-map"].items():
            color = tuple(int(entry["hex-color"][k : k + 2], 16) for k in (1, 3, 5))
            label[np.all(rgb == color, axis=-1)] = int(key)
        assert (label >= 0).all()
        image = record["source-ref"].rsplit("/", 1)[-1]
        truth = np.asarray(Image.open(masks / f"{Path(image).stem}.png"))
        ious = [
            ((label == c) & (truth == c)).sum() / ((label == c) | (truth == c)).sum()
            for c in set(np.unique(label)) | set(np.unique(truth))
            if c != 0
        ]
        scores[image] = float(np.mean(ious)) if ious else 1.0
    return scores


@pytest.mark.parametrize("task", DEMO_TASKS)
def test_demo_of_each_task_offline_at_its_target(
    task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_real_sleep(seconds: float) -> None:
        raise AssertionError("the emulated job made the demo sleep for real")

    monkeypatch.setattr(time, "sleep", no_real_sleep)
    out = tmp_path / "demo"
    # Boxes need more objects: the model, trained on 20% of them, must beat careless workers'
    # noise in the validation labels before theta lets any machine label through.
    objects = 300 if task == "bounding-box" else 200
    assert main(["demo", "--task", task, "--objects", str(objects), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    reference = Path(summary["reference"])
    assert reference.exists() and out.resolve() in reference.parents
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    capsys.readouterr()
    assert main(["analyze", str(out / "output"), "--reference", str(reference), "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    quality = figures["quality"]
    assert quality["target"] == get_task(task).auto_labeling_target
    assert quality["auto"] >= quality["target"]
    assert figures["totals"]["failed_objects"] == 0
    rows = figures["iterations"]
    assert sum(1 for r in rows if r["human_objects"] > 0) >= 4
    assert sum(1 for r in rows if r["auto_objects"] > 0) >= 1
    if task == "bounding-box":  # the blog's job: 5 workers at $0.036, the $0.08 fee
        totals = figures["totals"]
        assert figures["pricing"] == {"object_fee": 0.08, "workers": 5, "task_price": 0.036}
        assert totals["cost"] == pytest.approx(
            totals["human_objects"] * 0.26 + totals["auto_objects"] * 0.08
        )
        report = out / "report.html"
        assert "data:image/png;base64," in report.read_text()
        assert stat.S_IMODE(report.stat().st_mode) & 0o044  # readable by others, as usual
        with pytest.raises(OverwriteError):
            run_demo(out, objects=10, progress=False, echo=lambda _: None)
    if task == "semantic-segmentation":
        result = analyze(read_output(out / "output"), reference=read_references(reference))
        assert result.scores is not None
        computed = dict(zip(result.scores["file_name"], result.scores["score"], strict=True))
        assert computed == pytest.approx(_by_hand_mask_scores(out / "output", reference))
        # One class-index PNG per image, named by its stem; ids are the job's colour-map keys.
        assert len(list(reference.glob("*.png"))) == 200


def test_waiting_inside_emulate_takes_no_real_time() -> None:
    with _clock.simulated():
        start = _clock.monotonic()
        _clock.sleep(120.0)
        assert _clock.monotonic() - start == 120.0


def test_masks_read_from_s3_and_from_the_downloaded_tree_score_alike(tmp_path: Path) -> None:
    """A segmentation job's masks are read where its output is: from S3 (its -ref URIs as
    written) or from a downloaded copy of the tree (the same files under annotations/)."""
    from gtkit._client import LabelingJobClient
    from gtkit._manifest import records_from_uris, upload_folder, write_manifest
    from gtkit._spec import LabelingJobSpec
    from gtkit.emulator import emulate, setup_account

    masks = make_dataset(tmp_path / "data", objects=12, seed=2, task="semantic-segmentation")
    refs = read_references(masks)
    with emulate(references=refs, seed=0):
        setup_account(bucket="paint")
        uploaded = upload_folder(tmp_path / "data" / "images", "s3://paint/images")
        write_manifest(records_from_uris(uploaded.uris), "s3://paint/in.manifest")
        spec = LabelingJobSpec(
            name="paint", task="semantic-segmentation", region="us-east-1",
            manifest="s3://paint/in.manifest", output="s3://paint/out",
            role_arn="arn:aws:iam::123456789012:role/GroundTruth", labels=("bird", "plane"),
            workers=3, task_price="0.840",
        )  # fmt: skip
        client = LabelingJobClient()
        client.create(spec, check=False)
        client.wait("paint", progress=False)
        from_s3 = analyze(read_output("s3://paint/out/paint"), reference=refs)
        local = analyze(read_output(client.download("paint", tmp_path / "out")), reference=refs)
    assert from_s3.scores is not None and local.scores is not None
    assert len(local.scores) == 12 and local.scores["human"].all()
    assert from_s3.scores["score"].tolist() == local.scores["score"].tolist()
    assert local.quality is not None and local.quality["human"] > 0.7


def test_worst_segmentation_labels_are_drawn_as_their_masks(tmp_path: Path) -> None:
    """The gallery paints each label mask in its colour map's colours (background clear, half
    transparent), outlines the reference where it has an edge, and names the classes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from gtkit import plot_worst

    output = read_output(_hand_output(tmp_path / "out"))
    refs = tmp_path / "refs"
    refs.mkdir()
    for name, ids in TRUTHS.items():
        _index_png(refs / f"{name}.png", ids)
    reference = read_references(refs)
    result = analyze(output, reference=reference)
    fig = plot_worst(result, output, reference, count=3)
    FigureCanvasAgg(fig).draw()
    panels = [ax for ax in fig.axes if ax.get_title()]
    titles = [ax.get_title().split("\n")[0] for ax in panels]
    assert titles == ["c.jpg", "a.jpg", "b.jpg"]  # 0.0, 7/12, 1.0: worst first
    for ax, name in zip(panels, ["c", "a", "b"], strict=True):
        (painted,) = ax.get_images()
        ids = np.array(LABELS[name])
        expected = np.zeros((*ids.shape, 4))
        for class_id, (r, g, b) in ((1, (1.0, 0.0, 0.0)), (2, (0.0, 0.0, 1.0))):
            expected[ids == class_id] = (r, g, b, 0.5)
        assert np.asarray(painted.get_array()) == pytest.approx(expected)
    # Only a's reference mask has both foreground and background: one dashed outline.
    assert [len(ax.collections) > 0 for ax in panels] == [False, True, False]
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"cat", "dog", "reference"} <= legend
