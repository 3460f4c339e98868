"""Reading any Ground Truth job's output into tidy, columnar tables.

A job's output tree (``<S3OutputPath>/<job-name>/``, locally or in S3) or a single output
manifest becomes a :class:`JobOutput`, whose tables are pandas DataFrames read on first use:

- ``objects``: one row per labeled attribute of each manifest line (a line with no label attribute
  still gets one row): ``index`` (the datasetObjectId, 0-based among non-blank lines), ``line``
  (1-based line in the file), ``source``, ``attribute``, ``task_type``, ``human`` (boolean, NA
  where not said), ``confidence``, ``creation_date`` (UTC), ``job_name``, ``failure_reason``,
  ``iteration`` (Int64, NA where no file says), ``value`` (the label as JSON where no other table
  holds it: segmentation, video, named entities, custom tasks; S3 URIs as they are),
  ``adjustment_status`` (``"adjusted"``/``"unadjusted"`` in adjustment jobs, else NA),
  ``image_width`` and ``image_height`` (pixels, from a detection line's ``image_size``), and
  ``extra`` (the line's other top-level fields, such as ones copied from the input manifest, as
  a JSON object, else None);
- ``boxes``: one row per 2D box, ``index``, ``attribute``, ``class_id`` (-1 where missing or not
  a whole number), ``class_name`` (from the line's ``class-map``), ``left``, ``top``, ``width``,
  ``height`` (pixels), ``confidence``, ``image_width``, ``image_height``;
- ``cuboids``: one row per 3D point cloud cuboid, ``index``, ``attribute``, ``object_name``,
  ``class_id``, ``class_name``, ``center_x``, ``center_y``, ``center_z``, ``length``, ``width``,
  ``height`` (the point cloud's units), ``roll``, ``pitch``, ``yaw`` (radians), ``confidence``,
  ``label_attributes`` (JSON);
- ``classes``: one row per class given to an object (classification, segmentation colour maps,
  named entities, and the class maps of labels stored in S3 such as a ``SeqLabel.json``),
  ``index``, ``attribute``, ``class_id``, ``class_name``, ``confidence``, ``color`` (a
  segmentation colour map's ``hex-color``, else null);
- ``worker_answers``: one row per worker answer, from worker-response files and consolidation
  requests (``index``, ``iteration``, ``worker``, ``seconds`` spent where known, ``accepted`` and
  ``submitted`` times, ``answer`` as JSON);
- ``consolidations``: one row per object of a consolidation response (``index``, ``iteration``).

Texts that repeat (``attribute``, ``task_type``, ``job_name``, ``class_name``,
``adjustment_status``) are pandas categories. Ground Truth metadata is recognised by its content
(``type`` starting with ``groundtruth/``, or a ``human-annotated`` or ``failure-reason`` key),
not by a ``-metadata`` suffix alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from botocore.exceptions import ClientError

from gtkit._engine import EngineError, connect, fetch, local_file
from gtkit._errors import OutputError, Problem
from gtkit._io import is_s3, parse_s3_uri, s3_client
from gtkit._labels import LabelTables, read_label_tables
from gtkit._tree import (
    Evidence,
    Tree,
    empty_answers,
    find_places,
    read_consolidations,
    read_evidence,
    read_worker_answers,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "JobOutput",
    "attribute_rows",
    "distinct_texts",
    "read_labels_only",
    "read_manifest",
    "read_output",
    "read_seqlabel",
]


@dataclass
class _Reading:
    """What one read of an output shares between its views (:meth:`JobOutput.for_attribute`):
    where the files are, and every table read so far."""

    manifest: str  # local path or S3 URI of the output manifest
    tree: Tree | None  # the output tree, where there is one
    job: str  # the job folder within the tree ("" for its root)
    client: S3Client | None
    lenient: bool
    labels: LabelTables | None = None
    evidence: Evidence | None = None
    answers: tuple[pd.DataFrame, list[Problem]] | None = None
    consolidations: tuple[pd.DataFrame, list[Problem]] | None = None
    _places: dict[str, list[str]] | None = None

    def places(self, tree: Tree) -> dict[str, list[str]]:
        """Where the tree's evidence and answer folders are (looked for once)."""
        if self._places is None:
            self._places = find_places(tree, self.job)
        return self._places

    def read_labels(self) -> LabelTables:
        if self.labels is None:
            con = connect()
            try:
                with _reading(self.manifest), local_file(self.manifest, self.client) as path:
                    labels = read_label_tables(path, con, name=self.manifest, lenient=self.lenient)
                if self.tree is not None:
                    attributes = distinct_texts(labels.objects["attribute"])
                    self.evidence = read_evidence(
                        self.tree,
                        self.places(self.tree),
                        con,
                        attributes=attributes,
                        lenient=self.lenient,
                    )
                    _assign_iterations(labels.objects, self.evidence)
            finally:
                con.close()
            self.labels = labels
        return self.labels

    def read_answers(self) -> tuple[pd.DataFrame, list[Problem]]:
        if self.answers is None:
            if self.tree is None:
                self.answers = (empty_answers(), [])
            else:
                con = connect()
                try:
                    self.answers = read_worker_answers(
                        self.tree, self.places(self.tree), con, lenient=self.lenient
                    )
                finally:
                    con.close()
        return self.answers

    def read_consolidations(self) -> tuple[pd.DataFrame, list[Problem]]:
        if self.consolidations is None:
            if self.tree is None:
                empty = pd.DataFrame(
                    {"index": pd.Series(dtype="int64"), "iteration": pd.Series(dtype="int64")}
                )
                self.consolidations = (empty, [])
            else:
                con = connect()
                try:
                    self.consolidations = read_consolidations(
                        self.tree, self.places(self.tree), con, lenient=self.lenient
                    )
                finally:
                    con.close()
        return self.consolidations


