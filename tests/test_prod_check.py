"""The README's "Running in production" is what `make prod-check` runs: the same
commands in the same order (scripts/prod_check.py runs them and drives the result with
a browser), so the documentation is tested by that script."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _script() -> object:
    spec = importlib.util.spec_from_file_location("prod_check", ROOT / "scripts/prod_check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def readme_production_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Running in production", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no sh block in the production section"
    return [
        line.strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.startswith(("#", "export "))
    ]


def test_the_readme_production_section_is_what_prod_check_runs() -> None:
    script = _script()
    ran = [*script.RELEASE, *script.PROCESSES.values(), *script.ACCESS]  # type: ignore[attr-defined]
    assert readme_production_commands() == ran


def test_the_readme_environment_is_the_one_prod_check_sets() -> None:
    readme = (ROOT / "README.md").read_text().split("### Running in production", 1)[1]
    exported = set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", readme.split("```", 2)[1]))
    source = (ROOT / "scripts/prod_check.py").read_text()
    missing = {name for name in exported if f'"{name}"' not in source}
    assert missing == set()
