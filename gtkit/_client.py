"""Submitting and following labeling jobs: check, create, describe, list, stop, wait, download.

AWS access is injected: pass ``sagemaker``, ``s3`` and ``iam`` clients, or a ``session``, or
neither (boto3's default session, with adaptive retries). Waiting takes injectable ``sleep`` and
``clock`` so tests run instantly, and needs only the job's name, so it resumes after a notebook
kernel restart. Creating checks the account first (:meth:`LabelingJobClient.check`).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import orjson
from botocore.exceptions import ClientError

from gtkit import _clock
from gtkit._errors import (
    GtkitError,
    JobConflictError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    OutputError,
    SetupError,
    excerpt,
)
from gtkit._io import (
    FOLDER_MARKER,
    atomic_folder,
    atomic_writer,
    check_folder,
    iam_client,
    new_session,
    parse_s3_uri,
    s3_client,
    sagemaker_client,
    unsafe_part,
)
from gtkit._manifest import write_job_files
from gtkit._preflight import SetupReport, check_setup
from gtkit._progress import Progress
from gtkit._spec import LabelingJobSpec

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import (
        DescribeLabelingJobResponseTypeDef,
        LabelingJobSummaryTypeDef,
    )

__all__ = ["TERMINAL_STATUSES", "LabelingJobClient", "save_describe"]

TERMINAL_STATUSES = ("Completed", "Failed", "Stopped")
_TRANSIENT = {
    "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
    "ServiceUnavailable", "InternalFailure", "InternalServerError", "RequestTimeout",
}  # fmt: skip


def save_describe(
    describe: DescribeLabelingJobResponseTypeDef | dict[str, Any],
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> Path:
    """Save a DescribeLabelingJob response as JSON (datetimes as ISO 8601), for later analysis
    without AWS (``gtkit analyze`` reads ``describe.json`` beside an output folder)."""
    data = {k: v for k, v in cast("dict[str, Any]", describe).items() if k != "ResponseMetadata"}
    with atomic_writer(path, overwrite=overwrite) as f:
        f.write(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC))
    return Path(path)


class LabelingJobClient:
    """Check, create and follow Ground Truth labeling jobs.

    ``sagemaker``, ``s3`` and ``iam`` clients win over ``session``; without either, clients come
    from boto3's default session with adaptive retries. ``region`` is the SageMaker client's (a
    job runs in its client's region). ``sleep`` and ``clock`` (seconds) default to the real ones,
    or to a simulated clock inside :func:`gtkit.emulator.emulate` (waiting takes no real time).
    """

    def __init__(
        self,
        *,
        sagemaker: SageMakerClient | None = None,
        s3: S3Client | None = None,
        iam: IAMClient | None = None,
        session: boto3.session.Session | None = None,
        region: str | None = None,
        sleep: Callable[[float], None] = _clock.sleep,
        clock: Callable[[], float] = _clock.monotonic,
    ) -> None:
        if session is None and None in (sagemaker, s3, iam):
            session = new_session()  # one for all three clients: a session takes tens of ms
        self.sagemaker = sagemaker_client(client=sagemaker, session=session, region=region)
        self.s3 = s3_client(client=s3, session=session)
        self.iam = iam_client(client=iam, session=session)
        self.sleep = sleep
        self.clock = clock

    # ------------------------------------------------------------------ calls
    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.sagemaker, operation)(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            message = exc.response.get("Error", {}).get("Message", str(exc))
            if code == "ResourceNotFound":
                raise JobNotFoundError(message) from exc
            raise JobError(f"{operation} failed ({code}): {message}") from exc

    def describe(self, name: str) -> DescribeLabelingJobResponseTypeDef:
        """The job's DescribeLabelingJob response; JobNotFoundError if there is none."""
        return cast(
            "DescribeLabelingJobResponseTypeDef",
            self._call("describe_labeling_job", LabelingJobName=name),
        )

    def check(
        self,
        spec: LabelingJobSpec,
        *,
        short_instructions: str = "",
        full_instructions: str = "",
        image_sizes: bool = True,
        max_workers: int = 10,
        progress: bool = False,
    ) -> SetupReport:
        """Check the account for ``spec`` with read-only calls: buckets, CORS, the role's trust
        and permissions, the manifest and every object it names, the workteam.

        Returns every problem and warning at once (see :func:`gtkit._preflight.check_setup`; the
        permission check is a lint of policy statements, not a proof). ``image_sizes`` reads
        each image's first 64 KiB for its resolution; at most ``max_workers`` object requests
        run at once, with a progress bar if ``progress``.
        """
        self._same_region(spec)
        return check_setup(
            spec,
            s3=self.s3,
            iam=self.iam,
            sagemaker=self.sagemaker,
            short_instructions=short_instructions,
            full_instructions=full_instructions,
            image_sizes=image_sizes,
            max_workers=max_workers,
            progress=progress,
        )

    def _same_region(self, spec: LabelingJobSpec) -> None:
        spec.check()
        region = self.sagemaker.meta.region_name
        if region != spec.region:
            raise GtkitError(
                f"the spec's region is {spec.region} but this client's is {region}: make the "
                f"client with region={spec.region!r}"
            )

    def create(
        self,
        spec: LabelingJobSpec,
        *,
        short_instructions: str = "",
        full_instructions: str = "",
        check: bool = True,
        progress: bool = False,
    ) -> DescribeLabelingJobResponseTypeDef:
        """Create the job (after uploading its label-category file and worker template).

        With ``check`` (the default) the account is checked first (:meth:`check`) and a
        SetupError lists every problem before anything is uploaded or created; ``progress``
        shows a bar while the objects are checked. A job of the same name created from the same
        request is returned as it is; one from a different request is a JobConflictError. Files
        already in S3 with the same content are kept; with different content, nothing is
        overwritten (OverwriteError).
        """
        request = spec.to_request()
        self._same_region(spec)
        try:
            existing = self.describe(spec.name)
        except JobNotFoundError:
            existing = None
        if existing is not None:
            before: dict[str, Any] = dict(
                LabelingJobSpec.from_describe(existing, labels=spec.labels).to_request()
            )
            wanted: dict[str, Any] = dict(request)
            if before != wanted:
                changed = sorted(
                    k for k in set(before) | set(wanted) if before.get(k) != wanted.get(k)
                )
                raise JobConflictError(
                    f"job {spec.name!r} exists with a different request (differs in: "
                    f"{', '.join(changed)}); choose another name"
                )
            return existing
        if check:
            report = self.check(
                spec,
                short_instructions=short_instructions,
                full_instructions=full_instructions,
                progress=progress,
            )
            if report.problems:
                raise SetupError(report.problems)
        self._stage(spec, short_instructions, full_instructions)
        self._call("create_labeling_job", **request)
        return self.describe(spec.name)

    def _stage(self, spec: LabelingJobSpec, short: str, full: str) -> None:
        # A retried create finds its own files there: the same content is fine, other is not.
        write_job_files(
            spec,
            short_instructions=short,
            full_instructions=full,
            keep_identical=True,
            client=self.s3,
        )

    def list(
        self, *, status: str | None = None, name_contains: str | None = None
    ) -> Iterator[LabelingJobSummaryTypeDef]:
        """Every labeling job (newest first), optionally filtered, across all pages."""
        kwargs: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending"}
        if status:
            kwargs["StatusEquals"] = status
        if name_contains:
            kwargs["NameContains"] = name_contains
        try:
            for page in self.sagemaker.get_paginator("list_labeling_jobs").paginate(**kwargs):
                yield from page.get("LabelingJobSummaryList", [])
        except ClientError as exc:
            raise JobError(f"ListLabelingJobs failed: {exc}") from exc

    def stop(self, name: str) -> DescribeLabelingJobResponseTypeDef:
        """Ask the service to stop the job; returns its description (status Stopping)."""
        self._call("stop_labeling_job", LabelingJobName=name)
        return self.describe(name)

    # ------------------------------------------------------------------ waiting
    def wait(
        self,
        name: str,
        *,
        progress: bool = True,
        timeout: float | None = None,
        initial_delay: float = 10.0,
        max_delay: float = 120.0,
        raise_on_failure: bool = True,
    ) -> DescribeLabelingJobResponseTypeDef:
        """Poll until the job is Completed, Failed or Stopped; return the last description.

        Delays (seconds) grow from ``initial_delay`` to ``max_delay`` with jitter; throttling and
        transient errors are retried. A progress bar shows the objects labeled out of the total,
        the time waited and the status and label counters (plain lines off a terminal). A
        Failed job raises JobFailedError carrying the service's FailureReason. Works from the
        name alone, so it resumes after a kernel restart.
        """
        start = self.clock()
        delay = initial_delay
        bar = Progress(name, verb="labeled") if progress else None
        try:
            while True:
                try:
                    job = self.describe(name)
                except JobError as exc:
                    cause = exc.__cause__
                    code = (
                        cause.response.get("Error", {}).get("Code")
                        if isinstance(cause, ClientError)
                        else None
                    )
                    if code not in _TRANSIENT:
                        raise
                    job = None
                if job is not None:
                    status = job["LabelingJobStatus"]
                    if bar is not None:
                        done, total, detail = _counts(job)
                        bar.update(done, total=total, elapsed=self.clock() - start, detail=detail)
                    if status in TERMINAL_STATUSES:
                        if status == "Failed" and raise_on_failure:
                            raise JobFailedError(
                                name, job.get("FailureReason", "(no reason given)")
                            )
                        return job
                if timeout is not None and self.clock() - start > timeout:
                    raise JobError(f"job {name!r} still running after {timeout:.0f} s")
                self.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(max_delay, delay * 1.5)
        finally:
            if bar is not None:
                bar.close()

    # ------------------------------------------------------------------ output
    def download(self, name: str, out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Download the job's whole output tree to the folder ``out``, with ``describe.json``.

        Returns the folder, which :func:`gtkit.read_output` and ``gtkit analyze`` read. The
        folder is written whole or not at all: the files go to a temporary folder beside
        ``out``, renamed into place once every one is there, so an interrupted download leaves
        nothing that looks complete. ``out`` must be new or empty, or (with ``overwrite``) an
        earlier download, which is then replaced whole.

        Every key is saved at its path relative to the job's output prefix. A key that could
        not be saved inside ``out`` (an absolute path, ``..``, ``//``, a NUL byte, a name that
        is both a file and a folder) is an OutputError listing every such key, before anything
        is written. Folder markers (keys ending in ``/``) are skipped.
        """
        job = self.describe(name)
        prefix = f"{job['OutputConfig']['S3OutputPath'].rstrip('/')}/{name}/"
        bucket, key_prefix = parse_s3_uri(prefix)
        check_folder(out, overwrite=overwrite)  # before the listing: fail fast
        objects = [
            obj
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=key_prefix
            )
            for obj in page.get("Contents", [])
        ]
        files, problems = _saved_paths(
            [o["Key"][len(key_prefix) :] for o in objects], [o.get("Size", 0) for o in objects]
        )
        if problems:
            shown = [f"  {excerpt(key_prefix + key)}: {why}" for key, why in problems[:20]]
            more = len(problems) - len(shown)
            raise OutputError(
                "\n".join(
                    [f"{prefix}: {len(problems)} key(s) cannot be saved inside {out}, so "
                     "nothing was written (keys of the bucket, from the output prefix):", *shown]
                    + ([f"  and {more} more"] if more else [])
                )
            )  # fmt: skip
        if not files:
            raise GtkitError(f"no output under {prefix} yet (status {job['LabelingJobStatus']})")
        with atomic_folder(
            out, what=f"the output of labeling job {name}", overwrite=overwrite
        ) as work:
            for relative in files:
                target = work.joinpath(*relative.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                with target.open("xb") as f:
                    self.s3.download_fileobj(bucket, key_prefix + relative, f)
            save_describe(job, work / "describe.json")
        return Path(out)


#: Names gtkit writes itself at the top of a downloaded folder.
_RESERVED = ("describe.json", FOLDER_MARKER)


def _saved_paths(
    relatives: Sequence[str], sizes: Sequence[int]
) -> tuple[list[str], list[tuple[str, str]]]:
    """The keys (relative to the job's prefix) to save as files, and (key, why) for each that
    cannot be saved inside the folder. Folder markers (ending in ``/``, empty) are skipped."""
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    for relative, size in zip(relatives, sizes, strict=True):
        if relative == "" or (relative.endswith("/") and not size):
            continue  # a folder marker, such as the console's "Create folder" makes
        why = next(filter(None, map(unsafe_part, relative.split("/"))), None)
        if why is None and relative in _RESERVED:
            why = "the name of a file gtkit writes there itself"
        if why is not None:
            problems.append((relative, why))
        else:
            files.append(relative)
    folders = {"/".join(parts[:k]) for parts in (f.split("/") for f in files)
               for k in range(1, len(parts))}  # fmt: skip
    clashing = [f for f in files if f in folders]
    problems += [(f, "is both a file and the folder of other keys") for f in clashing]
    return [f for f in files if f not in folders], problems


def _counts(job: DescribeLabelingJobResponseTypeDef) -> tuple[int, int | None, str]:
    """Objects done (labeled or failed), the total if known, and the status with counters."""
    c = cast("dict[str, int]", job["LabelCounters"])
    failed = c.get("FailedNonRetryableError", 0)
    done = c.get("TotalLabeled", 0) + failed
    total = done + c.get("Unlabeled", 0)
    detail = (
        f"{job['LabelingJobStatus']}: human {c.get('HumanLabeled', 0)}, "
        f"machine {c.get('MachineLabeled', 0)}, failed {failed}"
    )
    return done, total or None, detail
