"""Importing accounts and meters from CSV and XLSX files (REQ-T15).

What a file goes through, in order:

1. **Format and encoding.** XLSX is read with openpyxl (read-only). CSV may be
   UTF-8 (with or without BOM), UTF-16 with BOM, or Windows-1251 (what Excel
   saves on a Russian Windows); the delimiter (``;``, ``,``, tab) is taken
   from the header line. A file that is none of these (KOI8-R, DOS cp866,
   a binary file renamed ``.csv``) is rejected with :class:`EncodingNotRecognised`
   — a cp1251 decode is accepted only when the text looks like Russian, so no
   mojibake is ever imported.
2. **Columns**, checked before any row: Russian headers as people write them
   (``Лицевой счёт``, ``ФИО``, ``Адрес``, ``Телефон`` …) or English aliases
   (``account``, ``holder_name``, ``address``, ``phone`` …), case, ``ё`` and
   punctuation insensitive; see :data:`ACCOUNT_COLUMNS` / :data:`METER_COLUMNS`.
   Missing required columns → :class:`MissingColumns` naming them.
3. **Rows**, validated one by one; every problem becomes a
   :class:`RowError` (line, column, reason) in the :class:`ImportReport`. A row
   with any error is not imported. Account numbers (or meter serials) that
   occur more than once in the file are rejected on *every* line: the file
   does not say which one is right.
4. **Writing**, all valid rows in one transaction: either all of them are
   stored or none (a database error rolls everything back). ``dry_run=True``
   validates and writes inside the transaction, then rolls back (so the
   report's created/updated counts are exact); ``strict=True`` imports nothing
   if any row was rejected. Rows are upserted by account number (or meter
   serial), so importing the same file again changes nothing.

``progress(done, total)`` is called every :data:`PROGRESS_EVERY` rows and at
the end (``total`` is the number of data rows).
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import unicodedata
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from core.tabular import MAX_CELL_CHARS, TableLimitError, check_rows, check_xlsx, long_cell
from crm_bridge.accounts import (
    AccountData,
    MeterData,
    resolve_account_ids,
    upsert_accounts,
    upsert_meters,
)
from crm_bridge.db import Database
from crm_bridge.errors import CrmError
from crm_bridge.identify import account_number_key, normalize_account_number
from crm_bridge.models import Category
from crm_bridge.phones import InvalidPhone, normalize_phone

__all__ = [
    "ACCOUNT_COLUMNS",
    "METER_COLUMNS",
    "EncodingNotRecognised",
    "ImportFileError",
    "ImportReport",
    "MissingColumns",
    "RowError",
    "UnsupportedFormat",
    "decode_csv_bytes",
    "import_accounts",
    "import_meters",
]

logger = logging.getLogger(__name__)

PROGRESS_EVERY: Final = 1000
_CHUNK: Final = 1000

Progress = Callable[[int, int], None]


# -- errors and the report ------------------------------------------------------


class ImportFileError(CrmError):
    """The file as a whole cannot be imported (nothing was imported)."""


class UnsupportedFormat(ImportFileError):
    pass


class EncodingNotRecognised(ImportFileError):
    pass


class MissingColumns(ImportFileError):
    def __init__(self, missing: list[str], found: list[str]) -> None:
        self.missing = missing
        self.found = found
        super().__init__(
            "в файле нет обязательных столбцов: "
            + ", ".join(f"«{m}»" for m in missing)
            + " (найдены: "
            + (", ".join(f"«{f}»" for f in found if f) or "ничего")
            + ")"
        )


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    """Line of the CSV file (header is line 1) or row of the XLSX sheet."""
    column: str | None
    """Header of the column as written in the file (None: the whole row)."""
    reason: str


@dataclass(slots=True)
class ImportReport:
    kind: str
    """``accounts`` or ``meters``."""
    source: str
    encoding: str | None = None
    total_rows: int = 0
    valid_rows: int = 0
    created: int = 0
    updated: int = 0
    rejected: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    strict: bool = False
    committed: bool = False
    """True when the valid rows were stored."""

    @property
    def rejected_lines(self) -> list[int]:
        return sorted({e.line for e in self.rejected})

    @property
    def ok(self) -> bool:
        return not self.rejected

    def rejections_by_column(self) -> dict[str, int]:
        return dict(Tally(e.column or "" for e in self.rejected))

    def summary(self) -> str:
        verb = (
            "проверено (пробный запуск, ничего не записано)"
            if self.dry_run
            else "записано"
            if self.committed
            else "ничего не записано (строгий режим: есть ошибки)"
        )
        return (
            f"{self.source}: строк {self.total_rows}, без ошибок {self.valid_rows}, "
            f"отклонено {len(self.rejected_lines)}; новых {self.created}, "
            f"обновлено {self.updated} — {verb}"
        )


# -- columns --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    title: str
    """The Russian header written in error messages."""
    aliases: tuple[str, ...]


def _norm_header(text: object) -> str:
    value = unicodedata.normalize("NFKC", str(text or "")).lower().replace("ё", "е")
    value = re.sub(r"[^0-9a-zа-я]+", " ", value)
    return " ".join(value.split())


_ACCOUNT_NUMBER_ALIASES: Final = (
    "лицевой счет",
    "лицевой",
    "л с",
    "лс",
    "номер лс",
    "номер л с",
    "номер лицевого счета",
    "лицевой счет абонента",
    "account",
    "account number",
    "account_number",
    "number",
)

ACCOUNT_COLUMNS: Final = (
    Column("number", "Лицевой счёт", _ACCOUNT_NUMBER_ALIASES),
    Column(
        "holder_name",
        "ФИО",
        (
            "фио",
            "владелец",
            "абонент",
            "потребитель",
            "наименование",
            "фио наименование",
            "фио владельца",
            "holder",
            "holder name",
            "name",
        ),
    ),
    Column("category", "Категория", ("категория", "тип потребителя", "тип", "category")),
    Column("region", "Регион", ("регион", "область", "субъект", "субъект рф", "region")),
    Column(
        "settlement",
        "Населённый пункт",
        ("населенный пункт", "нас пункт", "город", "поселение", "settlement", "city", "town"),
    ),
    Column("street_type", "Тип улицы", ("тип улицы", "street type")),
    Column("street", "Улица", ("улица", "street")),
    Column("house", "Дом", ("дом", "номер дома", "house")),
    Column("building", "Корпус", ("корпус", "корп", "building")),
    Column("structure", "Строение", ("строение", "стр", "structure")),
    Column("flat", "Квартира", ("квартира", "кв", "помещение", "офис", "flat", "apartment")),
    Column("address", "Адрес", ("адрес", "адрес объекта", "адрес абонента", "address")),
    Column(
        "phones",
        "Телефон",
        ("телефон", "телефоны", "тел", "контактный телефон", "phone", "phones", "telephone"),
    ),
    Column(
        "email",
        "E-mail",
        ("email", "e mail", "эл почта", "электронная почта", "почта", "mail"),
    ),
    Column(
        "debt", "Задолженность", ("задолженность", "долг", "сумма долга", "сальдо долг", "debt")
    ),
    Column(
        "debt_as_of",
        "Дата задолженности",
        ("дата задолженности", "задолженность на дату", "на дату", "debt as of", "debt_as_of"),
    ),
    Column("timezone", "Часовой пояс", ("часовой пояс", "timezone", "time zone", "tz")),
    Column(
        "notify_by",
        "Форма уведомления",
        (
            "форма уведомления",
            "способ уведомления",
            "способ оповещения",
            "уведомлять",
            "notify by",
            "notify_by",
        ),
    ),
)
"""Account file columns. Required: account number, holder, and an address
(either «Адрес» or «Улица» + «Дом»)."""

METER_COLUMNS: Final = (
    Column(
        "serial",
        "Заводской номер",
        (
            "заводской номер",
            "номер счетчика",
            "серийный номер",
            "счетчик",
            "заводской номер счетчика",
            "serial",
            "meter",
            "meter serial",
        ),
    ),
    Column("account_number", "Лицевой счёт", _ACCOUNT_NUMBER_ALIASES),
    Column(
        "zones",
        "Тарифность",
        ("тарифность", "зоны", "число зон", "количество тарифов", "тарифов", "zones"),
    ),
    Column("digits", "Разрядность", ("разрядность", "число разрядов", "digits")),
    Column(
        "decimals",
        "Знаков после запятой",
        ("знаков после запятой", "дробных разрядов", "дробная часть", "decimals"),
    ),
    Column(
        "last_t1",
        "Показание Т1",
        ("показание т1", "т1", "t1", "показание", "показания", "last t1", "last_t1"),
    ),
    Column("last_t2", "Показание Т2", ("показание т2", "т2", "t2", "last t2", "last_t2")),
    Column("last_t3", "Показание Т3", ("показание т3", "т3", "t3", "last t3", "last_t3")),
)
"""Meter file columns. Required: serial and account number."""

_CATEGORIES: Final = MappingProxyType(
    {
        "": Category.FL,
        "фл": Category.FL,
        "физ": Category.FL,
        "физлицо": Category.FL,
        "физическое лицо": Category.FL,
        "население": Category.FL,
        "юл": Category.UL,
        "юр": Category.UL,
        "юрлицо": Category.UL,
        "юридическое лицо": Category.UL,
        "гл": Category.GL,
        "группа лиц": Category.GL,
    }
)
_EMAIL_RE: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_SPLIT_RE: Final = re.compile(r"[;,\n]+")


def _map_headers(
    headers: list[Any], columns: tuple[Column, ...]
) -> tuple[dict[str, int], dict[str, str]]:
    """Column name → index, and column name → header as written in the file."""
    alias_index = {alias: col.name for col in columns for alias in col.aliases}
    index: dict[str, int] = {}
    written: dict[str, str] = {}
    for i, header in enumerate(headers):
        name = alias_index.get(_norm_header(header))
        if name is not None and name not in index:
            index[name] = i
            written[name] = str(header).strip()
    return index, written


# -- reading files --------------------------------------------------------------

_ODD_CP1251: Final = frozenset(bytes(range(0x80, 0xC0)).decode("cp1251", errors="ignore")) - set(
    "ЁёЇїІіЄєҐґЎў№«»–—“”„…‘’\u00a0°±·§©®"
)


def _looks_russian(text: str) -> bool:
    """Is a Windows-1251 decode plausible (not KOI8-R / cp866 / binary)?"""
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return True
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\r\n" for ch in text):
        return False
    odd = sum(1 for ch in non_ascii if ch in _ODD_CP1251)
    if odd > max(2, len(non_ascii) // 100):
        return False
    words = re.findall(r"[А-Яа-яЁё]{3,}", text)
    if not words:
        return True
    mixed = sum(1 for w in words if re.search(r"[а-яё][А-ЯЁ]", w))
    return mixed <= max(2, len(words) // 20)


def decode_csv_bytes(data: bytes) -> tuple[str, str]:
    """Decode a CSV file: UTF-8 (BOM or not), UTF-16 with BOM, or Windows-1251.

    Returns ``(text, encoding)``; raises :class:`EncodingNotRecognised`.
    """
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise EncodingNotRecognised(
                f"файл начинается с метки UTF-8, но содержит неверные байты (позиция {exc.start})"
            ) from exc
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise EncodingNotRecognised("файл в UTF-16 повреждён") from exc
    if b"\x00" in data[:65536]:
        raise EncodingNotRecognised(
            "файл двоичный, а не текст CSV (возможно, это XLSX/XLS с расширением .csv "
            "или UTF-16 без метки)"
        )
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1251")
    except UnicodeDecodeError:
        text = ""
    if text and _looks_russian(text):
        return text, "cp1251"
    raise EncodingNotRecognised(
        "кодировка файла не распознана: он не в UTF-8 и не в Windows-1251 "
        "(например, KOI8-R или DOS-866). Сохраните файл как «CSV UTF-8» или «CSV (разделители — "
        "точка с запятой)» в Excel"
    )


@dataclass(slots=True)
class _Table:
    headers: list[Any]
    header_line: int
    total: int
    rows: Callable[[], Iterator[tuple[int, list[Any]]]]
    encoding: str | None


def _check_rows(count: int) -> None:
    try:
        check_rows(count)
    except TableLimitError as exc:
        raise ImportFileError(str(exc)) from exc


def _read_csv(data: bytes) -> _Table:
    text, encoding = decode_csv_bytes(data)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(";,\t|", key=first_line.count) if first_line else ";"
    if first_line and first_line.count(delimiter) == 0:
        delimiter = ";"
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 1
    try:
        for record in reader:
            records.append((line, record))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFileError(f"строка {line}: файл CSV повреждён ({exc})") from exc
    while records and not any(c.strip() for c in records[0][1]):
        records.pop(0)
    if not records:
        raise ImportFileError("файл пуст")
    header_line, headers = records[0]
    body = [(n, r) for n, r in records[1:] if any(c.strip() for c in r)]
    _check_rows(len(body))
    return _Table(headers, header_line, len(body), lambda: iter(body), encoding)


def _read_xlsx(path: Path | io.BytesIO) -> _Table:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    def rows_from_sheet() -> Iterator[tuple[int, list[Any]]]:
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            for number, row in enumerate(ws.iter_rows(values_only=True), start=1):
                yield number, list(row)
        finally:
            wb.close()

    try:
        iterator = rows_from_sheet()
        header_line, headers = 0, []
        for number, row in iterator:
            if any(v is not None and str(v).strip() for v in row):
                header_line, headers = number, row
                break
        total = sum(1 for _, row in iterator if any(v is not None and str(v).strip() for v in row))
    except (InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise UnsupportedFormat(f"файл XLSX не читается ({exc})") from exc
    if not headers:
        raise ImportFileError("лист пуст")
    _check_rows(total)

    def body() -> Iterator[tuple[int, list[Any]]]:
        for number, row in rows_from_sheet():
            if number > header_line and any(v is not None and str(v).strip() for v in row):
                yield number, row

    return _Table(headers, header_line, total, body, None)


def _open(source: str | Path | bytes, filename: str | None) -> tuple[_Table, str]:
    if isinstance(source, bytes):
        data = source
        name = filename or "данные"
    else:
        path = Path(source)
        name = filename or path.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImportFileError(f"файл {name} не читается: {exc.strerror}") from exc
    suffix = Path(name).suffix.lower()
    if suffix == ".xls" or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnsupportedFormat("формат XLS (Excel 97–2003) не поддерживается: сохраните как XLSX")
    if suffix in (".xlsx", ".xlsm") or data.startswith(b"PK\x03\x04"):
        if suffix not in (".xlsx", ".xlsm", ""):
            raise EncodingNotRecognised(
                f"файл {name} — это книга Excel (XLSX), а не CSV: выберите её как .xlsx"
            )
        try:
            check_xlsx(data)
        except TableLimitError as exc:
            raise ImportFileError(str(exc)) from exc
        return _read_xlsx(io.BytesIO(data)), name
    return _read_csv(data), name


# -- cell parsing ---------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return " ".join(str(value).split())


def _decimal(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = re.sub(r"[\s\u00a0]", "", str(value)).replace(",", ".")
    text = text.removesuffix("руб.").removesuffix("р.").removesuffix("₽")
    try:
        result = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"не число: «{_text(value)}»") from exc
    if not result.is_finite():
        raise ValueError("не число")
    return result


def _int(value: Any, default: int) -> int:
    number = _decimal(value)
    if number is None:
        return default
    if number != number.to_integral_value():
        raise ValueError("нужно целое число")
    return int(number)


def _date(value: Any) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in ("%d.%m.%Y", "%Y-%m-%d", "%d.%m.%y", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"дата не распознана: «{text}» (нужно ДД.ММ.ГГГГ)")


# -- row validation -------------------------------------------------------------


class _RowChecker:
    def __init__(
        self, line: int, row: list[Any], index: Mapping[str, int], written: Mapping[str, str]
    ) -> None:
        self.line = line
        self.row = row
        self.index = index
        self.written = written
        self.errors: list[RowError] = []

    def raw(self, name: str) -> Any:
        i = self.index.get(name)
        if i is None or i >= len(self.row):
            return None
        return self.row[i]

    def text(self, name: str) -> str:
        return _text(self.raw(name))

    def error(self, name: str | None, reason: str) -> None:
        column = self.written.get(name, name) if name else None
        self.errors.append(RowError(self.line, column, reason))

    def convert(self, name: str, fn: Callable[[Any], Any]) -> Any:
        try:
            return fn(self.raw(name))
        except ValueError as exc:
            self.error(name, str(exc))
            return None


_NOTIFY_FORMS: Final = {
    **dict.fromkeys(("звонок", "телефон", "по телефону", "голос", "phone", "call"), "phone"),
    **dict.fromkeys(("смс", "sms", "сообщение"), "sms"),
    **dict.fromkeys(
        ("email", "e mail", "эл почта", "электронная почта", "почта", "письмо", "mail"), "email"
    ),
}
"""The customer's form of notification (REQ-O12) as offices write it."""


