"""Shared domain code for the credit-risk service.

Training, serving, load testing and the tests all import from here, so the
application schema, the vocabularies, the feature encoding and the decision
policy exist exactly once.
"""

import os

# XGBoost's OpenMP threads spin at every barrier by default. On a busy 2-core
# machine (a test server, a load generator) that made train.py take 280 s
# instead of 8 s. It must be set before xgboost loads libgomp, hence here,
# where every entry point passes first.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
