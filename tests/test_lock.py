"""The installed environment is the lock: every package ``requirements.lock`` pins for this
platform is installed at exactly that version, and the lock covers everything kpibot needs."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest

# packaging comes with pytest (a locked dev dependency).
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]+))?"
)


def _all_pins() -> list[tuple[str, str, str | None]]:
    """(name, version, marker) for every pin; a package may be pinned once per marker."""
    pins = []
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line)
        if match:
            marker = match["marker"].strip() if match["marker"] else None
            pins.append((canonicalize_name(match["name"]), match["version"], marker))
    return pins


def _pins() -> dict[str, tuple[str, str | None]]:
    """The pins that apply to this interpreter and platform, by package name."""
    return {
        name: (version, marker)
        for name, version, marker in _all_pins()
        if marker is None or Marker(marker).evaluate()
    }


def test_every_pin_carries_a_hash() -> None:
    text = LOCK.read_text(encoding="utf-8")
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    pinned = [block for block in blocks if _PIN.match(block)]
    assert len(pinned) == len(_all_pins()) > 20
    assert all("--hash=sha256:" in block for block in pinned)


def test_installed_versions_are_exactly_the_locked_ones() -> None:
    wrong = {}
    for name, (version, _marker) in _pins().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong[name] = (version, installed)
    # If this fails: `make setup` installs the lock (or `make lock` changes it, on purpose).
    assert wrong == {}


@pytest.mark.parametrize("extra", [None, "slack", "telegram", "dev"])
def test_the_lock_covers_every_requirement_of_pyproject(extra: str | None) -> None:
    pins = _pins()
    requirements = [Requirement(text) for text in metadata.requires("kpibot") or []]
    wanted = [
        req
        for req in requirements
        if (req.marker is None and extra is None)
        or (req.marker is not None and extra is not None and req.marker.evaluate({"extra": extra}))
    ]
    assert wanted
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is required but not in requirements.lock"
        assert req.specifier.contains(pins[name][0], prereleases=True), (req, pins[name][0])
