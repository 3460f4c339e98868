"""A typed labeling-job spec that becomes the exact ``CreateLabelingJob`` request.

A person describes a job in a few typed fields; :meth:`LabelingJobSpec.to_request` fills in every
region-specific ARN and returns boto3's keyword arguments, after :meth:`LabelingJobSpec.check` has
verified every rule the service enforces (botocore checks only types and minimums). All problems
are reported at once, each naming the field, the value and what is allowed.

The rules are data: :data:`_RANGES`, :data:`_SIZES`, :data:`_PATTERNS` and :data:`_CHOICES` hold
each field's own limits, and :data:`_RULES` lists one small function per rule that ties fields
together (a task's time limit, the public workforce's prices, ...). A new field is one entry.
A rule is evaluated whenever the fields it reads are present and valid, so a missing or broken
field is reported once and never drags in problems with fields the user did not set.

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
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from gtkit._config import ConfigReadError, read_config
from gtkit._errors import Problem, SpecError, excerpt
from gtkit._pricing import (
    DEFAULT_OBJECT_FEE,
    PRICE_STEP,
    CostEstimate,
    Pricing,
    check_object_count,
    dollars,
    estimate_cost,
    usd_amount,
)
from gtkit._tasks import (
    LAMBDA_ACCOUNTS,
    PUBLIC_WORKFORCE_ACCOUNT,
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
    "DEFAULT_MAX_CONCURRENT_TASKS",
    "LabelingJobSpec",
    "load_spec",
    "spec_from_dict",
]

#: The guide's minimum dataset size for automated labeling (5,000 strongly suggested).
AUTO_LABELING_MIN_OBJECTS = 1250
#: MaxConcurrentTaskCount's default; more (up to 5,000) needs an AWS Support request.
DEFAULT_MAX_CONCURRENT_TASKS = 1000
CONTENT_CLASSIFIERS = ("FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent")

_NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_ATTRIBUTE_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}")
_S3_RE = re.compile(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?")
_ROLE_RE = re.compile(r"arn:aws[a-z\-]*:iam::(\d{12}):role/?[a-zA-Z_0-9+=,.@\-_/]+")
_WORKTEAM_RE = re.compile(r"arn:aws[a-z\-]*:sagemaker:([a-z0-9\-]*):(\d{12}):workteam/.+")
_WORKFORCE_RE = re.compile(rf"public|{_WORKTEAM_RE.pattern}")
_MODEL_RE = re.compile(r"arn:aws[a-z\-]*:sagemaker:([a-z0-9\-]*):(\d{12}):model/.+")
_LAMBDA_RE = re.compile(r"arn:aws[a-z\-]*:lambda:([a-z0-9\-]*):(\d{12}):function:.+")
_KMS_RE = re.compile(r"[a-zA-Z0-9:/_-]+")
_TITLE_RE = re.compile("[\t\n\r -\ud7ff\ue000-\ufffd]*")
_TAG_RE = re.compile(r"[\w\s.:/=+\-@]*")

_PUBLIC_MAX_LIFETIME = 43_200  # seconds (12 hours) for the public workforce
_PRIVATE_MAX_LIFETIME = 2_592_000  # seconds (30 days) for private and vendor workforces
_MAX_PRICE = Decimal("2.999")  # dollars: AmountInUsd holds Dollars 0-2, Cents 0-99, tenths 0-9
_USUAL_LOWEST_PRICE = Decimal("0.036")  # dollars: the lowest price for most tasks


@dataclass(frozen=True)
class LabelingJobSpec:
    """Everything needed to create one labeling job.

    Times are seconds; ``task_price`` is dollars per task per worker (public workforce only);
    ``workforce`` is ``"public"`` or a private or vendor workteam ARN. Fields left ``None`` take
    the service's or the console's default (``workers``: the task's console default;
    ``label_attribute``: the job name, with ``-ref`` added where the task demands it;
    label-category and template URIs: beside the manifest). Custom tasks (``task="custom"``)
    need your own ``template_uri``; their Lambdas are optional.
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
        """The label attribute name: ``label_attribute`` or, by default, the job name (with
        ``-ref`` added for the tasks whose attribute must end in it)."""
        if self.label_attribute is not None:
            return self.label_attribute
        task = TASKS.get(self.task)
        if task is not None and task.attribute_rule is AttributeRule.MUST_END_REF:
            return f"{self.name}-ref"
        return self.name

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
        """Pre-flight cost range in dollars for ``objects`` objects (at least 1; see
        :func:`estimate_cost`)."""
        return estimate_cost(objects, self.pricing(object_fee), auto_labeling=self.auto_labeling)

    # ------------------------------------------------------------------ checks
    def problems(self) -> list[Problem]:
        """Every rule of the service this spec breaks (empty when it is valid)."""
        return _problems(self)

    def warnings(self, *, objects: int | None = None) -> list[str]:
        """What the service allows but users regret, given the object count (at least 1) if
        known. Only fields the spec sets are warned about."""
        if objects is not None:
            check_object_count(objects)
        task = TASKS.get(self.task)
        return [w for rule in _WARNINGS for w in rule(self, task, objects)]

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
        custom = task.modality is Modality.CUSTOM
        human: dict[str, Any] = {
            "WorkteamArn": public_workteam_arn(self.region) if self.is_public else self.workforce,
            "UiConfig": (
                {"HumanTaskUiArn": task.human_task_ui_arn(self.region)}
                if task.human_task_ui is not None and self.template_uri is None
                else {"UiTemplateS3Uri": self.worker_template_uri}
            ),
            "TaskTitle": self.title or _default_title(task, self.labels),
            "TaskDescription": self.description or _default_description(task, self.labels),
            "NumberOfHumanWorkersPerDataObject": self.workers_per_object,
            "TaskTimeLimitInSeconds": self.task_time_limit,
        }
        # Custom tasks run without Lambdas unless given theirs; built-in tasks use the service's.
        pre = self.pre_lambda_arn or (None if custom else task.pre_lambda_arn(self.region))
        if pre is not None:
            human["PreHumanTaskLambdaArn"] = pre
        acs = self.acs_lambda_arn or (None if custom else task.acs_lambda_arn(self.region))
        if acs is not None:
            human["AnnotationConsolidationConfig"] = {"AnnotationConsolidationLambdaArn": acs}
        if self.keywords:
            human["TaskKeywords"] = list(self.keywords)
        if self.task_availability_lifetime is not None:
            human["TaskAvailabilityLifetimeInSeconds"] = self.task_availability_lifetime
        if self.max_concurrent_tasks is not None:
            human["MaxConcurrentTaskCount"] = self.max_concurrent_tasks
        price = self.price
        if self.is_public and price is not None:
            human["PublicWorkforceTaskPrice"] = {"AmountInUsd": usd_amount(price)}

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
        if built_in.modality is not Modality.CUSTOM:  # the service's own Lambdas: not spec fields
            pre = "" if pre == built_in.pre_lambda_arn(region) else pre
            acs = "" if acs == built_in.acs_lambda_arn(region) else acs
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
            task_price=dollars(price) if price is not None else None,
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
            pre_lambda_arn=pre or None,
            acs_lambda_arn=acs or None,
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
                        f"job {excerpt(r.get('LabelingJobName'))} has no output manifest yet "
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


