"""Fixtures shared by the unit tests."""

from __future__ import annotations

import subprocess

import pytest


@pytest.fixture(name="other_run")
def fixture_other_run():
    """A live process standing for another ansible-playbook run (the locks' tests)."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()
