"""Instructions per manifest line, counted by valgrind: a parser change measured without noise.

Wall-clock timings on a shared 2-core VM wander by 10-20% from run to run, more than most
single changes to the parser are worth. Instruction counts do not wander. This script counts,
under ``valgrind --tool=callgrind``, the instructions of

- ``orjson``: ``orjson.loads`` of every line (the floor the read benchmark compares with);
- ``gtkit``: :func:`gtkit._parse.parse_block` of the same lines (one worker's whole job, with
  the compiled reader ``gtkit._scan`` where it was built);

each less a run that imports the same modules and parses nothing, and prints them per line.
They leave out what callgrind cannot see (cache misses, page faults, two processes sharing the
machine), so the wall-clock benchmark stays the judge; this one says where instructions go.

    python benchmarks/instructions.py [LINES]      (default 4,000; needs valgrind)
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

KINDS = ("orjson", "gtkit")


def run(kind: str, manifest: Path, parse: bool) -> None:
    """Import what ``kind`` needs, then (with ``parse``) parse the manifest's lines."""
    import orjson

    from gtkit import _parse

    data = manifest.read_bytes()
    if not parse:
        return
    if kind == "orjson":
        loads = orjson.loads
        for line in data.split(b"\n"):
            if line:
                loads(line)
    else:
        _parse.parse_block(data, False)


def count(kind: str, manifest: Path, parse: bool) -> int:
    """Instructions of one run of ``kind`` under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            "valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out",
            sys.executable, __file__, "--run", kind, str(manifest), "1" if parse else "0",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if not found:
        raise SystemExit(f"no instruction count in valgrind's output:\n{done.stderr}")
    return int(found.group(1))


def main(lines: int) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    from _synthetic import write_job

    with tempfile.TemporaryDirectory() as tmp:
        manifest, _ = write_job(Path(tmp), lines)
        print(f"{lines:,} lines, {manifest.stat().st_size / 1e6:.1f} MB; instructions per line:")
        per_line = {}
        for kind in KINDS:
            per_line[kind] = (count(kind, manifest, True) - count(kind, manifest, False)) / lines
            print(f"  {kind:8s} {per_line[kind]:10,.0f}")
    print(f"  gtkit / orjson: {per_line['gtkit'] / per_line['orjson']:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--run":
        run(sys.argv[2], Path(sys.argv[3]), sys.argv[4] == "1")
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 4000)
