"""The PR workflow (.github/workflows/pr.yml) and its commenter (pr-comment.yml) run for real under act.

A local bare repository plays GitHub (``origin`` with ``main``); the PR branch changes params.yaml; HEAD
is the merge commit, as actions/checkout gives it. Every ``run:`` step runs as written (make targets,
the DVC pipeline, the comparison with main, the lock check, the gate); only marketplace actions are local
stand-ins that record what they were asked (.ci/emulation/act/standins), and a recording GitHub REST API
(.ci/emulation/github_api.py) holds the pull requests and their comments. Two PR runs share one
Actions-cache store, and each is followed by the ``workflow_run`` commenter, as on GitHub:

1. a harmless change whose author re-ran the pipeline (its dvc.lock is up to date): all three jobs pass,
   the report reaches the job summary and the artifact; the commenter, run twice (two pushes), leaves ONE
   comment on the PR, posted by `cml comment update` (the stand-in CLI talks to the stand-in API) and
   starting with the trusted conclusion (private repository: plots are links, not uploads); the DVC cache is
   saved.
2. a crippled model from a FORK that also loosens ``compare:`` and did not re-run the pipeline: only the
   experiment job; main's dvc.lock was written on another machine (its model and predictions pins are not this
   machine's bytes); it restores the DVC cache main-cache.yml saved on main (seeded from ``trained_repo``, with
   the pin map ``make dvc-pin-map`` writes; that workflow runs in test_main_cache_act.py), never run 1's
   (GitHub's cache scoping: another PR's cache is out of
   reach, the stand-in enforces it); ``make lock-check`` fails naming the stale stage and
   the fixing command; the gate must fail (needs main's gate policy, issue 10 item 1); the commenter finds the
   PR from the event (a fork's ``pull_requests`` is empty) and posts the report (public repository: plots
   uploaded to CML's asset host).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulation.act.harness import (
    ActRun,
    laptop_pins,
    lock_param,
    make_pr_repo,
    pull_request_event,
    run_workflow,
    seed_cache,
    set_param,
    uv_cache_dir,
    workflow_run_event,
)
from emulation.github_api import GitHubStandIn
from mlops_template.experiment.baseline import SOURCE_MAPPED, record_pin_map
from tests.support import git

# A whole workflow run under act is inside the first test of each run (up to run_workflow's 1200 s on a busy machine).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

WORKFLOW = "pr-experiment"
PR_REPORT = "make pr-report (retrain, compare with main, report)"
COMMENTER = Path(".github/workflows/pr-comment.yml")
MARKER = "<!-- mlops-template:pr-experiment -->"
LOCAL_IMAGE = re.compile(r"!\[[^\]]*\]\((?!https?://)")
MAIN_CACHE_KEY = "dvc-Linux-saved-by-main-cache"  # an entry of main-cache.yml's, on refs/heads/main
JOBS = {
    "lint-unit": f"{WORKFLOW}/lint + unit tests",
    "data": f"{WORKFLOW}/data + model tests",
    "experiment": f"{WORKFLOW}/train, compare with main, report, gate",
}


def harmless(repo: Path) -> None:
    """C 1.0 -> 0.5, and dvc.lock records it, as `make repro` would (the model bytes it names stay main's:
    make lock-check counts inputs, and reports other output bytes only as a note)."""
    set_param(repo, "model.linear.C", "0.5")
    lock_param(repo, "model.linear.C", "0.5")


def crippled(repo: Path) -> None:
    """Gradient boosting with one tree that cannot split (constant scores, ROC AUC 0.5), the gate loosened in
    the same PR, and dvc.lock not re-made."""
    set_param(repo, "model.type", "hist_gradient_boosting")
    set_param(repo, "model.hist_gradient_boosting.max_iter", "1")
    set_param(repo, "model.hist_gradient_boosting.min_samples_leaf", "400")
    set_param(repo, "compare.margins", "{roc_auc: 1.0}")  # would let any drop pass, were the PR's policy used
    # A private S3 remote in the committed DVC config (a fork sees no `vars`, so DVC_REMOTE_URL could not name it)
    config = repo / ".dvc" / "config"
    text = config.read_text(encoding="utf-8").replace("remote = local", "remote = private")
    config.write_text(text + "['remote \"private\"']\n    url = s3://private-bucket/project\n", encoding="utf-8")


@pytest.fixture(scope="module")
def uv_cache() -> Path:
    """The machine's uv cache, as setup-uv's restored cache (packages are not downloaded again)."""
    return uv_cache_dir()


@pytest.fixture(scope="module")
def cache_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("actions-cache")


@pytest.fixture(scope="module")
def github() -> Iterator[GitHubStandIn]:
    with GitHubStandIn() as api:
        yield api


@pytest.fixture(scope="module")
def good_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pr_repo(tmp_path_factory.mktemp("good") / "github", harmless, branch="lower-c")


@pytest.fixture(scope="module")
def good_run(good_repo: Path, tmp_path_factory: pytest.TempPathFactory, uv_cache: Path, cache_store: Path) -> ActRun:
    event = pull_request_event(good_repo, "main", "lower-c", number=7)
    work = tmp_path_factory.mktemp("good-act")
    return run_workflow(good_repo, event, work, uv_cache_dir=uv_cache, cache_store=cache_store)


def comment_run(
    repo: Path, pr_run: ActRun, event: dict[str, object], work: Path, api: GitHubStandIn, private: bool = True
) -> ActRun:
    """pr-comment.yml for the completed ``pr_run``: GitHub's API is the recording stand-in."""
    return run_workflow(
        repo,
        event,
        work,
        workflow=COMMENTER,
        event_name="workflow_run",
        env={"GITHUB_API_URL": api.url, "ACT_ARTIFACTS_FROM": str(pr_run.record_dir / "artifacts")},
        timeout=300,
        private=private,
    )


