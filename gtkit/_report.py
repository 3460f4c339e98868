"""A self-contained HTML report of an analysis: what the job was, what it cost with and without
automated labeling, how good its labels are, what each confidence threshold keeps and saves,
and its worst labels, with the pricing assumptions stated.

The report is a sequence of sections (:data:`SECTIONS`), each one function of a
:class:`ReportContext` returning an HTML fragment ("" to leave the section out): a new section
is one function and one entry. Tables have headers in words, dollars to the cent and quality to
three places (:func:`report_tables` gives them to a notebook).
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from gtkit._analysis import NO_PRICES, Analysis
from gtkit._io import atomic_writer
from gtkit._output import JobOutput
from gtkit._plots import (
    plot_cost,
    plot_counts,
    plot_cumulative_cost,
    plot_examples,
    plot_quality_by_iteration,
    plot_quality_histogram,
    plot_quality_vs_confidence,
    plot_threshold_curve,
    plot_threshold_savings,
    plot_worker_agreement,
    plot_workers_what_if,
    plot_worst,
)
from gtkit._references import References
from gtkit._workers import WorkerAnalysis

__all__ = [
    "SECTIONS",
    "ReportContext",
    "headline",
    "render_report",
    "report_tables",
    "workers_headline",
    "workers_section",
    "write_report",
]


# ---------------------------------------------------------------------- formatting
def _money(value: float | None) -> str:
    """Dollars to the cent, "n/a" where unknown."""
    return "n/a" if _missing(value) else f"${value:,.2f}"


def _score(value: float | None) -> str:
    """A quality (fraction) to three places, "n/a" where unknown."""
    return "n/a" if _missing(value) else f"{value:.3f}"


def _count(value: Any) -> str:
    return "n/a" if _missing(value) else f"{int(value):,}"


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _iteration(value: Any) -> str:
    return "unknown" if _missing(value) else str(int(value))


def _when(value: datetime | None) -> str:
    return "n/a" if value is None else value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def _duration(seconds: float | None) -> str:
    """A duration in words: "4 h 30 min", "12 min 5 s", "n/a"."""
    if seconds is None:
        return "n/a"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _frame(data: Any, columns: list[str] | None = None) -> pd.DataFrame:
    frame: pd.DataFrame = pd.DataFrame(data, columns=columns)
    return frame


def _measure(analysis: Analysis) -> str:
    q = analysis.quality
    return "accuracy" if q is not None and q["matching"] == "accuracy" else "mIoU"


# ---------------------------------------------------------------------- headline and tables
def headline(analysis: Analysis) -> list[str]:
    """The figures that matter, one line each, as ``gtkit analyze`` and the demo print them.

    - ``labels:`` objects labeled by humans and by the machine, and failed objects (counts);
    - ``cost:`` dollars (to the cent) with and without automated labeling, and the share saved
      (a percentage), or that no prices are known;
    - with reference labels, ``quality``: mIoU (boxes, masks) or accuracy (classes), a fraction
      0-1 to three places, for human, machine and all labels, and the lowest confidence
      threshold (0-1) whose machine labels still reach the task's target.
    """
    t = analysis.totals
    lines = [
        f"labels: {t['human_objects']} human, {t['auto_objects']} machine, "
        f"{t['failed_objects']} failed",
    ]
    if analysis.pricing is None:
        lines.append(f"cost: {NO_PRICES}")
    else:
        lines.append(
            f"cost: {_money(t['cost'])} with automated labeling, "
            f"{_money(t['cost_without_auto'])} without"
            + (f" ({t['savings_fraction']:.1%} saved)" if t["savings_fraction"] is not None else "")
        )
    q = analysis.quality
    if q is not None:
        kind = _measure(analysis)
        lines.append(
            f"quality ({kind}, {q['matching']} matching, {q['objects_compared']} objects): "
            f"human {_score(q['human'])}, machine {_score(q['auto'])}, all {_score(q['all'])}"
        )
        if q.get("objects_ambiguous"):
            shown = ", ".join(analysis.ambiguous_objects[:3])
            more = len(analysis.ambiguous_objects) - 3
            lines.append(
                f"not compared: {q['objects_ambiguous']} objects whose file name stands for "
                f"several images ({shown}{f' and {more} more' if more > 0 else ''})"
            )
        theta = analysis.threshold_for()
        if theta is not None:
            lines.append(
                f"confidence threshold reaching the target {kind} {analysis.target}: {theta:.3f}"
            )
    return lines


def _iteration_table(analysis: Analysis) -> pd.DataFrame:
    """Per iteration: labels, cost and cumulative cost, quality; headers in words."""
    it = analysis.iterations
    cumulative = analysis.cumulative_cost()
    boxes = bool(it["human_boxes"].sum() + it["auto_boxes"].sum())
    rows: dict[str, list[str]] = {
        "Iteration": [_iteration(v) for v in it["iteration"]],
        "Human-labeled objects": [_count(v) for v in it["human_objects"]],
        "Machine-labeled objects": [_count(v) for v in it["auto_objects"]],
    }
    if boxes:
        rows["Human boxes"] = [_count(v) for v in it["human_boxes"]]
        rows["Machine boxes"] = [_count(v) for v in it["auto_boxes"]]
    if analysis.pricing is not None:
        rows["Cost of human labels"] = [_money(v) for v in it["human_cost"]]
        rows["Cost of machine labels"] = [_money(v) for v in it["auto_cost"]]
        rows["Cost so far"] = [_money(v) for v in cumulative["cost"]]
        rows["Cost so far without automated labeling"] = [
            _money(v) for v in cumulative["cost_without_auto"]
        ]
    q = analysis.quality_by_iteration()
    if len(q):
        kind = _measure(analysis)
        by_key = {_iteration(r["iteration"]): r for r in q.to_dict("records")}
        for column, title in (("human_quality", "human"), ("machine_quality", "machine")):
            rows[f"Quality of {title} labels ({kind})"] = [
                _score(by_key[key][column]) if key in by_key else "n/a" for key in rows["Iteration"]
            ]
    return _frame(rows)


def _totals_table(analysis: Analysis) -> pd.DataFrame:
    t = analysis.totals
    rows = [
        ("Human-labeled objects", _count(t["human_objects"])),
        ("Machine-labeled objects", _count(t["auto_objects"])),
        ("Failed objects (not charged)", _count(t["failed_objects"])),
    ]
    if t["human_boxes"] + t["auto_boxes"]:
        rows += [("Human boxes", _count(t["human_boxes"])),
                 ("Machine boxes", _count(t["auto_boxes"]))]  # fmt: skip
    if analysis.pricing is not None:
        share = t["savings_fraction"]
        rows += [
            ("Cost of human labels", _money(t["human_cost"])),
            ("Cost of machine labels", _money(t["auto_cost"])),
            ("Cost with automated labeling", _money(t["cost"])),
            ("Cost without automated labeling", _money(t["cost_without_auto"])),
            ("Saved", _money(t["savings"])),
            ("Saved, share of the cost without", "n/a" if share is None else f"{share:.1%}"),
        ]
    return _frame(rows, columns=["Figure", "Value"])


def _quality_table(analysis: Analysis) -> pd.DataFrame:
    q = analysis.quality
    if q is None:
        return _frame(None, columns=["Figure", "Value"])
    kind = _measure(analysis)
    rule = "exact class match" if q["matching"] == "accuracy" else f"{q['matching']} matching"
    rows = [
        ("Measure", f"{kind} against the reference ({rule})"),
        (f"{kind} of human labels", _score(q["human"])),
        (f"{kind} of machine labels", _score(q["auto"])),
        (f"{kind} of all labels", _score(q["all"])),
        ("Automated labeling's target", _score(analysis.target)),
        ("Objects compared", _count(q["objects_compared"])),
        ("Objects without reference labels", _count(q["objects_without_reference"])),
        ("Objects not compared: a file name of several images", _count(q["objects_ambiguous"])),
        ("Reference images without an object", _count(q["references_without_object"])),
    ]
    return _frame(rows, columns=["Figure", "Value"])


def _threshold_table(analysis: Analysis) -> pd.DataFrame:
    t = analysis.threshold_table()
    return _frame(
        {
            "Confidence threshold": [f"{v:.3f}" for v in t["threshold"]],
            "Machine labels kept": [_count(v) for v in t["machine_labels"]],
            f"{_measure(analysis)} of those kept": [_score(v) for v in t["quality"]],
            "Dollars they save": [_money(v) for v in t["dollars_saved"]],
        }
    )


def _job_table(analysis: Analysis, output: JobOutput | None = None) -> pd.DataFrame:
    j = analysis.job
    on = {True: "on", False: "off", None: "n/a"}[j.auto_labeling]
    task = j.task or "n/a"
    if analysis.task_type and analysis.task_type != j.task:
        task = f"{task} (labels of type {analysis.task_type})"
    rows = [
        ("Job", j.job_name or "n/a"),
        ("Task", task),
        ("Label attribute", analysis.label_attribute),
        ("Region", j.region or "n/a"),
        ("Status", j.status or "n/a"),
        ("Workforce", j.workforce or "n/a"),
        ("Workers per object", _count(j.workers)),
        ("Task price", "n/a" if j.task_price is None else f"${j.task_price:,.3f} per task"),
        ("Object fee", _money(j.object_fee)),
        ("Automated labeling", on),
        ("Created", _when(j.created)),
        ("Finished", _when(j.finished)),
        ("Duration", _duration(j.duration_seconds)),
        ("Reference labels", j.reference or "none"),
        ("Describe response", j.describe or "none found"),
    ]
    if output is not None:
        rows.append(("Output manifest", output.manifest))
    return _frame(rows, columns=["Figure", "Value"])


def report_tables(analysis: Analysis) -> dict[str, pd.DataFrame]:
    """The report's tables as DataFrames of text: headers in words, dollars to the cent,
    quality to three places. Keys: ``"job"``, ``"iterations"``, ``"totals"``, ``"quality"``
    (empty without reference labels), ``"thresholds"`` (empty without machine labels)."""
    return {
        "job": _job_table(analysis),
        "iterations": _iteration_table(analysis),
        "totals": _totals_table(analysis),
        "quality": _quality_table(analysis),
        "thresholds": _threshold_table(analysis),
    }


# ---------------------------------------------------------------------- sections
@dataclass(frozen=True)
class ReportContext:
    """What every report section may draw on."""

    analysis: Analysis
    output: JobOutput
    reference: References | None = None
    image_dir: str | os.PathLike[str] | None = None
    workers: WorkerAnalysis | None = None


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode()


def _figures(*named: tuple[str, Figure]) -> str:
    return "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, fig in named
    )


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, na_rep="n/a", escape=True, border=0)


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _summary_section(c: ReportContext) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in headline(c.analysis))
    return f"<ul>{items}</ul><h2>The job</h2>{_table(_job_table(c.analysis, c.output))}"


def _cost_section(c: ReportContext) -> str:
    a = c.analysis
    if a.pricing is None:
        return "<h2>Cost</h2>" + _p(a.pricing_note)
    return (
        "<h2>Cost</h2>"
        + _p(
            "What the job cost by the end of each iteration, against what the same objects "
            "would have cost had humans labeled them all."
        )
        + _figures(
            ("Cumulative cost", plot_cumulative_cost(a)), ("Cost per iteration", plot_cost(a))
        )
        + _table(_totals_table(a))
        + "<h3>Pricing assumptions</h3>"
        + _p(a.pricing_note)
    )


def _iterations_section(c: ReportContext) -> str:
    a = c.analysis
    return (
        "<h2>Per iteration</h2>"
        + _table(_iteration_table(a))
        + _figures(("Labels per iteration", plot_counts(a)))
    )


def _quality_section(c: ReportContext) -> str:
    a = c.analysis
    if a.quality is None:
        return "<h2>Quality</h2>" + _p(
            "No reference labels were given, so label quality is not measured."
        )
    return (
        "<h2>Quality</h2>"
        + _table(_quality_table(a))
        + _figures(
            ("Quality per iteration", plot_quality_by_iteration(a)),
            ("Label quality", plot_quality_histogram(a)),
            ("Quality vs confidence", plot_quality_vs_confidence(a)),
        )
    )


def _threshold_section(c: ReportContext) -> str:
    a = c.analysis
    if not len(a.threshold_table()):
        return "<h2>Confidence threshold</h2>" + _p(
            "No machine labels with a confidence: automated labeling labeled nothing here, so "
            "there is no threshold to weigh."
        )
    kind = _measure(a)
    saving = ""
    if a.pricing is not None:
        each = a.pricing.human_object_cost - a.pricing.machine_object_cost
        saving = f" Each machine label kept saves {_money(each)} over a human label."
    target = f" the task's target ({kind} {a.target})" if a.target is not None else " its target"
    explain = (
        "Automated labeling keeps a machine label only when the model's confidence in it is at "
        "or above a threshold, which the service chooses on its validation set so that the "
        f"labels it keeps reach{target}; the others go to humans. Each row asks: had the "
        "threshold been this, how many of this job's machine labels would it keep, how good "
        f"are they against the reference, and what would they save?{saving}"
    )
    if a.scores is not None and a.target is not None:
        theta = a.threshold_for()
        explain += (
            f" Theta, the dashed line, is the lowest threshold at which the machine labels kept "
            f"still average the target: {theta:.3f}."
            if theta is not None
            else " No threshold makes this job's machine labels reach the target."
        )
    figures = [("What each threshold keeps and saves", plot_threshold_savings(a))]
    if a.scores is not None:
        figures.insert(0, ("Confidence threshold", plot_threshold_curve(a)))
    return (
        "<h2>Confidence threshold</h2>"
        + _p(explain)
        + _table(_threshold_table(a))
        + _figures(*figures)
    )


def _examples_section(c: ReportContext) -> str:
    a, output = c.analysis, c.output
    if not len(output.boxes) and c.image_dir is None:
        return ""
    figures = []
    if a.scores is not None:
        figures.append(
            ("Worst-scoring labels",
             plot_worst(a, output, c.reference, image_dir=c.image_dir))
        )  # fmt: skip
    figures.append(
        ("Most confident machine labels",
         plot_examples(a, output, c.reference, image_dir=c.image_dir))
    )  # fmt: skip
    note = ""
    if c.image_dir is None:
        note = _p("Images are drawn where --images (image_dir=) names their folder.")
    return "<h2>Examples</h2>" + note + _figures(*figures)


def _workers_section(c: ReportContext) -> str:
    return "" if c.workers is None else workers_section(c.workers)


Section = Callable[[ReportContext], str]

#: The report's sections, in order; each returns an HTML fragment, "" to be left out.
SECTIONS: tuple[Section, ...] = (
    _summary_section,
    _cost_section,
    _iterations_section,
    _quality_section,
    _threshold_section,
    _workers_section,
    _examples_section,
)


def render_report(
    analysis: Analysis,
    output: JobOutput,
    reference: References | None = None,
    *,
    image_dir: str | os.PathLike[str] | None = None,
    workers: WorkerAnalysis | None = None,
) -> str:
    """The report as one HTML string, plots embedded as PNG data URIs (no external files);
    with ``workers`` (:func:`gtkit.analyze_workers`), a section on the workers too."""
    context = ReportContext(analysis, output, reference, image_dir, workers)
    body = "\n".join(part for part in (section(context) for section in SECTIONS) if part)
    title = html.escape(f"gtkit report: {analysis.job_name or output.manifest}")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }}
th {{ background: #f4f4f4; }} td:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 0.5rem; }} img {{ max-width: 100%; }}
p {{ max-width: 50rem; }}
</style></head><body>
<h1>{title}</h1>
{body}
</body></html>
"""


