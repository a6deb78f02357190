"""The figures table of the fault suite: each scenario records its figures; the
session writes them to var/faults/figures.json and `run.py` prints the table. No
Django here: run.py imports it before any settings exist."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    scenario: str
    name: str
    value: Any
    required: str = ""  # "0", "≥ 1", "" for a plain measurement
    ok: bool = True


FIGURES: list[Figure] = []


def figure(
    scenario: str, name: str, value: Any, *, required: str = "", ok: bool | None = None
) -> None:
    """Record one line of the figures table. With `required="0"` the value must be 0."""
    if ok is None:
        ok = value == 0 if required == "0" else True
    FIGURES[:] = [f for f in FIGURES if (f.scenario, f.name) != (scenario, name)]
    FIGURES.append(Figure(scenario, name, value, required, ok))


def _order(scenario: str) -> tuple[int, str]:
    """ "5b. …" comes after "5. …" and before "6. …"."""
    number = scenario.split(".")[0]
    digits = "".join(c for c in number if c.isdigit())
    return (int(digits or 0), number)


def figures_write(path: Path) -> None:
    rows = [f.__dict__ for f in sorted(FIGURES, key=lambda f: _order(f.scenario))]
    path.write_text(json.dumps(rows, indent=2, default=str) + "\n")


def figures_table(rows: list[dict[str, Any]]) -> str:
    head = ("scenario", "figure", "value", "required", "")
    lines = [
        (r["scenario"], r["name"], str(r["value"]), r["required"], "ok" if r["ok"] else "FAIL")
        for r in rows
    ]
    widths = [max(len(str(x[i])) for x in [head, *lines]) for i in range(len(head))]

    def fmt(cells: tuple[str, ...]) -> str:
        return " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    out, previous = [fmt(head), rule], None
    for line in lines:
        shown = line if line[0] != previous else ("", *line[1:])
        previous = line[0]
        out.append(fmt(shown))
    return "\n".join(out)
