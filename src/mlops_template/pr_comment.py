"""The PR report's way out: the job summary of the untrusted run, and the one sticky comment of the trusted one.

Standard library only, so it runs before (or without) ``make setup``:

    python -m mlops_template.pr_comment summary --report reports/pr/report.md     # make pr-summary
    python -m mlops_template.pr_comment post --artifact DIR [--publish-images]    # make pr-comment-post

``post`` runs in ``.github/workflows/pr-comment.yml`` (``workflow_run``: the base repository's context, a write
token). Everything in the artifact was made by the pull request's code, so it is untrusted text: read
with a size limit, never executed, never put into a shell command; image references are replaced (by
links, or by URLs of images uploaded to CML's public asset host when the repository is public or opted in),
and any copy of the sticky marker is removed. The pull request is taken from the ``workflow_run`` event
(``pull_requests``, or for a fork the open pull request whose head is ``head_sha``), never from the artifact.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlops_template.github import GitHub, GitHubError, marker_line

MARKER = "pr-experiment"  # the one sticky comment of the PR workflow
MAX_REPORT_BYTES = 60_000  # GitHub's comment limit is 65,536 characters
IMAGE = re.compile(r"!\[(?P<alt>[^\]\n]*)\]\((?P<src>[^)\s]+)(?:\s+\"[^\"\n]*\")?\)")
SAFE_IMAGE = re.compile(r"[\w.-]+\.png")  # what the report's own plots look like: a PNG next to report.md


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


def comment_body(report_dir: Path, run: dict[str, Any], env: dict[str, str], publish: bool, cml: str) -> str:
    link = run.get("html_url") or run_url(env, str(run.get("id", "")))
    report = report_dir / "report.md"
    if not report.is_file() or report.is_symlink():
        conclusion = run.get("conclusion", "unknown")
        return (
            f"## PR experiment: no report\n\nThe [pr-experiment run]({link}) ended with **{conclusion}** and "
            "uploaded no report: see its log.\n"
        )
    text = read_untrusted(report).replace(marker_line(MARKER), "")
    published = publish_images(report_dir, text, cml) if publish else {}
    body = replace_images(text, link + "#artifacts", published)
    where = "images on CML's public asset host" if published else "plots in the run's artifact `pr-report`"
    return f"{body}\n\n<sub>From [pr-experiment run {run.get('id', '')}]({link}) ({where}).</sub>\n"


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
    body = comment_body(artifact, run, env, publish, env.get("CML", "cml"))
    action, ident = gh.upsert_comment(number, MARKER, body)
    print(f"pr-comment: comment {action} on #{number} (id {ident})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlops_template.pr_comment", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary", help="append the report to $GITHUB_STEP_SUMMARY, images as links")
    s.add_argument("--report", default="reports/pr/report.md")
    p = sub.add_parser("post", help="(workflow_run) upsert the sticky PR comment from a downloaded report artifact")
    p.add_argument("--artifact", required=True, help="folder the pr-report artifact was downloaded to")
    p.add_argument("--publish-images", default="false", help="true: upload the PNGs to CML's public asset host")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.command == "summary":
        out = env.get("GITHUB_STEP_SUMMARY")
        if not out:
            print(
                "pr-summary: GITHUB_STEP_SUMMARY is not set: it writes the GitHub Actions job summary", file=sys.stderr
            )
            return 2
        print(summary(Path(args.report), Path(out), env))
        return 0
    try:
        return post(Path(args.artifact), args.publish_images.strip().lower() == "true", env)
    except GitHubError as err:
        print(f"pr-comment: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
