"""The PR report's way out: the job summary of the untrusted run, and the one sticky comment of the trusted one.

Standard library only, so it runs before (or without) ``make setup``, on the runner's bare Python
(``PYTHONPATH=src python3 -m mlops_template.cli pr-comment ...``: the Makefile's ``MLOPS_BARE``):

    mlops pr-comment summary --report reports/pr/report.md     # make pr-summary
    mlops pr-comment post --artifact DIR [--publish-images]    # make pr-comment-post

``post`` runs in ``.github/workflows/pr-comment.yml`` (``workflow_run``: the base repository's context, a write
token). Everything in the artifact was made by the pull request's code, so it is untrusted text: read
with a size limit, never executed, never put into a shell command; image references are replaced (by
links, or by URLs of images uploaded to CML's public asset host when the repository is public or opted in),
and any copy of the sticky marker or of CML's watermark is removed. The pull request is taken from the
``workflow_run`` event (``pull_requests``, or for a fork the open pull request whose head is ``head_sha``),
never from the artifact.

The comment starts with the one trusted line: the PR run's conclusion as GitHub recorded it (the
``workflow_run`` event, passed as ``PR_RUN_CONCLUSION``), and says that the text below it comes from the PR's
run. The sanitized markdown goes to a private temporary file, and CML posts it:
``cml comment update --target=pr/N --watermark-title=pr-experiment --no-publish FILE`` (CML finds its earlier
comment by the watermark, in the first page of comments, and edits it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from mlops_template.ops.github import GitHub, GitHubError, marker_line, with_marker

MARKER = "pr-experiment"  # the one sticky comment of the PR workflow (also CML's --watermark-title)
MAX_REPORT_BYTES = 60_000  # GitHub's comment limit is 65,536 characters
IMAGE = re.compile(r"!\[(?P<alt>[^\]\n]*)\]\((?P<src>[^)\s]+)(?:\s+\"[^\"\n]*\")?\)")
SAFE_IMAGE = re.compile(r"[\w.-]+\.png")  # what the report's own plots look like: a PNG next to report.md
# CML's watermark, which `cml comment update` looks for: a copy in the PR's text could hijack another comment
CML_WATERMARK = re.compile(r"!?\[[^\]\n]*\]\(https?://cml\.dev/watermark\.png[^)\n]*\)")
# The values GitHub gives a completed run's `conclusion`; anything else is shown as "unknown"
CONCLUSIONS = {
    "success": "✅",
    "failure": "❌",
    "timed_out": "⌛",
    "cancelled": "⏹️",
    "skipped": "⏭️",
    "action_required": "⚠️",
    "neutral": "➖",
    "stale": "⚠️",
    "startup_failure": "❌",
}


def run_url(env: dict[str, str], run_id: str | None = None) -> str:
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    return (
        f"{server}/{env.get('GITHUB_REPOSITORY', 'owner/repo')}/actions/runs/{run_id or env.get('GITHUB_RUN_ID', '')}"
    )


def read_untrusted(path: Path, limit: int = MAX_REPORT_BYTES) -> str:
    """At most ``limit`` bytes of a file made by PR code, as text; never fails on bad encoding."""
    with path.open("rb") as handle:
        raw = handle.read(limit + 1)
    text = raw[:limit].decode("utf-8", errors="replace")
    if len(raw) > limit:
        text += f"\n\n… (report truncated at {limit:,} bytes: the full text is in the run's artifact)"
    return text


def replace_images(markdown: str, link: str, published: dict[str, str] | None = None) -> str:
    """Every image reference becomes either a published image (``published[name] = url``) or a plain link.

    The job summary and a private repository's comment cannot show the report's local PNGs (they are only in
    the artifact); a broken image is worse than a link saying where the plot is.
    """
    published = published or {}

    def sub(match: re.Match[str]) -> str:
        alt, src = match.group("alt").strip() or "plot", match.group("src")
        if src in published:
            return f"![{alt}]({published[src]})"
        if re.match(r"[a-z][a-z0-9+.-]*:", src):  # not one of the report's files: a link, never an embedded image
            return f"[{alt}]({src})"
        return f"[{alt} (`{Path(src).name}`): in the run's artifact `pr-report`]({link})"

    return IMAGE.sub(sub, markdown)


def summary(report: Path, out: Path, env: dict[str, str]) -> str:
    link = run_url(env) + "#artifacts"
    if report.is_file():
        text = replace_images(report.read_text(encoding="utf-8"), link)
        note = f"{report} -> job summary"
    else:
        text = (
            f"## PR experiment: no report\n\n`make pr-report` did not write {report}: see the failed step in the log.\n"
        )
        note = f"no {report}: wrote a note to the job summary"
    with out.open("a", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return note


# ---- the trusted commenter --------------------------------------------------------------------------------


def pull_request_number(event: dict[str, Any], gh: GitHub | None) -> int | None:
    """The PR a ``workflow_run`` event is about: from the event, verified against its head commit.

    Same-repository PRs are listed in ``workflow_run.pull_requests``. For a fork that list is empty
    (GitHub's rule), so the open PR whose head is ``<fork owner>:<head branch>`` at ``head_sha`` is looked up.
    """
    run = event.get("workflow_run") or {}
    head_sha = run.get("head_sha") or ""
    for pull in run.get("pull_requests") or []:
        if (pull.get("head") or {}).get("sha") in (head_sha, None) and isinstance(pull.get("number"), int):
            return int(pull["number"])
    head_repo = (run.get("head_repository") or {}).get("owner", {}).get("login")
    branch = run.get("head_branch")
    if gh is None or not head_repo or not branch:
        return None
    # Hand-written call: CML has no PR lookup, and `gh pr list --head` matches the branch name without the
    # fork's owner; GET /pulls?head=owner:branch is exact, and the head SHA check below pins the run's commit.
    for pull in gh.request("GET", f"/pulls?state=open&head={head_repo}:{branch}&per_page=100") or []:
        if (pull.get("head") or {}).get("sha") == head_sha:
            return int(pull["number"])
    return None


def publish_images(report_dir: Path, markdown: str, cml: str) -> dict[str, str]:
    """Upload the report's own PNGs to CML's asset host (public URLs): ``{name: url}``; failures are skipped."""
    published: dict[str, str] = {}
    for match in IMAGE.finditer(markdown):
        src = match.group("src")
        path = report_dir / src
        if src in published or not SAFE_IMAGE.fullmatch(src) or not path.is_file() or path.is_symlink():
            continue
        result = subprocess.run([cml, "asset", "publish", str(path)], capture_output=True, text=True, check=False)
        url = result.stdout.strip().splitlines()[-1] if result.returncode == 0 and result.stdout.strip() else ""
        if url.startswith("https://"):
            published[src] = url
        else:
            print(f"::warning::could not publish {src} ({result.stderr.strip()[:200]}); linking the artifact")
    return published


def conclusion_of(run: dict[str, Any], env: dict[str, str]) -> str:
    """The PR run's conclusion from the trusted side: ``PR_RUN_CONCLUSION`` (the workflow passes
    ``github.event.workflow_run.conclusion``), else the event file; only GitHub's known values."""
    value = (env.get("PR_RUN_CONCLUSION") or str(run.get("conclusion") or "")).strip().lower()
    return value if value in CONCLUSIONS else "unknown"


