"""The BentoML model store side: import the pipeline's model with its lineage, load it back.

A stored model is self-contained: ``model.joblib`` (the fitted sklearn Pipeline), ``metadata.json`` (the
:class:`~mlops_template.core.model_card.ServedCard`: model card + lineage + test metrics) and ``schema.yaml`` (the
schema spec the model was trained with, which the service derives its request validation from). Its version is
derived from the model file's hash, so importing the same model twice is a no-op.

``mlops bento`` (``make bento``) imports ``models/`` and builds the bento.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from mlops_template.core import paths
from mlops_template.core.config import Params, load_params
from mlops_template.core.data.schema import SchemaSpec, load_spec
from mlops_template.core.handoff import HandOff, HandOffError
from mlops_template.core.lineage import LockError, file_md5, git_sha, locked_outs
from mlops_template.core.model_card import Lineage, ServedCard, load_card, load_served, load_training_run
from mlops_template.core.model_io import load_model
from mlops_template.ops.serving.record import ReleaseRecord

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
SCHEMA_FILE = "schema.yaml"
ONNX_FILE = "estimator.onnx"  # the estimator for ONNX Runtime, only when the check below passed
CHECK_FILE = "serving_check.json"  # what `make bento` checked: served path vs the sklearn pipeline
BUILD_DIR = Path("build/bento")
TAG_FILE = BUILD_DIR / "tag.txt"  # the last built bento tag (make serve, make container read it)
MODEL_TAG_FILE = Path("bento_model_tag.txt")  # the model tag the bento serves (included in the bento)
CHALLENGER_TAG_FILE = Path("bento_challenger_tag.txt")  # the challenger scored in shadow (make bento CHALLENGER=...)


class ServingCheck(HandOff):
    """``serving_check.json`` next to a stored model: what ``make bento`` checked (the served ONNX path against the
    scikit-learn pipeline), read when the service loads the model. Stored models outlive versions of this code, so
    every field but ``passed`` has a default (a file from before the field was recorded)."""

    WRITER: ClassVar[str] = "`make bento`"

    passed: bool
    tolerance: float | None = None
    rows: int | None = Field(None, description="test rows (and edge rows) scored both ways")
    max_deviation: float | None = None
    onnx_dtype: str = Field("float64", description="the ONNX model's input dtype (when passed)")
    onnx_variant: str = Field("", description="which conversion variant passed")
    serving_path: str = Field("", description="what serves predictions, e.g. `numpy+onnx (...)` or `... (fallback)`")
    note: str = ""


def lineage_of(root: Path) -> Lineage:
    """Where the model in ``root/models`` came from: outputs pinned by dvc.lock, MLflow run and version."""
    card = load_card(root / paths.MODEL_METADATA)
    lock = root / "dvc.lock"
    training = load_training_run(root / paths.TRAINING_RUN, root / paths.MODEL)
    release_path = root / paths.RELEASE_RECORD  # written by `make release-register` before `make bento`
    release = ReleaseRecord.load(release_path)
    return Lineage(
        git_sha=git_sha(root),
        model_md5=file_md5(root / paths.MODEL),
        data_md5=card.data.data_md5,
        data_source=card.data.data_source,
        dvc_outs=locked_outs(lock.read_text(encoding="utf-8")) if lock.is_file() else {},
        mlflow_run_id=release.run_id or (training.run_id if training else None),
        mlflow_model_uri=release.model_uri or (training.model_uri if training else None),
        mlflow_tracking_uri=release.tracking_uri or (training.tracking_uri if training else None),
        mlflow_registered_model=release.name,
        mlflow_model_version=release.version,
    )


def served_card(root: Path) -> ServedCard:
    """The card stored with the model in the BentoML model store (and returned by ``/metadata``)."""
    card = load_card(root / paths.MODEL_METADATA)
    metrics_path = root / paths.METRICS
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.exists() else {}
    return ServedCard(**card.model_dump(), lineage=lineage_of(root), test_metrics=metrics)


def labels_of(lineage: Lineage) -> dict[str, str]:
    """BentoML labels: the scalar lineage fields as strings (the output md5s stay in the metadata)."""
    return {k: str(v) for k, v in lineage.model_dump().items() if v is not None and not isinstance(v, dict)}


def import_model(root: Path, params: Params) -> str:
    """Import ``models/`` of ``root`` into the BentoML model store; return the model tag."""
    import bentoml
    from bentoml.exceptions import NotFound

    model_path = root / paths.MODEL
    if not model_path.exists():
        raise FileNotFoundError(f"{model_path}: no trained model (run `make repro` first)")
    card = served_card(root)
    version = card.lineage.model_md5[:16]
    tag = f"{params.serving.model_name}:{version}"
    try:
        return str(bentoml.models.get(tag).tag)
    except NotFound:
        pass
    with bentoml.models.create(
        tag,
        module="mlops_template.ops.serving",
        labels=labels_of(card.lineage),
        metadata={k: v for k, v in card.lineage.model_dump().items() if v is not None}
        | {"test_metrics": card.test_metrics},
    ) as model:
        target = Path(model.path)
        shutil.copy2(model_path, target / MODEL_FILE)
        (target / METADATA_FILE).write_text(card.model_dump_json(indent=2), encoding="utf-8")
        shutil.copy2(root / params.data.schema_path, target / SCHEMA_FILE)
        check = prepare_fast_path(target, root)
        print(f"serving path: {check.serving_path} ({check.note})", flush=True)
    return str(model.tag)


def _check_records(rows: Any, pipeline: Any, features: list[str], spec: SchemaSpec) -> list[dict[str, Any]]:
    """The rows the serving check scores: the test split's (missing values as a JSON request carries them, null),
    plus rows it may lack: every category, unseen values, every nullable feature missing."""
    import pandas as pd

    from mlops_template.ops.serving.predictor import edge_records

    records: list[dict[str, Any]] = (
        []
        if rows is None
        else [{str(k): None if pd.isna(v) else v for k, v in r.items()} for r in rows.to_dict("records")]
    )
    return records + edge_records(pipeline, features, spec, records[:20])


def prepare_fast_path(folder: Path, root: Path, max_rows: int = 2000) -> ServingCheck:
    """Convert the estimator to ONNX and check the served path against the sklearn pipeline.

    The check scores (up to ``max_rows`` of) the test split both ways; the ONNX file is kept only when
    every output is within ``onnx_path.TOLERANCE`` (and classifiers give the same label). The result
    is written to ``serving_check.json`` next to the model either way.
    """
    import pandas as pd

    from mlops_template.ops.serving.onnx_path import TOLERANCE, OnnxModel, agreement, convert_estimator
    from mlops_template.ops.serving.predictor import Predictor

    pipeline = load_model(folder / MODEL_FILE)
    spec = load_spec(folder / SCHEMA_FILE)
    features = list(load_served(folder / METADATA_FILE).features)
    test_path = root / paths.TEST_DATA
    rows = pd.read_parquet(test_path)[features].head(max_rows) if test_path.exists() else None
    plain = Predictor(pipeline, features, spec)
    probe = Predictor(pipeline, features, spec, fast=False)
    records = _check_records(rows, pipeline, features, spec)
    n_inputs = None
    if plain.branches is not None and rows is not None and len(rows):
        n_inputs = plain.transform(plain.matrix(records[:1])).shape[1]
    reference = probe.reference(records) if records else None  # the pipeline on a DataFrame
    deviations: list[float] = []

    def accept(candidate: OnnxModel) -> tuple[bool, str]:
        """The served path with this ONNX model against the pipeline on the test rows (first variant that
        passes wins; see onnx_path.convert_estimator)."""
        served = Predictor(pipeline, features, spec, onnx=candidate)
        if not served.mode.startswith("numpy+onnx") or reference is None:
            return False, "failed the start-up probe check"
        ok, dev = agreement(served.outputs(records), reference, served.is_classifier)
        deviations.append(dev)
        return ok, f"max deviation {dev:.2e} on {len(records)} test rows, tolerance {TOLERANCE:g}"

    if rows is None:
        model, note = None, f"{test_path} missing: nothing to check against"
    elif not n_inputs:
        model, note = None, f"no fast path to attach: {plain.why}"
    else:
        model, note = convert_estimator(plain.estimator, n_inputs, accept=accept)
    if model is not None:
        (folder / ONNX_FILE).write_bytes(model.onnx)
    check = ServingCheck(
        passed=model is not None,
        tolerance=TOLERANCE,
        rows=len(records) if deviations else None,
        max_deviation=float(deviations[-1] if model else min(deviations)) if deviations else None,
        onnx_dtype=model.dtype if model is not None else "float64",
        onnx_variant=model.variant if model is not None else "",
        serving_path=f"numpy+onnx ({model.label})" if model else f"{plain.mode} (fallback)",
        note=note,
    )
    check.write(folder / CHECK_FILE)
    return check


@dataclass(frozen=True)
class LoadedModel:
    tag: str
    pipeline: Any
    card: ServedCard
    spec: SchemaSpec
    onnx: Any = None  # onnx_path.OnnxModel when `make bento`'s check passed
    serving_check: ServingCheck | None = None

    @property
    def features(self) -> list[str]:
        return list(self.card.features)


def bento_tag_of(project_root: Path) -> str | None:
    """The tag of the bento this code runs from (its ``bento.yaml`` sits next to the ``src`` folder), else None."""
    import yaml

    info = project_root.parent / "bento.yaml"
    if not info.is_file():
        return None
    doc = yaml.safe_load(info.read_text(encoding="utf-8")) or {}
    return f"{doc['name']}:{doc['version']}" if doc.get("name") and doc.get("version") else None


def load_stored(path: str | Path, tag: str, bento_tag: str | None = None) -> LoadedModel:
    """Load a stored model from its folder in the model store (``bento_tag`` completes its lineage)."""
    from mlops_template.ops.serving.onnx_path import OnnxModel

    folder = Path(path)
    card = load_served(folder / METADATA_FILE)
    if bento_tag:
        card = card.model_copy(update={"lineage": card.lineage.model_copy(update={"bento_tag": bento_tag})})
    check = ServingCheck.read_if_exists(folder / CHECK_FILE)
    onnx = None
    if check is not None and check.passed and (folder / ONNX_FILE).exists():
        onnx = OnnxModel((folder / ONNX_FILE).read_bytes(), check.onnx_dtype, check.onnx_variant)
    return LoadedModel(
        tag=tag,
        pipeline=load_model(folder / MODEL_FILE),
        card=card,
        spec=load_spec(folder / SCHEMA_FILE),
        onnx=onnx,
        serving_check=check,
    )


def import_challenger(params: Params, source: str) -> str | None:
    """The challenger's store tag: ``source`` is a model store tag (``name:version``) or a project folder whose
    ``models/`` is imported like the champion's (with its own card); empty = no challenger."""
    import bentoml
    from bentoml.exceptions import NotFound

    if not source:
        return None
    folder = Path(source)
    if folder.name == "models" and (folder / paths.MODEL.name).is_file():
        folder = folder.parent
    if (folder / paths.MODEL).is_file():
        return import_model(folder.resolve(), params)
    try:
        return str(bentoml.models.get(source).tag)
    except (NotFound, ValueError):
        raise SystemExit(
            f"CHALLENGER={source}: neither a model store tag nor a project folder with {paths.MODEL}"
        ) from None


