"""Benchmark: the whole analysis of a job, against parsing the files it reads with orjson.

The matrix (``_synthetic.py`` writes the data, kept in ``bench-output/`` between runs):

- what is read: the output manifest alone, or the whole downloaded job tree (worker responses,
  consolidation responses, auto-annotator outputs, 12 iterations);
- the reference labels: COCO JSON, an Open Images box CSV, or another Ground Truth manifest;
- the size: 100,000 objects (the service's most for one job) and 1,000,000 (many jobs).

Each cell times, in a fresh process each, ``read_output`` + ``read_references`` + ``analyze``
(counts, cost, optimal-matching mIoU) beside the floor: a plain parse, in the same run, of every
file that cell's analysis has to read, with orjson (each manifest line, each consolidation
response, each auto-annotation line's JSON, the COCO document) or, for the CSV, with the
standard library's csv reader. Worker responses are not in the floor: the analysis needs from
them only which objects each iteration labeled, which the folder names tell. Each figure is
the median of ``--repeat`` runs (default 3); peak memory is the analysing process's largest
resident set. Targets: analyze at most 2x the floor in every cell; under 1.5 GB at 1,000,000.

    python benchmarks/bench_read_analyze.py [--sizes 100000,1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

DATA = Path(__file__).resolve().parents[1] / "bench-output"
GENERATOR_VERSION = 2  # bump when _synthetic.py writes something else
REFERENCES = {"coco": "reference.json", "csv": "reference.csv", "manifest": "reference.manifest"}
SOURCES = ("manifest", "tree")


def data_for(objects: int) -> Path:
    """The folder of a generated job of ``objects`` objects, written once and kept."""
    folder = DATA / f"job-{objects}-v{GENERATOR_VERSION}"
    done = folder / "complete"
    if not done.exists():
        print(f"writing a {objects:,}-object job tree to {folder} (once) ...", flush=True)
        subprocess.run([sys.executable, __file__, "--write", str(folder), str(objects)], check=True)
        done.touch()
    return folder


def _evidence_files(job: Path) -> tuple[list[Path], list[Path]]:
    responses = sorted((job / "annotations").rglob("consolidation-response/**/*.json"))
    auto = sorted((job / "activelearning").rglob("auto_annotator_output.txt"))
    return responses, auto


def floor(folder: Path, source: str, reference: str) -> float:
    """Seconds to parse, plainly, every file the cell's analysis reads."""
    import csv

    import orjson

    job = folder / "bench-job"
    start = time.perf_counter()
    loads = orjson.loads
    with (job / "manifests/output/output.manifest").open("rb") as f:
        for line in f:
            loads(line)
    ref = folder / REFERENCES[reference]
    if reference == "coco":
        loads(ref.read_bytes())
    elif reference == "csv":
        with ref.open(newline="") as f:
            for _ in csv.reader(f):
                pass
    else:
        with ref.open("rb") as f:
            for line in f:
                loads(line)
    if source == "tree":
        responses, auto = _evidence_files(job)
        for path in responses:
            loads(path.read_bytes())
        for path in auto:
            with path.open("rb") as f:
                for line in f:
                    loads(line.partition(b" ")[2])
    return time.perf_counter() - start


def analyze(folder: Path, source: str, reference: str) -> dict[str, float]:
    """Seconds and peak memory of the whole analysis (modules imported beforehand)."""
    import gtkit

    job = folder / "bench-job"
    start = time.perf_counter()
    output = gtkit.read_output(
        job if source == "tree" else job / "manifests/output/output.manifest"
    )
    refs = gtkit.read_references(folder / REFERENCES[reference])
    result = gtkit.analyze(output, reference=refs, pricing=gtkit.Pricing(0.08, 5, 0.036))
    seconds = time.perf_counter() - start
    assert result.quality is not None and result.quality["objects_compared"] > 0
    if source == "tree":
        assert output.has_iterations and len(result.iterations) == 12, result.iterations
    return {
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "quality": float(result.quality["all"]),
    }


def run(kind: str, folder: Path, source: str, reference: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--run", kind, str(folder), source, reference]
    found: dict[str, float] = json.loads(
        subprocess.run(command, check=True, capture_output=True, text=True).stdout
    )
    return found


def machine() -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.machine()}, {cpus} CPUs, {memory:.0f} GiB, Python {platform.python_version()}"
    )


def main(sizes: list[int], repeat: int) -> None:
    import duckdb

    print(f"{machine()}; duckdb {duckdb.__version__}; median of {repeat} runs")
    header = ("objects", "read", "reference", "floor", "analyze", "ratio", "peak")
    print("{:>9} {:8} {:9} {:>8} {:>8} {:>6} {:>9}".format(*header))
    for objects in sizes:
        folder = data_for(objects)
        for source in SOURCES:
            for reference in REFERENCES:
                floors, times, peaks = [], [], []
                for _ in range(repeat):  # alternated, so that a slow spell hits both alike
                    floors.append(run("floor", folder, source, reference)["seconds"])
                    measured = run("analyze", folder, source, reference)
                    times.append(measured["seconds"])
                    peaks.append(measured["peak_mb"])
                f, a = statistics.median(floors), statistics.median(times)
                print(
                    f"{objects:>9,} {source:8} {reference:9} {f:7.2f}s {a:7.2f}s {a / f:5.2f}x "
                    f"{max(peaks):6,.0f} MB",
                    flush=True,
                )
    print("targets: analyze <= 2x floor in every cell; peak < 1,500 MB at 1,000,000 objects")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--write":
        from _synthetic import write_tree

        write_tree(Path(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--run":
        kind, folder, source, reference = sys.argv[2:6]
        if kind == "floor":
            print(json.dumps({"seconds": floor(Path(folder), source, reference)}))
        else:
            import gtkit  # noqa: F401  (imported before the clock starts, as in a notebook)

            print(json.dumps(analyze(Path(folder), source, reference)))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument(
            "--sizes", default="100000,1000000", help="objects per job, comma-separated"
        )
        parser.add_argument("--repeat", type=int, default=3, help="runs per cell (median)")
        args = parser.parse_args()
        main([int(s) for s in args.sizes.split(",")], args.repeat)
