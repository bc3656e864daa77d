"""Time synchronisation: BL-TIME-01. chronyd follows the declared servers only
(in the scenario: an NTP server on the probe; the control's live check, which
playbooks/audit.yml runs on the council's hosts) and reaches them."""

from __future__ import annotations

import time

import pytest
from baseline_helpers import HOST

testinfra_hosts = [HOST]


def sources(host) -> dict[str, dict[str, str]]:
    table = {}
    for line in host.check_output("chronyc -n -c sources").splitlines():
        fields = line.split(",")
        table[fields[2]] = {"mode": fields[0], "state": fields[1], "reach": fields[5]}
    return table


@pytest.mark.control("BL-TIME-01")
def test_chrony_uses_the_declared_servers_only(control_check, lab):
    # converge.yml: the probe is the only NTP server; chronyd runs with -x
    # (baseline_ntp_set_system_clock false), so setting the clock is waived.
    control_check("BL-TIME-01", {"ntp_servers": [lab.probe_address]})


@pytest.mark.control("BL-TIME-01")
def test_chrony_reaches_its_server(host, lab):
    deadline = time.monotonic() + 40
    while True:
        source = sources(host)[lab.probe_address]
        if int(source["reach"], 8) != 0 and source["state"] in ("*", "+"):
            break
        assert time.monotonic() < deadline, f"no synchronisation with the server: {source}"
        time.sleep(2)
