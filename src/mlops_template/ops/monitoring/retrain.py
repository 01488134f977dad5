"""The retraining workflow's steps (``make retrain-data``, ``retrain-decide``, ``retrain-commit``,
``retrain-publish``); each is usable locally too.

1. ``refresh``: re-extract the data from ``data.source`` (``dvc repro --force extract``: a remote source
   such as s3:// or https:// may have changed without any change in git) and record whether the raw
   data's hash in dvc.lock changed, i.e. whether this is a new DVC data version.
2. (``make pr-report BASE=origin/main``: the same pipeline, comparison and report as pull requests.)
3. ``decide``: a PR is proposed when the data changed or the candidate is significantly better than
   main's model and passes the gate; otherwise say so and stop (exit 0, no PR).
4. ``commit``: commit the pipeline's git-tracked outputs (dvc.lock, metrics, plots, model metadata,
   reference profile, validation report) on ``retrain/candidate`` and write a git bundle, so the job that
   holds the write token runs no project code: it only pushes the bundle's branch.
5. ``publish`` (the write job): push the branch and open or update the ONE pull request from it. With a
   GitHub App token minted for the run or a PAT (``RETRAIN_TOKEN`` secret) the PR's own ``pull_request``
   checks run; with only ``GITHUB_TOKEN`` they do not (GitHub starts no workflow for its events), so the
   report of step 2 is posted on the PR by this step and the PR body says which of the two happened. When
   GitHub refuses the PR because Actions may not create pull requests in this repository (a setting, off on
   new repositories), it opens ONE issue linking the pushed branch and its compare view instead, and warns.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops_template.core.lineage import DvcLock, GitError, LockError, git, git_run, lock_text_at
from mlops_template.ops.github import set_output as output

STATE_DIR = Path("reports/retrain")
STATE = STATE_DIR / "state.json"
BODY = STATE_DIR / "pr-body.md"
BUNDLE = STATE_DIR / "candidate.bundle"
REPORT = STATE_DIR / "report.md"  # copy of the pr-report, posted on the PR when no App token/PAT is set
BRANCH = "retrain/candidate"
RAW = "data/raw/data.parquet"
TRACKED_OUTPUTS = [
    "dvc.lock",
    "metrics/metrics.json",
    "metrics/test_uncertainty.json",
    "plots",
    "models/metadata.json",
    "models/reference_profile.json",
    "reports/validation.json",
    "reports/validation.md",
]
PR_MARKER = "retrain-report"
FALLBACK_MARKER = "retrain-candidate"  # the issue opened instead of the PR when Actions may not create PRs


def say(message: str) -> None:
    print(f"[retrain] {message}", file=sys.stderr, flush=True)


def raw_md5(lock_text: str | None, origin: str = "dvc.lock") -> str | None:
    """The md5 dvc.lock records for the extract stage's output (None: no lock / stage never ran)."""
    stage = DvcLock.parse(lock_text, origin).stages.get("extract")
    return (stage.outs.get(RAW) or None) if stage is not None else None


def _is_stale(change: object) -> bool:
    """One entry of `dvc status --json` for a stage: a changed command, param or input file is stale; a
    missing input ("deleted": another stage's output not checked out in this workspace) is not."""
    if isinstance(change, str):  # "always changed", "changed checksum"
        return True
    if not isinstance(change, dict):
        return False
    if "changed cmd" in change:
        return True
    deps = change.get("changed deps") or {}
    return any(not (isinstance(v, str) and v == "deleted") for v in deps.values())


def stale_stages() -> list[str]:
    """Stages whose code, params or inputs differ from what dvc.lock records (outputs not compared: a fresh
    checkout has none in the workspace). Empty = main's model is exactly what this commit would train."""
    result = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], capture_output=True, text=True)
    if result.returncode != 0:
        return ["<dvc status failed>"]
    status = json.loads(result.stdout or "{}")
    stale = []
    for stage, changes in status.items():
        for change in changes if isinstance(changes, list) else []:
            if _is_stale(change):
                stale.append(stage.split(":")[-1])
                break
    return stale


def refresh() -> int:
    from mlops_template.ops.monitoring.retrain_state import RetrainState

    before = raw_md5(lock_text_at("HEAD"), "dvc.lock at HEAD")
    say(f"re-extracting the data from its source (dvc repro --force extract); committed data md5: {before}")
    result = subprocess.run([sys.executable, "-m", "dvc", "repro", "--force", "--single-item", "extract"], check=False)
    if result.returncode != 0:
        say("ERROR: extracting the data failed (see above): check data.source and its credentials")
        return 1
    after = raw_md5(Path("dvc.lock").read_text(encoding="utf-8"))
    data_changed = before != after
    stale = stale_stages()
    changed = data_changed or bool(stale)
    RetrainState(
        data_changed=data_changed, data_md5_before=before, data_md5_after=after, stale_stages=stale, changed=changed
    ).write(STATE)
    say(f"data {'CHANGED: a new DVC data version' if data_changed else 'unchanged'} (md5 {after})")
    if stale:
        say(f"stages out of date with dvc.lock (code or params changed): {', '.join(stale)}")
    output(changed=str(changed).lower(), data_changed=str(data_changed).lower())
    return 0


