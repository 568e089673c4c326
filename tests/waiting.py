"""Poll for a condition with a deadline (for things that happen in the background): ``eventually``
in async tests, ``until`` in sync ones (Playwright's sync API, processes)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within_s} s")
        await asyncio.sleep(0.01)


def until(
    check: Callable[[], T | None], within_s: float = 10.0, *, unless: Callable[[], bool] = lambda: False,
    detail: Callable[[], str] = lambda: "",
) -> T:  # fmt: skip
    """The first truthy ``check()``; AssertionError (with ``detail()``) once ``within_s`` have passed,
    or at once when ``unless()`` says it never will (e.g. the process it waits on has exited)."""
    deadline = time.monotonic() + within_s
    while not (result := check()):
        if unless():
            raise AssertionError(f"condition can no longer be met\n{detail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within_s} s\n{detail()}")
        time.sleep(0.02)
    return result
