"""Limits on the tables people upload (accounts, meters, contact lists).

An upload is hostile until read: an XLSX is a ZIP that may unpack to
gigabytes from kilobytes, a CSV may hold a megabyte in one cell or millions
of rows. Every importer checks these before and while reading, and answers
with one clear error (in Russian, for the page) instead of running the
machine out of memory. What a rejection stores of the offending value is cut
short, so a report never keeps (or shows) a whole hostile cell.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from typing import Any, Final

MAX_UNPACKED_BYTES: Final = 256 * 2**20
"""An XLSX whose members unpack to more than this is refused unread."""
MAX_ROWS: Final = 2_000_000
"""Data rows of one file (an operator's whole register fits)."""
MAX_CELL_CHARS: Final = 4000
"""Characters of one cell; a longer one rejects its row."""
SHOWN_CHARS: Final = 80
"""Characters of a rejected value kept in a report."""


class TableLimitError(ValueError):
    """The file is over a limit; the message is for the person who sent it."""


def check_xlsx(data: bytes, limit: int = MAX_UNPACKED_BYTES) -> None:
    """Refuse an XLSX (ZIP) that unpacks to more than ``limit`` bytes, by
    its directory, before any member is decompressed."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        # (zipfile's own words are English: the page gets a Russian reason)
        raise TableLimitError(
            "файл XLSX повреждён: это не архив, каким бывает файл Excel; "
            "откройте его в Excel и сохраните заново"
        ) from exc
    if unpacked > limit:
        raise TableLimitError(
            f"файл XLSX распаковывается в {unpacked // 2**20} МБ, больше допустимых "
            f"{limit // 2**20} МБ"
        )


def check_rows(count: int, limit: int = MAX_ROWS) -> None:
    if count > limit:
        raise TableLimitError(f"в файле больше {limit} строк: разделите его на части")


def long_cell(row: Iterable[Any], limit: int = MAX_CELL_CHARS) -> int | None:
    """The length of the first cell over ``limit`` characters, or None."""
    for value in row:
        if isinstance(value, str) and len(value) > limit:
            return len(value)
    return None


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``value`` as text for a report, cut to ``limit`` characters."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
