"""The committed lock (requirements/test.lock) agrees with pyproject.toml's dependency ranges."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "test.lock"
BUILD_IN = ROOT / "requirements" / "build.in"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)")


def _pins() -> dict[str, list[Version]]:
    pins: dict[str, list[Version]] = {}
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins.setdefault(canonicalize_name(match[1]), []).append(Version(match[2]))
    return pins


def _direct() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    texts = [*project["project"]["dependencies"], *project["project"]["optional-dependencies"]["test"]]
    texts += project["build-system"]["requires"]
    return [Requirement(text) for text in texts]


def _applies(requirement: Requirement) -> bool:
    """Whether a requirement's marker holds on some platform the lock covers (CPython 3.11 on Linux)."""
    if requirement.marker is None:
        return True
    return requirement.marker.evaluate(
        {"sys_platform": "linux", "platform_python_implementation": "CPython", "python_version": "3.11"}
    )


def test_every_direct_dependency_is_locked_within_its_range() -> None:
    """Each dependency pyproject.toml names is pinned in the lock at a version its range allows."""
    pins = _pins()
    for requirement in filter(_applies, _direct()):
        versions = pins.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is in pyproject.toml but not in {LOCK.name}"
        for version in versions:
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{requirement.name}=={version} in {LOCK.name} is outside {requirement.specifier}"
            )


def test_lock_holds_nothing_pyproject_no_longer_asks_for() -> None:
    """A package the lock says comes from pyproject.toml is still one of its direct dependencies."""
    direct = {canonicalize_name(r.name) for r in _direct()}
    current: str | None = None
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
        elif current and "log-analytics-engine (pyproject.toml)" in line:
            assert current in direct, f"{current} is locked as a pyproject.toml dependency but is not one"


def test_build_requirements_match_the_build_system() -> None:
    """requirements/build.in, compiled into the lock, names exactly pyproject.toml's build requires."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {str(Requirement(text)) for text in project["build-system"]["requires"]}
    listed = {
        str(Requirement(line))
        for line in BUILD_IN.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert listed == declared


def test_test_script_installs_from_the_lock() -> None:
    """scripts/test.sh installs the lock and then the package without resolving its ranges again."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert "-r requirements/test.lock" in script
    assert "--no-deps" in script
    assert "'.[test]'" not in script
