"""The built bento, served by `bentoml serve <tag>` (what the container runs), called over HTTP.

One server for the whole module (~10-20 s to start): `make bento` in a copy of the trained project,
BentoML home in a temp folder, prediction log switched on (it is off by default).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlops_template.core.lineage import locked_outs
from mlops_template.core.model_card import load_card, load_training_run
from mlops_template.core.model_io import load_model
from mlops_template.ops.serving.columnar import ARROW_STREAM, PARQUET
from mlops_template.ops.serving.limits import INLINE_BATCH_ROWS
from mlops_template.ops.serving.onnx_path import TOLERANCE
from mlops_template.ops.serving.predlog import read_log
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
    env["MLOPS_FEEDBACK_LOG_PATH"] = str(work / "feedback.jsonl")
    cmd = ["bentoml", "serve", bento_tag, "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    features = load_card(repo / "models/metadata.json").features
    test = pd.read_parquet(repo / "data/split/test.parquet")
    with server(cmd, f"{url}/readyz", cwd=work, log_path=work / "server.log", timeout=180, env=env):
        yield Served(
            url, repo, bento_tag, model_tag, log_path, features, test, load_model(repo / "models/model.joblib")
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
        assert abs(body["score"] - proba[1]) <= TOLERANCE  # ONNX Runtime path, checked at make bento
        assert body["label"] == (1 if proba[1] >= 0.5 else 0)
        assert body["model_version"] == served.model_tag


def test_batch_predictions_equal_in_process(served: Served, client: httpx.Client) -> None:
    records = records_of(served)
    resp = client.post("/predict_batch", json={"records": records})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    proba = in_process(served, records)
    assert np.allclose(body["scores"], proba[:, 1], rtol=0, atol=TOLERANCE)
    assert body["labels"] == [1 if p >= 0.5 else 0 for p in proba[:, 1]]
    # and the decisions agree with the labels the evaluate stage wrote for the same rows
    written = pd.read_csv(served.repo / "metrics/predictions.csv")
    assert body["labels"] == written["prediction"].tolist()
    # a batch over INLINE_BATCH_ROWS is scored in a thread instead of on the event loop: same answers
    big = records * (INLINE_BATCH_ROWS // len(records) + 1)
    resp = client.post("/predict_batch", json={"records": big})
    assert resp.status_code == 200, resp.text
    assert len(big) > INLINE_BATCH_ROWS
    assert np.allclose(resp.json()["scores"], np.tile(proba[:, 1], len(big) // len(records)), rtol=0, atol=TOLERANCE)
    assert resp.json()["labels"] == body["labels"] * (len(big) // len(records))


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
    written = load_card(served.repo / "models/metadata.json")
    trained = load_training_run(served.repo / ".cache/run/training_run.json", served.repo / "models/model.joblib")
    metrics = json.loads((served.repo / "metrics/metrics.json").read_text())
    assert meta["model_version"] == served.model_tag
    assert meta["features"] == written.features
    assert meta["lineage"]["data_md5"] == written.data.data_md5
    assert trained is not None and meta["lineage"]["mlflow_run_id"] == trained.run_id
    # the served card names exactly the outputs dvc.lock pins
    assert meta["lineage"]["dvc_outs"] == locked_outs((served.repo / "dvc.lock").read_text())
    assert meta["model_card"]["lineage"] == meta["lineage"]
    assert meta["lineage"]["bento_tag"] == served.bento_tag
    assert meta["train_metrics"] == written.train_metrics
    assert meta["test_metrics"] == metrics
    assert meta["scoring_path"].startswith("numpy+onnx")  # passed make bento's check and the start-up probes
    assert meta["serving_path"] == "onnx"


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
    assert np.allclose([e["score"] for e in entries[:3]], proba[:, 1], rtol=0, atol=TOLERANCE)


def test_bento_records_lineage_labels(served: Served) -> None:
    env = env_with_venv({"BENTOML_HOME": str(served.repo.parent / "bentoml")})
    out = run(["bentoml", "models", "get", served.model_tag, "-o", "json"], cwd=served.repo, env=env).stdout
    info = json.loads(out)
    written = load_card(served.repo / "models/metadata.json")
    trained = load_training_run(served.repo / ".cache/run/training_run.json", served.repo / "models/model.joblib")
    assert info["labels"]["data_md5"] == written.data.data_md5
    assert trained is not None and info["labels"]["mlflow_run_id"] == trained.run_id
    assert info["metadata"]["test_metrics"] == json.loads((served.repo / "metrics/metrics.json").read_text())


def test_unparseable_content_types_get_4xx_json(client: httpx.Client) -> None:
    for path in ("/predict", "/predict_batch", "/metadata"):
        for content_type, status in (("multipart/form-data", 400), ("text/plain", 415), ("application/xml", 415)):
            resp = client.post(path, content=b"x", headers={"content-type": content_type})
            assert resp.status_code == status, (path, content_type, resp.text)
            assert resp.json()["detail"][0]["rule"] == "content_type"


def arrow_body(frame: pd.DataFrame) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def test_columnar_batch_equals_json_batch(served: Served, client: httpx.Client) -> None:
    import io

    import pyarrow as pa

    frame = served.test[served.features]
    by_json = client.post("/predict_batch", json={"records": records_of(served)}).json()
    resp = client.post("/arrow/predict_batch", content=arrow_body(frame), headers={"content-type": ARROW_STREAM})
    assert resp.status_code == 200, resp.text
    assert {**resp.json(), "ids": None} == {**by_json, "ids": None}  # ids: generated per request
    parquet = io.BytesIO()
    frame.to_parquet(parquet)
    resp = client.post(
        "/arrow/predict_batch",
        content=parquet.getvalue(),
        headers={"content-type": PARQUET, "accept": ARROW_STREAM},
    )
    assert resp.status_code == 200 and resp.headers["content-type"] == ARROW_STREAM
    table = pa.ipc.open_stream(pa.py_buffer(resp.content)).read_all()
    assert table.column("score").to_pylist() == by_json["scores"]
    # bad bodies: 4xx naming row, column and rule
    bad = frame.head(5).assign(mean_radius=[1.0, 2.0, 1e6, 3.0, 4.0])
    resp = client.post("/arrow/predict_batch", content=arrow_body(bad), headers={"content-type": ARROW_STREAM})
    assert resp.status_code == 400
    assert [(d["loc"], d["type"]) for d in resp.json()["detail"]] == [
        (["records", 2, "mean_radius"], "less_than_equal")
    ]
    for content, content_type, status in ((b"garbage", ARROW_STREAM, 400), (b"{}", "application/json", 415)):
        resp = client.post("/arrow/predict_batch", content=content, headers={"content-type": content_type})
        assert resp.status_code == status and "detail" in resp.json()


def test_fuzz_openapi_no_server_errors(served: Served, client: httpx.Client, tmp_path: Path) -> None:
    """schemathesis CLI, all default phases (examples, coverage, fuzzing): >= 1,000 cases, no 5xx, no crash.

    About 70-80 s here; the server must still be ready and predicting afterwards.
    """
    report = tmp_path / "schemathesis.ndjson"
    cmd = [
        "schemathesis", "run", f"{served.url}/docs.json",
        "--phases", "examples,coverage,fuzzing", "--checks", "not_a_server_error",
        "--max-examples", "400", "--generation-deterministic", "--no-color",
        "--report", "ndjson", "--report-ndjson-path", str(report),
    ]  # fmt: skip
    result = run(cmd, cwd=tmp_path, env=env_with_venv({}), timeout=600, check=False)
    out = result.stdout + result.stderr
    print(out[-1500:])
    assert result.returncode == 0, out[-3000:]
    generated = re.search(r"(\d+) generated", out)
    assert generated and int(generated.group(1)) >= 1000, out[-1500:]
    assert client.get("/readyz").status_code == 200
    good = records_of(served, 1)[0]
    assert client.post("/predict", json={"record": good}).status_code == 200


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


# ----------------------------------------------------------------------------- ids, feedback, shadow (issue 20)


def test_ids_are_accepted_returned_and_logged(served: Served, client: httpx.Client) -> None:
    """A record may carry its id (data.id_column): not a feature, answered and logged; else a generated one."""
    records = records_of(served, 3)
    before = len(read_log(served.log_path)) if served.log_path.exists() else 0
    plain = client.post("/predict", json={"record": records[0]}).json()
    resp = client.post("/predict", json={"record": {**records[0], "id": 7}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["id"] == 7 and resp.json()["score"] == plain["score"]  # the id never reaches the model
    batch = client.post("/predict_batch", json={"records": [{**records[0], "id": 11}, records[1], records[2]]})
    assert batch.status_code == 200, batch.text
    ids = batch.json()["ids"]
    entries = read_log(served.log_path)[before:]
    request_id = entries[2]["request_id"]
    assert ids == [11, f"{request_id}-1", f"{request_id}-2"]
    assert [e["id"] for e in entries] == [entries[0]["request_id"], 7, *ids] == [plain["id"], 7, *ids]
    assert {e["role"] for e in entries} == {"champion"}
    assert all("id" not in e["inputs"] for e in entries) and entries[1]["inputs"] == records[0]
    bad = client.post("/predict", json={"record": {**records[0], "id": "seven"}})  # the schema says int64
    assert bad.status_code == 400 and bad.json()["detail"][0]["loc"] == ["record", "id"]
    table = served.test[served.features].head(3).assign(id=[21, 22, 23])
    arrow = client.post("/arrow/predict_batch", content=arrow_body(table), headers={"content-type": ARROW_STREAM})
    assert arrow.status_code == 200, arrow.text
    assert arrow.json()["ids"] == [21, 22, 23]


def test_feedback_is_validated_and_appended(served: Served, client: httpx.Client) -> None:
    feedback = served.log_path.parent / "feedback.jsonl"
    before = len(read_log(feedback)) if feedback.exists() else 0
    assert client.post("/feedback", json={"id": 7, "label": 1}).json() == {"id": 7, "recorded": True}
    assert client.post("/feedback", json={"id": "abc-1", "label": 0}).status_code == 200
    for body, field, rule in (
        ({"id": 7, "label": 2}, "label", "value_error"),  # not a class of the target column
        ({"id": 7, "label": "1"}, "label", "int_type"),
        ({"id": 7, "label": None}, "label", "int_type"),
        ({"label": 1}, "id", "missing"),
        ({"id": 7}, "label", "missing"),
        ({"id": [7], "label": 1}, "id", None),
    ):
        resp = client.post("/feedback", json=body)
        assert resp.status_code == 400, (body, resp.text)
        locs = [d["loc"][-1] if d["loc"][-1] in ("id", "label") else d["loc"][0] for d in resp.json()["detail"]]
        assert set(locs) == {field}, (body, resp.text)
        if rule:
            assert rule in {d["type"] for d in resp.json()["detail"]}, (body, resp.text)
    # a flood: every label is written once (one line each, nothing held in memory), the server stays healthy
    import concurrent.futures

    def post(i: int) -> int:
        return client.post("/feedback", json={"id": 1000 + i, "label": i % 2}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(post, range(400))) == {200}
    rows = read_log(feedback)[before:]
    assert rows[:2] == [{"id": 7, "target": 1, "ts": rows[0]["ts"]}, {"id": "abc-1", "target": 0, "ts": rows[1]["ts"]}]
    assert sorted(r["id"] for r in rows[2:]) == list(range(1000, 1400))
    assert client.post("/metadata").json()["shadow"] is None  # no challenger in this bento


def test_feedback_list_is_validated_per_item_and_appended_all_or_nothing(served: Served, client: httpx.Client) -> None:
    """POST /feedback_batch: a list of {id, label}; a bad item -> 400 naming its index and field and nothing is
    appended; more than serving.max_batch_size items -> 400 (the /predict_batch bound)."""
    feedback = served.log_path.parent / "feedback.jsonl"
    before = len(read_log(feedback)) if feedback.exists() else 0
    items = [{"id": 2000 + i, "label": i % 2} for i in range(5)]
    resp = client.post("/feedback_batch", json={"labels": items})
    assert resp.status_code == 200 and resp.json() == {"recorded": 5}, resp.text
    limit = client.post("/metadata").json()["max_batch_size"]
    for bad, loc, rule in (
        ([*items[:2], {"id": 9, "label": "1"}, *items[2:]], ["labels", 2, "label"], "int_type"),
        ([items[0], {"label": 1}], ["labels", 1, "id"], "missing"),
        ([{"id": 9, "label": 3}], ["labels", 0, "label"], "value_error"),
        ([items[0], {**items[1], "extra": 1}], ["labels", 1, "extra"], "extra_forbidden"),
        ([items[0]] * (limit + 1), ["labels"], "too_long"),
        ([], ["labels"], "too_short"),
    ):
        resp = client.post("/feedback_batch", json={"labels": bad})
        assert resp.status_code == 400, (loc, resp.text)
        assert [(d["loc"], d["type"]) for d in resp.json()["detail"]] == [(loc, rule)], resp.text
    rows = read_log(feedback)[before:]  # the good list only, whole: no line of any rejected list
    assert [(r["id"], r["target"]) for r in rows] == [(i["id"], i["label"]) for i in items]
    assert len({r["ts"] for r in rows}) == 1


def test_labels_posted_as_feedback_that_the_model_gets_wrong_trigger_retraining(
    served: Served, client: httpx.Client, tmp_path: Path
) -> None:
    """The fifth trigger end to end: traffic with ids through the served bento, ground truth posted to
    /feedback under which the model is wrong, `make monitor LABELS=...` -> degraded (exit 5, made 2 by make),
    then the issue and the retraining dispatch with the monitor's own reason (read from $GITHUB_OUTPUT)."""
    from emulation.github_api import GitHubStandIn

    test = served.test.reset_index(drop=True)
    ids = [50_000 + i for i in range(len(test))]
    records = [{**r, "id": i} for r, i in zip(test[served.features].to_dict("records"), ids, strict=True)]
    answer = client.post("/predict_batch", json={"records": records})
    assert answer.status_code == 200 and answer.json()["ids"] == ids, answer.text
    feedback = served.log_path.parent / "feedback.jsonl"
    before = len(read_log(feedback)) if feedback.exists() else 0
    for i, y in zip(ids, test["target"].tolist(), strict=True):  # every label flipped: the model is wrong
        assert client.post("/feedback", json={"id": i, "label": 1 - int(y)}).status_code == 200
    labels = tmp_path / "labels.jsonl"  # this test's labels, as a log shipper would hand them over
    labels.write_text("".join(json.dumps(row) + "\n" for row in read_log(feedback)[before:]), encoding="utf-8")
    out, outputs = tmp_path / "monitor", tmp_path / "github_output"
    env = env_with_venv({"GITHUB_OUTPUT": str(outputs)})
    monitor = ["make", "-o", ".venv/.synced", "monitor", "RUN=", f"LOG={served.log_path}", f"LABELS={labels}"]
    result = run([*monitor, f"MONITOR_OUT={out}"], cwd=served.repo, env=env, check=False)
    assert result.returncode != 0 and "[monitor] degraded:" in result.stdout, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "degraded" and summary["retrain"] is True
    assert summary["performance"]["labelled_rows"] == len(ids), summary["performance"]
    reason = dict(line.split("=", 1) for line in outputs.read_text(encoding="utf-8").splitlines())["reason"]
    assert reason == "performance degraded"
    with GitHubStandIn() as github:
        env |= {"GITHUB_API_URL": github.url, "GITHUB_REPOSITORY": "acme/service", "GITHUB_TOKEN": "t"}
        run(["make", "monitor-issue", f"MONITOR_OUT={out}"], cwd=served.repo, env=env)
        run(["make", "retrain-dispatch"], cwd=served.repo, env={**env, "RETRAIN_REASON": reason})
        issues = github.plain_issues()
        assert len(issues) == 1 and "erformance" in issues[0]["body"]
        dispatch = github.calls("POST", r"/actions/workflows/retrain\.yml/dispatches$")
        assert [d["json"]["inputs"] for d in dispatch] == [{"reason": "performance degraded"}]


