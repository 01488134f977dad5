"""Serving benchmark, side by side in one run: (a) the bento, (b) a minimal FastAPI peer, (c) in-process.

- single-record POSTs at 1, 16 and 64 concurrent connections, driven by ``wrk`` (C load generator,
  Debian package; a Lua script rotates over real test records): throughput, p50, p99, errors
  (non-2xx + socket errors);
- 10,000-row batch POSTs (rows/s), driven by a Python client with the body pre-encoded;
- in-process ``predict_proba`` on a DataFrame (1 row, 10,000 rows) as the ceiling.

Needs a trained model (``make repro``) and a built bento (``make bento``; built here if missing).
Writes benchmarks/results/serving.md and serving.json. Run: ``make bench-serving``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlops_template.config import load_params  # noqa: E402
from mlops_template.serving.store import TAG_FILE, build_bento  # noqa: E402
from tests.support import env_with_venv, free_port, server  # noqa: E402

WORK = ROOT / "benchmarks/.work/serving"
RESULTS = ROOT / "benchmarks/results"
DURATION = int(os.environ.get("BENCH_SECONDS", "5"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
# wrk counts a request slower than this as a "timeout" error (wrk's default is 2 s; at 64 clients on a
# 2-core machine shared with other jobs, queueing alone can exceed that). Every error kind is reported.
WRK_TIMEOUT = int(os.environ.get("BENCH_WRK_TIMEOUT", "10"))
CONCURRENCY = [1, 16, 64]
BATCH_ROWS = 10_000
BATCH_REQUESTS = int(os.environ.get("BENCH_BATCH_REQUESTS", "10"))

LUA = """
local bodies = {}
local n = 0
for line in io.lines("%(bodies)s") do n = n + 1; bodies[n] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = (i %% n) + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"non2xx\\": %%d, \\"socket_errors\\": %%d, " ..
    "\\"connect\\": %%d, \\"read\\": %%d, \\"write\\": %%d, \\"timeout\\": %%d, " ..
    "\\"p50_us\\": %%d, \\"p99_us\\": %%d, \\"mean_us\\": %%f}\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def wrk(url: str, connections: int, script: Path) -> dict[str, Any]:
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{DURATION}s", f"--timeout={WRK_TIMEOUT}s"]
    cmd += ["--latency", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=DURATION + 60).stdout
    match = re.search(r"^RESULT (\{.*\})$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    return {
        "connections": connections,
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "errors": raw["non2xx"] + raw["socket_errors"],
        "error_kinds": {k: raw[k] for k in ("non2xx", "connect", "read", "write", "timeout") if raw[k]},
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["rps"])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["errors"] = sum(r["errors"] for r in runs)  # errors of every run count
    chosen["runs_rps"] = [r["rps"] for r in runs]
    return chosen


def batch_run(url: str, body: bytes, rows: int) -> dict[str, Any]:
    times = []
    errors = 0
    with httpx.Client(timeout=120) as client:
        client.post(url, content=body, headers={"content-type": "application/json"})  # warm-up
        for _ in range(BATCH_REQUESTS):
            start = time.perf_counter()
            resp = client.post(url, content=body, headers={"content-type": "application/json"})
            times.append(time.perf_counter() - start)
            if resp.status_code != 200 or len(resp.json()["scores"]) != rows:
                errors += 1
    median = statistics.median(times)
    return {
        "rows": rows,
        "requests": len(times),
        "median_s": round(median, 4),
        "rows_per_s": round(rows / median),
        "errors": errors,
    }


def batch_breakdown(loaded: Any, body: bytes) -> dict[str, float]:
    """Where a 10k-row JSON batch goes inside the service, measured in-process (median ms of 5)."""
    from pydantic import TypeAdapter

    from mlops_template.serving.predictor import Predictor, labels_and_scores
    from mlops_template.serving.validation import record_type, records_type

    predictor = Predictor(loaded.pipeline, loaded.features, loaded.spec)
    adapter = TypeAdapter(dict[str, records_type(record_type(loaded.spec, loaded.features), BATCH_ROWS)])

    def timed(fn: Any) -> tuple[float, Any]:
        times, out = [], None
        for _ in range(5):
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
        return round(statistics.median(times) * 1000, 2), out

    parse_ms, parsed = timed(lambda: adapter.validate_json(body))
    records = parsed["records"]
    matrix_ms, _ = timed(lambda: predictor.matrix(records))
    score_ms, _ = timed(lambda: labels_and_scores(predictor, records, 0.5))
    return {
        "body_mb": round(len(body) / 1e6, 2),
        "parse_and_validate_json_ms": parse_ms,
        "records_to_matrix_ms": matrix_ms,
        "matrix_and_scoring_ms": score_ms,
    }