def _account_from_row(check: _RowChecker, default_timezone: str) -> AccountData | None:
    raw_number = check.text("number")
    number = normalize_account_number(raw_number)
    if not raw_number:
        check.error("number", "не указан лицевой счёт")
    elif number is None:
        check.error("number", "лицевой счёт должен состоять из цифр")
    holder = check.text("holder_name")
    if not holder:
        check.error("holder_name", "не указаны ФИО или наименование")
    category_text = _norm_header(check.text("category")).replace(" ", "")
    category = _CATEGORIES.get(category_text) or _CATEGORIES.get(
        _norm_header(check.text("category"))
    )
    if category is None:
        check.error("category", "категория должна быть ФЛ, ЮЛ или ГЛ")
    phones: list[str] = []
    for raw in _PHONE_SPLIT_RE.split(check.text("phones")):
        if not raw.strip():
            continue
        try:
            phones.append(normalize_phone(raw))
        except InvalidPhone as exc:
            check.error("phones", f"телефон «{raw.strip()}»: {exc.reason}")
    email = check.text("email") or None
    if email and not _EMAIL_RE.match(email):
        check.error("email", "неверный адрес электронной почты")
    debt = check.convert("debt", _decimal)
    debt_as_of = check.convert("debt_as_of", _date)
    timezone = check.text("timezone") or default_timezone
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        check.error(
            "timezone", f"неизвестный часовой пояс «{timezone}» (нужно, например, Asia/Krasnoyarsk)"
        )
    notify_by = None
    if form := _norm_header(check.text("notify_by")):
        notify_by = _NOTIFY_FORMS.get(form)
        if notify_by is None:
            check.error("notify_by", "форма уведомления: звонок, СМС или e-mail (REQ-O12)")
    data = AccountData(
        number=number or "0",
        holder_name=holder,
        category=category or Category.FL,
        region=check.text("region") or None,
        settlement=check.text("settlement") or None,
        street_type=check.text("street_type") or None,
        street=check.text("street") or None,
        house=check.text("house") or None,
        building=check.text("building") or None,
        structure=check.text("structure") or None,
        flat=check.text("flat") or None,
        address=check.text("address") or None,
        phones=tuple(phones),
        email=email,
        debt=(debt if debt is not None else Decimal("0")).quantize(Decimal("0.01")),
        debt_as_of=debt_as_of,
        timezone=timezone,
        notify_by=notify_by,
    )
    if data.street or data.house:
        if not data.street:
            check.error("street", "не указана улица")
        if not data.house:
            check.error("house", "не указан дом")
    if (data.street and data.house) or data.address:
        if data.parsed_address().key is None:
            column = "address" if not (data.street or data.house) else "house"
            check.error(column, "адрес не распознан: нужны улица и номер дома")
    elif not (data.street or data.house):
        check.error("address", "не указан адрес")
    return None if check.errors else data


