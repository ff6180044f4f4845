"""The statistics the standards publish (REQ-A10, REQ-T7; seeds 000 and 004).

One call of :func:`compute` gives every figure of a period — a calendar year
(twelve monthly buckets) or a calendar month (one bucket per day) — read with
a handful of ``GROUP BY`` queries; Python only adds up the few grouped rows,
never the calls or appeals themselves.

Time
----
Periods are calendar periods in the company's time zone (``settings.timezone``).
Each bucket is turned into its UTC bounds ``[start, end)`` once, in Python,
and the database compares the stored UTC timestamps with those bounds: one
``SELECT … WHERE ts >= start AND ts < end GROUP BY …`` per bucket, joined by
``UNION ALL`` — no per-row time-zone conversion and no per-row bucket
expression, so every part is an index range scan (covering indexes of
revision ``1151_statistics_indexes``). The four aggregations (appeals,
queue calls, calls by start, presence) run in parallel, each on its own
connection (see :func:`compute`).

Appeals (``appeals``; the moment is ``received_at``)
----------------------------------------------------
* **total** — every appeal received in the period (any kind, any status);
* **by channel** — in person, phone, answering machine, post, e-mail, web,
  SMS (the stored ``channel`` string; a channel nobody used shows 0, a value
  this module does not know is shown as «другие»);
* **consultations** — ``kind = consultation``; **service requests** —
  ``kind = request`` (seed 000: «591 консультация … 104 заявки»);
* **complaints** — ``kind = complaint`` («претензии и жалобы», seed 004),
  also split by category А / Б / not yet categorised (REQ-A6);
* **share by topic** — appeals with a classification code (REQ-A4) divided
  by *all* appeals of the period (unclassified ones are a row of their own);
  the headline of seed 000 («87 % … технологического присоединения …,
  надежности и качества электроснабжения») is the share of КЭ + С + Се.

Calls (``calls``)
-----------------
* **inbound / outbound calls** — rows by ``direction``, the moment is
  ``started_at`` (IVR-only calls included);
* every queue figure is about **queue calls**: rows with
  ``queue_entered_at`` in the period (the moment is ``queue_entered_at``,
  as in ``crm_bridge.reports``);
* **answered** — queue calls with an operator (``operator_id`` set);
* **abandoned** — ``outcome = 'abandoned'`` (the caller hung up waiting);
* **service level** (REQ-T7) — queue calls with ``answered_within_sla``
  true (connected within 40 s) ÷ all queue calls; **abandon rate** —
  abandoned ÷ queue calls; both None without queue calls;
* **average wait** and **average handling** — exactly
  ``crm_bridge.reports.wait_and_handling`` (the table of seed 004): over
  answered calls, wait = ``queue_left_at − queue_entered_at`` (calls with
  ``queue_left_at``), handling = ``ended_at − queue_left_at`` (calls with
  both), each clamped at 0; shown as ``m:ss`` rounded to whole seconds, a
  dash without calls. The wait is read from ``wait_seconds``, which
  ``CallService`` stores as exactly that difference (the timestamps are used
  when it is missing); durations on SQLite come from ``julianday`` rounded
  to the millisecond.

Operators
---------
* **answered**, **handling total / average** — the answered queue calls of
  the period above, by ``operator_id``;
* **talk**, **wrap-up**, **pause by reason** — ``presence_intervals``
  clipped to the period: an interval counts for
  ``min(ended_at or now, end) − max(started_at, start)`` seconds; talk is
  state ``talking``, wrap-up is state ``wrapup`` (and a pause whose reason
  is ``wrapup``), pauses are state ``paused`` by reason (break, lunch,
  training, post-processing, other).
"""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict, namedtuple
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Float,
    Select,
    String,
    and_,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from crm_bridge.db import Database, UtcDateTime, utcnow
from crm_bridge.models import Appeal, Call, ClassificationCode, Operator
from crm_bridge.reports import MONTHS_RU, REPORT_HEADERS, format_mss
from shift.models import PresenceInterval
from supervision.models import StatsRollup

__all__ = [
    "CHANNELS",
    "Bucket",
    "CallCounts",
    "Cell",
    "Duration",
    "OperatorFigures",
    "Percent",
    "Period",
    "Statistics",
    "StatisticsError",
    "Table",
    "cell_text",
    "channel_modes",
    "compute",
    "drop_rollups",
    "keep_closed_months",
    "period_genitive",
    "period_of",
]

CHANNELS: Final = (
    ("in_person", "Личный приём"),
    ("phone", "Телефон"),
    ("answering_machine", "Автоответчик"),
    ("post", "Почта"),
    ("email", "Электронная почта"),
    ("web", "Интернет-приёмная (сайт)"),
    ("sms", "SMS"),
)
"""Channels in the order of seed 000 and REQ-A10 (stored values, titles)."""
OTHER_CHANNEL: Final = "Другие"
PAUSE_REASONS: Final = (
    ("break", "Перерыв"),
    ("lunch", "Обед"),
    ("training", "Обучение"),
    ("postprocessing", "Постобработка"),
)
OTHER_PAUSE: Final = "Прочие паузы"
WRAPUP: Final = "wrapup"
HEADLINE_TOPICS: Final = ("С", "Се", "КЭ")
HEADLINE_TEXT: Final = "о технологическом присоединении, надёжности и качестве электроснабжения"
MIN_YEAR: Final = 2000
MAX_YEAR: Final = 2100


