"""gtkit: a typed toolkit for Amazon SageMaker Ground Truth.

Build input manifests and labeling-job requests, submit and follow jobs, read their output,
and analyse cost and label quality, with or without an AWS account.

Everything a notebook or pipeline calls is importable from ``gtkit`` itself; the modules
behind it are private (``gtkit._output`` and so on) and may change. The offline emulator is
the one public subpackage, ``gtkit.emulator`` (it needs the ``emulator`` extra, moto).
"""

from importlib import metadata as _metadata

from gtkit._analysis import Analysis, analyze, resolve_pricing
from gtkit._boxes import MATCHING_RULES, iou_matrix
from gtkit._client import LabelingJobClient, save_describe
from gtkit._consensus import BoxClusters, DawidSkene, cluster_boxes, dawid_skene, majority_vote
from gtkit._demo import DemoResult, make_dataset, run_demo
from gtkit._describe import JobSummary, find_describe, pricing_from_describe, read_describe
from gtkit._errors import (
    MAX_PROBLEMS,
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
    SetupError,
    SpecError,
    UnknownRegionError,
)
from gtkit._export import EXPORT_FORMATS, to_augmented_manifest, to_coco, write_export
from gtkit._manifest import (
    ManifestReport,
    UploadReport,
    check_manifest,
    iter_s3_uris,
    records_from_uris,
    upload_folder,
    write_manifest,
)
from gtkit._output import JobOutput, read_manifest, read_output, read_seqlabel
from gtkit._plots import (
    plot_cost,
    plot_counts,
    plot_cumulative_cost,
    plot_examples,
    plot_quality_by_iteration,
    plot_quality_histogram,
    plot_quality_vs_confidence,
    plot_threshold_curve,
    plot_threshold_savings,
    plot_worker_agreement,
    plot_workers_what_if,
    plot_worst,
)
from gtkit._preflight import SetupReport
from gtkit._pricing import DEFAULT_OBJECT_FEE, CostEstimate, Pricing, estimate_cost
from gtkit._references import (
    References,
    read_coco,
    read_cub,
    read_gt_manifest,
    read_masks,
    read_open_images,
    read_references,
)
from gtkit._report import headline, render_report, report_tables, write_report
from gtkit._session import default_bucket, get_execution_role
from gtkit._spec import LabelingJobSpec, load_spec
from gtkit._tasks import REGIONS, TASKS, TaskType, get_task, public_workteam_arn
from gtkit._worker_ui import render_template
from gtkit._workers import FlagThresholds, WorkerAnalysis, analyze_workers, read_worker_activity

try:
    __version__ = _metadata.version("gtkit")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_OBJECT_FEE",
    "EXPORT_FORMATS",
    "MATCHING_RULES",
    "MAX_PROBLEMS",
    "REGIONS",
    "TASKS",
    "Analysis",
    "BoxClusters",
    "CostEstimate",
    "DawidSkene",
    "DemoResult",
    "FlagThresholds",
    "GtkitError",
    "JobConflictError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobOutput",
    "JobSummary",
    "LabelingJobClient",
    "LabelingJobSpec",
    "ManifestError",
    "ManifestReport",
    "OutputError",
    "OverwriteError",
    "Pricing",
    "Problem",
    "ReferenceLabelError",
    "References",
    "SetupError",
    "SetupReport",
    "SpecError",
    "TaskType",
    "UnknownRegionError",
    "UploadReport",
    "WorkerAnalysis",
    "__version__",
    "analyze",
    "analyze_workers",
    "check_manifest",
    "cluster_boxes",
    "dawid_skene",
    "default_bucket",
    "estimate_cost",
    "find_describe",
    "get_execution_role",
    "get_task",
    "headline",
    "iou_matrix",
    "iter_s3_uris",
    "load_spec",
    "majority_vote",
    "make_dataset",
    "plot_cost",
    "plot_counts",
    "plot_cumulative_cost",
    "plot_examples",
    "plot_quality_by_iteration",
    "plot_quality_histogram",
    "plot_quality_vs_confidence",
    "plot_threshold_curve",
    "plot_threshold_savings",
    "plot_worker_agreement",
    "plot_workers_what_if",
    "plot_worst",
    "pricing_from_describe",
    "public_workteam_arn",
    "read_coco",
    "read_cub",
    "read_describe",
    "read_gt_manifest",
    "read_manifest",
    "read_masks",
    "read_open_images",
    "read_output",
    "read_references",
    "read_seqlabel",
    "read_worker_activity",
    "records_from_uris",
    "render_report",
    "render_template",
    "report_tables",
    "resolve_pricing",
    "run_demo",
    "save_describe",
    "to_augmented_manifest",
    "to_coco",
    "upload_folder",
    "write_export",
    "write_manifest",
    "write_report",
]
