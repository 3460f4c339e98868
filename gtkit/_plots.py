"""Plots of an :class:`~gtkit._analysis.Analysis`, each a function returning its Figure.

Every function takes an optional ``ax=`` to draw into (the multi-image ones excepted), never
calls ``plt.show()`` and never changes global settings. They use matplotlib's object API, so
they work headless; the Figures they make show themselves as images in Jupyter when they are a
cell's last expression (they have ``_repr_png_``), with or without pyplot. Text that comes from
files (file and class names) is drawn as it is, never read as mathtext (``$...$``).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from gtkit._analysis import NO_PRICES, Analysis
from gtkit._masks import read_mask
from gtkit._output import JobOutput
from gtkit._references import References, file_name
from gtkit._workers import WorkerAnalysis

__all__ = [
    "plot_cost",
    "plot_counts",
    "plot_cumulative_cost",
    "plot_examples",
    "plot_quality_by_iteration",
    "plot_quality_histogram",
    "plot_quality_vs_confidence",
    "plot_threshold_curve",
    "plot_threshold_savings",
    "plot_worker_agreement",
    "plot_workers_what_if",
    "plot_worst",
]

HUMAN, MACHINE, REFERENCE = "#1f77b4", "#ff7f0e", "#2ca02c"


class _Figure(Figure):
    """A Figure that Jupyter shows as a PNG when it is a cell's last expression, without
    pyplot (a bare Figure shows only its repr unless pyplot's inline backend is loaded)."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png")
        return buf.getvalue()


def _figure(size: tuple[float, float]) -> Figure:
    return _Figure(figsize=size, layout="constrained")


def _axes(ax: Axes | None, size: tuple[float, float] = (6.0, 3.6)) -> tuple[Figure, Axes]:
    if ax is not None:
        fig = ax.get_figure()
        assert isinstance(fig, Figure)
        return fig, ax
    fig = _figure(size)
    return fig, fig.add_subplot()


def _say(ax: Axes, text: str) -> None:
    """Write ``text`` where a plot would be, with no axes: a sentence instead of empty axes."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10,
            transform=ax.transAxes, parse_math=False)  # fmt: skip


def _iteration_names(values: pd.Series) -> list[str]:
    """Tick labels: the iteration, or "all" (one row, no iterations known) or "unknown"."""
    unknown = "all" if len(values) == 1 else "unknown"
    return [unknown if pd.isna(i) else str(int(i)) for i in values]


def _labels(analysis: Analysis) -> list[str]:
    return _iteration_names(analysis.iterations["iteration"])


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
    """Dollars per iteration, human and machine labels stacked; a sentence instead where no
    prices are known."""
    fig, ax = _axes(ax)
    if analysis.pricing is None:
        _say(ax, NO_PRICES[0].upper() + NO_PRICES[1:] + ".")
        return fig
    it = analysis.iterations
    x = np.arange(len(it))
    human = it["human_cost"].astype("float64").to_numpy()
    auto = it["auto_cost"].astype("float64").to_numpy()
    ax.bar(x, human, label="human labels", color=HUMAN)
    ax.bar(x, auto, bottom=human, label="machine labels", color=MACHINE)
    ax.set_xticks(x, _labels(analysis))
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost (USD)")
    ax.set_title("Cost per iteration")
    ax.legend(frameon=False)
    return fig


def plot_cumulative_cost(analysis: Analysis, *, ax: Axes | None = None) -> Figure:
    """Dollars spent by the end of each iteration, with automated labeling and as if humans
    had labeled the same objects (the AWS blog's figure); a sentence where no prices are known.
    The numbers are :meth:`Analysis.cumulative_cost`."""
    fig, ax = _axes(ax)
    if analysis.pricing is None:
        _say(ax, NO_PRICES[0].upper() + NO_PRICES[1:] + ".")
        return fig
    c = analysis.cumulative_cost()
    x = np.arange(len(c))
    ax.plot(x, c["cost_without_auto"], "s--", color=HUMAN, label="humans label everything")
    ax.plot(x, c["cost"], "o-", color=MACHINE, label="with automated labeling")
    ax.fill_between(x, c["cost"], c["cost_without_auto"], color=MACHINE, alpha=0.15)
    if len(c):
        saved = float(c["savings"].iloc[-1])
        ax.annotate(f"${saved:,.2f} saved", (x[-1], float(c["cost"].iloc[-1])),
                    textcoords="offset points", xytext=(-8, -14), ha="right")  # fmt: skip
    ax.set_xticks(x, _iteration_names(c["iteration"]))
    ax.set_xlabel("iteration")
    ax.set_ylabel("cumulative cost (USD)")
    ax.set_ylim(bottom=0)
    ax.set_title("Cumulative cost")
    ax.legend(frameon=False)
    return fig


def plot_quality_by_iteration(analysis: Analysis, *, ax: Axes | None = None) -> Figure:
    """Mean quality of each iteration's human and machine labels against the reference, with
    the task's target; the numbers are :meth:`Analysis.quality_by_iteration`."""
    fig, ax = _axes(ax)
    q = analysis.quality_by_iteration()
    if q.empty:
        _say(ax, "No reference labels: quality is not measured.")
        return fig
    x = np.arange(len(q))
    for column, count, color, name in (
        ("human_quality", "human_objects", HUMAN, "human labels"),
        ("machine_quality", "machine_objects", MACHINE, "machine labels"),
    ):
        if q[count].sum():
            ax.plot(x, q[column].astype("float64"), "o-", color=color, label=name)
    if analysis.target is not None:
        ax.axhline(analysis.target, color="grey", linestyle=":",
                   label=f"automated labeling's target {analysis.target}")  # fmt: skip
    ax.set_xticks(x, _iteration_names(q["iteration"]))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("iteration")
    ax.set_ylabel(_measure(analysis))
    ax.set_title("Quality per iteration")
    ax.legend(frameon=False)
    return fig


def _measure(analysis: Analysis) -> str:
    """What the quality scores are, in words."""
    q = analysis.quality
    return "accuracy" if q is not None and q["matching"] == "accuracy" else "mean IoU"


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
    analysis: Analysis, *, target: float | None = None, ax: Axes | None = None
) -> Figure:
    """Mean quality of the machine labels at or above each confidence threshold, with the
    target (default: the task's) and theta, the lowest threshold whose labels still reach it.

    Theta is recomputed from this output against the reference; the service chose its own
    threshold on its validation set. Where no machine label was compared with a reference,
    the figure says so instead of drawing a threshold.
    """
    fig, ax = _axes(ax)
    target = analysis.target if target is None else target
    curve = analysis.threshold_curve()
    if not len(curve):
        _say(ax, "No machine labels compared with a reference: no confidence threshold to show.")
        return fig
    ax.plot(curve["threshold"], curve["quality"], "o-", color=MACHINE,
            label="machine labels at or above the threshold")  # fmt: skip
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", label=f"target {target}")
        theta = analysis.threshold_for(target)
        if theta is not None:
            reach = f"theta {theta:.3f}: lowest threshold reaching the target"
            ax.axvline(theta, color="black", linestyle="--", label=reach)
    ax.set_xlabel("confidence threshold")
    ax.set_ylabel(f"{_measure(analysis)} at or above it")
    ax.set_title("Confidence threshold")
    ax.legend(frameon=False, fontsize=8)
    return fig


def plot_threshold_savings(analysis: Analysis, *, ax: Axes | None = None) -> Figure:
    """For each confidence threshold: how many machine labels it keeps (bars) and the dollars
    they save over human labels (line, right axis); the numbers are
    :meth:`Analysis.threshold_table`. A sentence instead where there are no machine labels."""
    fig, ax = _axes(ax)
    t = analysis.threshold_table()
    if not len(t):
        _say(ax, "No machine labels with a confidence: no threshold to choose.")
        return fig
    x = np.arange(len(t))
    ax.bar(x, t["machine_labels"], color=MACHINE, alpha=0.7, label="machine labels kept")
    ax.set_xticks(x, [f"{v:.3f}" for v in t["threshold"]], fontsize=8)
    ax.set_xlabel("confidence threshold (labels at or above it are kept)")
    ax.set_ylabel("machine labels kept")
    handles: list[Patch | Line2D] = [Patch(color=MACHINE, alpha=0.7, label="machine labels kept")]
    if analysis.pricing is not None:
        money = ax.twinx()
        money.plot(x, t["dollars_saved"], "o-", color="black")
        money.set_ylabel("dollars saved (USD)")
        money.set_ylim(bottom=0)
        handles.append(Line2D([], [], color="black", marker="o", label="dollars saved"))
    ax.set_title("What each threshold keeps and saves")
    ax.legend(handles=handles, frameon=False, loc="upper right")
    return fig


def plot_examples(
    analysis: Analysis,
    output: JobOutput,
    reference: References | None = None,
    *,
    image_dir: str | os.PathLike[str] | None = None,
    count: int = 5,
) -> Figure:
    """The ``count`` most confident machine labels (else any labels), drawn over their images
    where ``image_dir`` holds them by file name: label boxes solid (orange machine, blue human),
    reference boxes dashed green, with a legend."""
    objects = output.for_attribute(analysis.label_attribute).objects
    pool = objects[objects["human"] == False]  # noqa: E712 (nullable boolean column)
    if pool.empty:
        pool = objects
    chosen = pool.sort_values("confidence", ascending=False, na_position="last").head(count)
    return _gallery(
        analysis, output, reference, chosen["index"].to_numpy(dtype=np.int64),
        image_dir=image_dir, title="Most confident machine labels",
    )  # fmt: skip


def plot_worst(
    analysis: Analysis,
    output: JobOutput,
    reference: References | None = None,
    *,
    image_dir: str | os.PathLike[str] | None = None,
    count: int = 5,
    human: bool | None = None,
) -> Figure:
    """The ``count`` labels that score lowest against the reference (:meth:`Analysis.worst`;
    only human or only machine ones with ``human=``), worst first, drawn over their images as
    :func:`plot_examples` draws them, each titled with its score. Needs an analysis made with
    reference labels."""
    worst = analysis.worst(count, human=human)
    if analysis.scores is None:
        fig, ax = _axes(None)
        _say(ax, "No reference labels: no label scores, so no worst labels to show.")
        return fig
    return _gallery(
        analysis, output, reference, worst["index"].to_numpy(dtype=np.int64),
        image_dir=image_dir, title="Worst-scoring labels",
        scores=dict(zip(worst["index"].tolist(), worst["score"].tolist(), strict=True)),
    )  # fmt: skip


# Each task type's labels are drawn over an image by one overlay: it draws the labels of
# object ``index`` (and the reference labels of image ``name``, if any) into ``ax``, whose
# limits are the image's size in pixels, and returns the legend entries it used.
# An overlay draws object ``index``'s label, and the reference image ``name``'s labels (None:
# the object was compared with no reference image).
Overlay = Callable[
    [Axes, JobOutput, "References | None", int, str | None, bool], list[Patch | Line2D]
]


def _label_handle(human: bool) -> Line2D:
    color, name = (HUMAN, "human label") if human else (MACHINE, "machine label")
    return Line2D([], [], color=color, lw=2, label=name)


_REFERENCE_HANDLE = Line2D([], [], color=REFERENCE, lw=1.5, linestyle="--", label="reference")


def _draw_boxes(
    ax: Axes,
    view: JobOutput,
    reference: References | None,
    index: int,
    name: str | None,
    human: bool,
) -> list[Patch | Line2D]:
    """Label boxes solid, reference boxes dashed (scaled to pixels where given as fractions)."""
    boxes = view.boxes
    mine = boxes[boxes["index"] == index]
    color = HUMAN if human else MACHINE
    for x, y, w, h in mine[["left", "top", "width", "height"]].to_numpy(dtype=np.float64):
        ax.add_patch(Rectangle((x, y), w, h, fill=False, color=color, lw=2))
    handles: list[Patch | Line2D] = [_label_handle(human)]
    if reference is not None and name is not None:
        width, height = ax.get_xlim()[1], ax.get_ylim()[0]
        refs = reference.boxes[reference.boxes["file_name"] == name]
        xywh = refs[["left", "top", "width", "height"]].to_numpy(dtype=np.float64)
        scale = np.where(refs["normalized"].to_numpy(dtype=bool)[:, None],
                         [width, height, width, height], 1.0)  # fmt: skip
        for x, y, w, h in xywh * scale:
            ax.add_patch(
                Rectangle((x, y), w, h, fill=False, color=REFERENCE, lw=1.5, linestyle="--")
            )
        handles.append(_REFERENCE_HANDLE)
    return handles


def _draw_classes(
    ax: Axes,
    view: JobOutput,
    reference: References | None,
    index: int,
    name: str | None,
    human: bool,
) -> list[Patch | Line2D]:
    """The label's class (and the reference class) written over the image."""
    classes = view.classes
    given = classes.loc[classes["index"] == index, "class_name"].astype(str).tolist()
    lines = [("label: " + ", ".join(given) if given else "no label", HUMAN if human else MACHINE)]
    if reference is not None and name is not None:
        truth = reference.classes.loc[reference.classes["file_name"] == name, "class_name"]
        lines.append(("reference: " + ", ".join(truth.astype(str)), REFERENCE))
    for k, (text, color) in enumerate(lines):
        ax.text(0.03, 0.05 + 0.12 * k, text, color="white", fontsize=8, transform=ax.transAxes,
                bbox={"facecolor": color, "alpha": 0.85, "edgecolor": "none"},
                parse_math=False)  # fmt: skip
    handles: list[Patch | Line2D] = [_label_handle(human)]
    return handles + ([_REFERENCE_HANDLE] if reference is not None and name is not None else [])


def _draw_masks(
    ax: Axes,
    view: JobOutput,
    reference: References | None,
    index: int,
    name: str | None,
    human: bool,
) -> list[Patch | Line2D]:
    """Segmentation: object ``index``'s label mask, decoded with its line's colour map as the
    analysis decodes it, painted half-transparent in the map's colours (background clear), and
    the outline of image ``name``'s reference mask dashed over it; a legend entry per class
    painted."""
    from matplotlib.colors import to_rgba

    objects = view.objects
    values = objects.loc[objects["index"] == index, "value"]
    value = values.iloc[0] if len(values) else None
    classes = view.classes
    mine = classes[(classes["index"] == index) & classes["color"].notna()]
    colors = {int(c): str(h) for c, h in zip(mine["class_id"], mine["color"], strict=True)}
    names = {int(c): str(n) for c, n in zip(mine["class_id"], mine["class_name"], strict=True)}
    handles: list[Patch | Line2D] = []
    if isinstance(value, str) and colors:
        label = read_mask(view.read_label_file(value), colors, name=view.label_file(value))
        top = max(max(colors), int(label.max(initial=0))) + 1
        palette = np.zeros((top, 4))
        for class_id, color in colors.items():
            if class_id > 0:  # class 0 is the background: left clear
                palette[class_id] = to_rgba(color, alpha=0.5)
        height, width = label.shape
        ax.imshow(palette[label], extent=(0, width, height, 0), interpolation="nearest")
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        for class_id in np.unique(label[label > 0]).tolist():
            handles.append(
                Patch(color=colors.get(class_id, "grey"), alpha=0.5,
                      label=names.get(class_id, f"class {class_id}"))
            )  # fmt: skip
    handles.append(_label_handle(human))
    stem = None if name is None else name.rsplit(".", 1)[0] if "." in name[1:] else name
    ref_path = reference.masks.get(stem) if reference is not None and stem is not None else None
    if reference is not None and ref_path is not None:
        truth = read_mask(Path(ref_path).read_bytes(), reference.mask_colors, name=ref_path)
        foreground = (truth > 0).astype(float)
        if 0 < foreground.sum() < foreground.size:  # an outline only where there is an edge
            ax.contour(foreground, levels=[0.5], colors=[REFERENCE], linewidths=1.2,
                       linestyles="--")  # fmt: skip
        handles.append(_REFERENCE_HANDLE)
    return handles


_OVERLAYS: dict[str, Overlay] = {
    "object-detection": _draw_boxes,
    "image-classification": _draw_classes,
    "text-classification": _draw_classes,
    "semantic-segmentation": _draw_masks,
}


def _gallery(
    analysis: Analysis,
    output: JobOutput,
    reference: References | None,
    indexes: np.ndarray,
    *,
    image_dir: str | os.PathLike[str] | None,
    title: str,
    scores: dict[int, float] | None = None,
) -> Figure:
    """One panel per object ``indexes`` (datasetObjectIds), its image (where ``image_dir``
    holds it) under its labels, drawn by the overlay of the analysis's task type."""
    import matplotlib.image as mpimg

    view = output.for_attribute(analysis.label_attribute)
    objects = view.objects.drop_duplicates("index").set_index("index")
    overlay = _OVERLAYS.get(analysis.task_type or "", _draw_boxes)
    panels = max(len(indexes), 1)
    # The reference image each compared object was matched to (a file name, or a path where
    # the references hold several images of its file name); none for an object not compared.
    scores_table = analysis.scores
    matched = None
    if scores_table is not None:
        by_index = scores_table.drop_duplicates("index").set_index("index")["file_name"]
        matched = by_index.reindex(indexes).to_numpy(dtype=object)
    fig = _figure((3.2 * panels, 3.9))
    handles: dict[str, Patch | Line2D] = {}
    for k, index in enumerate(indexes.tolist()):
        ax = fig.add_subplot(1, panels, k + 1)
        row = objects.loc[index]
        name = file_name(row["source"]) or f"object {index}"
        width, height = float(row["image_width"]), float(row["image_height"])
        path = Path(image_dir) / name if image_dir is not None else None
        img = None
        unreadable = False
        if path is not None and path.is_file():
            try:
                img = mpimg.imread(path)
            except (OSError, ValueError, SyntaxError):  # not an image Pillow can read
                unreadable = True
        if img is not None:
            ax.imshow(img)
            height, width = img.shape[0], img.shape[1]
        else:
            ax.set_facecolor("#f4f4f4")
        ax.set_xlim(0, width if width == width else 1)  # NaN where the size is unknown
        ax.set_ylim(height if height == height else 1, 0)
        human = bool(row["human"]) if not pd.isna(row["human"]) else True
        key = name if matched is None else matched[k] if isinstance(matched[k], str) else None
        for handle in overlay(ax, view, reference, index, key, human):
            handles.setdefault(str(handle.get_label()), handle)
        words = ["human" if human else "machine"]
        if scores is not None and index in scores:
            words.append(f"{_measure(analysis)} {scores[index]:.3f}")
        if not pd.isna(row["confidence"]):
            words.append(f"confidence {row['confidence']:.2f}")
        shown = f"{name} (image not readable)" if unreadable else name
        ax.set_title(f"{shown}\n{', '.join(words)}", fontsize=8, parse_math=False)  # '$' is text
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    if handles:
        fig.legend(handles=list(handles.values()), loc="outside lower center",
                   ncols=len(handles), frameon=False)  # fmt: skip
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
