"""Smoke test of a running model service (the container, or ``bentoml serve``): the same check locally and in CI.

Waits for ``/readyz``, sends test rows to ``/predict_batch`` and one to ``/predict``, and compares labels
and scores with the model's in-process output on the same rows (``evaluation.metrics.predict``).

    python -m mlops_template.release.smoke --url http://127.0.0.1:3000 [--rows 20] [--timeout 180]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_template import paths
from mlops_template.config import load_params
from mlops_template.evaluation.metrics import predict
from mlops_template.model_io import load_metadata, load_model

SCORE_TOLERANCE = 1e-9


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
    metadata = load_metadata(metadata_path)
    frame = pd.read_parquet(data).head(rows)
    features: list[str] = metadata["features"]
    threshold = load_params().evaluate.threshold  # the service reads the same params.yaml
    out = predict(load_model(model_path), frame, metadata["target"], metadata["id_column"], threshold).to_frame()
    records = json.loads(frame[features].to_json(orient="records"))  # NaN -> null, numpy -> JSON types
    return Expected(records, out["prediction"].tolist(), [float(s) for s in out["score"]])


def compare(expected: Expected, labels: list[Any], scores: list[float], what: str) -> None:
    """Raise :class:`SmokeFailed` naming the first row whose label or score differs."""
    if len(labels) != len(expected.labels) or len(scores) != len(expected.scores):
        raise SmokeFailed(f"{what}: {len(labels)} labels / {len(scores)} scores for {len(expected.labels)} records")
    for i, (want_label, got_label, want, got) in enumerate(
        zip(expected.labels, labels, expected.scores, scores, strict=True)
    ):
        if want_label != got_label and str(want_label) != str(got_label):
            raise SmokeFailed(f"{what}: row {i}: label {got_label!r}, in-process {want_label!r}")
        if not math.isclose(float(got), want, rel_tol=SCORE_TOLERANCE, abs_tol=SCORE_TOLERANCE):
            raise SmokeFailed(f"{what}: row {i}: score {got!r}, in-process {want!r}")


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


def smoke(base: str, rows: int = 20, timeout: float = 180) -> dict[str, Any]:
    base = base.rstrip("/")
    ready_s = wait_ready(base, timeout)
    expected = expected_output(rows)
    batch = post(f"{base}/predict_batch", {"records": expected.records})
    compare(expected, batch["labels"], batch["scores"], "/predict_batch")
    one = post(f"{base}/predict", {"record": expected.records[0]})
    first = Expected(expected.records[:1], expected.labels[:1], expected.scores[:1])
    compare(first, [one["label"]], [one["score"]], "/predict")
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        if response.status != 200:
            raise SmokeFailed(f"{base}/metrics answered {response.status}")
    lineage = post(f"{base}/metadata", {}).get("lineage", {})
    return {
        "ready_seconds": round(ready_s, 1),
        "rows": len(expected.records),
        "model_version": batch["model_version"],
        "git_sha": lineage.get("git_sha"),
        "mlflow_model_version": lineage.get("mlflow_model_version"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args(argv)
    try:
        result = smoke(args.url, args.rows, args.timeout)
    except SmokeFailed as err:
        print(f"smoke: FAILED: {err}", file=sys.stderr)
        return 1
    print(f"smoke: ok: {json.dumps(result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
