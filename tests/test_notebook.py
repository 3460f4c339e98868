"""The tutorial notebook runs top to bottom (offline, against the emulator), so it never rots."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import gtkit

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "ground_truth_tutorial.ipynb"


def test_tutorial_notebook_executes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GTKIT_USE_AWS", raising=False)
    monkeypatch.setenv("GTKIT_NOTEBOOK_OBJECTS", "200")
    # Agg, not Jupyter's inline backend: pyplot's display hooks cannot help, so the images
    # below come from the figures gtkit returns.
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
    )  # fmt: skip
    assert "offline emulator" in outputs
    assert "labels:" in outputs and "cost: $" in outputs and "report:" in outputs
    assert not any(
        o.get("output_type") == "error"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert os.environ.get("GTKIT_USE_AWS") is None
    # Each plot cell (its last line calls a plot function) shows its figure, once, as an image.
    plot_cells = [
        c for c in nb.cells
        if c.cell_type == "code" and c.source.strip().splitlines()[-1].startswith("plot_")
    ]  # fmt: skip
    assert len(plot_cells) >= 8
    for cell in plot_cells:
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert len(images) == 1, (cell.source, [o.get("data", {}).keys() for o in cell.outputs])


def test_tutorial_notebook_uses_only_the_public_surface() -> None:
    """What new users open first imports from ``gtkit`` (and its public ``gtkit.emulator``),
    never from the private modules behind it, and names only what ``gtkit.__all__`` lists."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    private = re.compile(r"\bgtkit\._[a-z]")  # gtkit._output, not gtkit.__version__
    assert not [c.source for c in nb.cells if private.search(c.source)]  # code and text alike
    used: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module == "gtkit":
                used |= {alias.name for alias in node.names}
            elif isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "gtkit":
                used.add(node.attr)
    assert "analyze" in used and "headline" in used
    assert used <= set(gtkit.__all__), used - set(gtkit.__all__)
