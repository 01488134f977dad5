"""The three wings' import contract (pyproject.toml [tool.importlinter], run by `make lint`) holds, and it
really fails when the core imports operations or when two modules import each other."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tmp: Path, edit: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """lint-imports on a copy of src/ (with ``edit``: module path -> a line appended) and the repo's contract."""
    src = tmp / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    for rel, line in (edit or {}).items():
        with (src / "mlops_template" / rel).open("a", encoding="utf-8") as f:
            f.write(f"\n{line}\n")
    shutil.copy(ROOT / "pyproject.toml", tmp / "pyproject.toml")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=tmp, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    return _lint(tmp_path_factory.mktemp("clean"))


def test_the_package_keeps_every_contract(clean: subprocess.CompletedProcess[str]) -> None:
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "0 broken" in clean.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("core/features.py", "import mlops_template.ops.serving.predictor", "three wings"),
        ("core/config.py", "import mlops_template.experiment.compare", "three wings"),
        ("experiment/compare.py", "import mlops_template.ops.monitoring.performance", "three wings"),
        ("ops/serving/store.py", "import mlops_template.ops.release.plan", "operations"),
        ("core/metric_catalogue.py", "import mlops_template.core.config", "the ML core"),
        ("core/estimators.py", "import mlops_template.core.config", "the ML core"),
        ("core/metric_kernels.py", "import mlops_template.core.metric_catalogue", "the ML core"),
    ],
)
def test_an_upward_import_breaks_the_contract(tmp_path: Path, module: str, line: str, broken: str) -> None:
    result = _lint(tmp_path, {module: line})
    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout, result.stdout


def test_a_cycle_between_siblings_breaks_the_contract(tmp_path: Path) -> None:
    # experiment.report already imports experiment.compare; the reverse closes a cycle inside one wing
    result = _lint(tmp_path, {"experiment/compare.py": "import mlops_template.experiment.report"})
    assert result.returncode != 0
    assert "no import cycles" in result.stdout and "BROKEN" in result.stdout, result.stdout
