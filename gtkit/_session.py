"""Notebook-instance conveniences: the default bucket and execution role.

With the optional SageMaker SDK (``pip install gtkit[sagemaker]``) these defer to it; without it
the default bucket name is derived the same way (``sagemaker-<region>-<account>``) and the role
must be given explicitly. gtkit itself never needs the SDK.
"""

from __future__ import annotations

import importlib.util

import boto3

from gtkit._errors import GtkitError

__all__ = ["default_bucket", "get_execution_role", "has_sagemaker_sdk"]


def has_sagemaker_sdk() -> bool:
    """Whether the optional SageMaker SDK is installed."""
    return importlib.util.find_spec("sagemaker") is not None


def default_bucket(session: boto3.session.Session | None = None) -> str:
    """The SageMaker default bucket name of this account and region.

    Uses the SDK's ``Session().default_bucket()`` (which also creates the bucket) when the SDK is
    installed; otherwise returns ``sagemaker-<region>-<account>`` without creating anything.
    """
    if has_sagemaker_sdk():  # pragma: no cover - the SDK is an optional extra
        import sagemaker

        return str(sagemaker.Session(boto_session=session).default_bucket())
    session = session or boto3.session.Session()
    account = session.client("sts").get_caller_identity()["Account"]
    if not session.region_name:
        raise GtkitError("no AWS region configured: set AWS_DEFAULT_REGION or pass a session")
    return f"sagemaker-{session.region_name}-{account}"


def get_execution_role() -> str:
    """The notebook instance's execution role ARN (needs ``gtkit[sagemaker]``)."""
    if not has_sagemaker_sdk():
        raise GtkitError(
            "get_execution_role() needs the SageMaker SDK: pip install 'gtkit[sagemaker]', "
            "or give the role ARN (e.g. the RoleArn output of infra/ground-truth.yaml)"
        )
    import sagemaker  # pragma: no cover

    return str(sagemaker.get_execution_role())  # pragma: no cover
