"""Unattended upgrades: BL-UPD-01. The control's live check (apt's effective
configuration, the timers) and unattended-upgrade's own report of the origins
it may install from: only the Debian security archive."""

from __future__ import annotations

import re

import pytest
from baseline_helpers import HOST

testinfra_hosts = [HOST]


@pytest.mark.control("BL-UPD-01")
def test_only_security_origins_are_allowed(host):
    result = host.run("unattended-upgrade --dry-run --debug")
    output = result.stdout + result.stderr
    assert result.rc == 0, output
    match = re.search(r"^Allowed origins are: (.*)$", output, re.MULTILINE)
    assert match, output
    origins = [origin.strip() for origin in match.group(1).split(", ") if origin.strip()]
    assert origins
    assert all("label=Debian-Security" in origin for origin in origins), origins


@pytest.mark.control("BL-UPD-01")
def test_security_upgrades_run_every_day(control_check):
    control_check("BL-UPD-01", {"unattended_reboot": False})
