"""The emulated Ground Truth service: answers SageMaker labeling-job calls inside botocore.

A ``before-call.sagemaker`` handler (registered where every new botocore session picks it up,
as moto does, and on sessions that already exist when an emulator starts) answers
CreateLabelingJob, DescribeLabelingJob, ListLabelingJobs, StopLabelingJob, CreateWorkteam and
DescribeWorkteam while an emulator is active; every other call passes through (to moto, or to
AWS). Responses have botocore's parsed shape; errors are the service's modeled exceptions
(ValidationException, ResourceInUse, ResourceNotFound).

Every valid request creates a job, as the service would; jobs of tasks the emulator cannot
simulate workers for (anything but the four with automated labeling: bounding boxes,
single-label image and text classification, semantic segmentation; custom templates included)
then end Failed with a reason saying so.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import botocore.handlers
import numpy as np
import numpy.typing as npt
import orjson
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError

from gtkit._io import new_session
from gtkit._masks import read_mask
from gtkit._references import References, file_name
from gtkit._spec import LabelingJobSpec
from gtkit._tasks import public_workteam_arn
from gtkit.emulator._simulation import (
    JobState,
    ModelBehaviour,
    Truth,
    Workforce,
    finish,
    step,
)

SUPPORTED_TASKS = (
    "bounding-box", "image-classification", "text-classification", "semantic-segmentation",
)  # fmt: skip
_OPERATIONS = (
    "CreateLabelingJob", "DescribeLabelingJob", "ListLabelingJobs", "StopLabelingJob",
    "CreateWorkteam", "DescribeWorkteam",
)  # fmt: skip


class _Raw:
    def stream(self, **_: Any) -> list[bytes]:
        return [b""]


def _http(status: int) -> AWSResponse:
    return AWSResponse("https://sagemaker.emulated.gtkit", status, HTTPHeaders(), _Raw())


def _metadata() -> dict[str, Any]:
    return {
        "RequestId": str(uuid.uuid4()),
        "HTTPStatusCode": 200,
        "HTTPHeaders": {"x-gtkit-emulator": "1"},
        "RetryAttempts": 0,
    }


class _ServiceError(Exception):
    """An error the service would answer with; botocore turns it into its modeled exception."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Job:
    request: dict[str, Any]
    state: JobState | None
    arn: str
    created: datetime
    status: str = "Initializing"
    failure: str | None = None
    steps: int = 0
    stop_requested: bool = False
    steps_since_stop: int = 0


@dataclass(frozen=True)
class _ReferenceIndex:
    """Reference boxes (n, 4) px and class names as arrays, with each image's row positions."""

    boxes: npt.NDArray[np.float64]
    box_classes: npt.NDArray[np.object_]
    box_rows: dict[str, npt.NDArray[np.intp]]
    classes: npt.NDArray[np.object_]
    class_rows: dict[str, npt.NDArray[np.intp]]

    @classmethod
    def of(cls, references: References) -> _ReferenceIndex:
        b, c = references.boxes, references.classes

        def rows(frame: Any) -> dict[str, npt.NDArray[np.intp]]:
            groups = frame.groupby("file_name", sort=False).indices if len(frame) else {}
            return {str(k): v for k, v in groups.items()}

        return cls(
            boxes=b[["left", "top", "width", "height"]].to_numpy(dtype=np.float64).reshape(-1, 4)
            if len(b)
            else np.empty((0, 4), dtype=np.float64),
            box_classes=b["class_name"].to_numpy(dtype=object) if len(b) else np.empty(0, object),
            box_rows=rows(b),
            classes=c["class_name"].to_numpy(dtype=object) if len(c) else np.empty(0, object),
            class_rows=rows(c),
        )


