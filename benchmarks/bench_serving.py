"""Serving benchmark, side by side in one run, one table per task x estimator: (a) the bento (serving that
estimator's model via ``MLOPS_MODEL_TAG``), (b) a minimal FastAPI peer serving the same pipeline the plain
way (benchmarks/fastapi_peer.py), (c) in-process.

Tasks (``BENCH_TASKS``, default ``binary,multiclass,regression``): the project's own task is measured on
the project itself (its data and params). Every other task is measured on a temporary copy of the repository
made that task's own by the template's machinery: ``make init SOURCE=sklearn:wine TASK=multiclass`` (or
``sklearn:diabetes`` / ``regression``, ``sklearn:breast_cancer`` / ``binary``), ``make repro``, ``make bento``.
Estimators (``BENCH_ESTIMATORS``, default ``linear,random_forest,hist_gradient_boosting``): the params'
``model.type`` is the project's model; the others are retrained on the same train split with only
``model.type`` changed and imported into the model store the way ``make bento`` does, which checks the
served path against the scikit-learn pipeline on the test split (and keeps the plain pipeline when the check
fails). Each run also compares what the running bento answers with the pipeline in-process.

- single-record POSTs driven by ``wrk`` (C load generator, Debian package; a Lua script rotates over real test
  records): throughput, p50, p99, errors (non-2xx + socket errors). Clients: ``BENCH_CONCURRENCY`` (default
  1,16,64) for the project's own task, ``BENCH_EXTRA_CONCURRENCY`` (default 16, where the target is set) for
  the other tasks, to keep the run affordable;
- 10,000-row batch POSTs (rows/s), driven by a Python client with the body pre-encoded: JSON records
  (bento, peer) and an Arrow IPC stream (bento's ``/arrow/predict_batch``);
- in-process ``predict_proba`` (classifiers) / ``predict`` (regressors) on a DataFrame (1 row, 10,000 rows).

Needs ``wrk``, a trained model (``make repro``) and a built bento (``make bento``; built here if missing).
Writes benchmarks/results/serving.md and serving.json. Run: ``make bench-serving``. ``--render``
re-writes serving.md from serving.json; ``--readme`` also refreshes the quote in docs/benchmarks.md.
``BENCH_MERGE=1`` re-measures only the cells selected by ``BENCH_TASKS``/``BENCH_ESTIMATORS`` and keeps the
other cells of the committed serving.json; the run is listed with its load average ("Re-measured ...") and
``BENCH_NOTE`` (say what else ran on the machine); in a full run ``BENCH_NOTE`` replaces the preamble's
default remark about a shared machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caching on, as on a user's machine (see _common.py)
sys.path.insert(0, str(ROOT))

from mlops_template.core.config import load_params  # noqa: E402
from mlops_template.core.data.schema import load_spec  # noqa: E402
from mlops_template.ops.serving.store import TAG_FILE, build_bento  # noqa: E402
from tests.support import REPO_ROOT, copy_repo, env_with_venv, free_port, run, server  # noqa: E402

WORK = ROOT / "benchmarks/.work/serving"
RESULTS = ROOT / "benchmarks/results"
DURATION = int(os.environ.get("BENCH_SECONDS", "5"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
ESTIMATORS = os.environ.get("BENCH_ESTIMATORS", "linear,random_forest,hist_gradient_boosting").split(",")
# wrk counts a request slower than this as a "timeout" error (wrk's default is 2 s; at 64 clients on a
# 2-core machine shared with other jobs, queueing alone can exceed that). Every error kind is reported.
WRK_TIMEOUT = int(os.environ.get("BENCH_WRK_TIMEOUT", "10"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,16,64").split(",")]
EXTRA_CONCURRENCY = [int(c) for c in os.environ.get("BENCH_EXTRA_CONCURRENCY", "16").split(",")]
TASKS = os.environ.get("BENCH_TASKS", "binary,multiclass,regression,mixed").split(",")
# The bundled dataset each task is measured on when it is not the project's own (make init SOURCE=...).
TASK_SOURCES = {"binary": "sklearn:breast_cancer", "multiclass": "sklearn:wine", "regression": "sklearn:diabetes"}
# "mixed": a generated customer table (tests/integration/datasets.py mixed_churn_frame: categoricals, a boolean,
# missing numeric and categorical values, a string id, string labels), a binary task; written to data/source/.
MIXED = {"SOURCE": "data/source/churn.csv", "TARGET": "churned", "ID": "customer_id", "TASK": "binary"}
# Every server's native thread pools pinned to one thread, as the bento's ONNX Runtime session is (one worker =
# one core): OpenMP (HistGradientBoosting, forests' predict), BLAS. Left at their defaults, OpenMP spins up
# one thread per core per request and a 2-core shared machine then measures contention, not serving.
PINNED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# the servers side by side: the bento, the FastAPI + ONNX Runtime peer, the FastAPI + scikit-learn peer
SERVERS = ("bento", "onnx", "fastapi")
# Reuse the task copies of an earlier run (their `make init/repro/bento`) instead of rebuilding them.
REUSE_PROJECTS = os.environ.get("BENCH_REUSE_PROJECTS", "") not in ("", "0")
# Where those copies live: outside the repository, and on a path without hidden folders (`bentoml build`
# refuses files under one, such as benchmarks/.work).
TASK_DIR = Path(
    os.environ.get("BENCH_TASK_DIR")
    or Path(tempfile.gettempdir()) / f"mlops-bench-serving-{hashlib.md5(str(ROOT).encode()).hexdigest()[:8]}"
)
BATCH_ROWS = 10_000
# What the results say about the machine unless serving.json's machine.note says more (e.g. "no other jobs ran")
SHARED = "the machine was shared with other jobs: absolute numbers move from run to run, the side-by-side ratios less"
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
    # p99 of one 5-s run moves by ~1 ms between repetitions of the same server on 2 cores: the cell's p99 is
    # the median of the runs' p99s (not the p99 of the run with the median req/s), and the runs' values are kept
    chosen["runs_p99_ms"] = [r["p99_ms"] for r in runs]
    chosen["p99_ms"] = round(statistics.median(chosen["runs_p99_ms"]), 2)
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


def arrow_share(url: str, null_url: str, body: bytes, big: pd.DataFrame, loaded: Any) -> dict[str, Any]:
    """The Arrow 10k-row request, the same body to the null server (benchmarks/null_peer.py: the wire floor)
    and the in-process call on the same rows, alternated (2 x BATCH_REQUESTS times after one warm-up each),
    so that changes in the machine's load hit all three alike. ``share`` = in-process median / request median;
    ``floor`` = in-process median / null-server median, the largest share any server on this stack reaches."""
    from threadpoolctl import threadpool_limits

    from mlops_template.ops.serving.columnar import ARROW_STREAM

    model = loaded.pipeline
    score = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    times: dict[str, list[float]] = {"bento": [], "null": [], "in_process": []}
    errors = 0
    headers = {"content-type": ARROW_STREAM}

    def timed(fn: Any) -> tuple[float, Any]:
        start = time.perf_counter()
        out = fn()
        return time.perf_counter() - start, out

    with httpx.Client(timeout=120) as client, threadpool_limits(limits=1):
        for i in range(2 * BATCH_REQUESTS + 1):
            t_bento, resp = timed(lambda: client.post(url, content=body, headers=headers))
            t_null, _ = timed(lambda: client.post(null_url, content=body, headers=headers))
            t_in, _ = timed(lambda: score(big))
            if i == 0:
                continue  # warm-up
            errors += resp.status_code != 200 or len(resp.json()["scores"]) != len(big)
            for name, t in (("bento", t_bento), ("null", t_null), ("in_process", t_in)):
                times[name].append(t)
    med = {name: statistics.median(t) for name, t in times.items()}
    return {
        "rows": len(big),
        "requests": len(times["bento"]),
        "median_s": round(med["bento"], 4),
        "rows_per_s": round(len(big) / med["bento"]),
        "errors": errors,
        "null_median_s": round(med["null"], 4),
        "in_process_median_s": round(med["in_process"], 4),
        "share": round(med["in_process"] / med["bento"], 3),
        "floor": round(med["in_process"] / med["null"], 3),
    }


def batch_breakdown(loaded: Any, body: bytes) -> dict[str, float]:
    """Where a 10k-row JSON batch goes inside the service, measured in-process (median ms of 5)."""
    from pydantic import TypeAdapter

    from mlops_template.ops.serving.predictor import Predictor, labels_and_scores
    from mlops_template.ops.serving.validation import record_type, records_type

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
    """The ceiling for one record: the pipeline's own ``predict_proba`` (classifiers) / ``predict`` (regressors)
    on a one-row DataFrame, with OpenMP/BLAS at one thread as in every server (PINNED)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _in_process(model, features, records)


