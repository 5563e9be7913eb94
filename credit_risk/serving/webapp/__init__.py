"""The loan officer's web page, served by the classifier service itself.

``static/`` holds one page (HTML, CSS and a little JavaScript, no build step);
``page_app`` is the ASGI app that serves it, mounted on the service at
``PAGE_PATH`` (see service.py). The page asks the API for everything it shows:
the fields, their vocabularies, ranges and defaults from ``/docs.json``, the
model from ``/model``, the decisions from ``/classify`` and ``/classify_batch``.
"""

from __future__ import annotations

from credit_risk.serving.webapp.mount import PAGE_PATH, STATIC_DIR, page_app

__all__ = ["PAGE_PATH", "STATIC_DIR", "page_app"]
