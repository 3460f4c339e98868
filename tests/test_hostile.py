"""Hostile and broken input (issue 18): nothing is written outside its target, nothing is lost
or mixed silently, and no user mistake ends in a traceback. Each test is one case a user met."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from moto import mock_aws

from gtkit import (
    MAX_PROBLEMS,
    GtkitError,
    LabelingJobClient,
    OutputError,
    OverwriteError,
    read_manifest,
    read_output,
    read_references,
    write_export,
)
from gtkit._cli import main

BUCKET = "job-bucket"


class _Jobs:
    """A SageMaker client that knows one finished job writing under s3://job-bucket/out/."""

    def describe_labeling_job(self, LabelingJobName: str) -> dict[str, Any]:  # noqa: N803
        return {
            "LabelingJobName": LabelingJobName,
            "LabelingJobStatus": "Completed",
            "OutputConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
            "HumanTaskConfig": {"NumberOfHumanWorkersPerDataObject": 1},
            "LabelCounters": {},
        }


@pytest.fixture
def job_bucket() -> Iterator[Any]:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def _client(s3: Any) -> LabelingJobClient:
    return LabelingJobClient(sagemaker=_Jobs(), s3=s3, iam=boto3.client("iam"))  # type: ignore[arg-type]


def _put(s3: Any, keys: dict[str, bytes]) -> None:
    for key, body in keys.items():
        s3.put_object(Bucket=BUCKET, Key=f"out/j/{key}", Body=body)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


MANIFEST = b'{"source-ref": "s3://b/a.jpg"}\n'


# ---------------------------------------------------------------------- job download
@pytest.mark.parametrize("hostile", ["../../escaped", "..//escaped", "/abs/escaped", "a/../../x"])
def test_download_refuses_keys_that_leave_the_folder_and_writes_nothing(
    job_bucket: Any, tmp_path: Path, hostile: str
) -> None:
    _put(job_bucket, {"manifests/output/output.manifest": MANIFEST, hostile: b"import os\n"})
    with pytest.raises(OutputError, match=r"cannot be saved inside .*nothing was written") as e:
        _client(job_bucket).download("j", tmp_path / "dl")
    assert repr(f"out/j/{hostile}") in str(e.value)
    assert _files(tmp_path) == []  # neither the escaped file nor any other
    assert not any(tmp_path.parent.rglob("escaped"))


def test_download_through_the_cli_lists_every_bad_key_and_exits_2(
    job_bucket: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _put(job_bucket, {"ok.json": b"{}", "../x": b"", "a//b": b"", "nul\0": b""})
    client = _client(job_bucket)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gtkit._client.LabelingJobClient", lambda **_: client)
        assert main(["job", "download", "j", "--out", str(tmp_path / "dl")]) == 2
    err = capsys.readouterr().err
    assert "3 key(s) cannot be saved" in err and "Traceback" not in err
    assert "'..' leaves the folder" in err and "an empty part" in err and "a NUL byte" in err
    assert not (tmp_path / "dl").exists()


def test_folder_markers_are_skipped_and_the_download_completes(
    job_bucket: Any, tmp_path: Path
) -> None:
    _put(
        job_bucket,
        {"": b"", "manifests/": b"", "manifests/output/": b"",
         "manifests/output/output.manifest": MANIFEST, "annotations/x.json": b"{}"},
    )  # fmt: skip
    folder = _client(job_bucket).download("j", tmp_path / "dl")
    assert _files(folder) == [
        ".gtkit.json", "annotations/x.json", "describe.json", "manifests/output/output.manifest",
    ]  # fmt: skip
    assert len(read_manifest(folder / "manifests/output/output.manifest").objects) == 1


def test_a_key_that_is_also_a_folder_is_named_not_a_crash_half_way(
    job_bucket: Any, tmp_path: Path
) -> None:
    _put(job_bucket, {"manifests": b"x", "manifests/output/output.manifest": MANIFEST})
    with pytest.raises(OutputError, match="'out/j/manifests': is both a file and the folder"):
        _client(job_bucket).download("j", tmp_path / "dl")
    assert not (tmp_path / "dl").exists()


def test_download_replaces_an_earlier_download_whole_and_nothing_else(
    job_bucket: Any, tmp_path: Path
) -> None:
    _put(job_bucket, {"manifests/output/output.manifest": MANIFEST, "old.json": b"{}"})
    client = _client(job_bucket)
    folder = client.download("j", tmp_path / "dl")
    with pytest.raises(OverwriteError, match="earlier gtkit download"):
        client.download("j", folder)
    job_bucket.delete_object(Bucket=BUCKET, Key="out/j/old.json")
    client.download("j", folder, overwrite=True)
    assert "old.json" not in _files(folder)  # replaced whole, not merged
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OverwriteError, match="not a folder gtkit wrote"):
        client.download("j", mine, overwrite=True)
    assert _files(mine) == ["notes.txt"]


