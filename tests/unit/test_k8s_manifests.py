"""The Kubernetes manifests in k8s/: valid against the Kubernetes schemas (offline) and wired to the service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mlops_template.ops.release.deploy import render_dir
from mlops_template.ops.release.plan import IMAGE_PLACEHOLDER
from tests.support import REPO_ROOT

K8S = REPO_ROOT / "k8s"
K8S_VERSION = "1.30"  # oldest minor still widely run; the manifests must not need anything newer


def docs(folder: Path = K8S) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[doc["kind"]] = doc
    return found


@pytest.mark.parametrize("version", [K8S_VERSION, kubernetes_validate.latest_version()])
def test_rendered_manifests_pass_strict_schema_validation(tmp_path: Path, version: str) -> None:
    render_dir("ghcr.io/owner/repo:0123abc", tmp_path, K8S)
    rendered = docs(tmp_path)
    assert set(rendered) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    for doc in rendered.values():
        kubernetes_validate.validate(doc, version, strict=True)


def test_schema_validation_catches_a_mistyped_key() -> None:
    deployment = docs()["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_deployment_probes_ports_security_and_image() -> None:
    found = docs()
    deployment, service, hpa = found["Deployment"], found["Service"], found["HorizontalPodAutoscaler"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE_PLACEHOLDER  # filled in by `make deploy` with the pushed image
    port = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port == {"http": 3000}  # BentoML's default port
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert {"requests", "limits"} <= set(container["resources"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    # the Service and the HPA point at this Deployment
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
