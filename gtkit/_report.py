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
)
from gtkit._references import References

__all__ = ["headline", "render_report", "write_report"]


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
) -> str:
    """The report as one HTML string, plots embedded as PNG data URIs (no external files)."""
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
) -> Path:
    """Write the self-contained HTML report atomically; replaces a file only with ``overwrite``."""
    text = render_report(analysis, output, reference, image_dir=image_dir)
    with atomic_writer(path, overwrite=overwrite) as f:
        f.write(text.encode("utf-8"))
    return Path(path)
