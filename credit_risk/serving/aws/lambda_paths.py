"""Where the service writes when it runs on AWS Lambda: ``/tmp`` only.

Lambda's file system is read-only except ``/tmp``. BentoML writes its home
(temporary files), prometheus_client its multiprocess files, and the service its
decision records; each is pointed at ``/tmp`` here, before BentoML is imported,
and only when Lambda runs us, so that ``bentoml serve`` keeps its own defaults.
This module imports nothing of BentoML's for that reason.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Final

LAMBDA_MARKERS: Final = ("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME")
"""Variables Lambda sets in every execution environment (the first for custom
runtimes and container images, which is what the image is there)."""

WRITABLE_ROOT: Final = Path("/tmp")
WRITABLE_PREFIXES: Final = ("/tmp/", "/mnt/")
"""``/tmp``, and ``/mnt``, where Lambda mounts EFS file systems: a records folder
already there is the operator's choice and is kept."""

RECORDS_SINK: Final = "CREDIT_RISK_RECORDS_SINK"
MONITORING_DIR: Final = "CREDIT_RISK_MONITORING_DIR"


def on_lambda(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process runs in a Lambda execution environment."""
    return any(environ.get(name) for name in LAMBDA_MARKERS)


def lambda_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables to set on Lambda so that nothing is written outside ``/tmp``.

    Decision records go to standard output, which Lambda sends to CloudWatch Logs
    (the records writer's stdout sink), unless a sink was chosen; when they go to
    files, the folder moves under ``/tmp`` unless it is under ``/tmp`` or ``/mnt``.
    """
    changes = {
        "BENTOML_HOME": str(WRITABLE_ROOT / "bentoml"),
        "PROMETHEUS_MULTIPROC_DIR": str(WRITABLE_ROOT / "prometheus"),
        "TMPDIR": str(WRITABLE_ROOT),
    }
    if RECORDS_SINK not in environ:
        changes[RECORDS_SINK] = "stdout"
    if not environ.get(MONITORING_DIR, "").startswith(WRITABLE_PREFIXES):
        changes[MONITORING_DIR] = str(WRITABLE_ROOT / "credit-risk" / "monitoring")
    return changes


def prepare_lambda_paths(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """On Lambda, point every writer at ``/tmp`` and create the folders; returns the changes.

    Off Lambda this does nothing, so the same module serves local tests unchanged.
    """
    if not on_lambda(environ):
        return {}
    changes = lambda_environment(environ)
    environ.update(changes)
    for name in ("BENTOML_HOME", "PROMETHEUS_MULTIPROC_DIR", MONITORING_DIR):
        Path(environ[name]).mkdir(parents=True, exist_ok=True)
    return changes
