"""Campaigns: kinds, scenarios, approval and the campaign life cycle
(REQ-O1, O2, O4, O9, O10).

A scenario is an ordered list of steps — the dispatcher's message builder
(:mod:`autoinformer.builder`) edits it; the kinds are its templates — each one of:

* ``{"prompt": "outbound/greeting"}`` — a recorded phrase of the catalogue;
* ``{"audio": "upload/c7_1a2b3c4d", "title": "обращение.wav"}`` — a recording
  the dispatcher uploaded (converted to 8 kHz mono);
* ``{"say": "money", "var": "debt"}`` — a spoken variable of the contact, or
  of the campaign (``outage_from``/``outage_to``: the outage period typed in
  the campaign's form; a contact's own value wins); ``say`` is one of
  :data:`SAY_KINDS` (money, date, time, datetime, phone, account, number);
* ``{"say": "date", "value": "2026-12-20"}`` — a value typed for the whole
  campaign;
* a spoken value is said in the case the phrase before it governs (its
  ``then`` in ``recordings/prompts.toml``: «задолженность составляет» +
  nominative, «необходимо до» + genitive; :mod:`ivr.phrases_ru`), or in the
  step's own ``"case"`` (``nom``, ``gen``, ``dat``, ``acc``, ``ins``,
  ``prep``); scenarios saved before cases existed are said right as they are;
* ``{"say": "period", "var": "outage_from", "until": "outage_to"}`` — a range
  of two variables: date-times «первого марта с восьми часов тридцати минут
  до семнадцати часов» or dates «с пятнадцатого по двадцать пятое марта»
  (the planned-outage template; not among the builder's :data:`SAY_KINDS`);
* ``{"question": "upload/c7_…" | "outbound/…", "keys": "12", "name": "…"}`` —
  a question: the callee's key (one of ``keys``) is stored on the attempt
  (``answers[name]``); during a question 1 and 0 are answers, not commands.

Every message ends with what 1 (repeat) and 0 (operator) do (the flow plays
``outbound/repeat_hint`` and ``outbound/operator_hint``; the preview shows it).

Life cycle (REQ-O10, an approval workflow): ``draft`` → (the dispatcher
submits it) ``submitted`` «на утверждении» → (a supervisor approves it)
``approved`` → ``running`` ⇄ ``paused`` → ``stopped`` | ``completed``; a
supervisor may instead return a submission to ``draft`` with a reason
(:meth:`CampaignService.refuse`). Editing the scenario or the list of a
submitted or approved campaign sends it back to ``draft``: what was approved
is what is played. :func:`allowed_actions` says which actions a role may take
in each state (the console shows only those buttons).

Four eyes (REQ-O10): whoever created the campaign or changed it (its
settings or its contact list) is recorded as its editor
(:class:`~autoinformer.models.CampaignEditor`) and may not approve it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final, cast

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from autoinformer.models import (
    POSITIVE_RESULTS,
    Attempt,
    AttemptCount,
    AttemptState,
    Campaign,
    CampaignEditor,
    CampaignStatus,
    Contact,
    ContactCount,
    ContactStatus,
)
from autoinformer.policy import (
    CallPolicy,
    CampaignKind,
    NoticeCategory,
    NoticeVerdict,
    OutageNoticeCheck,
    check_outage_notice,
)
from crm_bridge.calendar_ru import ProductionCalendar
from crm_bridge.db import Database, utcnow
from crm_bridge.models import Account, OperatorRole
from ivr import phrases_ru

log = logging.getLogger(__name__)

__all__ = [
    "ACTION_TITLES",
    "APPROVER_ROLES",
    "DEFAULT_RETRY_DELAYS",
    "SAY_KINDS",
    "STAFF_ROLES",
    "CampaignError",
    "CampaignService",
    "CampaignStats",
    "Kind",
    "NotAllowed",
    "ScenarioError",
    "allowed_actions",
    "default_scenario",
    "outage_refusal_ru",
    "preview_text",
    "prompt_case",
    "step_cases",
    "step_phrase",
    "step_tokens",
    "validate_scenario",
    "value_phrase",
    "variable_kinds",
]

APPROVER_ROLES: Final = frozenset({"supervisor", "head"})
"""Roles that may approve a campaign (REQ-O10)."""
STAFF_ROLES: Final = (OperatorRole.DISPATCHER, OperatorRole.SUPERVISOR)
"""Roles that create, change, launch, pause and stop campaigns and see their
contacts (the dispatcher console's users and the command line's)."""

DEFAULT_RETRY_DELAYS: Final[Mapping[str, int]] = {
    "busy": 300,
    "noanswer": 900,
    "congestion": 120,
    "failed": 600,
    "machine": 1800,
    "lost": 60,
}
"""Seconds before the next attempt, per result; other results are final."""

SAY_KINDS: Final = ("money", "date", "time", "datetime", "phone", "account", "number")
PERIOD: Final = "period"
"""A say step over two variables (``var`` .. ``until``): a range of time or of days."""


class Kind(StrEnum):
    """Campaign kinds (REQ-O1)."""

    DEBT = "debt"
    PAYMENT_REMINDER = "payment_reminder"
    PLANNED_OUTAGE = "planned_outage"
    TARIFF_CHANGE = "tariff_change"
    CUSTOM = "custom"
    SURVEY = "survey"
    """Опрос (REQ-A13): the questions ``csi`` (1–5) and/or ``nps`` (0–10),
    by voice or by SMS; the answers go to the surveys (``survey_responses``)."""

    @property
    def label(self) -> str:
        """The Russian name, for people."""
        return KIND_TITLES[self]

    @property
    def policy_kind(self) -> CampaignKind:
        return {
            Kind.DEBT: CampaignKind.DEBT,
            Kind.PAYMENT_REMINDER: CampaignKind.PAYMENT_REMINDER,
            Kind.PLANNED_OUTAGE: CampaignKind.PLANNED_OUTAGE,
            Kind.TARIFF_CHANGE: CampaignKind.TARIFF_CHANGE,
            Kind.CUSTOM: CampaignKind.ACTION_REMINDER,
            Kind.SURVEY: CampaignKind.ACTION_REMINDER,
        }[self]


KIND_TITLES: Final = {
    Kind.DEBT: "Задолженность",
    Kind.PAYMENT_REMINDER: "Напоминание об оплате",
    Kind.PLANNED_OUTAGE: "Плановое отключение",
    Kind.TARIFF_CHANGE: "Изменение тарифа",
    Kind.CUSTOM: "Произвольное сообщение",
    Kind.SURVEY: "Опрос",
}


class CampaignError(Exception):
    """A campaign operation that cannot be done; the message is for people (Russian)."""


class NotAllowed(CampaignError):
    """The user's role may not do this (REQ-O10)."""