def _in_process(model: Any, features: list[str], records: list[dict[str, Any]]) -> dict[str, Any]:
    score = model.predict_proba if hasattr(model, "predict_proba") else model.predict
    n = 0
    start = time.perf_counter()
    while n < 2000 and time.perf_counter() - start < 10:  # 2,000 calls or 10 s, whichever comes first
        score(pd.DataFrame([records[n % len(records)]], columns=features))
        n += 1
    single = (time.perf_counter() - start) / n
    # the 10k-row batch is timed by arrow_share, alternated with the Arrow requests it is compared with
    return {"call": score.__name__, "single_rps": round(1 / single, 1), "single_ms": round(single * 1000, 3)}


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


class Project:
    """A project the bench measures one task on: the repository itself, or a copy made that task's own."""

    def __init__(self, task: str, root: Path, origin: str, bento: str) -> None:
        self.root, self.origin, self.bento = root, origin, bento
        self.params = load_params(root / "params.yaml")
        self.name, self.task = task, self.params.task  # "mixed" is a binary task on the generated table
        own = root == ROOT
        self.concurrency = sorted(set(CONCURRENCY if own else EXTRA_CONCURRENCY) | {16})


def _uv() -> str:
    found = shutil.which("uv") or str(REPO_ROOT / ".cache/uv-bootstrap/bin/uv")
    if not Path(found).exists():
        raise SystemExit("no uv: run `make setup` first")
    return found


