"""The command line as a whole: one exit-code table, help for every option, workflow order,
messages in its own words, and object counts refused before anything is made."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gtkit import OverwriteError
from gtkit._cli import EXIT_STATUSES, build_parser, main
from gtkit._io import atomic_writer

README = Path(__file__).resolve().parents[1] / "README.md"

GOOD_CONFIG = {
    "name": "birds", "task": "bounding-box", "region": "us-east-1",
    "manifest": "s3://my-bucket/birds/input.manifest", "output": "s3://my-bucket/birds/output",
    "role_arn": "arn:aws:iam::123456789012:role/GroundTruth", "labels": ["bird"], "workers": 5,
    "task_price": 0.036, "auto_labeling": True,
}  # fmt: skip


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _all_parsers(parser: argparse.ArgumentParser, path: str = "gtkit") -> list[tuple[str, Any]]:
    found = [(path, parser)]
    for name, sub in _subparsers(parser).items():
        found += _all_parsers(sub, f"{path} {name}")
    return found


def test_help_shows_the_exit_status_table_the_readme_shows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert EXIT_STATUSES in capsys.readouterr().out
    assert EXIT_STATUSES.strip() in README.read_text()


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{path}: {action.option_strings or action.dest}"
        for path, parser in _all_parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction))
        and not action.help
    ]
    assert missing == []


def test_commands_are_listed_in_workflow_order() -> None:
    parser = build_parser()
    commands = _subparsers(parser)
    assert list(commands) == [
        "manifest", "job", "analyze", "report", "workers", "export", "demo", "emulator",
    ]  # fmt: skip
    assert list(_subparsers(commands["manifest"])) == ["build", "check"]
    assert list(_subparsers(commands["job"])) == [
        "plan", "check", "create", "wait", "status", "list", "stop", "download",
    ]  # fmt: skip


def test_a_config_with_a_missing_role_and_five_other_mistakes_reports_all_six(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {**GOOD_CONFIG, "name": "bad_name!", "workers": 12, "task_price": 5,
              "task_time_limit": 10, "max_concurrent_tasks": 6000}  # fmt: skip
    del config["role_arn"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    assert main(["job", "plan", str(path)]) == 2
    err = capsys.readouterr().err
    lines = [line.strip() for line in err.splitlines()[1:]]
    assert [line.split(": ")[1] for line in lines] == [
        "name", "role_arn", "workers", "task_price", "task_time_limit", "max_concurrent_tasks"
    ]  # fmt: skip
    assert "(6 problems)" in err.splitlines()[0] and "label_attribute" not in err


@pytest.mark.parametrize("argv", [["job", "plan", "CONFIG", "--objects", "-5"],
                                  ["job", "plan", "CONFIG", "--objects", "0"],
                                  ["demo", "--objects", "0", "--out", "OUT"]])  # fmt: skip
def test_object_counts_below_one_are_refused_before_anything_is_made(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "job.json"
    config.write_text(json.dumps(GOOD_CONFIG))
    argv = [
        str(config) if a == "CONFIG" else str(tmp_path / "out") if a == "OUT" else a for a in argv
    ]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "--objects" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_manifest_check_exits_2_on_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "in.manifest"
    manifest.write_text('{"source-ref": "s3://b/1.jpg"}\nnot json\n')
    assert main(["manifest", "check", str(manifest)]) == 2
    assert "1 problem(s)" in capsys.readouterr().out


def test_an_internal_error_exits_1_with_the_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import gtkit._manifest

    def broken(*_: Any, **__: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(gtkit._manifest, "check_manifest", broken)
    assert main(["manifest", "check", str(tmp_path / "x.manifest")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "internal error: ZeroDivisionError: a bug" in err


def test_overwrite_messages_use_the_words_of_the_interface(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "taken.manifest"
    taken.write_text("")
    with pytest.raises(OverwriteError) as exc, atomic_writer(taken):
        pass
    assert "pass overwrite=True" in str(exc.value) and "--" not in str(exc.value)
    text = tmp_path / "texts.txt"
    text.write_text("a\nb\n")
    argv = ["manifest", "build", "--text", str(text), "--out", str(taken)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "add --overwrite to replace it" in err and "overwrite=True" not in err


def test_offline_only_commands_say_how_to_run_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "setup", "--bucket", "my-bucket"]) == 2
    err = capsys.readouterr().err
    assert "--emulate REFERENCE" in err and "infra/ground-truth.yaml" in err


def test_the_plan_says_what_it_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "job.json"
    config.write_text(json.dumps({**GOOD_CONFIG, "max_concurrent_tasks": 2000}))
    assert main(["job", "plan", str(config), "--objects", "1000"]) == 0
    out = capsys.readouterr().out
    assert "breaks none of the service's rules" in out and "gtkit job check" in out
    assert re.search(r"warning: max_concurrent_tasks: 2000 .* AWS Support", out)
    assert "without automated labeling: $260.00" in out
