"""Benchmark: reading and analysing a large synthetic bounding-box job.

Writes a job of N objects (default 1,000,000, about 2 boxes each) with Open Images reference
boxes (a CSV of fractions, as the AWS blog used),
then measures, each phase in its own process so peak memory is its own:

- parse only: ``orjson.loads`` of every manifest line, results discarded (the floor);
- read: ``gtkit.read_manifest`` into the objects and boxes tables (issue target: 1.25x parse);
- analyze: read + counts, cost and optimal-rule quality against the references
  (issue target: 1.6x parse, under 1.5 GB peak).

    python benchmarks/bench_read_analyze.py [N]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

PHASES = ("parse", "read", "analyze")


def run_phase(phase: str, manifest: Path, reference: Path) -> dict[str, float]:
    start = time.perf_counter()
    if phase == "parse":
        import orjson

        loads = orjson.loads
        with manifest.open("rb") as f:
            for line in f:
                loads(line)
    elif phase == "read":
        from gtkit.output import read_manifest

        out = read_manifest(manifest)
        assert len(out.boxes) > 0
    else:
        from gtkit.analysis import analyze
        from gtkit.output import read_manifest
        from gtkit.pricing import Pricing
        from gtkit.references import read_open_images

        boxes = read_open_images(reference).renamed(single_class="bird")
        result = analyze(read_manifest(manifest), reference=boxes, pricing=Pricing(0.08, 5, 0.036))
        assert result.quality is not None and result.quality["objects_compared"] > 0
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb}


def main(objects: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Written by a child process: a child's peak memory would include the parent's.
        subprocess.run([sys.executable, __file__, "--write", tmp, str(objects)], check=True)
        manifest, reference = Path(tmp) / "output.manifest", Path(tmp) / "reference.csv"
        size_mb = manifest.stat().st_size / 1e6
        print(f"{objects:,} objects, manifest {size_mb:,.0f} MB")
        results = {}
        for phase in PHASES:
            proc = subprocess.run(
                [sys.executable, __file__, "--phase", phase, str(manifest), str(reference)],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            results[phase] = json.loads(proc.stdout)
    floor = results["parse"]["seconds"]
    for phase in PHASES:
        r = results[phase]
        print(
            f"  {phase:8s} {r['seconds']:7.2f} s  {objects / r['seconds']:10,.0f} objects/s  "
            f"peak {r['peak_mb']:7,.0f} MB  {r['seconds'] / floor:5.2f}x parse"
        )
    print("  targets: read <= 1.25x parse; analyze <= 1.6x parse and < 1,500 MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--write":
        from _synthetic import write_job

        write_job(Path(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--phase":
        print(json.dumps(run_phase(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
