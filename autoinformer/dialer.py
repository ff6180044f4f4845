"""The outbound dialer (REQ-O1–O5): AMI Originate with pacing, retries and
crash-safe state.

How one attempt goes:

1. :meth:`AttemptStore.claim` checks the call policy (windows in the
   customer's time zone, holidays, 230-FZ caps, numbers on file, campaign
   start/end, outage notice) and commits the attempt row in state
   ``dialing`` with our own ChannelId (``ai-<uuid>``) and ActionID.
2. The Originate is sent (``Channel`` = the trunk dial string,
   ``ChannelId``/``OtherChannelId`` = ours, ``Async``), paced by the
   calls-per-second cap, within the line limit.
3. ``OriginateResponse`` (same ActionID) tells failure (busy, no answer,
   congestion, failed) or answer; the callee then runs the message flow,
   which writes its progress on the same row. The ``Hangup`` event of our
   ChannelId ends the attempt: :meth:`AttemptStore.finalise` computes the
   result and schedules a retry (per-result delay, up to ``max_attempts``).

Restart semantics (our process killed, or Asterisk restarted):

* On start and after every AMI (re)login the dialer lists Asterisk's live
  channels (``CoreShowChannels``) and looks at every attempt of its node
  that is not ``done``:

  - its channel is still up → the dialer adopts it and waits for its
    ``Hangup`` (the flow's result, if any, is on the row);
  - its channel is gone → it is finalised now: with the flow's result if the
    flow recorded one (``completed``, ``transferred``, ``hungup``,
    ``machine``); otherwise ``lost`` (= unknown/lost-in-restart: the call may
    or may not have rung). ``lost`` is retried after ``retry_delays["lost"]``
    like any retryable result and counts as an attempt.

* An attempt whose Originate was never sent (AMI down at that moment) is
  finalised ``failed`` with the attempt refunded (it does not count).
* From Asterisk's ``Shutdown`` event until it is ``FullyBooted`` again (the
  event a new AMI session gets at once from a booted Asterisk, or the one
  sent when its boot completes) nothing is dialled, and an Originate refused
  meanwhile is refunded too: a restart of Asterisk never uses up a
  contact's attempts (before, Originates sent into the shutdown were counted
  as ``failed`` and a contact could run out of retries).
* Dialling resumes as soon as Asterisk is ready again: the loop itself
  never waits for an AMI answer that a restart can swallow (the periodic
  sweep's ``CoreShowChannels`` runs in its own task, every query has a
  short timeout). Before, a sweep sent into the shutdown held the loop
  until its 15-s timeout: dialling resumed 17 s after ``FullyBooted``.
* The same attempt row is never dialled twice: a new attempt is a new row
  with a new ChannelId. A running campaign resumes by itself: its state is
  in the database.

Every background task is owned by the dialer and cancelled on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from autoinformer.causes import trunk_target
from autoinformer.monitor import Monitor
from autoinformer.store import AttemptStore, Claimed, FinalReport
from crm_bridge.db import utcnow
from crm_bridge.durable import is_unavailable
from telephony.ami import AmiClient, AmiError, AmiUnavailable
from telephony.contract import Context, Var

log = logging.getLogger(__name__)

__all__ = ["Dialer", "DialerStats"]

LOOKAHEAD = 0.3
"""Seconds of send slots the dialer claims ahead of time (hides the claim's
database time; a crash leaves at most this much claimed-but-unsent)."""
LIST_TIMEOUT = 5.0
"""Seconds an AMI query of the dialer (live channels, the trunk) may wait.
Asterisk answers in milliseconds; a query sent as it shuts down is never
answered, and is simply asked again (the sweep, the next login)."""


@dataclass
class InFlight:
    channel_id: str
    attempt_id: int
    campaign_id: int
    phone: str = ""
    sent: bool = False
    sent_at: float = 0.0
    answered: bool = False
    state: str = "dialing"
    cause: int | None = None
    gone: bool = False
    restarted: bool = False
    """Asterisk shut down/restarted while the call was up."""
    event_at: float = 0.0
    """Wall-clock time of the last AMI event about this call (monitor latency)."""
    ended: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class DialerStats:
    originated: int = 0
    finished: int = 0
    adopted: int = 0
    lost: int = 0
    not_sent: int = 0
    spooled: int = 0
    """Results spooled while the database was away (recorded on replay)."""
    reconciles: int = 0
    busy_line_seconds: float = 0.0
    results: dict[str, int] = field(default_factory=dict)


class Dialer:
    """One dialer worker, bound to one Asterisk node (its AMI connection)."""

    def __init__(
        self,
        services: Any,
        ami: AmiClient,
        *,
        node: str,
        lines: int,
        cps: float,
        trunk: str,
        caller_id: str = "",
        max_call_seconds: int = 1800,
        sweep_interval: float = 10.0,
        monitor: Monitor | None = None,
    ) -> None:
        if lines < 1 or cps <= 0:
            raise ValueError("lines must be >= 1 and cps > 0")
        if "{number}" not in trunk:
            raise ValueError("outbound_trunk must contain {number}")
        self.services = services
        self.ami = ami
        self.node = node
        self.lines = lines
        self.cps = cps
        self.trunk = trunk
        self.caller_id = caller_id
        self.max_call_seconds = max_call_seconds
        self.sweep_interval = sweep_interval
        self.store = AttemptStore(services.db, node, campaigns=services.campaigns)
        self.monitor = monitor or services.campaign_monitor
        self.stats = DialerStats()
        self._inflight: dict[str, InFlight] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._next_slot = 0.0
        self._sent: deque[float] = deque()
        """Monotonic times of the latest Originates (the 1-second window)."""
        self._reconciling = asyncio.Lock()
        self._spooled: set[str] = set()
        """ChannelIds whose result waits in the spool: reconciliation leaves them alone."""
        self._reconcile_again = False
        self._unwatch: Callable[[], None] | None = None
        """Stops watching the replay of spooled results (:meth:`_replayed`)."""
        self._sweep_task: asyncio.Task[Any] | None = None
        self._ready = asyncio.Event()
        self.hold = False
        """Tests: True stops new claims (calls in flight continue)."""
        self.trunk_problem: str | None = None
        """Why the trunk cannot be dialled (it does not exist in Asterisk):
        nothing is claimed until it does; shown on the campaign's page."""
        self._trunk_checked = False
        self.trunk_checks = 0
        """How many times Asterisk was asked (tests: the loop is turning)."""
        self._shutdown = asyncio.Event()
        """Asterisk said it is shutting down, and has not said FullyBooted since."""
        ami.on_event("Shutdown", self._on_shutdown)
        ami.on_event("FullyBooted", self._on_fully_booted)
        ami.on_event("Hangup", self._on_hangup)
        ami.on_event("Newstate", self._on_newstate)
        ami.on_login(self._on_login)

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._run(), name=f"dialer-{self.node}")
        durable = getattr(self.services, "durable", None)
        if durable is not None and self._unwatch is None:
            loop = asyncio.get_running_loop()
            self._unwatch = durable.watch(
                "attempt.finalise",
                lambda args, rep: loop.call_soon_threadsafe(
                    self._replayed, str(args.get("channel_id")), args.get("now"), rep
                ),
            )

    async def stop(self) -> None:
        self._stopping = True
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        self._wake.set()
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        self._loop_task = None

    def poke(self) -> None:
        """Something changed (a campaign launched, resumed): look for work now."""
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def calls(self) -> list[dict[str, Any]]:
        """Calls in progress (for the monitor)."""
        return [
            {
                "channel_id": f.channel_id,
                "attempt_id": f.attempt_id,
                "campaign_id": f.campaign_id,
                "state": f.state,
                "seconds": round(time.monotonic() - f.sent_at, 1) if f.sent else 0.0,
            }
            for f in self._inflight.values()
        ]

    async def wait_ready(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    # -- AMI events ---------------------------------------------------------------------

    def _on_hangup(self, event: Any) -> None:
        fl = self._inflight.get(str(event.get("Uniqueid", "")))
        if fl is None:
            return
        fl.event_at = time.time()
        try:
            fl.cause = int(event.get("Cause", "0"))
        except ValueError:
            fl.cause = None
        fl.ended.set()

    def _on_newstate(self, event: Any) -> None:
        fl = self._inflight.get(str(event.get("Uniqueid", "")))
        if fl is None:
            return
        if event.get("ChannelState") == "6" and not fl.answered:
            fl.event_at = time.time()
            fl.answered = True
            fl.state = "answered"
            self._publish("answered", fl)

    def _on_shutdown(self, event: Any) -> None:
        # Asterisk is stopping or restarting: every call we track ends now,
        # and not because the callee chose to hang up.
        log.warning("Asterisk shutdown (restart: %s)", event.get("Restart"))
        self._shutdown.set()
        for fl in self._inflight.values():
            fl.restarted = True
            fl.ended.set()

    def _on_fully_booted(self, event: Any) -> None:
        if self._shutdown.is_set():
            log.info("Asterisk fully booted again: dialling resumes")
        self._shutdown.clear()
        self._wake.set()

    async def _on_login(self) -> None:
        # A new AMI session after a reconnect: Asterisk may have restarted
        # (dialling waits for its FullyBooted), with another configuration.
        self._trunk_checked = False
        await self.reconcile()

    async def check_trunk(self) -> str | None:
        """Ask Asterisk whether the trunk's endpoint or context exists.

        A missing one is reported once (log, monitor, the campaign's page)
        and holds dialling, instead of failing every call with a reason only
        Asterisk's log would give; it is asked again every second until it
        appears (``hotline asterisk up`` or a reload adds it)."""
        target = trunk_target(self.trunk)
        problem: str | None = None
        self.trunk_checks += 1
        if target is not None:
            if target.kind == "endpoint":
                action = {"Action": "PJSIPShowEndpoint", "Endpoint": target.name}
            else:
                action = {"Action": "ShowDialPlan", "Context": target.name}
            try:
                resp = await self.ami.action(action, timeout=LIST_TIMEOUT)
            except (AmiError, OSError) as exc:
                log.warning("dialer %s: cannot check the trunk: %s", self.node, exc)
                return self.trunk_problem
            first = resp[0] if isinstance(resp, list) and resp else resp
            if first is not None and str(first.get("Response", "")).lower() == "error":
                problem = target.title()
        if problem != self.trunk_problem:
            if problem:
                log.error(
                    "dialer %s: the outbound trunk %r cannot be dialled (%s %r not found "
                    "in Asterisk); no calls are made until it exists",
                    self.node,
                    self.trunk,
                    target.kind if target else "",
                    target.name if target else "",
                )
            elif self.trunk_problem:
                log.info("dialer %s: the outbound trunk exists now; dialling resumes", self.node)
            self.monitor.publish({"type": "trunk", "node": self.node, "problem": problem})
        self.trunk_problem = problem
        self._trunk_checked = True
        return problem

    # -- the main loop -------------------------------------------------------------------

    async def _run(self) -> None:
        last_sweep = time.monotonic()
        while not self._stopping:
            try:
                if not self._ready.is_set() and self.ami.connected:
                    await self.reconcile()
                    self._ready.set()
                if not self._results_waiting():
                    self._spooled.clear()
                    if self._reconcile_again and self.ami.connected:
                        await self.reconcile()
                if (
                    self.ami.connected
                    and not self._shutdown.is_set()
                    and (not self._trunk_checked or self.trunk_problem)
                ):
                    await self.check_trunk()
                if (
                    self._ready.is_set()
                    and self.ami.connected
                    and self.trunk_problem is None
                    and not self.hold
                    and not self._shutdown.is_set()
                ):
                    await self._fill_lines()
                if (
                    time.monotonic() - last_sweep > self.sweep_interval
                    and self.ami.connected
                    and not self._shutdown.is_set()
                    and (self._sweep_task is None or self._sweep_task.done())
                ):
                    # In its own task: an AMI query that Asterisk's restart
                    # leaves unanswered never holds up the dialling loop.
                    last_sweep = time.monotonic()
                    self._sweep_task = self._own(self.sweep(), f"dialer-sweep-{self.node}")
            except (AmiError, OSError) as exc:
                log.warning("dialer %s: %s; retrying", self.node, exc)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dialer %s loop failed; retrying in 1s", self.node)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)

    async def _fill_lines(self) -> None:
        """Claim contacts for the free lines, a batch (≤ one second of the
        CPS cap) at a time. Each claimed call gets its send slot at once and
        waits for it in its own task, so the next batch is claimed while the
        current one is still being paced (the claim's database time is hidden),
        but never more than :data:`LOOKAHEAD` seconds of slots ahead: a row
        claimed is a row about to be dialled."""
        while (
            not self._stopping
            and not self.hold
            and self.ami.connected
            and self.trunk_problem is None
            and not self._shutdown.is_set()
        ):
            free = self.lines - len(self._inflight)
            if free <= 0:
                return
            ahead = self._next_slot - time.monotonic()
            if ahead > LOOKAHEAD:
                await asyncio.sleep(ahead - LOOKAHEAD)
                continue
            batch = max(1, min(free, int(self.cps) or 1))
            claimed = await self.services.run_db(self.store.claim, batch)
            if not claimed:
                return
            for cl in claimed:
                self._launch(cl, self._reserve_slot())
            self._publish_stats()

    def _reserve_slot(self) -> float:
        """The next send time (monotonic), 1/cps after the previous one."""
        now = time.monotonic()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1.0 / self.cps
        return slot

    async def _window_guard(self) -> None:
        """Never more than ``cps`` Originates in any 1-second window: the
        pacing spaces them evenly, this guards the cap against timer jitter
        and late task starts (checked and recorded at the moment of sending)."""
        n = max(1, int(self.cps))
        while len(self._sent) >= n:
            wait = self._sent[-n] + 1.001 - time.monotonic()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        self._sent.append(time.monotonic())
        while len(self._sent) > n:
            self._sent.popleft()

    def _launch(self, cl: Claimed, slot: float = 0.0) -> None:
        fl = InFlight(cl.channel_id, cl.attempt_id, cl.campaign_id, cl.phone)
        self._inflight[cl.channel_id] = fl
        self._own(self._attempt(fl, cl, slot), f"attempt-{cl.attempt_id}")

    def _own(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("dialer task %s failed: %r", task.get_name(), task.exception())

    # -- one attempt ----------------------------------------------------------------------

    def originate_action(self, cl: Claimed) -> dict[str, Any]:
        number = cl.phone.lstrip("+")
        variables = {
            Var.CAMPAIGN.value: str(cl.campaign_id),
            Var.CONTACT.value: str(cl.contact_id),
            Var.ATTEMPT.value: str(cl.attempt_id),
            Var.AMD.value: cl.amd,
        }
        action: dict[str, Any] = {
            "Action": "Originate",
            "ActionID": cl.action_id,
            "Channel": self.trunk.format(number=number),
            "Context": Context.OUTBOUND.value,
            "Exten": "s",
            "Priority": "1",
            "ChannelId": cl.channel_id,
            "OtherChannelId": cl.channel_id + "-b",
            "Timeout": str(cl.ring_timeout * 1000),
            "Async": "true",
            "Variable": ",".join(f"{k}={v}" for k, v in variables.items()),
        }
        if self.caller_id:
            action["CallerID"] = self.caller_id
        return action

    async def _attempt(self, fl: InFlight, cl: Claimed | None, slot: float = 0.0) -> None:
        reason: int | None = None
        try:
            if cl is not None:
                wait = slot - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                reason = await self._originate(fl, cl)
                if reason == -1:  # never sent
                    await self._finalise(fl, note="not sent: AMI unavailable", refund=True)
                    return
                if reason in (0, 1) and not self._shutdown.is_set():
                    # Asterisk fails its Originates before it reports its
                    # Shutdown: give that event a moment to arrive.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._shutdown.wait(), 1.5)
                if reason is not None and reason != 4 and self._shutdown.is_set():
                    # Refused by an Asterisk on its way down: not the callee's doing.
                    await self._finalise(fl, note="not dialled: Asterisk restarting", refund=True)
                    return
                if reason is not None and reason != 4:
                    await self._finalise(fl, originate_reason=reason)
                    return
                if reason == 4:
                    fl.answered = True
                    if fl.state != "answered":
                        fl.state = "answered"
                        self._publish("answered", fl)
                    try:
                        await self.services.run_db(self.store.mark_answered, fl.channel_id)
                    except Exception as exc:
                        if not is_unavailable(exc):
                            raise
                        # The database is away: the result records the answer.
                        log.warning("attempt %s: answer not marked (%s)", fl.attempt_id, exc)
                    self._own(self._stamp_call(fl, create=True), f"stamp-{fl.attempt_id}")
            await self._wait_end(fl)
            if fl.cause in (0, None) and not fl.gone and not fl.restarted:
                # Asterisk hangs its channels up (cause 0) before it reports
                # its Shutdown: give that event a moment to arrive.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._shutdown.wait(), 1.5)
                if self._shutdown.is_set():
                    fl.restarted = True
            await self._finalise(fl, originate_reason=reason)
            if not fl.answered and fl.cause is not None:
                # Rang and ended unanswered: the listener's row, if any, is ours.
                await self._stamp_call(fl, create=False)
        finally:
            self._inflight.pop(fl.channel_id, None)
            self._wake.set()

    async def _stamp_call(self, fl: InFlight, *, create: bool) -> None:
        """The call's row in ``calls`` says outbound, with its campaign and
        node (the AMI listener writes the rest); in the bookkeeping lane."""
        calls = self.services.crm.calls
        try:
            await self.services.run_db_background(
                lambda: calls.mark_outbound(fl.channel_id, fl.campaign_id, self.node, create=create)
            )
        except SQLAlchemyError as exc:  # the attempt's own row is what counts
            log.warning("attempt %s: the call row was not marked outbound: %s", fl.attempt_id, exc)

    async def _originate(self, fl: InFlight, cl: Claimed) -> int | None:
        """Send the Originate; the OriginateResponse reason (4 = answered),
        None when unknown (the call ended or vanished first), -1 if not sent."""
        action = self.originate_action(cl)
        if not self.ami.connected:
            return -1
        await self._window_guard()
        if not self.ami.connected or self._shutdown.is_set():
            return -1
        fut = asyncio.ensure_future(self.ami.action(action, timeout=cl.ring_timeout + 20))
        fl.sent = True
        fl.sent_at = time.monotonic()
        self.stats.originated += 1
        self._publish("dialing", fl)
        ended = asyncio.ensure_future(fl.ended.wait())
        try:
            done, _ = await asyncio.wait({fut, ended}, return_when=asyncio.FIRST_COMPLETED)
            if fut not in done and not fl.gone:
                # Hung up before the response was read: it follows at once.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fut), 3.0)
            if not fut.done():
                return None
            if fut.cancelled():
                return None
            fl.event_at = time.time()
            exc = fut.exception()
            if isinstance(exc, AmiUnavailable):
                return -1
            if exc is not None:
                if isinstance(exc, AmiError) and not self.ami.connected and not fl.answered:
                    log.info("attempt %s: AMI lost during Originate", fl.attempt_id)
                return None
            return _originate_reason(fut.result())
        finally:
            ended.cancel()
            if not fut.done():
                fut.cancel()

    async def _wait_end(self, fl: InFlight) -> None:
        while not fl.ended.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fl.ended.wait(), self.max_call_seconds)
            if not fl.ended.is_set() and self.ami.connected:
                live = await self._live_channels()
                if live is not None and fl.channel_id not in live:
                    fl.gone = True
                    fl.ended.set()

    async def _finalise(
        self,
        fl: InFlight,
        *,
        originate_reason: int | None = None,
        note: str | None = None,
        refund: bool = False,
    ) -> FinalReport | None:
        args: dict[str, Any] = {
            "channel_id": fl.channel_id,
            "originate_reason": originate_reason,
            "hangup_cause": fl.cause,
            "answered": fl.answered,
            "gone": fl.gone,
            "restarted": fl.restarted,
            "note": note
            or (
                "asterisk restarted" if fl.restarted else "gone after restart" if fl.gone else None
            ),
            "refund": refund,
            "now": utcnow(),
        }
        durable = getattr(self.services, "durable", None)
        if durable is not None and durable.spool is not None:
            # Durable (issue 13): with the database away the result is
            # spooled and recorded on replay, once (keyed by the ChannelId);
            # meanwhile the contact stays ``dialing``, so it is not dialled again.
            rep = await durable.write("attempt.finalise", fl.channel_id, args)
            if rep is None:
                self._spooled.add(fl.channel_id)
                self.stats.spooled += 1
                fl.state = "done"
        else:
            rep = await self.services.run_db(lambda: self.store.apply_finalise(args))
        if refund:
            self.stats.not_sent += 1
        if rep is not None:
            fl.state = "done"
            ts = fl.event_at or time.time()
            self._finished(rep, ts, lines_in_use=len(self._inflight) - 1)
        return rep

    def _finished(self, rep: FinalReport, ts: float, *, lines_in_use: int, **extra: Any) -> None:
        """A result recorded: counted, and the console told (the call, and
        the campaign when it was the last)."""
        self.stats.finished += 1
        self.stats.results[rep.result] = self.stats.results.get(rep.result, 0) + 1
        if rep.result == "lost":
            self.stats.lost += 1
        self._call_event(
            "finished",
            rep.campaign_id,
            rep.attempt_id,
            ts,
            lines_in_use,
            result=rep.result,
            final=rep.final,
            **extra,
        )
        if rep.campaign_completed:
            self.monitor.publish({"type": "campaign", "campaign_id": rep.campaign_id})

    # -- reconciliation --------------------------------------------------------------------

    async def _live_channels(self) -> set[str] | None:
        try:
            resp = await self.ami.action(
                {"Action": "CoreShowChannels"}, as_list=True, timeout=LIST_TIMEOUT
            )
        except AmiError as exc:
            log.warning("CoreShowChannels failed: %s", exc)
            return None
        messages = resp if isinstance(resp, list) else [resp]
        return {
            str(m.get("Uniqueid"))
            for m in messages
            if m.get("Event") == "CoreShowChannel" and m.get("Uniqueid")
        }

    async def reconcile(self) -> None:
        """Account for every open attempt of this node (see the module doc)."""
        async with self._reconciling:
            live = await self._live_channels()
            if live is None:
                return
            self.stats.reconciles += 1
            self._reconcile_again = False
            attempts = await self.services.run_db(self.store.open_attempts)
            for a in attempts:
                cid = a.channel_id or ""
                if cid in self._spooled:
                    continue  # its result is recorded on replay
                fl = self._inflight.get(cid)
                if fl is not None:
                    if fl.sent and cid not in live and time.monotonic() - fl.sent_at > 2.0:
                        fl.gone = True
                        fl.ended.set()
                    continue
                if cid in live:
                    fl = InFlight(cid, a.id, a.campaign_id, a.phone or "", sent=True)
                    fl.sent_at = time.monotonic()
                    fl.answered = a.answered_at is not None
                    fl.state = "answered" if fl.answered else "dialing"
                    self._inflight[cid] = fl
                    self.stats.adopted += 1
                    log.info("adopted attempt %s still up after a restart", a.id)
                    self._own(self._attempt(fl, None), f"adopted-{a.id}")
                elif self._results_waiting():
                    # Its result may wait in the spool (a process killed
                    # before the replay): looked at again once it is replayed.
                    self._reconcile_again = True
                else:
                    fl = InFlight(cid, a.id, a.campaign_id, a.phone or "", gone=True)
                    await self._finalise(fl, note="lost in restart")
            self._wake.set()

    def _results_waiting(self) -> bool:
        """Writes wait in the node's spool (some may be attempts' results)."""
        durable = getattr(self.services, "durable", None)
        spool = getattr(durable, "spool", None)
        return bool(spool is not None and spool.has_backlog())

    async def sweep(self) -> None:
        """Periodic check: calls we track that Asterisk no longer has."""
        if any(f.sent for f in self._inflight.values()):
            live = await self._live_channels()
            if live is None:
                return
            now = time.monotonic()
            for fl in list(self._inflight.values()):
                if fl.sent and not fl.ended.is_set() and fl.channel_id not in live:
                    if now - fl.sent_at > 5.0:
                        fl.gone = True
                        fl.ended.set()

    # -- monitoring ---------------------------------------------------------------------------

    def _publish(self, kind: str, fl: InFlight, **extra: Any) -> None:
        ts = fl.event_at if kind != "dialing" and fl.event_at else time.time()
        self._call_event(kind, fl.campaign_id, fl.attempt_id, ts, len(self._inflight), **extra)

    def _call_event(
        self,
        kind: str,
        campaign_id: int,
        attempt_id: int,
        ts: float,
        lines_in_use: int,
        **extra: Any,
    ) -> None:
        self.monitor.publish(
            {
                "type": "call",
                "event": kind,
                "campaign_id": campaign_id,
                "attempt_id": attempt_id,
                "ts": ts,
                "lines_in_use": lines_in_use,
                **extra,
            }
        )

    def _replayed(self, channel_id: str, ended: Any, rep: FinalReport | None) -> None:
        """A result spooled while the database was away was recorded by the
        replay: the console shows the call finished now, as it would have
        (issue 13: before, only a reload showed it)."""
        self._spooled.discard(channel_id)
        if rep is None:  # applied again after a crash: already shown
            return
        ts = ended.timestamp() if isinstance(ended, datetime) else time.time()
        self._finished(rep, ts, lines_in_use=len(self._inflight), replayed=True)

    def _publish_stats(self) -> None:
        self.monitor.set_lines(self.node, len(self._inflight), self.lines)


def _originate_reason(resp: Any) -> int | None:
    messages = resp if isinstance(resp, list) else [resp]
    first = messages[0] if messages else None
    if first is not None and str(first.get("Response", "")).lower() == "error":
        return 0
    for m in messages:
        if m.get("Event") == "OriginateResponse":
            try:
                return int(m.get("Reason", "0"))
            except ValueError:
                return 0
    return None


def build_dialer(runtime: Any, *, hold: bool = False) -> Dialer:
    """The dialer of a :class:`hotline.runner.Runtime` (the autoinformer slice, :mod:`autoinformer.plugin`)."""
    s = runtime.settings
    if runtime.ami is None:
        raise RuntimeError("the dialer needs the ami component")
    d = Dialer(
        runtime.services,
        runtime.ami,
        node=s.node_name,
        lines=s.dialer_lines,
        cps=float(s.dialer_cps),
        trunk=s.outbound_trunk,
        caller_id=s.outbound_caller_id,
        max_call_seconds=s.dialer_max_call_seconds,
    )
    d.hold = hold
    runtime.services.dialer = d
    return d


Factory = Callable[[Any], Dialer]
