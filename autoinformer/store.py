"""The dialer's database work: claiming contacts, attempt rows, results.

Blocking functions, run through ``Services.run_db``. The database is the
coordinator: several dialer workers (one per Asterisk node) share campaigns by
claiming contacts with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL; on
SQLite the write session (``BEGIN IMMEDIATE``) serialises the claims of the
single worker. The same code runs on both.

Crash-safety contract (REQ-O2, O3):

1. :meth:`AttemptStore.claim` writes the attempt row — state ``dialing``, its
   full ChannelId and ActionID — and commits *before* the Originate is sent.
   A contact in ``dialing`` is never claimed again, so no attempt is dialled
   twice, by this worker or another.
2. Results are written to that one row, keyed by the ChannelId, and
   :meth:`AttemptStore.finalise` is idempotent (``state <> 'done'`` guard):
   the flow, the AMI events and a restart can all report; the first final
   report wins and the contact is advanced exactly once.
3. After a restart (of our process or of Asterisk), attempts of this node
   left open are reconciled against Asterisk's live channels
   (see :mod:`autoinformer.dialer`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from autoinformer import channels, survey
from autoinformer.campaigns import CampaignService, Kind, message_variables
from autoinformer.models import (
    POSITIVE_RESULTS,
    Attempt,
    AttemptState,
    Campaign,
    CampaignStatus,
    Contact,
    ContactStatus,
    DoNotCall,
    Result,
)
from autoinformer.policy import (
    CallPolicy,
    NoticeCategory,
    NoticeVerdict,
    Refusal,
    check_outage_notice,
)
from crm_bridge.db import Database, utcnow
from crm_bridge.models import AccountPhone
from surveys.models import SurveyChannel

log = logging.getLogger(__name__)

__all__ = ["AttemptStore", "Claimed", "FinalReport", "MessageContext", "result_for"]

HISTORY_DAYS: Final = 40
_NEVER: Final = frozenset({Refusal.NOT_ON_FILE, Refusal.CAMPAIGN_ENDED})

ORIGINATE_REASONS: Final[Mapping[int, Result]] = {
    0: Result.FAILED,
    1: Result.NOANSWER,  # hung up while ringing (rejected)
    3: Result.NOANSWER,  # rang until the timeout
    5: Result.BUSY,
    8: Result.CONGESTION,
}
"""Asterisk's OriginateResponse ``Reason`` (an AST_CONTROL_* value) → result."""

HANGUP_CAUSES: Final[Mapping[int, Result]] = {
    17: Result.BUSY,
    18: Result.NOANSWER,
    19: Result.NOANSWER,
    21: Result.BUSY,
    34: Result.CONGESTION,
    38: Result.CONGESTION,
    41: Result.CONGESTION,
    42: Result.CONGESTION,
    44: Result.CONGESTION,
}
"""Q.850 cause of an unanswered channel → result (when no OriginateResponse
was seen, e.g. for a call adopted after a restart); others: ``failed``."""


def result_for(
    *,
    originate_reason: int | None,
    hangup_cause: int | None,
    answered: bool,
    flow_state: str | None,
    amd_status: str | None,
    gone: bool,
    restarted: bool = False,
) -> Result:
    """The result of one phone attempt from what was observed (pure).

    ``restarted``: Asterisk went down while the call was up — a message not
    yet heard to the end is ``lost`` (the callee did not hang up)."""
    if restarted and flow_state not in ("completed", "transferred", "machine", "machine_left"):
        return Result.LOST
    if flow_state == "completed":
        return Result.COMPLETED
    if flow_state == "transferred":
        return Result.TRANSFERRED
    if flow_state in ("machine", "machine_left"):
        return Result.MACHINE
    if flow_state == "hungup":
        return Result.HUNGUP
    if answered or flow_state == "playing":
        if gone:
            return Result.LOST
        if amd_status == "MACHINE":
            return Result.MACHINE
        return Result.ANSWERED if flow_state is None else Result.HUNGUP
    if originate_reason is not None and originate_reason != 4:
        return ORIGINATE_REASONS.get(originate_reason, Result.FAILED)
    if gone:
        return Result.LOST
    if hangup_cause is not None:
        return HANGUP_CAUSES.get(hangup_cause, Result.FAILED)
    return Result.FAILED


