"""The callback worklist (issue 12; REQ-T6 answering machine, REQ-T8 the
queue's callback offer): every callback promised to a caller, by deadline,
until it is made.

An operator takes a callback («Позвонить»): it is marked in progress and
counted as an attempt, the operator's phone rings first and, once answered,
the hotline dials the customer through the trunk (AMI Originate into
``hotline-operators``). Callbacks are made in working hours only. The
operator then records the result:

* **reached** — done; the appeal is answered with the operator's note;
* **no answer** / **busy** — tried again ``callback_retry_minutes`` later (in
  working hours), up to ``callback_max_attempts``; then failed;
* **wrong number** — failed;
* **call back at …** — pending again at the time the customer asked for.

A callback whose window has ended (``window_end``) is shown overdue.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final, Protocol

from sqlalchemy import Select, select

from crm_bridge.appeals import AppealService
from crm_bridge.db import Database, utcnow
from crm_bridge.identify import account_display_address
from crm_bridge.models import Account, Appeal, Callback, CallbackStatus

__all__ = ["RESULT_TITLES", "CallbackError", "CallbackItem", "CallbackResult", "CallbackService"]

OPEN: Final = (CallbackStatus.PENDING, CallbackStatus.IN_PROGRESS)


class CallbackResult(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    WRONG_NUMBER = "wrong_number"
    CALL_BACK_LATER = "call_back_later"


RESULT_TITLES: Final[dict[str, str]] = {
    CallbackResult.REACHED: "Дозвонились, вопрос решён",
    CallbackResult.NO_ANSWER: "Не отвечает",
    CallbackResult.BUSY: "Занято",
    CallbackResult.WRONG_NUMBER: "Неверный номер",
    CallbackResult.CALL_BACK_LATER: "Просил перезвонить позже",
}
STATUS_TITLES: Final[dict[str, str]] = {
    CallbackStatus.PENDING: "ожидает",
    CallbackStatus.IN_PROGRESS: "звоним",
    CallbackStatus.DONE: "выполнен",
    CallbackStatus.FAILED: "не удался",
    CallbackStatus.CANCELLED: "отменён",
}


class CallbackError(Exception):
    """A callback action that cannot be done (message in Russian)."""


class OpenHours(Protocol):
    def is_open(self, dt: datetime) -> bool: ...

    def next_open(self, dt: datetime) -> datetime | None: ...


@dataclass(frozen=True)
class CallbackItem:
    id: int
    phone: str
    due_at: datetime
    window_end: datetime | None
    status: str
    attempts: int
    overdue: bool
    reason: str
    last_attempt_at: datetime | None
    appeal_id: int | None
    appeal_number: str | None
    appeal_content: str
    account_number: str | None
    account_holder: str | None
    account_address: str | None
    recordings: int
    """How many recordings the caller left (played by index)."""

    @property
    def status_title(self) -> str:
        return STATUS_TITLES.get(self.status, self.status)


def _with_appeal_and_account() -> Select[Callback, Appeal, Account]:
    return (
        select(Callback, Appeal, Account)
        .outerjoin(Appeal, Appeal.id == Callback.appeal_id)
        .outerjoin(Account, Account.id == Callback.account_id)
    )


class CallbackService:
    def __init__(
        self,
        db: Database,
        *,
        hours: OpenHours,
        appeals: AppealService,
        retry_minutes: int = 30,
        max_attempts: int = 3,
    ) -> None:
        self.db = db
        self.hours = hours
        self.appeals = appeals
        self.retry = timedelta(minutes=retry_minutes)
        self.max_attempts = max_attempts

    # -- reading --------------------------------------------------------------

    def worklist(self, now: datetime | None = None) -> list[CallbackItem]:
        """Every open callback, the most urgent first."""
        now = now or utcnow()
        with self.db.session() as session:
            rows = session.execute(
                _with_appeal_and_account()
                .where(Callback.status.in_(OPEN))
                .order_by(Callback.due_at, Callback.id)
            ).all()
            return [self._item(cb, ap, acc, now) for cb, ap, acc in rows]

    def get(self, callback_id: int, now: datetime | None = None) -> CallbackItem:
        with self.db.session() as session:
            row = session.execute(
                _with_appeal_and_account().where(Callback.id == callback_id)
            ).first()
            if row is None:
                raise CallbackError("нет такого обратного звонка")
            return self._item(*row, now or utcnow())

    def recording(self, callback_id: int, index: int, allowed_root: Path) -> Path:
        """The caller's ``index``-th recording, if it lies under ``allowed_root``."""
        with self.db.session() as session:
            appeal = session.execute(
                select(Appeal)
                .join(Callback, Callback.appeal_id == Appeal.id)
                .where(Callback.id == callback_id)
            ).scalar()
            paths = list(appeal.recordings or ()) if appeal is not None else []
        if not 0 <= index < len(paths):
            raise CallbackError("нет такой записи")
        path = Path(str(paths[index])).resolve()
        if not path.is_relative_to(allowed_root.resolve()) or not path.is_file():
            raise CallbackError("запись недоступна")
        return path

    @staticmethod
    def _item(
        cb: Callback, appeal: Appeal | None, account: Account | None, now: datetime
    ) -> CallbackItem:
        end = cb.window_end
        return CallbackItem(
            id=cb.id,
            phone=cb.phone,
            due_at=cb.due_at,
            window_end=end,
            status=cb.status.value,
            attempts=cb.attempts,
            overdue=end is not None and end < now,
            reason=cb.note or "",
            last_attempt_at=cb.last_attempt_at,
            appeal_id=appeal.id if appeal else None,
            appeal_number=appeal.number if appeal else None,
            appeal_content=appeal.content if appeal else "",
            account_number=account.number if account else None,
            account_holder=account.holder_name if account else None,
            account_address=account_display_address(account) if account else None,
            recordings=len(appeal.recordings or ()) if appeal else 0,
        )

    # -- the operator's actions -------------------------------------------------

    def start(self, callback_id: int, now: datetime | None = None) -> CallbackItem:
        """The operator calls now: in working hours only; counted as an attempt."""
        now = now or utcnow()
        if not self.hours.is_open(now):
            raise CallbackError("обратные звонки делаются только в рабочее время")
        with self.db.session(write=True) as session:
            cb = session.get(Callback, callback_id)
            if cb is None:
                raise CallbackError("нет такого обратного звонка")
            if cb.status not in OPEN:
                raise CallbackError("этот обратный звонок уже завершён")
            cb.status = CallbackStatus.IN_PROGRESS
            cb.attempts += 1
            cb.last_attempt_at = now
        return self.get(callback_id, now)

    def finish(
        self,
        callback_id: int,
        result: str,
        *,
        note: str = "",
        call_back_at: datetime | None = None,
        now: datetime | None = None,
    ) -> CallbackItem:
        """Record the result of the attempt (see the module docstring)."""
        now = now or utcnow()
        try:
            outcome = CallbackResult(result)
        except ValueError as exc:
            raise CallbackError(f"неизвестный результат «{result}»") from exc
        if outcome is CallbackResult.CALL_BACK_LATER and (
            call_back_at is None or call_back_at <= now
        ):
            raise CallbackError("укажите, когда перезвонить (время в будущем)")
        appeal_id: int | None = None
        line = f"{RESULT_TITLES[outcome]}" + (f": {note}" if note else "")
        with self.db.session(write=True) as session:
            cb = session.get(Callback, callback_id)
            if cb is None:
                raise CallbackError("нет такого обратного звонка")
            if cb.status not in OPEN:
                raise CallbackError("этот обратный звонок уже завершён")
            appeal_id = cb.appeal_id
            stamp = now.strftime("%d.%m.%Y %H:%M UTC")
            cb.note = "\n".join(filter(None, [cb.note, f"{stamp}: {line}"]))
            if outcome is CallbackResult.REACHED:
                cb.status = CallbackStatus.DONE
            elif outcome is CallbackResult.WRONG_NUMBER:
                cb.status = CallbackStatus.FAILED
            elif outcome is CallbackResult.CALL_BACK_LATER:
                assert call_back_at is not None
                cb.status = CallbackStatus.PENDING
                cb.due_at = call_back_at
                cb.window_end = max(cb.window_end or call_back_at, call_back_at)
            elif cb.attempts >= self.max_attempts:
                cb.status = CallbackStatus.FAILED
            else:
                cb.status = CallbackStatus.PENDING
                again = now + self.retry
                if not self.hours.is_open(again):
                    again = self.hours.next_open(again) or again
                cb.due_at = again
        if appeal_id is not None and outcome is CallbackResult.REACHED:
            current = self.appeals.get(appeal_id)
            if current.is_open:
                self.appeals.answer(appeal_id, note=f"Обратный звонок: {note or 'дозвонились'}")
        return self.get(callback_id, now)
