"""The built bento, served by `bentoml serve <tag>` (what the container runs), called over HTTP.

One server for the whole module (~10-20 s to start): `make bento` in a copy of the trained project,
BentoML home in a temp folder, prediction log switched on (it is off by default).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlops_template.model_io import load_metadata, load_model
from mlops_template.serving.predlog import read_log
from tests.support import env_with_venv, free_port, run, server

pytestmark = pytest.mark.slow


@dataclass
class Served:
    url: str
    repo: Path
    bento_tag: str
    model_tag: str
    log_path: Path
    features: list[str]
    test: pd.DataFrame
    model: Any


@pytest.fixture(scope="module")
def served(trained_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    work = tmp_path_factory.mktemp("serving")
    repo = work / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True, ignore=shutil.ignore_patterns(".bentoml", "build"))
    env = env_with_venv({"BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"})
    # `make bento` exactly as a developer runs it (the venv is this one: RUN= uses PATH from env).
    run(["make", "-o", ".venv/.synced", "bento", "RUN="], cwd=repo, env=env, timeout=300)
    bento_tag = (repo / "build/bento/tag.txt").read_text().strip()
    model_tag = (repo / "bento_model_tag.txt").read_text().strip()
    log_path = work / "predictions.jsonl"
    port = free_port()
    env.update({"MLOPS_PREDICTION_LOG": "1", "MLOPS_PREDICTION_LOG_PATH": str(log_path)})
    cmd = ["bentoml", "serve", bento_tag, "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    meta = load_metadata(repo / "models/metadata.json")
    test = pd.read_parquet(repo / "data/split/test.parquet")
    with server(cmd, f"{url}/readyz", cwd=work, log_path=work / "server.log", timeout=180, env=env):
        yield Served(
            url, repo, bento_tag, model_tag, log_path, meta["features"], test, load_model(repo / "models/model.joblib")
        )


@pytest.fixture(scope="module")
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=30) as c:
        yield c


def records_of(served: Served, n: int | None = None) -> list[dict[str, Any]]:
    frame = served.test[served.features] if n is None else served.test[served.features].head(n)
    rows: list[dict[str, Any]] = json.loads(json.dumps(frame.to_dict("records")))  # what a client sends
    return rows


def in_process(served: Served, records: list[dict[str, Any]]) -> np.ndarray:
    """The pipeline's own predict_proba on a DataFrame of the same records (the naive serving path)."""
    return np.asarray(served.model.predict_proba(pd.DataFrame.from_records(records, columns=served.features)))


def test_single_predictions_equal_in_process(served: Served, client: httpx.Client) -> None:
    records = records_of(served, 25)
    for record in records:
        resp = client.post("/predict", json={"record": record})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        proba = in_process(served, [record])[0]
        assert body["score"] == proba[1]  # exact, not approximately
        assert body["label"] == (1 if proba[1] >= 0.5 else 0)
        assert body["model_version"] == served.model_tag


def test_batch_predictions_equal_in_process(served: Served, client: httpx.Client) -> None:
    records = records_of(served)
    resp = client.post("/predict_batch", json={"records": records})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    proba = in_process(served, records)
    assert body["scores"] == proba[:, 1].tolist()
    assert body["labels"] == [1 if p >= 0.5 else 0 for p in proba[:, 1]]
    # and the decisions agree with the labels the evaluate stage wrote for the same rows
    written = pd.read_csv(served.repo / "metrics/predictions.csv")
    assert body["labels"] == written["prediction"].tolist()


def bad_cases(good: dict[str, Any]) -> list[tuple[str, dict[str, Any], str, str]]:
    """(case id, record, field, pydantic rule) for each class of bad input."""
    missing = {k: v for k, v in good.items() if k != "mean_texture"}
    return [
        ("missing", missing, "mean_texture", "missing"),
        ("extra", {**good, "colour": "red"}, "colour", "extra_forbidden"),
        ("wrong_type", {**good, "mean_area": "large"}, "mean_area", "float_type"),
        ("null", {**good, "mean_radius": None}, "mean_radius", "float_type"),
        ("above_max", {**good, "mean_radius": 1e6}, "mean_radius", "less_than_equal"),
        ("below_min", {**good, "worst_area": -5.0}, "worst_area", "greater_than_equal"),
        ("bool_as_number", {**good, "mean_smoothness": True}, "mean_smoothness", "float_type"),
    ]


