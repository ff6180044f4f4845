"""The prompt catalogue: texts, word prompts, generated audio and playback names.

Sources of truth:

* ``recordings/prompts.toml`` holds every hand-written prompt text, grouped
  (``common``, ``menu``, ``ident``, ...). A prompt id is ``"group/name"``,
  e.g. ``"common/recording_warning"``.
* The ``words`` group is never hand-written: it is built from
  :data:`ivr.say_ru.VOCABULARY` (every token the Russian number/money/date
  speaker can produce). A token's id is :func:`word_prompt_id`, an ASCII
  transliteration (``"двадцать"`` -> ``"words/dvadtsat"``).

:func:`generate` turns the catalogue into 8 kHz 16-bit mono PCM WAV files
(``<out_dir>/<group>/<name>.wav``) with an offline Russian TTS (RHVoice when
installed, else espeak-ng) and sox. :class:`SoundResolver` maps prompt ids and
say_ru tokens to the names Asterisk plays (``Playback``/``STREAM FILE``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from core import debroot

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger(__name__)

Engine = Literal["auto", "espeak", "rhvoice"]

WORDS_GROUP = "words"
"""Group of the word prompts generated from :data:`ivr.say_ru.VOCABULARY`."""

PROMPTS_ENV = "HOTLINE_PROMPTS_FILE"
"""Environment variable that overrides the catalogue location."""

AUDIO_FORMAT = "wav-pcm16-mono-8000"
"""Identifies the produced audio format and the sox pipeline; part of the hash."""

_PIPELINE_VERSION = "3"
"""Bump when the synthesis/sox parameters change: every prompt regenerates."""

_ID_PART = r"[a-z][a-z0-9_]*"
PROMPT_ID_RE = re.compile(rf"^{_ID_PART}/[a-z0-9][a-z0-9_]*$")
"""A well-formed prompt id: ``group/name``, lower-case ASCII."""

ESPEAK_VOICE = "ru"
ESPEAK_SPEED_WPM = 150
DEFAULT_RHVOICE_VOICE = "anna"
"""The default voice (setting ``tts_voice``): female, GPL-2+ per Debian's
copyright file of rhvoice-russian 1.14 (many other voices are non-commercial)."""
RHVOICE_PACKAGES = ("rhvoice", "rhvoice-russian")
RHVOICE_ROOT_VERSION = "1:" + ",".join(RHVOICE_PACKAGES)
"""Stamp of the private RHVoice root: change it to rebuild every cached root."""

_RHVOICE_VOICE_DIRS = (
    Path("/usr/share/RHVoice/voices"),
    Path("/usr/local/share/RHVoice/voices"),
    Path("/usr/share/rhvoice/voices"),
)

# Cyrillic -> ASCII, readable (close to the BGN/PCGN / passport style).
# Lossy points: soft/hard signs are dropped, and "ts"/"sh"/"kh"... could come
# from two letters; collisions are checked over the whole vocabulary
# (:func:`check_word_ids`) when the catalogue is built.
_TRANSLIT = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "yo",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "j",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "eh",
    "ю": "yu",
    "я": "ya",
}

_ASCII_PASS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")

# Tokens for which Asterisk's Russian sound set (ru_RU_f_IvrvoiceRU) has a
# recording with exactly that word form. Only forms we are sure of are listed:
# the cardinal numbers and the big-number words in the nominative singular.
# Ordinals (digits/h-N), months (digits/mon-N) and the gendered 1n/2n files
# are left out: their grammatical case/gender is not documented, and a wrong
# form is worse than a different voice. ``digits/100`` ... ``digits/900`` are
# missing from the package (PLATFORM.md), so hundreds are always our own.
_ASTERISK_DIGITS: Mapping[str, str] = {
    "ноль": "digits/0",
    "один": "digits/1",
    "два": "digits/2",
    "три": "digits/3",
    "четыре": "digits/4",
    "пять": "digits/5",
    "шесть": "digits/6",
    "семь": "digits/7",
    "восемь": "digits/8",
    "девять": "digits/9",
    "десять": "digits/10",
    "одиннадцать": "digits/11",
    "двенадцать": "digits/12",
    "тринадцать": "digits/13",
    "четырнадцать": "digits/14",
    "пятнадцать": "digits/15",
    "шестнадцать": "digits/16",
    "семнадцать": "digits/17",
    "восемнадцать": "digits/18",
    "девятнадцать": "digits/19",
    "двадцать": "digits/20",
    "тридцать": "digits/30",
    "сорок": "digits/40",
    "пятьдесят": "digits/50",
    "шестьдесят": "digits/60",
    "семьдесят": "digits/70",
    "восемьдесят": "digits/80",
    "девяносто": "digits/90",
    "тысяча": "digits/thousand",
    "миллион": "digits/million",
    "миллиард": "digits/billion",
    "минус": "digits/minus",
}

PHRASE_CASES = ("nom", "gen", "dat", "acc", "ins", "prep")
"""Values of a prompt's ``then`` (the cases of :data:`ivr.phrases_ru.CASES`)."""

ASTERISK_BUILTIN_GROUPS = ("digits", "letters", "phonetic", "silence")
"""Asterisk's own sound directories: ids under them are played as they are."""

_ASTERISK_BUILTIN_NAMES = ("beep",)


# --------------------------------------------------------------------------
# Errors


class PromptError(Exception):
    """Base class of the prompt catalogue errors."""


class CatalogueError(PromptError):
    """The catalogue file is malformed (bad id, empty text, duplicate...)."""