class StatisticsError(ValueError):
    """A period that cannot be asked for; the message is Russian, for people."""


# -- SQL pieces that differ between SQLite and PostgreSQL ---------------------


class seconds_between(FunctionElement[float]):
    """``end − start`` in seconds (a float) on either dialect."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between)
def _seconds_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION)"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    # julianday() keeps ~20 µs of a modern date: rounded to the millisecond.
    return f"round((julianday({end}) - julianday({start})) * 86400.0, 3)"


class sum_seconds(FunctionElement[float]):  # an SQL aggregate
    """``SUM`` over the rows where ``when`` holds of ``max(end − start, 0)``
    in seconds. PostgreSQL adds intervals and converts the sum once per group
    (a per-row ``EXTRACT`` is numeric arithmetic); SQLite adds seconds."""

    type = Float()
    name = "sum_seconds"
    inherit_cache = True


@compiles(sum_seconds)
def _sum_seconds_pg(element: sum_seconds, compiler: Any, **kw: Any) -> str:
    start, end, when = (compiler.process(c, **kw) for c in element.clauses)
    total = f"SUM(CASE WHEN {when} THEN GREATEST({end} - {start}, INTERVAL '0 seconds') END)"
    return f"CAST(EXTRACT(EPOCH FROM {total}) AS DOUBLE PRECISION)"


@compiles(sum_seconds, "sqlite")
def _sum_seconds_sqlite(element: sum_seconds, compiler: Any, **kw: Any) -> str:
    start, end, when = (compiler.process(c, **kw) for c in element.clauses)
    # Days added up, converted and rounded to the millisecond once per group
    # (julianday() keeps ~20 µs of a modern date).
    days = f"max(julianday({end}) - julianday({start}), 0.0)"
    return f"round(SUM(CASE WHEN {when} THEN {days} END) * 86400.0, 3)"


class sum_clipped_seconds(FunctionElement[float]):  # an SQL aggregate
    """``SUM`` of ``min(ended or upper, upper) − max(started, lower)`` in
    seconds: intervals clipped to ``[lower, upper)`` (rows known to overlap it).
    Only the rows that cross an edge are clipped: the others (nearly all)
    cost one subtraction."""

    type = Float()
    name = "sum_clipped_seconds"
    inherit_cache = True


def _clipped_parts(element: sum_clipped_seconds, compiler: Any, **kw: Any) -> tuple[str, ...]:
    started, ended, lower, upper = (compiler.process(c, **kw) for c in element.clauses)
    inside = f"{started} >= {lower} AND {ended} IS NOT NULL AND {ended} <= {upper}"
    return started, ended, lower, upper, inside


@compiles(sum_clipped_seconds)
def _sum_clipped_pg(element: sum_clipped_seconds, compiler: Any, **kw: Any) -> str:
    started, ended, lower, upper, inside = _clipped_parts(element, compiler, **kw)
    clipped = f"LEAST(COALESCE({ended}, {upper}), {upper}) - GREATEST({started}, {lower})"
    total = f"SUM(CASE WHEN {inside} THEN {ended} - {started} ELSE {clipped} END)"
    return f"CAST(EXTRACT(EPOCH FROM {total}) AS DOUBLE PRECISION)"


@compiles(sum_clipped_seconds, "sqlite")
def _sum_clipped_sqlite(element: sum_clipped_seconds, compiler: Any, **kw: Any) -> str:
    started, ended, lower, upper, inside = _clipped_parts(element, compiler, **kw)
    clipped = (
        f"max(julianday(min(coalesce({ended}, {upper}), {upper}))"
        f" - julianday(max({started}, {lower})), 0.0)"
    )
    days = f"CASE WHEN {inside} THEN julianday({ended}) - julianday({started}) ELSE {clipped} END"
    return f"round(SUM({days}) * 86400.0, 3)"


class greatest(FunctionElement[Any]):
    """The larger of two values (SQLite's two-argument ``max``)."""

    name = "greatest"
    inherit_cache = True


def _arguments(element: FunctionElement[Any], compiler: Any, **kw: Any) -> str:
    return ", ".join(compiler.process(c, **kw) for c in element.clauses)


@compiles(greatest)
def _greatest(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"GREATEST({_arguments(element, compiler, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"max({_arguments(element, compiler, **kw)})"


def _at(moment: datetime) -> ColumnElement[datetime]:
    """A bound timestamp, stored the way the columns are (UTC)."""
    return literal(moment, UtcDateTime())


# -- periods -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bucket:
    """A month of a year or a day of a month: ``[start, end)`` in UTC."""

    index: int
    label: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Period:
    year: int
    month: int | None
    zone: ZoneInfo
    buckets: tuple[Bucket, ...]

    @property
    def start(self) -> datetime:
        return self.buckets[0].start

    @property
    def end(self) -> datetime:
        return self.buckets[-1].end

    @property
    def title(self) -> str:
        if self.month is None:
            return f"{self.year} год"
        return f"{MONTHS_RU[self.month - 1]} {self.year} года"

    @property
    def bucket_title(self) -> str:
        return "Месяц" if self.month is None else "День"


def period_of(year: int, month: int | None, zone: ZoneInfo | str) -> Period:
    """The year (buckets: months) or the month (buckets: days) in ``zone``."""
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise StatisticsError(f"год должен быть от {MIN_YEAR} до {MAX_YEAR}")
    if month is not None and not 1 <= month <= 12:
        raise StatisticsError("месяц должен быть от 1 до 12")

    def local(y: int, m: int, d: int = 1) -> datetime:
        return datetime(y, m, d, tzinfo=tz).astimezone(UTC)

    buckets: list[Bucket] = []
    if month is None:
        for m in range(1, 13):
            end = local(year + 1, 1) if m == 12 else local(year, m + 1)
            buckets.append(Bucket(m, MONTHS_RU[m - 1], local(year, m), end))
    else:
        days = calendar.monthrange(year, month)[1]
        for d in range(1, days + 1):
            if d < days:
                end = local(year, month, d + 1)
            else:
                end = local(year + 1, 1) if month == 12 else local(year, month + 1)
            buckets.append(Bucket(d, f"{d:02d}.{month:02d}", local(year, month, d), end))
    return Period(year, month, tz, tuple(buckets))


def _per_bucket(
    period: Period, column: Any, keys: Sequence[Any], aggregates: Sequence[Any]
) -> Executable:
    """``UNION ALL`` of one aggregate per bucket: ``SELECT <index>, keys,
    aggregates WHERE start <= column < end GROUP BY keys``. Each part is an
    index range scan (the indexes of 1151_statistics_indexes cover every
    column read); no per-row bucket expression and no sort of the whole
    period by bucket."""
    parts = [
        select(literal(b.index).label("b"), *keys, *aggregates)
        .where(column >= _at(b.start), column < _at(b.end))
        .group_by(*keys)
        for b in period.buckets
    ]
    return union_all(*parts)


# -- figures -----------------------------------------------------------------


@dataclass(slots=True)
class AppealCounts:
    total: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    by_topic: Counter[str | None] = field(default_factory=Counter)
    complaints_by_category: Counter[str | None] = field(default_factory=Counter)

    def add(self, channel: str, kind: str, topic: str | None, category: str | None, n: int) -> None:
        self.total += n
        self.by_channel[channel] += n
        self.by_kind[kind] += n
        self.by_topic[topic] += n
        if kind == "complaint":
            self.complaints_by_category[category] += n

    @property
    def complaints(self) -> int:
        return self.by_kind["complaint"]

    @property
    def consultations(self) -> int:
        return self.by_kind["consultation"]

    @property
    def requests(self) -> int:
        return self.by_kind["request"]

    def share(self, n: int) -> float | None:
        return n / self.total if self.total else None

    @property
    def headline_share(self) -> float | None:
        """Seed 000: the share about connection and supply quality."""
        return self.share(sum(self.by_topic[t] for t in HEADLINE_TOPICS))


@dataclass(slots=True)
class CallCounts:
    inbound: int = 0
    outbound: int = 0
    queued: int = 0
    answered: int = 0
    abandoned: int = 0
    within_sla: int = 0
    wait_sum: float = 0.0
    wait_n: int = 0
    handling_sum: float = 0.0
    handling_n: int = 0

    def add_queue(self, row: Any) -> None:
        self.queued += row.queued
        self.answered += row.answered
        self.abandoned += row.abandoned or 0
        self.within_sla += row.within_sla or 0
        self.wait_sum += float(row.wait_sum or 0.0)
        self.wait_n += int(row.wait_n or 0)
        self.handling_sum += float(row.handling_sum or 0.0)
        self.handling_n += int(row.handling_n or 0)

    @property
    def service_level(self) -> float | None:
        return self.within_sla / self.queued if self.queued else None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.queued if self.queued else None

    @property
    def avg_wait(self) -> float | None:
        return self.wait_sum / self.wait_n if self.wait_n else None

    @property
    def avg_handling(self) -> float | None:
        return self.handling_sum / self.handling_n if self.handling_n else None


@dataclass(slots=True)
class OperatorFigures:
    operator_id: int
    name: str = ""
    answered: int = 0
    handling_sum: float = 0.0
    handling_n: int = 0
    talk: float = 0.0
    wrapup: float = 0.0
    pauses: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Seconds by pause reason (``other`` for a reason this module does not know)."""

    @property
    def avg_handling(self) -> float | None:
        return self.handling_sum / self.handling_n if self.handling_n else None

    @property
    def pause_total(self) -> float:
        return sum(self.pauses.values())


@dataclass(slots=True)
class Statistics:
    period: Period
    appeals: AppealCounts
    appeals_by_bucket: dict[int, AppealCounts]
    calls: CallCounts
    calls_by_bucket: dict[int, CallCounts]
    operators: list[OperatorFigures]
    computed_at: datetime
    months_to_keep: bool = False
    """Closed months whose rows were read but not kept (the page then asks
    for them to be kept in the background: :func:`keep_closed_months`)."""

    def appeals_in(self, index: int) -> AppealCounts:
        return self.appeals_by_bucket.get(index) or AppealCounts()

    def calls_in(self, index: int) -> CallCounts:
        return self.calls_by_bucket.get(index) or CallCounts()


def compute(
    db: Database, year: int, month: int | None, *, tz: ZoneInfo | str, now: datetime | None = None
) -> Statistics:
    """Every figure of the year or the month (see the module docstring).

    Four independent aggregations (appeals; queue calls by bucket and
    operator; calls by start and direction; presence by operator, state and
    reason) run at once, each on its own connection: a year of a busy centre
    is millions of rows per table, and the database works on them in
    parallel. Each returns at most a few hundred grouped rows."""
    period = period_of(year, month, tz)
    moment = now or utcnow()
    to_keep = False
    if period.month is None:  # a year: closed months from their rollups
        (appeal_rows, queue_rows, started_rows, presence_rows), to_keep = _year_rows(
            db, period, moment
        )
    else:
        appeal_rows, queue_rows, started_rows, presence_rows = _read_all(
            db,
            (
                _appeals_query(period),
                _queue_query(period),
                _started_query(period),
                _presence_query(period, moment),
            ),
        )
    appeals, appeals_by_bucket = _merge_appeals(appeal_rows)
    calls, calls_by_bucket, per_operator = _merge_calls(queue_rows, started_rows)
    _merge_presence(presence_rows, per_operator)
    if per_operator:
        with db.session(readonly=True) as session:
            stmt = select(Operator.id, Operator.name).where(Operator.id.in_(list(per_operator)))
            for operator_id, name in session.execute(stmt):
                per_operator[operator_id].name = name
    operators = sorted(per_operator.values(), key=lambda o: (o.name, o.operator_id))
    return Statistics(
        period, appeals, appeals_by_bucket, calls, calls_by_bucket, operators, moment, to_keep
    )


def _read_all(db: Database, queries: Sequence[Executable]) -> list[list[Any]]:
    """The grouped rows of each query, read in parallel (an in-memory SQLite
    database has one shared connection: read one after another there)."""
    return [rows for _, rows in _read_keyed(db, queries)]


def _read_keyed(db: Database, queries: Sequence[Executable]) -> list[tuple[list[str], list[Any]]]:
    """Like :func:`_read_all`, with each result's column names."""

    def read(stmt: Executable) -> tuple[list[str], list[Any]]:
        with db.session(readonly=True) as session:
            result = session.execute(stmt)
            return list(result.keys()), list(result)

    if db.dialect == "sqlite" and db.url.database in (None, "", ":memory:"):
        return [read(q) for q in queries]
    with ThreadPoolExecutor(max_workers=min(4, len(queries)), thread_name_prefix="stats") as pool:
        return list(pool.map(read, queries))


# -- the year: closed months from their rollups ----------------------------------

ROLLUP_SETTLE: Final = timedelta(days=2)
"""A month's calls and presence intervals are final this long after its end
(a call still open at midnight has ended, even across a node's restart)."""
PRESENCE_MONTHS_AT_ONCE: Final = 2
"""A page keeps at most this many months' presence itself (see :func:`_year_rows`)."""
ROLLED: Final = ("queue", "started", "presence")
"""The queries of a year kept per closed month (``stats_rollups``). Appeals
are always read afresh: a correction of an old appeal's classification
changes its month's topics."""


def _rolled_query(kind: str, period: Period, now: datetime) -> Executable:
    if kind == "queue":
        return _queue_query(period)
    if kind == "started":
        return _started_query(period)
    return _presence_query(period, now, index=0)


def _year_rows(
    db: Database, period: Period, now: datetime, *, keep_all: bool = False
) -> tuple[tuple[list[Any], list[Any], list[Any], list[Any]], bool]:
    """The four queries' rows for a year: each month that closed at least
    :data:`ROLLUP_SETTLE` ago from its rollup (the months not kept yet read
    in one statement per query, split by month and kept), the open months
    and the appeals read afresh; the statements run in parallel.

    The presence of a month is clipped to it, one index scan per month: a
    page that finds more than :data:`PRESENCE_MONTHS_AT_ONCE` consecutive
    months not kept reads their presence in one scan and leaves keeping it
    to :func:`keep_closed_months` (``keep_all``: the daily job)."""
    zone = period.zone.key
    closed = [b for b in period.buckets if b.end + ROLLUP_SETTLE <= now]
    live = tuple(b for b in period.buckets if b.end + ROLLUP_SETTLE > now)
    stored = _load_rollups(db, zone, [b.start for b in closed])
    jobs: list[tuple[str, bool]] = [("appeals", False)]
    queries: list[Executable] = [_appeals_query(period)]
    unkept = False
    for kind in ROLLED:
        missing = tuple(b for b in closed if (kind, b.start) not in stored)
        span = Period(period.year, None, period.zone, missing)
        if (
            kind == "presence"
            and not keep_all
            and len(missing) > PRESENCE_MONTHS_AT_ONCE
            and [b.index for b in missing] == list(range(missing[0].index, missing[-1].index + 1))
        ):
            jobs.append((kind, False))  # one scan over the months together, not kept
            unkept = True
            queries.append(_presence_query(span, now))
        elif missing:
            jobs.append((kind, True))
            queries.append(_bucketed_query(kind, span, now))
        if live:  # the trailing months: this one, the one just closed, the future
            jobs.append((kind, False))
            queries.append(_bucketed_query(kind, Period(period.year, None, period.zone, live), now))
    out: dict[str, list[Any]] = {"appeals": [], **{kind: [] for kind in ROLLED}}
    fresh: list[tuple[str, Bucket, list[str], list[Any]]] = []
    by_index = {b.index: b for b in closed}
    for (kind, keep), (columns, rows) in zip(jobs, _read_keyed(db, queries), strict=True):
        out[kind] += rows
        if keep:
            months: dict[int, list[Any]] = {b.index: [] for b in closed}
            for row in rows:
                months[int(row.b)].append(row)
            fresh += [
                (kind, by_index[index], columns, month_rows)
                for index, month_rows in months.items()
                if (kind, by_index[index].start) not in stored
            ]
    for (kind, _), (columns, rows) in stored.items():
        out[kind] += _rebuilt(columns, rows)
    if fresh:
        _store_rollups(db, zone, fresh)
    return (out["appeals"], out["queue"], out["started"], out["presence"]), unkept


def _bucketed_query(kind: str, period: Period, now: datetime) -> Executable:
    """The query ``kind`` per bucket of ``period`` (its rows carry ``b``)."""
    if kind != "presence":
        return _rolled_query(kind, period, now)
    parts = [
        _presence_query(Period(period.year, b.index, period.zone, (b,)), now, index=b.index)
        for b in period.buckets
    ]
    return union_all(*parts)


def _rebuilt(columns: list[str], rows: list[list[Any]]) -> list[Any]:
    """Stored rows as rows again (by position and by name)."""
    row_type = namedtuple("Row", columns, rename=True)  # type: ignore[misc]
    return [row_type(*r) for r in rows]


def _load_rollups(
    db: Database, zone: str, starts: list[datetime]
) -> dict[tuple[str, datetime], tuple[list[str], list[list[Any]]]]:
    if not starts:
        return {}
    with db.session(readonly=True) as session:
        found = session.execute(
            select(
                StatsRollup.kind, StatsRollup.month_start, StatsRollup.columns, StatsRollup.rows
            ).where(StatsRollup.zone == zone, StatsRollup.month_start.in_(starts))
        )
        return {(r.kind, r.month_start): (list(r.columns), list(r.rows)) for r in found}


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _store_rollups(
    db: Database, zone: str, fresh: list[tuple[str, Bucket, list[str], list[Any]]]
) -> None:
    """Keep the closed months' rows (another node's same rows win a race)."""
    maker = pg_insert if db.dialect == "postgresql" else sqlite_insert
    values = [
        {
            "kind": kind,
            "zone": zone,
            "month_start": bucket.start,
            "columns": columns,
            "rows": [[_plain(v) for v in row] for row in rows],
            "computed_at": utcnow(),
        }
        for kind, bucket, columns, rows in fresh
    ]
    with db.transaction(write=True) as conn:
        conn.execute(
            maker(StatsRollup)
            .values(values)
            .on_conflict_do_nothing(index_elements=["kind", "zone", "month_start"])
        )


def keep_closed_months(
    db: Database,
    *,
    tz: ZoneInfo | str,
    now: datetime | None = None,
    years: Sequence[int] | None = None,
) -> None:
    """Keep the closed months of ``years`` (by default this year, and the
    last one in January) — what the first reader of a year would otherwise
    wait for. Run daily by the ``digest`` component; cheap once kept."""
    moment = now or utcnow()
    local = moment.astimezone(tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz))
    if years is None:
        years = [local.year - 1, local.year] if local.month == 1 else [local.year]
    for year in years:
        _year_rows(db, period_of(year, None, tz), moment, keep_all=True)


def drop_rollups(db: Database) -> int:
    """Forget every kept month (they are computed again when next read)."""
    with db.transaction(write=True) as conn:
        return int(conn.execute(delete(StatsRollup)).rowcount or 0)


def _appeals_query(period: Period) -> Executable:
    keys = (
        _raw(Appeal.channel).label("channel"),
        _raw(Appeal.kind).label("kind"),
        _raw(Appeal.classification).label("classification"),
        _raw(Appeal.complaint_category).label("complaint_category"),
    )
    return _per_bucket(period, Appeal.received_at, keys, [func.count().label("n")])


def _merge_appeals(rows: Iterable[Any]) -> tuple[AppealCounts, dict[int, AppealCounts]]:
    total = AppealCounts()
    by_bucket: dict[int, AppealCounts] = {}
    # Raw strings: a channel another part adds (``sms``) counts without an enum.
    for b, channel, kind, topic, category, n in rows:
        args = (_value(channel), _value(kind), _opt(topic), _opt(category), int(n))
        total.add(*args)
        by_bucket.setdefault(int(b), AppealCounts()).add(*args)
    return total, by_bucket


def _raw(column: Any) -> ColumnElement[str]:
    """The stored string of an enum column, not the enum: a value another part
    adds later (``sms``) is counted, not refused."""
    return type_coerce(column, String())


def _value(v: Any) -> str:
    return str(getattr(v, "value", v))


def _opt(v: Any) -> str | None:
    return None if v is None else _value(v)


def _queue_query(period: Period) -> Executable:
    answered = Call.operator_id.is_not(None)
    waited = and_(answered, Call.queue_left_at.is_not(None))
    handled = and_(waited, Call.ended_at.is_not(None))
    # wait_seconds is queue_left_at − queue_entered_at, stored by CallService on
    # every write (no date arithmetic per row); the timestamps when it is missing.
    wait = greatest(
        func.coalesce(
            Call.wait_seconds, seconds_between(Call.queue_entered_at, Call.queue_left_at)
        ),
        0.0,
    )
    return _per_bucket(
        period,
        Call.queue_entered_at,
        [Call.operator_id],
        [
            func.count().label("queued"),
            func.count(Call.operator_id).label("answered"),
            func.sum(case((Call.outcome == "abandoned", 1), else_=0)).label("abandoned"),
            func.sum(case((Call.answered_within_sla.is_(True), 1), else_=0)).label("within_sla"),
            func.sum(case((waited, wait))).label("wait_sum"),
            func.sum(case((waited, 1), else_=0)).label("wait_n"),
            sum_seconds(Call.queue_left_at, Call.ended_at, handled).label("handling_sum"),
            func.sum(case((handled, 1), else_=0)).label("handling_n"),
        ],
    )


def _started_query(period: Period) -> Executable:
    return _per_bucket(
        period, Call.started_at, [_raw(Call.direction).label("d")], [func.count().label("n")]
    )


def _merge_calls(
    queue_rows: Iterable[Any], started_rows: Iterable[Any]
) -> tuple[CallCounts, dict[int, CallCounts], dict[int, OperatorFigures]]:
    total = CallCounts()
    by_bucket: dict[int, CallCounts] = {}
    operators: dict[int, OperatorFigures] = {}
    for row in queue_rows:
        total.add_queue(row)
        by_bucket.setdefault(int(row.b), CallCounts()).add_queue(row)
        if row.operator_id is not None:
            op = operators.setdefault(row.operator_id, OperatorFigures(row.operator_id))
            op.answered += row.answered
            op.handling_sum += float(row.handling_sum or 0.0)
            op.handling_n += int(row.handling_n or 0)
    for b, direction, n in started_rows:
        counts = by_bucket.setdefault(int(b), CallCounts())
        if _value(direction) == "out":
            counts.outbound += n
            total.outbound += n
        else:
            counts.inbound += n
            total.inbound += n
    return total, by_bucket, operators


def _presence_query(
    period: Period, now: datetime, *, index: int = 0
) -> Select[int, str, int, str | None, float]:
    """Seconds by (state, operator, reason) over the whole period (``b`` is
    ``index``), grouped in the order of the covering index
    ``ix_presence_intervals_stats`` (no sort)."""
    upper = min(period.end, max(now, period.start))
    pi = PresenceInterval
    seconds = sum_clipped_seconds(pi.started_at, pi.ended_at, _at(period.start), _at(upper))
    keys = (pi.state, pi.operator_id, pi.reason)
    return (
        select(literal(index).label("b"), *keys, seconds)
        .where(
            pi.state.in_(("talking", "wrapup", "paused")),
            pi.started_at < _at(upper),
            or_(pi.ended_at.is_(None), pi.ended_at > _at(period.start)),
        )
        .group_by(*keys)
    )


def _merge_presence(rows: Iterable[Any], operators: dict[int, OperatorFigures]) -> None:
    known = {r for r, _ in PAUSE_REASONS}
    for row in rows:
        state, operator_id, reason, total = tuple(row)[-4:]  # after the bucket
        secs = max(0.0, float(total or 0.0))
        op = operators.setdefault(operator_id, OperatorFigures(operator_id))
        if state == "talking":
            op.talk += secs
        elif state == "wrapup" or reason == WRAPUP:
            op.wrapup += secs
        else:
            op.pauses[reason if reason in known else "other"] += secs


# -- tables: the same rows for the page, the workbook and the command line ----


@dataclass(frozen=True, slots=True)
class Percent:
    value: float | None


@dataclass(frozen=True, slots=True)
class Duration:
    seconds: float | None
    long: bool = False
    """``h:mm:ss`` (totals of a period) instead of ``m:ss``."""


Cell = str | int | Percent | Duration | None
DASH: Final = "—"


def format_percent(value: float | None) -> str:
    """``87 %``, ``12,5 %``; a dash for None."""
    if value is None:
        return DASH
    pct = round(value * 100, 1)
    text = f"{pct:.0f}" if pct == int(pct) else f"{pct:.1f}".replace(".", ",")
    return f"{text}\u00a0%"


def format_hms(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    total = round(seconds)
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


def cell_text(cell: Cell) -> str:
    if cell is None:
        return DASH
    if isinstance(cell, Percent):
        return format_percent(cell.value)
    if isinstance(cell, Duration):
        return format_hms(cell.seconds) if cell.long else format_mss(cell.seconds)
    return str(cell)


@dataclass(frozen=True, slots=True)
class Table:
    key: str
    """A stable name (sheet names, element ids, tests)."""
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]

    def text_rows(self) -> list[list[str]]:
        return [[cell_text(c) for c in row] for row in self.rows]


def channel_title(value: str) -> str:
    return dict(CHANNELS).get(value, OTHER_CHANNEL)


def summary_table(s: Statistics) -> Table:
    a, c = s.appeals, s.calls
    rows: list[tuple[Cell, ...]] = [
        ("Обращений всего", a.total, None),
        ("из них претензий и жалоб", a.complaints, Percent(a.share(a.complaints))),
        ("Консультаций", a.consultations, Percent(a.share(a.consultations))),
        ("Заявок на услуги", a.requests, Percent(a.share(a.requests))),
        (f"Обращений {HEADLINE_TEXT}", None, Percent(a.headline_share)),
        ("Входящих вызовов", c.inbound, None),
        ("Исходящих вызовов", c.outbound, None),
        ("Вызовов в очереди к операторам", c.queued, None),
        ("Принято операторами", c.answered, Percent(c.answered / c.queued if c.queued else None)),
        ("Потеряно (абонент не дождался)", c.abandoned, Percent(c.abandon_rate)),
        ("Уровень обслуживания (ответ за 40 с)", c.within_sla, Percent(c.service_level)),
        ("Среднее время ожидания ответа оператора", Duration(c.avg_wait), None),
        ("Среднее время обслуживания", Duration(c.avg_handling), None),
    ]
    return Table(
        "summary",
        f"Сводка за {period_genitive(s.period)}",
        ("Показатель", "Значение", "Доля"),
        tuple(rows),
    )


def period_genitive(p: Period) -> str:
    if p.month is None:
        return f"{p.year} год"
    return f"{MONTHS_RU[p.month - 1].lower()} {p.year} года"


def channel_table(s: Statistics) -> Table:
    a = s.appeals
    rows: list[tuple[Cell, ...]] = [
        (title, a.by_channel[value], Percent(a.share(a.by_channel[value])))
        for value, title in CHANNELS
    ]
    known = {v for v, _ in CHANNELS}
    other = sum(n for ch, n in a.by_channel.items() if ch not in known)
    if other:
        rows.append((OTHER_CHANNEL, other, Percent(a.share(other))))
    rows.append(("Всего", a.total, Percent(1.0 if a.total else None)))
    return Table("channels", "Обращения по каналам", ("Канал", "Обращений", "Доля"), tuple(rows))


def kind_table(s: Statistics) -> Table:
    a = s.appeals
    cat = a.complaints_by_category
    other = a.total - a.consultations - a.requests - a.complaints
    rows: list[tuple[Cell, ...]] = [
        ("Консультации", a.consultations, Percent(a.share(a.consultations))),
        ("Заявки на услуги", a.requests, Percent(a.share(a.requests))),
        ("Претензии и жалобы", a.complaints, Percent(a.share(a.complaints))),
        ("  категория А (типовые)", cat["А"], Percent(a.share(cat["А"]))),
        ("  категория Б (требуют анализа)", cat["Б"], Percent(a.share(cat["Б"]))),
        ("  категория не определена", cat[None], Percent(a.share(cat[None]))),
        ("Прочие обращения", other, Percent(a.share(other))),
    ]
    return Table(
        "kinds", "Консультации, заявки и жалобы", ("Вид", "Обращений", "Доля от всех"), tuple(rows)
    )


def topic_table(s: Statistics) -> Table:
    a = s.appeals
    rows: list[tuple[Cell, ...]] = [
        (
            f"{code.value} — {code.title_ru}",
            a.by_topic[code.value],
            Percent(a.share(a.by_topic[code.value])),
        )
        for code in ClassificationCode
    ]
    rows.append(("Без классификации", a.by_topic[None], Percent(a.share(a.by_topic[None]))))
    return Table("topics", "Обращения по темам", ("Тема", "Обращений", "Доля от всех"), tuple(rows))


def calls_table(s: Statistics) -> Table:
    rows: list[tuple[Cell, ...]] = []

    def row(label: str, c: CallCounts) -> tuple[Cell, ...]:
        return (
            label,
            c.inbound,
            c.queued,
            c.answered,
            c.abandoned,
            Percent(c.service_level),
            Percent(c.abandon_rate),
            Duration(c.avg_wait),
            Duration(c.avg_handling),
        )

    rows += [row(b.label, s.calls_in(b.index)) for b in s.period.buckets]
    rows.append(row("Итого", s.calls))
    return Table(
        "calls",
        "Звонки",
        (
            s.period.bucket_title,
            "Входящих",
            "В очереди",
            "Принято",
            "Потеряно",
            "Уровень обслуживания (40 с)",
            "Доля потерянных",
            "Среднее ожидание",
            "Среднее обслуживание",
        ),
        tuple(rows),
    )


def appeals_by_bucket_table(s: Statistics) -> Table:
    rows: list[tuple[Cell, ...]] = []
    for b in s.period.buckets:
        a = s.appeals_in(b.index)
        rows.append((b.label, a.total, a.complaints, a.consultations, a.requests))
    a = s.appeals
    rows.append(("Итого", a.total, a.complaints, a.consultations, a.requests))
    return Table(
        "appeals",
        "Обращения",
        (s.period.bucket_title, "Обращений", "Жалоб", "Консультаций", "Заявок"),
        tuple(rows),
    )


def wait_handling_table(s: Statistics) -> Table:
    """Seed 004's table «Среднее время обслуживания и ожидания» (a year: 12 rows)."""
    rows = tuple(
        (
            b.label,
            Duration(s.calls_in(b.index).avg_wait),
            Duration(s.calls_in(b.index).avg_handling),
        )
        for b in s.period.buckets
    )
    return Table(
        "wait_handling",
        f"Среднее время обслуживания и ожидания за {period_genitive(s.period)}",
        (s.period.bucket_title if s.period.month else REPORT_HEADERS[0], *REPORT_HEADERS[1:]),
        rows,
    )


def operators_table(s: Statistics) -> Table:
    rows: list[tuple[Cell, ...]] = []
    for o in s.operators:
        rows.append(
            (
                o.name or f"№ {o.operator_id}",
                o.answered,
                Duration(o.handling_sum, long=True),
                Duration(o.avg_handling),
                Duration(o.talk, long=True),
                Duration(o.wrapup, long=True),
                *(Duration(o.pauses[r], long=True) for r, _ in PAUSE_REASONS),
                Duration(o.pauses["other"], long=True),
                Duration(o.pause_total, long=True),
            )
        )
    return Table(
        "operators",
        "Операторы",
        (
            "Оператор",
            "Принято звонков",
            "Обслуживание всего",
            "Обслуживание в среднем",
            "Разговор",
            "Обработка после звонка",
            *(title for _, title in PAUSE_REASONS),
            OTHER_PAUSE,
            "Паузы всего",
        ),
        tuple(rows),
    )


def tables(s: Statistics) -> list[Table]:
    """Every table of the page, the workbook and the command, in their order."""
    return [
        summary_table(s),
        appeals_by_bucket_table(s),
        channel_table(s),
        kind_table(s),
        topic_table(s),
        calls_table(s),
        wait_handling_table(s),
        operators_table(s),
    ]


def headline(s: Statistics) -> str:
    """Seed 004's sentence: total appeals and complaints among them."""
    what = (
        f"за {s.period.year} год" if s.period.month is None else f"за {period_genitive(s.period)}"
    )
    return (
        f"Общее количество обращений {what} составило {s.appeals.total}, "
        f"из них претензии и жалоб {s.appeals.complaints}."
    )


def channels_sentence(s: Statistics) -> str:
    """Seed 000's sentence: appeals by channel."""
    a = s.appeals
    parts = [
        f"{title if title.isupper() else title.lower()} – {a.by_channel[v]}"
        for v, title in CHANNELS
    ]
    return f"Поступило {a.total} обращений: " + ", ".join(parts) + "."


DAYS_RU: Final = ("пн.", "вт.", "ср.", "чт.", "пт.", "сб.", "вс.")


def operator_hours(working_hours: str) -> str:
    """``mon-fri 08:00-17:00`` → ``пн. – пт. с 08:00 до 17:00`` (seed 004's wording)."""
    from ivr.schedule import WeeklySchedule

    days = WeeklySchedule.parse(working_hours).days
    clauses: list[str] = []
    i = 0
    while i < 7:
        j = i
        while j + 1 < 7 and days[j + 1] == days[i]:
            j += 1
        if days[i]:
            head = DAYS_RU[i] if i == j else f"{DAYS_RU[i]} – {DAYS_RU[j]}"
            spans = (str(iv).split("-", 1) for iv in days[i])
            clauses.append(f"{head} " + ", ".join(f"с {a} до {b}" for a, b in spans))
        i = j + 1
    return "; ".join(clauses) if clauses else "не работает"


def channel_modes(working_hours: str) -> list[tuple[str, str]]:
    """«Режимы работы каналов» of seed 004, from what the system itself does:
    operators keep ``settings.working_hours`` (REQ-T2), the voice menu works
    around the clock (REQ-T16), the answering machine takes the calls outside
    the operators' hours (REQ-T3)."""
    return [
        ("Контакт-центр", f"Оператор: {operator_hours(working_hours)}"),
        ("Интерактивный помощник в КЦ (голосовое меню)", "Круглосуточно"),
        ("Автоответчик", "В нерабочее время операторов"),
    ]
