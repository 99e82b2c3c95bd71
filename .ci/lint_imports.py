"""Run import-linter on the package as it is installed.

pyproject maps four folders onto one import package (``plugin/`` is ``mlflow_clarity``,
``hooks/`` is ``mlflow_clarity.hooks``...), and grimp, import-linter's graph builder,
finds modules by walking the root package's folder. This script copies the sources into
a temporary folder laid out as the installed package and runs ``lint-imports`` there with
the contracts in pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def stage(target: Path) -> None:
    """Copy every mapped folder's Python files to where the installed package has them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    for package, folder in mapping.items():
        dest = target.joinpath(*package.split("."))
        for source in (ROOT / folder).rglob("*.py"):
            relative = source.relative_to(ROOT / folder)
            if relative.parts[0] in mapping.values():
                continue
            (dest / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / relative)


def main() -> int:
    """Stage the package and run ``lint-imports``; return its exit code."""
    with tempfile.TemporaryDirectory(prefix="clarity-imports-") as tmp:
        stage(Path(tmp))
        env = {**os.environ, "PYTHONPATH": tmp}
        lint = Path(sys.executable).with_name("lint-imports")
        command = [str(lint), "--config", str(ROOT / "pyproject.toml"), "--no-cache"]
        return subprocess.run(command, env=env, cwd=tmp).returncode


if __name__ == "__main__":
    sys.exit(main())
