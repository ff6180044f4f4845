"""The phrase layer's cost (issue 17.2): how long building a spoken value takes
while a caller waits (percentiles over many values), and how many word
prompts the catalogue now records (the TTS work of ``hotline prompts
generate``), against the nominative-only vocabulary of ``ivr.say_ru``.

    .venv/bin/python bench/phrases.py [--n 20000]

With ``--synth`` it also times the synthesis of the word prompts the cases
added (espeak-ng or RHVoice, as ``hotline prompts generate`` would; one run).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import pct  # noqa: E402
from ivr import phrases_ru, say_ru  # noqa: E402


def timed(label: str, make: Callable[[random.Random], object], n: int) -> None:
    rng = random.Random(17)
    samples: list[float] = []
    for _ in range(n):
        started = time.perf_counter()
        make(rng)
        samples.append((time.perf_counter() - started) * 1e6)
    print(
        f"{label:<34} p50 {pct(samples, 50):7.1f} µs  p95 {pct(samples, 95):7.1f} µs"
        f"  p99 {pct(samples, 99):7.1f} µs  max {max(samples):8.1f} µs"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="values per kind")
    parser.add_argument("--synth", action="store_true", help="also synthesise the new words")
    args = parser.parse_args()
    base = datetime(2026, 3, 1, 8, 30)

    def cents(rng: random.Random) -> Decimal:
        return Decimal(rng.randrange(0, 10**9)) / 100

    timed("money nom (say_ru)", lambda r: say_ru.money_tokens(cents(r)), args.n)
    timed("money gen (phrases_ru)", lambda r: phrases_ru.money(cents(r), "gen"), args.n)
    timed(
        "cardinal gen 0..999 999 999",
        lambda r: phrases_ru.cardinal(r.randrange(10**9), "gen"),
        args.n,
    )
    timed(
        "date acc",
        lambda r: phrases_ru.date_words(base.date() + timedelta(days=r.randrange(366)), "acc"),
        args.n,
    )
    timed(
        "time range (outage)",
        lambda r: phrases_ru.time_range(
            base + timedelta(minutes=r.randrange(10_000)),
            base + timedelta(minutes=10_000 + r.randrange(10_000)),
        ),
        args.n,
    )
    timed(
        "tokens_for (journal check)",
        lambda r: phrases_ru.tokens_for(
            "datetime", "2026-03-01T08:30+03:00", r.choice(phrases_ru.CASES)
        ),
        args.n,
    )
    before, after = len(say_ru.VOCABULARY), len(phrases_ru.VOCABULARY)
    print(f"word prompts: {before} (say_ru, nominative) -> {after} (every case), +{after - before}")
    if args.synth:
        from ivr import prompts

        new = sorted(phrases_ru.VOCABULARY - say_ru.VOCABULARY)
        catalogue = prompts.PromptCatalogue(prompts.word_prompts(new))
        with tempfile.TemporaryDirectory(prefix="bench-phrases-") as tmp:
            report = prompts.generate(catalogue, Path(tmp))
        print(f"synthesis of the {len(new)} new words: {report.summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
