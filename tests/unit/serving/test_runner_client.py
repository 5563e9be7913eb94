"""The remote runner's client: concurrent calls joined, every caller answered with its own rows."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from credit_risk.serving.runner_client import Coalescer, Rows


class Runner:
    """Stands in for the runner's ``explain_many``: answers each row with its id and the
    call's number, after a delay, and remembers every call's size."""

    def __init__(self, delay_s: float = 0.005, fail_on: int | None = None) -> None:
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.calls: list[int] = []
        self.concurrent = 0
        self.most_concurrent = 0

    async def __call__(self, rows: Rows) -> Rows:
        """The rows' first column and the call's index, side by side."""
        call = len(self.calls)
        self.calls.append(len(rows))
        self.concurrent += 1
        self.most_concurrent = max(self.most_concurrent, self.concurrent)
        try:
            await asyncio.sleep(self.delay_s)
            if call == self.fail_on:
                raise ConnectionError("runner went away")
            return np.column_stack([rows[:, 0], np.full(len(rows), call, dtype=np.float32)])
        finally:
            self.concurrent -= 1


def _rows(first_id: int, count: int) -> Rows:
    return np.arange(first_id, first_id + count, dtype=np.float32).reshape(-1, 1)


def test_concurrent_callers_share_calls_and_each_gets_its_own_rows() -> None:
    runner = Runner()
    coalescer = Coalescer(runner, max_in_flight=1, max_rows=1000)
    sizes = [1, 3, 1, 16, 1, 1, 7, 1] * 25  # 200 callers, 1,000 rows

    async def main() -> list[Rows]:
        starts = np.cumsum([0, *sizes[:-1]]).tolist()
        return await asyncio.gather(
            *(coalescer(_rows(start, size)) for start, size in zip(starts, sizes, strict=True))
        )

    answers = asyncio.run(main())
    start = 0
    for size, answer in zip(sizes, answers, strict=True):
        assert answer[:, 0].tolist() == list(range(start, start + size))
        assert len(set(answer[:, 1].tolist())) == 1  # a caller's rows travel in one call
        start += size
    assert sum(runner.calls) == sum(sizes)
    assert runner.most_concurrent == 1
    # The first caller goes alone at once; everyone else waited for it and went together.
    assert runner.calls[0] == 1 and len(runner.calls) <= 3


def test_calls_respect_max_rows_and_max_in_flight() -> None:
    runner = Runner()
    coalescer = Coalescer(runner, max_in_flight=2, max_rows=50)

    async def main() -> None:
        await asyncio.gather(*(coalescer(_rows(i * 10, 10)) for i in range(40)))
        # A single caller larger than max_rows still goes, whole and alone.
        (big,) = await asyncio.gather(coalescer(_rows(0, 120)))
        assert len(big) == 120

    asyncio.run(main())
    assert max(runner.calls[:-1]) <= 50
    assert runner.calls[-1] == 120
    assert runner.most_concurrent == 2
    assert len(runner.calls) < 40


def test_a_failed_call_fails_its_callers_only_and_the_next_calls_go_on() -> None:
    runner = Runner(fail_on=1)
    coalescer = Coalescer(runner, max_in_flight=1, max_rows=1000)

    async def main() -> list[Rows | BaseException]:
        return await asyncio.gather(
            *(coalescer(_rows(i, 1)) for i in range(10)), return_exceptions=True
        )

    first = asyncio.run(main())
    assert isinstance(first[0], np.ndarray)  # call 0 carried the first caller alone
    assert all(isinstance(answer, ConnectionError) for answer in first[1:])  # call 1, failed
    later = asyncio.run(main())  # a new loop, the same coalescer: it carries on
    assert all(isinstance(answer, np.ndarray) for answer in later)


def test_a_cancelled_caller_leaves_the_others_answered() -> None:
    runner = Runner(delay_s=0.02)
    coalescer = Coalescer(runner, max_in_flight=1, max_rows=1000)

    async def main() -> tuple[list[Rows], bool]:
        first = asyncio.ensure_future(coalescer(_rows(0, 1)))
        await asyncio.sleep(0)  # the first call is out; the next callers wait
        waiting = [asyncio.ensure_future(coalescer(_rows(i, 1))) for i in range(1, 6)]
        await asyncio.sleep(0)
        waiting[2].cancel()
        answers = await asyncio.gather(first, *waiting[:2], *waiting[3:])
        return answers, waiting[2].cancelled()

    answers, cancelled = asyncio.run(main())
    assert cancelled
    assert [int(answer[0, 0]) for answer in answers] == [0, 1, 2, 4, 5]
    assert runner.calls == [1, 4]  # the cancelled caller's row was not sent


def test_a_wrong_number_of_rows_back_is_an_error_not_a_shifted_answer() -> None:
    async def short(rows: Rows) -> Rows:
        return rows[:-1]

    coalescer = Coalescer(short, max_in_flight=1, max_rows=1000)

    async def main() -> None:
        with pytest.raises(RuntimeError, match="2 rows sent, 1 answered"):
            await coalescer(_rows(0, 2))

    asyncio.run(main())


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(Runner(), max_in_flight=0, max_rows=10)
