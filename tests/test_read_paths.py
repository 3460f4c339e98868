"""The fast reading paths (detection fast path, blocks, worker processes) change no result.

The general path, in one block, in this process, is the reference the fast, blocked and
parallel readings are held to.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from gtkit import _parse
from gtkit._errors import OutputError
from gtkit._output import JobOutput, read_manifest

from .test_output import manifests

GENERAL = 0  # as block size: one block, general path only


def read_with(
    path: Path | str, monkeypatch: pytest.MonkeyPatch, *, block: int, workers: int, lenient: bool
) -> JobOutput | str:
    with monkeypatch.context() as m:
        m.setattr(_parse, "FAST_PATH", block != GENERAL)
        m.setattr(_parse, "COMPILED", block != GENERAL)
        m.setattr(_parse, "BLOCK_BYTES", block or 1 << 40)
        m.setenv("GTKIT_WORKERS", str(workers))
        try:
            return read_manifest(path, lenient=lenient)
        except OutputError as exc:
            return str(exc)


def assert_same(expected: JobOutput | str, got: JobOutput | str) -> None:
    if isinstance(expected, str) or isinstance(got, str):
        assert got == expected
        return
    for table in ("objects", "boxes", "classes"):
        pd.testing.assert_frame_equal(getattr(got, table), getattr(expected, table))
    assert [str(p) for p in got.skipped] == [str(p) for p in expected.skipped]


def test_real_fixtures_read_the_same_every_way(
    real_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in manifests(real_fixtures):
        general = read_with(path, monkeypatch, block=GENERAL, workers=1, lenient=True)
        fast = read_with(path, monkeypatch, block=1 << 20, workers=1, lenient=True)
        assert_same(general, fast)
    # Several blocks on two forked workers, for the largest detection fixtures.
    big = sorted(manifests(real_fixtures), key=lambda p: p.stat().st_size)[-3:]
    for path in big:
        general = read_with(path, monkeypatch, block=GENERAL, workers=1, lenient=True)
        parallel = read_with(path, monkeypatch, block=4096, workers=2, lenient=True)
        assert_same(general, parallel)


_number = st.one_of(
    st.integers(-5, 600),
    st.floats(-10, 600, allow_nan=False).map(lambda x: round(x, 2)),
    st.sampled_from([1e-05, 2.5e3, 0.0, -0.0, 2**60]),
)
_odd = st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.lists(_number, max_size=2))
_field = st.one_of(_number, _number, _number, _odd)
_box = st.dictionaries(
    st.sampled_from(["class_id", "left", "top", "width", "height", "extra"]), _field, min_size=4
)
_score = st.one_of(
    st.fixed_dictionaries({"confidence": _field}), st.just({}), st.none(), st.just({"c": 1})
)


@st.composite
def detection_line(draw: st.DrawFn) -> str:
    """A detection line, canonical more often than not, varied in every detail."""
    boxes = draw(st.lists(_box, max_size=4))
    scores = draw(st.lists(_score, min_size=len(boxes), max_size=len(boxes)))
    if draw(st.integers(0, 5)) == 0:
        scores = scores[:-1]
    attr = draw(st.sampled_from(["bb", "bb", "bb", "other"]))
    size = draw(
        st.one_of(
            st.just([{"width": 640, "height": 480, "depth": 3}]),
            st.lists(st.dictionaries(st.sampled_from(["width", "height"]), _field), max_size=2),
        )
    )
    meta = {
        "objects": scores,
        "class-map": draw(st.sampled_from([{"0": "bird"}, {"0": "cat", "1": "dog"}, {}, None])),
        "type": draw(st.sampled_from(["groundtruth/object-detection"] * 4 + [None, "x"])),
        "human-annotated": draw(st.sampled_from(["yes", "no", None, True])),
        "creation-date": draw(st.sampled_from(["2019-01-01T00:00:00.000000", "bad", None])),
        "job-name": draw(st.sampled_from(["labeling-job/a", "b", None])),
    }
    if draw(st.integers(0, 8)) == 0:
        meta["failure-reason"] = "ClientError: x"
    record: dict[str, object] = {
        "source-ref": draw(st.sampled_from(["s3://b/1.jpg", "s3://b/2.jpg", 7])),
        attr: {"annotations": boxes, "image_size": size},
        f"{attr}-metadata": {k: v for k, v in meta.items() if v is not None},
    }
    if draw(st.integers(0, 8)) == 0:
        record["extra"] = 1
    if draw(st.booleans()):
        record = dict(reversed(record.items()))
    return json.dumps(record)


_lines = st.lists(
    st.one_of(
        detection_line(), detection_line(), detection_line(), st.sampled_from(["", "{", "[]"])
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(_lines, st.booleans())
def test_fast_path_and_blocks_match_the_general_path(lines: list[str], lenient: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as monkeypatch:
        path = Path(tmp) / "g.manifest"
        path.write_text("\n".join(lines))
        general = read_with(path, monkeypatch, block=GENERAL, workers=1, lenient=lenient)
        fast = read_with(path, monkeypatch, block=1 << 20, workers=1, lenient=lenient)
        assert_same(general, fast)
        blocks = read_with(path, monkeypatch, block=300, workers=1, lenient=lenient)
        assert_same(general, blocks)


def test_errors_name_the_line_across_blocks_and_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = json.dumps(
        {
            "source-ref": "s3://b/a.jpg",
            "bb": {"annotations": [], "image_size": [{"width": 1, "height": 1}]},
            "bb-metadata": {"type": "groundtruth/object-detection", "objects": []},
        }
    )
    path = tmp_path / "out.manifest"
    path.write_text("\n".join([line] * 40 + ["", "{broken"] + [line] * 40 + ["[1]"]) + "\n")
    strict = read_with(path, monkeypatch, block=200, workers=2, lenient=False)
    assert isinstance(strict, str) and "out.manifest:42: not JSON" in strict
    lenient = read_with(path, monkeypatch, block=200, workers=2, lenient=True)
    assert not isinstance(lenient, str)
    assert [p.where.rsplit(":", 1)[1] for p in lenient.skipped] == ["42", "83"]
    # The blank line holds no datasetObjectId; the broken ones do (Ground Truth counts them).
    assert lenient.objects["index"].tolist() == list(range(40)) + list(range(41, 81))
    assert lenient.objects["line"].tolist() == list(range(1, 41)) + list(range(43, 83))


def test_worker_count_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTKIT_WORKERS", "1")
    assert _parse.worker_count() == 1
    monkeypatch.setenv("GTKIT_WORKERS", "3")
    assert _parse.worker_count() in (1, 3)  # 1 where processes cannot be forked
    monkeypatch.setenv("GTKIT_WORKERS", "")
    assert _parse.worker_count() >= 1
    # Where processes are not forked, threads still run side by side.
    monkeypatch.setenv("GTKIT_WORKERS", "3")
    monkeypatch.setattr(_parse.sys, "platform", "darwin")
    assert _parse.worker_count() == 1 and _parse.worker_count(threads=True) == 3


def test_blocks_end_at_line_ends() -> None:
    data = b"".join(b"%d\n" % i for i in range(1000)) + b"tail"
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    blocks = list(_parse.iter_blocks(chunks, size=50))
    assert b"".join(blocks) == data
    assert all(b.endswith(b"\n") for b in blocks[:-1]) and len(blocks) > 10


def classification_manifest(folder: Path, lines: int) -> Path:
    path = folder / "out.manifest"
    line = json.dumps({"source-ref": "s3://b/a.jpg", "c": 1, "c-metadata": {"class-name": "x"}})
    path.write_text("\n".join([line] * lines) + "\n")
    return path


def test_workers_start_from_a_fork_server_in_a_threaded_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    path = classification_manifest(tmp_path, 200)
    expected = read_with(path, monkeypatch, block=GENERAL, workers=1, lenient=False)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert _parse._context().get_start_method() == "forkserver"
        got = read_with(path, monkeypatch, block=500, workers=2, lenient=False)
    finally:
        stop.set()
        other.join()
    assert_same(expected, got)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert _parse._context().get_start_method() == "fork"


def _die(part: tuple[str, int, int], lenient: bool) -> None:
    os._exit(3)  # a worker killed mid-read, as the kernel's out-of-memory killer would


def test_a_worker_that_dies_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gtkit._output

    path = classification_manifest(tmp_path, 100)
    monkeypatch.setattr(gtkit._output, "parse_range", _die)
    got = read_with(path, monkeypatch, block=500, workers=2, lenient=False)
    assert isinstance(got, str)
    assert "a worker process reading it died" in got and "GTKIT_WORKERS=1" in got


# ---------------------------------------------------------------------- numbers
_json_value = st.one_of(
    _number,
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.sampled_from(["3", "3.0", " 2 ", "1e3", "x", "", "1_0", "nan"]),
    st.lists(_number, max_size=2),
    st.just({"a": 1}),
)


def _same_floats(got: np.ndarray, expected: list[float]) -> bool:
    return bool(np.array_equal(got, np.array(expected, dtype=np.float64), equal_nan=True))


@given(st.lists(_json_value, max_size=30))
def test_each_value_converts_alone_as_it_does_among_others(values: list[object]) -> None:
    # Column-wise conversion (numpy, with its shortcuts) against number() / to_int() of each
    # value by itself: a value's neighbours never change what it becomes.
    assert _same_floats(_parse.float_column(values), [_parse.number(v) for v in values])
    boxes = [tuple(values[i : i + 5]) for i in range(0, len(values) - 4, 5)]
    columns = _parse.box_columns(boxes)
    flat = [v for box in boxes for v in box]
    assert _same_floats(columns.reshape(-1), [_parse.number(v) for v in flat])
    ids = [box[4] for box in boxes]
    assert _parse.class_ids(columns[:, 4]).tolist() == [_parse.to_int(v) for v in ids]


def test_class_ids_are_integral_numbers() -> None:
    ids = [3, 3.0, "3", " 3.0 ", -2, 3.5, "3.5", "x", None, True, False, 2**53, 2**53 + 1, 1e300]
    assert [_parse.to_int(v) for v in ids] == [3, 3, 3, 3, -2] + [-1] * 6 + [2**53, -1, -1]


def test_detection_manifests_are_read_on_threads_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The compiled reader reads without the GIL, on threads; numbers beyond its exact fast path
    # (17 significant digits here) take the GIL back for Python's own conversion.
    rng = np.random.default_rng(5)
    lines = []
    for i in range(3000):
        n = int(rng.integers(0, 4))
        lines.append(
            json.dumps(
                {
                    "source-ref": f"s3://b/{i}.jpg",
                    "bb": {
                        "annotations": [
                            {"class_id": 0, "left": float(x), "top": 1, "width": 2, "height": 3}
                            for x in rng.uniform(0, 500, n)
                        ],
                        "image_size": [{"width": 640, "height": 480, "depth": 3}],
                    },
                    "bb-metadata": {
                        "objects": [{"confidence": float(c)} for c in rng.random(n)],
                        "class-map": {"0": "bird"},
                        "type": "groundtruth/object-detection",
                        "human-annotated": "yes" if i % 3 else "no",
                        "creation-date": f"2019-01-01T00:00:{i % 60:02d}.{i:06d}",
                        "job-name": "labeling-job/a",
                    },
                }
            )
        )
    path = tmp_path / "output.manifest"
    path.write_text("\n".join(lines) + "\n")
    general = read_with(path, monkeypatch, block=GENERAL, workers=1, lenient=False)
    assert _parse.compiled_detection(path.read_bytes()[:1000])
    pools: list[bool] = []
    real = _parse.map_blocks

    def spy(*args: object, threads: bool = False) -> object:
        pools.append(threads)
        return real(*args, threads=threads)  # type: ignore[arg-type]

    monkeypatch.setattr("gtkit._output.map_blocks", spy)
    threaded = read_with(path, monkeypatch, block=8192, workers=2, lenient=False)
    assert pools == [True]
    assert_same(general, threaded)
    assert not isinstance(threaded, str) and len(threaded.boxes) > 3000
    # Streamed from S3 in blocks, the same.
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="out")
        s3.upload_file(str(path), "out", "job/manifests/output/output.manifest")
        remote = read_with(
            "s3://out/job/manifests/output/output.manifest",
            monkeypatch,
            block=8192,
            workers=2,
            lenient=False,
        )
    assert pools == [True, True]
    assert_same(general, remote)
