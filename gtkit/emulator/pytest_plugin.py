"""A pytest plugin (installed with gtkit) offering the ``gt_emulator`` fixture.

    def test_my_pipeline(gt_emulator):
        ...  # boto3 S3 and SageMaker labeling-job calls run offline

The fixture sets fake credentials and a region, and yields a running emulator with moto.
Reference labels for the simulated workers can be set with
``@pytest.mark.gt_references("path/to/coco.json")``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gtkit.emulator import Emulator, emulate


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``gt_references`` marker."""
    config.addinivalue_line("markers", "gt_references(path): reference labels for gt_emulator")


@pytest.fixture
def gt_emulator(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """A running Ground Truth emulator with moto, fake credentials and region us-east-1."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    marker = request.node.get_closest_marker("gt_references")
    references = marker.args[0] if marker else None
    with emulate(references=references) as emulator:
        yield emulator
