"""Benchmark: the whole PR workflow (.github/workflows/pr.yml, all jobs) under act, default data.

Scenarios, run one after the other in one invocation, on pull requests built from this project
(a local bare repository plays GitHub; see .ci/emulation/act/harness.py):

- cold:           nothing cached: empty uv cache (every package downloaded from PyPI) and empty
                  Actions cache (no DVC cache: main's model is rebuilt from main's commit);
- cold-dvc:       uv packages cached, DVC cache empty (a first PR after a lock-file-only change);
- warm:           a second push to a PR: uv cache and the DVC cache saved by the previous run.

Writes benchmarks/results/pr_workflow.md and .json. Run: `python benchmarks/bench_pr_workflow.py`
(or `make bench-pr`). Target: cold <= 4 min.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caching on, as on a user's machine (see _common.py)
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".ci"))  # the act harness: .ci/emulation/act/harness.py

from emulation.act.harness import (  # noqa: E402
    ActRun,
    lock_param,
    make_pr_repo,
    pull_request_event,
    run_workflow,
    set_param,
    uv_cache_dir,
)

RESULTS = ROOT / "benchmarks" / "results"
TARGET_COLD_S = 240.0
STEP = re.compile(
    r"^\[[^/\]]+/(?P<job>[^\]]+?)\s*\]\s+(?:✅|❌)\s+\w+ - Main (?P<step>make [\w-]+).*\[(?P<dur>[^\]]+)\]$"
)


def seconds(duration: str) -> float:
    """act's Go durations: ``1m38.8s``, ``27.6s``, ``80.7ms``, ``382µs``."""
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)(h|ms|µs|us|ns|m|s)", duration):
        total += float(value) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}[unit]
    return total


def step_times(run: ActRun) -> dict[str, float]:
    """``{"job: make target": seconds}`` from act's log."""
    return {
        f"{m.group('job')}: {m.group('step')}": round(seconds(m.group("dur")), 1)
        for line in run.log.splitlines()
        if (m := STEP.match(line))
    }


def one_run(work: Path, name: str, c_value: str, uv_cache: Path, store: Path) -> dict[str, Any]:
    def change(repo: Path) -> None:  # a PR whose author ran `make repro` (dvc.lock up to date: make lock-check)
        set_param(repo, "model.linear.C", c_value)
        lock_param(repo, "model.linear.C", c_value)

    repo = make_pr_repo(work / name / "github", change, branch=name)
    # Every scenario is PR #1 (refs/pull/1/merge): the cache stand-in enforces GitHub's scoping, so "warm" is a
    # later push to the same PR, which may restore what the earlier push saved.
    event = pull_request_event(repo, "main", name, number=1)
    load_before = os.getloadavg()[0]
    start = time.monotonic()
    run = run_workflow(repo, event, work / name / "act", uv_cache_dir=uv_cache, cache_store=store, timeout=3600)
    wall = time.monotonic() - start
    if run.returncode != 0:
        raise SystemExit(f"{name}: the workflow failed\n{run.describe()}")
    baseline = "DVC cache" if "DVC cache/remote (the exact files" in run.log else "rebuilt from main's commit"
    return {
        "scenario": name,
        "wall_s": round(wall, 1),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "baseline_model": baseline,
        "steps": step_times(run),
    }


def render(results: list[dict[str, Any]]) -> str:
    lines = [
        "# PR workflow under act: whole workflow, default data",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores "
        f"({platform.machine()}, {platform.python_version()}), act host mode, all three jobs "
        "(lint + unit tests, data schema tests, train + compare + report + gate; act runs at most "
        f"{os.cpu_count()} jobs at once). Produced by `benchmarks/bench_pr_workflow.py`.",
        "The 1-minute load average is given next to each run (2.0 = both cores busy; other work on the "
        "machine inflates the times).",
        "",
        "| scenario | wall time | target | main's model | load before / after |",
        "|---|---:|---:|---|---|",
    ]
    for r in results:
        target = f"≤ {TARGET_COLD_S / 60:.0f} min" if r["scenario"] == "cold" else ""
        ok = "" if not target else (" ✅" if float(r["wall_s"]) <= TARGET_COLD_S else " ❌ missed")
        lines.append(
            f"| {r['scenario']} | {float(r['wall_s']) / 60:.1f} min ({r['wall_s']} s){ok} | {target} | "
            f"{r['baseline_model']} | {r['load_before']} / {r['load_after']} |"
        )
    steps = sorted({s for r in results for s in r["steps"]}, key=lambda s: (s.split(":")[0], s))
    lines += ["", "Per step (seconds, as act reports them):", ""]
    lines += ["| job: step | " + " | ".join(str(r["scenario"]) for r in results) + " |"]
    lines += ["|---|" + "---:|" * len(results)]
    for step in steps:
        cells = [str(r["steps"].get(step, "")) for r in results]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="cold,cold-dvc,warm", help="comma-separated subset")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    wanted = args.scenarios.split(",")
    work = Path(tempfile.mkdtemp(prefix="bench-pr-workflow-"))
    results = []
    try:
        if "cold" in wanted:
            results.append(one_run(work, "cold", "0.5", work / "empty-uv-cache", work / "store-cold"))
            print(json.dumps(results[-1]), flush=True)
        store = work / "store"
        if "cold-dvc" in wanted or "warm" in wanted:
            first = one_run(work, "cold-dvc", "0.5", uv_cache_dir(), store)
            if "cold-dvc" in wanted:
                results.append(first)
                print(json.dumps(first), flush=True)
        if "warm" in wanted:
            results.append(one_run(work, "warm", "0.25", uv_cache_dir(), store))
            print(json.dumps(results[-1]), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pr_workflow.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (RESULTS / "pr_workflow.md").write_text(render(results), encoding="utf-8")
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