class ScenarioError(CampaignError):
    pass


_DEFAULT_SCENARIOS: Final[Mapping[Kind, list[dict[str, str]]]] = {
    Kind.DEBT: [
        {"prompt": "outbound/greeting"},
        {"prompt": "outbound/debt_account"},
        {"say": "account", "var": "account"},
        {"prompt": "outbound/debt_amount"},
        {"say": "money", "var": "debt"},
        {"prompt": "outbound/debt_request"},
        {"prompt": "outbound/if_paid"},
    ],
    Kind.PAYMENT_REMINDER: [
        {"prompt": "outbound/greeting"},
        {"prompt": "outbound/payment_due"},
        {"say": "date", "var": "due_date"},
        {"prompt": "outbound/if_paid"},
    ],
    Kind.PLANNED_OUTAGE: [
        {"prompt": "outbound/greeting"},
        {"prompt": "outbound/outage_notice"},
        {"say": PERIOD, "var": "outage_from", "until": "outage_to"},
        {"prompt": "outbound/outage_reason"},
    ],
    Kind.TARIFF_CHANGE: [
        {"prompt": "outbound/greeting"},
        {"prompt": "outbound/tariff_change"},
        {"say": "date", "var": "tariff_from"},
        {"prompt": "outbound/tariff_details"},
    ],
    Kind.CUSTOM: [{"prompt": "outbound/greeting"}],
    Kind.SURVEY: [
        {"prompt": "outbound/greeting"},
        {"question": "survey/csi", "keys": "12345", "name": "csi"},
        {"question": "survey/nps", "keys": "0123456789", "name": "nps", "scale": "nps"},
    ],
}


def default_scenario(kind: Kind | str) -> list[dict[str, str]]:
    return [dict(step) for step in _DEFAULT_SCENARIOS[Kind(kind)]]


def validate_scenario(
    steps: Any, known_prompts: Sequence[str] | None = None
) -> list[dict[str, str]]:
    """The scenario as a clean list of steps, or :class:`ScenarioError`."""
    if not isinstance(steps, list) or not steps:
        raise ScenarioError("сценарий должен содержать хотя бы один шаг")
    out: list[dict[str, str]] = []
    for i, step in enumerate(steps, 1):
        if not isinstance(step, dict):
            raise ScenarioError(f"шаг {i}: ожидается объект")
        if "prompt" in step:
            pid = str(step["prompt"])
            if known_prompts is not None and pid not in known_prompts:
                raise ScenarioError(f"шаг {i}: нет такой фразы в каталоге: {pid}")
            out.append({"prompt": pid})
        elif "audio" in step:
            aid = str(step["audio"])
            if not UPLOAD_ID_RE.match(aid):
                raise ScenarioError(f"шаг {i}: неверная запись {aid[:40]!r}")
            out.append({"audio": aid, "title": str(step.get("title") or "запись")[:100]})
        elif "say" in step:
            kind = str(step["say"])
            if kind not in SAY_KINDS and kind != PERIOD:
                raise ScenarioError(f"шаг {i}: неизвестный вид переменной {kind!r}")
            case = str(step.get("case") or "")
            if case and case not in phrases_ru.CASES:
                raise ScenarioError(
                    f"шаг {i}: неизвестный падеж {case!r} (допустимо: {', '.join(phrases_ru.CASES)})"
                )
            clean: dict[str, str]
            if "value" in step and kind != PERIOD:
                value = str(step["value"]).strip()
                try:
                    step_tokens(kind, value)
                except (ValueError, TypeError):
                    raise ScenarioError(
                        f"шаг {i}: значение «{value[:40]}» нельзя произнести как {SAY_TITLES[kind]}"
                    ) from None
                clean = {"say": kind, "value": value}
            else:
                var = str(step.get("var") or "")
                if not var:
                    raise ScenarioError(f"шаг {i}: не указана переменная")
                clean = {"say": kind, "var": var}
                if kind == PERIOD:
                    until = str(step.get("until") or "")
                    if not until:
                        raise ScenarioError(f"шаг {i}: не указана переменная конца периода (until)")
                    clean["until"] = until
            if case:
                clean["case"] = case
            out.append(clean)
        elif "question" in step:
            qid = str(step["question"])
            uploaded = bool(UPLOAD_ID_RE.match(qid))
            if not (uploaded or PROMPT_STEP_RE.match(qid)):
                raise ScenarioError(f"шаг {i}: неверная фраза вопроса {qid[:40]!r}")
            if known_prompts is not None and not uploaded and qid not in known_prompts:
                raise ScenarioError(f"шаг {i}: нет такой фразы в каталоге: {qid}")
            keys = "".join(dict.fromkeys(str(step.get("keys") or "")))
            if not keys or any(k not in "0123456789*#" for k in keys):
                raise ScenarioError(f"шаг {i}: укажите клавиши ответа (цифры 0–9)")
            name = str(step.get("name") or "").strip()[:64]
            if not name:
                raise ScenarioError(f"шаг {i}: укажите, как называется вопрос в отчёте")
            question = {"question": qid, "keys": keys, "name": name}
            if step.get("scale") == "nps" or name.lower() == "nps":
                # 0–10: one digit, or 1 then 0 for ten (REQ-A13)
                question["scale"] = "nps"
            out.append(question)
        else:
            raise ScenarioError(f"шаг {i}: нужен prompt, audio, say или question")
    return out


UPLOAD_ID_RE: Final = re.compile(r"^upload/c\d+_[0-9a-f]{8,32}$")
"""The prompt id of a recording uploaded into a campaign (:mod:`autoinformer.builder`)."""
PROMPT_STEP_RE: Final = re.compile(r"^[a-z][a-z0-9_]*/[a-z0-9][a-z0-9_]*$")

SAY_TITLES: Final = {
    "money": "сумму",
    "date": "дату",
    "time": "время",
    "datetime": "дату и время",
    "phone": "номер телефона",
    "account": "номер лицевого счёта",
    "number": "число",
}
"""What each spoken kind is, in the accusative («произнести как сумму»)."""

CAMPAIGN_VARIABLES: Final = {"outage_from": "outage_start", "outage_to": "outage_end"}
"""Variables a campaign itself provides (the outage period of its form)."""


def campaign_values(campaign: Any) -> dict[str, str]:
    """The variables the campaign provides to every contact's message."""
    out: dict[str, str] = {}
    for var, attr in CAMPAIGN_VARIABLES.items():
        value = getattr(campaign, attr, None)
        if value is not None:
            out[var] = value.isoformat()
    return out


