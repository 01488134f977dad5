"""Wait until the GitOps controller has rolled out the release (``make gitops-wait``), before `champion` moves.

In the GitOps mode the deploy job only commits production's desired state to the deploy branch; Argo CD applies it
later. Moving the MLflow ``champion`` alias right after that commit would mark a model as serving before any pod
runs it. So, when ``ARGOCD_APP`` names the Argo CD ``Application`` (k8s/argocd/application.yaml) and
``KUBE_CONFIG`` reaches its cluster, this polls it with ``kubectl`` until it has synced the release commit and is
``Healthy``::

    kubectl get application NAME -n argocd -o 'jsonpath={.status.sync.revision}|{.status.sync.status}|...'

(every ``GITOPS_WAIT_INTERVAL`` seconds, default 5) and fails after ``GITOPS_WAIT_TIMEOUT`` seconds (default
600), naming the last status it saw, so that ``champion`` does not move. Without ``ARGOCD_APP`` it skips, saying
that ``champion`` then marks the desired state (committed), not a healthy rollout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mlops_template.ops.release.deploy import kubeconfig_text
from mlops_template.ops.release.plan import ReleaseError

DEFAULT_NAMESPACE = "argocd"
DEFAULT_TIMEOUT = 600.0
JSONPATH = "{.status.sync.revision}|{.status.sync.status}|{.status.health.status}"  # text outside {} is literal


@dataclass(frozen=True)
class AppStatus:
    revision: str
    sync: str
    health: str

    @classmethod
    def parse(cls, text: str) -> AppStatus:
        parts = [p.strip() for p in text.strip().split("|")] + ["", "", ""]  # a fresh app has empty fields
        return cls(parts[0], parts[1], parts[2])

    def describe(self) -> str:
        revision = self.revision[:12] or "none"
        return f"revision {revision}, sync {self.sync or 'unknown'}, health {self.health or 'unknown'}"


def rolled_out(status: AppStatus, revision: str | None) -> bool:
    """Synced to the release commit (when known) and Healthy."""
    on_revision = not revision or status.revision == revision
    return on_revision and status.sync == "Synced" and status.health == "Healthy"


def wait_healthy(
    read: Callable[[], AppStatus],
    revision: str | None,
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> AppStatus:
    """Poll ``read`` until :func:`rolled_out`; raise :class:`ReleaseError` naming the last status at the timeout."""
    start = clock()
    status = read()
    while not rolled_out(status, revision):
        if clock() - start >= timeout:
            want = f"revision {revision[:12]}, " if revision else ""
            raise ReleaseError(
                f"the Argo CD application did not become {want}Synced + Healthy within {timeout:.0f} s "
                f"(last: {status.describe()}); `champion` was not moved. Look at the application in Argo CD; "
                "`git revert` the release commit on the deploy branch to roll back"
            )
        print(f"gitops-wait: {status.describe()}; waiting", flush=True)
        sleep(interval)
        status = read()
    return status


def kubectl_reader(app: str, namespace: str, kubeconfig: Path) -> Callable[[], AppStatus]:
    if shutil.which("kubectl") is None:
        raise ReleaseError("kubectl is not installed (needed to read the Argo CD application's health)")

    def read() -> AppStatus:
        cmd = ["kubectl", "get", "application", app, "-n", namespace, "-o", f"jsonpath={JSONPATH}"]
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=60)
        if result.returncode != 0:
            raise ReleaseError(
                f"`kubectl get application {app} -n {namespace}` failed ({result.returncode}): "
                f"{result.stderr.strip()[:300]} (check ARGOCD_APP, ARGOCD_NAMESPACE and KUBE_CONFIG)"
            )
        return AppStatus.parse(result.stdout)

    return read


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise ReleaseError(f"{name}={raw!r} is not a number of seconds") from None
    if value < 0:
        raise ReleaseError(f"{name}={raw!r} is negative")
    return value


def gitops_wait(env: Mapping[str, str], revision: str | None) -> AppStatus | None:
    """Wait for ``ARGOCD_APP``'s rollout of ``revision``; None when not configured (skipped, with a notice)."""
    app = env.get("ARGOCD_APP", "").strip()
    if not app:
        print(
            "gitops-wait: skipped (ARGOCD_APP is not set): `champion` will mark the desired state committed to the "
            "deploy branch, not a healthy rollout (docs/release.md, 'Promotion after success')"
        )
        return None
    if not env.get("KUBE_CONFIG", "").strip():
        raise ReleaseError(f"ARGOCD_APP={app} needs KUBE_CONFIG (a kubeconfig that may read applications)")
    namespace = env.get("ARGOCD_NAMESPACE", "").strip() or DEFAULT_NAMESPACE
    timeout = _seconds(env, "GITOPS_WAIT_TIMEOUT", DEFAULT_TIMEOUT)
    interval = _seconds(env, "GITOPS_WAIT_INTERVAL", 5.0)
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(kubeconfig_text(env["KUBE_CONFIG"]), encoding="utf-8")
        kubeconfig.chmod(0o600)
        status = wait_healthy(kubectl_reader(app, namespace, kubeconfig), revision, timeout, interval)
    print(f"gitops-wait: {namespace}/{app} rolled out: {status.describe()}")
    return status
