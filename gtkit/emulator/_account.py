"""A ready emulated account: what ``infra/ground-truth.yaml`` deploys in a real one.

:func:`setup_account` makes, in moto and the emulator only, the data bucket (encrypted,
versioned, public access blocked, with the CORS rule the worker portal needs; without the
template's policy refusing plain HTTP, which moto reads as refusing every request), the
execution role (trusting SageMaker, reading and writing the bucket, invoking the region's
built-in Lambdas, logging) and optionally a private workteam. It is idempotent: what exists is
left as it is. A test holds it to the CloudFormation template.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from gtkit._errors import GtkitError
from gtkit._io import new_session
from gtkit._tasks import LAMBDA_ACCOUNTS, check_region
from gtkit.emulator import _service

__all__ = ["AccountSetup", "setup_account"]

#: The CORS rule the worker portal needs on a data bucket (as in infra/ground-truth.yaml).
CORS_RULE: dict[str, Any] = {
    "AllowedMethods": ["GET"],
    "AllowedOrigins": ["*"],
    "AllowedHeaders": ["*"],
    "ExposeHeaders": ["Access-Control-Allow-Origin"],
    "MaxAgeSeconds": 3000,
}


@dataclass(frozen=True)
class AccountSetup:
    """What :func:`setup_account` made: the bucket, the role's ARN and the workteam's ARN."""

    bucket: str
    region: str
    role_arn: str
    workteam_arn: str | None


def _document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def role_policies(bucket: str, region: str, account: str) -> dict[str, str]:
    """The execution role's inline policies (name: JSON document), as the template's."""
    lambdas = LAMBDA_ACCOUNTS[check_region(region)]
    return {
        "ground-truth-data": _document(
            {
                "Sid": "ReadAndWriteObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Sid": "ListTheBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ),
        "ground-truth-lambdas": _document(
            {
                "Sid": "InvokeBuiltInTaskLambdas",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [
                    f"arn:aws:lambda:{region}:{lambdas}:function:PRE-*",
                    f"arn:aws:lambda:{region}:{lambdas}:function:ACS-*",
                ],
            }
        ),
        "ground-truth-logs": _document(
            {
                "Sid": "LabelingJobLogs",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:PutLogEvents",
                    "logs:DescribeLogStreams",
                ],
                "Resource": (
                    f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/LabelingJobs:*"
                ),
            }
        ),
    }


def setup_account(
    *,
    bucket: str,
    region: str = "us-east-1",
    role_name: str = "GroundTruth",
    workteam: str | None = None,
) -> AccountSetup:
    """Make the bucket, role and (if named) private workteam a job needs, in the emulated
    account only: a GtkitError outside :func:`gtkit.emulator.emulate`."""
    if not _service.is_active():
        raise GtkitError(
            "setup_account works only in the emulated account (inside gtkit.emulator.emulate); "
            "for a real account deploy infra/ground-truth.yaml"
        )
    check_region(region)
    session = new_session()
    s3 = session.client("s3", region_name=region)
    iam = session.client("iam", region_name=region)
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    _bucket(s3, bucket, region)
    try:
        arn = iam.get_role(RoleName=role_name)["Role"]["Arn"]
    except ClientError:
        arn = iam.create_role(
            RoleName=role_name,
            Description="Role Ground Truth assumes to read inputs, write outputs and log.",
            AssumeRolePolicyDocument=_document(
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ),
        )["Role"]["Arn"]
        for name, document in role_policies(bucket, region, account).items():
            iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=document)
    team_arn = None
    if workteam is not None:
        sagemaker = session.client("sagemaker", region_name=region)
        try:
            team_arn = sagemaker.describe_workteam(WorkteamName=workteam)["Workteam"]["WorkteamArn"]
        except ClientError:
            team_arn = sagemaker.create_workteam(
                WorkteamName=workteam,
                Description="Private labelers for gtkit jobs",
                MemberDefinitions=[
                    {
                        "CognitoMemberDefinition": {
                            "UserPool": f"{region}_gtkit",
                            "UserGroup": "labelers",
                            "ClientId": "gtkit-emulated-client",
                        }
                    }
                ],
            )["WorkteamArn"]
    return AccountSetup(bucket, region, arn, team_arn)


def _bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError:
        pass
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [CORS_RULE]})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
