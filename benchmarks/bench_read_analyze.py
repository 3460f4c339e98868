"""Benchmark: reading and analysing a large synthetic bounding-box job.

Writes a job of N objects (default 1,000,000, about 2 boxes each) with Open Images reference
boxes (a CSV of fractions, as the AWS blog used),
then measures, each phase in its own process so peak memory is its own:

- parse only: ``orjson.loads`` of every manifest line, results discarded (the floor);
- read: ``gtkit.read_manifest`` into the objects and boxes tables (issue target: 1.25x parse),
  on every core (forked workers), and again in one process (``GTKIT_WORKERS=1``); the report
  says whether gtkit's optional compiled parts were built (they read and match here);
- analyze: read + counts, cost and optimal-rule quality against the references
  (issue target: 1.6x parse, under 1.5 GB peak).

The phases run in turn, ``--repeat`` times (default 3); each reports its fastest run, as
``timeit`` does, since this machine's speed wanders by 20% or more from run to run. Peak memory
is reported twice: ``pss``, the largest total proportional set size of the phase's process and
its workers, sampled every 50 ms (shared pages counted once; Linux only) in one more run of
each phase, apart from the timed ones (reading a process's memory map stalls its page faults:
it made the analyze phase 10-40% slower), and ``bound``, the process's own peak resident set
plus the largest worker's times their number (an upper bound: a forked worker's resident set
also counts the pages it shares with its parent, so it is loose in the analyze phase, whose
reference-reading workers fork from a parent holding the tables).

    python benchmarks/bench_read_analyze.py [N] [--repeat R]
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

PHASES = ("parse", "read", "read-1", "analyze")


def run_phase(phase: str, manifest: Path, reference: Path) -> dict[str, float]:
    # Modules are imported before the clock starts: a kernel imports them once, not per read.
    import orjson

    from gtkit._analysis import analyze
    from gtkit._output import read_manifest
    from gtkit._pricing import Pricing
    from gtkit._references import read_open_images

    start = time.perf_counter()
    if phase == "parse":
        loads = orjson.loads
        with manifest.open("rb") as f:
            for line in f:
                loads(line)
    elif phase in ("read", "read-1"):
        out = read_manifest(manifest)
        assert len(out.boxes) > 0
    else:
        output = read_manifest(manifest)
        boxes = read_open_images(reference).renamed(single_class="bird")
        result = analyze(output, reference=boxes, pricing=Pricing(0.08, 5, 0.036))
        assert result.quality is not None and result.quality["objects_compared"] > 0
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if worker_mb:
        from gtkit._parse import worker_count

        peak_mb += worker_mb * worker_count()
    return {"seconds": seconds, "peak_mb": peak_mb}


def tree_pss_mb(pid: int) -> float:
    """Proportional set size of a process and its descendants, in MB (0 where unknown)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total / 1024


def run_measured(
    phase: str, manifest: Path, reference: Path, *, sample: bool = False
) -> dict[str, float]:
    """Run one phase in its own process; with ``sample``, sample its memory while it runs."""
    env = dict(os.environ, GTKIT_WORKERS="1") if phase == "read-1" else None
    command = [sys.executable, __file__, "--phase", phase, str(manifest), str(reference)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    pss = 0.0
    while sample and proc.poll() is None:
        pss = max(pss, tree_pss_mb(proc.pid))
        time.sleep(0.05)
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"phase {phase} failed")
    result: dict[str, float] = json.loads(out)
    result["pss_mb"] = pss
    return result


def compiled() -> str:
    """Whether gtkit's optional compiled parts (gtkit._scan, gtkit._match) were built."""
    try:
        import gtkit._match
        import gtkit._scan  # noqa: F401
    except ImportError:
        return "compiled parts NOT built (pure Python)"
    return "compiled parts built"


def main(objects: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Written by a child process: a child's peak memory would include the parent's.
        subprocess.run([sys.executable, __file__, "--write", tmp, str(objects)], check=True)
        manifest, reference = Path(tmp) / "output.manifest", Path(tmp) / "reference.csv"
        size_mb = manifest.stat().st_size / 1e6
        print(f"{objects:,} objects, manifest {size_mb:,.0f} MB, best of {repeat}; {compiled()}")
        runs: dict[str, list[dict[str, float]]] = {phase: [] for phase in PHASES}
        for _ in range(repeat):
            for phase in PHASES:
                runs[phase].append(run_measured(phase, manifest, reference))
        pss = {p: run_measured(p, manifest, reference, sample=True)["pss_mb"] for p in PHASES}
    results = {phase: min(r, key=lambda x: x["seconds"]) for phase, r in runs.items()}
    floor = results["parse"]["seconds"]
    for phase in PHASES:
        r = results[phase]
        print(
            f"  {phase:8s} {r['seconds']:7.2f} s  {objects / r['seconds']:10,.0f} objects/s  "
            f"{r['seconds'] / floor:5.2f}x parse  "
            f"peak: pss {pss[phase]:6,.0f} MB, bound {r['peak_mb']:6,.0f} MB"
        )
    print("  targets: read <= 1.25x parse; analyze <= 1.6x parse and < 1,500 MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--write":
        from _synthetic import write_job

        write_job(Path(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--phase":
        print(json.dumps(run_phase(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))))
    else:
        args = sys.argv[1:]
        repeat = 3
        if "--repeat" in args:
            at = args.index("--repeat")
            repeat = int(args[at + 1])
            del args[at : at + 2]
        main(int(args[0]) if args else 1_000_000, repeat)
