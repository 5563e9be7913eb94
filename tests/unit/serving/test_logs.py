"""BentoML's log of an invalid request: one INFO line, no traceback, no applicant data."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pydantic import ValidationError

from credit_risk.schema import COURSE_EXAMPLE, ApplicationBatch, CreditApplication
from credit_risk.serving.logs import (
    BENTOML_REQUEST_LOGGER,
    ClientErrorLogFilter,
    quiet_client_error_logs,
)


def _record_of(raise_it: Callable[[], object]) -> logging.LogRecord:
    try:
        raise_it()
    except ValidationError:
        exc_info = sys.exc_info()
    return logging.LogRecord(
        "bentoml", logging.ERROR, __file__, 1, "Exception on %s [%s]", ("/x", "POST"), exc_info
    )


def parse_request() -> object:
    """Named as BentoML's parser is: an invalid application with two problems."""
    return CreditApplication.model_validate({**COURSE_EXAMPLE, "age": "26", "ssn": "000"})


def test_only_errors_parsing_the_request_lose_their_traceback() -> None:
    client_error = _record_of(parse_request)
    assert ClientErrorLogFilter().filter(client_error)
    assert client_error.levelno == logging.INFO and client_error.exc_info is None
    line = client_error.getMessage()
    assert "Invalid input on /x [POST]: 400, 2 validation error(s): age:" in line
    assert "ssn: Extra inputs are not permitted" in line and "000" not in line

    def our_own_code() -> object:
        return CreditApplication.model_validate({**COURSE_EXAMPLE, "age": "26"})

    bug = _record_of(our_own_code)
    assert ClientErrorLogFilter().filter(bug)
    assert bug.levelno == logging.ERROR and bug.exc_info is not None


def test_a_line_names_three_problems_and_counts_the_rest() -> None:
    def from_http_request() -> object:
        bad = {**COURSE_EXAMPLE, "age": "x"}
        return ApplicationBatch.model_validate({"applications": [bad] * 5})

    record = _record_of(from_http_request)
    ClientErrorLogFilter().filter(record)
    line = record.getMessage()
    assert ": 400, 5 validation error(s): " in line
    assert line.count("applications.") == 3 and line.endswith(" (+2 more)")


def test_an_error_of_the_whole_body_is_named_body() -> None:
    def parse_request() -> object:
        return CreditApplication.model_validate_json(b"{")

    record = _record_of(parse_request)
    ClientErrorLogFilter().filter(record)
    assert ": 400, 1 validation error(s): body: Invalid JSON" in record.getMessage()


def test_the_filter_is_installed_once() -> None:
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    quiet_client_error_logs()
    quiet_client_error_logs()
    assert sum(isinstance(f, ClientErrorLogFilter) for f in logger.filters) == 1
