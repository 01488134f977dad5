"""Record ids, the prediction log's id/role fields, feedback label validation and the shadow queue (no server)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pydantic import TypeAdapter, ValidationError

from mlops_template.core.config import Params
from mlops_template.core.data.schema import SchemaSpec
from mlops_template.core.model import build_pipeline
from mlops_template.ops.serving import columnar
from mlops_template.ops.serving.predictor import Predictor, labels_and_scores
from mlops_template.ops.serving.predlog import (
    batch_ids,
    feedback_line,
    feedback_lines,
    log_lines,
    log_location,
    read_log,
    record_ids,
)
from mlops_template.ops.serving.shadow import ShadowScorer, ShadowWork
from mlops_template.ops.serving.validation import (
    describe_errors,
    feedback_item_type,
    feedback_items_type,
    label_type,
    record_type,
    validate_records,
)


@pytest.fixture(scope="module")
def features(params: Params, spec: SchemaSpec) -> list[str]:
    return spec.feature_columns(params.data.target, params.data.id_column)


@pytest.fixture(scope="module")
def predictor(params: Params, spec: SchemaSpec, raw_frame: pd.DataFrame, features: list[str]) -> Predictor:
    pipeline = build_pipeline(params, spec).fit(raw_frame[features], raw_frame[params.data.target])
    return Predictor(pipeline, features, spec)


@pytest.fixture(scope="module")
def rows(raw_frame: pd.DataFrame, features: list[str]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(raw_frame[features].head(8).to_json(orient="records"))
    return records


def test_generated_and_sent_ids() -> None:
    records = [{"id": 7, "a": 1.0}, {"a": 2.0}, {"id": None, "a": 3.0}]
    assert record_ids("r1", records, "id") == [7, "r1-1", "r1-2"]
    assert record_ids("r1", [{"a": 1.0}], "id", single=True) == ["r1"]
    assert record_ids("r1", [{"key": "k9"}], "key", single=True) == ["k9"]


def test_batch_ids_are_the_record_ids_of_a_columnar_batch() -> None:
    """The Arrow endpoint's ids from its id column (or none): what record_ids gives for the same records."""
    sent = [7, None, "k2", None]
    assert batch_ids("r1", sent, 4) == record_ids("r1", [{"id": s} for s in sent], "id") == [7, "r1-1", "k2", "r1-3"]
    assert batch_ids("r1", None, 3) == record_ids("r1", [{}] * 3, "id") == ["r1-0", "r1-1", "r1-2"]
    # the cached suffixes grow for a longer batch and are sliced for a shorter one
    assert batch_ids("r2", None, 5) == [f"r2-{i}" for i in range(5)]
    assert batch_ids("r3", [None, "a"], 2) == ["r3-0", "a"]


def test_log_lines_carry_id_and_role_and_keep_the_id_out_of_inputs(tmp_path: Path) -> None:
    text = log_lines(
        "predict_batch",
        "m:1",
        [{"id": 7, "a": 1.0}, {"a": 2.0}],
        [1, 0],
        [0.9, 0.1],
        request_id="r",
        ids=[7, "r-1"],
        drop="id",
    )
    text += log_lines(
        "predict_batch", "m:2", None, [0, 0], [0.4, 0.2], request_id="r", ids=[7, "r-1"], role="challenger"
    )
    (tmp_path / "p.jsonl").write_text(text, encoding="utf-8")
    champion, other, challenger, _ = read_log(tmp_path / "p.jsonl")
    assert list(champion) == ["ts", "request_id", "id", "role", "endpoint", "model_version", "inputs", "label", "score"]
    assert champion["inputs"] == {"a": 1.0} and (champion["id"], other["id"]) == (7, "r-1")
    assert champion["role"] == "champion" and challenger["role"] == "challenger"
    assert (challenger["request_id"], challenger["id"], challenger["model_version"]) == ("r", 7, "m:2")
    assert "inputs" not in challenger
    # without ids (older callers) each line still gets one, derived from the request id
    plain = json.loads(log_lines("predict", "m:1", [{"a": 1.0}], [1], [0.9]).splitlines()[0])
    assert plain["id"] == f"{plain['request_id']}-0" and plain["role"] == "champion"


