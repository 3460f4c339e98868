"""The columnar engine every reader reads through: DuckDB, and the few helpers around it.

DuckDB reads JSON Lines, JSON documents and CSV files with an explicit schema, on every core,
into Arrow columns; gtkit never parses JSON or CSV text itself (a line-by-line Python pass only
describes lines the engine rejected, see :mod:`gtkit._lines`). S3 objects are streamed by boto3
to a temporary file first, so that moto serves them in tests exactly as S3 does in use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from gtkit._errors import GtkitError
from gtkit._io import parse_s3_uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "MAX_LINE_BYTES",
    "EngineError",
    "batches",
    "connect",
    "document_limit",
    "fetch",
    "json_string",
    "local_file",
    "release_memory",
    "timestamp_sql",
    "utc",
    "worker_count",
]

#: The longest JSON Lines line (or small JSON document) the engine takes, in bytes: far beyond
#: the service's 100,000-character line. (The engine sizes its read buffers by it: a much larger
#: bound would cost the parallel read.)
MAX_LINE_BYTES = 16 << 20


def document_limit(paths: Sequence[str]) -> int:
    """The object size bound for reading whole JSON documents (a COCO file, consolidation
    files): the largest file's size, at least :data:`MAX_LINE_BYTES`."""
    largest = max((Path(p).stat().st_size for p in paths), default=0)
    return max(MAX_LINE_BYTES, largest + 1)


EngineError: tuple[type[Exception], ...] = (duckdb.Error, UnicodeDecodeError)
"""What the engine raises for input it cannot read (malformed JSON, a value of the wrong type,
a CSV row with the wrong number of fields; a message quoting broken text can fail to decode);
readers turn it into a gtkit error naming the file."""


def worker_count() -> int:
    """Threads the engine reads with: ``GTKIT_WORKERS`` if set to a positive number, else the
    cores this process may use."""
    setting = os.environ.get("GTKIT_WORKERS", "").strip()
    if setting.isdigit() and int(setting) >= 1:
        return int(setting)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_DATABASE: list[duckdb.DuckDBPyConnection] = []  # made on first use, one a process
_DATABASE_LOCK = threading.Lock()


def connect() -> duckdb.DuckDBPyConnection:
    """A connection of its own (its registered tables and settings its own) to this process's
    in-memory engine, which is made once (making one costs tens of milliseconds): UTC for
    naive times (Ground Truth writes UTC), file order kept, :func:`worker_count` threads, no
    progress bar, freed memory returned. Close it when done."""
    with _DATABASE_LOCK:
        if not _DATABASE:
            # The allocator's background threads give freed memory back to the system as
            # reads finish (without them, a 1,000,000-object read kept ~200 MB it no longer used).
            _DATABASE.append(
                duckdb.connect(
                    config={"preserve_insertion_order": True, "allocator_background_threads": True}
                )
            )
        con = _DATABASE[0].cursor()
    con.execute(f"SET threads = {worker_count()}")
    con.execute("SET TimeZone = 'UTC'")
    # In Jupyter without ipywidgets the engine refuses to change this setting.
    with contextlib.suppress(duckdb.Error):
        con.execute("SET enable_progress_bar = false")
    return con


def fetch(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any] = ()) -> pa.Table:
    """Run ``query`` (with ``?`` parameters) and return its result as an Arrow table."""
    table: pa.Table = con.sql(query, params=list(params) or None).to_arrow_table()
    return table


def batches(
    con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any], rows: int
) -> pa.RecordBatchReader:
    """Run ``query`` and return its result a batch of about ``rows`` rows at a time."""
    relation = con.sql(query, params=list(params) or None)
    if hasattr(relation, "to_arrow_reader"):  # the engine's name for it since 1.5
        reader: pa.RecordBatchReader = relation.to_arrow_reader(rows)
    else:
        reader = relation.fetch_record_batch(rows)
    return reader


def json_string(value: str) -> str:
    """``value`` as a SQL string literal (for the JSON type descriptions DuckDB takes as text)."""
    return "'" + value.replace("'", "''") + "'"


def timestamp_sql(column: str) -> str:
    """SQL for a creation or submission date (text) as a timestamp in UTC without a time zone
    (pandas gives it one), NULL where the text is no date.

    ISO 8601 with or without fractions, ``Z`` or an offset (naive times are UTC, as Ground Truth
    writes them), and JavaScript date strings such as
    ``Mon Aug 22 2022 13:52:52 GMT-0700 (Pacific Daylight Time)``. Years 1 to 9999, the same
    for every date wherever it stands in a file. (A text with an offset takes the engine's
    slower, time-zone-aware reading; the usual naive one the plain one.)
    """
    offset = f"regexp_matches({column}, '[+-][0-9][0-9]:?[0-9][0-9]$')"
    javascript = (
        f"CAST(try_strptime(regexp_replace({column}, ' \\(.*\\)$', ''), "
        "'%a %b %d %Y %H:%M:%S GMT%z') AS TIMESTAMP)"
    )  # its time-zone name in brackets is optional: "... GMT-0700" ends in an offset too
    return (
        f"CASE WHEN {offset} THEN COALESCE(CAST(TRY_CAST({column} AS TIMESTAMPTZ) AS TIMESTAMP), "
        f"{javascript}) ELSE COALESCE(TRY_CAST({column} AS TIMESTAMP), {javascript}) END"
    )


#: Bytes Arrow must have freed since memory was last given back before it is given back again.
#: Giving it back has a price: the next read has the system hand it over again, page by page
#: (on a small virtual machine, about 1.5 ms a megabyte). A 100,000-object analysis frees about
#: 250 MB in all; a 1,000,000-object one frees that at every step.
RELEASE_AFTER_BYTES = 256 << 20
_freed_at_release = [0]


def release_memory() -> None:
    """Give the memory Arrow holds for reuse back to the system (after a large read, so that
    the next one does not add to it), once at least :data:`RELEASE_AFTER_BYTES` have been freed
    since it was last given back."""
    pool = pa.default_memory_pool()
    freed = pool.total_bytes_allocated() - pool.bytes_allocated()
    if freed - _freed_at_release[0] >= RELEASE_AFTER_BYTES:
        pool.release_unused()
        _freed_at_release[0] = freed


def utc(table: pa.Table) -> pa.Table:
    """``table`` with its naive timestamps (UTC, see :func:`timestamp_sql`) marked as UTC."""
    for n, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type) and f.type.tz is None:
            table = table.set_column(n, f.name, table.column(n).cast(pa.timestamp("us", "UTC")))
    return table


_GLOB = frozenset("*?[]{}")


@contextmanager
def local_file(path: str, client: S3Client | None = None) -> Iterator[str]:
    """A local path the engine can read for ``path``: an ``s3://`` object streamed to a temporary
    file (removed afterwards), or a local file as it is. A local name the engine would take for
    a glob pattern (``*``, ``?``, brackets) is read through a link of a plain name."""
    if path.startswith("s3://"):
        if client is None:
            raise GtkitError(f"{path}: an S3 client is needed to read it")
        bucket, key = parse_s3_uri(path)
        with tempfile.TemporaryDirectory(prefix="gtkit-") as tmp:
            local = Path(tmp) / "object"
            with local.open("wb") as f:
                client.download_fileobj(bucket, key, f)
            yield str(local)
        return
    if not _GLOB.intersection(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="gtkit-") as tmp:
        link = Path(tmp) / "file"
        try:
            link.symlink_to(Path(path).resolve())
        except OSError:  # no symbolic links here: a copy
            shutil.copyfile(path, link)
        yield str(link)
