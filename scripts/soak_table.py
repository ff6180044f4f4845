"""Passes and failures per test over the JUnit reports of a soak
(scripts/soak-tests.sh): one line a test, one column a database.

    python scripts/soak_table.py run1-sqlite.xml run1-pg.xml ...

A report's database is the last ``-word`` of its file name. Exits 1 when
any test failed (or errored) in any run, or a run has no report.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def outcomes(report: Path) -> dict[str, str]:
    """Test id → ``pass``, ``fail`` or ``skip`` in one JUnit report."""
    out: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            out[name] = "fail"
        elif case.find("skipped") is not None:
            out[name] = "skip"
        else:
            out[name] = "pass"
    return out


def main(argv: list[str]) -> int:
    table: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    databases: list[str] = []
    missing = 0
    for arg in argv:
        path = Path(arg)
        db = path.stem.rsplit("-", 1)[-1]
        if db not in databases:
            databases.append(db)
        if not path.exists() or path.stat().st_size == 0:
            print(f"no report: {path}")
            missing += 1
            continue
        for test, result in outcomes(path).items():
            table[test][db].append(result)
    width = max((len(t) for t in table), default=10)
    print(f"{'test':<{width}}  " + "  ".join(f"{db:>14}" for db in databases))
    failed = 0
    for test in sorted(table):
        cells = []
        for db in databases:
            results = table[test].get(db, [])
            bad = sum(r != "pass" for r in results)
            failed += bad
            cells.append(f"{len(results) - bad:>3} ok {bad:>2} bad" if results else f"{'-':>14}")
        print(f"{test:<{width}}  " + "  ".join(f"{c:>14}" for c in cells))
    total = sum(len(v) for row in table.values() for v in row.values())
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
