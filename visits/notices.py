"""The customer's confirmations and reminders of visits (REQ-T11, O12).

``visit_notices`` is an outbox: :class:`visits.service.VisitService` queues a
confirmation in the transaction that books, moves or cancels a visit, and
:meth:`NoticeStore.queue_reminders` queues a reminder for every visit of
*tomorrow* (the office's local date), in the office's daytime
(:data:`REMINDER_FROM`–:data:`REMINDER_UNTIL`) — idempotent: one row per (visit, kind,
slot), so a sweep run twice, or by two nodes at once, queues it once, and a
visit moved to another day gets a reminder for its new slot.

The component ``visit_notices`` (:class:`VisitNotifier`) sweeps every
``poll`` seconds: reminders, then the due rows, each claimed (``sending``,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL) before it goes out:

* e-mail through SMTP (``smtp_*`` settings, :func:`autoinformer.email.send_letter`):
  sent; a temporary failure is tried again later (up to :data:`MAX_TRIES`),
  a permanent refusal is ``failed``; a row left ``sending`` by a node that
  died is ``lost`` (a duplicate letter is worse than a missing one);
* SMS: handed to the SMS slice's outbox (:class:`sms.outbox.Outbox`, sent
  by its component ``sms`` through Kannel, with delivery reports); the row
  keeps the message's id.

Logs name notices and visits by id, never a contact (152-FZ).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_bridge.db import Database, utcnow
from ivr.say_ru import MONTHS_GEN
from visits.models import (
    NoticeChannel,
    NoticeKind,
    NoticeState,
    Office,
    Visit,
    VisitNotice,
    VisitStatus,
)

if TYPE_CHECKING:
    from visits.service import VisitView

__all__ = ["MAX_TRIES", "NoticeStore", "VisitNotifier", "notice_text"]

log = logging.getLogger(__name__)

MAX_TRIES: Final = 5
RETRY: Final = timedelta(minutes=2)
STALE: Final = timedelta(minutes=10)
REMINDER_FROM: Final = 9
REMINDER_UNTIL: Final = 21
"""Reminders are queued in the office's daytime only (09:00–21:00 local):
no SMS at midnight; a sweep in the evening still reaches tomorrow's visits."""

_WEEKDAYS_ACC: Final = (
    "в понедельник",
    "во вторник",
    "в среду",
    "в четверг",
    "в пятницу",
    "в субботу",
    "в воскресенье",
)


def when_text(at: datetime, zone: ZoneInfo) -> str:
    """«в понедельник, 7 декабря, в 10:30»."""
    local = at.astimezone(zone)
    return (
        f"{_WEEKDAYS_ACC[local.weekday()]}, {local.day} {MONTHS_GEN[local.month]}, в {local:%H:%M}"
    )


def notice_text(
    kind: NoticeKind, v: VisitView, zone: ZoneInfo, *, sms: bool = False
) -> tuple[str, str]:
    """(subject, body) of a notice; an SMS body is one short line."""
    when = when_text(v.starts_at, zone)
    where = f"{v.office_name}, {v.office_address}"
    if kind is NoticeKind.CANCELLED:
        subject = "Запись на приём отменена"
        line = f"Ваша запись на приём {when} ({where}) отменена."
    elif kind is NoticeKind.MOVED:
        subject = "Запись на приём перенесена"
        line = f"Ваша запись на приём перенесена: {when}, {where}."
    elif kind is NoticeKind.REMINDER:
        subject = "Напоминание о записи на приём"
        line = f"Напоминаем: завтра {when} вас ждут на приём, {where}."
    else:
        subject = "Вы записаны на приём"
        line = f"Вы записаны на приём {when}, {where}."
    if sms:
        return subject, f"{line} Запись № {v.id}."
    body = (
        "Здравствуйте!\n\n"
        f"{line}\n"
        f"Номер записи: {v.id}. Лицевой счёт: {v.account_number}.\n\n"
        "Возьмите с собой паспорт и квитанцию. Перенести или отменить запись можно "
        "по телефону горячей линии (пункт меню «запись на приём») или у оператора.\n\n"
        "Это письмо отправлено автоматически, отвечать на него не нужно."
    )
    return subject, body


@dataclass(frozen=True, slots=True)
class Outgoing:
    id: int
    visit_id: int
    channel: NoticeChannel
    contact: str
    subject: str
    body: str
    account_id: int


