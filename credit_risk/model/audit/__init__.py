"""Audits of a trained model that a fair-lending reviewer asks for, measured exactly.

``protected`` counts the applications whose principal reasons cite a field (a
prohibited basis such as ``marital``), by the service's own reasons code; ``elderly``
checks Regulation B's rule for applicants aged 62 or more over every younger age;
``directions`` proves each declared field direction (``vocabulary.FIELD_DIRECTIONS``)
row by row from the trees' split thresholds (``splits``), derived features included;
``applications`` holds the rows audited and re-encodes them with one field moved, by
the service's feature code; ``report`` runs them all over a population, and
``python -m credit_risk.model.audit`` over the data and generated applications.
"""
