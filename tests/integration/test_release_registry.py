"""The release's model-registry side against a real `mlflow server`: register, champion alias, rollback."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import joblib
import pytest
import yaml

from mlops_template.core.config import load_params
from mlops_template.core.lineage import file_md5
from mlops_template.core.model_card import TrainingRun, load_card, load_training_run
from mlops_template.core.tracking import log_training_run
from mlops_template.ops.release import registry
from mlops_template.ops.release.plan import ReleaseError
from tests.support import env_with_venv, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def release_repo(trained_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable copy of the trained project whose registered model name is unique to this module."""
    repo = tmp_path_factory.mktemp("release") / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    params_path = repo / "params.yaml"
    raw = yaml.safe_load(params_path.read_text())
    raw["mlflow"]["registered_model_name"] = f"release-test-{uuid.uuid4().hex[:8]}"
    params_path.write_text(yaml.safe_dump(raw))
    return repo


@pytest.fixture
def at_server(mlflow_server: str, monkeypatch: pytest.MonkeyPatch, release_repo: Path) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.chdir(release_repo)
    return mlflow_server


def release_cli(repo: Path, server: str, *args: str, check: bool = True) -> str:
    result = run(
        ["mlops", "release", *args],
        cwd=repo,
        env=env_with_venv({"MLFLOW_TRACKING_URI": server}),
        check=check,
    )
    return result.stdout + result.stderr


def test_register_promote_rollback(at_server: str, release_repo: Path) -> None:
    from mlflow.tracking import MlflowClient

    params = load_params(release_repo / "params.yaml").mlflow
    client = MlflowClient(at_server)
    card = load_card(release_repo / "models/metadata.json")
    trained = load_training_run(release_repo / ".cache/run/training_run.json", release_repo / "models/model.joblib")
    assert trained is not None and trained.tracking_uri != at_server  # trained offline: register logs it to the server

    # the CLI, as `make release-register` runs it
    out = release_cli(release_repo, at_server, "register")
    record = json.loads((release_repo / ".cache/release/release.json").read_text())
    first = record["version"]
    assert f"version {first}" in out
    mv = client.get_model_version(params.registered_model_name, first)
    # the commit released (this copy is dirty: the fixture renamed the registered model in params.yaml)
    assert mv.tags["git_sha"] == record["git_sha"]
    assert record["git_sha"].removesuffix("-dirty") == trained.git_sha.removesuffix("-dirty")
    assert mv.tags["data_md5"] == card.data.data_md5 == record["data_md5"]
    assert record["dvc_outs"]["models/model.joblib"] == mv.tags["model_md5"]
    run_on_server = client.get_run(mv.run_id)
    assert run_on_server.data.tags["git_sha"] == mv.tags["git_sha"]

    # re-running the release registers nothing new
    assert registry.register(params).version == first
    assert len(client.search_model_versions(f"name='{params.registered_model_name}'")) == 1

    assert registry.champion(params) is None
    out = release_cli(release_repo, at_server, "promote")
    assert f"unset -> {first}" in out
    assert registry.champion(params) == first

    # a second model file (same estimator, different bytes) becomes a new version
    model_path = release_repo / "models/model.joblib"
    joblib.dump(joblib.load(model_path), model_path, compress=3)
    second = registry.register(params).version
    assert int(second) == int(first) + 1
    out = release_cli(release_repo, at_server, "promote", "--version", second)
    assert registry.champion(params) == second
    # the version it replaced is recorded (alias + release record): undoing the release is one step
    assert registry.champion(params, registry.PREVIOUS) == first
    assert json.loads((release_repo / ".cache/release/release.json").read_text())["previous_champion"] == first
    out = release_cli(release_repo, at_server, "rollback")
    assert f"@champion: {second} -> {first}" in out
    assert (registry.champion(params), registry.champion(params, registry.PREVIOUS)) == (first, second)
    previous, _ = registry.promote(params, second)
    assert (previous, registry.champion(params)) == (first, second)
    release_cli(release_repo, at_server, "tag-version", "--version", second, "--image", "ghcr.io/o/r:model-2")

    # rollback: champion goes back, and the image to redeploy is the version's model-<N> tag
    out = release_cli(
        release_repo, at_server, "rollback", "--version", first, "--image-repo", "ghcr.io/o/r", "--output", "rb.json"
    )
    assert registry.champion(params) == first
    assert f"image=ghcr.io/o/r:model-{first}" in out
    assert json.loads((release_repo / "rb.json").read_text()) == {
        "image": f"ghcr.io/o/r:model-{first}",
        "bento": "",
        "version": first,
    }
    # rolling forward again uses the image recorded on the version
    out = release_cli(release_repo, at_server, "rollback", "--version", second)
    assert "image=ghcr.io/o/r:model-2" in out
    assert registry.champion(params) == second

    listing = release_cli(release_repo, at_server, "versions")
    assert "champion" in listing.splitlines()[1]

    # an unknown version is refused, naming what exists; the alias does not move
    out = release_cli(release_repo, at_server, "rollback", "--version", "99", check=False)
    assert "has no version '99'" in out
    assert f"[{first}, {second}]" in out
    assert registry.champion(params) == second
    with pytest.raises(ReleaseError, match="positive integer"):
        registry.promote(params, "latest")


