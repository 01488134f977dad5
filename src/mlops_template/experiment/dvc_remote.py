"""The DVC remote as the CI jobs use it (scripts/pr/remote.sh sets it up).

- :func:`workspace_remote`: the default remote as the *workspace* configures it (``.dvc/config`` plus the
  ``.dvc/config.local`` that ``make dvc-pull`` writes in CI), passed explicitly to ``DVCFileSystem`` when the
  baseline is read at another revision (``experiment/baseline.py``).
- ``mlops dvc-remote pushed --remote NAME``: after ``make pr-push``, says which of
  the outputs the committed ``dvc.lock`` pins are on the remote (path, md5), on stdout and in the job summary;
  a pin that is not there is named in a warning (the release after the merge would not find it).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_template.core.lineage import committed_lock, locked_outs


def workspace_remote(repo: Path = Path(".")) -> tuple[str, dict[str, Any]] | None:
    """``(name, config)`` of the workspace's default DVC remote (all config levels merged; DVC makes a folder's
    relative URL absolute), or None when there is none or DVC cannot read the project."""
    try:
        from dvc.repo import Repo

        with Repo(str(repo)) as dvc_repo:
            config = dvc_repo.config
            name = config["core"].get("remote")
            if not name or name not in config["remote"]:
                return None
            return name, dict(config["remote"][name])
    except Exception:
        return None


@dataclass(frozen=True)
class Pin:
    path: str
    md5: str  # as the committed dvc.lock pins it
    on_remote: bool


def pushed(remote: str, repo: Path = Path(".")) -> list[Pin]:
    """Every output the committed dvc.lock pins that DVC caches (and so pushes), and whether the remote has it."""
    from dvc.repo import Repo

    lock = committed_lock(repo)
    if lock is None:
        raise FileNotFoundError("no dvc.lock: run `make repro` and commit dvc.lock")
    pins = locked_outs(lock)
    with Repo(str(repo)) as dvc_repo:
        cached = {str(out.def_path) for out in dvc_repo.index.outs if out.use_cache}
        odb = dvc_repo.cloud.get_remote_odb(remote, "push")
        return [Pin(path, md5, bool(odb.exists(md5))) for path, md5 in pins.items() if path in cached]


def report(remote: str, url: str, pins: list[Pin]) -> str:
    missing = [p for p in pins if not p.on_remote]
    lines = [
        f"### DVC remote: this pull request's outputs on `{remote}` ({url})",
        "",
        "| output | md5 (committed dvc.lock) | on the remote |",
        "|---|---|---|",
        *(f"| `{p.path}` | `{p.md5}` | {'yes' if p.on_remote else '**no**'} |" for p in pins),
        "",
    ]
    if missing:
        lines.append(
            f"{len(missing)} pinned output(s) are not on the remote: this run produced other bytes than the committed "
            "dvc.lock pins (another machine's `make repro`). The release after the merge cannot pull them."
        )
    else:
        lines.append(
            f"All {len(pins)} cached outputs the committed dvc.lock pins are on the remote: the release pulls them."
        )
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``mlops dvc-remote pushed`` (scripts/pr/dvc-push.sh; mlops_template/cli.py)."""
    sub = parser.add_subparsers(dest="dvc_remote_command", required=True, metavar="<command>")
    p = sub.add_parser("pushed", help="which outputs the committed dvc.lock pins are on the remote")
    p.add_argument("--remote", required=True)
    p.add_argument("--url", default="")
    p.add_argument("--summary", default=os.environ.get("GITHUB_STEP_SUMMARY", ""), help="append the table here")
    p.set_defaults(run=run_pushed)


def run_pushed(args: argparse.Namespace) -> int:
    try:
        pins = pushed(args.remote)
    except Exception as err:
        print(f"pr-push: could not list the remote '{args.remote}': {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    text = report(args.remote, args.url, pins)
    print(text, end="")
    if args.summary:
        with open(args.summary, "a", encoding="utf-8") as summary:
            summary.write(text)
    for pin in pins:
        if not pin.on_remote:
            print(f"::warning::pr-push: {pin.path} ({pin.md5}, as the committed dvc.lock pins it) is not on the remote")
    return 0
