"""Speech models on disk: ``hotline models fetch`` (REQ-T14).

Downloads ``vosk-model-small-ru-0.22`` from its official source
(https://alphacephei.com/vosk/models/) where the machine has internet, checks
it against the pinned SHA-256 and size *before* anything is unpacked, and
unpacks it into the model directory (``--dir``; default: the parent of
``settings.vosk_model`` if set, else ``<data>/models``). Offline, the same
archive copied onto the machine is installed with ``--from-file`` (the same
checks), or unpacked by hand and pointed to with ``HOTLINE_VOSK_MODEL``.

Nothing half-done is left behind: the download goes to a ``.part`` file and
the archive is unpacked into a temporary directory that is renamed into place
only after the model's structure was checked. Archive members that would land
outside the target (``..``, absolute paths, links) are refused, and the
unpacked size is capped.

The pinned digest and size of ``vosk-model-small-ru-0.22.zip`` are those
published for the official archive (the same values are recorded by several
independent projects); they could not be re-measured here (no internet).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import stat
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

log = logging.getLogger(__name__)

__all__ = [
    "RU_SMALL",
    "ModelFetchError",
    "ModelSpec",
    "add_models_parser",
    "default_models_dir",
    "fetch_model",
    "install_archive",
    "installed_model",
    "is_model_dir",
    "main_models",
]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    """The archive's top directory and the installed directory name."""
    url: str
    sha256: str
    size: int | None
    """Archive size in bytes (checked against Content-Length and the download)."""
    max_unpacked: int = 300 * 1024 * 1024
    """Refuse archives that unpack to more than this."""

    @property
    def filename(self) -> str:
        return f"{self.name}.zip"


RU_SMALL = ModelSpec(
    name="vosk-model-small-ru-0.22",
    url="https://alphacephei.com/vosk/models/vosk-model-small-ru-0.22.zip",
    sha256="961d5ff98a17f4aa6de69864d0aa71fa5bac682301d2b5d17a3f24c5c99a46d4",
    size=46_236_750,
)
"""The small Russian model: grammar-capable at run time (the big one is not)."""

CHUNK = 256 * 1024
DOWNLOAD_TIMEOUT = 30.0
"""Seconds of socket inactivity before the download is abandoned."""


class ModelFetchError(Exception):
    """A model could not be fetched or installed (one clear message, nothing left behind)."""


