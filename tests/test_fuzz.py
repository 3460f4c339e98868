"""The hostile-input fuzz suite (issue 18): hypothesis builds hostile S3 keys, export names,
output trees, job configs, reference files and describe responses, and each property says what
a user relies on whatever the input: nothing is written outside its folder, nothing is dropped
without a problem saying so, and nothing but a GtkitError comes out (no traceback).

``make test`` runs each property with a small budget; ``make fuzz`` runs them again and again
with a large one (``GTKIT_FUZZ_EXAMPLES``) for ``FUZZ_SECONDS`` (see the README).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gtkit import (
    GtkitError,
    OutputError,
    ReferenceLabelError,
    SpecError,
    analyze,
    load_spec,
    read_describe,
    read_manifest,
    read_output,
    read_references,
    write_export,
)
from gtkit._client import _saved_paths
from gtkit._config import MAX_CONFIG_BYTES
from gtkit._errors import Problem, excerpt
from gtkit._export import image_names
from gtkit._io import FOLDER_MARKER, MAX_NAME_BYTES, unsafe_part


def _budget(small: int) -> settings:
    """``small`` examples in ``make test``; ``GTKIT_FUZZ_EXAMPLES`` of them in ``make fuzz``."""
    return settings(
        max_examples=int(os.environ.get("GTKIT_FUZZ_EXAMPLES", small)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
    )  # fmt: skip


@contextmanager
def _folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="gtkit-fuzz-") as tmp:
        yield Path(tmp)


def _inside(root: Path, relative: str) -> bool:
    target = (root / relative).resolve()
    return target == root.resolve() or root.resolve() in target.parents


# ---------------------------------------------------------------------- text that means harm
_NASTY = ["", ".", "..", "/", "//", "\0", "\n", "\r", "\\", "\u2028", "\udcff", "~", "$", "²",
          "*", "?", "[", "{", " ", "a", "b", "x.jpg", "classes", ".txt", FOLDER_MARKER,
          "describe.json", "y" * 300, "é" * 130]  # fmt: skip
_part = st.one_of(st.sampled_from(_NASTY), st.text(max_size=6))
_path = st.lists(_part, max_size=6).map("".join)


# ---------------------------------------------------------------------- download keys
@_budget(100)
@given(st.lists(st.tuples(_path, st.integers(0, 3)), max_size=12))
@example([("a/../../x", 1), ("/abs", 1), ("m/", 0), ("m", 1), ("m/x", 1), ("", 0)])
def test_every_downloaded_key_is_saved_inside_skipped_as_a_folder_or_refused(
    keys: list[tuple[str, int]],
) -> None:
    relatives = [k for k, _ in keys]
    files, problems = _saved_paths(relatives, [s for _, s in keys])
    refused = {k for k, _ in problems}
    root = Path("/nonexistent-root/dl")
    for f in files:
        assert _inside(root, f) and all(unsafe_part(p) is None for p in f.split("/"))
        assert f not in ("describe.json", FOLDER_MARKER)
        assert not any(g.startswith(f + "/") for g in files)  # no file is another's folder
    for key, size in keys:  # each key saved, refused with a reason, or a folder marker
        marker = key == "" or (key.endswith("/") and size == 0)
        assert (key in files) + (key in refused) + marker >= 1, key
    assert all(isinstance(why, str) and why for _, why in problems)


# ---------------------------------------------------------------------- export names
@_budget(100)
@given(
    st.lists(st.one_of(_path, _path.map(lambda p: f"s3://b/{p}"), st.none()), max_size=10),
    st.booleans(),
)
def test_export_names_are_safe_distinct_files_of_one_folder(
    sources: list[str | None], stems: bool
) -> None:
    reserved = {"classes.txt", FOLDER_MARKER}
    names = image_names(sources, list(range(len(sources))), stems=stems, suffix=".txt",
                        reserved=reserved)  # fmt: skip
    assert len(set(names)) == len(names) and not reserved & set(names)
    folders = {"/".join(n.split("/")[:k]) for n in names for k in range(1, n.count("/") + 1)}
    assert not folders & set(names)
    for name in names:
        for part in name.split("/"):
            assert unsafe_part(part) is None, name
            assert part.isprintable() or not any(c in part for c in "\n\r\x85\u2028\u2029")
            assert len(part.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES


def _box_line(source: Any, classes: dict[str, Any]) -> str:
    boxes = [{"class_id": int(c), "left": 1, "top": 2, "width": 3, "height": 4} for c in classes]
    label = {"annotations": boxes, "image_size": [{"width": 10, "height": 10, "depth": 3}]}
    meta = {"class-map": classes, "type": "groundtruth/object-detection",
            "human-annotated": "yes", "objects": [{"confidence": 0.5} for _ in classes]}  # fmt: skip
    return json.dumps({"source-ref": source, "b": label, "b-metadata": meta}) + "\n"


@_budget(10)
@given(
    st.lists(st.one_of(_path.map(lambda p: f"s3://b/{p}"), _path), min_size=1, max_size=6),
    st.lists(st.one_of(st.sampled_from(["cat", "a\nb", " ", "$\\x$", "a\0"]), st.text(max_size=4)),
             min_size=1, max_size=3),
    st.sampled_from(["yolo", "voc"]),
)  # fmt: skip
def test_a_folder_export_writes_one_file_per_image_inside_its_folder_or_nothing(
    sources: list[str], classes: list[str], fmt: str
) -> None:
    with _folder() as tmp:
        manifest = tmp / "m.manifest"
        class_map = {str(n): name for n, name in enumerate(classes)}
        manifest.write_text("".join(_box_line(s, class_map) for s in sources), encoding="utf-8",
                            errors="surrogatepass")  # fmt: skip
        out = tmp / "out" / "export"
        try:
            write_export(read_manifest(manifest, lenient=True), fmt, out)
        except GtkitError:
            assert not (tmp / "out").exists() or not any((tmp / "out").iterdir())
            return
        written = [p for p in (tmp / "out").rglob("*") if p.is_file()]
        assert all(out in p.parents for p in written)
        objects = len(read_manifest(manifest, lenient=True).objects)
        assert len(written) == objects + (2 if fmt == "yolo" else 1)
        if fmt == "yolo":
            lines = (out / "classes.txt").read_text(encoding="utf-8").split("\n")
            assert len(lines) == len(class_map) + 1  # a name per line, every index in place


# ---------------------------------------------------------------------- output trees
_json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=8), st.sampled_from(["2019-13-45T00:00:00Z", "²", "1" * 30])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)  # fmt: skip
_answer = st.one_of(
    _json_value,
    st.fixed_dictionaries({}, optional={
        "workerId": _json_value, "answerContent": _json_value, "timeSpentInSeconds": _json_value,
        "submissionTime": _json_value, "acceptanceTime": _json_value}),
)  # fmt: skip
_document = st.one_of(
    st.binary(max_size=20),
    st.builds(lambda a: json.dumps({"answers": a}).encode(), st.lists(_answer, max_size=3)),
    st.builds(lambda v: json.dumps(v).encode(), _json_value),
    st.builds(
        lambda ids: json.dumps([{"datasetObjectId": i, "annotations": []} for i in ids]).encode(),
        st.lists(_json_value, max_size=3),
    ),
)
_folder_name = st.one_of(
    st.sampled_from(["iteration-1", "iteration-²", "iteration-99999999999999999999", "0", "1",
                     "99999999999999999999", "x", "[g]", "iteration-"]),
    st.text(alphabet="0123456789-iteraon²", min_size=1, max_size=8),
)  # fmt: skip
_places = st.sampled_from([
    "annotations/worker-response", "annotations/consolidated-annotation/consolidation-request",
    "annotations/consolidated-annotation/consolidation-response", "activelearning/job",
])  # fmt: skip
_tree_file = st.tuples(_places, st.lists(_folder_name, min_size=1, max_size=3), _document)
_auto_line = st.one_of(
    st.builds(lambda t, v: f"{t} {json.dumps(v)}", st.sampled_from(["0", "1", "²", "9" * 25, "x"]),
              _json_value),
    st.text(max_size=10),
)  # fmt: skip


def _write_tree(job: Path, objects: int, files: list[tuple[str, list[str], bytes]],
                auto: list[list[str]]) -> None:  # fmt: skip
    (job / "manifests/output").mkdir(parents=True)
    line = {"source-ref": "", "x": 1, "x-metadata": {"type": "groundtruth/image-classification",
                                                       "human-annotated": "yes", "class-name": "c"}}  # fmt: skip
    (job / "manifests/output/output.manifest").write_text(
        "".join(
            json.dumps({**line, "source-ref": f"s3://b/{n}.jpg"}) + "\n" for n in range(objects)
        )
    )
    for n, (place, folders, content) in enumerate(files):
        safe = [f for f in folders if f not in (".", "..")]
        path = job.joinpath(place, *safe, f"{n}.json")
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.parent.is_dir() and not path.exists():
            path.write_bytes(content)
    for n, lines in enumerate(auto):
        path = job / f"activelearning/job/{n}/annotation-output/auto_annotator_output.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")


def _all_tables(out: Any) -> list[Problem]:
    _ = out.objects, out.boxes, out.worker_answers, out.consolidations
    return list(out.problems)


@_budget(8)
@given(
    st.integers(0, 3),
    st.lists(_tree_file, max_size=6),
    st.lists(st.lists(_auto_line, max_size=3), max_size=2),
)
@example(
    2,
    [
        (
            "annotations/worker-response",
            ["iteration-1", "0"],
            b'{"answers": ["oops", {"workerId": 1}]}',
        ),
        ("annotations/worker-response", ["iteration-²", "1"], b'{"answers": []}'),
        (
            "annotations/consolidated-annotation/consolidation-response",
            ["iteration-2"],
            b'[{"datasetObjectId": "99999999999999999999"}, 3]',
        ),
    ],
    [["² {}", '0 {"x": 1}', "99999999999999999999999 {}"]],
)
def test_a_hostile_output_tree_is_read_with_problems_never_a_foreign_error(
    objects: int, files: list[tuple[str, list[str], bytes]], auto: list[list[str]]
) -> None:
    with _folder() as tmp:
        job = tmp / "job"
        try:
            _write_tree(job, objects, files, auto)
        except OSError:
            return  # a layout this file system cannot hold (a name both file and folder)
        problems = _all_tables(read_output(job, lenient=True))
        assert all(isinstance(p, Problem) and p.kind for p in problems)
        assert len(read_output(job, lenient=True).objects) == objects
        try:
            strict = _all_tables(read_output(job))
        except OutputError:
            assert any(p.kind in ("skipped", "value") for p in problems)
        else:
            assert not any(p.kind in ("skipped", "value") for p in strict)


# ---------------------------------------------------------------------- job configs
_CONFIG = ("name: birds\ntask: bounding-box\nregion: us-east-1\n"
           "manifest: s3://bucket-a/in.manifest\noutput: s3://bucket-a/out\n"
           "role_arn: arn:aws:iam::123456789012:role/GT\nlabels: [bird]\ntask_price: 0.036\n")  # fmt: skip
_yaml_bits = st.sampled_from([
    "&a ", "*a", "&b ", "*b", "[", "]", "{", "}", ", ", ": ", "\n", "\n  ", "- ", "? ", "<<: ",
    "\t", "'", '"', "#", "!!python/object:os.system ", "!!binary ", "9" * 40, "0x1F", "1e999",
    "2020-13-45", "12:30:00", "~", "yes", "title", "tags", "labels", "workers", "\0", "\ufeff",
    "\udcff", "é", "---\n", "...\n", "%YAML 1.1\n",
])  # fmt: skip
_config_text = st.one_of(
    st.lists(_yaml_bits, max_size=30).map("".join),
    st.lists(_yaml_bits, max_size=12).map(lambda bits: _CONFIG + "".join(bits)),
    st.builds(lambda v: json.dumps(v), st.dictionaries(st.text(max_size=8), _json_value)),
    st.text(max_size=40),
)


@_budget(150)
@given(_config_text, st.sampled_from([".yaml", ".json"]), st.booleans())
@example(
    "l0: &l0 ["
    + ", ".join(['"lol"'] * 9)
    + "]\n"
    + "".join(f"l{n + 1}: &l{n + 1} [{', '.join([f'*l{n}'] * 9)}]\n" for n in range(8)),
    ".yaml",
    False,
)
@example("a: " + "[" * 20_000 + "]" * 20_000, ".yaml", False)
@example("a: &a [*a]", ".yaml", False)
def test_any_config_is_a_spec_or_a_spec_error_of_bounded_lines(
    text: str, suffix: str, latin: bool
) -> None:
    with _folder() as tmp:
        path = tmp / f"job{suffix}"
        path.write_bytes(text.encode("latin-1" if latin else "utf-8", "surrogatepass"
                                     if not latin else "replace"))  # fmt: skip
        try:
            load_spec(path)
        except SpecError as exc:
            assert all(len(line) < 1500 for line in str(exc).split("\n")), str(exc)[:2000]
            assert len(path.read_bytes()) <= MAX_CONFIG_BYTES or "larger than" in str(exc)


# ---------------------------------------------------------------------- reference files
_cell = st.one_of(st.sampled_from(["0.1", "0.5", "", '"', '"a,b"', "x", "1e999", "-0", "nan",
                                   "\udcff", "é", ","]), st.text(max_size=4))  # fmt: skip
_row = st.lists(_cell, min_size=0, max_size=9).map(",".join)


@_budget(60)
@given(st.lists(_row, max_size=6), st.booleans())
def test_an_open_images_csv_is_read_row_for_row_or_refused_naming_it(
    rows: list[str], extra: bool
) -> None:
    header = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax" + (",Note" if extra else "")
    with _folder() as tmp:
        path = tmp / "boxes.csv"
        path.write_bytes("\n".join([header, *rows]).encode("utf-8", "surrogatepass"))
        try:
            refs = read_references(path)
        except ReferenceLabelError as exc:
            assert str(exc).startswith(str(path))
            return
        data = [r for r in rows if r.strip()]
        assert len(refs.boxes) <= len(data)  # quoted line breaks may join rows, never add one


@_budget(40)
@given(st.lists(st.lists(_cell.map(lambda c: c.replace(",", " ")), max_size=6).map(" ".join),
                max_size=4), st.lists(st.lists(_cell, max_size=3).map(" ".join), max_size=4))  # fmt: skip
def test_a_cub_folder_is_read_or_refused_naming_its_file(
    boxes: list[str], images: list[str]
) -> None:
    with _folder() as tmp:
        (tmp / "images.txt").write_bytes("\n".join(images).encode("utf-8", "surrogatepass"))
        (tmp / "bounding_boxes.txt").write_bytes("\n".join(boxes).encode("utf-8", "surrogatepass"))
        try:
            read_references(tmp)
        except ReferenceLabelError as exc:
            assert str(exc).startswith(str(tmp / "images.txt")) or str(exc).startswith(
                str(tmp / "bounding_boxes.txt")
            ), str(exc)


@_budget(60)
@given(_json_value)
def test_a_coco_file_of_any_shape_is_read_or_refused(doc: Any) -> None:
    with _folder() as tmp:
        path = tmp / "ref.json"
        path.write_text(json.dumps({"images": doc} if isinstance(doc, list) else doc))
        with suppress(ReferenceLabelError):
            read_references(path)


# ---------------------------------------------------------------------- describe responses
@_budget(100)
@given(st.one_of(_json_value, st.fixed_dictionaries({"HumanTaskConfig": st.one_of(
    _json_value, st.fixed_dictionaries({}, optional={
        "NumberOfHumanWorkersPerDataObject": _json_value,
        "PublicWorkforceTaskPrice": st.one_of(_json_value, st.fixed_dictionaries(
            {"AmountInUsd": st.one_of(_json_value, st.dictionaries(
                st.sampled_from(["Dollars", "Cents", "TenthFractionsOfACent"]), _json_value))}))}))})))  # fmt: skip
def test_a_describe_json_of_any_shape_prices_or_is_refused(doc: Any) -> None:
    with _folder() as tmp:
        path = tmp / "describe.json"
        path.write_text(json.dumps(doc))
        try:
            describe = read_describe(path)
        except GtkitError as exc:
            assert len(str(exc)) < 500
            return
        manifest = tmp / "m.manifest"
        manifest.write_text(_box_line("s3://b/a.jpg", {"0": "c"}))
        analysis = analyze(read_manifest(manifest), describe=describe)
        assert analysis.pricing is not None and 1 <= analysis.pricing.workers <= 9


# ---------------------------------------------------------------------- messages
@_budget(100)
@given(st.one_of(_json_value, st.text(), st.integers(), st.binary()))
def test_an_excerpt_is_one_short_line_whatever_the_value(value: Any) -> None:
    shown = excerpt(value)
    assert len(shown) <= 100 and "\n" not in shown
