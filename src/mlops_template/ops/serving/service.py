"""The BentoML service: the pipeline's model behind validated, bounded HTTP endpoints.

Endpoints (all POST, JSON): ``/predict`` (one record), ``/predict_batch`` (``{"records": [...]}``),
``/feedback`` (``{"id": ..., "label": ...}``: a true label, appended to the feedback log), ``/feedback_batch``
(``{"labels": [{"id": ..., "label": ...}, ...]}``: up to ``serving.max_batch_size`` of them, all or none appended),
``/metadata`` (model version, lineage, features, metrics, shadow counters); BentoML adds ``/readyz``, ``/livez``,
``/healthz``, ``/metrics`` (Prometheus) and ``/docs.json`` + the Swagger UI at ``/``.

Everything is configured by the ``serving:`` section of params.yaml (baked into the bento by
``make bento``); the prediction log can be switched at run time with ``MLOPS_PREDICTION_LOG=1`` and
``MLOPS_PREDICTION_LOG_PATH=...``, the feedback log with ``MLOPS_FEEDBACK_LOG_PATH=...``; a relative log path is
relative to ``MLOPS_SERVE_DIR`` (``make serve`` sets it to the project), else to the bento's ``src`` folder,
where ``bentoml serve`` runs the service. The request types are
derived from the schema stored with the model. A record may carry its id (``data.id_column``); responses return
it, or a generated one. A challenger (``bento_challenger_tag.txt`` pinned by ``make bento CHALLENGER=...``, or
``MLOPS_CHALLENGER_TAG=<store tag>``; ``none`` switches it off) is scored in shadow (ops/serving/shadow.py).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import bentoml
from pydantic import BaseModel, Field, StrictInt, StrictStr, ValidationError

from mlops_template.core.config import load_params
from mlops_template.core.model_card import Lineage, ServedCard
from mlops_template.ops.serving import columnar, fastroute
from mlops_template.ops.serving.limits import INLINE_BATCH_ROWS, BodySizeLimit, ContentTypeGuard
from mlops_template.ops.serving.predictor import Predictor, decide, labels_and_scores
from mlops_template.ops.serving.predlog import (
    SERVE_DIR_ENV,
    PredictionLog,
    batch_ids,
    feedback_line,
    feedback_lines,
    log_lines,
    log_location,
    new_request_id,
    record_ids,
)
from mlops_template.ops.serving.shadow import ShadowScorer, ShadowWork
from mlops_template.ops.serving.store import CHALLENGER_TAG_FILE, MODEL_TAG_FILE, bento_tag_of, load_stored
from mlops_template.ops.serving.validation import (
    feedback_item_type,
    feedback_items_type,
    label_type,
    record_type,
    records_type,
)

logger = logging.getLogger(__name__)


def _project_root() -> Path:
    """The folder holding params.yaml: the bento's src folder, or the repository root."""
    here = Path(__file__).resolve()
    candidates = [Path(os.environ.get("MLOPS_PROJECT_ROOT", Path.cwd())), here.parents[2], here.parents[3]]
    return next((c for c in candidates if (c / "params.yaml").is_file()), Path.cwd())


ROOT = _project_root()
PARAMS = load_params(ROOT / "params.yaml")
CONFIG = PARAMS.serving
_pinned = ROOT / MODEL_TAG_FILE
MODEL_TAG = os.environ.get("MLOPS_MODEL_TAG") or (
    _pinned.read_text(encoding="utf-8").strip() if _pinned.is_file() else f"{CONFIG.model_name}:latest"
)
MODEL_REF = bentoml.models.BentoModel(MODEL_TAG)


def _load(ref: bentoml.models.BentoModel) -> Any:
    return load_stored(ref.stored.path if ref.stored else ref.resolve().path, str(ref.tag), bento_tag_of(ROOT))


LOADED = _load(MODEL_REF)
_pinned_challenger = ROOT / CHALLENGER_TAG_FILE
CHALLENGER_TAG = os.environ.get("MLOPS_CHALLENGER_TAG") or (
    _pinned_challenger.read_text(encoding="utf-8").strip() if _pinned_challenger.is_file() else ""
)
CHALLENGER_REF = (
    bentoml.models.BentoModel(CHALLENGER_TAG) if CHALLENGER_TAG and CHALLENGER_TAG.lower() != "none" else None
)
CHALLENGER = _load(CHALLENGER_REF) if CHALLENGER_REF is not None else None
ID_COLUMN = PARAMS.data.id_column
TARGET = PARAMS.data.target