def test_an_interrupted_download_leaves_no_folder(job_bucket: Any, tmp_path: Path) -> None:
    _put(job_bucket, {f"annotations/{n}.json": b"{}" for n in range(5)})
    client = _client(job_bucket)
    calls = 0
    real = job_bucket.download_fileobj

    def interrupted(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        real(*args, **kwargs)

    job_bucket.download_fileobj = interrupted
    with pytest.raises(KeyboardInterrupt):
        client.download("j", tmp_path / "dl")
    assert list(tmp_path.iterdir()) == []  # no folder, and no temporary one left behind


# ---------------------------------------------------------------------- exports
def _box_line(source: str, classes: dict[str, str], size: bool = True) -> str:
    boxes = [{"class_id": int(c), "left": 1, "top": 2, "width": 3, "height": 4} for c in classes]
    label: dict[str, Any] = {"annotations": boxes}
    if size:
        label["image_size"] = [{"width": 10, "height": 10, "depth": 3}]
    meta = {"class-map": classes, "type": "groundtruth/object-detection", "human-annotated": "yes",
            "objects": [{"confidence": 0.9} for _ in classes]}  # fmt: skip
    return json.dumps({"source-ref": source, "b": label, "b-metadata": meta}) + "\n"


def _manifest(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_a_second_export_never_remaps_the_first_jobs_classes(tmp_path: Path) -> None:
    first = _manifest(tmp_path, "a.manifest", _box_line("s3://b/cat.jpg", {"0": "cat"}))
    second = _manifest(tmp_path, "b.manifest", _box_line("s3://b/scan.jpg", {"0": "tumor"}))
    folder = write_export(read_manifest(first), "yolo", tmp_path / "yolo")
    with pytest.raises(OverwriteError, match="earlier gtkit download or export"):
        write_export(read_manifest(second), "yolo", folder)
    assert (folder / "classes.txt").read_text() == "cat\n"  # untouched
    write_export(read_manifest(second), "yolo", folder, overwrite=True)
    assert (folder / "classes.txt").read_text() == "tumor\n"
    assert "cat.txt" not in _files(folder)  # replaced whole, never mixed


def test_an_export_never_writes_into_a_folder_of_other_files(tmp_path: Path) -> None:
    path = _manifest(tmp_path, "a.manifest", _box_line("s3://b/cat.jpg", {"0": "cat"}))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "classes.txt").write_text("dog\n")  # made by someone else
    with pytest.raises(OverwriteError, match="not a folder gtkit wrote"):
        write_export(read_manifest(path), "yolo", tmp_path / "labels", overwrite=True)
    assert (tmp_path / "labels" / "classes.txt").read_text() == "dog\n"


@pytest.mark.parametrize("name", ["cat\ndog", "a\rb", "x\u2028y", "  ", "nul\0"])
def test_class_names_that_would_shift_yolo_indices_are_refused(tmp_path: Path, name: str) -> None:
    path = _manifest(tmp_path, "a.manifest", _box_line("s3://b/a.jpg", {"0": "bird", "1": name}))
    for fmt in ("yolo", "voc"):
        with pytest.raises(GtkitError, match=r"class 1 \(.*\): a (blank name|line break)"):
            write_export(read_manifest(path), fmt, tmp_path / fmt)
        assert not (tmp_path / fmt).exists()
    coco = write_export(read_manifest(path), "coco", tmp_path / "c.json")  # JSON holds any name
    assert json.loads(coco.read_text())["categories"][1]["name"] == name


def test_export_names_stay_inside_the_folder_and_apart(tmp_path: Path) -> None:
    sources = [
        "s3://b/../../../escaped.jpg", "s3://b/a/./../b.jpg", "s3://b/nul\0.jpg",
        "s3://b/classes.jpg", "s3://b/line\nbreak.jpg", "s3://b/a.txt/c.jpg", "s3://b/d/c.jpg",
        "s3://b/a.jpg", "/abs/x.jpg", "s3://b/" + "y" * 300 + ".jpg", "s3://b/.gtkit.jpg",
    ]  # fmt: skip
    path = _manifest(tmp_path, "a.manifest", *(_box_line(s, {"0": "o"}) for s in sources))
    yolo = write_export(read_manifest(path), "yolo", tmp_path / "out" / "yolo")
    files = _files(yolo)
    assert (yolo / "classes.txt").read_text() == "o\n"  # no image's labels in its place
    assert len(files) == len(sources) + 2  # classes.txt and .gtkit.json
    assert _files(tmp_path / "out") == [f"yolo/{f}" for f in files]  # nothing outside
    assert all("\0" not in f and "\n" not in f for f in files)
    for f in files:
        if f not in ("classes.txt", ".gtkit.json"):
            assert (yolo / f).read_text() == "0 0.250000 0.400000 0.300000 0.400000\n", f
    voc = write_export(read_manifest(path), "voc", tmp_path / "out" / "voc")
    assert len(_files(voc)) == len(sources) + 1


def test_an_interrupted_export_leaves_no_folder(tmp_path: Path) -> None:
    """Ctrl-C in the middle of a large YOLO export: nothing at --out, nothing half-written."""
    lines = (_box_line(f"s3://b/{n}.jpg", {"0": "bird"}) for n in range(20000))
    path = _manifest(tmp_path, "big.manifest", *lines)
    out = tmp_path / "yolo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gtkit", "export", str(path), "--format", "yolo", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(tmp_path.glob(".yolo.partial-*/*.txt")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert not list(tmp_path.glob(".yolo.*"))  # no partial folder left, either way
    if proc.returncode == 0:  # it finished before the signal came: whole, then
        assert len(list(out.glob("*.txt"))) == 20000 + 1  # a file an image, and classes.txt
    else:
        assert proc.returncode == 130, err
        assert not out.exists()


def test_an_export_interrupted_at_any_file_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same as Ctrl-C, but at a chosen file (the signal's timing above is the OS's)."""
    import gtkit._export

    path = _manifest(
        tmp_path, "m.manifest", *(_box_line(f"s3://b/{n}.jpg", {"0": "o"}) for n in range(50))
    )
    written = []
    original = gtkit._export._voc_xml

    def interrupted(*args: object) -> str:
        written.append(1)
        if len(written) == 20:
            raise KeyboardInterrupt
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(gtkit._export, "_voc_xml", interrupted)
    out = tmp_path / "voc"
    assert main(["export", str(path), "--format", "voc", "--out", str(out)]) == 130
    assert len(written) == 20
    assert not out.exists() and not list(tmp_path.glob(".voc.*"))


def test_yolo_refuses_boxes_without_an_image_size_before_writing(tmp_path: Path) -> None:
    path = _manifest(
        tmp_path, "a.manifest", _box_line("s3://b/a.jpg", {"0": "o"}),
        _box_line("s3://b/b.jpg", {"0": "o"}, size=False),
    )  # fmt: skip
    with pytest.raises(GtkitError, match=r"b\.jpg' and 0 more image.*no image_size"):
        write_export(read_manifest(path), "yolo", tmp_path / "yolo")
    assert not (tmp_path / "yolo").exists()


# ---------------------------------------------------------------------- output trees
_LINE = {"source-ref": "s3://b/a.jpg", "x": 1,
         "x-metadata": {"type": "groundtruth/image-classification", "human-annotated": "yes",
                        "class-name": "c"}}  # fmt: skip


def _tree(tmp_path: Path, objects: int = 2) -> Path:
    job = tmp_path / "job"
    (job / "manifests/output").mkdir(parents=True)
    lines = [{**_LINE, "source-ref": f"s3://b/{n}.jpg"} for n in range(objects)]
    (job / "manifests/output/output.manifest").write_text(
        "".join(json.dumps(line) + "\n" for line in lines)
    )
    return job


def _write(path: Path, content: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def test_an_answer_that_is_not_an_object_is_one_problem_and_the_rest_is_read(
    tmp_path: Path,
) -> None:
    job = _tree(tmp_path)
    responses = job / "annotations/worker-response/iteration-1"
    answer = {"workerId": "w1", "answerContent": {"a": 1}, "timeSpentInSeconds": 3.5}
    _write(responses / "0/t.json", json.dumps({"answers": ["oops", answer, None]}))
    _write(responses / "1/t.json", json.dumps({"answers": [{**answer, "workerId": "w2"}]}))
    with pytest.raises(OutputError, match=r"iteration-1/0/t\.json: element 1: an answer that"):
        _ = read_output(job).worker_answers
    out = read_output(job, lenient=True)
    answers = out.worker_answers
    assert answers["worker"].tolist() == ["w1", "w2"]  # the good one beside it, and the next file
    assert answers["seconds"].tolist() == [3.5, 3.5]
    assert [(p.where.rsplit("/", 2)[-2:], p.message.split(":")[0]) for p in out.problems] == [
        (["0", "t.json"], "element 1"), (["0", "t.json"], "element 3"),
    ]  # fmt: skip


def test_files_and_values_of_the_wrong_shape_are_problems_of_their_own(tmp_path: Path) -> None:
    job = _tree(tmp_path)
    responses = job / "annotations/worker-response/iteration-1"
    _write(responses / "0/a.json", "{broken")
    _write(responses / "0/b.json", b'{"answers": "\xff"}')
    _write(responses / "0/c.json", "[1, 2]")
    _write(responses / "0/d.json", json.dumps({"answers": {"workerId": "w"}}))
    _write(responses / "1/[glob].json", json.dumps(
        {"answers": [{"workerId": "w", "timeSpentInSeconds": "slow",
                      "submissionTime": "2019-13-45T00:00:00Z", "answerContent": {}}]}))  # fmt: skip
    out = read_output(job, lenient=True)
    answers = out.worker_answers
    assert answers["worker"].tolist() == ["w"] and answers["index"].tolist() == [1]
    assert answers["seconds"].isna().all() and answers["submitted"].isna().all()
    messages = {(p.where.rsplit("/", 1)[-1], p.message, p.kind) for p in out.problems}
    assert messages == {
        ("a.json", "not a JSON document in UTF-8; skipped", "skipped"),
        ("b.json", "not a JSON document in UTF-8; skipped", "skipped"),
        ("c.json", "a JSON array, not object; skipped", "skipped"),
        ("d.json", "no 'answers' list; skipped", "skipped"),
        ("[glob].json", "element 1: timeSpentInSeconds is not a number; read as unknown", "value"),
        ("[glob].json", "element 1: submissionTime is not a time; read as unknown", "value"),
    }


def test_numbers_no_table_can_hold_and_digits_that_are_not_ascii_are_skipped(
    tmp_path: Path,
) -> None:
    job = _tree(tmp_path)
    responses = job / "annotations/worker-response"
    answer = json.dumps({"answers": [{"workerId": "w", "answerContent": {}}]})
    _write(responses / "iteration-²/0/t.json", answer)
    _write(responses / "iteration-99999999999999999999/0/t.json", answer)
    _write(responses / "iteration-2/99999999999999999999999/t.json", answer)
    _write(responses / "iteration-3/999999999999999999/t.json", answer)  # fits, no such object
    _write(responses / "iteration-4/1/t.json", answer)
    auto = job / "activelearning/job/²/annotation-output/auto_annotator_output.txt"
    _write(auto, '² {"x": 1}\n99999999999999999999999 {"x": 1}\n')
    _write(job / "activelearning/job/7/out/auto_annotator_output.txt", b"\xff\xfe 0 {}\n")
    out = read_output(job, lenient=True)
    assert out.objects["iteration"].tolist() == [pd.NA, 4]
    assert len(out.worker_answers) == 2  # iteration-3's and iteration-4's
    wheres = sorted(p.where.split("job/", 1)[-1] for p in out.problems)
    assert any("iteration-²" in w for w in wheres) and any("iteration-9999" in w for w in wheres)
    assert any(w.endswith("99999999999999999999999") for w in wheres)
    assert any(p.message == "not UTF-8 text; skipped" for p in out.problems)
    with pytest.raises(OutputError):
        _ = read_output(job).objects


def test_a_tree_of_many_broken_files_lists_a_bounded_number_of_problems(tmp_path: Path) -> None:
    job = _tree(tmp_path)
    responses = job / "annotations/worker-response"
    for n in range(300):
        _write(responses / f"junk-{n}/t.json", "{}")
        _write(responses / f"iteration-1/0/{n}.json", "not json")
    out = read_output(job, lenient=True)
    _ = out.worker_answers
    problems = out.problems
    assert len(problems) <= 2 * 50 + 4
    more = [p for p in problems if p.message.startswith("and ")]
    # 300 folders that are no iteration (evidence), their 300 files and 300 broken files (answers)
    assert sum(int(p.message.split()[1]) for p in more) + len(problems) - len(more) == 900


# ---------------------------------------------------------------------- describe.json
@pytest.mark.parametrize(
    ("human", "said"),
    [
        ({"NumberOfHumanWorkersPerDataObject": None}, "NumberOfHumanWorkersPerDataObject is None"),
        ({"NumberOfHumanWorkersPerDataObject": "5"}, "NumberOfHumanWorkersPerDataObject is '5'"),
        ({"NumberOfHumanWorkersPerDataObject": 2.5}, "NumberOfHumanWorkersPerDataObject is 2.5"),
        ({"NumberOfHumanWorkersPerDataObject": 0}, "NumberOfHumanWorkersPerDataObject is 0"),
        ({"NumberOfHumanWorkersPerDataObject": 3,
          "PublicWorkforceTaskPrice": {"AmountInUsd": {"Cents": "3"}}}, "Cents is '3'"),
        ({"NumberOfHumanWorkersPerDataObject": 3,
          "PublicWorkforceTaskPrice": {"AmountInUsd": ["x" * 5000]}}, "AmountInUsd"),
        ({"NumberOfHumanWorkersPerDataObject": 3, "PublicWorkforceTaskPrice": 7},
         "PublicWorkforceTaskPrice is 7"),
        ("workers: 3", "HumanTaskConfig is 'workers: 3'; expected an object"),
    ],
)  # fmt: skip
def test_a_describe_json_of_the_wrong_shape_is_named_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], human: Any, said: str
) -> None:
    job = _tree(tmp_path)
    (job / "describe.json").write_text(json.dumps({"HumanTaskConfig": human}))
    assert main(["analyze", str(job)]) == 2
    err = capsys.readouterr().err
    assert "describe.json" in err and said in err and "Traceback" not in err
    assert len(err) < 400  # an excerpt of the value, never its whole repr


# ---------------------------------------------------------------------- values of lines and rows
def _dated(date: str, n: int) -> str:
    meta = {"type": "groundtruth/image-classification", "human-annotated": "yes",
            "class-name": "c", "creation-date": date}  # fmt: skip
    return json.dumps({"source-ref": f"s3://b/{n}.jpg", "x": 1, "x-metadata": meta}) + "\n"


def test_a_javascript_date_of_no_day_is_a_problem_on_its_line_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dates = ["Mon Aug 22 2022 13:52:52 GMT-0700 (Pacific Daylight Time)",
             "Mon Aug 44 2022 13:52:52 GMT-0700 (Pacific Daylight Time)",
             "Mon Foo 22 2022 13:52:52 GMT-0700 (Pacific Daylight Time)"]  # fmt: skip
    path = _manifest(tmp_path, "js.manifest", *(_dated(d, n) for n, d in enumerate(dates)))
    with pytest.raises(OutputError, match=r"js\.manifest:2: .*Aug 44.* is not a date"):
        _ = read_manifest(path).objects
    out = read_manifest(path, lenient=True)
    got = out.objects["creation_date"]
    assert got[0] == pd.Timestamp("2022-08-22T20:52:52Z") and got[1:].isna().all()
    assert [(p.where, p.kind) for p in out.problems] == [
        (f"{path}:2", "value"), (f"{path}:3", "value"),
    ]  # fmt: skip
    assert main(["analyze", str(path), "--lenient"]) == 0
    assert main(["analyze", str(path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_dates_outside_pandas_nanosecond_range_read_alike_wherever_they_stand(
    tmp_path: Path,
) -> None:
    """Years before 1677 and after 2262 read as dates, whatever other dates share the file."""
    rare = ["1500-06-01T00:00:00", "2500-06-01T00:00:00Z", "Wed Jan 01 1000 00:00:00 GMT+0000"]
    usual = [_dated("2020-01-01T00:00:00", n) for n in range(50)]
    alone = _manifest(tmp_path, "alone.manifest", *(_dated(d, n) for n, d in enumerate(rare)))
    mixed = _manifest(
        tmp_path, "mixed.manifest", *usual, *(_dated(d, n) for n, d in enumerate(rare)), *usual
    )
    expected = [pd.Timestamp("1500-06-01", tz="UTC"), pd.Timestamp("2500-06-01", tz="UTC"),
                pd.Timestamp("1000-01-01", tz="UTC")]  # fmt: skip
    assert read_manifest(alone).objects["creation_date"].tolist() == expected
    assert read_manifest(mixed).objects["creation_date"][50:53].tolist() == expected


def test_a_cub_row_of_the_wrong_field_count_names_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "images.txt").write_text("1 001.Bird/a.jpg\n2 001.Bird/b.jpg extra\n")
    (tmp_path / "bounding_boxes.txt").write_text("1 1 2 3 4\n")
    with pytest.raises(GtkitError, match=r"images\.txt:2: Expected Number of Columns: 2 Found: 3"):
        read_references(tmp_path)
    (tmp_path / "images.txt").write_text("1 001.Bird/a.jpg\n2 001.Bird/b.jpg\n")
    (tmp_path / "bounding_boxes.txt").write_text("1 1 2 3 4\n2 1 2 3 4 5\n")
    with pytest.raises(GtkitError, match=r"bounding_boxes\.txt:2: .*Found: 6"):
        read_references(tmp_path)


def test_an_open_images_row_with_one_comma_too_many_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "boxes.csv"
    path.write_text(
        "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax\n"
        "a,x,cat,1,0.1,0.2,0.3,0.4\nb,x,cat,1,0.1,,0.2,0.3,0.4\n"
    )
    with pytest.raises(GtkitError, match=r"boxes\.csv:3: Expected Number of Columns: 8 Found: 9"):
        read_references(path)


# ---------------------------------------------------------------------- job configs
_CONFIG = (
    "name: birds\ntask: bounding-box\nregion: us-east-1\nmanifest: s3://bucket-a/in.manifest\n"
    "output: s3://bucket-a/out\nrole_arn: arn:aws:iam::123456789012:role/GT\nlabels: [bird]\n"
    "task_price: 0.036\n"
)
#: Nine lists of nine of the one before: 9**9 strings once the aliases are expanded.
_LAUGHS = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + "".join(
    f"l{n + 1}: &l{n + 1} [{', '.join([f'*l{n}'] * 9)}]\n" for n in range(8)
)


def _plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    assert main(["job", "plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"gtkit: error: {path}"), err  # one line
    return err


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("title-bomb.yaml", _LAUGHS + _CONFIG + "title: *l8\n", ":5: stands for more than"),
        ("tags-bomb.yaml", _LAUGHS + _CONFIG + "tags: {k: *l8}\n", ":5: stands for more than"),
        ("itself.yaml", _CONFIG + "keywords: &k [a, *k]\n", ":9: an alias (*name) inside"),
        ("alias-depth.yaml", "a0: &a0 [[[[[[[[[[1]]]]]]]]]]\n" + "".join(
            f"a{n + 1}: &a{n + 1} [[[[[[[[[[*a{n}]]]]]]]]]]\n" for n in range(4)) + _CONFIG,
         "nested more than 32 deep"),
        ("twice.yaml", _CONFIG + "task: semantic-segmentation\n",
         ":9: key 'task' given twice (first on line 2)"),
        ("twice.json", '{"name": "a", "task": "x", "name": "b"}', "key 'name' given twice"),
        ("digits.yaml", _CONFIG + "workers: " + "9" * 5000 + "\n",
         ":9: a whole number of 5000 digits; at most 30"),
        ("digits.json", '{"workers": ' + "9" * 5000 + "}", "a whole number of 5000 digits"),
        ("nan.json", '{"task_price": NaN}', "NaN is not a JSON number"),
        ("deep.yaml", _CONFIG + "title: " + "[" * 100_000 + "]" * 100_000 + "\n",
         "larger than 65536 bytes"),
        ("deep-small.yaml", _CONFIG + "title: " + "[" * 30_000 + "]" * 30_000 + "\n",
         ":9: nested more than 32 deep"),
        ("deep-braces.yaml", _CONFIG + "title: " + "{a: " * 10_000 + "1" + "}" * 10_000,
         ":9: nested more than 32 deep"),
        ("deep-block.yaml", _CONFIG + "tags:\n" + "".join(
            "  " * n + f"k{n}:\n" for n in range(100)), "nested more than 32 deep"),
        ("deep.json", '{"title": ' + "[" * 30_000 + "]" * 30_000 + "}", "nested more than 32"),
        ("latin-1.yaml", (_CONFIG + "title: café\n").encode("latin-1"),
         ":9: not UTF-8 text (byte 0xe9)"),
        ("nul.yaml", b"name: a\0b\n", ":1: not valid YAML: character U+0000 is not allowed"),
        ("broken.yaml", _CONFIG + "title: [open\n", ":10: not valid YAML: expected ',' or ']'"),
        ("list.yaml", "- name\n- task\n", "expected a mapping of spec fields"),
    ],
)  # fmt: skip
def test_a_hostile_config_is_one_line_of_error_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | bytes, said: str
) -> None:
    assert said in _plan(tmp_path, capsys, name, text)


def test_a_config_value_in_a_message_is_an_excerpt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(_CONFIG + "workers: " + "x" * 50_000 + "\n" + "y" * 1000 + ": 1\n")
    assert main(["job", "plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert "workers: 'xxxx" in err and "xxx...xxx" in err and "xxx': expected a whole number" in err
    assert "yyy...yyy" in err and "yyy': unknown field" in err and len(err) < 1500


def test_a_config_of_yaml_dates_and_merge_keys_still_reads(tmp_path: Path) -> None:
    """What YAML gives beyond plain data is kept where harmless: merge keys; a date, even
    one of no day, is its text."""
    path = tmp_path / "job.yaml"
    path.write_text(
        "base: &base {labels: [bird], workers: 3}\n" + _CONFIG.replace("labels: [bird]\n", "")
        + "title: 2020-13-45\ndescription: 2020-01-02\n"
    )  # fmt: skip
    from gtkit._config import read_config

    data = read_config(path)
    assert data["title"] == "2020-13-45" and data["description"] == "2020-01-02"
    merged = tmp_path / "merged.yaml"
    merged.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  x: 3\n")
    assert read_config(merged)["other"] == {"x": 3, "y": 2}


# ---------------------------------------------------------------------- bounded diagnostics
def test_lenient_reading_tells_the_first_problems_of_each_kind_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """3,000 lines: every third not JSON, every other one of the rest a date of no day."""
    lines = [
        "not json\n" if n % 3 == 0 else _dated("2019-01-44" if n % 2 else "2020-01-01", n)
        for n in range(3000)
    ]
    path = _manifest(tmp_path, "many.manifest", *lines)
    bad_lines = [n + 1 for n in range(3000) if n % 3 == 0]
    bad_dates = [n + 1 for n in range(3000) if n % 3 and n % 2]
    out = read_manifest(path, lenient=True)
    assert len(out.objects) == 2000 and out.objects["creation_date"].isna().sum() == 1000
    told = {kind: [p for p in out.problems if p.kind == kind] for kind in ("skipped", "value")}
    for kind, lines_of in (("skipped", bad_lines), ("value", bad_dates)):
        one_by_one, rest = told[kind][:-1], told[kind][-1]
        assert [int(p.where.rsplit(":", 1)[1]) for p in one_by_one] == lines_of[:MAX_PROBLEMS]
        assert rest.where == str(path) and f"and {len(lines_of) - MAX_PROBLEMS} more" in str(rest)
    with pytest.raises(OutputError) as e:
        _ = read_manifest(path).objects
    message = str(e.value)
    assert f"lines the reader cannot take ({len(bad_lines)}):" in message
    assert f"and {len(bad_lines) - 20} more" in message and message.count("\n") == 22
    assert main(["analyze", str(path), "--lenient"]) == 0
    err = capsys.readouterr().err
    assert err.count("problem: ") == 2 * MAX_PROBLEMS + 2


# ---------------------------------------------------------------------- text in figures
def test_names_in_a_report_are_text_not_mathtext(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [r"s3://b/$\foo$.jpg", r"s3://b/$x^{$.jpg", "s3://b/a$b.jpg", "s3://b/broken.jpg"]
    path = _manifest(tmp_path, "m.manifest", *(_box_line(s, {"0": r"$\bar$"}) for s in names))
    images = tmp_path / "images"
    images.mkdir()
    (images / "broken.jpg").write_bytes(b"not an image")  # an image that cannot be read
    out = tmp_path / "report.html"
    args = ["report", str(path), "--out", str(out), "--images", str(images)]
    assert main(args) == 0, capsys.readouterr().err
    assert "Most confident machine labels" in out.read_text()  # with its figure of examples
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from gtkit import analyze, plot_examples

    output = read_manifest(path)
    fig = plot_examples(analyze(output), output, image_dir=images, count=4)
    FigureCanvasAgg(fig).draw()
    titles = [ax.get_title() for ax in fig.axes]
    assert [t.split("\n")[0] for t in titles] == [r"$\foo$.jpg", r"$x^{$.jpg", "a$b.jpg",
                                                  "broken.jpg (image not readable)"]  # fmt: skip
