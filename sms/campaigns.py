"""SMS as a channel of the autoinformer's campaigns (issue 18 item 3; REQ-O7,
REQ-O12, REQ-A13).

A campaign whose ``channels`` include ``sms`` hands its contacts on the SMS
channel (:mod:`autoinformer.channels`: the customer's chosen form first) to
:class:`CampaignSms`:

* :meth:`CampaignSms.take` claims the due contacts (``FOR UPDATE SKIP
  LOCKED``; a contact not routed yet is routed here as by the dialer, so a
  campaign of SMS only needs no dialer), checks them with the campaign's own call policy —
  :meth:`autoinformer.campaigns.CampaignService.policy_for`: the campaign's
  start and end, the windows in the customer's local time on the production
  calendar, the number in the contract (REQ-O7) — and, when the campaign
  counts the 230-FZ caps, with the caps the law sets for messages (art. 7
  part 3 p. 2: 2 a day, 4 a week, 16 a month) counted over the SMS sent to
  the account; the do-not-call list and the outage notice's term (REQ-O9)
  as the dialer does. A contact held back waits (``next_at``, ``refusal``,
  as the monitor shows for calls); one allowed gets an attempt row
  (``channel = 'sms'``) and its message, queued in ``sms_messages``
  (``purpose = 'campaign'``, ``attempt_id``) in the same transaction;
* the sender sends it through Kannel with a delivery report;
  :meth:`CampaignSms.settle` closes the attempts whose message reached a
  final state: **delivered** (report 1) is the only positive end
  (``delivered``); not delivered (report 2/16, or the gateway refused it for
  good) is ``undelivered``: retried when the campaign's ``retry_delays``
  list ``undelivered`` and ``max_attempts`` allow, else the contact goes to
  its next channel, else it is finished. A message with no final report
  within :data:`REPORT_WAIT` (48 h) counts as not delivered.

The text (:func:`sms_text`) is the campaign's message as text: the
builder's phrases in a short written form, the spoken values as written
(«20.12.2026 с 10:00 до 16:00», «2 750,40 руб.»), within one UCS-2 segment
(70 characters) where the message allows.

A survey campaign (kind ``survey``) by SMS sends its first question; the
customer's reply («5», «9») is taken by :class:`SurveyReplies` (called by
:mod:`sms.inbound` before the readings parser), stored in the surveys, and
answered with the next question or thanks; a reply off the scale gets a
short help.

Logs carry ids and counts only, never a number or a text (152-FZ).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from autoinformer import channels, survey
from autoinformer.campaigns import CampaignService, message_variables
from autoinformer.models import (
    Attempt,
    AttemptState,
    Campaign,
    CampaignStatus,
    Contact,
    ContactStatus,
    DoNotCall,
    Result,
)
from autoinformer.policy import CallPolicy, Refusal
from autoinformer.sms_text import sms_text
from autoinformer.store import AttemptStore
from crm_bridge.db import Database, utcnow
from crm_bridge.phones import try_normalize_phone
from sms.encoding import coding_of, segments
from sms.models import Direction, OutState, SmsMessage
from surveys.models import SurveyChannel

__all__ = [
    "MESSAGE_CAPS",
    "CampaignSms",
    "CampaignSmsWorker",
    "SurveyReplies",
]

log = logging.getLogger(__name__)

PURPOSE: Final = "campaign"
MESSAGE_CAPS: Final = (2, 4, 16)
"""230-FZ art. 7 part 3 p. 2: text messages per day, week and month."""
HISTORY_DAYS: Final = 40
SURVEY_REPLY_WITHIN: Final = timedelta(days=7)
_NEVER: Final = frozenset({Refusal.NOT_ON_FILE, Refusal.CAMPAIGN_ENDED})
_FINAL_STATES: Final = (OutState.DELIVERED.value, OutState.FAILED.value)
_WAITING_STATES: Final = (OutState.SENT.value, OutState.BUFFERED.value, OutState.SMSC.value)
REPORT_WAIT: Final = timedelta(hours=48)
"""A message the gateway took without a final report for this long ends its
attempt as ``undelivered`` (the phone may be off for good): the contact goes
on to its next channel instead of waiting for ever."""

# -- the channel ----------------------------------------------------------------------


class CampaignSms:
    """Blocking database work of the campaigns' SMS channel."""

    def __init__(
        self,
        db: Database,
        *,
        node: str = "sms",
        campaigns: CampaignService | None = None,
        service_number: str = "",
        clock: Callable[[], datetime] = utcnow,
        prompt_text: Callable[[str], str] | None = None,
    ) -> None:
        self.db = db
        self.node = node
        self.campaigns = campaigns if campaigns is not None else CampaignService(db)
        self.service_number = service_number
        self._clock = clock
        self._prompt_text = prompt_text

    def _policy(self, c: Campaign) -> CallPolicy:
        """The campaign's call policy, with the 230-FZ caps of messages."""
        policy = self.campaigns.policy_for(c)
        if policy.daily_cap is None:
            return policy
        day, week, month = MESSAGE_CAPS
        return dataclasses.replace(policy, daily_cap=day, weekly_cap=week, monthly_cap=month)

    @staticmethod
    def _history(s: Session, rows: Sequence[Contact], now: datetime) -> dict[int, list[datetime]]:
        """The campaigns' SMS sent per account (the caps count them)."""
        ids = sorted({r.account_id for r in rows if r.account_id is not None})
        out: dict[int, list[datetime]] = {}
        if ids:
            for account_id, at in s.execute(
                select(Attempt.account_id, Attempt.created_at).where(
                    Attempt.account_id.in_(ids),
                    Attempt.channel == "sms",
                    Attempt.created_at >= now - timedelta(days=HISTORY_DAYS),
                )
            ):
                if account_id is not None:
                    out.setdefault(account_id, []).append(at)
        return out

    def _any_running(self) -> bool:
        with self.db.session(readonly=True) as s:
            return (
                s.scalar(
                    select(Campaign.id)
                    .where(
                        Campaign.status == CampaignStatus.RUNNING.value,
                        Campaign.channels.is_not(None),
                    )
                    .limit(1)
                )
                is not None
            )

    def take(self, limit: int = 100, now: datetime | None = None) -> int:
        """Queue the due contacts' messages; how many were queued."""
        now = now or self._clock()
        if not self._any_running():
            return 0
        queued = 0
        with self.db.session(write=True) as s:
            rows = list(
                s.scalars(
                    select(Contact)
                    .join(Campaign, Campaign.id == Contact.campaign_id)
                    .where(
                        Campaign.status == CampaignStatus.RUNNING.value,
                        Campaign.channels.is_not(None),
                        Contact.status == ContactStatus.PENDING.value,
                        # on the SMS now, or not routed yet (when no dialer runs)
                        (Contact.channel == "sms") | Contact.channels_left.is_(None),
                        (Contact.next_at.is_(None)) | (Contact.next_at <= now),
                    )
                    .order_by(Contact.next_at.is_(None), Contact.next_at, Contact.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True, of=Contact)
                )
            )
            if not rows:
                return 0
            campaigns = {
                c.id: c
                for c in s.scalars(
                    select(Campaign).where(Campaign.id.in_({r.campaign_id for r in rows}))
                )
            }
            on_file = AttemptStore._contract_phones(s, rows)
            unwanted = set(
                s.scalars(
                    select(DoNotCall.phone).where(DoNotCall.phone.in_({r.phone for r in rows}))
                )
            )
            history = self._history(s, rows, now)
            tries = dict(
                s.execute(
                    select(Attempt.contact_id, func.count())
                    .where(Attempt.contact_id.in_([r.id for r in rows]), Attempt.channel == "sms")
                    .group_by(Attempt.contact_id)
                ).all()
            )
            policies = {cid: self._policy(c) for cid, c in campaigns.items()}
            chosen = channels.preferences(s, (r.account_id for r in rows))
            batch: list[tuple[Attempt, SmsMessage]] = []
            for contact in rows:
                c = campaigns[contact.campaign_id]
                if contact.channels_left is None:
                    # first seen here: the customer's chosen form first (REQ-O12)
                    numbers = on_file.get(contact.account_id or -1, [])
                    first = channels.route(
                        c, contact, chosen.get(contact.account_id or -1), numbers
                    )
                    if first != "sms":
                        continue
                if contact.phone in unwanted:
                    self._refuse(c, contact, "do_not_call", now)
                    continue
                note = AttemptStore._outage_note(c, contact, now)
                if note == "refuse":
                    self._refuse(c, contact, "outage_notice_late", now)
                    continue
                policy = policies[c.id]
                numbers = on_file.get(contact.account_id or -1, [])
                hist = history.get(contact.account_id or -1, [])
                decision = policy.check(now, contact.timezone, hist, contact.phone, numbers)
                if not decision:
                    assert decision.reason is not None
                    when = (
                        None
                        if decision.reason in _NEVER
                        else policy.next_allowed(
                            now, contact.timezone, hist, contact.phone, numbers
                        )
                    )
                    if when is None:
                        self._refuse(c, contact, decision.reason.value, now)
                    else:
                        contact.next_at = when
                        contact.refusal = decision.reason.value
                    continue
                batch.append(
                    self._queue(s, c, contact, (tries.get(contact.id) or 0) + 1, note, now)
                )
                history.setdefault(contact.account_id or -1, []).append(now)
                queued += 1
            if batch:
                s.flush()  # the attempts' ids, in one round
                for attempt, message in batch:
                    message.attempt_id = attempt.id
                s.add_all(message for _, message in batch)
        if queued:
            log.info("sms: %d campaign messages queued", queued)
        return queued

    def _refuse(self, c: Campaign, contact: Contact, reason: str, now: datetime) -> None:
        """The SMS may never go: the next channel, or the contact is refused."""
        if channels.advance(c, contact, now):
            return
        contact.status = ContactStatus.REFUSED.value
        contact.final_result = "refused"
        contact.refusal = reason
        contact.next_at = None

    def _queue(
        self,
        s: Session,
        c: Campaign,
        contact: Contact,
        attempt_no: int,
        note: str | None,
        now: datetime,
    ) -> tuple[Attempt, SmsMessage]:
        """The attempt and its message (the message linked and added once
        the batch's attempts have their ids: one flush for the batch)."""
        text = sms_text(
            c, message_variables(c, contact.variables), contact.timezone, self._prompt_text
        )
        token = uuid.uuid4().hex
        attempt = Attempt(
            campaign_id=c.id,
            contact_id=contact.id,
            account_id=contact.account_id,
            attempt_no=attempt_no,
            channel="sms",
            phone=contact.phone,
            node=self.node,
            channel_id=f"ai-sms-{token}",
            state=AttemptState.DIALING.value,
            created_at=now,
            note=note,
        )
        s.add(attempt)
        message = SmsMessage(
            direction=Direction.OUT.value,
            peer=try_normalize_phone(contact.phone) or contact.phone,
            service_number=self.service_number,
            text=text,
            parts=segments(text),
            coding=coding_of(text),
            state=OutState.QUEUED.value,
            purpose=PURPOSE,
            account_id=contact.account_id,
            tries=0,
            next_try_at=now,
            created_at=now,
        )
        contact.status = ContactStatus.DIALING.value
        contact.refusal = None
        return attempt, message

    def settle(self, limit: int = 500, now: datetime | None = None) -> int:
        """Close the attempts whose message reached a final state; how many."""
        now = now or self._clock()
        done = 0
        with self.db.session(write=True) as s:
            rows = s.execute(
                select(Attempt, SmsMessage.state)
                .join(SmsMessage, SmsMessage.attempt_id == Attempt.id)
                .where(
                    Attempt.channel == "sms",
                    Attempt.state != AttemptState.DONE.value,
                    SmsMessage.state.in_(_FINAL_STATES),
                )
                .order_by(Attempt.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Attempt)
            ).all()
            silent = s.execute(
                select(Attempt, SmsMessage.state)
                .join(SmsMessage, SmsMessage.attempt_id == Attempt.id)
                .where(
                    Attempt.channel == "sms",
                    Attempt.state != AttemptState.DONE.value,
                    SmsMessage.state.in_(_WAITING_STATES),
                    SmsMessage.sent_at < now - REPORT_WAIT,
                )
                .order_by(Attempt.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Attempt)
            ).all()
            touched: set[int] = set()
            for a, state in rows:
                self._close(s, a, state == OutState.DELIVERED.value, now)
                touched.add(a.campaign_id)
                done += 1
            for a, _state in silent:
                # no report at all: not known to be delivered, so not positive
                a.note = ((a.note + "; ") if a.note else "") + "нет отчёта о доставке"
                self._close(s, a, False, now)
                touched.add(a.campaign_id)
                done += 1
            for cid in touched:
                self.campaigns.maybe_complete(s, cid)
        return done

    @staticmethod
    def _close(s: Session, a: Attempt, delivered: bool, now: datetime) -> None:
        result = Result.DELIVERED if delivered else Result.UNDELIVERED
        a.state = AttemptState.DONE.value
        a.result = result.value
        a.positive = delivered
        a.ended_at = now
        contact = s.get(Contact, a.contact_id, with_for_update=True)
        c = s.get(Campaign, a.campaign_id)
        assert contact is not None and c is not None
        if delivered and survey.is_survey(c):
            survey.offer(s, a, SurveyChannel.SMS, now)  # reached: counts in the response rate
        if contact.status != ContactStatus.DIALING.value:
            return
        contact.positive = contact.positive or delivered
        delay = (c.retry_delays or {}).get(result.value)
        if delivered:
            pass
        elif (
            delay is not None
            and a.attempt_no < c.max_attempts
            and c.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED)
        ):
            contact.status = ContactStatus.PENDING.value
            contact.next_at = now + timedelta(seconds=int(delay))
            return
        elif c.status != CampaignStatus.STOPPED and channels.advance(c, contact, now):
            return
        contact.status = ContactStatus.DONE.value
        contact.final_result = result.value
        contact.next_at = None