def _meter_from_row(check: _RowChecker) -> MeterData | None:
    serial = check.text("serial")
    if not serial:
        check.error("serial", "не указан заводской номер")
    raw_number = check.text("account_number")
    number = normalize_account_number(raw_number)
    if number is None:
        check.error(
            "account_number",
            "лицевой счёт должен состоять из цифр" if raw_number else "не указан лицевой счёт",
        )
    zones = check.convert("zones", lambda v: _int(v, 1))
    if zones is not None and not 1 <= zones <= 3:
        check.error("zones", "тарифность должна быть 1, 2 или 3")
    digits = check.convert("digits", lambda v: _int(v, 6))
    if digits is not None and not 4 <= digits <= 9:
        check.error("digits", "разрядность должна быть от 4 до 9")
    decimals = check.convert("decimals", lambda v: _int(v, 0))
    if decimals is not None and not 0 <= decimals <= 3:
        check.error("decimals", "знаков после запятой должно быть от 0 до 3")
    values: list[Decimal | None] = []
    for zone, name in enumerate(("last_t1", "last_t2", "last_t3"), start=1):
        value = check.convert(name, _decimal)
        if value is not None:
            if value < 0:
                check.error(name, "показание не может быть отрицательным")
            elif zones is not None and zone > zones:
                check.error(name, f"показание зоны Т{zone} у счётчика с тарифностью {zones}")
            elif digits is not None and value >= Decimal(10) ** digits:
                check.error(name, f"показание длиннее разрядности счётчика ({digits})")
        values.append(value)
    if check.errors:
        return None
    assert number is not None
    return MeterData(
        serial=serial,
        account_number=number,
        zones=zones,
        digits=digits,
        decimals=decimals,
        last_t1=values[0],
        last_t2=values[1],
        last_t3=values[2],
    )


