"""The house's services are built once from the settings, so every part
counts with the same company rules: the extra holidays reach the IVR's
working hours, the appeal deadlines and the dialer's call policy alike, and
the appeal journal is kept in the configured zone (no service built ad hoc
with default rules)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from autoinformer.campaigns import CampaignService
from autoinformer.models import Campaign
from core.settings import Settings
from hotline.services import Services

REGIONAL_HOLIDAY = date(2026, 6, 3)  # a Wednesday


def test_one_calendar_and_zone_for_every_part(tmp_path: Path) -> None:
    settings = Settings(
        asterisk_root=tmp_path,
        data_dir=tmp_path / "data",
        timezone="Asia/Yekaterinburg",
        extra_holidays=[REGIONAL_HOLIDAY.isoformat()],
    ).resolve()
    services = Services.create(settings)
    try:
        calendar = services.crm.calendar
        assert calendar.is_holiday(REGIONAL_HOLIDAY)
        assert services.hours.calendar is calendar
        assert services.crm.rules.calendar is calendar
        assert services.crm.appeals.rules is services.crm.rules
        assert str(services.crm.appeals.rules.zone) == "Asia/Yekaterinburg"
        assert services.campaigns.calendar is calendar
        policy = services.campaigns.policy_for(
            Campaign(name="x", kind="debt", status="draft", caps_230fz=True)
        )
        assert policy.calendar is calendar
    finally:
        services.executor.shutdown()
        services.background.shutdown()
        services.db.dispose()


def test_a_service_built_without_the_settings_knows_no_regional_holiday() -> None:
    """What the composition fixes: the default calendar misses the holiday."""
    from crm_bridge.db import Database

    assert not CampaignService(Database("sqlite://")).calendar.is_holiday(REGIONAL_HOLIDAY)


def test_campaign_eta_from_the_pace_so_far() -> None:
    from datetime import UTC, datetime

    from autoinformer.campaigns import CampaignStats

    launched = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    now = launched.timestamp() + 600  # 10 minutes in
    st = CampaignStats(1, "running", total=100, finished=20)
    assert st.eta_seconds(launched, now) == 2400.0  # 80 more at 2 a minute
    assert CampaignStats(1, "running", total=100).eta_seconds(launched, now) is None
    assert CampaignStats(1, "completed", total=100, finished=100).eta_seconds(None, now) == 0.0
    assert CampaignStats(1, "paused", total=100, finished=20).eta_seconds(launched, now) is None


def test_the_card_reads_the_menu_path_in_words() -> None:
    """Issue 12: no prompt ids on the operator's screen."""
    from crm_bridge.card import _journal_line

    assert _journal_line("prompt", {"id": "menu/main"}) == "слушал: главное меню"
    assert _journal_line("prompt", {"id": "common/recording_warning"}) is None
    assert _journal_line("input", {"menu": "main", "digits": "4", "reason": "ok"}) == (
        "нажал 4 в главном меню"
    )
    assert _journal_line("input", {"menu": "debt", "digits": "", "reason": "timeout"}) == (
        "не ответил в разделе «Задолженность»"
    )
    assert _journal_line("step", {"name": "appeal", "number": "7-ФЛ"}) == (
        "зарегистрировано обращение № 7-ФЛ"
    )
    assert _journal_line("step", {"name": "ident", "result": "identified"}) == "абонент определён"
    # The identity gate (REQ-T9): its steps in words, an account number never shown.
    assert _journal_line("step", {"name": "ident-gate", "result": "wrong", "way": "tail"}) == (
        "неверно указал лицевой счёт"
    )
    assert _journal_line("step", {"name": "ident-gate", "result": "passed"}) == (
        "подтвердил лицевой счёт"
    )
    assert _journal_line(
        "input", {"what": "account", "digits": "", "reason": "ok", "private": True}
    ) == ("ввёл номер лицевого счёта")