def test_feedback_line_is_the_labels_format() -> None:
    line = json.loads(feedback_line("id", "target", "abc-3", 1))
    assert set(line) == {"id", "target", "ts"} and (line["id"], line["target"]) == ("abc-3", 1)
    assert pd.Timestamp(line["ts"]).tzinfo is not None


def test_feedback_list_is_validated_item_by_item_and_bounded(spec: SchemaSpec) -> None:
    item = feedback_item_type(str | int, label_type(spec, "target", [0, 1]))
    adapter = TypeAdapter(feedback_items_type(item, 3))
    good = [{"id": 7, "label": 1}, {"id": "r-1", "label": 0}]
    assert adapter.validate_python(good) == good
    for items, field, rule in (
        ([*good, {"id": 9, "label": 2}], "2.label", "value_error"),
        ([{"id": 9}, *good], "0.label", "missing"),
        ([good[0], {"label": 1}], "1.id", "missing"),
        ([good[0], {**good[1], "score": 0.3}], "1.score", "extra_forbidden"),
        ([*good, *good], "", "too_long"),
        ([], "", "too_short"),
    ):
        with pytest.raises(ValidationError) as info:
            adapter.validate_python(items)
        assert [(e["field"], e["rule"]) for e in describe_errors(info.value)] == [(field, rule)], items
    lines = [json.loads(line) for line in feedback_lines("key", "y", good).splitlines()]
    assert [(r["key"], r["y"]) for r in lines] == [(7, 1), ("r-1", 0)] and lines[0]["ts"] == lines[1]["ts"]


def test_label_follows_the_target_column(spec: SchemaSpec) -> None:
    adapter = TypeAdapter(label_type(spec, "target", [0, 1]))
    assert adapter.validate_python(1) == 1
    for bad in (2, "1", 1.0, None, True):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)
    # a target the schema does not describe: the model's classes, or a finite number for regressors
    assert TypeAdapter(label_type(spec, "nope", ["a", "b"])).validate_python("b") == "b"
    with pytest.raises(ValidationError):
        TypeAdapter(label_type(spec, "nope", None)).validate_python(float("nan"))


def test_records_accept_the_id_column_and_check_its_type(
    spec: SchemaSpec, features: list[str], rows: list[dict[str, Any]]
) -> None:
    record_cls = record_type(spec, features, id_column="id")
    assert validate_records(record_cls, [{**rows[0], "id": 7}, rows[1]])[0]["id"] == 7
    with pytest.raises(ValidationError) as info:
        validate_records(record_cls, [{**rows[0], "id": "seven"}])
    assert describe_errors(info.value)[0]["field"] == "0.id"
    with pytest.raises(ValidationError) as info:  # without id_column it stays an unknown field
        validate_records(record_type(spec, features), [{**rows[0], "id": 7}])
    assert describe_errors(info.value)[0]["rule"] == "extra_forbidden"


def test_columnar_takes_an_id_column_and_answers_ids(
    spec: SchemaSpec, features: list[str], rows: list[dict[str, Any]]
) -> None:
    table = pa.Table.from_pylist([{**r, "id": i} for i, r in enumerate(rows)])
    x = columnar.validate_table(table, spec, features, 100, id_column="id")
    assert x.shape == (len(rows), len(features))
    with pytest.raises(columnar.ColumnarError):
        columnar.validate_table(table, spec, features, 100)
    body, _ = columnar.answer([1, 0], [0.9, 0.1], "m:1", "application/json", ids=[3, "r-1"])
    assert json.loads(body)["ids"] == [3, "r-1"]
    stream, _ = columnar.answer([1, 0], [0.9, 0.1], "m:1", columnar.ARROW_STREAM, ids=[3, 4])
    assert pa.ipc.open_stream(io.BytesIO(stream)).read_all().column("id").to_pylist() == [3, 4]


