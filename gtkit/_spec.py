"""A typed labeling-job spec that becomes the exact ``CreateLabelingJob`` request.

A person describes a job in a few typed fields; :meth:`LabelingJobSpec.to_request` fills in every
region-specific ARN and returns boto3's keyword arguments, after :meth:`LabelingJobSpec.check` has
verified every rule the service enforces (botocore checks only types and minimums). All problems
are reported at once, each naming the field, the value and what is allowed.

>>> spec = LabelingJobSpec(
...     name="birds", task="bounding-box", region="us-west-2",
...     manifest="s3://my-bucket/birds/input.manifest", output="s3://my-bucket/birds/output",
...     role_arn="arn:aws:iam::123456789012:role/GroundTruth", labels=("bird",),
...     task_price=0.036, auto_labeling=True)
>>> request = spec.to_request()
>>> request["HumanTaskConfig"]["PreHumanTaskLambdaArn"]
'arn:aws:lambda:us-west-2:081040173940:function:PRE-BoundingBox'
>>> request["HumanTaskConfig"]["PublicWorkforceTaskPrice"]
{'AmountInUsd': {'Dollars': 0, 'Cents': 3, 'TenthFractionsOfACent': 6}}
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gtkit._errors import Problem, SpecError
from gtkit._pricing import DEFAULT_OBJECT_FEE, CostEstimate, Pricing, estimate_cost
from gtkit._tasks import (
    LAMBDA_ACCOUNTS,
    REGIONS,
    TASKS,
    AttributeRule,
    Modality,
    TaskType,
    get_task,
    public_workteam_arn,
)

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import (
        CreateLabelingJobRequestTypeDef,
        DescribeLabelingJobResponseTypeDef,
    )

__all__ = [
    "AUTO_LABELING_MIN_OBJECTS",
    "CONTENT_CLASSIFIERS",
    "LabelingJobSpec",
    "load_spec",
    "spec_from_dict",
]

#: The guide's minimum dataset size for automated labeling (5,000 strongly suggested).
AUTO_LABELING_MIN_OBJECTS = 1250
CONTENT_CLASSIFIERS = ("FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent")

_NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_ATTRIBUTE_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}")
_S3_RE = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?")
_ROLE_RE = re.compile(r"arn:aws[a-z\-]*:iam::(\d{12}):role/?[a-zA-Z_0-9+=,.@\-_/]+")
_WORKTEAM_RE = re.compile(r"arn:aws[a-z\-]*:sagemaker:([a-z0-9\-]*):(\d{12}):workteam/.+")
_MODEL_RE = re.compile(r"arn:aws[a-z\-]*:sagemaker:([a-z0-9\-]*):(\d{12}):model/.+")
_LAMBDA_RE = re.compile(r"arn:aws[a-z\-]*:lambda:([a-z0-9\-]*):(\d{12}):function:.+")
_KMS_RE = re.compile(r"[a-zA-Z0-9:/_-]*")
_TITLE_RE = re.compile("[\t\n\r -\ud7ff\ue000-\ufffd]*")
_TAG_RE = re.compile(r"[\w\s.:/=+\-@]*")

_PUBLIC_MAX_LIFETIME = 43_200  # seconds (12 hours) for the public workforce
_PRIVATE_MAX_LIFETIME = 2_592_000  # seconds (30 days) for private and vendor workforces


@dataclass(frozen=True)
class LabelingJobSpec:
    """Everything needed to create one labeling job.

    Times are seconds; ``task_price`` is dollars per task per worker (public workforce only);
    ``workforce`` is ``"public"`` or a private or vendor workteam ARN. Fields left ``None`` take
    the service's or the console's default (``workers``: the task's console default;
    ``label_attribute``: the job name; label-category and template URIs: beside the manifest).
    """

    name: str
    task: str
    region: str
    manifest: str
    output: str
    role_arn: str
    labels: tuple[str, ...] = ()
    label_attribute: str | None = None
    title: str | None = None
    description: str | None = None
    keywords: tuple[str, ...] = ()
    workforce: str = "public"
    workers: int | None = None
    task_price: Decimal | float | str | None = None
    task_time_limit: int = 300
    task_availability_lifetime: int | None = None
    max_concurrent_tasks: int | None = None
    auto_labeling: bool = False
    initial_model_arn: str | None = None
    max_human_labeled_objects: int | None = None
    max_percentage_labeled: int | None = None
    content_classifiers: tuple[str, ...] = ()
    output_kms_key: str | None = None
    volume_kms_key: str | None = None
    vpc_security_group_ids: tuple[str, ...] = ()
    vpc_subnets: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    label_category_uri: str | None = None
    template_uri: str | None = None
    pre_lambda_arn: str | None = None
    acs_lambda_arn: str | None = None

    # ------------------------------------------------------------------ derived values
    @property
    def task_type(self) -> TaskType:
        """The registry entry of ``task`` (a SpecError if unknown)."""
        return get_task(self.task)

    @property
    def attribute(self) -> str:
        """The label attribute name: ``label_attribute`` or, by default, the job name."""
        return self.label_attribute if self.label_attribute is not None else self.name

    @property
    def is_public(self) -> bool:
        """Whether the public (Mechanical Turk) workforce labels this job."""
        return self.workforce == "public"

    @property
    def workers_per_object(self) -> int:
        """Workers per object: ``workers`` or the task's console default."""
        if self.workers is not None:
            return self.workers
        return TASKS[self.task].default_workers if self.task in TASKS else 1

    @property
    def price(self) -> Decimal | None:
        """The task price as an exact Decimal in dollars (None where none applies)."""
        if self.task_price is None:
            return None
        try:
            return Decimal(str(self.task_price))
        except InvalidOperation:
            return Decimal("NaN")

    def _beside_manifest(self, suffix: str) -> str:
        folder = self.manifest.rsplit("/", 1)[0] if "/" in self.manifest[5:] else self.manifest
        return f"{folder}/{self.name}.{suffix}"

    @property
    def category_uri(self) -> str:
        """Where the label-category file goes (default: beside the manifest)."""
        return self.label_category_uri or self._beside_manifest("label-categories.json")

    @property
    def worker_template_uri(self) -> str | None:
        """Where the Liquid worker template goes, or None where a built-in UI is used."""
        if self.template_uri is not None:
            return self.template_uri
        task = TASKS.get(self.task)
        if task is not None and task.human_task_ui is not None:
            return None
        return self._beside_manifest("template.liquid.html")

    def pricing(self, object_fee: float = DEFAULT_OBJECT_FEE) -> Pricing:
        """This job's prices: the per-object fee and, for the public workforce, workers x price."""
        price = self.price if self.is_public else None
        return Pricing(
            object_fee=object_fee,
            workers=self.workers_per_object,
            task_price=float(price) if price is not None and price.is_finite() else 0.0,
        )

    def estimate(self, objects: int, *, object_fee: float = DEFAULT_OBJECT_FEE) -> CostEstimate:
        """Pre-flight cost range in dollars for ``objects`` objects (see :func:`estimate_cost`)."""
        return estimate_cost(objects, self.pricing(object_fee), auto_labeling=self.auto_labeling)

    # ------------------------------------------------------------------ checks
    def problems(self) -> list[Problem]:
        """Every rule of the service this spec breaks (empty when it is valid)."""
        return _Checker(self).errors()

    def warnings(self, *, objects: int | None = None) -> list[str]:
        """What the service allows but users regret, given the object count if known."""
        out: list[str] = []
        if self.auto_labeling and objects is not None and objects < AUTO_LABELING_MIN_OBJECTS:
            out.append(
                f"auto_labeling: {objects} objects is below the guide's minimum of "
                f"{AUTO_LABELING_MIN_OBJECTS} (5,000 suggested); machines may label few or none"
            )
        price = self.price
        task = TASKS.get(self.task)
        if (
            self.is_public
            and task is not None
            and price is not None
            and price.is_finite()
            and price < Decimal("0.036")
        ):
            out.append(
                f"task_price: ${price} is below the usual $0.036 for this task; "
                "workers may pass such tasks by and the job may take much longer"
            )
        if (
            self.workers_per_object == 1
            and task is not None
            and task.modality is not Modality.CUSTOM
        ):
            out.append(
                "workers: one worker per object gives no consolidation and confidence 0; "
                f"the console default is {task.default_workers}"
            )
        if task is not None and self.task == "bounding-box" and len(self.labels) > 10:
            out.append(f"labels: {len(self.labels)} labels; crowd-bounding-box shows at most 10")
        return out

    def check(self) -> None:
        """Raise SpecError listing every problem, or return if the spec is valid."""
        problems = self.problems()
        if problems:
            raise SpecError(problems)

    # ------------------------------------------------------------------ the request
    def to_request(self) -> CreateLabelingJobRequestTypeDef:
        """The exact keyword arguments for boto3's ``create_labeling_job`` (checked first)."""
        self.check()
        task = self.task_type
        human: dict[str, Any] = {
            "WorkteamArn": public_workteam_arn(self.region) if self.is_public else self.workforce,
            "UiConfig": (
                {"HumanTaskUiArn": task.human_task_ui_arn(self.region)}
                if task.human_task_ui is not None and self.template_uri is None
                else {"UiTemplateS3Uri": self.worker_template_uri}
            ),
            "PreHumanTaskLambdaArn": self.pre_lambda_arn or task.pre_lambda_arn(self.region),
            "TaskTitle": self.title or _default_title(task, self.labels),
            "TaskDescription": self.description or _default_description(task, self.labels),
            "NumberOfHumanWorkersPerDataObject": self.workers_per_object,
            "TaskTimeLimitInSeconds": self.task_time_limit,
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": self.acs_lambda_arn
                or task.acs_lambda_arn(self.region)
            },
        }
        if self.keywords:
            human["TaskKeywords"] = list(self.keywords)
        if self.task_availability_lifetime is not None:
            human["TaskAvailabilityLifetimeInSeconds"] = self.task_availability_lifetime
        if self.max_concurrent_tasks is not None:
            human["MaxConcurrentTaskCount"] = self.max_concurrent_tasks
        price = self.price
        if self.is_public and price is not None:
            human["PublicWorkforceTaskPrice"] = {"AmountInUsd": _usd(price)}

        request: dict[str, Any] = {
            "LabelingJobName": self.name,
            "LabelAttributeName": self.attribute,
            "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": self.manifest}}},
            "OutputConfig": {"S3OutputPath": self.output},
            "RoleArn": self.role_arn,
            "LabelCategoryConfigS3Uri": self.category_uri,
            "HumanTaskConfig": human,
        }
        if self.content_classifiers:
            request["InputConfig"]["DataAttributes"] = {
                "ContentClassifiers": list(self.content_classifiers)
            }
        if self.output_kms_key:
            request["OutputConfig"]["KmsKeyId"] = self.output_kms_key
        stopping: dict[str, int] = {}
        if self.max_human_labeled_objects is not None:
            stopping["MaxHumanLabeledObjectCount"] = self.max_human_labeled_objects
        if self.max_percentage_labeled is not None:
            stopping["MaxPercentageOfInputDatasetLabeled"] = self.max_percentage_labeled
        if stopping:
            request["StoppingConditions"] = stopping
        if self.auto_labeling:
            algorithms: dict[str, Any] = {
                "LabelingJobAlgorithmSpecificationArn": task.algorithm_arn(self.region)
            }
            if self.initial_model_arn:
                algorithms["InitialActiveLearningModelArn"] = self.initial_model_arn
            resources: dict[str, Any] = {}
            if self.volume_kms_key:
                resources["VolumeKmsKeyId"] = self.volume_kms_key
            if self.vpc_subnets:
                resources["VpcConfig"] = {
                    "SecurityGroupIds": list(self.vpc_security_group_ids),
                    "Subnets": list(self.vpc_subnets),
                }
            if resources:
                algorithms["LabelingJobResourceConfig"] = resources
            request["LabelingJobAlgorithmsConfig"] = algorithms
        if self.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags.items()]
        return cast("CreateLabelingJobRequestTypeDef", request)

    def label_categories(self) -> dict[str, Any]:
        """The label-category file's content (``document-version`` 2018-11-28)."""
        return {
            "document-version": "2018-11-28",
            "labels": [{"label": label} for label in self.labels],
        }

    # ------------------------------------------------------------------ from the service
    @classmethod
    def from_describe(
        cls,
        response: DescribeLabelingJobResponseTypeDef | Mapping[str, Any],
        *,
        labels: Sequence[str] = (),
    ) -> LabelingJobSpec:
        """Rebuild a spec from a ``DescribeLabelingJob`` response.

        The response does not carry the labels (they live in the label-category file), so pass
        them to get a spec whose :meth:`to_request` equals the original request.
        """
        r = cast("Mapping[str, Any]", response)
        human = r["HumanTaskConfig"]
        pre = human.get("PreHumanTaskLambdaArn", "")
        acs = human.get("AnnotationConsolidationConfig", {}).get(
            "AnnotationConsolidationLambdaArn", ""
        )
        region = _region_of(r.get("LabelingJobArn", "")) or _region_of(pre) or ""
        task = _task_from_lambda(pre, region)
        built_in = TASKS[task]
        ui = human.get("UiConfig", {})
        workteam = human["WorkteamArn"]
        public = region != "" and workteam == public_workteam_arn(region)
        price = human.get("PublicWorkforceTaskPrice", {}).get("AmountInUsd")
        algorithms = r.get("LabelingJobAlgorithmsConfig")
        resources = (algorithms or {}).get("LabelingJobResourceConfig", {})
        stopping = r.get("StoppingConditions", {})
        return cls(
            name=r["LabelingJobName"],
            task=task,
            region=region,
            manifest=r["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"],
            output=r["OutputConfig"]["S3OutputPath"],
            role_arn=r["RoleArn"],
            labels=tuple(labels),
            label_attribute=r["LabelAttributeName"],
            title=human["TaskTitle"],
            description=human["TaskDescription"],
            keywords=tuple(human.get("TaskKeywords", ())),
            workforce="public" if public else workteam,
            workers=human["NumberOfHumanWorkersPerDataObject"],
            task_price=_from_usd(price) if price is not None else None,
            task_time_limit=human["TaskTimeLimitInSeconds"],
            task_availability_lifetime=human.get("TaskAvailabilityLifetimeInSeconds"),
            max_concurrent_tasks=human.get("MaxConcurrentTaskCount"),
            auto_labeling=algorithms is not None,
            initial_model_arn=(algorithms or {}).get("InitialActiveLearningModelArn"),
            max_human_labeled_objects=stopping.get("MaxHumanLabeledObjectCount"),
            max_percentage_labeled=stopping.get("MaxPercentageOfInputDatasetLabeled"),
            content_classifiers=tuple(
                r["InputConfig"].get("DataAttributes", {}).get("ContentClassifiers", ())
            ),
            output_kms_key=r["OutputConfig"].get("KmsKeyId"),
            volume_kms_key=resources.get("VolumeKmsKeyId"),
            vpc_security_group_ids=tuple(
                resources.get("VpcConfig", {}).get("SecurityGroupIds", ())
            ),
            vpc_subnets=tuple(resources.get("VpcConfig", {}).get("Subnets", ())),
            tags={t["Key"]: t["Value"] for t in r.get("Tags", ())},
            label_category_uri=r.get("LabelCategoryConfigS3Uri"),
            template_uri=ui.get("UiTemplateS3Uri"),
            pre_lambda_arn=None if pre == built_in.pre_lambda_arn(region) else pre,
            acs_lambda_arn=None if acs == built_in.acs_lambda_arn(region) else acs,
        )

    def chain(
        self,
        previous: DescribeLabelingJobResponseTypeDef | Mapping[str, Any],
        *,
        name: str,
        label_attribute: str | None = None,
    ) -> LabelingJobSpec:
        """A spec for a job that continues ``previous`` (a DescribeLabelingJob response).

        Its output manifest becomes the input; ``label_attribute`` None continues the previous
        attribute, a new name adds one; with automated labeling, the previous job's final model
        seeds this one.
        """
        r = cast("Mapping[str, Any]", previous)
        output = r.get("LabelingJobOutput")
        if not output or not output.get("OutputDatasetS3Uri"):
            raise SpecError(
                [
                    Problem(
                        "previous",
                        f"job {r.get('LabelingJobName')!r} has no output manifest yet "
                        f"(status {r.get('LabelingJobStatus')}); chain from a completed job",
                    )
                ]
            )
        model = output.get("FinalActiveLearningModelArn") if self.auto_labeling else None
        return dataclasses.replace(
            self,
            name=name,
            manifest=output["OutputDatasetS3Uri"],
            label_attribute=label_attribute or r["LabelAttributeName"],
            initial_model_arn=model or self.initial_model_arn,
            label_category_uri=None,
        )