class UnknownPromptError(PromptError, KeyError):
    """A prompt id that is not in the catalogue."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class TTSUnavailableError(PromptError):
    """No usable speech synthesiser (or sox) is installed."""


class TTSFailedError(PromptError):
    """The synthesiser or sox failed on one prompt."""


# --------------------------------------------------------------------------
# Ids


def transliterate(text: str) -> str:
    """ASCII form of a Russian word for file names (``"двадцать"`` -> ``"dvadtsat"``).

    Lower-cases; Latin letters and digits pass through; spaces and hyphens
    become ``_``. Raises :class:`ValueError` on any other character.
    """
    out: list[str] = []
    for ch in text.strip().lower():
        if ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
        elif ch in _ASCII_PASS:
            out.append(ch)
        elif ch in " -_":
            out.append("_")
        else:
            raise ValueError(f"cannot transliterate {ch!r} in {text!r}")
    result = re.sub(r"_+", "_", "".join(out)).strip("_")
    if not result:
        raise ValueError(f"empty transliteration of {text!r}")
    return result


def word_prompt_id(token: str) -> str:
    """Prompt id of a say_ru word token: ``"words/<transliteration>"``."""
    return f"{WORDS_GROUP}/{transliterate(token)}"


def check_word_ids(tokens: Iterable[str]) -> dict[str, str]:
    """Map ``word_prompt_id(token) -> token``; raise if two tokens share an id."""
    by_id: dict[str, str] = {}
    for token in sorted(set(tokens)):
        pid = word_prompt_id(token)
        other = by_id.get(pid)
        if other is not None and other != token:
            raise CatalogueError(f"word prompt id collision: {other!r} and {token!r} -> {pid}")
        by_id[pid] = token
    return by_id


def say_ru_vocabulary() -> frozenset[str] | None:
    """Every word token the IVR speaks: :data:`ivr.phrases_ru.VOCABULARY` (the
    words of :mod:`ivr.say_ru` and their forms in every case), or None when
    that module is not there."""
    try:
        module = importlib.import_module("ivr.phrases_ru")
    except ModuleNotFoundError as exc:
        if exc.name in ("ivr.phrases_ru", "ivr.say_ru"):
            return None
        raise
    vocabulary = getattr(module, "VOCABULARY", None)
    if vocabulary is None:
        return None
    return frozenset(str(t) for t in vocabulary)


# --------------------------------------------------------------------------
# Catalogue


@dataclass(frozen=True, slots=True)
class Prompt:
    id: str
    text: str
    note: str = ""
    then: str = ""
    """For a fragment followed by a spoken value: the case that value is said
    in (``nom``, ``gen``, ``dat``, ``acc``, ``ins``, ``prep``; see
    :mod:`ivr.phrases_ru`). Empty for a prompt followed by no value."""

    @property
    def group(self) -> str:
        return self.id.split("/", 1)[0]


def default_catalogue_path() -> Path:
    """``$HOTLINE_PROMPTS_FILE`` or ``recordings/prompts.toml`` of the repository.

    The repository root is the parent of the ``ivr`` package; an installed
    copy also looks in ``<sys.prefix>/share/hotline/recordings``.
    """
    env = os.environ.get(PROMPTS_ENV)
    if env:
        return Path(env)
    candidates = [
        Path(__file__).resolve().parent.parent / "recordings" / "prompts.toml",
        Path(sys.prefix) / "share" / "hotline" / "recordings" / "prompts.toml",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return candidates[0]


class PromptCatalogue:
    """Immutable map of prompt id -> :class:`Prompt`."""

    def __init__(self, prompts: Iterable[Prompt], source: Path | None = None) -> None:
        items: dict[str, Prompt] = {}
        for prompt in prompts:
            if not PROMPT_ID_RE.match(prompt.id):
                raise CatalogueError(f"malformed prompt id {prompt.id!r}")
            if not prompt.text.strip():
                raise CatalogueError(f"empty text for prompt {prompt.id!r}")
            if prompt.id in items:
                raise CatalogueError(f"duplicate prompt id {prompt.id!r}")
            items[prompt.id] = prompt
        self._prompts: Mapping[str, Prompt] = items
        self.source = source

    @classmethod
    def load(
        cls,
        path: Path | str | None = None,
        *,
        vocabulary: Iterable[str] | None = None,
        include_words: bool = True,
    ) -> PromptCatalogue:
        """Read the TOML catalogue and add the ``words`` group.

        ``vocabulary`` defaults to :data:`ivr.say_ru.VOCABULARY` (no words if
        that module does not exist). A ``[words]`` table in the file is an
        error: word prompts are derived, never hand-written.
        """
        source = Path(path) if path is not None else default_catalogue_path()
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise CatalogueError(f"prompt catalogue not found: {source}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise CatalogueError(f"{source}: {exc}") from exc
        prompts = list(_parse_groups(data, source))
        if include_words:
            words = vocabulary if vocabulary is not None else say_ru_vocabulary()
            if words is not None:
                prompts.extend(word_prompts(words))
        return cls(prompts, source)

    def text(self, prompt_id: str) -> str:
        return self.get(prompt_id).text

    def get(self, prompt_id: str) -> Prompt:
        try:
            return self._prompts[prompt_id]
        except KeyError:
            raise UnknownPromptError(f"unknown prompt id {prompt_id!r}") from None

    def ids(self) -> list[str]:
        """All prompt ids, in file order (words last, sorted)."""
        return list(self._prompts)

    def groups(self) -> list[str]:
        return list(dict.fromkeys(p.group for p in self._prompts.values()))

    def subset(self, ids: Iterable[str]) -> PromptCatalogue:
        """A catalogue with only ``ids`` (all must exist)."""
        return PromptCatalogue([self.get(i) for i in ids], self.source)

    def replace(self, prompt_id: str, text: str) -> PromptCatalogue:
        """A copy with one prompt's text changed."""
        old = self.get(prompt_id)
        return PromptCatalogue(
            [Prompt(p.id, text, p.note, p.then) if p.id == old.id else p for p in self],
            self.source,
        )

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self._prompts

    def __iter__(self) -> Iterator[Prompt]:
        return iter(self._prompts.values())

    def __len__(self) -> int:
        return len(self._prompts)


