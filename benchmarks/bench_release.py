"""Time the release workflow under act (``make act-release``) and write benchmarks/results/release.md.

    python benchmarks/bench_release.py                 # runs make act-release, then writes the table
    python benchmarks/bench_release.py --from-log LOG  # only parses an act log written earlier

The table lists every step's duration as act reports it (``Success - Main <step> [duration]``), per job.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks/results/release.md"
STEP = re.compile(
    r"^\[release/(?P<job>[^\]]+?)\s*\]\s+(?:✅|❌)\s+(?P<result>Success|Failure)"
    r" - Main (?P<step>.+?) \[(?P<d>[^\]]+)\]$"
)
UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "µs": 1e-6, "ns": 1e-9}


def seconds(duration: str) -> float:
    """Go duration text (``1m13.66s``, ``218.4ms``) -> seconds."""
    return sum(float(n) * UNITS[u] for n, u in re.findall(r"([\d.]+)(h|ms|µs|ns|m|s)", duration))


def parse(log: str) -> list[tuple[str, str, str, float]]:
    return [(m["job"], m["step"], m["result"], seconds(m["d"])) for line in log.splitlines() if (m := STEP.match(line))]


def render(rows: list[tuple[str, str, str, float]], wall: float | None, note: str) -> str:
    lines = [
        "# Release workflow under act (`make act-release`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores. {note}",
        "",
        "| job | step | result | seconds |",
        "|---|---|---|---:|",
    ]
    lines += [f"| {job} | `{step}` | {result} | {sec:.1f} |" for job, step, result, sec in rows if sec >= 0.5]
    jobs: dict[str, float] = {}
    for job, _, _, sec in rows:
        jobs[job] = jobs.get(job, 0.0) + sec
    lines += ["", "| job | total seconds (steps) |", "|---|---:|"]
    lines += [f"| {job} | {sec:.0f} |" for job, sec in jobs.items()]
    if wall is not None:
        lines += ["", f"Whole run (act, both jobs, wall clock): {wall:.0f} s."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from-log", type=Path)
    parser.add_argument("--wall", type=float, help="wall-clock seconds of the run the log came from")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    wall = args.wall
    if args.from_log:
        log = args.from_log.read_text(encoding="utf-8")
    else:
        work = Path(os.environ.get("ACT_RELEASE_WORK", f"/tmp/act-release-bench-{os.getuid()}"))
        start = time.monotonic()
        subprocess.run(["make", "act-release"], cwd=ROOT, env={**os.environ, "ACT_RELEASE_WORK": str(work)}, check=True)
        wall = time.monotonic() - start
        log = (work / "act.log").read_text(encoding="utf-8")
    OUT.write_text(render(parse(log), wall, args.note), encoding="utf-8")
    print(OUT.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