@pytest.fixture(scope="module")
def shadowed(served: Served) -> Iterator[tuple[str, Path, str]]:
    """The same project built with `make bento CHALLENGER=<folder>`: a challenger whose coefficients are halved
    (scores differ, so its lines are told apart). Yields (url, prediction log, challenger tag)."""
    import joblib

    work = served.repo.parent
    challenger, repo = work / "challenger", work / "shadow-repo"
    for dest in (challenger, repo):
        shutil.copytree(served.repo, dest, symlinks=True, ignore=shutil.ignore_patterns(".bentoml", "build"))
    pipeline = load_model(challenger / "models/model.joblib")
    pipeline.steps[-1][1].coef_ = pipeline.steps[-1][1].coef_ * 0.5
    joblib.dump(pipeline, challenger / "models/model.joblib")
    env = env_with_venv({"BENTOML_HOME": str(work / "bentoml"), "BENTOML_DO_NOT_TRACK": "True"})
    run(["make", "-o", ".venv/.synced", "bento", "RUN=", f"CHALLENGER={challenger}"], cwd=repo, env=env, timeout=300)
    tag = (repo / "bento_challenger_tag.txt").read_text().strip()
    log_path, port = work / "shadow.jsonl", free_port()
    env.update({"MLOPS_PREDICTION_LOG": "1", "MLOPS_PREDICTION_LOG_PATH": str(log_path)})
    bento = (repo / "build/bento/tag.txt").read_text().strip()
    cmd = ["bentoml", "serve", bento, "--host", "127.0.0.1", "--port", str(port)]
    with server(cmd, f"http://127.0.0.1:{port}/readyz", cwd=work, log_path=work / "shadow.log", timeout=180, env=env):
        yield f"http://127.0.0.1:{port}", log_path, tag


