"""The whole ``hotline`` command line speaks Russian (issue 15 item 8): every
command, sub-command, argument and option of every slice has a Russian help
line, and a user error is one Russian line with exit status 2."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from hotline.cli import build_parser, main

_CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)


def _helps(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, str | None]]:
    """(where, help text) of every argument and sub-command, recursively."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                yield f"{path} {choice.dest}", choice.help
            for name, sub in action.choices.items():
                yield from _helps(sub, f"{path} {name}")
        elif action.help is not argparse.SUPPRESS:
            yield f"{path} {'/'.join(action.option_strings) or action.dest}", action.help


def test_every_command_and_option_has_russian_help() -> None:
    helps = list(_helps(build_parser(), "hotline"))
    assert len(helps) > 80  # every slice's commands are there
    english = [(where, text) for where, text in helps if not text or not _CYRILLIC.search(text)]
    assert not english, english
    commands = {where.split()[1] for where, _ in helps if len(where.split()) > 1}
    for name in ("campaign", "operators", "supervision", "sms", "outages", "db", "prompts"):
        assert name in commands


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["outages", "client"],
        ["supervision"],
        ["sms", "conf"],
        ["operators"],
        ["models"],
        ["prompts"],
        ["retention"],
        ["db"],
    ],
)
def test_help_pages_are_in_russian(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("использование: hotline") and "показать эту справку и выйти" in text
    assert "usage" not in text and "options:" not in text


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["outages", "client", "add"], "не указано обязательное: ИМЯ"),
        (["supervision", "stats", "--year", "двадцать"], "неверное значение 'двадцать'"),
        (["sms", "gateway", "--bogus"], "лишние аргументы: --bogus"),
        (["operators", "fire", "x"], "недопустимое значение 'fire'"),
    ],
)
def test_a_user_error_is_one_russian_line_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and expected in err, err


def test_command_errors_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--database-url", f"sqlite:///{tmp_path / 'cli.db'}", "--data-dir", str(tmp_path)]
    assert main([*base, "outages", "client", "revoke", "nobody"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "hotline outages client revoke: нет действующего клиента nobody"
    assert main([*base, "operators", "add"]) == 2
    assert capsys.readouterr().err.strip() == "hotline operators: укажите логин"
    assert main([*base, "db", "revision"]) == 2
    assert "нужны --slice" in capsys.readouterr().err


def test_a_wrong_database_or_data_directory_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--database-url", "nosuch://x", "outages", "client", "list"]) == 2
    err = capsys.readouterr().err
    assert err == "hotline: неверный адрес базы данных (--database-url)\n", err
    unreachable = "postgresql+psycopg://u:secret@127.0.0.1:1/x"
    assert main(["--database-url", unreachable, "outages", "client", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hotline: база данных недоступна — проверьте --database-url"), err
    assert len(err.splitlines()) == 1 and "secret" not in err
    missing = tmp_path / "нет" / "такого"
    (tmp_path / "нет").write_text("a file, not a directory")
    assert main(["--data-dir", str(missing), "outages", "client", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hotline: ") and "Traceback" not in err and len(err.splitlines()) == 1
