"""Notices to the customer (REQ-A11, A9, A7): an outbox in the database and
the sender that delivers its e-mails through SMTP.

The outbox (``appeal_notices``) holds one row per letter: the appeal, its
kind (registered / extended / answered), channel and contact, the text, and
its fate. Exactly once and crash-safe, like the autoinformer's e-mail:

1. :meth:`NoticeStore.claim` moves a due ``queued`` row to ``sending`` and
   counts the try *before* the letter goes out (``FOR UPDATE SKIP LOCKED``
   on PostgreSQL: two nodes never take the same row);
2. :meth:`NoticeStore.finish` records ``sent``; a temporary failure (server
   unreachable, 4xx) puts the row back as ``queued`` with ``next_try_at``
   further each time, up to :data:`MAX_TRIES`, then ``failed``; a permanent
   refusal (5xx) is ``failed`` at once;
3. after a crash between 1 and 2 nobody knows whether the server took the
   letter: :meth:`NoticeStore.recover` marks the node's ``sending`` rows
   ``lost`` (a duplicate letter is worse than a missing one).

Registration notices (REQ-A11) are queued by :meth:`NoticeStore.queue_registrations`,
a sweep run by the sender: appeals registered with an e-mail (or SMS) reply
contact that have no registration notice yet get one (an appeal that came by
SMS had its number in the SMS slice's reply and gets none). Nothing is added to the call
path (the IVR registers appeals while the caller waits), no SMTP either, and
an appeal registered while the sender was down is still notified when it
comes back. The sweep only looks at appeals newer than the watermark the
migration stored (no letters for the back catalogue) and younger than
:data:`REGISTRATION_WINDOW`.

An extension notice (REQ-A9) is different: the page that extends the term
creates it already claimed (``sending``) and delivers it itself, waiting for
the server's answer, because the term may only move once the customer has
been told (:meth:`NoticeStore.create_claimed`).

Channels: e-mail is sent here; rows of :class:`~supervision.models.NoticeChannel`
``sms`` are taken by the SMS slice (:mod:`sms.notices`: sent through Kannel,
``sent`` once the delivery report says delivered); :data:`TRANSPORTS` lists
what this module sends.
Logs name notices by id and appeal number, never a contact (152-FZ).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import make_msgid
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from autoinformer.email import Letter, SmtpConfig, SmtpRejected, send_letter
from crm_bridge.appeals import AppealView
from crm_bridge.db import Database, utcnow
from crm_bridge.models import Appeal, AppealChannel, AppealStatus, Counter, ReplyChannel
from supervision.models import AppealEvent, AppealNotice, NoticeChannel, NoticeKind, NoticeStatus

__all__ = [
    "MAX_TRIES",
    "NoticeSender",
    "NoticeStore",
    "Outgoing",
    "answered_text",
    "extended_text",
    "last_day",
    "registered_text",
]

log = logging.getLogger(__name__)

MAX_TRIES: Final = 5
RETRY_BASE: Final = timedelta(minutes=1)
"""The first retry after a minute, then 2, 4, 8 minutes."""
REGISTRATION_WINDOW: Final = timedelta(days=2)
WATERMARK: Final = "appeal_notices_from"
TRANSPORTS: Final = frozenset({NoticeChannel.EMAIL})
"""The channels this module sends (SMS: the SMS slice, :mod:`sms.notices`)."""
COMPANY: Final = "Горячая линия"


def last_day(due: datetime, zone: ZoneInfo) -> date:
    """The last local day of a term whose exclusive end is ``due``."""
    return (due - timedelta(seconds=1)).astimezone(zone).date()


def _dmy(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def registered_text(a: AppealView, zone: ZoneInfo) -> tuple[str, str]:
    """REQ-A11: the appeal was registered, with its number (subject, body)."""
    due = a.effective_due_at
    received = a.received_at.astimezone(zone).strftime("%d.%m.%Y %H:%M")
    lines = [
        "Здравствуйте!",
        "",
        f"Ваше обращение от {received} зарегистрировано под номером {a.number}.",
    ]
    if due is not None:
        lines.append(f"Ответ будет дан не позднее {_dmy(last_day(due, zone))}.")
    lines += [
        "Пожалуйста, называйте этот номер, когда обращаетесь к нам по этому вопросу.",
        "",
        f"С уважением, {COMPANY}.",
        "Это письмо отправлено автоматически, отвечать на него не нужно.",
    ]
    return f"Обращение № {a.number} зарегистрировано", "\n".join(lines)


def extended_text(
    a: AppealView, days: int, new_due: datetime, reason: str, zone: ZoneInfo
) -> tuple[str, str]:
    """REQ-A9: the answer term moves (subject, body)."""
    lines = [
        "Здравствуйте!",
        "",
        f"Срок ответа на ваше обращение № {a.number} продлён на {days} дн.",
        f"Новый срок ответа: не позднее {_dmy(last_day(new_due, zone))}.",
    ]
    if reason:
        lines.append(f"Причина: {reason}")
    lines += ["", f"С уважением, {COMPANY}."]
    return f"Срок ответа на обращение № {a.number} продлён", "\n".join(lines)


def answered_text(a: AppealView, text: str) -> tuple[str, str]:
    """REQ-A7: the answer itself (subject, body)."""
    body = "\n".join(
        ["Здравствуйте!", "", f"Ответ на ваше обращение № {a.number}:", "", text, "", COMPANY]
    )
    return f"Ответ на обращение № {a.number}", body


def claim_due(
    db: Database,
    channels: Sequence[str],
    now: datetime,
    limit: int,
    *,
    node: str,
    take: Callable[[Session, AppealNotice], None],
) -> int:
    """The due queued notices of ``channels``, oldest first, locked with
    ``FOR UPDATE SKIP LOCKED`` (several nodes never take one twice); each
    counted as a try of ``node`` and handed to ``take`` in the same
    transaction, which sets its next status. The idle check takes no write
    lock. Returns how many were taken (the e-mail sender here, the SMS slice)."""
    due = (
        AppealNotice.status == NoticeStatus.QUEUED.value,
        AppealNotice.channel.in_(list(channels)),
        (AppealNotice.next_try_at.is_(None)) | (AppealNotice.next_try_at <= now),
    )
    with db.session() as s:
        if s.scalar(select(AppealNotice.id).where(*due).limit(1)) is None:
            return 0
    with db.session(write=True) as s:
        rows = s.scalars(
            select(AppealNotice)
            .where(*due)
            .order_by(AppealNotice.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for n in rows:
            n.tries += 1
            n.node = node
            take(s, n)
        return len(rows)


@dataclass(frozen=True)
class Outgoing:
    """A claimed notice, ready to send."""

    id: int
    appeal_id: int
    number: str
    kind: str
    channel: str
    contact: str
    subject: str
    body: str
    message_id: str


class NoticeStore:
    """Blocking database work of the outbox (see the module docstring)."""

    def __init__(self, db: Database, node: str, zone: ZoneInfo) -> None:
        self.db = db
        self.node = node
        self.zone = zone

    # -- queueing ---------------------------------------------------------------

    @staticmethod
    def add(
        session: Session,
        appeal: Appeal | AppealView,
        kind: NoticeKind,
        channel: NoticeChannel,
        contact: str,
        text: tuple[str, str],
        *,
        dedup: str = "",
        status: NoticeStatus = NoticeStatus.QUEUED,
        node: str | None = None,
        now: datetime | None = None,
    ) -> AppealNotice:
        """Put a notice in the outbox in the caller's transaction."""
        now = now or utcnow()
        notice = AppealNotice(
            appeal_id=appeal.id,
            kind=kind.value,
            dedup=dedup,
            channel=channel.value,
            contact=contact,
            subject=text[0][:255],
            body=text[1],
            status=status.value,
            tries=1 if status is NoticeStatus.SENDING else 0,
            next_try_at=now,
            node=node,
            message_id=make_msgid(idstring=f"appeal-{appeal.id}-{kind.value}")[:128],
            created_at=now,
        )
        session.add(notice)
        session.flush()
        return notice

    def queue_registrations(self, now: datetime | None = None) -> int:
        """REQ-A11: queue a registration notice for every new appeal with an
        e-mail or SMS reply contact that has none (see the module docstring)."""
        now = now or utcnow()
        with self.db.session() as s:
            if not self._pending_registrations(s, now, limit=1):
                return 0  # the idle sweep takes no write lock
        queued = 0
        try:
            with self.db.session(write=True) as s:
                for appeal in self._pending_registrations(s, now, limit=100):
                    view = AppealView.from_model(appeal)
                    self.add(
                        s,
                        appeal,
                        NoticeKind.REGISTERED,
                        NoticeChannel.SMS
                        if appeal.reply_channel is ReplyChannel.SMS
                        else NoticeChannel.EMAIL,
                        (appeal.reply_contact or "").strip(),
                        registered_text(view, self.zone),
                        now=now,
                    )
                    queued += 1
        except IntegrityError:
            # Another node queued the same appeals first (the unique key
            # (appeal, kind) holds one notice each): nothing to do here.
            return 0
        if queued:
            log.info("%s registration notices queued", queued)
        return queued

    @staticmethod
    def _pending_registrations(s: Session, now: datetime, *, limit: int) -> list[Appeal]:
        watermark = s.scalar(select(Counter.value).where(Counter.name == WATERMARK)) or 0
        has_notice = exists().where(
            AppealNotice.appeal_id == Appeal.id,
            AppealNotice.kind == NoticeKind.REGISTERED.value,
        )
        stmt = (
            select(Appeal)
            .where(
                Appeal.id > watermark,
                Appeal.created_at >= now - REGISTRATION_WINDOW,
                Appeal.reply_channel.in_((ReplyChannel.EMAIL, ReplyChannel.SMS)),
                # an appeal that came by SMS had its number in the reply already
                Appeal.channel != AppealChannel.SMS,
                Appeal.reply_contact.is_not(None),
                Appeal.reply_contact != "",
                Appeal.status != AppealStatus.NOT_CONSIDERED,
                ~has_notice,
            )
            .order_by(Appeal.id)
            .limit(limit)
        )
        return list(s.scalars(stmt))

    # -- sending ----------------------------------------------------------------

    def claim(self, limit: int, now: datetime | None = None) -> list[Outgoing]:
        """Take due queued notices of the channels this node sends."""
        out: list[Outgoing] = []

        def take(s: Session, n: AppealNotice) -> None:
            n.status = NoticeStatus.SENDING.value
            out.append(self._outgoing(s, n))

        claim_due(
            self.db,
            [c.value for c in TRANSPORTS],
            now or utcnow(),
            limit,
            node=self.node,
            take=take,
        )
        return out

    def get_outgoing(self, notice_id: int) -> Outgoing:
        with self.db.session() as s:
            n = s.get(AppealNotice, notice_id)
            if n is None:
                raise LookupError(f"no notice {notice_id}")
            return self._outgoing(s, n)

    @staticmethod
    def _outgoing(s: Session, n: AppealNotice) -> Outgoing:
        number = s.scalar(select(Appeal.number).where(Appeal.id == n.appeal_id)) or ""
        return Outgoing(
            n.id,
            n.appeal_id,
            number,
            n.kind,
            n.channel,
            n.contact,
            n.subject,
            n.body,
            n.message_id or make_msgid(),
        )

    def finish(
        self,
        notice_id: int,
        *,
        sent: bool,
        error: str | None = None,
        permanent: bool = False,
        retry: bool = True,
        now: datetime | None = None,
    ) -> str:
        """Record a try's outcome; returns the notice's new status. ``retry``
        False: a failure is final (the page's extension notice)."""
        now = now or utcnow()
        with self.db.session(write=True) as s:
            n = s.get(AppealNotice, notice_id, with_for_update=True)
            if n is None or n.status != NoticeStatus.SENDING.value:
                return n.status if n is not None else ""
            n.error = error[:255] if error else None
            if sent:
                n.status = NoticeStatus.SENT.value
                n.sent_at = now
                s.add(
                    AppealEvent(
                        appeal_id=n.appeal_id,
                        at=now,
                        operator_id=None,
                        action="notice.sent",
                        detail={"notice": n.id, "kind": n.kind, "channel": n.channel},
                    )
                )
            elif permanent or not retry or n.tries >= MAX_TRIES:
                n.status = NoticeStatus.FAILED.value
            else:
                n.status = NoticeStatus.QUEUED.value
                n.next_try_at = now + RETRY_BASE * 2 ** (n.tries - 1)
            return n.status

    def recover(self) -> int:
        """After a restart: this node's letters whose fate is unknown are lost."""
        with self.db.session(write=True) as s:
            rows = s.scalars(
                select(AppealNotice)
                .where(
                    AppealNotice.status == NoticeStatus.SENDING.value,
                    AppealNotice.node == self.node,
                )
                .with_for_update()
            ).all()
            for n in rows:
                n.status = NoticeStatus.LOST.value
                n.error = "узел перезапущен во время отправки: судьба письма неизвестна"
            return len(rows)