def project_for(task: str, params: Any, env: dict[str, str]) -> Project:
    """The repository itself for its own task; else a copy initialised on ``TASK_SOURCES[task]``, trained and
    bento-built with the project's own Make targets (``make init``, ``make repro``, ``make bento``)."""
    if task == params.task:
        tag = TAG_FILE.read_text().strip() if TAG_FILE.exists() else build_bento(ROOT, params)
        return Project(task, ROOT, f"this project (`{params.data.source}`)", tag)
    if task not in TASK_SOURCES and task != "mixed":
        raise SystemExit(f"BENCH_TASKS: unknown task {task!r} (known: {', '.join([*TASK_SOURCES, 'mixed'])})")
    repo = TASK_DIR / f"task-{task}" / f"bench-{task}"
    settings = {"NAME": f"bench-{task}", "SOURCE": TASK_SOURCES.get(task), "TARGET": "target", "ID": "id", "TASK": task}
    if task == "mixed":
        settings.update(MIXED)
    origin = f"a copy of this repository, `make init {' '.join(f'{k}={v}' for k, v in settings.items())}`"
    origin += ", `make repro`, `make bento`"
    tag_file = repo / TAG_FILE
    if REUSE_PROJECTS and tag_file.exists():
        print(f"== {task}: reusing {repo} (BENCH_REUSE_PROJECTS)", flush=True)
        return Project(task, repo, origin, tag_file.read_text().strip())
    shutil.rmtree(repo.parent, ignore_errors=True)
    copy_repo(repo)
    if task == "mixed":
        from tests.integration.datasets import mixed_churn_frame

        mixed_churn_frame().to_csv(repo / MIXED["SOURCE"], index=False)
    uv = _uv()
    make_env = {**env, "PATH": f"{env['PATH']}{os.pathsep}{Path(uv).parent}"}  # bentoml build needs uv
    log = repo.parent / "make.log"
    for target in (["init", *(f"{k}={v}" for k, v in settings.items())], ["repro"], ["bento"]):
        print(f"== {task}: make {' '.join(target)} (in {repo})", flush=True)
        start = time.perf_counter()
        out = run(["make", "SETUP=", "RUN=", f"UV={uv}", *target], cwd=repo, env=make_env, timeout=1800)
        with log.open("a") as f:
            f.write(f"$ make {' '.join(target)}\n{out.stdout}{out.stderr}\n")
        print(f"   done in {time.perf_counter() - start:.0f} s", flush=True)
    return Project(task, repo, origin, tag_file.read_text().strip())


