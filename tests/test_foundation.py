"""The package surface, the console script and the test isolation everything rests on."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

import gtkit
from gtkit._cli import main


def test_version_matches_installed_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"gtkit {version('gtkit')}"


def test_console_script_help_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gtkit", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "usage: gtkit" in result.stdout


def test_tests_use_fake_credentials_and_a_region() -> None:
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    assert boto3.session.Session().region_name == "us-east-1"


def test_moto_serves_s3_sts_and_iam() -> None:
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="gtkit-test")
        s3.put_object(Bucket="gtkit-test", Key="a.txt", Body=b"x")
        assert s3.get_object(Bucket="gtkit-test", Key="a.txt")["Body"].read() == b"x"
        assert boto3.client("sts").get_caller_identity()["Account"].isdigit()
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        assert role["Role"]["Arn"].startswith("arn:aws:iam::")


def test_sagemaker_sdk_is_not_a_core_dependency() -> None:
    from importlib.metadata import requires

    core = [r for r in requires("gtkit") or [] if "extra ==" not in r]
    assert core, "gtkit declares its runtime dependencies"
    assert not any(r.lower().startswith("sagemaker") for r in core)


def test_error_tree_has_one_base() -> None:
    for name in gtkit.__all__:
        obj = getattr(gtkit, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, gtkit.GtkitError)


def test_public_surface_is_pinned() -> None:
    """``__all__`` is exactly the package's public names: nothing public is left out of it, and
    it names nothing that is not there (private modules, imported as ``gtkit._x``, excluded)."""
    public = {
        name
        for name, value in vars(gtkit).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public | {"__version__"} == set(gtkit.__all__)
    assert len(set(gtkit.__all__)) == len(gtkit.__all__), "a name listed twice"
    for name in gtkit.__all__:
        assert hasattr(gtkit, name), name


def test_implementation_modules_are_private() -> None:
    """Every module of the package but the emulator subpackage is ``_``-prefixed."""
    package = Path(gtkit.__file__).parent
    modules = sorted(p.stem for p in package.glob("*.py") if p.stem != "__init__")
    assert modules and all(m.startswith("_") for m in modules), modules


def test_importing_gtkit_does_not_install_the_emulator() -> None:
    code = "import gtkit, botocore.handlers; print(any('sagemaker' in str(h[0]) for h in botocore.handlers.BUILTIN_HANDLERS))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_output_piped_into_head_stops_quietly(tmp_path: Path) -> None:
    config = tmp_path / "job.yaml"
    config.write_text(
        "name: birds\ntask: bounding-box\nregion: us-east-1\nmanifest: s3://b-1/in.manifest\n"
        "output: s3://b-1/out\nrole_arn: arn:aws:iam::123456789012:role/GT\nlabels: [bird]\n"
        "task_price: 0.036\n"
    )
    # A pipe whose reader has already gone: every write fails, as after `| head` exits.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gtkit", "job", "plan", str(config)],
            stdout=write_end, stderr=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141  # as other Unix tools stopped by a closed pipe
