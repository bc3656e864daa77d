"""Time synchronisation: BL-TIME-01. chronyd follows the declared servers only
(in the scenario: an NTP server on the probe) and reaches them."""

from __future__ import annotations

import time

import pytest
from baseline_helpers import HOST

testinfra_hosts = [HOST]


def configured_servers(host) -> set[str]:
    # chronyd -p prints the configuration as chronyd parses it.
    parsed = host.check_output("chronyd -p -f /etc/chrony/chrony.conf").splitlines()
    assert not [line for line in parsed if line.split()[:1] in (["pool"], ["sourcedir"])]
    return {line.split()[1] for line in parsed if line.startswith("server ")}


def sources(host) -> dict[str, dict[str, str]]:
    table = {}
    for line in host.check_output("chronyc -n -c sources").splitlines():
        fields = line.split(",")
        table[fields[2]] = {"mode": fields[0], "state": fields[1], "reach": fields[5]}
    return table


@pytest.mark.control("BL-TIME-01")
def test_chrony_uses_the_declared_servers_only(host, lab):
    servers = configured_servers(host)
    assert servers == {lab.probe_address}
    assert host.service("chrony").is_running
    assert host.service("chrony").is_enabled
    assert set(sources(host)) == servers


@pytest.mark.control("BL-TIME-01")
def test_chrony_reaches_its_server(host, lab):
    deadline = time.monotonic() + 40
    while True:
        source = sources(host)[lab.probe_address]
        if int(source["reach"], 8) != 0 and source["state"] in ("*", "+"):
            break
        assert time.monotonic() < deadline, f"no synchronisation with the server: {source}"
        time.sleep(2)


@pytest.mark.control("BL-TIME-01")
def test_chronyd_sets_the_system_clock(host, waive):
    waive("BL-TIME-01")
    command_line = host.check_output("cat /proc/$(pidof chronyd | cut -d' ' -f1)/cmdline")
    assert "-x" not in command_line.split("\0")
    assert "Normal" in host.check_output("chronyc tracking")
