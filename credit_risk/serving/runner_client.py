"""How an API worker reaches the runner: in process, or through a ``Coalescer`` when remote.

Either way the classifier holds one ``Explain``, chosen once when it starts:
``in_process`` calls the runner in the worker itself; a ``Coalescer`` over the
remote runner's ``explain_many`` joins concurrent calls into fewer, larger ones.

In the remote topology every request used to cost a call to the runner: an HTTP
round trip through BentoML's client and the runner's whole request path, whatever
the number of rows. BentoML's adaptive batching joins calls only once they have
reached the runner, so it saves the runner's model calls but none of those hops.
``Coalescer`` joins them before they leave the API worker: while ``max_in_flight``
calls are out, requests wait; when one returns, everything waiting goes together as
one call (up to ``max_rows`` rows). At low load a request goes at once, alone; under
load each call carries what arrived meanwhile. Rows are concatenated in arrival
order and every caller gets back exactly its own rows.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import numpy as np
import numpy.typing as npt

Rows = npt.NDArray[np.float32]

Explain = Callable[[Rows], Awaitable[Rows]]
"""Rows of encoded features in; per row, the default probability then the fields'
contributions out (the runner's ``explain``)."""


def in_process(explain: Callable[[Rows], Rows], *, inline_rows: int) -> Explain:
    """``explain``, run in this process: on the event loop for at most ``inline_rows``
    rows, in a worker thread for more."""

    async def explain_here(rows: Rows) -> Rows:
        if len(rows) <= inline_rows:
            # A few rows take well under a millisecond: cheaper on the event
            # loop than a hop to the thread pool and back.
            return explain(rows)
        return await anyio.to_thread.run_sync(explain, rows)

    return explain_here


@dataclass
class _Waiting:
    rows: Rows
    answer: asyncio.Future[Rows] = field(repr=False)


class Coalescer:
    """Joins concurrent ``await coalescer(rows)`` into calls of ``call`` on all their rows."""

    def __init__(
        self, call: Callable[[Rows], Awaitable[Rows]], *, max_in_flight: int, max_rows: int
    ) -> None:
        """``call`` answers a row per row given; at most ``max_in_flight`` calls at once,
        each of at most ``max_rows`` rows (a caller's rows are never split)."""
        if max_in_flight < 1 or max_rows < 1:
            raise ValueError("max_in_flight and max_rows must be at least 1")
        self._call = call
        self._max_in_flight = max_in_flight
        self._max_rows = max_rows
        self._waiting: deque[_Waiting] = deque()
        self._in_flight: set[asyncio.Task[None]] = set()

    async def __call__(self, rows: Rows) -> Rows:
        """``call``'s answer for ``rows``, made in one call with whatever else is waiting.

        Raises:
            Exception: what the call that carried these rows raised.
        """
        answer: asyncio.Future[Rows] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(rows, answer))
        self._send()
        return await answer

    def _send(self) -> None:
        while self._waiting and len(self._in_flight) < self._max_in_flight:
            group, rows = [], 0
            while self._waiting and (
                not group or rows + len(self._waiting[0].rows) <= self._max_rows
            ):
                waiting = self._waiting.popleft()
                if not waiting.answer.done():  # a cancelled caller's rows need no answer
                    group.append(waiting)
                    rows += len(waiting.rows)
            if not group:
                return
            task = asyncio.get_running_loop().create_task(self._carry(group))
            self._in_flight.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._send()

    async def _carry(self, group: list[_Waiting]) -> None:
        try:
            rows = group[0].rows if len(group) == 1 else np.concatenate([w.rows for w in group])
            answered = await self._call(rows)
            if len(answered) != len(rows):
                raise RuntimeError(f"{len(rows)} rows sent, {len(answered)} answered")
        except BaseException as error:  # every caller must hear, whatever happened
            for waiting in group:
                if not waiting.answer.done():
                    waiting.answer.set_exception(error)
            if isinstance(error, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
            return
        start = 0
        for waiting in group:
            end = start + len(waiting.rows)
            if not waiting.answer.done():
                waiting.answer.set_result(answered[start:end])
            start = end