def message_variables(campaign: Any, contact_variables: Mapping[str, Any]) -> dict[str, Any]:
    """What the message of one contact says: the campaign's values, then the
    contact's own (a contact's value wins)."""
    return {**campaign_values(campaign), **contact_variables}


def scenario_variables(steps: Sequence[Mapping[str, str]]) -> list[str]:
    """The contact variables the scenario speaks (not the typed values)."""
    out: list[str] = []
    for s in steps:
        if "say" in s and "var" in s:
            out.append(s["var"])
            if "until" in s:
                out.append(s["until"])
    return out


def variable_kinds(steps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Each spoken variable -> the kind its value must be (a period's ends: ``period``)."""
    kinds: dict[str, str] = {}
    for s in steps:
        if "say" in s and "var" in s:
            kinds[s["var"]] = s["say"]
            if "until" in s:
                kinds[s["until"]] = s["say"]
    return kinds


@functools.lru_cache(maxsize=4)
def _catalogue_cases(source: str) -> Mapping[str, str]:
    from ivr.prompts import PromptCatalogue

    catalogue = PromptCatalogue.load(source or None, include_words=False)
    return {p.id: p.then for p in catalogue if p.then}


def prompt_case(prompt_id: str) -> phrases_ru.Case | None:
    """The case a value after the catalogue phrase ``prompt_id`` is said in
    (its ``then``), or None (a phrase followed by no value, an upload)."""
    from ivr.prompts import PromptError, default_catalogue_path

    try:
        then = _catalogue_cases(str(default_catalogue_path())).get(prompt_id)
    except PromptError as exc:  # never silence: the value is said, in the nominative
        log.error("prompt catalogue unreadable, values said in the nominative: %s", exc)
        return None
    return cast(phrases_ru.Case, then) if then else None


def step_cases(
    steps: Sequence[Mapping[str, str]],
    case_of: Callable[[str], phrases_ru.Case | None] = prompt_case,
) -> list[phrases_ru.Case | None]:
    """The case of every step (None for what is not a value): the step's
    ``case``, else the ``then`` of the catalogue phrase just before it, else
    the nominative."""
    out: list[phrases_ru.Case | None] = []
    before: phrases_ru.Case | None = None
    for step in steps:
        if "say" not in step:
            before = case_of(step["prompt"]) if "prompt" in step else None
            out.append(None)
            continue
        explicit = step.get("case")
        out.append(cast(phrases_ru.Case, explicit) if explicit else before or "nom")
        before = None
    return out


# -- speaking the variables (REQ-O6) -------------------------------------------------


def _parse_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _local(value: Any, tz: str | None) -> datetime:
    dt = _parse_datetime(value)
    if tz and dt.tzinfo is not None:
        from zoneinfo import ZoneInfo

        dt = dt.astimezone(ZoneInfo(tz))
    return dt


def _is_date_only(value: Any) -> bool:
    if isinstance(value, datetime):
        return False
    return isinstance(value, date) or len(str(value).strip()) == 10


def _date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def value_phrase(
    kind: str, value: Any, tz: str | None = None, case: phrases_ru.Case = "nom"
) -> phrases_ru.Phrase:
    """One spoken value in ``case``; ValueError when it cannot be said.

    An aware date-time is said in ``tz`` (the customer's time zone), as its
    time in ``case`` and its date as the genitive attribute («до семнадцати
    часов первого марта»). ``period`` here is one end of a period (a date or
    a date-time)."""
    if value is None or value == "":
        raise ValueError("no value")
    if kind == "money":
        try:
            amount = Decimal(str(value).replace(",", ".").replace(" ", ""))
        except InvalidOperation as exc:
            raise ValueError(f"not a money amount: {value!r}") from exc
        return phrases_ru.value("money", amount, case)
    if kind == "date":
        return phrases_ru.value("date", _date(value), case)
    if kind == "time":
        t = value if isinstance(value, time) else time.fromisoformat(str(value))
        return phrases_ru.value("time", t, case)
    if kind == "datetime" or (kind == PERIOD and not _is_date_only(value)):
        return phrases_ru.value("datetime", _local(value, tz), case)
    if kind == PERIOD:
        return phrases_ru.value("date", _date(value), case)
    if kind in ("phone", "account"):
        return phrases_ru.value(kind, str(value), case)
    if kind == "number":
        return phrases_ru.value("number", int(str(value)), case)
    raise ValueError(f"unknown kind {kind!r}")


def step_phrase(
    step: Mapping[str, str],
    variables: Mapping[str, Any],
    tz: str | None = None,
    case: phrases_ru.Case = "nom",
) -> phrases_ru.Phrase:
    """What a ``say`` step speaks for the message's ``variables`` (REQ-O6)."""
    kind = step["say"]
    value = step["value"] if "value" in step else variables.get(step["var"])
    if kind != PERIOD:
        return value_phrase(kind, value, tz, case)
    end = variables.get(step.get("until", ""))
    if value in (None, "") or end in (None, ""):
        raise ValueError("no value")
    if _is_date_only(value) and _is_date_only(end):
        return phrases_ru.date_range(_date(value), _date(end))
    return phrases_ru.time_range(_local(value, tz), _local(end, tz))


def step_tokens(
    kind: str, value: Any, tz: str | None = None, case: phrases_ru.Case = "nom"
) -> list[str]:
    """The word tokens of one spoken value; ValueError when it cannot be said."""
    return [t for w in value_phrase(kind, value, tz, case).words() for t in w.tokens]


def preview_text(
    steps: Sequence[Mapping[str, str]],
    variables: Mapping[str, Any],
    prompt_text: Any = None,
    tz: str | None = None,
    *,
    with_hints: bool = True,
) -> str:
    """The message as the callee would hear it, as text (REQ-O1 preview),
    with the closing hints (``with_hints``).

    ``prompt_text(prompt_id) -> str`` gives the catalogue text of a phrase.
    A variable missing from ``variables`` is shown as ``[нет значения: name]``.
    """
    if prompt_text is None:
        from ivr.prompts import PromptCatalogue

        catalogue = PromptCatalogue.load()
        prompt_text = catalogue.text
    parts: list[str] = []

    def phrase(pid: str) -> str:
        if UPLOAD_ID_RE.match(pid):
            return "[запись]"
        try:
            return str(prompt_text(pid))
        except KeyError:
            return f"[нет фразы {pid}]"

    for step, case in zip(steps, step_cases(steps), strict=True):
        if "prompt" in step:
            parts.append(phrase(step["prompt"]))
        elif "audio" in step:
            parts.append(f"[запись «{step.get('title') or 'запись'}»]")
        elif "question" in step:
            parts.append(f"{phrase(step['question'])} [вопрос «{step['name']}»: {step['keys']}]")
        else:
            try:
                spoken = step_phrase(step, variables, tz, case or "nom")
            except (ValueError, TypeError):
                parts.append(f"[нет значения: {step.get('var', '')}]")
            else:
                parts.append(spoken.text(phrase))
    if with_hints:
        parts.extend(phrase(p) for p in MESSAGE_HINTS)
    return _sentences(p.strip() for p in parts if p.strip())


MESSAGE_HINTS: Final = ("outbound/repeat_hint", "outbound/operator_hint")
"""What ends every message: 1 repeats it, 0 reaches an operator."""


def _sentences(parts: Iterable[str]) -> str:
    """Join the parts as the callee hears them: a part that starts a new
    sentence (a capital letter) after one without its full stop gets it."""
    out = ""
    for part in parts:
        if out:
            if part[:1].isupper() and out[-1] not in ".!?…:»":
                out += "."
            out += " "
        out += part
    return out


def outage_refusal_ru(check: OutageNoticeCheck) -> str:
    """Why a planned-outage notice cannot go out now (REQ-O9), in Russian."""
    said = {
        "the outage has already started": "отключение уже началось",
        "later than 24 h before the outage": "до начала отключения меньше 24 часов",
        "more than 3 days after the decision": ("прошло больше 3 дней с решения об отключении"),
    }
    reasons = "; ".join(said.get(r, r) for r in check.reasons)
    return (
        "уведомление о плановом отключении опоздает (REQ-O9: жителей уведомляют в течение "
        f"3 дней с решения и не позднее чем за 24 часа до отключения): {reasons}. "
        "Перенесите отключение или уведомите жителей иначе"
    )


# -- statistics ----------------------------------------------------------------------


@dataclass
class CampaignStats:
    campaign_id: int
    status: str
    total: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    results: dict[str, int] = field(default_factory=dict)
    """Attempt results (every attempt)."""
    final: dict[str, int] = field(default_factory=dict)
    """Final results of finished contacts."""
    attempts: int = 0
    in_flight: int = 0
    positive: int = 0
    finished: int = 0
    reached: int = 0
    """Finished contacts the campaign really tried (``done``): the base of
    the positive rate. A contact refused by the call policy or the
    do-not-call list, or cancelled before its turn, was never asked."""
    counter_rows: int = 0
    """Rows of the kept counters read (not shown): many means it is time
    for :func:`compact_counts`."""

    def add_contacts(self, status: str, final: str | None, positive: bool, n: int) -> None:
        """Count ``n`` contacts of one state, final result and positiveness."""
        self.by_status[status] = self.by_status.get(status, 0) + n
        self.total += n
        if status in FINAL_CONTACT_STATUSES:
            self.finished += n
        if status == ContactStatus.DONE:
            self.reached += n
        if final is not None:
            self.final[str(final)] = self.final.get(str(final), 0) + n
        if positive:
            self.positive += n

    @property
    def positive_rate(self) -> float:
        """Positive among the contacts tried (REQ-O8), not among every
        finished one: refusals by the do-not-call list are not failures."""
        return self.positive / self.reached if self.reached else 0.0

    @property
    def progress(self) -> float:
        return self.finished / self.total if self.total else 0.0

    def eta_seconds(self, launched_at: datetime | None, now: float) -> float | None:
        """Seconds until every contact is finished at the pace so far (None
        while there is no pace yet; 0 once completed)."""
        if self.status == "completed":
            return 0.0
        if launched_at is None or not self.finished or self.status != "running":
            return None
        elapsed = max(1.0, now - launched_at.timestamp())
        return (self.total - self.finished) / (self.finished / elapsed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "status": self.status,
            "total": self.total,
            "by_status": self.by_status,
            "results": self.results,
            "final": self.final,
            "attempts": self.attempts,
            "in_flight": self.in_flight,
            "positive": self.positive,
            "finished": self.finished,
            "reached": self.reached,
            "positive_rate": round(self.positive_rate, 4),
            "progress": round(self.progress, 4),
        }


FINAL_CONTACT_STATUSES: Final = frozenset(
    {ContactStatus.DONE, ContactStatus.REFUSED, ContactStatus.CANCELLED}
)


# -- the service ---------------------------------------------------------------------


class CampaignService:
    """Blocking campaign operations (call through ``Services.run_db``)."""

    def __init__(
        self,
        db: Database,
        *,
        calendar: ProductionCalendar | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.calendar = calendar if calendar is not None else ProductionCalendar()
        """The company's production calendar (extra holidays included): the
        call policy of every campaign is counted on it."""
        self.clock = clock
        """The moment submission and approval check REQ-O9's limits against."""

    def create(
        self,
        name: str,
        kind: Kind | str,
        *,
        scenario: list[dict[str, str]] | None = None,
        start_at: datetime | None = None,
        end_at: datetime | None = None,
        created_by: str | None = None,
        **options: Any,
    ) -> int:
        kind = Kind(kind)
        if not name.strip():
            raise CampaignError("укажите название кампании")
        if start_at and end_at and end_at <= start_at:
            raise CampaignError("окончание кампании должно быть позже начала")
        steps = validate_scenario(scenario if scenario is not None else default_scenario(kind))
        delays = dict(DEFAULT_RETRY_DELAYS)
        delays.update(options.pop("retry_delays", None) or {})
        if options.get("amd", "off") not in ("off", "message", "retry"):
            raise CampaignError("AMD: допустимо off, message или retry")
        if options.get("outage_notice", "refuse") not in ("warn", "refuse"):
            raise CampaignError("уведомление об отключении: warn или refuse")
        if options.get("channels"):
            # channels one after another, the customer's chosen form first (REQ-O12)
            from autoinformer.channels import ChannelsError, parse_channels

            try:
                chosen = parse_channels(options["channels"])
            except ChannelsError as exc:
                raise CampaignError(str(exc)) from None
            options["channels"] = ",".join(chosen) or None
            options["email_enabled"] = "email" in chosen
        with self.db.session(write=True) as s:
            c = Campaign(
                name=name.strip(),
                kind=kind.value,
                status=CampaignStatus.DRAFT.value,
                scenario=steps,
                start_at=start_at,
                end_at=end_at,
                retry_delays=delays,
                created_by=created_by,
                max_attempts=int(options.pop("max_attempts", 3)),
                amd=options.pop("amd", "off"),
                ring_timeout=int(options.pop("ring_timeout", 30)),
                outage_notice=options.pop("outage_notice", "refuse"),
                email_enabled=bool(options.pop("email_enabled", False)),
                **options,
            )
            s.add(c)
            s.flush()
            self.record_editor(s, c.id, created_by)
            log.info("campaign %s created (%s)", c.id, kind.value)
            return c.id

    def get(self, campaign_id: int) -> Campaign:
        with self.db.session() as s:
            c = s.get(Campaign, campaign_id)
            if c is None:
                raise CampaignError(f"кампания {campaign_id} не найдена")
            return c

    def all(self) -> list[Campaign]:
        with self.db.session() as s:
            return list(s.scalars(select(Campaign).order_by(Campaign.id.desc())))

    def update_scenario(self, campaign_id: int, steps: Any, *, by: str | None = None) -> None:
        """``by``: the login of who changes it (an editor: may not approve it)."""
        clean = validate_scenario(steps)
        with self.db.session(write=True) as s:
            c = self._locked(s, campaign_id)
            if c.status not in _EDITABLE:
                raise CampaignError("сценарий запущенной кампании менять нельзя")
            c.scenario = clean
            self._back_to_draft(c)
            self.record_editor(s, campaign_id, by)

    def set_outage_period(
        self,
        campaign_id: int,
        start: datetime,
        end: datetime,
        decided_at: datetime | None,
        *,
        by: str | None = None,
    ) -> bool:
        """The planned outage moved: the campaign's period (what its message
        says, when its calls end) follows it while it is not yet launched; a
        submitted or approved one goes back to draft (what is approved is
        what is played, REQ-O10). False when it was launched already."""
        with self.db.session(write=True) as s:
            c = self._locked(s, campaign_id)
            if c.status not in _EDITABLE:
                return False
            if (c.outage_start, c.outage_end, c.outage_decided_at) == (start, end, decided_at):
                return True
            c.outage_start, c.outage_end, c.outage_decided_at = start, end, decided_at
            if c.end_at is not None and c.kind == Kind.PLANNED_OUTAGE:
                c.end_at = start
            self._back_to_draft(c)
            self.record_editor(s, campaign_id, by)
            log.info("campaign %s: the outage period moved", campaign_id)
            return True

    @staticmethod
    def record_editor(session: Session, campaign_id: int, login: str | None) -> None:
        """Remember that ``login`` created or changed the campaign (REQ-O10)."""
        login = (login or "").strip()[:64]
        if login and session.get(CampaignEditor, (campaign_id, login)) is None:
            session.add(CampaignEditor(campaign_id=campaign_id, login=login))
            session.flush()

    def editors(self, campaign_id: int) -> list[str]:
        """Who created or changed the campaign, in the order they first did."""
        with self.db.session(readonly=True) as s:
            return list(
                s.scalars(
                    select(CampaignEditor.login)
                    .where(CampaignEditor.campaign_id == campaign_id)
                    .order_by(CampaignEditor.first_at, CampaignEditor.login)
                )
            )

    @staticmethod
    def _back_to_draft(c: Campaign) -> None:
        """A change after submission or approval: it must be submitted again."""
        if c.status in (CampaignStatus.APPROVED, CampaignStatus.SUBMITTED):
            c.status = CampaignStatus.DRAFT.value
            c.approved_by = None
            c.approved_at = None
            c.submitted_by = None
            c.submitted_at = None

    def mark_list_changed(self, session: Session, campaign_id: int, by: str | None = None) -> None:
        c = self._locked(session, campaign_id)
        if c.status not in _EDITABLE:
            raise CampaignError("список запущенной кампании менять нельзя")
        self._back_to_draft(c)
        self.record_editor(session, campaign_id, by)

    @staticmethod
    def _locked(s: Session, campaign_id: int) -> Campaign:
        c = s.get(Campaign, campaign_id, with_for_update=True)
        if c is None:
            raise CampaignError(f"кампания {campaign_id} не найдена")
        return c

    def preview(self, campaign_id: int, contact_id: int | None = None) -> str:
        """The message as text for one contact (``contact_id``, else the first)."""
        c = self.get(campaign_id)
        contact = self.contact(campaign_id, contact_id)
        variables = message_variables(c, contact.variables if contact else {})
        return preview_text(c.scenario, variables, tz=contact.timezone if contact else None)

    def contact(self, campaign_id: int, contact_id: int | None = None) -> Contact | None:
        """One contact of the campaign (``contact_id``), else its first; a
        contact of another campaign is refused."""
        with self.db.session(readonly=True) as s:
            q = select(Contact).where(Contact.campaign_id == campaign_id)
            if contact_id is not None:
                q = q.where(Contact.id == contact_id)
            contact = s.scalars(q.order_by(Contact.id).limit(1)).first()
        if contact is None and contact_id is not None:
            raise CampaignError(f"в кампании {campaign_id} нет контакта {contact_id}")
        return contact

    def outage_check(self, campaign: Campaign, now: datetime | None = None) -> OutageNoticeCheck:
        """REQ-O9 for households at ``now`` (planned-outage campaigns)."""
        now = now or self.clock()
        if campaign.outage_start is None:
            return OutageNoticeCheck(NoticeVerdict.OK)
        decided = campaign.outage_decided_at or min(now, campaign.created_at)
        return check_outage_notice(
            now, campaign.outage_start, min(decided, now), NoticeCategory.HOUSEHOLD
        )

    def _check_ready(self, s: Session, c: Campaign) -> None:
        """What an approver needs: contacts, and a planned outage that can
        still be announced in time (REQ-O9)."""
        n = s.scalar(select(func.count()).where(Contact.campaign_id == c.id)) or 0
        if n == 0:
            raise CampaignError("в кампании нет ни одного контакта")
        if c.kind == Kind.PLANNED_OUTAGE:
            if c.outage_start is None:
                raise CampaignError("укажите начало планового отключения")
            check = self.outage_check(c)
            if check.verdict is NoticeVerdict.REFUSE and c.outage_notice == "refuse":
                raise CampaignError(outage_refusal_ru(check))

    def submit(self, campaign_id: int, user: str) -> None:
        """The dispatcher sends a ready draft for approval (REQ-O10): it
        appears in the supervisors' queue (:meth:`awaiting_approval`)."""
        login = (user or "").strip()
        if not login:
            raise NotAllowed("не указано, кто отправляет кампанию на утверждение")
        with self.db.session(write=True) as s:
            c = self._locked(s, campaign_id)
            if c.status != CampaignStatus.DRAFT:
                raise CampaignError(
                    "отправить на утверждение можно только черновик "
                    f"(сейчас: {status_title(c.status)})"
                )
            self._check_ready(s, c)
            c.status = CampaignStatus.SUBMITTED.value
            c.submitted_by = login[:64]
            c.submitted_at = utcnow()
            log.info("campaign %s submitted for approval", campaign_id)

    def refuse(self, campaign_id: int, user: str, role: str, reason: str) -> None:
        """A supervisor returns a submission to draft with the reason (REQ-O10)."""
        if str(role) not in APPROVER_ROLES:
            raise NotAllowed("вернуть кампанию на доработку может только руководитель")
        login = (user or "").strip()
        if not login:
            raise NotAllowed("не указан руководитель")
        reason = (reason or "").strip()
        if not reason:
            raise CampaignError("укажите, что нужно исправить: причина возврата обязательна")
        with self.db.session(write=True) as s:
            c = self._locked(s, campaign_id)
            if c.status != CampaignStatus.SUBMITTED:
                raise CampaignError(
                    "вернуть на доработку можно только кампанию на утверждении "
                    f"(сейчас: {status_title(c.status)})"
                )
            c.status = CampaignStatus.DRAFT.value
            c.refused_by = login[:64]
            c.refused_at = utcnow()
            c.refusal_reason = reason[:2000]
            c.submitted_by = None
            c.submitted_at = None
            log.info("campaign %s returned to draft", campaign_id)

    def awaiting_approval(self) -> list[dict[str, Any]]:
        """The supervisors' queue (REQ-O10): campaigns on approval, oldest
        submission first, with their contacts count."""
        with self.db.session(readonly=True) as s:
            counts = dict(
                s.execute(
                    select(Contact.campaign_id, func.count())
                    .join(Campaign, Campaign.id == Contact.campaign_id)
                    .where(Campaign.status == CampaignStatus.SUBMITTED.value)
                    .group_by(Contact.campaign_id)
                ).all()
            )
            rows = s.scalars(
                select(Campaign)
                .where(Campaign.status == CampaignStatus.SUBMITTED.value)
                .order_by(Campaign.submitted_at, Campaign.id)
            ).all()
            return [{"campaign": c, "contacts": counts.get(c.id, 0)} for c in rows]

    def contacts_page(
        self, campaign_id: int, offset: int = 0, limit: int = 100
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the campaign's contacts in list order, and their count
        (what the approver sees, REQ-O10): the callee's name (the list's or
        the account holder's), account, phone, time zone and spoken values."""
        with self.db.session(readonly=True) as s:
            total = s.scalar(select(func.count()).where(Contact.campaign_id == campaign_id)) or 0
            rows = s.execute(
                select(Contact, Account.holder_name)
                .outerjoin(Account, Account.id == Contact.account_id)
                .where(Contact.campaign_id == campaign_id)
                .order_by(Contact.id)
                .offset(max(0, offset))
                .limit(limit)
            ).all()
            return [
                {
                    "name": str(ct.variables.get("name") or holder or ""),
                    "account": str(ct.variables.get("account") or ""),
                    "phone": ct.phone,
                    "timezone": ct.timezone,
                    "variables": dict(ct.variables or {}),
                }
                for ct, holder in rows
            ], total

    def approve(self, campaign_id: int, user: str, role: str) -> None:
        """REQ-O10: only a supervisor/head approves, and not one who created or
        changed the campaign (four eyes); records who and when.

        ``user`` and ``role`` are those of an authenticated user (the console's
        session, the command line's password), never declared ones."""
        if str(role) not in APPROVER_ROLES:
            raise NotAllowed("утверждать кампании может только руководитель")
        login = user.strip()
        if not login:
            raise NotAllowed("не указан утверждающий")
        with self.db.session(write=True) as s:
            c = self._locked(s, campaign_id)
            if c.status != CampaignStatus.SUBMITTED:
                raise CampaignError(
                    "утвердить можно только кампанию, отправленную на утверждение "
                    f"(сейчас: {status_title(c.status)})"
                )
            edited = login == (c.created_by or "").strip() or (
                s.get(CampaignEditor, (campaign_id, login[:64])) is not None
            )
            if edited:
                raise NotAllowed(
                    "нельзя утвердить кампанию, которую вы сами создали или изменяли "
                    "(её настройки или список контактов): по правилу четырёх глаз "
                    "её утверждает другой руководитель"
                )
            self._check_ready(s, c)
            c.status = CampaignStatus.APPROVED.value
            c.approved_by = user
            c.approved_at = utcnow()
            log.info("campaign %s approved", campaign_id)

    def launch(self, campaign_id: int, user: str | None = None) -> None:
        with self.db.session(write=True) as s:
            c = self._locked(s, campaign_id)
            if c.status != CampaignStatus.APPROVED:
                raise CampaignError("запустить можно только утверждённую кампанию")
            c.status = CampaignStatus.RUNNING.value
            c.launched_at = utcnow()
            log.info("campaign %s launched", campaign_id)

    def pause(self, campaign_id: int) -> None:
        self._transition(campaign_id, {CampaignStatus.RUNNING}, CampaignStatus.PAUSED)

    def resume(self, campaign_id: int) -> None:
        self._transition(campaign_id, {CampaignStatus.PAUSED}, CampaignStatus.RUNNING)

    def stop(self, campaign_id: int) -> None:
        """No new calls; calls in progress end normally; pending contacts are cancelled."""
        with self.db.session(write=True) as s:
            c = self._locked(s, campaign_id)
            if c.status not in _STOPPABLE:
                if c.status in (CampaignStatus.STOPPED, CampaignStatus.COMPLETED):
                    raise CampaignError(f"кампания уже завершена ({status_title(c.status)})")
                raise CampaignError(
                    "остановить можно только утверждённую, идущую или приостановленную "
                    f"кампанию (сейчас: {status_title(c.status)})"
                )
            c.status = CampaignStatus.STOPPED.value
            c.finished_at = utcnow()
            s.execute(
                update(Contact)
                .where(
                    Contact.campaign_id == campaign_id,
                    Contact.status == ContactStatus.PENDING.value,
                )
                .values(status=ContactStatus.CANCELLED.value, final_result="cancelled")
            )

    def stop_counts(self, campaign_id: int) -> tuple[int, int]:
        """What a stop would do: contacts it cancels (not yet reached) and
        calls in progress it lets finish (the confirmation page)."""
        with self.db.session(readonly=True) as s:
            pending = s.scalar(
                select(func.count()).where(
                    Contact.campaign_id == campaign_id,
                    Contact.status == ContactStatus.PENDING.value,
                )
            )
            calls = s.scalar(
                select(func.count()).where(
                    Attempt.campaign_id == campaign_id,
                    Attempt.state != AttemptState.DONE.value,
                    Attempt.channel == "phone",
                )
            )
            return int(pending or 0), int(calls or 0)

    def _transition(
        self, campaign_id: int, allowed: set[CampaignStatus], to: CampaignStatus
    ) -> None:
        with self.db.session(write=True) as s:
            c = self._locked(s, campaign_id)
            if c.status not in allowed:
                raise CampaignError(
                    f"нельзя перейти из состояния «{status_title(c.status)}» "
                    f"в «{status_title(to.value)}»"
                )
            c.status = to.value

    def policy_for(self, c: Campaign) -> CallPolicy:
        return CallPolicy.for_campaign(
            Kind(c.kind).policy_kind,
            start=c.start_at,
            end=c.end_at,
            calendar=self.calendar,
            enforce_230fz_caps=c.caps_230fz,
        )

    # -- statistics and reports -----------------------------------------------------

    def stats(self, campaign_id: int) -> CampaignStats:
        with self.db.session(readonly=True) as s:
            return self._stats(s, campaign_id)

    @staticmethod
    def _stats(s: Session, campaign_id: int) -> CampaignStats:
        """The campaign's counters as the database's triggers keep them
        (``ai_contact_counts``, ``ai_attempt_counts``: a few rows, whatever
        the size of the list; migration ``0650_campaign_counts``)."""
        c = s.get(Campaign, campaign_id)
        if c is None:
            raise CampaignError(f"кампания {campaign_id} не найдена")
        st = CampaignStats(campaign_id, c.status)
        for status, final, positive, n, rows in s.execute(
            select(
                ContactCount.status,
                ContactCount.final_result,
                ContactCount.positive,
                func.sum(ContactCount.n),
                func.count(),
            )
            .where(ContactCount.campaign_id == campaign_id)
            .group_by(ContactCount.status, ContactCount.final_result, ContactCount.positive)
        ):
            st.counter_rows += rows
            if n:
                st.add_contacts(status, final or None, bool(positive), int(n))
        for channel, result, state, n in s.execute(
            select(
                AttemptCount.channel,
                AttemptCount.result,
                AttemptCount.state,
                func.sum(AttemptCount.n),
            )
            .where(
                AttemptCount.campaign_id == campaign_id,
                AttemptCount.channel.in_(("phone", "sms")),
            )
            .group_by(AttemptCount.channel, AttemptCount.result, AttemptCount.state)
        ):
            if n:
                CampaignService._add_attempts(st, channel, result or None, state, int(n))
        return st

    def compact_counts(self, campaign_id: int) -> int:
        """Fold a campaign's counter rows kept by other server processes
        into this one's and drop the rows of zero; how many rows went.

        PostgreSQL: each server process adds to its own rows (migration
        ``0650_campaign_counts``), so a campaign's rows grow with the
        connections that ever wrote it. Rows another transaction holds are
        skipped (``SKIP LOCKED``: this never waits on a writer, so it cannot
        deadlock with one), one compactor at a time (an advisory lock).
        SQLite keeps one row per group: only the zeros go."""
        tables = (
            ("ai_contact_counts", "campaign_id, status, final_result, positive, refusal, timezone"),
            ("ai_attempt_counts", "campaign_id, channel, state, result"),
        )
        c = {"c": campaign_id}
        with self.db.session(write=True) as s:

            def rows() -> int:
                return sum(
                    s.execute(
                        text(f"SELECT count(*) FROM {table} WHERE campaign_id = :c"), c
                    ).scalar_one()
                    for table, _ in tables
                )

            before = rows()
            postgresql = s.get_bind().dialect.name == "postgresql"
            if postgresql:
                s.execute(text("SELECT pg_advisory_xact_lock(650, :c)"), c)
            for table, key in tables:
                if postgresql:
                    groups = ", ".join(str(i) for i in range(1, key.count(",") + 2))
                    s.execute(
                        text(
                            f"WITH gone AS (DELETE FROM {table} t USING ("
                            f"SELECT ctid FROM {table} WHERE campaign_id = :c "
                            "AND shard <> pg_backend_pid() FOR UPDATE SKIP LOCKED) l "
                            "WHERE t.ctid = l.ctid RETURNING t.*) "
                            f"INSERT INTO {table} AS t ({key}, shard, n) "
                            f"SELECT {key}, pg_backend_pid(), sum(n) FROM gone "
                            f"GROUP BY {groups} HAVING sum(n) <> 0 ORDER BY {groups} "
                            f"ON CONFLICT ({key}, shard) DO UPDATE SET n = t.n + excluded.n"
                        ),
                        c,
                    )
                own = "AND shard = pg_backend_pid() " if postgresql else ""
                s.execute(text(f"DELETE FROM {table} WHERE campaign_id = :c {own}AND n = 0"), c)
            return before - rows()

    @staticmethod
    def recount(s: Session, campaign_id: int) -> CampaignStats:
        """The same counters counted from the contacts and attempts
        themselves (a full pass: what the kept counters must always equal)."""
        c = s.get(Campaign, campaign_id)
        if c is None:
            raise CampaignError(f"кампания {campaign_id} не найдена")
        st = CampaignStats(campaign_id, c.status)
        for status, final, positive, n in s.execute(
            select(Contact.status, Contact.final_result, Contact.positive, func.count())
            .where(Contact.campaign_id == campaign_id)
            .group_by(Contact.status, Contact.final_result, Contact.positive)
        ):
            st.add_contacts(status, final, positive, n)
        CampaignService.add_attempt_stats(s, st)
        return st

    @staticmethod
    def add_attempt_stats(s: Session, st: CampaignStats) -> None:
        """The campaign's phone attempts by result, and those in flight; the
        SMS by their result too (``delivered``/``undelivered``: the monitor
        and the report show them beside the calls)."""
        for channel, result, state, n in s.execute(
            select(Attempt.channel, Attempt.result, Attempt.state, func.count())
            .where(Attempt.campaign_id == st.campaign_id, Attempt.channel.in_(("phone", "sms")))
            .group_by(Attempt.channel, Attempt.result, Attempt.state)
        ):
            CampaignService._add_attempts(st, channel, result, state, n)

    @staticmethod
    def _add_attempts(
        st: CampaignStats, channel: str, result: str | None, state: str, n: int
    ) -> None:
        if channel == "sms":
            if state == AttemptState.DONE and result:
                st.results[result] = st.results.get(result, 0) + n
            return
        st.attempts += n
        if state != AttemptState.DONE:
            st.in_flight += n
        elif result:
            st.results[result] = st.results.get(result, 0) + n

    def maybe_complete(self, session: Session, campaign_id: int) -> bool:
        """Mark a running campaign completed when nothing is left to do."""
        # The kept counters (this transaction's own changes included: the
        # triggers ran with its statements), not a count of the contacts.
        left = session.scalar(
            select(func.coalesce(func.sum(ContactCount.n), 0)).where(
                ContactCount.campaign_id == campaign_id,
                ContactCount.status.in_([ContactStatus.PENDING.value, ContactStatus.DIALING.value]),
            )
        )
        if left:
            return False
        c = session.get(Campaign, campaign_id, with_for_update=True)
        if c is None or c.status != CampaignStatus.RUNNING:
            return False
        c.status = CampaignStatus.COMPLETED.value
        c.finished_at = utcnow()
        log.info("campaign %s completed", campaign_id)
        return True

    def attempts(self, campaign_id: int) -> list[Attempt]:
        with self.db.session(readonly=True) as s:
            return list(
                s.scalars(
                    select(Attempt).where(Attempt.campaign_id == campaign_id).order_by(Attempt.id)
                )
            )

    def recent(self, campaign_id: int, limit: int = 20) -> list[dict[str, Any]]:
        """The campaign's latest finished phone attempts, newest first, with
        the callee and why a call did not reach them (the monitor)."""
        from autoinformer.causes import cause_title

        with self.db.session(readonly=True) as s:
            rows = s.execute(
                select(Attempt, Contact.variables, Account.holder_name)
                .join(Contact, Contact.id == Attempt.contact_id)
                .outerjoin(Account, Account.id == Contact.account_id)
                .where(
                    Attempt.campaign_id == campaign_id,
                    Attempt.ended_at.is_not(None),
                    Attempt.channel == "phone",
                )
                .order_by(Attempt.id.desc())
                .limit(limit)
            ).all()
        return [
            {
                "attempt_id": a.id,
                "callee": str((variables or {}).get("name") or holder or ""),
                "account": str((variables or {}).get("account") or ""),
                "phone": a.phone or "",
                "result": a.result or "",
                "result_title": RESULT_TITLES.get(a.result or "", a.result or ""),
                "cause": cause_title(
                    a.originate_reason,
                    a.hangup_cause,
                    answered=a.answered_at is not None,
                ),
            }
            for a, variables, holder in rows
        ]

    def contacts(self, campaign_id: int) -> list[Contact]:
        with self.db.session(readonly=True) as s:
            return list(
                s.scalars(
                    select(Contact).where(Contact.campaign_id == campaign_id).order_by(Contact.id)
                )
            )

    def timeline(
        self, campaign_id: int, bucket: timedelta = timedelta(hours=1), tz: str = "Europe/Moscow"
    ) -> list[tuple[datetime, Counter[str]]]:
        """Finished attempts by result per time bucket (local time), for charts."""
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(tz)
        buckets: dict[datetime, Counter[str]] = {}
        secs = int(bucket.total_seconds())
        for a in self.attempts(campaign_id):
            result = a.result
            if a.ended_at is None or not result:
                continue
            local = a.ended_at.astimezone(zone)
            epoch = int(local.timestamp())
            start = datetime.fromtimestamp(epoch - epoch % secs, UTC).astimezone(zone)
            buckets.setdefault(start, Counter())[result] += 1
        return sorted(buckets.items())


RESULT_TITLES: Final = {
    "completed": "Прослушано до конца",
    "transferred": "Переведено на оператора",
    "hungup": "Положили трубку",
    "answered": "Ответили",
    "machine": "Автоответчик",
    "busy": "Занято",
    "noanswer": "Не ответили",
    "congestion": "Перегрузка сети",
    "failed": "Ошибка вызова",
    "lost": "Исход неизвестен (перезапуск)",
    "sent": "Письмо отправлено",
    "rejected": "Письмо отклонено",
    "delivered": "СМС доставлено",
    "undelivered": "СМС не доставлено",
    "cancelled": "Отменено",
    "refused": "Запрещено правилами",
}

STATUS_TITLES: Final = {
    "draft": "Черновик",
    "submitted": "На утверждении",
    "approved": "Утверждена",
    "running": "Идёт обзвон",
    "paused": "Приостановлена",
    "stopped": "Остановлена",
    "completed": "Завершена",
}


def status_title(status: str) -> str:
    """The Russian name of a campaign state."""
    return STATUS_TITLES.get(str(status), str(status))


_EDITABLE: Final = frozenset(
    {CampaignStatus.DRAFT, CampaignStatus.SUBMITTED, CampaignStatus.APPROVED}
)
"""States whose settings and list may change (the change sends it back to draft)."""
_STOPPABLE: Final = frozenset(
    {CampaignStatus.APPROVED, CampaignStatus.RUNNING, CampaignStatus.PAUSED}
)

ACTION_TITLES: Final = {
    "submit": "Отправить на утверждение",
    "approve": "Утвердить",
    "refuse": "Вернуть на доработку",
    "launch": "Запустить",
    "pause": "Приостановить",
    "resume": "Продолжить",
    "stop": "Остановить",
}
"""The workflow's actions in the order the console shows them."""

_ACTIONS_BY_STATE: Final[Mapping[str, tuple[str, ...]]] = {
    CampaignStatus.DRAFT: ("submit",),
    CampaignStatus.SUBMITTED: ("approve", "refuse"),
    CampaignStatus.APPROVED: ("launch", "stop"),
    CampaignStatus.RUNNING: ("pause", "stop"),
    CampaignStatus.PAUSED: ("resume", "stop"),
}
_APPROVER_ACTIONS: Final = frozenset({"approve", "refuse"})


def allowed_actions(status: str, role: str, *, edited: bool = False) -> list[str]:
    """What a user of ``role`` may do with a campaign in ``status`` (REQ-O10):
    a dispatcher submits, launches, pauses and stops; only a supervisor
    approves or returns a submission, and approves only what they neither
    created nor changed (``edited``: four eyes)."""
    out = []
    for action in _ACTIONS_BY_STATE.get(str(status), ()):
        if action in _APPROVER_ACTIONS:
            if str(role) not in APPROVER_ROLES or (action == "approve" and edited):
                continue
        out.append(action)
    return out


__all__ += [
    "FINAL_CONTACT_STATUSES",
    "POSITIVE_RESULTS",
    "RESULT_TITLES",
    "STATUS_TITLES",
    "status_title",
]
