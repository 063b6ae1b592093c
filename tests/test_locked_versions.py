"""The environment the tests run in is the locked one (requirements.lock): a drift is a clear failure here,
not a hang or a changed number somewhere else. `make test-newest` sets MGDSL_UNLOCKED=1 to skip it."""
from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

import pytest

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"
# solver and modelling layer: a different release changes results or hangs (highspy 1.16 did), so these
# must be installed and exact
CRITICAL = ("highspy", "highspy-extras", "linopy", "xarray", "numpy", "lark")

pytestmark = pytest.mark.skipif(bool(os.environ.get("MGDSL_UNLOCKED")),
                                reason="MGDSL_UNLOCKED: testing the newest compatible releases")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not an exact pin"
            pins[_normal(name)] = version.strip()
    return pins


def test_lock_pins_the_critical_packages():
    pins = locked()
    missing = [p for p in CRITICAL if p not in pins]
    assert not missing, f"requirements.lock does not pin {missing}; run `make lock`"


@pytest.mark.parametrize("package", CRITICAL)
def test_critical_package_is_the_locked_version(package):
    want = locked()[package]
    have = metadata.version(package)
    assert have == want, (f"{package} {have} is installed but requirements.lock pins {want}: "
                          f"recreate the environment with `make clean setup` (or `make lock` to move the lock)")


def test_every_installed_locked_package_matches():
    drift = []
    for name, want in locked().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # an extra that this environment did not install (bench)
        if have != want:
            drift.append(f"{name} {have} (locked {want})")
    assert not drift, "installed versions differ from requirements.lock: " + ", ".join(drift)
