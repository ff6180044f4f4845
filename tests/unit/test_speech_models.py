"""``hotline models fetch`` against a real local HTTP server (REQ-T14).

The server serves a small zip shaped like a Vosk model; the pinned spec of
the real ``vosk-model-small-ru-0.22`` is exercised for the refusal paths (a
served file that is not the pinned archive is refused, nothing installed).
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from hotline.cli import main as hotline_main
from ivr.speech_models import (
    RU_SMALL,
    ModelFetchError,
    ModelSpec,
    fetch_model,
    install_archive,
    installed_model,
    is_model_dir,
)

NAME = "vosk-model-tiny-test-0.1"


def _make_zip(path: Path, name: str = NAME, *, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}/am/final.mdl", b"\0" * 2048)
        z.writestr(f"{name}/conf/model.conf", b"--sample-frequency=16000\n")
        z.writestr(f"{name}/graph/words.txt", "ноль 1\nодин 2\n".encode())
        for member, data in (extra or {}).items():
            z.writestr(member, data)
    return path


def _spec(zip_path: Path, **changes: object) -> ModelSpec:
    data = zip_path.read_bytes()
    values: dict[str, object] = {
        "name": NAME,
        "url": "http://unused.invalid/x.zip",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    values.update(changes)
    return ModelSpec(**values)  # type: ignore[arg-type]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving ``<tmp>/www``."""
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=www))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", www
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _leftovers(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


def test_pinned_spec_is_the_official_small_russian_model() -> None:
    assert RU_SMALL.url == "https://alphacephei.com/vosk/models/vosk-model-small-ru-0.22.zip"
    assert len(RU_SMALL.sha256) == 64 and int(RU_SMALL.sha256, 16) >= 0
    assert RU_SMALL.size == 46_236_750


def test_download_verify_unpack(served: tuple[str, Path], tmp_path: Path) -> None:
    base, www = served
    archive = _make_zip(www / f"{NAME}.zip")
    models = tmp_path / "models"
    seen: list[int] = []
    path = fetch_model(
        _spec(archive), models, url=f"{base}/{NAME}.zip", progress=lambda d, t: seen.append(d)
    )
    assert path == models / NAME and is_model_dir(path)
    assert (path / "graph" / "words.txt").read_text() == "ноль 1\nодин 2\n"
    assert seen and seen[-1] == archive.stat().st_size
    assert _leftovers(models) == [NAME]  # no .part, no unpack directory
    # installed: a second fetch does not download (the server is not even asked)
    archive.unlink()
    assert fetch_model(_spec(_make_zip(tmp_path / "x.zip")), models, url=f"{base}/gone") == path


def test_checksum_mismatch_is_rejected_and_nothing_is_left(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    base, www = served
    archive = _make_zip(www / f"{NAME}.zip")
    models = tmp_path / "models"
    with pytest.raises(ModelFetchError, match=r"SHA-256 .* не совпадает с закреплённой"):
        fetch_model(_spec(archive, sha256="0" * 64), models, url=f"{base}/{NAME}.zip")
    assert _leftovers(models) == []


def test_size_announced_by_the_server_must_match(served: tuple[str, Path], tmp_path: Path) -> None:
    base, www = served
    archive = _make_zip(www / f"{NAME}.zip")
    models = tmp_path / "models"
    with pytest.raises(ModelFetchError, match="сервер обещает"):
        fetch_model(
            _spec(archive, size=archive.stat().st_size + 1), models, url=f"{base}/{NAME}.zip"
        )
    assert _leftovers(models) == []


def test_http_error_and_offline_are_clear(served: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = served
    spec = _spec(_make_zip(tmp_path / "a.zip"))
    with pytest.raises(ModelFetchError, match="HTTP 404"):
        fetch_model(spec, tmp_path / "m", url=f"{base}/missing.zip")
    with pytest.raises(ModelFetchError, match=r"Нет интернета.*--from-file"):
        fetch_model(spec, tmp_path / "m", url=f"http://127.0.0.1:{_free_port()}/x.zip", timeout=5)
    assert _leftovers(tmp_path / "m") == []


def test_unsafe_archive_members_are_refused(tmp_path: Path) -> None:
    archive = _make_zip(tmp_path / "evil.zip", extra={f"{NAME}/../../escape.txt": b"x"})
    with pytest.raises(ModelFetchError, match="опасный путь"):
        install_archive(archive, _spec(archive), tmp_path / "models")
    assert not (tmp_path / "escape.txt").exists()
    other = _make_zip(tmp_path / "other.zip", name="something-else")
    with pytest.raises(ModelFetchError, match="вне каталога"):
        install_archive(other, _spec(other), tmp_path / "models")
    assert _leftovers(tmp_path / "models") == []


def test_not_a_model_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "nomodel.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"{NAME}/README", b"hello")
    with pytest.raises(ModelFetchError, match="нет модели Vosk"):
        install_archive(archive, _spec(archive), tmp_path / "models")
    assert _leftovers(tmp_path / "models") == []


def test_offline_install_from_file(tmp_path: Path) -> None:
    archive = _make_zip(tmp_path / f"{NAME}.zip")
    path = install_archive(archive, _spec(archive), tmp_path / "models")
    assert is_model_dir(path)
    with pytest.raises(ModelFetchError, match="байт, у закреплённого"):
        install_archive(archive, RU_SMALL, tmp_path / "models2")


def test_cli_refuses_a_file_that_is_not_the_pinned_archive(
    served: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, www = served
    _make_zip(www / "vosk-model-small-ru-0.22.zip", name="vosk-model-small-ru-0.22")
    data = tmp_path / "data"
    argv = ["--data-dir", str(data), "models", "fetch", "--url"]
    code = hotline_main([*argv, f"{base}/vosk-model-small-ru-0.22.zip"])
    err = capsys.readouterr().err
    assert code == 2 and "ничего не установлено" in err and "Traceback" not in err
    assert _leftovers(data / "models") == []
    code = hotline_main([*argv, f"http://127.0.0.1:{_free_port()}/x.zip"])
    assert code == 2 and "--from-file" in capsys.readouterr().err
    code = hotline_main(["--data-dir", str(data), "models", "fetch", "--from-file", "/nonexistent"])
    assert code == 2 and "нет такого файла" in capsys.readouterr().err


def test_installed_model_is_found_in_the_data_dir(tmp_path: Path) -> None:
    class S:
        vosk_model = None
        data_dir = tmp_path

    assert installed_model(S()) is None
    archive = _make_zip(tmp_path / "r.zip", name=RU_SMALL.name)
    spec = _spec(archive, name=RU_SMALL.name)
    path = install_archive(archive, spec, tmp_path / "models")
    assert installed_model(S()) == path
    S.vosk_model = tmp_path / "elsewhere"  # type: ignore[assignment]
    assert installed_model(S()) == tmp_path / "elsewhere"
