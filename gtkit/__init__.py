"""gtkit: a typed toolkit for Amazon SageMaker Ground Truth.

Build input manifests and labeling-job requests, submit and follow jobs, read their output,
and analyse cost and label quality, with or without an AWS account.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from gtkit.errors import (
    GtkitError,
    JobConflictError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    ManifestError,
    OutputError,
    OverwriteError,
    Problem,
    ReferenceLabelError,
    SpecError,
    UnknownRegionError,
)

try:
    __version__ = version("gtkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "GtkitError",
    "JobConflictError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "ManifestError",
    "OutputError",
    "OverwriteError",
    "Problem",
    "ReferenceLabelError",
    "SpecError",
    "UnknownRegionError",
    "__version__",
]
