"""``hotline campaign …`` (REQ-O1–O3, O10): the whole life of a campaign from
the command line, with the progress bar following the results as the dialer
stores them (the attempts are finished through the dialer's own store)."""

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

from autoinformer.cli import progress_bar
from autoinformer.store import AttemptStore
from crm_bridge.db import Database
from hotline.cli import main
from tests.autoinformer.helpers import make_accounts

REPO = Path(__file__).resolve().parents[2]
MONDAY_NOON = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
"""Inside every call window (the claim checks the call policy)."""


@pytest.fixture
def env(tmp_path: Path) -> tuple[list[str], Database]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    db = Database(url)
    db.upgrade()
    return ["--data-dir", str(tmp_path / "data"), "--database-url", url], db


def run(base: list[str], *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main([*base, "campaign", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


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
        capsys=capsys,
    )
    assert rc == 0 and "создана" in out
    cid = out.strip().splitlines()[-1]
    listing = tmp_path / "list.csv"
    listing.write_text(
        "Телефон;Задолженность\n"
        + "".join(f"{p};100,50\n" for p in phones)
        + "+79002220001;5\n"  # duplicate
        + "abc;1\n",
        encoding="utf-8",
    )
    rejected = tmp_path / "rejected.csv"
    rc, out, _ = run(base, "import", cid, str(listing), "--rejected", str(rejected), capsys=capsys)
    assert rc == 0 and "принято 3, отклонено 2" in out
    assert "дубликат" in out and "дубликат" in rejected.read_text(encoding="utf-8-sig")
    rc, out, _ = run(base, "preview", cid, capsys=capsys)
    assert "сто рублей пятьдесят копеек" in out
    # Launching before approval is refused with a clear message (REQ-O10).
    rc, _, err = run(base, "start", cid, capsys=capsys)
    assert rc == 2 and "утверждённую" in err
    rc, _, err = run(base, "approve", cid, "--user", "petrova", "--role", "operator", capsys=capsys)
    assert rc == 2 and "руководитель" in err
    rc, out, _ = run(base, "approve", cid, "--user", "petrova", capsys=capsys)
    assert rc == 0 and "утверждена" in out
    rc, out, _ = run(base, "start", cid, capsys=capsys)
    assert rc == 0 and "запущена" in out
    rc, out, _ = run(base, "pause", cid, capsys=capsys)
    assert rc == 0
    rc, out, _ = run(base, "start", cid, capsys=capsys)
    assert rc == 0 and "продолжена" in out
    rc, out, _ = run(base, "status", cid, capsys=capsys)
    assert rc == 0 and "0/3" in out and "Идёт" not in out and "running" in out

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
    assert "completed" in lines[-1] and "положительных 1 (33%)" in lines[-1]
    assert "Прослушано до конца: 1" in out and "Занято: 1" in out

    xlsx = tmp_path / "r.xlsx"
    rc, out, _ = run(base, "report", cid, "-o", str(xlsx), capsys=capsys)
    assert rc == 0
    wb = load_workbook(xlsx)
    assert len(list(wb["Попытки"].iter_rows())) == 4
    csv_path = tmp_path / "r.csv"
    rc, out, _ = run(base, "report", cid, "-o", str(csv_path), capsys=capsys)
    assert rc == 0 and "Занято" in csv_path.read_text(encoding="utf-8-sig")
    rc, out, _ = run(base, "list", capsys=capsys)
    assert "Долги из консоли" in out and "Завершена" in out
    rc, _, err = run(base, "stop", cid, capsys=capsys)
    assert rc == 2 and "уже завершена" in err


def test_bad_input_gets_a_clear_error(
    env: tuple[list[str], Database], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _ = env
    rc, _, err = run(base, "status", "999", capsys=capsys)
    assert rc == 2 and "не найдена" in err
    rc, _, err = run(base, "import", "999", str(tmp_path / "nope.csv"), capsys=capsys)
    assert rc == 2 and "нет файла" in err
    rc, _, err = run(base, "create", "--name", "x", "--start", "завтра", capsys=capsys)
    assert rc == 2 and "неверная дата" in err
    rc, _, err = run(base, "import", "1", capsys=capsys)
    assert rc == 2 and "--debt-over" in err


def test_import_debtors_from_the_crm(
    env: tuple[list[str], Database], capsys: pytest.CaptureFixture[str]
) -> None:
    from decimal import Decimal

    base, db = env
    make_accounts(db, ["+79002220101", "+79002220102"], prefix="67", debt=Decimal("5000"))
    make_accounts(db, ["+79002220103"], prefix="68", debt=Decimal("10"))
    rc, out, _ = run(base, "create", "--name", "Должники", capsys=capsys)
    cid = out.strip().splitlines()[-1]
    rc, out, _ = run(base, "import", cid, "--debt-over", "1000", capsys=capsys)
    assert rc == 0 and "принято 2, отклонено 0" in out, out


def test_progress_bar_text() -> None:
    from autoinformer.campaigns import CampaignStats

    st = CampaignStats(1, "running", total=4, finished=1, positive=1, in_flight=2)
    assert progress_bar(st, width=8) == (
        "[##------]  25% 1/4 · положительных 1 (100%) · идёт 2 · running"
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
