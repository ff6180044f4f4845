"""Outages from a CSV or XLSX file (issue 16 item 1).

One row is one outage. Columns (Russian headers as people write them; case,
``ё`` and punctuation do not matter):

=================  ==========================================================
``Вид``            ``плановое`` or ``аварийное`` (also ``план``/``авария``)
``Начало``         ``ДД.ММ.ГГГГ ЧЧ:ММ``, local time (``timezone``)
``Окончание``      the planned end or the estimated restoration, same format
                   (``Восстановление`` is the same column)
``Решение``        when the outage was decided (REQ-O9), optional
``Причина``        optional
``Адреса``         the address lines, separated by ``;`` or line breaks
=================  ==========================================================

CSV may be UTF-8 or Windows-1251 (:func:`crm_bridge.importers.decode_csv_bytes`),
delimited by ``;``, ``,`` or tab. A file with any bad row imports nothing:
:class:`ImportRejected` names the row and the reason, in Russian.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from crm_bridge.importers import EncodingNotRecognised, decode_csv_bytes
from crm_bridge.outages import OutageKind
from outages.register import AddressLineError, Draft, OutageInputError, parse_line

__all__ = ["ImportRejected", "parse_file"]

MAX_ROWS: Final = 2000
MAX_BYTES: Final = 5 * 1024 * 1024
COLUMNS: Final = {
    "kind": ("вид", "тип", "вид отключения"),
    "starts_at": ("начало", "дата начала", "начало отключения"),
    "ends_at": ("окончание", "конец", "восстановление", "окончание отключения"),
    "decided_at": ("решение", "дата решения", "время решения"),
    "reason": ("причина",),
    "addresses": ("адреса", "адрес", "адреса отключения"),
}
REQUIRED: Final = ("kind", "starts_at", "addresses")
"""Columns a file must have; «Окончание» may be missing or empty for an
emergency whose restoration time «уточняется» (a planned row needs it)."""
TITLES: Final = {
    "kind": "Вид",
    "starts_at": "Начало",
    "ends_at": "Окончание",
    "decided_at": "Решение",
    "reason": "Причина",
    "addresses": "Адреса",
}
KINDS: Final = {
    "плановое": OutageKind.PLANNED,
    "плановая": OutageKind.PLANNED,
    "план": OutageKind.PLANNED,
    "планов": OutageKind.PLANNED,
    "аварийное": OutageKind.EMERGENCY,
    "аварийная": OutageKind.EMERGENCY,
    "авария": OutageKind.EMERGENCY,
    "авар": OutageKind.EMERGENCY,
}
_DT_RE: Final = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})\s+(\d{1,2}):(\d{2})$")


class ImportRejected(ValueError):
    """The file is not imported; the message (Russian) names the row and why."""


@dataclass(frozen=True)
class ParsedFile:
    drafts: list[Draft]
    encoding: str | None


def _norm(header: Any) -> str:
    text = str(header or "").strip().lower().replace("ё", "е")
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _table(data: bytes, filename: str) -> tuple[list[tuple[int, list[Any]]], str | None]:
    if len(data) > MAX_BYTES:
        raise ImportRejected(f"файл больше {MAX_BYTES // (1024 * 1024)} МБ")
    if not data.strip():
        raise ImportRejected("файл пуст")
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        return _xlsx(data), None
    try:
        text, encoding = decode_csv_bytes(data)
    except EncodingNotRecognised as exc:
        raise ImportRejected(str(exc)) from exc
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(";,\t", key=first.count)
    if first.count(delimiter) == 0:
        delimiter = ";"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[Any]]] = []
    line = 1
    try:
        for record in reader:
            rows.append((line, record))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportRejected(f"строка {line}: файл CSV повреждён ({exc})") from exc
    return rows, encoding


def _xlsx(data: bytes) -> list[tuple[int, list[Any]]]:
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            return [
                (n, list(row))
                for n, row in enumerate(ws.iter_rows(values_only=True), start=1)
                if n <= MAX_ROWS + 50
            ]
        finally:
            wb.close()
    except (InvalidFileException, BadZipFile, KeyError, OSError, ValueError, IndexError) as exc:
        raise ImportRejected("файл XLSX не читается (повреждён или это не XLSX)") from exc


def _when(value: Any, zone: ZoneInfo, row: int, title: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    text = str(value or "").strip()
    m = _DT_RE.match(text)
    if not m:
        shown = text[:40] or "пусто"
        raise ImportRejected(
            f"строка {row}, столбец «{title}»: «{shown}» — нужна дата и время ДД.ММ.ГГГГ ЧЧ:ММ"
        )
    day, month, year, hour, minute = (int(g) for g in m.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=zone)
    except ValueError as exc:
        raise ImportRejected(f"строка {row}, столбец «{title}»: «{text}» — такой даты нет") from exc


def parse_file(data: bytes, filename: str, zone: ZoneInfo) -> ParsedFile:
    """Every row of the file as a :class:`Draft`, or :class:`ImportRejected`."""
    rows, encoding = _table(data, filename)
    rows = [(n, r) for n, r in rows if any(str(c or "").strip() for c in r)]
    if not rows:
        raise ImportRejected("файл пуст")
    header_line, headers = rows[0]
    aliases = {alias: name for name, names in COLUMNS.items() for alias in names}
    index: dict[str, int] = {}
    for i, h in enumerate(headers):
        name = aliases.get(_norm(h))
        if name is not None and name not in index:
            index[name] = i
    missing = [TITLES[c] for c in REQUIRED if c not in index]
    if missing:
        raise ImportRejected(
            f"строка {header_line}: нет столбцов {', '.join('«' + m + '»' for m in missing)} "
            "(заголовки: Вид; Начало; Окончание; Решение; Причина; Адреса)"
        )
    body = rows[1:]
    if not body:
        raise ImportRejected("в файле нет строк с отключениями")
    if len(body) > MAX_ROWS:
        raise ImportRejected(f"больше {MAX_ROWS} строк в одном файле")
    drafts: list[Draft] = []
    for n, record in body:

        def cell(name: str, record: list[Any] = record) -> Any:
            i = index.get(name)
            return record[i] if i is not None and i < len(record) else None

        if any(str(c or "").strip() for c in record[len(headers) :]):
            raise ImportRejected(
                f"строка {n}: лишние ячейки за последним столбцом — адреса через «;» "
                "заключите в кавычки"
            )
        raw_kind = _norm(cell("kind"))
        kind = KINDS.get(raw_kind)
        if kind is None:
            raise ImportRejected(
                f"строка {n}, столбец «Вид»: «{str(cell('kind') or '')[:40]}» — "
                "нужно «плановое» или «аварийное»"
            )
        starts = _when(cell("starts_at"), zone, n, "Начало")
        ends = (
            _when(cell("ends_at"), zone, n, "Окончание")
            if kind is OutageKind.PLANNED or str(cell("ends_at") or "").strip()
            else None  # an emergency «время восстановления уточняется»
        )
        decided = (
            _when(cell("decided_at"), zone, n, "Решение")
            if str(cell("decided_at") or "").strip()
            else None
        )
        lines = [
            " ".join(part.split())
            for part in re.split(r"[;\n]", str(cell("addresses") or ""))
            if part.strip()
        ]
        for line in lines:
            try:
                parse_line(line)
            except AddressLineError as exc:
                raise ImportRejected(
                    f"строка {n}, столбец «Адреса»: «{line[:80]}» — {exc}"
                ) from exc
        draft = Draft(
            kind=kind,
            starts_at=starts,
            ends_at=ends,
            decided_at=decided,
            reason=str(cell("reason") or "").strip(),
            addresses=lines,
        )
        try:
            draft.check()
        except OutageInputError as exc:
            raise ImportRejected(f"строка {n}: {exc}") from exc
        drafts.append(draft)
    return ParsedFile(drafts, encoding)
