"""The published statistics against a generated month with known answers
(REQ-A10, REQ-T7; seeds 000 and 004), on SQLite and PostgreSQL.

The rows and the hand-worked expected figures are in
:mod:`tests.supervision.stats_data`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crm_bridge.db import Database
from supervision import stats
from supervision.stats import Duration, Percent, StatisticsError
from tests.crm.conftest import db, pg_database, sqlite_template  # noqa: F401
from tests.supervision.stats_data import MSK, NOW_AFTER, NOW_INSIDE, build, msk


@pytest.fixture
def march(db: Database) -> tuple[Database, dict[str, int]]:  # noqa: F811 - the fixture
    return db, build(db)


def test_month_appeals_by_channel_kind_topic(march: tuple[Database, dict[str, int]]) -> None:
    """REQ-A10: the March appeals counted by their local month (the first one
    arrived on 28 February in UTC, the April one on 31 March in UTC)."""
    database, _ = march
    s = stats.compute(database, 2025, 3, tz=MSK, now=NOW_AFTER)
    a = s.appeals
    assert a.total == 9
    assert {v: a.by_channel[v] for v, _ in stats.CHANNELS} == {
        "in_person": 1,
        "phone": 3,
        "answering_machine": 1,
        "post": 1,
        "email": 1,
        "web": 1,
        "sms": 1,
    }
    assert (a.consultations, a.requests, a.complaints) == (2, 1, 3)
    assert dict(a.complaints_by_category) == {"А": 1, "Б": 1, None: 1}
    assert dict(a.by_topic) == {"КЭ": 2, "С": 2, "Се": 1, "Об": 1, "Т": 1, "Э": 1, None: 1}
    assert a.headline_share == pytest.approx(5 / 9)  # seed 000's «87 % …» figure
    # Buckets are the month's days (local): 1 March holds the 00:30 appeal.
    assert s.appeals_in(1).total == 1 and s.appeals_in(31).total == 1
    assert sum(s.appeals_in(b.index).total for b in s.period.buckets) == 9

    channels = {row[0]: row[1:] for row in stats.channel_table(s).rows}
    assert channels["SMS"] == (1, Percent(1 / 9))
    assert channels["Всего"] == (9, Percent(1.0))
    assert "Другие" not in channels
    topics = stats.topic_table(s).text_rows()
    assert topics[0] == ["КЭ — качество электроснабжения", "2", "22,2\u00a0%"]
    assert topics[-1] == ["Без классификации", "1", "11,1\u00a0%"]
    kinds = {row[0]: row[1] for row in stats.kind_table(s).rows}
    assert kinds["Прочие обращения"] == 3
    assert stats.headline(s) == (
        "Общее количество обращений за март 2025 года составило 9, из них претензии и жалоб 3."
    )


def test_sms_shows_zero_when_nobody_used_it(db: Database) -> None:  # noqa: F811
    s = stats.compute(db, 2025, 3, tz=MSK, now=NOW_AFTER)
    rows = {row[0]: row[1] for row in stats.channel_table(s).rows}
    assert rows["SMS"] == 0 and rows["Всего"] == 0
    assert stats.channel_table(s).text_rows()[-1] == ["Всего", "0", "—"]


def test_month_calls_service_level_abandon_wait_handling(
    march: tuple[Database, dict[str, int]],
) -> None:
    """REQ-T7: service level = answered within 40 s ÷ queue calls; an SLA miss
    (c2) and an abandoned call (c3) are in March; c4 entered at 23:59:30 on
    31 March and belongs to March although it was answered in April."""
    database, _ = march
    c = stats.compute(database, 2025, 3, tz=MSK, now=NOW_AFTER).calls
    assert (c.inbound, c.outbound, c.queued, c.answered, c.abandoned, c.within_sla) == (
        5,
        1,
        4,
        3,
        1,
        2,
    )
    assert c.service_level == pytest.approx(0.5)
    assert c.abandon_rate == pytest.approx(0.25)
    assert c.avg_wait == pytest.approx(30.0)
    assert c.avg_handling == pytest.approx(120.0)


def test_year_calls_and_the_seed_004_table(march: tuple[Database, dict[str, int]]) -> None:
    database, _ = march
    s = stats.compute(database, 2025, None, tz=MSK, now=NOW_AFTER)
    c = s.calls
    assert (c.inbound, c.queued, c.answered, c.abandoned, c.within_sla) == (7, 6, 5, 1, 3)
    assert c.service_level == pytest.approx(0.5)
    assert c.abandon_rate == pytest.approx(1 / 6)
    assert c.avg_wait == pytest.approx(27.4)
    assert c.avg_handling == pytest.approx(103.0)

    table = stats.wait_handling_table(s)
    assert table.headers == (
        "Период",
        "Среднее время ожидания ответа оператора",
        "Среднее время обслуживания",
    )
    assert table.title == "Среднее время обслуживания и ожидания за 2025 год"
    rows = table.text_rows()
    assert len(rows) == 12
    assert [r[0] for r in rows][:4] == ["Январь", "Февраль", "Март", "Апрель"]
    assert rows[0] == ["Январь", "0:05", "0:55"]
    assert rows[1] == ["Февраль", "—", "—"]
    assert rows[2] == ["Март", "0:30", "2:00"]
    assert rows[3] == ["Апрель", "0:42", "1:40"]
    assert all(r[1:] == ["—", "—"] for r in rows[4:])
    assert stats.headline(s) == (
        "Общее количество обращений за 2025 год составило 10, из них претензии и жалоб 3."
    )
    assert s.appeals_in(3).total == 9 and s.appeals_in(4).total == 1


def test_a_year_reads_its_closed_months_from_their_rollups(
    march: tuple[Database, dict[str, int]],
) -> None:
    """A month closed two days ago and more is kept (``stats_rollups``) the
    first time a year is read; the year read again gives the same figures
    from the kept rows; the open months and the appeals are read afresh; the
    figures agree with the months read one by one."""
    from sqlalchemy import select

    from crm_bridge.models import Call
    from supervision.models import StatsRollup

    database, _ = march
    later = NOW_AFTER + timedelta(days=20)  # 22 April: January to March closed, April open

    def kept() -> list[tuple[str, int]]:
        with database.session() as session:
            rows = session.execute(select(StatsRollup.kind, StatsRollup.month_start)).all()
        return sorted((kind, start.astimezone(MSK).month) for kind, start in rows)

    cold = stats.compute(database, 2025, None, tz=MSK, now=later)
    # The page keeps the calls' rows; three months' presence at once is read
    # in one scan and left to the daily job, which keeps it month by month.
    assert kept() == [(k, m) for k in ("queue", "started") for m in (1, 2, 3)]
    stats.keep_closed_months(database, tz=MSK, now=later)
    assert kept() == [(k, m) for k in ("presence", "queue", "started") for m in (1, 2, 3)]
    warm = stats.compute(database, 2025, None, tz=MSK, now=later)
    assert stats.tables(warm) == stats.tables(cold)
    months = [stats.compute(database, 2025, m, tz=MSK, now=later) for m in range(1, 13)]
    assert warm.calls.queued == sum(m.calls.queued for m in months)
    assert warm.calls.answered == sum(m.calls.answered for m in months)
    assert [o.talk for o in warm.operators] == [
        sum(o.talk for m in months for o in m.operators if o.operator_id == w.operator_id)
        for w in warm.operators
    ]
    # A call written into a kept month afterwards is not seen until the
    # rollups are dropped (``hotline supervision stats --recompute``).
    with database.session(write=True) as session:
        session.add(
            Call(uniqueid="late-1", direction="in", started_at=msk(2025, 3, 10, 12), node="n")
        )
    assert stats.compute(database, 2025, None, tz=MSK, now=later).calls.inbound == (
        cold.calls.inbound
    )
    assert stats.drop_rollups(database) == 9
    assert stats.compute(database, 2025, None, tz=MSK, now=later).calls.inbound == (
        cold.calls.inbound + 1
    )
    assert kept() == [(k, m) for k in ("queue", "started") for m in (1, 2, 3)]


def test_the_year_table_agrees_with_the_crm_report(
    march: tuple[Database, dict[str, int]],
) -> None:
    """The SQL aggregation gives exactly the figures of
    ``crm_bridge.reports.wait_and_handling`` (the Python-loop version)."""
    from crm_bridge.reports import wait_and_handling

    database, _ = march
    s = stats.compute(database, 2025, None, tz=MSK, now=NOW_AFTER)
    ours = [row for row in stats.wait_handling_table(s).text_rows()]
    theirs = [list(r.cells()) for r in wait_and_handling(database, 2025, tz=MSK)]
    assert ours == theirs


def test_operators_calls_talk_wrapup_and_pauses_clipped(
    march: tuple[Database, dict[str, int]],
) -> None:
    database, ops = march
    s = stats.compute(database, 2025, 3, tz=MSK, now=NOW_AFTER)
    by_id = {o.operator_id: o for o in s.operators}
    a, b = by_id[ops["A"]], by_id[ops["B"]]
    assert (a.name, a.answered, a.handling_sum, a.avg_handling) == ("Иванова А.", 2, 180.0, 90.0)
    assert a.talk == pytest.approx(120.0)
    assert a.wrapup == pytest.approx(180.0)  # the wrapup state + Asterisk's wrapup pause
    assert a.pauses["lunch"] == pytest.approx(3600.0)  # from 28.02 23:00, clipped at 1 March
    assert a.pauses["break"] == pytest.approx(900.0)
    assert a.pauses["training"] == pytest.approx(1800.0)  # to 1.04 00:30, clipped at April
    assert a.pause_total == pytest.approx(6300.0)
    assert (b.answered, b.handling_sum) == (1, 180.0)
    assert b.pauses["break"] == pytest.approx(600.0)  # still open: to the month's end
    assert b.pauses["other"] == pytest.approx(100.0)
    table = stats.operators_table(s)
    row = dict(zip(table.headers, table.text_rows()[0], strict=True))
    assert row["Оператор"] == "Иванова А."
    assert row["Обслуживание в среднем"] == "1:30"
    assert row["Обед"] == "1:00:00" and row["Паузы всего"] == "1:45:00"


def test_open_pause_ends_now_when_now_is_inside_the_period(
    march: tuple[Database, dict[str, int]],
) -> None:
    database, ops = march
    s = stats.compute(database, 2025, 3, tz=MSK, now=NOW_INSIDE)
    b = {o.operator_id: o for o in s.operators}[ops["B"]]
    assert b.pauses["break"] == pytest.approx(300.0)


def test_empty_period_gives_dashes_not_errors(db: Database) -> None:  # noqa: F811
    s = stats.compute(db, 2024, None, tz=MSK, now=NOW_AFTER)
    assert s.calls.service_level is None and s.calls.avg_wait is None
    assert s.operators == []
    summary = {r[0]: r[1:] for r in stats.summary_table(s).text_rows()}
    assert summary["Уровень обслуживания (ответ за 40 с)"] == ["0", "—"]
    assert summary["Среднее время ожидания ответа оператора"][0] == "—"


def test_periods_are_local_calendar_periods() -> None:
    year = stats.period_of(2025, None, MSK)
    assert len(year.buckets) == 12
    assert year.start.isoformat() == "2024-12-31T21:00:00+00:00"
    assert year.end.isoformat() == "2025-12-31T21:00:00+00:00"
    feb = stats.period_of(2024, 2, "Europe/Moscow")
    assert [b.label for b in feb.buckets][-1] == "29.02"
    assert feb.title == "Февраль 2024 года"
    # A zone with summer time: the buckets still join without gaps.
    berlin = stats.period_of(2025, None, "Europe/Berlin")
    assert all(x.end == y.start for x, y in zip(berlin.buckets, berlin.buckets[1:], strict=False))
    assert (berlin.buckets[2].end - berlin.buckets[2].start).total_seconds() == 31 * 86400 - 3600
    with pytest.raises(StatisticsError, match="месяц"):
        stats.period_of(2025, 13, MSK)
    with pytest.raises(StatisticsError, match="год"):
        stats.period_of(1800, None, MSK)


def test_cells_are_formatted_the_russian_way() -> None:
    assert stats.cell_text(Percent(0.87)) == "87\u00a0%"
    assert stats.cell_text(Percent(0.125)) == "12,5\u00a0%"
    assert stats.cell_text(Percent(None)) == "—"
    assert stats.cell_text(Duration(62.4)) == "1:02"
    assert stats.cell_text(Duration(3725, long=True)) == "1:02:05"
    assert stats.cell_text(None) == "—"


def test_workbook_has_the_tables_and_native_charts(
    march: tuple[Database, dict[str, int]],
) -> None:
    import io

    import openpyxl
    from openpyxl.chart import BarChart, PieChart

    from supervision.stats_export import statistics_xlsx

    database, _ = march
    s = stats.compute(database, 2025, None, tz=MSK, now=NOW_AFTER)
    wb = openpyxl.load_workbook(io.BytesIO(statistics_xlsx(s)))
    assert wb.sheetnames == [
        "Сводка",
        "Обращения",
        "Каналы",
        "Виды",
        "Темы",
        "Звонки",
        "Ожидание и обслуживание",
        "Операторы",
    ]
    times = wb["Ожидание и обслуживание"]
    assert times["A1"].value == "Среднее время обслуживания и ожидания за 2025 год"
    assert [c.value for c in times[3]] == [
        "Период",
        "Среднее время ожидания ответа оператора",
        "Среднее время обслуживания",
    ]
    assert [times.cell(row=r, column=1).value for r in range(4, 16)][:3] == [
        "Январь",
        "Февраль",
        "Март",
    ]
    march_row = times[6]
    assert march_row[1].value == timedelta(seconds=30)  # a duration, not text
    assert march_row[1].number_format == "[m]:ss"
    assert times["B5"].value is None  # February: no calls
    appeals = wb["Обращения"]
    assert [appeals.cell(row=6, column=c).value for c in range(1, 6)] == ["Март", 9, 3, 2, 1]
    channels = wb["Каналы"]
    sms = [row for row in channels.iter_rows(min_row=4, values_only=True) if row[0] == "SMS"]
    assert sms == [("SMS", 1, pytest.approx(0.1))]
    assert channels["C4"].number_format == "0.0%"

    def charts(sheet: str) -> list[object]:
        return list(wb[sheet]._charts)

    (bars,) = charts("Обращения")
    assert isinstance(bars, BarChart) and len(bars.series) == 2
    assert bars.series[0].val.numRef.f == "'Обращения'!$B$4:$B$15"
    (calls,) = charts("Звонки")
    assert isinstance(calls, BarChart) and len(calls.series) == 3
    (wait,) = charts("Ожидание и обслуживание")
    assert isinstance(wait, BarChart) and wait.y_axis.number_format.formatCode == "[m]:ss"
    (by_channel,) = charts("Каналы")
    assert isinstance(by_channel, PieChart)
    assert by_channel.series[0].val.numRef.f == "'Каналы'!$B$4:$B$10"  # 7 channels, no total
    (by_topic,) = charts("Темы")
    assert isinstance(by_topic, PieChart)
    assert by_topic.series[0].val.numRef.f == "'Темы'!$B$4:$B$12"
    assert stats.headline(s) in [c.value for c in wb["Сводка"]["A"]]


def test_export_cells_cannot_run_as_formulas(db: Database) -> None:  # noqa: F811
    """An operator's name typed as a formula stays text in the workbook."""
    import io

    import openpyxl

    from crm_bridge.models import Call, Operator
    from supervision.stats_export import statistics_csv, statistics_xlsx
    from tests.supervision.stats_data import msk

    with db.session(write=True) as session:
        op = Operator(login="evil", name='=HYPERLINK("http://x","y")', password_hash="x")
        session.add(op)
        session.flush()
        session.add(
            Call(
                uniqueid="f1",
                queue_entered_at=msk(2025, 3, 2, 10, 0),
                queue_left_at=msk(2025, 3, 2, 10, 0, 10),
                ended_at=msk(2025, 3, 2, 10, 1, 10),
                operator_id=op.id,
            )
        )
    s = stats.compute(db, 2025, 3, tz=MSK, now=NOW_AFTER)
    wb = openpyxl.load_workbook(io.BytesIO(statistics_xlsx(s)))
    assert wb["Операторы"]["A4"].value == '\'=HYPERLINK("http://x","y")'
    assert wb["Операторы"]["A4"].data_type == "s"
    assert "'=HYPERLINK" in statistics_csv(s).decode("utf-8-sig")