def is_model_dir(path: Path) -> bool:
    """A Vosk model directory (``am/final.mdl`` or, older layout, ``final.mdl``; ``conf/``)."""
    return ((path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()) and (
        path / "conf"
    ).is_dir()


def default_models_dir(settings: Any) -> Path:
    """Where models are installed: next to ``vosk_model`` if configured, else ``<data>/models``."""
    configured = getattr(settings, "vosk_model", None)
    if configured:
        return Path(configured).parent
    return Path(settings.data) / "models"


def installed_model(settings: Any, spec: ModelSpec = RU_SMALL) -> Path | None:
    """The configured model, else ``spec`` installed in the default models directory."""
    configured = getattr(settings, "vosk_model", None)
    if configured:
        return Path(configured)
    data = getattr(settings, "data_dir", None)
    if data is None:
        return None
    candidate = Path(data) / "models" / spec.name
    return candidate if is_model_dir(candidate) else None


# -- download --------------------------------------------------------------------------


def _download(
    spec: ModelSpec,
    url: str,
    part: Path,
    *,
    timeout: float,
    progress: Callable[[int, int | None], None] | None,
) -> str:
    """Stream ``url`` into ``part``; returns the SHA-256 of what was written."""
    request = urllib.request.Request(url, headers={"User-Agent": "hotline-models/1"})
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length_header = response.headers.get("Content-Length")
            length = int(length_header) if length_header and length_header.isdigit() else None
            if spec.size is not None and length is not None and length != spec.size:
                raise ModelFetchError(
                    f"{url}: сервер обещает {length} байт, у закреплённого архива "
                    f"{spec.size}: это не тот файл, ничего не установлено"
                )
            limit = spec.size if spec.size is not None else spec.max_unpacked
            done = 0
            with part.open("wb") as out:
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    done += len(chunk)
                    if done > limit:
                        raise ModelFetchError(
                            f"{url}: получено больше {limit} байт: это не тот файл, "
                            "ничего не установлено"
                        )
                    digest.update(chunk)
                    out.write(chunk)
                    if progress is not None:
                        progress(done, length)
            if spec.size is not None and done != spec.size:
                raise ModelFetchError(
                    f"{url}: загрузка оборвалась на {done} из {spec.size} байт "
                    "(разрыв соединения?); ничего не установлено, повторите команду"
                )
    except urllib.error.HTTPError as exc:
        raise ModelFetchError(f"{url}: сервер ответил HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelFetchError(
            f"не удалось скачать {url}: {reason}. Нет интернета? Скопируйте {spec.filename} "
            "на эту машину и выполните `hotline models fetch --from-file <путь>` или "
            "распакуйте его куда угодно и укажите каталог в HOTLINE_VOSK_MODEL "
            "(README, Speech models)"
        ) from exc
    return digest.hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- unpacking -------------------------------------------------------------------------


def _safe_members(archive: zipfile.ZipFile, spec: ModelSpec) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    if not members:
        raise ModelFetchError(f"{spec.filename} пуст")
    total = 0
    for info in members:
        name = PurePosixPath(info.filename)
        if name.is_absolute() or ".." in name.parts or "\\" in info.filename:
            raise ModelFetchError(f"{spec.filename}: опасный путь в архиве {info.filename!r}")
        if not name.parts or name.parts[0] != spec.name:
            raise ModelFetchError(
                f"{spec.filename}: файл {info.filename!r} вне каталога {spec.name}/"
            )
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ModelFetchError(
                f"{spec.filename}: символическая ссылка {info.filename!r} не принимается"
            )
        total += info.file_size
        if total > spec.max_unpacked:
            raise ModelFetchError(
                f"{spec.filename} распаковывается больше чем в {spec.max_unpacked} байт: отказано"
            )
    return members


def install_archive(
    archive_path: Path, spec: ModelSpec, models_dir: Path, *, force: bool = False
) -> Path:
    """Check ``archive_path`` against the pinned digest and unpack it into ``models_dir``."""
    if not archive_path.is_file():
        raise ModelFetchError(f"{archive_path}: нет такого файла")
    size = archive_path.stat().st_size
    if spec.size is not None and size != spec.size:
        raise ModelFetchError(
            f"{archive_path}: {size} байт, у закреплённого {spec.filename} {spec.size}: "
            "это не тот файл, ничего не установлено"
        )
    actual = _sha256_file(archive_path)
    if actual != spec.sha256:
        raise ModelFetchError(
            f"{archive_path}: SHA-256 {actual} не совпадает с закреплённой {spec.sha256}: "
            "отказано, ничего не установлено"
        )
    return _unpack_verified(archive_path, spec, models_dir, force=force)


def _unpack_verified(archive_path: Path, spec: ModelSpec, models_dir: Path, *, force: bool) -> Path:
    target = models_dir / spec.name
    if target.exists() and not force:
        if is_model_dir(target):
            return target
        raise ModelFetchError(f"{target} существует, но это не модель Vosk; заменить: --force")
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}.unpack-", dir=models_dir))
    try:
        try:
            with zipfile.ZipFile(archive_path) as archive:
                members = _safe_members(archive, spec)
                for info in members:
                    archive.extract(info, tmp)
        except zipfile.BadZipFile as exc:
            raise ModelFetchError(f"{archive_path}: это не архив ZIP или он повреждён") from exc
        unpacked = tmp / spec.name
        if not is_model_dir(unpacked):
            raise ModelFetchError(f"в {spec.filename} нет модели Vosk (нет am/final.mdl и conf/)")
        if target.exists():
            old = models_dir / f".{spec.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
            unpacked.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            unpacked.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def fetch_model(
    spec: ModelSpec = RU_SMALL,
    models_dir: Path | None = None,
    *,
    url: str | None = None,
    force: bool = False,
    timeout: float = DOWNLOAD_TIMEOUT,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download ``spec`` (from ``url``, default the official one), verify, unpack.

    Returns the model directory. Raises :class:`ModelFetchError`.
    """
    if models_dir is None:
        raise ModelFetchError("no models directory given")
    target = models_dir / spec.name
    if is_model_dir(target) and not force:
        log.info("%s is already installed in %s", spec.name, target)
        return target
    source = url or spec.url
    if not source.startswith(("https://", "http://")):
        raise ModelFetchError(f"{source}: поддерживаются только адреса http(s) (или --from-file)")
    models_dir.mkdir(parents=True, exist_ok=True)
    fd, part_name = tempfile.mkstemp(prefix=f".{spec.filename}.", suffix=".part", dir=models_dir)
    os.close(fd)
    part = Path(part_name)
    try:
        actual = _download(spec, source, part, timeout=timeout, progress=progress)
        if actual != spec.sha256:
            raise ModelFetchError(
                f"{source}: SHA-256 {actual} не совпадает с закреплённой {spec.sha256}: "
                "отказано, ничего не установлено"
            )
        return _unpack_verified(part, spec, models_dir, force=force)
    finally:
        part.unlink(missing_ok=True)


# -- command line ----------------------------------------------------------------------


def add_models_parser(sub: Any) -> argparse.ArgumentParser:
    """``hotline models fetch`` (registered by :func:`hotline.cli.build_parser`)."""
    m: argparse.ArgumentParser = sub.add_parser(
        "models",
        help="модели распознавания речи (Vosk) для показаний счётчиков",
        description="Скачать и установить модель распознавания русской речи "
        f"{RU_SMALL.name} (проверка SHA-256).",
    )
    m.add_argument("action", choices=["fetch"], help="fetch — скачать и установить")
    m.add_argument(
        "--dir",
        type=Path,
        metavar="КАТАЛОГ",
        help="каталог моделей (по умолчанию рядом с vosk_model или <данные>/models)",
    )
    m.add_argument("--url", metavar="URL", help=f"скачать с этого зеркала вместо {RU_SMALL.url}")
    m.add_argument(
        "--from-file",
        type=Path,
        metavar="ФАЙЛ",
        help=f"установить из копии {RU_SMALL.filename} (без интернета)",
    )
    m.add_argument("--force", action="store_true", help="заменить установленную модель")
    return m


def _progress_printer() -> Callable[[int, int | None], None]:
    state = {"shown": -1}

    def show(done: int, total: int | None) -> None:
        if total:
            tenth = done * 10 // total
            if tenth != state["shown"]:
                state["shown"] = tenth
                print(f"  {done * 100 // total} %", file=sys.stderr)

    return show


def main_models(settings: Any, args: argparse.Namespace) -> int:
    """Run ``hotline models fetch``; 0 on success, 2 with one message on failure."""
    models_dir = args.dir or default_models_dir(settings)
    try:
        if args.from_file is not None:
            path = install_archive(args.from_file, RU_SMALL, models_dir, force=args.force)
        else:
            print(f"загрузка {args.url or RU_SMALL.url}", file=sys.stderr)
            path = fetch_model(
                RU_SMALL,
                models_dir,
                url=args.url,
                force=args.force,
                progress=_progress_printer(),
            )
    except (ModelFetchError, OSError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    print(f"{RU_SMALL.name} установлена в {path} (SHA-256 {RU_SMALL.sha256[:16]}… проверена)")
    if installed_model(settings) == path:
        print("приём показаний голосом возьмёт её при следующем запуске")
    else:
        print(f"чтобы её использовать: HOTLINE_VOSK_MODEL={path}")
    return 0
