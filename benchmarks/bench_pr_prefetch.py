"""What the optional prefetch (experiment/prefetch.py) buys: `pr-report --repro` with and without it,
side by side, runs alternating; optionally also the code of another revision (``--before REV``).

    uv run python benchmarks/bench_pr_prefetch.py [--rounds 4] [--before 29eaeef]

Each variant gets its own project copy (``git archive`` of its revision; HEAD for this code), with ``main``
trained and committed and a PR branch that changes ``model.linear.C`` 1.0 -> 0.5: the ``make pr-report``
scenario of docs/pr-experiments.md (main's model in the DVC cache, the candidate retrained). Before every run
the copy is put back to that state: the PR's committed dvc.lock, no DVC run cache (so the candidate is really
retrained), no .cache/pr-baseline (so the baseline is fetched from the DVC cache and cross-validated again).
Each copy runs its own code (``PYTHONPATH=<copy>/src``). Also checks that every variant's comparison.json
has the same verdict, gate and metrics (the prefetch must not change the result).
Writes benchmarks/results/pr-prefetch.md + .json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, write_results
from tests.support import env_with_venv, git

PR_REPORT = ["python", "-m", "mlops_template.cli", "pr-report", "--repro", "--base", "main"]


def _project(rev: str, dest: Path) -> Path:
    """``rev``'s tracked files in ``dest``, as a fresh repository: main trained and committed, branch pr."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    env = _env(dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", f"copy of {rev}")
    subprocess.run(["python", "-m", "mlops_template.cli", "repro"], cwd=dest, env=env, check=True, capture_output=True)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "--allow-empty", "-m", "main trained")
    git(dest, "checkout", "-qb", "pr")
    params = dest / "params.yaml"
    params.write_text(params.read_text().replace("    C: 1.0", "    C: 0.5"))
    git(dest, "commit", "-qam", "PR: C 0.5")
    return dest


def _env(repo: Path) -> dict[str, str]:
    return env_with_venv({"PYTHONPATH": str(repo / "src")})


def _reset(repo: Path) -> None:
    git(repo, "checkout", "-qf", "pr")
    for folder in (repo / ".dvc" / "cache" / "runs", repo / ".cache" / "pr-baseline", repo / "reports" / "pr"):
        shutil.rmtree(folder, ignore_errors=True)


def _run(repo: Path, extra: list[str]) -> tuple[float, float, dict[str, object]]:
    """Wall and CPU seconds (user + system, all processes) of one run, and its comparison.json."""
    _reset(repo)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = subprocess.run([*PR_REPORT, *extra], cwd=repo, env=_env(repo), capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    comparison = json.loads((repo / "reports/pr/comparison.json").read_text())
    return wall, cpu, comparison


def _result(c: dict[str, object]) -> str:
    """The comparison without what is timed (latency) or says where the baseline came from."""
    keep = {k: v for k, v in c.items() if k not in ("baseline_source", "base_sha", "candidate_sha")}
    gate = dict(keep["gate"])  # type: ignore[call-overload]
    gate["checks"] = [x for x in gate["checks"] if "latency" not in x]
    keep["gate"] = gate
    return json.dumps(keep, sort_keys=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--before", help="also time this revision's code (e.g. the commit before a change)")
    args = ap.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        head = _project("HEAD", Path(tmp) / "head")
        variants = {"with prefetch": (head, []), "without prefetch (`--no-prefetch`)": (head, ["--no-prefetch"])}
        if args.before:
            before = _project(args.before, Path(tmp) / "before")
            variants = {f"code of {args.before} (with its prefetch)": (before, []), **variants}
        times: dict[str, list[float]] = {name: [] for name in variants}
        cpus: dict[str, list[float]] = {name: [] for name in variants}
        results: dict[str, set[str]] = {name: set() for name in variants}
        for _ in range(args.rounds):
            for name, (repo, extra) in variants.items():
                wall, cpu, comparison = _run(repo, extra)
                times[name].append(wall)
                cpus[name].append(cpu)
                results[name].add(_result(comparison))
                print(f"{name}: {wall:.1f} s, {cpu:.1f} CPU s ({comparison['verdict']})", file=sys.stderr)
    load_end = os.getloadavg()
    head_results = [r for name, r in results.items() if variants[name][0] == head]
    same = len(set().union(*head_results)) == 1
    before_same = None if not args.before else set().union(*results.values()) == set().union(*head_results)
    load = " / ".join(" ".join(f"{x:.1f}" for x in la) for la in (load_start, load_end))
    rows = [
        f"| {name} | {statistics.median(t):.1f} | {min(t):.1f}–{max(t):.1f} | {', '.join(f'{x:.1f}' for x in t)} "
        f"| {statistics.median(cpus[name]):.1f} |"
        for name, t in times.items()
    ]
    md = "\n".join(
        [
            f"`pr-report --repro` on the demo, PR = `model.linear.C` 0.5, main's model in the DVC cache, candidate "
            f"retrained each run; {args.rounds} rounds, the variants alternating within each round (seconds):",
            "",
            "| code | median wall | range | runs (wall) | median CPU s (all processes) |",
            "|---|---:|---:|---|---:|",
            *rows,
            "",
            f"Same comparison.json (verdict, gate, every metric and interval; latency aside) from every run of "
            f"this code, with and without prefetch: **{'yes' if same else 'NO'}**."
            + ("" if before_same is None else f" The same as {args.before}'s: {'yes' if before_same else 'no'}."),
            "",
            f"Load average (1, 5, 15 min) at start / end: {load} (2.0 = both cores busy).",
        ]
    )
    data = {"rounds": args.rounds, "times_s": times, "cpu_s": cpus, "same_result": same, "before": args.before}
    data["same_as_before"] = before_same
    write_results("pr-prefetch", md, data)
    if not same:
        sys.exit("the variants' comparison.json differ")


if __name__ == "__main__":
    main()