def write_report(
    path: str | os.PathLike[str],
    analysis: Analysis,
    output: JobOutput,
    reference: References | None = None,
    *,
    image_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    workers: WorkerAnalysis | None = None,
) -> Path:
    """Write the self-contained HTML report atomically; replaces a file only with ``overwrite``.
    With ``workers`` the report has a section on the workers."""
    text = render_report(analysis, output, reference, image_dir=image_dir, workers=workers)
    with atomic_writer(path, overwrite=overwrite) as f:
        f.write(text.encode("utf-8"))
    return Path(path)


# ---------------------------------------------------------------------- workers
_WORKER_ROWS = 50  # workers listed in the report: the busiest, and every flagged one


def _known(value: float | None) -> str:
    """A score to three places, "n/a" where unknown (None or NaN)."""
    return "n/a" if value is None or value != value else f"{value:.3f}"


def workers_headline(workers: WorkerAnalysis) -> list[str]:
    """The worker figures that matter, one line each (printed by ``gtkit workers`` too)."""
    c = workers.crowd
    flagged = workers.flagged
    lines = [
        f"workers: {int(c['workers'] or 0)} gave {int(c['answers'] or 0)} answers on "
        f"{int(c['objects'] or 0)} objects; {len(flagged)} flagged"
        + (f" ({', '.join(flagged[:5])}{', ...' if len(flagged) > 5 else ''})" if flagged else ""),
    ]
    kind = "accuracy" if workers.task == "classes" else f"mIoU, {workers.matching} matching"
    against = "reference" if workers.against == "reference" else "the full crowd"
    scored = ", ".join(
        f"{m} {_known(q)}"
        for m, q in zip(workers.methods["method"], workers.methods["quality"], strict=True)
    )
    if workers.against == "reference":
        lines.append(f"consolidation ({kind} against the reference): {scored}")
    best = workers.cheapest()
    if best is not None:
        cost = "" if best["cost"] is None else f", {_money(best['cost'])} for the job"
        lines.append(
            f"cheapest within {best['tolerance']:.3f} of the full crowd ({kind} against "
            f"{against}): k={best['k']} by {best['method']} ({best['quality_mean']:.3f}{cost})"
        )
    return lines


