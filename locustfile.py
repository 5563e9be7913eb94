"""Load test for the credit-risk service.

Web UI:    locust -f locustfile.py -H http://localhost:3000
Headless:  locust -f locustfile.py -H http://127.0.0.1:3000 --headless -u 32 -r 8 -t 60s
Drifted:   ... --shift older-larger   (or undeclared-income; see credit_risk.generator.SHIFTS)

Traffic is realistic: applications are drawn from the served model's training
reference (``POST /model``) through ``credit_risk.generator``, pre-serialised so
that generation never limits the client. A weighted mix sends single
applications, batches, and a small share of invalid applications that must be
answered 400 (an expected 400 is a success, anything else a failure).

Steady rate: ``--rate-per-user R`` paces each user to R requests per second
(default: as fast as answers come). ``--request-log FILE`` writes one JSON line per
request (start time, latency, status, error, the model tags of its decisions and the
replica that answered, if a load balancer says), to study a rollout request by request.

SLO: when the run ends, the error ratio must not exceed ``--slo-max-error-ratio``
and the p99 of all requests must not exceed ``--slo-p99-ms``; otherwise locust
exits with code 1.
"""

from __future__ import annotations

import json
import logging
import random
import re
from typing import IO, Any

import gevent.lock
from locust import FastHttpUser, constant_throughput, events, task
from locust.env import Environment

from credit_risk.generator import INVALID_CASES, SHIFTS, ApplicationGenerator, spoil
from credit_risk.model.metadata import Reference

logger = logging.getLogger("credit_risk.locust")

POOL_SIZE = 20_000
"""Applications drawn once per process and cycled through."""

MODEL_TAG = re.compile(r'"model_tag":\s*"([^"]+)"')
REPLICA_HEADER = "X-Credit-Risk-Replica"
"""Set by deploy/docker/haproxy.cfg to the name of the replica that answered."""


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    group = parser.add_argument_group("credit-risk")
    group.add_argument("--batch-share", type=float, default=0.05, help="share of batch requests")
    group.add_argument("--batch-size", type=int, default=100, help="applications per batch")
    group.add_argument(
        "--invalid-share", type=float, default=0.02, help="share of invalid applications"
    )
    group.add_argument(
        "--shift",
        choices=list(SHIFTS),
        default="none",
        help="send a shifted population, to see the drift gauges and report move",
    )
    group.add_argument("--slo-p99-ms", type=float, default=500.0, help="p99 bound, all requests")
    group.add_argument("--slo-max-error-ratio", type=float, default=0.0, help="failure bound")
    group.add_argument(
        "--api-key", default="", env_var="CREDIT_RISK_API_KEY", help="sent as a Bearer token"
    )
    group.add_argument(
        "--rate-per-user", type=float, default=0.0, help="requests/s per user (0: no pacing)"
    )
    group.add_argument("--request-log", default="", help="JSON lines file, one per request")


class _Traffic:
    """Pre-serialised request bodies, built once per process from the served reference."""

    def __init__(self) -> None:
        self._lock = gevent.lock.Semaphore()
        self.valid: list[bytes] = []
        self.invalid: list[bytes] = []
        self.batches: list[bytes] = []

    def ensure(self, user: FastHttpUser, batch_size: int, shift: str = "none") -> None:
        """Fetch the reference and draw the pools, once."""
        with self._lock:
            if self.valid:
                return
            # rest() sends only the headers it is given: the API key must be among them.
            headers = getattr(user, "headers", None)
            with user.rest("POST", "/model", json={}, name="/model", headers=headers) as response:
                if response.js is None or "reference" not in response.js:
                    response.failure(f"no model card: {response.text[:200]}")
                    raise RuntimeError("cannot read the served model's reference")
                reference = Reference.model_validate(response.js["reference"])
            applications = ApplicationGenerator(
                reference, seed=random.randrange(2**32), shift=SHIFTS[shift]
            ).draw(POOL_SIZE)
            cases = list(INVALID_CASES)
            self.valid = [json.dumps(a).encode() for a in applications]
            self.invalid = [
                json.dumps(spoil(a, cases[i % len(cases)])).encode()
                for i, a in enumerate(applications[:1000])
            ]
            self.batches = [
                json.dumps({"applications": applications[i : i + batch_size]}).encode()
                for i in range(0, 50 * batch_size, batch_size)
            ]
            logger.info(
                "Drew %d applications from the served reference (shift: %s)",
                len(applications),
                shift,
            )


