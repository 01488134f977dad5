"""Soak benchmark: the built bento under 64 clients for 5 minutes, single records and batches mixed.

wrk (64 connections, 127.0.0.1) sends ``POST /predict`` with one record, and every 20th request a
``POST /predict_batch`` with 100 records; one wrk run per minute, so p99 is reported per minute.
The server's resident memory (RSS, summed over the ``bentoml serve`` process tree) is sampled after
a warm-up and after each minute. Targets: 0 errors, RSS growth under 10%.

Needs a built bento (``make bento``) and wrk. Writes benchmarks/results/soak.md and soak.json.
Run: ``make bench-soak`` (``SOAK_MINUTES``/``SOAK_CLIENTS`` to change the shape).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode caching on, as on a user's machine (see _common.py)
sys.path.insert(0, str(ROOT))

from benchmarks.bench_serving import WRK_TIMEOUT, load_average  # noqa: E402
from mlops_template.ops.serving.store import TAG_FILE  # noqa: E402
from tests.support import env_with_venv, free_port, server  # noqa: E402

WORK = ROOT / "benchmarks/.work/soak"
RESULTS = ROOT / "benchmarks/results"
MINUTES = int(os.environ.get("SOAK_MINUTES", "5"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "64"))
BATCH_EVERY = 20
BATCH_ROWS = 100

LUA = """
local singles, batches = {}, {}
for line in io.lines("%(singles)s") do singles[#singles + 1] = line end
for line in io.lines("%(batches)s") do batches[#batches + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  if i %% %(every)d == 0 then
    return wrk.format(nil, "/predict_batch", nil, batches[math.floor(i / %(every)d) %% #batches + 1])
  end
  return wrk.format(nil, "/predict", nil, singles[i %% #singles + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"non2xx\\": %%d, \\"socket_errors\\": %%d, " ..
    "\\"timeout\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, \\"max_us\\": %%d}\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (MB), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def wrk_minute(url: str, script: Path, seconds: int = 60) -> dict[str, Any]:
    cmd = ["wrk", "-t2", f"-c{CLIENTS}", f"-d{seconds}s", f"--timeout={WRK_TIMEOUT}s", "--latency", "-s", str(script)]
    proc = subprocess.run([*cmd, url], capture_output=True, text=True, check=False, timeout=seconds + 60)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{proc.stdout}\n{proc.stderr}")
    raw = json.loads(line[len("RESULT ") :])
    return {
        "requests": raw["requests"],
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 1),
        "errors": raw["non2xx"] + raw["socket_errors"],
        "non2xx": raw["non2xx"],
        "timeouts": raw["timeout"],
    }


def main() -> int:
    os.chdir(ROOT)
    os.environ.setdefault("BENTOML_HOME", str(ROOT / ".bentoml"))
    if not TAG_FILE.exists():
        print("no bento built yet: run make bento", file=sys.stderr)
        return 2
    tag = TAG_FILE.read_text().strip()
    features = json.loads((ROOT / "models/metadata.json").read_text())["features"]
    test = pd.read_parquet(ROOT / "data/split/test.parquet")
    records: list[dict[str, Any]] = json.loads(test[features].to_json(orient="records"))
    WORK.mkdir(parents=True, exist_ok=True)
    singles, batches = WORK / "singles.jsonl", WORK / "batches.jsonl"
    singles.write_text("".join(json.dumps({"record": r}) + "\n" for r in records))
    rows = records * (BATCH_ROWS // len(records) + 2)
    batches.write_text(
        "".join(json.dumps({"records": rows[i : i + BATCH_ROWS]}) + "\n" for i in range(0, len(records), 7))
    )
    script = WORK / "soak.lua"
    script.write_text(LUA % {"singles": singles, "batches": batches, "every": BATCH_EVERY})
    env = env_with_venv({"BENTOML_HOME": os.environ["BENTOML_HOME"], "BENTOML_DO_NOT_TRACK": "True"})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = ["bentoml", "serve", tag, "--host", "127.0.0.1", "--port", str(port)]
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average_at_start": load_average()}
    result: dict[str, Any] = {
        "machine": machine,
        "config": {"bento": tag, "minutes": MINUTES, "clients": CLIENTS, "batch_every": BATCH_EVERY,
                   "batch_rows": BATCH_ROWS, "wrk_timeout_s": WRK_TIMEOUT},
    }  # fmt: skip
    with server(cmd, f"{url}/readyz", cwd=WORK, log_path=WORK / "bento.log", env=env) as proc:
        pid = proc.pid
        wrk_minute(url, script, 10)  # warm-up
        result["rss_mb_after_warmup"] = tree_rss_mb(pid)
        minutes = []
        for m in range(MINUTES):
            row = wrk_minute(url, script)
            row["minute"] = m + 1
            row["rss_mb"] = tree_rss_mb(pid)
            print(row, flush=True)
            minutes.append(row)
        result["minutes"] = minutes
    start, end = result["rss_mb_after_warmup"], minutes[-1]["rss_mb"]
    growth = (end - start) / start if start else float("nan")
    errors = sum(m["errors"] for m in minutes)
    result["machine"]["load_average_at_end"] = load_average()
    result["targets"] = {
        "errors": {"value": errors, "target": "0", "met": errors == 0},
        "rss_growth": {"value": round(growth, 4), "target": "< 0.10", "met": growth < 0.10},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "soak.md").write_text(markdown(result))
    print(markdown(result))
    return 0 if errors == 0 and growth < 0.10 else 1


def markdown(r: dict[str, Any]) -> str:
    c = r["config"]
    lines = [
        "# Soak benchmark",
        "",
        f"Machine: {r['machine']['cpus']} CPUs, Python {r['machine']['python']}, load average "
        f"{r['machine']['load_average_at_start']} at start / {r['machine']['load_average_at_end']} at end "
        "(shared with other jobs). `make bench-soak` (benchmarks/bench_soak.py): the bento "
        f"`{c['bento']}` (1 worker) under wrk, {c['clients']} connections on 127.0.0.1 for {c['minutes']} "
        f"minutes (one wrk run per minute, `--timeout {c['wrk_timeout_s']}s`); every {c['batch_every']}th "
        f"request is a {c['batch_rows']}-record `/predict_batch`, the rest single-record `/predict`. RSS: "
        "the `bentoml serve` process tree, after a 10 s warm-up and after each minute.",
        "",
        "| minute | requests | req/s | p50 ms | p99 ms | max ms | errors | of which timeouts | RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| warm-up | | | | | | | | {r['rss_mb_after_warmup']} |",
    ]
    for m in r["minutes"]:
        lines.append(
            f"| {m['minute']} | {m['requests']} | {m['rps']} | {m['p50_ms']} | {m['p99_ms']} | {m['max_ms']} | "
            f"{m['errors']} | {m.get('timeouts', '')} | {m['rss_mb']} |"
        )
    lines += ["", "| target | value | goal | met |", "|---|---|---|---|"]
    for name, t in r["targets"].items():
        lines.append(f"| {name} | {t['value']} | {t['target']} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