class NoticeStore:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock

    def queue_reminders(self) -> int:
        """A reminder for each booked visit of tomorrow (the office's date) that
        has none for its slot yet; how many were queued."""
        from visits.service import VisitService

        now = self.clock()
        queued = 0
        with self.db.session() as s:
            rows = s.execute(
                select(Visit.id, Visit.starts_at, Office.timezone)
                .join(Office, Office.id == Visit.office_id)
                .where(
                    Visit.status == VisitStatus.BOOKED.value,
                    Visit.starts_at > now,
                    Visit.starts_at < now + timedelta(days=2, hours=2),
                    Visit.notify_channel != NoticeChannel.NONE.value,
                )
            ).all()
            due = [
                (vid, at, tz)
                for vid, at, tz in rows
                if at.astimezone(ZoneInfo(tz)).date()
                == now.astimezone(ZoneInfo(tz)).date() + timedelta(days=1)
                and REMINDER_FROM <= now.astimezone(ZoneInfo(tz)).hour < REMINDER_UNTIL
            ]
            have = {
                (vid, at)
                for vid, at in s.execute(
                    select(VisitNotice.visit_id, VisitNotice.slot_at).where(
                        VisitNotice.kind == NoticeKind.REMINDER.value,
                        VisitNotice.visit_id.in_([d[0] for d in due] or [-1]),
                    )
                ).all()
            }
        for vid, at, tz in due:
            if (vid, at) in have:
                continue
            view = VisitService._view_by_id(self.db, vid)
            if view is None or view.notify_contact is None:
                continue
            subject, body = notice_text(
                NoticeKind.REMINDER,
                view,
                ZoneInfo(tz),
                sms=view.notify_channel is NoticeChannel.SMS,
            )
            try:
                with self.db.session(write=True) as s:
                    s.add(
                        VisitNotice(
                            visit_id=vid,
                            kind=NoticeKind.REMINDER.value,
                            slot_at=at,
                            channel=view.notify_channel.value,
                            contact=view.notify_contact,
                            subject=subject,
                            body=body,
                            next_try_at=now,
                        )
                    )
                queued += 1
            except IntegrityError:
                continue  # another node queued it first
        return queued

    def claim(self, limit: int = 20) -> list[Outgoing]:
        now = self.clock()
        with self.db.session(write=True) as s:
            rows = list(
                s.execute(
                    select(VisitNotice, Visit.account_id)
                    .join(Visit, Visit.id == VisitNotice.visit_id)
                    .where(
                        VisitNotice.state == NoticeState.QUEUED.value,
                        VisitNotice.next_try_at <= now,
                    )
                    .order_by(VisitNotice.next_try_at, VisitNotice.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True, of=VisitNotice)
                ).all()
            )
            out = []
            for n, account_id in rows:
                n.state = NoticeState.SENDING.value
                n.claimed_at = now
                n.tries += 1
                out.append(
                    Outgoing(
                        n.id,
                        n.visit_id,
                        NoticeChannel(n.channel),
                        n.contact,
                        n.subject,
                        n.body,
                        account_id,
                    )
                )
            return out

    def finish(
        self,
        notice_id: int,
        *,
        sent: bool,
        error: str | None = None,
        permanent: bool = False,
        sms_message_id: int | None = None,
    ) -> str:
        now = self.clock()
        with self.db.session(write=True) as s:
            n = s.get(VisitNotice, notice_id)
            assert n is not None
            if sent:
                n.state, n.sent_at, n.error = NoticeState.SENT.value, now, None
                n.sms_message_id = sms_message_id
            elif permanent or n.tries >= MAX_TRIES:
                n.state, n.error = NoticeState.FAILED.value, (error or "")[:255]
            else:
                n.state, n.error = NoticeState.QUEUED.value, (error or "")[:255]
                n.next_try_at = now + RETRY * (2 ** (n.tries - 1))
            return n.state

    def recover(self) -> int:
        """Rows left ``sending`` longer than :data:`STALE`: ``lost``."""
        now = self.clock()
        with self.db.session(write=True) as s:
            rows = list(
                s.execute(
                    select(VisitNotice).where(
                        VisitNotice.state == NoticeState.SENDING.value,
                        VisitNotice.claimed_at < now - STALE,
                    )
                ).scalars()
            )
            for n in rows:
                n.state = NoticeState.LOST.value
                n.error = "узел остановился во время отправки: судьба уведомления неизвестна"
            return len(rows)


class VisitNotifier:
    """The component ``visit_notices`` (see the module docstring)."""

    def __init__(self, services: Any, *, poll: float = 30.0) -> None:
        from autoinformer.email import SmtpConfig

        self.services = services
        self.store = NoticeStore(services.db)
        self.smtp = SmtpConfig.from_settings(services.settings)
        self.sms_service_number = str(getattr(services.settings, "sms_sender", "") or "")
        self.poll = poll
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        await self.services.run_db(self.store.recover)
        self._task = asyncio.create_task(self._run(), name="visit-notices")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("visit notices: sweep failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    async def run_once(self) -> int:
        run_db = self.services.run_db
        await run_db(self.store.queue_reminders)
        done = 0
        for out in await run_db(self.store.claim):
            await self._deliver(out)
            done += 1
        return done

    async def _deliver(self, out: Outgoing) -> None:
        run_db = self.services.run_db
        if out.channel is NoticeChannel.SMS:
            from sms.outbox import Outbox

            outbox = Outbox(self.services.db)
            message_id = await run_db(
                lambda: outbox.queue(
                    out.contact,
                    out.body,
                    purpose="visit",
                    service_number=self.sms_service_number,
                    account_id=out.account_id,
                )
            )
            await run_db(lambda: self.store.finish(out.id, sent=True, sms_message_id=message_id))
            log.info("visit notice %s (visit %s) handed to the SMS outbox", out.id, out.visit_id)
            return
        from autoinformer.email import Letter, SmtpRejected, send_letter

        letter = Letter(out.id, out.visit_id, out.contact, out.subject, out.body, make_msgid())
        try:
            await asyncio.to_thread(send_letter, self.smtp, letter)
        except SmtpRejected as exc:
            why = str(exc)
            await run_db(lambda: self.store.finish(out.id, sent=False, error=why, permanent=True))
            log.warning("visit notice %s refused by the mail server", out.id)
            return
        except (OSError, smtplib.SMTPException) as exc:
            why = type(exc).__name__
            state = await run_db(lambda: self.store.finish(out.id, sent=False, error=why))
            log.warning("visit notice %s not sent (%s): %s", out.id, why, state)
            return
        await run_db(lambda: self.store.finish(out.id, sent=True))
        log.info("visit notice %s (visit %s) sent by e-mail", out.id, out.visit_id)
