"""Live checks of an AWS account before a job is created: what fails only after workers are paid.

:func:`check_setup` (``LabelingJobClient.check``, ``gtkit job check``) makes read-only calls with
your credentials and reports every problem at once, each naming what to fix:

- the buckets of the manifest, the data, the output and the job's files exist and are in the
  job's region; the data buckets have the CORS rule the worker portal needs (GET from any
  origin), for tasks that show objects to workers;
- the role exists, trusts ``sagemaker.amazonaws.com``, and its policies (inline and attached,
  within its permissions boundary, together with the buckets' policies) allow reading the
  manifest, the data and the job's files, writing the output, and using the output KMS key;
- the manifest exists and is valid; every object it names exists and is within the task's size
  and resolution quotas (automated labeling's included);
- a private workteam exists, or the vendor workteam is subscribed;
- the label-category file and worker template gtkit would upload do not clash with other files.

The permission check is a lint, not a proof: it matches policy statements with their wildcards
(``*``, ``?``, ``NotAction``, ``NotResource``, explicit denials) but counts a statement with a
``Condition`` as allowing and ignores service control policies, session policies and KMS key
policies. What cannot be read with your credentials is a warning, never a problem.
"""

from __future__ import annotations

import ast
import io
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from gtkit._errors import ManifestError, Problem, SetupError
from gtkit._io import parse_s3_uri
from gtkit._manifest import check_manifest, job_files
from gtkit._progress import Progress
from gtkit._spec import LabelingJobSpec
from gtkit._tasks import PUBLIC_WORKFORCE_ACCOUNT, Modality

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

__all__ = ["IMAGE_HEAD_BYTES", "SetupReport", "check_setup"]

#: Bytes read from the start of each image for its width and height (the header is there).
IMAGE_HEAD_BYTES = 64 * 1024
#: Tasks whose workers' browsers load the objects from S3 themselves (so CORS matters).
_SHOWN_TO_WORKERS = {
    Modality.IMAGE, Modality.VIDEO, Modality.VIDEO_FRAME, Modality.POINT_CLOUD, Modality.CUSTOM
}  # fmt: skip
_SAGEMAKER = "sagemaker.amazonaws.com"
_MISSING_CODES = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
_EXAMPLES = 20  # problems listed one by one before the rest are counted
_LIST_FROM = 50  # objects in one folder from which listing it beats asking for each


