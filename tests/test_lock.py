"""The environment is the lock: every locked package installed at exactly its locked version.

`make install` installs requirements/dev.lock with pip's hash checking, the Docker image
requirements/runtime.lock; these tests prove it happened and that the locks still honour
pyproject's ranges (a dependency changed there without `make lock` fails here).
"""

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
DEV_LOCK = ROOT / "requirements" / "dev.lock"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
# `name==version`, optionally `; marker`, then ` \` before the hashes on the next lines.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;([^\\]*))?")


def read_lock(path: Path) -> dict[str, Version]:
    """Canonical name to locked version, for each pin whose environment marker holds here."""
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match and (match[3] is None or Marker(match[3].strip()).evaluate()):
            pins[canonicalize_name(match[1])] = Version(match[2])
    return pins


def installed_version(name: str) -> Version | None:
    """The installed distribution's version, or None when it is not installed."""
    try:
        return Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


def mismatches(pins: dict[str, Version]) -> list[str]:
    """One line per locked package that is missing or at another version."""
    return [
        f"{name}: locked {version}, installed {installed_version(name) or 'nothing'}"
        for name, version in sorted(pins.items())
        if installed_version(name) != version
    ]


def declared(extra: str | None = None) -> list[Requirement]:
    """pyproject's requirements: the runtime ones, or those of one optional extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return [Requirement(line) for line in lines]


def is_dev_environment() -> bool:
    """Whether the dev tools beyond pytest are installed (no: a runtime-only image + pytest)."""
    tools = [req.name for req in declared("dev") if canonicalize_name(req.name) != "pytest"]
    return any(installed_version(name) is not None for name in tools)


def test_runtime_lock_is_installed() -> None:
    assert mismatches(read_lock(RUNTIME_LOCK)) == []


def test_dev_lock_is_installed() -> None:
    if not is_dev_environment():
        pytest.skip("runtime-only environment (requirements/runtime.lock, checked above)")
    assert mismatches(read_lock(DEV_LOCK)) == []


def test_runtime_lock_agrees_with_dev_lock() -> None:
    dev = read_lock(DEV_LOCK)
    runtime = read_lock(RUNTIME_LOCK)
    assert {
        name: (version, dev.get(name))
        for name, version in runtime.items()
        if dev.get(name) != version
    } == {}


@pytest.mark.parametrize(
    ("lock", "extras"), [(RUNTIME_LOCK, []), (DEV_LOCK, ["dev"])], ids=["runtime", "dev"]
)
def test_lock_is_within_pyproject_ranges(lock: Path, extras: list[str]) -> None:
    pins = read_lock(lock)
    requirements = declared() + [req for extra in extras for req in declared(extra)]
    outside = {}
    for req in requirements:
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # not needed on this platform
        version = pins.get(canonicalize_name(req.name))
        if version is None or version not in req.specifier:
            outside[str(req)] = str(version or "not locked")
    assert outside == {}, "pyproject changed since the lock was made: run `make lock`"
