"""E-mail autoinforming, the second channel (REQ-O11).

Contacts of a campaign with ``email_enabled`` that have an e-mail address on
file (from the account, given voluntarily, or from the list) get the
campaign's message as a plain-text letter through SMTP (settings ``smtp_*``).
The text is the same as the voice message (:func:`autoinformer.campaigns.preview_text`).

Exactly once, crash-safe, like the dialer:

1. :meth:`EmailStore.claim` marks the contact ``email_status = 'sending'``
   and writes an attempt row (``channel = 'email'``, state ``dialing``,
   ``action_id`` = the letter's Message-ID) *before* the letter is sent;
   contacts are claimed with ``FOR UPDATE SKIP LOCKED`` so several workers
   never take the same contact;
2. :meth:`EmailStore.finish` records ``sent`` (the server accepted the
   letter) or ``rejected`` (a permanent SMTP refusal); a temporary failure
   (server unreachable, 4xx) puts the contact back for a later try and
   closes its attempt as ``failed``;
3. after a crash between 1 and 2 nobody knows whether the server got the
   letter: the attempt is closed as ``lost`` and the letter is not sent again
   (a duplicate letter is worse than a missing one; the report shows it).

The phone attempts are independent: the e-mail does not replace the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Final

from sqlalchemy import select, update

from autoinformer import channels
from autoinformer.campaigns import (
    KIND_TITLES,
    CampaignService,
    Kind,
    message_variables,
    preview_text,
)
from autoinformer.models import (
    Attempt,
    AttemptState,
    Campaign,
    CampaignStatus,
    Contact,
    ContactStatus,
    Result,
)
from crm_bridge.db import Database, utcnow

log = logging.getLogger(__name__)

__all__ = ["EmailSender", "EmailStore", "Letter", "SmtpConfig", "send_letter"]

SENDING: Final = "sending"
RETRY_AFTER: Final = timedelta(minutes=10)
MAX_TRIES: Final = 3


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    user: str = ""
    password: str = ""
    starttls: bool = False
    timeout: float = 20.0

    @classmethod
    def from_settings(cls, s: Any) -> SmtpConfig:
        return cls(
            s.smtp_host,
            int(s.smtp_port),
            s.smtp_from,
            s.smtp_user,
            s.smtp_password,
            starttls=bool(s.smtp_starttls),
        )

    def insecure(self) -> str | None:
        """Why this configuration must not send (AUTH in clear to a relay
        off this machine), or None."""
        if not self.user or self.starttls or _loopback(self.host):
            return None
        return (
            f"SMTP AUTH to {self.host} without TLS refused: set smtp_starttls "
            "(or relay through a server on this machine)"
        )


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpInsecure(smtplib.SMTPException):
    """The configuration would send a password or letters in clear."""


@dataclass(frozen=True)
class Letter:
    attempt_id: int
    contact_id: int
    to: str
    subject: str
    body: str
    message_id: str


class SmtpRejected(Exception):
    """The server refused the letter for good (5xx)."""


def build_message(cfg: SmtpConfig, letter: Letter) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = cfg.sender
    msg["To"] = letter.to
    msg["Subject"] = letter.subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = letter.message_id
    msg.set_content(letter.body)
    return msg


def send_letter(cfg: SmtpConfig, letter: Letter) -> None:
    """Blocking SMTP delivery of one letter. :class:`SmtpRejected` for a
    permanent refusal; OSError/SMTPException for temporary trouble."""
    problem = cfg.insecure()
    if problem is not None:
        raise SmtpInsecure(problem)
    msg = build_message(cfg, letter)
    with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout) as smtp:
        if cfg.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if cfg.user:
            smtp.login(cfg.user, cfg.password)
        try:
            refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _ in exc.recipients.values()]
            if all(c >= 500 for c in codes):
                raise SmtpRejected(str(exc.recipients)) from exc
            raise
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise SmtpRejected(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            raise
        if refused:
            raise SmtpRejected(str(refused))


class EmailStore:
    """Blocking database work of the e-mail channel."""

    def __init__(self, db: Database, node: str) -> None:
        self.db = db
        self.node = node

    def claim(self, limit: int, now: datetime | None = None) -> list[Letter]:
        now = now or utcnow()
        out: list[Letter] = []
        with self.db.session(readonly=True) as s:
            # Cheap check first: an idle worker takes no write lock.
            if (
                s.scalar(
                    select(Campaign.id)
                    .where(
                        Campaign.email_enabled.is_(True),
                        Campaign.status.in_(
                            [CampaignStatus.RUNNING.value, CampaignStatus.COMPLETED.value]
                        ),
                    )
                    .limit(1)
                )
                is None
            ):
                return []
        with self.db.session(write=True) as s:
            rows = list(
                s.scalars(
                    select(Contact)
                    .join(Campaign, Campaign.id == Contact.campaign_id)
                    .where(
                        Campaign.email_enabled.is_(True),
                        Campaign.status.in_(
                            [CampaignStatus.RUNNING.value, CampaignStatus.COMPLETED.value]
                        ),
                        Contact.email.is_not(None),
                        Contact.email_status.is_(None),
                        # a campaign of ordered channels: only the contacts on the e-mail now
                        Campaign.channels.is_(None)
                        | (
                            (Contact.channel == "email")
                            & (Contact.status == ContactStatus.PENDING.value)
                        ),
                    )
                    .order_by(Contact.id)
                    .limit(limit * 4)
                    .with_for_update(skip_locked=True, of=Contact)
                )
            )
            campaigns: dict[int, Campaign] = {}
            for contact in rows:
                if len(out) >= limit:
                    break
                c = campaigns.get(contact.campaign_id) or s.get(Campaign, contact.campaign_id)
                assert c is not None
                campaigns[c.id] = c
                # Retries of a temporary failure wait in the attempt rows' note.
                tries = [
                    a
                    for a in s.scalars(
                        select(Attempt).where(
                            Attempt.contact_id == contact.id, Attempt.channel == "email"
                        )
                    )
                ]
                if tries and (tries[-1].ended_at or now) + RETRY_AFTER > now:
                    continue
                token = uuid.uuid4().hex
                message_id = make_msgid(idstring=f"ai-{c.id}-{contact.id}-{token[:8]}")
                attempt = Attempt(
                    campaign_id=c.id,
                    contact_id=contact.id,
                    account_id=contact.account_id,
                    attempt_no=len(tries) + 1,
                    channel="email",
                    phone=None,
                    node=self.node,
                    action_id=message_id[:96],
                    channel_id=f"ai-mail-{token}",
                    state=AttemptState.DIALING.value,
                    created_at=now,
                    note=contact.email,
                )
                s.add(attempt)
                contact.email_status = SENDING
                if channels.ordered(c):
                    contact.status = ContactStatus.DIALING.value
                s.flush()
                subject = c.email_subject or f"{KIND_TITLES[Kind(c.kind)]}: {c.name}"
                body = preview_text(
                    c.scenario,
                    message_variables(c, contact.variables),
                    tz=contact.timezone,
                    with_hints=False,
                )
                out.append(
                    Letter(attempt.id, contact.id, contact.email or "", subject, body, message_id)
                )
        return out

    def finish(self, attempt_id: int, result: Result | None, note: str | None = None) -> None:
        """``result`` sent/rejected, or None for a temporary failure (retry later)."""
        now = utcnow()
        with self.db.session(write=True) as s:
            a = s.get(Attempt, attempt_id, with_for_update=True)
            if a is None or a.state == AttemptState.DONE:
                return
            contact = s.get(Contact, a.contact_id, with_for_update=True)
            assert contact is not None
            a.state = AttemptState.DONE.value
            a.ended_at = now
            if note:
                a.note = ((a.note or "") + "; " + note)[:255]
            campaign = s.get(Campaign, a.campaign_id)
            assert campaign is not None
            if result is None:
                a.result = Result.FAILED.value
                again = a.attempt_no < MAX_TRIES
                contact.email_status = None if again else Result.FAILED.value
                if channels.ordered(campaign):
                    self._settle_ordered(s, campaign, contact, a, again=again, now=now)
                return
            a.result = result.value
            a.positive = result is Result.SENT
            contact.email_status = result.value
            if channels.ordered(campaign):
                self._settle_ordered(s, campaign, contact, a, again=False, now=now)

    def _settle_ordered(
        self,
        s: Any,
        campaign: Campaign,
        contact: Contact,
        a: Attempt,
        *,
        again: bool,
        now: datetime,
    ) -> None:
        """A campaign of ordered channels (:mod:`autoinformer.channels`): the
        letter ends the contact, or hands it to its next channel."""
        if contact.status != ContactStatus.DIALING.value:
            return
        contact.positive = contact.positive or a.positive
        if again:
            contact.status = ContactStatus.PENDING.value
            contact.next_at = now + RETRY_AFTER
        elif a.positive or not channels.advance(campaign, contact, now):
            contact.status = ContactStatus.DONE.value
            contact.final_result = a.result
            contact.next_at = None
            CampaignService(self.db).maybe_complete(s, campaign.id)

    def recover(self) -> int:
        """After a restart: letters of this node whose fate is unknown are
        ``lost`` (not sent again: no duplicates)."""
        n = 0
        with self.db.session(write=True) as s:
            for a in s.scalars(
                select(Attempt)
                .where(
                    Attempt.channel == "email",
                    Attempt.node == self.node,
                    Attempt.state != AttemptState.DONE.value,
                )
                .with_for_update()
            ):
                a.state = AttemptState.DONE.value
                a.result = Result.LOST.value
                a.ended_at = utcnow()
                s.execute(
                    update(Contact)
                    .where(Contact.id == a.contact_id)
                    .values(email_status=Result.LOST.value)
                )
                n += 1
        return n


class EmailSender:
    """The e-mail worker: a background task of the runtime (component ``email``)."""

    def __init__(
        self,
        run_db: Callable[..., Any],
        db: Database,
        cfg: SmtpConfig,
        *,
        node: str,
        batch: int = 20,
        interval: float = 5.0,
    ) -> None:
        self.run_db = run_db
        self.store = EmailStore(db, node)
        self.cfg = cfg
        self.batch = batch
        self.interval = interval
        self.sent = 0
        self.rejected = 0
        self.failed = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @classmethod
    def from_runtime(cls, runtime: Any) -> EmailSender:
        s = runtime.settings
        services = runtime.services
        sender = cls(services.run_db, services.db, SmtpConfig.from_settings(s), node=s.node_name)
        services.email_sender = sender
        return sender

    async def start(self) -> None:
        self._stopping = False
        await self.run_db(self.store.recover)
        problem = self.cfg.insecure()
        if problem is not None:
            # Letters stay queued (nothing lost) until the settings are fixed.
            log.error("e-mail sending disabled: %s", problem)
            return
        self._task = asyncio.create_task(self._run(), name="autoinformer-email")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def poke(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Claim and send one batch; the number of letters handled."""
        letters: list[Letter] = await self.run_db(self.store.claim, self.batch)
        for letter in letters:
            await self._send(letter)
        return len(letters)

    async def _send(self, letter: Letter) -> None:
        try:
            await asyncio.to_thread(send_letter, self.cfg, letter)
        except SmtpRejected as exc:
            self.rejected += 1
            log.info("e-mail of attempt %s rejected: %s", letter.attempt_id, exc)
            await self.run_db(self.store.finish, letter.attempt_id, Result.REJECTED, str(exc))
        except (OSError, smtplib.SMTPException) as exc:
            self.failed += 1
            log.warning("e-mail of attempt %s not sent (will retry): %s", letter.attempt_id, exc)
            await self.run_db(self.store.finish, letter.attempt_id, None, f"temporary: {exc}")
        else:
            self.sent += 1
            await self.run_db(self.store.finish, letter.attempt_id, Result.SENT, None)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                while await self.run_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("e-mail worker failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
