"""Fairness of the decisions by group: approval rates, adverse impact ratios against
the most favoured group (the four-fifths rule's flag), and, where outcomes are known,
default rates and calibration.

``table`` computes the figures over any population of decisions (the held-out data
at training, stored with the model; the live decision records); ``report`` writes
them as HTML with an inline chart and as JSON; ``python -m credit_risk.fairness``
reads the records and exits by flag.
"""