def _parse_groups(data: Mapping[str, object], source: Path) -> Iterator[Prompt]:
    for group, table in data.items():
        if group == WORDS_GROUP:
            raise CatalogueError(
                f"{source}: the [{WORDS_GROUP}] group is generated from "
                "ivr.say_ru.VOCABULARY and must not be written by hand"
            )
        if not isinstance(table, dict):
            raise CatalogueError(f"{source}: top-level {group!r} must be a table of prompts")
        for name, value in table.items():
            pid = f"{group}/{name}"
            if isinstance(value, str):
                yield Prompt(pid, value.strip())
            elif isinstance(value, dict):
                text = value.get("text")
                note = value.get("note", "")
                then = value.get("then", "")
                extra = set(value) - {"text", "note", "then"}
                if (
                    not isinstance(text, str)
                    or not isinstance(note, str)
                    or not isinstance(then, str)
                    or extra
                ):
                    raise CatalogueError(
                        f"{source}: {pid} must be a string or a table with 'text' and "
                        "optional 'note' and 'then'"
                    )
                if then and then not in PHRASE_CASES:
                    raise CatalogueError(
                        f"{source}: {pid}: then = {then!r} is not a case "
                        f"({', '.join(PHRASE_CASES)})"
                    )
                yield Prompt(pid, " ".join(text.split()), note.strip(), then)
            else:
                raise CatalogueError(f"{source}: {pid} must be a string or a table")


def word_prompts(tokens: Iterable[str]) -> list[Prompt]:
    """The ``words`` group for ``tokens`` (collisions rejected), sorted by id."""
    by_id = check_word_ids(tokens)
    return [
        Prompt(pid, token, "generated from ivr.say_ru.VOCABULARY")
        for pid, token in sorted(by_id.items())
    ]


def missing_prompts(used_ids: Iterable[str], catalogue: PromptCatalogue) -> list[str]:
    """Ids in ``used_ids`` that the catalogue lacks (sorted, unique).

    Asterisk's own sounds (``digits/5``, ``beep``...) are never missing here.
    """
    return sorted(
        {pid for pid in used_ids if pid not in catalogue and not is_asterisk_builtin(pid)}
    )


def is_asterisk_builtin(name: str) -> bool:
    """True for names of Asterisk's own sound files (``digits/5``, ``beep``)."""
    return name in _ASTERISK_BUILTIN_NAMES or name.split("/", 1)[0] in ASTERISK_BUILTIN_GROUPS


# --------------------------------------------------------------------------
# Resolver


class SoundResolver:
    """Maps prompt ids and say_ru tokens to the file names Asterisk plays.

    ``sounds_dir`` is where :func:`generate` wrote the files *on this host*.
    Asterisk may see them under another path:

    * ``chroot``: Asterisk runs in a chroot whose root is this host directory
      (the private sandbox): the Asterisk path is ``sounds_dir`` relative to it.
    * ``asterisk_prefix``: the path under which Asterisk sees ``sounds_dir``
      (a bind mount, a copy on the Asterisk host, a shared volume).

    Tokens resolve to the generated word prompt. With
    ``prefer_own_voice=False`` a token that Asterisk's Russian sound set
    (``asterisk_ru_dir``) has a recording of — and whose file is actually
    present there — plays Asterisk's ``digits/...`` file instead; those names
    are relative, Asterisk adds its sounds dir and the channel language. The
    default keeps a single voice across a phrase.

    Implements :class:`telephony.channel.PromptResolver` (``prompt``/``tokens``).
    """

    def __init__(
        self,
        sounds_dir: Path,
        asterisk_ru_dir: Path | None = None,
        prefer_own_voice: bool = True,
        *,
        asterisk_prefix: PurePosixPath | str | None = None,
        chroot: Path | None = None,
    ) -> None:
        if asterisk_prefix is not None and chroot is not None:
            raise ValueError("give asterisk_prefix or chroot, not both")
        self.sounds_dir = Path(sounds_dir)
        self.prefer_own_voice = prefer_own_voice
        self.asterisk_ru_dir = asterisk_ru_dir
        if asterisk_prefix is not None:
            base = PurePosixPath(asterisk_prefix)
        elif chroot is not None:
            base = chroot_view(self.sounds_dir, chroot)
        else:
            base = PurePosixPath(self.sounds_dir.absolute().as_posix())
        if not base.is_absolute():
            raise ValueError(f"the Asterisk-side sounds path must be absolute: {base}")
        self.asterisk_sounds_dir = base
        self._asterisk_words = self._scan_asterisk(asterisk_ru_dir)

    @staticmethod
    def _scan_asterisk(ru_dir: Path | None) -> Mapping[str, str]:
        if ru_dir is None:
            return {}
        present: set[str] = set()
        for sub in {name.split("/", 1)[0] for name in _ASTERISK_DIGITS.values()}:
            directory = ru_dir / sub
            if directory.is_dir():
                present.update(f"{sub}/{p.stem}" for p in directory.iterdir() if p.is_file())
        return {token: name for token, name in _ASTERISK_DIGITS.items() if name in present}

    @property
    def asterisk_words(self) -> Mapping[str, str]:
        """Tokens Asterisk has its own recording of (present on disk) -> its name."""
        return dict(self._asterisk_words)

    def resolve(self, prompt_id: str) -> str:
        """File name (no extension) Asterisk should play for a prompt id."""
        if is_asterisk_builtin(prompt_id):
            return prompt_id
        if not PROMPT_ID_RE.match(prompt_id):
            raise UnknownPromptError(f"malformed prompt id {prompt_id!r}")
        return str(self.asterisk_sounds_dir / prompt_id)

    def resolve_token(self, token: str) -> str:
        """File name for one say_ru token, or a prompt id given in its place."""
        if "/" in token or token in _ASTERISK_BUILTIN_NAMES:
            return self.resolve(token)
        if not self.prefer_own_voice:
            name = self._asterisk_words.get(token.lower())
            if name is not None:
                return name
        return self.resolve(word_prompt_id(token))

    def resolve_tokens(self, tokens: Iterable[str]) -> list[str]:
        """File names for say_ru tokens (prompt ids may be mixed in)."""
        return [self.resolve_token(t) for t in tokens]

    # telephony.channel.PromptResolver
    def prompt(self, prompt_id: str) -> str:
        return self.resolve(prompt_id)

    def tokens(self, tokens: Sequence[str]) -> list[str]:
        return self.resolve_tokens(tokens)

    def host_file(self, name: str) -> Path | None:
        """The file on this host behind a resolved name, if it exists."""
        posix = PurePosixPath(name)
        if posix.is_absolute():
            try:
                rel = posix.relative_to(self.asterisk_sounds_dir)
            except ValueError:
                return None
            stem = self.sounds_dir / rel
        elif self.asterisk_ru_dir is not None:
            stem = self.asterisk_ru_dir / posix
        else:
            return None
        if not stem.parent.is_dir():
            return None
        for candidate in sorted(stem.parent.glob(stem.name + ".*")):
            if candidate.stem == stem.name and candidate.is_file():
                return candidate
        return None


