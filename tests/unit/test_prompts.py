"""Prompt catalogue, word prompt ids, generation and playback names."""

from __future__ import annotations

import json
import re
import shutil
import wave
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from ivr import prompts as p
from ivr.prompts import (
    CatalogueError,
    Prompt,
    PromptCatalogue,
    SoundResolver,
    UnknownPromptError,
    check_word_ids,
    generate,
    missing_prompts,
    transliterate,
    word_prompt_id,
)

CYRILLIC = re.compile(r"[А-Яа-яЁё]")
LATIN = re.compile(r"[A-Za-z]")
REQUIRED_GROUPS = (
    "common",
    "menu",
    "ident",
    "outage",
    "consult",
    "debt",
    "queue",
    "am",
    "readings",
    "outbound",
)
needs_tts = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("sox") is None,
    reason="espeak-ng and sox are needed to generate prompts",
)


def vocabulary() -> frozenset[str]:
    vocab = p.say_ru_vocabulary()
    if vocab is None:
        pytest.skip("ivr.say_ru is not there yet")
    return vocab


@pytest.fixture(scope="module")
def catalogue() -> PromptCatalogue:
    return PromptCatalogue.load(include_words=False)


# ---------------------------------------------------------------- catalogue


def test_catalogue_loads_all_groups(catalogue: PromptCatalogue) -> None:
    assert catalogue.source is not None and catalogue.source.name == "prompts.toml"
    for group in REQUIRED_GROUPS:
        assert group in catalogue.groups(), group
    assert len(catalogue) > 80


def test_ids_unique_and_well_formed(catalogue: PromptCatalogue) -> None:
    ids = catalogue.ids()
    assert len(ids) == len(set(ids))
    for pid in ids:
        assert p.PROMPT_ID_RE.match(pid), pid


def test_every_text_is_nonempty_russian(catalogue: PromptCatalogue) -> None:
    for prompt in catalogue:
        assert prompt.text.strip(), prompt.id
        assert CYRILLIC.search(prompt.text), prompt.id
        # Texts are for speech: no Latin letters, no digits (written as words).
        assert not LATIN.search(prompt.text), prompt.id
        assert not re.search(r"\d", prompt.text), prompt.id


def test_key_prompts_present(catalogue: PromptCatalogue) -> None:
    assert "записывается" in catalogue.text("common/recording_warning")  # REQ-T4
    assert "звёздочку" in catalogue.text("common/repeat_back_hint")
    main = catalogue.text("menu/main")
    for key in ("один", "два", "три", "четыре", "ноль"):
        assert f"нажмите {key}" in main
    assert "не может быть рассмотрено" in catalogue.text("am/no_contact")  # REQ-T5
    assert catalogue.text("readings/confirm").startswith("Верно")


def test_unknown_prompt(catalogue: PromptCatalogue) -> None:
    with pytest.raises(UnknownPromptError):
        catalogue.text("common/no_such_prompt")
    with pytest.raises(KeyError):  # also a KeyError
        catalogue.text("nope/nope")


