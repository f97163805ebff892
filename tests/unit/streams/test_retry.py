"""The one retry helper of the batch path (streams/retry.py): failures are waited out with
doubling delays; only a deadline, where one is given, ends the waiting."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streams.retry import retry_async, retry_sync


class Flaky:
    """Fails ``failures`` times, then answers "done"."""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("database away")
        return "done"

    async def later(self) -> str:
        return self()


def test_sync_retries_until_success_and_logs_each_failure(caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky(3)
    with caplog.at_level(logging.WARNING, logger="streams.retry"):
        assert retry_sync("writing", flaky, first_delay=0.001, max_delay=0.002) == "done"
    assert flaky.calls == 4 and len(caplog.records) == 3
    assert "writing failed (attempt 3, retrying in 0.0s): ConnectionError: database away" in (
        caplog.text
    )


def test_sync_gives_up_only_after_its_deadline() -> None:
    flaky = Flaky(10**9)
    with pytest.raises(ConnectionError):
        retry_sync("opening", flaky, first_delay=0.001, max_delay=0.001, give_up_after=0.05)
    assert flaky.calls > 1


def test_async_retries_until_success() -> None:
    flaky = Flaky(2)
    done = asyncio.run(retry_async("publishing", flaky.later, first_delay=0.001, max_delay=0.001))
    assert done == "done" and flaky.calls == 3


def test_async_cancellation_ends_the_retries() -> None:
    flaky = Flaky(10**9)

    async def main() -> None:
        task = asyncio.ensure_future(retry_async("publishing", flaky.later, first_delay=10.0))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert flaky.calls == 1
