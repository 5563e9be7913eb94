"""The credit-risk service's package: the shared domain at its root, a subpackage per concern.

The root holds what every entry point shares, so that the application schema, the
vocabularies, the feature encoding, the decision policy and the reasons exist exactly
once: ``vocabulary``, ``schema``, ``features``, ``policy``, ``reasons``, ``decisions``,
``csv_format``, ``generator`` and ``settings``. Each subpackage belongs to one entry point
or one concern: ``model`` (the stored model), ``training`` (``train.py``), ``serving``
(``service.py``), ``batch`` (``score.py``), ``records`` (the audit trail) and ``drift``.
docs/development.md is the map.
"""

import os

# XGBoost's OpenMP threads spin at every barrier by default. On a busy 2-core
# machine (a test server, a load generator) that made train.py take 280 s
# instead of 8 s. It must be set before xgboost loads libgomp, hence here,
# where every entry point passes first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