def build_bento(root: Path, params: Params) -> str:
    """Import the model, pin its tag for the service, ``bentoml build``; return the bento tag."""
    import bentoml

    model_tag = import_model(root, params)
    (root / MODEL_TAG_FILE).write_text(model_tag + "\n", encoding="utf-8")
    challenger = import_challenger(params, os.environ.get("CHALLENGER", "").strip())
    (root / CHALLENGER_TAG_FILE).unlink(missing_ok=True)
    if challenger:
        (root / CHALLENGER_TAG_FILE).write_text(challenger + "\n", encoding="utf-8")
    lineage = lineage_of(root)
    bento = bentoml.bentos.build_bentofile(
        str(root / "bentofile.yaml"),
        build_ctx=str(root),
        name=params.serving.name,
        labels={"model_tag": model_tag.replace(":", "-"), **labels_of(lineage)}
        | ({"challenger_tag": challenger.replace(":", "-")} if challenger else {}),
    )
    (root / TAG_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / TAG_FILE).write_text(f"{bento.tag}\n", encoding="utf-8")
    return str(bento.tag)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops bento`` (``make bento``; mlops_template/cli.py)."""
    parser.add_argument(
        "--import-only", action="store_true", help="import models/ into the model store and print its tag; no bento"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    root = Path.cwd()
    params = load_params(root / "params.yaml")
    try:
        if args.import_only:
            print(import_model(root, params))
            return 0
        tag = build_bento(root, params)
    except (HandOffError, LockError) as err:  # a corrupt release record or dvc.lock: named, no traceback
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    print(f"bento: {tag} (written to {TAG_FILE})")
    return 0
