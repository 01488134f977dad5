"""`make gitops-wait`: in the GitOps mode `champion` moves only once Argo CD has synced the release commit and the
application is Healthy (read with kubectl; here the kubectl stand-in of .ci/emulation/kube plays the cluster)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_template.cli import main
from mlops_template.ops.release.argocd import AppStatus, rolled_out, wait_healthy
from mlops_template.ops.release.plan import ReleaseError
from mlops_template.ops.serving.record import ReleaseRecord
from tests.support import REPO_ROOT

KUBE_STANDIN = REPO_ROOT / ".ci/emulation/kube"
KUBECONFIG = "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_status_parsing_and_the_rolled_out_rule() -> None:
    assert AppStatus.parse(f"{COMMIT}|Synced|Healthy") == AppStatus(COMMIT, "Synced", "Healthy")
    assert AppStatus.parse("||") == AppStatus("", "", "")  # a fresh application
    assert rolled_out(AppStatus(COMMIT, "Synced", "Healthy"), COMMIT)
    assert not rolled_out(AppStatus("old", "Synced", "Healthy"), COMMIT)  # healthy, but still the previous release
    assert not rolled_out(AppStatus(COMMIT, "Synced", "Progressing"), COMMIT)
    assert not rolled_out(AppStatus(COMMIT, "OutOfSync", "Healthy"), COMMIT)
    assert rolled_out(AppStatus("any", "Synced", "Healthy"), None)  # nothing committed: the pinned state is live


def test_the_wait_times_out_naming_the_last_status() -> None:
    now = [0.0]
    statuses = iter([AppStatus("old", "OutOfSync", "Healthy")] + [AppStatus(COMMIT, "Synced", "Degraded")] * 100)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(ReleaseError, match=r"within 30 s \(last: revision 0123456789ab, sync Synced, health Degraded"):
        wait_healthy(lambda: next(statuses), COMMIT, timeout=30, interval=5, sleep=sleep, clock=lambda: now[0])


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def gitops_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    """`mlops release gitops-wait` in tmp_path, with the kubectl stand-in first on PATH."""

    def call(states: list[str] | None, **env: str) -> Ran:
        monkeypatch.chdir(tmp_path)
        ReleaseRecord(deploy_commit=COMMIT).save(tmp_path / ".cache/release/release.json")
        for name in [k for k in os.environ if k.startswith(("ARGOCD_", "GITOPS_WAIT", "KUBE"))]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("PATH", f"{KUBE_STANDIN}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("ACT_RECORD_DIR", str(tmp_path))
        if states is not None:
            (tmp_path / "app-status").write_text("\n".join(states) + "\n", encoding="utf-8")
            monkeypatch.setenv("KUBECTL_STANDIN_APP_STATUS", str(tmp_path / "app-status"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = main(["release", "gitops-wait"])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return call


def test_without_an_argo_cd_application_it_skips_and_says_what_champion_means(gitops_wait: Callable[..., Ran]) -> None:
    result = gitops_wait(None)
    assert result.returncode == 0, result.stderr
    assert "gitops-wait: skipped (ARGOCD_APP is not set)" in result.stdout
    assert "`champion` will mark the desired state committed to the deploy branch" in result.stdout


def test_it_waits_for_the_release_commit_to_be_synced_and_healthy(
    tmp_path: Path, gitops_wait: Callable[..., Ran]
) -> None:
    states = [
        "old|Synced|Healthy",
        f"{COMMIT}|OutOfSync|Healthy",
        f"{COMMIT}|Synced|Progressing",
        f"{COMMIT}|Synced|Healthy",
    ]
    result = gitops_wait(states, ARGOCD_APP="mlops-template", KUBE_CONFIG=KUBECONFIG, GITOPS_WAIT_INTERVAL="0.05")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gitops-wait: argocd/mlops-template rolled out: revision 0123456789ab, sync Synced, health Healthy" in (
        result.stdout
    )
    assert result.stdout.count("; waiting") == 3
    calls = (tmp_path / "kubectl.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(calls) == 4 and '"get", "application", "mlops-template", "-n", "argocd"' in calls[0]


def test_a_rollout_that_never_gets_healthy_fails_and_champion_stays(
    tmp_path: Path, gitops_wait: Callable[..., Ran]
) -> None:
    result = gitops_wait(
        [f"{COMMIT}|Synced|Degraded"],
        ARGOCD_APP="mlops-template",
        ARGOCD_NAMESPACE="gitops",
        KUBE_CONFIG=KUBECONFIG,
        GITOPS_WAIT_TIMEOUT="0.3",
        GITOPS_WAIT_INTERVAL="0.05",
    )
    assert result.returncode == 1
    assert "health Degraded" in result.stderr and "`champion` was not moved" in result.stderr
    assert "Traceback" not in result.stderr
    assert '"-n", "gitops"' in (tmp_path / "kubectl.jsonl").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("states", "env", "message"),
    [
        (None, {"ARGOCD_APP": "app", "KUBE_CONFIG": KUBECONFIG}, "`kubectl get application app -n argocd` failed"),
        ([], {"ARGOCD_APP": "app"}, "ARGOCD_APP=app needs KUBE_CONFIG"),
        (
            [],
            {"ARGOCD_APP": "app", "KUBE_CONFIG": KUBECONFIG, "GITOPS_WAIT_TIMEOUT": "soon"},
            "GITOPS_WAIT_TIMEOUT='soon'",
        ),
    ],
)
def test_misconfiguration_is_a_clear_error(
    gitops_wait: Callable[..., Ran], states: list[str] | None, env: dict[str, str], message: str
) -> None:
    result = gitops_wait(states, **env)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