def test_shadow_scores_off_path_with_the_champions_ids(predictor: Predictor, rows: list[dict[str, Any]]) -> None:
    written: list[str] = []
    shadow = ShadowScorer(predictor, "challenger:1", 0.5, 10, written.append)
    labels, scores, _ = labels_and_scores(predictor, rows, 0.5)
    ids = [f"r-{i}" for i in range(len(rows))]
    assert shadow.submit(ShadowWork("predict_batch", "r", ids, labels, records=rows))
    assert shadow.submit(ShadowWork("predict", "s", ["s"], labels[:1], matrix=predictor.matrix(rows[:1])))
    assert written == []  # submitting only enqueues

    async def serve_briefly() -> None:  # the service's event-loop task drains the queue in the background
        task = asyncio.get_running_loop().create_task(shadow.run(interval=0.01))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if not shadow.pending and shadow.scored:
                break
        task.cancel()

    asyncio.run(serve_briefly())
    lines = [json.loads(line) for line in "".join(written).splitlines()]
    assert [(e["request_id"], e["id"]) for e in lines] == [("r", i) for i in ids] + [("s", "s")]
    assert {e["role"] for e in lines} == {"challenger"} and all("inputs" not in e for e in lines)
    assert np.allclose([e["score"] for e in lines], [*scores, scores[0]])
    stats = shadow.stats()
    assert (stats["scored"], stats["dropped"], stats["failed"], stats["agreement"]) == (len(rows) + 1, 0, 0, 1.0)


def test_shadow_queue_is_bounded_and_counts_drops(predictor: Predictor, rows: list[dict[str, Any]]) -> None:
    drops: list[int] = []
    shadow = ShadowScorer(predictor, "c:1", 0.5, 3, None, on_drop=lambda: drops.append(1))
    work = ShadowWork("predict", "r", ["r"], [0], records=rows[:1])
    accepted = [shadow.submit(work) for _ in range(50)]  # a flood before the task runs: 3 wait, the rest drop
    assert accepted.count(True) == 3 and shadow.dropped == 47 == len(drops) and len(shadow.pending) == 3
    shadow.drain()
    assert shadow.stats()["scored"] == 3 and shadow.stats()["failed"] == 0
    assert shadow.submit(work)  # room again


def test_shadow_chunks_and_big_requests(predictor: Predictor, rows: list[dict[str, Any]], monkeypatch: Any) -> None:
    from mlops_template.ops.serving import shadow as shadow_module

    monkeypatch.setattr(shadow_module, "CHUNK_ROWS", 4)
    shadow = ShadowScorer(predictor, "c:1", 0.5, 100, None)
    for i in range(3):
        shadow.submit(ShadowWork("predict_batch", f"r{i}", ["a", "b", "c"], [0, 0, 0], records=rows[:3]))
    assert [len(shadow.take()) for _ in range(3)] == [1, 1, 1]  # 3 + 3 > 4 rows: one request per chunk
    shadow.submit(ShadowWork("predict_batch", "big", [str(i) for i in range(8)], [0] * 8, records=rows[:8]))
    assert len(shadow.take()) == 1  # a request bigger than a chunk is still taken (scored in a thread)


def test_shadow_failure_is_counted_not_raised(predictor: Predictor) -> None:
    shadow = ShadowScorer(predictor, "c:1", 0.5, 3, None)
    shadow.submit(ShadowWork("predict", "r", ["r"], [0], records=[{"not_a_feature": 1.0}]))
    shadow.drain()
    assert (shadow.stats()["failed"], shadow.stats()["scored"]) == (1, 0)


def test_a_relative_log_path_is_under_the_directory_make_serve_started_from(tmp_path: Path) -> None:
    """`bentoml serve` runs the service from the bento's src folder in the store: `make serve` passes the project
    folder (MLOPS_SERVE_DIR) so that logs/predictions.jsonl is where `make monitor` reads it."""
    assert log_location("logs/predictions.jsonl", str(tmp_path)) == tmp_path / "logs/predictions.jsonl"
    assert log_location("logs/predictions.jsonl", None) == Path("logs/predictions.jsonl")  # the working directory
    assert log_location("logs/predictions.jsonl", "") == Path("logs/predictions.jsonl")
    absolute = tmp_path / "elsewhere/p.jsonl"
    assert log_location(str(absolute), "/srv/project") == absolute
