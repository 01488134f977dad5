"""`make pr-push` on a pull request from a fork: GitHub passes it no secrets, so it pushes nothing and says so in a
notice and in the job summary (the push itself, on moto's S3, is in tests/integration/test_dvc_remote_act.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts/pr/dvc-push.sh"


def test_a_fork_pr_skips_the_push_with_a_notice_and_says_so_in_the_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {
        "PATH": os.environ["PATH"],
        "PR_FROM_FORK": "true",
        "DVC_REMOTE_URL": "s3://team-bucket/project",
        "GITHUB_STEP_SUMMARY": str(summary),
        "UV": str(tmp_path / "no-uv-must-run"),  # nothing may run DVC
    }
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("::notice::pr-push: skipped: a pull request from a fork gets no credentials")
    assert "not pushed" in result.stdout and "rebuilds them" in result.stdout
    assert "DVC remote:" in summary.read_text(encoding="utf-8") and "fork" in summary.read_text(encoding="utf-8")