# ---------------------------------------------------------------------- the rules, as data
#: Whole-number fields: (least, most, unit), None where the service sets no bound. Bounds that
#: depend on the task or the workforce are rules in :data:`_RULES`.
_RANGES: Mapping[str, tuple[int | None, int | None, str]] = types.MappingProxyType(
    {
        "workers": (1, 9, "workers per object"),
        "task_time_limit": (30, None, "seconds"),
        "task_availability_lifetime": (60, _PRIVATE_MAX_LIFETIME, "seconds"),
        "max_concurrent_tasks": (1, 5000, "tasks at once"),
        "max_human_labeled_objects": (1, None, "objects"),
        "max_percentage_labeled": (1, 100, "percent"),
    }
)
#: Text and list fields: (fewest, most, what is counted).
_SIZES: Mapping[str, tuple[int, int, str]] = types.MappingProxyType(
    {
        "title": (1, 128, "characters"),
        "description": (1, 255, "characters"),
        "keywords": (1, 5, "keywords"),
        "vpc_subnets": (1, 16, "subnets"),
        "vpc_security_group_ids": (1, 5, "security groups"),
        "tags": (0, 50, "tags"),
    }
)
#: Text fields with a pattern: (pattern, most characters, what is allowed).
_PATTERNS: Mapping[str, tuple[re.Pattern[str], int, str]] = types.MappingProxyType(
    {
        "name": (_NAME_RE, 63, "1-63 letters, digits and hyphens, starting and ending with a "
                 "letter or digit"),
        "label_attribute": (_ATTRIBUTE_RE, 127, "1-127 letters, digits and hyphens, starting "
                            "and ending with a letter or digit"),
        "manifest": (_S3_RE, 1024, "an S3 URI (s3://bucket/key)"),
        "output": (_S3_RE, 1024, "an S3 URI (s3://bucket/prefix)"),
        "label_category_uri": (_S3_RE, 1024, "an S3 URI (s3://bucket/key)"),
        "template_uri": (_S3_RE, 1024, "an S3 URI (s3://bucket/key)"),
        "role_arn": (_ROLE_RE, 2048, "an IAM role ARN (arn:aws:iam::<12 digits>:role/…)"),
        "workforce": (_WORKFORCE_RE, 256, "'public' or a workteam ARN "
                      "(arn:aws:sagemaker:<region>:<account>:workteam/…)"),
        "initial_model_arn": (_MODEL_RE, 2048, "a SageMaker model ARN "
                              "(arn:aws:sagemaker:<region>:<account>:model/…)"),
        "pre_lambda_arn": (_LAMBDA_RE, 2048, "a Lambda function ARN "
                           "(arn:aws:lambda:<region>:<account>:function:…)"),
        "acs_lambda_arn": (_LAMBDA_RE, 2048, "a Lambda function ARN "
                           "(arn:aws:lambda:<region>:<account>:function:…)"),
        "output_kms_key": (_KMS_RE, 2048, "a KMS key id, alias or ARN"),
        "volume_kms_key": (_KMS_RE, 2048, "a KMS key id, alias or ARN"),
        "title": (_TITLE_RE, 128, "printable characters"),
    }
)  # fmt: skip
#: Fields whose value, or each of whose items, is one of a fixed set: (allowed, what they are).
_CHOICES: Mapping[str, tuple[Sequence[str], str]] = types.MappingProxyType(
    {
        "task": (tuple(TASKS), "a task type"),
        "region": (REGIONS, "a region with Ground Truth's built-in tasks"),
        "content_classifiers": (CONTENT_CLASSIFIERS, "a content classifier"),
    }
)


