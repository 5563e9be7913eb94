"""Make ``prometheus-rule.yaml`` (a ``PrometheusRule`` for the Prometheus operator) from
``rules.yml``, the one source of the rules.

    python deploy/monitoring/generate.py          # rewrites prometheus-rule.yaml

A ``PrometheusRule``'s ``spec`` holds the same ``groups`` as a rule file, so the groups
are copied as text, indented under ``spec:``: the same bytes every time, and
``tests/deploy/test_monitoring_rules.py`` fails when the committed file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

HERE: Final = Path(__file__).resolve().parent
RULES: Final = HERE / "rules.yml"
OUTPUT: Final = HERE / "prometheus-rule.yaml"

HEADER: Final = """\
# GENERATED from rules.yml by deploy/monitoring/generate.py: edit rules.yml, then run it.
# The rules for clusters running the Prometheus operator, beside servicemonitor.yaml.
# `release` is the label your Prometheus selects rules by (ruleSelector).
#
#   kubectl apply -n <the service's namespace> -f deploy/monitoring/prometheus-rule.yaml
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: credit-risk-classifier
  labels:
    app.kubernetes.io/name: credit-risk-classifier
    app.kubernetes.io/part-of: credit-risk-service
    release: prometheus
spec:
"""


def render(rules_text: str) -> str:
    """The ``PrometheusRule`` document for the rule file ``rules_text``: its ``groups:``
    block (from that line on; the file's header comments stay behind) under ``spec:``."""
    lines = rules_text.splitlines()
    start = lines.index("groups:")
    body = "".join(f"  {line}\n" if line else "\n" for line in lines[start:])
    return HEADER + body


def main(argv: list[str]) -> None:
    """Write the document to ``argv[0]``, or to ``prometheus-rule.yaml`` beside this script."""
    path = Path(argv[0]) if argv else OUTPUT
    path.write_text(render(RULES.read_text()))


if __name__ == "__main__":
    main(sys.argv[1:])
