"""The lifecycle client against the Ground Truth emulator: real boto3 calls, no AWS."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends

from gtkit._analysis import analyze
from gtkit._cli import main
from gtkit._client import LabelingJobClient
from gtkit._errors import JobConflictError, JobFailedError, JobNotFoundError
from gtkit._manifest import iter_s3_uris, records_from_uris, write_manifest
from gtkit._output import read_output
from gtkit._references import read_coco
from gtkit._spec import LabelingJobSpec
from gtkit.emulator import emulate, setup_account

from .blog_tree import write_blog_tree, write_coco

_MODEL = botocore.session.get_session().get_service_model("sagemaker")


def check_shape(value: Any, shape: Any, path: str = "") -> None:
    """Assert ``value`` has exactly the parsed shape botocore gives for ``shape``."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), path
        extra = set(value) - set(shape.members) - {"ResponseMetadata"}
        assert not extra, f"{path}: unknown keys {extra}"
        missing = set(shape.required_members) - set(value)
        assert not missing, f"{path}: missing {missing}"
        for k, v in value.items():
            if k != "ResponseMetadata":
                check_shape(v, shape.members[k], f"{path}.{k}")
    elif kind == "list":
        assert isinstance(value, list), path
        for i, v in enumerate(value):
            check_shape(v, shape.member, f"{path}[{i}]")
    elif kind == "timestamp":
        assert isinstance(value, dt.datetime) and value.tzinfo is not None, path
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), path
    elif kind == "string":
        assert isinstance(value, str), path
        if shape.enum:
            assert value in shape.enum, path
    elif kind == "boolean":
        assert isinstance(value, bool), path


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The blog's 1,000 images as COCO reference labels (read only: made once per module)."""
    folder = tmp_path_factory.mktemp("references")
    refs = write_blog_tree(folder / "tree")
    path = write_coco(refs, folder / "reference.json")
    return path, list(refs)


def spec(**changes: Any) -> LabelingJobSpec:
    fields: dict[str, Any] = {
        "name": "birds", "task": "bounding-box", "region": "us-east-1",
        "manifest": "s3://birds/in/input.manifest", "output": "s3://birds/out",
        "role_arn": "arn:aws:iam::123456789012:role/GroundTruth", "labels": ("bird",), "workers": 5,
        "task_price": "0.036", "auto_labeling": True,
    }  # fmt: skip
    fields.update(changes)
    return LabelingJobSpec(**fields)


def fill(bucket: str, keys: list[str]) -> None:
    """Put empty objects straight into moto's backend (the boto3 route takes seconds)."""
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key in keys:
        backend.put_object(bucket, key, b"")


@pytest.fixture
def bucket(references: tuple[Path, list[str]]) -> Iterator[list[str]]:
    """The emulator with a ready account (bucket "birds", role GroundTruth) and the images."""
    path, names = references
    with emulate(references=path, seed=0):
        setup_account(bucket="birds")
        fill("birds", [f"images/{name}" for name in names])
        yield names