def _field_problem(name: str, value: Any) -> str | None:
    """What is wrong with one field's own value (None if nothing): its choices, range, size,
    pattern or price. A field left unset (None) is never a problem here."""
    if value is None:
        return None
    if name in _CHOICES:
        allowed, what = _CHOICES[name]
        items = value if isinstance(value, tuple) else (value,)
        wrong = [v for v in items if v not in allowed]
        if wrong:
            return f"{excerpt(wrong[0])} is not {what}; allowed: {', '.join(allowed)}"
    if name in _RANGES:
        low, high, unit = _RANGES[name]
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low} to {high}" if high is not None else f"at least {low}"
            return f"{value}: {bounds} {unit}"
    if name in _SIZES and (isinstance(value, str) or value):  # an empty list is unset
        fewest, most, unit = _SIZES[name]
        if not fewest <= len(value) <= most:
            return f"{len(value)} {unit}: {fewest} to {most}"
    if name in _PATTERNS:
        pattern, longest, allowed = _PATTERNS[name]
        if len(value) > longest or not pattern.fullmatch(value):
            return f"{excerpt(value)}: {allowed}"
    if name == "task_price":
        price = _as_decimal(value)
        if price is None or not 0 <= price <= _MAX_PRICE or price % PRICE_STEP:
            return f"{excerpt(value)}: dollars from 0 to {_MAX_PRICE} in steps of {PRICE_STEP}"
    return None


