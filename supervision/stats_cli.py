"""``hotline supervision …`` commands of the stats part (scaffold: filled by its part)."""

from __future__ import annotations

import argparse


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Adds this part's subcommands."""