# -- the importers --------------------------------------------------------------


class _Rollback(Exception):
    """Internal: leave the transaction without committing."""


def _check_columns(
    table: _Table, columns: tuple[Column, ...], required: list[list[str]]
) -> tuple[dict[str, int], dict[str, str]]:
    index, written = _map_headers(table.headers, columns)
    titles = {c.name: c.title for c in columns}
    missing: list[str] = []
    for alternatives in required:
        if not any(all(n in index for n in alt.split("+")) for alt in alternatives):
            missing.append(
                " или ".join(" + ".join(titles[n] for n in alt.split("+")) for alt in alternatives)
            )
    if missing:
        raise MissingColumns(missing, [_text(h) for h in table.headers])
    return index, written


def _duplicates(table: _Table, column: int, key: Callable[[str], str]) -> dict[str, list[int]]:
    lines: dict[str, list[int]] = {}
    for line, row in table.rows():
        value = _text(row[column]) if column < len(row) else ""
        if value:
            lines.setdefault(key(value), []).append(line)
    return {k: v for k, v in lines.items() if len(v) > 1}


def _account_key(value: str) -> str:
    number = normalize_account_number(value)
    return account_number_key(number) if number else value


def import_accounts(
    db: Database,
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    dry_run: bool = False,
    strict: bool = False,
    progress: Progress | None = None,
    default_timezone: str = "Europe/Moscow",
) -> ImportReport:
    """Import accounts (see the module docstring); returns the report.

    Raises :class:`ImportFileError` (and subclasses) when the file as a whole
    is unusable; nothing is imported then.
    """
    table, name = _open(source, filename)
    index, written = _check_columns(
        table, ACCOUNT_COLUMNS, [["number"], ["holder_name"], ["address", "street+house"]]
    )
    report = ImportReport(
        kind="accounts",
        source=name,
        encoding=table.encoding,
        total_rows=table.total,
        dry_run=dry_run,
        strict=strict,
    )
    duplicates = _duplicates(table, index["number"], _account_key)

    def write(session: Session, batch: list[AccountData]) -> None:
        result = upsert_accounts(session, batch)
        report.created += result.created
        report.updated += result.updated

    def validate(line: int, row: list[Any]) -> AccountData | None:
        check = _RowChecker(line, row, index, written)
        data = _account_from_row(check, default_timezone)
        lines = duplicates.get(_account_key(check.text("number")))
        if lines:
            others = ", ".join(str(n) for n in lines if n != line)
            check.error("number", f"лицевой счёт повторяется в файле (также строки {others})")
            data = None
        report.rejected.extend(check.errors)
        return data

    _run(db, table, report, validate, write, progress)
    return report


