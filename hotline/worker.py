"""A standalone dialer worker: ``python -m hotline.worker``.

Runs the AMI connection and the dialer only (the message flow runs in
whichever process serves FastAGI). Settings come from the usual layers
(``HOTLINE_*`` environment, ``--config``). One worker per Asterisk node;
with PostgreSQL several workers share campaigns (``node_name`` must differ).
It beats for its node (:mod:`nodes.failover`). Equivalent to
``hotline run --only ami,dialer,nodes``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from core.settings import SettingsError, load_settings, private_files


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hotline.worker", description="Обзвон: рабочий процесс")
    p.add_argument("--config", help="settings file (TOML)")
    p.add_argument("--node", help="node name (default: settings.node_name)")
    args = p.parse_args(argv)
    private_files()
    try:
        settings = load_settings(args.config, {"node_name": args.node})
    except SettingsError as exc:
        print(f"hotline.worker: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from hotline.runner import run_forever

    asyncio.run(run_forever(settings, ("ami", "dialer", "nodes")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