def test_register_reuses_the_training_run_on_the_same_server(at_server: str, release_repo: Path) -> None:
    """When training already logged to this server, the release registers that run's model (no second run)."""
    params = load_params(release_repo / "params.yaml").mlflow.model_copy(
        update={"registered_model_name": f"reuse-{uuid.uuid4().hex[:8]}"}
    )
    model_path = release_repo / "models/model.joblib"
    info = log_training_run(params, {"seed": 1}, {"train_roc_auc": 1.0}, {"git_sha": "abc"}, joblib.load(model_path))
    run_path = release_repo / "run-on-server.json"
    TrainingRun(**info, git_sha="abc", model_md5=file_md5(model_path)).write(run_path)
    release = registry.register(params, model_path=model_path, run_path=run_path)
    assert release.run_id == info["run_id"]
    assert release.version == "1"


@pytest.fixture
def shadow_repo(trained_repo: Path, tmp_path: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project copy with its own registered model name, at the server."""
    repo = tmp_path / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["mlflow"]["registered_model_name"] = f"shadow-test-{uuid.uuid4().hex[:8]}"
    (repo / "params.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.chdir(repo)
    return repo


def test_promote_challenger_refuses_a_worse_one_and_promotes_a_better_one(
    shadow_repo: Path, mlflow_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlops_template.cli import main as mlops
    from mlops_template.ops.monitoring.shadow import shadow_block
    from tests.unit.test_shadow import traffic, write_summary

    params = load_params(shadow_repo / "params.yaml")
    champion = registry.register(params.mlflow).version
    registry.promote(params.mlflow, champion)
    # the champion's own model is no challenger (`make register-challenger` = register + promote --alias challenger)
    assert mlops(["release", "promote", "--alias", "challenger", "--version", champion]) == 1
    assert "is the champion already" in capsys.readouterr().err
    assert registry.champion(params.mlflow, "challenger") is None
    model_path = shadow_repo / "models/model.joblib"
    joblib.dump(joblib.load(model_path), model_path, compress=3)  # another model file
    challenger = registry.register(params.mlflow).version
    assert mlops(["release", "promote", "--alias", "challenger", "--version", challenger]) == 0
    assert registry.champion(params.mlflow, "challenger") == challenger != champion

    summary = shadow_repo / "reports/monitor/summary.json"
    lines, labels = traffic(600, champion_noise=0.5, challenger_noise=3.0)  # live traffic: the challenger is worse
    write_summary(summary, shadow_block(lines, labels, params))
    result = run(
        ["mlops", "release", "promote-challenger"],
        cwd=shadow_repo,
        env=env_with_venv({"MLFLOW_TRACKING_URI": mlflow_server}),
        check=False,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "refused (worse)" in result.stderr and "roc_auc" in result.stderr and "margin" in result.stderr
    assert "600 labelled pairs" in result.stderr
    assert (registry.champion(params.mlflow), registry.champion(params.mlflow, "challenger")) == (champion, challenger)

    lines, labels = traffic(600, champion_noise=3.0, challenger_noise=0.5)  # now it is better
    write_summary(summary, shadow_block(lines, labels, params))
    assert mlops(["release", "promote-challenger"]) == 0
    out = capsys.readouterr().out
    assert f"@champion: {champion} -> {challenger}" in out and "challenger better" in out
    # it says that the service has not changed, and what deploys the promoted model (its model file named)
    assert "only the MLflow aliases moved" in out and "release.yml" in out, out
    assert f"model_md5 {file_md5(model_path)}" in out, out
    assert registry.champion(params.mlflow) == challenger
    assert registry.champion(params.mlflow, registry.PREVIOUS) == champion
    assert registry.champion(params.mlflow, "challenger") is None
    # twice: nothing left to promote, said plainly
    assert mlops(["release", "promote-challenger"]) == 1
    assert "has no `challenger` alias" in capsys.readouterr().err
    assert registry.champion(params.mlflow) == challenger