def decide(comparison_path: Path, report_path: Path, reason: str) -> int:
    say(f"retraining run started by: {reason}")  # the trigger (RETRAIN_REASON): schedule, dispatch, new data, ...
    from mlops_template.core.handoff import HandOffError
    from mlops_template.experiment.comparison_record import PIPELINE_FAILED, ComparisonRecord
    from mlops_template.ops.monitoring.retrain_state import RetrainState

    try:
        # no state (decide run on its own, without retrain-data): assume the pipeline may give another model
        state = RetrainState.read_if_exists(STATE) or RetrainState(data_changed=False, changed=True)
    except HandOffError as err:
        say(f"ERROR: {err}")
        return 1
    if not state.changed:
        say(
            "nothing to propose: the data is unchanged and the pipeline is up to date with main's dvc.lock "
            "(training is seeded: the same inputs give main's model again); no pull request"
        )
        output(action="none")
        return 0
    if not comparison_path.is_file():
        say(f"ERROR: {comparison_path} not found: run make pr-report BASE=origin/main first")
        return 1
    try:
        comparison = ComparisonRecord.read(comparison_path)
    except HandOffError as err:
        say(f"ERROR: {err}")
        return 1
    verdict, passed = comparison.verdict, comparison.passed
    if verdict == PIPELINE_FAILED:
        say(f"ERROR: the pipeline failed on the refreshed data; no pull request (report: {report_path})")
        output(action="none")
        return 1
    data_changed = state.data_changed
    better = verdict == "improved" and passed
    if not data_changed and not better:
        say(f"nothing to propose: the data is unchanged and the candidate is not better ({verdict}); no pull request")
        output(action="none")
        return 0
    why = "new data" if data_changed else "a better model"
    lines = [
        f"Automated retraining ({reason}): proposes {why}.",
        "",
        "- data: "
        + (f"**changed** (new DVC data version, md5 {state.data_md5_after})" if data_changed else "unchanged"),
        f"- candidate vs main's model: **{verdict}**; gate {'passed' if passed else '**FAILED**'}",
        "- files: `dvc.lock`, `metrics/metrics.json` (+ `test_uncertainty.json`), `plots/`, `models/metadata.json`, "
        "`models/reference_profile.json`, `reports/validation.*`",
        "",
        "Merging promotes this model through the release workflow. The full comparison report follows"
        " (same report and gate as every pull request).",
        "",
    ]
    report = report_path.read_text(encoding="utf-8") if report_path.exists() else "(no report)"
    BODY.write_text("\n".join(lines) + "\n" + report, encoding="utf-8")
    REPORT.write_text(report, encoding="utf-8")
    say(f"proposing a pull request on {BRANCH}: {why} ({verdict}, gate {'passed' if passed else 'failed'})")
    output(action="pr", branch=BRANCH)
    return 0


def commit(reason: str) -> int:
    present = [p for p in TRACKED_OUTPUTS if Path(p).exists()]
    git("checkout", "-q", "-B", BRANCH)
    git("add", "-f", "--", *present)
    author = ["-c", "user.name=mlops-template retrain", "-c", "user.email=retrain@users.noreply.github.com"]
    message = f"Retrain ({reason}): dvc.lock, metrics and model metadata from the refreshed pipeline"
    done = git_run(*author, "commit", "-q", "--allow-empty", "-m", message)
    if done.returncode != 0:
        say(f"ERROR: git commit failed: {done.stderr.decode('utf-8', 'replace').strip()}")
        return 1
    git("bundle", "create", str(BUNDLE), f"refs/heads/{BRANCH}")
    say(f"committed {', '.join(present)} on {BRANCH}; bundle {BUNDLE}")
    return 0


