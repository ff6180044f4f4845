"""The callback worklist (issue 12; REQ-T6, T8): every promised callback by
deadline, made in working hours only, results with retries, the appeal
moved on, the caller's message served only from the recordings directory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crm_bridge.appeals import AppealService
from crm_bridge.db import Database
from crm_bridge.models import (
    AppealChannel,
    AppealKind,
    AppealStatus,
    Callback,
    CallbackStatus,
    ReplyChannel,
)
from ivr.flows.common import create_callback
from ivr.schedule import WorkingHours
from shift.callbacks import CallbackError, CallbackService

MONDAY_NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # 12:00 Moscow
SUNDAY = datetime(2026, 6, 7, 9, 0, tzinfo=UTC)


def service(db: Database, **kw: int) -> CallbackService:
    hours = WorkingHours.from_config("mon-sat 08:00-20:00", tz="Europe/Moscow")
    return CallbackService(db, hours=hours, appeals=AppealService(db), **kw)


def promised(db: Database, phone: str, due: datetime, *, recordings: list[str] = ()) -> int:  # type: ignore[assignment]
    appeal = AppealService(db).register(
        channel=AppealChannel.ANSWERING_MACHINE,
        kind=AppealKind.ANSWERING_MACHINE_MESSAGE,
        content="Прошу перезвонить",
        reply_channel=ReplyChannel.PHONE,
        reply_contact=phone,
        recordings=list(recordings),
    )
    return create_callback(
        db,
        phone=phone,
        due_at=due,
        window_start=due,
        window_end=due + timedelta(hours=2),
        appeal_id=appeal.id,
        note="Перезвонить по сообщению на автоответчике",
    )


def test_the_worklist_is_by_deadline_with_overdue_marked(db: Database) -> None:
    late = promised(db, "+79001110001", MONDAY_NOON - timedelta(hours=5))
    soon = promised(db, "+79001110002", MONDAY_NOON + timedelta(hours=1))
    items = service(db).worklist(MONDAY_NOON)
    assert [i.id for i in items] == [late, soon]
    assert items[0].overdue and not items[1].overdue
    assert items[0].appeal_number and items[0].reason.startswith("Перезвонить")


def test_a_callback_is_made_in_working_hours_only(db: Database) -> None:
    cb = promised(db, "+79001110001", MONDAY_NOON)
    with pytest.raises(CallbackError, match="рабочее время"):
        service(db).start(cb, SUNDAY)
    item = service(db).start(cb, MONDAY_NOON)
    assert item.status == "in_progress" and item.attempts == 1


def test_reached_closes_it_and_answers_the_appeal(db: Database) -> None:
    cb = promised(db, "+79001110001", MONDAY_NOON)
    svc = service(db)
    svc.start(cb, MONDAY_NOON)
    item = svc.finish(cb, "reached", note="начисления объяснены", now=MONDAY_NOON)
    assert item.status == "done" and "начисления объяснены" in item.reason
    appeal = AppealService(db).get(item.appeal_id or 0)
    assert appeal.status is AppealStatus.ANSWERED and "начисления объяснены" in (appeal.note or "")
    assert svc.worklist(MONDAY_NOON) == []


def test_not_reached_is_retried_then_given_up(db: Database) -> None:
    cb = promised(db, "+79001110001", MONDAY_NOON)
    svc = service(db, retry_minutes=30, max_attempts=2)
    svc.start(cb, MONDAY_NOON)
    item = svc.finish(cb, "no_answer", now=MONDAY_NOON)
    assert item.status == "pending" and item.due_at == MONDAY_NOON + timedelta(minutes=30)
    svc.start(cb, MONDAY_NOON + timedelta(minutes=30))
    assert svc.finish(cb, "busy", now=MONDAY_NOON).status == "failed"


def test_a_retry_after_closing_time_waits_for_the_next_opening(db: Database) -> None:
    evening = datetime(2026, 6, 1, 16, 50, tzinfo=UTC)  # 19:50 Moscow
    cb = promised(db, "+79001110001", evening)
    svc = service(db)
    svc.start(cb, evening)
    item = svc.finish(cb, "no_answer", now=evening)
    assert item.due_at == datetime(2026, 6, 2, 5, 0, tzinfo=UTC)  # Tuesday 08:00 Moscow


def test_call_back_later_and_wrong_number(db: Database) -> None:
    svc = service(db)
    later = promised(db, "+79001110001", MONDAY_NOON)
    svc.start(later, MONDAY_NOON)
    with pytest.raises(CallbackError, match="когда перезвонить"):
        svc.finish(later, "call_back_later", now=MONDAY_NOON)
    at = MONDAY_NOON + timedelta(days=1)
    item = svc.finish(later, "call_back_later", call_back_at=at, now=MONDAY_NOON)
    assert item.status == "pending" and item.due_at == at
    wrong = promised(db, "+79001110002", MONDAY_NOON)
    svc.start(wrong, MONDAY_NOON)
    assert svc.finish(wrong, "wrong_number", now=MONDAY_NOON).status == "failed"
    with pytest.raises(CallbackError, match="уже завершён"):
        svc.start(wrong, MONDAY_NOON)
    with pytest.raises(CallbackError, match="неизвестный результат"):
        svc.finish(later, "maybe", now=MONDAY_NOON)


def test_the_message_is_served_only_from_the_recordings(db: Database, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    message = spool / "am-1.wav"
    message.write_bytes(b"RIFF0000WAVE")
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"x")
    cb = promised(db, "+79001110001", MONDAY_NOON, recordings=[str(message), str(outside)])
    svc = service(db)
    assert svc.recording(cb, 0, spool) == message.resolve()
    with pytest.raises(CallbackError, match="недоступна"):
        svc.recording(cb, 1, spool)
    with pytest.raises(CallbackError, match="нет такой записи"):
        svc.recording(cb, 7, spool)
    with db.session() as s:
        assert s.get(Callback, cb).status is CallbackStatus.PENDING
