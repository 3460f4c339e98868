"""Live checks of the account before a job: each fault planted alone in moto is reported alone."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from PIL import Image

from gtkit import GtkitError, LabelingJobClient, LabelingJobSpec, SetupError
from gtkit._cli import main
from gtkit._manifest import records_from_uris, write_manifest
from gtkit.emulator import emulate, setup_account

BUCKET = "gt-data"
IMAGES = [f"s3://{BUCKET}/birds/{i}.png" for i in range(6)]


def png(width: int = 8, height: int = 8) -> bytes:
    """A real, small PNG picture."""
    out = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(out, "PNG")
    return out.getvalue()


def png_header(width: int, height: int, *, padding: int = 0) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels without holding them (plus padding)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"") + b"\0" * padding
    )  # fmt: skip


@pytest.fixture
def account() -> Iterator[LabelingJobSpec]:
    """A clean set-up: the template's bucket and role, a private workteam, six images."""
    with emulate():
        ready = setup_account(bucket=BUCKET, workteam="labelers")
        s3 = boto3.client("s3")
        for uri in IMAGES:
            s3.put_object(Bucket=BUCKET, Key=uri.split("/", 3)[3], Body=png())
        write_manifest(records_from_uris(IMAGES), f"s3://{BUCKET}/birds/input.manifest")
        assert ready.workteam_arn is not None
        yield LabelingJobSpec(
            name="birds", task="bounding-box", region="us-east-1",
            manifest=f"s3://{BUCKET}/birds/input.manifest", output=f"s3://{BUCKET}/output",
            role_arn=ready.role_arn, labels=("bird",), workers=3, workforce=ready.workteam_arn,
        )  # fmt: skip


def check(spec: LabelingJobSpec) -> list[str]:
    report = LabelingJobClient().check(spec)
    assert report.objects == len(IMAGES)
    return [str(p) for p in report.problems]


def test_a_clean_set_up_reports_nothing(account: LabelingJobSpec) -> None:
    report = LabelingJobClient().check(account)
    assert report.problems == [] and report.warnings == []
    assert report.checked == len(IMAGES)
    # A client in another region than the job's would create the job there: refused.
    with pytest.raises(GtkitError, match=r"region='us-east-1'"):
        LabelingJobClient(region="eu-west-1").check(account)


def _no_cors(spec: LabelingJobSpec) -> LabelingJobSpec:
    boto3.client("s3").delete_bucket_cors(Bucket=BUCKET)
    return spec


def _bucket_in_another_region(spec: LabelingJobSpec) -> LabelingJobSpec:
    boto3.client("s3").create_bucket(
        Bucket="gt-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::gt-eu/*"}
    boto3.client("iam").put_role_policy(
        RoleName="GroundTruth", PolicyName="eu",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )  # fmt: skip
    return replace(spec, output="s3://gt-eu/output")


def _not_trusting_sagemaker(spec: LabelingJobSpec) -> LabelingJobSpec:
    trust = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
             "Action": "sts:AssumeRole"}  # fmt: skip
    boto3.client("iam").update_assume_role_policy(
        RoleName="GroundTruth",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
    )
    return spec


def _only(action: str) -> Callable[[LabelingJobSpec], LabelingJobSpec]:
    def plant(spec: LabelingJobSpec) -> LabelingJobSpec:
        statement = {"Effect": "Allow", "Action": action, "Resource": f"arn:aws:s3:::{BUCKET}/*"}
        boto3.client("iam").put_role_policy(
            RoleName="GroundTruth", PolicyName="ground-truth-data",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )  # fmt: skip
        return spec

    return plant


def _missing_object(spec: LabelingJobSpec) -> LabelingJobSpec:
    boto3.client("s3").delete_object(Bucket=BUCKET, Key="birds/3.png")
    return spec