@dataclass(frozen=True)
class _Context:
    """What a rule reads: the spec, its task (None if unknown) and the fields already found
    broken or missing (rules needing those are skipped: one problem per mistake)."""

    spec: LabelingJobSpec
    task: TaskType | None
    bad: frozenset[str]

    @property
    def known_task(self) -> TaskType:
        assert self.task is not None  # rules that read the task declare it in needs
        return self.task


_RuleCheck = Callable[[_Context], Iterator[Problem]]


@dataclass(frozen=True)
class _Rule:
    """A rule tying fields together: evaluated when every field in ``needs`` is valid."""

    needs: tuple[str, ...]
    check: _RuleCheck


_RULES: list[_Rule] = []


def _rule(*needs: str) -> Callable[[_RuleCheck], _RuleCheck]:
    def register(check: _RuleCheck) -> _RuleCheck:
        _RULES.append(_Rule(needs, check))
        return check

    return register


@_rule("task")
def _attribute_suffix(c: _Context) -> Iterator[Problem]:
    s, task = c.spec, c.known_task
    if s.label_attribute is None and "name" in c.bad:
        return  # the default attribute is the (broken) name: one problem is enough
    attr = s.attribute
    where = "label_attribute" if s.label_attribute is not None else "name"
    why = "" if s.label_attribute is not None else " (the label attribute defaults to the name)"
    if attr.endswith("-metadata"):
        yield Problem(where, f"{excerpt(attr)} must not end in -metadata{why}; set label_attribute")
    if task.attribute_rule is AttributeRule.MUST_END_REF and not attr.endswith("-ref"):
        yield Problem(
            where, f"{excerpt(attr)} must end in -ref for {s.task} jobs (e.g. {attr[:60]}-ref)"
        )
    if task.attribute_rule is AttributeRule.MUST_NOT_END_REF and attr.endswith("-ref"):
        yield Problem(where, f"{excerpt(attr)} must not end in -ref for {s.task} jobs{why}")


@_rule("manifest")
def _manifest_is_a_file(c: _Context) -> Iterator[Problem]:
    if c.spec.manifest.endswith("/"):
        yield Problem("manifest", f"{excerpt(c.spec.manifest)} is a prefix; name the manifest file")


@_rule("keywords")
def _keyword_lengths(c: _Context) -> Iterator[Problem]:
    for kw in c.spec.keywords:
        if not 1 <= len(kw) <= 30:
            yield Problem("keywords", f"{excerpt(kw)}: each keyword 1 to 30 characters")


@_rule("task", "task_time_limit")
def _time_limit_for_task(c: _Context) -> Iterator[Problem]:
    s, task = c.spec, c.known_task
    if s.task_time_limit > task.max_task_seconds:
        yield Problem(
            "task_time_limit",
            f"{s.task_time_limit} s exceeds {task.max_task_seconds} s for {s.task} tasks",
        )


@_rule("task", "workforce")
def _public_workforce_takes_the_task(c: _Context) -> Iterator[Problem]:
    s, task = c.spec, c.known_task
    if s.is_public and not task.public_workforce_allowed:
        yield Problem(
            "workforce",
            f"the public workforce cannot take {s.task} jobs; give a private or vendor "
            "workteam ARN",
        )


@_rule("task", "workforce", "task_price")
def _public_price(c: _Context) -> Iterator[Problem]:
    s, task = c.spec, c.known_task
    if not s.is_public or not task.public_workforce_allowed:
        return
    allowed = ", ".join(str(p) for p in task.prices)
    price = s.price
    if price is None:
        yield Problem(
            "task_price",
            f"required for the public workforce; allowed for {s.task} (dollars): {allowed}",
        )
    elif price not in task.prices:
        yield Problem(
            "task_price",
            f"{excerpt(s.task_price)} is not a public-workforce price for {s.task}; "
            f"allowed (dollars): {allowed}",
        )


@_rule("workforce", "task_availability_lifetime")
def _public_lifetime(c: _Context) -> Iterator[Problem]:
    lifetime = c.spec.task_availability_lifetime
    if c.spec.is_public and lifetime is not None and lifetime > _PUBLIC_MAX_LIFETIME:
        yield Problem(
            "task_availability_lifetime",
            f"{lifetime} s exceeds the public workforce's {_PUBLIC_MAX_LIFETIME} s (12 hours)",
        )


