"""Main's pins written on another machine (a laptop, a runner with another CPU): the model pickle and the
predictions' last digits differ from what this machine produces. The affected paths still work, for real (DVC,
the pipeline, the Make targets):

- main-cache.yml's ``make dvc-pin-map`` maps the committed pins to the md5s produced here, and the PR baseline
  fetch finds main's model through it instead of rebuilding (without the map it cannot);
- ``make release-materialize`` (no remote) rebuilds and accepts the model as **equivalent**: its predictions on
  the pinned test rows agree with the pinned ones (scores perturbed by ~1e-12) within the tolerance, labels
  identical; the record names both hashes. Without the pinned predictions anywhere here, the committed metrics
  and plots decide.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_template.core.lineage import file_md5, locked_outs
from mlops_template.experiment import baseline
from tests.support import env_with_venv, git, run

pytestmark = pytest.mark.slow

MODEL, PREDICTIONS = "models/model.joblib", "metrics/predictions.csv"


def _cache_object(repo: Path, md5: str) -> Path:
    return repo / ".dvc/cache/files/md5" / md5[:2] / md5[2:]


@pytest.fixture(scope="module")
def laptop(trained_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A copy of the trained project whose committed dvc.lock pins another machine's model and predictions
    (scores off by ~1e-12; the laptop's predictions are in the DVC cache, as a pull or main's cache puts them)."""
    repo = tmp_path_factory.mktemp("laptop") / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "this machine's run", "--allow-empty")  # HEAD: what this machine produces
    here = locked_outs((repo / "dvc.lock").read_text())
    preds = pd.read_csv(repo / PREDICTIONS)
    rng = np.random.default_rng(0)
    preds["score"] = (preds["score"] + rng.choice([-1e-12, 1e-12], len(preds))).clip(0.0, 1.0)
    text = preds.to_csv(index=False).encode()
    laptop_pins = {MODEL: hashlib.md5(b"the model as pickled on a laptop").hexdigest(), PREDICTIONS: ""}
    laptop_pins[PREDICTIONS] = hashlib.md5(text).hexdigest()
    assert laptop_pins[PREDICTIONS] != here[PREDICTIONS]
    obj = _cache_object(repo, laptop_pins[PREDICTIONS])
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(text)
    lock = (repo / "dvc.lock").read_text()
    for rel in (MODEL, PREDICTIONS):  # every mention (train's outs, evaluate's deps), as that machine wrote them
        lock = lock.replace(here[rel], laptop_pins[rel])
    (repo / "dvc.lock").write_text(lock)
    git(repo, "commit", "-qam", "dvc.lock from a laptop")
    return {"repo": repo, "here": here, "laptop": laptop_pins}


def _make(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    # SETUP= RUN=: use this venv (on PATH), never sync one into the copy
    result = run(["make", "SETUP=", "RUN=", *args], cwd=repo, env=env, timeout=900)
    return result.stdout + result.stderr


def test_the_baseline_fetch_finds_mains_model_through_main_caches_pin_map(
    laptop: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, here, pins = Path(str(laptop["repo"])), dict(laptop["here"]), dict(laptop["laptop"])  # type: ignore[call-overload]
    monkeypatch.setenv("PATH", env_with_venv()["PATH"])
    sha = git(repo, "rev-parse", "HEAD").strip()
    # main's model by main's pins: not in the cache (this machine's bytes are there, under other md5s)
    with pytest.raises(baseline.BaselineError, match="not in the DVC cache or remote"):
        baseline.get_baseline(sha, repo=repo, cache_root=tmp_path / "before", rebuild=False)
    # main-cache.yml: make repro, then make dvc-pin-map
    run(["dvc", "repro", "--quiet"], cwd=repo)
    out = _make(repo, "dvc-pin-map")
    assert f"{MODEL}: dvc.lock pins {pins[MODEL]}, this runner produced {here[MODEL]}" in out, out
    entry = json.loads((repo / ".dvc/cache/pin-map" / pins[MODEL]).read_text())
    assert entry == {"path": MODEL, "pinned": pins[MODEL], "md5": here[MODEL]}
    found = baseline.get_baseline(sha, repo=repo, cache_root=tmp_path / "after", rebuild=False)
    assert found.source == baseline.SOURCE_MAPPED
    assert file_md5(found.path("model.joblib")) == here[MODEL]
    git(repo, "checkout", "--", "dvc.lock")


def test_release_materialize_accepts_the_rebuilt_model_as_equivalent(laptop: dict[str, object]) -> None:
    repo, here, pins = Path(str(laptop["repo"])), dict(laptop["here"]), dict(laptop["laptop"])  # type: ignore[call-overload]
    env = {k: v for k, v in env_with_venv().items() if k not in ("DVC_REMOTE_URL", "MLFLOW_TRACKING_URI")}
    out = _make(repo, "release-materialize", env=env)
    assert f"WARNING {MODEL}: md5 {here[MODEL]}, dvc.lock pins {pins[MODEL]}: equivalent, not identical" in out, out
    assert "the model is equivalent" in out and "scores within 1e-09" in out
    record = json.loads((repo / ".cache/release/release.json").read_text())
    assert (record["model_verdict"], record["materialized"]) == ("equivalent", "rebuilt")
    assert record["outputs"][PREDICTIONS] == {
        "pinned": pins[PREDICTIONS], "actual": here[PREDICTIONS], "verdict": "equivalent", "source": "rebuilt"
    }  # fmt: skip
    assert record["outputs"]["data/split/test.parquet"]["verdict"] == "identical"
    assert record["prediction_equivalent"] == {MODEL: here[MODEL], PREDICTIONS: here[PREDICTIONS]}
    assert (repo / "dvc.lock").read_text() == git(repo, "show", "HEAD:dvc.lock")  # main's pins, for /metadata

    # The pinned predictions nowhere here (no remote, evicted cache): the committed metrics and plots decide.
    _cache_object(repo, pins[PREDICTIONS]).unlink()
    out = _make(repo, "release-materialize", env=env)
    assert "the model is equivalent" in out and "committed evidence" in out, out