def _oversized_object(spec: LabelingJobSpec) -> LabelingJobSpec:
    body = png_header(8, 8, padding=41 * 2**20)
    boto3.client("s3").put_object(Bucket=BUCKET, Key="birds/2.png", Body=body)
    return spec


def _missing_workteam(spec: LabelingJobSpec) -> LabelingJobSpec:
    return replace(spec, workforce=spec.workforce.replace("/labelers", "/nobody"))


@pytest.mark.parametrize(
    ("plant", "where", "says"),
    [
        (_no_cors, f"s3://{BUCKET}", "no CORS rule"),
        (_bucket_in_another_region, "s3://gt-eu", "is in eu-west-1; the job runs in us-east-1"),
        (_not_trusting_sagemaker, "role GroundTruth", "does not trust sagemaker.amazonaws.com"),
        (
            _only("s3:PutObject"),
            "role GroundTruth",
            "cannot read (s3:GetObject): manifest s3://"
            "gt-data/birds/input.manifest; label categories s3://gt-data/birds/birds.label-categories"
            ".json; worker template s3://gt-data/birds/birds.template.liquid.html; 6 of 6 data "
            "objects",
        ),
        (_only("s3:GetObject"), "role GroundTruth", "cannot write (s3:PutObject): the output"),
        (_missing_object, f"s3://{BUCKET}/birds/input.manifest:4", "birds/3.png does not exist"),
        (
            _oversized_object,
            f"s3://{BUCKET}/birds/input.manifest:3",
            "41.0 MiB; bounding-box takes files up to 40 MiB",
        ),
        (_missing_workteam, "workteam nobody", "it does not exist in us-east-1"),
    ],
)
def test_each_fault_alone_is_reported_alone(
    account: LabelingJobSpec,
    plant: Callable[[LabelingJobSpec], LabelingJobSpec],
    where: str,
    says: str,
) -> None:
    problems = check(plant(account))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{where}: ") and says in problems[0], problems[0]


def test_image_resolution_quotas(account: LabelingJobSpec) -> None:
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key="birds/0.png", Body=png_header(10_001, 10_000))
    s3.put_object(Bucket=BUCKET, Key="birds/1.png", Body=png_header(4000, 3000))
    problems = check(account)
    assert len(problems) == 1 and "10001 x 10000 pixels" in problems[0]
    assert "at most 100,000,000 pixels" in problems[0]
    # Automated labeling takes images up to 4K: the 4000 x 3000 one is refused too.
    auto = replace(account, auto_labeling=True, workforce="public", task_price="0.036")
    problems = check(auto)
    assert [p.split(": ", 1)[0] for p in problems] == [
        f"s3://{BUCKET}/birds/input.manifest:1", f"s3://{BUCKET}/birds/input.manifest:1",
        f"s3://{BUCKET}/birds/input.manifest:2",
    ]  # fmt: skip
    assert "automated labeling takes up to 3840 x 2160" in problems[2]
    # Without reading the images' first bytes, only their sizes in bytes are checked.
    assert LabelingJobClient().check(account, image_sizes=False).problems == []


def test_a_missing_role_bucket_or_manifest_is_one_problem(account: LabelingJobSpec) -> None:
    role = replace(account, role_arn="arn:aws:iam::123456789012:role/Nobody")
    assert check(role) == [
        "role Nobody: arn:aws:iam::123456789012:role/Nobody does not exist in this account"
    ]
    gone = replace(account, manifest=f"s3://{BUCKET}/birds/gone.manifest")
    report = LabelingJobClient().check(gone)
    assert [str(p) for p in report.problems] == [
        f"s3://{BUCKET}/birds/gone.manifest: the manifest does not exist"
    ]
    bucket = replace(account, output="s3://no-such-bucket/out")
    assert check(bucket) == ["s3://no-such-bucket: the bucket (output) does not exist"]


