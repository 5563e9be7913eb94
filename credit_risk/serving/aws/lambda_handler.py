"""The AWS Lambda entry point: ``credit_risk.serving.aws.lambda_handler.handler``.

API Gateway events (HTTP API payload 2.0, REST API payload 1.0, base64 bodies
included) are turned into ASGI requests by Mangum and answered by the service's
own ASGI app, ``CreditRiskClassifier.to_asgi()``: the same routes, middlewares
(API key, content type, body limit), validation and decision code as ``bentoml
serve``, in the embedded topology. Nothing here adds a route or decides anything.

Everything is built at import, which Lambda runs in its init phase (up to 10 s,
not billed on on-demand functions): the bento's service is imported, its ASGI
lifespan started, and so the model loaded, once per execution environment.

Run by the runtime interface client, from the bento's source folder:
``python -m awslambdaric credit_risk.serving.aws.lambda_handler.handler``.
"""

from __future__ import annotations

# Before BentoML is imported: on Lambda its home, prometheus_client's files and
# the decision records must all be under /tmp (or records on stdout).
from credit_risk.serving.aws.lambda_paths import prepare_lambda_paths

prepare_lambda_paths()

import logging  # noqa: E402
import os  # noqa: E402
from typing import Any  # noqa: E402

import bentoml  # noqa: E402
from mangum import Mangum  # noqa: E402
from mangum.protocols import LifespanCycle  # noqa: E402

logger = logging.getLogger("credit_risk.serving.aws.lambda_handler")

SERVICE_IMPORT = "service:CreditRiskClassifier"
"""The bentofiles' ``service:``, for running from the source tree."""


def load_service() -> Any:
    """The classifier service: from the bento the image carries, or the source tree.

    In the image, ``BENTO_PATH`` is the bento; loading it as ``bentoml serve``
    does reads the model from the bento's own, read-only model store, whatever
    ``BENTOML_HOME`` says. Outside an image, ``service.py`` is imported from the
    working directory with the current model store.
    """
    return bentoml.load(os.environ.get("BENTO_PATH") or SERVICE_IMPORT)


def build_handler() -> Mangum:
    """Mangum around the service's ASGI app, with the app started for good.

    Mangum's own ``lifespan="on"`` runs the ASGI startup and shutdown around
    every invocation (mangum 0.22, ``Mangum.__call__``), which for BentoML means
    building the service, loading the model, and tearing it down on each event:
    measured 48 ms per event, and 503 from the second event on, the records
    writer being reopened (``benchmarks/aws_lambda.py lifespan on``).
    The startup is run here instead, once, with the same ``LifespanCycle`` in
    "on" mode (a failed startup raises, and Lambda reports an init error); the
    app then lives as long as the execution environment.
    """
    app = load_service().to_asgi()
    handler = Mangum(app, lifespan="off")  # creates the event loop both share
    LifespanCycle(app, "on").__enter__()
    logger.info("Service started for Lambda")
    return handler


handler = build_handler()
"""What ``awslambdaric`` calls: ``handler(event, context)`` -> API Gateway response."""
