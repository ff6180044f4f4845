"""``hotline campaign …`` (REQ-O1–O3, O10): the whole life of a campaign from
the command line, with the progress bar following the results as the dialer
stores them (the attempts are finished through the dialer's own store).
The command line acts as an authenticated user (``--user`` and the password
from ``HOTLINE_PASSWORD`` or a prompt), never as a role it declares: every
command that changes a campaign or shows personal data; the roles are the
console's (a dispatcher or a supervisor changes, a supervisor who neither
created nor changed the campaign approves: four eyes), and what shows
personal data is audited."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from autoinformer.campaigns import CampaignService
from autoinformer.cli import PASSWORD_ENV, progress_bar
from autoinformer.store import AttemptStore
from crm_bridge.db import Database
from crm_bridge.models import Operator, OperatorRole
from crm_bridge.passwords import hash_password
from hotline.cli import main
from hotline.slices import upgrade
from tests.autoinformer.helpers import make_accounts
from webedge.cli_auth import cli_address
from webedge.models import AuditEvent

REPO = Path(__file__).resolve().parents[2]
MONDAY_NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
"""Inside every call window (the claim checks the call policy)."""


PASSWORD = "верный-пароль"
CLI = cli_address()
"""The command line's address: this OS account on this node."""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Database]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = Database(url)
    upgrade(db)
    with db.session(write=True) as s:
        for login, role in (
            ("petrova", OperatorRole.SUPERVISOR),
            ("orlova", OperatorRole.SUPERVISOR),
            ("sidorov", OperatorRole.OPERATOR),
            ("kuznetsova", OperatorRole.DISPATCHER),
        ):
            s.add(
                Operator(login=login, name=login, role=role, password_hash=hash_password(PASSWORD))
            )
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return ["--data-dir", str(tmp_path / "data"), "--database-url", url], db


