"""The report people act on: prices found beside a download (API and CLI alike) or plainly
unknown, cumulative cost, quality per iteration, what each threshold keeps and saves, the worst
labels, and tidy tables, each figure's numbers checked against a hand-worked example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import gtkit
from gtkit import (
    Pricing,
    analyze,
    plot_cost,
    plot_counts,
    plot_cumulative_cost,
    plot_quality_by_iteration,
    plot_quality_histogram,
    plot_quality_vs_confidence,
    plot_threshold_curve,
    plot_threshold_savings,
    plot_worst,
    pricing_from_describe,
    read_coco,
    read_manifest,
    read_output,
    read_references,
    render_report,
    report_tables,
)
from gtkit._analysis import NO_PRICES
from gtkit._cli import main
from gtkit._pricing import dollars
from gtkit._report import headline

from .blog_tree import JOB, write_blog_tree, write_coco

DESCRIBE = {
    "LabelingJobName": "birds-job",
    "LabelingJobArn": "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/birds-job",
    "LabelingJobStatus": "Completed",
    "CreationTime": "2026-03-01T08:00:00+00:00",
    "LastModifiedTime": "2026-03-01T12:05:30+00:00",
    "LabelingJobAlgorithmsConfig": {"LabelingJobAlgorithmSpecificationArn": "arn:x"},
    "HumanTaskConfig": {
        "WorkteamArn": "arn:aws:sagemaker:eu-west-1:394669845002:workteam/public-crowd/default",
        "NumberOfHumanWorkersPerDataObject": 5,
        "PublicWorkforceTaskPrice": {
            "AmountInUsd": {"Dollars": 0, "Cents": 3, "TenthFractionsOfACent": 6}
        },
    },
}


@pytest.fixture(scope="module")
def blog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The blog's job (608 human, 392 machine labels over 5 iterations) with describe.json
    saved beside it, as ``LabelingJobClient.download`` leaves it."""
    root = tmp_path_factory.mktemp("blog")
    refs = write_blog_tree(root)
    (root / JOB / "describe.json").write_text(json.dumps(DESCRIBE))
    return root / JOB, write_coco(refs, root / "reference.json")


# A tiny image-classification job worked by hand: three machine labels (confidences 0.9, 0.8,
# 0.7; the 0.8 one wrong) and one human label, all in one manifest with no iterations.
TINY = [("a.jpg", "cat", "no", 0.9), ("b.jpg", "dog", "no", 0.8), ("c.jpg", "cat", "no", 0.7),
        ("d.jpg", "dog", "yes", 0.5)]  # fmt: skip
TRUTH = {"a.jpg": "cat", "b.jpg": "cat", "c.jpg": "cat", "d.jpg": "dog"}


def _tiny(tmp_path: Path, *, human: bool = False) -> tuple[Path, Path]:
    lines = []
    for name, label, annotated, confidence in TINY:
        meta = {"class-name": label, "confidence": confidence,
                "type": "groundtruth/image-classification",
                "human-annotated": "yes" if human else annotated,
                "creation-date": "2026-03-01T08:00:00", "job-name": "labeling-job/tiny"}  # fmt: skip
        lines.append(json.dumps({"source-ref": f"s3://b/{name}", "pets": int(label == "dog"),
                                 "pets-metadata": meta}))  # fmt: skip
    manifest = tmp_path / "output.manifest"
    manifest.write_text("\n".join(lines) + "\n")
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps([{"ImageId": k, "Label": v} for k, v in TRUTH.items()]))
    return manifest, truth


