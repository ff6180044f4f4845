"""What a capability (a slice: ``ivr``, ``crm_bridge``, ``autoinformer``, …)
contributes to the running system, declared in one module of its own
(``<slice>/plugin.py``, a module-level ``SLICE``).

The composition root (:mod:`hotline.slices`) composes an explicit list of
slices; nothing is registered by import side effects. A slice declares:

- ``routes``: its FastAGI routes (route name → flow);
- ``ami``: hooks called with the runtime before AMI connects (subscriptions),
  and ``ami_events``: the AMI events those subscriptions handle (the service's
  AMI user is limited to them in manager.conf);
- ``components``: long-running parts by name (``async start()``/``stop()``),
  started when the runtime is asked for that name;
- ``web``: sub-apps by mount point, with the link the index page shows, and
  the panels they add to other slices' pages (``Panel``: a template in a
  named slot, e.g. the operator's workplace);
- ``asterisk_conf``: sections it adds to Asterisk's rendered configuration;
- ``cli``: a hook adding its commands to the ``hotline`` command line;
- ``metadata``: the SQLAlchemy metadata its tables live in (migrations), and
  ``migrations``: the directory of its Alembic revisions (``<slice>/migrations``).
  Every slice's revisions run in the one environment of the composition root
  (``hotline/migrations/env.py``). A new slice's first revision branches off
  the revision its tables depend on (``down_revision``) with its own
  ``branch_labels``; ``hotline db revision --slice NAME`` writes the file
  into the slice's directory.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import MetaData

from telephony.callrunner import Flow


class Component(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


AmiHook = Callable[[Any], None]
ComponentFactory = Callable[[Any], Component]
WebFactory = Callable[[Any, Any], Any]
"""``(services, runtime) -> aiohttp.web.Application``."""
CliHook = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
"""Adds a slice's commands. What a command may ask of the composition root
comes as defaults of the top-level parser: ``args.migrate(db)`` (every
slice's migrations) and ``args.apply_asterisk(settings)`` (re-render
Asterisk's configuration and reload a running instance)."""


@dataclass(frozen=True)
class Panel:
    """A part of another slice's page: a template included in the page's
    ``slot`` (e.g. ``workplace``: the operator's workplace) and its script."""

    slot: str
    template: str
    """``<slice>/panel.html`` in the slice's templates."""
    script: str
    """The script's URL, served by the slice's own sub-app."""
    roles: frozenset[str] = frozenset()
    """Who sees it (staff roles); each of its routes still declares its own."""


@dataclass(frozen=True)
class WebApp:
    mount: str
    """e.g. ``/operator/``."""
    factory: WebFactory
    title: str
    """The index page's link text (Russian)."""
    roles: frozenset[str] = frozenset()
    """The staff roles (``crm_bridge.models.OperatorRole`` values) whose
    navigation shows the link; each handler still declares its own roles."""
    templates: Path | None = None
    """The slice's Jinja2 templates (named ``<slice>/...`` inside), found by the one shell."""
    panels: Sequence[Panel] = ()
    """Parts of other slices' pages this sub-app provides (:class:`Panel`)."""
    in_nav: bool = True
    """Shown in the navigation (a sub-app that only serves panels is not)."""


@dataclass(frozen=True)
class Slice:
    name: str
    routes: Callable[[], Mapping[str, Flow]] = dict
    ami: Sequence[AmiHook] = ()
    ami_events: Sequence[str] = ()
    components: Mapping[str, ComponentFactory] = field(default_factory=dict)
    web: Sequence[WebApp] = ()
    cli: CliHook | None = None
    metadata: Callable[[], Sequence[MetaData]] = tuple
    migrations: Path | None = None
    asterisk_conf: Callable[[Any], Mapping[str, str]] | None = None
    """``settings -> {file name: sections}`` appended to Asterisk's rendered
    configuration files (e.g. the operators' endpoints in ``pjsip.conf``)."""
