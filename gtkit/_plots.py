"""Plots of an :class:`~gtkit._analysis.Analysis`, each a function returning its Figure.

Every function takes an optional ``ax=`` to draw into, never calls ``plt.show()`` and never
changes global settings. They use matplotlib's object API, so they work headless. Text that
comes from files (file names) is drawn as it is, never read as mathtext (``$...$``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from gtkit._analysis import Analysis
from gtkit._output import JobOutput
from gtkit._references import References, file_name
from gtkit._workers import WorkerAnalysis

__all__ = [
    "plot_cost",
    "plot_counts",
    "plot_examples",
    "plot_quality_histogram",
    "plot_quality_vs_confidence",
    "plot_threshold_curve",
    "plot_worker_agreement",
    "plot_workers_what_if",
]

HUMAN, MACHINE, REFERENCE = "#1f77b4", "#ff7f0e", "#2ca02c"


def _axes(ax: Axes | None, size: tuple[float, float] = (6.0, 3.6)) -> tuple[Figure, Axes]:
    if ax is not None:
        fig = ax.get_figure()
        assert isinstance(fig, Figure)
        return fig, ax
    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


def _labels(analysis: Analysis) -> list[str]:
    return ["all" if pd.isna(i) else str(int(i)) for i in analysis.iterations["iteration"]]


def plot_counts(analysis: Analysis, *, ax: Axes | None = None) -> Figure:
    """Objects (bars) and boxes (lines) per iteration, human vs machine."""
    fig, ax = _axes(ax)
    it = analysis.iterations
    x = np.arange(len(it))
    ax.bar(x - 0.2, it["human_objects"], 0.4, label="human objects", color=HUMAN)
    ax.bar(x + 0.2, it["auto_objects"], 0.4, label="machine objects", color=MACHINE)
    if it["human_boxes"].sum() + it["auto_boxes"].sum() > 0:
        ax.plot(x, it["human_boxes"], "o--", color=HUMAN, label="human boxes")
        ax.plot(x, it["auto_boxes"], "o--", color=MACHINE, label="machine boxes")
    ax.set_xticks(x, _labels(analysis))
    ax.set_xlabel("iteration")
    ax.set_ylabel("count")
    ax.set_title("Labels per iteration")
    ax.legend(frameon=False)
    return fig


def plot_cost(analysis: Analysis, *, ax: Axes | None = None) -> Figure:
    """Dollars per iteration, human and machine labels stacked."""
    fig, ax = _axes(ax)
    it = analysis.iterations
    x = np.arange(len(it))
    human = it["human_cost"].astype("float64").fillna(0).to_numpy()
    auto = it["auto_cost"].astype("float64").fillna(0).to_numpy()
    ax.bar(x, human, label="human labels", color=HUMAN)
    ax.bar(x, auto, bottom=human, label="machine labels", color=MACHINE)
    ax.set_xticks(x, _labels(analysis))
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost (USD)")
    ax.set_title("Cost per iteration")
    ax.legend(frameon=False)
    return fig


def plot_quality_histogram(analysis: Analysis, *, ax: Axes | None = None) -> Figure:
    """Histogram of per-object quality (IoU score or accuracy), human vs machine."""
    fig, ax = _axes(ax)
    s = analysis.scores
    if s is not None and len(s):
        bins = [k / 20 for k in range(21)]
        for human, color, name in ((True, HUMAN, "human"), (False, MACHINE, "machine")):
            values = s.loc[s["human"] == human, "score"]
            if len(values):
                ax.hist(
                    values,
                    bins=bins,
                    alpha=0.6,
                    color=color,
                    label=f"{name} (mean {values.mean():.3f})",
                )
        ax.legend(frameon=False)
    ax.set_xlabel("quality against reference")
    ax.set_ylabel("objects")
    ax.set_title("Label quality")
    return fig


def plot_quality_vs_confidence(analysis: Analysis, *, ax: Axes | None = None) -> Figure:
    """Each object's quality against its confidence, human vs machine."""
    fig, ax = _axes(ax)
    s = analysis.scores
    if s is not None and len(s):
        for human, color, name in ((True, HUMAN, "human"), (False, MACHINE, "machine")):
            part = s[s["human"] == human]
            ax.scatter(part["confidence"], part["score"], s=8, alpha=0.5, color=color, label=name)
        ax.legend(frameon=False)
    ax.set_xlabel("confidence")
    ax.set_ylabel("quality")
    ax.set_title("Quality vs confidence")
    return fig


def plot_threshold_curve(
    analysis: Analysis, *, target: float = 0.6, ax: Axes | None = None
) -> Figure:
    """Quality of the objects above each confidence threshold, with the target and theta."""
    fig, ax = _axes(ax)
    curve = analysis.threshold_curve()
    if len(curve):
        ax.plot(curve["threshold"], curve["quality"], "o-", color=MACHINE)
        ax.axhline(target, color="grey", linestyle=":", label=f"target {target}")
        theta = analysis.threshold_for(target)
        if theta is not None:
            ax.axvline(theta, color="black", linestyle="--", label=f"theta {theta:.3f}")
        ax.legend(frameon=False)
    ax.set_xlabel("confidence threshold")
    ax.set_ylabel("quality above threshold")
    ax.set_title("Confidence threshold curve")
    return fig