# ---------------------------------------------------------------------- checks
class _Checker:
    """Collects every problem of one spec."""

    def __init__(self, spec: LabelingJobSpec) -> None:
        self.spec = spec
        self.found: list[Problem] = []

    def add(self, where: str, message: str) -> None:
        self.found.append(Problem(where, message))

    def errors(self) -> list[Problem]:
        s = self.spec
        task = TASKS.get(s.task)
        if task is None:
            self.add("task", f"unknown task {s.task!r}; allowed: {', '.join(TASKS)}")
        if s.region not in LAMBDA_ACCOUNTS:
            self.add(
                "region",
                f"{s.region!r} has no Ground Truth built-in tasks; allowed: {', '.join(REGIONS)}",
            )
        self._names()
        self._uris()
        self._role_and_workforce(task)
        self._human_task(task)
        self._labels(task)
        self._auto_labeling(task)
        self._limits()
        if task is not None and task.modality is Modality.CUSTOM:
            for fld in ("pre_lambda_arn", "acs_lambda_arn", "template_uri"):
                if getattr(s, fld) is None:
                    self.add(fld, "required for a custom task (use PRE-/ACS-PassThrough if needed)")
        for fld in ("pre_lambda_arn", "acs_lambda_arn"):
            arn = getattr(s, fld)
            if arn is not None:
                m = _LAMBDA_RE.fullmatch(arn)
                if not m:
                    self.add(fld, f"{arn!r} is not a Lambda function ARN")
                elif m.group(1) != s.region:
                    self.add(fld, f"{arn!r} is in {m.group(1)!r}; the job runs in {s.region!r}")
        return self.found

    def _names(self) -> None:
        s = self.spec
        if len(s.name) > 63 or not _NAME_RE.fullmatch(s.name):
            self.add(
                "name",
                f"{s.name!r}: 1-63 letters, digits and hyphens, starting and ending with a "
                "letter or digit",
            )
        attr = s.attribute
        if len(attr) > 127 or not _ATTRIBUTE_RE.fullmatch(attr):
            self.add(
                "label_attribute",
                f"{attr!r}: 1-127 letters, digits and hyphens, starting and ending with a "
                "letter or digit",
            )
        if attr.endswith("-metadata"):
            self.add("label_attribute", f"{attr!r} must not end in -metadata")
        task = TASKS.get(s.task)
        if task is not None:
            if task.attribute_rule is AttributeRule.MUST_END_REF and not attr.endswith("-ref"):
                self.add(
                    "label_attribute",
                    f"{attr!r} must end in -ref for {s.task} jobs (e.g. {attr}-ref)",
                )
            if task.attribute_rule is AttributeRule.MUST_NOT_END_REF and attr.endswith("-ref"):
                self.add("label_attribute", f"{attr!r} must not end in -ref for {s.task} jobs")

    def _uris(self) -> None:
        s = self.spec
        for fld, value in (("manifest", s.manifest), ("output", s.output)):
            if len(value) > 1024 or not _S3_RE.fullmatch(value):
                self.add(fld, f"{value!r} is not an S3 URI (s3://bucket/key)")
        if _S3_RE.fullmatch(s.manifest) and s.manifest.endswith("/"):
            self.add("manifest", f"{s.manifest!r} is a prefix; name the manifest file itself")
        for fld in ("label_category_uri", "template_uri"):
            value = getattr(s, fld)
            if value is not None and not _S3_RE.fullmatch(value):
                self.add(fld, f"{value!r} is not an S3 URI (s3://bucket/key)")

    def _role_and_workforce(self, task: TaskType | None) -> None:
        s = self.spec
        role = _ROLE_RE.fullmatch(s.role_arn)
        if not role or len(s.role_arn) < 20:
            self.add(
                "role_arn",
                f"{s.role_arn!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/…)",
            )
        if s.is_public:
            if task is not None and not task.public_workforce_allowed:
                self.add(
                    "workforce",
                    f"the public workforce cannot take {s.task} jobs; give a private or vendor "
                    "workteam ARN",
                )
            price = s.price
            if task is not None and task.prices and price is None:
                allowed = ", ".join(f"{p}" for p in task.prices)
                self.add(
                    "task_price",
                    f"required for the public workforce; allowed for {s.task} (dollars): {allowed}",
                )
            if (
                task is not None
                and task.prices
                and price is not None
                and (not price.is_finite() or price not in task.prices)
            ):
                allowed = ", ".join(f"{p}" for p in task.prices)
                self.add(
                    "task_price",
                    f"{s.task_price!r} is not a public-workforce price for {s.task}; "
                    f"allowed (dollars): {allowed}",
                )
            if (
                s.task_availability_lifetime is not None
                and s.task_availability_lifetime > _PUBLIC_MAX_LIFETIME
            ):
                self.add(
                    "task_availability_lifetime",
                    f"{s.task_availability_lifetime} s exceeds the public workforce's "
                    f"{_PUBLIC_MAX_LIFETIME} s (12 hours)",
                )
            return
        team = _WORKTEAM_RE.fullmatch(s.workforce)
        if not team:
            self.add(
                "workforce",
                f"{s.workforce!r}: 'public' or a workteam ARN "
                "(arn:aws:sagemaker:<region>:<account>:workteam/…)",
            )
        else:
            if team.group(1) != s.region:
                self.add(
                    "workforce", f"workteam is in {team.group(1)!r}; the job runs in {s.region!r}"
                )
            is_vendor = team.group(2) == "394669845002" or "/vendor-crowd/" in s.workforce
            if role and not is_vendor and team.group(2) != role.group(1):
                self.add(
                    "workforce",
                    f"private workteam account {team.group(2)} differs from the role's account "
                    f"{role.group(1)}",
                )
        if s.task_price is not None:
            self.add("task_price", "a task price applies only to the public workforce")
        if (
            s.task_availability_lifetime is not None
            and s.task_availability_lifetime > _PRIVATE_MAX_LIFETIME
        ):
            self.add(
                "task_availability_lifetime",
                f"{s.task_availability_lifetime} s exceeds {_PRIVATE_MAX_LIFETIME} s (30 days)",
            )

    def _human_task(self, task: TaskType | None) -> None:
        s = self.spec
        if s.workers is not None and not 1 <= s.workers <= 9:
            self.add("workers", f"{s.workers}: 1 to 9 workers per object")
        title = s.title
        if title is not None and (not 1 <= len(title) <= 128 or not _TITLE_RE.fullmatch(title)):
            self.add("title", f"{len(title)} characters: 1 to 128 printable characters")
        if s.description is not None and not 1 <= len(s.description) <= 255:
            self.add("description", f"{len(s.description)} characters: 1 to 255")
        if s.keywords and not 1 <= len(s.keywords) <= 5:
            self.add("keywords", f"{len(s.keywords)} keywords: 1 to 5")
        for kw in s.keywords:
            if not 1 <= len(kw) <= 30:
                self.add("keywords", f"{kw!r}: each keyword 1 to 30 characters")
        if s.task_time_limit < 30:
            self.add("task_time_limit", f"{s.task_time_limit} s: at least 30 seconds")
        elif task is not None and s.task_time_limit > task.max_task_seconds:
            self.add(
                "task_time_limit",
                f"{s.task_time_limit} s exceeds {task.max_task_seconds} s for {s.task} tasks",
            )
        lifetime = s.task_availability_lifetime
        if lifetime is not None and lifetime < 60:
            self.add("task_availability_lifetime", f"{lifetime} s: at least 60 seconds")
        if s.max_concurrent_tasks is not None and not 1 <= s.max_concurrent_tasks <= 5000:
            self.add("max_concurrent_tasks", f"{s.max_concurrent_tasks}: 1 to 5000")

    def _labels(self, task: TaskType | None) -> None:
        s = self.spec
        if task is None or (task.modality is Modality.CUSTOM and not s.labels):
            return
        n = len(s.labels)
        if n < task.min_labels:
            self.add("labels", f"{n} labels: {s.task} needs at least {task.min_labels}")
        if task.max_labels is not None and n > task.max_labels:
            self.add("labels", f"{n} labels: {s.task} allows at most {task.max_labels}")
        seen: set[str] = set()
        for label in s.labels:
            if not label.strip():
                self.add("labels", "an empty label")
            elif label in seen:
                self.add("labels", f"{label!r} appears twice")
            seen.add(label)

    def _auto_labeling(self, task: TaskType | None) -> None:
        s = self.spec
        if s.auto_labeling and task is not None and not task.supports_auto_labeling:
            supported = ", ".join(t.name for t in TASKS.values() if t.supports_auto_labeling)
            self.add("auto_labeling", f"not available for {s.task}; only for {supported}")
        if s.initial_model_arn is not None:
            if not s.auto_labeling:
                self.add("initial_model_arn", "needs auto_labeling: true")
            m = _MODEL_RE.fullmatch(s.initial_model_arn)
            if not m:
                self.add(
                    "initial_model_arn",
                    f"{s.initial_model_arn!r} is not a SageMaker model ARN "
                    "(arn:aws:sagemaker:<region>:<account>:model/…)",
                )
            elif m.group(1) != s.region:
                self.add(
                    "initial_model_arn",
                    f"model is in {m.group(1)!r}; the job runs in {s.region!r}",
                )
        if not s.auto_labeling and (s.volume_kms_key or s.vpc_subnets or s.vpc_security_group_ids):
            self.add("vpc_subnets", "volume KMS key and VPC settings apply only to auto labeling")
        if bool(s.vpc_subnets) != bool(s.vpc_security_group_ids):
            self.add("vpc_subnets", "give both vpc_subnets (1-16) and vpc_security_group_ids (1-5)")
        if len(s.vpc_subnets) > 16:
            self.add("vpc_subnets", f"{len(s.vpc_subnets)} subnets: at most 16")
        if len(s.vpc_security_group_ids) > 5:
            self.add("vpc_security_group_ids", f"{len(s.vpc_security_group_ids)}: at most 5")

    def _limits(self) -> None:
        s = self.spec
        if s.max_human_labeled_objects is not None and s.max_human_labeled_objects < 1:
            self.add("max_human_labeled_objects", f"{s.max_human_labeled_objects}: at least 1")
        pct = s.max_percentage_labeled
        if pct is not None and not 1 <= pct <= 100:
            self.add("max_percentage_labeled", f"{pct}: 1 to 100")
        for c in s.content_classifiers:
            if c not in CONTENT_CLASSIFIERS:
                self.add("content_classifiers", f"{c!r}; allowed: {', '.join(CONTENT_CLASSIFIERS)}")
        for fld in ("output_kms_key", "volume_kms_key"):
            key = getattr(s, fld)
            if key is not None and (len(key) > 2048 or not _KMS_RE.fullmatch(key)):
                self.add(fld, f"{key!r} is not a KMS key id or ARN")
        if len(s.tags) > 50:
            self.add("tags", f"{len(s.tags)} tags: at most 50")
        for k, v in s.tags.items():
            if not 1 <= len(k) <= 128 or not _TAG_RE.fullmatch(k) or k.startswith("aws:"):
                self.add("tags", f"key {k!r}: 1-128 letters, digits, spaces and _.:/=+-@")
            if len(v) > 256 or not _TAG_RE.fullmatch(v):
                self.add("tags", f"value of {k!r}: up to 256 letters, digits, spaces and _.:/=+-@")


