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
import time
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

log = logging.getLogger(__name__)

Engine = Literal["auto", "espeak", "rhvoice"]

WORDS_GROUP = "words"
"""Group of the word prompts generated from :data:`ivr.say_ru.VOCABULARY`."""

PROMPTS_ENV = "HOTLINE_PROMPTS_FILE"
"""Environment variable that overrides the catalogue location."""

AUDIO_FORMAT = "wav-pcm16-mono-8000"
"""Identifies the produced audio format and the sox pipeline; part of the hash."""

_PIPELINE_VERSION = "1"
"""Bump when the synthesis/sox parameters change: every prompt regenerates."""

_ID_PART = r"[a-z][a-z0-9_]*"
PROMPT_ID_RE = re.compile(rf"^{_ID_PART}/[a-z0-9][a-z0-9_]*$")
"""A well-formed prompt id: ``group/name``, lower-case ASCII."""

ESPEAK_VOICE = "ru"
ESPEAK_SPEED_WPM = 150
RHVOICE_VOICES = ("aleksandr", "anna", "elena", "irina", "artemiy", "tatiana", "mikhail")
"""Russian RHVoice voices, in order of preference (the first installed one is used)."""

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
    """:data:`ivr.say_ru.VOCABULARY`, or None when that module is not there yet."""
    try:
        module = importlib.import_module("ivr.say_ru")
    except ModuleNotFoundError as exc:
        if exc.name in ("ivr.say_ru",):
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
            [Prompt(p.id, text, p.note) if p.id == old.id else p for p in self],
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
                extra = set(value) - {"text", "note"}
                if not isinstance(text, str) or not isinstance(note, str) or extra:
                    raise CatalogueError(
                        f"{source}: {pid} must be a string or a table with 'text' and "
                        "optional 'note'"
                    )
                yield Prompt(pid, " ".join(text.split()), note.strip())
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
    """One installed TTS engine and voice."""

    engine: Literal["espeak", "rhvoice"]
    voice: str
    executable: str

    def command(self, out_wav: Path) -> list[str]:
        if self.engine == "espeak":
            return [
                self.executable,
                "-v",
                self.voice,
                "-s",
                str(ESPEAK_SPEED_WPM),
                "-b",
                "1",  # UTF-8 input
                "-w",
                str(out_wav),
            ]
        return [self.executable, "-p", self.voice, "-o", str(out_wav)]

    @property
    def signature(self) -> str:
        return f"{self.engine}:{self.voice}"


def _rhvoice_voice() -> str | None:
    for directory in _RHVOICE_VOICE_DIRS:
        if not directory.is_dir():
            continue
        installed = {p.name.lower() for p in directory.iterdir()}
        for voice in RHVOICE_VOICES:
            if voice in installed:
                return voice
    return None


def find_synthesiser(engine: Engine = "auto") -> Synthesiser:
    """The TTS to use: RHVoice with a Russian voice if present (``auto``), else espeak-ng."""
    if engine not in ("auto", "espeak", "rhvoice"):
        raise ValueError(f"unknown TTS engine {engine!r}")
    if engine in ("auto", "rhvoice"):
        exe = shutil.which("RHVoice-test")
        voice = _rhvoice_voice() if exe else None
        if exe and voice:
            return Synthesiser("rhvoice", voice, exe)
        if engine == "rhvoice":
            raise TTSUnavailableError(
                "RHVoice with a Russian voice is not installed: install the Debian packages "
                "'rhvoice' and 'rhvoice-russian' (sid contrib/non-free), or use engine='espeak'"
            )
    exe = shutil.which("espeak-ng")
    if exe:
        return Synthesiser("espeak", ESPEAK_VOICE, exe)
    raise TTSUnavailableError(
        "no Russian speech synthesiser found: install the Debian package 'espeak-ng' "
        "(apt-get install espeak-ng), or 'rhvoice' + 'rhvoice-russian'"
    )


def find_sox() -> str:
    exe = shutil.which("sox")
    if exe is None:
        raise TTSUnavailableError(
            "sox is needed to convert prompts to 8 kHz: install the Debian package 'sox'"
        )
    return exe