def chroot_view(host_path: Path, chroot: Path) -> PurePosixPath:
    """The path under which a process chrooted at ``chroot`` sees ``host_path``."""
    host = host_path.resolve()
    root = chroot.resolve()
    try:
        rel = host.relative_to(root)
    except ValueError:
        raise ValueError(
            f"{host} is outside the Asterisk chroot {root}: Asterisk cannot see it"
        ) from None
    return PurePosixPath("/") / rel.as_posix()


# --------------------------------------------------------------------------
# Synthesis


@dataclass(frozen=True, slots=True)
class Synthesiser:
    """One installed TTS engine and voice.

    ``root``: the private Debian root RHVoice is installed in (run there with
    ``chroot``); None when the engine is this host's own. ``version``: the
    engine's package version (part of every prompt's hash: a new RHVoice
    regenerates the prompts). ``note``: why this engine was chosen when it
    is not the one asked for (the fallback's reason).
    """

    engine: Literal["espeak", "rhvoice"]
    voice: str
    executable: str
    root: Path | None = None
    version: str = ""
    note: str = ""

    def command(self) -> list[str]:
        """The command that reads UTF-8 text on stdin and writes a WAV to stdout."""
        if self.engine == "espeak":
            return [
                self.executable,
                "-v",
                self.voice,
                "-s",
                str(ESPEAK_SPEED_WPM),
                "-b",
                "1",  # UTF-8 input
                "--stdout",
            ]
        prefix = ["chroot", str(self.root)] if self.root is not None else []
        return [*prefix, self.executable, "-p", self.voice, "-o", "-"]

    @property
    def signature(self) -> str:
        return f"{self.engine}:{self.voice}"

    @property
    def licence(self) -> str:
        """The voice's licence (RHVoice voices carry their own)."""
        if self.engine == "espeak":
            return "GPL-3+ (espeak-ng)"
        return rhvoice_voice_licence(self.root or Path("/"), self.voice)

    def describe(self) -> str:
        """One line for logs and the demo: engine, voice, licence, fallback reason."""
        if self.engine == "espeak":
            text = f"espeak-ng, voice {self.voice}"
            return f"{text} (fallback: {self.note})" if self.note else text
        where = f", root {self.root}" if self.root is not None else ""
        version = f" {self.version}" if self.version else ""
        return f"RHVoice{version}, voice {self.voice} (licence {self.licence}{where})"


class UnknownVoiceError(TTSUnavailableError):
    """RHVoice is installed but the configured voice is not: a setting to fix,
    never a reason to fall back to espeak-ng silently."""


def _rhvoice_dirs(root: Path) -> list[Path]:
    return [root / d.relative_to("/") for d in _RHVOICE_VOICE_DIRS]


def rhvoice_voices(root: Path = Path("/")) -> list[str]:
    """The RHVoice voices installed in ``root`` (``/``: this host)."""
    found: set[str] = set()
    for directory in _rhvoice_dirs(root):
        if directory.is_dir():
            found.update(p.name.lower() for p in directory.iterdir() if p.is_dir())
    return sorted(found)


def rhvoice_voice_licence(root: Path, voice: str) -> str:
    """The licence Debian's copyright file of ``rhvoice-russian`` gives the
    voice (``Files: data/voices/<voice>/*``, else ``Files: data/*``)."""
    path = root / "usr/share/doc/rhvoice-russian/copyright"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown (no /usr/share/doc/rhvoice-russian/copyright)"
    licences: dict[str, str] = {}
    files: list[str] = []
    for line in text.splitlines():
        if line.startswith("Files:"):
            files = line.split(":", 1)[1].split()
        elif line.startswith("License:") and files:
            for pattern in files:
                licences.setdefault(pattern, line.split(":", 1)[1].strip())
            files = []
    for pattern in (f"data/voices/{voice}/*", "data/*", "*"):
        if pattern in licences:
            return licences[pattern]
    return "unknown"


def _deb_version(root: Path, package: str) -> str:
    """The installed version of a Debian package in ``root`` ("" if unknown)."""
    try:
        status = (root / "var/lib/dpkg/status").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    for stanza in status.split("\n\n"):
        fields = dict(
            line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[:1] != " "
        )
        if fields.get("Package", "").strip() == package:
            return fields.get("Version", "").strip()
    return ""


