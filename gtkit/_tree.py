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
import shutil
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
import pyarrow.compute as pc
from botocore.exceptions import ClientError

from gtkit._engine import MAX_LINE_BYTES, EngineError, fetch, timestamp_sql, utc
from gtkit._errors import MAX_PROBLEMS, OutputError, Problem, excerpt
from gtkit._io import join_uri, parse_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "MAX_PROBLEMS",
    "PLACES",
    "Evidence",
    "Problems",
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

# Numbers of at most 18 digits: every one fits the tables' 64-bit integers.
_ITERATION_RE = re.compile(r"iteration-([0-9]{1,18})", re.ASCII)
_DIGITS_RE = re.compile(r"[0-9]{1,18}", re.ASCII)
_S3_THREADS = 16  # objects fetched at once from S3
#: Characters the engine takes for a glob pattern in a file name.
_GLOB = frozenset("*?[]{}")


class Problems:
    """The problems found reading a tree: the first :data:`MAX_PROBLEMS` kept, the rest counted."""

    def __init__(self) -> None:
        self.kept: list[Problem] = []
        self.more: dict[str, int] = {}

    def add(self, where: str, message: str, kind: str = "skipped") -> None:
        if len(self.kept) < MAX_PROBLEMS:
            self.kept.append(Problem(where, message, kind))
        else:
            self.more[kind] = self.more.get(kind, 0) + 1

    def count(self, kind: str, n: int) -> None:
        """Count ``n`` more problems of ``kind`` not told one by one."""
        if n > 0:
            self.more[kind] = self.more.get(kind, 0) + n

    def __bool__(self) -> bool:
        return bool(self.kept)

    def listed(self, where: str) -> list[Problem]:
        """The problems kept, then one "and N more" for each kind only counted."""
        words = {"skipped": "files, lines or answers skipped", "value": "values read as unknown"}
        return self.kept + [
            Problem(where, f"and {n} more problems ({words.get(kind, kind)})", kind)
            for kind, n in self.more.items()
        ]

    def raise_unless(self, lenient: bool) -> None:
        """Raise OutputError naming the first problems, unless reading leniently."""
        if self.kept and not lenient:
            total = len(self.kept) + sum(self.more.values())
            lines = [str(p) for p in self.kept[:20]]
            if total > len(lines):
                lines.append(f"and {total - len(lines)} more")
            raise OutputError("\n".join(lines))


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
            paths = [self.full(r) for r in relatives]
            if not any(_GLOB.intersection(p) for p in paths):
                yield paths
                return
            with tempfile.TemporaryDirectory(prefix="gtkit-") as tmp:
                yield [_plain_name(p, Path(tmp) / f"{n:08d}") for n, p in enumerate(paths)]
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


def _plain_name(path: str, link: Path) -> str:
    """``path`` where the engine would take it for a glob pattern: a link of a plain name."""
    if not _GLOB.intersection(path):
        return path
    try:
        link.symlink_to(Path(path).resolve())
    except OSError:  # no symbolic links here: a copy
        shutil.copyfile(path, link)
    return str(link)


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
    reading leniently are listed as problems (at most :data:`MAX_PROBLEMS`, then counts)."""
    problems = Problems()
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
    problems.raise_unless(lenient)
    return Evidence(by_index, by_source, problems.listed(tree.root))


def _frame(**columns: object) -> pd.DataFrame:
    frame: pd.DataFrame = pd.DataFrame(columns)
    return frame


def _worker_folders(tree: Tree, base: str, problems: Problems) -> pd.DataFrame:
    """Objects per iteration from the worker-response folders' names alone."""
    folders, _ = tree.children(base)
    index: list[np.ndarray] = []
    iteration: list[np.ndarray] = []
    for folder in folders:
        n = iteration_folder(folder)
        if n is None:
            problems.add(f"{base}/{folder}", "not an iteration-<N> folder; skipped")
            continue
        ids, _ = tree.children(f"{base}/{folder}")
        good = [i for i in ids if _DIGITS_RE.fullmatch(i)]
        bad = sorted(set(ids) - set(good))
        for name in bad[:5]:
            problems.add(f"{base}/{folder}/{name}", "not a datasetObjectId folder; skipped")
        problems.count("skipped", len(bad) - 5)
        index.append(np.array(good, dtype=object).astype(np.int64))
        iteration.append(np.full(len(good), n, dtype=np.int64))
    return _frame(
        index=np.concatenate(index) if index else np.zeros(0, np.int64),
        iteration=np.concatenate(iteration) if iteration else np.zeros(0, np.int64),
    )


