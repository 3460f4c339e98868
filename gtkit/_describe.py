"""A saved ``DescribeLabelingJob`` response: reading it, finding it beside a downloaded output
tree, and the facts about the job an analysis states (task, region, workforce, prices, dates).

:meth:`gtkit.LabelingJobClient.download` saves the response as ``describe.json`` in the folder
it downloads to; :func:`find_describe` is the one place both ``gtkit analyze`` and
:func:`gtkit.analyze` look for it.

>>> s = JobSummary.of({"LabelingJobName": "birds",
...     "CreationTime": "2026-01-01T10:00:00+00:00", "LastModifiedTime": "2026-01-01T14:30:00Z",
...     "LabelingJobStatus": "Completed", "HumanTaskConfig": {
...         "NumberOfHumanWorkersPerDataObject": 5,
...         "PublicWorkforceTaskPrice": {"AmountInUsd": {"Cents": 3, "TenthFractionsOfACent": 6}}}})
>>> s.workers, s.task_price, s.duration_seconds / 3600
(5, 0.036, 4.5)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from gtkit._errors import GtkitError, excerpt
from gtkit._io import is_s3
from gtkit._output import JobOutput
from gtkit._pricing import DEFAULT_OBJECT_FEE, Pricing, dollars
from gtkit._spec import _task_from_lambda

__all__ = [
    "DESCRIBE_FILE",
    "JobSummary",
    "find_describe",
    "pricing_from_describe",
    "read_describe",
]

#: The file name :meth:`LabelingJobClient.download` saves the describe response under.
DESCRIBE_FILE = "describe.json"

_TERMINAL = ("Completed", "Failed", "Stopped")


def read_describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a saved ``DescribeLabelingJob`` response (JSON), checking the fields gtkit reads
    from it (the workers and price of :func:`pricing_from_describe`): GtkitError names the file
    and field where one is missing or of the wrong type."""
    try:
        doc = orjson.loads(Path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise GtkitError(f"{path}: not a saved DescribeLabelingJob response ({exc})") from None
    if not isinstance(doc, dict) or "HumanTaskConfig" not in doc:
        raise GtkitError(f"{path}: no HumanTaskConfig; expected a DescribeLabelingJob response")
    _prices(doc, str(path))
    return doc


def find_describe(output: JobOutput) -> Path | None:
    """The ``describe.json`` saved in the job folder of a local output tree (where
    ``LabelingJobClient.download`` writes it), or None where there is none: an S3 prefix, a
    lone manifest, or a folder without the file."""
    folder = output.folder
    if folder is None or is_s3(folder):
        return None
    path = Path(folder) / DESCRIBE_FILE
    return path if path.is_file() else None


#: The service's ranges of what a describe response says about prices (ground-truth-facts.md 2).
_DESCRIBE_RANGES = {
    "NumberOfHumanWorkersPerDataObject": (1, 9),
    "Dollars": (0, 2),
    "Cents": (0, 99),
    "TenthFractionsOfACent": (0, 9),
}


def _whole(value: Any, where: str, field: str, *, default: int | None = None) -> int:
    """``value`` if a whole number in the field's range (``default`` where absent or null)."""
    low, high = _DESCRIBE_RANGES[field]
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise GtkitError(
            f"{where}: {field} is {excerpt(value)}; expected a whole number from {low} to {high}"
        )
    return value


def _prices(describe: Mapping[str, Any], where: str) -> tuple[int, float]:
    """Workers per object and task price (dollars) of a describe response, checked."""
    human = describe.get("HumanTaskConfig")
    if not isinstance(human, Mapping):
        raise GtkitError(f"{where}: HumanTaskConfig is {excerpt(human)}; expected an object")
    field = "NumberOfHumanWorkersPerDataObject"
    workers = _whole(human.get(field), f"{where}: HumanTaskConfig", field)
    price = human.get("PublicWorkforceTaskPrice")
    amount = price.get("AmountInUsd") if isinstance(price, Mapping) else price
    if amount is None:
        return workers, 0.0
    if not isinstance(amount, Mapping):
        raise GtkitError(
            f"{where}: HumanTaskConfig.PublicWorkforceTaskPrice is {excerpt(price)}; expected "
            "an object with AmountInUsd (Dollars, Cents, TenthFractionsOfACent)"
        )
    part = f"{where}: HumanTaskConfig.PublicWorkforceTaskPrice.AmountInUsd"
    fields = ("Dollars", "Cents", "TenthFractionsOfACent")
    checked = {k: _whole(amount.get(k), part, k, default=0) for k in fields}
    return workers, float(dollars(checked))


def pricing_from_describe(
    describe: Mapping[str, Any], *, object_fee: float = DEFAULT_OBJECT_FEE
) -> Pricing:
    """Workers and task price (dollars) from a DescribeLabelingJob response; private and vendor
    workforces have no task price. A field of the wrong type or out of the service's range is
    a GtkitError naming it."""
    workers, price = _prices(describe, "describe")
    return Pricing(object_fee, workers, price)


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    try:  # Python 3.10's fromisoformat takes no "Z"
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _workforce(workteam: str) -> str | None:
    """ "public", "private" or "vendor", from the kind of workteam an ARN names."""
    for kind in ("public", "private", "vendor"):
        if f":workteam/{kind}-crowd/" in workteam:
            return kind
    return None


@dataclass(frozen=True)
class JobSummary:
    """What is known about a job beside its labels; None wherever nothing says.

    ``task_price`` and ``object_fee`` are dollars (per task per worker, and per labeled object);
    ``created`` and ``finished`` are the job's creation time and, once it has ended, its last
    modification; ``reference`` names the reference labels compared with; ``describe`` says where
    the describe response came from (a path, or ``"given"``).
    """

    job_name: str | None = None
    task: str | None = None
    region: str | None = None
    status: str | None = None
    workforce: str | None = None
    workers: int | None = None
    task_price: float | None = None
    object_fee: float | None = None
    auto_labeling: bool | None = None
    created: datetime | None = None
    finished: datetime | None = None
    reference: str | None = None
    describe: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from creation to the end, for a job that has ended."""
        if self.created is None or self.finished is None:
            return None
        return (self.finished - self.created).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: times as ISO 8601, ``duration_seconds`` added."""
        out: dict[str, Any] = {
            k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()
        }
        out["duration_seconds"] = self.duration_seconds
        return out

    @classmethod
    def of(cls, response: Mapping[str, Any] | None, /, **known: Any) -> JobSummary:
        """The summary a describe response gives (any part may be missing), with ``known``
        fields (say ``task`` from the output, ``object_fee``) filling what it does not say."""
        if response is None:
            return cls(**known)
        describe = response
        human = describe.get("HumanTaskConfig", {})
        arn = str(describe.get("LabelingJobArn", ""))
        parts = arn.split(":")
        status = describe.get("LabelingJobStatus")
        amount = human.get("PublicWorkforceTaskPrice", {}).get("AmountInUsd")
        workers = human.get("NumberOfHumanWorkersPerDataObject")
        region = parts[3] if len(parts) > 4 and parts[3] else None
        task = _task_from_lambda(str(human.get("PreHumanTaskLambdaArn", "")), region or "")
        found: dict[str, Any] = {
            "job_name": describe.get("LabelingJobName"),
            "task": None if task == "custom" else task,
            "region": region,
            "status": status,
            "workforce": _workforce(str(human.get("WorkteamArn", ""))),
            "workers": int(workers) if workers is not None else None,
            "task_price": float(dollars(amount)) if amount else (0.0 if human else None),
            "auto_labeling": "LabelingJobAlgorithmsConfig" in describe,
            "created": _time(describe.get("CreationTime")),
            "finished": _time(describe.get("LastModifiedTime")) if status in _TERMINAL else None,
        }
        merged = {**known, **{k: v for k, v in found.items() if v is not None}}
        return cls(**merged)
