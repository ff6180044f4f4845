"""Contact lists as Russian offices prepare them (REQ-O2): reading the file.

What an office sends is rarely a clean table with English headers:

* **headers** in Russian with their synonyms («Телефон», «Номер телефона»,
  «Тел.», «Лицевой счёт», «ЛС», «Л/С», «Сумма долга, руб.», «Задолженность»,
  «Дата отключения с», «ФИО», «Адрес»…), matched after folding case, «ё»,
  punctuation and units; the English names (``phone``, ``account``…) still
  work, and an unknown header is kept as a variable under its own name;
* the **header below title rows** («Список должников на 01.12.2026», a blank
  line): the header is the first of the first :data:`HEADER_SCAN` rows that
  names a phone or an account column;
* **CSV** in UTF-8 (with or without BOM) or Windows-1251, separated by ``;``
  or ``,`` (or a tab); **XLSX** (the first sheet), recognised by its content
  whatever its name says;
* **dates** ДД.ММ.ГГГГ, ДД.ММ.ГГГГ ЧЧ:ММ[:СС] and ISO (and real date cells of
  an XLSX), stored as ISO; a period «20.12.2026 10:00 – 20.12.2026 18:00» (or
  «… 10:00–18:00») in one «Дата отключения с/по» column is split in two;
* **amounts** «1 234,50», «1234,50 ₽» stored as ``1234.50``.

Every refusal of the whole file is a :class:`ListFileError` with a Russian
message naming the line where it can (a binary or garbled file, an unknown
encoding, no header); a refusal of one row is a :class:`CellError` that the
importer turns into a rejected row with its reason.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from core.tabular import MAX_ROWS, TableLimitError, check_xlsx

__all__ = [
    "CANONICAL_TITLES",
    "HEADER_SCAN",
    "CellError",
    "ListFileError",
    "normalise_cell",
    "parse_date",
    "parse_datetime",
    "parse_money",
    "read_list",
]

HEADER_SCAN: Final = 30
"""Rows searched for the header (title rows above it are skipped)."""

DATE_COLUMNS: Final = frozenset({"due_date", "tariff_from", "debt_as_of"})
DATETIME_COLUMNS: Final = frozenset({"outage_from", "outage_to"})
MONEY_COLUMNS: Final = frozenset({"debt"})
PERIOD_COLUMN: Final = "outage_period"
"""One column holding the whole period: split into outage_from/outage_to."""

# Canonical name → its synonyms (as people write them; folded by _fold).
_SYNONYMS: Final[Mapping[str, tuple[str, ...]]] = {
    "phone": (
        "phone",
        "phone number",
        "телефон",
        "тел",
        "номер",
        "номер телефона",
        "телефон абонента",
        "контактный телефон",
        "мобильный телефон",
        "моб телефон",
        "сотовый телефон",
        "телефон для связи",
    ),
    "account": (
        "account",
        "лицевой счет",
        "лицевой",
        "лиц счет",
        "лс",
        "л с",
        "номер лс",
        "номер л с",
        "номер лицевого счета",
        "счет",
    ),
    "email": ("email", "e mail", "эл почта", "электронная почта", "почта", "адрес эл почты"),
    "debt": (
        "debt",
        "задолженность",
        "сумма долга",
        "сумма задолженности",
        "долг",
        "сумма",
        "к оплате",
        "сумма к оплате",
    ),
    "debt_as_of": ("debt_as_of", "долг на дату", "задолженность на дату", "дата долга"),
    "due_date": ("due_date", "срок оплаты", "оплатить до", "дата оплаты", "крайний срок оплаты"),
    "outage_from": (
        "outage_from",
        "дата отключения с",
        "отключение с",
        "начало отключения",
        "дата и время отключения",
        "дата отключения",
        "с",
    ),
    "outage_to": (
        "outage_to",
        "дата отключения по",
        "отключение по",
        "окончание отключения",
        "дата включения",
        "дата и время включения",
        "по",
    ),
    PERIOD_COLUMN: ("дата отключения с по", "период отключения", "отключение с по", "период"),
    "tariff_from": ("tariff_from", "дата изменения тарифа", "тариф с", "новый тариф с"),
    "timezone": ("timezone", "часовой пояс"),
    "reason": ("reason", "причина", "основание"),
    "name": ("name", "фио", "ф и о", "абонент", "потребитель", "фамилия имя отчество"),
    "address": ("address", "адрес", "адрес абонента", "адрес объекта", "адрес потребителя"),
}

CANONICAL_TITLES: Final[Mapping[str, str]] = {
    "phone": "Телефон",
    "account": "Лицевой счёт",
    "email": "Эл. почта",
    "debt": "Сумма долга",
    "debt_as_of": "Долг на дату",
    "due_date": "Срок оплаты",
    "outage_from": "Дата отключения с",
    "outage_to": "Дата отключения по",
    PERIOD_COLUMN: "Дата отключения с/по",
    "tariff_from": "Дата изменения тарифа",
    "timezone": "Часовой пояс",
    "name": "ФИО",
    "address": "Адрес",
    "reason": "Причина",
}
"""How a canonical column is named to people (rejection reasons, the edit form)."""

_UNITS: Final = frozenset({"руб", "р", "₽", "rub", "руб коп"})


def _fold(text: object) -> str:
    """A header folded for matching: lower case, «ё» as «е», punctuation as
    spaces, a «№» and a trailing unit («руб.», «₽») dropped."""
    t = str(text or "").strip().lower().replace("ё", "е").replace("№", " ")
    t = re.sub(r"\(([^)]*)\)", r" \1 ", t)
    t = " ".join(re.sub(r"[^\w@₽]+", " ", t).split())
    words = t.split()
    while len(words) > 1 and words[-1] in _UNITS:
        words.pop()
    return " ".join(words)


_INDEX: Final[dict[str, str]] = {
    _fold(syn): canon for canon, syns in _SYNONYMS.items() for syn in syns
}


def canonical_header(header: object) -> str:
    """The canonical name of a column (``phone``…), or the header folded."""
    raw = str(header or "").strip()
    if raw in _SYNONYMS:  # an English name as it is (``outage_from``)
        return raw
    folded = _fold(raw)
    return _INDEX.get(folded, folded.replace(" ", "_") if folded else "")


class ListFileError(ValueError):
    """The whole file is refused; the message (Russian) says where and why."""


class CellError(ValueError):
    """One value cannot be used; the message (Russian) is the row's reason."""


