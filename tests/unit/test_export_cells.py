"""core.export: every CSV/XLSX export neutralises cells a spreadsheet would
run as formulas (issue 11)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from core.export import safe_append, safe_cell, safe_writer


@pytest.mark.parametrize("text", ["=1+1", "+7900", "-5", "@A1", "\tx", "\rx"])
def test_formula_starts_get_an_apostrophe(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Иванов", "", "1-ФЛ", 42, -5, Decimal("-1.5"), None])
def test_other_values_are_left_alone(value: object) -> None:
    assert safe_cell(value) == value


def test_csv_and_xlsx_writers() -> None:
    buf = io.StringIO()
    safe_writer(buf, delimiter=";").writerows([["=cmd()", 1], ["ok", -1]])
    assert list(csv.reader(io.StringIO(buf.getvalue()), delimiter=";")) == [
        ["'=cmd()", "1"],
        ["ok", "-1"],
    ]
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    safe_append(ws, ["=SUM(1)", datetime(2025, 1, 1), 3])
    out = io.BytesIO()
    wb.save(out)
    back = load_workbook(io.BytesIO(out.getvalue())).active
    assert back is not None
    cells = next(back.iter_rows(values_only=False))
    assert cells[0].data_type == "s" and cells[0].value == "'=SUM(1)"
    assert cells[1].value == datetime(2025, 1, 1) and cells[2].value == 3
