"""Pull request = experiment: gather both sides, compare, write ``report.md``, images and ``comparison.json``.

The I/O edge of the comparison: reads the candidate's workspace (after ``dvc repro``) and the baseline
bundle from :mod:`~mlops_template.evaluation.baseline`, calls the pure logic in ``compare``, ``diffs`` and
``report``, and writes one folder that the CI posts as a comment.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from mlops_template import paths
from mlops_template.config import ConfigError, Params, load_params, parse_params
from mlops_template.data.schema import SchemaSpec, load_spec
from mlops_template.evaluation import plots
from mlops_template.evaluation.baseline import Baseline, get_baseline, git, git_file, progress
from mlops_template.evaluation.compare import Comparison, compare_predictions
from mlops_template.evaluation.diffs import DataDiff, DataSide, label_balance, params_diff, same_rows, schema_diff
from mlops_template.evaluation.metrics import Predictions, predict
from mlops_template.evaluation.report import Confusion, Image, ModelFacts, ReportInput, render, render_pipeline_failure
from mlops_template.lineage import file_md5
from mlops_template.model_io import load_model

DEFAULT_OUT = Path("reports/pr")
COMPARISON_FILE = "comparison.json"


def _yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return data if isinstance(data, dict) else {}


def _json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def single_row_latency_ms(
    model: Pipeline, frame: pd.DataFrame, target: str, id_column: str, repeats: int, spec: SchemaSpec | None = None
) -> float:
    """Median wall time of one prediction on one row (after one warm-up call), on the path the service
    uses (``serving.predictor.serving_scorer``: ONNX Runtime / numpy; the DataFrame path without a spec)."""
    from mlops_template.serving.predictor import serving_scorer

    row = frame.drop(columns=[target, id_column], errors="ignore").iloc[[0]]
    fn = serving_scorer(model, row, spec)
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return round(statistics.median(times), 3)


def mlflow_url(metadata: dict[str, Any]) -> str | None:
    """A clickable run link when the run was logged to a tracking server (http/https)."""
    info = metadata.get("mlflow") or {}
    uri = str(info.get("tracking_uri") or "")
    if not uri.startswith(("http://", "https://")) or not info.get("run_id"):
        return None
    return f"{uri.rstrip('/')}/#/experiments/{info.get('experiment_id', '0')}/runs/{info['run_id']}"


def confusion_of(p: Predictions) -> Confusion | None:
    if p.proba is None:
        return None
    labels = p.classes if p.classes is not None else np.unique(p.y_true)
    cm = skm.confusion_matrix(p.y_true, p.y_pred, labels=labels)
    return Confusion([str(x) for x in labels], cm.tolist())


def _data_side(raw: Path, test: pd.DataFrame, test_path: Path, train_rows: int | None, p: Params) -> DataSide:
    classification = p.task != "regression"
    raw_frame = pd.read_parquet(raw) if raw.exists() else None
    labels = raw_frame[p.data.target] if raw_frame is not None else test[p.data.target]
    return DataSide(
        raw_rows=None if raw_frame is None else len(raw_frame),
        train_rows=train_rows,
        test_rows=len(test),
        raw_md5=file_md5(raw) if raw.exists() else None,
        test_md5=file_md5(test_path),
        label_balance=label_balance(labels, classification),
    )


def _schema(raw: dict[str, Any], origin: str, notes: list[str]) -> SchemaSpec | None:
    try:
        return SchemaSpec.model_validate(raw)
    except Exception as err:
        notes.append(f"could not read the {origin} schema: {type(err).__name__}")
        return None


def _base_params(baseline: Baseline, candidate: Params, notes: list[str]) -> Params:
    try:
        return parse_params(_yaml(baseline.path("params.yaml")), origin=f"{baseline.ref}:params.yaml")
    except ConfigError as err:
        notes.append(f"the base params.yaml does not load with the candidate's code, used the candidate's: {err}")
        return candidate


def _images(task: str, base: Predictions, cand: Predictions, out: Path, base_ref: str) -> list[Image]:
    runs = {f"baseline ({base_ref})": base, "candidate": cand}
    images: list[Image] = []
    if task == "binary":
        plots.roc_png(runs, out / "roc.png")
        plots.pr_png(runs, out / "pr.png")
        images += [
            Image("roc.png", "ROC curves of baseline and candidate (AUC values in the metrics table)"),
            Image("pr.png", "Precision-recall curves of baseline and candidate (pr_auc in the metrics table)"),
        ]
    if task == "regression":
        plots.residuals_png(runs, out / "residuals.png")
        images.append(Image("residuals.png", "Residuals of baseline and candidate (rmse/mae in the metrics table)"))
    else:
        plots.confusion_png(base, out / "confusion_baseline.png", title=f"Baseline ({base_ref})")
        plots.confusion_png(cand, out / "confusion_candidate.png", title="Candidate")
        images += [
            Image("confusion_baseline.png", "Confusion matrix of the baseline (same numbers in the table below)"),
            Image("confusion_candidate.png", "Confusion matrix of the candidate (same numbers in the table below)"),
        ]
    return images


def build_report(base_ref: str, out_dir: Path = DEFAULT_OUT, rebuild: bool = True) -> Comparison:
    """Compare the workspace's model with ``base_ref``'s; write report.md, PNGs and comparison.json."""
    params = load_params()
    d = params.data
    notes: list[str] = []
    baseline = get_baseline(base_ref, rebuild=rebuild)
    base_params = _base_params(baseline, params, notes)
    bd = base_params.data
    if base_params.task != params.task:
        raise ConfigError(f"task changed from {base_params.task} to {params.task}: the models are not comparable")

    progress("scoring both models")
    cand_model, base_model = load_model(paths.MODEL), load_model(baseline.path("model.joblib"))
    cand_test = pd.read_parquet(paths.TEST_DATA)
    base_test = pd.read_parquet(baseline.path("test.parquet"))
    paired = same_rows(base_test, cand_test, d.id_column) and (bd.target, bd.id_column) == (d.target, d.id_column)
    cand_pred = predict(cand_model, cand_test, d.target, d.id_column, params.evaluate.threshold)
    base_rows = cand_test if paired else base_test
    base_pred = predict(base_model, base_rows, bd.target, bd.id_column, base_params.evaluate.threshold)

    c = params.compare
    cand_size = paths.MODEL.stat().st_size / 1e6
    base_size = baseline.path("model.joblib").stat().st_size / 1e6
    spec = load_spec(params.data.schema_path)  # the served path needs the schema (dtypes, probe rows)
    cand_latency = single_row_latency_ms(cand_model, cand_test, d.target, d.id_column, c.latency_repeats, spec)
    base_latency = single_row_latency_ms(base_model, base_rows, bd.target, bd.id_column, c.latency_repeats, spec)

    progress(f"bootstrap ({c.bootstrap_resamples} resamples, {'paired' if paired else 'unpaired'})")
    comparison = compare_predictions(params.task, base_pred, cand_pred, c, paired, params.seed, cand_size, cand_latency)

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    progress(f"plots and report -> {out_dir}")
    images = _images(params.task, base_pred, cand_pred, out_dir, base_ref)

    cand_meta = _json(paths.MODEL_METADATA)
    base_meta = _json(baseline.path("metadata.json"))
    data = DataDiff(
        baseline=_data_side(
            baseline.path("raw.parquet"),
            base_test,
            baseline.path("test.parquet"),
            base_meta.get("train_rows"),
            base_params,
        ),
        candidate=_data_side(paths.RAW_DATA, cand_test, paths.TEST_DATA, cand_meta.get("train_rows"), params),
        same_test_rows=paired,
        schema_changes=schema_diff(
            _schema(_yaml_at(baseline, bd.schema_path), "baseline", notes),
            _schema(_yaml(Path(d.schema_path)), "candidate", notes),
        ),
    )
    if baseline.lock_md5_matches is False:
        notes.append(
            "the rebuilt baseline model differs byte-wise from the one the base dvc.lock records "
            "(non-deterministic training or environment)"
        )
    validation = paths.VALIDATION_REPORT_MD.read_text(encoding="utf-8") if paths.VALIDATION_REPORT_MD.exists() else None
    report = ReportInput(
        base_ref=base_ref,
        baseline=ModelFacts(baseline.sha, base_size, base_latency, confusion_of(base_pred), mlflow_url(base_meta)),
        candidate=ModelFacts(
            candidate_sha(notes), cand_size, cand_latency, confusion_of(cand_pred), mlflow_url(cand_meta)
        ),
        baseline_source=baseline.source,
        comparison=comparison,
        params_changes=params_diff(_yaml(baseline.path("params.yaml")), _yaml(Path("params.yaml"))),
        data=data,
        validation_md=validation,
        images=images,
        notes=notes,
    )
    (out_dir / "report.md").write_text(render(report), encoding="utf-8")
    payload = {
        "base_ref": base_ref,
        "base_sha": baseline.sha,
        "candidate_sha": report.candidate.sha,
        "baseline_source": baseline.source,
        **comparison.to_dict(),
    }
    (out_dir / COMPARISON_FILE).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return comparison


# Files `dvc repro` rewrites: a difference there does not make the candidate's commit "dirty".
PIPELINE_OUTPUTS = ("dvc.lock", "models/", "metrics/", "plots/", "reports/")


def candidate_sha(notes: list[str]) -> str:
    """HEAD's SHA; a note lists tracked files that differ from it (other than pipeline outputs)."""
    sha = git("rev-parse", "HEAD").strip()
    status = git("status", "--porcelain", "--untracked-files=no").splitlines()
    changed = [line[3:] for line in status if not line[3:].startswith(PIPELINE_OUTPUTS)]
    if changed:
        notes.append(f"the candidate has uncommitted changes to {', '.join(changed)} (scored as they are)")
    return sha


