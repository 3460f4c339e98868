"""The HTML report opens in a real headless browser without errors (where Chromium is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gtkit._analysis import analyze
from gtkit._output import read_output
from gtkit._pricing import Pricing
from gtkit._references import read_coco
from gtkit._report import write_report

from .blog_tree import JOB, write_blog_tree, write_coco

CHROMIUM = (
    shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
)


@pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)"
)
def test_report_renders_headless_without_console_errors(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    refs = write_blog_tree(tmp_path)
    reference = read_coco(write_coco(refs, tmp_path / "ref.json"))
    out = read_output(tmp_path / JOB)
    report = write_report(
        tmp_path / "report.html",
        analyze(out, reference=reference, pricing=Pricing(0.08, 5, 0.036)),
        out,
        reference,
    )
    shot = tmp_path / "report.png"
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         "--window-size=1280,2000", f"--screenshot={shot}", report.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    console = [
        line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
    ]
    assert console == []
    assert shot.exists() and shot.stat().st_size > 50_000  # a page with plots, not a blank one