def main() -> int:
    if sys.argv[1:] in (["--render"], ["--readme"]):  # re-write serving.md from serving.json (no measuring)
        data = upgrade(json.loads((RESULTS / "serving.json").read_text()))
        (RESULTS / "serving.md").write_text(markdown(data))
        if sys.argv[1:] == ["--readme"]:
            from benchmarks._common import quote_in_docs

            quote_in_docs("serving", compact(data))
        return 0
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk (see .ci/install-serving-bench.sh)", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    params = load_params(ROOT / "params.yaml")
    os.environ.setdefault("BENTOML_HOME", str(ROOT / ".bentoml"))
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
            "bento_workers": params.serving.workers,
            "fastapi_workers": params.serving.workers,
            "batch_rows": BATCH_ROWS,
            "batch_requests": BATCH_REQUESTS,
            "batch_rows_order": "random",  # test records drawn in random order (seeded); older runs: cycled
            "load_generator": "wrk (single), httpx (batch)",
            "wrk_timeout_s": WRK_TIMEOUT,
            "project_task": params.task,
            "concurrency": sorted(set(CONCURRENCY) | {16}),
            "extra_concurrency": sorted(set(EXTRA_CONCURRENCY) | {16}),
        },
        "tasks": {},
    }
    if os.environ.get("BENCH_NOTE"):  # what else ran on the machine, the code's commit: the table's preamble
        results["machine"]["note"] = os.environ["BENCH_NOTE"]
    later: dict[str, Any] | None = None
    if os.environ.get("BENCH_MERGE") and (RESULTS / "serving.json").exists():  # add to an earlier run's tables
        # the machine line stays the earlier run's; this run is listed under "later_runs" with its own load
        earlier = upgrade(json.loads((RESULTS / "serving.json").read_text()))
        results["tasks"] = earlier["tasks"]
        # the table's method stays the earlier run's; this run records where its own differs (repeats, ...)
        differs = {k: v for k, v in results["config"].items() if earlier["config"].get(k) != v}
        results["config"] = earlier["config"]
        later = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cells": [], "config": differs}
        if os.environ.get("BENCH_NOTE"):  # e.g. what else ran on the machine
            later["note"] = os.environ["BENCH_NOTE"]
        later["load_average_at_start"] = results["machine"]["load_average_at_start"]
        results["machine"] = {**earlier["machine"], "later_runs": [*earlier["machine"].get("later_runs", []), later]}
    # The project's own task first (it needs no preparation), then the others in the order asked.
    for task in sorted(TASKS, key=lambda t: t != params.task):
        project = project_for(task, params, env)
        test = pd.read_parquet(project.root / "data/split/test.parquet")
        entry = results["tasks"].setdefault(task, {"estimators": {}})
        entry.update({"origin": project.origin, "source": project.params.data.source, "bento": project.bento})
        entry["concurrency"] = project.concurrency
        for kind in ESTIMATORS:
            model_tag = model_for(kind, project)
            print(f"== {task} / {kind}: {model_tag}", flush=True)
            entry["estimators"][kind] = bench_one(project, model_tag, test, env)
            if later is not None:  # the cell is this run's now, not an earlier re-measurement's
                cell = f"{task} / {kind}"
                for run in results["machine"]["later_runs"]:
                    run["cells"] = [c for c in run["cells"] if c != cell]
                later["cells"].append(cell)
                results["machine"]["later_runs"] = [
                    run for run in results["machine"]["later_runs"] if run["cells"] or run is later
                ]
                later["load_average_at_end"] = load_average()
            write(results)
    (later if later is not None else results["machine"])["load_average_at_end"] = load_average()
    write(results)
    print((RESULTS / "serving.md").read_text())
    return 0


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Results written before the tasks were added (one binary project): as the binary task."""
    if "tasks" not in data:
        data["tasks"] = {"binary": {"origin": "this project", "source": "sklearn:breast_cancer"}}
        data["tasks"]["binary"]["bento"] = data["config"].get("bento", "?")
        data["tasks"]["binary"]["estimators"] = data.pop("estimators")
    return data


def write(results: dict[str, Any]) -> None:
    for t in results["tasks"].values():
        for r in t["estimators"].values():
            r["targets"] = targets(r)
    results["machine"].setdefault("load_average_at_end", load_average())
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "serving.md").write_text(markdown(results))


def model_for(kind: str, project: Project) -> str:
    """The project's model (``model.type`` as in its params.yaml), or one retrained with ``model.type: kind``
    on the same train split, imported into the model store the way ``make bento`` does (with its ONNX check)."""
    from mlops_template.core.config import parse_params
    from mlops_template.core.model import build_pipeline
    from mlops_template.ops.serving.store import MODEL_TAG_FILE, import_model

    src, params = project.root, project.params
    if kind == params.model.type:
        return (src / MODEL_TAG_FILE).read_text().strip()
    root = WORK / f"model-{project.name}-{kind}"
    shutil.rmtree(root, ignore_errors=True)
    for rel in ("models/metadata.json", "data/split/test.parquet", "metrics/metrics.json", params.data.schema_path):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if (src / rel).exists():
            shutil.copy2(src / rel, root / rel)
    raw = json.loads(json.dumps(params.model_dump(mode="json")))
    raw["model"]["type"] = kind
    kind_params = parse_params(raw)
    spec = load_spec(src / params.data.schema_path)
    train = pd.read_parquet(src / "data/split/train.parquet")
    features = json.loads((src / "models/metadata.json").read_text())["features"]
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


def served_vs_sklearn(url: str, loaded: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the running bento answers (``/predict_batch`` on the test records, ``/predict`` on the first 20)
    against the scikit-learn pipeline in-process (a DataFrame of those records), within the serving tolerance."""
    from mlops_template.ops.serving.onnx_path import TOLERANCE
    from mlops_template.ops.serving.predictor import Predictor, decide

    plain = Predictor(loaded.pipeline, loaded.features, loaded.spec, fast=False)
    labels, scores, _ = decide(plain, plain.reference(records), loaded.card.threshold)
    batch = httpx.post(f"{url}/predict_batch", json={"records": records}, timeout=120).json()
    single = [httpx.post(f"{url}/predict", json={"record": r}, timeout=60).json() for r in records[:20]]
    served_labels = batch["labels"] + [s["label"] for s in single]
    served_scores = np.array(batch["scores"] + [s["score"] for s in single], dtype=float)
    want_labels = labels + labels[:20]
    want = np.array(scores + scores[:20], dtype=float)
    scale = 1.0 if plain.is_classifier else np.maximum(1.0, np.abs(want))  # as onnx_path.agreement
    deviation = float(np.max(np.abs(served_scores - want) / scale))
    labels_equal = plain.is_classifier is False or served_labels == want_labels
    return {
        "rows": len(records),
        "single_rows": len(single),
        "max_deviation": deviation,
        "labels_equal": bool(labels_equal),
        "tolerance": TOLERANCE,
        "passed": bool(labels_equal and deviation <= TOLERANCE),
    }


