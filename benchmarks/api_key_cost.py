"""What the API key check costs per request, and that its time tells nothing.

Calls ``RequestGuard`` in process around an app that does nothing, with a GET
(no body to read) on a guarded path, for each number of configured keys (none,
one, two during a rotation, ``MAX_API_KEYS``) and each presented key (the first
configured, the last, a wrong one, none). Output, a Markdown table::

    | keys configured | key presented | µs per request |

Each figure is the median over the rounds of the mean per call, in CPU time of
this process. The refusals' counter goes to a temporary
``PROMETHEUS_MULTIPROC_DIR``, as under ``bentoml serve``: a 401 pays for its
locked write there.

    python benchmarks/api_key_cost.py               # ~10 s
    python benchmarks/api_key_cost.py --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="prometheus-"))

from pydantic import SecretStr
from starlette.types import Message, Receive, Scope, Send

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from credit_risk.serving.guards import RequestGuard  # noqa: E402
from credit_risk.settings import MAX_API_KEYS  # noqa: E402

CALLS = 2_000


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _drop(message: Message) -> None:
    return None


def _per_call_us(guard: RequestGuard, headers: dict[str, str]) -> float:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/model",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }

    async def run() -> None:
        for _ in range(CALLS):
            await guard(scope, _receive, _drop)

    started = time.process_time()
    asyncio.run(run())
    return (time.process_time() - started) / CALLS * 1e6


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    rounds = parser.parse_args().rounds
    print("| keys configured | key presented | µs per request |")
    print("|---|---|---|")
    for configured in (0, 1, 2, MAX_API_KEYS):
        keys = [secrets.token_urlsafe(32) for _ in range(configured)]
        guard = RequestGuard(
            _nothing, max_body_bytes=1 << 20, api_keys=[SecretStr(key) for key in keys]
        )
        presented = {"none": {}, "wrong": {"x-api-key": secrets.token_urlsafe(32)}}
        if keys:
            presented = {
                "first": {"x-api-key": keys[0]},
                "last": {"x-api-key": keys[-1]},
                **presented,
            }
        for name, headers in presented.items():
            figure = statistics.median(_per_call_us(guard, headers) for _ in range(rounds))
            print(f"| {configured} | {name} | {figure:.1f} |")
            if not keys:
                break


if __name__ == "__main__":
    main()