@_rule("workforce", "region")
def _workteam_region(c: _Context) -> Iterator[Problem]:
    s = c.spec
    team = _WORKTEAM_RE.fullmatch(s.workforce)
    if team is not None and team.group(1) != s.region:
        yield Problem(
            "workforce",
            f"workteam is in {excerpt(team.group(1))}; the job runs in {excerpt(s.region)}",
        )


@_rule("workforce", "role_arn")
def _workteam_account(c: _Context) -> Iterator[Problem]:
    s = c.spec
    team = _WORKTEAM_RE.fullmatch(s.workforce)
    role = _ROLE_RE.fullmatch(s.role_arn)
    if team is None or role is None:
        return
    is_vendor = team.group(2) == PUBLIC_WORKFORCE_ACCOUNT or "/vendor-crowd/" in s.workforce
    if not is_vendor and team.group(2) != role.group(1):
        yield Problem(
            "workforce",
            f"private workteam account {team.group(2)} differs from the role's account "
            f"{role.group(1)}",
        )


@_rule("workforce")
def _price_only_for_the_public(c: _Context) -> Iterator[Problem]:
    if not c.spec.is_public and c.spec.task_price is not None:
        yield Problem("task_price", "a task price applies only to the public workforce")


@_rule("task", "labels")
def _labels_for_task(c: _Context) -> Iterator[Problem]:
    s, task = c.spec, c.known_task
    if task.modality is Modality.CUSTOM and not s.labels:
        return
    n = len(s.labels)
    if n < task.min_labels:
        yield Problem("labels", f"{n} labels: {s.task} needs at least {task.min_labels}")
    if task.max_labels is not None and n > task.max_labels:
        yield Problem("labels", f"{n} labels: {s.task} allows at most {task.max_labels}")
    seen: set[str] = set()
    for label in s.labels:
        if not label.strip():
            yield Problem("labels", "an empty label")
        elif label in seen:
            yield Problem("labels", f"{excerpt(label)} appears twice")
        seen.add(label)


@_rule("task")
def _auto_labeling_for_task(c: _Context) -> Iterator[Problem]:
    s, task = c.spec, c.known_task
    if s.auto_labeling and not task.supports_auto_labeling:
        supported = ", ".join(t.name for t in TASKS.values() if t.supports_auto_labeling)
        yield Problem("auto_labeling", f"not available for {s.task}; only for {supported}")


@_rule("initial_model_arn")
def _initial_model(c: _Context) -> Iterator[Problem]:
    s = c.spec
    if s.initial_model_arn is None:
        return
    if not s.auto_labeling:
        yield Problem("initial_model_arn", "needs auto_labeling: true")
    m = _MODEL_RE.fullmatch(s.initial_model_arn)
    if m and "region" not in c.bad and m.group(1) != s.region:
        yield Problem(
            "initial_model_arn",
            f"model is in {excerpt(m.group(1))}; the job runs in {excerpt(s.region)}",
        )


@_rule()
def _auto_labeling_resources(c: _Context) -> Iterator[Problem]:
    s = c.spec
    if not s.auto_labeling and (s.volume_kms_key or s.vpc_subnets or s.vpc_security_group_ids):
        yield Problem("vpc_subnets", "volume KMS key and VPC settings apply only to auto labeling")
    if bool(s.vpc_subnets) != bool(s.vpc_security_group_ids):
        yield Problem(
            "vpc_subnets", "give both vpc_subnets (1-16) and vpc_security_group_ids (1-5)"
        )


@_rule("region")
def _lambda_regions(c: _Context) -> Iterator[Problem]:
    s = c.spec
    for name in ("pre_lambda_arn", "acs_lambda_arn"):
        arn = getattr(s, name)
        m = _LAMBDA_RE.fullmatch(arn) if arn is not None and name not in c.bad else None
        if m and m.group(1) != s.region:
            yield Problem(
                name,
                f"{excerpt(arn)} is in {excerpt(m.group(1))}; the job runs in {excerpt(s.region)}",
            )


@_rule("task")
def _custom_template(c: _Context) -> Iterator[Problem]:
    if c.known_task.modality is Modality.CUSTOM and c.spec.template_uri is None:
        yield Problem("template_uri", "required for a custom task: the S3 URI of your template")