# -- the survey's replies --------------------------------------------------------------


class SurveyReplies:
    """A reply to a survey campaign's SMS (called by :mod:`sms.inbound`)."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self._clock = clock

    def __call__(self, peer: str, text: str) -> str | None:
        """The reply to send, or None: not an answer to a survey (the
        message goes on to the readings parser)."""
        if not peer.startswith("+"):
            return None
        now = self._clock()
        with self.db.session(write=True) as s:
            found = s.execute(
                select(Attempt, Campaign)
                .join(Campaign, Campaign.id == Attempt.campaign_id)
                .where(
                    Attempt.channel == "sms",
                    Attempt.phone == peer,
                    Campaign.kind == "survey",
                    Attempt.created_at >= now - SURVEY_REPLY_WITHIN,
                )
                .order_by(Attempt.id.desc())
                .limit(1)
            ).first()
            if found is None:
                return None
            a, c = found
            answers = dict(a.answers or {})
            pending = [q for q in survey.questions(c) if q not in answers]
            if not pending:
                return None
            question = pending[0]
            mark = survey.parse_mark(question, text)
            if mark is None:
                stripped = (text or "").strip()
                looks_like_answer = len(stripped) <= 30 and (
                    stripped.isdigit() or not any(ch.isdigit() for ch in stripped)
                )
                return survey.SMS_HELP[question] if looks_like_answer else None
            survey.store_answer(s, a, question, mark, SurveyChannel.SMS, now)
            a.answers = {**answers, question: str(mark)}
            log.info("sms: survey answer stored for attempt %s", a.id)
            rest = pending[1:]
            return survey.SMS_QUESTIONS[rest[0]] if rest else survey.SMS_THANKS


# -- the component ----------------------------------------------------------------------


class CampaignSmsWorker:
    """The component ``sms-campaigns``: every ``poll`` seconds, closes the
    attempts whose delivery report came and queues the due contacts'
    messages (then wakes the sender)."""

    def __init__(
        self,
        store: CampaignSms,
        run_db: Callable[..., Any],
        *,
        wake: Callable[[], None] | None = None,
        poll: float = 1.0,
    ) -> None:
        self.store = store
        self.run_db = run_db
        self.wake = wake
        self.poll = poll
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sms-campaigns")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> int:
        """Settle the reported attempts, then queue batches while there are
        due contacts (the sender is woken after each batch); how many queued."""
        await self.run_db(self.store.settle)
        total = 0
        while queued := await self.run_db(self.store.take):
            total += queued
            if self.wake is not None:
                self.wake()
        return total

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sms: campaign messages failed; retried in %.0f s", self.poll)
            await asyncio.sleep(self.poll)