def workers_section(workers: WorkerAnalysis) -> str:
    """The report's section on the workers: headline, methods, what-if, the busiest and the
    flagged workers, and two plots (HTML)."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in workers_headline(workers))
    what_if = workers.what_if.drop(columns=["against"]).copy()
    what_if["cost"] = what_if["cost"].map(lambda v: "n/a" if pd.isna(v) else f"${v:,.2f}")
    table = workers.workers
    shown = table[(table.index < _WORKER_ROWS) | table["flagged"]]
    shown = shown.drop(columns=["flagged"])
    t = workers.thresholds
    rules = (
        f"Flags: low agreement when at least {t.agreement_gap:.2f} below the crowd's "
        f"{_known(workers.crowd.get('agreement'))} and {t.agreement_z:g} standard errors; too "
        f"fast under {t.fast_fraction:.0%} of the crowd's median time per task; only with "
        f"{t.min_answers} answers or more."
    )
    plots = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, fig in (
            ("Worker agreement", plot_worker_agreement(workers)),
            ("Quality and cost by workers per object", plot_workers_what_if(workers)),
        )
    )
    return (
        f'<section id="workers"><h2>Workers</h2><ul>{items}</ul>'
        f"<h3>Consolidation methods</h3>{workers.methods.to_html(index=False, na_rep='n/a')}"
        f"<h3>What if each object had k workers</h3>{what_if.to_html(index=False, na_rep='n/a')}"
        f"<h3>Workers ({len(shown)} of {len(table)}: the busiest and every flagged one)</h3>"
        f"<p>{html.escape(rules)}</p>{shown.to_html(index=False, na_rep='n/a')}{plots}</section>"
    )