def bench_one(project: Project, model_tag: str, test: pd.DataFrame, env: dict[str, str]) -> dict[str, Any]:
    import bentoml

    from mlops_template.ops.serving.columnar import ARROW_STREAM
    from mlops_template.ops.serving.store import load_stored

    concurrency = project.concurrency
    model_dir = bentoml.models.get(model_tag).path
    loaded = load_stored(model_dir, model_tag)
    features = loaded.features
    # missing values as JSON null (a client sends null, not NaN, which the schema's types reject)
    missing_as_none = test[features].astype(object).where(test[features].notna(), None)
    records: list[dict[str, Any]] = json.loads(json.dumps(missing_as_none.to_dict("records")))
    WORK.mkdir(parents=True, exist_ok=True)
    bodies = WORK / "single_bodies.jsonl"
    bodies.write_text("".join(json.dumps({"record": r}) + "\n" for r in records))
    script = WORK / "post.lua"
    script.write_text(LUA % {"bodies": bodies})
    # 10k rows drawn from the test records in random order (seeded), as a real batch comes: the test records
    # cycled in file order made sklearn's tree-at-a-time predictors look faster than they are (the same ~120
    # rows' paths stay in cache: mixed HGB in-process 63 ms cycled vs 109 ms in random order; ONNX Runtime's
    # tree ensemble 92 vs 91 ms either way).
    pick = np.random.default_rng(0).integers(0, len(records), BATCH_ROWS)
    batch_records = [records[i] for i in pick.tolist()]
    batch_body = json.dumps({"records": batch_records}).encode()
    batch_arrow = arrow_body(pd.DataFrame(batch_records, columns=features))
    result: dict[str, Any] = {"model": model_tag, "load_average_at_start": load_average()}
    result["in_process"] = in_process(loaded.pipeline, features, records)
    check = loaded.serving_check  # what `make bento` checked when it imported this model
    result["serving_check"] = check.model_dump() if check is not None else None
    print("in-process:", result["in_process"], flush=True)

    ports = {name: free_port() for name in SERVERS}
    bento_cmd = ["bentoml", "serve", project.bento, "--host", "127.0.0.1", "--port", str(ports["bento"])]
    bento_env = {**env, **PINNED, "MLOPS_MODEL_TAG": model_tag}
    peer_env = {**env, **PINNED, "MODEL_DIR": str(model_dir), "MODEL_TAG": model_tag, "PYTHONPATH": str(ROOT)}
    workers = str(project.params.serving.workers)  # same process count as the bento: a like-for-like peer

    def peer_cmd(name: str) -> list[str]:
        module = {"fastapi": "benchmarks.fastapi_peer:app", "onnx": "benchmarks.fastapi_onnx_peer:app"}[name]
        cmd = [sys.executable, "-m", "uvicorn", module, "--host", "127.0.0.1", "--port", str(ports[name])]
        return [*cmd, "--workers", workers, "--no-access-log", "--log-level", "warning"]

    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    # Each server runs in its own session (tests.support.server; BentoML's worker is in one of its own too):
    # with the kernel's autogroup scheduling, a server sharing the load generator's session gets a different
    # CPU share on a busy machine, which once made a peer look 3x faster than it is.
    with (
        server(bento_cmd, f"{urls['bento']}/readyz", cwd=WORK, log_path=WORK / "bento.log", env=bento_env) as bento,
        server(peer_cmd("onnx"), f"{urls['onnx']}/docs", cwd=ROOT, log_path=WORK / "onnx.log", env=peer_env) as onnx,
        server(
            peer_cmd("fastapi"), f"{urls['fastapi']}/docs", cwd=ROOT, log_path=WORK / "fastapi.log", env=peer_env
        ) as sk,
    ):
        pids = {"bento": bento.pid, "onnx": onnx.pid, "fastapi": sk.pid}
        meta = httpx.post(f"{urls['bento']}/metadata").json()
        result["bento_scoring_path"] = meta["scoring_path"]
        result["bento_serving_path"] = meta.get("serving_path")
        result["task"] = meta["task"]
        assert meta["model_version"] == model_tag, meta["model_version"]
        assert meta["task"] == project.task, f"{meta['task']} served for task {project.task}"
        result["served_vs_sklearn"] = served_vs_sklearn(urls["bento"], loaded, records)
        print("served vs sklearn:", result["served_vs_sklearn"], flush=True)
        for url in urls.values():
            wrk(f"{url}/predict", 16, script)  # warm-up
        # Interleaved (bento, fastapi, bento, ...) and repeated, so that changes in the machine's
        # background load hit both servers alike; each cell reports the median run (by req/s).
        runs: dict[str, dict[int, list[dict[str, Any]]]] = {name: {c: [] for c in concurrency} for name in urls}
        for c in concurrency:
            for _ in range(REPEATS):
                for name, url in urls.items():
                    cpu_before = cpu_seconds(pids[name])
                    run_ = wrk(f"{url}/predict", c, script)
                    run_["cpu_us_per_request"] = round(
                        (cpu_seconds(pids[name]) - cpu_before) / max(run_["requests"], 1) * 1e6
                    )
                    runs[name][c].append(run_)
        for name in urls:
            result[name] = {"single": [median_run(runs[name][c]) for c in concurrency]}
        batches: dict[str, list[dict[str, Any]]] = {"bento": [], "fastapi": []}
        for _ in range(2):
            for name in ("bento", "fastapi"):
                batches[name].append(batch_run(f"{urls[name]}/predict_batch", batch_body, BATCH_ROWS))
        for name, runs_ in batches.items():
            result[name]["batch"] = max(runs_, key=lambda b: b["rows_per_s"])
        arrow_url = f"{urls['bento']}/arrow/predict_batch"
        answer = WORK / "null_answer.json"  # the bento's own answer, sent back by the null server
        answer.write_bytes(httpx.post(arrow_url, content=batch_arrow, headers={"content-type": ARROW_STREAM}).content)
        null_port = free_port()
        null_cmd = [sys.executable, "-m", "uvicorn", "benchmarks.null_peer:app", "--host", "127.0.0.1"]
        null_cmd += ["--port", str(null_port), "--no-access-log", "--log-level", "warning"]
        null_env = {**env, **PINNED, "NULL_ANSWER_FILE": str(answer), "PYTHONPATH": str(ROOT)}
        null_url = f"http://127.0.0.1:{null_port}"
        with server(null_cmd, f"{null_url}/ready", cwd=ROOT, log_path=WORK / "null.log", env=null_env):
            big = pd.DataFrame(batch_records, columns=features)
            null_batch = f"{null_url}/predict_batch"
            result["bento"]["batch_arrow"] = arrow_share(arrow_url, null_batch, batch_arrow, big, loaded)
    result["load_average_at_end"] = load_average()
    print("bento:", result["bento"], flush=True)
    print("fastapi:", result["fastapi"], flush=True)
    print("onnx:", result["onnx"], flush=True)
    return result


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its descendants (Linux /proc; 0 elsewhere).

    CPU per request is what a busy shared machine does not blur: req/s depend on the CPU share a server gets.
    """
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


BATCH_ORDER = {"random": "the test records drawn in random order, seeded; "}


def later_runs(r: dict[str, Any]) -> str:
    """A sentence naming the cells re-measured by later (``BENCH_MERGE``) runs, with their load average (and
    their settings where they differ from the table's, e.g. ``repeats 5``)."""
    runs = r["machine"].get("later_runs") or []

    def settings(run: dict[str, Any]) -> str:
        return "".join(f"; {key} {value}" for key, value in run.get("config", {}).items())

    return " ".join(
        f"Re-measured {run['date']} (`BENCH_MERGE`, load average {run['load_average_at_start']} at start / "
        f"{run.get('load_average_at_end', '?')} at end"
        f"{settings(run)}"
        f"{'; ' + run['note'] if run.get('note') else ''}): "
        f"{', '.join(run['cells']) or 'nothing'}."
        for run in runs
    )


def at16(r: dict[str, Any], name: str) -> dict[str, Any]:
    return next(x for x in r[name]["single"] if x["connections"] == 16)


# Targets (issue 19): at 16 clients, single records, bento req/s >= 1.0x the ONNX peer's and >= 3x the
# scikit-learn peer's, p99 no worse than either; Arrow 10k-row batches >= 0.8 of in-process predict_proba.
GOALS = {"onnx": 1.0, "fastapi": 3.0}
ARROW_GOAL = 0.8


def ratio_of(r: dict[str, Any], peer: str, key: str = "rps") -> float | None:
    if peer not in r:
        return None
    b, p = at16(r, "bento").get(key), at16(r, peer).get(key)
    return round(b / p, 2) if b is not None and p else None


def targets(r: dict[str, Any]) -> dict[str, Any]:
    b16 = at16(r, "bento")
    arrow = r["bento"]["batch_arrow"]
    # interleaved runs carry their own in-process time; older runs divide by one measured a minute before
    batch_share = arrow.get("share") or arrow["rows_per_s"] / r["in_process"]["batch_rows_per_s"]
    errors = sum(x["errors"] for x in r["bento"]["single"]) + r["bento"]["batch"]["errors"]
    errors += r["bento"]["batch_arrow"]["errors"]
    out: dict[str, Any] = {}
    for peer, goal in GOALS.items():
        ratio = ratio_of(r, peer)
        if ratio is None:
            continue
        p16 = at16(r, peer)
        out[f"single_16_vs_{peer}"] = {"value": ratio, "target": f">= {goal}", "met": ratio >= goal}
        out[f"p99_16_no_worse_than_{peer}"] = {
            "value": f"{b16['p99_ms']} ms vs {p16['p99_ms']} ms",
            "target": f"bento <= {peer}",
            "met": b16["p99_ms"] <= p16["p99_ms"],
        }
    out.update(
        {
            "arrow_batch_vs_in_process": {
                "value": round(batch_share, 3),
                "target": f">= {ARROW_GOAL}",
                "met": batch_share >= ARROW_GOAL,
                "wire_floor": arrow.get("floor"),
            },
            "bento_errors": {"value": errors, "target": "0", "met": errors == 0},
        }
    )
    check = r.get("served_vs_sklearn")
    if check:
        out["served_equals_sklearn"] = {
            "value": f"max dev {check['max_deviation']:.1e}, labels {'equal' if check['labels_equal'] else 'DIFFER'}",
            "target": f"<= {check['tolerance']:g}, same labels",
            "met": check["passed"],
        }
    return out


def path_of(e: dict[str, Any]) -> str:
    """The bento's scoring path (from /metadata), and whether `make bento`'s check kept it or fell back."""
    path = str(e.get("bento_scoring_path", "?"))
    check = e.get("serving_check") or {}
    if check and not check.get("passed"):
        dev = check.get("max_deviation")
        why = f"ONNX max deviation {dev:.1e} > {check.get('tolerance', 1e-4):g}" if dev is not None else "no ONNX"
        path += f", fallback ({why})"
    return path


def _cell(e: dict[str, Any], peer: str) -> str:
    """``ratio`` (rps) with the goal marked, for one peer."""
    t = e["targets"].get(f"single_16_vs_{peer}")
    if t is None:
        return "n/a"
    return f"{t['value']}x" + ("" if t["met"] else " **(missed)**")


def _cpu_ratio(e: dict[str, Any], peer: str) -> str:
    """Peer CPU per request / bento CPU per request (> 1: the bento spends less CPU per request)."""
    if peer not in e:
        return "n/a"
    b, p = at16(e, "bento").get("cpu_us_per_request"), at16(e, peer).get("cpu_us_per_request")
    return f"{p / b:.2f}x" if b and p else "n/a"


def summary(r: dict[str, Any]) -> list[str]:
    lines = [
        "| data | estimator | bento path | req/s @16 bento / ONNX peer / sklearn peer | bento / ONNX peer (>= 1) "
        "| bento / sklearn peer (>= 3) | p99 ms bento / ONNX / sklearn | CPU us/request bento / ONNX / sklearn "
        f"| Arrow 10k / in-process (>= 0.8{'; wire floor' if interleaved(r) else ''}) | served = sklearn |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for task, t in r["tasks"].items():
        for kind, e in t["estimators"].items():
            rows = [at16(e, n) if n in e else {} for n in SERVERS]
            g = e["targets"]
            served = g.get("served_equals_sklearn")
            p99_ok = all(v["met"] for k, v in g.items() if k.startswith("p99_16"))
            arrow = g["arrow_batch_vs_in_process"]
            floor = "" if arrow.get("wire_floor") is None else f"; {arrow['wire_floor']}"
            lines.append(
                f"| {task} | {kind} | {path_of(e)} | {' / '.join(str(x.get('rps', '-')) for x in rows)} | "
                f"{_cell(e, 'onnx')} | {_cell(e, 'fastapi')} | "
                f"{' / '.join(str(x.get('p99_ms', '-')) for x in rows)}{'' if p99_ok else ' **(worse)**'} | "
                f"{' / '.join(str(x.get('cpu_us_per_request', '-')) for x in rows)} | "
                f"{arrow['value']}{'' if arrow['met'] else ' **(missed)**'}{floor} | "
                f"{'n/a' if served is None else ('yes' if served['met'] else '**no**')} |"
            )
    return lines


ARROW_METHOD = (
    " Arrow 10k rows: the bento's `/arrow/predict_batch`, the same body posted to a null server "
    "(benchmarks/null_peer.py: uvicorn, reads the body, sends back the bento's own answer) and the in-process call "
    "on the same rows, alternated 20 times (httpx, one thread), so load changes hit all three alike; share = "
    "in-process median / request median, *wire floor* = in-process median / null-server median, the largest "
    "share a server on this stack could reach."
)


P99_NOTE = " (p99: the median of the runs' p99s, each run's in serving.json)"


def p99_of_runs(r: dict[str, Any]) -> bool:
    """Whether a run's p99 cells are the median of its runs' p99s (older runs: the median-req/s run's p99)."""
    cells = (e for t in r["tasks"].values() for e in t["estimators"].values())
    return any("runs_p99_ms" in e["bento"]["single"][0] for e in cells)


def interleaved(r: dict[str, Any]) -> bool:
    """Whether a run timed its Arrow batches alternately with the in-process call and the null server."""
    cells = (e for t in r["tasks"].values() for e in t["estimators"].values())
    return any("in_process_median_s" in e["bento"]["batch_arrow"] for e in cells)


def _in_process_batch_rows(e: dict[str, Any], call: str) -> list[str]:
    """The batch table's last rows: the null server and the in-process call timed alternately with the Arrow
    requests (what the share divides by), or, in runs before that, the in-process call timed on its own."""
    arrow, rows = e["bento"]["batch_arrow"], e["bento"]["batch_arrow"]["rows"]
    if "in_process_median_s" not in arrow:
        ip = e["in_process"]
        return [f"| in-process {call} | {ip['batch_rows_per_s']:,} | {ip['batch_ms'] / 1000:.4f} | |"]
    return [
        f"| null server, Arrow IPC stream (the wire floor) | {round(rows / arrow['null_median_s']):,} | "
        f"{arrow['null_median_s']} | |",
        f"| in-process {call} | {round(rows / arrow['in_process_median_s']):,} | {arrow['in_process_median_s']} | |",
    ]


def markdown(r: dict[str, Any]) -> str:
    c = r["config"]
    extra = c.get("extra_concurrency", [16])
    own = c.get("project_task", "binary")
    lines = [
        "# Serving benchmark",
        "",
        f"Machine: {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, load average "
        f"{r['machine']['load_average_at_start']} at start / {r['machine']['load_average_at_end']} at end "
        f"({r['machine'].get('note') or SHARED}). One run of `make bench-serving` (benchmarks/bench_serving.py); "
        "per task and estimator the three servers up at once, each in its own session, runs interleaved "
        "(bento, ONNX peer, scikit-learn peer) and repeated "
        f"{c['repeats']}x; wrk for single records ({c['duration_s']} s per run, `--timeout "
        f"{c.get('wrk_timeout_s', 2)}s`, median run by req/s{P99_NOTE if p99_of_runs(r) else ''}, "
        "errors = non-2xx + socket errors + timeouts "
        f"summed over all runs), httpx for 10k-row batches ({BATCH_ORDER.get(c.get('batch_rows_order'), '')}"
        f"{c['batch_requests']} sequential requests, "
        f"median; best of 2 rounds). Bento: {c['bento_workers']} worker(s), serving each "
        "estimator's model via `MLOPS_MODEL_TAG`. Peers: FastAPI on uvicorn, "
        f"{c['fastapi_workers']} worker(s), the same schema-derived pydantic validation. *ONNX peer* "
        "(benchmarks/fastapi_onnx_peer.py): the preprocessing in numpy from the fitted transformers (imputer "
        "statistics, scaler arithmetic, one-hot as a dictionary lookup), the estimator converted once with plain "
        "skl2onnx (float32), ONNX Runtime with 1 thread. *scikit-learn peer* (benchmarks/fastapi_peer.py): one "
        "DataFrame per request (`pipeline.predict_proba`, `pipeline.predict` for regression). Every server "
        f"runs with {', '.join(f'{k}={v}' for k, v in PINNED.items())}. CPU us/request: user + system CPU of "
        "the server's processes during a run / its requests (what a busy machine blurs least). In-process: "
        f"`predict_proba`/`predict` on a DataFrame.{ARROW_METHOD if interleaved(r) else ''}",
        "",
        f"Tasks: the project's own ({own}) is measured on the project at "
        f"{', '.join(map(str, c.get('concurrency', [1, 16, 64])))} clients; the other tasks on a copy of the "
        "repository made that task's own (`make init` on a bundled scikit-learn dataset, `make repro`, "
        f"`make bento`), at {', '.join(map(str, extra))} client(s) only (the target is set at 16; "
        "`BENCH_EXTRA_CONCURRENCY` adds more), plus the 10k-row batches. Estimators other than the "
        "params' `model.type` are retrained on the same split with only `model.type` changed. "
        '"served = sklearn": the running bento\'s `/predict_batch` (test split) and `/predict` (20 records) '
        "against the scikit-learn pipeline in-process; `make bento` ran the same check when it imported each "
        "model and keeps the plain pipeline when it fails (the bento path then says fallback).",
        *(["", later_runs(r)] if later_runs(r) else []),
        "",
        "## Summary (16 clients, single records; targets: bento >= 1.0x the ONNX peer's and >= 3x the "
        "scikit-learn peer's req/s, p99 no worse than either; Arrow 10k rows >= 0.8 of in-process)",
        "",
        *summary(r),
    ]
    targets_table = ["", "## Targets", "", "| task | estimator | target | value | goal | met |"]
    targets_table.append("|---|---|---|---|---|---|")
    for task, t in r["tasks"].items():
        lines += ["", f"## {task}: {t.get('origin', '?')}", "", f"Bento: `{t.get('bento', '?')}`."]
        for kind, e in t["estimators"].items():
            ip = e["in_process"]
            call = ip.get("call", "predict_proba")
            lines += [
                "",
                f"### {task} / {kind} (`{e['model']}`; bento path: {path_of(e)})",
                "",
                *(
                    [f"Load average {e['load_average_at_start']} at start / {e['load_average_at_end']} at end.", ""]
                    if e.get("load_average_at_start")
                    else []
                ),
                "| server | clients | req/s | p50 ms | p99 ms | CPU us/request | errors |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            for name in (n for n in SERVERS if n in e):
                for x in e[name]["single"]:
                    lines.append(
                        f"| {name} | {x['connections']} | {x['rps']} | {x['p50_ms']} | {x['p99_ms']} | "
                        f"{x.get('cpu_us_per_request', '')} | {x['errors']} |"
                    )
            lines += [
                f"| in-process (1-row DataFrame) | 1 | {ip['single_rps']} | {ip['single_ms']} | | | |",
                "",
                f"| {c['batch_rows']:,}-row batch | rows/s | median s per request | errors |",
                "|---|---:|---:|---:|",
                f"| bento, Arrow IPC stream | {e['bento']['batch_arrow']['rows_per_s']:,} | "
                f"{e['bento']['batch_arrow']['median_s']} | {e['bento']['batch_arrow']['errors']} |",
                f"| bento, JSON records | {e['bento']['batch']['rows_per_s']:,} | {e['bento']['batch']['median_s']} | "
                f"{e['bento']['batch']['errors']} |",
                f"| fastapi, JSON records | {e['fastapi']['batch']['rows_per_s']:,} | "
                f"{e['fastapi']['batch']['median_s']} | {e['fastapi']['batch']['errors']} |",
                *_in_process_batch_rows(e, call),
            ]
            if e.get("serving_check"):
                check = e["serving_check"]
                lines += ["", f"`make bento`'s check: {check.get('serving_path', '?')}, {check.get('note', '')}."]
            for name, g in e["targets"].items():
                targets_table.append(
                    f"| {task} | {kind} | {name} | {g['value']} | {g['target']} | {'yes' if g['met'] else '**no**'} |"
                )
    return "\n".join(lines + targets_table) + "\n"


def compact(r: dict[str, Any]) -> str:
    """The docs/benchmarks.md quote: one line per task x estimator (16 clients, 10k-row batches), targets marked."""
    lines = summary(r)
    m = r["machine"]
    lines += [
        "",
        f"Load average {m['load_average_at_start']} at start / {m.get('load_average_at_end', '?')} at end on "
        f"2 cores ({m.get('note') or SHARED}; the side-by-side ratios are the point). "
        + (f"{later_runs(r)} " if later_runs(r) else "")
        + "Data: "
        + ", ".join(f"{task} `{t.get('source', '?')}`" for task, t in r["tasks"].items())
        + f"; tasks other than the project's own ({r['config'].get('project_task', 'binary')}) run on a copy "
        "of the repository made that task's own with `make init`, at "
        f"{', '.join(map(str, r['config'].get('extra_concurrency', [16])))} client(s) only. "
        "Data `mixed`: a generated customer table (categoricals, a boolean, missing values; "
        "tests/integration/datasets.py), a binary task. Full tables (p50, CPU per request, JSON batches): "
        "[benchmarks/results/serving.md](benchmarks/results/serving.md).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    np.seterr(all="ignore")
    raise SystemExit(main())
