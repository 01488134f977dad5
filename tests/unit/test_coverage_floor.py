"""`make test` and `make test-fast` fail when coverage drops under their floors (whole runs only)."""

from __future__ import annotations

import re
import subprocess

from tests.support import REPO_ROOT, env_with_venv


def _dry_run(target: str, *args: str) -> str:
    cmd = ["make", "-n", "--no-print-directory", target, "SETUP=", "RUN=", *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=env_with_venv(), capture_output=True, text=True, check=True).stdout


def _floor(name: str) -> float:
    found = re.search(rf"^{name} \?= ([0-9.]+)$", (REPO_ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert found, f"the Makefile sets no {name}"
    return float(found.group(1))


def test_whole_runs_are_held_to_the_floors() -> None:
    for target, name in (("test", "COV_FLOOR"), ("test-fast", "COV_FLOOR_FAST")):
        line = next(line for line in _dry_run(target).splitlines() if line.startswith("pytest"))
        assert "--cov=mlops_template" in line
        assert f"--cov-fail-under={_floor(name):g}" in line
    # the whole suite runs test-fast's tests and more: its floor is never the lower one
    assert _floor("COV_FLOOR") >= _floor("COV_FLOOR_FAST") > 0


def test_a_chosen_subset_is_not_held_to_the_floor() -> None:
    assert "--cov" not in _dry_run("test-fast", "PYTEST_ARGS=tests/unit/test_coverage_floor.py")
