"""A self-contained HTML report of an analysis: headline figures, tables and embedded plots."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from gtkit._analysis import Analysis
from gtkit._io import atomic_writer
from gtkit._output import JobOutput
from gtkit._plots import (
    plot_cost,
    plot_counts,
    plot_examples,
    plot_quality_histogram,
    plot_quality_vs_confidence,
    plot_threshold_curve,
    plot_worker_agreement,
    plot_workers_what_if,
)
from gtkit._references import References
from gtkit._workers import WorkerAnalysis

__all__ = ["headline", "render_report", "workers_headline", "workers_section", "write_report"]


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode()


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def headline(analysis: Analysis) -> list[str]:
    """The figures that matter, one line each (also printed by the CLI and the demo)."""
    t = analysis.totals
    lines = [
        f"labels: {t['human_objects']} human, {t['auto_objects']} machine, "
        f"{t['failed_objects']} failed",
        f"cost: {_money(t['cost'])} with automated labeling, "
        f"{_money(t['cost_without_auto'])} without"
        + (f" ({t['savings_fraction']:.1%} saved)" if t["savings_fraction"] is not None else ""),
    ]
    q = analysis.quality
    if q is not None:
        kind = "mIoU" if q["matching"] != "accuracy" else "accuracy"
        lines.append(
            f"quality ({kind}, {q['matching']} matching, {q['objects_compared']} objects): "
            f"human {_score(q['human'])}, machine {_score(q['auto'])}, all {_score(q['all'])}"
        )
        theta = analysis.threshold_for(0.6)
        if theta is not None:
            lines.append(f"confidence threshold reaching 0.6: {theta:.3f}")
    return lines


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
    figures = [
        ("Labels per iteration", plot_counts(analysis)),
        ("Cost per iteration", plot_cost(analysis)),
    ]
    if analysis.scores is not None:
        figures += [
            ("Label quality", plot_quality_histogram(analysis)),
            ("Quality vs confidence", plot_quality_vs_confidence(analysis)),
            ("Confidence threshold", plot_threshold_curve(analysis)),
        ]
    if len(output.boxes):
        figures.append(
            (
                "Most confident machine labels",
                plot_examples(analysis, output, reference, image_dir=image_dir),
            )
        )
    iterations = analysis.iterations.copy()
    for col in ("human_cost", "auto_cost"):
        iterations[col] = iterations[col].map(
            lambda v: "n/a" if v is None or pd.isna(v) else f"${v:,.2f}"
        )

    def show(key: str, value: float | None) -> str:
        if value is None:
            return "n/a"
        if key == "savings_fraction":
            return f"{value:.1%}"
        if "cost" in key or key == "savings":
            return f"${value:,.4f}"
        return str(value)

    totals = pd.DataFrame(
        {"figure": list(analysis.totals), "value": [show(k, v) for k, v in analysis.totals.items()]}
    )
    quality = ""
    if analysis.quality is not None:
        q = {k: v for k, v in analysis.quality.items() if k != "by_iteration"}
        quality = "<h2>Quality</h2>" + pd.DataFrame([q]).to_html(index=False, na_rep="n/a")
    title = html.escape(f"gtkit report: {analysis.job_name or output.manifest}")
    items = "".join(f"<li>{html.escape(line)}</li>" for line in headline(analysis))
    plots = "".join(
        f'<figure><img alt="{html.escape(name)}" src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, fig in figures
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }}
figure {{ display: inline-block; margin: 0.5rem; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{title}</h1>
<p>Label attribute <code>{html.escape(analysis.label_attribute)}</code>, task
{html.escape(str(analysis.task_type))}, read from <code>{html.escape(output.manifest)}</code>.</p>
<ul>{items}</ul>
<h2>Per iteration</h2>{iterations.to_html(index=False, na_rep="n/a")}
<h2>Totals</h2>{totals.to_html(index=False, na_rep="n/a")}
{quality}
{workers_section(workers) if workers is not None else ""}
<h2>Plots</h2>{plots}
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
