"""The wallboard's live model (scaffold)."""

from __future__ import annotations

from typing import Any


def attach(runtime: Any) -> None:
    """Subscribes the wallboard to the runtime's AMI (scaffold)."""