def _yaml_at(baseline: Baseline, schema_path: str) -> dict[str, Any]:
    """The base commit's schema file (git), which may live at another path than the candidate's."""
    data = git_file(baseline.sha, Path(schema_path))
    loaded = yaml.safe_load(data) if data else None
    return loaded if isinstance(loaded, dict) else {}


def run_candidate_pipeline(base_ref: str, out_dir: Path) -> bool:
    """``dvc repro`` of the workspace (progress to stderr). On failure write a report that says so, and a
    comparison.json whose gate fails; return whether the pipeline succeeded."""
    progress("running the candidate's pipeline (dvc repro)")
    result = subprocess.run(
        [sys.executable, "-m", "mlops_template.cli", "repro"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sys.stderr.write(result.stdout)
    if result.returncode == 0:
        return True
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    validation = paths.VALIDATION_REPORT_MD.read_text(encoding="utf-8") if paths.VALIDATION_REPORT_MD.exists() else None
    notes: list[str] = []
    sha = candidate_sha(notes)
    tail = "\n".join(result.stdout.splitlines()[-40:])
    (out_dir / "report.md").write_text(render_pipeline_failure(base_ref, sha, validation, tail), encoding="utf-8")
    payload = {
        "base_ref": base_ref,
        "candidate_sha": sha,
        "verdict": "pipeline failed",
        "gate": {"passed": False, "reasons": ["the candidate's pipeline failed (see the report)"], "checks": []},
    }
    (out_dir / COMPARISON_FILE).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    progress(f"the candidate's pipeline failed; wrote {out_dir / 'report.md'}")
    return False


def gate_from_file(path: Path) -> tuple[bool, list[str]]:
    """Read comparison.json written by :func:`build_report`; return (passed, reasons or checks)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; run `make pr-report` first")
    data = json.loads(path.read_text(encoding="utf-8"))
    gate = data["gate"]
    return bool(gate["passed"]), list(gate["reasons"] if not gate["passed"] else gate["checks"])
