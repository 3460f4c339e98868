"""The README's command-line tour runs as written, offline, command by command."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gtkit._cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def _tour() -> tuple[str, list[str]]:
    """The tour's job config (YAML) and its command lines, from the README."""
    text = README.read_text()
    section = text[text.index("## A tour of the command line") :]
    section = section[: section.index("\n## ", 5)]
    config = re.search(r"```yaml\n(.*?)```", section, re.S)
    commands = re.search(r"```sh\n(.*?)```", section, re.S)
    assert config and commands
    lines = [line.split("  #")[0].strip() for line in commands.group(1).splitlines()]
    return config.group(1), [line for line in lines if line]


def test_the_tour_runs_offline_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, lines = _tour()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GTKIT_EMULATE", raising=False)
    monkeypatch.delenv("GTKIT_EMULATE_STATE", raising=False)
    (tmp_path / "job.yaml").write_text(config)
    for line in lines:
        words = shlex.split(line)
        if words[0] == "export":  # the tour's switch to the emulator
            name, _, value = words[1].partition("=")
            monkeypatch.setenv(name, value)
            continue
        assert words[0] == "gtkit", line
        assert main(words[1:]) == 0, (line, capsys.readouterr())
        out = capsys.readouterr().out
        if words[1:3] == ["job", "check"]:
            assert "100 object(s) checked, 0 problem(s)" in out
        if words[1:3] == ["job", "wait"]:
            assert "birds: Completed" in out
    # Separate commands shared one emulated account, kept in the tour's state folder.
    assert (tmp_path / "gtkit-emulator" / "account.json").is_file()
    summary = json.loads((tmp_path / "birds-output" / "describe.json").read_text())
    assert summary["LabelCounters"]["TotalLabeled"] == 100
    assert (tmp_path / "report.html").is_file() and (tmp_path / "birds.json").is_file()


def test_a_separate_process_sees_the_emulated_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GTKIT_EMULATE in the environment: a bucket made by one process is there for the next,
    through the state folder."""
    assert main(["demo", "--data-only", "--objects", "2", "--out", str(tmp_path / "d")]) == 0
    monkeypatch.setenv("GTKIT_EMULATE", str(tmp_path / "d" / "reference.json"))
    monkeypatch.setenv("GTKIT_EMULATE_STATE", str(tmp_path / "state"))
    assert main(["emulator", "setup", "--bucket", "tour-bucket"]) == 0
    built = subprocess.run(
        [sys.executable, "-m", "gtkit", "manifest", "build", str(tmp_path / "d" / "images"),
         "--upload-to", "s3://tour-bucket/images", "--out", "s3://tour-bucket/in.manifest"],
        env=dict(os.environ), capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "wrote 2 object(s) to s3://tour-bucket/in.manifest" in built.stdout


def test_the_python_tour_runs_inside_emulate_without_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's Python tour, as written, inside emulate(): the wait never sleeps for real
    (the emulator's simulated clock), so the tour takes seconds, not the minutes of polling."""
    from gtkit._demo import make_dataset
    from gtkit._manifest import records_from_uris, upload_folder, write_manifest
    from gtkit.emulator import emulate, setup_account

    text = README.read_text()
    section = text[text.index("## A tour of the Python API") :]
    tour = re.search(r"```python\n(.*?)```", section, re.S)
    assert tour and "client.wait(" in tour.group(1)
    monkeypatch.chdir(tmp_path)
    make_dataset(tmp_path, objects=60, seed=0)

    def no_real_sleep(seconds: float) -> None:
        raise AssertionError(f"the tour slept {seconds} s for real")

    with emulate(references="reference.json", seed=0):
        setup_account(bucket="my-bucket")
        uploaded = upload_folder(tmp_path / "images", "s3://my-bucket/birds/images")
        write_manifest(records_from_uris(uploaded.uris), "s3://my-bucket/birds/input.manifest")
        monkeypatch.setattr("time.sleep", no_real_sleep)
        scope: dict[str, object] = {}
        exec(compile(tour.group(1), "README.md", "exec"), scope)  # the tour, as written
    analysis = scope["analysis"]
    assert analysis.totals["human_objects"] + analysis.totals["auto_objects"] == 60  # type: ignore[attr-defined]
    assert (tmp_path / "report.html").is_file()
