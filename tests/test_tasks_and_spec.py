"""The task registry and the job spec: every task in every region gives a request botocore
accepts, with the right ARNs, and every service rule botocore does not check is caught first."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator
from hypothesis import given
from hypothesis import strategies as st

from gtkit import _spec
from gtkit._errors import GtkitError, SpecError, UnknownRegionError
from gtkit._spec import LabelingJobSpec, load_spec, spec_from_dict
from gtkit._tasks import LAMBDA_ACCOUNTS, REGIONS, TASKS, AttributeRule, check_region, get_task

_MODEL = botocore.session.get_session().get_service_model("sagemaker")
_CREATE = _MODEL.operation_model("CreateLabelingJob").input_shape

# The task names the CLI and configs accept (issue 3), all of which must be registered.
CLI_TASKS = [
    "bounding-box", "image-classification", "image-classification-multilabel",
    "semantic-segmentation", "text-classification", "text-classification-multilabel",
    "named-entity-recognition", "bounding-box-verification", "bounding-box-adjustment",
    "semantic-segmentation-verification", "semantic-segmentation-adjustment",
    "video-classification", "video-object-detection", "video-object-tracking",
    "point-cloud-object-detection", "point-cloud-object-tracking",
    "point-cloud-semantic-segmentation", "custom",
]  # fmt: skip


def valid_spec(task: str, region: str, **changes: Any) -> LabelingJobSpec:
    """A spec that should be valid for ``task`` in ``region``."""
    t = TASKS[task]
    attribute = "labels-ref" if t.attribute_rule is AttributeRule.MUST_END_REF else "labels"
    base: dict[str, Any] = {
        "name": "job-1",
        "task": task,
        "region": region,
        "manifest": "s3://bucket-a/in/input.manifest",
        "output": "s3://bucket-a/out",
        "role_arn": "arn:aws:iam::123456789012:role/service-role/GT",
        "labels": ("cat", "dog"),
        "label_attribute": attribute,
    }
    if t.public_workforce_allowed:
        base["task_price"] = str(t.prices[0])
    else:
        base["workforce"] = f"arn:aws:sagemaker:{region}:123456789012:workteam/private-crowd/team"
    if task == "custom":
        base["pre_lambda_arn"] = f"arn:aws:lambda:{region}:123456789012:function:pre"
        base["acs_lambda_arn"] = f"arn:aws:lambda:{region}:123456789012:function:acs"
        base["template_uri"] = "s3://bucket-a/template.liquid.html"
    base.update(changes)
    return LabelingJobSpec(**base)


def botocore_errors(request: Any) -> str:
    report = ParamValidator().validate(request, _CREATE)
    return report.generate_report() if report.has_errors() else ""


def test_every_cli_task_name_is_registered() -> None:
    assert set(CLI_TASKS) <= set(TASKS)
    assert len(REGIONS) == 12


@pytest.mark.parametrize("region", REGIONS)
@pytest.mark.parametrize("task", sorted(TASKS))
def test_request_passes_botocore_and_carries_the_regions_arns(task: str, region: str) -> None:
    t = TASKS[task]
    spec = valid_spec(task, region, auto_labeling=t.supports_auto_labeling)
    request = spec.to_request()
    assert botocore_errors(request) == ""
    human = request["HumanTaskConfig"]
    account = LAMBDA_ACCOUNTS[region]
    if task == "custom":
        assert human["PreHumanTaskLambdaArn"] == spec.pre_lambda_arn
    else:
        assert human["PreHumanTaskLambdaArn"] == (
            f"arn:aws:lambda:{region}:{account}:function:PRE-{t.lambda_suffix}"
        )
        consolidation = human["AnnotationConsolidationConfig"]
        assert consolidation["AnnotationConsolidationLambdaArn"] == (
            f"arn:aws:lambda:{region}:{account}:function:ACS-{t.lambda_suffix}"
        )
    if t.supports_auto_labeling:
        assert request["LabelingJobAlgorithmsConfig"]["LabelingJobAlgorithmSpecificationArn"] == (
            f"arn:aws:sagemaker:{region}:027400017018:"
            f"labeling-job-algorithm-specification/{t.algorithm}"
        )
    ui = human["UiConfig"]
    if t.human_task_ui:
        assert ui == {
            "HumanTaskUiArn": f"arn:aws:sagemaker:{region}:394669845002:human-task-ui/"
            f"{t.human_task_ui}"
        }
    else:
        assert set(ui) == {"UiTemplateS3Uri"}
    if t.public_workforce_allowed:
        assert human["WorkteamArn"] == (
            f"arn:aws:sagemaker:{region}:394669845002:workteam/public-crowd/default"
        )


@pytest.mark.parametrize("task", sorted(TASKS))
def test_describe_round_trip(task: str) -> None:
    t = TASKS[task]
    spec = valid_spec(
        task,
        "eu-west-1",
        auto_labeling=t.supports_auto_labeling,
        keywords=("images",),
        tags={"team": "vision"},
        max_human_labeled_objects=500,
        content_classifiers=("FreeOfAdultContent",),
    )
    request = spec.to_request()
    describe = json.loads(json.dumps(request))
    describe["LabelingJobArn"] = "arn:aws:sagemaker:eu-west-1:123456789012:labeling-job/job-1"
    describe["LabelingJobStatus"] = "InProgress"
    back = LabelingJobSpec.from_describe(describe, labels=spec.labels)
    assert back.task == task
    assert back.to_request() == request


def test_blog_job_request() -> None:
    spec = valid_spec(
        "bounding-box", "us-east-1", labels=("bird",), workers=5, task_price=0.036,
        auto_labeling=True,
    )  # fmt: skip
    human = spec.to_request()["HumanTaskConfig"]
    assert human["NumberOfHumanWorkersPerDataObject"] == 5
    assert human["PublicWorkforceTaskPrice"]["AmountInUsd"] == {
        "Dollars": 0,
        "Cents": 3,
        "TenthFractionsOfACent": 6,
    }
    estimate = spec.estimate(1000)
    assert estimate.high == pytest.approx(1000 * (0.08 + 5 * 0.036))


@pytest.mark.parametrize("price", ["1.200", "0.012", "0.960"])
def test_price_decomposition_is_exact(price: str) -> None:
    spec = valid_spec("image-classification", "us-east-1", task_price=price)
    usd = spec.to_request()["HumanTaskConfig"]["PublicWorkforceTaskPrice"]["AmountInUsd"]
    total = Decimal(usd["Dollars"]) + Decimal(usd["Cents"]) / 100
    total += Decimal(usd["TenthFractionsOfACent"]) / 1000
    assert total == Decimal(price)


def test_every_violation_is_reported_at_once() -> None:
    bad = valid_spec(
        "semantic-segmentation",
        "us-east-1",
        name="bad_name!",
        label_attribute="x-metadata",
        workers=10,
        task_price=5,
        role_arn="foo",
        manifest="http:/nope",
        task_time_limit=28_801,
        max_concurrent_tasks=6000,
        labels=("a", "a"),
    )
    with pytest.raises(SpecError) as exc:
        bad.to_request()
    fields = {p.where for p in exc.value.problems}
    assert {
        "name", "label_attribute", "workers", "task_price", "role_arn", "manifest",
        "task_time_limit", "max_concurrent_tasks", "labels",
    } <= fields  # fmt: skip
    # botocore alone would have let most of these through to the service
    assert "x-metadata" in str(exc.value) and "must end in -ref" in str(exc.value)


def test_rules_botocore_does_not_check_are_caught() -> None:
    request: Any = valid_spec("bounding-box", "us-east-1").to_request()
    request["LabelingJobName"] = "a" * 64
    request["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] = 10
    request["HumanTaskConfig"]["PublicWorkforceTaskPrice"]["AmountInUsd"]["Dollars"] = 5
    assert botocore_errors(request) == ""  # botocore lets all three through to the service
    spec = valid_spec("bounding-box", "us-east-1", name="a" * 64, workers=10, task_price="5")
    with pytest.raises(SpecError) as exc:
        spec.to_request()
    assert {p.where for p in exc.value.problems} == {"name", "workers", "task_price"}


def test_auto_labeling_only_for_supported_tasks() -> None:
    spec = valid_spec("image-classification-multilabel", "us-east-1", auto_labeling=True)
    with pytest.raises(SpecError, match="auto_labeling: not available"):
        spec.check()
    assert {t for t, v in TASKS.items() if v.supports_auto_labeling} == {
        "bounding-box", "image-classification", "text-classification", "semantic-segmentation",
    }  # fmt: skip


def test_arn_regions_and_accounts_must_agree() -> None:
    spec = valid_spec(
        "bounding-box",
        "us-east-1",
        task_price=None,
        workforce="arn:aws:sagemaker:us-west-2:999999999999:workteam/private-crowd/t",
        auto_labeling=True,
        initial_model_arn="arn:aws:sagemaker:eu-west-1:123456789012:model/m",
    )
    messages = [str(p) for p in spec.problems()]
    assert any("workteam is in 'us-west-2'" in m for m in messages)
    assert any("differs from the role's account" in m for m in messages)
    assert any("model is in 'eu-west-1'" in m for m in messages)


def test_public_workforce_needs_a_price_and_cannot_take_point_clouds() -> None:
    problems = valid_spec("bounding-box", "us-east-1", task_price=None).problems()
    assert [p.where for p in problems] == ["task_price"]
    assert "0.036" in problems[0].message
    pc = valid_spec("point-cloud-object-detection", "us-east-1", workforce="public")
    assert "workforce" in {p.where for p in pc.problems()}


def test_segmentation_verification_must_not_end_in_ref() -> None:
    spec = valid_spec("semantic-segmentation-verification", "us-east-1", label_attribute="v-ref")
    assert [p.where for p in spec.problems()] == ["label_attribute"]


def test_time_limits_depend_on_the_task() -> None:
    assert valid_spec("bounding-box", "us-east-1", task_time_limit=28_800).problems() == []
    assert (
        valid_spec("video-object-tracking", "us-east-1", task_time_limit=100_000).problems() == []
    )
    assert valid_spec("bounding-box", "us-east-1", task_availability_lifetime=43_201).problems()


def test_unknown_region_lists_the_regions() -> None:
    with pytest.raises(UnknownRegionError) as exc:
        check_region("mars-north-1")
    assert "us-east-1" in str(exc.value) and "ap-southeast-2" in str(exc.value)
    with pytest.raises(SpecError, match="allowed: bounding-box"):
        get_task("boxes")


def test_warnings_for_what_users_regret() -> None:
    spec = valid_spec("image-classification", "us-east-1", task_price="0.012", auto_labeling=True)
    warnings = spec.warnings(objects=1000)
    assert any("1250" in w for w in warnings)
    assert any("below the usual" in w for w in warnings)
    assert spec.problems() == []
    assert not valid_spec("bounding-box", "us-east-1").warnings(objects=2000)


def test_chaining_continues_or_adds_an_attribute() -> None:
    first = valid_spec("bounding-box", "us-east-1", auto_labeling=True)
    previous = {
        "LabelingJobName": "job-1",
        "LabelAttributeName": "labels",
        "LabelingJobStatus": "Completed",
        "LabelingJobOutput": {
            "OutputDatasetS3Uri": "s3://bucket-a/out/job-1/manifests/output/output.manifest",
            "FinalActiveLearningModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/final",
        },
    }
    cont = first.chain(previous, name="job-2")
    assert cont.manifest.endswith("job-1/manifests/output/output.manifest")
    assert cont.attribute == "labels"
    assert cont.initial_model_arn == "arn:aws:sagemaker:us-east-1:123456789012:model/final"
    assert cont.problems() == []
    added = first.chain(previous, name="job-3", label_attribute="second")
    assert added.attribute == "second"
    with pytest.raises(SpecError, match="no output manifest"):
        first.chain({"LabelingJobName": "x", "LabelingJobStatus": "InProgress"}, name="y")


def test_config_file_round_trip_and_problems(tmp_path: Path) -> None:
    config = tmp_path / "job.yaml"
    config.write_text(
        "name: birds\ntask: bounding-box\nregion: us-east-1\n"
        "manifest: s3://bucket-a/in.manifest\noutput: s3://bucket-a/out\n"
        "role_arn: arn:aws:iam::123456789012:role/GT\nlabels: [bird]\nworkers: 5\n"
        "task_price: 0.036\nauto_labeling: true\n"
    )
    spec = load_spec(config)
    assert spec.price == Decimal("0.036") and spec.workers_per_object == 5
    with pytest.raises(SpecError) as exc:
        spec_from_dict({"name": "x", "task": "bounding-box", "workers": "five", "colour": 1})
    wheres = {p.where.split(": ")[1] for p in exc.value.problems}
    assert {"workers", "colour", "region", "manifest", "output", "role_arn"} <= wheres


# ---------------------------------------------------------------------- rules as data (issue 17)
SIX_MISTAKES = {
    "name": "bad_name!",  # 1
    "task": "bounding-box",
    "region": "us-east-1",
    "manifest": "s3://bucket-a/in.manifest",
    "output": "s3://bucket-a/out",
    # role_arn missing: 2
    "labels": ["bird"],
    "workers": 12,  # 3
    "task_price": 5,  # 4
    "task_time_limit": 10,  # 5
    "max_concurrent_tasks": 6000,  # 6
}


def test_a_missing_field_is_one_more_problem_among_all_the_others() -> None:
    with pytest.raises(SpecError) as exc:
        spec_from_dict(SIX_MISTAKES, source="job.yaml")
    wheres = [p.where for p in exc.value.problems]
    assert wheres == [
        "job.yaml: name", "job.yaml: role_arn", "job.yaml: workers", "job.yaml: task_price",
        "job.yaml: task_time_limit", "job.yaml: max_concurrent_tasks",
    ]  # fmt: skip
    assert "required field is missing" in str(exc.value)


def test_a_bad_name_does_not_drag_in_the_attribute_the_user_never_set() -> None:
    spec = valid_spec("bounding-box", "us-east-1", name="bad_name!", label_attribute=None)
    assert [p.where for p in spec.problems()] == ["name"]
    # Where the service demands -ref, the default attribute has it.
    seg = valid_spec("semantic-segmentation", "us-east-1", label_attribute=None)
    assert seg.problems() == [] and seg.to_request()["LabelAttributeName"] == "job-1-ref"
    # A default attribute the service refuses is reported once, on the field the user set.
    ends = valid_spec("bounding-box", "us-east-1", name="birds-metadata", label_attribute=None)
    assert [p.where for p in ends.problems()] == ["name"]
    assert "set label_attribute" in ends.problems()[0].message


def test_an_unknown_task_or_region_is_one_problem_each() -> None:
    spec = replace(valid_spec("bounding-box", "us-east-1"), task="boxes", region="mars-north-1")
    assert [p.where for p in spec.problems()] == ["task", "region"]
    assert "bounding-box" in spec.problems()[0].message
    private = replace(
        valid_spec("bounding-box", "us-east-1", task_price=None),
        region="mars-north-1",
        workforce="arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/t",
    )
    assert [p.where for p in private.problems()] == ["region"]


def test_custom_tasks_need_a_template_but_no_lambdas() -> None:
    spec = valid_spec("custom", "us-east-1", pre_lambda_arn=None, acs_lambda_arn=None)
    assert spec.problems() == []
    request = spec.to_request()
    assert botocore_errors(request) == ""
    human = request["HumanTaskConfig"]
    assert "PreHumanTaskLambdaArn" not in human and "AnnotationConsolidationConfig" not in human
    assert human["UiConfig"] == {"UiTemplateS3Uri": "s3://bucket-a/template.liquid.html"}
    describe = {**json.loads(json.dumps(request)), "LabelingJobArn":
                "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/job-1"}  # fmt: skip
    assert LabelingJobSpec.from_describe(describe, labels=spec.labels).to_request() == request
    no_template = valid_spec("custom", "us-east-1", template_uri=None, pre_lambda_arn=None)
    assert [p.where for p in no_template.problems()] == ["template_uri"]


def test_more_than_1000_concurrent_tasks_warns_of_the_support_request() -> None:
    assert valid_spec("bounding-box", "us-east-1", max_concurrent_tasks=1000).warnings() == []
    spec = valid_spec("bounding-box", "us-east-1", max_concurrent_tasks=1001)
    assert spec.problems() == []
    assert any("AWS Support" in w for w in spec.warnings())


@pytest.mark.parametrize("objects", [0, -5])
def test_object_counts_below_one_are_refused(objects: int) -> None:
    spec = valid_spec("bounding-box", "us-east-1")
    with pytest.raises(GtkitError, match=rf"objects={objects}: .* at least 1"):
        spec.estimate(objects)
    with pytest.raises(GtkitError, match="objects"):
        spec.warnings(objects=objects)


def test_every_rule_table_names_a_spec_field() -> None:
    fields = set(LabelingJobSpec.__dataclass_fields__)
    for table in (_spec._RANGES, _spec._SIZES, _spec._PATTERNS, _spec._CHOICES):
        assert set(table) <= fields, set(table) - fields
    for rule in _spec._RULES:
        assert set(rule.needs) <= fields, rule


_CONFIG_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 100_000), st.floats(allow_nan=True),
    st.text(max_size=70), st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)  # fmt: skip


@given(
    st.dictionaries(
        st.sampled_from([*LabelingJobSpec.__dataclass_fields__, "colour"]), _CONFIG_VALUES
    )
)
def test_any_config_gives_a_valid_spec_or_a_spec_error(changes: dict[str, Any]) -> None:
    data: dict[str, Any] = {**SIX_MISTAKES, "name": "birds", "workers": 5, "task_price": 0.036,
                            "task_time_limit": 300, "max_concurrent_tasks": 100,
                            "role_arn": "arn:aws:iam::123456789012:role/GT", **changes}  # fmt: skip
    try:
        spec = spec_from_dict(data)
    except SpecError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
        return
    assert spec.problems() == []
    assert botocore_errors(spec.to_request()) == ""