def test_shadow_challenger_logged_and_champion_unchanged(
    served: Served, client: httpx.Client, shadowed: tuple[str, Path, str]
) -> None:
    import time

    url, log_path, challenger_tag = shadowed
    records = [{**r, "id": i} for i, r in enumerate(records_of(served, 40))]
    with httpx.Client(base_url=url, timeout=30) as shadow:
        assert shadow.post("/predict_batch", json={"records": records}).json() == {
            **client.post("/predict_batch", json={"records": records}).json()
        }
        for record in records[:5]:
            with_challenger = shadow.post("/predict", json={"record": record}).json()
            assert with_challenger == client.post("/predict", json={"record": record}).json()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and shadow.post("/metadata").json()["shadow"]["scored"] < 45:
            time.sleep(0.2)
        stats = shadow.post("/metadata").json()["shadow"]
    assert challenger_tag != served.model_tag and challenger_tag.startswith(served.model_tag.split(":")[0] + ":")
    assert stats["model_version"] == challenger_tag and (stats["scored"], stats["dropped"], stats["failed"]) == (
        45,
        0,
        0,
    )
    entries = read_log(log_path)
    champion = {(e["request_id"], e["id"]): e for e in entries if e["role"] == "champion"}
    challenger = {(e["request_id"], e["id"]): e for e in entries if e["role"] == "challenger"}
    assert set(champion) == set(challenger) and len(champion) == 45  # both predictions, one request id
    assert {e["model_version"] for e in champion.values()} == {served.model_tag}
    assert {e["model_version"] for e in challenger.values()} == {challenger_tag}
    assert all("inputs" not in e for e in challenger.values())
    assert all(challenger[k]["score"] != champion[k]["score"] for k in champion)  # really the second model
    assert "shadow_dropped" in httpx.get(f"{url}/metrics").text
