"""The registry of Ground Truth's built-in task types, and the ARNs they need in each region.

Every fact here comes from the service's documentation (see ``ground-truth-facts.md``, section 2):
the PRE-/ACS- Lambda accounts per region, the automated-labeling algorithms, the built-in worker
UIs, and the public-workforce prices allowed per task.

>>> task = get_task("bounding-box")
>>> task.pre_lambda_arn("us-east-1")
'arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox'
>>> task.algorithm_arn("us-east-1")
'arn:aws:sagemaker:us-east-1:027400017018:labeling-job-algorithm-specification/object-detection'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from types import MappingProxyType

from gtkit._errors import Problem, SpecError, UnknownRegionError

__all__ = [
    "ALGORITHM_ACCOUNT",
    "LAMBDA_ACCOUNTS",
    "PUBLIC_WORKFORCE_ACCOUNT",
    "REGIONS",
    "TASKS",
    "AttributeRule",
    "Modality",
    "TaskType",
    "check_region",
    "get_task",
    "public_workteam_arn",
    "task_of_output",
]

#: The account that owns the built-in PRE-/ACS- Lambdas, per region.
LAMBDA_ACCOUNTS: Mapping[str, str] = MappingProxyType(
    {
        "us-east-1": "432418664414",
        "us-east-2": "266458841044",
        "us-west-2": "081040173940",
        "ca-central-1": "918755190332",
        "eu-west-1": "568282634449",
        "eu-west-2": "487402164563",
        "eu-central-1": "203001061592",
        "ap-northeast-1": "477331159723",
        "ap-northeast-2": "845288260483",
        "ap-south-1": "565803892007",
        "ap-southeast-1": "377565633583",
        "ap-southeast-2": "454466003867",
    }
)
#: Regions where Ground Truth's built-in tasks exist, in a stable order.
REGIONS: tuple[str, ...] = tuple(LAMBDA_ACCOUNTS)
#: Owner of the automated-labeling algorithm specifications (the same in every region).
ALGORITHM_ACCOUNT = "027400017018"
#: Owner of the public (Mechanical Turk) workteam and the built-in human task UIs.
PUBLIC_WORKFORCE_ACCOUNT = "394669845002"

# Public-workforce prices allowed, in dollars per task per worker.
_BOX_PRICES = tuple(
    Decimal(p)
    for p in (
        "0.036", "0.048", "0.060", "0.072", "0.120", "0.240", "0.360",
        "0.480", "0.600", "0.720", "0.840", "0.960", "1.080", "1.200",
    )
)  # fmt: skip
_CLASSIFICATION_PRICES = (Decimal("0.012"), Decimal("0.024"), *_BOX_PRICES)
_SEGMENTATION_PRICES = tuple(Decimal(p) for p in ("0.840", "0.960", "1.080", "1.200"))

_EIGHT_HOURS = 28_800  # seconds: the task time limit for image, text and custom tasks
_THIRTY_DAYS = 2_592_000  # seconds: the limit for video frame and 3D point cloud tasks
# The guide's input data quotas for image tasks ("Input Data Quotas"): 40 MB per file (read as
# MiB, so that gtkit never refuses a file the service takes) and 100 million pixels; automated
# labeling takes images up to 4K (3840 x 2160), semantic segmentation up to 1080p.
_IMAGE_BYTES = 40 * 1024 * 1024
_IMAGE_PIXELS = 100_000_000
_UHD = (3840, 2160)
_FULL_HD = (1920, 1080)


class Modality(str, Enum):
    """What workers look at; it decides time limits and whether the public workforce may work."""

    IMAGE = "image"
    TEXT = "text"
    VIDEO = "video"
    VIDEO_FRAME = "video-frame"
    POINT_CLOUD = "point-cloud"
    CUSTOM = "custom"


class AttributeRule(str, Enum):
    """What the service demands of the label attribute name's ``-ref`` suffix."""

    ANY = "any"
    MUST_END_REF = "must end in -ref"
    MUST_NOT_END_REF = "must not end in -ref"


