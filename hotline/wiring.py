"""Capability wiring for :class:`hotline.runner.Runtime`.

Each capability registers, explicitly and in one place, its AMI
subscriptions (``AMI_WIRING``: called with the runtime before AMI starts)
and its long-running components (``COMPONENT_FACTORIES``: name → factory
returning an object with ``async start()`` / ``async stop()``).
Imported once by the runtime; nothing is discovered by side effects elsewhere.
"""

from __future__ import annotations

from hotline.runner import AMI_WIRING, COMPONENT_FACTORIES  # noqa: F401
