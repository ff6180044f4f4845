"""Operators' phones (issue 12): generated SIP passwords, shown once, kept
as PJSIP digests, rendered into pjsip.conf; ``hotline operators``."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm_bridge.db import Database
from crm_bridge.models import Operator
from shift.models import SipCredential
from shift.phones import REALM, endpoint_sections, issue_phone


def test_a_phone_gets_a_generated_password_kept_as_a_digest(
    db: Database, operators: dict[str, int]
) -> None:
    first = issue_phone(db, "ivanova", "op301")
    second = issue_phone(db, "petrov")
    assert first.password != second.password and len(first.password) >= 20
    with db.session() as s:
        row = s.get(SipCredential, operators["ivanova"])
        op = s.get(Operator, operators["ivanova"])
        assert row is not None and op is not None
        expected = hashlib.md5(f"op301:{REALM}:{first.password}".encode()).hexdigest()
        assert row.password_digest == f"MD5:{expected}"
        assert op.interface == "PJSIP/op301" and op.pjsip_endpoint == "op301"
    conf = endpoint_sections(db)
    assert first.password not in conf and second.password not in conf
    assert f"password_digest = MD5:{expected}" in conf
    assert "[op301](operator-template)" in conf and f"realm = {REALM}" in conf
    # A new password replaces the digest; the old one no longer works.
    again = issue_phone(db, "ivanova")
    assert again.endpoint == "op301" and again.password != first.password
    assert f"MD5:{expected}" not in endpoint_sections(db)


def test_an_endpoint_is_one_persons_and_a_valid_name(
    db: Database, operators: dict[str, int]
) -> None:
    issue_phone(db, "ivanova", "op301")
    with pytest.raises(ValueError, match="уже выдана"):
        issue_phone(db, "petrov", "op301")
    with pytest.raises(ValueError, match="латиница"):
        issue_phone(db, "petrov", "op 1; [x]")
    with pytest.raises(ValueError, match="нет сотрудника"):
        issue_phone(db, "nobody")


def test_disabled_staff_lose_their_phone(db: Database, operators: dict[str, int]) -> None:
    issue_phone(db, "ivanova", "op301")
    with db.session(write=True) as s:
        op = s.get(Operator, operators["ivanova"])
        assert op is not None
        op.active = False
    assert "op301" not in endpoint_sections(db)


def test_cli_adds_staff_with_a_phone_and_prints_it_once(tmp_path: Path) -> None:
    from hotline.cli import build_parser

    url = f"sqlite:///{tmp_path / 'ops.db'}"
    applied: list[Any] = []
    base = ["--database-url", url, "--data-dir", str(tmp_path), "operators"]

    def run(*argv: str) -> str:
        args = build_parser().parse_args([*base, *argv])
        args.apply_asterisk = lambda settings: applied.append(settings) or "перечитано"
        out = io.StringIO()
        assert args.fn(args, out) == 0
        return out.getvalue()

    text = run("add", "smirnova", "--name", "Смирнова Анна", "--phone", "op150")
    assert "пароль для входа на страницы" in text and "op150" in text
    sip_password = next(
        line.split()[-1] for line in text.splitlines() if line.strip().startswith("пароль:")
    )
    assert len(applied) == 1  # the phone was applied to Asterisk
    db = Database(url)
    with db.session() as s:
        row = s.scalars(select(SipCredential).where(SipCredential.endpoint == "op150")).one()
        assert sip_password not in row.password_digest
    assert "op150" in run("list")
    db.dispose()
