"""``/statistics/`` (REQ-A10, REQ-T7): supervisors only, Russian 400 on a bad
period, the SVG charts in the page, the printable yearly report in seed
004's shape, the audited exports; and the page in headless Chromium."""

from __future__ import annotations

import io
import re
from typing import Any

import openpyxl
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm_bridge.db import Database
from tests.browser import chromium, logged_in_page
from tests.crm_web.conftest import (  # noqa: F401 - fixtures
    PASSWORD,
    client,
    db,
    log_in,
    migrated_template,
    operators,
    services,
)
from tests.supervision.stats_data import build
from tests.webtools import root_app


@pytest.fixture
def march(db: Database, operators: Any) -> dict[str, int]:  # noqa: F811
    return build(db)


async def test_operator_is_refused_supervisor_sees_the_page(
    client: TestClient,  # noqa: F811
    march: Any,
) -> None:
    await log_in(client, "ivanova")
    for path in ("/statistics/", "/statistics/report?year=2025", "/statistics/export.xlsx"):
        assert (await client.get(path)).status == 403, path
    client.session.cookie_jar.clear()
    await log_in(client, "boss")
    resp = await client.get("/statistics/?year=2025&month=3")
    body = await resp.text()
    assert resp.status == 200, body
    assert "Статистика за март 2025 года" in body
    assert (
        "Общее количество обращений за март 2025 года составило 9, из них претензии и жалоб 3."
        in body
    )
    # The charts are inline SVG, their labels escaped; the tables are there.
    assert body.count('<svg xmlns="http://www.w3.org/2000/svg" class="stats-chart"') == 5
    assert 'id="chart-topics"' in body and 'id="table-wait_handling"' in body
    assert "<script" not in body.split("<main>", 1)[1].split("</main>", 1)[0]
    calls = body.split('id="table-calls"', 1)[1].split("</table>", 1)[0]
    assert '<th scope="row">Итого</th><td class="num">5</td>' in calls
    assert "50\u00a0%" in calls and "0:30" in calls and "2:00" in calls


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("year=abc", "год должен быть числом"),
        ("year=1900", "год должен быть от 2000 до 2100"),
        ("year=2025&month=13", "месяц должен быть от 1 до 12"),
        ("year=2025&month=март", "месяц должен быть числом"),
    ],
)
async def test_bad_period_is_a_russian_400(
    client: TestClient,  # noqa: F811
    operators: Any,  # noqa: F811
    query: str,
    words: str,
) -> None:
    await log_in(client, "boss")
    paths = ["/statistics/", "/statistics/export.xlsx", "/statistics/export.csv"]
    if "month" not in query:
        paths.append("/statistics/report")  # the yearly report takes no month
    for path in paths:
        resp = await client.get(f"{path}?{query}")
        assert resp.status == 400, (path, query)
        assert words in await resp.text()


async def test_printable_report_has_the_seed_004_shape(
    client: TestClient,  # noqa: F811
    march: Any,
) -> None:
    await log_in(client, "boss")
    resp = await client.get("/statistics/report?year=2025")
    body = await resp.text()
    assert resp.status == 200, body
    assert (
        "Общее количество обращений за 2025 год составило 10, из них претензии и жалоб 3." in body
    )
    assert "Среднее время обслуживания и ожидания за 2025 год." in body
    table = body.split('id="report-wait-handling"', 1)[1].split("</table>", 1)[0]
    assert "Среднее время ожидания ответа оператора" in table
    rows = re.findall(
        r'<tr><th scope="row">([^<]+)</th><td class="num">([^<]+)</td>'
        r'<td class="num">([^<]+)</td></tr>',
        table,
    )
    assert len(rows) == 12
    assert rows[0] == ("Январь", "0:05", "0:55") and rows[2] == ("Март", "0:30", "2:00")
    modes = body.split('id="report-modes"', 1)[1].split("</table>", 1)[0]
    assert "Оператор: пн. – сб. с 08:00 до 20:00" in modes  # settings.working_hours
    assert "Круглосуточно" in modes  # the voice menu (REQ-T16)
    assert "@media print" in (await (await client.get("/statistics/static/stats.css")).text())


async def test_exports_are_audited_and_the_workbook_has_charts(
    client: TestClient,  # noqa: F811
    march: Any,
    db: Database,  # noqa: F811
) -> None:
    from webedge.models import AuditEvent

    await log_in(client, "boss")
    resp = await client.get("/statistics/export.xlsx?year=2025&month=3")
    assert resp.status == 200
    assert "statistics-2025-03.xlsx" in resp.headers["Content-Disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(await resp.read()))
    assert wb.sheetnames[:3] == ["Сводка", "Обращения", "Каналы"]
    assert len(wb["Обращения"]._charts) == 1 and len(wb["Темы"]._charts) == 1
    csv = await client.get("/statistics/export.csv?year=2025")
    text = (await csv.read()).decode("utf-8-sig")
    assert "Среднее время обслуживания и ожидания за 2025 год" in text
    assert "Март;0:30;2:00" in text
    with db.session() as session:
        events = session.execute(select(AuditEvent.action, AuditEvent.subject)).all()
    assert ("statistics.export", "2025-03.xlsx") in [tuple(e) for e in events]
    assert ("statistics.export", "2025.csv") in [tuple(e) for e in events]


@pytest.mark.browser
async def test_the_page_in_chromium_shows_the_svg_chart(
    services: Any,  # noqa: F811
    march: Any,
) -> None:
    from tests.crm_web.test_readings_page import _serve

    runner, base = await _serve(root_app(services))
    try:
        async with chromium() as browser:
            url = f"{base}/statistics/?year=2025"
            page = await logged_in_page(browser, url, "boss", PASSWORD)
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.reload()
            assert await page.title() == "Статистика за 2025 год — Горячая линия"
            chart = page.locator("svg#chart-appeals")
            await chart.wait_for(state="visible", timeout=10_000)
            box = await chart.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100
            assert await page.locator("svg#chart-appeals rect.bar").count() == 24
            march_bar = page.locator("svg#chart-appeals rect.bar title", has_text="Март: Обращения")
            assert "— 9" in (await march_bar.text_content() or "")
            assert await page.locator("html").get_attribute("lang") == "ru"
            assert problems == []
    finally:
        await runner.cleanup()


async def test_a_year_read_before_the_daily_job_keeps_its_months_in_the_background(
    client: TestClient,  # noqa: F811
    march: Any,
    db: Database,  # noqa: F811
) -> None:
    """2025 is closed: its first read keeps the calls' months itself and the
    presence's in the background lane; the next reader finds all kept."""
    import asyncio

    from sqlalchemy import func, select

    from supervision.models import StatsRollup

    def kept(kind: str) -> int:
        with db.session() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(StatsRollup).where(StatsRollup.kind == kind)
                )
                or 0
            )

    await log_in(client, "boss")
    first = await client.get("/statistics/?year=2025")
    assert first.status == 200
    assert kept("queue") == 12 and kept("started") == 12
    for _ in range(200):  # the background lane keeps the presence, month by month
        if kept("presence") == 12:
            break
        await asyncio.sleep(0.05)
    assert kept("presence") == 12
    again = await client.get("/statistics/?year=2025")

    def operators_table(body: str) -> str:
        return body.split('id="table-operators"', 1)[1].split("</table>", 1)[0]

    # The same figures from the kept months (talk, wrap-up, pauses by reason).
    assert operators_table(await again.text()) == operators_table(await first.text())