@dataclass
class SetupReport:
    """What the live checks found for one job: every problem, warnings, objects checked."""

    job: str
    objects: int = 0
    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing stands in the job's way."""
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise SetupError listing every problem, if there are any."""
        if self.problems:
            raise SetupError(self.problems)


def check_setup(
    spec: LabelingJobSpec,
    *,
    s3: S3Client,
    iam: IAMClient,
    sagemaker: SageMakerClient,
    short_instructions: str = "",
    full_instructions: str = "",
    image_sizes: bool = True,
    max_workers: int = 10,
    progress: bool = False,
) -> SetupReport:
    """Check the account ``spec`` will run in with read-only calls; see the module docstring.

    ``sagemaker`` must be a client in the job's region. ``image_sizes`` reads the first
    :data:`IMAGE_HEAD_BYTES` of each image for its resolution (image tasks only); at most
    ``max_workers`` object requests run at once, with a progress bar if ``progress``.
    ``short_instructions`` and ``full_instructions`` are those the job will be created with, to
    compare the worker template with one already in S3.
    """
    spec.check()
    report = SetupReport(spec.name)
    run = _Run(spec, report, s3, iam, sagemaker)
    run.buckets([(what, parse_s3_uri(uri)[0]) for what, uri in run.job_uris()])
    refs = run.manifest()
    run.buckets([("data", bucket) for bucket in sorted({parse_s3_uri(r)[0] for r in refs})])
    run.job_files(short_instructions, full_instructions)
    run.role(refs)
    run.objects(refs, image_sizes=image_sizes, max_workers=max_workers, progress=progress)
    run.workteam()
    return report


class _Run:
    """One check: the clients, what was found, and the buckets known to exist."""

    def __init__(
        self,
        spec: LabelingJobSpec,
        report: SetupReport,
        s3: S3Client,
        iam: IAMClient,
        sagemaker: SageMakerClient,
    ) -> None:
        self.spec = spec
        self.task = spec.task_type
        self.report = report
        self.s3 = s3
        self.iam = iam
        self.sagemaker = sagemaker
        self.missing_buckets: set[str] = set()
        self.seen_buckets: set[str] = set()
        self.bucket_policies: dict[str, list[_Statement]] = {}

    def problem(self, where: str, message: str) -> None:
        self.report.problems.append(Problem(where, message))

    def warn(self, message: str) -> None:
        self.report.warnings.append(message)

    # ------------------------------------------------------------------ manifest
    def manifest(self) -> dict[str, int]:
        """The manifest's source-refs (URI: line), after checking it."""
        uri = self.spec.manifest
        if parse_s3_uri(uri)[0] in self.missing_buckets:
            return {}
        try:
            manifest = check_manifest(uri, max_objects=self.task.max_objects, client=self.s3)
        except ManifestError as exc:
            cause = exc.__cause__ or exc.__context__
            if _code(cause) in _MISSING_CODES or "NoSuchKey" in str(exc):
                self.problem(uri, "the manifest does not exist")
            elif _code(cause) in ("AccessDenied", "403") or "AccessDenied" in str(exc):
                self.warn(f"{uri}: cannot read the manifest with your credentials; not checked")
            else:
                self.report.problems.extend(exc.problems)
            return {}
        self.report.problems.extend(manifest.problems)
        self.report.objects = manifest.objects
        return manifest.source_refs

    # ------------------------------------------------------------------ buckets
    def buckets(self, uses: list[tuple[str, str]]) -> None:
        """Check each bucket once for (what it holds, bucket) pairs; data buckets need CORS."""
        holds: dict[str, list[str]] = {}
        for use, name in uses:
            holds.setdefault(name, []).append(use)
        for bucket, what in holds.items():
            exists = bucket not in self.missing_buckets
            if bucket not in self.seen_buckets:
                self.seen_buckets.add(bucket)
                exists = self._bucket_region(bucket, what)
            if exists and "data" in what and self.task.modality in _SHOWN_TO_WORKERS:
                self._cors(bucket)

    def job_uris(self) -> list[tuple[str, str]]:
        """What the job reads and writes besides the data: (what, S3 URI)."""
        s = self.spec
        uris = [
            ("manifest", s.manifest),
            ("output", s.output),
            ("label categories", s.category_uri),
        ]
        if s.worker_template_uri is not None:
            uris.append(("worker template", s.worker_template_uri))
        return uris

    def _bucket_region(self, bucket: str, what: list[str]) -> bool:
        """Whether the bucket exists (problems if not, or if in another region)."""
        uses = ", ".join(dict.fromkeys(what))
        try:
            location = self.s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                self.problem(f"s3://{bucket}", f"the bucket ({uses}) does not exist")
                self.missing_buckets.add(bucket)
                return False
            self.warn(f"s3://{bucket}: cannot read the bucket's region ({_code(exc)}); not checked")
            return True
        region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
        if region != self.spec.region:
            self.problem(
                f"s3://{bucket}",
                f"the bucket ({uses}) is in {region}; the job runs in {self.spec.region}, and "
                "Ground Truth needs its input and output there",
            )
        return True

    def _cors(self, bucket: str) -> None:
        fix = (
            "add a CORS rule allowing GET from origin * (as infra/ground-truth.yaml does), or "
            "workers' tasks will not load the objects"
        )
        try:
            rules = self.s3.get_bucket_cors(Bucket=bucket).get("CORSRules", [])
        except ClientError as exc:
            if _code(exc) == "NoSuchCORSConfiguration":
                self.problem(f"s3://{bucket}", f"the data bucket has no CORS rule: {fix}")
            else:
                self.warn(f"s3://{bucket}: cannot read the CORS rules ({_code(exc)}); not checked")
            return
        fitting = [
            r for r in rules
            if "GET" in r.get("AllowedMethods", []) and "*" in r.get("AllowedOrigins", [])
        ]  # fmt: skip
        if not fitting:
            self.problem(f"s3://{bucket}", f"no CORS rule of the data bucket fits: {fix}")
        elif not any(
            "access-control-allow-origin" in {h.lower() for h in r.get("ExposeHeaders", [])}
            for r in fitting
        ):
            self.warn(
                f"s3://{bucket}: the CORS rule does not expose Access-Control-Allow-Origin, "
                "as the Ground Truth guide's rule does"
            )

    # ------------------------------------------------------------------ the job's own files
    def job_files(self, short: str, full: str) -> None:
        own = self.spec.template_uri
        if own is not None and parse_s3_uri(own)[0] not in self.missing_buckets:
            bucket, key = parse_s3_uri(own)
            try:
                self.s3.head_object(Bucket=bucket, Key=key)
            except ClientError as exc:
                if _code(exc) in _MISSING_CODES:
                    self.problem(own, "your worker template (template_uri) does not exist")
                else:
                    self.warn(f"{own}: cannot read your worker template ({_code(exc)})")
        for uri, body in job_files(
            self.spec, short_instructions=short, full_instructions=full
        ).items():
            bucket, key = parse_s3_uri(uri)
            if bucket in self.missing_buckets:
                continue
            try:
                existing = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if _code(exc) not in _MISSING_CODES:
                    self.warn(f"{uri}: cannot read ({_code(exc)}); not compared")
                continue
            if existing != body:
                self.problem(
                    uri,
                    "exists with other content (from another job?); gtkit never replaces it: "
                    "remove it, or name another file with label_category_uri or template_uri",
                )

    # ------------------------------------------------------------------ the role
    def role(self, refs: Mapping[str, int]) -> None:
        arn = self.spec.role_arn
        name = arn.rsplit("/", 1)[-1]
        where = f"role {name}"
        try:
            role = self.iam.get_role(RoleName=name)["Role"]
        except ClientError as exc:
            if _code(exc) == "NoSuchEntity":
                self.problem(where, f"{arn} does not exist in this account")
            else:
                self.warn(f"{where}: cannot read the role ({_code(exc)}); permissions not checked")
            return
        if role.get("Arn", arn) != arn:
            self.problem(where, f"the role is {role['Arn']}, not {arn}: fix role_arn")
        trust = _statements(role.get("AssumeRolePolicyDocument", {}))
        if not _trusts(trust, _SAGEMAKER):
            self.problem(
                where,
                f"does not trust {_SAGEMAKER}: add a trust statement allowing sts:AssumeRole to "
                f"the service principal {_SAGEMAKER}",
            )
        try:
            identity, boundary = self._role_policies(name, role)
        except ClientError as exc:
            self.warn(f"{where}: cannot read its policies ({_code(exc)}); permissions not checked")
            return
        policies = _Policies(identity, boundary, arn, self._bucket_policy)
        s = self.spec
        reads = [(what, uri) for what, uri in self.job_uris() if what != "output"]
        self._need(where, policies, "s3:GetObject", "read", reads, list(refs))
        probe = f"{s.output.rstrip('/')}/{s.name}/manifests/output/output.manifest"
        self._need(where, policies, "s3:PutObject", "write", [("the output", probe)], [])
        if s.output_kms_key:
            key = _kms_arn(s.output_kms_key, s.region, arn.split(":")[4])
            if not policies.allows("kms:GenerateDataKey", key):
                self.problem(
                    where,
                    f"cannot use the output KMS key (kms:GenerateDataKey on {key}): allow it",
                )

    def _need(
        self,
        where: str,
        policies: _Policies,
        action: str,
        verb: str,
        named: list[tuple[str, str]],
        data: list[str],
    ) -> None:
        refused = [
            f"{what} {uri}"
            for what, uri in named
            if parse_s3_uri(uri)[0] not in self.missing_buckets
            and not policies.allows(action, _s3_arn(uri))
        ]
        missing_data = [
            u
            for u in data
            if parse_s3_uri(u)[0] not in self.missing_buckets
            and not policies.allows(action, _s3_arn(u))
        ]
        if missing_data:
            refused.append(
                f"{len(missing_data)} of {len(data)} data objects, e.g. {missing_data[0]}"
            )
        if refused:
            self.problem(
                where,
                f"cannot {verb} ({action}): {'; '.join(refused)}. Allow {action} on them in "
                "the role's policies",
            )

    def _role_policies(
        self, name: str, role: Mapping[str, Any]
    ) -> tuple[list[_Statement], list[_Statement] | None]:
        statements: list[_Statement] = []
        for page in self.iam.get_paginator("list_role_policies").paginate(RoleName=name):
            for policy in page["PolicyNames"]:
                doc = self.iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
                statements += _statements(doc)
        attached_pages = self.iam.get_paginator("list_attached_role_policies")
        for attached_page in attached_pages.paginate(RoleName=name):
            for attached in attached_page["AttachedPolicies"]:
                statements += self._managed(attached["PolicyArn"])
        boundary_arn = role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
        boundary = self._managed(boundary_arn) if boundary_arn else None
        return statements, boundary

    def _managed(self, arn: str) -> list[_Statement]:
        try:
            version = self.iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            doc = self.iam.get_policy_version(PolicyArn=arn, VersionId=version)
        except ClientError as exc:
            self.warn(f"policy {arn}: cannot read it ({_code(exc)}); counted as allowing nothing")
            return []
        return _statements(doc["PolicyVersion"].get("Document", {}))

    def _bucket_policy(self, bucket: str) -> list[_Statement]:
        if bucket not in self.bucket_policies:
            try:
                text = self.s3.get_bucket_policy(Bucket=bucket)["Policy"]
                self.bucket_policies[bucket] = _statements(text)
            except ClientError as exc:
                if _code(exc) not in ("NoSuchBucketPolicy", *_MISSING_CODES):
                    self.warn(f"s3://{bucket}: cannot read the bucket policy ({_code(exc)})")
                self.bucket_policies[bucket] = []
        return self.bucket_policies[bucket]

    # ------------------------------------------------------------------ objects
    def objects(
        self, refs: Mapping[str, int], *, image_sizes: bool, max_workers: int, progress: bool
    ) -> None:
        todo = [u for u in refs if parse_s3_uri(u)[0] not in self.missing_buckets]
        if not todo:
            return
        heads = image_sizes and self.task.modality is Modality.IMAGE
        known = self._listed_sizes(todo)

        def look(uri: str) -> _Object:
            if uri in known:
                size = known[uri]
                if size is None or not heads or size == 0:
                    return _Object(uri, size)
            return self._image_head(uri) if heads else self._size(uri)

        found: list[_Object] = []
        label = f"{self.spec.name}: objects"
        display = Progress(label, verb="checked", min_step=0.1) if progress else None
        try:
            for n, obj in enumerate(_bounded_map(look, todo, max_workers), start=1):
                found.append(obj)
                if display is not None:
                    display.update(n, total=len(todo))
        finally:
            if display is not None:
                display.close()
        self.report.checked = len(found)
        manifest = self.spec.manifest
        kinds: dict[str, list[tuple[int, str]]] = {}
        for obj in found:
            for kind, text in self._object_problems(obj):
                kinds.setdefault(kind, []).append((refs[obj.uri], text))
        for kind in ("missing", "too large", "too many pixels", "auto labeling"):
            listed = sorted(kinds.get(kind, []))
            for line, text in listed[:_EXAMPLES]:
                self.problem(f"{manifest}:{line}", text)
            if len(listed) > _EXAMPLES:
                self.problem(manifest, f"and {len(listed) - _EXAMPLES} more objects {kind}")
        for line, text in sorted(kinds.get("unknown", []))[:_EXAMPLES]:
            self.warn(f"{manifest}:{line}: {text}")

    def _object_problems(self, obj: _Object) -> Iterator[tuple[str, str]]:
        task = self.task
        if obj.error is not None:
            yield "unknown", f"{obj.uri}: {obj.error}; not checked"
            return
        if obj.size is None:
            yield "missing", f"{obj.uri} does not exist"
            return
        if task.max_object_bytes is not None and obj.size > task.max_object_bytes:
            yield (
                "too large",
                (
                    f"{obj.uri} is {obj.size / 2**20:.1f} MiB; {self.spec.task} takes files up to "
                    f"{task.max_object_bytes / 2**20:.0f} MiB"
                ),
            )
        if obj.pixels is None:
            return
        width, height = obj.pixels
        if task.max_pixels is not None and width * height > task.max_pixels:
            yield (
                "too many pixels",
                (
                    f"{obj.uri} is {width} x {height} pixels; {self.spec.task} takes at most "
                    f"{task.max_pixels:,} pixels"
                ),
            )
        cap = task.auto_labeling_max_size
        if self.spec.auto_labeling and cap is not None and width * height > cap[0] * cap[1]:
            yield (
                "auto labeling",
                (
                    f"{obj.uri} is {width} x {height} pixels; automated labeling takes up to "
                    f"{cap[0]} x {cap[1]}"
                ),
            )

    def _listed_sizes(self, uris: list[str]) -> dict[str, int | None]:
        """Sizes in bytes (None: missing) of the objects in folders holding at least
        :data:`_LIST_FROM` of them, from paginated listings: one call per 1,000 keys instead of
        one per object. Folders that cannot be listed are left to per-object requests."""
        folders: dict[tuple[str, str], list[str]] = {}
        for uri in uris:
            bucket, key = parse_s3_uri(uri)
            folders.setdefault(
                (bucket, key.rpartition("/")[0] + "/" if "/" in key else ""), []
            ).append(uri)
        sizes: dict[str, int | None] = {}
        for (bucket, folder), members in folders.items():
            if len(members) < _LIST_FROM:
                continue
            found: dict[str, int] = {}
            try:
                pages = self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=folder, Delimiter="/"
                )
                for page in pages:
                    found.update((o["Key"], o["Size"]) for o in page.get("Contents", []))
            except ClientError:
                continue
            for uri in members:
                sizes[uri] = found.get(parse_s3_uri(uri)[1])
        return sizes

    def _size(self, uri: str) -> _Object:
        bucket, key = parse_s3_uri(uri)
        try:
            return _Object(uri, self.s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if _code(exc) in _MISSING_CODES:
                return _Object(uri, None)
            return _Object(uri, None, error=f"cannot read with your credentials ({_code(exc)})")

    def _image_head(self, uri: str) -> _Object:
        bucket, key = parse_s3_uri(uri)
        try:
            got = self.s3.get_object(
                Bucket=bucket, Key=key, Range=f"bytes=0-{IMAGE_HEAD_BYTES - 1}"
            )
        except ClientError as exc:
            if _code(exc) == "InvalidRange":  # only an empty object has no first byte
                return _Object(uri, 0)
            if _code(exc) in _MISSING_CODES:
                return _Object(uri, None)
            return _Object(uri, None, error=f"cannot read with your credentials ({_code(exc)})")
        head = got["Body"].read()
        total = str(got.get("ContentRange", "")).rpartition("/")[2]
        size = int(total) if total.isdigit() else int(got.get("ContentLength", len(head)))
        return _Object(uri, size, head=head)

    # ------------------------------------------------------------------ workteam
    def workteam(self) -> None:
        team = self.spec.workforce
        if self.spec.is_public:
            return
        where = f"workteam {team.rsplit('/', 1)[-1]}"
        vendor = f":{PUBLIC_WORKFORCE_ACCOUNT}:" in team or "/vendor-crowd/" in team
        try:
            if vendor:
                self.sagemaker.describe_subscribed_workteam(WorkteamArn=team)
            else:
                self.sagemaker.describe_workteam(WorkteamName=team.rsplit("/", 1)[-1])
        except ClientError as exc:
            if _code(exc) in ("ResourceNotFound", "ValidationException"):
                what = "you are not subscribed to it" if vendor else "it does not exist"
                self.problem(where, f"{team}: {what} in {self.spec.region}")
            else:
                self.warn(f"{where}: cannot read it ({_code(exc)}); not checked")
        except (BotoCoreError, NotImplementedError) as exc:
            self.warn(f"{where}: cannot check it ({exc})")


@dataclass
class _Object:
    """One object named by the manifest: its size in bytes (None: missing) and first bytes."""

    uri: str
    size: int | None
    head: bytes = b""
    error: str | None = None

    @property
    def pixels(self) -> tuple[int, int] | None:
        """Width and height in pixels read from the first bytes, if they hold an image header."""
        return _image_size(self.head) if self.head else None


def _image_size(head: bytes) -> tuple[int, int] | None:
    from PIL import Image, UnidentifiedImageError

    # Pillow refuses headers of huge images as decompression bombs; only the header is read
    # here (nothing is decoded), and the point is to measure exactly those images.
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(io.BytesIO(head)) as image:
            width, height = image.size
            return int(width), int(height)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


# ---------------------------------------------------------------------- concurrency
_T = TypeVar("_T")
_R = TypeVar("_R")


def _bounded_map(fn: Callable[[_T], _R], items: Iterable[_T], workers: int) -> Iterator[_R]:
    """``fn`` over ``items`` on ``workers`` threads, results as they finish; at most
    ``2 * workers`` are in flight, so memory stays flat however many items there are."""
    pending: set[Future[_R]] = set()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for item in items:
            pending.add(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()


# ---------------------------------------------------------------------- policies
@dataclass(frozen=True)
class _Statement:
    """One policy statement, its lists normalised; ``principals`` None in identity policies."""

    allow: bool
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...]
    not_resources: tuple[str, ...] | None
    principals: tuple[str, ...] | None
    services: tuple[str, ...]
    conditional: bool

    def matches(self, action: str, resource: str, principal: str | None = None) -> bool:
        if self.not_actions is not None:
            if any(_wild(p, action, True) for p in self.not_actions):
                return False
        elif not any(_wild(p, action, True) for p in self.actions):
            return False
        if self.not_resources is not None:
            if any(_wild(p, resource) for p in self.not_resources):
                return False
        elif self.resources and not any(_wild(p, resource) for p in self.resources):
            return False
        if principal is not None and self.principals is not None:
            account = principal.split(":")[4]
            names = {principal, account, f"arn:aws:iam::{account}:root", "*"}
            return any(p in names for p in self.principals)
        return True


def _document(doc: Any) -> Mapping[str, Any]:
    """A policy document as a mapping: IAM hands documents back parsed, URL-encoded JSON, or
    (moto's CloudFormation) a Python literal."""
    if isinstance(doc, Mapping):
        return doc
    text = urllib.parse.unquote(str(doc))
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return {}
    return parsed if isinstance(parsed, Mapping) else {}


def _listed(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (str(value),) if isinstance(value, str) else tuple(str(v) for v in value)


def _statements(doc: Any) -> list[_Statement]:
    raw = _document(doc).get("Statement", [])
    out = []
    for st in [raw] if isinstance(raw, Mapping) else raw:
        if not isinstance(st, Mapping):
            continue
        principal = st.get("Principal")
        principals: tuple[str, ...] | None = None
        services: tuple[str, ...] = ()
        if principal == "*":
            principals = ("*",)
        elif isinstance(principal, Mapping):
            principals = _listed(principal.get("AWS"))
            services = _listed(principal.get("Service"))
        out.append(
            _Statement(
                allow=st.get("Effect") == "Allow",
                actions=_listed(st.get("Action")),
                not_actions=_listed(st["NotAction"]) if "NotAction" in st else None,
                resources=_listed(st.get("Resource")),
                not_resources=_listed(st["NotResource"]) if "NotResource" in st else None,
                principals=principals,
                services=services,
                conditional=bool(st.get("Condition")),
            )
        )
    return out


def _trusts(statements: list[_Statement], service: str) -> bool:
    return any(
        st.allow
        and any(_wild(p, "sts:AssumeRole", True) for p in st.actions)
        and (service in st.services or st.principals == ("*",))
        for st in statements
    )


class _Policies:
    """The role's identity statements, its permissions boundary, and the buckets' policies."""

    def __init__(
        self,
        identity: list[_Statement],
        boundary: list[_Statement] | None,
        role_arn: str,
        bucket_policy: Callable[[str], list[_Statement]],
    ) -> None:
        self.identity = identity
        self.boundary = boundary
        self.role_arn = role_arn
        self.bucket_policy = bucket_policy

    def allows(self, action: str, resource: str) -> bool:
        bucket = resource.split(":::", 1)[1].split("/", 1)[0] if ":::" in resource else None
        resource_policy = self.bucket_policy(bucket) if bucket else []
        everything = [
            *((st, None) for st in self.identity),
            *((st, self.role_arn) for st in resource_policy),
        ]
        if any(
            not st.allow and not st.conditional and st.matches(action, resource, who)
            for st, who in everything
        ):
            return False
        granted = any(st.allow and st.matches(action, resource, who) for st, who in everything)
        if self.boundary is not None:
            in_boundary = any(st.allow and st.matches(action, resource) for st in self.boundary)
            granted = granted and in_boundary
        return granted


@lru_cache(maxsize=4096)
def _pattern(pattern: str, fold: bool) -> re.Pattern[str]:
    parts = re.split(r"(\*|\?|\$\{[^}]*\})", pattern)
    regex = "".join(
        ".*" if p == "*" or p.startswith("${") else "." if p == "?" else re.escape(p) for p in parts
    )
    return re.compile(regex, re.IGNORECASE if fold else 0)


def _wild(pattern: str, value: str, fold: bool = False) -> bool:
    """IAM's wildcard match: ``*`` any run, ``?`` one character, ``${...}`` variables as ``*``;
    actions match without case (``fold``), resources with it."""
    return _pattern(pattern, fold).fullmatch(value) is not None


def _s3_arn(uri: str) -> str:
    bucket, key = parse_s3_uri(uri)
    return f"arn:aws:s3:::{bucket}/{key}"


def _kms_arn(key: str, region: str, account: str) -> str:
    if key.startswith("arn:"):
        return key
    if key.startswith("alias/"):
        return f"arn:aws:kms:{region}:{account}:{key}"
    return f"arn:aws:kms:{region}:{account}:key/{key}"


def _code(exc: BaseException | None) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""