POLICY_CASES: list[tuple[list[dict[str, Any]], bool]] = [
    ([{"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::gt-*/birds/*"}], True),
    ([{"Effect": "Allow", "Action": "S3:GETOBJECT", "Resource": "*"}], True),  # actions ignore case
    ([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::GT-DATA/*"}], False),
    ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], True),
    ([{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::gt-data/birds/*"}], False),
    ([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::gt-dat?/*"}], True),
    ([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
      {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::gt-data/*"}], False),
    # A condition cannot be evaluated offline: an allowing one counts, a denying one does not.
    ([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
      {"Effect": "Deny", "Action": "s3:*", "Resource": "*",
       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}], True),
]  # fmt: skip


def test_policy_statements_are_matched_with_their_wildcards(account: LabelingJobSpec) -> None:
    """Each case: the role's data statements, and whether they let it read the input. (One
    account for all cases: a new one per case would cost a second each.)"""
    iam = boto3.client("iam")
    for statements, can_read in POLICY_CASES:
        document = {"Version": "2012-10-17", "Statement": [
            *statements, {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"}]}  # fmt: skip
        iam.put_role_policy(
            RoleName="GroundTruth",
            PolicyName="ground-truth-data",
            PolicyDocument=json.dumps(document),
        )
        problems = check(account)
        assert (problems == []) is can_read, (statements, problems)


def test_a_bucket_policy_can_grant_and_a_boundary_can_take_away(account: LabelingJobSpec) -> None:
    iam, s3 = boto3.client("iam"), boto3.client("s3")
    iam.delete_role_policy(RoleName="GroundTruth", PolicyName="ground-truth-data")
    grant = {"Effect": "Allow", "Principal": {"AWS": account.role_arn},
             "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{BUCKET}/*"}  # fmt: skip
    s3.put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [grant]})
    )
    assert check(account) == []
    only_logs = iam.create_policy(
        PolicyName="logs-only",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}),
    )["Policy"]["Arn"]  # fmt: skip
    iam.put_role_permissions_boundary(RoleName="GroundTruth", PermissionsBoundary=only_logs)
    problems = check(account)
    assert len(problems) == 2 and all("cannot" in p for p in problems)


def test_files_gtkit_would_upload_must_not_clash(account: LabelingJobSpec) -> None:
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key="birds/birds.label-categories.json", Body=b"{}"
    )
    (problem,) = check(account)
    assert problem.startswith(f"s3://{BUCKET}/birds/birds.label-categories.json: exists with other")


def test_create_refuses_a_faulty_set_up_before_uploading_anything(account: LabelingJobSpec) -> None:
    _no_cors(account)
    client = LabelingJobClient()
    with pytest.raises(SetupError, match="no CORS rule"):
        client.create(account)
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert not any("label-categories" in k for k in keys)
    assert client.create(account, check=False)["LabelingJobName"] == "birds"


def _config(tmp_path: Path, spec: LabelingJobSpec) -> Path:
    path = tmp_path / "job.json"
    fields = {"name": spec.name, "task": spec.task, "region": spec.region,
              "manifest": spec.manifest, "output": spec.output, "role_arn": spec.role_arn,
              "labels": list(spec.labels), "workers": spec.workers, "workforce": spec.workforce}  # fmt: skip
    path.write_text(json.dumps(fields))
    return path


def test_cli_job_check_and_create(
    account: LabelingJobSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, account)
    assert main(["job", "check", str(config)]) == 0
    assert "6 object(s) checked, 0 problem(s)" in capsys.readouterr().out
    _missing_object(account)
    assert main(["job", "check", str(config)]) == 2
    out = capsys.readouterr().out
    assert "birds/3.png does not exist" in out and "1 problem(s)" in out
    assert main(["job", "create", str(config)]) == 2
    captured = capsys.readouterr()
    assert "birds/3.png does not exist" in captured.err and "--no-check" in captured.err
    assert main(["job", "create", str(config), "--no-check"]) == 0
    assert "birds: " in capsys.readouterr().out


def test_folders_of_many_objects_are_listed_a_page_at_a_time(account: LabelingJobSpec) -> None:
    """60 objects in one folder: one paginated listing finds them (and the missing and the
    oversized one), not 60 requests; only non-empty images are read for their resolution."""
    keys = [f"many/{i}.png" for i in range(60)]
    fill = boto3.client("s3")
    for key in keys[:-1]:  # the last one is missing
        fill.put_object(Bucket=BUCKET, Key=key, Body=b"")
    fill.put_object(Bucket=BUCKET, Key=keys[0], Body=png_header(8, 8, padding=41 * 2**20))
    uris = [f"s3://{BUCKET}/{k}" for k in keys]
    write_manifest(records_from_uris(uris), f"s3://{BUCKET}/many.manifest")
    client = LabelingJobClient()
    calls: dict[str, int] = {}

    def count(event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        calls[operation] = calls.get(operation, 0) + 1

    client.s3.meta.events.register("before-call.s3", count)
    report = client.check(replace(account, manifest=f"s3://{BUCKET}/many.manifest"))
    assert [p.where.rsplit(":", 1)[1] for p in report.problems] == ["60", "1"]
    assert "does not exist" in report.problems[0].message
    assert "41.0 MiB" in report.problems[1].message
    assert report.checked == 60
    assert calls.get("ListObjectsV2") == 1 and "HeadObject" not in calls
    # The manifest, the two job files compared, and the one non-empty image's first bytes.
    assert calls["GetObject"] == 4


def test_an_output_kms_key_needs_the_role_to_use_it(account: LabelingJobSpec) -> None:
    spec = replace(account, output_kms_key="alias/labels")
    (problem,) = check(spec)
    assert "cannot use the output KMS key" in problem
    assert "arn:aws:kms:us-east-1:123456789012:alias/labels" in problem
    grant = {"Effect": "Allow", "Action": "kms:GenerateDataKey*", "Resource": "*"}
    boto3.client("iam").put_role_policy(
        RoleName="GroundTruth", PolicyName="kms",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [grant]}),
    )  # fmt: skip
    assert check(spec) == []


def test_a_custom_template_job_without_lambdas_plans_checks_and_creates(
    account: LabelingJobSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "custom.yaml"
    config.write_text(
        f"name: custom-birds\ntask: custom\nregion: us-east-1\nmanifest: {account.manifest}\n"
        f"output: {account.output}\nrole_arn: {account.role_arn}\nworkforce: {account.workforce}\n"
        f"template_uri: s3://{BUCKET}/templates/mine.liquid.html\nlabels: [bird]\n"
    )
    assert main(["job", "plan", str(config)]) == 0
    assert main(["job", "check", str(config)]) == 2  # the template is not there yet
    assert "your worker template (template_uri) does not exist" in capsys.readouterr().out
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key="templates/mine.liquid.html", Body=b"<crowd-form></crowd-form>"
    )
    assert main(["job", "create", str(config)]) == 0
    job = boto3.client("sagemaker").describe_labeling_job(LabelingJobName="custom-birds")
    human = job["HumanTaskConfig"]
    assert "PreHumanTaskLambdaArn" not in human and "AnnotationConsolidationConfig" not in human
    # The emulator takes the valid request, then says it cannot simulate workers for it.
    assert main(["job", "wait", "custom-birds", "--quiet", "--interval", "0"]) == 2
    assert "simulates workers only for bounding-box" in capsys.readouterr().err


def test_what_your_credentials_cannot_read_is_a_warning(account: LabelingJobSpec) -> None:
    from botocore.stub import Stubber

    iam = boto3.client("iam")
    stub = Stubber(iam)
    stub.add_client_error("get_role", "AccessDenied", "not allowed to read roles")
    with stub:
        report = LabelingJobClient(iam=iam).check(account)
    assert report.problems == []
    assert report.warnings == [
        "role GroundTruth: cannot read the role (AccessDenied); permissions not checked"
    ]