def run(base: list[str], *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main([*base, "campaign", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


DISP = ("--user", "kuznetsova")
"""A dispatcher: creates, imports, launches (never approves)."""


def audited(db: Database, action: str) -> list[tuple[str, str, str]]:
    with db.session() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == action))
        return [(a.login, a.subject, a.address) for a in rows]


def test_campaign_life_cycle_from_the_command_line(
    env: tuple[list[str], Database], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, db = env
    phones = ["+79002220001", "+79002220002", "+79002220003"]
    make_accounts(db, phones, prefix="66")
    rc, out, _ = run(
        base,
        "create",
        "--name",
        "Долги из консоли",
        "--kind",
        "debt",
        "--no-caps",
        "--max-attempts",
        "1",
        "--start",
        "2000-01-01T00:00",
        "--end",
        "2100-01-01T00:00",
        *DISP,
        capsys=capsys,
    )
    assert rc == 0 and "создана" in out
    cid = out.strip().splitlines()[-1]
    assert CampaignService(db).get(int(cid)).created_by == "kuznetsova"
    listing = tmp_path / "list.csv"
    listing.write_text(
        "Телефон;Задолженность\n"
        + "".join(f"{p};100,50\n" for p in phones)
        + "+79002220001;5\n"  # duplicate
        + "abc;1\n",
        encoding="utf-8",
    )
    rejected = tmp_path / "rejected.csv"
    rc, out, _ = run(
        base, "import", cid, str(listing), "--rejected", str(rejected), *DISP, capsys=capsys
    )
    assert rc == 0 and "принято 3, отклонено 2" in out
    assert "дубликат" in out and "дубликат" in rejected.read_text(encoding="utf-8-sig")
    rc, out, _ = run(base, "preview", cid, *DISP, capsys=capsys)
    assert "сто рублей пятьдесят копеек" in out
    # Launching before approval is refused with a clear message (REQ-O10).
    rc, _, err = run(base, "start", cid, *DISP, capsys=capsys)
    assert rc == 2 and "утверждённую" in err
    # Approving a draft not sent for approval is refused; the dispatcher sends it.
    rc, _, err = run(base, "approve", cid, "--user", "petrova", capsys=capsys)
    assert rc == 2 and "отправленную на утверждение" in err, err
    rc, out, _ = run(base, "submit", cid, *DISP, capsys=capsys)
    assert rc == 0 and "отправлена на утверждение" in out
    rc, out, _ = run(base, "status", cid, capsys=capsys)
    assert "на утверждении" in out.lower() or "submitted" in out, out
    # The dispatcher who prepared it may not approve it (a role, and four eyes).
    rc, _, err = run(base, "approve", cid, *DISP, capsys=capsys)
    assert rc == 2 and "руководитель" in err
    # An operator's own password does not make a supervisor of them.
    rc, _, err = run(base, "approve", cid, "--user", "sidorov", capsys=capsys)
    assert rc == 2 and "руководитель" in err
    rc, out, _ = run(base, "approve", cid, "--user", "petrova", capsys=capsys)
    assert rc == 0 and "утверждена (petrova)" in out
    assert CampaignService(db).get(int(cid)).approved_by == "petrova"
    rc, out, _ = run(base, "start", cid, *DISP, capsys=capsys)
    assert rc == 0 and "запущена" in out
    rc, out, _ = run(base, "pause", cid, *DISP, capsys=capsys)
    assert rc == 0
    rc, out, _ = run(base, "start", cid, "--user", "orlova", capsys=capsys)
    assert rc == 0 and "продолжена" in out
    rc, out, _ = run(base, "status", cid, capsys=capsys)
    assert rc == 0 and "0/3" in out and out.rstrip().endswith("· Идёт обзвон")

    # The dialer's store finishes the attempts while "status --watch" draws the bar.
    store = AttemptStore(db, "n1")

    def dial() -> None:
        time.sleep(0.3)
        for reason in (None, 5, 3):
            (cl,) = store.claim(1, now=MONDAY_NOON)
            if reason is None:
                store.mark_answered(cl.channel_id)
                store.flow_update(cl.attempt_id, flow_state="completed")
            store.finalise(cl.channel_id, originate_reason=reason, hangup_cause=16)
            time.sleep(0.3)

    t = threading.Thread(target=dial)
    t.start()
    rc, out, _ = run(
        base, "status", cid, "--watch", "--interval", "0.1", "--timeout", "20", capsys=capsys
    )
    t.join()
    assert rc == 0
    lines = [x for x in out.splitlines() if x.startswith("[")]
    assert lines[-1].startswith("[" + "#" * 30 + "]") and "3/3" in lines[-1]
    assert len(lines) >= 3, out  # the bar moved
    assert "Завершена" in lines[-1] and "положительных 1 (33%)" in lines[-1]
    assert "Прослушано до конца: 1" in out and "Занято: 1" in out

    xlsx = tmp_path / "r.xlsx"
    rc, out, _ = run(base, "report", cid, "-o", str(xlsx), *DISP, capsys=capsys)
    assert rc == 0
    wb = load_workbook(xlsx)
    assert len(list(wb["Попытки"].iter_rows())) == 4
    csv_path = tmp_path / "r.csv"
    rc, out, _ = run(base, "report", cid, "-o", str(csv_path), "--user", "petrova", capsys=capsys)
    assert rc == 0 and "Занято" in csv_path.read_text(encoding="utf-8-sig")
    rc, out, _ = run(base, "list", capsys=capsys)
    assert "Долги из консоли" in out and "Завершена" in out
    rc, _, err = run(base, "stop", cid, *DISP, capsys=capsys)
    assert rc == 2 and "уже завершена" in err

    # What showed personal data is in the audit log, as the user who saw it.
    subject = f"campaign:{cid}"
    assert audited(db, "campaign.import") == [("kuznetsova", subject, CLI)]
    assert audited(db, "campaign.preview") == [("kuznetsova", subject, CLI)]
    assert audited(db, "campaign.report") == [
        ("kuznetsova", subject, CLI),
        ("petrova", subject, CLI),
    ]


def test_bad_input_gets_a_clear_error(
    env: tuple[list[str], Database], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = env
    rc, _, err = run(base, "status", "999", capsys=capsys)
    assert rc == 2 and "не найдена" in err
    rc, _, err = run(base, "import", "999", str(tmp_path / "nope.csv"), *DISP, capsys=capsys)
    assert rc == 2 and "нет файла" in err
    rc, _, err = run(base, "create", "--name", "x", "--start", "завтра", *DISP, capsys=capsys)
    assert rc == 2 and "неверная дата" in err
    rc, _, err = run(base, "import", "1", *DISP, capsys=capsys)
    assert rc == 2 and "--debt-over" in err
    rc, _, err = run(base, "pause", "999", *DISP, capsys=capsys)
    assert rc == 2 and "не найдена" in err
    rc, _, err = run(base, "create", "--name", "x", "--channels", "sms,fax", *DISP, capsys=capsys)
    assert rc == 2 and "неизвестный канал «fax»" in err
    rc, out, _ = run(
        base, "create", "--name", "СМС", "--channels", "SMS, phone", *DISP, capsys=capsys
    )
    assert rc == 0
    from autoinformer.campaigns import CampaignService

    cid = int(out.strip().splitlines()[-1])
    assert CampaignService(env[1]).get(cid).channels == "sms,phone"


def test_approve_as_an_authenticated_user_only(
    env: tuple[list[str], Database],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No declared role (``--role`` is gone), no approval without the user's
    password; a refusal is audited like a web log-in's; the password may be
    typed at a prompt."""
    base, db = env
    make_accounts(db, ["+79002220201"], prefix="69")
    rc, out, _ = run(base, "create", "--name", "Кто утверждает", *DISP, capsys=capsys)
    cid = out.strip().splitlines()[-1]
    rc, out, _ = run(base, "import", cid, "--debt-over", "0", *DISP, capsys=capsys)
    assert rc == 0 and "принято 1" in out
    rc, _, _ = run(base, "submit", cid, *DISP, capsys=capsys)
    assert rc == 0
    with pytest.raises(SystemExit) as exit_:
        main([*base, "campaign", "approve", cid, "--user", "sidorov", "--role", "supervisor"])
    assert exit_.value.code == 2
    capsys.readouterr()

    monkeypatch.setenv(PASSWORD_ENV, "не-тот-пароль")
    rc, _, err = run(base, "approve", cid, "--user", "petrova", capsys=capsys)
    assert rc == 2 and "неверный логин или пароль" in err
    rc, _, err = run(base, "approve", cid, "--user", "nobody", capsys=capsys)
    assert rc == 2 and "неверный логин или пароль" in err
    with db.session() as s:
        refused = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "login.refused")))
    assert [(a.login, a.address) for a in refused] == [("petrova", CLI), ("nobody", CLI)]
    assert CampaignService(db).get(int(cid)).status == "submitted"

    # No HOTLINE_PASSWORD: the password is asked for (without echo).
    monkeypatch.delenv(PASSWORD_ENV)
    prompts: list[str] = []

    def typed(prompt: str = "") -> str:
        prompts.append(prompt)
        return PASSWORD

    monkeypatch.setattr("getpass.getpass", typed)
    rc, out, err = run(base, "approve", cid, "--user", "petrova", capsys=capsys)
    assert rc == 0 and "утверждена (petrova)" in out, err
    assert prompts and "petrova" in prompts[0]


def test_four_eyes_from_the_command_line(
    env: tuple[list[str], Database], capsys: pytest.CaptureFixture[str]
) -> None:
    """Who created the campaign, or changed its list, cannot approve it."""
    base, db = env
    make_accounts(db, ["+79002220301"], prefix="70")
    rc, out, _ = run(base, "create", "--name", "Сама себе", "--user", "petrova", capsys=capsys)
    cid = out.strip().splitlines()[-1]
    rc, _, _ = run(base, "import", cid, "--debt-over", "0", "--user", "orlova", capsys=capsys)
    assert rc == 0
    rc, _, _ = run(base, "submit", cid, "--user", "orlova", capsys=capsys)
    assert rc == 0
    for login in ("petrova", "orlova"):
        rc, _, err = run(base, "approve", cid, "--user", login, capsys=capsys)
        assert rc == 2 and "четырёх глаз" in err, (login, err)
    assert CampaignService(db).editors(int(cid)) == ["petrova", "orlova"]
    with db.session(write=True) as s:
        s.add(
            Operator(
                login="volkova",
                name="volkova",
                role=OperatorRole.SUPERVISOR,
                password_hash=hash_password(PASSWORD),
            )
        )
    rc, out, err = run(base, "approve", cid, "--user", "volkova", capsys=capsys)
    assert rc == 0 and "утверждена (volkova)" in out, err


def test_every_change_is_made_as_an_authenticated_user(
    env: tuple[list[str], Database],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--user`` is required and proven by the password on every command that
    changes a campaign or shows its contacts; a refusal exits with 2, a
    Russian message, and changes nothing; the roles are the console's."""
    base, db = env
    cs = CampaignService(db)
    make_accounts(db, ["+79002220401", "+79002220402"], prefix="71")
    listing = tmp_path / "list.csv"
    listing.write_text("Телефон;Задолженность\n+79002220401;10\n", encoding="utf-8")

    # No --user: argparse refuses (status 2); no default such as "cli".
    for argv in (
        ["create", "--name", "Без пользователя"],
        ["import", "1", str(listing)],
        ["preview", "1"],
        ["submit", "1"],
        ["approve", "1"],
        ["refuse", "1", "--reason", "нет"],
        ["start", "1"],
        ["pause", "1"],
        ["stop", "1"],
        ["report", "1", "-o", str(tmp_path / "r.csv")],
    ):
        with pytest.raises(SystemExit) as exit_:
            main([*base, "campaign", *argv])
        assert exit_.value.code == 2, argv
        assert "--user" in capsys.readouterr().err, argv
    assert cs.all() == []

    # A wrong password, an unknown user, an operator: nothing is created.
    monkeypatch.setenv(PASSWORD_ENV, "не-тот-пароль")
    rc, out, err = run(base, "create", "--name", "Чужая", *DISP, capsys=capsys)
    assert rc == 2 and out == "" and "неверный логин или пароль" in err
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    rc, _, err = run(base, "create", "--name", "Чужая", "--user", "nobody", capsys=capsys)
    assert rc == 2 and "неверный логин или пароль" in err
    rc, _, err = run(base, "create", "--name", "Чужая", "--user", "sidorov", capsys=capsys)
    assert rc == 2 and "недостаточно прав" in err and "оператор" in err, err
    assert cs.all() == []

    # A dispatcher creates and imports: the creator and the editor are the
    # authenticated login.
    rc, out, err = run(base, "create", "--name", "Своя", *DISP, capsys=capsys)
    assert rc == 0, err
    cid = out.strip().splitlines()[-1]
    assert cs.get(int(cid)).created_by == "kuznetsova"
    rc, out, err = run(base, "import", cid, str(listing), *DISP, capsys=capsys)
    assert rc == 0 and "принято 1" in out, err
    assert cs.editors(int(cid)) == ["kuznetsova"]

    # Refused imports change nothing (and make nobody an editor).
    monkeypatch.setenv(PASSWORD_ENV, "не-тот-пароль")
    rc, _, err = run(base, "import", cid, "--debt-over", "0", "--user", "orlova", capsys=capsys)
    assert rc == 2 and "неверный логин или пароль" in err
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    rc, _, err = run(base, "import", cid, "--debt-over", "0", "--user", "sidorov", capsys=capsys)
    assert rc == 2 and "недостаточно прав" in err
    assert cs.stats(int(cid)).total == 1 and cs.editors(int(cid)) == ["kuznetsova"]

    # ... and so do refused previews: no data shown, nothing audited.
    rc, out, err = run(base, "preview", cid, "--user", "sidorov", capsys=capsys)
    assert rc == 2 and out == "" and "недостаточно прав" in err
    assert audited(db, "campaign.preview") == []

    # The dispatcher submits it; she cannot approve it (a role); another supervisor can.
    rc, _, err = run(base, "submit", cid, *DISP, capsys=capsys)
    assert rc == 0, err
    rc, _, err = run(base, "approve", cid, *DISP, capsys=capsys)
    assert rc == 2 and "руководитель" in err
    rc, out, err = run(base, "approve", cid, "--user", "orlova", capsys=capsys)
    assert rc == 0 and "утверждена (orlova)" in out, err
    assert cs.get(int(cid)).approved_by == "orlova"

    # Launching, pausing, stopping: a wrong password or an operator changes nothing.
    monkeypatch.setenv(PASSWORD_ENV, "не-тот-пароль")
    for argv in (("start", cid, *DISP), ("stop", cid, "--user", "petrova")):
        rc, _, err = run(base, *argv, capsys=capsys)
        assert rc == 2 and "неверный логин или пароль" in err, argv
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    for cmd in ("start", "stop"):
        rc, _, err = run(base, cmd, cid, "--user", "sidorov", capsys=capsys)
        assert rc == 2 and "недостаточно прав" in err, cmd
    assert cs.get(int(cid)).status == "approved"
    rc, out, err = run(base, "start", cid, *DISP, capsys=capsys)
    assert rc == 0 and "запущена" in out, err
    rc, _, err = run(base, "pause", cid, "--user", "sidorov", capsys=capsys)
    assert rc == 2 and "недостаточно прав" in err
    assert cs.get(int(cid)).status == "running"
    rc, out, err = run(base, "stop", cid, "--user", "petrova", capsys=capsys)
    assert rc == 0 and "остановлена" in out, err

    # Every wrong password is in the audit log, from the command line.
    assert {(login, address) for login, _, address in audited(db, "login.refused")} == {
        ("kuznetsova", CLI),
        ("nobody", CLI),
        ("orlova", CLI),
        ("petrova", CLI),
    }


def test_import_debtors_from_the_crm(
    env: tuple[list[str], Database], capsys: pytest.CaptureFixture[str]
) -> None:
    from decimal import Decimal

    base, db = env
    make_accounts(db, ["+79002220101", "+79002220102"], prefix="67", debt=Decimal("5000"))
    make_accounts(db, ["+79002220103"], prefix="68", debt=Decimal("10"))
    rc, out, _ = run(base, "create", "--name", "Должники", *DISP, capsys=capsys)
    cid = out.strip().splitlines()[-1]
    rc, out, _ = run(base, "import", cid, "--debt-over", "1000", *DISP, capsys=capsys)
    assert rc == 0 and "принято 2, отклонено 0" in out, out
    assert CampaignService(db).editors(int(cid)) == ["kuznetsova"]
    assert audited(db, "campaign.import") == []  # nothing rejected, nothing shown


def test_progress_bar_text() -> None:
    from autoinformer.campaigns import CampaignStats

    st = CampaignStats(1, "running", total=4, finished=1, reached=1, positive=1, in_flight=2)
    assert progress_bar(st, width=8) == (
        "[##------]  25% 1/4 · положительных 1 (100%) · идёт 2 · Идёт обзвон"
    )
    buf = io.StringIO()
    assert buf.getvalue() == ""


def test_installed_command(env: tuple[list[str], Database]) -> None:
    base, _ = env
    proc = subprocess.run(
        [sys.executable, "-m", "hotline.cli", *base, "campaign", "list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    # An up-to-date database: the answer only, no migration or library INFO lines.
    assert proc.stderr == "", proc.stderr


def test_help_is_russian(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["campaign"], ["campaign", "import"], ["campaign", "create"]):
        with pytest.raises(SystemExit) as done:
            main([*argv, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("использование: hotline"), out
        assert "показать эту справку и выйти" in out and "параметры" in out
        assert "show this help" not in out and "usage:" not in out
    with pytest.raises(SystemExit):
        main(["campaign", "--help"])
    out = capsys.readouterr().out
    for words in ("создать кампанию (черновик)", "утвердить кампанию", "отчёт по кампании"):
        assert words in out


def test_every_user_error_is_one_line_and_exit_2(
    env: tuple[list[str], Database], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, db = env
    garbled = tmp_path / "список.csv"
    garbled.write_bytes(b"Phone;Name\r\n+79001112233;\x00\x01\x02\xff")
    no_header = tmp_path / "пусто.csv"
    no_header.write_text("Отчёт за декабрь\nничего;нет\n", encoding="cp1251")
    rc, out, _ = run(base, "create", "--name", "Долги", *DISP, capsys=capsys)
    cid = out.strip().splitlines()[-1]
    cases: list[tuple[list[str], str]] = [
        (["status", "x"], "НОМЕР: неверное значение 'x' (нужно: целое число)"),
        ([], "не указано обязательное: ДЕЙСТВИЕ"),
        (["frobnicate"], "недопустимое значение 'frobnicate'"),
        (["status", "999"], "кампания 999 не найдена"),
        (["import", cid, str(garbled), *DISP], "строка 2: файл двоичный"),
        (["import", cid, str(no_header), *DISP], "не найдена строка заголовков"),
        (["import", cid, str(tmp_path), *DISP], "нет файла"),
        (["create", "--name", "x", "--start", "31.02.2026", *DISP], "несуществующая дата"),
        (["create", "--name", "x", "--start", "завтра", *DISP], "неверная дата"),
        (["start", cid, *DISP], "только утверждённую"),
        (["pause", cid, *DISP], "нельзя перейти из состояния «Черновик» в «Приостановлена»"),
        (["report", cid, "-o", str(tmp_path / "r.pdf"), *DISP], "укажите файл .csv или .xlsx"),
        (["report", cid, "-o", str(tmp_path / "нет" / "r.csv"), *DISP], "файл"),
    ]
    for argv, expected in cases:
        rc, err = run_any(base, *argv, capsys=capsys)
        assert rc == 2, (argv, rc, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (argv, err)
        assert lines[0].startswith("hotline campaign"), lines
    # A good Russian date is taken.
    rc, out, err = run(base, "create", "--name", "y", "--start", "01.06.2026 09:00", *DISP,
                       capsys=capsys)  # fmt: skip
    assert rc == 0, err
    new = int(out.strip().splitlines()[-1])
    start = CampaignService(db).get(new).start_at
    assert start is not None and start.astimezone(UTC) == datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    # A database that cannot be reached: one line.
    rc = main(["--database-url", "postgresql+psycopg://nobody@127.0.0.1:1/x", "campaign", "list"])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == "hotline campaign: база данных недоступна (OperationalError)"


def run_any(base: list[str], *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The exit status and stderr, whether the command returns or argparse exits."""
    try:
        rc = main([*base, "campaign", *argv])
    except SystemExit as exc:
        rc = int(exc.code or 0)
    return rc, capsys.readouterr().err
