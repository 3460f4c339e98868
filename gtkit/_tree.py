"""A job's output tree (``<S3OutputPath>/<job-name>/``, a downloaded folder or an S3 prefix):
where its files are, which iteration labeled each object, and what the workers answered.

The service writes (``ground-truth-facts.md``, section 4)::

    manifests/output/output.manifest                        the final labels
    manifests/intermediate/<N>/output.manifest              labels after iteration N (2019)
    annotations/worker-response/iteration-<N>/<id>/<time>.json
    annotations/consolidated-annotation/consolidation-request/iteration-<N>/<time>.json
    annotations/consolidated-annotation/consolidation-response/iteration-<N>/<time>.json
    activelearning/.../<N>/.../auto_annotator_output.txt    machine labels of iteration N

Which objects an iteration labeled needs no worker answer: the folder names under
``worker-response/iteration-<N>/`` are the object ids. Answers are read, each file whole by the
engine, only when asked for.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from botocore.exceptions import ClientError

from gtkit._engine import MAX_LINE_BYTES, EngineError, document_limit, fetch, timestamp_sql
from gtkit._errors import OutputError, Problem
from gtkit._io import join_uri, parse_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "PLACES",
    "Evidence",
    "Tree",
    "auto_iteration",
    "empty_answers",
    "find_places",
    "iteration_folder",
    "read_consolidations",
    "read_evidence",
    "read_worker_answers",
]

OUTPUT_MANIFEST = "manifests/output/output.manifest"
AUTO_ANNOTATIONS = "auto_annotator_output.txt"

_ITERATION_RE = re.compile(r"iteration-([0-9]+)", re.ASCII)
_DIGITS_RE = re.compile(r"[0-9]+", re.ASCII)
_S3_THREADS = 16  # objects fetched at once from S3


def iteration_folder(name: str) -> int | None:
    """The N of a folder named ``iteration-N`` (ASCII digits, any count), else None.

    >>> iteration_folder("iteration-12"), iteration_folder("iteration-²"), iteration_folder("x")
    (12, None, None)
    """
    m = _ITERATION_RE.fullmatch(name)
    return int(m.group(1)) if m else None


def auto_iteration(relative: str) -> int | None:
    """The iteration of a file under ``activelearning/``: the nearest folder above it that is a
    number or ``iteration-N`` (the depth is not documented, and iterations pass 9)."""
    for part in reversed(PurePosixPath(relative).parts[:-1]):
        if _DIGITS_RE.fullmatch(part):
            return int(part)
        found = iteration_folder(part)
        if found is not None:
            return found
    return None


def _prefix(uri: str) -> str:
    """An S3 URI as the prefix of the keys under it (one trailing slash)."""
    return uri.rstrip("/") + "/"


class Tree:
    """A local folder or an S3 prefix, read file by file (paths relative to ``root``, POSIX)."""

    def __init__(self, root: str, client: S3Client | None) -> None:
        self.root = root.rstrip("/") if client is not None else root
        self.client = client

    def full(self, relative: str) -> str:
        """The local path or S3 URI of a file of the tree."""
        if self.client is not None:
            return join_uri(self.root, relative) if relative else self.root
        return str(Path(self.root) / relative) if relative else self.root

    def is_file(self, relative: str) -> bool:
        if self.client is None:
            return Path(self.full(relative)).is_file()
        bucket, key = parse_s3_uri(self.full(relative))
        try:
            self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise OutputError(f"{self.full(relative)}: cannot read from S3 ({exc})") from None
        return True

    def children(self, relative: str) -> tuple[list[str], list[str]]:
        """Folders and files directly under ``relative``, by name, sorted."""
        if self.client is None:
            try:
                entries = list(os.scandir(self.full(relative)))
            except (FileNotFoundError, NotADirectoryError):
                return [], []
            except OSError as exc:
                raise OutputError(f"{self.full(relative)}: cannot list ({exc.strerror})") from None
            folders = sorted(e.name for e in entries if e.is_dir())
            files = sorted(e.name for e in entries if e.is_file())
            return folders, files
        bucket, prefix = parse_s3_uri(_prefix(self.full(relative)))
        folders, files = [], []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix, Delimiter="/"
            )
            for page in pages:
                folders += [
                    p["Prefix"][len(prefix) :].rstrip("/") for p in page.get("CommonPrefixes", ())
                ]
                files += [o["Key"][len(prefix) :] for o in page.get("Contents", ())]
        except ClientError as exc:
            raise OutputError(f"{self.full(relative)}: cannot list S3 ({exc})") from None
        return sorted(folders), sorted(f for f in files if f)

    def files(self, relative: str) -> list[str]:
        """Every file under ``relative``, at any depth, relative to the root, sorted."""
        if self.client is None:
            base = Path(self.full(relative))
            out = []
            for folder, _, names in os.walk(base):
                rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
                out += [f"{rel}/{n}" if rel != "." else n for n in names]
            return sorted(out)
        bucket, prefix = parse_s3_uri(_prefix(self.full(relative)))
        _, root_prefix = parse_s3_uri(_prefix(self.root))
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                keys += [o["Key"][len(root_prefix) :] for o in page.get("Contents", ())]
        except ClientError as exc:
            raise OutputError(f"{self.full(relative)}: cannot list S3 ({exc})") from None
        return sorted(k for k in keys if k and not k.endswith("/"))

    @contextmanager
    def local(self, relatives: Sequence[str]) -> Iterator[list[str]]:
        """Local paths of some files of the tree, in order: S3 objects are fetched (a few at a
        time) into a temporary folder that is removed afterwards."""
        if self.client is None:
            yield [self.full(r) for r in relatives]
            return
        client = self.client
        with tempfile.TemporaryDirectory(prefix="gtkit-") as tmp:
            targets = [str(Path(tmp) / f"{n:08d}") for n in range(len(relatives))]

            def fetch_one(pair: tuple[str, str]) -> None:
                bucket, key = parse_s3_uri(self.full(pair[0]))
                with Path(pair[1]).open("wb") as f:
                    client.download_fileobj(bucket, key, f)

            try:
                with ThreadPoolExecutor(_S3_THREADS) as pool:
                    list(pool.map(fetch_one, zip(relatives, targets, strict=True)))
            except ClientError as exc:
                raise OutputError(f"{self.root}: cannot read from S3 ({exc})") from None
            yield targets

    def find_manifest(self) -> tuple[str, str]:
        """The final output manifest and the job folder it belongs to, both relative to the
        root: ``manifests/output/output.manifest`` in the root or in its one job folder, an
        ``output.manifest`` in the root, else the one ``.manifest`` anywhere that is not an
        intermediate one."""
        if self.is_file(OUTPUT_MANIFEST):
            return OUTPUT_MANIFEST, ""
        if self.is_file("output.manifest"):
            return "output.manifest", ""
        folders, _ = self.children("")
        inside = [f for f in folders if self.is_file(f"{f}/{OUTPUT_MANIFEST}")]
        if len(inside) == 1:
            return f"{inside[0]}/{OUTPUT_MANIFEST}", inside[0]
        candidates = [
            f for f in self.files("") if f.endswith(".manifest") and "intermediate" not in f
        ]
        if len(candidates) == 1:
            found = candidates[0]
            job = (
                found[: -len(OUTPUT_MANIFEST)].rstrip("/")
                if found.endswith(OUTPUT_MANIFEST)
                else ""
            )
            return found, job
        raise OutputError(
            f"{self.root}: no output manifest found (looked for {OUTPUT_MANIFEST}"
            + (f"; candidates: {', '.join(candidates[:5])}" if candidates else "")
            + ")"
        )


@dataclass
class Evidence:
    """Which iteration labeled which object, from the files that say so."""

    by_index: pd.DataFrame  # index, iteration: worker-response folders, consolidation responses
    by_source: pd.DataFrame  # source, iteration: intermediate manifests, auto annotations
    problems: list[Problem]


def _join(job: str, relative: str) -> str:
    return f"{job}/{relative}" if job else relative


#: The folders that hold iteration evidence and answers, by name (``intermediate`` only where
#: it stands in ``manifests``). Where a tree was downloaded in part or rearranged, they are
#: looked for near the job folder rather than at their documented depth only.
PLACES = (
    "worker-response",
    "consolidation-response",
    "consolidation-request",
    "activelearning",
    "intermediate",
)
_SEARCH_DEPTH = 2  # folders below the job folder listed in looking for them


def find_places(tree: Tree, job: str) -> dict[str, list[str]]:
    """Where each of :data:`PLACES` is in the job folder ``job`` (relative to the tree's root):
    folders listed breadth first, to a depth of three, never into a found folder (worker
    responses hold a folder per object)."""
    found: dict[str, list[str]] = {name: [] for name in PLACES}
    frontier = [(job, 0)]
    while frontier:
        folder, depth = frontier.pop(0)
        folders, _ = tree.children(folder)
        for name in folders:
            path = _join(folder, name)
            parent = PurePosixPath(folder).name if folder else ""
            if name in found and (name != "intermediate" or parent == "manifests"):
                found[name].append(path)
            elif depth < _SEARCH_DEPTH and iteration_folder(name) is None:
                frontier.append((path, depth + 1))
    return found


def read_evidence(
    tree: Tree,
    places: dict[str, list[str]],
    con: duckdb.DuckDBPyConnection,
    *,
    attributes: Sequence[str],
    lenient: bool,
) -> Evidence:
    """Every piece of iteration evidence in the ``places`` of a tree (see :func:`find_places`
    and the module docstring). Files that are not what they should be raise OutputError, or
    reading leniently are listed as problems."""
    problems: list[Problem] = []
    index_parts, source_parts = [], []
    for base in places["activelearning"]:
        auto_ids, auto_sources = _auto_labels(tree, base, con, problems)
        index_parts.append(auto_ids)
        source_parts.append(auto_sources)
    answered: set[int] = set()  # iterations with worker-response folders
    for base in places["worker-response"]:
        folders = _worker_folders(tree, base, problems)
        answered.update(np.unique(folders["iteration"]).tolist())
        index_parts.append(folders)
    # A consolidation response names the objects whose worker responses the same iteration
    # holds: its files are read only for iterations that have no worker-response folder.
    for base in places["consolidation-response"]:
        index_parts.append(_responses(tree, base, con, problems, skip=answered))
    for base in places["intermediate"]:
        source_parts.append(_intermediate(tree, base, con, attributes, lenient, problems))
    index_parts.append(_no_index())
    source_parts.append(_no_source())
    by_index = pd.concat(index_parts, ignore_index=True)
    by_source = pd.concat(source_parts, ignore_index=True)
    if problems and not lenient:
        raise OutputError("\n".join(str(p) for p in problems[:20]))
    return Evidence(by_index, by_source, problems)


def _frame(**columns: object) -> pd.DataFrame:
    frame: pd.DataFrame = pd.DataFrame(columns)
    return frame


def _worker_folders(tree: Tree, base: str, problems: list[Problem]) -> pd.DataFrame:
    """Objects per iteration from the worker-response folders' names alone."""
    folders, _ = tree.children(base)
    index: list[np.ndarray] = []
    iteration: list[np.ndarray] = []
    for folder in folders:
        n = iteration_folder(folder)
        if n is None:
            problems.append(Problem(f"{base}/{folder}", "not an iteration-<N> folder; skipped"))
            continue
        ids, _ = tree.children(f"{base}/{folder}")
        good = [i for i in ids if _DIGITS_RE.fullmatch(i)]
        for bad in sorted(set(ids) - set(good))[:5]:
            problems.append(
                Problem(f"{base}/{folder}/{bad}", "not a datasetObjectId folder; skipped")
            )
        index.append(np.array(good, dtype=object).astype(np.int64))
        iteration.append(np.full(len(good), n, dtype=np.int64))
    return _frame(
        index=np.concatenate(index) if index else np.zeros(0, np.int64),
        iteration=np.concatenate(iteration) if iteration else np.zeros(0, np.int64),
    )


def _files_by_iteration(
    tree: Tree, base: str, problems: list[Problem], suffix: str = ".json"
) -> tuple[list[str], list[int]]:
    """``.json`` files under ``base``'s iteration-N folders, with their N."""
    files, iterations = [], []
    for relative in tree.files(base):
        if not relative.endswith(suffix):
            continue
        n = next(
            (k for k in map(iteration_folder, PurePosixPath(relative).parts) if k is not None),
            None,
        )
        if n is None:
            problems.append(Problem(relative, "not under an iteration-<N> folder; skipped"))
            continue
        files.append(relative)
        iterations.append(n)
    return files, iterations


def _with_files(
    con: duckdb.DuckDBPyConnection,
    locals_: Sequence[str],
    iterations: Sequence[int],
    indexes: Sequence[int] | None = None,
) -> None:
    """Register the table ``files``: each local file's name, iteration, position in the list,
    and (for per-object files) the object's index."""
    con.register(
        "files",
        pa.table(
            {
                "filename": pa.array(list(locals_), pa.string()),
                "iteration": pa.array(list(iterations), pa.int64()),
                "position": pa.array(range(len(locals_)), pa.int64()),
                "index": pa.array(
                    list(indexes) if indexes is not None else [None] * len(locals_), pa.int64()
                ),
            }
        ),
    )


def _responses(
    tree: Tree,
    base: str,
    con: duckdb.DuckDBPyConnection,
    problems: list[Problem],
    skip: set[int] | frozenset[int] = frozenset(),
) -> pd.DataFrame:
    """Objects per iteration from the consolidation responses (their ids only), file by file
    and by object id, but for the iterations in ``skip``."""
    files, iterations = _files_by_iteration(tree, base, problems)
    kept = [(f, n) for f, n in zip(files, iterations, strict=True) if n not in skip]
    files, iterations = [f for f, _ in kept], [n for _, n in kept]
    if not files:
        return _no_index()
    with tree.local(files) as paths:
        _with_files(con, paths, iterations)
        query = f"""
        SELECT TRY_CAST(r.datasetObjectId AS BIGINT) AS "index", f.iteration, f.position,
               r.datasetObjectId AS raw
        FROM read_json(?, format = 'array', records = true, auto_detect = false,
                       columns = {{'datasetObjectId': 'VARCHAR'}}, filename = true,
                       maximum_object_size = {document_limit(paths)}) AS r
        JOIN files AS f ON r.filename = f.filename
        ORDER BY f.position, 1"""
        try:
            found = fetch(con, query, [list(paths)]).to_pandas()
        except EngineError as exc:
            problems.append(Problem(base, f"not consolidation responses ({_first(exc)})"))
            return _no_index()
        finally:
            con.unregister("files")
    bad = found[found["index"].isna()]
    for position, raw in zip(bad["position"][:5], bad["raw"][:5], strict=False):
        problems.append(Problem(files[int(position)], f"datasetObjectId {raw!r} is not a number"))
    good = found[found["index"].notna()]
    return _frame(
        index=good["index"].to_numpy(dtype=np.int64),
        iteration=good["iteration"].to_numpy(dtype=np.int64),
    )


def _intermediate(
    tree: Tree,
    base: str,
    con: duckdb.DuckDBPyConnection,
    attributes: Sequence[str],
    lenient: bool,
    problems: list[Problem],
) -> pd.DataFrame:
    """Sources labeled (and not failed) in each intermediate manifest."""
    folders, _ = tree.children(base)
    chosen = [(int(f), f"{base}/{f}/output.manifest") for f in folders if _DIGITS_RE.fullmatch(f)]
    chosen = [(n, rel) for n, rel in chosen if tree.is_file(rel)]
    if not chosen or not attributes:
        return _no_source()
    meta = 'STRUCT(type VARCHAR, "human-annotated" VARCHAR, "failure-reason" VARCHAR)'
    columns = {"source-ref": "VARCHAR", "source": "VARCHAR"}
    columns.update({f"{a}-metadata": meta for a in attributes})
    spec = ", ".join(f"'{k.replace(chr(39), chr(39) * 2)}': '{t}'" for k, t in columns.items())
    labeled = " OR ".join(
        f"(m{k}.type ILIKE 'groundtruth/%' OR m{k}.\"human-annotated\" IS NOT NULL) "
        f'AND m{k}."failure-reason" IS NULL'
        for k in range(len(attributes))
    )
    renamed = ", ".join(
        f'"{a.replace(chr(34), chr(34) * 2)}-metadata" AS m{k}' for k, a in enumerate(attributes)
    )
    with tree.local([rel for _, rel in chosen]) as paths:
        _with_files(con, paths, [n for n, _ in chosen])
        query = f"""
        SELECT COALESCE("source-ref", "source") AS source, f.iteration
        FROM (SELECT filename, "source-ref", "source", {renamed}
              FROM read_json(?, format = 'newline_delimited', records = true,
                  auto_detect = false, columns = {{{spec}}}, filename = true,
                  ignore_errors = {str(lenient).lower()},
                  maximum_object_size = {MAX_LINE_BYTES})) AS r
        JOIN files AS f ON r.filename = f.filename
        WHERE COALESCE({labeled}, false)"""
        try:
            found = fetch(con, query, [list(paths)]).to_pandas()
        except EngineError as exc:
            problems.append(Problem(base, f"intermediate manifests not readable ({exc})"))
            return _no_source()
        finally:
            con.unregister("files")
    return _frame(
        source=found["source"].astype(object), iteration=found["iteration"].to_numpy(np.int64)
    )


def _auto_labels(
    tree: Tree, base: str, con: duckdb.DuckDBPyConnection, problems: list[Problem]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Machine-labeled objects per iteration: each line of an auto-annotator output is a token
    (the object's id where it is a number), a space, and the label as JSON."""
    files = [f for f in tree.files(base) if PurePosixPath(f).name == AUTO_ANNOTATIONS]
    iterations = [auto_iteration(f[len(base) + 1 :] if base else f) for f in files]
    for f, n in zip(files, iterations, strict=True):
        if n is None:
            problems.append(Problem(f, "no iteration folder above it; skipped"))
    kept = [(f, n) for f, n in zip(files, iterations, strict=True) if n is not None]
    if not kept:
        return _no_index(), _no_source()
    with tree.local([f for f, _ in kept]) as paths:
        _with_files(con, paths, [n for _, n in kept])
        query = """
        WITH texts AS (
            SELECT f.position, f.iteration, string_split(t.content, chr(10)) AS lines
            FROM read_text(?) AS t JOIN files AS f ON t.filename = f.filename),
        numbered AS (
            SELECT position, iteration, UNNEST(lines) AS line,
                   UNNEST(range(1, len(lines) + 1)) AS number FROM texts),
        parts AS (
            SELECT position, iteration, number, split_part(line, ' ', 1) AS token,
                   CASE WHEN strpos(line, ' ') > 0 THEN substr(line, strpos(line, ' ') + 1)
                        ELSE '' END AS body
            FROM numbered WHERE trim(line) <> '')
        SELECT position, iteration, number, token,
            CASE WHEN trim(body) = '' THEN true ELSE json_valid(body) END AS valid,
            CASE WHEN regexp_full_match(token, '[0-9]+') THEN NULL
                 WHEN trim(body) <> '' AND json_valid(body) THEN COALESCE(
                    json_extract_string(body, '$."source-ref"'),
                    json_extract_string(body, '$.source'), token)
                 ELSE token END AS source,
            TRY_CAST(CASE WHEN regexp_full_match(token, '[0-9]+') THEN token END AS BIGINT) AS id
        FROM parts"""
        try:
            found = fetch(con, query, [list(paths)]).to_pandas()
        finally:
            con.unregister("files")
    bad = found[~found["valid"].astype(bool)]
    for position, number in zip(bad["position"][:20], bad["number"][:20], strict=False):
        problems.append(Problem(f"{kept[int(position)][0]}:{number}", "not 'token JSON'"))
    found = found[found["valid"].astype(bool)]
    ids = found[found["id"].notna()]
    named = found[found["id"].isna()]
    return (
        _frame(index=ids["id"].to_numpy(np.int64), iteration=ids["iteration"].to_numpy(np.int64)),
        _frame(
            source=named["source"].astype(object), iteration=named["iteration"].to_numpy(np.int64)
        ),
    )


def _no_index() -> pd.DataFrame:
    return _frame(index=np.zeros(0, np.int64), iteration=np.zeros(0, np.int64))


def _no_source() -> pd.DataFrame:
    return _frame(source=pd.Series(dtype=object), iteration=np.zeros(0, np.int64))


# ---------------------------------------------------------------------- answers
def read_worker_answers(
    tree: Tree, places: dict[str, list[str]], con: duckdb.DuckDBPyConnection, *, lenient: bool
) -> tuple[pd.DataFrame, list[Problem]]:
    """One row per worker answer: from worker-response files, and from consolidation requests
    for objects of an iteration that has no worker-response file (the same answers, without
    times). Columns: ``index``, ``iteration``, ``worker``, ``seconds`` (time spent, where
    known), ``accepted`` and ``submitted`` (UTC), ``answer`` (the answer content as JSON).
    Rows come file by file, a file's answers in its own order (a consolidation request's by
    object id, then as listed), the same on every read."""
    problems: list[Problem] = []
    responses = pd.concat(
        [empty_answers()]
        + [_worker_responses(tree, base, con, problems) for base in places["worker-response"]],
        ignore_index=True,
    )
    requests = pd.concat(
        [empty_answers()]
        + [_requests(tree, base, con, problems) for base in places["consolidation-request"]],
        ignore_index=True,
    )
    if len(requests) and len(responses):
        have = pd.MultiIndex.from_frame(responses[["iteration", "index"]].drop_duplicates())
        keys = pd.MultiIndex.from_frame(requests[["iteration", "index"]])
        requests = requests[~keys.isin(have)]
    answers = pd.concat([responses, requests], ignore_index=True) if len(requests) else responses
    if problems and not lenient:
        raise OutputError("\n".join(str(p) for p in problems[:20]))
    return answers.reset_index(drop=True), problems


_ANSWER_COLUMNS = ("index", "iteration", "worker", "seconds", "accepted", "submitted", "answer")


def empty_answers() -> pd.DataFrame:
    """The worker-answer table with no rows."""
    return _frame(
        index=pd.Series(dtype="int64"),
        iteration=pd.Series(dtype="int64"),
        worker=pd.Series(dtype="object"),
        seconds=pd.Series(dtype="float64"),
        accepted=pd.Series(dtype="datetime64[us, UTC]"),
        submitted=pd.Series(dtype="datetime64[us, UTC]"),
        answer=pd.Series(dtype="object"),
    )


def _worker_responses(
    tree: Tree, base: str, con: duckdb.DuckDBPyConnection, problems: list[Problem]
) -> pd.DataFrame:
    files, iterations, indexes = [], [], []
    for relative in tree.files(base):
        if not relative.endswith(".json"):
            continue
        parts = PurePosixPath(relative).parts
        n = iteration_folder(parts[-3]) if len(parts) >= 3 else None
        if n is None or not _DIGITS_RE.fullmatch(parts[-2]):
            problems.append(
                Problem(relative, "worker response outside iteration-<N>/<datasetObjectId>/")
            )
            continue
        files.append(relative)
        iterations.append(n)
        indexes.append(int(parts[-2]))
    if not files:
        return empty_answers()
    answer = (
        "STRUCT(workerId VARCHAR, answerContent JSON, submissionTime VARCHAR, "
        "acceptanceTime VARCHAR, timeSpentInSeconds DOUBLE)[]"
    )
    with tree.local(files) as paths:
        _with_files(con, paths, iterations, indexes)
        query = f"""
        SELECT f."index", f.iteration, a.workerId AS worker, a.timeSpentInSeconds AS seconds,
            {timestamp_sql("a.acceptanceTime")} AS accepted,
            {timestamp_sql("a.submissionTime")} AS submitted,
            CAST(a.answerContent AS VARCHAR) AS answer, f.position
        FROM (SELECT filename, UNNEST(answers) AS a, generate_subscripts(answers, 1) AS place
              FROM read_json(?, format = 'unstructured', records = true, auto_detect = false,
                  columns = {{'answers': '{answer}'}}, filename = true,
                  maximum_object_size = {MAX_LINE_BYTES})) AS r
        JOIN files AS f ON r.filename = f.filename
        ORDER BY f.position, r.place"""
        try:
            table = fetch(con, query, [list(paths)])
        except EngineError as exc:
            problems.append(Problem(base, f"worker responses not readable ({_first(exc)})"))
            return empty_answers()
        finally:
            con.unregister("files")
    frame: pd.DataFrame = table.to_pandas()
    picked: pd.DataFrame = frame[list(_ANSWER_COLUMNS)]
    return picked


def _first(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _requests(
    tree: Tree, base: str, con: duckdb.DuckDBPyConnection, problems: list[Problem]
) -> pd.DataFrame:
    """Worker answers from consolidation-request files (the payload of a consolidation
    Lambda): one row per worker annotation, its content as given."""
    files, iterations = _files_by_iteration(tree, base, problems)
    if not files:
        return empty_answers()
    annotation = "STRUCT(workerId VARCHAR, annotationData STRUCT(content VARCHAR))[]"
    with tree.local(files) as paths:
        _with_files(con, paths, iterations)
        query = f"""
        SELECT TRY_CAST(r.datasetObjectId AS BIGINT) AS "index", f.iteration,
            a.workerId AS worker, NULL::DOUBLE AS seconds,
            NULL::TIMESTAMPTZ AS accepted, NULL::TIMESTAMPTZ AS submitted,
            a.annotationData.content AS answer
        FROM (SELECT filename, datasetObjectId, UNNEST(annotations) AS a,
                     generate_subscripts(annotations, 1) AS place
              FROM read_json(?, format = 'array', records = true, auto_detect = false,
                  columns = {{'datasetObjectId': 'VARCHAR', 'annotations': '{annotation}'}},
                  filename = true, maximum_object_size = {document_limit(paths)})) AS r
        JOIN files AS f ON r.filename = f.filename
        ORDER BY f.position, 1, r.place"""
        try:
            table = fetch(con, query, [list(paths)])
        except EngineError as exc:
            problems.append(Problem(base, f"not consolidation requests ({_first(exc)})"))
            return empty_answers()
        finally:
            con.unregister("files")
    frame: pd.DataFrame = table.to_pandas()
    frame = frame[frame["index"].notna()].astype({"index": "int64"})
    picked: pd.DataFrame = frame[list(_ANSWER_COLUMNS)]
    return picked


def read_consolidations(
    tree: Tree, places: dict[str, list[str]], con: duckdb.DuckDBPyConnection, *, lenient: bool
) -> tuple[pd.DataFrame, list[Problem]]:
    """One row per object of each consolidation response: ``index`` and ``iteration``."""
    problems: list[Problem] = []
    found = pd.concat(
        [_no_index()]
        + [_responses(tree, base, con, problems) for base in places["consolidation-response"]],
        ignore_index=True,
    )
    if problems and not lenient:
        raise OutputError("\n".join(str(p) for p in problems[:20]))
    return found, problems