traffic = _Traffic()


class LoanApplicant(FastHttpUser):
    """A client of the service: mostly single applications, some batches, a few bad ones."""

    def wait_time(self) -> float:
        """Pace to ``--rate-per-user`` requests per second, or not at all."""
        options = self.environment.parsed_options
        rate = options.rate_per_user if options else 0.0
        return constant_throughput(rate)(self) if rate > 0 else 0.0

    def on_start(self) -> None:
        """Authenticate if a key is given, and make sure the traffic pools exist."""
        options = self.environment.parsed_options
        self.headers = {"Content-Type": "application/json"}
        if options and options.api_key:
            self.headers["Authorization"] = f"Bearer {options.api_key}"
        self.client.headers = self.headers  # FastHttpSession default headers
        traffic.ensure(
            self, options.batch_size if options else 100, options.shift if options else "none"
        )

    @task
    def apply(self) -> None:
        """One request of the weighted mix."""
        options = self.environment.parsed_options
        draw = random.random()
        if draw < options.batch_share:
            self.client.post(
                "/classify_batch", data=random.choice(traffic.batches), headers=self.headers
            )
        elif draw < options.batch_share + options.invalid_share:
            with self.client.post(
                "/classify",
                data=random.choice(traffic.invalid),
                headers=self.headers,
                name="/classify [invalid]",
                catch_response=True,
            ) as response:
                if response.status_code == 400:
                    response.success()
                else:
                    response.failure(f"expected 400, got {response.status_code}")
        else:
            self.client.post("/classify", data=random.choice(traffic.valid), headers=self.headers)


_request_log: IO[str] | None = None


@events.init.add_listener
def _open_request_log(environment: Environment, **_: Any) -> None:
    global _request_log  # noqa: PLW0603 - one log per locust process
    options = environment.parsed_options
    if options is not None and options.request_log:
        _request_log = open(options.request_log, "a", buffering=1, encoding="utf-8")  # noqa: SIM115


@events.request.add_listener
def _log_request(
    name: str,
    response_time: float,
    response: Any,
    exception: BaseException | None,
    start_time: float = 0.0,
    **_: Any,
) -> None:
    if _request_log is None:
        return
    status = getattr(response, "status_code", 0) or 0
    text = (getattr(response, "text", None) or "") if status == 200 else ""
    headers = getattr(response, "headers", None) or {}
    line = {
        "start": start_time,
        "ms": round(response_time, 2),
        "name": name,
        "status": status,
        "ok": exception is None,
        "error": None if exception is None else f"{type(exception).__name__}: {exception}",
        "model_tags": sorted(set(MODEL_TAG.findall(text))),
        "replica": headers.get(REPLICA_HEADER),
    }
    _request_log.write(json.dumps(line) + "\n")


@events.quitting.add_listener
def _check_slo(environment: Environment, **_: Any) -> None:
    """Fail the run (exit code 1) when the SLO is broken."""
    options = environment.parsed_options
    total = environment.stats.total
    if options is None or total.num_requests == 0:
        logger.error("SLO: no requests were made")
        environment.process_exit_code = 1
        return
    p99 = total.get_response_time_percentile(0.99)
    broken = []
    if total.fail_ratio > options.slo_max_error_ratio:
        broken.append(f"error ratio {total.fail_ratio:.4f} > {options.slo_max_error_ratio}")
    if p99 > options.slo_p99_ms:
        broken.append(f"p99 {p99:.0f} ms > {options.slo_p99_ms:.0f} ms")
    if broken:
        logger.error("SLO broken: %s", "; ".join(broken))
        environment.process_exit_code = 1
    else:
        logger.info(
            "SLO met: %d requests, error ratio %.4f, p99 %.0f ms (bound %.0f ms)",
            total.num_requests,
            total.fail_ratio,
            p99,
            options.slo_p99_ms,
        )