def trusted_header(run: dict[str, Any], env: dict[str, str], link: str) -> str:
    conclusion = conclusion_of(run, env)
    icon = CONCLUSIONS.get(conclusion, "❔")
    return (
        f"### {icon} pr-experiment: **{conclusion}**\n\n"
        f"<sub>This line is GitHub's record of [run {run.get('id', '')}]({link}) (the `workflow_run` event, "
        "trusted). Everything below the rule was written by the pull request's own code in that run: it is "
        "the PR's report, not a verdict GitHub vouches for.</sub>\n\n---\n\n"
    )


def sanitize(text: str) -> str:
    """Untrusted report text without anything that would let it pose as this job's comment."""
    return CML_WATERMARK.sub("", text.replace(marker_line(MARKER), ""))


def comment_body(report_dir: Path, run: dict[str, Any], env: dict[str, str], publish: bool, cml: str) -> str:
    link = run.get("html_url") or run_url(env, str(run.get("id", "")))
    header = trusted_header(run, env, link)
    report = report_dir / "report.md"
    if not report.is_file() or report.is_symlink():
        return (
            f"{header}## PR experiment: no report\n\nThe [pr-experiment run]({link}) ended with "
            f"**{conclusion_of(run, env)}** and uploaded no report: see its log.\n"
        )
    text = sanitize(read_untrusted(report))
    published = publish_images(report_dir, text, cml) if publish else {}
    body = replace_images(text, link + "#artifacts", published)
    where = "images on CML's public asset host" if published else "plots in the run's artifact `pr-report`"
    return f"{header}{body}\n\n<sub>From [pr-experiment run {run.get('id', '')}]({link}) ({where}).</sub>\n"


