"""gtkit's exceptions: one base, and a message that says what to fix.

Every error gtkit raises for a user's mistake derives from :class:`GtkitError`, so a notebook
can catch them all and the CLI can print them without a traceback::

    GtkitError
    ├── SpecError            a job spec breaks a service rule (all problems at once), or
    │                        its config file is not data gtkit reads (one line)
    │   └── UnknownRegionError   a region Ground Truth does not serve
    ├── ManifestError        an input manifest is malformed (file and line of every problem)
    ├── OutputError          a job's output could not be read (file and line)
    ├── ReferenceLabelError  reference labels could not be read or matched
    ├── OverwriteError       a file or S3 object exists and no overwrite flag was given
    ├── SetupError           the AWS account is not ready for a job (all problems at once)
    └── JobError             a labeling-job call failed
        ├── JobNotFoundError     no job by that name
        ├── JobConflictError     a job by that name exists with a different request
        └── JobFailedError       the job ended Failed; carries the service's FailureReason

Messages name the field, or the file and line, what was wrong and what is allowed.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_PROBLEMS",
    "GtkitError",
    "JobConflictError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "ManifestError",
    "OutputError",
    "OverwriteError",
    "Problem",
    "ReferenceLabelError",
    "SetupError",
    "SpecError",
    "UnknownRegionError",
    "excerpt",
]

#: The problems one reading lists one by one, reading leniently (a manifest's lines, a tree's
#: evidence, its answers, its consolidations): the rest are counted by kind ("and N more"), so
#: that a file of millions of bad lines is read in bounded memory and told in a screenful.
MAX_PROBLEMS = 50

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 4
_REPR.maxlevel = 3


def excerpt(value: object) -> str:
    """A short repr of ``value`` for a message: one line (a newline shows as ``\\n``) of at
    most 100 characters, however large or deeply nested the value is (strings, lists and
    mappings are cut, with ``...``); made without walking more of the value than it shows.

    >>> excerpt("x" * 1000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxxxxxxxxxxxx'"
    >>> excerpt([[["deep"]]] * 100)
    "[[['deep']], [['deep']], [['deep']], [['deep']], ...]"
    >>> excerpt(10**5000)
    'a whole number of about 5000 digits'
    """
    if isinstance(value, int) and abs(value) >= 10**30:  # str() refuses over 4,300 digits
        return f"a whole number of about {round(value.bit_length() * math.log10(2))} digits"
    text = _REPR.repr(value)
    return text if len(text) <= 100 else f"{text[:97]}..."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where (a field name, or ``file:line``) and what.

    ``kind`` sorts problems a reader reports: ``"skipped"`` (a line or file not read, reading
    leniently), ``"value"`` (a value read as unknown: a date that is no date, say) and
    ``"note"`` (read, but worth a look); empty elsewhere.
    """

    where: str
    message: str
    kind: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _count(problems: Sequence[Problem]) -> str:
    return f"{len(problems)} problem{'s' * (len(problems) != 1)}"


class GtkitError(Exception):
    """Base of every error gtkit raises for bad input or a failed job."""


class _ProblemsError(GtkitError):
    """An error that carries every problem found, so users fix them all in one go."""

    def __init__(self, problems: Iterable[Problem], *, heading: str | None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if heading is None:  # one line
            super().__init__("; ".join(str(p) for p in self.problems))
            return
        lines = [heading] + [f"  {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class SpecError(_ProblemsError):
    """A labeling-job spec breaks one or more rules the service enforces; or, ``one_line``,
    its config file could not be read as data (the problem names the file and line)."""

    def __init__(self, problems: Sequence[Problem], *, one_line: bool = False) -> None:
        n = len(problems)
        heading = f"invalid labeling-job spec ({n} problem{'s' * (n != 1)}):"
        super().__init__(problems, heading=None if one_line else heading)


class UnknownRegionError(SpecError):
    """Ground Truth's built-in task resources do not exist in that region."""


class ManifestError(_ProblemsError):
    """An input manifest has malformed lines; every bad line is listed."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(problems, heading=f"invalid manifest ({_count(problems)}):")


class OutputError(GtkitError):
    """A job output file could not be read: the message names the file and line."""


class ReferenceLabelError(GtkitError):
    """Reference labels could not be read: the message names the file and line."""


class OverwriteError(GtkitError):
    """The destination exists; gtkit never overwrites without an explicit flag.

    Built with ``target`` (the file or S3 URI), the message says how to replace it in Python
    words (``pass overwrite=True``), or, with ``argument=None``, that nothing replaces it; the
    command line words it in flags from ``target`` and ``argument``.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        target: str | None = None,
        argument: str | None = "overwrite",
        reason: str = "exists",
    ) -> None:
        self.target = target
        self.argument = argument
        self.reason = reason
        if message is None:
            how = f"pass {argument}=True to replace it" if argument else "nothing was replaced"
            message = f"{target} {reason}; {how}"
        super().__init__(message)


class _MissingPriceError(GtkitError):
    """Cost was asked for with workers per object or task price but not both, and no describe
    response supplied the other.

    ``missing`` is the parameter that supplies it, as :func:`gtkit.resolve_pricing` and
    :func:`gtkit.analyze` name it (``"workers"`` or ``"task_price"``); the message says so in
    Python words, and the command line words it in its flags. Private: callers catch it as the
    :class:`GtkitError` it is.
    """

    def __init__(self, missing: str) -> None:
        self.missing = missing
        super().__init__(f"cost needs workers and task price: pass {missing}= (or describe=)")


class SetupError(_ProblemsError):
    """The AWS account is not ready for a job: every problem the live checks found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(
            problems, heading=f"the account is not ready for this job ({_count(problems)}):"
        )


class JobError(GtkitError):
    """A labeling-job operation failed."""


class JobNotFoundError(JobError):
    """No labeling job has that name in this account and region."""


class JobConflictError(JobError):
    """A job with that name exists but was created from a different request."""


class JobFailedError(JobError):
    """The labeling job ended with status Failed."""

    def __init__(self, job_name: str, failure_reason: str) -> None:
        self.job_name = job_name
        self.failure_reason = failure_reason
        super().__init__(f"labeling job {job_name!r} failed: {failure_reason}")