@dataclass(frozen=True)
class Claimed:
    """A contact claimed for one attempt; the row is committed."""

    attempt_id: int
    campaign_id: int
    contact_id: int
    phone: str
    channel_id: str
    action_id: str
    ring_timeout: int
    amd: str


@dataclass(frozen=True)
class FinalReport:
    attempt_id: int
    campaign_id: int
    contact_id: int
    result: str
    final: bool
    """The contact is finished (no more attempts)."""
    positive: bool
    campaign_completed: bool


@dataclass(frozen=True)
class MessageContext:
    """What the message flow needs about its call."""

    attempt_id: int
    campaign_id: int
    contact_id: int
    kind: str
    scenario: list[dict[str, str]]
    variables: dict[str, Any]
    amd: str
    phone: str
    account: str | None
    timezone: str


class AttemptStore:
    def __init__(
        self, db: Database, node: str, *, campaigns: CampaignService | None = None
    ) -> None:
        self.db = db
        self.node = node
        self.campaigns = campaigns if campaigns is not None else CampaignService(db)
        """Its call policy decides what may be dialled now (the company's calendar)."""

    # -- claiming --------------------------------------------------------------------

    def claim(self, limit: int, now: datetime | None = None) -> list[Claimed]:
        """Claim up to ``limit`` contacts the policy allows now, writing one
        attempt row (state ``dialing``) for each. Contacts the policy holds
        get ``next_at`` = the next allowed instant; those it never allows are
        finished as ``refused``."""
        if limit <= 0:
            return []
        now = now or utcnow()
        out: list[Claimed] = []
        with self.db.session(readonly=True) as s:
            # Cheap check first: an idle dialer takes no write lock.
            if (
                s.scalar(
                    select(func.count()).where(Campaign.status == CampaignStatus.RUNNING.value)
                )
                == 0
            ):
                return []
        with self.db.session(write=True) as s:
            campaigns = {
                c.id: c
                for c in s.scalars(
                    select(Campaign).where(
                        Campaign.status == CampaignStatus.RUNNING.value,
                        (Campaign.pinned_node.is_(None)) | (Campaign.pinned_node == self.node),
                    )
                )
            }
            if not campaigns:
                return []
            busy = dict(
                s.execute(
                    select(Attempt.campaign_id, func.count())
                    .where(
                        Attempt.campaign_id.in_(list(campaigns)),
                        Attempt.state != AttemptState.DONE.value,
                        Attempt.channel == "phone",
                    )
                    .group_by(Attempt.campaign_id)
                ).all()
            )
            room = {
                cid: (c.lines - busy.get(cid, 0)) if c.lines else limit
                for cid, c in campaigns.items()
            }
            eligible = [cid for cid, r in room.items() if r > 0]
            if not eligible:
                return []
            rows = list(
                s.scalars(
                    select(Contact)
                    .where(
                        Contact.campaign_id.in_(eligible),
                        Contact.status == ContactStatus.PENDING.value,
                        Contact.channel == "phone",  # the SMS and e-mail have their workers
                        (Contact.next_at.is_(None)) | (Contact.next_at <= now),
                    )
                    # Retries that are due first (they have waited), then the
                    # fresh contacts in list order.
                    .order_by(Contact.next_at.is_(None), Contact.next_at, Contact.id)
                    .limit(limit * 4)
                    .with_for_update(skip_locked=True)
                )
            )
            if not rows:
                self._complete_idle(s, campaigns)
                return []
            on_file = self._contract_phones(s, rows)
            unwanted = set(  # added to the do-not-call list after the import
                s.scalars(
                    select(DoNotCall.phone).where(DoNotCall.phone.in_({r.phone for r in rows}))
                )
            )
            history = self._history(s, rows, now)
            chosen = channels.preferences(s, (r.account_id for r in rows))
            policies = {cid: self.campaigns.policy_for(c) for cid, c in campaigns.items()}
            numbers = dict(
                s.execute(
                    select(Attempt.contact_id, func.max(Attempt.attempt_no))
                    .where(Attempt.contact_id.in_([r.id for r in rows]))
                    .group_by(Attempt.contact_id)
                ).all()
            )
            for contact in rows:
                if len(out) >= limit:
                    break
                c = campaigns[contact.campaign_id]
                if room[c.id] <= 0:
                    continue
                if contact.phone in unwanted:
                    self._finish_contact(contact, "refused", refusal="do_not_call")
                    continue
                note = self._outage_note(c, contact, now)
                if note == "refuse":
                    self._finish_contact(contact, "refused", refusal="outage_notice_late")
                    continue
                policy: CallPolicy = policies[c.id]
                numbers_on_file = on_file.get(contact.account_id or -1, [])
                if channels.ordered(c) and contact.channels_left is None:
                    # First seen: the customer's chosen form first (REQ-O12).
                    first = channels.route(
                        c, contact, chosen.get(contact.account_id or -1), numbers_on_file
                    )
                    if first != "phone":
                        continue
                hist = history.get(contact.account_id or -1, [])
                decision = policy.check(now, contact.timezone, hist, contact.phone, numbers_on_file)
                if not decision:
                    assert decision.reason is not None
                    if decision.reason in _NEVER:
                        self._finish_contact(contact, "refused", refusal=decision.reason.value)
                        continue
                    when = policy.next_allowed(
                        now, contact.timezone, hist, contact.phone, numbers_on_file
                    )
                    if when is None:
                        self._finish_contact(contact, "refused", refusal=decision.reason.value)
                    else:
                        contact.next_at = when
                        contact.refusal = decision.reason.value
                    continue
                token = uuid.uuid4().hex
                attempt = Attempt(
                    campaign_id=c.id,
                    contact_id=contact.id,
                    account_id=contact.account_id,
                    attempt_no=(numbers.get(contact.id) or 0) + 1,
                    channel="phone",
                    phone=contact.phone,
                    node=self.node,
                    action_id=f"ai-{token}-o",
                    channel_id=f"ai-{token}",
                    state=AttemptState.DIALING.value,
                    note=note,
                    created_at=now,
                )
                s.add(attempt)
                contact.status = ContactStatus.DIALING.value
                contact.attempts += 1
                contact.refusal = None
                s.flush()
                room[c.id] -= 1
                out.append(
                    Claimed(
                        attempt.id,
                        c.id,
                        contact.id,
                        contact.phone,
                        attempt.channel_id or "",
                        attempt.action_id or "",
                        c.ring_timeout,
                        c.amd,
                    )
                )
        return out

    def _complete_idle(self, s: Session, campaigns: Mapping[int, Campaign]) -> None:
        for cid in campaigns:
            self.campaigns.maybe_complete(s, cid)

    @staticmethod
    def _finish_contact(contact: Contact, result: str, *, refusal: str | None = None) -> None:
        contact.status = (
            ContactStatus.REFUSED.value if result == "refused" else ContactStatus.DONE.value
        )
        contact.final_result = result
        contact.refusal = refusal
        contact.next_at = None

    @staticmethod
    def _outage_note(c: Campaign, contact: Contact, now: datetime) -> str | None:
        """REQ-O9 per contact: None (fine), ``late notice`` (warn) or ``refuse``."""
        if c.kind != Kind.PLANNED_OUTAGE or c.outage_start is None:
            return None
        category = (
            NoticeCategory.LEGAL_ENTITY if contact.category == "ЮЛ" else NoticeCategory.HOUSEHOLD
        )
        decided = min(c.outage_decided_at or c.created_at, now)
        check = check_outage_notice(now, c.outage_start, decided, category)
        if check.verdict is NoticeVerdict.OK:
            return None
        if check.verdict is NoticeVerdict.REFUSE and c.outage_notice == "refuse":
            return "refuse"
        return ("late notice: " + "; ".join(check.reasons))[:255]

    @staticmethod
    def _contract_phones(s: Session, rows: Sequence[Contact]) -> dict[int, list[str]]:
        ids = sorted({r.account_id for r in rows if r.account_id is not None})
        out: dict[int, list[str]] = {}
        if ids:
            for account_id, phone in s.execute(
                select(AccountPhone.account_id, AccountPhone.phone).where(
                    AccountPhone.account_id.in_(ids), AccountPhone.in_contract.is_(True)
                )
            ):
                out.setdefault(account_id, []).append(phone)
        return out

    @staticmethod
    def _history(s: Session, rows: Sequence[Contact], now: datetime) -> dict[int, list[datetime]]:
        """Answered phone attempts per account (any campaign) — the 230-FZ
        "direct interactions" (see autoinformer.policy)."""
        ids = sorted({r.account_id for r in rows if r.account_id is not None})
        out: dict[int, list[datetime]] = {}
        if ids:
            since = now - timedelta(days=HISTORY_DAYS)
            for account_id, at in s.execute(
                select(Attempt.account_id, Attempt.answered_at).where(
                    Attempt.account_id.in_(ids),
                    Attempt.channel == "phone",
                    Attempt.answered_at.is_not(None),
                    Attempt.answered_at >= since,
                )
            ):
                if account_id is not None and at is not None:
                    out.setdefault(account_id, []).append(at)
        return out

    # -- during the call -------------------------------------------------------------

    def mark_answered(self, channel_id: str, at: datetime | None = None) -> None:
        at = at or utcnow()
        with self.db.session(write=True) as s:
            s.execute(
                update(Attempt)
                .where(Attempt.channel_id == channel_id, Attempt.answered_at.is_(None))
                .values(answered_at=at)
            )
            s.execute(
                update(Attempt)
                .where(
                    Attempt.channel_id == channel_id,
                    Attempt.state == AttemptState.DIALING.value,
                )
                .values(state=AttemptState.ANSWERED.value)
            )

    def message_context(self, attempt_id: int) -> MessageContext | None:
        with self.db.session(readonly=True) as s:
            a = s.get(Attempt, attempt_id)
            if a is None:
                return None
            c = s.get(Campaign, a.campaign_id)
            contact = s.get(Contact, a.contact_id)
            if c is None or contact is None:
                return None
            return MessageContext(
                a.id,
                c.id,
                contact.id,
                c.kind,
                list(c.scenario),
                message_variables(c, contact.variables),
                c.amd,
                contact.phone,
                contact.variables.get("account"),
                contact.timezone,
            )

    def record_answer(self, attempt_id: int, question: str, key: str) -> None:
        """The callee answered a question of the message with ``key``."""
        with self.db.session(write=True) as s:
            a = s.get(Attempt, attempt_id, with_for_update=True)
            if a is None:
                return
            a.answers = {**(a.answers or {}), question: key}
            c = s.get(Campaign, a.campaign_id)
            if c is not None and survey.is_survey(c) and key.isdigit():
                # a survey campaign: the answer is a survey's too (REQ-A13)
                survey.store_answer(s, a, question, int(key), SurveyChannel.VOICE, utcnow())

    def flow_update(self, attempt_id: int, **values: Any) -> None:
        """The message flow reports (state, hangup second, AMD status...)."""
        allowed = {"flow_state", "hangup_second", "amd_status", "repeats", "answered_at"}
        bad = set(values) - allowed
        if bad:
            raise ValueError(f"not flow fields: {sorted(bad)}")
        with self.db.session(write=True) as s:
            a = s.get(Attempt, attempt_id, with_for_update=True)
            if a is None:
                return
            if a.state == AttemptState.DONE:
                # The hangup was seen first (the dialer's AMI event): the
                # flow's own measure of when the callee hung up still counts.
                second = values.get("hangup_second")
                if second is not None and a.result == "hungup":
                    a.hangup_second = second
                return
            for k, v in values.items():
                if k == "answered_at" and a.answered_at is not None:
                    continue
                setattr(a, k, v)
            if a.state == AttemptState.DIALING:
                a.state = AttemptState.ANSWERED.value
            if a.answered_at is None:
                a.answered_at = utcnow()
            if values.get("flow_state") == "playing":
                c = s.get(Campaign, a.campaign_id)
                if c is not None and survey.is_survey(c):
                    survey.offer(s, a, SurveyChannel.VOICE, utcnow())  # the response rate

    # -- the end ---------------------------------------------------------------------

    def finalise(
        self,
        channel_id: str,
        *,
        originate_reason: int | None = None,
        hangup_cause: int | None = None,
        answered: bool = False,
        gone: bool = False,
        restarted: bool = False,
        note: str | None = None,
        refund: bool = False,
        now: datetime | None = None,
    ) -> FinalReport | None:
        """Record the attempt's result and advance its contact, exactly once.

        ``gone``: the channel no longer exists and its hangup was not seen
        (restart): without a result from the flow the attempt is ``lost``.
        ``refund``: the Originate was never sent; the attempt does not count
        against the contact's maximum.
        """
        now = now or utcnow()
        with self.db.session(write=True) as s:
            a = s.scalars(
                select(Attempt).where(Attempt.channel_id == channel_id).with_for_update()
            ).first()
            if a is None or a.state == AttemptState.DONE:
                return None
            result = result_for(
                originate_reason=originate_reason,
                hangup_cause=hangup_cause,
                answered=answered or a.answered_at is not None,
                flow_state=a.flow_state,
                amd_status=a.amd_status,
                gone=gone,
                restarted=restarted,
            )
            if answered and a.answered_at is None:
                a.answered_at = now
            if result is Result.HUNGUP and a.hangup_second is None and a.answered_at is not None:
                # The hangup was seen before the flow wrote its second (the
                # usual order when the callee hangs up mid-phrase): from the answer.
                a.hangup_second = round(max(0.0, (now - a.answered_at).total_seconds()), 1)
            a.state = AttemptState.DONE.value
            a.result = result.value
            a.positive = result in POSITIVE_RESULTS
            a.ended_at = now
            a.originate_reason = originate_reason
            a.hangup_cause = str(hangup_cause) if hangup_cause is not None else None
            if note:
                a.note = ((a.note + "; ") if a.note else "")[:100] + note[:150]
            contact = s.get(Contact, a.contact_id, with_for_update=True)
            campaign = s.get(Campaign, a.campaign_id)
            assert contact is not None and campaign is not None
            if refund:
                contact.attempts = max(0, contact.attempts - 1)
            delay = (campaign.retry_delays or {}).get(result.value)
            retry = (
                delay is not None
                and a.flow_state != "machine_left"
                and (refund or contact.attempts < campaign.max_attempts)
                and campaign.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED)
            )
            final = not retry
            if contact.status in (ContactStatus.DIALING, ContactStatus.PENDING):
                if retry:
                    contact.status = ContactStatus.PENDING.value
                    contact.next_at = now + timedelta(seconds=int(delay or 0))
                    contact.final_result = None
                elif (
                    not a.positive
                    and campaign.status != CampaignStatus.STOPPED
                    and channels.advance(campaign, contact, now)
                ):
                    final = False  # the next channel (REQ-O12)
                elif campaign.status == CampaignStatus.STOPPED and delay is not None:
                    contact.status = ContactStatus.CANCELLED.value
                    contact.final_result = result.value
                else:
                    contact.status = ContactStatus.DONE.value
                    contact.final_result = result.value
                    contact.next_at = None
                contact.positive = contact.positive or a.positive
            completed = self.campaigns.maybe_complete(s, campaign.id) if final else False
            return FinalReport(
                a.id, a.campaign_id, a.contact_id, result.value, final, a.positive, completed
            )

    def apply_finalise(self, args: Mapping[str, Any]) -> FinalReport | None:
        """:meth:`finalise` of a spooled result (``attempt.finalise``, issue
        13): idempotent — keyed by the attempt's ChannelId, a result already
        recorded is not recorded again nor counted twice; ``now`` is the time
        the attempt ended, not the time of the replay."""
        fields = dict(args)
        channel_id = str(fields.pop("channel_id"))
        return self.finalise(channel_id, **fields)

    def open_attempts(self) -> list[Attempt]:
        """Phone attempts of this node not yet finished (for reconciliation)."""
        with self.db.session(readonly=True) as s:
            return list(
                s.scalars(
                    select(Attempt).where(
                        Attempt.node == self.node,
                        Attempt.channel == "phone",
                        Attempt.state != AttemptState.DONE.value,
                    )
                )
            )