def import_meters(
    db: Database,
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    dry_run: bool = False,
    strict: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import meters; their accounts must already exist (import accounts first)."""
    table, name = _open(source, filename)
    index, written = _check_columns(table, METER_COLUMNS, [["serial"], ["account_number"]])
    report = ImportReport(
        kind="meters",
        source=name,
        encoding=table.encoding,
        total_rows=table.total,
        dry_run=dry_run,
        strict=strict,
    )
    duplicates = _duplicates(table, index["serial"], lambda s: s)
    pending_lines: dict[str, int] = {}

    def write(session: Session, batch: list[MeterData]) -> None:
        known = resolve_account_ids(session, [m.account_number for m in batch])
        keep: list[MeterData] = []
        for meter in batch:
            if meter.account_number in known:
                keep.append(meter)
            else:
                report.rejected.append(
                    RowError(
                        pending_lines[meter.serial],
                        written.get("account_number"),
                        "лицевой счёт не найден в базе",
                    )
                )
        result = upsert_meters(session, keep)
        report.valid_rows -= len(batch) - len(keep)
        report.created += result.created
        report.updated += result.updated

    def validate(line: int, row: list[Any]) -> MeterData | None:
        check = _RowChecker(line, row, index, written)
        data = _meter_from_row(check)
        lines = duplicates.get(check.text("serial"))
        if lines:
            others = ", ".join(str(n) for n in lines if n != line)
            check.error("serial", f"заводской номер повторяется в файле (также строки {others})")
            data = None
        report.rejected.extend(check.errors)
        if data is not None:
            pending_lines[data.serial] = line
        return data

    _run(db, table, report, validate, write, progress)
    return report


def _run(
    db: Database,
    table: _Table,
    report: ImportReport,
    validate: Callable[[int, list[Any]], Any],
    write: Callable[[Session, list[Any]], None],
    progress: Progress | None,
) -> None:
    done = 0
    try:
        with db.session(write=True) as session:
            batch: list[Any] = []
            for line, row in table.rows():
                too_long = long_cell(row)
                if too_long is not None:
                    report.rejected.append(
                        RowError(
                            line,
                            None,
                            f"значение длиной {too_long} символов: не больше {MAX_CELL_CHARS}",
                        )
                    )
                    done += 1
                    continue
                item = validate(line, row)
                if item is not None:
                    batch.append(item)
                    report.valid_rows += 1
                if len(batch) >= _CHUNK:
                    write(session, batch)
                    batch = []
                done += 1
                if progress is not None and done % PROGRESS_EVERY == 0:
                    progress(done, report.total_rows)
            if batch:
                write(session, batch)
            if report.dry_run or (report.strict and report.rejected):
                raise _Rollback
    except _Rollback:
        report.committed = False
    else:
        report.committed = True
    if progress is not None:
        progress(done, report.total_rows)
    report.rejected.sort(key=lambda e: e.line)
    logger.info(
        "%s import of %s: %s rows, %s rejected, %s created, %s updated, committed=%s",
        report.kind,
        report.source,
        report.total_rows,
        len(report.rejected_lines),
        report.created,
        report.updated,
        report.committed,
    )
    if report.rejected:
        logger.debug("rejections by column: %s", report.rejections_by_column())
