"""The sources and licences of the data shipped in ``synthaug/data``, read from its
``LICENSES.md`` table (one row per file or folder: file, what, source, licence)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

UNKNOWN = "unknown"


@dataclass(frozen=True)
class DataLicence:
    """One packaged file: what it is, where it came from, its licence."""

    file: str
    what: str
    source: str
    licence: str


@cache
def packaged_licences() -> dict[str, DataLicence]:
    """Every file or folder named in ``synthaug/data/LICENSES.md``, by its path there."""
    table = (resources.files("synthaug") / "data" / "LICENSES.md").read_text(encoding="utf-8")
    found: dict[str, DataLicence] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        for name in re.findall(r"`([^`]+)`", cells[0]):
            found[name] = DataLicence(name, *cells[1:])
    return found


def licence_of(name: str) -> DataLicence:
    """The packaged file ``name`` (a path under ``synthaug/data``), or one whose licence is
    unknown when ``LICENSES.md`` does not list it (nor a folder holding it)."""
    known = packaged_licences()
    folders = [f"{'/'.join(name.split('/')[:i])}/" for i in range(name.count("/"), 0, -1)]
    for key in (name, *folders):
        if key in known:
            return known[key]
    return DataLicence(name, "", "", UNKNOWN)
