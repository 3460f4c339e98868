"""Shared fixtures: no test ever reaches the network or a real AWS account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, settings

from gtkit._io import new_session

# The suite runs on every core of a shared machine at once (make test, CI): how fast hypothesis
# draws or runs an example there says nothing about gtkit, so its timing checks (the too-slow
# health check, the per-example deadline) are off; every other check stays.
settings.register_profile("gtkit", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("gtkit")

# Real Ground Truth output files from public repositories, with their provenance (INDEX.tsv),
# kept inside the project so that a fresh clone anywhere runs the tests that read them.
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "real"


@pytest.fixture(autouse=True)
def _fake_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fake credentials and a default region, so a stray call can never reach a real account."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    yield


@pytest.fixture
def real_fixtures() -> Path:
    """The folder of real Ground Truth output files (``tests/fixtures/real``); read, never written."""
    return FIXTURES


@pytest.fixture(autouse=True)
def _default_sessions_share_parsed_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto empties boto3's default session in every mock, and a new one parses the service
    models again (tenths of a second per test); let it share the models gtkit's sessions share.
    Credentials and region are still read afresh."""
    original = boto3.setup_default_session

    def setup_default_session(**kwargs: Any) -> None:
        if kwargs:
            original(**kwargs)
        else:
            boto3.DEFAULT_SESSION = new_session()

    monkeypatch.setattr(boto3, "setup_default_session", setup_default_session)