# ---------------------------------------------------------------------- item 5: prices
def test_analyze_finds_describe_json_beside_a_download_as_the_cli_does(
    blog: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    job, _ = blog
    found = analyze(read_output(job))
    assert found.totals["cost"] == pytest.approx(189.44)
    assert found.pricing_source == f"from {job / 'describe.json'}"
    assert main(["analyze", str(job), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(found.to_dict()))
    j = found.job
    assert (j.region, j.workforce, j.workers, j.task_price, j.object_fee) == (
        "eu-west-1", "public", 5, 0.036, 0.08,
    )  # fmt: skip
    assert j.duration_seconds == 4 * 3600 + 5 * 60 + 30
    assert found.to_dict()["job"]["created"] == "2026-03-01T08:00:00+00:00"


def test_task_prices_are_read_by_the_one_dollars_conversion() -> None:
    for amount in ({"Dollars": 1, "Cents": 20}, {"Cents": 3, "TenthFractionsOfACent": 6},
                   {"TenthFractionsOfACent": 9}):  # fmt: skip
        human = {"NumberOfHumanWorkersPerDataObject": 1,
                 "PublicWorkforceTaskPrice": {"AmountInUsd": amount}}  # fmt: skip
        assert pricing_from_describe({"HumanTaskConfig": human}).task_price == float(
            dollars(amount)
        )


def test_where_no_prices_are_known_every_view_says_so(blog: tuple[Path, Path]) -> None:
    job, ref = blog
    lone = read_manifest(job / "manifests" / "output" / "output.manifest")
    a = analyze(lone, reference=read_coco(ref))
    assert a.pricing is None and a.totals["cost"] is None
    assert a.to_dict()["pricing"] is None
    assert a.to_dict()["pricing_note"].startswith("Prices unknown")
    assert f"cost: {NO_PRICES}" in headline(a)
    text = render_report(a, lone)
    assert "Prices unknown, so no cost is computed" in text
    assert 'alt="Cost per iteration"' not in text and 'alt="Cumulative cost"' not in text
    # A notebook's cost plots say it too, in words rather than on empty axes.
    for plot in (plot_cost, plot_cumulative_cost):
        fig = plot(a)
        assert not fig.axes[0].axison
        assert "Prices unknown" in " ".join(t.get_text() for t in fig.axes[0].texts)


# ---------------------------------------------------------------------- item 6: figures
def test_cumulative_cost_equals_the_blog_worked_by_hand(blog: tuple[Path, Path]) -> None:
    job, _ = blog
    c = analyze(read_output(job)).cumulative_cost()
    # Human $0.26 (0.08 + 5 x 0.036), machine $0.08; iterations (human, machine) 10/0,
    # 190/0, 200/0, 200/27, 8/365.
    assert c["iteration"].tolist() == [1, 2, 3, 4, 5]
    assert c["objects"].tolist() == [10, 200, 400, 627, 1000]
    assert c["cost"].tolist() == pytest.approx([2.60, 52.00, 104.00, 158.16, 189.44])
    assert c["cost_without_auto"].tolist() == pytest.approx([2.60, 52.00, 104.00, 163.02, 260.0])
    fig = plot_cumulative_cost(analyze(read_output(job)))
    drawn = {line.get_label(): line.get_ydata() for line in fig.axes[0].get_lines()}
    assert list(drawn["with automated labeling"]) == pytest.approx(c["cost"].tolist())


def test_quality_per_iteration_human_and_machine(blog: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, truth = _tiny(tmp_path)
    q = analyze(read_manifest(manifest), reference=read_references(truth)).quality_by_iteration()
    assert len(q) == 1 and pd.isna(q["iteration"].iloc[0])  # no file says which iteration
    assert (q["human_objects"].iloc[0], q["human_quality"].iloc[0]) == (1, 1.0)
    assert q["machine_objects"].iloc[0] == 3
    assert q["machine_quality"].iloc[0] == pytest.approx(2 / 3)
    job, ref = blog
    a = analyze(read_output(job), reference=read_coco(ref))
    assert a.scores is not None
    by_hand = a.scores.groupby(["iteration", "human"])["score"].mean()
    q = a.quality_by_iteration().set_index("iteration")
    for (iteration, human), mean in by_hand.items():
        assert q.loc[iteration, "human_quality" if human else "machine_quality"] == pytest.approx(
            mean
        )
    assert q["machine_objects"].tolist() == [0, 0, 0, 27, 365]
    assert q.loc[[1, 2, 3], "machine_quality"].isna().all()
    lines = plot_quality_by_iteration(a).axes[0].get_lines()
    assert {line.get_label() for line in lines} >= {"human labels", "machine labels"}


def test_what_each_threshold_keeps_and_saves_worked_by_hand(tmp_path: Path) -> None:
    manifest, truth = _tiny(tmp_path)
    a = analyze(
        read_manifest(manifest), reference=read_references(truth), pricing=Pricing(0.08, 3, 0.04)
    )
    t = a.threshold_table(thresholds=[0.7, 0.75, 0.85, 0.95])
    assert t["machine_labels"].tolist() == [3, 2, 1, 0]
    assert t["quality"].tolist()[:3] == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert np.isnan(t["quality"].iloc[3])
    # Each machine label kept saves 3 workers x $0.04 = $0.12 over a human label.
    assert t["dollars_saved"].tolist() == pytest.approx([0.36, 0.24, 0.12, 0.0])
    assert a.threshold_table()["machine_labels"].iloc[0] == 3  # the lowest keeps them all
    assert a.threshold_for(0.6) == pytest.approx(0.7) and a.threshold_for(0.95) == 0.9
    private = analyze(read_manifest(manifest), pricing=Pricing(0.08, 3, 0.0))
    assert "pay no task price" in private.pricing_note
    assert private.threshold_table()["dollars_saved"].eq(0).all()
    bars = plot_threshold_savings(a).axes[0].patches
    assert [b.get_height() for b in bars] == a.threshold_table()["machine_labels"].tolist()


def test_threshold_table_agrees_with_filtering_the_blog_job(blog: tuple[Path, Path]) -> None:
    job, ref = blog
    out = read_output(job)
    a = analyze(out, reference=read_coco(ref))
    assert a.scores is not None
    machine = out.objects[out.objects["human"] == False]  # noqa: E712 (nullable boolean)
    compared = a.scores[~a.scores["human"]]
    table = a.threshold_table()
    assert len(table) > 3
    for _, row in table.iterrows():
        assert row["machine_labels"] == (machine["confidence"] >= row["threshold"]).sum()
        kept = compared[compared["confidence"] >= row["threshold"]]["score"]
        assert row["quality"] == pytest.approx(kept.mean())
        assert row["dollars_saved"] == pytest.approx(row["machine_labels"] * 5 * 0.036)


def test_without_machine_labels_there_is_no_threshold(tmp_path: Path) -> None:
    manifest, truth = _tiny(tmp_path, human=True)
    out = read_manifest(manifest)
    a = analyze(out, reference=read_references(truth), pricing=Pricing(0.08, 3, 0.04))
    assert a.threshold_table().empty and a.threshold_curve().empty
    assert a.threshold_for(0.5) is None
    assert not any("threshold" in line for line in headline(a))
    assert a.to_dict()["quality"]["threshold_for_target"] is None
    text = render_report(a, out)
    assert "No machine labels with a confidence" in text
    assert 'alt="Confidence threshold"' not in text
    assert not plot_threshold_curve(a).axes[0].get_lines()


def test_the_worst_labels_are_drawn_worst_first_with_a_legend(blog: tuple[Path, Path]) -> None:
    job, ref = blog
    out, reference = read_output(job), read_coco(ref)
    a = analyze(out, reference=reference)
    assert a.scores is not None
    worst = a.worst(4)
    assert worst["score"].tolist() == sorted(a.scores["score"])[:4]
    fig = plot_worst(a, out, reference, count=4)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == 4
    for ax, (_, row) in zip(panels, worst.iterrows(), strict=True):
        assert row["file_name"] in ax.get_title() and f"{row['score']:.3f}" in ax.get_title()
        boxes = out.boxes[out.boxes["index"] == row["index"]]
        assert len(ax.patches) == len(boxes) + len(
            reference.boxes[reference.boxes["file_name"] == row["file_name"]]
        )
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert "reference" in legend and legend & {"machine label", "human label"}


def test_every_plot_shows_itself_in_jupyter(blog: tuple[Path, Path]) -> None:
    """Jupyter displays a cell's last value through ``_repr_png_``; a bare Figure has none."""
    job, ref = blog
    a = analyze(read_output(job), reference=read_coco(ref))
    for plot in (plot_counts, plot_cost, plot_cumulative_cost, plot_quality_by_iteration,
                 plot_quality_histogram, plot_quality_vs_confidence, plot_threshold_curve,
                 plot_threshold_savings):  # fmt: skip
        fig = plot(a)
        assert isinstance(fig, Figure)
        assert fig._repr_png_().startswith(b"\x89PNG"), plot.__name__  # type: ignore[attr-defined]


def test_the_report_states_the_job_and_its_assumptions_in_tidy_tables(
    blog: tuple[Path, Path],
) -> None:
    job, ref = blog
    out, reference = read_output(job), read_coco(ref)
    a = analyze(out, reference=reference)
    text = render_report(a, out, reference)
    for words in ("Cost with automated labeling", "Human-labeled objects", "Workers per object",
                  "eu-west-1", "$0.036 per task", "4 h 5 min", "Pricing assumptions",
                  "Worst-scoring labels", "Cumulative cost", "Quality per iteration",
                  "What each threshold keeps and saves", "Theta"):  # fmt: skip
        assert words in text, words
    assert str(ref) in text  # the reference source
    assert "$0.08 object fee" in text and "5 worker(s) x $0.036" in text
    cells = re.findall(r"<td>(.*?)</td>", text)
    headers = re.findall(r"<th>(.*?)</th>", text)
    assert not [h for h in headers if "_" in h], headers  # headers in words
    money = [c for c in cells if c.startswith("$") and "per task" not in c]
    assert money and all(re.fullmatch(r"\$[\d,]+\.\d\d", c) for c in money), money
    assert not [c for c in cells if re.fullmatch(r"\d\.\d{4,}", c)]  # quality to three places
    tables = report_tables(a)
    assert tables["totals"].set_index("Figure").loc["Cost with automated labeling", "Value"] == (
        "$189.44"
    )
    assert set(tables) == {"job", "iterations", "totals", "quality", "thresholds"}


def test_the_report_is_public() -> None:
    assert {"report_tables", "plot_worst", "plot_cumulative_cost"} <= set(gtkit.__all__)


def _python_tour() -> str:
    """The README's Python tour (its first code block), as written."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## A tour of the Python API") :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found
    return found.group(1)


def test_the_readme_python_tour_prints_costs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run as written inside ``emulate()``: ``analyze`` finds the downloaded describe.json."""
    pytest.importorskip("moto")
    from gtkit._demo import make_dataset
    from gtkit._manifest import records_from_uris
    from gtkit.emulator import emulate, setup_account

    monkeypatch.chdir(tmp_path)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "tour")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    reference = make_dataset(tmp_path / "data", objects=30, seed=1)
    (tmp_path / "reference.json").write_bytes(reference.read_bytes())
    # The emulator's jobs advance one iteration per poll; waiting between polls is not tested here.
    defaults = dict(gtkit.LabelingJobClient.__init__.__kwdefaults__ or {})
    monkeypatch.setattr(
        gtkit.LabelingJobClient.__init__, "__kwdefaults__", {**defaults, "sleep": lambda _: None}
    )
    with emulate(references="reference.json", seed=0):
        setup_account(bucket="my-bucket")
        uploaded = gtkit.upload_folder(tmp_path / "data" / "images", "s3://my-bucket/birds/images")
        gtkit.write_manifest(
            records_from_uris(uploaded.uris), "s3://my-bucket/birds/input.manifest"
        )
        namespace: dict[str, object] = {}
        exec(compile(_python_tour(), "README.md", "exec"), namespace)
    analysis = namespace["analysis"]
    assert isinstance(analysis, gtkit.Analysis)
    t = analysis.totals
    cost = (t["human_objects"] * 0.26) + (t["auto_objects"] * 0.08)  # $0.08 + 5 x $0.036
    assert t["cost"] == pytest.approx(cost) and t["cost_without_auto"] == pytest.approx(30 * 0.26)
    assert capsys.readouterr().out.split()[-2:] == [str(t["cost"]), str(t["cost_without_auto"])]
    assert analysis.pricing_source == f"from {Path('birds-output') / 'describe.json'}"
    assert (tmp_path / "report.html").is_file()
