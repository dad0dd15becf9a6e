"""Benchmark: experiment throughput (replications per minute) on the default city.

Runs the default city (full scale, warm-up + five contract years, Payment by Results) as an
experiment of R replications with W workers, through the same runner users call, and prints
replications per minute. Not part of `make test` (no test asserts a time).

    .venv/bin/python benchmarks/experiment_throughput.py --replications 8 --workers 2 \
        [--dask] [--record benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from msksim.experiment import run_experiment
from msksim.io import atomic_write

SPEC = """\
name: throughput
question: How many replications of the default city a minute?
replications: {reps}
baseline: pbr
run: {{years: 5, warmup_weeks: 52, scale: {scale}}}
scenarios:
  pbr: {{contract: pbr, description: Payment by Results}}
"""


def _machine() -> str:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores, {mem_gib:.0f} GiB, {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--dask", action="store_true")
    ap.add_argument("--record", metavar="FILE", help="append a row to this Markdown file")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "throughput.yaml"
        spec.write_text(SPEC.format(reps=a.replications, scale=a.scale))
        t0 = time.perf_counter()
        result = run_experiment(spec, out_dir=Path(tmp) / "out", workers=a.workers,
                                dask=a.dask)
        wall = time.perf_counter() - t0
    per_min = a.replications / wall * 60
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    row = (f"| {datetime.date.today()} | {sha} | {_machine()} | default city, scale "
           f"{a.scale}, 6 simulated years | {result.meta['backend']} | {a.replications} | "
           f"{wall:.0f} s | **{per_min:.1f}** |")
    print(row)
    if a.record:
        _record(Path(a.record), row)


def _record(path: Path, row: str) -> None:
    """Add `row` at the end of the file's throughput table (the first table whose header
    starts with `| date | git |`), or at the end of the file if it has none."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    at = len(lines)
    for i, line in enumerate(lines):
        if line.startswith("| date | git |"):
            at = i + 1
            while at < len(lines) and lines[at].startswith("|"):
                at += 1
            break
    lines.insert(at, row)
    text = "\n".join(lines) + "\n"  # the whole file rewritten: never left half-written
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


if __name__ == "__main__":
    main()
