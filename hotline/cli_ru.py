"""The command line in Russian, like its messages: argparse's own words
(«использование:», «параметры», «показать эту справку и выйти», the errors)
and a user error as one line with exit status 2, no usage block.

:func:`install` swaps argparse's translation function for a table of its
strings (argparse looks the function up each time it formats); the
:class:`Parser` class is the top parser's and so every sub-parser's.
"""

from __future__ import annotations

import argparse
import sys
from typing import Final, NoReturn

__all__ = ["Parser", "install", "translate"]

_RU: Final = {
    "usage: ": "использование: ",
    "positional arguments": "аргументы",
    "options": "параметры",
    "optional arguments": "параметры",
    "show this help message and exit": "показать эту справку и выйти",
    "the following arguments are required: %s": "не указано обязательное: %s",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "недопустимое значение %(value)r (возможны: %(choices)s)"
    ),
    "invalid %(type)s value: %(value)r": "неверное значение %(value)r (нужно: %(type)s)",
    "argument %(argument_name)s: %(message)s": "%(argument_name)s: %(message)s",
    "unrecognized arguments: %s": "лишние аргументы: %s",
    "expected one argument": "нужно одно значение",
    "expected at least one argument": "нужно хотя бы одно значение",
    "expected at most one argument": "нужно не больше одного значения",
    "ambiguous option: %(option)s could match %(matches)s": (
        "неоднозначный параметр %(option)s: подходят %(matches)s"
    ),
    "not allowed with argument %s": "нельзя вместе с %s",
    "one of the arguments %s is required": "нужен один из аргументов %s",
    "ignored explicit argument %r": "лишнее значение %r",
}
_TYPES: Final = {"int": "целое число", "float": "число", "Path": "путь к файлу"}


def translate(message: str) -> str:
    return _RU.get(message, message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    if singular == "expected %s argument":
        return "нужно значений: %s"
    return translate(singular if n == 1 else plural)


def install() -> None:
    """Route argparse's messages through the Russian table (idempotent)."""
    argparse._ = translate  # type: ignore[attr-defined]
    argparse.ngettext = _ngettext  # type: ignore[attr-defined]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose error is one Russian line and exit 2."""

    def error(self, message: str) -> NoReturn:
        for english, russian in _TYPES.items():
            message = message.replace(f"(нужно: {english})", f"(нужно: {russian})")
        print(f"{self.prog}: {message} (справка: {self.prog} --help)", file=sys.stderr)
        sys.exit(2)