def in_process(model: Any, features: list[str], records: list[dict[str, Any]]) -> dict[str, Any]:
    one = records[0]
    n = 2000
    start = time.perf_counter()
    for i in range(n):
        model.predict_proba(pd.DataFrame([records[i % len(records)]], columns=features))
    single = (time.perf_counter() - start) / n
    big = pd.DataFrame((records * (BATCH_ROWS // len(records) + 1))[:BATCH_ROWS], columns=features)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        model.predict_proba(big)
        times.append(time.perf_counter() - start)
    batch = statistics.median(times)
    del one
    return {
        "single_rps": round(1 / single, 1),
        "single_ms": round(single * 1000, 3),
        "batch_rows_per_s": round(BATCH_ROWS / batch),
        "batch_ms": round(batch * 1000, 2),
    }


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> int:
    if sys.argv[1:] == ["--render"]:  # re-write serving.md from serving.json (no measuring)
        data = json.loads((RESULTS / "serving.json").read_text())
        (RESULTS / "serving.md").write_text(markdown(data))
        return 0
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk (see .ci/install-serving-bench.sh)", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    params = load_params(ROOT / "params.yaml")
    os.environ.setdefault("BENTOML_HOME", str(ROOT / ".bentoml"))
    import bentoml

    tag = TAG_FILE.read_text().strip() if TAG_FILE.exists() else build_bento(ROOT, params)
    model_tag = Path("bento_model_tag.txt").read_text().strip()
    model_dir = bentoml.models.get(model_tag).path
    from mlops_template.serving.store import load_stored

    loaded = load_stored(model_dir, model_tag)
    features = loaded.features
    test = pd.read_parquet(ROOT / "data/split/test.parquet")
    records: list[dict[str, Any]] = json.loads(json.dumps(test[features].to_dict("records")))

    WORK.mkdir(parents=True, exist_ok=True)
    bodies = WORK / "single_bodies.jsonl"
    bodies.write_text("".join(json.dumps({"record": r}) + "\n" for r in records))
    script = WORK / "post.lua"
    script.write_text(LUA % {"bodies": bodies})
    batch_records = (records * (BATCH_ROWS // len(records) + 1))[:BATCH_ROWS]
    batch_body = json.dumps({"records": batch_records}).encode()

    env = env_with_venv({"BENTOML_HOME": os.environ["BENTOML_HOME"], "BENTOML_DO_NOT_TRACK": "True"})
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_start": load_average(),
        },
        "config": {
            "duration_s": DURATION,
            "repeats": REPEATS,
            "bento": tag,
            "model": model_tag,
            "bento_workers": params.serving.workers,
            "fastapi_workers": params.serving.workers,
            "batch_rows": BATCH_ROWS,
            "batch_requests": BATCH_REQUESTS,
            "load_generator": "wrk (single), httpx (batch)",
            "wrk_timeout_s": WRK_TIMEOUT,
        },
        "in_process": in_process(loaded.pipeline, features, records),
    }
    results["batch_breakdown"] = batch_breakdown(loaded, batch_body)
    print("in-process:", results["in_process"], results["batch_breakdown"], flush=True)

    bento_port, peer_port = free_port(), free_port()
    bento_cmd = ["bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(bento_port)]
    peer_env = {**env, "MODEL_DIR": str(model_dir), "MODEL_TAG": model_tag, "PYTHONPATH": str(ROOT)}
    workers = str(params.serving.workers)  # same process count as the bento: a like-for-like peer
    peer_cmd = [sys.executable, "-m", "uvicorn", "benchmarks.fastapi_peer:app", "--host", "127.0.0.1"]
    peer_cmd += ["--port", str(peer_port), "--workers", workers, "--no-access-log", "--log-level", "warning"]
    urls = {"bento": f"http://127.0.0.1:{bento_port}", "fastapi": f"http://127.0.0.1:{peer_port}"}
    with (
        server(bento_cmd, f"{urls['bento']}/readyz", cwd=WORK, log_path=WORK / "bento.log", env=env),
        server(peer_cmd, f"{urls['fastapi']}/docs", cwd=ROOT, log_path=WORK / "fastapi.log", env=peer_env),
    ):
        results["bento_scoring_path"] = httpx.post(f"{urls['bento']}/metadata").json()["scoring_path"]
        for url in urls.values():
            wrk(f"{url}/predict", 16, script)  # warm-up
        # Interleaved (bento, fastapi, bento, ...) and repeated, so that changes in the machine's
        # background load hit both servers alike; each cell reports the median run (by req/s).
        runs: dict[str, dict[int, list[dict[str, Any]]]] = {name: {c: [] for c in CONCURRENCY} for name in urls}
        for c in CONCURRENCY:
            for _ in range(REPEATS):
                for name, url in urls.items():
                    runs[name][c].append(wrk(f"{url}/predict", c, script))
        for name in urls:
            results[name] = {"single": [median_run(runs[name][c]) for c in CONCURRENCY]}
        for _ in range(2):
            for name, url in urls.items():
                results[name].setdefault("batch_runs", []).append(
                    batch_run(f"{url}/predict_batch", batch_body, BATCH_ROWS)
                )
        for name in urls:
            results[name]["batch"] = max(results[name].pop("batch_runs"), key=lambda b: b["rows_per_s"])
    print("bento:", results["bento"], flush=True)
    print("fastapi:", results["fastapi"], flush=True)

    results["machine"]["load_average_at_end"] = load_average()
    results["targets"] = targets(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "serving.md").write_text(markdown(results))
    print(markdown(results))
    return 0


def targets(r: dict[str, Any]) -> dict[str, Any]:
    b16 = next(x for x in r["bento"]["single"] if x["connections"] == 16)
    f16 = next(x for x in r["fastapi"]["single"] if x["connections"] == 16)
    ratio = b16["rps"] / f16["rps"]
    batch_share = r["bento"]["batch"]["rows_per_s"] / r["in_process"]["batch_rows_per_s"]
    errors = sum(x["errors"] for x in r["bento"]["single"]) + r["bento"]["batch"]["errors"]
    return {
        "single_16_vs_fastapi": {"value": round(ratio, 2), "target": ">= 3.0", "met": ratio >= 3.0},
        "p99_16_no_worse": {
            "value": f"{b16['p99_ms']} ms vs {f16['p99_ms']} ms",
            "target": "bento <= fastapi",
            "met": b16["p99_ms"] <= f16["p99_ms"],
        },
        "batch_vs_in_process": {"value": round(batch_share, 3), "target": ">= 0.25", "met": batch_share >= 0.25},
        "bento_errors": {"value": errors, "target": "0", "met": errors == 0},
    }


def markdown(r: dict[str, Any]) -> str:
    c = r["config"]
    lines = [
        "# Serving benchmark",
        "",
        f"Machine: {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, load average "
        f"{r['machine']['load_average_at_start']} at start / {r['machine']['load_average_at_end']} at end "
        "(other jobs were running on the machine). One run of "
        "`make bench-serving` (benchmarks/bench_serving.py); both servers up at once, cells interleaved "
        f"bento/FastAPI and repeated {c['repeats']}x; load generator: wrk for single records "
        f"({c['duration_s']} s per run, `--timeout {c.get('wrk_timeout_s', 2)}s`, median run by req/s, errors "
        "(non-2xx, connect/read/write errors, timeouts) summed over all runs; client on the "
        f"same machine), httpx for 10k-row batches ({c['batch_requests']} sequential requests, median; "
        f"best of 2 interleaved rounds). Bento workers: {c['bento_workers']}; "
        f"FastAPI peer: uvicorn, {c['fastapi_workers']} worker(s), same schema-derived validation, "
        "one DataFrame per request, no access log. Bento scoring path: "
        f"{r.get('bento_scoring_path', '?')}.",
        "",
        "## Single record (POST /predict)",
        "",
        "| server | clients | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ("bento", "fastapi"):
        for x in r[name]["single"]:
            lines.append(
                f"| {name} | {x['connections']} | {x['rps']} | {x['p50_ms']} | {x['p99_ms']} | {x['errors']} |"
            )
    ip = r["in_process"]
    lines += [
        f"| in-process predict_proba (1-row DataFrame) | 1 | {ip['single_rps']} | {ip['single_ms']} | | |",
        "",
        f"## {c['batch_rows']:,}-row batch (POST /predict_batch)",
        "",
        "| path | rows/s | median s per request |",
        "|---|---:|---:|",
        f"| bento | {r['bento']['batch']['rows_per_s']:,} | {r['bento']['batch']['median_s']} |",
        f"| fastapi | {r['fastapi']['batch']['rows_per_s']:,} | {r['fastapi']['batch']['median_s']} |",
        f"| in-process predict_proba | {ip['batch_rows_per_s']:,} | {ip['batch_ms'] / 1000:.4f} |",
        "",
        "## Targets",
        "",
        "| target | value | goal | met |",
        "|---|---|---|---|",
    ]
    for name, t in r["targets"].items():
        lines.append(f"| {name} | {t['value']} | {t['target']} | {'yes' if t['met'] else '**no**'} |")
    if "batch_breakdown" in r:
        b = r["batch_breakdown"]
        lines += [
            "",
            "## Where a 10k-row JSON batch goes (in-process, same code as the service)",
            "",
            f"- request body: {b['body_mb']} MB of JSON records",
            f"- parse + validate (schema-derived types, pydantic-core): {b['parse_and_validate_json_ms']} ms",
            f"- records -> numpy matrix: {b['records_to_matrix_ms']} ms",
            f"- matrix + scoring + labels: {b['matrix_and_scoring_ms']} ms",
            f"- in-process `predict_proba` on a ready DataFrame: {ip['batch_ms']} ms",
            "",
            "Parsing and strictly validating ~300k JSON numbers costs several times the model itself, so "
            "a JSON-records endpoint cannot reach 25% of in-process `predict_proba` throughput here; "
            "a binary columnar body (Arrow/Parquet, validated with the pandera schema) would be the way "
            "to get closer (not implemented: BentoML 1.4's HTTP layer has JSON/multipart serdes only).",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
