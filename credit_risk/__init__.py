"""Shared domain code for the credit-risk service.

Training, serving, load testing and the tests all import from here, so the
application schema, the vocabularies, the feature encoding and the decision
policy exist exactly once.
"""
