"""Input manifests: building from S3, folders, URIs and texts; writing safely; checking."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from gtkit._cli import main
from gtkit._errors import OverwriteError
from gtkit._manifest import (
    check_manifest,
    iter_s3_uris,
    records_from_texts,
    records_from_uris,
    upload_folder,
    write_job_files,
    write_manifest,
)
from gtkit._spec import LabelingJobSpec
from gtkit._tasks import TASKS
from gtkit._worker_ui import liquid_variables, render_template, template_source


@pytest.fixture
def s3() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="data")
        yield client


def fill_bucket(count: int, bucket: str = "data") -> None:
    """Put ``count`` keys straight into moto's backend (the boto3 route takes minutes)."""
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for i in range(count):
        backend.put_object(bucket, f"images/{i:07d}.jpg", b"")
    backend.put_object(bucket, "images/notes.txt", b"")


def test_build_from_prefix_keeps_extensions_and_every_key(s3: object, tmp_path: Path) -> None:
    fill_bucket(2500)
    out = tmp_path / "input.manifest"
    n = write_manifest(records_from_uris(iter_s3_uris("s3://data/images/")), out)
    lines = out.read_text().splitlines()
    assert n == len(lines) == 2500  # three pages of 1,000, and the .txt left out
    assert json.loads(lines[0]) == {"source-ref": "s3://data/images/0000000.jpg"}
    assert len(set(lines)) == 2500


class _PagedBucket:
    """A stand-in S3 client whose paginator serves ``count`` keys 1,000 at a time, lazily.

    moto's ListObjectsV2 rescans the whole bucket on every page (100,000 keys take minutes),
    so the memory bound is measured here; moto covers the paging itself above.
    """

    def __init__(self, count: int) -> None:
        self.count = count

    def get_paginator(self, name: str) -> _PagedBucket:
        assert name == "list_objects_v2"
        return self

    def paginate(self, *, Bucket: str, Prefix: str) -> Iterator[dict[str, object]]:  # noqa: N803
        for start in range(0, self.count, 1000):
            stop = min(start + 1000, self.count)
            yield {"Contents": [{"Key": f"{Prefix}{i:07d}.jpg"} for i in range(start, stop)]}


