"""The MLflow model registry side of a release: register the trained model, move the ``champion`` alias, roll back,
and promote the shadow ``challenger`` (docs/continuous-training.md).

The tracking server comes from ``MLFLOW_TRACKING_URI`` (else params ``mlflow.tracking_uri``), as in training.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlops_template.core import paths
from mlops_template.core.config import MlflowParams
from mlops_template.core.lineage import file_md5, git_sha
from mlops_template.core.model_card import ModelCard, TrainingRun, load_card, load_training_run
from mlops_template.core.tracking import log_training_run, tracking_uri
from mlops_template.ops.release.plan import ReleaseError, model_version_tag

CHAMPION = "champion"
PREVIOUS = "previous-champion"  # where `champion` pointed before the last move: `make rollback` with no VERSION
CHALLENGER = "challenger"  # scored in shadow on live traffic; `make promote-challenger` makes it the champion
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRelease:
    """One registered model version and the lineage it carries."""

    name: str
    version: str
    run_id: str
    model_uri: str
    git_sha: str
    data_md5: str
    model_md5: str
    tracking_uri: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _client(uri: str) -> Any:
    import mlflow
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def _run_exists(client: Any, run_id: str | None) -> bool:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return False
    try:
        client.get_run(run_id)
    except MlflowException:
        return False
    return True


def _logged_run(params: MlflowParams, card: ModelCard, model_path: Path, run_path: Path, client: Any) -> TrainingRun:
    """The training run on this server: the one training logged, or a new run holding the same model."""
    trained = load_training_run(run_path, model_path)
    uri = tracking_uri(params)
    if trained is not None and trained.tracking_uri == uri and _run_exists(client, trained.run_id):
        return trained
    where = trained.tracking_uri if trained else "another machine (outputs pulled or rebuilt)"
    log.info("the model was trained against %s; logging it to %s", where, uri)
    from mlops_template.core.model_io import (
        load_model,  # scikit-learn: only when a model is logged, not for every command
    )

    sha = git_sha()
    info = log_training_run(
        params,
        run_params={"model.type": card.model_type, "task": card.task, "seed": card.seed}
        | {f"model.{card.model_type}.{k}": v for k, v in card.hyperparameters.items()},
        metrics={f"train_{k}": float(v) for k, v in card.train_metrics.items()},
        tags={"git_sha": sha, "data_md5": card.data.data_md5, "stage": "release"},
        model=load_model(model_path),
    )
    return TrainingRun(**info, git_sha=sha, model_md5=file_md5(model_path))


def register(
    params: MlflowParams,
    model_path: Path = paths.MODEL,
    metadata_path: Path = paths.MODEL_METADATA,
    run_path: Path = paths.TRAINING_RUN,
) -> ModelRelease:
    """Register the pipeline's model as a new version of ``params.registered_model_name`` (idempotent per model)."""
    import mlflow

    uri = tracking_uri(params)
    client = _client(uri)
    card = load_card(metadata_path)
    name = params.registered_model_name
    model_md5 = file_md5(model_path)
    # The same model file is registered once, however often the release is re-run.
    existing = client.search_model_versions(f"name='{name}' and tags.model_md5='{model_md5}'")
    if existing:
        mv = max(existing, key=lambda v: int(v.version))
        version, run_id, model_uri = str(mv.version), str(mv.run_id), str(mv.source)
        sha = str((mv.tags or {}).get("git_sha") or git_sha())
    else:
        info = _logged_run(params, card, model_path, run_path, client)
        run_id, model_uri, sha = info.run_id, info.model_uri, info.git_sha
        version = str(mlflow.register_model(model_uri, name, await_registration_for=60).version)
    release = ModelRelease(
        name=name,
        version=version,
        run_id=run_id,
        model_uri=model_uri,
        git_sha=sha,
        data_md5=card.data.data_md5,
        model_md5=model_md5,
        tracking_uri=uri,
    )
    for key in ("git_sha", "data_md5", "model_md5"):
        client.set_model_version_tag(name, version, key, getattr(release, key))
    return release


def set_version_tags(params: MlflowParams, version: str, tags: dict[str, str]) -> None:
    """Record release facts (image references, bento tag) on a model version."""
    client = _client(tracking_uri(params))
    _require_version(client, params.registered_model_name, version)
    for key, value in tags.items():
        client.set_model_version_tag(params.registered_model_name, version, key, value)


def _require_version(client: Any, name: str, version: str) -> dict[str, str]:
    from mlflow.exceptions import MlflowException

    try:
        mv = client.get_model_version(name, str(version))
    except MlflowException:
        known = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
        raise ReleaseError(
            f"model {name!r} has no version {version!r} (registered versions: {known or 'none'})"
        ) from None
    return dict(mv.tags or {})


def champion(params: MlflowParams, alias: str = CHAMPION) -> str | None:
    """The version the alias points at, or None when it is not set."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri(params))
    try:
        return str(client.get_model_version_by_alias(params.registered_model_name, alias).version)
    except MlflowException:
        return None


def promote(params: MlflowParams, version: str, alias: str = CHAMPION) -> tuple[str | None, dict[str, str]]:
    """Point ``alias`` at ``version`` (which must exist); return (previous version or None, the version's tags).

    Used for a release (the new version) and for a rollback (an earlier one): both are the same move. The version
    the alias left is kept as ``previous-champion``, so undoing the move is one step (``make rollback``).
    """
    model_version_tag(version)  # a positive integer, or ReleaseError
    client = _client(tracking_uri(params))
    name = params.registered_model_name
    tags = _require_version(client, name, version)
    previous = champion(params, alias)
    if previous is not None and previous != str(version) and alias == CHAMPION:
        client.set_registered_model_alias(name, PREVIOUS, previous)
    client.set_registered_model_alias(name, alias, str(version))
    return previous, tags


def promote_challenger(params: MlflowParams) -> tuple[str | None, str, dict[str, str]]:
    """``champion`` -> the ``challenger``'s version (the old champion becomes ``previous-champion``, as in a
    release), and the ``challenger`` alias goes. Only the aliases move: the service changes with the next release
    (docs/continuous-training.md). Returns (previous champion or None, new champion, the new champion's tags)."""
    version = champion(params, CHALLENGER)
    if version is None:
        raise ReleaseError(
            f"model {params.registered_model_name!r} has no `{CHALLENGER}` alias: register one with "
            "`make register-challenger` (see `make model-versions`)"
        )
    current = champion(params)
    if current == version:
        raise ReleaseError(f"the challenger is already the champion (version {version}): nothing to promote")
    previous, tags = promote(params, version, CHAMPION)
    _client(tracking_uri(params)).delete_registered_model_alias(params.registered_model_name, CHALLENGER)
    return previous, version, tags


def list_versions(params: MlflowParams) -> list[dict[str, str]]:
    """Every version of the registered model, newest first, with its aliases and release tags."""
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri(params))
    name = params.registered_model_name
    try:
        aliases = client.get_registered_model(name).aliases or {}
    except MlflowException:  # no such model yet
        return []
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    rows = []
    for mv in sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: -int(v.version)):
        tags = dict(mv.tags or {})
        rows.append(
            {
                "version": str(mv.version),
                "aliases": ",".join(sorted(by_version.get(str(mv.version), []))),
                "git_sha": tags.get("git_sha", ""),
                "image": tags.get("image", ""),
                "run_id": mv.run_id or "",
            }
        )
    return rows