# -- values --------------------------------------------------------------------------

_RU_DATE: Final = re.compile(
    r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s*г\.?)?(?:[\sT,]+(\d{1,2})[:.](\d{2})(?::(\d{2}))?)?$"
)
_ISO_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def _looks_like_date(text: str) -> bool:
    return bool(_RU_DATE.match(text) or _ISO_DATE.match(text))


def parse_datetime(value: Any) -> datetime:
    """ДД.ММ.ГГГГ [ЧЧ:ММ[:СС]] or ISO (or a date cell) → a naive local date-time."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0)
    if isinstance(value, date):
        return datetime.combine(value, time())
    text = str(value).strip()
    m = _RU_DATE.match(text)
    try:
        if m:
            d, mo, y, hh, mm, ss = m.groups()
            return datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))
        if _ISO_DATE.match(text):
            return datetime.fromisoformat(text).replace(microsecond=0)
    except ValueError:
        raise CellError(f"несуществующая дата «{text}»") from None
    raise CellError(f"дата «{text}» не в виде ДД.ММ.ГГГГ или ДД.ММ.ГГГГ ЧЧ:ММ")


def parse_date(value: Any) -> date:
    dt = parse_datetime(value)
    if dt.time() != time():
        raise CellError(f"ожидается дата без времени, а не «{_shown_dt(value)}»")
    return dt.date()


def _shown_dt(value: Any) -> str:
    return value.strftime("%d.%m.%Y %H:%M") if isinstance(value, datetime) else str(value)


def parse_money(value: Any) -> Decimal:
    """«1 234,50», «1234.5 ₽», 1234.5 → Decimal('1234.50')."""
    if isinstance(value, bool):
        raise CellError(f"сумма «{value}» не число")
    if isinstance(value, int | float | Decimal):
        amount = Decimal(str(value))
    else:
        text = str(value).strip().lower()
        text = re.sub(r"(руб\.?|р\.|₽)\s*$", "", text).strip()
        text = text.replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        text = text.replace(",", ".")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise CellError(f"сумма «{value}» не число") from None
    if not amount.is_finite() or amount < 0:
        raise CellError(f"сумма «{value}» не может быть такой")
    return amount.quantize(Decimal("0.01"))


def _iso(dt: datetime) -> str:
    return dt.date().isoformat() if dt.time() == time() else dt.isoformat(timespec="minutes")


def _split_period(value: Any) -> tuple[str, str]:
    """«20.12.2026 10:00 – 20.12.2026 18:00» or «20.12.2026 10:00–18:00»."""
    text = " ".join(str(value).split())
    parts = re.split(r"\s*(?:—|–|-|\bпо\b|\bдо\b)\s*", re.sub(r"^\s*с\s+", "", text), maxsplit=1)
    if len(parts) != 2:
        raise CellError(f"период «{text}» не в виде «ДД.ММ.ГГГГ ЧЧ:ММ – ДД.ММ.ГГГГ ЧЧ:ММ»")
    start = parse_datetime(parts[0])
    end_text = parts[1].strip()
    if re.fullmatch(r"\d{1,2}[:.]\d{2}", end_text):
        hh, mm = re.split(r"[:.]", end_text)
        try:
            end = start.replace(hour=int(hh), minute=int(mm))
        except ValueError:
            raise CellError(f"неверное время «{end_text}»") from None
    else:
        end = parse_datetime(end_text)
    if end <= start:
        raise CellError(f"период «{text}»: окончание не позже начала")
    return start.isoformat(timespec="minutes"), end.isoformat(timespec="minutes")


def normalise_cell(column: str, value: Any, kind: str | None = None) -> str:
    """A cell as the text stored in the contact's variables.

    ``kind``: how the scenario speaks this variable (``date``, ``datetime``,
    ``money``…), if it does. Dates become ISO, amounts ``1234.50``;
    :class:`CellError` when a value of a date or money column is not one."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        dt = parse_datetime(value)
        if kind == "date" or column in DATE_COLUMNS:
            return dt.date().isoformat()
        return _iso(dt) if column not in DATETIME_COLUMNS else dt.isoformat(timespec="minutes")
    if isinstance(value, float) and value.is_integer() and kind != "money":
        value = int(value)
    text = str(value).strip()
    if not text:
        return ""
    try:
        if kind == "money" or column in MONEY_COLUMNS:
            return str(parse_money(value))
        if kind == "date" or column in DATE_COLUMNS:
            return parse_date(text).isoformat()
        if kind == "datetime" or column in DATETIME_COLUMNS:
            return parse_datetime(text).isoformat(timespec="minutes")
    except CellError as exc:
        title = CANONICAL_TITLES.get(column, column)
        raise CellError(f"«{title}»: {exc}") from None
    if _RU_DATE.match(text):  # a date in a column of its own: stored as ISO
        try:
            return _iso(parse_datetime(text))
        except CellError:
            return text
    return text


