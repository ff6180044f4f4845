"""The building's layers, read from the source (every import, also those
inside functions):

    core, telephony          below everything: settings, the plugin contract;
                             dialplan contract, AMI, FastAGI, channel, journal
    crm_bridge               the CRM slice: the database, the staff (users)
    webedge                  the one web edge (log-in, sessions, roles, CSRF,
                             the shell, the audit), on crm_bridge's staff table
    ivr, crm_bridge,         the slices: each imports the layers below, never
    autoinformer, shift      the composition root; ivr nothing of autoinformer
    hotline                  the composition root and entry points
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT = {
    "core",
    "telephony",
    "webedge",
    "hotline",
    "ivr",
    "crm_bridge",
    "autoinformer",
    "shift",
    "visits",
    "agi_scripts",
}
FORBIDDEN = {
    "core": {"hotline", "ivr", "crm_bridge", "autoinformer", "webedge", "visits"},
    "telephony": {"hotline", "ivr", "crm_bridge", "autoinformer", "webedge", "visits"},
    "webedge": {"hotline", "ivr", "autoinformer", "visits"},
    "ivr": {"hotline", "autoinformer", "webedge", "visits"},
    "crm_bridge": {"hotline", "ivr", "autoinformer", "visits"},
    "autoinformer": {"hotline"},
    "shift": {"hotline", "ivr", "autoinformer"},
    "visits": {"hotline"},
}


def imported_packages(package: str) -> dict[str, set[str]]:
    """Project package → the files of ``package`` that import it."""
    out: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".", 1)[0]
                if top in PROJECT:
                    out.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(package: str) -> None:
    found = imported_packages(package)
    bad = {p: sorted(files) for p, files in found.items() if p in FORBIDDEN[package]}
    assert not bad, f"{package} imports {bad}"


def test_every_slice_is_composed_once() -> None:
    """A package with a plugin module is in the composition root's list (a
    new capability is one slice and one line), and no slice twice."""
    from hotline.slices import SLICES

    with_plugin = {p.parent.name for p in REPO.glob("*/plugin.py")}
    names = [sl.name for sl in SLICES]
    assert len(names) == len(set(names))
    assert set(names) == with_plugin


def test_slices_declare_distinct_routes_components_and_mounts() -> None:
    from hotline.slices import build_routes, component_factories, web_apps

    build_routes()  # a duplicate route raises
    component_factories()  # a duplicate component raises
    mounts = [a.mount for a in web_apps()]
    assert len(mounts) == len(set(mounts))
