#!/usr/bin/env python3
"""actions/checkout stand-in: the permission check GitHub makes, then the copy act would make (action.yml)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

STANDINS = Path(os.environ["ACT_STANDINS"])
sys.path.insert(0, str(STANDINS))
sys.path.insert(0, str(STANDINS.parent.parent))  # .ci/emulation: github_token
from github_token import allows  # noqa: E402
from record import record  # noqa: E402

inputs = json.loads(os.environ.get("INPUTS") or "{}")
repository = os.environ.get("GITHUB_REPOSITORY", "")
token = inputs.get("token") or os.environ.get("ACT_JOB_TOKEN", "")
if inputs.get("repository") not in ("", None, repository) or inputs.get("ref"):
    print("checkout stand-in: only the commit under test of this repository can be checked out", file=sys.stderr)
    sys.exit(1)
if not allows(token, "contents", "read"):
    # What actions/checkout prints when the token cannot read a private repository.
    print(f"remote: Repository not found.\nError: fatal: repository 'https://github.com/{repository}/' not found")
    print("::error::The process '/usr/bin/git' failed with exit code 128")
    print("(act harness: this job's GITHUB_TOKEN has no `contents: read`; the repository is private)")
    record("actions/checkout", allowed=False)
    sys.exit(1)

source = Path(os.environ["ACT_CHECKOUT_SOURCE"])
dest = Path(os.environ["GITHUB_WORKSPACE"]) / (inputs.get("path") or "")
listed = (
    subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        capture_output=True,
        check=True,
    )
    .stdout.decode()
    .split("\0")
)
for name in (n for n in listed if n):
    src = source / name
    if not (src.exists() or src.is_symlink()):
        continue  # deleted in the working copy
    target = dest / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, target, follow_symlinks=False)
shutil.copytree(source / ".git", dest / ".git", symlinks=True, dirs_exist_ok=True)
record("actions/checkout", allowed=True, files=sum(1 for n in listed if n))
