"""Cells of CSV and XLSX exports that a spreadsheet cannot run.

A caller's message, a name or an address typed by anybody ends up in the
journal, the readings and the campaign reports that staff open in Excel or
LibreOffice. A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is read there as a formula (CSV injection; openpyxl even
stores such a string as a formula). Every text cell of every export goes
through :func:`safe_cell`, which prefixes those with an apostrophe (shown as
text, not evaluated). Numbers and dates are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


class _SafeWriter:
    """A ``csv.writer`` whose rows go through :func:`safe_row`."""

    def __init__(self, writer: Any) -> None:
        self._w = writer

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._w.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def safe_writer(fp: Any, **kwargs: Any) -> _SafeWriter:
    """``csv.writer(fp, **kwargs)`` with every cell neutralised."""
    import csv

    return _SafeWriter(csv.writer(fp, **kwargs))


def safe_append(ws: Any, values: Iterable[Any]) -> None:
    """``ws.append(values)`` of an openpyxl sheet, every cell neutralised."""
    ws.append(safe_row(values))
