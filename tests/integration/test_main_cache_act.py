"""main-cache.yml gives every pull request main's model, under act, with GitHub's cache scoping enforced.

On one project copy (a local bare repository plays GitHub, as in test_pr_workflow_act.py) and one Actions-cache
store:

1. a ``push`` to main runs main-cache.yml: it restores the cache an earlier main run saved (an older key, through
   the restore-keys prefix; seeded from the session's ``trained_repo``, as on GitHub after the first run: DVC's
   run cache skips extract and split; train and evaluate, whose ``cache: false`` outputs keep them out of the run
   cache, run again), runs ``make repro``; main's dvc.lock was written on a laptop, so ``make dvc-pin-map`` maps its
   model and predictions pins to the md5s this runner produced; it saves ``.dvc/cache`` (with that map) under
   ``dvc-Linux-<hash of dvc.lock>``, scoped to ``refs/heads/main``;
2. a PR against main (it changes a parameter and its dvc.lock) runs pr.yml's experiment job: its restore finds
   main's entry through the restore-keys prefix, and ``make pr-report`` takes main's model from the DVC cache
   (by main's pins, through the pin map) instead of rebuilding it;
3. scoping, straight on the actions/cache stand-in (node, no act run): another PR or another branch never
   restores that PR's or that branch's entries, even with the exact key; the record names what was skipped.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from emulation.act.harness import (
    STANDINS,
    ActRun,
    laptop_pins,
    lock_param,
    make_pr_repo,
    pull_request_event,
    push_event,
    run_workflow,
    seed_cache,
    set_param,
    uv_cache_dir,
)
from mlops_template.experiment.baseline import SOURCE_MAPPED
from tests.support import git

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

MAIN_CACHE = Path(".github/workflows/main-cache.yml")
MAIN = "refs/heads/main"
PR_NUMBER = 3
PR_REF = f"refs/pull/{PR_NUMBER}/merge"
PREVIOUS = "dvc-Linux-0-an-earlier-main"  # the key of an earlier main run's save


def lower_c(repo: Path) -> None:
    set_param(repo, "model.linear.C", "0.5")
    lock_param(repo, "model.linear.C", "0.5")


def dvc_key(repo: Path) -> str:
    """``dvc-Linux-${{ hashFiles('dvc.lock') }}``: GitHub's hashFiles is the SHA-256 of the files' SHA-256s."""
    digest = hashlib.sha256(hashlib.sha256((repo / "dvc.lock").read_bytes()).digest()).hexdigest()
    return f"dvc-Linux-{digest}"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("actions-cache")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HEAD: the PR's merge commit (main + C 0.5 with its dvc.lock). Main's dvc.lock was written on a laptop: its
    model and predictions pins are not the bytes this runner produces (floating-point last digits)."""
    return make_pr_repo(
        tmp_path_factory.mktemp("main-cache") / "github", lower_c, branch="lower-c", main_change=laptop_pins
    )


@pytest.fixture(scope="module")
def main_key(repo: Path) -> str:
    merge = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach", "origin/main")
    key = dvc_key(repo)
    git(repo, "checkout", "-q", "--detach", merge)
    return key


