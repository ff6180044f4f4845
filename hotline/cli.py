"""One command line: ``hotline <command>``.

Errors the user can act on (settings, sandbox, database, a refused
``--user``: :mod:`webedge.cli_auth`) print one clear message and exit with
status 2 — no traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from core.settings import Settings, SettingsError, private_files
from core.settings import from_cli_args as _settings

log = logging.getLogger("hotline")


def cmd_asterisk(args: argparse.Namespace) -> int:
    from hotline.sandbox import Sandbox

    settings = _settings(args, test_mode=args.test_mode or None)
    sb = Sandbox(settings)
    if args.action == "up":
        st = sb.up()
        print(f"Asterisk работает (pid {st.pid}), конфигурация {sb.etc}, журнал {sb.full_log}")
    elif args.action == "down":
        sb.down()
        print("Asterisk остановлен")
    elif args.action == "status":
        st = sb.status()
        print(("работает: " if st.running else "не работает: ") + st.detail)
        return 0 if st.running else 1
    elif args.action == "cli":
        print(sb.cli(" ".join(args.command)), end="")
    elif args.action == "log":
        print(sb.log_tail(args.lines))
    return 0


def apply_asterisk(settings: Settings) -> str:
    """Re-render Asterisk's configuration and reload a running instance
    (``args.apply_asterisk`` of the slices' commands)."""
    from hotline.sandbox import Sandbox

    sb = Sandbox(settings)
    if not sb.status().running:
        return "Asterisk не запущен: изменения вступят в силу при его запуске."
    sb.up()
    return "Конфигурация Asterisk обновлена."


def cmd_run(args: argparse.Namespace) -> int:
    from hotline.runner import run_forever

    settings = _settings(args)
    components = [c.strip() for c in args.only.split(",")] if args.only else None
    from hotline.slices import component_names

    comps = components or list(component_names())
    asyncio.run(run_forever(settings, comps))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from hotline.demo import run_demo

    settings = _settings(args, test_mode=True)
    return asyncio.run(run_demo(settings, keep_running=args.keep_running))


def cmd_db(args: argparse.Namespace) -> int:
    from crm_bridge.db import Database
    from hotline.slices import SLICES, migrations, upgrade

    settings = _settings(args)
    settings.data.mkdir(parents=True, exist_ok=True)
    db = Database(settings.db_url)
    if args.action == "revision":
        # A new revision file in one slice's directory, compared with the
        # database at ``--database-url`` (migrated first) when --autogenerate.
        from alembic import command

        by_name = {sl.name: sl.migrations for sl in SLICES if sl.migrations is not None}
        if args.slice not in by_name or not args.message:
            print(
                f"hotline db revision: нужны --slice {{{','.join(sorted(by_name))}}} и -m",
                file=sys.stderr,
            )
            return 2
        config = migrations().config()
        if args.autogenerate:
            upgrade(db)
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            script = command.revision(
                config,
                message=args.message,
                autogenerate=args.autogenerate,
                head=args.head,
                splice=args.branch is not None,
                branch_label=args.branch,
                version_path=str(by_name[args.slice]),
            )
        print(f"новая миграция: {getattr(script, 'path', script)}")
        return 0
    if args.action == "upgrade":
        upgrade(db)
        print(f"схема базы данных обновлена: {db.engine.url.render_as_string(hide_password=True)}")
    elif args.action == "demo-data":
        from crm_bridge import demo_data

        upgrade(db)
        demo_data.load_demo(db)
        print("демо-данные загружены")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from hotline.cli_ru import Parser, install

    install()  # argparse's own words in Russian
    p: argparse.ArgumentParser = Parser(
        prog="hotline", description="Горячая линия: контакт-центр на Asterisk"
    )
    p.add_argument("--config", type=Path, metavar="ФАЙЛ", help="файл настроек (TOML)")
    p.add_argument("--data-dir", type=Path, metavar="КАТАЛОГ", help="каталог данных")
    p.add_argument("--database-url", metavar="URL", help="адрес базы данных (SQLAlchemy)")
    p.add_argument(
        "--asterisk",
        choices=["auto", "system", "sandbox"],
        help="какой Asterisk: системный, свой (sandbox) или выбрать самому (auto)",
    )
    p.add_argument(
        "--log-level",
        default=None,
        metavar="УРОВЕНЬ",
        help="подробность журнала: DEBUG, INFO, WARNING (по умолчанию INFO для run и demo, "
        "WARNING для остальных команд)",
    )
    sub = p.add_subparsers(dest="cmd", required=True, metavar="КОМАНДА", title="команды")

    a = sub.add_parser("asterisk", help="Asterisk проекта: запуск, остановка, состояние")
    a.add_argument(
        "action",
        choices=["up", "down", "status", "cli", "log"],
        help="up — запустить, down — остановить, status — состояние, cli — команда, log — журнал",
    )
    a.add_argument("command", nargs="*", metavar="КОМАНДА", help="команда CLI Asterisk (для cli)")
    a.add_argument("--lines", type=int, default=60, metavar="N", help="строк журнала (для log)")
    a.add_argument("--test-mode", action="store_true", help="загрузить и тестовый диалплан")
    a.set_defaults(fn=cmd_asterisk)

    r = sub.add_parser("run", help="запустить службы (FastAGI, AMI, веб, обзвон)")
    r.add_argument("--only", metavar="СПИСОК", help="только эти части через запятую: fastagi,web")
    r.set_defaults(fn=cmd_run)

    d = sub.add_parser("demo", help="весь контакт-центр с демо-данными и пробным звонком")
    d.add_argument(
        "--keep-running", action="store_true", help="продолжать работу после пробного звонка"
    )
    d.set_defaults(fn=cmd_demo)

    db = sub.add_parser("db", help="база данных: миграции, демо-данные")
    db.add_argument(
        "action",
        choices=["upgrade", "demo-data", "revision"],
        help="upgrade — обновить схему, demo-data — загрузить демо-данные, "
        "revision — новая миграция",
    )
    db.add_argument(
        "--slice", metavar="ЧАСТЬ", help="revision: часть проекта, в чей каталог положить файл"
    )
    db.add_argument("-m", "--message", metavar="ТЕКСТ", help="revision: что меняет миграция")
    db.add_argument("--autogenerate", action="store_true", help="revision: сравнить с моделями")
    db.add_argument(
        "--head",
        default="head",
        metavar="РЕВИЗИЯ",
        help="revision: родитель (например, shift@head)",
    )
    db.add_argument("--branch", metavar="МЕТКА", help="revision: метка ветки новой части проекта")
    db.set_defaults(fn=cmd_db)

    from hotline.slices import SLICES, upgrade

    # What the slices' commands may ask of the root: args.migrate(db),
    # args.apply_asterisk(settings).
    p.set_defaults(migrate=upgrade, apply_asterisk=apply_asterisk)
    for sl in SLICES:  # each capability's own commands
        if sl.cli is not None:
            sl.cli(sub)
    return p


def _os_reason(exc: OSError) -> str:
    """A file error the user can act on, in Russian."""
    if isinstance(exc, FileNotFoundError):
        return "нет такого файла или каталога"
    if isinstance(exc, PermissionError):
        return "нет прав доступа"
    if isinstance(exc, IsADirectoryError):
        return "это каталог, а нужен файл"
    if isinstance(exc, NotADirectoryError):
        return "это не каталог"
    return exc.strerror or "ошибка ввода-вывода"


def main(argv: list[str] | None = None) -> int:
    private_files()
    args = build_parser().parse_args(argv)
    # The services log their work; a one-off command prints only its answer
    # (no migration or library INFO lines) unless --log-level asks for more.
    default = "INFO" if args.cmd in ("run", "demo") else "WARNING"
    level = getattr(logging, (args.log_level or default).upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from sqlalchemy.exc import ArgumentError, OperationalError

    from hotline.sandbox import SandboxError
    from webedge.cli_auth import CliAuthError

    try:
        return int(args.fn(args) or 0)
    except (SettingsError, SandboxError, CliAuthError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    except ArgumentError:
        print("hotline: неверный адрес базы данных (--database-url)", file=sys.stderr)
        return 2
    except OperationalError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        print(
            f"hotline: база данных недоступна — проверьте --database-url и что сервер "
            f"запущен ({reason})",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        if exc.filename is None:
            raise
        print(f"hotline: {exc.filename}: {_os_reason(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
