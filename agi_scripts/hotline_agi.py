"""Process-AGI entry point: ``AGI(hotline-agi,<route>[,args...])``.

Thin: builds the same services as the FastAGI server from the settings file
named by ``HOTLINE_CONFIG`` and runs the same flow, one process per call
(pyst2). For sites that run classic AGI instead of FastAGI.
"""

from __future__ import annotations

import asyncio
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="hotline-agi: %(message)s")
    from core.settings import load_settings, private_files
    from hotline.services import Services
    from hotline.slices import flows_by_name
    from telephony.process_agi import run_process_agi

    private_files()
    route = args[0] if args else ""
    settings = load_settings()
    services = Services.for_process_agi(settings)
    try:
        outcome = run_process_agi(
            flows_by_name(),
            route,
            services,
            resolver=services.resolver,
            spool_dir=services.spool_ast,
            on_call_end=services.save_journal,
        )
    finally:
        asyncio.run(services.aclose())
    return 0 if outcome != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
