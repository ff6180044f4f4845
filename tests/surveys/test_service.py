"""Recording the survey and its report per month and per operator, on
SQLite and PostgreSQL (REQ-A13)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm_bridge.db import Database
from crm_bridge.models import Call, CallDirection, Operator, OperatorRole
from surveys.models import SurveyResponse, SurveySource
from surveys.service import SurveyService


def _operator(db: Database, login: str, name: str) -> int:
    with db.session(write=True) as s:
        op = Operator(login=login, name=name, role=OperatorRole.OPERATOR, password_hash="x")
        s.add(op)
        s.flush()
        return op.id


def _call(db: Database, uniqueid: str, operator_id: int | None) -> int:
    with db.session(write=True) as s:
        call = Call(
            uniqueid=uniqueid,
            direction=CallDirection.IN,
            started_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
            operator_id=operator_id,
        )
        s.add(call)
        s.flush()
        return call.id


def test_offer_takes_the_call_and_its_operator_once(db: Database) -> None:
    op = _operator(db, "ivanova", "Иванова А. А.")
    call_id = _call(db, "1700000000.1", op)
    service = SurveyService(db)
    sid = service.offer("1700000000.1", topic="КЭ")
    assert service.offer("1700000000.1", topic="КЭ") == sid  # a retried AGI
    service.answer(sid, csi=4)
    service.answer(sid, nps=10)
    with db.session() as s:
        row = s.get(SurveyResponse, sid)
        assert row is not None
        assert (row.call_id, row.operator_id, row.topic) == (call_id, op, "КЭ")
        assert (row.csi, row.nps, row.source) == (4, 10, SurveySource.AFTER_CALL.value)
        assert row.answered_at is not None
    with pytest.raises(ValueError, match="1–5"):
        service.answer(sid, csi=6)
    with pytest.raises(ValueError, match="0–10"):
        service.answer(sid, nps=11)


def test_report_per_month_and_operator_with_response_rates(db: Database) -> None:
    ivanova = _operator(db, "ivanova", "Иванова А. А.")
    petrov = _operator(db, "petrov", "Петров Б. Б.")
    service = SurveyService(db)
    answers = [
        # (when, operator, csi, nps)
        (datetime(2026, 1, 10, 9, tzinfo=UTC), ivanova, 5, 10),
        (datetime(2026, 1, 11, 9, tzinfo=UTC), ivanova, 4, 9),
        (datetime(2026, 1, 12, 9, tzinfo=UTC), petrov, 2, 3),
        (datetime(2026, 1, 13, 9, tzinfo=UTC), petrov, None, None),  # hung up
        (datetime(2026, 2, 1, 9, tzinfo=UTC), ivanova, 3, 7),
        # 31 January 22:30 UTC is 1 February in Moscow
        (datetime(2026, 1, 31, 22, 30, tzinfo=UTC), petrov, 5, None),
        (datetime(2025, 12, 31, 9, tzinfo=UTC), petrov, 1, 0),  # another year
    ]
    for i, (when, op, mark, score) in enumerate(answers):
        sid = service.offer(f"u{i}", operator_id=op, now=when)
        if mark is not None:
            service.answer(sid, csi=mark, now=when)
        if score is not None:
            service.answer(sid, nps=score, now=when)
    rep = service.report(date(2026, 1, 1), date(2026, 12, 31), "Europe/Moscow")
    assert [m.label for m in rep.months] == ["январь 2026", "февраль 2026"]
    jan, feb = rep.months
    assert (jan.offered, jan.answered, jan.response_rate) == (4, 3, 75.0)
    assert jan.csi == pytest.approx(3.67) and jan.satisfied == 66.7
    # 10, 9 promoters; 3 a detractor: 66.7 − 33.3
    assert jan.nps == 33.3 and jan.nps_count == 3
    assert (feb.offered, feb.answered, feb.csi, feb.nps) == (2, 2, 4.0, 0.0)  # 7: passive
    by_name = {f.label: f for f in rep.operators}
    assert by_name["Иванова А. А."].csi == 4.0 and by_name["Иванова А. А."].nps == 66.7
    assert by_name["Петров Б. Б."].response_rate == pytest.approx(66.7)
    assert rep.total.offered == 6 and rep.total.answered == 5