Record = record_type(LOADED.spec, LOADED.features, id_column=ID_COLUMN)
Records = records_type(Record, CONFIG.max_batch_size)
Label = int | float | str | bool | None
RecordId = StrictStr | StrictInt
TargetLabel = label_type(LOADED.spec, TARGET, LOADED.card.classes)
FeedbackItems = feedback_items_type(feedback_item_type(RecordId, TargetLabel), CONFIG.max_batch_size)


class Prediction(BaseModel):
    label: Label = Field(description="predicted class (binary: P(positive) >= threshold), or the prediction")
    score: float = Field(description="binary: P(positive class); multiclass: top probability; regression: value")
    probabilities: dict[str, float] | None = Field(None, description="per-class probabilities (multiclass only)")
    model_version: str
    id: RecordId = Field(
        description=f"the record's `{ID_COLUMN}` when sent, else a generated id (report labels with it)"
    )


class BatchPrediction(BaseModel):
    labels: list[Label]
    scores: list[float]
    model_version: str
    ids: list[RecordId] = Field(description=f"per record: its `{ID_COLUMN}` when sent, else a generated id")


class FeedbackAck(BaseModel):
    id: RecordId
    recorded: bool = True


class FeedbackBatchAck(BaseModel):
    recorded: int = Field(description="labels appended to the feedback log (all of the request's)")


class ModelMetadata(BaseModel):
    model_version: str
    service: str
    task: str
    model_type: str
    features: list[str]
    classes: list[Label] | None
    threshold: float
    lineage: Lineage
    train_metrics: dict[str, float]
    test_metrics: dict[str, float]
    model_card: ServedCard = Field(description="the whole model card with its lineage (mlops_template.core.model_card)")
    max_batch_size: int
    max_request_bytes: int
    scoring_path: str = Field(description="how records are scored: numpy kernels / numpy / dataframe fallback")
    serving_path: str = Field(description="what serves predictions: onnx (checked at make bento) or sklearn")
    id_column: str = Field(description="the request field carrying a record's id (data.id_column)")
    shadow: dict[str, Any] | None = Field(
        None, description="the challenger scored in shadow: model_version, queue size, submitted/scored/dropped/failed"
    )


# the JSON API routes (content-type guard; no tracing middleware unless serving.tracing)
JSON_ROUTES = ["/predict", "/predict_batch", "/metadata", "/feedback", "/feedback_batch"]


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