def _peak_bytes(count: int, out: Path) -> int:
    client: Any = _PagedBucket(count)
    gc.collect()
    tracemalloc.start()
    n = write_manifest(records_from_uris(iter_s3_uris("s3://data/images/", client=client)), out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert n == count
    return peak


def test_100k_keys_with_bounded_memory(tmp_path: Path) -> None:
    small = _peak_bytes(10_000, tmp_path / "small.manifest")
    large = _peak_bytes(100_000, tmp_path / "large.manifest")
    assert (tmp_path / "large.manifest").read_bytes().count(b"\n") == 100_000
    # Ten times the keys, about the same peak: nothing grows with the listing.
    assert large < 1.5 * small, (small, large)
    assert large < 5_000_000, large


@pytest.mark.parametrize(
    "keys",
    [3_000, pytest.param(100_000, marks=pytest.mark.bench, id="100k (make bench: 1-2 minutes)")],
)
def test_keys_in_moto_stream_page_by_page(s3: Any, tmp_path: Path, keys: int) -> None:
    """Keys in a moto bucket: gtkit lists one page ahead of what it writes, no more. moto rescans
    the bucket for every page, so 100,000 keys take minutes: that size runs in ``make bench``."""
    fill_bucket(keys)
    pages = 0

    def count(**_: Any) -> None:
        nonlocal pages
        pages += 1

    s3.meta.events.register("after-call.s3.ListObjectsV2", count)

    def watched() -> Iterator[str]:
        for k, uri in enumerate(iter_s3_uris("s3://data/images/", client=s3)):
            # item k (0-based) needs page k // 1000 + 1; a reader holding the listing would be ahead
            assert pages <= k // 1000 + 1, (k, pages)
            yield uri

    n = write_manifest(records_from_uris(watched()), tmp_path / "big.manifest")
    assert n == keys and pages == keys // 1000 + 1  # full pages and the one with the .txt key
    assert (tmp_path / "big.manifest").read_bytes().count(b"\n") == keys


def test_never_overwrites_without_the_flag(s3: object, tmp_path: Path) -> None:
    out = tmp_path / "m.manifest"
    write_manifest(records_from_texts(["a"]), out)
    with pytest.raises(OverwriteError, match="exists"):
        write_manifest(records_from_texts(["b"]), out)
    assert out.read_text() == '{"source":"a"}\n'
    write_manifest(records_from_texts(["b"]), out, overwrite=True)
    assert out.read_text() == '{"source":"b"}\n'
    write_manifest(records_from_texts(["a"]), "s3://data/m.manifest")
    with pytest.raises(OverwriteError):
        write_manifest(records_from_texts(["b"]), "s3://data/m.manifest")
    body = boto3.client("s3").get_object(Bucket="data", Key="m.manifest")["Body"].read()
    assert body == b'{"source":"a"}\n'


def test_upload_folder_skips_what_is_there(s3: object, tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / "imgs" / "sub").mkdir(parents=True, exist_ok=True)
        (tmp_path / "imgs" / ("sub" if i % 2 else "") / f"{i}.png").write_bytes(b"x" * i)
    first = upload_folder(tmp_path / "imgs", "s3://data/up", max_workers=2)
    assert (first.uploaded, first.skipped) == (5, 0)
    again = upload_folder(tmp_path / "imgs", "s3://data/up")
    assert (again.uploaded, again.skipped) == (0, 5)
    assert "s3://data/up/sub/1.png" in again.uris
    (tmp_path / "imgs" / "0.png").write_bytes(b"changed")
    with pytest.raises(OverwriteError, match="different size"):
        upload_folder(tmp_path / "imgs", "s3://data/up")


def test_check_reports_every_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.manifest"
    path.write_text(
        '{"source-ref": "s3://b/1.jpg"}\n'
        "not json\n"
        "\n"
        '{"source-ref": "http://b/2.jpg"}\n'
        '{"other": 1}\n'
        '{"source-ref": "s3://b/1.jpg"}\n' + json.dumps({"source": "x" * 100_001}) + "\n"
    )
    report = check_manifest(path)
    by_line: dict[str, str] = {}
    for p in report.problems:
        line = p.where.rsplit(":", 1)[1]
        by_line[line] = by_line.get(line, "") + p.message + "; "
    assert set(by_line) == {"2", "4", "5", "6", "7"}
    assert "not JSON" in by_line["2"]
    assert "not an S3 URI" in by_line["4"]
    assert "source-ref" in by_line["5"]
    assert "first on line 1" in by_line["6"]
    assert "a line may have 100000" in by_line["7"] and "at most 20000" in by_line["7"]
    assert report.objects == 5


def test_check_object_limit(tmp_path: Path) -> None:
    path = tmp_path / "m.manifest"
    write_manifest(records_from_texts(str(i) for i in range(11)), path)
    assert check_manifest(path).ok
    assert "at most 10" in str(check_manifest(path, max_objects=10).problems)


@given(st.lists(st.text(min_size=1), min_size=1, max_size=20, unique=True))
def test_texts_round_trip_through_a_manifest(texts: list[str]) -> None:
    lines = [orjson.dumps(r) for r in records_from_texts(texts)]
    assert [orjson.loads(line)["source"] for line in lines] == texts
    assert all(b"\n" not in line for line in lines)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("task", sorted(t for t, v in TASKS.items() if v.template))
def test_templates_parse_and_use_the_liquid_variables(task: str) -> None:
    html = render_template(task, header="Label <these>", full_instructions="Be & careful")
    parser = _Tags()
    parser.feed(html)
    tags = dict(parser.tags)
    assert "crowd-form" in tags
    assert "[[" not in html and "Label &lt;these&gt;" in html and "Be &amp; careful" in html
    variables = liquid_variables(template_source(task))
    assert "task.input.labels | to_json | escape" in variables
    if task.startswith("text-"):
        assert "task.input.taskObject" in variables
    else:
        assert "task.input.taskObject | grant_read_access" in variables
    if task == "bounding-box":
        box = tags["crowd-bounding-box"]
        assert box["name"] == "boundingBox"
        assert box["src"] == "{{ task.input.taskObject | grant_read_access }}"
        assert {"full-instructions", "short-instructions"} <= set(tags)


def test_job_files_are_written_beside_the_manifest(s3: object) -> None:
    spec = LabelingJobSpec(
        name="birds", task="bounding-box", region="us-east-1",
        manifest="s3://data/jobs/input.manifest", output="s3://data/out",
        role_arn="arn:aws:iam::123456789012:role/GT", labels=("bird",), task_price=0.036,
    )  # fmt: skip
    written = write_job_files(spec, short_instructions="Box every bird")
    assert written == {
        "label_categories": "s3://data/jobs/birds.label-categories.json",
        "template": "s3://data/jobs/birds.template.liquid.html",
    }
    client = boto3.client("s3")
    doc = json.loads(
        client.get_object(Bucket="data", Key="jobs/birds.label-categories.json")["Body"].read()
    )
    assert doc == {"document-version": "2018-11-28", "labels": [{"label": "bird"}]}
    with pytest.raises(OverwriteError):
        write_job_files(spec)
    # a retried create: the same files are fine, different ones are never replaced
    write_job_files(spec, short_instructions="Box every bird", keep_identical=True)
    with pytest.raises(OverwriteError):
        write_job_files(spec, short_instructions="Box every cat", keep_identical=True)
    body = client.get_object(Bucket="data", Key="jobs/birds.template.liquid.html")["Body"].read()
    assert b"Box every bird" in body and b"Box every cat" not in body


def test_cli_manifest_build_and_check(
    s3: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill_bucket(3)
    out = tmp_path / "in.manifest"
    assert main(["manifest", "build", "s3://data/images/", "--out", str(out)]) == 0
    assert main(["manifest", "check", str(out)]) == 0
    assert "3 object(s), 0 problem(s)" in capsys.readouterr().out
    assert main(["manifest", "build", "s3://data/images/", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


def test_cli_job_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "job.json"
    fields = {
        "name": "birds", "task": "bounding-box", "region": "us-east-1",
        "manifest": "s3://data/in.manifest", "output": "s3://data/out",
        "role_arn": "arn:aws:iam::123456789012:role/GT", "labels": ["bird"], "workers": 5,
        "task_price": 0.036, "auto_labeling": True,
    }  # fmt: skip
    config.write_text(json.dumps(fields))
    assert main(["job", "plan", str(config), "--objects", "1000", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert set(plan) == {"request", "warnings", "estimate"}
    assert plan["request"]["LabelingJobName"] == "birds"
    assert plan["estimate"]["without_auto_labeling"] == pytest.approx(260.0)
    assert any("1250" in w for w in plan["warnings"])
    config.write_text(json.dumps({**fields, "workers": 12, "name": "bad_name"}))
    assert main(["job", "plan", str(config)]) == 2
    err = capsys.readouterr().err
    assert "workers" in err and "name" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["manifest", "check", "/nonexistent.manifest"],
        ["manifest", "build", "--text", "/nonexistent.txt", "--out", "/tmp/never.manifest"],
        ["job", "plan", "/nonexistent.yaml"],
        ["analyze", "/nonexistent-output"],
    ],
)
def test_cli_missing_files_are_one_line_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("gtkit: error:") and "nonexistent" in err and "Traceback" not in err


def test_cli_without_credentials_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["job", "status", "some-job", "--region", "us-east-1"]) == 2
    assert "Unable to locate credentials" in capsys.readouterr().err
