"""The BentoML model store side: import the pipeline's model with its lineage, load it back.

A stored model is self-contained: ``model.joblib`` (the fitted sklearn Pipeline), ``metadata.json``
(training metadata + lineage + test metrics + decision threshold) and ``schema.yaml`` (the schema spec
the model was trained with, which the service derives its request validation from). Its version is
derived from the model file's hash, so importing the same model twice is a no-op.

``python -m mlops_template.serving.store`` (``make bento``) imports ``models/`` and builds the bento.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_template import paths
from mlops_template.config import Params, load_params
from mlops_template.data.schema import SchemaSpec, load_spec
from mlops_template.lineage import file_md5, git_sha
from mlops_template.model_io import load_metadata, load_model

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
SCHEMA_FILE = "schema.yaml"
BUILD_DIR = Path("build/bento")
TAG_FILE = BUILD_DIR / "tag.txt"  # the last built bento tag (make serve, make container read it)
MODEL_TAG_FILE = Path("bento_model_tag.txt")  # the model tag the bento serves (included in the bento)


def lineage_of(root: Path, params: Params) -> dict[str, Any]:
    """Everything that identifies where the model came from (strings/numbers only, JSON-ready)."""
    meta = load_metadata(root / paths.MODEL_METADATA)
    metrics_path = root / paths.METRICS
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.exists() else {}
    mlflow_info = meta.get("mlflow") or {}
    release_path = root / paths.RELEASE_RECORD  # written by `make release-register` before `make bento`
    release = json.loads(release_path.read_text(encoding="utf-8")) if release_path.exists() else {}
    if release.get("version"):
        mlflow_info |= {"registered_model_name": release["name"], "registered_version": release["version"]}
    trained = meta.get("lineage") or {}
    return {
        "model_md5": file_md5(root / paths.MODEL),
        "git_sha": trained.get("git_sha", "unknown"),
        "build_git_sha": git_sha(root),
        "data_md5": trained.get("data_md5", "unknown"),
        "data_source": trained.get("data_source", params.data.source),
        "mlflow_run_id": mlflow_info.get("run_id"),
        "mlflow_model_uri": mlflow_info.get("model_uri"),
        "mlflow_registered_model": mlflow_info.get("registered_model_name"),
        "mlflow_model_version": mlflow_info.get("registered_version") or mlflow_info.get("version"),
        "test_metrics": metrics,
    }


def labels_of(lineage: dict[str, Any]) -> dict[str, str]:
    """BentoML labels: the scalar lineage fields as strings (metrics stay in the metadata)."""
    return {k: str(v) for k, v in lineage.items() if v is not None and not isinstance(v, dict)}


def import_model(root: Path, params: Params) -> str:
    """Import ``models/`` of ``root`` into the BentoML model store; return the model tag."""
    import bentoml
    from bentoml.exceptions import NotFound

    model_path = root / paths.MODEL
    if not model_path.exists():
        raise FileNotFoundError(f"{model_path}: no trained model (run `make repro` first)")
    lineage = lineage_of(root, params)
    version = lineage["model_md5"][:16]
    tag = f"{params.serving.model_name}:{version}"
    try:
        return str(bentoml.models.get(tag).tag)
    except NotFound:
        pass
    meta = load_metadata(root / paths.MODEL_METADATA)
    meta.update({"lineage": {**meta.get("lineage", {}), **lineage}, "threshold": params.evaluate.threshold})
    with bentoml.models.create(
        tag,
        module="mlops_template.serving",
        labels=labels_of(lineage),
        metadata={k: v for k, v in lineage.items() if v is not None},
    ) as model:
        target = Path(model.path)
        shutil.copy2(model_path, target / MODEL_FILE)
        (target / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True, default=str), encoding="utf-8")
        shutil.copy2(root / params.data.schema_path, target / SCHEMA_FILE)
    return str(model.tag)


@dataclass(frozen=True)
class LoadedModel:
    tag: str
    pipeline: Any
    metadata: dict[str, Any]
    spec: SchemaSpec

    @property
    def features(self) -> list[str]:
        return list(self.metadata["features"])


def load_stored(path: str | Path, tag: str) -> LoadedModel:
    """Load a stored model from its folder in the model store."""
    folder = Path(path)
    return LoadedModel(
        tag=tag,
        pipeline=load_model(folder / MODEL_FILE),
        metadata=load_metadata(folder / METADATA_FILE),
        spec=load_spec(folder / SCHEMA_FILE),
    )


def build_bento(root: Path, params: Params) -> str:
    """Import the model, pin its tag for the service, ``bentoml build``; return the bento tag."""
    import bentoml

    model_tag = import_model(root, params)
    (root / MODEL_TAG_FILE).write_text(model_tag + "\n", encoding="utf-8")
    lineage = lineage_of(root, params)
    bento = bentoml.bentos.build_bentofile(
        str(root / "bentofile.yaml"),
        build_ctx=str(root),
        name=params.serving.name,
        labels={"model_tag": model_tag.replace(":", "-"), **labels_of(lineage)},
    )
    (root / TAG_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / TAG_FILE).write_text(f"{bento.tag}\n", encoding="utf-8")
    return str(bento.tag)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path.cwd()
    params = load_params(root / "params.yaml")
    if args == ["import"]:
        print(import_model(root, params))
        return 0
    tag = build_bento(root, params)
    print(f"bento: {tag} (written to {TAG_FILE})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
