"""gtkit: a typed toolkit for Amazon SageMaker Ground Truth.

Build input manifests and labeling-job requests, submit and follow jobs, read their output,
and analyse cost and label quality, with or without an AWS account.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from gtkit.analysis import Analysis, analyze, read_describe, resolve_pricing
from gtkit.client import LabelingJobClient, save_describe
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
from gtkit.export import to_augmented_manifest, to_coco, write_export
from gtkit.manifest import check_manifest, iter_s3_uris, upload_folder, write_manifest
from gtkit.output import JobOutput, read_manifest, read_output
from gtkit.pricing import CostEstimate, Pricing, estimate_cost
from gtkit.references import References, read_references
from gtkit.spec import LabelingJobSpec, load_spec
from gtkit.tasks import REGIONS, TASKS, TaskType, get_task

try:
    __version__ = version("gtkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "REGIONS",
    "TASKS",
    "Analysis",
    "CostEstimate",
    "GtkitError",
    "JobConflictError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobOutput",
    "LabelingJobClient",
    "LabelingJobSpec",
    "ManifestError",
    "OutputError",
    "OverwriteError",
    "Pricing",
    "Problem",
    "ReferenceLabelError",
    "References",
    "SpecError",
    "TaskType",
    "UnknownRegionError",
    "__version__",
    "analyze",
    "check_manifest",
    "estimate_cost",
    "get_task",
    "iter_s3_uris",
    "load_spec",
    "read_describe",
    "read_manifest",
    "read_output",
    "read_references",
    "resolve_pricing",
    "save_describe",
    "to_augmented_manifest",
    "to_coco",
    "upload_folder",
    "write_export",
    "write_manifest",
]
