"""dvc.yaml declares every dependency each stage really has, and names its data paths from paths.py.

For each stage ``python -m mlops_template.core.stages.X``, the project modules it imports (transitively, within
src/mlops_template, lazy imports inside functions included) must be exactly the ``src/`` deps of the stage:
a missing one means a code change would not re-run the stage (and dvc.lock would not notice), an extra
one re-runs it for nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_template.core import paths
from tests.support import REPO_ROOT

SRC = REPO_ROOT / "src"
PACKAGE = "mlops_template"


def module_file(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Project modules named by the import statements of one file (the most specific module each names)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [n if module_file(n) else node.module for n in names]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] == PACKAGE and module_file(n)}
    return found


def closure(module: str) -> set[Path]:
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        file = module_file(name)
        assert file is not None, name
        todo += sorted(imported_modules(file) - seen)
    return {module_file(n).relative_to(REPO_ROOT) for n in seen}  # type: ignore[union-attr]


def dvc_stages() -> dict[str, Any]:
    stages: dict[str, Any] = yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return stages


def entry_module(cmd: str) -> str:
    parts = cmd.split()
    assert parts[:3] == ["python", "-m", parts[2]] and parts[2].startswith(f"{PACKAGE}.core.stages."), cmd
    return parts[2]


@pytest.mark.parametrize("stage", sorted(dvc_stages()))
def test_stage_deps_are_exactly_the_modules_it_imports(stage: str) -> None:
    spec = dvc_stages()[stage]
    declared = {Path(d) for d in spec.get("deps", []) if str(d).startswith("src/")}
    needed = closure(entry_module(spec["cmd"]))
    missing, extra = sorted(map(str, needed - declared)), sorted(map(str, declared - needed))
    assert not missing and not extra, (
        f"dvc.yaml stage {stage!r}: add to deps {missing} (imported, so a change must re-run the stage); "
        f"remove {extra} (not imported)"
    )


def test_the_import_walk_follows_lazy_and_package_imports(tmp_path: Path) -> None:
    file = tmp_path / "m.py"
    file.write_text(
        "import os\nfrom mlops_template.core import paths\ndef f():\n    from mlops_template.core.stages import log\n",
        encoding="utf-8",
    )
    assert imported_modules(file) == {"mlops_template.core.paths", "mlops_template.core.stages"}


def outputs(spec: dict[str, Any]) -> list[str]:
    found = []
    for key in ("outs", "metrics"):
        for out in spec.get(key, []):
            found.append(next(iter(out)) if isinstance(out, dict) else out)
    return found


def test_data_paths_of_dvc_yaml_are_the_ones_in_paths_py() -> None:
    """paths.py is the one place for paths: every output of dvc.yaml is one of its constants and vice versa."""
    declared = {str(v) for k, v in vars(paths).items() if k.isupper() and isinstance(v, Path)}
    outs = {o for spec in dvc_stages().values() for o in outputs(spec)}
    assert outs <= declared, (
        f"outputs of dvc.yaml missing from src/mlops_template/core/paths.py: {sorted(outs - declared)}"
    )
    data_deps = {
        str(d) for spec in dvc_stages().values() for d in spec.get("deps", []) if not str(d).startswith("src/")
    }
    unknown = {d for d in data_deps if d not in declared and not d.endswith((".yaml", ".yml")) and d != "uv.lock"}
    assert not unknown, f"deps of dvc.yaml that are not paths.py constants: {sorted(unknown)}"


def test_library_versions_are_a_dependency_of_train() -> None:
    """A scikit-learn bump changes the model: it must re-run `train`, so the PR's lock check asks for a new dvc.lock."""
    assert "uv.lock" in dvc_stages()["train"]["deps"]