def normalise_row(raw: Mapping[str, Any], kinds: Mapping[str, str]) -> dict[str, str]:
    """A row's cells by canonical column → stored text (see :func:`normalise_cell`)."""
    row: dict[str, str] = {}
    for column, value in raw.items():
        if column == PERIOD_COLUMN:
            if value is None or not str(value).strip():
                continue
            try:
                start, end = _split_period(value)
            except CellError as exc:
                raise CellError(f"«{CANONICAL_TITLES[PERIOD_COLUMN]}»: {exc}") from None
            row.setdefault("outage_from", start)
            row.setdefault("outage_to", end)
            continue
        row[column] = normalise_cell(column, value, kinds.get(column))
    return row


# -- the file ------------------------------------------------------------------------

_OLE: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def read_list(data: bytes, filename: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a CSV/XLSX list as ``(line, {canonical column: raw value})``.

    The format is told by the content (an XLSX is a ZIP) before the name.
    Raises :class:`ListFileError` for the whole file (before any row is
    yielded when the header is missing)."""
    name = filename.lower()
    if data.startswith(_OLE):
        raise ListFileError(
            "файл в старом формате Excel 97–2003 (XLS): сохраните его как XLSX или CSV"
        )
    if data.startswith(b"PK\x03\x04"):
        try:
            check_xlsx(data)
        except TableLimitError as exc:
            raise ListFileError(str(exc)) from exc
        rows: Iterator[tuple[int, list[Any]]] = _xlsx_rows(data)
    elif name.endswith((".xlsx", ".xlsm")):
        raise ListFileError(
            "файл с расширением .xlsx не является файлом Excel (XLSX): он повреждён"
        )
    elif name.endswith((".csv", ".txt")) or "." not in name:
        rows = _csv_rows(data)
    else:
        raise ListFileError("поддерживаются файлы CSV и XLSX")
    return _table(rows)


def _table(rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, dict[str, Any]]]:
    header: list[str] | None = None
    seen = 0
    for _line, row in rows:
        if not any(_filled(v) for v in row):
            continue
        seen += 1
        names = [canonical_header(h) if isinstance(h, str) else "" for h in row]
        if "phone" in names or "account" in names:
            header = names
            break
        if seen >= HEADER_SCAN:
            break
    if header is None:
        raise ListFileError(
            "в файле не найдена строка заголовков со столбцом «Телефон» или «Лицевой счёт» "
            f"(просмотрены первые {HEADER_SCAN} непустых строк)"
        )
    return _body(header, rows)


def _body(
    header: list[str], rows: Iterator[tuple[int, list[Any]]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    count = 0
    for line, row in rows:
        if not any(_filled(v) for v in row):
            continue
        count += 1
        if count > MAX_ROWS:
            raise ListFileError(f"в файле больше {MAX_ROWS} строк: разделите его на части")
        yield line, {h: v for h, v in zip(header, row, strict=False) if h}


def _filled(v: Any) -> bool:
    return v is not None and str(v).strip() != ""


def _decode(data: bytes) -> str:
    """UTF-8 (BOM or not) or Windows-1251; a refusal names the line."""
    from crm_bridge.importers import EncodingNotRecognised, decode_csv_bytes

    if b"\x00" in data[:65536] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ListFileError(
            f"строка {line}: файл двоичный, а не текст CSV (возможно, это документ другого "
            "формата с расширением .csv): сохраните список как XLSX или CSV"
        )
    try:
        text, _encoding = decode_csv_bytes(data)
    except EncodingNotRecognised as exc:
        body = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            line = body[: bad.start].count(b"\n") + 1
            raise ListFileError(f"строка {line}: {exc}") from None
        raise ListFileError(str(exc)) from None
    return text


def _delimiter(text: str) -> str:
    """``;``, ``,`` or a tab: the one most used in the first lines outside
    quotes (title rows and «1 234,50» amounts do not mislead it); ``;`` on a tie."""
    counts = {";": 0, ",": 0, "\t": 0}
    for line in text.splitlines()[:50]:
        outside = re.sub(r'"[^"]*"', "", line)
        for d in counts:
            counts[d] += outside.count(d)
    return max((";", ",", "\t"), key=lambda d: counts[d])


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text[:65536]))
    return _csv_iter(reader)


def _csv_iter(reader: Any) -> Iterator[tuple[int, list[Any]]]:
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ListFileError(f"строка {reader.line_num}: CSV не читается ({exc})") from None
        yield reader.line_num, row


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    """The first sheet's rows, read with calamine (a Rust reader: a
    100 000-row list in a fraction of openpyxl's time and memory); openpyxl
    where calamine is not installed."""
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:  # pragma: no cover - calamine is a dependency
        return _openpyxl_rows(data)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        if not book.sheet_names:
            raise ListFileError("в файле XLSX нет ни одного листа")
        sheet = book.get_sheet_by_index(0)
    except ListFileError:
        raise
    except Exception:  # calamine raises its own errors on a garbled archive
        raise ListFileError(_UNREADABLE) from None
    return _calamine_iter(sheet)


_UNREADABLE: Final = "файл XLSX повреждён и не читается: откройте его в Excel и сохраните заново"
"""A garbled workbook (the reader's own exception names no Russian reason)."""


def _calamine_iter(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    # calamine's rows start at the sheet's first row (its columns at the
    # first used one, for the header and the data alike).
    line = 0
    try:
        for line, row in enumerate(sheet.iter_rows(), 1):
            yield line, list(row)
    except ListFileError:
        raise
    except Exception:
        raise ListFileError(
            f"строка {line + 1}: лист XLSX повреждён и дальше не читается"
        ) from None


def _openpyxl_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises anything on a garbled archive
        raise ListFileError(_UNREADABLE) from None
    return _openpyxl_iter(wb)


def _openpyxl_iter(wb: Any) -> Iterator[tuple[int, list[Any]]]:
    try:
        if not wb.worksheets:
            raise ListFileError("в файле XLSX нет ни одного листа")
        ws = wb.worksheets[0]
        line = 0
        try:
            for line, row in enumerate(ws.iter_rows(values_only=True), 1):
                yield line, list(row)
        except ListFileError:
            raise
        except Exception:  # a damaged sheet part
            raise ListFileError(
                f"строка {line + 1}: лист XLSX повреждён и дальше не читается"
            ) from None
    finally:
        wb.close()
