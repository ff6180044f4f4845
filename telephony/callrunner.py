"""Running one call's flow: the part both AGI transports share.

Sets ``HOTLINE_STATUS=OK`` when the flow returns; on a hangup ends quietly;
on any unexpected failure sets ``HOTLINE_STATUS=FAILED`` so the dialplan
takes the caller to the fallback branch (apology + operator queue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from telephony.channel import CallerHangup, Channel, ChannelError
from telephony.contract import STATUS_FAILED, STATUS_OK, Var
from telephony.journal import CallJournal

log = logging.getLogger(__name__)

Flow = Callable[[Channel, Any], Awaitable[None]]
"""A call flow: any :class:`~telephony.channel.Channel` and the services (``deps``)."""
CallEndHook = Callable[[CallJournal], Awaitable[None]]

COMPLETED, HANGUP, FAILED = "completed", "hangup", "failed"

IN_CALL: ContextVar[bool] = ContextVar("IN_CALL", default=False)
"""True inside a call's flow: a caller is waiting, so the services bound
their database waits (issue 13, item 2; ``hotline.services.Services.run_db``)."""


async def fail_call(channel: Channel, reason: str) -> None:
    """Send the caller to the dialplan's fallback branch, if still there."""
    channel.journal.add("error", reason=reason[:300])
    if channel.hung_up:
        return
    with contextlib.suppress(CallerHangup, ChannelError, TimeoutError, ConnectionError):
        await asyncio.wait_for(channel.set_var(Var.STATUS, STATUS_FAILED), 2.0)


async def run_call(
    flow: Flow | None,
    channel: Channel,
    deps: Any,
    *,
    refuse: str | None = None,
    on_call_end: CallEndHook | None = None,
    round_trips: Callable[[], int] = lambda: 0,
) -> str:
    """Run ``flow`` for ``channel``; returns the outcome. ``refuse`` sends the
    caller straight to the fallback with that reason."""
    call_id, route = channel.call_id, channel.route
    outcome = COMPLETED
    IN_CALL.set(True)
    try:
        if flow is None or refuse:
            outcome = FAILED
            reason = refuse or f"no route {route}"
            log.error("call %s: %s, caller sent to fallback", call_id, reason)
            await fail_call(channel, reason)
            return outcome
        await flow(channel, deps)
        await channel.set_var(Var.STATUS, STATUS_OK)
    except CallerHangup:
        outcome = HANGUP
        log.debug("call %s hung up in %s", call_id, route)
    except asyncio.CancelledError:
        outcome = FAILED
        log.warning("call %s in %s cancelled by shutdown, caller sent to fallback", call_id, route)
        with contextlib.suppress(Exception):
            await asyncio.shield(fail_call(channel, "shutdown"))
        raise
    except Exception as exc:  # every unexpected fault: fallback, never silence
        outcome = FAILED
        log.exception("flow %s failed for call %s", route, call_id)
        await fail_call(channel, f"{type(exc).__name__}: {exc}")
    finally:
        channel.journal.add("end", outcome=outcome, round_trips=round_trips())
        if on_call_end is not None:
            try:
                await on_call_end(channel.journal)
            except Exception:
                log.exception("saving the journal of call %s failed", call_id)
    return outcome
