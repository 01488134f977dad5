"""The BentoML service: the pipeline's model behind validated, bounded HTTP endpoints.

Endpoints (all POST, JSON): ``/predict`` (one record), ``/predict_batch`` (``{"records": [...]}``),
``/metadata`` (model version, lineage, features, metrics); BentoML adds ``/readyz``, ``/livez``,
``/healthz``, ``/metrics`` (Prometheus) and ``/docs.json`` + the Swagger UI at ``/``.

Everything is configured by the ``serving:`` section of params.yaml (baked into the bento by
``make bento``); the prediction log can be switched at run time with ``MLOPS_PREDICTION_LOG=1`` and
``MLOPS_PREDICTION_LOG_PATH=...``. The request types are derived from the schema stored with the model.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
from pathlib import Path
from typing import Any

import bentoml
from pydantic import BaseModel, Field, ValidationError

from mlops_template.config import load_params
from mlops_template.model_card import Lineage, ServedCard
from mlops_template.serving import columnar, fastroute
from mlops_template.serving.limits import INLINE_BATCH_ROWS, BodySizeLimit, ContentTypeGuard
from mlops_template.serving.predictor import Predictor, decide, labels_and_scores
from mlops_template.serving.predlog import PredictionLog, log_lines
from mlops_template.serving.store import MODEL_TAG_FILE, bento_tag_of, load_stored
from mlops_template.serving.validation import record_type, records_type

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
LOADED = load_stored(
    MODEL_REF.stored.path if MODEL_REF.stored else MODEL_REF.resolve().path, str(MODEL_REF.tag), bento_tag_of(ROOT)
)

Record = record_type(LOADED.spec, LOADED.features)
Records = records_type(Record, CONFIG.max_batch_size)
Label = int | float | str | bool | None


class Prediction(BaseModel):
    label: Label = Field(description="predicted class (binary: P(positive) >= threshold), or the prediction")
    score: float = Field(description="binary: P(positive class); multiclass: top probability; regression: value")
    probabilities: dict[str, float] | None = Field(None, description="per-class probabilities (multiclass only)")
    model_version: str


class BatchPrediction(BaseModel):
    labels: list[Label]
    scores: list[float]
    model_version: str


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
    model_card: ServedCard = Field(description="the whole model card with its lineage (mlops_template.model_card)")
    max_batch_size: int
    max_request_bytes: int
    scoring_path: str = Field(description="how records are scored: numpy kernels / numpy / dataframe fallback")
    serving_path: str = Field(description="what serves predictions: onnx (checked at make bento) or sklearn")


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
    tracing={} if CONFIG.tracing else {"excluded_urls": ["/predict", "/predict_batch", "/metadata"]},
)
class ModelService:
    model = MODEL_REF

    def __init__(self) -> None:
        self.loaded = LOADED
        self.version = LOADED.tag
        self.predictor = Predictor(LOADED.pipeline, LOADED.features, LOADED.spec, onnx=LOADED.onnx)
        self.threshold = LOADED.card.threshold
        self.multiclass = self.predictor.classes is not None and len(self.predictor.classes) > 2
        log_on = _flag("MLOPS_PREDICTION_LOG", CONFIG.prediction_log)
        log_path = os.environ.get("MLOPS_PREDICTION_LOG_PATH", CONFIG.prediction_log_path)
        self.prediction_log = PredictionLog(log_path) if log_on else None
        # Everything loaded so far (modules, model, pydantic types) lives for the whole process: move it
        # out of the collector's view, and make full collections rare. Measured here: without this, a
        # full collection ran every ~1 s under load and stalled all in-flight requests for 200-300 ms
        # (p99 10x p50). Requests create little cyclic garbage; gen0/gen1 still collect it.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 1_000)

    def _log(self, endpoint: str, records: list[dict[str, Any]], labels: list[Any], scores: list[float]) -> None:
        if self.prediction_log is not None:
            self.prediction_log.write(log_lines(endpoint, self.version, records, labels, scores))

    @bentoml.api
    async def predict(self, record: Record) -> Prediction:  # type: ignore[valid-type]
        """Score one record (every feature of the schema, nothing else)."""
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
        self._log("predict", [record], labels, scores)
        probabilities = None
        if self.multiclass and proba is not None and self.predictor.classes is not None:
            probabilities = {str(c): float(p) for c, p in zip(self.predictor.classes, proba[0], strict=True)}
        return Prediction(label=labels[0], score=scores[0], probabilities=probabilities, model_version=self.version)

    @bentoml.api
    async def predict_batch(self, records: Records) -> BatchPrediction:  # type: ignore[valid-type]
        """Score up to ``serving.max_batch_size`` records; labels and scores in request order."""
        if len(records) <= INLINE_BATCH_ROWS:
            return self._score_batch(records)
        return await asyncio.to_thread(self._score_batch, records)

    def _score_batch(self, records: list[Any]) -> BatchPrediction:
        labels, scores, _ = labels_and_scores(self.predictor, records, self.threshold)
        self._log("predict_batch", records, labels, scores)
        return BatchPrediction(labels=labels, scores=scores, model_version=self.version)

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
        )

    def score_columnar(self, body: bytes, media_type: str | None, accept: str) -> tuple[int, bytes, str]:
        """``POST /arrow/predict_batch``: an Arrow IPC stream / Parquet table -> labels and scores."""
        try:
            table = columnar.read_table(body, media_type)
            x = columnar.validate_table(table, self.loaded.spec, self.loaded.features, CONFIG.max_batch_size)
        except columnar.ColumnarError as err:
            return err.status, json.dumps(err.body).encode(), "application/json"
        out = self.predictor.proba_matrix(x) if self.predictor.is_classifier else self.predictor.predict_matrix(x)
        labels, scores, _ = decide(self.predictor, out, self.threshold)
        if self.prediction_log is not None:
            records = table.select(self.loaded.features).to_pylist()
            self._log("arrow_predict_batch", records, labels, scores)
        payload, media = columnar.answer(labels, scores, self.version, accept)
        return 200, payload, media


def _score_columnar(body: bytes, media_type: str | None, accept: str) -> tuple[int, bytes, str]:
    service: ModelService = bentoml.get_current_service()
    return service.score_columnar(body, media_type, accept)


ModelService.mount_asgi_app(columnar.make_app(_score_columnar), path="/arrow")  # type: ignore[attr-defined]


ModelService.add_asgi_middleware(BodySizeLimit, max_bytes=CONFIG.max_request_bytes)  # type: ignore[attr-defined]
ModelService.add_asgi_middleware(ContentTypeGuard, paths=["/predict", "/predict_batch", "/metadata"])  # type: ignore[attr-defined]
PREDICT_INPUT = ModelService.apis["predict"].input_spec  # type: ignore[attr-defined]
# innermost: after the size limit and the content-type guard, inside BentoML's metrics and timeout middlewares
ModelService.add_asgi_middleware(  # type: ignore[attr-defined]
    fastroute.FastPredict, path="/predict", get_handler=lambda: bentoml.get_current_service().predict_json
)