def _find_rhvoice(voice: str, root: Path | None) -> Synthesiser:
    private = root is not None and root != Path("/")
    if private:
        assert root is not None
        exe = "/usr/bin/RHVoice-test"
        if debroot.stamp_of(root) != RHVOICE_ROOT_VERSION or not (root / exe[1:]).is_file():
            raise TTSUnavailableError(
                f"the RHVoice root {root} is not built (`hotline prompts generate` builds it)"
            )
        if os.geteuid() != 0:
            raise TTSUnavailableError(f"running RHVoice in its root {root} needs root (chroot)")
        where = root
    else:
        found = shutil.which("RHVoice-test")
        if found is None:
            raise TTSUnavailableError(
                "RHVoice is not installed on this host: install the Debian packages 'rhvoice' "
                "and 'rhvoice-russian' (sid contrib/non-free), or set tts_root to a private root"
            )
        exe = found
        where = Path("/")
    installed = rhvoice_voices(where)
    if not installed:
        raise TTSUnavailableError(f"RHVoice has no voice installed in {where}")
    if voice.lower() not in installed:
        raise UnknownVoiceError(
            f"RHVoice voice {voice!r} is not installed in {where}; "
            f"installed: {', '.join(installed)} (setting tts_voice)"
        )
    return Synthesiser(
        "rhvoice",
        voice.lower(),
        exe,
        root=where if private else None,
        version=_deb_version(where, "rhvoice-russian") or _deb_version(where, "rhvoice"),
    )


_configured: Synthesiser | None = None
"""The synthesiser chosen at start-up (:func:`configure`), used by every
call-time phrase (:func:`find_synthesiser` without arguments)."""


def find_synthesiser(
    engine: Engine | None = None,
    voice: str | None = None,
    root: Path | None = None,
) -> Synthesiser:
    """The TTS to use.

    Without arguments: the one :func:`configure` chose at start-up (prompts
    and call-time phrases speak with one voice), else RHVoice on this host
    or espeak-ng. ``engine``: ``rhvoice`` (RHVoice's ``voice`` from ``root``
    — None or ``/`` is this host — or :class:`TTSUnavailableError`),
    ``espeak``, or ``auto`` (RHVoice if usable, else espeak-ng; the reason
    is kept in :attr:`Synthesiser.note`).
    """
    if engine is None and voice is None and root is None and _configured is not None:
        return _configured
    engine = engine or "auto"
    if engine not in ("auto", "espeak", "rhvoice"):
        raise ValueError(f"unknown TTS engine {engine!r}")
    reason = ""
    if engine in ("auto", "rhvoice"):
        try:
            return _find_rhvoice(voice or DEFAULT_RHVOICE_VOICE, root)
        except UnknownVoiceError:
            raise
        except TTSUnavailableError as exc:
            if engine == "rhvoice":
                raise
            reason = str(exc)
    exe = shutil.which("espeak-ng")
    if exe:
        return Synthesiser("espeak", ESPEAK_VOICE, exe, note=reason)
    raise TTSUnavailableError(
        "no Russian speech synthesiser found: install the Debian package 'espeak-ng' "
        "(apt-get install espeak-ng), or 'rhvoice' + 'rhvoice-russian'"
    )


def ensure_rhvoice_root(root: Path) -> bool:
    """Build the private RHVoice root (Debian sid, ``main contrib non-free``)
    unless it is there; whether it was built now."""
    try:
        return debroot.ensure_root(
            root,
            RHVOICE_PACKAGES,
            RHVOICE_ROOT_VERSION,
            components=("main", "contrib", "non-free"),
            what="RHVoice root",
            timeout=900,
        )
    except debroot.RootUnavailableError as exc:
        raise TTSUnavailableError(str(exc)) from exc


def configure(
    engine: Engine = "auto",
    voice: str = DEFAULT_RHVOICE_VOICE,
    root: Path | None = None,
    *,
    build: bool = True,
) -> Synthesiser:
    """Choose the voice of the prompts and of the call-time phrases.

    With a private ``root`` (not ``/``) and ``build``, the RHVoice root is
    built there first if it is missing. ``auto`` falls back to espeak-ng
    when RHVoice cannot be had, with a warning that says why; ``rhvoice``
    raises instead. The choice becomes :func:`find_synthesiser`'s default.
    """
    global _configured
    build_error = ""
    if engine != "espeak" and build and root is not None and root != Path("/"):
        try:
            ensure_rhvoice_root(root)
        except TTSUnavailableError as exc:
            if engine == "rhvoice":
                raise
            build_error = str(exc)
    synth = find_synthesiser(engine, voice, root)
    if synth.engine == "espeak" and build_error:
        synth = Synthesiser(synth.engine, synth.voice, synth.executable, note=build_error)
    if synth.engine == "espeak" and engine != "espeak":
        log.warning("prompt voice: %s", synth.describe())
    else:
        log.info("prompt voice: %s", synth.describe())
    _configured = synth
    return synth


def configure_from(settings: Settings, *, build: bool = True) -> Synthesiser:
    """:func:`configure` with the settings ``tts_engine``, ``tts_voice``, ``tts_root``."""
    engine = settings.tts_engine
    if engine not in ("auto", "espeak", "rhvoice"):
        raise ValueError(f"unknown TTS engine {engine!r}")
    return configure(engine, settings.tts_voice, settings.tts_root, build=build)  # type: ignore[arg-type]


def find_sox() -> str:
    exe = shutil.which("sox")
    if exe is None:
        raise TTSUnavailableError(
            "sox is needed to convert prompts to 8 kHz: install the Debian package 'sox'"
        )
    return exe