def test_cli_prints_the_tables_and_writes_the_workbook(
    march: tuple[Database, dict[str, int]],
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hotline.cli import main

    database, _ = march
    url = database.url.render_as_string(hide_password=False)
    book = tmp_path / "march.xlsx"
    argv = ["--database-url", url, "--data-dir", str(tmp_path), "supervision", "stats"]
    assert main([*argv, "--year", "2025", "--month", "3", "--xlsx", str(book)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "Общее количество обращений за март 2025 года составило 9, из них претензии и жалоб 3."
    )
    lines = out.splitlines()
    i = lines.index("Среднее время обслуживания и ожидания за март 2025 года")
    assert lines[i + 1].split() == [
        "День",
        *"Среднее время ожидания ответа оператора".split(),
        *"Среднее время обслуживания".split(),
    ]
    assert lines[i + 3].split() == ["01.03", "0:20", "2:00"]
    assert "SMS" in out and "Уровень обслуживания (ответ за 40 с)" in out
    assert book.read_bytes()[:2] == b"PK"
    assert main([*argv, "--year", "2025", "--month", "0"]) == 2
    assert "месяц должен быть от 1 до 12" in capsys.readouterr().err
    # The year (today: every month of 2025 closed) keeps its months; --recompute forgets them.
    assert main([*argv, "--year", "2025"]) == 0
    assert main([*argv, "--year", "2025", "--recompute"]) == 0
    assert "Забыто сводок закрытых месяцев: 24" in capsys.readouterr().out  # calls; presence: daily


def test_svg_charts_escape_every_label() -> None:
    import xml.etree.ElementTree as ET

    from supervision.stats_svg import Series, bar_chart, share_chart

    evil = '<script>alert("x")</script>'
    bars = bar_chart(evil, [evil, "Февраль"], [Series('"><img src=x>', [3, 0])])
    share = share_chart(evil, [(evil, 2), ("ok", 0)])
    for svg in (str(bars), str(share)):
        root = ET.fromstring(svg)  # well-formed XML
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert not [e for e in root.iter() if e.tag.endswith(("script", "img"))]
        assert "&lt;script&gt;" in svg and "<script" not in svg
    rects = [e for e in ET.fromstring(str(bars)).iter() if e.get("class") == "bar"]
    assert float(rects[0].get("height") or 0) > 0 and float(rects[1].get("height") or 0) == 0


def test_chart_axes_tick_whole_counts_and_round_times() -> None:
    import xml.etree.ElementTree as ET

    from supervision.stats_svg import Series, bar_chart

    def ticks(svg: object) -> list[str]:
        root = ET.fromstring(str(svg))
        return [t.text or "" for t in root.iter() if t.get("text-anchor") == "end"]

    assert ticks(bar_chart("Звонки", ["Март"], [Series("В очереди", [3])])) == [
        "0",
        "1",
        "2",
        "3",
        "4",
    ]
    assert ticks(bar_chart("Звонки", ["Март"], [Series("В очереди", [850311])]))[-1] == "1000000"
    waits = bar_chart(
        "Ожидание", ["Март"], [Series("Ожидание", [120.0])], fmt=stats.format_mss, time=True
    )
    assert ticks(waits) == ["0:00", "0:30", "1:00", "1:30", "2:00"]
