"""Outcomes analysis: were the decisions right, once repayments are known?

Outcome files (``decision_id``, ``defaulted``, ``observed_at``; CSV or Parquet) are
loaded into ``<monitoring_dir>/outcomes/outcomes.duckdb`` (``store``), joined by id
to the decision records read with DuckDB (``join``), and back-tested (``backtest``):
realised AUC, Gini and KS with bootstrap intervals, calibration per score band,
per vintage, per model tag and per fairness group, as HTML and JSON (``html``).
``python -m credit_risk.outcomes`` is the command (docs/outcomes.md).
"""