def smtp_send(cfg: SmtpConfig, out: Outgoing) -> None:
    """Blocking: one notice as a plain-text letter."""
    send_letter(
        cfg, Letter(out.id, out.appeal_id, out.contact, out.subject, out.body, out.message_id)
    )


@dataclass(frozen=True)
class Delivery:
    """What became of one try."""

    status: str
    error: str | None = None

    @property
    def sent(self) -> bool:
        return self.status == NoticeStatus.SENT.value


class NoticeSender:
    """Sends the outbox's e-mails (run by :class:`supervision.digest.DigestComponent`)."""

    def __init__(
        self,
        run_db: Callable[..., Any],
        store: NoticeStore,
        cfg: SmtpConfig,
        *,
        batch: int = 20,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.run_db = run_db
        self.store = store
        self.cfg = cfg
        self.batch = batch
        self._clock = clock

    async def run_once(self) -> int:
        """Queue the registration notices, then send one batch; how many were tried."""
        now = self._clock()
        await self.run_db(self.store.queue_registrations, now)
        letters: list[Outgoing] = await self.run_db(self.store.claim, self.batch, now)
        for out in letters:
            await self.deliver(out)
        return len(letters)

    async def deliver(self, out: Outgoing, *, retry: bool = True) -> Delivery:
        """Send one claimed notice and record the outcome."""
        try:
            await asyncio.to_thread(smtp_send, self.cfg, out)
        except SmtpRejected as exc:
            log.info("notice %s (appeal %s) rejected by the server", out.id, out.number)
            status = await self.run_db(
                _finish(
                    self.store,
                    out.id,
                    now=self._clock(),
                    sent=False,
                    error=_short(exc),
                    permanent=True,
                )
            )
            return Delivery(status, f"почтовый сервер отказал: {_short(exc)}")
        except (OSError, smtplib.SMTPException) as exc:
            log.warning(
                "notice %s (appeal %s) not sent: %s", out.id, out.number, type(exc).__name__
            )
            status = await self.run_db(
                _finish(
                    self.store,
                    out.id,
                    now=self._clock(),
                    sent=False,
                    error=_short(exc),
                    retry=retry,
                )
            )
            return Delivery(status, f"почтовый сервер недоступен: {_short(exc)}")
        status = await self.run_db(_finish(self.store, out.id, now=self._clock(), sent=True))
        log.info("notice %s (appeal %s, %s) sent", out.id, out.number, out.kind)
        return Delivery(status)


def _finish(store: NoticeStore, notice_id: int, **kw: Any) -> Callable[[], str]:
    return lambda: store.finish(notice_id, **kw)


def _short(exc: BaseException) -> str:
    """An SMTP error without the addresses it may quote (152-FZ)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code}"
    if isinstance(exc, SmtpRejected):
        return "адрес отклонён"
    return type(exc).__name__


async def run_sender_loop(sender: NoticeSender, interval: float, stop: asyncio.Event) -> None:
    """The sender's loop until ``stop`` is set (owned by the component)."""
    while not stop.is_set():
        try:
            while await sender.run_once():
                pass
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad round must not end the loop; logged, retried
            log.exception("notice sender round failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
