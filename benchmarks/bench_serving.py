"""Serving benchmark, side by side in one run, one table per estimator (linear, random forest, histogram
gradient boosting; the project's own data and params, only ``model.type`` changed): (a) the bento
(the built bento serving that estimator's model via ``MLOPS_MODEL_TAG``), (b) a minimal FastAPI peer
serving the same pipeline the plain way, (c) in-process.

- single-record POSTs at 1, 16 and 64 concurrent connections, driven by ``wrk`` (C load generator,
  Debian package; a Lua script rotates over real test records): throughput, p50, p99, errors
  (non-2xx + socket errors);
- 10,000-row batch POSTs (rows/s), driven by a Python client with the body pre-encoded: JSON records
  (bento, peer) and an Arrow IPC stream (bento's ``/arrow/predict_batch``);
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
import joblib
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlops_template.config import load_params  # noqa: E402
from mlops_template.data.schema import load_spec  # noqa: E402
from mlops_template.serving.store import TAG_FILE, build_bento  # noqa: E402
from tests.support import env_with_venv, free_port, server  # noqa: E402

WORK = ROOT / "benchmarks/.work/serving"
RESULTS = ROOT / "benchmarks/results"
DURATION = int(os.environ.get("BENCH_SECONDS", "5"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "2"))
ESTIMATORS = os.environ.get("BENCH_ESTIMATORS", "linear,random_forest,hist_gradient_boosting").split(",")
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


def batch_run(url: str, body: bytes, rows: int, content_type: str = "application/json") -> dict[str, Any]:
    times = []
    errors = 0
    with httpx.Client(timeout=120) as client:
        client.post(url, content=body, headers={"content-type": content_type})  # warm-up
        for _ in range(BATCH_REQUESTS):
            start = time.perf_counter()
            resp = client.post(url, content=body, headers={"content-type": content_type})
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
    n = 0
    start = time.perf_counter()
    while n < 2000 and time.perf_counter() - start < 10:  # 2,000 calls or 10 s, whichever comes first
        model.predict_proba(pd.DataFrame([records[n % len(records)]], columns=features))
        n += 1
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

    tag = TAG_FILE.read_text().strip() if TAG_FILE.exists() else build_bento(ROOT, params)
    test = pd.read_parquet(ROOT / "data/split/test.parquet")
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
            "bento_workers": params.serving.workers,
            "fastapi_workers": params.serving.workers,
            "batch_rows": BATCH_ROWS,
            "batch_requests": BATCH_REQUESTS,
            "load_generator": "wrk (single), httpx (batch)",
            "wrk_timeout_s": WRK_TIMEOUT,
        },
        "estimators": {},
    }
    if os.environ.get("BENCH_MERGE") and (RESULTS / "serving.json").exists():  # add to an earlier run's tables
        earlier = json.loads((RESULTS / "serving.json").read_text())
        results["estimators"] = earlier["estimators"]
        results["machine"]["load_average_at_start"] = earlier["machine"]["load_average_at_start"]
    for kind in ESTIMATORS:
        model_tag = model_for(kind, params)
        print(f"== {kind}: {model_tag}", flush=True)
        results["estimators"][kind] = bench_one(tag, model_tag, test, env, params)
        write(results)
    results["machine"]["load_average_at_end"] = load_average()
    write(results)
    print((RESULTS / "serving.md").read_text())
    return 0


def write(results: dict[str, Any]) -> None:
    for r in results["estimators"].values():
        r["targets"] = targets(r)
    results["machine"].setdefault("load_average_at_end", load_average())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "serving.md").write_text(markdown(results))


def model_for(kind: str, params: Any) -> str:
    """The project's model (``model.type`` as in params.yaml), or one retrained with ``model.type: kind``
    on the same train split, imported into the model store the way ``make bento`` does (with its ONNX check)."""
    from mlops_template.config import parse_params
    from mlops_template.model import build_pipeline
    from mlops_template.serving.store import import_model

    if kind == params.model.type:
        return Path("bento_model_tag.txt").read_text().strip()
    root = WORK / f"model-{kind}"
    shutil.rmtree(root, ignore_errors=True)
    for rel in ("models/metadata.json", "data/split/test.parquet", "metrics/metrics.json", params.data.schema_path):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / rel).exists():
            shutil.copy2(ROOT / rel, root / rel)
    raw = json.loads(json.dumps(params.model_dump(mode="json")))
    raw["model"]["type"] = kind
    kind_params = parse_params(raw)
    spec = load_spec(ROOT / params.data.schema_path)
    train = pd.read_parquet(ROOT / "data/split/train.parquet")
    features = json.loads((ROOT / "models/metadata.json").read_text())["features"]
    pipeline = build_pipeline(kind_params, spec).fit(train[features], train[params.data.target])
    joblib.dump(pipeline, root / "models/model.joblib")
    meta = json.loads((root / "models/metadata.json").read_text())
    meta["model_type"] = kind
    (root / "models/metadata.json").write_text(json.dumps(meta))
    return import_model(root, kind_params)


def arrow_body(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def bench_one(tag: str, model_tag: str, test: pd.DataFrame, env: dict[str, str], params: Any) -> dict[str, Any]:
    import bentoml

    from mlops_template.serving.columnar import ARROW_STREAM
    from mlops_template.serving.store import load_stored

    model_dir = bentoml.models.get(model_tag).path
    loaded = load_stored(model_dir, model_tag)
    features = loaded.features
    records: list[dict[str, Any]] = json.loads(json.dumps(test[features].to_dict("records")))
    WORK.mkdir(parents=True, exist_ok=True)
    bodies = WORK / "single_bodies.jsonl"
    bodies.write_text("".join(json.dumps({"record": r}) + "\n" for r in records))
    script = WORK / "post.lua"
    script.write_text(LUA % {"bodies": bodies})
    batch_records = (records * (BATCH_ROWS // len(records) + 1))[:BATCH_ROWS]
    batch_body = json.dumps({"records": batch_records}).encode()
    batch_arrow = arrow_body(pd.DataFrame(batch_records, columns=features))
    result: dict[str, Any] = {"model": model_tag, "in_process": in_process(loaded.pipeline, features, records)}
    result["serving_check"] = loaded.serving_check
    print("in-process:", result["in_process"], flush=True)

    bento_port, peer_port = free_port(), free_port()
    bento_cmd = ["bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(bento_port)]
    bento_env = {**env, "MLOPS_MODEL_TAG": model_tag}
    peer_env = {**env, "MODEL_DIR": str(model_dir), "MODEL_TAG": model_tag, "PYTHONPATH": str(ROOT)}
    workers = str(params.serving.workers)  # same process count as the bento: a like-for-like peer
    peer_cmd = [sys.executable, "-m", "uvicorn", "benchmarks.fastapi_peer:app", "--host", "127.0.0.1"]
    peer_cmd += ["--port", str(peer_port), "--workers", workers, "--no-access-log", "--log-level", "warning"]
    urls = {"bento": f"http://127.0.0.1:{bento_port}", "fastapi": f"http://127.0.0.1:{peer_port}"}
    with (
        server(bento_cmd, f"{urls['bento']}/readyz", cwd=WORK, log_path=WORK / "bento.log", env=bento_env),
        server(peer_cmd, f"{urls['fastapi']}/docs", cwd=ROOT, log_path=WORK / "fastapi.log", env=peer_env),
    ):
        meta = httpx.post(f"{urls['bento']}/metadata").json()
        result["bento_scoring_path"] = meta["scoring_path"]
        assert meta["model_version"] == model_tag, meta["model_version"]
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
            result[name] = {"single": [median_run(runs[name][c]) for c in CONCURRENCY]}
        batches: dict[str, list[dict[str, Any]]] = {"bento": [], "fastapi": [], "bento_arrow": []}
        for _ in range(2):
            for name, url in urls.items():
                batches[name].append(batch_run(f"{url}/predict_batch", batch_body, BATCH_ROWS))
            arrow_url = f"{urls['bento']}/arrow/predict_batch"
            batches["bento_arrow"].append(batch_run(arrow_url, batch_arrow, BATCH_ROWS, ARROW_STREAM))
        for name, runs_ in batches.items():
            result[name if name != "bento_arrow" else "bento"]["batch" if name != "bento_arrow" else "batch_arrow"] = (
                max(runs_, key=lambda b: b["rows_per_s"])
            )
    print("bento:", result["bento"], flush=True)
    print("fastapi:", result["fastapi"], flush=True)
    return result


def targets(r: dict[str, Any]) -> dict[str, Any]:
    b16 = next(x for x in r["bento"]["single"] if x["connections"] == 16)
    f16 = next(x for x in r["fastapi"]["single"] if x["connections"] == 16)
    ratio = b16["rps"] / f16["rps"]
    batch_share = r["bento"]["batch_arrow"]["rows_per_s"] / r["in_process"]["batch_rows_per_s"]
    errors = sum(x["errors"] for x in r["bento"]["single"]) + r["bento"]["batch"]["errors"]
    errors += r["bento"]["batch_arrow"]["errors"]
    return {
        "single_16_vs_fastapi": {"value": round(ratio, 2), "target": ">= 3.0", "met": ratio >= 3.0},
        "p99_16_no_worse": {
            "value": f"{b16['p99_ms']} ms vs {f16['p99_ms']} ms",
            "target": "bento <= fastapi",
            "met": b16["p99_ms"] <= f16["p99_ms"],
        },
        "arrow_batch_vs_in_process": {"value": round(batch_share, 3), "target": ">= 0.25", "met": batch_share >= 0.25},
        "bento_errors": {"value": errors, "target": "0", "met": errors == 0},
    }


def markdown(r: dict[str, Any]) -> str:
    c = r["config"]
    lines = [
        "# Serving benchmark",
        "",
        f"Machine: {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, load average "
        f"{r['machine']['load_average_at_start']} at start / {r['machine']['load_average_at_end']} at end "
        "(the machine was shared with other jobs: absolute numbers move from run to run, the side-by-side "
        "ratios less). One run of `make bench-serving` (benchmarks/bench_serving.py); per estimator both "
        "servers up at once, cells interleaved bento/FastAPI and repeated "
        f"{c['repeats']}x; wrk for single records ({c['duration_s']} s per run, `--timeout "
        f"{c.get('wrk_timeout_s', 2)}s`, median run by req/s, errors = non-2xx + socket errors + timeouts "
        f"summed over all runs), httpx for 10k-row batches ({c['batch_requests']} sequential requests, "
        f"median; best of 2 rounds). Bento: `{c['bento']}`, {c['bento_workers']} worker(s), serving each "
        "estimator's model via `MLOPS_MODEL_TAG`. FastAPI peer: uvicorn, "
        f"{c['fastapi_workers']} worker(s), same schema-derived validation, one DataFrame per request "
        "(`pipeline.predict_proba`). In-process: `predict_proba` on a DataFrame.",
    ]
    summary = ["", "## Targets", "", "| estimator | target | value | goal | met |", "|---|---|---|---|---|"]
    for kind, e in r["estimators"].items():
        ip = e["in_process"]
        lines += [
            "",
            f"## {kind} (`{e['model']}`; bento path: {e.get('bento_scoring_path', '?')})",
            "",
            "| server | clients | req/s | p50 ms | p99 ms | errors |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name in ("bento", "fastapi"):
            for x in e[name]["single"]:
                lines.append(
                    f"| {name} | {x['connections']} | {x['rps']} | {x['p50_ms']} | {x['p99_ms']} | {x['errors']} |"
                )
        lines += [
            f"| in-process (1-row DataFrame) | 1 | {ip['single_rps']} | {ip['single_ms']} | | |",
            "",
            f"| {c['batch_rows']:,}-row batch | rows/s | median s per request | errors |",
            "|---|---:|---:|---:|",
            f"| bento, Arrow IPC stream | {e['bento']['batch_arrow']['rows_per_s']:,} | "
            f"{e['bento']['batch_arrow']['median_s']} | {e['bento']['batch_arrow']['errors']} |",
            f"| bento, JSON records | {e['bento']['batch']['rows_per_s']:,} | {e['bento']['batch']['median_s']} | "
            f"{e['bento']['batch']['errors']} |",
            f"| fastapi, JSON records | {e['fastapi']['batch']['rows_per_s']:,} | "
            f"{e['fastapi']['batch']['median_s']} | {e['fastapi']['batch']['errors']} |",
            f"| in-process predict_proba | {ip['batch_rows_per_s']:,} | {ip['batch_ms'] / 1000:.4f} | |",
        ]
        for name, t in e["targets"].items():
            summary.append(f"| {kind} | {name} | {t['value']} | {t['target']} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines + summary) + "\n"


def compact(r: dict[str, Any]) -> str:
    """The README quote: one line per estimator (16 clients, 10k-row batches), targets marked."""
    lines = [
        "| estimator (bento path) | bento req/s @16 | FastAPI req/s @16 | ratio (>= 3) | p99 ms bento / FastAPI "
        "| Arrow 10k rows/s | JSON 10k rows/s | in-process 10k rows/s | Arrow / in-process (>= 0.25) | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, e in r["estimators"].items():
        b16 = next(x for x in e["bento"]["single"] if x["connections"] == 16)
        f16 = next(x for x in e["fastapi"]["single"] if x["connections"] == 16)
        t = e["targets"]
        mark = {True: "", False: " **(missed)**"}
        lines.append(
            f"| {kind} ({e.get('bento_scoring_path', '?')}) | {b16['rps']} | {f16['rps']} | "
            f"{t['single_16_vs_fastapi']['value']}x{mark[t['single_16_vs_fastapi']['met']]} | "
            f"{b16['p99_ms']} / {f16['p99_ms']}{mark[t['p99_16_no_worse']['met']]} | "
            f"{e['bento']['batch_arrow']['rows_per_s']:,} | {e['bento']['batch']['rows_per_s']:,} | "
            f"{e['in_process']['batch_rows_per_s']:,} | "
            f"{t['arrow_batch_vs_in_process']['value']}{mark[t['arrow_batch_vs_in_process']['met']]} | "
            f"{t['bento_errors']['value']} |"
        )
    m = r["machine"]
    lines += [
        "",
        f"Load average {m['load_average_at_start']} at start / {m.get('load_average_at_end', '?')} at end on "
        "2 cores shared with other jobs: absolute numbers are low and noisy, the side-by-side ratios are "
        "the point. Full tables (1/16/64 clients, p50): "
        "[benchmarks/results/serving.md](benchmarks/results/serving.md).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
