"""Waiting for something to happen in a real-Asterisk test: poll a probe
(sync, or returning an awaitable) until it gives something truthy."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any


async def until(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """The first truthy value of ``probe()``; AssertionError after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