@dataclass(frozen=True)
class TaskType:
    """One built-in task type and everything the service needs to run it.

    ``prices`` are the public-workforce prices allowed, in dollars per task per worker; an empty
    tuple means the public workforce cannot take this task. ``max_object_bytes`` and
    ``max_pixels`` bound each input image (None: no quota known); ``auto_labeling_max_size`` is
    the largest image (width, height in pixels) automated labeling takes, compared by pixel count;
    ``auto_labeling_target`` the quality its machine labels aim at (mIoU for boxes and masks,
    accuracy for classes, as fractions).
    """

    name: str
    lambda_suffix: str
    modality: Modality
    output_type: str
    algorithm: str | None = None
    human_task_ui: str | None = None
    template: str | None = None
    attribute_rule: AttributeRule = AttributeRule.ANY
    prices: tuple[Decimal, ...] = _CLASSIFICATION_PRICES
    default_workers: int = 3
    max_objects: int = 100_000
    min_labels: int = 1
    max_labels: int | None = None
    max_task_seconds: int = _EIGHT_HOURS
    max_object_bytes: int | None = None
    max_pixels: int | None = None
    auto_labeling_max_size: tuple[int, int] | None = None
    auto_labeling_target: float | None = None

    @property
    def supports_auto_labeling(self) -> bool:
        """Whether Ground Truth's automated data labeling is available for this task."""
        return self.algorithm is not None

    @property
    def public_workforce_allowed(self) -> bool:
        """Whether the public (Mechanical Turk) workforce may take this task."""
        return bool(self.prices)

    def pre_lambda_arn(self, region: str) -> str:
        """ARN of the built-in pre-annotation Lambda in ``region``."""
        account = LAMBDA_ACCOUNTS[check_region(region)]
        return f"arn:aws:lambda:{region}:{account}:function:PRE-{self.lambda_suffix}"

    def acs_lambda_arn(self, region: str) -> str:
        """ARN of the built-in annotation-consolidation Lambda in ``region``."""
        account = LAMBDA_ACCOUNTS[check_region(region)]
        return f"arn:aws:lambda:{region}:{account}:function:ACS-{self.lambda_suffix}"

    def algorithm_arn(self, region: str) -> str:
        """ARN of the automated-labeling algorithm; a SpecError if the task has none."""
        check_region(region)
        if self.algorithm is None:
            supported = ", ".join(t.name for t in TASKS.values() if t.supports_auto_labeling)
            raise SpecError(
                [
                    Problem(
                        "auto_labeling",
                        f"task {self.name!r} has no automated labeling; supported: {supported}",
                    )
                ]
            )
        return (
            f"arn:aws:sagemaker:{region}:{ALGORITHM_ACCOUNT}:"
            f"labeling-job-algorithm-specification/{self.algorithm}"
        )

    def human_task_ui_arn(self, region: str) -> str | None:
        """ARN of the built-in worker UI, or None where the task uses a Liquid template."""
        check_region(region)
        if self.human_task_ui is None:
            return None
        return (
            f"arn:aws:sagemaker:{region}:{PUBLIC_WORKFORCE_ACCOUNT}:"
            f"human-task-ui/{self.human_task_ui}"
        )


def check_region(region: str) -> str:
    """Return ``region`` if Ground Truth serves it, else raise UnknownRegionError listing them."""
    if region not in LAMBDA_ACCOUNTS:
        raise UnknownRegionError(
            [
                Problem(
                    "region",
                    f"{region!r} has no Ground Truth built-in tasks; allowed: {', '.join(REGIONS)}",
                )
            ]
        )
    return region


def public_workteam_arn(region: str) -> str:
    """ARN of the public (Mechanical Turk) workteam in ``region``."""
    return (
        f"arn:aws:sagemaker:{check_region(region)}:{PUBLIC_WORKFORCE_ACCOUNT}:"
        "workteam/public-crowd/default"
    )


def _frame_task(modality: Modality, name: str, suffix: str, ui: str, output: str) -> TaskType:
    """A video-frame or 3D point-cloud task: built-in UI, ``-ref`` attribute, private workforce
    only, up to 30 days per task."""
    return TaskType(
        name,
        suffix,
        modality,
        output,
        human_task_ui=ui,
        attribute_rule=AttributeRule.MUST_END_REF,
        prices=(),
        max_task_seconds=_THIRTY_DAYS,
    )


