"""The wheel ships every module and data file, and building it prints no setuptools warnings.

setuptools warns (about 40 lines per folder, on every `make` set-up) when a folder Python
could import is missing from `packages`, and silently leaves out files no package-data glob
names: both are checked here from pyproject.toml, without building anything.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def folder_of(package: str) -> Path:
    """Where setuptools looks for a package, following `package-dir` as it does."""
    mapping = SETTINGS.get("package-dir", {})
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in mapping:
            return ROOT / mapping[prefix] / Path(*parts[cut:])
    return ROOT / Path(*parts)


def shipped_folders() -> dict[Path, str]:
    """Every folder the wheel's trees hold (bar caches), with the package name it must be declared as."""
    roots = {ROOT / "rmbench": "rmbench"}
    roots.update({ROOT / folder: name for name, folder in SETTINGS.get("package-dir", {}).items()})
    found = {}
    for root, name in roots.items():
        for path in [root, *sorted(p for p in root.rglob("*") if p.is_dir())]:
            relative = path.relative_to(root).parts
            if "__pycache__" in relative or any(part.startswith(".") for part in relative):
                continue
            found[path] = ".".join([name, *relative])
    return found


def test_every_folder_is_a_declared_package():
    declared = set(SETTINGS["packages"])
    missing = sorted(name for name in shipped_folders().values() if name not in declared)
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml (setuptools warns otherwise)"
    for package in declared:
        assert folder_of(package).is_dir(), f"{package} is declared but {folder_of(package)} does not exist"


def test_every_data_file_matches_a_package_data_glob():
    globs = {folder_of(package): patterns for package, patterns in SETTINGS.get("package-data", {}).items()}
    unshipped = []
    for folder in shipped_folders():
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            if path.suffix in (".py", ".pyc") or path.name.startswith("."):
                continue
            # a glob belongs to a package folder and may reach into its subfolders ("pipelines/*.yaml")
            if not any(fnmatch.fnmatch(path.relative_to(base).as_posix(), pattern)
                       for base, patterns in globs.items() if path.is_relative_to(base) for pattern in patterns):
                unshipped.append(str(path.relative_to(ROOT)))
    assert not unshipped, f"these files would be left out of the wheel: {unshipped}; add a package-data glob"