# ---------------------------------------------------------------------- helpers
def _usd(price: Decimal) -> dict[str, int]:
    tenths = int((price * 1000).to_integral_value())
    return {
        "Dollars": tenths // 1000,
        "Cents": (tenths // 10) % 100,
        "TenthFractionsOfACent": tenths % 10,
    }


def _from_usd(amount: Mapping[str, int]) -> Decimal:
    return (
        Decimal(amount.get("Dollars", 0))
        + Decimal(amount.get("Cents", 0)) / 100
        + Decimal(amount.get("TenthFractionsOfACent", 0)) / 1000
    ).quantize(Decimal("0.001"))


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and parts[3] else None


def _task_from_lambda(pre_arn: str, region: str) -> str:
    suffix = pre_arn.rsplit(":function:PRE-", 1)[-1] if ":function:PRE-" in pre_arn else ""
    account = pre_arn.split(":")[4] if pre_arn.count(":") >= 5 else ""
    if account == LAMBDA_ACCOUNTS.get(region):
        for task in TASKS.values():
            if task.lambda_suffix == suffix and task.name != "custom":
                return task.name
    return "custom"


def _default_title(task: TaskType, labels: Sequence[str]) -> str:
    what = ", ".join(labels[:3]) or "objects"
    titles = {
        "bounding-box": f"Draw a box around each {what}",
        "semantic-segmentation": f"Paint each {what}",
    }
    text = titles.get(task.name, f"{task.name.replace('-', ' ').capitalize()}: {what}")
    return text[:128]


def _default_description(task: TaskType, labels: Sequence[str]) -> str:
    if labels:
        text = f"{task.name.replace('-', ' ').capitalize()} with labels: {', '.join(labels)}"
    else:
        text = f"{task.name.replace('-', ' ').capitalize()}"
    return text[:255]


# ---------------------------------------------------------------------- configs
_FIELDS = {f.name: f for f in dataclasses.fields(LabelingJobSpec)}
_ALIASES = {"manifest_uri": "manifest", "output_uri": "output", "role": "role_arn"}
_TUPLE_FIELDS = {
    "labels",
    "keywords",
    "content_classifiers",
    "vpc_security_group_ids",
    "vpc_subnets",
}
_INT_FIELDS = {
    "workers",
    "task_time_limit",
    "task_availability_lifetime",
    "max_concurrent_tasks",
    "max_human_labeled_objects",
    "max_percentage_labeled",
}
_REQUIRED = ("name", "task", "region", "manifest", "output", "role_arn")


def spec_from_dict(data: Mapping[str, Any], *, source: str = "config") -> LabelingJobSpec:
    """Build a spec from a mapping of its snake_case fields (a parsed YAML or JSON config).

    Unknown fields, wrong types and missing required fields are all reported at once, and then
    the service's rules are checked too.
    """
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = _ALIASES.get(str(raw_key), str(raw_key))
        if key not in _FIELDS:
            problems.append(
                Problem(f"{source}: {raw_key}", f"unknown field; allowed: {', '.join(_FIELDS)}")
            )
            continue
        if key in _TUPLE_FIELDS:
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(Problem(f"{source}: {key}", "expected a list of strings"))
                continue
            value = tuple(value)
        elif key in _INT_FIELDS:
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                problems.append(Problem(f"{source}: {key}", f"{value!r}: expected an integer"))
                continue
        elif key == "auto_labeling":
            if not isinstance(value, bool):
                problems.append(Problem(f"{source}: {key}", f"{value!r}: expected true or false"))
                continue
        elif key == "tags":
            if not isinstance(value, Mapping):
                problems.append(Problem(f"{source}: tags", "expected a mapping of key: value"))
                continue
            value = {str(k): str(v) for k, v in value.items()}
        elif key == "task_price":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                problems.append(Problem(f"{source}: {key}", f"{value!r}: expected dollars"))
                continue
            value = str(value)
        elif value is not None and not isinstance(value, str):
            problems.append(Problem(f"{source}: {key}", f"{value!r}: expected a string"))
            continue
        values[key] = value
    for key in _REQUIRED:
        if key not in values:
            problems.append(Problem(f"{source}: {key}", "required field is missing"))
    if problems:
        raise SpecError(problems)
    spec = LabelingJobSpec(**values)
    spec.check()
    return spec


def load_spec(path: str | Path) -> LabelingJobSpec:
    """Read a YAML or JSON job config file into a checked spec."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([Problem(str(p), f"cannot read: {exc.strerror}")]) from None
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SpecError(
            [Problem(str(p), f"not valid {'JSON' if p.suffix == '.json' else 'YAML'}: {exc}")]
        ) from None
    if not isinstance(data, Mapping):
        raise SpecError([Problem(str(p), "expected a mapping of spec fields")])
    return spec_from_dict(data, source=str(p))
