"""Fixtures of the real-Asterisk tier shared by its modules: the callers'
telephone network over real SIP (hotline.sipnet) and its call rig."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from crm_bridge.demo_data import load_demo
from tests.conftest import _free_port

IN_HOURS = "2025-03-05T10:00:00+03:00"  # a Wednesday, 10:00 Moscow (test mode only)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The ``cluster`` tests (several nodes on one shared server database) run
    on PostgreSQL only: the SQLite run deselects them by design."""
    if os.environ.get("HOTLINE_TEST_DATABASE_URL"):
        return
    dropped = [item for item in items if item.get_closest_marker("cluster")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("cluster")]


@pytest.fixture(scope="module")
def network(settings: Any, asterisk: Any) -> Iterator[Any]:
    from hotline.sandbox import SandboxError
    from hotline.sipnet import CallerNetwork

    net = CallerNetwork(settings, ami_port=_free_port())
    try:
        net.up()
    except SandboxError as exc:
        pytest.fail(f"the caller network could not be started: {exc}", pytrace=False)
    yield net
    net.down()
    shutil.rmtree(net.base, ignore_errors=True)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sip(settings: Any, runtime: Any, network: Any) -> AsyncIterator[Any]:
    from hotline.sipnet import SipCallRig

    await runtime.services.run_db(load_demo, runtime.services.db)
    rig = SipCallRig(settings, network, hub=runtime.services.hub)
    await rig.start()
    await rig.set_test_now(IN_HOURS)
    yield rig
    await rig.close()