def publish(base: str, reason: str, app_token: bool) -> int:
    """Push the bundle's branch and upsert the PR (run in the job that holds the write token)."""
    from mlops_template.ops.github import GitHub, GitHubError

    token = os.environ.get("GITHUB_TOKEN", "")
    env = dict(os.environ)
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if token:  # the token goes through git's environment config, never the command line or .git/config
        import base64

        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env |= {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{server}/.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
        }
    git("fetch", "-q", str(BUNDLE), f"+refs/heads/{BRANCH}:refs/remotes/bundle/{BRANCH}")
    push = git_run("push", "--force", "origin", f"refs/remotes/bundle/{BRANCH}:refs/heads/{BRANCH}", env=env)
    if push.returncode != 0:
        detail = push.stderr.decode("utf-8", "replace").strip()[-800:]
        say(f"ERROR: pushing {BRANCH} failed (the token needs contents: write): {detail}")
        return 1
    body = BODY.read_text(encoding="utf-8")
    checks = (
        "Opened with the RETRAIN_TOKEN (GitHub App / PAT): this PR's own checks run as for any pull request."
        if app_token
        else "Opened with GITHUB_TOKEN: GitHub starts no checks for it, so the retraining workflow ran the "
        "comparison and gate itself; its report is the comment below. Configure a RETRAIN_TOKEN secret "
        "(docs/continuous-training.md) to get the normal checks."
    )
    try:
        gh = GitHub.from_env()
        try:
            action, number = gh.upsert_pull(BRANCH, base, f"Retrain: {reason}", f"{checks}\n\n{body}")
        except GitHubError as err:
            if not err.pull_requests_not_permitted:
                raise
            return _fallback_issue(gh, base, reason, body)
        say(f"pull request #{number} {action} ({BRANCH} -> {base}); {checks.split(':')[0]}")
        if not app_token:
            text = REPORT.read_text(encoding="utf-8") if REPORT.exists() else body
            how, _ = gh.upsert_comment(number, PR_MARKER, text)
            say(f"report comment {how} on #{number}")
    except GitHubError as err:
        say(f"ERROR: {err}")
        return 1
    output(pr=str(number), checks="app-token" if app_token else "workflow")
    return 0


def _fallback_issue(gh: Any, base: str, reason: str, body: str) -> int:
    """POST /pulls got GitHub's "not permitted to create or approve pull requests" 403: the branch is pushed,
    so say which setting to flip, and open (or update) ONE issue linking the branch and its compare view.
    The job stays green: the candidate is there, one click away from a pull request."""
    from mlops_template.ops.github import PULLS_SETTING

    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    web = f"{server}/{gh.repository}"
    compare = f"{web}/compare/{base}...{BRANCH}"
    text = (
        f"The retraining workflow pushed its candidate to [`{BRANCH}`]({web}/tree/{BRANCH}) but could not open "
        "the pull request: GitHub Actions is not permitted to create pull requests in this repository.\n\n"
        f"- **Open it yourself:** [{base}...{BRANCH}]({compare}) (compare view, then *Create pull request*).\n"
        f"- **Let the workflow open it next time:** turn on {PULLS_SETTING}, or configure a GitHub App "
        "(`RETRAIN_APP_ID` variable + `RETRAIN_APP_PRIVATE_KEY` secret, see docs/continuous-training.md).\n\n"
        f"{body}"
    )
    how, number = gh.upsert_issue(FALLBACK_MARKER, f"Retrain: {reason} (pull request not opened)", text)
    warning = (
        f"GitHub Actions may not create pull requests here: {BRANCH} is pushed and issue #{number} ({how}) links "
        f"it; compare view {compare}. To get the pull request, turn on {PULLS_SETTING}"
    )
    print(f"::warning title=retrain: no pull request::{warning}", flush=True)
    say(f"WARNING: {warning}")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(f"## Retraining: pull request not opened\n\n{warning}.\n")
    output(pr="", issue=str(number), checks="none", compare=compare)
    return 0


def _said(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A failed git command or a corrupt dvc.lock is said in one line (exit 1), not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (GitError, LockError) as err:
            say(f"ERROR: {err}")
            return 1

    return run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops retrain <refresh|decide|commit|publish>`` (the retrain-* make targets; mlops_template/cli.py)."""
    sub = parser.add_subparsers(dest="retrain_command", required=True, metavar="<command>")
    r = sub.add_parser("refresh", help="re-extract the data; record whether it changed")
    r.set_defaults(run=_said(lambda _: refresh()))
    d = sub.add_parser("decide", help="PR or not, from reports/retrain/state.json and the pr-report comparison")
    d.add_argument("--comparison", default="reports/pr/comparison.json")
    d.add_argument("--report", default="reports/pr/report.md")
    d.set_defaults(run=_said(lambda args: decide(Path(args.comparison), Path(args.report), args.reason)))
    c = sub.add_parser("commit", help=f"commit the pipeline's tracked outputs on {BRANCH}; write {BUNDLE}")
    c.set_defaults(run=_said(lambda args: commit(args.reason)))
    p = sub.add_parser("publish", help=f"push {BRANCH} from {BUNDLE}; open or update its pull request")
    p.add_argument("--base", default="main")
    p.add_argument(
        "--app-token",
        action="store_true",
        default=os.environ.get("RETRAIN_APP_TOKEN", "").strip() == "true",
        help="GITHUB_TOKEN is a GitHub App token / PAT (default: $RETRAIN_APP_TOKEN == true)",
    )
    p.set_defaults(run=_said(lambda args: publish(args.base, args.reason, args.app_token)))
    for s in (d, c, p):
        s.add_argument("--reason", default=os.environ.get("RETRAIN_REASON") or "scheduled")
