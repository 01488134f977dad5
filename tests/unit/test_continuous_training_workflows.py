"""Static rules for monitor.yml and retrain.yml (what zizmor and the schema do not check; see
docs/continuous-training.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO_ROOT
from tests.unit.test_pr_workflow_policy import SHA_PIN, make_targets

WORKFLOWS = {name: REPO_ROOT / ".github/workflows" / f"{name}.yml" for name in ("monitor", "retrain")}
# the only jobs that may write, and exactly what they may write
WRITERS = {
    "monitor": {"alert": {"contents": "read", "issues": "write", "actions": "write"}},
    # issues: the fallback issue when GitHub Actions may not create pull requests in the repository
    "retrain": {"publish": {"contents": "write", "pull-requests": "write", "issues": "write"}},
}


def load(name: str) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOWS[name].read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("name", WORKFLOWS)
def test_triggers_schedule_dispatch_and_nothing_that_loops(name: str) -> None:
    on = load(name).get("on", load(name).get(True))  # YAML 1.1 reads `on` as True
    assert set(on) == {"schedule", "workflow_dispatch", "repository_dispatch"}
    assert on["repository_dispatch"]["types"]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_least_privilege_and_no_project_code_where_a_token_writes(name: str) -> None:
    wf = load(name)
    assert wf["permissions"] == {}
    writers = {j: job["permissions"] for j, job in wf["jobs"].items() if "write" in job["permissions"].values()}
    assert writers == WRITERS[name]
    for job in writers:
        runs = [s["run"] for s in wf["jobs"][job]["steps"] if "run" in s]
        assert "make setup" not in runs and all("uv" not in s.get("uses", "") for s in wf["jobs"][job]["steps"])


@pytest.mark.parametrize("name", WORKFLOWS)
def test_steps_are_make_targets_actions_pinned_checkout_without_credentials(name: str) -> None:
    wf, targets = load(name), make_targets()
    for job in wf["jobs"].values():
        assert 0 < job["timeout-minutes"] <= 45
        for step in job["steps"]:
            if "run" in step:
                assert re.fullmatch(r'make [a-z-]+( [A-Z_]+="?[^"\n]*"?)*', step["run"]), step["run"]
                assert step["run"].split()[1] in targets
            elif step["uses"].startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False
    for line in WORKFLOWS[name].read_text(encoding="utf-8").splitlines():
        if "uses:" in line:
            assert SHA_PIN.search(line), line


def test_two_retrains_never_race_and_the_monitor_starts_the_retraining() -> None:
    retrain, monitor = load("retrain"), load("monitor")
    assert retrain["concurrency"] == {"group": "retrain", "cancel-in-progress": False}
    assert "reason" in retrain.get("on", retrain.get(True))["workflow_dispatch"]["inputs"]
    alert = [s["run"] for s in monitor["jobs"]["alert"]["steps"] if "run" in s]
    assert alert[0] == "make monitor-issue" and alert[1].startswith("make retrain-dispatch")
    statuses = "needs.monitor.outputs.status == 'drift' || needs.monitor.outputs.status == 'degraded'"
    assert monitor["jobs"]["alert"]["if"] == "${{ " + statuses + " }}"  # drift and the fifth trigger
    assert monitor["jobs"]["alert"]["env"]["RETRAIN_REASON"] == "${{ needs.monitor.outputs.reason }}"
    labels = "${{ inputs.labels || vars.PREDICTION_LABELS_URL }}"
    assert monitor["jobs"]["monitor"]["env"]["PREDICTION_LABELS"] == labels
    publish = next(s for s in retrain["jobs"]["publish"]["steps"] if s.get("run") == "make retrain-publish")
    token = "${{ steps.app-token.outputs.token || secrets.RETRAIN_TOKEN || github.token }}"
    assert publish["env"]["GITHUB_TOKEN"] == token
    assert (
        "main"
        not in Path(REPO_ROOT / "src/mlops_template/ops/monitoring/retrain.py")
        .read_text()
        .split("BRANCH = ")[1]
        .split("\n")[0]
    )


def test_retrain_reads_the_data_version_and_stale_stages_from_dvc() -> None:
    from mlops_template.ops.monitoring.retrain import _is_stale, raw_md5

    lock = "stages:\n  extract:\n    outs:\n    - path: data/raw/data.parquet\n      md5: abc\n"
    assert raw_md5(lock) == "abc" and raw_md5(None) is None and raw_md5("stages: {}\n") is None
    assert _is_stale({"changed deps": {"params.yaml": {"model": "modified"}}})
    assert _is_stale({"changed deps": {"src/x.py": "modified"}}) and _is_stale({"changed cmd": "x"})
    assert not _is_stale({"changed deps": {"data/split/train.parquet": "deleted"}})  # not checked out: not stale
    assert not _is_stale({"changed outs": {"models/model.joblib": "deleted"}})


def test_retraining_mints_a_github_app_token_per_run_when_an_app_is_configured() -> None:
    """An installation token lasts one hour: the publish job mints one per run with the pinned
    actions/create-github-app-token (behind vars.RETRAIN_APP_ID), scoped to what publishing needs; no stored
    installation token; the PAT secret stays as the second choice."""
    steps = load("retrain")["jobs"]["publish"]["steps"]
    mint = next(s for s in steps if s.get("uses", "").startswith("actions/create-github-app-token@"))
    assert mint["id"] == "app-token" and mint["if"] == "${{ vars.RETRAIN_APP_ID != '' }}"
    assert mint["with"]["client-id"] == "${{ vars.RETRAIN_APP_ID }}"
    assert mint["with"]["private-key"] == "${{ secrets.RETRAIN_APP_PRIVATE_KEY }}"
    assert {k: v for k, v in mint["with"].items() if k.startswith("permission-")} == {
        "permission-contents": "write",
        "permission-pull-requests": "write",
        "permission-issues": "write",
    }
    assert steps.index(mint) < next(i for i, s in enumerate(steps) if s.get("run") == "make retrain-publish")
    standin = REPO_ROOT / ".ci/emulation/act/standins/actions/create-github-app-token/action.yml"
    assert "token" in yaml.safe_load(standin.read_text(encoding="utf-8"))["outputs"]


def test_the_monitor_skips_with_a_notice_when_no_log_is_configured() -> None:
    step = next(s for s in load("monitor")["jobs"]["monitor"]["steps"] if s.get("id") == "monitor")
    assert "--skip-unconfigured" in step["run"]


def test_retrain_pulls_from_the_dvc_remote_before_refreshing_with_every_credential_it_needs() -> None:
    """.dvc-tracked data and main's outputs come from the remote first; an S3-compatible store needs its endpoint,
    a token-authenticated MLflow server its token (issue 17)."""
    job = load("retrain")["jobs"]["retrain"]
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs.index("make setup") < runs.index("make dvc-pull") < runs.index("make retrain-data")
    env = job["env"]
    assert env["MLFLOW_TRACKING_TOKEN"] == "${{ secrets.MLFLOW_TRACKING_TOKEN }}"
    assert env["DVC_REMOTE_URL"] == "${{ vars.DVC_REMOTE_URL }}"
    assert env["DVC_REMOTE_ENDPOINT_URL"] == "${{ vars.DVC_REMOTE_ENDPOINT_URL }}"
    for secret in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
    ):
        assert env[secret] == f"${{{{ secrets.{secret} }}}}"