@pytest.fixture(scope="module")
def main_run(
    repo: Path, main_key: str, store: Path, trained_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> ActRun:
    """main-cache.yml for a push to main (act runs the working copy: main's commit is checked out for it)."""
    seed_cache(store, MAIN, PREVIOUS, trained_repo / ".dvc" / "cache")
    merge = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach", "origin/main")
    try:
        work = tmp_path_factory.mktemp("main-act")
        return run_workflow(
            repo,
            push_event(repo, "main"),
            work,
            workflow=MAIN_CACHE,
            event_name="push",
            uv_cache_dir=uv_cache_dir(),
            cache_store=store,
        )
    finally:
        git(repo, "checkout", "-q", "--detach", merge)


@pytest.fixture(scope="module")
def pr_run(repo: Path, main_run: ActRun, store: Path, tmp_path_factory: pytest.TempPathFactory) -> ActRun:
    event = pull_request_event(repo, "main", "lower-c", number=PR_NUMBER)
    work = tmp_path_factory.mktemp("pr-act")
    return run_workflow(repo, event, work, jobs=["experiment"], uv_cache_dir=uv_cache_dir(), cache_store=store)


def test_a_push_to_main_saves_the_dvc_cache_for_pull_requests(
    main_run: ActRun, main_key: str, store: Path, repo: Path
) -> None:
    assert main_run.returncode == 0, main_run.describe()
    steps = {step: result for (_, step), result in main_run.steps().items()}
    for name in ("make setup", "make dvc-pull", "make repro", "make dvc-pin-map"):
        assert steps.get(name) == "Success", f"{name} -> {steps.get(name)}"
    restore = main_run.calls_of("actions/cache/restore")
    assert len(restore) == 1 and restore[0]["ref"] == MAIN, restore
    assert (restore[0]["matched"], restore[0]["matched_ref"], restore[0]["hit"]) == (PREVIOUS, MAIN, False), restore
    saves = main_run.calls_of("actions/cache/save")
    assert saves == [{**saves[0], "saved": True, "ref": MAIN}], saves
    assert saves[0]["inputs"]["key"] == main_key and saves[0]["inputs"]["path"] == ".dvc/cache"
    entry = store / "refs%2Fheads%2Fmain" / main_key
    files = [p for p in entry.rglob("*") if p.is_file()]
    assert files, "the saved entry is empty"
    # the runner's bytes differ from main's (laptop) pins: the saved cache maps each pin to what it produced
    pinned = git(repo, "show", "origin/main:dvc.lock")
    for rel in ("models/model.joblib", "metrics/predictions.csv"):
        assert f"dvc-pin-map: {rel}: dvc.lock pins" in main_run.log, main_run.log[-3000:]
        entries = [json.loads(p.read_text()) for p in (entry / "pin-map").iterdir()]
        mapped = next(e for e in entries if e["path"] == rel)
        assert mapped["pinned"] in pinned and mapped["md5"] not in pinned
        assert (entry / "files" / "md5" / mapped["md5"][:2] / mapped["md5"][2:]).is_file()


# The PR side of the chain under act costs ~4 min; test_pr_workflow_act's fork PR already restores main's
# (seeded) entry through the same stand-in on every CI run, so this run of pr.yml is opt-in.
@pytest.mark.extended
def test_a_pr_against_main_gets_mains_model_from_that_cache(pr_run: ActRun, main_key: str, repo: Path) -> None:
    assert pr_run.returncode == 0, pr_run.describe()
    calls = pr_run.calls_of("actions/cache")
    restore = next(c for c in calls if c["phase"] == "restore")
    assert restore["ref"] == PR_REF and restore["scopes"] == [PR_REF, MAIN], restore
    # The PR's dvc.lock differs from main's: main's entry comes through the restore-keys prefix.
    assert restore["inputs"]["key"] == dvc_key(repo) != main_key
    assert (restore["matched"], restore["matched_ref"], restore["hit"]) == (main_key, MAIN, False), restore
    assert SOURCE_MAPPED in pr_run.log  # main's model by main's pins, through main-cache's pin map
    assert "reproducing" not in pr_run.log
    save = next(c for c in calls if c["phase"] == "save")
    assert save["saved"] is True and save["ref"] == PR_REF  # this PR's later pushes restore it


def stand_in(store: Path, work: Path, mode: str, key: str, ref: str, base: str = "", restore_keys: str = "") -> Any:
    """Run the actions/cache/<mode> stand-in once with node, as act would; return what it recorded."""
    work.mkdir(parents=True, exist_ok=True)
    (work / ".dvc" / "cache").mkdir(parents=True, exist_ok=True)
    (work / ".dvc" / "cache" / "marker").write_text(f"{ref} {key}", encoding="utf-8")
    event = work / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "main"}}), encoding="utf-8")
    for name in ("output", "state", "calls.jsonl"):
        (work / name).unlink(missing_ok=True)
    env = {
        "PATH": str(Path(shutil.which("node") or "node").parent),
        "ACT_CACHE_STORE": str(store),
        "ACT_RECORD_DIR": str(work),
        "GITHUB_WORKSPACE": str(work),
        "GITHUB_OUTPUT": str(work / "output"),
        "GITHUB_STATE": str(work / "state"),
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_EVENT_NAME": "pull_request" if base else "push",
        "GITHUB_REF": ref,
        "GITHUB_BASE_REF": base,
        "INPUT_PATH": ".dvc/cache",
        "INPUT_KEY": key,
        "INPUT_RESTORE-KEYS": restore_keys,
    }
    script = STANDINS / "actions" / "cache" / mode / f"{mode}.js"
    subprocess.run(["node", str(script)], env=env, check=True, capture_output=True, text=True)
    return json.loads((work / "calls.jsonl").read_text(encoding="utf-8").splitlines()[-1])


def test_other_branches_and_other_prs_caches_are_out_of_scope(
    pr_run: ActRun, main_key: str, repo: Path, store: Path, tmp_path: Path
) -> None:
    """GitHub's rule (docs/github-platform.md): own ref, then the base branch, then the default branch; never
    another PR's or another branch's entry, even under the exact key."""
    scoped = tmp_path / "store"
    shutil.copytree(store, scoped)  # main's entries and PR #3's
    pr_key = dvc_key(repo)
    feature = "refs/heads/feature"
    saved = stand_in(scoped, tmp_path / "feature", "save", pr_key, feature)
    assert saved["saved"] is True and saved["ref"] == feature
    # Another PR against main with PR #3's exact key: not PR #3's entry, not feature's: main's, by prefix.
    other = stand_in(scoped, tmp_path / "pr4", "restore", pr_key, "refs/pull/4/merge", "main", "dvc-Linux-")
    assert (other["matched"], other["matched_ref"], other["hit"]) == (main_key, MAIN, False), other
    skipped = {(s["ref"], s["key"]) for s in other["skipped_for_scope"]}
    assert skipped == {(PR_REF, pr_key), (feature, pr_key)}, other
    # A PR against `feature` may restore feature's entry (its base branch), exactly.
    onto = stand_in(scoped, tmp_path / "pr5", "restore", pr_key, "refs/pull/5/merge", "feature", "dvc-Linux-")
    assert (onto["matched_ref"], onto["hit"]) == (feature, True), onto
    assert (tmp_path / "pr5" / ".dvc" / "cache" / "marker").read_text(encoding="utf-8") == f"{feature} {pr_key}"
    # PR #3's next push restores its own entry first.
    again = stand_in(scoped, tmp_path / "pr3", "restore", pr_key, PR_REF, "main", "dvc-Linux-")
    assert (again["matched_ref"], again["hit"]) == (PR_REF, True), again
    assert again["skipped_for_scope"] == [{"ref": feature, "key": pr_key}], again