def cml_comment(number: int, body: str, env: dict[str, str], cml: str) -> int:
    """Post ``body`` as the sticky comment on PR ``number`` with ``cml comment update``; returns its exit code.

    The file lives in a fresh private directory (never the artifact's folder, where the PR could have planted a
    symlink). ``--no-publish``: the images that may be shown were uploaded already, one by one, by
    publish_images; everything else is a link. The token reaches cml through the environment (GITHUB_TOKEN).
    """
    repo = f"{env.get('GITHUB_SERVER_URL', 'https://github.com').rstrip('/')}/{env.get('GITHUB_REPOSITORY', '')}"
    with tempfile.TemporaryDirectory(prefix="pr-comment-") as folder:
        path = Path(folder) / "comment.md"
        path.write_text(with_marker(body, MARKER), encoding="utf-8")
        command = [cml, "comment", "update", f"--target=pr/{number}", f"--watermark-title={MARKER}"]
        command += ["--no-publish", f"--repo={repo}", str(path)]
        try:
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=300)
        except FileNotFoundError:
            print(f"pr-comment: {cml!r} not found: the workflow installs CML with iterative/setup-cml", file=sys.stderr)
            return 1
        except subprocess.TimeoutExpired:
            print("pr-comment: cml comment update did not answer within 300 s (GitHub API down?)", file=sys.stderr)
            return 1
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()[-1000:]
        print(f"pr-comment: cml comment update failed (exit {result.returncode}): {detail}", file=sys.stderr)
        return 1
    print(f"pr-comment: comment on #{number} posted by cml: {result.stdout.strip()[-300:]}")
    return 0


def post(artifact: Path, publish: bool, env: dict[str, str]) -> int:
    event_path = env.get("GITHUB_EVENT_PATH")
    if not event_path:
        print("pr-comment: GITHUB_EVENT_PATH is not set (this runs in the workflow_run commenter)", file=sys.stderr)
        return 2
    event = json.loads(Path(event_path).read_text(encoding="utf-8"))
    run = event.get("workflow_run") or {}
    if run.get("event") != "pull_request":
        print(f"pr-comment: skipped (the run was triggered by {run.get('event')!r}, not a pull request)")
        return 0
    gh = GitHub.from_env(env)
    number = pull_request_number(event, gh)
    if number is None:
        print(
            f"pr-comment: skipped: no open pull request has head {run.get('head_sha', '?')[:12]} any more "
            "(closed, or pushed again since: that newer run will comment)"
        )
        return 0
    cml = env.get("CML", "cml")
    return cml_comment(number, comment_body(artifact, run, env, publish, cml), env, cml)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops pr-comment <summary|post>`` (``make pr-summary``, ``make pr-comment-post``; mlops_template/cli.py)."""
    sub = parser.add_subparsers(dest="pr_comment_command", required=True, metavar="<command>")
    s = sub.add_parser("summary", help="append the report to $GITHUB_STEP_SUMMARY, images as links")
    s.add_argument("--report", default="reports/pr/report.md")
    s.set_defaults(run=run_summary)
    p = sub.add_parser("post", help="(workflow_run) upsert the sticky PR comment from a downloaded report artifact")
    p.add_argument("--artifact", required=True, help="folder the pr-report artifact was downloaded to")
    p.add_argument("--publish-images", default="false", help="true: upload the PNGs to CML's public asset host")
    p.set_defaults(run=run_post)


def run_summary(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    out = env.get("GITHUB_STEP_SUMMARY")
    if not out:
        print("pr-summary: GITHUB_STEP_SUMMARY is not set: it writes the GitHub Actions job summary", file=sys.stderr)
        return 2
    print(summary(Path(args.report), Path(out), env))
    return 0


def run_post(args: argparse.Namespace) -> int:
    try:
        return post(Path(args.artifact), args.publish_images.strip().lower() == "true", dict(os.environ))
    except GitHubError as err:
        print(f"pr-comment: {err}", file=sys.stderr)
        return 1