@_rule("tags")
def _tag_texts(c: _Context) -> Iterator[Problem]:
    for k, v in c.spec.tags.items():
        if not 1 <= len(k) <= 128 or not _TAG_RE.fullmatch(k) or k.startswith("aws:"):
            yield Problem("tags", f"key {excerpt(k)}: 1-128 letters, digits, spaces and _.:/=+-@")
        if len(v) > 256 or not _TAG_RE.fullmatch(v):
            yield Problem(
                "tags", f"value of {excerpt(k)}: up to 256 letters, digits, spaces and _.:/=+-@"
            )


_FIELD_ORDER = {f.name: n for n, f in enumerate(dataclasses.fields(LabelingJobSpec))}


def _problems(spec: LabelingJobSpec, *, absent: frozenset[str] = frozenset()) -> list[Problem]:
    """Every problem of ``spec``, in field order. Fields in ``absent`` (missing from a config, or
    of the wrong type, and already reported) are neither checked nor read by any rule."""
    found: list[Problem] = []
    for name in _FIELD_ORDER:
        if name not in absent:
            message = _field_problem(name, getattr(spec, name))
            if message is not None:
                found.append(Problem(name, message))
    bad = frozenset(absent | {p.where for p in found})
    task = TASKS.get(spec.task) if "task" not in bad else None
    context = _Context(spec, task, bad)
    for rule in _RULES:
        if not bad.intersection(rule.needs):
            found.extend(rule.check(context))
    return sorted(found, key=lambda p: _FIELD_ORDER.get(p.where, len(_FIELD_ORDER)))


# ---------------------------------------------------------------------- warnings, as data
_WarningRule = Callable[[LabelingJobSpec, TaskType | None, int | None], Iterator[str]]


def _few_objects_for_auto_labeling(
    s: LabelingJobSpec, task: TaskType | None, objects: int | None
) -> Iterator[str]:
    if s.auto_labeling and objects is not None and objects < AUTO_LABELING_MIN_OBJECTS:
        yield (
            f"auto_labeling: {objects} objects is below the guide's minimum of "
            f"{AUTO_LABELING_MIN_OBJECTS} (5,000 suggested); machines may label few or none"
        )


def _low_price(s: LabelingJobSpec, task: TaskType | None, objects: int | None) -> Iterator[str]:
    price = s.price
    if s.is_public and task is not None and price is not None and price < _USUAL_LOWEST_PRICE:
        yield (
            f"task_price: ${price} is below the usual ${_USUAL_LOWEST_PRICE} for this task; "
            "workers may pass such tasks by and the job may take much longer"
        )


def _one_worker(s: LabelingJobSpec, task: TaskType | None, objects: int | None) -> Iterator[str]:
    if s.workers == 1 and task is not None and task.modality is not Modality.CUSTOM:
        yield (
            "workers: one worker per object gives no consolidation and confidence 0; "
            f"the console default is {task.default_workers}"
        )


def _many_box_labels(
    s: LabelingJobSpec, task: TaskType | None, objects: int | None
) -> Iterator[str]:
    if task is not None and task.name == "bounding-box" and len(s.labels) > 10:
        yield f"labels: {len(s.labels)} labels; crowd-bounding-box shows at most 10"


def _many_concurrent_tasks(
    s: LabelingJobSpec, task: TaskType | None, objects: int | None
) -> Iterator[str]:
    n = s.max_concurrent_tasks
    if n is not None and DEFAULT_MAX_CONCURRENT_TASKS < n <= 5000:
        yield (
            f"max_concurrent_tasks: {n} is above the default {DEFAULT_MAX_CONCURRENT_TASKS}; "
            "the service allows it only after an AWS Support request for your account"
        )


_WARNINGS: tuple[_WarningRule, ...] = (
    _few_objects_for_auto_labeling,
    _low_price,
    _one_worker,
    _many_box_labels,
    _many_concurrent_tasks,
)


# ---------------------------------------------------------------------- helpers
def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


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
_REQUIRED = tuple(
    f.name
    for f in _FIELDS.values()
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)