@bentoml.service(
    name=CONFIG.name,
    workers=CONFIG.workers,
    traffic={"timeout": CONFIG.timeout_seconds},
    logging={"access": {"enabled": CONFIG.access_log}},
    # BentoML wraps every request in an OpenTelemetry middleware; skipping it for the API routes
    # doubled single-record throughput here. Switch on (serving.tracing) when an exporter is configured.
    tracing={} if CONFIG.tracing else {"excluded_urls": [*JSON_ROUTES, "/arrow/predict_batch"]},
)
class ModelService:
    model = MODEL_REF
    challenger_model = CHALLENGER_REF  # None: no challenger (BentoML packages the models named here)

    def __init__(self) -> None:
        self.loaded = LOADED
        self.version = LOADED.tag
        self.predictor = Predictor(LOADED.pipeline, LOADED.features, LOADED.spec, onnx=LOADED.onnx)
        self.threshold = LOADED.card.threshold
        self.multiclass = self.predictor.classes is not None and len(self.predictor.classes) > 2
        log_on = _flag("MLOPS_PREDICTION_LOG", CONFIG.prediction_log)
        serve_dir = os.environ.get(SERVE_DIR_ENV)
        log_path = log_location(os.environ.get("MLOPS_PREDICTION_LOG_PATH", CONFIG.prediction_log_path), serve_dir)
        self.prediction_log = PredictionLog(log_path) if log_on else None
        feedback_path = log_location(os.environ.get("MLOPS_FEEDBACK_LOG_PATH", CONFIG.feedback_log_path), serve_dir)
        self.feedback_log = PredictionLog(feedback_path)
        if log_on:  # stderr: BentoML's logging config drops INFO from loggers outside bentoml
            print(f"[service] prediction log: {log_path.resolve()}", file=sys.stderr, flush=True)
        self.shadow = _shadow_scorer(self.prediction_log)
        self.shadow_same_features = CHALLENGER is not None and CHALLENGER.features == LOADED.features
        # Everything loaded so far (modules, model, pydantic types) lives for the whole process: move it
        # out of the collector's view, and make full collections rare. Measured here: without this, a
        # full collection ran every ~1 s under load and stalled all in-flight requests for 200-300 ms
        # (p99 10x p50). Requests create little cyclic garbage; gen0/gen1 still collect it.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 1_000)

    @bentoml.on_startup
    async def start_shadow(self) -> None:
        """Start the challenger's scoring task on the server's event loop (nothing without a challenger)."""
        if self.shadow is not None:
            self._shadow_task = asyncio.get_running_loop().create_task(self.shadow.run())

    def _write(
        self,
        endpoint: str,
        request_id: str,
        records: list[dict[str, Any]] | None,
        labels: list[Any],
        scores: list[float],
        ids: list[Any],
        matrix: Any = None,
    ) -> None:
        """Log the champion's lines, then hand the request to the challenger (enqueued only, if any)."""
        if self.prediction_log is not None and records is not None:
            self.prediction_log.write(
                log_lines(
                    endpoint, self.version, records, labels, scores, request_id=request_id, ids=ids, drop=ID_COLUMN
                )
            )
        if self.shadow is not None:
            self.shadow.submit(ShadowWork(endpoint, request_id, ids, labels, records=records, matrix=matrix))

    @bentoml.api
    async def predict(self, record: Record) -> Prediction:  # type: ignore[valid-type]
        """Score one record (every feature of the schema, and optionally its id, nothing else)."""
        # Over HTTP, POST /predict is answered by predict_json (fastroute.FastPredict); same rules, same answer.
        return self._predict_one(record)

    def predict_json(self, body: bytes) -> tuple[int, bytes]:
        """``POST /predict``'s body -> (status, JSON answer): BentoML's own input model validates it."""
        try:
            record = fastroute.parse(PREDICT_INPUT, body).record
        except ValidationError as err:
            return 400, fastroute.validation_error_body(err)
        try:
            return 200, self._predict_one(record).model_dump_json().encode()
        except Exception:  # as BentoML answers an unexpected error: logged here, no traceback to the client
            logger.exception("POST /predict failed")
            return 500, b'{"error":"An unexpected error has occurred, please check the server log."}'

    def _predict_one(self, record: dict[str, Any]) -> Prediction:
        # synchronous on purpose: one record takes ~0.1 ms of CPU, less than a hop to the thread pool.
        labels, scores, proba = labels_and_scores(self.predictor, [record], self.threshold)
        request_id = new_request_id()
        ids = record_ids(request_id, [record], ID_COLUMN, single=True)
        self._write("predict", request_id, [record], labels, scores, ids)
        probabilities = None
        if self.multiclass and proba is not None and self.predictor.classes is not None:
            probabilities = {str(c): float(p) for c, p in zip(self.predictor.classes, proba[0], strict=True)}
        return Prediction(
            label=labels[0], score=scores[0], probabilities=probabilities, model_version=self.version, id=ids[0]
        )

    @bentoml.api
    async def predict_batch(self, records: Records) -> BatchPrediction:  # type: ignore[valid-type]
        """Score up to ``serving.max_batch_size`` records; labels and scores in request order."""
        if len(records) <= INLINE_BATCH_ROWS:
            return self._score_batch(records)
        return await asyncio.to_thread(self._score_batch, records)

    def _score_batch(self, records: list[Any]) -> BatchPrediction:
        labels, scores, _ = labels_and_scores(self.predictor, records, self.threshold)
        request_id = new_request_id()
        ids = record_ids(request_id, records, ID_COLUMN)
        self._write("predict_batch", request_id, records, labels, scores, ids)
        return BatchPrediction(labels=labels, scores=scores, model_version=self.version, ids=ids)

    @bentoml.api
    def feedback(self, id: RecordId, label: TargetLabel) -> FeedbackAck:  # type: ignore[valid-type]
        """Record the true label of a scored record (``id`` as returned by /predict or /predict_batch).

        The label is validated against the schema's target column; one JSONL line is appended to the
        feedback log (``serving.feedback_log_path``): the labels format the monitor reads.
        """
        self.feedback_log.write(feedback_line(ID_COLUMN, TARGET, id, label))
        return FeedbackAck(id=id)

    @bentoml.api
    def feedback_batch(self, labels: FeedbackItems) -> FeedbackBatchAck:  # type: ignore[valid-type]
        """Record up to ``serving.max_batch_size`` true labels (``[{"id": ..., "label": ...}, ...]``) at once.

        Every item is validated as ``/feedback`` validates one (a bad one: 400 naming ``labels.<index>.<field>``);
        the lines are appended with one write, so a request is recorded whole or not at all.
        """
        self.feedback_log.write(feedback_lines(ID_COLUMN, TARGET, labels))
        return FeedbackBatchAck(recorded=len(labels))

    @bentoml.api
    def metadata(self) -> ModelMetadata:
        """Model version, lineage (git SHA, data hash, MLflow run), features and metrics."""
        card = self.loaded.card
        return ModelMetadata(
            model_version=self.version,
            service=CONFIG.name,
            task=card.task,
            model_type=card.model_type,
            features=self.loaded.features,
            classes=card.classes,
            threshold=self.threshold,
            lineage=card.lineage,
            train_metrics=card.train_metrics,
            test_metrics=card.test_metrics,
            model_card=card,
            max_batch_size=CONFIG.max_batch_size,
            max_request_bytes=CONFIG.max_request_bytes,
            scoring_path=self.predictor.mode,
            serving_path="onnx" if "onnx" in self.predictor.mode else "sklearn",
            id_column=ID_COLUMN,
            shadow=self.shadow.stats() if self.shadow is not None else None,
        )

    def score_columnar(self, body: bytes, media_type: str | None, accept: str) -> tuple[int, bytes, str]:
        """``POST /arrow/predict_batch``: an Arrow IPC stream / Parquet table -> labels and scores."""
        try:
            table = columnar.read_table(body, media_type)
            x = columnar.validate_table(
                table, self.loaded.spec, self.loaded.features, CONFIG.max_batch_size, id_column=ID_COLUMN
            )
        except columnar.ColumnarError as err:
            return err.status, json.dumps(err.body).encode(), "application/json"
        out = self.predictor.proba_matrix(x) if self.predictor.is_classifier else self.predictor.predict_matrix(x)
        labels, scores, _ = decide(self.predictor, out, self.threshold)
        request_id = new_request_id()
        sent = table.column(ID_COLUMN).to_pylist() if ID_COLUMN in table.column_names else None
        ids = batch_ids(request_id, sent, table.num_rows)
        records = None
        if self.prediction_log is not None or (self.shadow is not None and not self.shadow_same_features):
            records = table.select(self.loaded.features).to_pylist()
        matrix = x if self.shadow is not None and self.shadow_same_features else None
        self._write("arrow_predict_batch", request_id, records, labels, scores, ids, matrix=matrix)
        payload, media = columnar.answer(labels, scores, self.version, accept, ids=ids)
        return 200, payload, media