@dataclass
class Backend:
    """Jobs per account and region, and how their simulated workers and models behave."""

    references: References | None
    seed: int
    workforce: Workforce
    model: ModelBehaviour
    account: str = "123456789012"
    jobs: dict[tuple[str, str], _Job] = field(default_factory=dict)  # (region, lower name)
    workteams: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (region, name)
    lock: threading.Lock = field(default_factory=threading.Lock)

    clients: dict[str, Any] = field(default_factory=dict)  # S3 clients by region
    _index: _ReferenceIndex | None = None
    _store: Any = None  # moto's S3 backend of the account, once found

    def put(self, region: str, uri: str, data: bytes) -> None:
        """Write an output file: straight into moto's S3 backend (a job writes thousands of
        files, and each boto3 call through moto takes tens of milliseconds), the same object
        a boto3 put_object makes."""
        bucket, _, key = uri[5:].partition("/")
        from moto.s3.exceptions import MissingBucket

        if self._store is None:
            from moto.s3.models import s3_backends

            sts = new_session().client("sts", region_name=region)
            self._store = s3_backends[sts.get_caller_identity()["Account"]]["aws"]
        try:
            self._store.get_bucket(bucket)
        except MissingBucket:  # let S3 answer as it would
            self.s3(region).put_object(Bucket=bucket, Key=key, Body=data)
            return
        self._store.put_object(bucket, key, data)

    def s3(self, region: str) -> Any:
        """An S3 client in ``region`` (made once: a describe must stay cheap)."""
        if region not in self.clients:
            self.clients[region] = new_session().client("s3", region_name=region)
        return self.clients[region]

    # ------------------------------------------------------------------ dispatch
    def handle(self, operation: str, region: str, params: dict[str, Any]) -> dict[str, Any] | None:
        with self.lock:
            if operation == "CreateLabelingJob":
                return self.create(region, params)
            if operation == "DescribeLabelingJob":
                return self.describe(region, params)
            if operation == "ListLabelingJobs":
                return self.list(region, params)
            if operation == "StopLabelingJob":
                return self.stop(region, params)
            if operation == "CreateWorkteam":
                return self.create_workteam(region, params)
            if operation == "DescribeWorkteam":
                return self.describe_workteam(region, params)
        return None

    def _get(self, region: str, params: Mapping[str, Any]) -> _Job:
        name = str(params.get("LabelingJobName", ""))
        job = self.jobs.get((region, name.lower()))
        if job is None:
            raise _ServiceError("ResourceNotFound", f"Could not find labeling job '{name}'.")
        return job

    # ------------------------------------------------------------------ create
    def create(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params.get("LabelingJobName", ""))
        if (region, name.lower()) in self.jobs:
            raise _ServiceError("ResourceInUse", f"A job with this name already exists: {name}")
        now = datetime.now(timezone.utc)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the service keeps ms
        arn = f"arn:aws:sagemaker:{region}:{self.account}:labeling-job/{name.lower()}"
        s3 = self.s3(region)
        labels = self._labels(s3, params)
        describe_like = {**params, "LabelingJobArn": arn}
        try:
            spec = LabelingJobSpec.from_describe(describe_like, labels=labels)
        except (KeyError, TypeError, IndexError) as exc:
            raise _ServiceError("ValidationException", f"Malformed request: {exc!r}") from None
        problems = spec.problems()
        if problems:
            raise _ServiceError("ValidationException", "; ".join(str(p) for p in problems))
        job = _Job(request=params, state=None, arn=arn, created=now)
        self.jobs[(region, name.lower())] = job
        if spec.task not in SUPPORTED_TASKS:
            job.failure = (
                f"The gtkit emulator accepted this valid {spec.task} request but simulates "
                f"workers only for {', '.join(SUPPORTED_TASKS)} jobs"
            )
            return {"LabelingJobArn": arn, "ResponseMetadata": _metadata()}
        try:
            job.state = self._state(spec, params, s3, now)
        except _InputError as exc:
            job.failure = f"ClientError: {exc}"
        return {"LabelingJobArn": arn, "ResponseMetadata": _metadata()}

    def _labels(self, s3: Any, params: Mapping[str, Any]) -> list[str]:
        uri = params.get("LabelCategoryConfigS3Uri")
        if not uri:
            return []
        bucket, _, key = str(uri)[5:].partition("/")
        try:
            doc = orjson.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            return [str(item["label"]) for item in doc["labels"]]
        except ClientError:
            raise _ServiceError(
                "ValidationException",
                f"Cannot read the label category file {uri}",
            ) from None
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise _ServiceError(
                "ValidationException",
                f"Label category file {uri} is not valid: {exc!r}",
            ) from None

    def _state(
        self, spec: LabelingJobSpec, params: Mapping[str, Any], s3: Any, now: datetime
    ) -> JobState:
        bucket, _, key = spec.manifest[5:].partition("/")
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            raise _InputError(f"Failed to read the input manifest {spec.manifest}: {exc}") from None
        inline = spec.task == "text-classification"
        key = "source" if inline else "source-ref"
        sources: list[str] = []
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                sources.append(str(record[key]))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                raise _InputError(f"Input manifest line {number} has no valid {key}") from None
        truth = [self.truth(s, inline=inline) for s in sources]
        human = params["HumanTaskConfig"]
        public = human["WorkteamArn"] == public_workteam_arn(spec.region)
        seed = job_seed(spec.name, self.seed)
        return JobState(
            name=spec.name,
            attribute=spec.attribute,
            task=spec.task,
            labels=list(spec.labels),
            sources=sources,
            truth=truth,
            workers=spec.workers_per_object,
            worker_prefix=f"public.{spec.region}." if public else f"private.{spec.region}.",
            auto_labeling=spec.auto_labeling,
            output_prefix=f"{spec.output.rstrip('/')}/{spec.name}",
            max_batch=int(human.get("MaxConcurrentTaskCount", 1000)),
            created=now,
            rng=np.random.default_rng(seed % (2**63)),
            workforce=self.workforce,
            model=self.model,
            max_human=spec.max_human_labeled_objects,
            results=[None] * len(sources),
            inline=inline,
        )

    def truth(self, source: str, *, inline: bool = False) -> Truth | None:
        """The reference labels of the object at ``source`` (by its whole path where the
        references keep images of one file name apart by path, else by file name; an
        ``inline`` text by the text itself; a mask by the file name's stem), if any."""
        if self.references is None:
            return None
        path = source.strip().rstrip("/")
        if inline:
            name = source.strip()
        elif path in self.references.images:
            name = path
        else:
            name = file_name(source) or ""
        masks = self.references.masks
        if masks:
            stem = name.rsplit(".", 1)[0] if "." in name[1:] else name
            if stem not in masks:
                return None
            path = masks[stem]
            mask = read_mask(Path(path).read_bytes(), self.references.mask_colors, name=path)
            height, width = mask.shape
            return Truth(np.empty((0, 4)), [], width, height, mask=mask)
        if name not in self.references.images:
            return None
        index = self._reference_index()
        rows = index.box_rows.get(name)
        size = self.references.image_sizes.get(name, (0, 0))
        if rows is not None:
            boxes, classes = index.boxes[rows], index.box_classes[rows].tolist()
        else:
            boxes = np.empty((0, 4), dtype=np.float64)
            class_rows = index.class_rows.get(name)
            classes = index.classes[class_rows].tolist() if class_rows is not None else []
        return Truth(
            boxes=boxes, classes=[str(c) for c in classes], width=int(size[0]), height=int(size[1])
        )

    def _reference_index(self) -> _ReferenceIndex:
        """The references as arrays with each image's rows, made once: a table scan per object
        made 1,000 objects take seconds."""
        if self._index is None:
            assert self.references is not None
            self._index = _ReferenceIndex.of(self.references)
        return self._index

    # ------------------------------------------------------------------ progress
    def _advance(self, job: _Job) -> None:
        """One describe, one simulated step: Initializing, then one iteration per call."""
        if job.status in ("Completed", "Failed", "Stopped"):
            return
        job.steps += 1
        if job.failure is not None:
            job.status = "Failed"
            return
        state = job.state
        assert state is not None
        region = job.arn.split(":")[3]

        def write(uri: str, data: bytes) -> None:
            self.put(region, uri, data)

        if job.stop_requested:
            if job.steps_since_stop == 0:  # seen as Stopping once, as a real job lingers there
                job.steps_since_stop += 1
                return
            finish(state, write)
            job.status = "Stopped"
            return
        if job.status == "Initializing":
            job.status = "InProgress"
            return
        step(state, write)
        if state.done:
            job.status = "Completed"

    def describe(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        job = self._get(region, params)
        self._advance(job)
        return {**self._describe(job), "ResponseMetadata": _metadata()}

    def _describe(self, job: _Job) -> dict[str, Any]:
        state = job.state
        counters = (
            state.counters()
            if state is not None
            else {"TotalLabeled": 0, "HumanLabeled": 0, "MachineLabeled": 0,
                  "FailedNonRetryableError": 0, "Unlabeled": 0}
        )  # fmt: skip
        modified = state.now() if state is not None else job.created
        out: dict[str, Any] = {
            "LabelingJobStatus": job.status,
            "LabelCounters": counters,
            "CreationTime": job.created,
            "LastModifiedTime": max(modified, job.created),
            "JobReferenceCode": job.arn.split(":")[4] + job.arn.rsplit("/", 1)[-1][:8],
            "LabelingJobName": job.request["LabelingJobName"],
            "LabelingJobArn": job.arn,
        }
        for key in ("LabelAttributeName", "InputConfig", "OutputConfig", "RoleArn",
                    "LabelCategoryConfigS3Uri", "StoppingConditions", "LabelingJobAlgorithmsConfig",
                    "HumanTaskConfig", "Tags"):  # fmt: skip
            if key in job.request:
                out[key] = job.request[key]
        if job.failure is not None and job.status == "Failed":
            out["FailureReason"] = job.failure[:1024]
        if job.status in ("Completed", "Stopped") and state is not None:
            output: dict[str, Any] = {
                "OutputDatasetS3Uri": f"{state.output_prefix}/manifests/output/output.manifest"
            }
            if state.auto_labeling:
                region = job.arn.split(":")[3]
                output["FinalActiveLearningModelArn"] = (
                    f"arn:aws:sagemaker:{region}:{self.account}:model/{state.name}-final-model"
                )
            out["LabelingJobOutput"] = output
        return out

    def list(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        jobs = [j for (r, _), j in self.jobs.items() if r == region]
        if "NameContains" in params:
            jobs = [
                j for j in jobs if str(params["NameContains"]).lower() in j.arn.rsplit("/", 1)[-1]
            ]
        if "StatusEquals" in params:
            jobs = [j for j in jobs if j.status == params["StatusEquals"]]
        order = {id(j): n for n, j in enumerate(self.jobs.values())}  # creation order breaks ties
        key = {
            "Name": lambda j: (j.request["LabelingJobName"], order[id(j)]),
            "Status": lambda j: (j.status, order[id(j)]),
        }.get(str(params.get("SortBy", "CreationTime")), lambda j: (j.created, order[id(j)]))
        jobs.sort(key=key, reverse=params.get("SortOrder", "Ascending") == "Descending")
        start = int(params.get("NextToken", 0) or 0)
        size = int(params.get("MaxResults", 10))
        page = jobs[start : start + size]
        summaries = []
        for job in page:
            d = self._describe(job)
            human = d["HumanTaskConfig"]
            summary: dict[str, Any] = {
                k: d[k]
                for k in ("LabelingJobName", "LabelingJobArn", "CreationTime", "LastModifiedTime",
                          "LabelingJobStatus", "LabelCounters", "FailureReason",
                          "LabelingJobOutput", "InputConfig")
                if k in d
            }  # fmt: skip
            summary["WorkteamArn"] = human["WorkteamArn"]
            if "PreHumanTaskLambdaArn" in human:
                summary["PreHumanTaskLambdaArn"] = human["PreHumanTaskLambdaArn"]
            acs = human.get("AnnotationConsolidationConfig", {}).get(
                "AnnotationConsolidationLambdaArn"
            )
            if acs:
                summary["AnnotationConsolidationLambdaArn"] = acs
            summaries.append(summary)
        out: dict[str, Any] = {"LabelingJobSummaryList": summaries, "ResponseMetadata": _metadata()}
        if start + size < len(jobs):
            out["NextToken"] = str(start + size)
        return out

    def stop(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        job = self._get(region, params)
        if job.status in ("Completed", "Failed", "Stopped"):
            raise _ServiceError(
                "ValidationException",
                f"Labeling job {job.request['LabelingJobName']} is already {job.status}",
            )
        job.stop_requested = True
        job.status = "Stopping"
        return {"ResponseMetadata": _metadata()}

    # ------------------------------------------------------------------ workteams
    def create_workteam(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        name = str(params.get("WorkteamName", ""))
        if (region, name) in self.workteams:
            raise _ServiceError("ResourceInUse", f"Workteam {name} already exists")
        now = datetime.now(timezone.utc).replace(microsecond=0)
        arn = f"arn:aws:sagemaker:{region}:{self.account}:workteam/private-crowd/{name}"
        self.workteams[(region, name)] = {
            "WorkteamName": name,
            "MemberDefinitions": params.get("MemberDefinitions", []),
            "WorkteamArn": arn,
            "Description": str(params.get("Description", "")),
            "SubDomain": f"{name}.labeling.{region}.sagemaker.aws",
            "CreateDate": now,
            "LastUpdatedDate": now,
        }
        return {"WorkteamArn": arn, "ResponseMetadata": _metadata()}

    def describe_workteam(self, region: str, params: Mapping[str, Any]) -> dict[str, Any]:
        name = str(params.get("WorkteamName", ""))
        team = self.workteams.get((region, name))
        if team is None:
            raise _ServiceError("ResourceNotFound", f"Workteam {name} does not exist")
        return {"Workteam": team, "ResponseMetadata": _metadata()}


def job_seed(name: str, seed: int) -> int:
    """The random seed of a job's simulated workers and model: its whole name (not its first
    bytes only: names sharing a beginning behave differently) mixed with the emulator's seed."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") ^ (seed % 2**64)


class _InputError(Exception):
    """The job's input could not be read: the job will fail with this reason."""


# ---------------------------------------------------------------------- the hook
_active: list[Backend] = []


def _handler(
    model: Any, params: dict[str, Any], context: Mapping[str, Any] | None = None, **kwargs: Any
) -> tuple[AWSResponse, dict[str, Any]] | None:
    if not _active or model.name not in _OPERATIONS:
        return None
    body = params.get("body") or b"{}"
    request = orjson.loads(body) if body else {}
    region = (context or {}).get("client_region") or _region_of(params)
    try:
        result = _active[-1].handle(model.name, region, request)
    except _ServiceError as exc:
        # A 400 answer: botocore raises the client's own modeled exception class for it.
        error = {
            "Error": {"Code": exc.code, "Message": exc.message},
            "ResponseMetadata": {**_metadata(), "HTTPStatusCode": 400},
        }
        return _http(400), error
    if result is None:
        return None
    return _http(200), result


def _region_of(params: Mapping[str, Any]) -> str:
    url = str(params.get("url", ""))
    # https://api.sagemaker.<region>.amazonaws.com
    parts = url.split("//", 1)[-1].split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "sagemaker" else "us-east-1"


_EVENT = "before-call.sagemaker"
_registered_sessions: set[int] = set()


def install_hook() -> None:
    """Make every botocore session created from now on route labeling-job calls here."""
    if (_EVENT, _handler) not in botocore.handlers.BUILTIN_HANDLERS:
        botocore.handlers.BUILTIN_HANDLERS.append((_EVENT, _handler))


def register_on(session: Any) -> None:
    """Route a botocore session created before the hook was installed (clients made from it
    later will see the emulator)."""
    if id(session) not in _registered_sessions:
        session.register(_EVENT, _handler)
        _registered_sessions.add(id(session))


def is_active() -> bool:
    """Whether an emulator is answering calls now."""
    return bool(_active)


def activate(backend: Backend) -> None:
    """Start answering calls with ``backend``."""
    install_hook()
    default = boto3.DEFAULT_SESSION
    if default is not None:
        register_on(default._session)
    _active.append(backend)


def deactivate(backend: Backend) -> None:
    """Stop answering calls with ``backend``."""
    _active.remove(backend)


__all__ = [
    "SUPPORTED_TASKS", "Backend", "activate", "deactivate", "install_hook", "is_active", "job_seed",
]  # fmt: skip