def test_each_bad_input_class_gets_a_4xx_naming_field_and_rule(served: Served, client: httpx.Client) -> None:
    good = records_of(served, 1)[0]
    for case, record, field, rule in bad_cases(good):
        resp = client.post("/predict", json={"record": record})
        assert resp.status_code == 400, (case, resp.text)
        detail = resp.json()["detail"]
        assert [(d["loc"], d["type"]) for d in detail] == [(["record", field], rule)], case
        # same rule inside a batch, with the row index in the location
        resp = client.post("/predict_batch", json={"records": [good, record]})
        assert resp.status_code == 400, (case, resp.text)
        assert [(d["loc"], d["type"]) for d in resp.json()["detail"]] == [(["records", 1, field], rule)], case


def test_malformed_bodies_are_4xx(client: httpx.Client) -> None:
    for body in (b"not json", b"[1, 2]", b"{}", b'{"record": 3}', b'{"records": []}'):
        path = "/predict_batch" if b"records" in body else "/predict"
        resp = client.post(path, content=body, headers={"content-type": "application/json"})
        assert resp.status_code == 400, (body, resp.text)
        assert "detail" in resp.json()


def test_batch_size_and_body_size_are_bounded(served: Served, client: httpx.Client) -> None:
    meta = client.post("/metadata").json()
    good = records_of(served, 1)[0]
    too_many = [good] * (meta["max_batch_size"] + 1)
    resp = client.post("/predict_batch", json={"records": too_many})
    assert resp.status_code == 400
    assert [(d["loc"], d["type"]) for d in resp.json()["detail"]] == [(["records"], "too_long")]
    huge = b'{"records": [' + b" " * meta["max_request_bytes"] + b"]}"
    resp = client.post("/predict_batch", content=huge, headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert resp.json()["detail"][0]["rule"] == "max_request_bytes"
    # the server is still fine afterwards
    assert client.post("/predict", json={"record": good}).status_code == 200


def test_metadata_returns_lineage(served: Served, client: httpx.Client) -> None:
    resp = client.post("/metadata")
    assert resp.status_code == 200
    meta = resp.json()
    written = load_metadata(served.repo / "models/metadata.json")
    metrics = json.loads((served.repo / "metrics/metrics.json").read_text())
    assert meta["model_version"] == served.model_tag
    assert meta["features"] == written["features"]
    assert meta["lineage"]["data_md5"] == written["lineage"]["data_md5"]
    assert meta["lineage"]["git_sha"] == written["lineage"]["git_sha"]
    assert meta["lineage"]["mlflow_run_id"] == written["mlflow"]["run_id"]
    assert meta["train_metrics"] == written["train_metrics"]
    assert meta["test_metrics"] == metrics
    assert meta["scoring_path"].startswith("numpy")  # the fast path passed its self-check in the server


def test_health_metrics_and_openapi(client: httpx.Client) -> None:
    for path in ("/readyz", "/livez", "/healthz"):
        assert client.get(path).status_code == 200, path
    client.post("/metadata")
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "bentoml_service_request_total" in metrics.text
    spec = client.get("/docs.json").json()
    assert {"/predict", "/predict_batch", "/metadata"} <= set(spec["paths"])
    assert client.get("/").status_code == 200  # Swagger UI


def test_prediction_log_written_when_enabled(served: Served, client: httpx.Client) -> None:
    before = len(read_log(served.log_path)) if served.log_path.exists() else 0
    records = records_of(served, 3)
    client.post("/predict_batch", json={"records": records})
    client.post("/predict", json={"record": records[0]})
    entries = read_log(served.log_path)[before:]
    assert [e["inputs"] for e in entries] == [*records, records[0]]
    assert {e["model_version"] for e in entries} == {served.model_tag}
    assert [e["endpoint"] for e in entries] == ["predict_batch"] * 3 + ["predict"]
    proba = in_process(served, records)
    assert [e["score"] for e in entries[:3]] == proba[:, 1].tolist()


def test_bento_records_lineage_labels(served: Served) -> None:
    env = env_with_venv({"BENTOML_HOME": str(served.repo.parent / "bentoml")})
    out = run(["bentoml", "models", "get", served.model_tag, "-o", "json"], cwd=served.repo, env=env).stdout
    info = json.loads(out)
    written = load_metadata(served.repo / "models/metadata.json")
    assert info["labels"]["data_md5"] == written["lineage"]["data_md5"]
    assert info["labels"]["mlflow_run_id"] == written["mlflow"]["run_id"]
    assert info["metadata"]["test_metrics"] == json.loads((served.repo / "metrics/metrics.json").read_text())


def test_fuzz_openapi_no_server_errors(served: Served) -> None:
    """schemathesis: >= 1,000 generated requests (valid and invalid) against the OpenAPI, zero 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(f"{served.url}/docs.json")
    budget = {
        ("/predict", schemathesis.GenerationMode.POSITIVE): 300,
        ("/predict", schemathesis.GenerationMode.NEGATIVE): 300,
        ("/predict_batch", schemathesis.GenerationMode.POSITIVE): 150,
        ("/predict_batch", schemathesis.GenerationMode.NEGATIVE): 200,
        ("/metadata", schemathesis.GenerationMode.NEGATIVE): 60,
    }
    statuses: dict[int, int] = {}
    server_errors: list[str] = []

    def run_cases(path: str, mode: schemathesis.GenerationMode, n: int) -> None:
        strategy = schema[path]["POST"].as_strategy(generation_mode=mode)

        @settings(
            max_examples=n,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def call(case: Any) -> None:
            response = case.call(timeout=30)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                server_errors.append(f"{path} {mode.value}: {response.status_code} {response.text[:200]}")

        call()

    for (path, mode), n in budget.items():
        run_cases(path, mode, n)
    total = sum(statuses.values())
    print(f"schemathesis: {total} cases, statuses {dict(sorted(statuses.items()))}")
    assert total >= 1000, statuses
    assert not server_errors, server_errors[:5]
    assert statuses.get(200, 0) > 100 and sum(v for k, v in statuses.items() if 400 <= k < 500) > 100, statuses


def test_drifted_traffic_through_the_service_triggers_retraining(
    served: Served, client: httpx.Client, tmp_path: Path
) -> None:
    """The loop end to end, locally: served traffic drifts -> `make monitor` says so -> the drift issue is
    opened and the retraining workflow dispatched (against the recording GitHub API stand-in)."""
    from emulation.github_api import GitHubStandIn

    profile = json.loads((served.repo / "models/reference_profile.json").read_text(encoding="utf-8"))
    shifted = served.features[:12]  # within the schema's limits (the service validates), at the training maximum
    records = [{**r, **{f: profile["columns"][f]["summary"]["max"] for f in shifted}} for r in records_of(served)]
    assert client.post("/predict_batch", json={"records": records}).status_code == 200
    out = tmp_path / "monitor"
    env = env_with_venv()
    monitor = ["make", "-o", ".venv/.synced", "monitor", "RUN=", f"LOG={served.log_path}", f"MONITOR_OUT={out}"]
    result = run(monitor, cwd=served.repo, env=env, check=False)
    assert result.returncode != 0 and "[monitor] drift:" in result.stdout, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["retrain"] is True and set(shifted) <= set(summary["drifted_features"])
    assert summary["window"]["model_versions"] == {served.model_tag: summary["window"]["rows"]}
    with GitHubStandIn() as github:
        env |= {"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "acme/service", "GITHUB_TOKEN": "t"}
        run(["make", "monitor-issue", f"MONITOR_OUT={out}"], cwd=served.repo, env=env)
        run(["make", "retrain-dispatch"], cwd=served.repo, env=env)
        assert [i["title"] for i in github.plain_issues()] == ["Drift detected in served traffic"]
        dispatch = github.calls("POST", r"/actions/workflows/retrain\.yml/dispatches$")
        assert [d["json"] for d in dispatch] == [{"ref": "main", "inputs": {"reason": "drift detected"}}]