def prompt_hash(synth: Synthesiser, text: str) -> str:
    """What a generated file depends on: engine, voice and its version, text,
    audio pipeline."""
    payload = json.dumps(
        [synth.engine, synth.voice, synth.version, text, AUDIO_FORMAT, _PIPELINE_VERSION],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


TRIM_LEVEL = 0.002
"""The engine's output is trimmed to its frames peaking at or above this
fraction of full scale (-54 dBFS: below any speech sound, above the engines'
digital silence), with :data:`TRIM_LEAD` before and :data:`TRIM_TAIL` after."""

TRIM_LEAD = 0.02
TRIM_TAIL = 0.06
"""Seconds of the engine's own audio kept before the first and after the last
sound: a soft onset and the release of the last sound are never cut."""


def _sox_args(sox: str, src: Path, dst: Path, start: float, end: float) -> list[str]:
    return [
        sox,
        "-R",  # repeatable (no random dither seed)
        "-V1",
        str(src),
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        "-e",
        "signed-integer",
        "-t",
        "wav",
        str(dst),
        "trim",
        f"{start:.3f}",
        f"={end:.3f}",
        "gain",
        "-n",
        "-3",
    ]


def synthesise_raw(synth: Synthesiser, text: str) -> bytes:
    """The engine's own WAV of ``text`` (its rate, untrimmed)."""
    audio = _run(synth.command(), text.encode("utf-8"), f"{synth.engine} on {text[:40]!r}")
    if len(audio) <= 44:
        raise TTSFailedError(f"{synth.engine} produced no audio for {text[:40]!r}")
    return audio


def synthesise(synth: Synthesiser, sox: str, text: str, out_wav: Path) -> None:
    """Speak ``text`` into ``out_wav`` (8 kHz 16-bit mono PCM WAV), atomically.

    The engine's silence at both ends is trimmed where its sound starts and
    ends (:data:`TRIM_LEVEL`, found in 10 ms frames), keeping
    :data:`TRIM_LEAD`/:data:`TRIM_TAIL` of its own audio around it, and the
    level is normalised to -3 dBFS.
    """
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    audio = synthesise_raw(synth, text)
    edges = _measure_samples(_decode(sox, audio), TRIM_LEVEL)
    if edges.speech <= 0:
        raise TTSFailedError(f"{synth.engine} produced only silence for {text[:40]!r}")
    start = max(0.0, edges.leading - TRIM_LEAD)
    end = min(edges.duration, edges.duration - edges.trailing + TRIM_TAIL)
    with tempfile.TemporaryDirectory(prefix="hotline-tts-") as tmp:
        raw = Path(tmp) / "raw.wav"
        raw.write_bytes(audio)
        # Convert next to the target, then rename: readers never see half a file.
        converted = out_wav.with_name(
            f".{out_wav.stem}.{os.getpid()}.{threading.get_ident()}.tmp.wav"
        )
        try:
            _run(_sox_args(sox, raw, converted, start, end), None, f"sox on {text[:40]!r}")
            os.replace(converted, out_wav)
        finally:
            converted.unlink(missing_ok=True)


def _run(cmd: list[str], stdin: bytes | None, what: str) -> bytes:
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TTSFailedError(f"{what}: timed out") from exc
    except OSError as exc:
        raise TTSFailedError(f"{what}: {exc}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()[:300]
        raise TTSFailedError(f"{what}: exit {proc.returncode}: {err}")
    return proc.stdout


# --------------------------------------------------------------------------
# Prosody


MAX_EDGE_SILENCE = 0.150
"""Seconds of silence a prompt may have before its first or after its last sound."""

SILENCE_LEVEL = 0.01
"""A 10 ms frame whose peak stays below this fraction of full scale (-40 dBFS)
is silent."""

CLIP_LEVEL = 0.99
"""A sample at or above this fraction of full scale is clipped."""

_FRAME_SECONDS = 0.010


@dataclass(frozen=True, slots=True)
class Prosody:
    """The edges of one prompt's audio, measured on sox's decoding of it."""

    duration: float
    leading: float
    """Seconds of silence before the first sound."""
    trailing: float
    """Seconds of silence after the last sound."""
    peak: float
    """Largest sample, fraction of full scale."""

    @property
    def speech(self) -> float:
        """Seconds from the first sound to the end of the last one."""
        return max(0.0, self.duration - self.leading - self.trailing)

    def problems(self, max_silence: float = MAX_EDGE_SILENCE) -> list[str]:
        """What is wrong with these edges (empty: nothing)."""
        out: list[str] = []
        if self.peak >= CLIP_LEVEL:
            out.append(f"clipped samples (peak {self.peak:.3f} of full scale)")
        if self.speech <= 0:
            out.append("no sound at all")
        if self.leading > max_silence:
            out.append(f"leading silence {self.leading * 1000:.0f} ms")
        if self.trailing > max_silence:
            out.append(f"trailing silence {self.trailing * 1000:.0f} ms")
        return out


def cut_speech(raw_wav: bytes, final: Path, sox: str | None = None) -> float:
    """Seconds of sound the pipeline removed from the engine's output
    ``raw_wav`` to make ``final`` (0.0 if none beyond one 10 ms frame):
    trimming must only take silence away, never a word's first or last sound.
    Both are measured at the same level relative to their own peak (the
    pipeline normalises the level)."""
    sox = sox or find_sox()
    raw_samples = _decode(sox, raw_wav)
    final_samples = _decode(sox, final.read_bytes())
    raw_peak = _measure_samples(raw_samples, 1.0).peak
    final_peak = _measure_samples(final_samples, 1.0).peak
    if raw_peak <= 0 or final_peak <= 0:
        return 0.0
    before = _measure_samples(raw_samples, SILENCE_LEVEL * raw_peak / final_peak).speech
    after = _measure_samples(final_samples, SILENCE_LEVEL).speech
    return max(0.0, round(before - after - _FRAME_SECONDS, 3))


def measure(path: Path, sox: str | None = None) -> Prosody:
    """Leading/trailing silence and peak of an audio file: sox decodes it to
    8 kHz 16-bit mono samples, measured in 10 ms frames (a frame is silent if
    its peak stays below :data:`SILENCE_LEVEL`)."""
    return _measure_samples(_decode(sox or find_sox(), path.read_bytes()), SILENCE_LEVEL)


def measure_audio(wav: bytes, sox: str | None = None) -> Prosody:
    """:func:`measure` of a WAV held in memory (an engine's raw output)."""
    return _measure_samples(_decode(sox or find_sox(), wav), SILENCE_LEVEL)


def _decode(sox: str, wav: bytes) -> array[int]:
    """8 kHz 16-bit mono samples of a WAV (an engine's streamed WAV too)."""
    to_samples = "-t s16 -e signed-integer -r 8000 -c 1 -".split()
    raw = _run([sox, "-V1", "-t", "wav", "-", *to_samples], wav, "sox decoding audio")
    samples = array("h")
    samples.frombytes(raw[: len(raw) // 2 * 2])
    if sys.byteorder != "little":
        samples.byteswap()
    return samples


def _measure_samples(samples: array[int], level: float) -> Prosody:
    rate = 8000
    step = int(rate * _FRAME_SECONDS)
    peaks = [max(map(abs, samples[i : i + step])) / 32768.0 for i in range(0, len(samples), step)]
    duration = len(samples) / rate
    if not peaks:
        return Prosody(0.0, 0.0, 0.0, 0.0)
    loud = [i for i, peak in enumerate(peaks) if peak >= level]
    if not loud:
        return Prosody(duration, duration, 0.0, max(peaks))
    leading = loud[0] * _FRAME_SECONDS
    trailing = max(0.0, duration - (loud[-1] + 1) * _FRAME_SECONDS)
    return Prosody(duration, leading, trailing, max(peaks))


def check_prosody(
    out_dir: Path, ids: Iterable[str], max_silence: float = MAX_EDGE_SILENCE
) -> dict[str, list[str]]:
    """Prompt id -> what is wrong with its generated file (only the faulty ones)."""
    sox = find_sox()
    faults: dict[str, list[str]] = {}
    for pid in ids:
        problems = measure(prompt_file(out_dir, pid), sox).problems(max_silence)
        if problems:
            faults[pid] = problems
    return faults


# --------------------------------------------------------------------------
# Generation


MANIFEST = "manifest.json"

DYNAMIC_GROUP = "dyn"
"""Directory of the phrases synthesised during calls (addresses), cached by text."""


def voice_key(synth: Synthesiser) -> str:
    return f"{synth.engine}:{synth.voice}:{synth.version}"


def manifest_voice(out_dir: Path) -> str | None:
    """``engine:voice:version`` the prompts in ``out_dir`` were generated with."""
    info = manifest_info(out_dir)
    if info is None:
        return None
    return f"{info.get('engine', '')}:{info.get('voice', '')}:{info.get('version', '')}"


def manifest_info(out_dir: Path) -> dict[str, object] | None:
    """The manifest's header (engine, voice, licence, count), None if no prompts."""
    try:
        data = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    prompts = data.get("prompts")
    head: dict[str, object] = {k: v for k, v in data.items() if k != "prompts"}
    head["count"] = len(prompts) if isinstance(prompts, dict) else 0
    return head


def voice_report(out_dir: Path) -> str:
    """Which voice generated the prompts in ``out_dir``, for start-up and the demo."""
    info = manifest_info(out_dir)
    if info is None or not info.get("count"):
        return f"no prompts generated in {out_dir} (hotline prompts generate)"
    described = info.get("described") or f"{info.get('engine')}, voice {info.get('voice')}"
    return f"{info['count']} prompts by {described}"


@contextlib.contextmanager
def _cache_lock(cache: Path | None) -> Iterator[None]:
    """Generations sharing a cache take turns: parallel test sessions on a
    fresh machine would each synthesise the whole catalogue at once; in turn,
    the first fills the cache and the others copy from it."""
    if cache is None:
        yield
        return
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _cache_file(cache: Path, digest: str) -> Path:
    return cache / digest[:2] / f"{digest}.wav"


def _copy_atomically(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.stem}.{os.getpid()}.{threading.get_ident()}.copy.wav")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class GenerateReport:
    out_dir: Path
    engine: str
    voice: str
    generated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        text = (
            f"подсказки: озвучено {len(self.generated)}, без изменений {len(self.unchanged)}, "
            f"удалено {len(self.removed)}, с ошибкой {len(self.failed)} "
            f"({self.engine}/{self.voice}, {self.seconds:.1f} с) → {self.out_dir}"
        )
        for pid, err in self.failed:
            text += f"\n  ОШИБКА {pid}: {err}"
        return text


def prompt_file(out_dir: Path, prompt_id: str) -> Path:
    """Host path of the generated WAV of ``prompt_id``."""
    return out_dir / f"{prompt_id}.wav"


def _read_manifest(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.warning("unreadable prompt manifest %s: regenerating everything", path)
        return {}
    prompts = data.get("prompts") if isinstance(data, dict) else None
    if not isinstance(prompts, dict):
        return {}
    return {k: v for k, v in prompts.items() if isinstance(v, dict)}


def _write_manifest(
    path: Path, synth: Synthesiser, entries: Mapping[str, Mapping[str, str]]
) -> None:
    data = {
        "format": AUDIO_FORMAT,
        "pipeline": _PIPELINE_VERSION,
        "engine": synth.engine,
        "voice": synth.voice,
        "version": synth.version,
        "licence": synth.licence,
        "described": synth.describe(),
        "prompts": {k: dict(entries[k]) for k in sorted(entries)},
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def generate(
    catalogue: PromptCatalogue,
    out_dir: Path,
    *,
    engine: Engine | None = None,
    synth: Synthesiser | None = None,
    cache: Path | None = None,
    force: bool = False,
    workers: int | None = None,
) -> GenerateReport:
    """Synthesise every prompt of ``catalogue`` into ``out_dir/<id>.wav``.

    The voice: ``synth``, else :func:`find_synthesiser` of ``engine`` (None:
    the one :func:`configure` chose). Idempotent: ``out_dir/manifest.json``
    keeps a hash of (engine, voice and its version, text, audio pipeline) per
    id; a prompt whose hash and file are unchanged is skipped unless
    ``force``. Files of prompts no longer in the catalogue (known from the
    previous manifest) are removed. When the voice changed, the call-time
    phrases (``out_dir/dyn``) are removed too: nothing is played in the old
    voice. ``cache``: a directory of audio by hash shared by several
    ``out_dir`` (a prompt found there is copied, not synthesised again).
    Prompts are synthesised by a small thread pool (each job is two
    subprocesses).
    """
    started = time.monotonic()
    if synth is None:
        synth = find_synthesiser(engine)
    sox = find_sox()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    old = _read_manifest(manifest_path)
    old_voice = manifest_voice(out_dir)
    if old_voice is not None and old_voice != voice_key(synth):
        dyn = out_dir / DYNAMIC_GROUP
        if dyn.is_dir():
            shutil.rmtree(dyn)
        log.info("prompt voice changed (%s -> %s): regenerating", old_voice, voice_key(synth))

    todo: list[Prompt] = []
    unchanged: list[str] = []
    entries: dict[str, dict[str, str]] = {}
    for prompt in catalogue:
        entry = _manifest_entry(synth, prompt)
        previous = old.get(prompt.id)
        if (
            not force
            and previous is not None
            and previous.get("hash") == entry["hash"]
            and prompt_file(out_dir, prompt.id).is_file()
        ):
            unchanged.append(prompt.id)
            entries[prompt.id] = entry
        else:
            todo.append(prompt)

    removed: list[str] = []
    for pid, previous in old.items():
        if pid in catalogue:
            continue
        rel = previous.get("file", f"{pid}.wav")
        stale = (out_dir / rel).resolve()
        if out_dir.resolve() not in stale.parents:
            continue  # never delete outside out_dir, whatever the manifest says
        if stale.is_file():
            stale.unlink()
        removed.append(pid)
        _remove_empty_dirs(stale.parent, out_dir)

    failed: list[tuple[str, str]] = []
    generated: list[str] = []
    pool_size = workers or min(8, max(2, (os.cpu_count() or 1) * 2))

    def job(prompt: Prompt) -> tuple[Prompt, str | None]:
        target = prompt_file(out_dir, prompt.id)
        cached = _cache_file(cache, prompt_hash(synth, prompt.text)) if cache else None
        try:
            if cached is not None and cached.is_file():
                _copy_atomically(cached, target)
            else:
                synthesise(synth, sox, prompt.text, target)
                if cached is not None:
                    _copy_atomically(target, cached)
        except (TTSFailedError, OSError) as exc:
            return prompt, str(exc)
        return prompt, None

    if todo:
        with (
            _cache_lock(cache),
            ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="tts") as pool,
        ):
            for prompt, error in pool.map(job, todo):
                if error is None:
                    generated.append(prompt.id)
                    entries[prompt.id] = _manifest_entry(synth, prompt)
                else:
                    failed.append((prompt.id, error))
                    if prompt.id in old:
                        # Keep tracking the old file (removal when stale); its
                        # hash no longer matches, so the next run retries.
                        entries[prompt.id] = old[prompt.id]
                    log.error("prompt %s failed: %s", prompt.id, error)
    _write_manifest(manifest_path, synth, entries)
    return GenerateReport(
        out_dir=out_dir,
        engine=synth.engine,
        voice=synth.voice,
        generated=tuple(generated),
        unchanged=tuple(unchanged),
        removed=tuple(sorted(removed)),
        failed=tuple(failed),
        seconds=time.monotonic() - started,
    )


def _manifest_entry(synth: Synthesiser, prompt: Prompt) -> dict[str, str]:
    return {
        "hash": prompt_hash(synth, prompt.text),
        "engine": synth.engine,
        "voice": synth.voice,
        "file": f"{prompt.id}.wav",
        "text": prompt.text,
    }


def _remove_empty_dirs(directory: Path, top: Path) -> None:
    top = top.resolve()
    current = directory.resolve()
    while current != top and top in current.parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent


def main_generate(
    out_dir: Path,
    force: bool = False,
    *,
    engine: Engine = "auto",
    settings: Settings | None = None,
) -> int:
    """``hotline prompts generate``: build the whole catalogue; print a summary.

    With ``settings``: the voice they configure (the RHVoice root is built
    if it is missing) and their shared prompt cache. Returns a process exit
    code: 0 on success, 1 if some prompts failed, 2 if the catalogue is
    broken or no TTS engine is installed.
    """
    try:
        catalogue = PromptCatalogue.load()
        if say_ru_vocabulary() is None:
            print("внимание: нет ivr.say_ru — слова для чисел не озвучены", file=sys.stderr)
        if settings is not None:
            synth = configure_from(settings)
            cache: Path | None = settings.prompt_cache
        else:
            synth = find_synthesiser(engine)
            cache = None
        print(f"голос: {synth.describe()}")
        report = generate(catalogue, out_dir, synth=synth, cache=cache, force=force)
    except PromptError as exc:
        print(f"hotline prompts: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1
