"""The PR workflow (.github/workflows/pr.yml) run for real under act, on a pull request built from this project.

A local bare repository plays GitHub (``origin`` with ``main``); the PR branch changes params.yaml; HEAD
is the merge commit, as actions/checkout gives it. Every ``run:`` step runs as written (make targets,
the DVC pipeline, the comparison with main, the gate); only marketplace actions are local stand-ins
that record what they were asked (.ci/emulation/act/standins). Two runs, sharing one Actions-cache store:

1. a harmless change: all three jobs pass, the report reaches ``cml comment update``, the job summary
   and the artifact; the DVC cache is saved.
2. a crippled model, as a fork PR would run it (the token cannot comment): only the experiment job;
   it restores the DVC cache saved by run 1, the gate fails the run, and the report is still in the
   summary and the artifact.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from emulation.act.harness import ActRun, make_pr_repo, pull_request_event, run_workflow, set_param, uv_cache_dir

pytestmark = pytest.mark.slow

WORKFLOW = "pr-experiment"
PR_REPORT = "make pr-report (retrain, compare with main, report)"
JOBS = {
    "lint-unit": f"{WORKFLOW}/lint + unit tests",
    "data": f"{WORKFLOW}/data schema tests",
    "experiment": f"{WORKFLOW}/train, compare with main, report, gate",
}


def harmless(repo: Path) -> None:
    set_param(repo, "model.linear.C", "0.5")


def crippled(repo: Path) -> None:
    """Gradient boosting with one tree that cannot split: constant scores, ROC AUC 0.5."""
    set_param(repo, "model.type", "hist_gradient_boosting")
    set_param(repo, "model.hist_gradient_boosting.max_iter", "1")
    set_param(repo, "model.hist_gradient_boosting.min_samples_leaf", "400")


@pytest.fixture(scope="module")
def uv_cache() -> Path:
    """The machine's uv cache, as setup-uv's restored cache (packages are not downloaded again)."""
    return uv_cache_dir()


@pytest.fixture(scope="module")
def cache_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("actions-cache")


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path, cache_store: Path) -> ActRun:
    work = tmp_path_factory.mktemp("good")
    repo = make_pr_repo(work / "github", harmless, branch="lower-c")
    event = pull_request_event(repo, "main", "lower-c", number=7)
    return run_workflow(repo, event, work / "act", uv_cache_dir=uv_cache, cache_store=cache_store)


@pytest.fixture(scope="module")
def bad_run(good_run: ActRun, tmp_path_factory: pytest.TempPathFactory, uv_cache: Path, cache_store: Path) -> ActRun:
    work = tmp_path_factory.mktemp("bad")
    repo = make_pr_repo(work / "github", crippled, branch="one-tree")
    event = pull_request_event(repo, "main", "one-tree", number=8)
    return run_workflow(
        repo,
        event,
        work / "act",
        jobs=["experiment"],
        uv_cache_dir=uv_cache,
        cache_store=cache_store,
        env={"CML_STANDIN_DENY": "1"},  # a fork PR: GitHub refuses the comment
    )


def artifact_report(run: ActRun) -> str:
    path = run.record_dir / "artifacts" / "pr-report" / "report.md"
    assert path.is_file(), f"no report in the uploaded artifact\n{run.describe()}"
    return path.read_text(encoding="utf-8")


def test_every_job_and_make_target_ran_and_passed(good_run: ActRun) -> None:
    assert good_run.returncode == 0, good_run.describe()
    steps = good_run.steps()
    expected = {
        "lint-unit": ["make setup", "make lint", "make test-unit"],
        "data": ["make setup", "make check-params", "make test-data"],
        "experiment": ["make setup", PR_REPORT, "make pr-summary", "make pr-comment", "make gate"],
    }
    for job, names in expected.items():
        for name in names:
            assert steps.get((JOBS[job], name)) == "Success", f"{job}: {name} -> {steps.get((JOBS[job], name))}"
    log = good_run.log
    assert "All checks passed!" in log  # ruff, inside make lint
    assert "zizmor" in log and "No findings to report" in log
    assert "Running stage 'train'" in log  # the candidate was trained
    assert "reproducing" in log  # main's model was rebuilt (no DVC remote, empty cache: the fork case)
    assert "gate passed" in log


def test_the_report_reached_cml_comment_update(good_run: ActRun) -> None:
    setup = good_run.calls_of("iterative/setup-cml")
    assert [c["inputs"] for c in setup] == [{"version": "v0.20.6", "vega": "false"}]
    comments = [c for c in good_run.calls_of("cml") if c["argv"][:2] == ["comment", "update"]]
    assert len(comments) == 1, good_run.calls_of("cml")
    call = comments[0]
    assert "--target=pr" in call["argv"] and call["token"] == "REPO_TOKEN" and not call["error"]
    report = artifact_report(good_run)
    assert call["report"] == report
    assert "Model comparison" in report and "roc_auc" in report and "model.linear.C" in report
    images = call["images"]
    assert isinstance(images, dict) and images and all(images.values()), images  # PNGs next to the report


def test_the_job_summary_and_the_artifact_have_the_report(good_run: ActRun) -> None:
    report = artifact_report(good_run)
    assert report.strip().splitlines()[0] in good_run.summary()
    assert "| metric | baseline | candidate |" in good_run.summary()
    uploads = good_run.calls_of("actions/upload-artifact")
    assert [u["inputs"]["path"] for u in uploads] == ["reports/pr/"]


def test_caches_are_keyed_on_the_lock_files(good_run: ActRun) -> None:
    uv = good_run.calls_of("astral-sh/setup-uv")
    assert len(uv) == 3 and all(c["inputs"]["cache-dependency-glob"] == "uv.lock" for c in uv)
    dvc = good_run.calls_of("actions/cache")
    restore, save = (next(c for c in dvc if c["phase"] == p) for p in ("restore", "save"))
    assert str(restore["inputs"]["key"]).startswith("dvc-Linux-") and restore["inputs"]["path"] == ".dvc/cache"
    assert save["saved"] is True and save["inputs"]["key"] != ""


def test_a_degraded_model_fails_the_run_and_the_report_still_gets_out(bad_run: ActRun) -> None:
    assert bad_run.returncode != 0, bad_run.describe()
    steps = bad_run.steps()
    job = JOBS["experiment"]
    assert steps[(job, PR_REPORT)] == "Success"
    assert steps[(job, "make gate")] == "Failure", steps
    assert steps[(job, "make pr-comment")] == "Failure"  # tolerated (continue-on-error): fork token
    assert "Resource not accessible by integration" in bad_run.log
    assert "regressed" in bad_run.log
    report = artifact_report(bad_run)
    assert "regressed" in report
    assert report.strip().splitlines()[0] in bad_run.summary()
    # The DVC cache saved by the first run was restored through the restore-keys prefix.
    restore = next(c for c in bad_run.calls_of("actions/cache") if c["phase"] == "restore")
    assert str(restore["matched"]).startswith("dvc-Linux-"), restore
    # ... so main's model came out of it (the exact files of main's dvc.lock) instead of a rebuild.
    assert "DVC cache/remote (the exact files of the base dvc.lock)" in bad_run.log
    assert "reproducing" not in bad_run.log