def _files_by_iteration(
    tree: Tree, base: str, problems: Problems, suffix: str = ".json"
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
            problems.add(relative, "not under an iteration-<N> folder; skipped")
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


@contextmanager
def _documents(
    tree: Tree,
    con: duckdb.DuckDBPyConnection,
    files: Sequence[str],
    iterations: Sequence[int],
    problems: Problems,
    *,
    shape: str,
    indexes: Sequence[int] | None = None,
) -> Iterator[None]:
    """Make the table ``docs`` for the duration: each of ``files`` (position, iteration,
    index) with its content as JSON, where it is one JSON document in UTF-8 whose top level
    is ``shape`` (``OBJECT`` or ``ARRAY``); every other file is a problem, and not in it.

    Each file is read whole by the engine as bytes, so that one broken file costs only
    itself, never the files read with it."""
    with tree.local(files) as paths:
        _with_files(con, paths, iterations, indexes)
        try:
            con.execute(
                """
                CREATE OR REPLACE TEMP TABLE docs AS
                SELECT f.position, f.iteration, f."index",
                       CASE WHEN json_valid(t.text) THEN t.text::JSON END AS doc
                FROM (SELECT filename, try(decode(content)) AS text FROM read_blob(?)) AS t
                JOIN files AS f ON t.filename = f.filename""",
                [list(paths)],
            )
        except EngineError as exc:  # a file that cannot be read at all
            raise OutputError(f"{tree.full(files[0])}...: cannot read ({_first(exc)})") from None
        finally:
            con.unregister("files")
    try:
        bad = fetch(
            con,
            f"""SELECT position, CASE WHEN doc IS NULL THEN 'not a JSON document in UTF-8'
                    ELSE 'a JSON ' || lower(json_type(doc)) || ', not {shape.lower()}' END AS why
                FROM docs WHERE doc IS NULL OR json_type(doc) <> '{shape}'
                ORDER BY position""",
        )
        for position, why in zip(
            bad.column("position").to_pylist()[:MAX_PROBLEMS],
            bad.column("why").to_pylist()[:MAX_PROBLEMS],
            strict=True,
        ):
            problems.add(files[position], f"{why}; skipped")
        problems.count("skipped", bad.num_rows - MAX_PROBLEMS)
        con.execute(f"DELETE FROM docs WHERE doc IS NULL OR json_type(doc) <> '{shape}'")
        yield
    finally:
        con.execute("DROP TABLE IF EXISTS docs")


def _element_problems(
    table: pa.Table, files: Sequence[str], problems: Problems, checks: dict[str, tuple[str, str]]
) -> None:
    """Problems of the elements of documents: for each boolean column of ``table`` named in
    ``checks`` (column: (kind, what)), its true rows (``position``, ``n``: the element's
    place, from 1) as problems, the first few told and the rest counted."""
    for column, (kind, what) in checks.items():
        rows = table.filter(pc.fill_null(table.column(column), False))
        shown = rows.slice(0, MAX_PROBLEMS)
        for position, n in zip(
            shown.column("position").to_pylist(), shown.column("n").to_pylist(), strict=True
        ):
            problems.add(files[position], f"element {n}: {what}", kind)
        problems.count(kind, rows.num_rows - shown.num_rows)


# The elements of each array document in ``docs`` (see _documents): ``e``, and ``n`` its place.
_ELEMENTS = """
WITH elements AS (
    SELECT position, iteration, UNNEST(CAST(doc AS JSON[])) AS e,
           generate_subscripts(CAST(doc AS JSON[]), 1) AS n FROM docs)
"""


def _responses(
    tree: Tree,
    base: str,
    con: duckdb.DuckDBPyConnection,
    problems: Problems,
    skip: set[int] | frozenset[int] = frozenset(),
) -> pd.DataFrame:
    """Objects per iteration from the consolidation responses (their ids only), file by file
    and by object id, but for the iterations in ``skip``."""
    files, iterations = _files_by_iteration(tree, base, problems)
    kept = [(f, n) for f, n in zip(files, iterations, strict=True) if n not in skip]
    files, iterations = [f for f, _ in kept], [n for _, n in kept]
    if not files:
        return _no_index()
    with _documents(tree, con, files, iterations, problems, shape="ARRAY"):
        found = fetch(
            con,
            _ELEMENTS
            + """
            SELECT position, iteration, n,
                CASE WHEN regexp_full_match(e->>'datasetObjectId', '[0-9]{1,18}')
                     THEN CAST(e->>'datasetObjectId' AS BIGINT) END AS "index",
                COALESCE(json_type(e) <> 'OBJECT', true) AS not_object
            FROM elements ORDER BY position, n""",
        )
    found = found.append_column(
        "bad_id", pc.and_(pc.invert(found.column("not_object")), pc.is_null(found.column("index")))
    )
    _element_problems(
        found, files, problems,
        {"not_object": ("skipped", "not an object; skipped"),
         "bad_id": ("skipped", "its datasetObjectId is not a whole number; skipped")},
    )  # fmt: skip
    good = found.filter(pc.is_valid(found.column("index"))).sort_by(
        [("position", "ascending"), ("index", "ascending")]
    )  # file and id order
    return _frame(
        index=good.column("index").to_numpy().astype(np.int64),
        iteration=good.column("iteration").to_numpy().astype(np.int64),
    )


def _intermediate(
    tree: Tree,
    base: str,
    con: duckdb.DuckDBPyConnection,
    attributes: Sequence[str],
    lenient: bool,
    problems: Problems,
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
            problems.add(base, f"intermediate manifests not readable ({_first(exc)})")
            return _no_source()
        finally:
            con.unregister("files")
    return _frame(
        source=found["source"].astype(object), iteration=found["iteration"].to_numpy(np.int64)
    )


def _auto_labels(
    tree: Tree, base: str, con: duckdb.DuckDBPyConnection, problems: Problems
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Machine-labeled objects per iteration: each line of an auto-annotator output is a token
    (the object's id where it is a number), a space, and the label as JSON."""
    files = [f for f in tree.files(base) if PurePosixPath(f).name == AUTO_ANNOTATIONS]
    iterations = [auto_iteration(f[len(base) + 1 :] if base else f) for f in files]
    for f, n in zip(files, iterations, strict=True):
        if n is None:
            problems.add(f, "no iteration folder above it; skipped")
    kept = [(f, n) for f, n in zip(files, iterations, strict=True) if n is not None]
    if not kept:
        return _no_index(), _no_source()
    with tree.local([f for f, _ in kept]) as paths:
        _with_files(con, paths, [n for _, n in kept])
        query = """
        WITH texts AS (
            SELECT f.position, f.iteration, t.text, string_split(t.text, chr(10)) AS lines
            FROM (SELECT filename, try(decode(content)) AS text FROM read_blob(?)) AS t
            JOIN files AS f ON t.filename = f.filename),
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
            CASE WHEN regexp_full_match(token, '[0-9]{1,18}') THEN CAST(token AS BIGINT) END
                AS id
        FROM parts
        UNION ALL
        SELECT position, iteration, 0, NULL, false, NULL, NULL FROM texts WHERE text IS NULL
        ORDER BY position, number"""
        try:
            found = fetch(con, query, [list(paths)]).to_pandas()
        except EngineError as exc:  # a file that cannot be read at all
            raise OutputError(f"{tree.full(kept[0][0])}...: cannot read ({_first(exc)})") from None
        finally:
            con.unregister("files")
    bad = found[~found["valid"].astype(bool)]
    for position, number in zip(bad["position"][:20], bad["number"][:20], strict=False):
        where = kept[int(position)][0]
        if number:
            problems.add(f"{where}:{number}", "not 'token JSON'; skipped")
        else:
            problems.add(where, "not UTF-8 text; skipped")
    problems.count("skipped", len(bad) - 20)
    found = found[found["valid"].astype(bool)]
    numeric = found["token"].str.fullmatch("[0-9]+", na=False)
    for position, token in zip(
        found["position"][numeric & found["id"].isna()][:5],
        found["token"][numeric & found["id"].isna()][:5],
        strict=False,
    ):
        problems.add(kept[int(position)][0], f"object id {excerpt(token)} is too large; skipped")
    ids = found[found["id"].notna()]
    named = found[found["id"].isna() & ~numeric]
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

    A file that is not what it should be, or an answer in it that is not an object, is
    skipped; a time that is not one is read as unknown; each is a problem (listed reading
    leniently, at most :data:`MAX_PROBLEMS`, else an OutputError), and the rest is read.
    Rows come file by file, a file's answers in its own order (a consolidation request's by
    object id, then as listed), the same on every read."""
    problems = Problems()
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
    problems.raise_unless(lenient)
    return answers.reset_index(drop=True), problems.listed(tree.root)


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


def _answers_frame(table: pa.Table) -> pd.DataFrame:
    """The worker-answer table from the engine's rows (times in UTC)."""
    frame: pd.DataFrame = utc(table.select(list(_ANSWER_COLUMNS))).to_pandas()
    if not len(frame):
        return empty_answers()
    return frame


def _worker_responses(
    tree: Tree, base: str, con: duckdb.DuckDBPyConnection, problems: Problems
) -> pd.DataFrame:
    files, iterations, indexes = [], [], []
    for relative in tree.files(base):
        if not relative.endswith(".json"):
            continue
        parts = PurePosixPath(relative).parts
        n = iteration_folder(parts[-3]) if len(parts) >= 3 else None
        if n is None or not _DIGITS_RE.fullmatch(parts[-2]):
            problems.add(relative, "worker response outside iteration-<N>/<datasetObjectId>/")
            continue
        files.append(relative)
        iterations.append(n)
        indexes.append(int(parts[-2]))
    if not files:
        return empty_answers()
    with _documents(tree, con, files, iterations, problems, shape="OBJECT", indexes=indexes):
        found = fetch(
            con,
            f"""
            WITH lists AS (
                SELECT position, iteration, "index", CAST(doc->'answers' AS JSON[]) AS list
                FROM docs WHERE json_type(doc->'answers') = 'ARRAY'),
            elements AS (
                SELECT position, iteration, "index", UNNEST(list) AS a,
                       generate_subscripts(list, 1) AS n FROM lists),
            fields AS (
                SELECT position, iteration, "index", n,
                    COALESCE(json_type(a) <> 'OBJECT', true) AS not_object,
                    a->>'workerId' AS worker, a->>'timeSpentInSeconds' AS seconds_text,
                    a->>'acceptanceTime' AS accepted_text,
                    a->>'submissionTime' AS submitted_text,
                    CAST(a->'answerContent' AS VARCHAR) AS answer
                FROM elements)
            SELECT "index", iteration, worker, TRY_CAST(seconds_text AS DOUBLE) AS seconds,
                {timestamp_sql("accepted_text")} AS accepted,
                {timestamp_sql("submitted_text")} AS submitted,
                answer, position, n, not_object,
                seconds_text IS NOT NULL AND TRY_CAST(seconds_text AS DOUBLE) IS NULL
                    AS bad_seconds,
                accepted_text IS NOT NULL AND ({timestamp_sql("accepted_text")}) IS NULL
                    AS bad_accepted,
                submitted_text IS NOT NULL AND ({timestamp_sql("submitted_text")}) IS NULL
                    AS bad_submitted
            FROM fields ORDER BY position, n""",
        )
        no_list = fetch(
            con,
            """SELECT position FROM docs
               WHERE json_type(doc->'answers') IS DISTINCT FROM 'ARRAY' ORDER BY position""",
        )
    for position in no_list.column("position").to_pylist()[:MAX_PROBLEMS]:
        problems.add(files[position], "no 'answers' list; skipped")
    problems.count("skipped", no_list.num_rows - MAX_PROBLEMS)
    _element_problems(
        found, files, problems,
        {"not_object": ("skipped", "an answer that is not an object; skipped"),
         "bad_seconds": ("value", "timeSpentInSeconds is not a number; read as unknown"),
         "bad_accepted": ("value", "acceptanceTime is not a time; read as unknown"),
         "bad_submitted": ("value", "submissionTime is not a time; read as unknown")},
    )  # fmt: skip
    return _answers_frame(found.filter(pc.invert(found.column("not_object"))))


def _first(exc: Exception) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 300 else f"{line[:297]}..."


def _requests(
    tree: Tree, base: str, con: duckdb.DuckDBPyConnection, problems: Problems
) -> pd.DataFrame:
    """Worker answers from consolidation-request files (the payload of a consolidation
    Lambda): one row per worker annotation, its content as given."""
    files, iterations = _files_by_iteration(tree, base, problems)
    if not files:
        return empty_answers()
    with _documents(tree, con, files, iterations, problems, shape="ARRAY"):
        objects = fetch(
            con,
            _ELEMENTS
            + """
            SELECT position, n, COALESCE(json_type(e) <> 'OBJECT', true) AS not_object,
                json_type(e) = 'OBJECT'
                    AND NOT regexp_full_match(COALESCE(e->>'datasetObjectId', ''), '[0-9]{1,18}')
                    AS bad_id
            FROM elements ORDER BY position, n""",
        )
        found = fetch(
            con,
            _ELEMENTS
            + """,
            objects AS (
                SELECT position, iteration, CAST(e->>'datasetObjectId' AS BIGINT) AS "index",
                    CAST(e->'annotations' AS JSON[]) AS annotations
                FROM elements
                WHERE json_type(e) = 'OBJECT'
                  AND regexp_full_match(COALESCE(e->>'datasetObjectId', ''), '[0-9]{1,18}')
                  AND json_type(e->'annotations') = 'ARRAY'),
            answers AS (
                SELECT position, iteration, "index", UNNEST(annotations) AS a,
                       generate_subscripts(annotations, 1) AS place FROM objects)
            SELECT "index", iteration, a->>'workerId' AS worker, NULL::DOUBLE AS seconds,
                NULL::TIMESTAMP AS accepted, NULL::TIMESTAMP AS submitted,
                a->'annotationData'->>'content' AS answer
            FROM answers WHERE json_type(a) = 'OBJECT'
            ORDER BY position, "index", place""",
        )
    _element_problems(
        objects, files, problems,
        {"not_object": ("skipped", "not an object; skipped"),
         "bad_id": ("skipped", "its datasetObjectId is not a whole number; skipped")},
    )  # fmt: skip
    return _answers_frame(found)


def read_consolidations(
    tree: Tree, places: dict[str, list[str]], con: duckdb.DuckDBPyConnection, *, lenient: bool
) -> tuple[pd.DataFrame, list[Problem]]:
    """One row per object of each consolidation response: ``index`` and ``iteration``."""
    problems = Problems()
    found = pd.concat(
        [_no_index()]
        + [_responses(tree, base, con, problems) for base in places["consolidation-response"]],
        ignore_index=True,
    )
    problems.raise_unless(lenient)
    return found, problems.listed(tree.root)
