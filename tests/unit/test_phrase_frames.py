"""Every fragment followed by a value names its case, and every flow says the
value in that case (issue 17, item 2; REQ-O6).

The catalogue side: ``then`` is a case, the frames of ivr.phrases_ru agree with
the catalogue. The flow side: the real flows — the hotline (debt,
overpayment, outages planned and emergency, the queue), the callback offer,
the answering machine, meter readings and the autoinformer's scenarios (new
and saved before cases existed) — run against the scripted caller
(``telephony.fakechannel``) on the demo database, and every value in their
journal is checked against the fragment before it (tests/phrases.py; the
real-Asterisk journey of tests/e2e/test_hotline.py runs the same check).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from autoinformer.campaigns import (
    CampaignService,
    ScenarioError,
    default_scenario,
    preview_text,
    step_cases,
    step_phrase,
    validate_scenario,
)
from autoinformer.contacts import ContactListService
from autoinformer.flow import outbound_message
from autoinformer.store import AttemptStore
from crm_bridge.demo_data import DEMO_CALLER, DEMO_NO_DEBT
from crm_bridge.models import Account
from crm_bridge.outages import OutageService
from ivr import phrases_ru
from ivr.flows import answering_machine, hotline, meter_readings, outage_first, queue_callback
from ivr.prompts import CatalogueError, PromptCatalogue
from telephony.contract import Route, Var
from telephony.fakechannel import FakeChannel, Step
from tests.phrases import catalogue, spoken_frames
from tests.unit import test_flow_branches as branches
from tests.unit.test_flow_branches import (
    CALLER,
    FREE_OPERATOR,
    MONDAY_NOON,
    OUT_OF_HOURS,
    call,
    done,
    run,
)

# The flow tier's fixtures: the migrated demo database, fresh services per test.
demo_template = branches.demo_template
deps = branches.deps

# -- the catalogue ------------------------------------------------------------------------------


def test_every_then_is_a_case() -> None:
    cat = catalogue()
    thens = {p.id: p.then for p in cat if p.then}
    assert set(thens.values()) <= set(phrases_ru.CASES)
    for pid in ("debt/as_of", "debt/your_debt_is", "phrase/from", "queue/no_later_than"):
        assert pid in thens, pid
    assert thens["debt/as_of"] == "acc" and thens["debt/overpayment_is"] == "gen"


def test_every_fragment_names_the_case_of_what_follows() -> None:
    """A prompt its note calls a fragment (a value follows it) has a ``then``."""
    missing = [p.id for p in catalogue() if "Fragment" in p.note and not p.then]
    assert missing == []


def test_a_then_that_is_no_case_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "prompts.toml"
    bad.write_text('[debt]\nas_of = { text = "по состоянию на", then = "accusative" }\n')
    with pytest.raises(CatalogueError, match="not a case"):
        PromptCatalogue.load(bad, include_words=False)
    bad.write_text('[debt]\nas_of = { text = "по состоянию на", then = 4 }\n')
    with pytest.raises(CatalogueError, match="then"):
        PromptCatalogue.load(bad, include_words=False)


def test_the_frames_of_the_listing_agree_with_the_catalogue() -> None:
    cat = catalogue()
    for frame in phrases_ru.FRAMES:
        if frame.prompt:
            assert cat.get(frame.prompt).then == frame.case, frame.name
        for part in frame.example().parts:
            if isinstance(part, str):
                assert cat.get(part).then, part  # a preposition inside a range
            else:
                assert part.case in phrases_ru.CASES


def test_every_word_of_every_case_is_a_word_prompt() -> None:
    """The catalogue generates a prompt for every form (no unresolved token)."""
    cat = PromptCatalogue.load()
    words = {p.text for p in cat if p.group == "words"}
    assert phrases_ru.VOCABULARY <= words
    for probe in ("первое", "восьми", "тридцати", "двадцати", "одну", "тысячу", "нуля"):
        assert probe in words, probe


# -- the inbound flows ------------------------------------------------------------------------


async def test_debt_is_said_nominative_and_its_date_accusative(deps: Any) -> None:
    """«Ваша задолженность составляет одна тысяча пятьсот сорок три рубля
    двадцать копеек по состоянию на первое марта»."""
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/required_for_debt", DEMO_CALLER.number + "#"),
        ("debt/options", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert spoken_frames(ch.journal.entries) == [
        "debt/your_debt_is -> money:nom",
        "debt/as_of -> date:acc",
    ]
    said = [e.detail["text"] for e in ch.journal.entries if e.kind == "say"]
    assert said == ["одна тысяча пятьсот сорок три рубля двадцать копеек", "первое марта"]


async def test_overpayment_is_said_genitive(deps: Any) -> None:
    """«У вас переплата в размере ста двадцати одного рубля одной копейки»."""
    with deps.db.session(write=True) as s:
        s.execute(
            update(Account)
            .where(Account.number == DEMO_CALLER.number)
            .values(debt=Decimal("-121.01"))
        )
    script: list[Step] = [
        ("menu/main", "4"),
        ("ident/required_for_debt", DEMO_CALLER.number + "#"),
        ("debt/options", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    assert spoken_frames(ch.journal.entries)[0] == "debt/overpayment_is -> money:gen"
    said = next(e.detail["text"] for e in ch.journal.entries if e.kind == "say")
    assert said == "ста двадцати одного рубля одной копейки"


async def _outages(deps: Any, *spans: tuple[str, str, str]) -> FakeChannel:
    outages = OutageService(deps.db)
    for kind, starts, ends in spans:
        outages.add(
            kind=kind,
            starts_at=datetime.fromisoformat(starts),
            ends_at=datetime.fromisoformat(ends),
            address="г. Демоград, ул. Ленина, д. 5",
        )
    script: list[Step] = [
        ("menu/main", "2"),
        ("outage/enter_last_digits", DEMO_CALLER.number[-4:] + "#"),  # the identity gate
        ("outage/report_outage", "#"),
        ("menu/main", "0"),
    ]
    ch = call(script, variables=FREE_OPERATOR)
    done(ch, await run(hotline.flow, ch, deps))
    return ch


async def test_planned_outage_is_a_genitive_range(deps: Any) -> None:
    """«…запланировано отключение электроэнергии шестого марта с девяти часов
    тридцати минут до семнадцати часов»; over several days «с девяти часов
    седьмого марта до двенадцати часов девятого марта»; an end at midnight
    stays one day («до двадцати четырёх часов»)."""
    ch = await _outages(
        deps,
        ("planned", "2025-03-06T09:30:00+03:00", "2025-03-06T17:00:00+03:00"),
        ("planned", "2025-03-07T09:00:00+03:00", "2025-03-09T12:00:00+03:00"),
        ("planned", "2025-03-10T20:00:00+03:00", "2025-03-11T00:00:00+03:00"),
    )
    frames = spoken_frames(ch.journal.entries)
    one_day = [
        "outage/planned_at_address -> date:gen",
        "phrase/from -> time:gen",
        "phrase/to -> time:gen",
    ]
    several = [
        "phrase/from -> datetime:gen",
        "phrase/to -> datetime:gen",
    ]
    assert frames == [*one_day, *several, *one_day], frames
    said = [e.detail["text"] for e in ch.journal.entries if e.kind == "say"]
    assert said == [
        "шестого марта",
        "девяти часов тридцати минут",
        "семнадцати часов",
        "девяти часов седьмого марта",
        "двенадцати часов девятого марта",
        "десятого марта",
        "двадцати часов",
        "двадцати четырёх часов",
    ]


async def test_emergency_restoration_is_said_nominative(
    deps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """«Ориентировочное время восстановления электроснабжения двадцать один
    час двадцать одна минута пятого марта»."""
    # The scripted warning takes no time: the check before the menu gets the
    # time the warning would give it.
    monkeypatch.setattr(outage_first, "WAIT_AFTER_WARNING", 60.0)
    ch = await _outages(
        deps, ("emergency", "2025-03-05T09:00:00+03:00", "2025-03-05T21:21:00+03:00")
    )
    # Before the menu (issue 16): «Восстановление ориентировочно в двадцать
    # один час двадцать одну минуту» (today: no date); then item 2's full answer.
    assert spoken_frames(ch.journal.entries) == [
        "outage/restore_expected_at -> time:acc",
        "outage/estimated_restore -> datetime:nom",
    ]
    said = [e.detail["text"] for e in ch.journal.entries if e.kind == "say"]
    assert said == [
        "двадцать один час двадцать одну минуту",
        "двадцать один час двадцать одна минута пятого марта",
    ]


async def test_queue_position_and_wait_are_nominative(deps: Any) -> None:
    ch = call([("menu/main", "9"), ("menu/main", "8"), ("menu/main", None)])
    done(ch, await run(hotline.flow, ch, deps))
    assert spoken_frames(ch.journal.entries) == [
        "queue/position_is -> number:nom",
        "queue/estimated_wait -> duration:nom",
    ]


@pytest.mark.parametrize(
    ("now", "frames"),
    [
        (
            "2025-03-15T19:45:00+03:00",  # a Saturday evening: Monday
            ["queue/callback_registered -> date:gen", "queue/no_later_than -> time:acc"],
        ),
        ("2025-03-05T10:00:00+03:00", ["queue/no_later_than -> time:acc"]),  # today
    ],
    ids=["monday", "today"],
)
async def test_callback_promise_date_genitive_time_accusative(
    deps: Any, now: str, frames: list[str]
) -> None:
    ch = call(
        [("queue/callback_offer", "1"), ("queue/confirm_number", "1")],
        now=now,
        route=Route.QUEUE_CALLBACK,
    )
    done(ch, await run(queue_callback.flow, ch, deps))
    assert spoken_frames(ch.journal.entries) == [
        "queue/will_call_number -> phone:acc",
        *frames,
        "queue/registered_number -> appeal:nom",
    ]


async def test_answering_machine_number_of_the_appeal_is_nominative(deps: Any) -> None:
    ch = call(
        [("am/contact_options", "1")],
        now=OUT_OF_HOURS,
        route=Route.ANSWERING_MACHINE,
        spool_dir="/spool",
    )
    done(ch, await run(answering_machine.flow, ch, deps))
    assert spoken_frames(ch.journal.entries) == [
        "am/callback_caller_id -> phone:acc",
        "am/registered_number -> appeal:nom",
    ]


async def test_meter_readings_echo_accusative_summary_nominative(deps: Any) -> None:
    script: list[Step] = [
        ("ident/enter_last_digits", DEMO_CALLER.number[-4:] + "#"),  # the identity gate
        ("readings/address_is", "1"),
        ("readings/enter_reading_keypad", "12400#"),
        ("readings/confirm", "2"),
        ("readings/enter_reading_keypad", "12400#"),
        ("readings/confirm", "1"),
        ("readings/enter_reading_keypad", "6800#"),
        ("readings/confirm", "1"),
    ]
    ch = call(script, route=Route.METER_READINGS)
    done(ch, await run(meter_readings.flow, ch, deps))
    frames = spoken_frames(ch.journal.entries)
    assert frames.count("readings/you_entered -> reading:acc") == 3, frames
    assert "readings/label_t1 -> reading:nom" in frames
    echo = next(e.detail["text"] for e in ch.journal.entries if e.kind == "say")
    assert echo == "двенадцать тысяч четыреста"


async def test_meter_readings_previous_value_is_nominative(deps: Any) -> None:
    script: list[Step] = [
        ("ident/enter_last_digits", DEMO_NO_DEBT.number[-4:] + "#"),  # the identity gate
        ("readings/address_is", "1"),
        ("readings/enter_reading_keypad", "12000#"),
        ("readings/enter_reading_keypad", "12350#"),
        ("readings/confirm", "1"),
    ]
    ch = call(script, caller=DEMO_NO_DEBT.phone, route=Route.METER_READINGS)
    done(ch, await run(meter_readings.flow, ch, deps))
    assert "readings/previous_was -> reading:nom" in spoken_frames(ch.journal.entries)


# -- the autoinformer ---------------------------------------------------------------------------


def _attempt(db: Any, scenario: list[dict[str, str]], variables: dict[str, str]) -> FakeChannel:
    campaigns = CampaignService(db)
    cid = campaigns.create(
        "Фразы",
        "custom",
        scenario=scenario,
        start_at=datetime(2000, 1, 1, tzinfo=UTC),
        end_at=datetime(2100, 1, 1, tzinfo=UTC),
    )
    result = ContactListService(db).import_rows(
        cid, [{"phone": CALLER, "timezone": "Europe/Moscow", **variables}]
    )
    assert result.accepted == 1, result.rejected
    campaigns.submit(cid, "disp")
    campaigns.approve(cid, "boss", "supervisor")
    campaigns.launch(cid)
    (claimed,) = AttemptStore(db, "node1").claim(1, now=MONDAY_NOON)
    return FakeChannel(
        route=Route.OUTBOUND_MESSAGE, variables={Var.ATTEMPT.value: str(claimed.attempt_id)}
    )


OUTAGE = {"outage_from": "2026-03-01T08:30:00+03:00", "outage_to": "2026-03-01T17:00:00+03:00"}
OUTAGE_CELLS = {"outage_from": "01.03.2026 08:30", "outage_to": "01.03.2026 17:00"}
"""The same period as an office's list has it (the import's Russian format)."""


async def test_debt_message_account_and_amount(deps: Any) -> None:
    ch = _attempt(deps.db, default_scenario("debt"), {})
    done(ch, await run(outbound_message, ch, deps))
    assert spoken_frames(ch.journal.entries) == [
        "outbound/debt_account -> account:dat",
        "outbound/debt_amount -> money:nom",
    ]


async def test_planned_outage_message_is_one_range(deps: Any) -> None:
    ch = _attempt(deps.db, default_scenario("planned_outage"), OUTAGE_CELLS)
    done(ch, await run(outbound_message, ch, deps))
    assert spoken_frames(ch.journal.entries) == [
        "outbound/outage_notice -> date:gen",
        "phrase/from -> time:gen",
        "phrase/to -> time:gen",
    ]


async def test_a_scenario_saved_before_cases_is_said_in_the_genitive(deps: Any) -> None:
    """The planned-outage scenario as it was stored before the phrase layer
    («outage/from» + datetime + «outage/to» + datetime): the fragments' ``then``
    makes both ends genitive — nothing to migrate."""
    old = [
        {"prompt": "outbound/greeting"},
        {"prompt": "outbound/outage_notice"},
        {"prompt": "outage/from"},
        {"say": "datetime", "var": "outage_from"},
        {"prompt": "outage/to"},
        {"say": "datetime", "var": "outage_to"},
        {"prompt": "outbound/outage_reason"},
    ]
    ch = _attempt(deps.db, old, OUTAGE_CELLS)
    done(ch, await run(outbound_message, ch, deps))
    assert spoken_frames(ch.journal.entries) == [
        "outage/from -> datetime:gen",
        "outage/to -> datetime:gen",
    ]
    said = [e.detail["text"] for e in ch.journal.entries if e.kind == "say"]
    assert said == [
        "восьми часов тридцати минут первого марта",
        "семнадцати часов первого марта",
    ]


@pytest.mark.parametrize(
    ("kind", "variables", "frame"),
    [
        ("payment_reminder", {"due_date": "2026-03-10"}, "outbound/payment_due -> date:gen"),
        ("tariff_change", {"tariff_from": "2026-07-01"}, "outbound/tariff_change -> date:gen"),
    ],
)
async def test_dates_of_the_reminders_are_genitive(
    deps: Any, kind: str, variables: dict[str, str], frame: str
) -> None:
    ch = _attempt(deps.db, default_scenario(kind), variables)
    done(ch, await run(outbound_message, ch, deps))
    assert spoken_frames(ch.journal.entries) == [frame]


def test_preview_text_says_what_the_callee_hears() -> None:
    text = preview_text(default_scenario("planned_outage"), OUTAGE, tz="Europe/Moscow")
    assert (
        "по вашему адресу первого марта с восьми часов тридцати минут до семнадцати часов."
        " Отключение необходимо" in text
    ), text
    dates = {"outage_from": "2026-03-15", "outage_to": "2026-03-25"}
    text = preview_text(default_scenario("planned_outage"), dates)
    assert "по вашему адресу с пятнадцатого по двадцать пятое марта" in text, text


def test_a_step_case_of_its_own_wins() -> None:
    steps = validate_scenario(
        [
            {"prompt": "debt/as_of"},
            {"say": "date", "var": "d"},
            {"prompt": "debt/as_of"},
            {"say": "date", "var": "d", "case": "dat"},
            {"say": "money", "var": "m"},
        ]
    )
    assert step_cases(steps) == [None, "acc", None, "dat", "nom"]
    phrase = step_phrase(steps[1], {"d": date(2026, 3, 1)}, case="acc")
    assert phrase.text() == "первое марта"


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ({"say": "date", "var": "d", "case": "accusative"}, "неизвестный падеж"),
        ({"say": "period", "var": "a"}, "конца периода"),
    ],
)
def test_bad_say_steps_are_refused_in_russian(step: dict[str, str], error: str) -> None:
    with pytest.raises(ScenarioError, match=error):
        validate_scenario([step])


def test_the_builder_describes_a_period_step() -> None:
    from autoinformer.builder import describe

    step = default_scenario("planned_outage")[2]
    assert step == {"say": "period", "var": "outage_from", "until": "outage_to"}
    assert describe(step, lambda pid: pid) == "Произнести период: с «outage_from» до «outage_to»"


async def test_the_outage_period_of_the_campaign_form_is_one_range(deps: Any) -> None:
    """The period typed in a planned-outage campaign's form (issue 15) is said
    as one range in the callee's zone."""
    campaigns = CampaignService(deps.db)
    cid = campaigns.create(
        "Отключение",
        "planned_outage",
        created_by="disp",
        outage_start=datetime(2026, 12, 20, 5, 30, tzinfo=UTC),
        outage_end=datetime(2026, 12, 20, 14, 0, tzinfo=UTC),
    )
    result = ContactListService(deps.db, "Europe/Moscow").import_rows(cid, [{"phone": CALLER}])
    assert result.accepted == 1, result.rejected
    assert (
        "по вашему адресу двадцатого декабря с восьми часов тридцати минут до семнадцати часов."
        in campaigns.preview(cid)
    )
