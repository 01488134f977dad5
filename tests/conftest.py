"""Fixtures shared by every test folder.

``params``, ``spec`` and ``raw_frame`` are the PROJECT's (params.yaml, data/schema.yaml, its data), for
tests/data and tests/model; tests/unit/conftest.py replaces them with fixtures from tests/fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlops_template.core.config import Params, load_params
from mlops_template.core.data.extract import drop_missing_labels, extract
from mlops_template.core.data.schema import SchemaSpec, load_spec
from tests.support import REPO_ROOT, copy_repo, free_port, run, server

# The test harness (.ci/emulation: act, the GitHub API stand-in, the registry, podman set-up). A fork may delete
# it (.ci/README.md); the test files that use it are then left out, and the run says how many.
HARNESS = REPO_ROOT / ".ci" / "emulation"
_left_out: list[str] = []


def uses_harness(path: Path) -> bool:
    text = path.read_text(encoding="utf-8", errors="replace")
    return "from emulation" in text or "import emulation" in text or ".ci/emulation" in text


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if HARNESS.is_dir() or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    if uses_harness(collection_path):
        _left_out.append(collection_path.name)
        return True
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _left_out:
        terminalreporter.write_line(
            f"{len(_left_out)} test files left out: they drive the test harness .ci/emulation, which is absent "
            f"({', '.join(sorted(_left_out))})"
        )


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(REPO_ROOT / "params.yaml")


@pytest.fixture(scope="session")
def spec(params: Params) -> SchemaSpec:
    return load_spec(REPO_ROOT / params.data.schema_path)


@pytest.fixture(scope="session")
def raw_frame(params: Params) -> pd.DataFrame:
    """The project's data exactly as the extract stage produces it (rows without a label dropped if asked)."""
    d = params.data
    frame = extract(d.source, d.format, d.target, d.id_column)
    return drop_missing_labels(frame, d.target)[0] if d.missing_labels == "drop" else frame


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A fresh git repository holding the project's files (no DVC outputs, no venv)."""
    return copy_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def trained_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project copy where the whole pipeline has run once. Treat as read-only; copy it to change it."""
    repo = copy_repo(tmp_path_factory.mktemp("trained") / "repo")
    run(["dvc", "repro"], cwd=repo)
    return repo


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1 (slow to start: ~40 s on 2 cores), shared by the session."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    cmd = [
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--default-artifact-root",
        str(root / "artifacts"),
        "--workers",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    # 180 s was not enough on a loaded 2-core machine (213 s measured at load average 14)
    with server(cmd, f"{url}/health", cwd=root, log_path=root / "server.log", timeout=420):
        yield url
