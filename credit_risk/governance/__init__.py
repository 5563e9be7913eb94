"""Governance of the models: the release (which model decides, which shadows), bentos built
as releases, and later the comparisons and acts that change it (python -m
credit_risk.governance)."""
