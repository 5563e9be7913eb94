"""The service as it was before bounded heads and labels, for ``bench.py``'s comparison.

``service.py`` installs ``credit_risk/serving/heads.py``'s protocol and
``route_labels.py``'s middlewares at import; this module imports it and takes both back
out, so that one ``bench.py`` run can serve the two side by side (variant
``embedded-unbounded``) and measure what the bounds cost.
"""

from __future__ import annotations

import uvicorn.config

import service
from credit_risk.serving.heads import UVICORN_PROTOCOLS
from credit_risk.serving.route_labels import RestorePath

uvicorn.config.HTTP_PROTOCOLS.update(UVICORN_PROTOCOLS)
CreditRiskClassifier = service.CreditRiskClassifier
CreditRiskClassifier.middlewares[:] = [
    entry for entry in CreditRiskClassifier.middlewares if entry[0] is not RestorePath
]
