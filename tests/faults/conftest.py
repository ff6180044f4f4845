"""Fixtures of the fault tier (``-m faults``, issue 13): the session's real
Asterisk, a PostgreSQL cluster of the tier's own (stopped, frozen), a node
in its own process (killed), and a call rig of simulated callers."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from hotline.faultrig import FaultNode, PrivatePostgres


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster nobody else uses: this tier stops and freezes it."""
    pg = PrivatePostgres(Path(f"/tmp/hotline-faults-pg-{os.getpid()}"))
    try:
        pg.start()
    except Exception as exc:
        pytest.fail(f"the tier's PostgreSQL could not be started: {exc}", pytrace=False)
    yield pg
    pg.destroy()


@pytest.fixture
def node_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest_asyncio.fixture(loop_scope="session")
async def pg_node(
    settings: Any, asterisk: Any, private_pg: PrivatePostgres, node_dir: Path
) -> AsyncIterator[FaultNode]:
    """A node on the private PostgreSQL (a fresh database), in its own process."""
    url = await asyncio.to_thread(private_pg.fresh_database)
    node = FaultNode(settings, url, node_dir / "spool", log_path=node_dir / "node.log")
    await node.start()
    yield node
    private_pg.thaw()
    node.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def callers(settings: Any, asterisk: Any) -> AsyncIterator[Any]:
    from hotline.callrig import CallRig

    rig = CallRig(settings)
    await rig.start()
    yield rig
    await rig.close()
