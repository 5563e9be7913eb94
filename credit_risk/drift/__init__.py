"""Drift monitoring: is today's traffic still the population the model learned from?

``psi`` bins values on the reference stored with the model and computes the
Population Stability Index; ``live`` keeps it over a rolling window inside the
service (Prometheus gauges); ``records``, ``report`` and ``python -m
credit_risk.drift`` compute it offline from the decision records.
"""
