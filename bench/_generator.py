"""Call generator process for the benchmarks (see _common.run_generator)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import generate


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--ami-port", type=int, required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--context", required=True)
    p.add_argument("--calls", type=int, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--script", default="s")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(
        generate(a.ami_port, a.secret, a.context, a.calls, a.concurrency, a.script)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
