"""``dvc repro`` that puts ``dvc.lock`` and ``data/raw`` back as they were when it fails.

DVC records each stage in dvc.lock as soon as it succeeds, so bad data that fails validation would otherwise
leave the extract stage pointing at the bad data. Models and metrics are never touched by a failed run, since
the stages that write them do not start. Used by ``make repro`` (``cli repro``, blocking) and by
``pr-report --repro``, which starts it in the background and works on the baseline meanwhile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mlops_template.core import paths
from mlops_template.core.config import ConfigError, load_params
from mlops_template.core.tracking import SKIP_LOCAL_ENV

GUARDED = (Path("dvc.lock"), paths.RAW_DATA)


class GuardedRepro:
    """A running ``dvc repro``; :meth:`wait` returns its exit code and restores the guarded files on failure.

    ``capture``: collect stdout and stderr (in a temporary file, so a long log never blocks DVC) for
    :attr:`output`; otherwise both go to this process's. ``error``: do not start; :meth:`wait` returns 1 and
    :attr:`output` is the error (a params.yaml that does not load).
    """

    def __init__(
        self,
        dvc_args: list[str] | tuple[str, ...] = (),
        capture: bool = False,
        env: dict[str, str] | None = None,
        error: str | None = None,
    ) -> None:
        self._error = error
        self._proc: subprocess.Popen[bytes] | None = None
        self._backup = tempfile.TemporaryDirectory(prefix="repro-guard-")
        # closed by wait(): the file outlives __init__
        self._log = tempfile.TemporaryFile(mode="w+", encoding="utf-8") if capture else None  # noqa: SIM115
        self.output = ""
        self.saved: list[Path] = []
        if error is not None:
            return  # nothing runs, so nothing to put back
        for path in GUARDED:
            if path.exists():
                shutil.copy2(path, Path(self._backup.name) / path.name)
                self.saved.append(path)
        out = {"stdout": self._log, "stderr": subprocess.STDOUT} if self._log else {}
        try:
            self._proc = subprocess.Popen(["dvc", "repro", *dvc_args], env=env, **out)  # type: ignore[call-overload]
        except BaseException:
            self._cleanup()
            raise

    @property
    def running(self) -> bool:
        """Started (not refused with ``error``); it may have finished already."""
        return self._proc is not None

    def wait(self) -> int:
        if self._proc is None:
            self._cleanup()
            self.output = self._error or ""
            return 1
        try:
            code = self._proc.wait()
            if code != 0:
                for path in self.saved:
                    shutil.copy2(Path(self._backup.name) / path.name, path)
            if self._log is not None:
                self._log.seek(0)
                self.output = self._log.read()
            return code
        finally:
            self._cleanup()

    def _cleanup(self) -> None:
        self._backup.cleanup()
        if self._log is not None:
            self._log.close()


def start_candidate_pipeline() -> GuardedRepro:
    """``pr-report --repro``: the workspace's ``dvc repro`` in the background, its output captured.

    Without MLFLOW_TRACKING_URI its stages do not log to the local mlflow.db (``SKIP_LOCAL_ENV``, unless that
    is set already): nothing in the check reads that run. With a tracking server they log as usual.
    """
    try:
        load_params()  # fail fast, before DVC, on a bad params.yaml (as `make repro` does)
    except ConfigError as err:
        return GuardedRepro(error=f"ERROR: {err}\n")
    env = {**os.environ}
    env.setdefault(SKIP_LOCAL_ENV, "1")
    return GuardedRepro(capture=True, env=env)
