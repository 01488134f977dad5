"""Shared test helpers: repository copies, free ports, real server processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
UV_PATH_DIR = REPO_ROOT / ".cache" / "uv-bin"  # holds only a `uv` link (Makefile)


def tracked_files(root: Path = REPO_ROOT) -> list[str]:
    """Files git tracks plus untracked, non-ignored ones (so uncommitted work is tested too)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    return [p for p in out.decode().split("\0") if p and (root / p).exists()]


def copy_repo(dest: Path, with_git: bool = True) -> Path:
    """Copy the project's files (not .venv, caches or DVC-cached data) into ``dest`` as a fresh git repo."""
    dest.mkdir(parents=True, exist_ok=True)
    for rel in tracked_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / rel, target)
    if with_git:
        git(dest, "init", "-q", "-b", "main")
        git(dest, "add", "-A")
        git(dest, "commit", "-qm", "test copy")
    return dest


def git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "test",
        "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "test",
        "GIT_COMMITTER_EMAIL": "test@example.invalid",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


# What a project copy's commands (and act's self-hosted steps, see .ci/emulation/act/harness.py) must not
# inherit from the caller: its tracking server, and its make/pytest arguments. `make test PYTEST_ARGS=...`
# exports them through MAKEFLAGS to every `make` run in a copy, which re-ran the calling test inside itself.
NOT_INHERITED = frozenset(
    {"MLFLOW_TRACKING_URI", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"}
    | {"PYTEST_ADDOPTS", "PYTEST_ARGS", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER"}
)


def env_with_venv(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment whose PATH starts with this venv's bin (so `dvc`, `python` are the project's)."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    # The project's uv too (bootstrapped by make on a machine without a global one): `make bento` in a
    # copy runs `bentoml build`, which needs uv on PATH.
    env["PATH"] = os.pathsep.join([str(VENV_BIN), str(UV_PATH_DIR), env.get("PATH", "")])
    env["MPLBACKEND"] = "Agg"
    env.update(extra or {})
    return env


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        cmd, cwd=cwd, env=env or env_with_venv(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 200; fail early if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as err:
            last = err
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout}s (last error: {last})")


@contextlib.contextmanager
def server(
    cmd: list[str], health_url: str, cwd: Path, log_path: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a real server process on 127.0.0.1, wait until healthy, stop it (and its children) after."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env or env_with_venv(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        try:
            wait_http(health_url, timeout, proc)
        except Exception as err:
            log.flush()
            raise RuntimeError(f"{err}\n--- server log\n{log_path.read_text(errors='replace')[-4000:]}") from None
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def s3_server(workdir: Path, bucket: str, env: dict[str, str]) -> Iterator[tuple[str, Any]]:
    """A real S3-compatible server (moto) on 127.0.0.1 with ``bucket`` created; yields (endpoint, boto3 client).

    ``env`` is the environment for the server; callers pass the same (with MOTO_CREDENTIALS) to DVC.
    """
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with server(
        ["moto_server", "-H", "127.0.0.1", "-p", str(port)],
        f"{endpoint}/moto-api/",
        cwd=workdir,
        log_path=workdir / "moto.log",
        env=env,
        timeout=60,
    ):
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=MOTO_CREDENTIALS["AWS_DEFAULT_REGION"],
        )
        client.create_bucket(Bucket=bucket)
        yield endpoint, client