def _kind(hint: Any) -> str:
    """What a config may give for a field of type ``hint``: text, texts, integer, flag,
    mapping or dollars."""
    options = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
    options.discard(type(None))
    if Decimal in options:
        return "dollars"
    (only,) = options
    origin = typing.get_origin(only) or only
    kinds: dict[Any, str] = {
        str: "text", int: "integer", bool: "flag", tuple: "texts", Mapping: "mapping"
    }  # fmt: skip
    return kinds[origin]


#: What each field takes in a config, read from the spec's own type annotations.
_KINDS = {name: _kind(hint) for name, hint in typing.get_type_hints(LabelingJobSpec).items()}


def _convert(kind: str, value: Any) -> tuple[Any, str | None]:
    """A config value as the spec's type, or an explanation of what was expected."""
    if kind == "texts":
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list) and all(isinstance(v, str) for v in items):
            return tuple(items), None
        return None, "expected a list of strings"
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        return None, f"{excerpt(value)}: expected a whole number"
    if kind == "flag":
        return (
            (value, None)
            if isinstance(value, bool)
            else (None, f"{excerpt(value)}: expected true or false")
        )
    if kind == "mapping":
        if isinstance(value, Mapping):
            return {str(k): str(v) for k, v in value.items()}, None
        return None, "expected a mapping of key: value"
    if kind == "dollars":
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            return str(value), None
        return None, f"{excerpt(value)}: expected dollars"
    return (
        (value, None) if isinstance(value, str) else (None, f"{excerpt(value)}: expected a string")
    )


def _key_name(key: object) -> str:
    """A config key as it reads in a message: as it is, unless long or odd (then an excerpt)."""
    if isinstance(key, str) and len(key) <= 60 and key.isprintable():
        return key
    return excerpt(key)


def spec_from_dict(data: Mapping[str, Any], *, source: str = "config") -> LabelingJobSpec:
    """Build a spec from a mapping of its snake_case fields (a parsed YAML or JSON config).

    Every problem is reported at once: unknown fields, wrong types and missing required fields
    alongside every service rule the fields that are there break. An empty value (``title:``)
    leaves the field unset.
    """
    problems: list[Problem] = []
    values: dict[str, Any] = {}
    absent: set[str] = set()
    for raw_key, raw in data.items():
        key = _ALIASES.get(str(raw_key), str(raw_key))
        if key not in _FIELDS:
            problems.append(
                Problem(_key_name(raw_key), f"unknown field; allowed: {', '.join(_FIELDS)}")
            )
            continue
        if raw is None:
            continue
        value, wrong = _convert(_KINDS[key], raw)
        if wrong is not None:
            problems.append(Problem(key, wrong))
            absent.add(key)
        else:
            values[key] = value
    for key in _REQUIRED:
        if key not in values and key not in absent:
            problems.append(Problem(key, "required field is missing"))
            absent.add(key)
    # Missing or mistyped required fields get a stand-in that no rule reads (they are absent).
    stand_ins = {key: "" for key in _REQUIRED if key in absent}
    spec = LabelingJobSpec(**{**stand_ins, **values})
    problems.extend(_problems(spec, absent=frozenset(absent)))
    if problems:
        order = {name: n for n, name in enumerate(_FIELDS)}
        problems.sort(key=lambda p: order.get(p.where, len(order)))
        raise SpecError([Problem(f"{source}: {p.where}", p.message) for p in problems])
    return spec


def load_spec(path: str | Path) -> LabelingJobSpec:
    """Read a YAML or JSON job config file into a checked spec.

    The file is read as plain data (see :mod:`gtkit._config`): one that is not UTF-8, YAML or
    JSON, whose aliases expand beyond its size limit, that nests too deep, gives a key twice
    or holds a whole number of more than 30 digits is a SpecError of one line naming the file
    and line, raised in a fraction of a second."""
    p = Path(path)
    try:
        data = read_config(p)
    except ConfigReadError as exc:
        raise SpecError([Problem(exc.where, exc.why)], one_line=True) from None
    if not isinstance(data, Mapping):
        raise SpecError([Problem(str(p), "expected a mapping of spec fields")], one_line=True)
    return spec_from_dict(data, source=str(p))