def plot_examples(
    analysis: Analysis,
    output: JobOutput,
    reference: References | None = None,
    *,
    image_dir: str | os.PathLike[str] | None = None,
    count: int = 5,
) -> Figure:
    """The ``count`` most confident machine-labeled images (else any), label boxes in orange and
    reference boxes in green, drawn on the image where ``image_dir`` holds it by file name."""
    import matplotlib.image as mpimg

    objects = output.for_attribute(analysis.label_attribute).objects
    pool = objects[objects["human"] == False]  # noqa: E712 (nullable boolean column)
    if pool.empty:
        pool = objects
    chosen = pool.sort_values("confidence", ascending=False, na_position="last").head(count)
    fig = Figure(figsize=(3.2 * max(len(chosen), 1), 3.4), layout="constrained")
    boxes = output.boxes[output.boxes["attribute"] == analysis.label_attribute]
    for k, (_, row) in enumerate(chosen.iterrows()):
        ax = fig.add_subplot(1, max(len(chosen), 1), k + 1)
        name = file_name(row["source"]) or f"object {row['index']}"
        mine = boxes[boxes["index"] == row["index"]]
        width = float(mine["image_width"].max()) if len(mine) else 1.0
        height = float(mine["image_height"].max()) if len(mine) else 1.0
        path = Path(image_dir) / name if image_dir is not None else None
        title = name
        img = None
        if path is not None and path.is_file():
            try:
                img = mpimg.imread(path)
            except (OSError, ValueError, SyntaxError):  # not an image Pillow can read
                title = f"{name} (image not readable)"
        if img is not None:
            ax.imshow(img)
            height, width = img.shape[0], img.shape[1]
        else:
            ax.set_facecolor("#f4f4f4")
        ax.set_xlim(0, width if width == width else 1)
        ax.set_ylim(height if height == height else 1, 0)
        for _, b in mine.iterrows():
            ax.add_patch(
                Rectangle(
                    (b["left"], b["top"]), b["width"], b["height"], fill=False, color=MACHINE, lw=2
                )
            )
        if reference is not None:
            refs = reference.boxes[reference.boxes["file_name"] == name]
            for _, b in refs.iterrows():
                scale = (width, height, width, height) if b["normalized"] else (1, 1, 1, 1)
                x, y, w, h = (
                    b["left"] * scale[0],
                    b["top"] * scale[1],
                    b["width"] * scale[2],
                    b["height"] * scale[3],
                )
                ax.add_patch(
                    Rectangle((x, y), w, h, fill=False, color=REFERENCE, lw=1.5, linestyle="--")
                )
        conf = row["confidence"]
        if conf == conf:
            title += f"\nconfidence {conf:.2f}"
        ax.set_title(title, fontsize=8, parse_math=False)  # a name is text: '$' is no math
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


# ---------------------------------------------------------------------- workers
FLAGGED = "#d62728"


def plot_worker_agreement(workers: WorkerAnalysis, *, ax: Axes | None = None) -> Figure:
    """Each worker's agreement with the consolidated labels (a fraction) against their number
    of answers (log scale), flagged workers in red, with the crowd's agreement and the
    low-agreement bar (:class:`~gtkit._workers.FlagThresholds`)."""
    fig, ax = _axes(ax)
    table = workers.workers
    flagged = table["flagged"].to_numpy(dtype=bool)
    for mask, color, name in ((~flagged, HUMAN, "worker"), (flagged, FLAGGED, "flagged")):
        if mask.any():
            ax.scatter(
                table.loc[mask, "answers"], table.loc[mask, "agreement"], s=16, alpha=0.7,
                color=color, label=f"{name} ({int(mask.sum())})",
            )  # fmt: skip
    crowd = workers.crowd.get("agreement")
    if crowd is not None and not np.isnan(crowd):
        ax.axhline(crowd, color="grey", linestyle=":", label=f"crowd {crowd:.2f}")
        bar = crowd - workers.thresholds.agreement_gap
        ax.axhline(bar, color=FLAGGED, linestyle="--", lw=1, label=f"flag below {bar:.2f}")
    if len(table):
        ax.set_xscale("log")
        ax.legend(frameon=False, fontsize=8)
    ax.set_xlabel("answers")
    ax.set_ylabel("agreement with consolidated label")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Worker agreement")
    return fig


def plot_workers_what_if(workers: WorkerAnalysis, *, ax: Axes | None = None) -> Figure:
    """Quality (mean and one standard deviation over the draws) of each consolidation method
    against workers per object k, with the job's cost at k (dollars, bars on a second axis)
    where prices are known."""
    fig, ax = _axes(ax)
    table = workers.what_if
    costs = table.drop_duplicates("k")
    if costs["cost"].notna().any():
        twin = ax.twinx()
        twin.bar(costs["k"], costs["cost"], width=0.5, color="#dddddd", zorder=0, label="cost")
        twin.set_ylabel("job cost (USD)")
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
    for method, part in table.groupby("method", sort=False):
        ax.errorbar(
            part["k"], part["quality_mean"], yerr=part["quality_sd"], marker="o", capsize=3,
            label=str(method),
        )  # fmt: skip
    if len(table):
        ax.legend(frameon=False, fontsize=8)
        ax.set_xticks(sorted(table["k"].unique()))
    against = "reference" if workers.against == "reference" else "full-crowd labels"
    ax.set_xlabel("workers per object (k)")
    ax.set_ylabel(f"quality against {against}")
    ax.set_title("Quality and cost by workers per object")
    return fig
