"""Shared by the benchmark scripts: timing, machine description, writing results + their quote in docs/benchmarks.md."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# A user's machine (and GitHub's runners) caches compiled bytecode; a shell that sets
# PYTHONDONTWRITEBYTECODE makes every Python start-up recompile numpy, scikit-learn and MLflow from source
# (measured here: `import sklearn.base` 8 s instead of ~2 s), which would swamp what the benchmarks time.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def timeit(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def machine() -> str:
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )


DOC = ROOT / "docs" / "benchmarks.md"  # quotes every results file (the README links to it)


def quote_in_docs(area: str, body: str) -> bool:
    """Replace the block between ``<!-- bench:<area>:start/end -->`` in docs/benchmarks.md with ``body``."""
    readme = DOC
    start, end = f"<!-- bench:{area}:start -->", f"<!-- bench:{area}:end -->"
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return False
    # the results files have their own headings: nest them under the document's section heading
    body = re.sub(r"^(#{1,3}) ", lambda m: "#" * min(6, len(m.group(1)) + 2) + " ", body, flags=re.M)
    body = body.replace("](benchmarks/", "](../benchmarks/").replace("](docs/", "](")
    quoted = f"{start}\n{body.rstrip()}\n{end}"
    readme.write_text(
        re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: quoted, text, flags=re.S), encoding="utf-8"
    )
    return True


def write_results(area: str, markdown: str, data: dict[str, Any]) -> Path:
    """Write benchmarks/results/<area>.md + .json and refresh the docs/benchmarks.md block quoting it, if any."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = f"{markdown.rstrip()}\n\n_Measured {stamp} on {machine()}._\n"
    md_path = RESULTS / f"{area}.md"
    md_path.write_text(body, encoding="utf-8")
    (RESULTS / f"{area}.json").write_text(
        json.dumps({"measured": stamp, "machine": machine(), **data}, indent=2) + "\n", encoding="utf-8"
    )
    quote_in_docs(area, body)
    print(body)
    return md_path


if __name__ == "__main__":
    for md in sorted(RESULTS.glob("*.md")):
        quoted = quote_in_docs(md.stem, md.read_text())
        print(f"{md.name}: {'quoted in docs/benchmarks.md' if quoted else 'no block there'}")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a benchmark's resume log (none when it does not exist yet)."""
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_logged(
    fn: Callable[[Any], dict[str, Any]],
    jobs: list[Any],
    workers: int,
    log: Path,
    done: list[dict[str, Any]],
    stamp: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """``fn(job)`` for every job in ``workers`` processes; each result appended to ``log`` as it arrives (a run
    stopped early resumes from it) and to ``done``. ``stamp`` may add fields to a result before it is logged."""
    from concurrent.futures import ProcessPoolExecutor

    log.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as pool, log.open("a") as handle:
        for result in pool.map(fn, jobs):
            if stamp is not None:
                stamp(result)
            handle.write(json.dumps(result) + "\n")
            handle.flush()
            done.append(result)
