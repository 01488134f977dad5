"""Bad input stops `make repro` (cli repro) with a message naming the problem, and loses nothing."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlops_template.core.lineage import file_md5
from tests.fixtures.bad_data import BAD_CASES, expected_column
from tests.support import run

pytestmark = pytest.mark.slow

GUARDED = [
    "dvc.lock",
    "models/model.joblib",
    "models/metadata.json",
    "metrics/metrics.json",
    "metrics/predictions.csv",
    "data/raw/data.parquet",
    "plots/roc.csv",
]


def _snapshot(repo: Path) -> dict[str, str]:
    return {rel: file_md5(repo / rel) for rel in GUARDED}


def _copy(trained_repo: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    return repo


def _set_params(repo: Path, change: Callable[[dict], None]) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    change(params)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _use_source(repo: Path, rel: str) -> None:
    def change(p: dict) -> None:
        p["data"]["source"] = rel

    _set_params(repo, change)


def _repro(repo: Path):
    return run(["mlops", "repro"], cwd=repo, check=False)


def _assert_failed_and_untouched(result, repo: Path, before: dict[str, str], *needles: str) -> None:
    assert result.returncode != 0, result.stdout
    text = result.stdout + result.stderr
    for needle in needles:
        assert needle in text, f"{needle!r} not in output:\n{text}"
    assert "Traceback" not in text, text
    assert _snapshot(repo) == before


@pytest.mark.parametrize(("name", "make_bad", "column", "check"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_data_stops_at_validation(name, make_bad, column, check, trained_repo: Path, tmp_path: Path) -> None:
    repo = _copy(trained_repo, tmp_path)
    before = _snapshot(repo)
    good = pd.read_parquet(repo / "data/raw/data.parquet")
    feature = "mean_radius"
    bad = make_bad(good, "target", "id", feature)
    bad.to_csv(repo / "data/source/bad.csv", index=False)
    _use_source(repo, "data/source/bad.csv")
    result = _repro(repo)
    _assert_failed_and_untouched(
        result, repo, before, "Data validation FAILED", str(expected_column(column, "target", feature)), check
    )
    assert "Running stage 'train'" not in result.stdout
    assert "FAILED" in (repo / "reports/validation.md").read_text()


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("empty file", b"", "is empty"),
        ("unreadable file", b"\x00\x01PAR1 definitely not parquet\xff", "cannot read"),
    ],
)
def test_unreadable_source_stops_at_extract(
    name, content: bytes, needle: str, trained_repo: Path, tmp_path: Path
) -> None:
    repo = _copy(trained_repo, tmp_path)
    before = _snapshot(repo)
    suffix = ".csv" if name == "empty file" else ".parquet"
    (repo / f"data/source/bad{suffix}").write_bytes(content)
    _use_source(repo, f"data/source/bad{suffix}")
    _assert_failed_and_untouched(_repro(repo), repo, before, "data.source", needle)


def test_wrong_source_path(trained_repo: Path, tmp_path: Path) -> None:
    repo = _copy(trained_repo, tmp_path)
    before = _snapshot(repo)
    _use_source(repo, "data/source/nope.csv")
    _assert_failed_and_untouched(_repro(repo), repo, before, "file not found", "data/source/nope.csv")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda p: p["model"].update(typo_key=1), "model.typo_key: unknown key"),
        (lambda p: p["split"].update(test_size="a fifth"), "split.test_size"),
    ],
    ids=["unknown key", "wrong type"],
)
def test_invalid_params_named_before_anything_runs(change, needle: str, trained_repo: Path, tmp_path: Path) -> None:
    repo = _copy(trained_repo, tmp_path)
    before = _snapshot(repo)
    _set_params(repo, change)
    result = _repro(repo)
    _assert_failed_and_untouched(result, repo, before, needle)
    assert "Running stage" not in result.stdout


def test_plain_dvc_repro_also_names_the_bad_key(trained_repo: Path, tmp_path: Path) -> None:
    repo = _copy(trained_repo, tmp_path)
    _set_params(repo, lambda p: p["data"].update(sorce="x"))
    result = run(["dvc", "repro"], cwd=repo, check=False)
    assert result.returncode != 0
    assert "data.sorce: unknown key" in result.stdout + result.stderr


def test_a_task_the_labels_cannot_train_stops_at_validation(trained_repo: Path, tmp_path: Path) -> None:
    """The demo's two classes declared multiclass (a held-out slice of a 3-class table looks the same): validate
    names the target and the fix; train never runs into scikit-learn's traceback."""
    repo = _copy(trained_repo, tmp_path)
    before = _snapshot(repo)
    _set_params(repo, lambda p: p.update(task="multiclass"))
    result = _repro(repo)
    _assert_failed_and_untouched(
        result, repo, before, "Data validation FAILED", "| target | task multiclass", "`task: binary`"
    )
    assert "Running stage 'train'" not in result.stdout
