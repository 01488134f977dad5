"""The template's machinery is really out of the product: in a copy of the project without the test harness
(.ci/emulation) and without benchmarks/, `make repro test-fast bento` passes (.ci/README.md, "Deleting it")."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.integration.test_walkthrough import _uv
from tests.support import env_with_venv, run

pytestmark = pytest.mark.slow


def test_repro_test_fast_and_bento_pass_without_the_harness_and_benchmarks(trained_repo: Path, tmp_path: Path) -> None:
    # the session's trained copy (its DVC cache makes `make repro` cheap; dvc.yaml still has to resolve
    # every dependency without the two folders)
    repo = tmp_path / "repo"
    shutil.copytree(trained_repo, repo, symlinks=True)
    shutil.rmtree(repo / ".ci" / "emulation")
    shutil.rmtree(repo / "benchmarks")
    env = env_with_venv({"BENTOML_HOME": str(repo / ".bentoml"), "BENTOML_DO_NOT_TRACK": "True"})
    env["PATH"] = f"{env['PATH']}{os.pathsep}{Path(_uv()).parent}"  # bentoml build looks for uv on PATH
    start = time.monotonic()
    # SETUP= RUN=: this session's venv (on PATH) instead of a fresh sync into the copy
    make = ["make", "SETUP=", "RUN=", f"UV={_uv()}"]
    result = run([*make, "repro", "test-fast", "bento"], cwd=repo, env=env, timeout=1500)
    seconds = time.monotonic() - start
    out = result.stdout + result.stderr
    print(f"\nwithout .ci/emulation and benchmarks/: make repro test-fast bento in {seconds:.0f} s")
    passed = re.search(r"(\d+) passed", out)
    assert passed and int(passed.group(1)) > 100, out[-3000:]
    assert not re.search(r"\d+ (failed|error)", out), out[-3000:]
    assert re.search(r"\d+ test files left out: they drive the test harness .ci/emulation", out), out[-3000:]
    assert (repo / "build/bento/tag.txt").read_text().strip().startswith("mlops-template-service:")
    targets = run([*make, "help"], cwd=repo, env=env).stdout
    assert "make bento" in targets and "container-tools" not in targets and "act-pr" not in targets
