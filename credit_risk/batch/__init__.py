"""Batch scoring: whole portfolios from CSV or Parquet, on one machine or on Spark.

``BatchScorer`` turns a frame of applications into a frame of decisions with
the online code (schema, features, explainer, policy, reasons); ``io`` streams
files through it in chunks; ``job`` runs a file's chunks, in worker processes that
``fork_server`` starts early; ``spark`` runs the same scorer on executors.
Importing this package needs pyarrow (the ``[batch]`` extra); the service
imports none of it.
"""
