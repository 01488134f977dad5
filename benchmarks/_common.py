"""Shared by the benchmark scripts: timing, machine description, writing results + README quote."""

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


def write_results(area: str, markdown: str, data: dict[str, Any]) -> Path:
    """Write benchmarks/results/<area>.md + .json and refresh the README block quoting it, if any."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    body = f"{markdown.rstrip()}\n\n_Measured {stamp} on {machine()}._\n"
    md_path = RESULTS / f"{area}.md"
    md_path.write_text(body, encoding="utf-8")
    (RESULTS / f"{area}.json").write_text(
        json.dumps({"measured": stamp, "machine": machine(), **data}, indent=2) + "\n", encoding="utf-8"
    )
    readme = ROOT / "README.md"
    start, end = f"<!-- bench:{area}:start -->", f"<!-- bench:{area}:end -->"
    text = readme.read_text(encoding="utf-8")
    if start in text and end in text:
        quoted = f"{start}\n{body}{end}"
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: quoted, text, flags=re.S)
        readme.write_text(text, encoding="utf-8")
    print(body)
    return md_path
