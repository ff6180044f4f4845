"""``hotline outages client add/list/revoke``: the token is printed once,
kept only hashed, and stops working when revoked."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from crm_bridge.db import Database
from hotline.cli import main
from outages.models import ApiClient
from outages.register import OutageRegister, hash_token


def test_client_add_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    base = ["--database-url", url, "--data-dir", str(tmp_path), "outages", "client"]
    assert main([*base, "add", "grid-dispatch"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("otg_")
    assert main([*base, "add", "grid-dispatch"]) == 2
    assert "уже есть" in capsys.readouterr().err
    assert main([*base, "list"]) == 0
    listing = capsys.readouterr().out
    assert "grid-dispatch\tдействует\tне обращался" in listing and token not in listing
    db = Database(url)
    try:
        with db.session() as s:
            assert s.scalars(select(ApiClient.token_hash)).one() == hash_token(token)
        assert OutageRegister(db).client_by_token(token) is not None
        assert main([*base, "revoke", "grid-dispatch"]) == 0
        assert OutageRegister(db).client_by_token(token) is None
        assert main([*base, "revoke", "grid-dispatch"]) == 2
        assert main([*base, "list"]) == 0
        assert "grid-dispatch\tотозван" in capsys.readouterr().out
    finally:
        db.dispose()
