"""BentoML's request log, kept to what an operator needs: one line per invalid request.

BentoML logs every pydantic ``ValidationError`` of an API call as an error with a
25-line traceback whose last line quotes the offending input. ``quiet_client_error_logs``
installs ``ClientErrorLogFilter`` on its request logger, which turns each into one INFO
line naming the fields and what was wrong with them, without the applicant's data.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from pydantic import ValidationError

from credit_risk.csv_format import describe_errors

BENTOML_REQUEST_LOGGER: Final = "bentoml._internal.server.http_app"
"""Where BentoML logs every exception of an API call, validation errors included."""

REQUEST_PARSERS: Final = frozenset({"from_http_request", "parse_request"})
"""BentoML's functions that turn a request body into the API's input model."""

LOGGED_PROBLEMS: Final = 3
"""Problems named per line; a batch of invalid applications would otherwise log them all."""


class ClientErrorLogFilter(logging.Filter):
    """Turns BentoML's ERROR-with-traceback for an invalid request into one INFO line.

    A client error is neither a server error nor a reason to copy applicant data into
    the log. The line kept names the fields and what was wrong with them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite validation-error records in place; let everything else through."""
        error = record.exc_info[1] if record.exc_info else None
        # Only errors in parsing the request are the client's: a ValidationError
        # raised by our own code is a bug and keeps its traceback.
        if isinstance(error, ValidationError) and _raised_parsing_the_request(error):
            summary = describe_errors(error, whole="body", limit=LOGGED_PROBLEMS)
            message = str(record.msg).replace("Exception on", "Invalid input on", 1)
            record.msg = f"{message}: 400, {error.error_count()} validation error(s): %s"
            record.args = (*_as_tuple(record.args), summary)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
        return True


def _raised_parsing_the_request(error: BaseException) -> bool:
    frame = error.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_name in REQUEST_PARSERS:
            return True
        frame = frame.tb_next
    return False


def _as_tuple(args: Any) -> tuple[Any, ...]:
    if args is None:
        return ()
    return args if isinstance(args, tuple) else (args,)


def quiet_client_error_logs() -> None:
    """Install ``ClientErrorLogFilter`` on BentoML's request logger, once per process."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(existing, ClientErrorLogFilter) for existing in logger.filters):
        logger.addFilter(ClientErrorLogFilter())