def test_whole_workflow_offline(
    bucket: list[str],
    tmp_path: Path,
    references: tuple[Path, list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Build the manifest with gtkit from the bucket, submit, wait with the progress bar, download.
    n = write_manifest(
        records_from_uris(iter_s3_uris("s3://birds/images/")), "s3://birds/in/input.manifest"
    )
    assert n == 1000
    client = LabelingJobClient(sleep=lambda _: None)
    created = client.create(spec(), short_instructions="Draw a tight box around every bird")
    assert created["LabelingJobStatus"] in ("Initializing", "InProgress")
    job = client.wait("birds", progress=True)
    assert "birds" in capsys.readouterr().err  # the tqdm bar
    assert job["LabelingJobStatus"] == "Completed"
    counters = job["LabelCounters"]
    assert counters["HumanLabeled"] > 0 and counters["MachineLabeled"] > 0
    assert counters["TotalLabeled"] == 1000 and counters["Unlabeled"] == 0
    folder = client.download("birds", tmp_path / "out")
    out = read_output(folder)
    assert out.problems == []
    assert out.has_iterations and out.objects["iteration"].nunique() >= 4
    assert int(out.objects["human"].sum()) == counters["HumanLabeled"]
    assert int((~out.objects["human"]).sum()) == counters["MachineLabeled"]
    answers = out.worker_answers
    assert len(answers) == 5 * counters["HumanLabeled"]
    assert answers["worker"].str.startswith("public.us-east-1.").all()
    # analysis reads price and workers from the saved describe.json
    describe = json.loads((folder / "describe.json").read_text())
    result = analyze(out, describe=describe, reference=read_coco(references[0]))
    assert result.totals["cost"] < result.totals["cost_without_auto"]
    assert result.quality is not None and result.quality["auto"] >= 0.55
    # The job's files were staged beside the manifest, the template filled
    body = (
        boto3.client("s3")
        .get_object(Bucket="birds", Key="in/birds.template.liquid.html")["Body"]
        .read()
    )
    assert b"Draw a tight box around every bird" in body and b"grant_read_access" in body


def test_responses_have_botocore_shapes(bucket: list[str]) -> None:
    write_manifest(
        records_from_uris(f"s3://birds/images/{n}" for n in bucket[:50]),
        "s3://birds/in/input.manifest",
    )
    client = LabelingJobClient(sleep=lambda _: None)
    client.create(spec(auto_labeling=False, name="small"))
    sm = boto3.client("sagemaker")
    while (d := sm.describe_labeling_job(LabelingJobName="small"))[
        "LabelingJobStatus"
    ] != "Completed":
        check_shape(d, _MODEL.operation_model("DescribeLabelingJob").output_shape)
    check_shape(d, _MODEL.operation_model("DescribeLabelingJob").output_shape)
    listed = sm.list_labeling_jobs()
    check_shape(listed, _MODEL.operation_model("ListLabelingJobs").output_shape)
    assert [j["LabelingJobName"] for j in listed["LabelingJobSummaryList"]] == ["small"]
    assert (
        d["LabelingJobOutput"]["OutputDatasetS3Uri"]
        == "s3://birds/out/small/manifests/output/output.manifest"
    )


def test_bad_requests_get_the_service_error_codes(bucket: list[str]) -> None:
    write_manifest(
        records_from_uris(f"s3://birds/images/{n}" for n in bucket[:20]),
        "s3://birds/in/input.manifest",
    )
    client = LabelingJobClient(sleep=lambda _: None)
    client.create(spec(auto_labeling=False))
    sm = boto3.client("sagemaker")
    request: Any = spec(auto_labeling=False).to_request()
    with pytest.raises(sm.exceptions.ResourceInUse):
        sm.create_labeling_job(
            **{**request, "LabelingJobName": "BIRDS"}
        )  # names are case-insensitive
    bad = {**request, "LabelingJobName": "other"}
    bad["HumanTaskConfig"] = {**request["HumanTaskConfig"], "NumberOfHumanWorkersPerDataObject": 10}
    with pytest.raises(ClientError) as exc:
        sm.create_labeling_job(**bad)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "workers" in exc.value.response["Error"]["Message"]
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.describe_labeling_job(LabelingJobName="nope")
    with pytest.raises(sm.exceptions.ResourceNotFound):
        sm.stop_labeling_job(LabelingJobName="nope")
    client.wait("birds", progress=False)
    with pytest.raises(ClientError) as exc:
        sm.stop_labeling_job(LabelingJobName="birds")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    # A valid request the emulator cannot simulate workers for makes a job that then fails.
    multi = LabelingJobSpec(**{**spec().__dict__, "name": "multi", "auto_labeling": False,
                               "task": "image-classification-multilabel", "labels": ("a", "b"),
                               "task_price": "0.012"})  # fmt: skip
    client.create(multi, check=False)
    with pytest.raises(JobFailedError, match="simulates workers only for bounding-box"):
        client.wait("multi", progress=False)


def test_same_request_is_idempotent_and_a_different_one_conflicts(bucket: list[str]) -> None:
    write_manifest(
        records_from_uris(f"s3://birds/images/{n}" for n in bucket[:20]),
        "s3://birds/in/input.manifest",
    )
    client = LabelingJobClient(sleep=lambda _: None)
    first = client.create(spec(auto_labeling=False))
    again = client.create(spec(auto_labeling=False))
    assert again["LabelingJobArn"] == first["LabelingJobArn"]
    with pytest.raises(JobConflictError, match="HumanTaskConfig"):
        client.create(spec(auto_labeling=False, workers=3))
    with pytest.raises(JobNotFoundError):
        client.describe("missing")


def test_failed_job_raises_with_the_failure_reason(bucket: list[str]) -> None:
    client = LabelingJobClient(sleep=lambda _: None)
    nowhere = spec(manifest="s3://birds/in/nowhere.manifest", auto_labeling=False)
    client.create(nowhere, check=False)  # the check would have caught it
    with pytest.raises(JobFailedError) as exc:
        client.wait("birds", progress=False)
    assert "nowhere.manifest" in exc.value.failure_reason


def test_stopping_midway_leaves_a_consistent_partial_output(
    bucket: list[str], tmp_path: Path
) -> None:
    write_manifest(
        records_from_uris(f"s3://birds/images/{n}" for n in bucket[:300]),
        "s3://birds/in/input.manifest",
    )
    client = LabelingJobClient(sleep=lambda _: None)
    client.create(spec(), check=False)  # the check has its own tests; stopping is the point
    for _ in range(3):
        client.describe("birds")
    assert client.stop("birds")["LabelingJobStatus"] == "Stopping"
    job = client.wait("birds", progress=False)
    assert job["LabelingJobStatus"] == "Stopped"
    out = read_output(client.download("birds", tmp_path / "partial"))
    labeled = out.objects[out.objects["attribute"].notna()]
    assert len(out.objects) == 300 and len(labeled) == job["LabelCounters"]["TotalLabeled"]
    assert 0 < len(labeled) < 300


def test_wait_survives_throttling() -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    stub = Stubber(sm)
    stub.add_client_error("describe_labeling_job", "ThrottlingException", "Rate exceeded")
    describe = {
        "LabelingJobStatus": "Completed", "LabelCounters": {"TotalLabeled": 1}, "CreationTime": dt.datetime(2024, 1, 1),
        "LastModifiedTime": dt.datetime(2024, 1, 1), "JobReferenceCode": "x", "LabelingJobName": "j",
        "LabelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/j",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://b/m"}}},
        "OutputConfig": {"S3OutputPath": "s3://b/o"}, "RoleArn": "arn:aws:iam::123456789012:role/r",
        "HumanTaskConfig": {"WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/t",
                            "UiConfig": {}, "TaskTitle": "t", "TaskDescription": "d",
                            "NumberOfHumanWorkersPerDataObject": 1, "TaskTimeLimitInSeconds": 30},
    }  # fmt: skip
    stub.add_response("describe_labeling_job", describe, {"LabelingJobName": "j"})
    sleeps: list[float] = []
    with stub:
        job = LabelingJobClient(sagemaker=sm, sleep=sleeps.append).wait(
            "j", progress=False, initial_delay=10
        )
    assert job["LabelingJobStatus"] == "Completed"
    assert len(sleeps) == 1 and 8 <= sleeps[0] <= 12  # one backoff with jitter


def test_clients_from_a_session_made_before_the_emulator(
    references: tuple[Path, list[str]],
) -> None:
    boto3.setup_default_session()
    boto3.client("s3")  # the default session exists before the context starts
    with emulate(references=references[0]):
        with pytest.raises(ClientError) as exc:
            boto3.client("sagemaker").describe_labeling_job(LabelingJobName="nothing")
        assert exc.value.response["Error"]["Code"] == "ResourceNotFound"


@pytest.mark.gt_references("unused-by-this-test.json")
def test_the_pytest_fixture_is_available(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("gt_references")
    assert marker is not None


def test_pytest_fixture(gt_emulator: Any) -> None:
    with pytest.raises(ClientError):
        boto3.client("sagemaker").describe_labeling_job(LabelingJobName="x")
    assert gt_emulator.jobs == {}


def test_cli_job_commands(
    bucket: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_manifest(
        records_from_uris(f"s3://birds/images/{n}" for n in bucket[:30]),
        "s3://birds/in/input.manifest",
    )
    config = tmp_path / "job.yaml"
    config.write_text(
        "name: cli-job\ntask: bounding-box\nregion: us-east-1\nmanifest: s3://birds/in/input.manifest\n"
        "output: s3://birds/out\nrole_arn: arn:aws:iam::123456789012:role/GroundTruth\nlabels: [bird]\n"
        "workers: 3\ntask_price: 0.036\n"
    )
    assert main(["job", "create", str(config)]) == 0
    assert main(["job", "status", "cli-job"]) == 0
    assert main(["job", "list"]) == 0
    assert main(["job", "wait", "cli-job", "--quiet", "--interval", "0"]) == 0
    assert "cli-job: Completed - human 30" in capsys.readouterr().out
    assert main(["job", "download", "cli-job", "--out", str(tmp_path / "dl")]) == 0
    assert (tmp_path / "dl" / "describe.json").exists()
    assert main(["job", "download", "cli-job", "--out", str(tmp_path / "dl")]) == 2
    assert main(["job", "status", "missing"]) == 2
    assert "Could not find labeling job" in capsys.readouterr().err


def test_same_seed_same_labels(references: tuple[Path, list[str]], tmp_path: Path) -> None:
    path, names = references
    boxes = []
    for run in range(2):
        with emulate(references=path, seed=7):
            boto3.client("s3").create_bucket(Bucket="birds")
            write_manifest(
                records_from_uris(f"s3://birds/images/{n}" for n in names[:120]),
                "s3://birds/in/input.manifest",
            )
            client = LabelingJobClient(sleep=lambda _: None)
            client.create(spec(), check=False)  # no role, no images: the labels are the point
            client.wait("birds", progress=False)
            out = read_output(client.download("birds", tmp_path / f"run{run}"))
            boxes.append(out.boxes)
            iterations = out.objects["iteration"].tolist()
    assert boxes[0].equals(boxes[1]) and len(boxes[0]) > 0
    assert len(set(iterations)) >= 3


def test_list_pages_through_many_jobs(bucket: list[str]) -> None:
    write_manifest(
        records_from_uris(f"s3://birds/images/{n}" for n in bucket[:5]),
        "s3://birds/in/input.manifest",
    )
    client = LabelingJobClient(sleep=lambda _: None)
    for k in range(13):  # more than one page (the service's default page holds 10)
        client.create(spec(name=f"job-{k:02d}", auto_labeling=False))
    client.wait("job-03", progress=False)
    names = [j["LabelingJobName"] for j in client.list()]
    assert sorted(names) == [f"job-{k:02d}" for k in range(13)]
    assert [j["LabelingJobName"] for j in client.list(status="Completed")] == ["job-03"]
    assert [j["LabelingJobName"] for j in client.list(name_contains="JOB-1")] == [
        "job-12",
        "job-11",
        "job-10",
    ]


def test_a_job_continues_across_runs_kept_in_a_state_folder(
    references: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """Half a job in one run, the rest in another (as separate gtkit commands do): the same
    labels as in one run, so the saved state holds everything, random state included."""
    path, names = references
    uris = [f"s3://birds/images/{n}" for n in names[:60]]

    def start() -> LabelingJobClient:
        setup_account(bucket="birds")
        fill("birds", [u[len("s3://birds/") :] for u in uris])
        write_manifest(records_from_uris(uris), "s3://birds/in/input.manifest")
        client = LabelingJobClient(sleep=lambda _: None)
        client.create(spec(), check=False)
        client.describe("birds")
        return client

    with emulate(references=path, seed=3):
        client = start()
        client.wait("birds", progress=False)
        whole = read_output(client.download("birds", tmp_path / "whole"))
    state = tmp_path / "state"
    with emulate(references=path, seed=3, state=state):
        start()
    assert (state / "account.json").is_file() and (state / "s3.sqlite").is_file()
    with emulate(references=path, seed=3, state=state):
        client = LabelingJobClient(sleep=lambda _: None)
        assert client.wait("birds", progress=False)["LabelingJobStatus"] == "Completed"
        halves = read_output(client.download("birds", tmp_path / "halves"))
    assert halves.boxes.equals(whole.boxes) and len(whole.boxes) > 0
    assert halves.objects["iteration"].tolist() == whole.objects["iteration"].tolist()


def test_the_wait_prints_one_line_per_change_off_a_terminal(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sm = boto3.client("sagemaker", region_name="us-east-1")
    stub = Stubber(sm)
    base = {
        "CreationTime": dt.datetime(2024, 1, 1), "LastModifiedTime": dt.datetime(2024, 1, 1),
        "JobReferenceCode": "x", "LabelingJobName": "j",
        "LabelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/j",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://b/m"}}},
        "OutputConfig": {"S3OutputPath": "s3://b/o"}, "RoleArn": "arn:aws:iam::123456789012:role/r",
        "HumanTaskConfig": {"WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/t",
                            "UiConfig": {}, "TaskTitle": "t", "TaskDescription": "d",
                            "NumberOfHumanWorkersPerDataObject": 1, "TaskTimeLimitInSeconds": 30},
    }  # fmt: skip
    for status, labeled in [("InProgress", 0), ("InProgress", 0), ("InProgress", 40),
                            ("InProgress", 40), ("Completed", 100)]:  # fmt: skip
        counters = {"TotalLabeled": labeled, "HumanLabeled": labeled, "MachineLabeled": 0,
                    "FailedNonRetryableError": 0, "Unlabeled": 100 - labeled}  # fmt: skip
        describe = {**base, "LabelingJobStatus": status, "LabelCounters": counters}
        stub.add_response("describe_labeling_job", describe, {"LabelingJobName": "j"})
    clock = iter(range(0, 10_000, 130))
    with stub:
        LabelingJobClient(sagemaker=sm, sleep=lambda _: None, clock=lambda: next(clock)).wait("j")
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "j: 0/100 labeled, 2m10s elapsed, InProgress: human 0, machine 0, failed 0",
        "j: 40/100 labeled, 6m30s elapsed, InProgress: human 40, machine 0, failed 0",
        "j: 100/100 labeled, 10m50s elapsed, Completed: human 100, machine 0, failed 0",
    ]
