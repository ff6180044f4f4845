"""A local pytest plugin: give this session's Asterisk and runtime free ports.

``tests/conftest.py`` uses fixed test ports, so two engineers' real-Asterisk
sessions on one machine collide. Run with ``-p tests.crm_web.free_ports`` to
pick free ports for this session instead (the fixtures read ``TEST_PORTS``).
"""

from __future__ import annotations

import socket

import pytest


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    import tests.conftest as shared

    for name in ("ami_port", "fastagi_port", "audiosocket_port", "sip_port"):
        shared.TEST_PORTS[name] = _free_port()