@pytest.fixture(scope="module")
def good_comments(
    good_repo: Path, good_run: ActRun, github: GitHubStandIn, tmp_path_factory: pytest.TempPathFactory
) -> list[ActRun]:
    """The commenter after two pushes of PR #7 (same repository, private): it must edit, not add."""
    pr_event = pull_request_event(good_repo, "main", "lower-c", number=7)
    github.add_pull(7, "lower-c", head_sha=str(pr_event["pull_request"]["head"]["sha"]))  # type: ignore[index]
    event = workflow_run_event(pr_event, run_id=1007, conclusion="success", private=True)
    return [comment_run(good_repo, good_run, event, tmp_path_factory.mktemp(f"comment{i}"), github) for i in (1, 2)]


@pytest.fixture(scope="module")
def bad_repo(good_run: ActRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # main's dvc.lock as a laptop wrote it: its model and predictions pins are not what this machine produces
    return make_pr_repo(tmp_path_factory.mktemp("bad") / "github", crippled, branch="one-tree", main_change=laptop_pins)


@pytest.fixture(scope="module")
def bad_event(bad_repo: Path) -> dict[str, object]:
    return pull_request_event(bad_repo, "main", "one-tree", number=8, fork_owner="contributor")


@pytest.fixture(scope="module")
def bad_run(
    bad_repo: Path,
    bad_event: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
    uv_cache: Path,
    cache_store: Path,
    trained_repo: Path,
) -> ActRun:
    entry = seed_cache(cache_store, "refs/heads/main", MAIN_CACHE_KEY, trained_repo / ".dvc" / "cache")
    # main-cache.yml's `make dvc-pin-map`: main's committed (laptop) pins -> the md5s this machine produced
    mapped = record_pin_map(git(bad_repo, "show", "origin/main:dvc.lock"), (trained_repo / "dvc.lock").read_text(),
                            cache=entry)  # fmt: skip
    assert set(mapped) >= {"models/model.joblib", "metrics/predictions.csv"}, mapped
    return run_workflow(
        bad_repo,
        bad_event,
        tmp_path_factory.mktemp("bad-act"),
        jobs=["experiment"],
        uv_cache_dir=uv_cache,
        cache_store=cache_store,
        variables={"DVC_REMOTE_URL": "s3://elsewhere/ignored"},  # GitHub passes a fork's PR no `vars`: dropped
    )


@pytest.fixture(scope="module")
def fork_comment(
    bad_repo: Path,
    bad_event: dict[str, object],
    bad_run: ActRun,
    github: GitHubStandIn,
    tmp_path_factory: pytest.TempPathFactory,
) -> ActRun:
    github.add_pull(8, "one-tree", head_sha=str(bad_event["pull_request"]["head"]["sha"]))  # type: ignore[index]
    event = workflow_run_event(bad_event, run_id=1008, conclusion="failure", fork_owner="contributor", private=False)
    return comment_run(bad_repo, bad_run, event, tmp_path_factory.mktemp("fork-comment"), github, private=False)


def artifact_report(run: ActRun) -> str:
    path = run.record_dir / "artifacts" / "pr-report" / "report.md"
    assert path.is_file(), f"no report in the uploaded artifact\n{run.describe()}"
    return path.read_text(encoding="utf-8")


def test_every_job_and_make_target_ran_and_passed(good_run: ActRun) -> None:
    assert good_run.returncode == 0, good_run.describe()
    steps = good_run.steps()
    expected = {
        "lint-unit": ["make setup", "make lint", "make test-unit"],
        "data": ["make setup", "make dvc-pull", "make check-params", "make test-data"],
        "experiment": [
            "make setup",
            "make dvc-pull",
            PR_REPORT,
            "make lock-check",
            "make pr-push",
            "make serve-check",
            "make pr-summary",
            "make gate",
        ],
    }
    for job, names in expected.items():
        for name in names:
            assert steps.get((JOBS[job], name)) == "Success", f"{job}: {name} -> {steps.get((JOBS[job], name))}"
    log = good_run.log
    assert "All checks passed!" in log  # ruff, inside make lint
    assert "zizmor" in log and "No findings to report" in log
    assert "Running stage 'train'" in log  # the candidate was trained
    assert "reproducing" in log  # main's model was rebuilt (no DVC remote, empty cache: the fork case)
    assert "dvc-pull: skipped (remote 'local' is the folder" in log
    assert "pr-push: skipped (remote 'local' is the folder" in log  # no remote here: nothing to push
    assert "lock-check passed" in log
    assert "`make serve-check` passed" in log  # the candidate's bento answered the test rows and rejected a bad field
    assert "gate passed" in log


def test_the_pr_run_writes_nothing_to_github(good_run: ActRun) -> None:
    """Only the trusted commenter writes: no cml, no write token in the run that executes PR code."""
    assert good_run.calls_of("cml") == [] and good_run.calls_of("iterative/setup-cml") == []


def test_the_job_summary_and_the_artifact_have_the_report(good_run: ActRun) -> None:
    report = artifact_report(good_run)
    summary = good_run.summary()
    assert report.strip().splitlines()[0] in summary
    assert "| metric | baseline | candidate |" in summary
    assert "![" in report and not LOCAL_IMAGE.search(summary), "the summary must not have broken image links"
    assert "in the run's artifact `pr-report`" in summary
    assert "### Serving check (the candidate's bento, in-process)" in summary
    uploads = good_run.calls_of("actions/upload-artifact")
    assert [u["inputs"]["path"] for u in uploads] == ["reports/pr/"]


def test_a_harmless_pr_gets_one_sticky_comment(
    good_run: ActRun, good_comments: list[ActRun], github: GitHubStandIn
) -> None:
    for run in good_comments:
        assert run.returncode == 0, run.describe()
    comments = github.comments_on(7)
    assert len(comments) == 1, comments
    body = comments[0]["body"]
    report = artifact_report(good_run)
    assert report.strip().splitlines()[0] in body and MARKER in body and "model.linear.C" in body
    # private repository: no upload to a third party, no broken image, a link to the run instead
    assert not LOCAL_IMAGE.search(body) and "asset.cml.dev" not in body
    assert "https://github.com/acme/mlops-template/actions/runs/1007" in body
    assert [c["method"] for c in github.calls(path_pattern=r"/comments")].count("POST") == 1
    assert len(github.calls("PATCH", r"/issues/comments/")) == 1  # the second push edited it
    downloads = good_comments[0].calls_of("actions/download-artifact")
    assert [(d["name"], d["run-id"]) for d in downloads] == [("pr-report", "1007")]
    # CML posted it (trusted job), GitHub's conclusion of the PR run first, then the PR's own report
    assert body.startswith("### ✅ pr-experiment: **success**\n"), body[:200]
    assert body.index("written by the pull request's own code") < body.index(report.strip().splitlines()[0])
    assert body.rstrip().endswith('"CML watermark pr-experiment")')
    for run in good_comments:
        (cml,) = [c for c in run.calls_of("cml") if c["argv"][:2] == ["comment", "update"]]
        assert cml["argv"][2:5] == ["--target=pr/7", "--watermark-title=pr-experiment", "--no-publish"], cml
        assert cml["posted"].startswith("https://github.com/acme/mlops-template/pull/7#issuecomment-"), cml
    assert good_comments[0].calls_of("iterative/setup-cml")[0]["inputs"] == {"version": "v0.20.6", "vega": "false"}


def test_caches_are_keyed_on_the_lock_files(good_run: ActRun) -> None:
    uv = good_run.calls_of("astral-sh/setup-uv")
    assert len(uv) == 3 and all(c["inputs"]["cache-dependency-glob"] == "uv.lock" for c in uv)
    dvc = good_run.calls_of("actions/cache")
    restore, save = (next(c for c in dvc if c["phase"] == p) for p in ("restore", "save"))
    assert str(restore["inputs"]["key"]).startswith("dvc-Linux-") and restore["inputs"]["path"] == ".dvc/cache"
    assert save["saved"] is True and save["inputs"]["key"] != ""


def test_a_stale_dvc_lock_fails_with_the_command_that_fixes_it(bad_run: ActRun) -> None:
    assert bad_run.returncode != 0, bad_run.describe()
    steps = bad_run.steps()
    job = JOBS["experiment"]
    assert steps[(job, PR_REPORT)] == "Success"
    assert steps[(job, "make lock-check")] == "Failure", steps
    assert "STALE train: params.yaml:model.type: committed 'linear', now 'hist_gradient_boosting'" in bad_run.log
    assert "Fix: make repro, then commit dvc.lock" in bad_run.log
    report = artifact_report(bad_run)
    assert "The committed `dvc.lock` is stale" in report
    assert "The committed `dvc.lock` is stale" in bad_run.summary()
    assert steps[(job, "make serve-check")] == "Success", steps  # a stale lock does not hide the serving check
    # The report still reached the summary, the artifact, and the gate still ran; nothing was pushed.
    assert steps[(job, "make pr-summary")] == "Success" and (job, "make gate") in steps
    assert (job, "make pr-push") not in steps


def test_a_fork_pr_without_secrets_skips_the_private_remote_with_a_clear_message(bad_run: ActRun) -> None:
    assert "no credentials in a fork PR" in bad_run.log and "main's model will be rebuilt" in bad_run.log
    assert "s3://private-bucket/project" in bad_run.log and "s3://elsewhere" not in bad_run.log  # no vars
    # main's DVC cache was restored through the restore-keys prefix, not PR #7's (cache scoping) ...
    restore = next(c for c in bad_run.calls_of("actions/cache") if c["phase"] == "restore")
    assert (restore["matched"], restore["matched_ref"]) == (MAIN_CACHE_KEY, "refs/heads/main"), restore
    assert [s["ref"] for s in restore["skipped_for_scope"]] == ["refs/pull/7/merge"], restore
    # ... so main's model came out of it instead of a rebuild, although main's dvc.lock was written on another
    # machine (a laptop: other pickle bytes, other last digits): found through main-cache's pin map.
    assert SOURCE_MAPPED in bad_run.log
    assert "reproducing" not in bad_run.log


def test_a_degraded_model_fails_the_gate_even_when_the_pr_loosens_compare(bad_run: ActRun) -> None:
    steps = bad_run.steps()
    assert steps[(JOBS["experiment"], "make gate")] == "Failure", steps
    assert "regressed" in bad_run.log and "regressed" in artifact_report(bad_run)


def test_a_fork_prs_report_is_posted_by_the_workflow_run_commenter(
    bad_run: ActRun, fork_comment: ActRun, github: GitHubStandIn
) -> None:
    assert fork_comment.returncode == 0, fork_comment.describe()
    # A fork's workflow_run event lists no pull request: it was found by head owner:branch and head SHA.
    lookups = github.calls("GET", r"/pulls$")
    assert any(call["query"].get("head") == "contributor:one-tree" for call in lookups), lookups
    comments = github.comments_on(8)
    assert len(comments) == 1, comments
    body = comments[0]["body"]
    assert artifact_report(bad_run).strip().splitlines()[0] in body and MARKER in body
    assert body.startswith("### ❌ pr-experiment: **failure**\n"), body[:200]  # the trusted conclusion
    # public repository: the plots were uploaded to CML's asset host and shown, none is a broken local link
    published = [c for c in fork_comment.calls_of("cml") if c["argv"][:2] == ["asset", "publish"]]
    assert published and "https://asset.cml.dev/standin-" in body and not LOCAL_IMAGE.search(body)
    assert fork_comment.calls_of("iterative/setup-cml")[0]["inputs"] == {"version": "v0.20.6", "vega": "false"}