def prompt_hash(synth: Synthesiser, text: str) -> str:
    """What a generated file depends on: engine, voice, text, audio pipeline."""
    payload = json.dumps(
        [synth.engine, synth.voice, text, AUDIO_FORMAT, _PIPELINE_VERSION],
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _sox_args(sox: str, src: Path, dst: Path) -> list[str]:
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
        # Trim leading silence, then trailing silence (reverse trick), keep a short tail.
        "silence",
        "1",
        "0.02",
        "0.5%",
        "reverse",
        "silence",
        "1",
        "0.02",
        "0.5%",
        "reverse",
        "gain",
        "-n",
        "-3",
        "pad",
        "0",
        "0.08",
    ]


def synthesise(synth: Synthesiser, sox: str, text: str, out_wav: Path) -> None:
    """Speak ``text`` into ``out_wav`` (8 kHz 16-bit mono PCM WAV), atomically."""
    out_wav.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hotline-tts-") as tmp:
        raw = Path(tmp) / "raw.wav"
        _run(synth.command(raw), text.encode("utf-8"), f"{synth.engine} on {text[:40]!r}")
        if not raw.is_file() or raw.stat().st_size <= 44:
            raise TTSFailedError(f"{synth.engine} produced no audio for {text[:40]!r}")
        # Convert next to the target, then rename: readers never see half a file.
        converted = out_wav.with_name(f".{out_wav.stem}.{os.getpid()}.tmp.wav")
        try:
            _run(_sox_args(sox, raw, converted), None, f"sox on {text[:40]!r}")
            os.replace(converted, out_wav)
        finally:
            converted.unlink(missing_ok=True)


def _run(cmd: list[str], stdin: bytes | None, what: str) -> None:
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TTSFailedError(f"{what}: timed out") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()[:300]
        raise TTSFailedError(f"{what}: exit {proc.returncode}: {err}")


# --------------------------------------------------------------------------
# Generation


MANIFEST = "manifest.json"


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
            f"prompts: {len(self.generated)} generated, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed "
            f"({self.engine}/{self.voice}, {self.seconds:.1f} s) -> {self.out_dir}"
        )
        for pid, err in self.failed:
            text += f"\n  FAILED {pid}: {err}"
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
        "prompts": {k: dict(entries[k]) for k in sorted(entries)},
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def generate(
    catalogue: PromptCatalogue,
    out_dir: Path,
    *,
    engine: Engine = "auto",
    force: bool = False,
    workers: int | None = None,
) -> GenerateReport:
    """Synthesise every prompt of ``catalogue`` into ``out_dir/<id>.wav``.

    Idempotent: ``out_dir/manifest.json`` keeps a hash of (engine, voice,
    text, audio pipeline) per id; a prompt whose hash and file are unchanged
    is skipped unless ``force``. Files of prompts no longer in the catalogue
    (known from the previous manifest) are removed. Prompts are synthesised by
    a small thread pool (each job is two subprocesses).
    """
    started = time.monotonic()
    synth = find_synthesiser(engine)
    sox = find_sox()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    old = _read_manifest(manifest_path)

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
        try:
            synthesise(synth, sox, prompt.text, prompt_file(out_dir, prompt.id))
        except TTSFailedError as exc:
            return prompt, str(exc)
        return prompt, None

    if todo:
        with ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="tts") as pool:
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


def main_generate(out_dir: Path, force: bool = False, *, engine: Engine = "auto") -> int:
    """``hotline prompts generate``: build the whole catalogue; print a summary.

    Returns a process exit code: 0 on success, 1 if some prompts failed,
    2 if the catalogue is broken or no TTS engine is installed.
    """
    try:
        catalogue = PromptCatalogue.load()
        if say_ru_vocabulary() is None:
            print("warning: ivr.say_ru is missing: no word prompts generated", file=sys.stderr)
        report = generate(catalogue, out_dir, engine=engine, force=force)
    except PromptError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1