def distinct_texts(column: pd.Series) -> list[str]:
    """The texts of a column, each once, in order of first appearance (of a category column,
    from its codes: no text is made per row)."""
    return [v for v in column.unique() if isinstance(v, str)]


def _assign_iterations(objects: pd.DataFrame, evidence: Evidence) -> None:
    """Each object's iteration: the earliest any evidence gives it (in place)."""
    by_index = evidence.by_index
    if len(evidence.by_source):
        first = objects.drop_duplicates("source")[["source", "index"]]
        first = first[first["source"].notna()]
        named = evidence.by_source.merge(first, on="source", how="inner")
        by_index = pd.concat([by_index, named[["index", "iteration"]]], ignore_index=True)
    index = objects["index"].to_numpy(dtype=np.int64)
    size = int(index.max(initial=-1)) + 1
    ids = by_index["index"].to_numpy(np.int64)
    mine = (ids >= 0) & (ids < size)  # evidence of objects the manifest has not is no evidence
    if not mine.any():
        return
    earliest = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(earliest, ids[mine], by_index["iteration"].to_numpy(np.int64)[mine])
    found = earliest[index]
    known = found != np.iinfo(np.int64).max
    objects["iteration"] = pd.arrays.IntegerArray(np.where(known, found, 0), ~known)


