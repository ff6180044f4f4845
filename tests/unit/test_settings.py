"""Typed settings in layers: defaults → file → environment → command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings
from hotline.cli import main as cli_main
from hotline.sandbox import Sandbox, SandboxError


def test_layers_in_order(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text('[hotline]\nweb_port = 9000\ntimezone = "Asia/Omsk"\nami_port = 6000\n')
    env = {"HOTLINE_WEB_PORT": "9100", "HOTLINE_DATA_DIR": str(tmp_path / "data")}
    s = load_settings(cfg, {"web_port": 9200}, environ=env)
    assert s.web_port == 9200  # command line beats environment beats file
    assert s.timezone == "Asia/Omsk"  # file beats default
    assert s.ami_port == 6000
    assert s.data == tmp_path / "data"
    assert s.db_url == f"sqlite:///{tmp_path / 'data' / 'hotline.db'}"  # the embedded default
    s2 = load_settings(cfg, environ=env)
    assert s2.web_port == 9100


def test_postgres_url_and_types(tmp_path: Path) -> None:
    env = {
        "HOTLINE_DATABASE_URL": "postgresql+psycopg://u@db/hotline",
        "HOTLINE_TEST_MODE": "yes",
        "HOTLINE_EXTRA_HOLIDAYS": "2026-12-31, 2027-01-09",
        "HOTLINE_DATA_DIR": str(tmp_path),
    }
    s = load_settings(environ=env)
    assert s.db_url.startswith("postgresql+psycopg://")
    assert s.test_mode is True
    assert s.extra_holidays == ["2026-12-31", "2027-01-09"]


@pytest.mark.parametrize(
    ("content", "env", "message"),
    [
        ("[hotline]\nno_such = 1\n", {}, "unknown setting"),
        ("[hotline\n", {}, "config file"),
        ("", {"HOTLINE_AMI_PORT": "fifty"}, "ami_port"),
        ("", {"HOTLINE_ASTERISK_MODE": "docker"}, "asterisk_mode"),
    ],
)
def test_bad_settings_are_clear_errors(
    tmp_path: Path, content: str, env: dict[str, str], message: str
) -> None:
    cfg = tmp_path / "h.toml"
    cfg.write_text(content)
    env = {"HOTLINE_DATA_DIR": str(tmp_path), **env}
    with pytest.raises(SettingsError, match=message):
        load_settings(cfg, environ=env)


def test_ami_secret_generated_once_outside_the_repo(tmp_path: Path) -> None:
    s = load_settings(environ={"HOTLINE_DATA_DIR": str(tmp_path)})
    first = s.secret()
    assert len(first) >= 24 and s.secret() == first
    assert (tmp_path / "ami.secret").stat().st_mode & 0o077 == 0


def test_asterisk_paths_map_into_the_root(tmp_path: Path) -> None:
    s = load_settings(environ={"HOTLINE_ASTERISK_ROOT": str(tmp_path)})
    assert s.data == tmp_path / "var/lib/hotline"
    assert s.ast_path(s.spool_dir) == "/var/lib/hotline/recordings"
    with pytest.raises(SettingsError, match="outside the Asterisk root"):
        s.ast_path(Path("/elsewhere"))


def test_no_asterisk_route_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("hotline.sandbox.system_asterisk", lambda: None)
    s = load_settings(environ={"HOTLINE_ASTERISK_ROOT": "/", "HOTLINE_DATA_DIR": str(tmp_path)})
    with pytest.raises(SandboxError, match="install the 'asterisk' package"):
        Sandbox(s).ensure_root()
    monkeypatch.setenv("HOTLINE_ASTERISK_ROOT", "/")
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    assert cli_main(["asterisk", "status"]) in (1, 2)
    code = cli_main(["--config", str(tmp_path / "missing.toml"), "asterisk", "status"])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
