"""The champion's latency with a shadow challenger attached vs without, side by side in one run.

The project's bento is served twice by real ``bentoml serve`` processes, both with the prediction log on:
``without`` (``MLOPS_CHALLENGER_TAG=none``) and ``with`` a challenger (``MLOPS_CHALLENGER_TAG`` = a model
as expensive as the champion: by default the champion's own stored model, so the shadow work is a full second
scoring of every request). wrk sends single-record ``/predict`` requests from 16 connections (the load
generator of bench_serving.py); the two servers are measured alternately, ``BENCH_REPEATS`` times each, and
the median run of each is reported. Target (issue 20): p99 with the challenger within 10% of without.

    make bench-shadow          # BENCH_SECONDS=10 BENCH_REPEATS=3 by default here
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("BENCH_SECONDS", "10")
os.environ.setdefault("BENCH_REPEATS", "3")
sys.path.insert(0, str(ROOT))

from benchmarks._common import write_results  # noqa: E402
from benchmarks.bench_serving import LUA, load_average, median_run, wrk  # noqa: E402
from mlops_template.core.config import load_params  # noqa: E402
from mlops_template.core.model_card import load_card  # noqa: E402
from mlops_template.ops.serving.store import TAG_FILE, build_bento  # noqa: E402
from tests.support import env_with_venv, free_port, server  # noqa: E402

WORK = ROOT / "benchmarks/.work/shadow"
CONNECTIONS = 16
TARGET = 1.10  # p99 with / without


def _records(features: list[str]) -> list[dict[str, Any]]:
    test = pd.read_parquet(ROOT / "data/split/test.parquet")
    rows: list[dict[str, Any]] = json.loads(test[features].to_json(orient="records"))
    return rows


def measure(urls: dict[str, str], script: Path, repeats: int) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in urls}
    first = json.loads(script.with_name("single_bodies.jsonl").read_text().splitlines()[0])
    for url in urls.values():  # warm-up, not counted
        for _ in range(50):
            httpx.post(f"{url}/predict", json=first, timeout=30).raise_for_status()
    for i in range(repeats):
        for name in list(urls) if i % 2 == 0 else list(urls)[::-1]:  # alternate the order: drift cancels
            result = wrk(f"{urls[name]}/predict", CONNECTIONS, script)
            print(f"{name}: {result}", flush=True)
            runs[name].append(result)
    return runs


def main() -> int:
    os.chdir(ROOT)
    params = load_params(ROOT / "params.yaml")
    os.environ.setdefault("BENTOML_HOME", str(ROOT / ".bentoml"))
    env = env_with_venv({"BENTOML_HOME": os.environ["BENTOML_HOME"], "BENTOML_DO_NOT_TRACK": "True"})
    bento = TAG_FILE.read_text().strip() if TAG_FILE.exists() else build_bento(ROOT, params)
    champion = (ROOT / "bento_model_tag.txt").read_text().strip()
    challenger = os.environ.get("BENCH_CHALLENGER") or champion
    WORK.mkdir(parents=True, exist_ok=True)
    features = load_card(ROOT / "models/metadata.json").features
    bodies = WORK / "single_bodies.jsonl"
    bodies.write_text("".join(json.dumps({"record": r}) + "\n" for r in _records(features)))
    script = WORK / "post.lua"
    script.write_text(LUA % {"bodies": bodies})
    ports = {"without": free_port(), "with": free_port()}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    envs = {
        name: {
            **env,
            "MLOPS_PREDICTION_LOG": "1",
            "MLOPS_PREDICTION_LOG_PATH": str(WORK / f"{name}.jsonl"),
            "MLOPS_CHALLENGER_TAG": challenger if name == "with" else "none",
        }
        for name in urls
    }
    for name in urls:
        (WORK / f"{name}.jsonl").unlink(missing_ok=True)
    cmd = ["bentoml", "serve", bento, "--host", "127.0.0.1", "--port"]
    load_start = load_average()
    with (
        server([*cmd, str(ports["without"])], f"{urls['without']}/readyz", cwd=WORK, log_path=WORK / "without.log",
               env=envs["without"]),
        server([*cmd, str(ports["with"])], f"{urls['with']}/readyz", cwd=WORK, log_path=WORK / "with.log",
               env=envs["with"]),
    ):  # fmt: skip
        runs = measure(urls, script, int(os.environ["BENCH_REPEATS"]))
        shadow = httpx.post(f"{urls['with']}/metadata", timeout=30).json()["shadow"]
        assert httpx.post(f"{urls['without']}/metadata", timeout=30).json()["shadow"] is None
    chosen = {name: median_run(r) for name, r in runs.items()}
    data = {
        "bento": bento,
        "champion": champion,
        "challenger": challenger,
        "connections": CONNECTIONS,
        "duration_s": int(os.environ["BENCH_SECONDS"]),
        "repeats": int(os.environ["BENCH_REPEATS"]),
        "load_average": {"start": load_start, "end": load_average()},
        "runs": runs,
        "median": chosen,
        "shadow": shadow,
        "p99_ratio": round(chosen["with"]["p99_ms"] / chosen["without"]["p99_ms"], 3),
        "p50_ratio": round(chosen["with"]["p50_ms"] / chosen["without"]["p50_ms"], 3),
        "rps_ratio": round(chosen["with"]["rps"] / chosen["without"]["rps"], 3),
    }
    write_results("shadow", markdown(data), data)
    return 0


def markdown(d: dict[str, Any]) -> str:
    w, wo = d["median"]["with"], d["median"]["without"]
    verdict = "within" if d["p99_ratio"] <= TARGET else "NOT within"
    s = d["shadow"]
    lines = [
        "# Shadow challenger: the champion's latency with vs without it",
        "",
        f"Single-record `/predict`, {d['connections']} wrk connections, {d['duration_s']} s x {d['repeats']} runs per "
        "side (alternating; median run shown), real `bentoml serve` of the same bento, prediction log on for both. "
        f"Challenger `{d['challenger']}` (as expensive as the champion `{d['champion']}`), scored in a bounded "
        "background queue (ops/serving/shadow.py).",
        "",
        "| | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
        f"| without challenger | {wo['rps']} | {wo['p50_ms']} | {wo['p99_ms']} | {wo['errors']} |",
        f"| with challenger | {w['rps']} | {w['p50_ms']} | {w['p99_ms']} | {w['errors']} |",
        f"| ratio with / without | {d['rps_ratio']} | {d['p50_ratio']} | {d['p99_ratio']} | |",
        "",
        f"p99 with the challenger is **{verdict}** the 10% target (ratio {d['p99_ratio']}). "
        f"Shadow work: {s['submitted']} requests queued, {s['scored']} records scored, {s['dropped']} dropped "
        f"(queue of {s['queue_size']}), {s['failed']} failed; label agreement {s['agreement']}.",
        "",
        f"Runs (req/s): without {[r['rps'] for r in d['runs']['without']]}, "
        f"with {[r['rps'] for r in d['runs']['with']]}. Load average {d['load_average']['start']} at start, "
        f"{d['load_average']['end']} at the end: the machine was shared, so absolute numbers move between runs; the "
        "side-by-side ratio less.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