class JobOutput:
    """A job's output as tables, each read on first use (see the module docstring for their
    columns). Made by :func:`read_output` or :func:`read_manifest`."""

    def __init__(self, reading: _Reading, attribute: str | None = None) -> None:
        self._reading = reading
        self._attribute = attribute

    def __repr__(self) -> str:
        view = f", attribute={self._attribute!r}" if self._attribute else ""
        return f"JobOutput({self.manifest!r}{view})"

    @property
    def manifest(self) -> str:
        """The output manifest read: a local path or an S3 URI."""
        return self._reading.manifest

    @property
    def folder(self) -> str | None:
        """The job's output folder (local path or S3 URI) where an output tree was read, else
        None (a lone manifest)."""
        reading = self._reading
        return None if reading.tree is None else reading.tree.full(reading.job)

    def _pick(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame if self._attribute is None else attribute_rows(frame, self._attribute)

    @property
    def objects(self) -> pd.DataFrame:
        """One row per labeled attribute of each manifest line."""
        return self._pick(self._reading.read_labels().objects)

    @property
    def boxes(self) -> pd.DataFrame:
        """One row per 2D box (pixels)."""
        return self._pick(self._reading.read_labels().boxes)

    @property
    def cuboids(self) -> pd.DataFrame:
        """One row per 3D point cloud cuboid."""
        return self._pick(self._reading.read_labels().cuboids)

    @property
    def classes(self) -> pd.DataFrame:
        """One row per class given to an object (all but boxes and cuboids)."""
        return self._pick(self._reading.read_labels().classes)

    @property
    def worker_answers(self) -> pd.DataFrame:
        """One row per worker answer (read from the tree's answer files on first use)."""
        return self._reading.read_answers()[0]

    @property
    def consolidations(self) -> pd.DataFrame:
        """One row per object of each consolidation response."""
        return self._reading.read_consolidations()[0]

    @property
    def problems(self) -> list[Problem]:
        """Every problem found in the files read so far: lines skipped and values read as
        unknown reading leniently, and what was read but deserves a look (a metadata
        ``objects`` list of the wrong length, say). Each reading tells the first
        :data:`gtkit.MAX_PROBLEMS` of a kind with file and line and counts the rest in one
        problem ("and N more ...", its ``where`` the file). The manifest and iteration
        evidence are read for this; answer files only once :attr:`worker_answers` or
        :attr:`consolidations` have been."""
        reading = self._reading
        found = list(reading.read_labels().problems)
        if reading.evidence is not None:
            found += reading.evidence.problems
        for table in (reading.answers, reading.consolidations):
            if table is not None:
                found += table[1]
        return found

    @property
    def has_iterations(self) -> bool:
        """Whether any file said which iteration labeled an object."""
        return bool(self.objects["iteration"].notna().any())

    @property
    def attributes(self) -> list[str]:
        """The label attributes found, in order of first appearance."""
        return distinct_texts(self.objects["attribute"])

    @property
    def job_names(self) -> list[str]:
        """The job names found (without ``labeling-job/``), in order of first appearance."""
        return distinct_texts(self.objects["job_name"])

    def label_file(self, value: str) -> str:
        """Where a label stored as a file (a segmentation mask's ``<attribute>-ref``) is: the
        S3 URI as written, or, in a downloaded tree, the same file under the tree (the part of
        the URI from ``annotations/`` on); a relative path is relative to the manifest."""
        reading = self._reading
        text = value.strip()
        tree = reading.tree
        if is_s3(text):
            if tree is None or tree.client is not None:
                return text
            at = text.find("/annotations/")
            if at >= 0:
                relative = text[at + 1 :]
                candidate = tree.full(f"{reading.job}/{relative}" if reading.job else relative)
                if Path(candidate).is_file():
                    return candidate
            raise OutputError(
                f"{text}: a label file in S3, but this output was read from a local folder "
                f"({tree.root}) that does not hold it under annotations/; download the whole "
                "job output (gtkit job download), or read the output from S3"
            )
        if is_s3(reading.manifest) or Path(text).is_absolute():
            return text
        return str(Path(reading.manifest).parent / text)

    def read_label_file(self, value: str) -> bytes:
        """The bytes of a label stored as a file (see :meth:`label_file`)."""
        where = self.label_file(value)
        if is_s3(where):
            reading = self._reading
            if reading.client is None:
                reading.client = s3_client()
            bucket, key = parse_s3_uri(where)
            with _reading(where):
                return reading.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        with _reading(where):
            return Path(where).read_bytes()

    def for_attribute(self, attribute: str) -> JobOutput:
        """The same output restricted to one label attribute (the files are read once)."""
        return JobOutput(self._reading, attribute)


def attribute_rows(frame: pd.DataFrame, attribute: str) -> pd.DataFrame:
    """The rows of a label table that belong to ``attribute``, numbered from 0."""
    chosen = frame["attribute"] == attribute
    if bool(chosen.all()) and frame.index.equals(pd.RangeIndex(len(frame))):
        return frame  # the usual one attribute: the table as it is (a copy costs 100s of MB)
    picked: pd.DataFrame = frame[chosen].reset_index(drop=True)
    return picked


def read_labels_only(path: str | os.PathLike[str]) -> LabelTables:
    """The label tables of one local manifest with only what labels are (no dates, job names
    or other details: see :data:`gtkit._labels._DETAILS`), read strictly: for reference labels."""
    text = str(path)
    con = connect()
    try:
        with _reading(text), local_file(text) as local:
            return read_label_tables(local, con, name=text, lenient=False, details=False)
    finally:
        con.close()


def read_manifest(
    path: str | os.PathLike[str], *, lenient: bool = False, client: S3Client | None = None
) -> JobOutput:
    """One output manifest (a local path or an ``s3://`` URI) as tables, read on first use.

    Lines the reader cannot take, and values it cannot read (a date that is no date), raise
    OutputError naming the file and line of each; with ``lenient=True`` the lines are skipped
    and the values read as unknown, each listed in ``JobOutput.problems`` (never dropped
    silently): the first :data:`gtkit.MAX_PROBLEMS` of each kind with their line, the rest
    counted ("and N more"), so that millions of bad lines cost bounded memory.
    """
    text = str(path)
    client = s3_client(client=client) if is_s3(text) else None
    return JobOutput(_Reading(text, None, "", client, lenient))


def read_output(
    path: str | os.PathLike[str], *, lenient: bool = False, client: S3Client | None = None
) -> JobOutput:
    """A job's output: an output tree (local folder or ``s3://`` prefix) or one manifest.

    From a tree, besides the final manifest, each object's iteration comes from whatever evidence
    the tree holds: worker-response folders and consolidation responses per iteration,
    intermediate manifests, and auto-annotations under ``activelearning/``; where the evidence
    disagrees, the earliest iteration wins. Tables are read on first use.

    A file, line, answer or value that is not what it should be raises OutputError naming
    it; with ``lenient=True`` it is skipped (or read as unknown) and listed in
    ``JobOutput.problems`` (see :func:`read_manifest`: at most :data:`gtkit.MAX_PROBLEMS` of
    a kind told one by one per file read, the rest counted), and the rest is read.
    """
    text = str(path)
    if is_s3(text):
        client = s3_client(client=client)
        if text.endswith(".manifest"):
            return read_manifest(text, lenient=lenient, client=client)
    elif Path(text).is_file():
        return read_manifest(text, lenient=lenient)
    elif not Path(text).is_dir():
        raise OutputError(f"{text}: no such folder or manifest file")
    else:
        client = None
    tree = Tree(text, client)
    relative, job = tree.find_manifest()
    return JobOutput(_Reading(tree.full(relative), tree, job, client, lenient))


@contextmanager
def _reading(path: str) -> Iterator[None]:
    """Turn a failed local or S3 read into an OutputError naming the file."""
    try:
        yield
    except FileNotFoundError:
        raise OutputError(f"{path}: no such file") from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot read ({exc.strerror})") from None
    except ClientError as exc:
        raise OutputError(f"{path}: cannot read from S3 ({exc})") from None


_SEQ_BOX = (
    'STRUCT("object-id" VARCHAR, "object-name" VARCHAR, "class-id" VARCHAR, label VARCHAR, '
    '"left" DOUBLE, top DOUBLE, width DOUBLE, height DOUBLE)'
)
_SEQ_FRAME = f'STRUCT("frame-no" VARCHAR, frame VARCHAR, annotations {_SEQ_BOX}[])'


def read_seqlabel(path: str | os.PathLike[str], *, client: S3Client | None = None) -> pd.DataFrame:
    """Read a video tracking or detection ``SeqLabel.json`` into one row per box per frame.

    Columns: ``frame`` (number; the frame's position where the file gives none),
    ``frame_name``, ``object_id``, ``object_name``, ``class_id`` (-1 where not a whole
    number), ``label``, ``left``, ``top``, ``width``, ``height`` (pixels).
    """
    text = str(path)
    client = s3_client(client=client) if is_s3(text) else None
    columns = {
        "tracking-annotations": f"{_SEQ_FRAME}[]",
        "detection-annotations": f"{_SEQ_FRAME}[]",
    }
    spec = ", ".join(f"'{k}': '{t}'" for k, t in columns.items())
    query = f"""
    SELECT COALESCE(TRY_CAST(f."frame-no" AS BIGINT), position - 1) AS frame,
        f.frame AS frame_name, b."object-id" AS object_id, b."object-name" AS object_name,
        COALESCE(TRY_CAST(b."class-id" AS BIGINT), -1) AS class_id, b.label AS label,
        b."left" AS "left", b.top AS top, b.width AS width, b.height AS height
    FROM (SELECT f, position, UNNEST(f.annotations) AS b
          FROM (SELECT UNNEST(frames) AS f, UNNEST(range(1, len(frames) + 1)) AS position
                FROM (SELECT COALESCE("tracking-annotations", "detection-annotations") AS frames
                      FROM read_json(?, format = 'unstructured', records = true,
                                     auto_detect = false, columns = {{{spec}}}))))"""
    con = connect()
    try:
        with _reading(text), local_file(text, client) as local:
            check = fetch(
                con,
                f"""SELECT count(*) AS n FROM read_json(?, format = 'unstructured',
                    records = true, auto_detect = false, columns = {{{spec}}})
                    WHERE "tracking-annotations" IS NOT NULL
                       OR "detection-annotations" IS NOT NULL""",
                [local],
            )
            if not check.column("n")[0].as_py():
                raise OutputError(
                    f"{text}: no 'tracking-annotations' or 'detection-annotations' list"
                )
            frame: pd.DataFrame = fetch(con, query, [local]).to_pandas()
    except EngineError as exc:
        raise OutputError(f"{text}: not a SeqLabel.json ({str(exc).splitlines()[0]})") from None
    finally:
        con.close()
    return frame
