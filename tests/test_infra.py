"""The CloudFormation template: deployed into moto, its bucket and role run a job in the emulator."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from gtkit._client import LabelingJobClient
from gtkit._manifest import records_from_uris, write_manifest
from gtkit._output import read_output
from gtkit._spec import LabelingJobSpec
from gtkit._tasks import LAMBDA_ACCOUNTS
from gtkit.emulator import emulate, setup_account

TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "ground-truth.yaml"


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !Sub, ...) as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _template() -> Any:
    return yaml.load(TEMPLATE.read_text(), Loader=_Loader)


def _s3_cors(template_cors: Any) -> Any:
    """The template's CORS configuration in S3's API words (ExposedHeaders -> ExposeHeaders)."""
    names = {"ExposedHeaders": "ExposeHeaders", "MaxAge": "MaxAgeSeconds"}
    return {
        "CORSRules": [
            {names.get(k, k): v for k, v in rule.items()} for rule in template_cors["CorsRules"]
        ]
    }


def test_template_lambda_accounts_match_the_registry() -> None:
    doc = _template()
    mapping = {region: v["Account"] for region, v in doc["Mappings"]["GroundTruthLambdas"].items()}
    assert mapping == dict(LAMBDA_ACCOUNTS)
    statements = [
        s for p in doc["Resources"]["ExecutionRole"]["Properties"]["Policies"]
        for s in p["PolicyDocument"]["Statement"]
    ]  # fmt: skip
    assert all(s.get("Resource") != "*" for s in statements)
    bucket = doc["Resources"]["DataBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    cors = bucket["CorsConfiguration"]["CorsRules"][0]
    assert cors["AllowedMethods"] == ["GET"] and cors["AllowedOrigins"] == ["*"]
    tls = doc["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }


# moto's CloudFormation skips bucket policies (with this warning); the template test checks it.
@pytest.mark.filterwarnings("ignore:Tried to parse AWS.*BucketPolicy")
def test_deploy_into_moto_and_run_a_job(tmp_path: Path) -> None:
    coco = {
        "images": [
            {"id": i, "file_name": f"{i}.jpg", "width": 100, "height": 100} for i in range(12)
        ],
        "annotations": [
            {"id": i, "image_id": i, "category_id": 1, "bbox": [10, 10, 30, 30]} for i in range(12)
        ],
        "categories": [{"id": 1, "name": "bird"}],
    }
    (tmp_path / "ref.json").write_text(json.dumps(coco))
    with emulate(references=tmp_path / "ref.json"):
        cfn = boto3.client("cloudformation")
        cfn.create_stack(
            StackName="gtkit",
            TemplateBody=TEMPLATE.read_text(),
            Parameters=[{"ParameterKey": "BucketName", "ParameterValue": "gtkit-infra-test"}],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        stack = cfn.describe_stacks(StackName="gtkit")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        assert "WorkteamArn" not in outputs  # no Cognito pool given
        bucket, role = outputs["BucketName"], outputs["RoleArn"]
        # moto's CloudFormation applies encryption and the role's policies (versioning, CORS and
        # the public access block are checked on the template above).
        s3 = boto3.client("s3")
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
            "Rules"
        ][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        iam = boto3.client("iam")
        name = role.rsplit("/", 1)[1]
        data: Any = iam.get_role_policy(RoleName=name, PolicyName="ground-truth-data")[
            "PolicyDocument"
        ]
        if isinstance(data, str):  # moto hands back the document as a Python-literal string
            data = ast.literal_eval(data)
        resources = {str(st["Resource"]) for st in data["Statement"]}
        assert resources == {f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}"}
        for i in range(12):
            s3.put_object(Bucket=bucket, Key=f"images/{i}.jpg", Body=b"")
        write_manifest(
            records_from_uris(f"s3://{bucket}/images/{i}.jpg" for i in range(12)),
            f"s3://{bucket}/in.manifest",
        )
        # moto's CloudFormation leaves out the bucket's CORS rule: apply the template's own.
        template_cors = _template()["Resources"]["DataBucket"]["Properties"]["CorsConfiguration"]
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=_s3_cors(template_cors))
        spec = LabelingJobSpec(
            name="infra-job", task="bounding-box", region="us-east-1", manifest=f"s3://{bucket}/in.manifest",
            output=f"s3://{bucket}/out", role_arn=role, labels=("bird",), workers=3, task_price="0.036",
        )  # fmt: skip
        client = LabelingJobClient(sleep=lambda _: None)
        # What the template deploys passes gtkit's own check of the account.
        report = client.check(spec)
        assert report.problems == [] and report.warnings == [], report
        client.create(spec)
        assert client.wait("infra-job", progress=False)["LabelCounters"]["HumanLabeled"] == 12
        out = read_output(client.download("infra-job", tmp_path / "out"))
        assert len(out.boxes) >= 10 and out.problems == []


def test_the_emulators_ready_account_is_the_templates(tmp_path: Path) -> None:
    """``gtkit emulator setup`` makes what the template deploys: the same CORS rule and the
    same role statements (actions and effects, for the bucket and the region's Lambdas)."""
    doc = _template()
    with emulate():
        made = setup_account(bucket="gtkit-ready", region="eu-west-1")
        s3, iam = boto3.client("s3"), boto3.client("iam")
        cors = s3.get_bucket_cors(Bucket="gtkit-ready")["CORSRules"]
        wanted = _s3_cors(doc["Resources"]["DataBucket"]["Properties"]["CorsConfiguration"])
        assert cors == wanted["CORSRules"]
        assert s3.get_bucket_location(Bucket="gtkit-ready")["LocationConstraint"] == "eu-west-1"
        role = doc["Resources"]["ExecutionRole"]["Properties"]
        name = made.role_arn.rsplit("/", 1)[1]
        trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"] == role["AssumeRolePolicyDocument"]["Statement"]
        for policy in role["Policies"]:
            got: Any = iam.get_role_policy(RoleName=name, PolicyName=policy["PolicyName"])
            actions = [
                (st["Sid"], st["Effect"], st["Action"]) for st in got["PolicyDocument"]["Statement"]
            ]
            assert actions == [
                (st["Sid"], st["Effect"], st["Action"])
                for st in policy["PolicyDocument"]["Statement"]
            ]
        assert "arn:aws:lambda:eu-west-1:568282634449:function:PRE-*" in json.dumps(
            iam.get_role_policy(RoleName=name, PolicyName="ground-truth-lambdas")["PolicyDocument"]
        )
