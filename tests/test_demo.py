"""The demo: the whole workflow offline, and the paid path that asks first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gtkit._cli import main
from gtkit._demo import make_dataset, run_demo
from gtkit._errors import GtkitError
from gtkit._references import read_coco


def test_dataset_is_seeded_and_its_boxes_lie_inside_the_pictures(tmp_path: Path) -> None:
    a = read_coco(make_dataset(tmp_path / "a", objects=20, seed=3))
    b = read_coco(make_dataset(tmp_path / "b", objects=20, seed=3))
    assert a.boxes.equals(b.boxes) and len(a.boxes) >= 20
    assert (a.boxes["left"] + a.boxes["width"] <= 200).all()
    assert (a.boxes["top"] + a.boxes["height"] <= 150).all()
    assert len(list((tmp_path / "a" / "images").glob("*.png"))) == 20


def test_paid_demo_asks_first_and_does_nothing_when_declined(tmp_path: Path) -> None:
    lines: list[str] = []
    result = run_demo(
        tmp_path / "aws", objects=5, aws=True, bucket="my-bucket",
        role_arn="arn:aws:iam::123456789012:role/GT", ask=lambda _: "n", echo=lines.append,
    )  # fmt: skip
    assert result is None
    assert any("estimated cost" in line for line in lines)
    assert lines[-1] == "nothing was uploaded or started"


def test_cli_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path / "d"), "--objects", "60"]) == 0
    out = capsys.readouterr().out
    assert "report:" in out and (tmp_path / "d" / "report.html").exists()
    assert 'id="workers"' in (tmp_path / "d" / "report.html").read_text()
    # The demo's output, offline: the workers command and the report's workers section.
    output, reference = tmp_path / "d" / "output", tmp_path / "d" / "data" / "reference.json"
    assert main(["workers", str(output), "--reference", str(reference), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["method"] for m in doc["methods"]] == ["iou-clustering", "service"]
    assert sorted({row["k"] for row in doc["what_if"]}) == [1, 2, 3, 4, 5]
    assert all(row["cost"] > 0 for row in doc["what_if"])  # prices from describe.json beside
    answers = sum(w["answers"] for w in doc["workers"])
    assert (
        answers
        == 5 * json.loads((tmp_path / "d" / "summary.json").read_text())["totals"]["human_objects"]
    )
    assert doc == json.loads((tmp_path / "d" / "workers.json").read_text())
    report = tmp_path / "r.html"
    assert main(["report", str(output), "--reference", str(reference), "--out", str(report)]) == 0
    assert 'id="workers"' in report.read_text() and "What if each object had k workers" in (
        report.read_text()
    )
    assert main(["demo", "--out", str(tmp_path / "d"), "--aws"]) == 2
    assert "--bucket" in capsys.readouterr().err


def test_without_moto_the_demo_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "moto" else real(name, *a)
    )
    with pytest.raises(GtkitError, match=r"gtkit\[emulator\]"):
        run_demo(tmp_path / "x", objects=3, progress=False, echo=lambda _: None)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("objects", [0, -5])
def test_no_objects_no_demo(objects: int, tmp_path: Path) -> None:
    with pytest.raises(GtkitError, match=f"objects={objects}"):
        run_demo(tmp_path / "none", objects=objects, progress=False, echo=lambda _: None)
    assert not (tmp_path / "none").exists()  # refused before anything was made
