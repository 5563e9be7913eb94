"""Serving: ``service.py``'s library, everything between an HTTP request and a decision.

``guards`` refuses requests before they are read (API key, media type, body size);
``openapi`` amends BentoML's OpenAPI document; ``csv_body`` is the ``text/csv`` input of
``/classify_csv``; ``runner_client`` joins concurrent requests' rows into one call to a
remote runner; ``metrics`` holds the decision metrics; ``webapp`` is the loan officer's
page and ``aws`` the Lambda and SageMaker adapters of the same image.
"""
