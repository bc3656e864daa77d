"""Kernel and network parameters: BL-SYS-01..03, through the controls' live
checks (playbooks/audit.yml runs them on the council's hosts).

What systemd-sysctl applies at boot is the last value of each key over the
files that ``systemd-analyze cat-config sysctl.d`` prints, in that order. The
running kernel's values are checked too, except in a container, where
/proc/sys is read-only (waived, see controls/waivers.yml).
"""

from __future__ import annotations

import pytest
from baseline_helpers import HOST

testinfra_hosts = [HOST]


@pytest.mark.control("BL-SYS-01")
def test_kernel_hardening(control_check):
    control_check("BL-SYS-01")


@pytest.mark.control("BL-SYS-02")
def test_network_hardening(control_check):
    control_check("BL-SYS-02")


@pytest.mark.control("BL-SYS-03")
def test_forwarding_is_off_on_a_host_that_does_not_route(control_check):
    # The scenario's host does not route (baseline_routes_traffic: false).
    control_check("BL-SYS-03", {"routes_traffic": False})