_ALL: tuple[TaskType, ...] = (
    TaskType(
        "bounding-box",
        "BoundingBox",
        Modality.IMAGE,
        "groundtruth/object-detection",
        algorithm="object-detection",
        auto_labeling_target=0.6,
        template="bounding-box.liquid.html",
        prices=_BOX_PRICES,
        default_workers=5,
        max_labels=50,
        max_object_bytes=_IMAGE_BYTES,
        max_pixels=_IMAGE_PIXELS,
        auto_labeling_max_size=_UHD,
    ),
    TaskType(
        "image-classification",
        "ImageMultiClass",
        Modality.IMAGE,
        "groundtruth/image-classification",
        algorithm="image-classification",
        auto_labeling_target=0.95,
        template="image-classification.liquid.html",
        min_labels=2,
        max_object_bytes=_IMAGE_BYTES,
        max_pixels=_IMAGE_PIXELS,
        auto_labeling_max_size=_UHD,
    ),
    TaskType(
        "image-classification-multilabel",
        "ImageMultiClassMultiLabel",
        Modality.IMAGE,
        "groundtruth/image-classification-multilabel",
        template="image-classification-multilabel.liquid.html",
        min_labels=2,
        max_object_bytes=_IMAGE_BYTES,
        max_pixels=_IMAGE_PIXELS,
    ),
    TaskType(
        "semantic-segmentation",
        "SemanticSegmentation",
        Modality.IMAGE,
        "groundtruth/semantic-segmentation",
        algorithm="semantic-segmentation",
        auto_labeling_target=0.7,
        template="semantic-segmentation.liquid.html",
        attribute_rule=AttributeRule.MUST_END_REF,
        prices=_SEGMENTATION_PRICES,
        max_objects=20_000,
        max_object_bytes=_IMAGE_BYTES,
        max_pixels=_IMAGE_PIXELS,
        auto_labeling_max_size=_FULL_HD,
    ),
    TaskType(
        "text-classification",
        "TextMultiClass",
        Modality.TEXT,
        "groundtruth/text-classification",
        algorithm="text-classification",
        auto_labeling_target=0.95,
        template="text-classification.liquid.html",
        min_labels=2,
    ),
    TaskType(
        "text-classification-multilabel",
        "TextMultiClassMultiLabel",
        Modality.TEXT,
        "groundtruth/text-classification-multilabel",
        template="text-classification-multilabel.liquid.html",
        min_labels=2,
    ),
    TaskType(
        "named-entity-recognition",
        "NamedEntityRecognition",
        Modality.TEXT,
        "groundtruth/text-span",
        human_task_ui="NamedEntityRecognition",
    ),
    TaskType(
        "bounding-box-verification",
        "VerificationBoundingBox",
        Modality.IMAGE,
        "groundtruth/label-verification",
        template="bounding-box-verification.liquid.html",
        max_object_bytes=_IMAGE_BYTES,
        max_pixels=_IMAGE_PIXELS,
    ),
    TaskType(
        "bounding-box-adjustment",
        "AdjustmentBoundingBox",
        Modality.IMAGE,
        "groundtruth/object-detection",
        template="bounding-box-adjustment.liquid.html",
        prices=_BOX_PRICES,
        default_workers=5,
        max_labels=50,
        max_object_bytes=_IMAGE_BYTES,
        max_pixels=_IMAGE_PIXELS,
    ),
    TaskType(
        "semantic-segmentation-verification",
        "VerificationSemanticSegmentation",
        Modality.IMAGE,
        "groundtruth/label-verification",
        template="semantic-segmentation-verification.liquid.html",
        attribute_rule=AttributeRule.MUST_NOT_END_REF,
        max_object_bytes=_IMAGE_BYTES,
        max_pixels=_IMAGE_PIXELS,
    ),
    TaskType(
        "semantic-segmentation-adjustment",
        "AdjustmentSemanticSegmentation",
        Modality.IMAGE,
        "groundtruth/semantic-segmentation",
        template="semantic-segmentation-adjustment.liquid.html",
        attribute_rule=AttributeRule.MUST_END_REF,
        prices=_SEGMENTATION_PRICES,
        max_objects=20_000,
        max_object_bytes=_IMAGE_BYTES,
        max_pixels=_IMAGE_PIXELS,
    ),
    TaskType(
        "video-classification",
        "VideoMultiClass",
        Modality.VIDEO,
        "groundtruth/video-classification",
        template="video-classification.liquid.html",
        min_labels=2,
    ),
    _frame_task(
        Modality.VIDEO_FRAME,
        "video-object-detection",
        "VideoObjectDetection",
        "VideoObjectDetection",
        "groundtruth/video-object-detection",
    ),
    _frame_task(
        Modality.VIDEO_FRAME,
        "video-object-tracking",
        "VideoObjectTracking",
        "VideoObjectTracking",
        "groundtruth/video-object-tracking",
    ),
    _frame_task(
        Modality.VIDEO_FRAME,
        "video-object-detection-adjustment",
        "AdjustmentVideoObjectDetection",
        "VideoObjectDetection",
        "groundtruth/video-object-detection",
    ),
    _frame_task(
        Modality.VIDEO_FRAME,
        "video-object-tracking-adjustment",
        "AdjustmentVideoObjectTracking",
        "VideoObjectTracking",
        "groundtruth/video-object-tracking",
    ),
    _frame_task(
        Modality.POINT_CLOUD,
        "point-cloud-object-detection",
        "3DPointCloudObjectDetection",
        "PointCloudObjectDetection",
        "groundtruth/point-cloud-object-detection",
    ),
    _frame_task(
        Modality.POINT_CLOUD,
        "point-cloud-object-tracking",
        "3DPointCloudObjectTracking",
        "PointCloudObjectTracking",
        "groundtruth/point-cloud-object-tracking",
    ),
    _frame_task(
        Modality.POINT_CLOUD,
        "point-cloud-semantic-segmentation",
        "3DPointCloudSemanticSegmentation",
        "PointCloudSemanticSegmentation",
        "groundtruth/point-cloud-single-frame-semantic-segmentation",
    ),
    _frame_task(
        Modality.POINT_CLOUD,
        "point-cloud-object-detection-adjustment",
        "Adjustment3DPointCloudObjectDetection",
        "PointCloudObjectDetection",
        "groundtruth/point-cloud-object-detection",
    ),
    _frame_task(
        Modality.POINT_CLOUD,
        "point-cloud-object-tracking-adjustment",
        "Adjustment3DPointCloudObjectTracking",
        "PointCloudObjectTracking",
        "groundtruth/point-cloud-object-tracking",
    ),
    _frame_task(
        Modality.POINT_CLOUD,
        "point-cloud-semantic-segmentation-adjustment",
        "Adjustment3DPointCloudSemanticSegmentation",
        "PointCloudSemanticSegmentation",
        "groundtruth/point-cloud-single-frame-semantic-segmentation",
    ),
    # Your own Lambdas and template; PRE-/ACS-PassThrough is the built-in pair for custom UIs.
    TaskType("custom", "PassThrough", Modality.CUSTOM, "groundtruth/custom"),
)

#: Every task type by its gtkit name (``bounding-box``, ``image-classification``, ...).
TASKS: Mapping[str, TaskType] = MappingProxyType({t.name: t for t in _ALL})


def task_of_output(output_type: str | None) -> TaskType | None:
    """The built-in task whose output lines say ``type: <output_type>`` (with or without the
    ``groundtruth/`` prefix), if any."""
    if output_type is None:
        return None
    wanted = output_type if output_type.startswith("groundtruth/") else f"groundtruth/{output_type}"
    return next((t for t in _ALL if t.output_type == wanted), None)


def get_task(name: str) -> TaskType:
    """Look up a task type by its gtkit name; a SpecError lists the names allowed."""
    try:
        return TASKS[name]
    except KeyError:
        raise SpecError(
            [Problem("task", f"unknown task {name!r}; allowed: {', '.join(TASKS)}")]
        ) from None