def _shadow_scorer(prediction_log: PredictionLog | None) -> ShadowScorer | None:
    """The challenger's background scorer, or None without a challenger."""
    if CHALLENGER is None:
        return None
    predictor = Predictor(CHALLENGER.pipeline, CHALLENGER.features, CHALLENGER.spec, onnx=CHALLENGER.onnx)
    write = prediction_log.write if prediction_log is not None else None
    return ShadowScorer(
        predictor, CHALLENGER.tag, CHALLENGER.card.threshold, CONFIG.shadow_queue_size, write, on_drop=_count_drop
    )


def _count_drop() -> None:
    if SHADOW_DROPS is not None:
        SHADOW_DROPS.inc()


try:  # a Prometheus counter next to BentoML's own metrics at /metrics
    SHADOW_DROPS: Any = bentoml.metrics.Counter(
        name="shadow_dropped", documentation="challenger work dropped because the shadow queue was full"
    )
except Exception:  # metrics unavailable (e.g. imported outside a server): /metadata still counts
    SHADOW_DROPS = None


def _score_columnar(body: bytes, media_type: str | None, accept: str) -> tuple[int, bytes, str]:
    service: ModelService = bentoml.get_current_service()
    return service.score_columnar(body, media_type, accept)


ModelService.mount_asgi_app(columnar.make_app(_score_columnar), path="/arrow")  # type: ignore[attr-defined]


ModelService.add_asgi_middleware(BodySizeLimit, max_bytes=CONFIG.max_request_bytes)  # type: ignore[attr-defined]
ModelService.add_asgi_middleware(ContentTypeGuard, paths=JSON_ROUTES)  # type: ignore[attr-defined]
PREDICT_INPUT = ModelService.apis["predict"].input_spec  # type: ignore[attr-defined]
# innermost: after the size limit and the content-type guard, inside BentoML's metrics and timeout middlewares
ModelService.add_asgi_middleware(  # type: ignore[attr-defined]
    fastroute.FastPredict, path="/predict", get_handler=lambda: bentoml.get_current_service().predict_json
)
