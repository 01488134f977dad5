"""Smoke test of a running model service (the container, or ``bentoml serve``): the same check locally and in CI.

Waits for ``/readyz``, sends test rows to ``/predict_batch`` and one to ``/predict``, and compares labels
and scores with the model's in-process output on the same rows (``evaluation.metrics.predict``), and checks that
``/metadata`` names exactly the output md5s this checkout's ``dvc.lock`` pins (the model that was reviewed).

    mlops smoke --url http://127.0.0.1:3000 [--rows 20] [--timeout 180]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_template.core import paths
from mlops_template.core.handoff import HandOffError
from mlops_template.core.lineage import LockError, locked_outs
from mlops_template.core.metrics import predict
from mlops_template.core.model_card import ServedCard, load_card
from mlops_template.core.model_io import load_model
from mlops_template.ops.serving.record import ReleaseRecord


class SmokeFailed(AssertionError):
    """The service answered, but not what the model computes in-process (or not at all)."""


@dataclass(frozen=True)
class Expected:
    records: list[dict[str, Any]]
    labels: list[Any]
    scores: list[float]


def expected_output(
    rows: int, data: Path = paths.TEST_DATA, model_path: Path = paths.MODEL, metadata_path: Path = paths.MODEL_METADATA
) -> Expected:
    """The first ``rows`` test rows as request records, with the model's in-process labels and scores."""
    card = load_card(metadata_path)
    frame = pd.read_parquet(data).head(rows)
    features = card.features
    out = predict(load_model(model_path), frame, card.target, card.id_column, card.threshold).to_frame()
    records = json.loads(frame[features].to_json(orient="records"))  # NaN -> null, numpy -> JSON types
    return Expected(records, out["prediction"].tolist(), [float(s) for s in out["score"]])


def compare(expected: Expected, labels: list[Any], scores: list[float], what: str) -> None:
    """Labels identical, scores within the served path's tolerance (``onnx_path.TOLERANCE``: the deviation
    ``make bento`` accepted when it chose the ONNX fast path, e.g. float32 trees); raise :class:`SmokeFailed`
    naming the first row that differs. The container smoke test and ``make serve-check`` share it."""
    from mlops_template.ops.serving.onnx_path import TOLERANCE

    if len(labels) != len(expected.labels) or len(scores) != len(expected.scores):
        raise SmokeFailed(f"{what}: {len(labels)} labels / {len(scores)} scores for {len(expected.labels)} records")
    for i, (want_label, got_label, want, got) in enumerate(
        zip(expected.labels, labels, expected.scores, scores, strict=True)
    ):
        if want_label != got_label and str(want_label) != str(got_label):
            raise SmokeFailed(f"{what}: row {i}: label {got_label!r}, in-process {want_label!r}")
        if not abs(float(got) - want) <= TOLERANCE:
            raise SmokeFailed(f"{what}: row {i}: score {got!r}, in-process {want!r} (tolerance {TOLERANCE:g})")


def check_identity(
    served_outs: dict[str, str],
    served_model_md5: str,
    lock: Path = Path("dvc.lock"),
    prediction_equivalent: dict[str, str] | None = None,
) -> None:
    """The service names exactly the outputs this checkout's dvc.lock pins (what was reviewed and merged), and
    serves the pinned model file, or the one ``make release-materialize`` accepted as prediction-equivalent."""
    pinned = locked_outs(lock.read_text(encoding="utf-8"))
    if served_outs != pinned:
        diff = sorted(k for k in set(pinned) | set(served_outs) if pinned.get(k) != served_outs.get(k))
        detail = "; ".join(f"{k}: served {served_outs.get(k)}, {lock} {pinned.get(k)}" for k in diff)
        raise SmokeFailed(f"/metadata names other outputs than {lock}: {detail}")
    accepted = (prediction_equivalent or {}).get(str(paths.MODEL))
    if pinned.get(str(paths.MODEL)) not in (None, served_model_md5) and accepted != served_model_md5:
        raise SmokeFailed(f"served model md5 {served_model_md5} != {lock} {pinned[str(paths.MODEL)]} ({paths.MODEL})")


def post(url: str, body: dict[str, Any], timeout: float = 30) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise SmokeFailed(f"POST {url}: HTTP {err.code}: {err.read()[:500]!r}") from None


def wait_ready(base: str, timeout: float) -> float:
    """Poll ``/readyz`` until 200; return the seconds it took."""
    start = time.monotonic()
    last: object = None
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, OSError) as err:
            last = err
        time.sleep(0.5)
    raise SmokeFailed(f"{base}/readyz did not answer 200 within {timeout:.0f} s (last: {last})")


def exercise(
    call: Callable[[str, dict[str, Any]], Any],
    expected: Expected,
    lock: Path = Path("dvc.lock"),
    prediction_equivalent: dict[str, str] | None = None,
) -> tuple[Any, ServedCard]:
    """The valid requests every check of a served model makes, through ``call(path, body)`` (HTTP for the
    container, BentoML's ASGI test client for ``make serve-check``; it raises :class:`SmokeFailed` on a non-200):
    ``/predict_batch`` and ``/predict`` must give the model's in-process answers, and ``/metadata`` must name the
    outputs ``lock`` pins. Returns the batch answer and the served model card."""
    batch = call("/predict_batch", {"records": expected.records})
    compare(expected, batch["labels"], batch["scores"], "/predict_batch")
    one = call("/predict", {"record": expected.records[0]})
    first = Expected(expected.records[:1], expected.labels[:1], expected.scores[:1])
    compare(first, [one["label"]], [one["score"]], "/predict")
    served = ServedCard.model_validate(call("/metadata", {})["model_card"])
    check_identity(
        served.lineage.dvc_outs, served.lineage.model_md5, lock=lock, prediction_equivalent=prediction_equivalent
    )
    return batch, served


def smoke(base: str, rows: int = 20, timeout: float = 180) -> dict[str, Any]:
    base = base.rstrip("/")
    ready_s = wait_ready(base, timeout)
    expected = expected_output(rows)
    batch, served = exercise(
        lambda path, body: post(f"{base}{path}", body),
        expected,
        prediction_equivalent=ReleaseRecord.load().prediction_equivalent,
    )
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        if response.status != 200:
            raise SmokeFailed(f"{base}/metrics answered {response.status}")
    lineage = served.lineage
    return {
        "ready_seconds": round(ready_s, 1),
        "rows": len(expected.records),
        "model_version": batch["model_version"],
        "git_sha": lineage.git_sha,
        "mlflow_model_version": lineage.mlflow_model_version,
        "model_md5": lineage.model_md5,
        "dvc_outs": lineage.dvc_outs,  # what /metadata names: checked against dvc.lock above
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops smoke`` (scripts/container/smoke.sh; mlops_template/cli.py)."""
    parser.add_argument("--url", required=True, help="the running service, e.g. http://127.0.0.1:3000")
    parser.add_argument("--rows", type=int, default=20, help="test rows sent to /predict_batch")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for /readyz")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = smoke(args.url, args.rows, args.timeout)
    except (SmokeFailed, HandOffError, LockError) as err:  # also a corrupt release record or dvc.lock
        print(f"smoke: FAILED: {err}", file=sys.stderr)
        return 1
    print(f"smoke: ok: {json.dumps(result)}")
    return 0
