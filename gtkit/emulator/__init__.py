"""An offline emulator of Amazon SageMaker Ground Truth that plugs into moto.

moto serves S3, IAM and STS but implements no labeling-job operation. Inside :func:`emulate`,
plain ``boto3.client("sagemaker")`` calls to CreateLabelingJob, DescribeLabelingJob,
ListLabelingJobs, StopLabelingJob, CreateWorkteam and DescribeWorkteam are answered by a
simulated Ground Truth that reads the input manifest from (moto) S3, has simulated workers label
each object from reference labels, runs automated labeling, and writes the documented output
tree back to S3.

Simulated workers are anonymous by default; ``Workforce.with_crew(...)`` gives a job individual
workers, each with their own skill and speed, some of them careless, and the worker ids, times
and (private workforces) ``workerMetadata`` real worker-response files carry.

Each DescribeLabelingJob call advances a job by one iteration of simulated time, and gtkit's
waiting sleeps on a simulated clock, so nothing waits. Workers and automated labeling are
simulated for the four task types the service labels automatically: bounding boxes,
single-label image and text classification, and semantic segmentation (masks from reference
PNGs, see :func:`gtkit.read_masks`); any other valid request (custom templates included)
creates a job that then ends Failed, saying so.
With ``state=FOLDER`` the emulated account outlives the process (see ``_state``), which is how
``gtkit --emulate`` serves separate commands; :func:`setup_account` makes what
``infra/ground-truth.yaml`` deploys in a real account.

    with emulate(references="reference.json", seed=0):
        s3 = boto3.client("s3")
        ...  # upload images' manifest, create a job, describe it until Completed

Clients created before the context starts do not see the emulator; create them inside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from gtkit._clock import simulated
from gtkit._errors import GtkitError
from gtkit._references import References, read_references
from gtkit.emulator._account import AccountSetup, setup_account
from gtkit.emulator._service import SUPPORTED_TASKS, Backend, activate, deactivate, install_hook
from gtkit.emulator._simulation import ModelBehaviour, Worker, Workforce

__all__ = [
    "SUPPORTED_TASKS",
    "AccountSetup",
    "Emulator",
    "ModelBehaviour",
    "Worker",
    "Workforce",
    "emulate",
    "setup_account",
]

Emulator = Backend

install_hook()  # like moto: every botocore session made after import can be routed here


@contextmanager
def emulate(
    *,
    references: References | str | os.PathLike[str] | None = None,
    seed: int = 0,
    workforce: Workforce | None = None,
    model: ModelBehaviour | None = None,
    moto: bool = True,
    account: str = "123456789012",
    state: str | os.PathLike[str] | None = None,
    simulated_clock: bool = True,
) -> Iterator[Emulator]:
    """Run Ground Truth offline for the duration of the ``with`` block.

    ``references``: the labels simulated workers copy (with noise): a COCO JSON path, any file
    :func:`gtkit._references.read_references` reads, or a :class:`References`. Objects are
    matched by file name (the basename of ``source-ref``); one without a reference fails with a
    reason naming it. ``moto=False`` leaves starting moto to the caller (e.g. an outer
    ``mock_aws()``). ``state``: a folder the emulated account (S3 objects and buckets, IAM
    roles and policies, workteams, labeling jobs) is loaded from at the start and saved to at
    the end, so that separate runs share it; None keeps it in memory only. With
    ``simulated_clock`` (the default), gtkit's waiting (``LabelingJobClient.wait``) sleeps on a
    simulated clock and returns as soon as the job is done. Yields the emulator, whose ``jobs``
    can be inspected.
    """
    refs = read_references(references) if isinstance(references, (str, os.PathLike)) else references
    backend = Backend(
        references=refs,
        seed=seed,
        workforce=workforce or Workforce(),
        model=model or ModelBehaviour(),
        account=account,
    )
    with ExitStack() as stack:
        if moto:
            try:
                from moto import mock_aws
            except ImportError:
                raise GtkitError(
                    "the offline emulator needs moto: pip install 'gtkit[emulator]'"
                ) from None

            stack.enter_context(mock_aws())
        activate(backend)
        stack.callback(deactivate, backend)
        if simulated_clock:
            stack.enter_context(simulated())
        if state is not None:
            from gtkit.emulator._state import load_state, save_state

            load_state(state, backend)
            # Saved even when the run fails: what it changed stays changed, as in a real account.
            stack.callback(save_state, state, backend)
        yield backend