def test_words_group_is_not_hand_written(tmp_path: Path) -> None:
    path = tmp_path / "prompts.toml"
    path.write_text('[words]\nodin = "один"\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match="generated"):
        PromptCatalogue.load(path)


def test_malformed_catalogue_rejected(tmp_path: Path) -> None:
    path = tmp_path / "prompts.toml"
    path.write_text('[common]\nBad-Id = "текст"\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match="malformed"):
        PromptCatalogue.load(path, include_words=False)
    path.write_text('[common]\nempty = "  "\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match="empty"):
        PromptCatalogue.load(path, include_words=False)
    with pytest.raises(CatalogueError, match="not found"):
        PromptCatalogue.load(tmp_path / "missing.toml")


def test_table_form_with_note(tmp_path: Path) -> None:
    path = tmp_path / "prompts.toml"
    path.write_text(
        '[common]\nhello = { text = "Здравствуйте!", note = "n" }\nbye = "Пока."\n',
        encoding="utf-8",
    )
    cat = PromptCatalogue.load(path, vocabulary=["один"])
    assert cat.ids() == ["common/hello", "common/bye", "words/odin"]
    assert cat.get("common/hello").note == "n"
    assert cat.text("words/odin") == "один"


def test_missing_prompts(catalogue: PromptCatalogue) -> None:
    used = ["common/goodbye", "menu/main", "menu/ghost", "digits/5", "beep", "menu/ghost"]
    assert missing_prompts(used, catalogue) == ["menu/ghost"]
    assert missing_prompts([], catalogue) == []


def test_catalogue_includes_say_ru_words() -> None:
    vocab = vocabulary()
    cat = PromptCatalogue.load()
    for token in vocab:
        assert cat.text(word_prompt_id(token)) == token


# ---------------------------------------------------------------- word ids


def test_transliteration_examples() -> None:
    assert word_prompt_id("двадцать") == "words/dvadtsat"
    assert word_prompt_id("тысяча") == "words/tysyacha"
    assert word_prompt_id("четвёртого") == "words/chetvyortogo"
    assert word_prompt_id("киловатт-часов") == "words/kilovatt_chasov"
    assert word_prompt_id("Щука") == "words/shchuka"
    with pytest.raises(ValueError):
        transliterate("рубль!")
    with pytest.raises(ValueError):
        transliterate("ь")


def test_transliteration_collision_free_over_vocabulary() -> None:
    vocab = vocabulary()
    by_id = check_word_ids(vocab)
    assert len(by_id) == len(vocab)
    for pid in by_id:
        assert p.PROMPT_ID_RE.match(pid), pid


def test_collision_detected() -> None:
    with pytest.raises(CatalogueError, match="collision"):
        check_word_ids(["пять", "пят"])


# ---------------------------------------------------------------- resolver


def test_resolver_plain_paths(tmp_path: Path) -> None:
    r = SoundResolver(tmp_path / "sounds", None)
    assert r.resolve("common/goodbye") == f"{(tmp_path / 'sounds').as_posix()}/common/goodbye"
    assert r.resolve_tokens(["двадцать", "пять"]) == [
        f"{(tmp_path / 'sounds').as_posix()}/words/dvadtsat",
        f"{(tmp_path / 'sounds').as_posix()}/words/pyat",
    ]
    # Asterisk's own sounds and prompt ids mixed into a token list pass through.
    assert r.resolve("digits/5") == "digits/5"
    assert r.resolve("beep") == "beep"
    assert r.tokens(["debt/your_debt_is", "сто"])[0].endswith("/debt/your_debt_is")
    with pytest.raises(UnknownPromptError):
        r.resolve("Not An Id")


def test_resolver_explicit_prefix(tmp_path: Path) -> None:
    r = SoundResolver(tmp_path, None, asterisk_prefix="/var/lib/hotline/sounds")
    assert r.prompt("menu/main") == "/var/lib/hotline/sounds/menu/main"
    assert r.resolve_token("ноль") == "/var/lib/hotline/sounds/words/nol"
    with pytest.raises(ValueError):
        SoundResolver(tmp_path, None, asterisk_prefix="relative/dir")


def test_resolver_chroot_mapping(tmp_path: Path) -> None:
    root = tmp_path / "asterisk-root"
    sounds = root / "var" / "lib" / "hotline" / "sounds"
    sounds.mkdir(parents=True)
    r = SoundResolver(sounds, None, chroot=root)
    assert r.asterisk_sounds_dir == PurePosixPath("/var/lib/hotline/sounds")
    assert r.resolve("am/say_name") == "/var/lib/hotline/sounds/am/say_name"
    (sounds / "am").mkdir()
    (sounds / "am" / "say_name.wav").write_bytes(b"RIFF")
    assert r.host_file(r.resolve("am/say_name")) == sounds / "am" / "say_name.wav"
    assert r.host_file(r.resolve("am/ghost")) is None
    with pytest.raises(ValueError, match="outside"):
        SoundResolver(tmp_path / "elsewhere", None, chroot=root)
    with pytest.raises(ValueError):
        SoundResolver(sounds, None, chroot=root, asterisk_prefix="/x")


def fake_asterisk_ru(tmp_path: Path) -> Path:
    ru = tmp_path / "ru"
    (ru / "digits").mkdir(parents=True)
    for name in ("5", "20", "thousand"):
        (ru / "digits" / f"{name}.gsm").write_bytes(b"\0")
    return ru


def test_resolver_prefers_asterisk_digits_only_when_asked(tmp_path: Path) -> None:
    ru = fake_asterisk_ru(tmp_path)
    own = SoundResolver(tmp_path / "s", ru, prefer_own_voice=True, asterisk_prefix="/snd")
    assert own.resolve_tokens(["двадцать", "пять"]) == ["/snd/words/dvadtsat", "/snd/words/pyat"]
    ast = SoundResolver(tmp_path / "s", ru, prefer_own_voice=False, asterisk_prefix="/snd")
    # "шесть" has a table entry but no file in this directory: our own prompt.
    assert ast.resolve_tokens(["двадцать", "пять", "шесть", "рублей"]) == [
        "digits/20",
        "digits/5",
        "/snd/words/shest",
        "/snd/words/rublej",
    ]
    assert ast.asterisk_words == {
        "пять": "digits/5",
        "двадцать": "digits/20",
        "тысяча": "digits/thousand",
    }
    assert ast.host_file("digits/5") == ru / "digits" / "5.gsm"


@pytest.mark.asterisk
def test_real_asterisk_digits_present(settings: Any) -> None:
    """Against the real Asterisk root's Russian sounds (the real-Asterisk tier
    builds the root, so this never depends on which tier ran first)."""
    from hotline.sandbox import Sandbox

    Sandbox(settings).ensure_root()
    ru = settings.root / "usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU"
    r = SoundResolver(Path("/tmp/unused"), ru, prefer_own_voice=False)
    assert r.asterisk_words["двадцать"] == "digits/20"
    assert "сто" not in r.asterisk_words  # digits/100 is missing from the package


# ---------------------------------------------------------------- generation


def small_catalogue(tmp_path: Path, texts: dict[str, str]) -> PromptCatalogue:
    return PromptCatalogue([Prompt(k, v) for k, v in texts.items()], tmp_path / "x.toml")


def assert_asterisk_wav(path: Path) -> None:
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1
        assert w.getsampwidth() == 2
        assert w.getframerate() == 8000
        assert w.getcomptype() == "NONE"
        assert w.getnframes() > 8000 * 0.2  # at least 0.2 s of speech


@needs_tts
def test_generate_is_valid_and_idempotent(tmp_path: Path, catalogue: PromptCatalogue) -> None:
    out = tmp_path / "sounds"
    ids = ["common/recording_warning", "menu/main", "readings/confirm"]
    cat = catalogue.subset(ids)
    first = generate(cat, out, engine="espeak")
    assert first.ok and sorted(first.generated) == sorted(ids)
    for pid in ids:
        assert_asterisk_wav(out / f"{pid}.wav")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["prompts"]) == set(ids)
    assert manifest["prompts"]["menu/main"]["engine"] == "espeak"

    second = generate(cat, out, engine="espeak")
    assert second.generated == () and sorted(second.unchanged) == sorted(ids)

    changed = cat.replace("readings/confirm", "Верно — нажмите один.")
    third = generate(changed, out, engine="espeak")
    assert third.generated == ("readings/confirm",)
    assert len(third.unchanged) == 2

    # A deleted file is regenerated even though the manifest knows it.
    (out / "menu" / "main.wav").unlink()
    assert generate(changed, out, engine="espeak").generated == ("menu/main",)

    forced = generate(changed, out, engine="espeak", force=True)
    assert len(forced.generated) == 3


@needs_tts
def test_generate_removes_stale_and_is_reproducible(tmp_path: Path) -> None:
    out = tmp_path / "a"
    cat = small_catalogue(tmp_path, {"common/one": "Один.", "extra/two": "Два."})
    generate(cat, out, engine="espeak")
    other = tmp_path / "b"
    generate(cat, other, engine="espeak")
    assert (out / "common" / "one.wav").read_bytes() == (other / "common" / "one.wav").read_bytes()
    (out / "keep.wav").write_bytes(b"not ours")

    report = generate(cat.subset(["common/one"]), out, engine="espeak")
    assert report.removed == ("extra/two",)
    assert not (out / "extra").exists()  # emptied group directory removed
    assert (out / "keep.wav").exists()  # files the manifest never listed are left alone


@needs_tts
def test_every_vocabulary_token_resolves_to_a_file(tmp_path: Path) -> None:
    vocab = vocabulary()
    out = tmp_path / "sounds"
    cat = PromptCatalogue(p.word_prompts(vocab))
    report = generate(cat, out, engine="espeak")
    assert report.ok, report.summary()
    # Own voice only: the same whatever tier ran first (the Asterisk root's
    # files are checked in test_real_asterisk_digits_present).
    for prefer_own in (True, False):
        r = SoundResolver(out, None, prefer_own_voice=prefer_own, asterisk_prefix="/snd")
        for token in sorted(vocab):
            name = r.resolve_token(token)
            assert r.host_file(name) is not None, (token, name)


def test_no_engine_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(p.shutil, "which", lambda _name: None)
    with pytest.raises(p.TTSUnavailableError, match="espeak-ng"):
        p.find_synthesiser("auto")
    with pytest.raises(p.TTSUnavailableError, match="rhvoice"):
        p.find_synthesiser("rhvoice")


def test_main_generate_reports_missing_engine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(p.shutil, "which", lambda _name: None)
    assert p.main_generate(tmp_path / "out", False) == 2
    assert "espeak-ng" in capsys.readouterr().err
